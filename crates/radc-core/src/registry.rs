//! The registry of live connections: every custom client that told the
//! runtime it belongs to a workspace, and every connection the runtime
//! launched itself.
//!
//! A registration goes through three states:
//!
//! ```text
//!  add() ──► Probing ──complete_probe()──► Connected ──begin_disconnect()──► Disconnecting
//!               │                              │                                 │
//!               └── probe_failed() / remove() / peer_vanished() / grace expiry ──┴──► gone
//! ```
//!
//! Only `Connected` and `Disconnecting` registrations are listed and belong
//! to a workspace: while probing, the runtime does not yet know which
//! workspace the client is part of.
//!
//! A launched connection ([`Kind::Launched`]) starts `Connected`: the runtime
//! knows its workspace and name. It has no grace deadline: the runtime ends
//! the process itself, and the registration goes only when the process has
//! exited ([`Registry::launched_exited`]), so an entry never outlives or
//! predeceases its process.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Result, RuntimeError};
use crate::validate;

/// Most registrations one bus connection may hold at once.
pub const MAX_REGISTRATIONS_PER_PEER: usize = 4096;
/// Most registrations the runtime holds at once.
pub const MAX_REGISTRATIONS: usize = 65536;
/// Longest object path accepted for a client object, in bytes.
pub const MAX_OBJECT_PATH_LEN: usize = 1024;

/// The handle `AddResource` returns. Never zero, never reused while the
/// runtime lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cookie(NonZeroU32);

impl Cookie {
    pub fn new(value: u32) -> Option<Cookie> {
        NonZeroU32::new(value).map(Cookie)
    }

    pub fn get(self) -> u32 {
        self.0.get()
    }
}

impl fmt::Display for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a registration is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Added; the runtime is asking the client for its workspace and name.
    Probing,
    /// Listed and announced.
    Connected,
    /// `IssueDisconnect` was sent. `deadline` is when the runtime drops the
    /// registration if the client has neither removed it nor vanished; it is
    /// `None` while the call is still in flight.
    Disconnecting { deadline: Option<Instant> },
}

impl State {
    /// The word `ListResources` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Probing => "probing",
            State::Connected => "connected",
            State::Disconnecting { .. } => "disconnecting",
        }
    }
}

/// Who is behind a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A program that called `AddResource` and serves `IssueDisconnect`.
    Client,
    /// A connection process the runtime started itself.
    Launched,
}

impl Kind {
    /// The word `ListConnections` and `radc status` use.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Client => "custom",
            Kind::Launched => "built-in",
        }
    }
}

/// How a launched process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Exit {
    /// It exited with this status code.
    Code(i32),
    /// A signal with this number ended it.
    Signal(i32),
    /// It ended, but how is not known: a connection adopted from an earlier
    /// runtime, whose status went to whoever was its parent then.
    Unknown,
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Code(code) => write!(f, "exited:{code}"),
            Exit::Signal(signal) => write!(f, "signal:{signal}"),
            Exit::Unknown => f.write_str("exited"),
        }
    }
}

/// Why a registration went away; the `reason` of `ResourceRemoved`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RemovalReason {
    /// The client called `RemoveResource`.
    Removed,
    /// The client's bus connection closed.
    ClientVanished,
    /// The workspace was disconnected and the client did not remove itself
    /// within the grace period.
    Disconnected,
    /// The client did not answer `GetResourceId`/`GetResourceDisplayName`
    /// properly.
    InvalidClient,
    /// A launched connection's process ended; shown as `exited:CODE`,
    /// `signal:NUMBER`, or `exited` when the status is not known.
    Exited(Exit),
}

impl fmt::Display for RemovalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RemovalReason::Removed => "removed",
            RemovalReason::ClientVanished => "client-vanished",
            RemovalReason::Disconnected => "disconnected",
            RemovalReason::InvalidClient => "invalid-client",
            RemovalReason::Exited(exit) => return exit.fmt(f),
        })
    }
}

/// The `peer` of launched registrations: no bus connection has an empty
/// unique name, so it can never be a client's.
pub const LAUNCHED_PEER: &str = "";

/// One registration. Kept small, as a runtime may hold tens of thousands:
/// the peer name and the workspace id are shared by every registration
/// that has them (one allocation per connection and per workspace), the
/// other texts are exactly as long as they need to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub cookie: Cookie,
    pub kind: Kind,
    /// Unique bus name of the connection that added it; [`LAUNCHED_PEER`]
    /// for launched connections.
    pub peer: Arc<str>,
    /// Object path of the client's `WorkspaceClientExt1` object on `peer`;
    /// empty for launched connections.
    pub object_path: Box<str>,
    pub workspace_id: Option<Arc<str>>,
    pub display_name: Option<Box<str>>,
    /// Process id of the client, 0 if unknown.
    pub pid: u32,
    pub state: State,
    pub added_at: Instant,
}

/// What changed; the D-Bus layer turns these into signals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryEvent {
    Added {
        cookie: Cookie,
        workspace_id: String,
        display_name: String,
    },
    Removed {
        cookie: Cookie,
        reason: RemovalReason,
        /// The workspace it belonged to, if the probe had finished.
        workspace_id: Option<String>,
    },
}

impl RegistryEvent {
    /// Whether listeners are told of this event (`ResourceAdded`,
    /// `ResourceRemoved`). A registration is announced once its probe has
    /// finished; one that goes away before that was never announced, so its
    /// removal is told only when it was dropped as invalid, for its client
    /// to learn why.
    pub fn is_announced(&self) -> bool {
        match self {
            RegistryEvent::Added { .. } => true,
            RegistryEvent::Removed {
                reason,
                workspace_id,
                ..
            } => workspace_id.is_some() || *reason == RemovalReason::InvalidClient,
        }
    }
}

/// A client to send `IssueDisconnect` to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisconnectTarget {
    pub cookie: Cookie,
    pub kind: Kind,
    pub peer: String,
    pub object_path: String,
    /// For a launched connection, the process (and process group) to end.
    pub pid: u32,
}

#[derive(Debug)]
pub struct Registry {
    next_cookie: Option<NonZeroU32>,
    entries: BTreeMap<Cookie, Registration>,
    /// The key is the `peer` every registration of that connection shares.
    by_peer: HashMap<Arc<str>, BTreeSet<Cookie>>,
    /// The workspace ids registrations share; one goes with its last user.
    workspace_ids: HashSet<Arc<str>>,
    /// Entries came or went since the last [`Registry::compact`].
    changed: bool,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    pub fn new() -> Self {
        Self::starting_at(NonZeroU32::MIN)
    }

    /// A registry whose first cookie is `first`; lets tests reach the end of
    /// the cookie space.
    pub fn starting_at(first: NonZeroU32) -> Self {
        Self {
            next_cookie: Some(first),
            entries: BTreeMap::new(),
            by_peer: HashMap::new(),
            workspace_ids: HashSet::new(),
            changed: false,
        }
    }

    /// Records a new registration in the `Probing` state and returns its cookie.
    pub fn add(&mut self, peer: &str, object_path: &str, now: Instant) -> Result<Cookie> {
        validate::identifier("client object path", object_path, MAX_OBJECT_PATH_LEN)?;
        if !object_path.starts_with('/') {
            return Err(RuntimeError::invalid_args(format!(
                "client object path {:?} is not absolute",
                validate::for_log(object_path)
            )));
        }
        if peer == LAUNCHED_PEER {
            return Err(RuntimeError::invalid_args("a client needs a bus name"));
        }
        self.insert(Kind::Client, peer, object_path, now)
    }

    /// Records a connection the runtime launched as process `pid`; it is
    /// listed at once.
    pub fn add_launched(
        &mut self,
        workspace_id: &str,
        display_name: &str,
        pid: u32,
        now: Instant,
    ) -> Result<(Cookie, RegistryEvent)> {
        validate::workspace_id(workspace_id)?;
        validate::display_name("resource display name", display_name)?;
        let cookie = self.insert(Kind::Launched, LAUNCHED_PEER, "", now)?;
        let shared_id = self.shared_workspace_id(workspace_id);
        let entry = self.entries.get_mut(&cookie).expect("just inserted");
        entry.workspace_id = Some(shared_id);
        entry.display_name = Some(display_name.into());
        entry.pid = pid;
        entry.state = State::Connected;
        let event = RegistryEvent::Added {
            cookie,
            workspace_id: workspace_id.to_owned(),
            display_name: display_name.to_owned(),
        };
        Ok((cookie, event))
    }

    /// A launched connection's process ended.
    pub fn launched_exited(&mut self, cookie: Cookie, exit: Exit) -> Option<RegistryEvent> {
        match self.entries.get(&cookie)?.kind {
            Kind::Launched => self.take(cookie, RemovalReason::Exited(exit)),
            Kind::Client => None,
        }
    }

    fn insert(
        &mut self,
        kind: Kind,
        peer: &str,
        object_path: &str,
        now: Instant,
    ) -> Result<Cookie> {
        let held = self.by_peer.get(peer).map_or(0, BTreeSet::len);
        if held >= MAX_REGISTRATIONS_PER_PEER {
            return Err(RuntimeError::failed(format!(
                "this connection already holds {held} registrations, the most allowed; remove some first"
            )));
        }
        if self.entries.len() >= MAX_REGISTRATIONS {
            return Err(RuntimeError::failed(format!(
                "the runtime already holds {} registrations, the most allowed",
                self.entries.len()
            )));
        }
        let value = self.next_cookie.ok_or_else(|| {
            RuntimeError::failed("every cookie has been handed out; restart the runtime")
        })?;
        self.next_cookie = value.checked_add(1);
        let cookie = Cookie(value);
        let peer: Arc<str> = match self.by_peer.get_key_value(peer) {
            Some((shared, _)) => shared.clone(),
            None => peer.into(),
        };
        self.by_peer.entry(peer.clone()).or_default().insert(cookie);
        self.changed = true;
        self.entries.insert(
            cookie,
            Registration {
                cookie,
                kind,
                peer,
                object_path: object_path.into(),
                workspace_id: None,
                display_name: None,
                pid: 0,
                state: State::Probing,
                added_at: now,
            },
        );
        Ok(cookie)
    }

    /// `workspace_id` as the allocation every registration of it shares.
    fn shared_workspace_id(&mut self, workspace_id: &str) -> Arc<str> {
        if let Some(shared) = self.workspace_ids.get(workspace_id) {
            return shared.clone();
        }
        let shared: Arc<str> = workspace_id.into();
        self.workspace_ids.insert(shared.clone());
        shared
    }

    /// The client answered both probe calls. Returns the `Added` event, or a
    /// `Removed` one if the answers are unacceptable, or nothing if the
    /// registration went away meanwhile.
    pub fn complete_probe(
        &mut self,
        cookie: Cookie,
        workspace_id: &str,
        display_name: &str,
        pid: u32,
    ) -> Option<RegistryEvent> {
        let entry = self.entries.get(&cookie)?;
        if entry.state != State::Probing {
            return None;
        }
        let checked = validate::workspace_id(workspace_id)
            .and_then(|_| validate::display_name("resource display name", display_name));
        if checked.is_err() {
            return self.take(cookie, RemovalReason::InvalidClient);
        }
        let shared_id = self.shared_workspace_id(workspace_id);
        let entry = self.entries.get_mut(&cookie)?;
        entry.workspace_id = Some(shared_id);
        entry.display_name = Some(display_name.into());
        entry.pid = pid;
        entry.state = State::Connected;
        Some(RegistryEvent::Added {
            cookie,
            workspace_id: workspace_id.to_owned(),
            display_name: display_name.to_owned(),
        })
    }

    /// The client did not answer the probe (or answered with an error).
    pub fn probe_failed(&mut self, cookie: Cookie) -> Option<RegistryEvent> {
        match self.entries.get(&cookie)?.state {
            State::Probing => self.take(cookie, RemovalReason::InvalidClient),
            _ => None,
        }
    }

    /// `RemoveResource` from `peer`.
    pub fn remove(&mut self, peer: &str, cookie: Cookie) -> Result<RegistryEvent> {
        let entry = self.entries.get(&cookie).ok_or_else(|| {
            RuntimeError::not_found(format!("no registration has cookie {cookie}"))
        })?;
        if entry.kind == Kind::Launched {
            return Err(RuntimeError::access_denied(format!(
                "cookie {cookie} is a connection radc launched; disconnect its workspace to end it"
            )));
        }
        if &*entry.peer != peer {
            return Err(RuntimeError::access_denied(format!(
                "cookie {cookie} was registered by another connection; only it may remove it"
            )));
        }
        Ok(self
            .take(cookie, RemovalReason::Removed)
            .expect("entry checked above"))
    }

    /// `peer`'s bus connection closed: drop everything it held.
    pub fn peer_vanished(&mut self, peer: &str) -> Vec<RegistryEvent> {
        if peer == LAUNCHED_PEER {
            return Vec::new();
        }
        let Some(cookies) = self.by_peer.remove(peer) else {
            return Vec::new();
        };
        cookies
            .into_iter()
            .filter_map(|cookie| self.take(cookie, RemovalReason::ClientVanished))
            .collect()
    }

    /// Marks every listed registration of `workspace_id` as disconnecting and
    /// returns who must be sent `IssueDisconnect`.
    pub fn begin_disconnect(&mut self, workspace_id: &str) -> Vec<DisconnectTarget> {
        self.entries
            .values_mut()
            .filter(|r| {
                r.state != State::Probing && r.workspace_id.as_deref() == Some(workspace_id)
            })
            .map(Self::disconnecting)
            .collect()
    }

    /// Marks one listed registration as disconnecting; `None` if `cookie`
    /// is not listed (unknown, or still being probed).
    pub fn begin_disconnect_one(&mut self, cookie: Cookie) -> Option<DisconnectTarget> {
        self.entries
            .get_mut(&cookie)
            .filter(|r| r.state != State::Probing)
            .map(Self::disconnecting)
    }

    fn disconnecting(r: &mut Registration) -> DisconnectTarget {
        if r.state == State::Connected {
            r.state = State::Disconnecting { deadline: None };
        }
        DisconnectTarget {
            cookie: r.cookie,
            kind: r.kind,
            peer: r.peer.to_string(),
            object_path: r.object_path.to_string(),
            pid: r.pid,
        }
    }

    /// `IssueDisconnect` to `cookie` has finished (answered, failed or timed
    /// out): the client now has until `deadline` to go away by itself.
    /// Launched connections get no deadline: they go when their process does.
    pub fn arm_grace(&mut self, cookie: Cookie, deadline: Instant) {
        if let Some(entry) = self.entries.get_mut(&cookie)
            && entry.kind == Kind::Client
            && let State::Disconnecting { deadline: d } = &mut entry.state
        {
            *d = Some(d.map_or(deadline, |old| old.min(deadline)));
        }
    }

    /// The earliest grace deadline, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.entries
            .values()
            .filter_map(|r| match r.state {
                State::Disconnecting { deadline } => deadline,
                _ => None,
            })
            .min()
    }

    /// Drops registrations whose grace period has run out.
    pub fn on_timer(&mut self, now: Instant) -> Vec<RegistryEvent> {
        let expired: Vec<Cookie> = self
            .entries
            .values()
            .filter(|r| matches!(r.state, State::Disconnecting { deadline: Some(d) } if d <= now))
            .map(|r| r.cookie)
            .collect();
        expired
            .into_iter()
            .filter_map(|cookie| self.take(cookie, RemovalReason::Disconnected))
            .collect()
    }

    pub fn get(&self, cookie: Cookie) -> Option<&Registration> {
        self.entries.get(&cookie)
    }

    /// The process id already known for `peer`, from another of its
    /// registrations: a bus connection's process never changes.
    pub fn peer_pid(&self, peer: &str) -> Option<u32> {
        self.by_peer
            .get(peer)?
            .iter()
            .filter_map(|c| self.entries.get(c))
            .map(|r| r.pid)
            .find(|&pid| pid != 0)
    }

    /// Listed registrations (those whose probe finished), by cookie.
    pub fn listed(&self) -> impl Iterator<Item = &Registration> {
        self.entries.values().filter(|r| r.state != State::Probing)
    }

    /// Whether any listed registration belongs to `workspace_id`.
    pub fn has_workspace(&self, workspace_id: &str) -> bool {
        self.listed()
            .any(|r| r.workspace_id.as_deref() == Some(workspace_id))
    }

    /// Ids of workspaces with at least one listed registration, sorted.
    pub fn workspace_ids(&self) -> BTreeSet<&str> {
        self.listed()
            .filter_map(|r| r.workspace_id.as_deref())
            .collect()
    }

    /// Number of registrations in every state.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Rebuilds the registry's storage, to run once a burst of additions
    /// or removals is over. Entries added one at a time leave the map's
    /// nodes about half full, and their texts scattered among whatever
    /// else the burst allocated, where they keep otherwise free pages
    /// resident; rebuilt at once, the nodes are full and the texts
    /// allocated together. O(n); a few milliseconds for 10,000 entries.
    pub fn compact(&mut self) {
        if !std::mem::take(&mut self.changed) {
            return;
        }
        let entries = std::mem::take(&mut self.entries);
        self.entries = entries
            .into_values()
            .map(|mut r| {
                r.object_path = Box::from(&*r.object_path);
                r.display_name = r.display_name.as_deref().map(Box::from);
                (r.cookie, r)
            })
            .collect();
        let by_peer = std::mem::take(&mut self.by_peer);
        self.by_peer = by_peer
            .into_iter()
            .map(|(peer, cookies)| (peer, cookies.into_iter().collect()))
            .collect();
        self.workspace_ids.shrink_to_fit();
    }

    fn take(&mut self, cookie: Cookie, reason: RemovalReason) -> Option<RegistryEvent> {
        let entry = self.entries.remove(&cookie)?;
        self.changed = true;
        if let Some(set) = self.by_peer.get_mut(&entry.peer) {
            set.remove(&cookie);
            if set.is_empty() {
                self.by_peer.remove(&entry.peer);
            }
        }
        let workspace_id = entry.workspace_id.map(|shared| {
            // The set's and this one: nobody else uses it any more.
            if Arc::strong_count(&shared) == 2 {
                self.workspace_ids.remove(&shared);
            }
            shared.to_string()
        });
        Some(RegistryEvent::Removed {
            cookie,
            reason,
            workspace_id,
        })
    }
}

/// How long after `now` a deadline `delay` away falls.
pub fn deadline_after(now: Instant, delay: Duration) -> Instant {
    now.checked_add(delay)
        .or_else(|| now.checked_add(Duration::from_secs(86400 * 365)))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn connected(reg: &mut Registry, peer: &str, ws: &str, now: Instant) -> Cookie {
        let c = reg.add(peer, "/client", now).unwrap();
        reg.complete_probe(c, ws, "App", 42).unwrap();
        c
    }

    #[test]
    fn launched_connections_are_listed_at_once_and_leave_only_when_they_exit() {
        let now = Instant::now();
        let mut reg = Registry::new();
        let client = connected(&mut reg, ":1.5", "ws", now);
        let (launched, added) = reg.add_launched("ws", "Desktop", 4242, now).unwrap();
        assert!(matches!(added, RegistryEvent::Added { cookie, .. } if cookie == launched));
        let entry = reg.get(launched).unwrap();
        assert_eq!(
            (entry.kind, entry.state, entry.pid),
            (Kind::Launched, State::Connected, 4242)
        );

        let targets = reg.begin_disconnect("ws");
        let kinds: Vec<_> = targets.iter().map(|t| (t.kind, t.pid)).collect();
        assert_eq!(kinds, [(Kind::Client, 42), (Kind::Launched, 4242)]);
        let later = now + Duration::from_secs(1);
        reg.arm_grace(client, later);
        reg.arm_grace(launched, later);
        assert_eq!(
            reg.next_deadline(),
            Some(later),
            "no deadline for the launched one"
        );
        let expired = reg.on_timer(later + Duration::from_secs(60));
        assert_eq!(
            expired.len(),
            1,
            "only the client's grace ran out: {expired:?}"
        );
        assert!(reg.get(launched).is_some());

        // Nobody on the bus can remove it or make it vanish.
        assert_eq!(
            reg.remove(LAUNCHED_PEER, launched).unwrap_err().kind,
            ErrorKind::AccessDenied
        );
        assert!(reg.peer_vanished(LAUNCHED_PEER).is_empty());
        assert!(reg.add(LAUNCHED_PEER, "/x", now).is_err());

        let gone = reg.launched_exited(launched, Exit::Signal(15)).unwrap();
        match gone {
            RegistryEvent::Removed {
                reason,
                workspace_id,
                ..
            } => {
                assert_eq!(reason.to_string(), "signal:15");
                assert_eq!(workspace_id.as_deref(), Some("ws"));
            }
            other => panic!("{other:?}"),
        }
        assert!(reg.is_empty());
        assert_eq!(reg.launched_exited(launched, Exit::Code(0)), None);
    }

    #[test]
    fn launched_connections_are_validated_like_clients() {
        let mut reg = Registry::new();
        assert!(reg.add_launched("", "Desktop", 1, Instant::now()).is_err());
        assert!(
            reg.add_launched("ws", "two\nlines", 1, Instant::now())
                .is_err()
        );
        assert!(reg.is_empty());
    }

    #[test]
    fn cookies_start_at_one_and_are_not_reused() {
        let now = Instant::now();
        let mut reg = Registry::new();
        let a = reg.add(":1.1", "/a", now).unwrap();
        assert_eq!(a.get(), 1);
        reg.remove(":1.1", a).unwrap();
        let b = reg.add(":1.1", "/a", now).unwrap();
        assert_eq!(b.get(), 2);
    }

    #[test]
    fn cookie_space_exhaustion_is_an_error_not_a_wrap() {
        let now = Instant::now();
        let mut reg = Registry::starting_at(NonZeroU32::new(u32::MAX).unwrap());
        let last = reg.add(":1.1", "/a", now).unwrap();
        assert_eq!(last.get(), u32::MAX);
        let err = reg.add(":1.1", "/a", now).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Failed);
    }

    #[test]
    fn only_registrations_told_to_listeners_have_their_removal_told() {
        let mut reg = Registry::new();
        let now = Instant::now();
        let told = connected(&mut reg, ":1.1", "ws", now);
        let removed = reg.remove(":1.1", told).unwrap();
        assert!(removed.is_announced(), "{removed:?}");

        // Removed by its client, or gone with it, before its probe ended.
        let quick = reg.add(":1.1", "/quick", now).unwrap();
        let removed = reg.remove(":1.1", quick).unwrap();
        assert!(!removed.is_announced(), "{removed:?}");
        let _ = reg.add(":1.2", "/gone", now).unwrap();
        let vanished = reg.peer_vanished(":1.2");
        assert_eq!(vanished.len(), 1);
        assert!(!vanished[0].is_announced(), "{vanished:?}");

        // Dropped as invalid: its client is told why.
        let invalid = reg.add(":1.1", "/invalid", now).unwrap();
        let dropped = reg.probe_failed(invalid).unwrap();
        assert!(dropped.is_announced(), "{dropped:?}");
        let empty = reg.add(":1.1", "/empty", now).unwrap();
        let dropped = reg.complete_probe(empty, "", "Word", 0).unwrap();
        assert!(dropped.is_announced(), "{dropped:?}");
    }

    #[test]
    fn probing_registrations_are_not_listed() {
        let now = Instant::now();
        let mut reg = Registry::new();
        let c = reg.add(":1.1", "/a", now).unwrap();
        assert_eq!(reg.listed().count(), 0);
        let ev = reg.complete_probe(c, "ws", "Word", 7).unwrap();
        assert_eq!(
            ev,
            RegistryEvent::Added {
                cookie: c,
                workspace_id: "ws".into(),
                display_name: "Word".into()
            }
        );
        let listed: Vec<_> = reg.listed().collect();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].pid, 7);
        assert_eq!(reg.peer_pid(":1.1"), Some(7));
        assert_eq!(reg.peer_pid(":1.2"), None);
        assert_eq!(listed[0].state, State::Connected);
    }

    #[test]
    fn bad_probe_answers_drop_the_client() {
        let now = Instant::now();
        let mut reg = Registry::new();
        let c = reg.add(":1.1", "/a", now).unwrap();
        let ev = reg.complete_probe(c, "", "Word", 0).unwrap();
        assert!(matches!(
            ev,
            RegistryEvent::Removed {
                reason: RemovalReason::InvalidClient,
                ..
            }
        ));
        assert!(reg.is_empty());
        let c = reg.add(":1.1", "/a", now).unwrap();
        assert!(reg.probe_failed(c).is_some());
        assert!(reg.is_empty());
    }

    #[test]
    fn only_the_owner_may_remove() {
        let now = Instant::now();
        let mut reg = Registry::new();
        let c = connected(&mut reg, ":1.1", "ws", now);
        assert_eq!(
            reg.remove(":1.2", c).unwrap_err().kind,
            ErrorKind::AccessDenied
        );
        let missing = Cookie::new(999).unwrap();
        assert_eq!(
            reg.remove(":1.1", missing).unwrap_err().kind,
            ErrorKind::NotFound
        );
        assert!(reg.remove(":1.1", c).is_ok());
    }

    #[test]
    fn vanished_peer_loses_everything_at_once() {
        let now = Instant::now();
        let mut reg = Registry::new();
        for _ in 0..3 {
            connected(&mut reg, ":1.1", "ws", now);
        }
        reg.add(":1.1", "/probing", now).unwrap();
        let other = connected(&mut reg, ":1.2", "ws", now);
        let events = reg.peer_vanished(":1.1");
        assert_eq!(events.len(), 4);
        assert!(events.iter().all(|e| matches!(
            e,
            RegistryEvent::Removed {
                reason: RemovalReason::ClientVanished,
                ..
            }
        )));
        assert_eq!(reg.len(), 1);
        assert!(reg.get(other).is_some());
        assert!(reg.peer_vanished(":1.1").is_empty());
    }

    #[test]
    fn disconnect_then_grace_expiry() {
        let t0 = Instant::now();
        let mut reg = Registry::new();
        let a = connected(&mut reg, ":1.1", "ws", t0);
        let b = connected(&mut reg, ":1.2", "ws", t0);
        let other = connected(&mut reg, ":1.3", "elsewhere", t0);
        let targets = reg.begin_disconnect("ws");
        assert_eq!(
            targets.iter().map(|t| t.cookie).collect::<Vec<_>>(),
            vec![a, b]
        );
        assert_eq!(reg.get(a).unwrap().state.as_str(), "disconnecting");
        assert_eq!(
            reg.next_deadline(),
            None,
            "no deadline before the call finished"
        );
        let grace = Duration::from_secs(10);
        reg.arm_grace(a, t0 + grace);
        reg.arm_grace(b, t0 + grace);
        assert_eq!(reg.next_deadline(), Some(t0 + grace));
        reg.remove(":1.1", a).unwrap();
        assert!(reg.on_timer(t0 + Duration::from_secs(9)).is_empty());
        let events = reg.on_timer(t0 + grace);
        assert_eq!(
            events,
            vec![RegistryEvent::Removed {
                cookie: b,
                reason: RemovalReason::Disconnected,
                workspace_id: Some("ws".into())
            }]
        );
        assert_eq!(reg.get(other).unwrap().state, State::Connected);
        assert_eq!(reg.next_deadline(), None);
    }

    #[test]
    fn per_peer_limit() {
        let now = Instant::now();
        let mut reg = Registry::new();
        for _ in 0..MAX_REGISTRATIONS_PER_PEER {
            reg.add(":1.1", "/a", now).unwrap();
        }
        assert_eq!(
            reg.add(":1.1", "/a", now).unwrap_err().kind,
            ErrorKind::Failed
        );
        assert!(reg.add(":1.2", "/a", now).is_ok());
    }

    #[test]
    fn object_path_must_be_absolute_and_bounded() {
        let now = Instant::now();
        let mut reg = Registry::new();
        assert_eq!(
            reg.add(":1.1", "rel", now).unwrap_err().kind,
            ErrorKind::InvalidArgs
        );
        let long = format!("/{}", "a".repeat(MAX_OBJECT_PATH_LEN));
        assert_eq!(
            reg.add(":1.1", &long, now).unwrap_err().kind,
            ErrorKind::InvalidArgs
        );
    }

    #[test]
    fn compacting_keeps_every_registration_as_it_was() {
        let now = Instant::now();
        let mut reg = Registry::new();
        let mut kept = Vec::new();
        for i in 0..500 {
            let c = connected(&mut reg, &format!(":1.{}", i % 7), "ws", now);
            if i % 3 == 0 {
                reg.remove(&format!(":1.{}", i % 7), c).unwrap();
            } else {
                kept.push(c);
            }
        }
        let probing = reg.add(":1.1", "/probing", now).unwrap();
        let before: Vec<Registration> = reg.entries.values().cloned().collect();
        let peers: Vec<_> = (0..7).map(|p| reg.peer_pid(&format!(":1.{p}"))).collect();
        reg.compact();
        let after: Vec<Registration> = reg.entries.values().cloned().collect();
        assert_eq!(before, after);
        assert_eq!(reg.listed().count(), kept.len());
        assert_eq!(reg.get(probing).unwrap().state, State::Probing);
        let peers_after: Vec<_> = (0..7).map(|p| reg.peer_pid(&format!(":1.{p}"))).collect();
        assert_eq!(peers, peers_after);
        // Still one registry: removal, vanishing and new cookies work on.
        reg.remove(":1.1", probing).unwrap();
        let vanished = reg.peer_vanished(":1.2");
        assert!(!vanished.is_empty());
        let next = reg.add(":1.9", "/new", now).unwrap();
        assert!(next > probing);
    }

    #[test]
    fn registrations_share_their_peer_and_workspace_texts() {
        let now = Instant::now();
        let mut reg = Registry::new();
        let a = connected(&mut reg, ":1.7", "ws", now);
        let b = connected(&mut reg, ":1.7", "ws", now);
        let other = connected(&mut reg, ":1.8", "other", now);
        let (ra, rb) = (reg.get(a).unwrap(), reg.get(b).unwrap());
        assert!(Arc::ptr_eq(&ra.peer, &rb.peer));
        let (wa, wb) = (ra.workspace_id.clone(), rb.workspace_id.clone());
        assert!(Arc::ptr_eq(&wa.unwrap(), &wb.unwrap()));
        assert_eq!(reg.workspace_ids.len(), 2);

        // A workspace id is forgotten with its last registration, a peer
        // name with its connection's last one.
        reg.remove(":1.7", a).unwrap();
        assert_eq!(reg.workspace_ids.len(), 2);
        let gone = reg.remove(":1.7", b).unwrap();
        assert!(
            matches!(gone, RegistryEvent::Removed { workspace_id: Some(ws), .. } if ws == "ws")
        );
        assert_eq!(reg.workspace_ids.len(), 1);
        assert!(!reg.by_peer.contains_key(":1.7"));
        reg.peer_vanished(":1.8");
        assert!(reg.workspace_ids.is_empty() && reg.by_peer.is_empty());
        assert!(reg.get(other).is_none());
    }
}
