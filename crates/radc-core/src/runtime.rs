//! [`RuntimeCore`]: the registry, the credential cache and the error-event
//! store together, with the rules that tie them (disconnecting a workspace
//! clears its credentials; so may closing its last resource).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::credentials::CredentialCache;
use crate::error::{Result, RuntimeError};
use crate::error_events::ErrorEventStore;
use crate::rate_limit::{DropSummary, ReportLimiter, Verdict};
use crate::registry::{
    Cookie, DisconnectTarget, Exit, Kind, Registry, RegistryEvent, deadline_after,
};
use crate::validate;

/// How long a client has, after `IssueDisconnect` returned, to remove itself
/// or disconnect from the bus before the runtime drops it.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct RuntimeCore {
    registry: Registry,
    credentials: CredentialCache,
    error_events: ErrorEventStore,
    reports: ReportLimiter,
    workspace_names: HashMap<String, String>,
    grace: Duration,
}

impl Default for RuntimeCore {
    fn default() -> Self {
        Self::new(DEFAULT_GRACE)
    }
}

impl RuntimeCore {
    pub fn new(grace: Duration) -> Self {
        Self {
            registry: Registry::new(),
            credentials: CredentialCache::new(),
            error_events: ErrorEventStore::default(),
            reports: ReportLimiter::default(),
            workspace_names: HashMap::new(),
            grace,
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn credentials(&self) -> &CredentialCache {
        &self.credentials
    }

    pub fn credentials_mut(&mut self) -> &mut CredentialCache {
        &mut self.credentials
    }

    pub fn error_events(&self) -> &ErrorEventStore {
        &self.error_events
    }

    pub fn error_events_mut(&mut self) -> &mut ErrorEventStore {
        &mut self.error_events
    }

    /// One report message (`RegisterErrorLogMessage`,
    /// `RegisterErrorEvent`) from `peer`: whether it is within the peer's
    /// rate, and a summary of dropped ones to log when one is due.
    pub fn report_message(&mut self, peer: &str, now: Instant) -> (Verdict, Option<DropSummary>) {
        self.reports.check(peer, now)
    }

    /// Dropped report messages not yet summarised, for when a flood has
    /// ended.
    /// Repacks what a burst of activity left scattered; see
    /// [`Registry::compact`].
    pub fn compact(&mut self) {
        self.registry.compact();
    }

    pub fn flush_report_summary(&mut self, now: Instant) -> Option<DropSummary> {
        self.reports.flush_summary(now)
    }

    pub fn grace(&self) -> Duration {
        self.grace
    }

    pub fn add_resource(&mut self, peer: &str, object_path: &str, now: Instant) -> Result<Cookie> {
        self.registry.add(peer, object_path, now)
    }

    pub fn complete_probe(
        &mut self,
        cookie: Cookie,
        workspace_id: &str,
        display_name: &str,
        pid: u32,
    ) -> Option<RegistryEvent> {
        self.registry
            .complete_probe(cookie, workspace_id, display_name, pid)
    }

    /// Registers a connection the runtime launched (see
    /// [`Registry::add_launched`]).
    pub fn add_launched(
        &mut self,
        workspace_id: &str,
        display_name: &str,
        pid: u32,
        now: Instant,
    ) -> Result<(Cookie, RegistryEvent)> {
        self.registry
            .add_launched(workspace_id, display_name, pid, now)
    }

    /// A launched connection's process ended.
    pub fn launched_exited(&mut self, cookie: Cookie, exit: Exit) -> Option<RegistryEvent> {
        let event = self.registry.launched_exited(cookie, exit)?;
        self.after_removals(std::slice::from_ref(&event));
        Some(event)
    }

    pub fn probe_failed(&mut self, cookie: Cookie) -> Option<RegistryEvent> {
        self.registry.probe_failed(cookie)
    }

    pub fn remove_resource(&mut self, peer: &str, cookie: Cookie) -> Result<RegistryEvent> {
        let event = self.registry.remove(peer, cookie)?;
        self.after_removals(std::slice::from_ref(&event));
        Ok(event)
    }

    pub fn peer_vanished(&mut self, peer: &str) -> Vec<RegistryEvent> {
        self.reports.peer_vanished(peer);
        let events = self.registry.peer_vanished(peer);
        self.after_removals(&events);
        events
    }

    /// Starts disconnecting a workspace: clears its cached credentials (as
    /// Windows does) and returns the clients to send `IssueDisconnect` to.
    pub fn begin_disconnect(&mut self, workspace_id: &str) -> Result<Vec<DisconnectTarget>> {
        validate::workspace_id(workspace_id)?;
        self.credentials.clear(workspace_id);
        Ok(self.registry.begin_disconnect(workspace_id))
    }

    /// Starts disconnecting one connection (not its whole workspace, whose
    /// credentials stay).
    pub fn begin_disconnect_connection(&mut self, cookie: u32) -> Result<DisconnectTarget> {
        Cookie::new(cookie)
            .and_then(|c| self.registry.begin_disconnect_one(c))
            .ok_or_else(|| {
                RuntimeError::not_found(format!(
                    "no connection has cookie {cookie}; `radc status` lists them"
                ))
            })
    }

    /// `IssueDisconnect` to `cookie` finished at `now`; its grace period starts.
    pub fn finish_disconnect(&mut self, cookie: Cookie, now: Instant) {
        self.registry
            .arm_grace(cookie, deadline_after(now, self.grace));
    }

    /// The next moment [`RuntimeCore::on_timer`] has work to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        match (
            self.registry.next_deadline(),
            self.credentials.next_deadline(),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Drops clients whose grace ran out and credentials that expired.
    pub fn on_timer(&mut self, now: Instant) -> Vec<RegistryEvent> {
        self.credentials.expire(now);
        let events = self.registry.on_timer(now);
        self.after_removals(&events);
        events
    }

    /// Records a workspace's display name (from its feed).
    pub fn set_workspace_name(&mut self, workspace_id: &str, name: &str) -> Result<()> {
        validate::workspace_id(workspace_id)?;
        validate::display_name("workspace name", name)?;
        self.workspace_names
            .insert(workspace_id.to_owned(), name.to_owned());
        Ok(())
    }

    /// The display name of a workspace: its feed's name, else the name its
    /// custom clients give (in COM, `GetResourceDisplayName` is the display
    /// name of the client's *workspace*; the first client's counts), else
    /// its id.
    pub fn workspace_name<'a>(&'a self, workspace_id: &'a str) -> &'a str {
        if let Some(name) = self.workspace_names.get(workspace_id) {
            return name;
        }
        self.client_names(workspace_id)
            .next()
            .unwrap_or(workspace_id)
    }

    /// The display names the custom clients of a workspace give, oldest
    /// registration first.
    fn client_names<'a>(&'a self, workspace_id: &'a str) -> impl Iterator<Item = &'a str> {
        let mut clients: Vec<_> = self
            .registry
            .listed()
            .filter(move |r| {
                r.kind == Kind::Client && r.workspace_id.as_deref() == Some(workspace_id)
            })
            .collect();
        clients.sort_by_key(|r| r.cookie.get());
        clients
            .into_iter()
            .filter_map(|r| r.display_name.as_deref())
    }

    /// Display names of the workspaces with live connections, sorted, each once.
    pub fn live_workspace_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .registry
            .workspace_ids()
            .into_iter()
            .map(|id| self.workspace_name(id).to_owned())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Finds the workspace a person means by `name`: a workspace whose
    /// display name is `name` (compared without regard to case, as Windows
    /// does), or, for a workspace with no feed, whose id is `name` or one of
    /// whose custom clients gives `name` as its display name. A name shared
    /// by several workspaces is an error rather than a guess.
    pub fn resolve_friendly_name(&self, name: &str) -> Result<String> {
        validate::display_name("workspace name", name)?;
        let mut ids: Vec<&str> = self
            .workspace_names
            .iter()
            .filter(|(_, n)| n.to_lowercase() == name.to_lowercase())
            .map(|(id, _)| id.as_str())
            .collect();
        if ids.is_empty() {
            ids = self
                .registry
                .workspace_ids()
                .into_iter()
                .filter(|id| {
                    !self.workspace_names.contains_key(*id)
                        && (id.eq_ignore_ascii_case(name)
                            || self
                                .client_names(id)
                                .any(|n| n.to_lowercase() == name.to_lowercase()))
                })
                .collect();
        }
        ids.sort_unstable();
        ids.dedup();
        match ids.as_slice() {
            [one] => Ok((*one).to_owned()),
            [] => Err(RuntimeError::not_found(format!(
                "no workspace {:?} is connected; `radc status` lists them",
                validate::for_log(name)
            ))),
            many => Err(RuntimeError::invalid_args(format!(
                "{} workspaces are named {:?} ({}); use the workspace id",
                many.len(),
                validate::for_log(name),
                many.join(", ")
            ))),
        }
    }

    /// Resolves what a person typed: the id of a workspace the runtime knows
    /// (live, named or with cached credentials), else a display name.
    pub fn resolve_workspace(&self, id_or_name: &str) -> Result<String> {
        if self.registry.has_workspace(id_or_name)
            || self.workspace_names.contains_key(id_or_name)
            || self.credentials.contains(id_or_name)
        {
            return Ok(id_or_name.to_owned());
        }
        self.resolve_friendly_name(id_or_name)
    }

    fn after_removals(&mut self, events: &[RegistryEvent]) {
        for event in events {
            if let RegistryEvent::Removed {
                workspace_id: Some(ws),
                ..
            } = event
                && !self.registry.has_workspace(ws)
            {
                self.credentials.last_resource_closed(ws);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::{StartWorkspace, WKS_FLAG_CLEAR_CREDS_ON_LAST_RESOURCE};
    use crate::error::ErrorKind;
    use zeroize::Zeroizing;

    fn start(core: &mut RuntimeCore, ws: &str, flags: u32, now: Instant) {
        core.credentials_mut()
            .start(
                StartWorkspace {
                    workspace_id: ws,
                    user: "u",
                    password: Zeroizing::new("p".into()),
                    workspace_params: "",
                    timeout_minutes: 0,
                    flags,
                    given_by: ":1.test",
                },
                now,
            )
            .unwrap();
    }

    fn client(core: &mut RuntimeCore, peer: &str, ws: &str, now: Instant) -> Cookie {
        let c = core.add_resource(peer, "/c", now).unwrap();
        core.complete_probe(c, ws, "App", 0).unwrap();
        c
    }

    #[test]
    fn disconnect_clears_credentials() {
        let now = Instant::now();
        let mut core = RuntimeCore::default();
        start(&mut core, "ws", 0, now);
        client(&mut core, ":1.1", "ws", now);
        let targets = core.begin_disconnect("ws").unwrap();
        assert_eq!(targets.len(), 1);
        assert!(!core.credentials().is_specified("ws", true, now));
    }

    #[test]
    fn last_resource_clears_credentials_when_flagged() {
        let now = Instant::now();
        let mut core = RuntimeCore::default();
        start(&mut core, "ws", WKS_FLAG_CLEAR_CREDS_ON_LAST_RESOURCE, now);
        let a = client(&mut core, ":1.1", "ws", now);
        client(&mut core, ":1.2", "ws", now);
        core.remove_resource(":1.1", a).unwrap();
        assert!(
            core.credentials().is_specified("ws", true, now),
            "one resource is left"
        );
        core.peer_vanished(":1.2");
        assert!(!core.credentials().is_specified("ws", true, now));
    }

    #[test]
    fn grace_counts_from_the_end_of_the_call() {
        let t0 = Instant::now();
        let mut core = RuntimeCore::new(Duration::from_secs(3));
        let c = client(&mut core, ":1.1", "ws", t0);
        core.begin_disconnect("ws").unwrap();
        let t1 = t0 + Duration::from_secs(5);
        core.finish_disconnect(c, t1);
        assert_eq!(core.next_deadline(), Some(t1 + Duration::from_secs(3)));
        assert!(core.on_timer(t1 + Duration::from_secs(2)).is_empty());
        assert_eq!(core.on_timer(t1 + Duration::from_secs(3)).len(), 1);
    }

    #[test]
    fn a_workspace_without_a_feed_is_named_by_its_clients() {
        let now = Instant::now();
        let mut core = RuntimeCore::default();
        let c = core.add_resource(":1.1", "/c", now).unwrap();
        core.complete_probe(c, "ws-gamma", "Gamma Fail", 0).unwrap();
        let d = core.add_resource(":1.2", "/c", now).unwrap();
        core.complete_probe(d, "ws-gamma", "Gamma Other", 0)
            .unwrap();
        assert_eq!(
            core.workspace_name("ws-gamma"),
            "Gamma Fail",
            "the first client's"
        );
        assert_eq!(core.live_workspace_names(), vec!["Gamma Fail".to_owned()]);
        for name in ["gamma fail", "Gamma Other", "WS-GAMMA"] {
            assert_eq!(
                core.resolve_friendly_name(name).unwrap(),
                "ws-gamma",
                "{name}"
            );
        }
        // A launched connection's name is its resource's, not the workspace's.
        core.add_launched("ws-delta", "Notepad", 7, now).unwrap();
        assert_eq!(core.workspace_name("ws-delta"), "ws-delta");
        assert!(core.resolve_friendly_name("Notepad").is_err());
        // A feed's publisher name wins where there is one.
        core.set_workspace_name("ws-gamma", "Gamma Apps").unwrap();
        assert_eq!(core.workspace_name("ws-gamma"), "Gamma Apps");
        assert_eq!(
            core.resolve_friendly_name("gamma apps").unwrap(),
            "ws-gamma"
        );
        assert_eq!(
            core.resolve_friendly_name("Gamma Fail").unwrap_err().kind,
            ErrorKind::NotFound
        );
    }

    #[test]
    fn names_resolve_by_display_name_or_id() {
        let now = Instant::now();
        let mut core = RuntimeCore::default();
        client(&mut core, ":1.1", "ws-1", now);
        client(&mut core, ":1.1", "ws-2", now);
        core.set_workspace_name("ws-1", "Contoso Apps").unwrap();
        assert_eq!(core.resolve_friendly_name("contoso apps").unwrap(), "ws-1");
        assert_eq!(core.resolve_friendly_name("WS-2").unwrap(), "ws-2");
        assert_eq!(core.resolve_workspace("ws-1").unwrap(), "ws-1");
        assert_eq!(
            core.resolve_friendly_name("nobody").unwrap_err().kind,
            ErrorKind::NotFound
        );
        core.set_workspace_name("ws-2", "Contoso Apps").unwrap();
        assert_eq!(
            core.resolve_friendly_name("Contoso Apps").unwrap_err().kind,
            ErrorKind::InvalidArgs
        );
        assert_eq!(
            core.live_workspace_names(),
            vec!["Contoso Apps".to_string()]
        );
    }
}
