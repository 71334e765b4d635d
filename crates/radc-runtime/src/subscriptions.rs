//! Subscribed workspaces in the runtime: `org.radc.Workspaces1` on the bus,
//! and the refresher that keeps every feed fresh.
//!
//! The refresher sleeps until the schedule's next due time (a day by
//! default), so it adds no wake-ups to an idle runtime. A failed refresh
//! keeps the last good state; the user is told once per workspace (through
//! the error-event store and a `UserNotice`) until a refresh succeeds again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use radc_core::error_events::ErrorEvent;
use radc_core::{RuntimeError, validate};
use radc_feed::schedule::Schedule;
use radc_subscribe::http::Credentials;
use radc_subscribe::reconnect;
use radc_subscribe::secrets::SecretStore;
use radc_subscribe::store::{Store, WorkspaceRecord};
use radc_subscribe::workspace::{self, Options};
use tokio::sync::Notify;
use zbus::interface;
use zeroize::Zeroizing;

use crate::launcher::{Launcher, Request};
use crate::notify::Notice;
use crate::service::Shared;
use radc_client::WireError;

/// `RegisterErrorEvent` values the refresher uses for a failed refresh.
pub const REFRESH_ERROR_TYPE: u32 = 1;
pub const REFRESH_ERROR_MESSAGE_TYPE: &str = "refresh-failed";

pub(crate) struct Subscriptions {
    shared: Arc<Shared>,
    /// Starts the sessions a reconnect finds.
    launcher: Arc<Launcher>,
    store: Store,
    options: Options,
    schedule: Mutex<Schedule>,
    wake: Notify,
}

impl Subscriptions {
    pub(crate) fn new(
        shared: Arc<Shared>,
        store: Store,
        interval: Duration,
        launcher: Arc<Launcher>,
    ) -> Arc<Self> {
        let subs = Arc::new(Subscriptions {
            shared,
            launcher,
            store,
            options: Options {
                desktop: radc_subscribe::desktop::Roots::from_environment(),
                ..Options::default()
            },
            schedule: Mutex::new(Schedule::new(interval)),
            wake: Notify::new(),
        });
        subs.load();
        subs
    }

    fn schedule(&self) -> MutexGuard<'_, Schedule> {
        self.schedule.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Brings the schedule in line with the store: workspaces subscribed
    /// elsewhere (by `radc subscribe`) are added, unsubscribed ones dropped;
    /// the core learns every display name (so it can disconnect by name).
    fn load(&self) {
        let Ok(entries) = self.store.list() else {
            return;
        };
        let records: Vec<WorkspaceRecord> = entries.into_iter().flatten().collect();
        let now = SystemTime::now();
        let mut schedule = self.schedule();
        let tracked = schedule.tracked();
        for gone in tracked
            .iter()
            .filter(|id| !records.iter().any(|r| &r.id == *id))
        {
            schedule.forget(gone);
        }
        for record in &records {
            if !tracked.contains(&record.id) {
                schedule.track(&record.id, record.last_refresh.map(from_unix), now);
            }
        }
        drop(schedule);
        for record in &records {
            self.learn_name(record);
        }
    }

    fn learn_name(&self, record: &WorkspaceRecord) {
        if let Err(e) = self
            .shared
            .core()
            .set_workspace_name(&record.id, &record.name)
        {
            tracing::warn!("workspace name not usable: {}", e.message);
        }
    }

    fn records(&self, filter: &str) -> Result<Vec<WorkspaceRecord>, RuntimeError> {
        let list = self
            .store
            .list()
            .map_err(|e| RuntimeError::failed(e.to_string()))?;
        let records: Vec<WorkspaceRecord> = list
            .into_iter()
            .flatten()
            .filter(|r| filter.is_empty() || r.id == filter || r.name.eq_ignore_ascii_case(filter))
            .collect();
        if records.is_empty() && !filter.is_empty() {
            return Err(RuntimeError::not_found(format!(
                "no workspace {:?} is subscribed; `radc workspaces` lists them",
                validate::for_log(filter)
            )));
        }
        Ok(records)
    }

    /// Refreshes one workspace, with its stored password if it needs one
    /// (none when a Kerberos ticket signs in instead), and tells the user
    /// about a failure once.
    async fn refresh_one(&self, record: &WorkspaceRecord) -> Result<(), String> {
        let credentials = match sign_in_credentials(record).await {
            Ok(credentials) => credentials,
            Err(error) => {
                self.failed(record, &error);
                return Err(error);
            }
        };
        let nothing = |_| {};
        match workspace::refresh(
            &self.store,
            &record.id,
            credentials.as_ref(),
            &self.options,
            &nothing,
        )
        .await
        {
            Ok(outcome) => {
                self.schedule().succeeded(&record.id, SystemTime::now());
                self.learn_name(&outcome.record);
                if record.last_error.is_some() && record.username.is_some() {
                    self.shared.tell(Notice::SignedIn {
                        workspace: outcome.record.name.clone(),
                        again: true,
                    });
                }
                if let Some(feed) = workspace::stored_feed(&self.store, &outcome.record) {
                    let removed = self.shared.removed_while_open(&record.id, |id| {
                        feed.resources.iter().any(|r| r.id == id)
                    });
                    for resource in removed {
                        self.shared.tell(Notice::ResourceRemoved {
                            workspace: outcome.record.name.clone(),
                            resource,
                        });
                    }
                }
                self.shared
                    .core()
                    .error_events_mut()
                    .forget_workspace(&record.id);
                tracing::info!(workspace = %validate::for_log(&record.id), "refreshed");
                self.shared.workspaces_changed(&record.id);
                Ok(())
            }
            Err(e) => {
                let error = e.to_string();
                self.failed(record, &error);
                self.shared.workspaces_changed(&record.id);
                Err(error)
            }
        }
    }

    fn failed(&self, record: &WorkspaceRecord, error: &str) {
        let retry = self.schedule().failed(&record.id, SystemTime::now());
        tracing::warn!(
            workspace = %validate::for_log(&record.id),
            retry_in_s = retry
                .and_then(|t| t.duration_since(SystemTime::now()).ok())
                .map(|d| d.as_secs()),
            "refresh failed: {}",
            validate::for_log(error)
        );
        let Ok(event) = ErrorEvent::new(
            &record.id,
            REFRESH_ERROR_TYPE,
            REFRESH_ERROR_MESSAGE_TYPE,
            0,
        ) else {
            return;
        };
        if self.shared.core().error_events_mut().register(event) {
            self.shared.notice(
                &record.id,
                "refresh-failed",
                format!("{} could not be refreshed: {error}", record.name),
            );
            self.shared.tell(Notice::RefreshFailed {
                workspace: record.name.clone(),
                error: error.to_owned(),
            });
        }
    }
}

/// Refreshes whatever is due, then sleeps until the next due time or until
/// the schedule changes.
pub(crate) async fn run_refresher(subs: Arc<Subscriptions>) {
    loop {
        let now = SystemTime::now();
        let due = subs.schedule().due(now);
        for id in due {
            if let Ok(Some(record)) = subs.store.record(&id) {
                let _ = subs.refresh_one(&record).await;
            } else {
                subs.schedule().forget(&id);
            }
        }
        let next = subs.schedule().next_due();
        match next {
            Some(at) => {
                let wait = at
                    .duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = subs.wake.notified() => {}
                }
            }
            None => subs.wake.notified().await,
        }
    }
}

/// Whether the user's Kerberos ticket can sign in (GSSAPI reads the
/// credential cache, which may block).
pub(crate) async fn has_kerberos_ticket() -> bool {
    tokio::task::spawn_blocking(radc_subscribe::kerberos::has_ticket)
        .await
        .unwrap_or(false)
}

/// The credentials a workspace signs in to its server with: none, or its
/// user with the password stored in the Secret Service, or none when the
/// user has a Kerberos ticket to sign in with instead.
async fn sign_in_credentials(record: &WorkspaceRecord) -> Result<Option<Credentials>, String> {
    let Some(user) = &record.username else {
        return Ok(None);
    };
    match stored_password(record, user).await {
        Some(password) => Ok(Some(
            Credentials::parse(user, password).map_err(|e| e.to_string())?,
        )),
        None if has_kerberos_ticket().await => Ok(None),
        None => Err(format!(
            "no stored password for {user} and no Kerberos ticket; run kinit, or `radc refresh {}` to enter the password",
            record.id
        )),
    }
}

/// One `Reconnect` row, as the client library declares it.
pub use radc_client::proxy::ReconnectRow;

impl Subscriptions {
    /// Asks the server of `record` for the user's disconnected sessions and
    /// launches each as a file of that workspace: same `.rdp` checks, same
    /// trust decision with the workspace's thumbprints, the workspace's own
    /// credentials only.
    async fn reconnect_one(
        &self,
        record: &WorkspaceRecord,
        environment: &HashMap<String, String>,
    ) -> Vec<ReconnectRow> {
        let row = |outcome: &str, name: &str, cookie: u32, pid: u32, detail: String| {
            (
                record.id.clone(),
                outcome.to_owned(),
                name.to_owned(),
                cookie,
                pid,
                detail,
            )
        };
        // What the stored feed says decides before anything is sent.
        if let Some(feed) = workspace::stored_feed(&self.store, record)
            && !reconnect::offered(&feed)
        {
            return vec![row(
                "not-offered",
                "",
                0,
                0,
                format!(
                    "{} does not offer reconnection (its feed says SupportsReconnect=\"false\")",
                    record.name
                ),
            )];
        }
        let answer = match sign_in_credentials(record).await {
            Ok(credentials) => {
                reconnect::disconnected_sessions(record, credentials.as_ref(), &self.options).await
            }
            Err(error) => return vec![row("failed", "", 0, 0, error)],
        };
        let answer = match answer {
            Ok(answer) => answer,
            Err(e @ reconnect::ReconnectError::NotSupported { .. }) => {
                return vec![row("not-offered", "", 0, 0, e.to_string())];
            }
            Err(e) => {
                tracing::warn!(
                    workspace = %validate::for_log(&record.id),
                    "reconnect failed: {}",
                    validate::for_log(&e.to_string())
                );
                return vec![row("failed", "", 0, 0, e.to_string())];
            }
        };
        if answer.sessions.is_empty() {
            return vec![row("none", "", 0, 0, String::new())];
        }
        let mut rows = Vec::new();
        for (index, session) in answer.sessions.into_iter().enumerate() {
            let name = session_name(&session.rdp, index + 1);
            let started = self
                .launcher
                .launch_rdp(Request {
                    workspace_id: record.id.clone(),
                    display_name: name.clone(),
                    resource_id: None,
                    brought_by: None,
                    rdp: session.rdp.into_bytes(),
                    files: Vec::new(),
                    environment: environment.clone(),
                    fullscreen: None,
                    stored_password: false,
                })
                .await;
            rows.push(match started {
                Ok(started) => row(
                    "launched",
                    &name,
                    started.cookie.get(),
                    started.pid,
                    started.trust,
                ),
                Err(e) => row("refused", &name, 0, 0, e.message),
            });
        }
        rows
    }

    /// Reconnects every workspace; the start-of-session option.
    pub(crate) async fn reconnect_all(&self) -> Vec<ReconnectRow> {
        let Ok(records) = self.records("") else {
            return Vec::new();
        };
        let mut rows = Vec::new();
        for record in records {
            rows.extend(self.reconnect_one(&record, &HashMap::new()).await);
        }
        rows
    }
}

/// What a reconnected session is called: the RemoteApp's name, or the
/// server of a desktop; both as the feed parser cleans names.
fn session_name(rdp: &str, index: usize) -> String {
    let file = radc_rdp::RdpFile::parse(rdp.as_bytes()).ok();
    let pick = |key: &str| {
        file.as_ref()
            .and_then(|f| f.get_str(key))
            .map(|v| radc_feed::text::strip_invisible(v).trim().to_owned())
            .filter(|v| !v.is_empty() && !v.chars().any(char::is_control))
    };
    let name = pick("remoteapplicationname")
        .or_else(|| pick("full address").map(|host| format!("Desktop on {host}")))
        .unwrap_or_else(|| format!("Session {index}"));
    name.chars()
        .take(validate::MAX_DISPLAY_NAME_LEN / 2)
        .collect()
}

async fn stored_password(record: &WorkspaceRecord, user: &str) -> Option<Zeroizing<String>> {
    let secrets = SecretStore::connect().await.ok()?;
    secrets.load(record, user).await.ok().flatten()
}

fn from_unix(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// One `ListWorkspaces` row: id, name, feed URL, last refresh (Unix s, 0 for
/// never), last error ("" for none).
pub type WorkspaceRow = (String, String, String, u64, String);

/// `org.radc.Workspaces1`: subscribed workspaces.
pub(crate) struct WorkspacesIface(pub(crate) Arc<Subscriptions>);

#[interface(name = "org.radc.Workspaces1")]
impl WorkspacesIface {
    async fn list_workspaces(&self) -> Result<Vec<WorkspaceRow>, WireError> {
        Ok(self
            .0
            .records("")?
            .into_iter()
            .map(|r| {
                (
                    r.id,
                    r.name,
                    r.feed_url,
                    r.last_refresh.unwrap_or(0),
                    r.last_error.unwrap_or_default(),
                )
            })
            .collect())
    }

    /// Subscribes to `target` (feed URL, server or e-mail address). An
    /// empty `username` subscribes without signing in; the password is
    /// stored in the Secret Service when one runs.
    async fn subscribe(
        &self,
        target: &str,
        username: &str,
        password: String,
        allow_http: bool,
    ) -> Result<String, WireError> {
        let password = Zeroizing::new(password);
        validate::bounded("target", target, 2048)?;
        let credentials = if username.is_empty() {
            None
        } else {
            Some(
                Credentials::parse(username, password)
                    .map_err(|e| RuntimeError::invalid_args(e.to_string()))?,
            )
        };
        let mut options = self.0.options.clone();
        options.http.allow_http = allow_http;
        let nothing = |_| {};
        let outcome = workspace::subscribe(
            &self.0.store,
            target,
            credentials.as_ref(),
            &options,
            &nothing,
        )
        .await
        .map_err(workspace_error)?;
        if let Some(credentials) = &credentials
            && let Ok(secrets) = SecretStore::connect().await
            && let Err(e) = secrets
                .store(
                    &outcome.record,
                    &credentials.login_name(),
                    credentials.password(),
                )
                .await
        {
            tracing::warn!("password not stored: {e}");
        }
        self.0.learn_name(&outcome.record);
        self.0.schedule().track(
            &outcome.record.id,
            Some(SystemTime::now()),
            SystemTime::now(),
        );
        self.0.wake.notify_one();
        self.0.shared.workspaces_changed(&outcome.record.id);
        if credentials.is_some() {
            self.0.shared.tell(Notice::SignedIn {
                workspace: outcome.record.name.clone(),
                again: false,
            });
        }
        Ok(outcome.record.id)
    }

    /// Refreshes one workspace (by id or name), or all with `""`. Returns
    /// one `(workspace id, error)` row each; the error is empty on success.
    async fn refresh(&self, workspace: &str) -> Result<Vec<(String, String)>, WireError> {
        let mut rows = Vec::new();
        for record in self.0.records(workspace)? {
            let result = self.0.refresh_one(&record).await;
            rows.push((record.id, result.err().unwrap_or_default()));
        }
        self.0.wake.notify_one();
        Ok(rows)
    }

    /// Reconnects to the user's disconnected sessions on one workspace (id
    /// or name) or on all (`""`): asks each server (MS-RDWR) and launches
    /// every session it returns like a resource of that workspace.
    /// `environment` carries the caller's display variables, as for
    /// `Launch`. Returns the rows of [`ReconnectRow`].
    async fn reconnect(
        &self,
        workspace: &str,
        environment: HashMap<String, String>,
    ) -> Result<Vec<ReconnectRow>, WireError> {
        validate::bounded("workspace", workspace, validate::MAX_DISPLAY_NAME_LEN)?;
        if environment.len() > 64 {
            return Err(RuntimeError::invalid_args("at most 64 environment variables").into());
        }
        let mut rows = Vec::new();
        for record in self.0.records(workspace)? {
            rows.extend(self.0.reconnect_one(&record, &environment).await);
        }
        Ok(rows)
    }

    /// Reads the stored workspaces again, after `radc subscribe`,
    /// `refresh` or `unsubscribe` changed them outside the runtime.
    async fn reload(&self) {
        self.0.load();
        self.0.wake.notify_one();
        self.0.shared.workspaces_changed("");
    }

    async fn unsubscribe(&self, workspace: &str) -> Result<(), WireError> {
        let Some(record) = self.0.records(workspace)?.into_iter().next() else {
            return Err(RuntimeError::invalid_args("name a workspace to unsubscribe from").into());
        };
        workspace::unsubscribe(&self.0.store, &record.id, &self.0.options)
            .map_err(workspace_error)?;
        if let Ok(secrets) = SecretStore::connect().await {
            let _ = secrets.forget(&record.id).await;
        }
        self.0.schedule().forget(&record.id);
        self.0
            .shared
            .core()
            .error_events_mut()
            .forget_workspace(&record.id);
        self.0.shared.workspaces_changed(&record.id);
        Ok(())
    }

    /// The resources of one workspace (id or name) or of all (`""`), as
    /// the menu has them; see [`ResourceRow`].
    async fn list_resources(&self, workspace: &str) -> Result<Vec<ResourceRow>, WireError> {
        validate::bounded("workspace", workspace, validate::MAX_DISPLAY_NAME_LEN)?;
        let icons = self
            .0
            .options
            .desktop
            .as_ref()
            .map(|roots| roots.data_home.join("icons/hicolor"));
        let mut rows = Vec::new();
        for record in self.0.records(workspace)? {
            let Some(feed) = workspace::stored_feed(&self.0.store, &record) else {
                continue;
            };
            for resource in &feed.resources {
                let stem = radc_desktop::names::resource_stem(&record.id, &resource.id);
                // The rendered icon nearest 32 pixels, for lists and menus.
                let icon = icons
                    .iter()
                    .flat_map(|dir| {
                        [32u32, 48, 24, 64, 22, 16, 128, 256]
                            .map(|n| dir.join(format!("{n}x{n}/apps/{stem}.png")))
                    })
                    .find(|path| path.is_file())
                    .map(|path| path.to_string_lossy().into_owned())
                    .unwrap_or_default();
                rows.push((
                    record.id.clone(),
                    resource.id.clone(),
                    resource.title.clone(),
                    match &resource.resource_type {
                        radc_feed::ResourceType::RemoteApp => "RemoteApp".to_owned(),
                        radc_feed::ResourceType::Desktop => "Desktop".to_owned(),
                        radc_feed::ResourceType::Other(other) => other.clone(),
                    },
                    icon,
                    radc_subscribe::desktop::is_shown(&record, resource),
                    resource
                        .file_extensions
                        .iter()
                        .map(|e| e.name.clone())
                        .collect(),
                    resource.folders.clone(),
                ));
            }
        }
        Ok(rows)
    }

    /// Puts a resource (id or title) of a workspace (id or name) in the
    /// application menu or takes it out; the choice survives refreshes.
    /// Returns the resource's id.
    async fn set_shown(
        &self,
        workspace: &str,
        resource: &str,
        shown: bool,
    ) -> Result<String, WireError> {
        validate::bounded("resource", resource, validate::MAX_DISPLAY_NAME_LEN)?;
        let Some(record) = self.0.records(workspace)?.into_iter().next() else {
            return Err(RuntimeError::invalid_args("name the resource's workspace").into());
        };
        let id = workspace::set_shown(&self.0.store, &record.id, resource, shown, &self.0.options)
            .map_err(workspace_error)?;
        self.0.shared.workspaces_changed(&record.id);
        Ok(id)
    }

    /// A workspace was subscribed, refreshed (successfully or not),
    /// changed or unsubscribed: read it again. `""` for any.
    #[zbus(signal)]
    async fn workspaces_changed(
        emitter: &zbus::object_server::SignalEmitter<'_>,
        workspace_id: &str,
    ) -> zbus::Result<()>;
}

/// One `ListResources` row, as the client library declares it.
pub use radc_client::proxy::MenuResourceRow as ResourceRow;

/// A subscription's error as the runtime answers it: "not found" for a
/// workspace or resource that is not there, a failure otherwise.
fn workspace_error(e: workspace::WorkspaceError) -> RuntimeError {
    use workspace::WorkspaceError as E;
    match e {
        E::NotSubscribed(_)
        | E::NoResource { .. }
        | E::Store(radc_subscribe::store::StoreError::NotSubscribed(_)) => {
            RuntimeError::not_found(e.to_string())
        }
        e => RuntimeError::failed(e.to_string()),
    }
}
