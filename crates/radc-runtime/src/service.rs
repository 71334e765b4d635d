//! The D-Bus face of the runtime: one struct per interface, each a thin
//! translation from a method call to [`radc_core`] and back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared as Joined, join_all};
use radc_client::WireError;
use radc_client::names;
use radc_client::proxy::{ConnectionRow, DisconnectRow, ResourceRow};
use radc_core::credentials::StartWorkspace;
use radc_core::error_events::ErrorEvent;
use radc_core::registry::DisconnectTarget;
use radc_core::restype::ResTypeTable;
use radc_core::{Cookie, Kind, RegistryEvent, RuntimeCore, RuntimeError, validate};
use radc_feed::text::strip_invisible;
use tokio::sync::{Notify, mpsc};
use zbus::message::Header;
use zbus::names::BusName;
use zbus::object_server::ResponseDispatchNotifier;
use zbus::zvariant::ObjectPath;
use zbus::{Connection, interface};
use zeroize::Zeroizing;

use crate::Config;
use crate::calls::{CALLS_PER_PEER, CallFailed, ClientCalls, MAX_CLIENT_CALLS};
use crate::housekeeping;
use crate::launcher::Launcher;
use crate::restype_store::{ResTypeStore, check_launcher};

/// Something to tell the world, in the order the core decided it.
#[derive(Debug)]
pub(crate) enum Outgoing {
    Registry(RegistryEvent),
    /// A registry event to announce once the reply to the call that caused
    /// it has left: the caller gets its answer without waiting behind the
    /// signal, on the bus or in our own connection.
    AfterReply(RegistryEvent, event_listener::EventListener),
    UserNotice {
        workspace_id: String,
        kind: &'static str,
        text: String,
    },
    /// A workspace was subscribed, refreshed (or failed to be), changed or
    /// unsubscribed; `""` when any may have changed.
    WorkspacesChanged {
        workspace_id: String,
    },
}

/// An `IssueDisconnect` in flight, which later disconnects of the same
/// client await too; its output is the row's outcome and detail.
type InFlightDisconnect = Joined<BoxFuture<'static, (String, String)>>;

/// State every interface shares.
pub(crate) struct Shared {
    core: Mutex<RuntimeCore>,
    pub(crate) config: Config,
    /// Wakes the timer task when a deadline may have moved earlier.
    pub(crate) timer: Notify,
    /// Signals, emitted in order by one task.
    outgoing: mpsc::UnboundedSender<Outgoing>,
    user_restypes: ResTypeStore,
    machine_restypes: ResTypeStore,
    /// Lets `Instant`s be shown as wall-clock times.
    epoch: (Instant, SystemTime),
    /// Bounds the runtime's calls to clients in flight, so a burst of
    /// registrations or a huge workspace stays under the bus's limit of
    /// pending replies per connection, and shares them fairly between
    /// client connections, so a hung client only holds up its own calls.
    pub(crate) client_calls: ClientCalls,
    /// `IssueDisconnect` calls in flight, by cookie: a second disconnect of
    /// the same client joins the first instead of calling it again.
    disconnects: Mutex<HashMap<Cookie, InFlightDisconnect>>,
    /// Bubbles for the desktop's notification server.
    notices: crate::notify::Sender,
    /// Resources of subscribed workspaces that are open now: cookie →
    /// (workspace id, resource id, title), to tell the user when a refresh
    /// removes one.
    open: Mutex<HashMap<Cookie, (String, String, String)>>,
    /// Workspaces whose stored password a server refused: their next
    /// launch asks for one.
    refused: Mutex<std::collections::HashSet<String>>,
    /// Probes still waiting out [`PROBE_DELAY`], by cookie: a
    /// `RemoveResource` within it ends the wait instead of leaving a timer
    /// to wake the runtime for nothing.
    waiting_probes: Mutex<HashMap<Cookie, tokio::task::AbortHandle>>,
}

impl Shared {
    pub(crate) fn new(
        config: Config,
    ) -> (
        Arc<Shared>,
        mpsc::UnboundedReceiver<Outgoing>,
        mpsc::UnboundedReceiver<crate::notify::Notice>,
    ) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (notices, notices_rx) = mpsc::unbounded_channel();
        let shared = Shared {
            core: Mutex::new(RuntimeCore::new(config.grace)),
            user_restypes: ResTypeStore::new(&config.user_config_dir, 0o600),
            machine_restypes: ResTypeStore::new(&config.machine_config_dir, 0o644),
            config,
            timer: Notify::new(),
            outgoing: tx,
            epoch: (Instant::now(), SystemTime::now()),
            client_calls: ClientCalls::new(MAX_CLIENT_CALLS, CALLS_PER_PEER),
            disconnects: Mutex::default(),
            notices,
            open: Mutex::new(HashMap::new()),
            refused: Mutex::default(),
            waiting_probes: Mutex::default(),
        };
        (Arc::new(shared), rx, notices_rx)
    }

    /// Shows `notice` as a bubble, if the desktop has a notification
    /// server.
    pub(crate) fn tell(&self, notice: crate::notify::Notice) {
        let _ = self.notices.send(notice);
    }

    pub(crate) fn password_refused(&self, workspace_id: &str) -> bool {
        lock(&self.refused).contains(workspace_id)
    }

    pub(crate) fn password_was_refused(&self, workspace_id: &str) {
        lock(&self.refused).insert(workspace_id.to_owned());
    }

    pub(crate) fn password_accepted(&self, workspace_id: &str) {
        lock(&self.refused).remove(workspace_id);
    }

    /// A resource of a subscribed workspace was opened as `cookie`.
    pub(crate) fn opened(
        &self,
        cookie: Cookie,
        workspace_id: &str,
        resource_id: &str,
        title: &str,
    ) {
        lock(&self.open).insert(
            cookie,
            (
                workspace_id.to_owned(),
                resource_id.to_owned(),
                title.to_owned(),
            ),
        );
    }

    /// Connection `cookie` ended.
    pub(crate) fn closed(&self, cookie: Cookie) {
        lock(&self.open).remove(&cookie);
    }

    /// The titles of `workspace_id`'s open resources that `still_there`
    /// no longer has; each is told only once.
    pub(crate) fn removed_while_open(
        &self,
        workspace_id: &str,
        still_there: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        let mut open = lock(&self.open);
        let gone: Vec<Cookie> = open
            .iter()
            .filter(|(_, (ws, id, _))| ws == workspace_id && !still_there(id))
            .map(|(cookie, _)| *cookie)
            .collect();
        gone.iter()
            .filter_map(|cookie| open.remove(cookie).map(|(_, _, title)| title))
            .collect()
    }

    /// The core, locked. Never held across an `.await`.
    pub(crate) fn core(&self) -> MutexGuard<'_, RuntimeCore> {
        lock(&self.core)
    }

    /// Queues signals for `events`. Takes the core's guard so that events
    /// are queued in the order the core produced them.
    pub(crate) fn publish(
        &self,
        _core: &MutexGuard<'_, RuntimeCore>,
        events: impl IntoIterator<Item = RegistryEvent>,
    ) {
        for event in events {
            log_event(&event);
            if event.is_announced() {
                let _ = self.outgoing.send(Outgoing::Registry(event));
            }
        }
    }

    /// Like [`Shared::publish`], for the event of a call whose reply has
    /// not left yet; the signal follows the reply.
    pub(crate) fn publish_after_reply(
        &self,
        _core: &MutexGuard<'_, RuntimeCore>,
        event: RegistryEvent,
        reply_sent: event_listener::EventListener,
    ) {
        log_event(&event);
        if event.is_announced() {
            let _ = self.outgoing.send(Outgoing::AfterReply(event, reply_sent));
        }
    }

    pub(crate) fn notice(&self, workspace_id: &str, kind: &'static str, text: String) {
        let _ = self.outgoing.send(Outgoing::UserNotice {
            workspace_id: workspace_id.to_owned(),
            kind,
            text,
        });
    }

    /// Tells listeners (the tray, the window) to read a workspace again.
    pub(crate) fn workspaces_changed(&self, workspace_id: &str) {
        let _ = self.outgoing.send(Outgoing::WorkspacesChanged {
            workspace_id: workspace_id.to_owned(),
        });
    }

    fn unix_millis(&self, at: Instant) -> u64 {
        // Connections adopted from an earlier runtime started before it.
        let wall = match at.checked_duration_since(self.epoch.0) {
            Some(after) => self.epoch.1 + after,
            None => self.epoch.1 - self.epoch.0.duration_since(at),
        };
        wall.duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    /// The launcher registered for `extension`: the user's table first, then
    /// the machine's.
    pub(crate) fn launcher_for(&self, extension: &str) -> Result<Option<String>, RuntimeError> {
        for store in [&self.user_restypes, &self.machine_restypes] {
            let table = store.load()?;
            if let Ok(launcher) = table.get(extension) {
                return Ok(Some(launcher.to_owned()));
            }
        }
        Ok(None)
    }

    fn restypes(&self, machine_wide: bool) -> &ResTypeStore {
        if machine_wide {
            &self.machine_restypes
        } else {
            &self.user_restypes
        }
    }
}

/// Registrations come and go by the thousand; they are logged at debug
/// level (`RADC_LOG=debug`). Anything unusual is logged where it happens.
fn log_event(event: &RegistryEvent) {
    match event {
        RegistryEvent::Added {
            cookie,
            workspace_id,
            display_name,
        } => tracing::debug!(
            cookie = cookie.get(),
            workspace = %validate::for_log(workspace_id),
            name = %validate::for_log(display_name),
            "resource added"
        ),
        RegistryEvent::Removed { cookie, reason, .. } => {
            tracing::debug!(
                cookie = cookie.get(),
                reason = %reason,
                "resource removed"
            )
        }
    }
}

/// Emits queued signals one after another, so listeners see them in the
/// order the core produced them.
pub(crate) async fn emit_signals(conn: Connection, mut rx: mpsc::UnboundedReceiver<Outgoing>) {
    while let Some(out) = rx.recv().await {
        let out = match out {
            Outgoing::AfterReply(event, reply_sent) => {
                reply_sent.await;
                Outgoing::Registry(event)
            }
            other => other,
        };
        let result = match out {
            Outgoing::Registry(RegistryEvent::Added {
                cookie,
                workspace_id,
                display_name,
            }) => {
                conn.emit_signal(
                    None::<BusName>,
                    names::OBJECT_PATH,
                    names::REGISTRATION,
                    "ResourceAdded",
                    &(cookie.get(), workspace_id, display_name),
                )
                .await
            }
            Outgoing::AfterReply(..) => unreachable!("waited for above"),
            Outgoing::Registry(RegistryEvent::Removed { cookie, reason, .. }) => {
                conn.emit_signal(
                    None::<BusName>,
                    names::OBJECT_PATH,
                    names::REGISTRATION,
                    "ResourceRemoved",
                    &(cookie.get(), reason.to_string()),
                )
                .await
            }
            Outgoing::WorkspacesChanged { workspace_id } => {
                conn.emit_signal(
                    None::<BusName>,
                    names::OBJECT_PATH,
                    "org.radc.Workspaces1",
                    "WorkspacesChanged",
                    &(workspace_id,),
                )
                .await
            }
            Outgoing::UserNotice {
                workspace_id,
                kind,
                text,
            } => {
                conn.emit_signal(
                    None::<BusName>,
                    names::OBJECT_PATH,
                    names::RUNTIME,
                    "UserNotice",
                    &(workspace_id, kind, text),
                )
                .await
            }
        };
        if let Err(e) = result {
            tracing::warn!("could not emit a signal: {e}");
        }
    }
}

/// Sleeps until the core's next deadline (or until woken because one moved)
/// and lets the core expire what is due. With no deadline it sleeps until
/// woken: an idle runtime has no timer wake-ups.
pub(crate) async fn run_timer(shared: Arc<Shared>) {
    loop {
        let next = shared.core().next_deadline();
        match next {
            Some(at) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at.into()) => {}
                    _ = shared.timer.notified() => continue,
                }
            }
            None => shared.timer.notified().await,
        }
        let mut core = shared.core();
        let events = core.on_timer(Instant::now());
        shared.publish(&core, events);
    }
}

/// Locks one of the runtime's mutexes; a panic elsewhere while it was held
/// leaves it usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The caller's unique name; every method call on a bus carries one.
fn sender(header: &Header<'_>) -> Result<String, WireError> {
    header
        .sender()
        .map(|s| s.to_string())
        .ok_or_else(|| RuntimeError::failed("the call carries no sender").into())
}

/// Calls a method of `org.radc.WorkspaceClientExt1` on a client.
async fn call_client<R>(conn: &Connection, peer: &str, path: &str, method: &str) -> zbus::Result<R>
where
    R: for<'d> zbus::zvariant::DynamicDeserialize<'d>,
{
    let reply = conn
        .call_method(Some(peer), path, Some(names::CLIENT_EXT), method, &())
        .await?;
    reply.body().deserialize()
}

/// Longest error detail passed on from a client, in bytes: a client's
/// error text is untrusted and ends up in replies and logs.
const MAX_DETAIL_LEN: usize = 1024;

fn describe_call_error(e: &zbus::Error) -> String {
    let mut text = match e {
        zbus::Error::MethodError(name, Some(text), _) => format!("{name}: {text}"),
        zbus::Error::MethodError(name, None, _) => name.to_string(),
        other => other.to_string(),
    };
    if text.len() > MAX_DETAIL_LEN {
        let mut cut = MAX_DETAIL_LEN;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// How long the probe waits after the `AddResource` reply has left. A
/// client that registers and removes at once is then never called back,
/// and neither it nor the bus carries the probe's four messages; a
/// registration that stays is listed a millisecond or two later, which
/// nobody sees.
const PROBE_DELAY: Duration = Duration::from_millis(1);

/// Asks a new client for its workspace and name, once the `AddResource`
/// reply has left, so a client blocked in that call is never called back.
async fn probe(
    shared: Arc<Shared>,
    conn: Connection,
    cookie: Cookie,
    peer: String,
    path: String,
    reply_sent: event_listener::EventListener,
) {
    reply_sent.await;
    tokio::time::sleep(PROBE_DELAY).await;
    lock(&shared.waiting_probes).remove(&cookie);
    if shared.core().registry().get(cookie).is_none() {
        return; // removed before we got to it
    }
    // Boxed: the calls' state is large, and only registrations that live
    // this long need it; until then the task is small.
    Box::pin(probe_now(&shared, &conn, cookie, &peer, &path)).await;
    // The probe's calls and messages are freed now; once a burst of
    // registrations is over, their memory goes back to the system.
    housekeeping::poke();
}

async fn probe_now(
    shared: &Arc<Shared>,
    conn: &Connection,
    cookie: Cookie,
    peer: &str,
    path: &str,
) {
    let limit = shared.config.probe_timeout;
    // Within the peer's share of calls; the limit runs from when the calls
    // are sent, and as long as the peer keeps answering our other calls.
    let answers = shared.client_calls.call(peer, limit, || async {
        if shared.core().registry().get(cookie).is_none() {
            return Ok(None); // removed while it waited for a slot
        }
        // Each answer is a sign of life on its own.
        let ask = |method| {
            call_client::<String>(conn, peer, path, method)
                .inspect(|_| shared.client_calls.answered(peer))
        };
        tokio::try_join!(ask("GetResourceId"), ask("GetResourceDisplayName")).map(Some)
    });
    let why = match answers.await {
        Ok(None) => return,
        Ok(Some((workspace_id, display_name))) => {
            // Asked once the client has answered: by then an earlier
            // registration of the same connection has usually told it.
            let known_pid = shared.core().registry().peer_pid(peer);
            let pid = match known_pid {
                Some(pid) => Ok(pid),
                None => Box::pin(bus_query::<u32>(conn, "GetConnectionUnixProcessID", peer)).await,
            };
            // Shown by `radc status` and every other front end: no name
            // may hide or reorder characters, whoever sent it.
            let display_name = strip_invisible(&display_name);
            let mut core = shared.core();
            let event = core.complete_probe(cookie, &workspace_id, &display_name, pid.unwrap_or(0));
            if matches!(event, Some(RegistryEvent::Removed { .. })) {
                tracing::warn!(
                    cookie = cookie.get(),
                    client = %peer,
                    "client dropped: it answered with an empty, oversized or multi-line workspace id or name"
                );
            }
            shared.publish(&core, event);
            return;
        }
        Err(CallFailed::Error(e)) => format!(
            "{} at {} did not answer GetResourceId/GetResourceDisplayName: {}",
            names::CLIENT_EXT,
            validate::for_log(path),
            validate::for_log(&describe_call_error(&e))
        ),
        Err(CallFailed::NoAnswer) => format!(
            "no answer to GetResourceId/GetResourceDisplayName within {} ms",
            limit.as_millis()
        ),
        Err(CallFailed::NotSent) => format!(
            "not asked: its connection answered none of the runtime's calls for {} ms",
            limit.as_millis()
        ),
    };
    tracing::warn!(cookie = cookie.get(), client = %peer, "client dropped: {why}");
    let mut core = shared.core();
    let event = core.probe_failed(cookie);
    shared.publish(&core, event);
}

/// Asks the bus daemon about a peer (`GetConnectionUnixProcessID`,
/// `GetConnectionUnixUser`).
async fn bus_query<R>(conn: &Connection, method: &str, peer: &str) -> zbus::Result<R>
where
    R: for<'d> zbus::zvariant::DynamicDeserialize<'d>,
{
    let reply = conn
        .call_method(
            Some("org.freedesktop.DBus"),
            "/org/freedesktop/DBus",
            Some("org.freedesktop.DBus"),
            method,
            &(peer,),
        )
        .await?;
    reply.body().deserialize()
}

/// Disconnects every client of a workspace at once, each bounded by
/// `timeout`, and reports one row per client.
pub(crate) async fn disconnect_workspace(
    shared: &Arc<Shared>,
    conn: &Connection,
    workspace_id: &str,
    timeout: Duration,
) -> Result<Vec<DisconnectRow>, WireError> {
    let targets = shared.core().begin_disconnect(workspace_id)?;
    tracing::info!(
        workspace = %validate::for_log(workspace_id),
        clients = targets.len(),
        "disconnecting workspace"
    );
    let rows = join_all(
        targets
            .into_iter()
            .map(|target| disconnect_one(shared, conn, target, timeout)),
    )
    .await;
    shared.timer.notify_one();
    Ok(rows)
}

/// Ends one connection: SIGTERM to a launched process group, or
/// `IssueDisconnect` to a custom client bounded by `timeout`. Returns its
/// row.
async fn disconnect_one(
    shared: &Arc<Shared>,
    conn: &Connection,
    target: DisconnectTarget,
    timeout: Duration,
) -> DisconnectRow {
    if target.kind == Kind::Launched {
        let (outcome, detail) = match crate::launcher::terminate(shared, &target) {
            Ok(()) => ("ok", String::new()),
            Err(detail) => ("error", detail),
        };
        return (target.cookie.get(), outcome.to_owned(), detail);
    }
    let cookie = target.cookie;
    let joined = {
        let mut in_flight = lock(&shared.disconnects);
        in_flight
            .entry(cookie)
            .or_insert_with(|| {
                issue_disconnect(shared.clone(), conn.clone(), target, timeout)
                    .boxed()
                    .shared()
            })
            .clone()
    };
    let (outcome, detail) = joined.await;
    (cookie.get(), outcome, detail)
}

/// Sends `IssueDisconnect` to a custom client within its connection's share
/// of calls, starts its grace period and returns the row's outcome and
/// detail. Runs once per client however many disconnects ask for it: every
/// one waiting shares this outcome.
async fn issue_disconnect(
    shared: Arc<Shared>,
    conn: Connection,
    target: DisconnectTarget,
    timeout: Duration,
) -> (String, String) {
    let call = || {
        conn.call_method(
            Some(target.peer.as_str()),
            target.object_path.as_str(),
            Some(names::CLIENT_EXT),
            "IssueDisconnect",
            &(),
        )
    };
    let result = shared.client_calls.call(&target.peer, timeout, call).await;
    let (outcome, detail) = match result {
        Ok(_) => ("ok", String::new()),
        Err(CallFailed::Error(e)) => ("error", describe_call_error(&e)),
        Err(CallFailed::NoAnswer) => (
            "timeout",
            format!("no answer within {} ms", timeout.as_millis()),
        ),
        Err(CallFailed::NotSent) => (
            "timeout",
            format!(
                "not called: its connection answered none of the runtime's calls for {} ms",
                timeout.as_millis()
            ),
        ),
    };
    shared
        .core()
        .finish_disconnect(target.cookie, Instant::now());
    lock(&shared.disconnects).remove(&target.cookie);
    if outcome != "ok" {
        tracing::warn!(
            cookie = target.cookie.get(),
            outcome,
            detail = %validate::for_log(&detail),
            "IssueDisconnect did not succeed"
        );
    }
    (outcome.to_owned(), detail)
}

/// `org.radc.WorkspaceRegistration1`
pub(crate) struct Registration(pub(crate) Arc<Shared>);

// Its methods only take the core's lock and never wait, so they are
// answered in the object server's own task: no task is spawned per call,
// as it is for interfaces that may wait.
#[interface(name = "org.radc.WorkspaceRegistration1", spawn = false)]
impl Registration {
    async fn add_resource(
        &self,
        client: ObjectPath<'_>,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<ResponseDispatchNotifier<u32>, WireError> {
        let peer = sender(&header)?;
        let cookie = self
            .0
            .core()
            .add_resource(&peer, client.as_str(), Instant::now())?;
        let (reply, sent) = ResponseDispatchNotifier::new(cookie.get());
        // Under the lock, so the probe cannot finish its wait before its
        // handle is in the map.
        let mut waiting = lock(&self.0.waiting_probes);
        let probe = tokio::spawn(probe(
            self.0.clone(),
            conn.clone(),
            cookie,
            peer,
            client.to_string(),
            sent,
        ));
        waiting.insert(cookie, probe.abort_handle());
        Ok(reply)
    }

    async fn remove_resource(
        &self,
        cookie: u32,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<ResponseDispatchNotifier<()>, WireError> {
        let sender = header
            .sender()
            .ok_or_else(|| RuntimeError::failed("the call carries no sender"))?;
        let cookie = Cookie::new(cookie)
            .ok_or_else(|| RuntimeError::invalid_args("cookie 0 is never issued"))?;
        let (reply, sent) = ResponseDispatchNotifier::new(());
        let mut core = self.0.core();
        let event = core.remove_resource(sender.as_str(), cookie)?;
        if let Some(probe) = lock(&self.0.waiting_probes).remove(&cookie) {
            probe.abort();
        }
        self.0.publish_after_reply(&core, event, sent);
        drop(core);
        housekeeping::poke();
        Ok(reply)
    }

    async fn list_resources(&self) -> Vec<ResourceRow> {
        let core = self.0.core();
        core.registry()
            .listed()
            .map(|r| {
                (
                    r.cookie.get(),
                    r.workspace_id.as_deref().unwrap_or_default().to_owned(),
                    r.display_name.as_deref().unwrap_or_default().to_owned(),
                    r.state.as_str().to_owned(),
                    r.pid,
                )
            })
            .collect()
    }

    #[zbus(signal)]
    async fn resource_added(
        emitter: &zbus::object_server::SignalEmitter<'_>,
        cookie: u32,
        workspace_id: &str,
        display_name: &str,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn resource_removed(
        emitter: &zbus::object_server::SignalEmitter<'_>,
        cookie: u32,
        reason: &str,
    ) -> zbus::Result<()>;
}

/// `org.radc.WorkspaceScriptable1`
pub(crate) struct Scriptable(pub(crate) Arc<Shared>);

#[interface(name = "org.radc.WorkspaceScriptable1")]
impl Scriptable {
    async fn disconnect_workspace(
        &self,
        workspace_id: &str,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<Vec<DisconnectRow>, WireError> {
        let timeout = self.0.config.disconnect_timeout;
        disconnect_workspace(&self.0, conn, workspace_id, timeout).await
    }

    async fn disconnect_workspace_by_friendly_name(
        &self,
        name: &str,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<Vec<DisconnectRow>, WireError> {
        let workspace_id = self.0.core().resolve_friendly_name(name)?;
        let timeout = self.0.config.disconnect_timeout;
        disconnect_workspace(&self.0, conn, &workspace_id, timeout).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn start_workspace(
        &self,
        workspace_id: &str,
        user: &str,
        password: String,
        workspace_params: &str,
        timeout_minutes: i32,
        flags: u32,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<(), WireError> {
        let password = Zeroizing::new(password);
        let given_by = sender(&header)?;
        self.0.core().credentials_mut().start(
            StartWorkspace {
                workspace_id,
                user,
                password,
                workspace_params,
                timeout_minutes,
                flags,
                given_by: &given_by,
            },
            Instant::now(),
        )?;
        self.0.timer.notify_one();
        tracing::info!(workspace = %validate::for_log(workspace_id), "credentials cached");
        Ok(())
    }

    async fn is_workspace_credential_specified(
        &self,
        workspace_id: &str,
        count_unauthenticated: bool,
    ) -> Result<bool, WireError> {
        validate::workspace_id(workspace_id).map_err(WireError::from)?;
        Ok(self.0.core().credentials().is_specified(
            workspace_id,
            count_unauthenticated,
            Instant::now(),
        ))
    }

    /// Single sign-on works when the user has a valid Kerberos
    /// ticket-granting ticket in the default credential cache: feeds that
    /// offer Negotiate sign in with it, without a password.
    #[zbus(name = "IsWorkspaceSSOEnabled")]
    async fn is_workspace_sso_enabled(&self) -> bool {
        crate::subscriptions::has_kerberos_ticket().await
    }

    async fn clear_workspace_credential(&self, workspace_id: &str) -> Result<(), WireError> {
        validate::workspace_id(workspace_id).map_err(WireError::from)?;
        self.0.core().credentials_mut().clear(workspace_id);
        Ok(())
    }

    #[zbus(name = "OnAuthenticated")]
    async fn on_authenticated(&self, workspace_id: &str, user: &str) -> Result<(), WireError> {
        self.0
            .core()
            .credentials_mut()
            .on_authenticated(workspace_id, user, Instant::now())?;
        self.0.timer.notify_one();
        Ok(())
    }

    /// A resource of the workspace was disabled or dismissed: tell the user.
    /// The friendly name given is remembered as the workspace's display name.
    async fn resource_dismissed(
        &self,
        workspace_id: &str,
        friendly_name: &str,
    ) -> Result<(), WireError> {
        let friendly_name = &*strip_invisible(friendly_name);
        self.0
            .core()
            .set_workspace_name(workspace_id, friendly_name)?;
        tracing::info!(
            workspace = %validate::for_log(workspace_id),
            "a resource of workspace {:?} was dismissed",
            validate::for_log(friendly_name)
        );
        self.0.notice(
            workspace_id,
            "resource-dismissed",
            format!("A resource of {friendly_name} is no longer available."),
        );
        Ok(())
    }
}

/// `org.radc.Workspace1`
pub(crate) struct Workspace(pub(crate) Arc<Shared>, pub(crate) Arc<Launcher>);

#[interface(name = "org.radc.Workspace1")]
impl Workspace {
    async fn get_workspace_names(&self) -> Vec<String> {
        self.0.core().live_workspace_names()
    }

    async fn get_process_id(&self) -> u32 {
        std::process::id()
    }

    /// Launches the serialized `.rdp` file in `params[0]`; `params[1]`, if
    /// given, holds Remote Desktop Connection switches, of which `/f`
    /// (full screen) and `/window` are understood.
    async fn start_remote_application(
        &self,
        workspace_id: &str,
        params: Vec<String>,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<(), WireError> {
        let caller = sender(&header)?;
        validate::workspace_id(workspace_id).map_err(WireError::from)?;
        let (rdp, switches) = match params.as_slice() {
            [rdp] => (rdp, ""),
            [rdp, switches] => (rdp, switches.as_str()),
            _ => {
                return Err(RuntimeError::invalid_args(format!(
                    "expected the .rdp file and optionally its switches, got {} parameters",
                    params.len()
                ))
                .into());
            }
        };
        let fullscreen = parse_switches(switches)?;
        let file = radc_rdp::RdpFile::parse(rdp.as_bytes())
            .map_err(|e| RuntimeError::invalid_args(format!("the .rdp file is not valid: {e}")))?;
        let display_name = [
            "remoteapplicationname",
            "remoteapplicationprogram",
            "full address",
        ]
        .iter()
        .find_map(|key| file.get_str(key).filter(|v| !v.trim().is_empty()))
        .map(strip_invisible)
        .filter(|name| !name.trim().is_empty())
        .map_or_else(|| "Remote connection".to_owned(), |name| name.into_owned());
        self.1
            .launch_rdp(crate::launcher::Request {
                workspace_id: workspace_id.to_owned(),
                display_name,
                resource_id: None,
                brought_by: Some(caller),
                rdp: rdp.clone().into_bytes(),
                files: Vec::new(),
                environment: Default::default(),
                fullscreen,
                stored_password: false,
            })
            .await?;
        Ok(())
    }
}

/// Reads the Remote Desktop Connection switches `StartRemoteApplication`
/// may carry. Only the display mode is taken; anything else is refused
/// rather than silently ignored.
fn parse_switches(switches: &str) -> Result<Option<bool>, RuntimeError> {
    let mut fullscreen = None;
    for switch in switches.split_whitespace() {
        match switch.to_ascii_lowercase().as_str() {
            "/f" => fullscreen = Some(true),
            "/window" => fullscreen = Some(false),
            other => {
                return Err(RuntimeError::invalid_args(format!(
                    "unsupported switch {:?}: radc understands /f and /window",
                    validate::for_log(other)
                )));
            }
        }
    }
    Ok(fullscreen)
}

/// The unique name a call came from, borrowed from its header.
fn sender_name<'h>(header: &'h Header<'_>) -> Result<&'h str, WireError> {
    header
        .sender()
        .map(|s| s.as_str())
        .ok_or_else(|| RuntimeError::failed("the call carries no sender").into())
}

/// `org.radc.WorkspaceReportMessage1`
///
/// Its calls are handled one after the other in the task that reads method
/// calls, not each in a task of its own: none of them waits for anything,
/// and a flood of them (see `housekeeping::report_allowed`) then costs no
/// task, no task name and no wake-up per call. The runtime then drains
/// them about as fast as the bus daemon delivers them, so calls from
/// others do not queue behind a flood.
pub(crate) struct ReportMessage(pub(crate) Arc<Shared>);

#[interface(name = "org.radc.WorkspaceReportMessage1", spawn = false)]
impl ReportMessage {
    async fn register_error_log_message(
        &self,
        message: &str,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<(), WireError> {
        validate::bounded("log message", message, validate::MAX_MESSAGE_LEN)?;
        let client = sender_name(&header)?;
        if housekeeping::report_allowed(&self.0, client) {
            tracing::warn!(%client, "client reports: {}", validate::for_log(message));
        }
        Ok(())
    }

    async fn is_error_message_registered(
        &self,
        workspace_id: &str,
        error_type: u32,
        error_message_type: &str,
        error_code: u32,
    ) -> Result<bool, WireError> {
        let event = ErrorEvent::new(workspace_id, error_type, error_message_type, error_code)?;
        Ok(self.0.core().error_events().is_registered(&event))
    }

    async fn register_error_event(
        &self,
        workspace_id: &str,
        error_type: u32,
        error_message_type: &str,
        error_code: u32,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<(), WireError> {
        let event = ErrorEvent::new(workspace_id, error_type, error_message_type, error_code)?;
        if !housekeeping::report_allowed(&self.0, sender_name(&header)?) {
            return Ok(());
        }
        let new = self.0.core().error_events_mut().register(event);
        if new {
            tracing::warn!(
                workspace = %validate::for_log(workspace_id),
                error_type,
                error_code,
                "error event: {}",
                validate::for_log(error_message_type)
            );
            self.0.notice(
                workspace_id,
                "error-event",
                format!("{error_message_type} (type {error_type}, code {error_code:#x})"),
            );
        }
        Ok(())
    }
}

/// `org.radc.WorkspaceResTypeRegistry1`
pub(crate) struct ResTypeRegistry(pub(crate) Arc<Shared>);

impl ResTypeRegistry {
    /// Applies `edit` to a table after the checks every change needs:
    /// machine-wide changes are for root only, and a new launcher must be an
    /// executable file.
    async fn change(
        &self,
        machine_wide: bool,
        launcher: Option<&str>,
        conn: &Connection,
        header: &Header<'_>,
        edit: impl FnOnce(&mut ResTypeTable) -> radc_core::Result<()>,
    ) -> Result<(), WireError> {
        if machine_wide {
            let peer = sender(header)?;
            let uid: u32 = bus_query(conn, "GetConnectionUnixUser", &peer).await?;
            if uid != 0 {
                return Err(RuntimeError::access_denied(format!(
                    "machine-wide resource types can only be changed by root (you are uid {uid}); \
                     drop --machine-wide to change your own"
                ))
                .into());
            }
        }
        if let Some(launcher) = launcher {
            check_launcher(launcher)?;
        }
        Ok(self.0.restypes(machine_wide).update(edit)?)
    }
}

#[interface(name = "org.radc.WorkspaceResTypeRegistry1")]
impl ResTypeRegistry {
    async fn add_resource_type(
        &self,
        machine_wide: bool,
        extension: &str,
        launcher: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), WireError> {
        self.change(machine_wide, Some(launcher), conn, &header, |t| {
            t.add(extension, launcher)
        })
        .await
    }

    async fn delete_resource_type(
        &self,
        machine_wide: bool,
        extension: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), WireError> {
        self.change(machine_wide, None, conn, &header, |t| t.delete(extension))
            .await
    }

    async fn get_registered_file_extensions(
        &self,
        machine_wide: bool,
    ) -> Result<Vec<String>, WireError> {
        Ok(self.0.restypes(machine_wide).load()?.extensions())
    }

    async fn get_resource_type_info(
        &self,
        machine_wide: bool,
        extension: &str,
    ) -> Result<String, WireError> {
        let table = self.0.restypes(machine_wide).load()?;
        Ok(table.get(extension)?.to_owned())
    }

    async fn modify_resource_type(
        &self,
        machine_wide: bool,
        extension: &str,
        launcher: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), WireError> {
        self.change(machine_wide, Some(launcher), conn, &header, |t| {
            t.modify(extension, launcher)
        })
        .await
    }
}

/// `org.radc.Runtime1`: radc's additions.
pub(crate) struct RuntimeExt(pub(crate) Arc<Shared>, pub(crate) Arc<Launcher>);

/// Most files one launch may open.
const MAX_LAUNCH_FILES: usize = 32;

/// Longest per-client disconnect timeout a caller may ask for.
const MAX_DISCONNECT_TIMEOUT: Duration = Duration::from_secs(300);

/// A caller's per-client timeout in milliseconds (0: the runtime's
/// default), within [`MAX_DISCONNECT_TIMEOUT`].
fn disconnect_timeout(config: &Config, timeout_ms: u32) -> Result<Duration, RuntimeError> {
    let timeout = match timeout_ms {
        0 => config.disconnect_timeout,
        ms => Duration::from_millis(ms.into()),
    };
    if timeout > MAX_DISCONNECT_TIMEOUT {
        return Err(RuntimeError::invalid_args(format!(
            "timeout of {timeout_ms} ms is over the limit of {} s",
            MAX_DISCONNECT_TIMEOUT.as_secs()
        )));
    }
    Ok(timeout)
}

#[interface(name = "org.radc.Runtime1")]
impl RuntimeExt {
    async fn disconnect(
        &self,
        workspace: &str,
        timeout_ms: u32,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(String, Vec<DisconnectRow>), WireError> {
        let timeout = disconnect_timeout(&self.0.config, timeout_ms)?;
        let workspace_id = self.0.core().resolve_workspace(workspace)?;
        let rows = disconnect_workspace(&self.0, conn, &workspace_id, timeout).await?;
        Ok((workspace_id, rows))
    }

    /// Disconnects one connection (launched or custom client) by its
    /// cookie, leaving the rest of its workspace connected. Returns the
    /// outcome and detail, as one row of `Disconnect`.
    async fn disconnect_connection(
        &self,
        cookie: u32,
        timeout_ms: u32,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(String, String), WireError> {
        let timeout = disconnect_timeout(&self.0.config, timeout_ms)?;
        let target = self.0.core().begin_disconnect_connection(cookie)?;
        tracing::info!(cookie, "disconnecting one connection");
        let (_, outcome, detail) = disconnect_one(&self.0, conn, target, timeout).await;
        self.0.timer.notify_one();
        Ok((outcome, detail))
    }

    /// Launches a resource of a subscribed workspace (each named by id or
    /// title), opening `files` in it. `environment` carries the caller's
    /// display variables. Returns the cookie, the process id and a word on
    /// who vouched for the file.
    async fn launch(
        &self,
        workspace: &str,
        resource: &str,
        files: Vec<String>,
        environment: HashMap<String, String>,
    ) -> Result<(u32, u32, String), WireError> {
        validate::bounded("workspace", workspace, validate::MAX_DISPLAY_NAME_LEN)?;
        validate::bounded("resource", resource, validate::MAX_DISPLAY_NAME_LEN)?;
        if files.len() > MAX_LAUNCH_FILES || environment.len() > 64 {
            return Err(RuntimeError::invalid_args(format!(
                "at most {MAX_LAUNCH_FILES} files and 64 environment variables"
            ))
            .into());
        }
        let files = files.into_iter().map(std::path::PathBuf::from).collect();
        let started = self
            .1
            .launch_resource(workspace, resource, files, environment)
            .await?;
        Ok((started.cookie.get(), started.pid, started.trust))
    }

    /// Waits up to `timeout_ms` (at most 5 minutes) for a launched
    /// connection to come up or fail. Returns its state — `up`, `failed`,
    /// `ended` (it came up and has ended since) or `connecting` (neither
    /// yet) — and, for `failed`, why in one sentence, for `ended` how it
    /// ended. A FreeRDP connection is up when FreeRDP has set up the
    /// session's display; another program counts as up once it runs.
    async fn await_launch(
        &self,
        cookie: u32,
        timeout_ms: u32,
    ) -> Result<(String, String), WireError> {
        let timeout = Duration::from_millis(timeout_ms.into()).min(MAX_DISCONNECT_TIMEOUT);
        let outcome = self.1.await_launch(cookie, timeout).await?;
        use crate::launcher::Outcome;
        Ok(match outcome {
            Outcome::Connecting => ("connecting".into(), String::new()),
            Outcome::Up => ("up".into(), String::new()),
            Outcome::Failed(why) => ("failed".into(), why),
            Outcome::Ended(how) => ("ended".into(), how),
        })
    }

    async fn list_connections(&self) -> Vec<ConnectionRow> {
        let core = self.0.core();
        core.registry()
            .listed()
            .map(|r| {
                let ws = r.workspace_id.as_deref().unwrap_or_default().to_owned();
                (
                    r.cookie.get(),
                    ws.clone(),
                    core.workspace_name(&ws).to_owned(),
                    r.display_name.as_deref().unwrap_or_default().to_owned(),
                    r.state.as_str().to_owned(),
                    r.pid,
                    r.peer.to_string(),
                    self.0.unix_millis(r.added_at),
                    r.kind.as_str().to_owned(),
                )
            })
            .collect()
    }

    #[zbus(signal)]
    async fn user_notice(
        emitter: &zbus::object_server::SignalEmitter<'_>,
        workspace_id: &str,
        kind: &str,
        text: &str,
    ) -> zbus::Result<()>;
}

/// Adds every interface at the runtime's object path to a connection builder.
pub(crate) fn serve<'a>(
    builder: zbus::connection::Builder<'a>,
    shared: &Arc<Shared>,
    launcher: &Arc<Launcher>,
) -> zbus::Result<zbus::connection::Builder<'a>> {
    builder
        .serve_at(names::OBJECT_PATH, Registration(shared.clone()))?
        .serve_at(names::OBJECT_PATH, Scriptable(shared.clone()))?
        .serve_at(
            names::OBJECT_PATH,
            Workspace(shared.clone(), launcher.clone()),
        )?
        .serve_at(names::OBJECT_PATH, ReportMessage(shared.clone()))?
        .serve_at(names::OBJECT_PATH, ResTypeRegistry(shared.clone()))?
        .serve_at(
            names::OBJECT_PATH,
            RuntimeExt(shared.clone(), launcher.clone()),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_error_details_are_bounded() {
        let huge = zbus::Error::Failure("é".repeat(10_000));
        let detail = describe_call_error(&huge);
        assert!(
            detail.len() <= MAX_DETAIL_LEN + '…'.len_utf8(),
            "{}",
            detail.len()
        );
        assert!(detail.ends_with('…'));
        let small = zbus::Error::Failure("busy".into());
        assert!(describe_call_error(&small).contains("busy"));
    }
}
