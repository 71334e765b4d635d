//! The radc workspace runtime as a D-Bus service on the session bus.
//!
//! [`run`] connects, exports the `org.radc.*` interfaces at
//! `/org/radc/Runtime`, claims `org.radc.Runtime` and serves until it is
//! told to stop. The rules live in [`radc_core`]; this crate moves messages
//! in and out and keeps four small tasks:
//!
//! - a watcher of `NameOwnerChanged` that drops a client's registrations the
//!   moment its connection closes;
//! - a timer that sleeps until the core's next deadline (grace periods,
//!   credential lifetimes), so an idle runtime never wakes up;
//! - an emitter that sends signals in the order the core produced them;
//! - a housekeeper that, once a burst of activity is over, summarises what
//!   the report-message limit dropped and returns freed memory to the
//!   system (see `housekeeping`).

mod calls;
mod fsutil;
mod handover;
mod housekeeping;
pub mod launcher;
mod notify;
mod prompt;
pub mod restype_store;
pub mod roots;
mod service;
pub mod subscriptions;

use std::path::PathBuf;
use std::time::Duration;

use futures_util::StreamExt;
use radc_client::names;
use zbus::fdo::{self, RequestNameFlags, RequestNameReply};

pub use fsutil::{open_private_log, write_atomic, write_private, xdg_config_home, xdg_state_home};

/// How the runtime behaves; every field has a sensible default.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long `IssueDisconnect` may take per client.
    pub disconnect_timeout: Duration,
    /// How long a new client has to answer `GetResourceId` and
    /// `GetResourceDisplayName`.
    pub probe_timeout: Duration,
    /// How long a disconnected client has to go away by itself.
    pub grace: Duration,
    /// Where the per-user resource-type table lives.
    pub user_config_dir: PathBuf,
    /// Where the machine-wide resource-type table lives.
    pub machine_config_dir: PathBuf,
    /// How often each subscribed workspace is refreshed.
    pub refresh_interval: Duration,
    /// The FreeRDP client to launch; `None` looks for one on `PATH`.
    pub freerdp: Option<PathBuf>,
    /// Reconnect to the user's disconnected sessions on every workspace
    /// once, when the runtime starts (MS-RDWR).
    pub reconnect_at_start: bool,
}

impl Config {
    pub const DEFAULT_DISCONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
    pub const DEFAULT_GRACE: Duration = radc_core::runtime::DEFAULT_GRACE;
    pub const MACHINE_CONFIG_DIR: &str = "/etc/radc";

    /// Defaults, with the per-user directory under `$XDG_CONFIG_HOME/radc`.
    pub fn from_environment() -> Result<Config, Error> {
        let config_home = xdg_config_home().ok_or(Error::NoConfigHome)?;
        Ok(Config {
            disconnect_timeout: Self::DEFAULT_DISCONNECT_TIMEOUT,
            probe_timeout: Self::DEFAULT_PROBE_TIMEOUT,
            grace: Self::DEFAULT_GRACE,
            user_config_dir: config_home.join("radc"),
            machine_config_dir: PathBuf::from(Self::MACHINE_CONFIG_DIR),
            refresh_interval: radc_feed::schedule::DEFAULT_INTERVAL,
            freerdp: None,
            reconnect_at_start: false,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("neither XDG_CONFIG_HOME nor HOME is set to an absolute path")]
    NoConfigHome,
    #[error("cannot reach the session bus: {0}")]
    Bus(#[from] zbus::Error),
    #[error("the radc runtime is already running{}", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    AlreadyRunning { pid: Option<u32> },
}

impl From<fdo::Error> for Error {
    fn from(e: fdo::Error) -> Self {
        Error::Bus(e.into())
    }
}

/// How the runtime stops.
enum Stop {
    /// Told to stop (SIGTERM, SIGINT) while the session goes on: a restart,
    /// an upgrade. Launched connections keep running and the next runtime
    /// adopts them.
    HandOver,
    /// Told to stop because the session is ending (the systemd user
    /// manager is stopping): every workspace is disconnected first.
    SessionEnding,
    /// The session bus closed: the session is over. Launched connections
    /// are ended.
    SessionEnded,
}

/// Whether the user's session is ending: the systemd user manager on this
/// bus, if there is one, says it is stopping. A runtime not run by systemd
/// learns of the session's end when the bus closes. `None`: the bus itself
/// is gone.
async fn session_ending(conn: &zbus::Connection) -> Option<bool> {
    const MANAGER: &str = "org.freedesktop.systemd1";
    let ask = async {
        let dbus = fdo::DBusProxy::new(conn).await?;
        if !dbus.name_has_owner(MANAGER.try_into()?).await? {
            return Ok::<_, zbus::Error>(None);
        }
        let manager = zbus::Proxy::new(
            conn,
            MANAGER,
            "/org/freedesktop/systemd1",
            "org.freedesktop.systemd1.Manager",
        )
        .await?;
        Ok(Some(manager.get_property::<String>("SystemState").await?))
    };
    match tokio::time::timeout(std::time::Duration::from_secs(2), ask).await {
        Ok(Ok(Some(state))) => {
            tracing::debug!(state = %state, "the systemd user manager's state");
            Some(state == "stopping")
        }
        Ok(Ok(None)) => Some(false),
        Ok(Err(zbus::Error::InputOutput(_))) => None,
        Ok(Err(e)) => {
            tracing::warn!("cannot ask the systemd user manager whether the session ends: {e}");
            Some(false)
        }
        Err(_) => {
            tracing::warn!("the systemd user manager did not say whether the session ends");
            Some(false)
        }
    }
}

/// Serves the runtime on the session bus until `shutdown` completes or the
/// bus goes away. How it stops is described in [`Stop`].
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    let refresh_interval = config.refresh_interval;
    let (shared, outgoing, notices) = service::Shared::new(config);
    let store =
        radc_subscribe::store::Store::from_environment().map_err(|_| Error::NoConfigHome)?;
    let launcher = launcher::Launcher::new(shared.clone(), store.clone());
    let subs = subscriptions::Subscriptions::new(
        shared.clone(),
        store,
        refresh_interval,
        launcher.clone(),
    );
    // Exporting through the builder makes `build` wait until method calls
    // are being received; exporting afterwards would leave a window in which
    // calls are silently dropped.
    let conn = service::serve(zbus::connection::Builder::session()?, &shared, &launcher)?
        .serve_at(
            names::OBJECT_PATH,
            subscriptions::WorkspacesIface(subs.clone()),
        )?
        .build()
        .await?;
    let dbus = fdo::DBusProxy::new(&conn).await?;
    // Watch for vanishing clients before anyone can find us by name.
    let mut owner_changes = dbus.receive_name_owner_changed().await?;
    // Adopt what an earlier runtime on this bus left running, before the
    // name is ours, so that nobody sees the runtime without them.
    let bus_id = dbus.get_id().await?;
    let adopted = match handover::base_dir()
        .ok_or_else(|| "neither XDG_RUNTIME_DIR nor HOME is set".to_owned())
        .and_then(|base| handover::Handover::new(&base, bus_id.as_str()))
    {
        Ok(record) => launcher.adopt(record),
        Err(e) => {
            tracing::warn!("{e}: launched connections will not outlive this runtime");
            0
        }
    };

    let reply = dbus
        .request_name(
            names::BUS_NAME.try_into().expect("valid name"),
            RequestNameFlags::DoNotQueue.into(),
        )
        .await?;
    if reply != RequestNameReply::PrimaryOwner {
        let pid = dbus
            .get_connection_unix_process_id(names::BUS_NAME.try_into().expect("valid name"))
            .await
            .ok();
        return Err(Error::AlreadyRunning { pid });
    }
    launcher.settle();
    let config = &shared.config;
    tracing::info!(
        pid = std::process::id(),
        user_config = %config.user_config_dir.display(),
        disconnect_timeout = ?config.disconnect_timeout,
        grace = ?config.grace,
        probe_timeout = ?config.probe_timeout,
        refresh_interval = ?config.refresh_interval,
        freerdp = ?config.freerdp,
        adopted,
        "radc runtime serving {} on the session bus",
        names::BUS_NAME
    );

    let emitter = tokio::spawn(service::emit_signals(conn.clone(), outgoing));
    let notifier = tokio::spawn(notify::run(conn.clone(), notices, launcher.clone()));
    let timer = tokio::spawn(service::run_timer(shared.clone()));
    let housekeeper = tokio::spawn(housekeeping::run(shared.clone()));
    if config.reconnect_at_start {
        let subs = subs.clone();
        tokio::spawn(async move {
            let rows = subs.reconnect_all().await;
            let launched = rows.iter().filter(|r| r.1 == "launched").count();
            tracing::info!(launched, "reconnected at start");
        });
    }
    let refresher = tokio::spawn(subscriptions::run_refresher(subs));
    let watcher = async {
        while let Some(signal) = owner_changes.next().await {
            let Ok(args) = signal.args() else { continue };
            if args.new_owner().is_none() && args.name().starts_with(':') {
                let mut core = shared.core();
                let events = core.peer_vanished(args.name());
                if !events.is_empty() {
                    tracing::info!(client = %args.name(), count = events.len(), "client vanished");
                    housekeeping::poke();
                }
                shared.publish(&core, events);
            }
        }
    };
    let ending = tokio::select! {
        _ = watcher => {
            tracing::info!("the session bus closed: the session has ended");
            Stop::SessionEnded
        }
        _ = shutdown => match session_ending(&conn).await {
            Some(true) => {
                tracing::info!("the session is ending");
                Stop::SessionEnding
            }
            Some(false) => Stop::HandOver,
            None => {
                tracing::info!("the session bus is gone: the session has ended");
                Stop::SessionEnded
            }
        }
    };
    match ending {
        Stop::HandOver => {
            let running = launcher.hand_over();
            tracing::info!(
                "stopping; {running} launched connection(s) keep running for the next runtime"
            );
        }
        Stop::SessionEnding => {
            // As at sign-out on Windows: every workspace is disconnected,
            // custom clients included, while the bus is still there.
            let workspaces: Vec<String> = shared
                .core()
                .registry()
                .workspace_ids()
                .into_iter()
                .map(str::to_owned)
                .collect();
            let timeout = shared.config.disconnect_timeout;
            for workspace in &workspaces {
                let _ = service::disconnect_workspace(&shared, &conn, workspace, timeout).await;
            }
            launcher.end_all().await;
        }
        Stop::SessionEnded => launcher.end_all().await,
    }
    timer.abort();
    housekeeper.abort();
    refresher.abort();
    emitter.abort();
    notifier.abort();
    let _ = dbus
        .release_name(names::BUS_NAME.try_into().expect("valid name"))
        .await;
    Ok(())
}
