//! The radc workspace runtime as a D-Bus service on the session bus.
//!
//! [`run`] connects, exports the `org.radc.*` interfaces at
//! `/org/radc/Runtime`, claims `org.radc.Runtime` and serves until it is
//! told to stop. The rules live in [`radc_core`]; this crate moves messages
//! in and out and keeps three small tasks:
//!
//! - a watcher of `NameOwnerChanged` that drops a client's registrations the
//!   moment its connection closes;
//! - a timer that sleeps until the core's next deadline (grace periods,
//!   credential lifetimes), so an idle runtime never wakes up;
//! - an emitter that sends signals in the order the core produced them.

mod fsutil;
pub mod launcher;
pub mod restype_store;
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

/// Serves the runtime on the session bus until `shutdown` completes or the
/// bus goes away.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    let refresh_interval = config.refresh_interval;
    let (shared, outgoing) = service::Shared::new(config);
    let store =
        radc_subscribe::store::Store::from_environment().map_err(|_| Error::NoConfigHome)?;
    let launcher = launcher::Launcher::new(shared.clone(), store.clone());
    let subs = subscriptions::Subscriptions::new(shared.clone(), store, refresh_interval);
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
    let config = &shared.config;
    tracing::info!(
        pid = std::process::id(),
        user_config = %config.user_config_dir.display(),
        disconnect_timeout = ?config.disconnect_timeout,
        grace = ?config.grace,
        probe_timeout = ?config.probe_timeout,
        refresh_interval = ?config.refresh_interval,
        freerdp = ?config.freerdp,
        "radc runtime serving {} on the session bus",
        names::BUS_NAME
    );

    let emitter = tokio::spawn(service::emit_signals(conn.clone(), outgoing));
    let timer = tokio::spawn(service::run_timer(shared.clone()));
    let refresher = tokio::spawn(subscriptions::run_refresher(subs));
    let watcher = async {
        while let Some(signal) = owner_changes.next().await {
            let Ok(args) = signal.args() else { continue };
            if args.new_owner().is_none() && args.name().starts_with(':') {
                let mut core = shared.core();
                let events = core.peer_vanished(args.name());
                if !events.is_empty() {
                    tracing::info!(client = %args.name(), count = events.len(), "client vanished");
                }
                shared.publish(&core, events);
            }
        }
        tracing::info!("the session bus closed");
    };
    tokio::select! {
        _ = watcher => {}
        _ = shutdown => tracing::info!("shutting down"),
    }
    timer.abort();
    refresher.abort();
    emitter.abort();
    let _ = dbus
        .release_name(names::BUS_NAME.try_into().expect("valid name"))
        .await;
    Ok(())
}
