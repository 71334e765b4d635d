//! Finding the runtime, and starting it when nobody has.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use radc_client::names;
use std::os::unix::process::CommandExt;
use zbus::Connection;
use zbus::fdo::DBusProxy;
use zbus::names::BusName;

/// How long to wait for a freshly started runtime to claim its name.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to the session bus and makes sure the runtime is there. No call
/// on the connection waits longer than `method_timeout`.
pub async fn connect(method_timeout: Duration) -> Result<Connection> {
    let conn = session(method_timeout).await?;
    ensure_runtime(&conn).await?;
    Ok(conn)
}

/// Connects to the session bus, without looking for the runtime. No call on
/// the connection waits longer than `method_timeout`.
pub async fn session(method_timeout: Duration) -> Result<Connection> {
    async {
        zbus::connection::Builder::session()?
            .method_timeout(method_timeout)
            .build()
            .await
    }
    .await
    .context(
        "cannot reach the D-Bus session bus; run radc inside a desktop session, \
         or under `dbus-run-session`",
    )
}

/// Makes sure the runtime owns its name on `conn`'s bus: has the bus start
/// it, or starts `radc daemon`, when nobody does.
pub async fn ensure_runtime(conn: &Connection) -> Result<()> {
    let dbus = DBusProxy::new(conn).await?;
    let name = BusName::try_from(names::BUS_NAME)?;
    if dbus.name_has_owner(name.clone()).await? {
        return Ok(());
    }
    if start_through_bus(&dbus).await {
        return Ok(());
    }
    // Subscribe before starting it, so the moment it appears is not missed.
    let mut appeared = dbus
        .receive_name_owner_changed_with_args(&[(0, names::BUS_NAME)])
        .await?;
    let log = log_path();
    let mut child = spawn_daemon(log.as_ref())?;
    tracing::info!(pid = child.id(), "started the radc runtime");
    let wait = async {
        if dbus.name_has_owner(name.clone()).await? {
            return anyhow::Ok(());
        }
        while let Some(signal) = appeared.next().await {
            if signal.args().is_ok_and(|a| a.new_owner().is_some()) {
                return Ok(());
            }
        }
        bail!("the session bus closed")
    };
    let exited = async {
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let where_logged = log
        .map(|p| format!("; see {}", p.display()))
        .unwrap_or_default();
    let started = tokio::select! {
        r = tokio::time::timeout(START_TIMEOUT, wait) => match r {
            Ok(r) => r,
            Err(_) => bail!("the radc runtime did not start within {} s{where_logged}", START_TIMEOUT.as_secs()),
        },
        status = exited => {
            // Lost a race with another starter? Then the name is there now.
            if dbus.name_has_owner(name).await? {
                return Ok(());
            }
            bail!("the radc runtime exited at start ({status}){where_logged}")
        }
    };
    // A long-running caller (`radc tray`) reaps the runtime it started
    // whenever that ends, so no zombie stays behind.
    std::thread::spawn(move || child.wait());
    started
}

/// Where the runtime is set up to start on demand (`radc setup` or a
/// package), has the bus start it, so it runs as any client would find it
/// (under systemd: as `radc.service`, logging to the journal). Returns
/// false when the bus cannot, and the caller starts it directly.
async fn start_through_bus(dbus: &DBusProxy<'_>) -> bool {
    let activatable = dbus
        .list_activatable_names()
        .await
        .is_ok_and(|names| names.iter().any(|n| n.as_str() == names::BUS_NAME));
    if !activatable {
        return false;
    }
    let name = zbus::names::WellKnownName::from_static_str_unchecked(names::BUS_NAME);
    match dbus.start_service_by_name(name, 0).await {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(
                "the session bus could not start the radc runtime ({e}); starting it directly"
            );
            false
        }
    }
}

/// `$XDG_STATE_HOME/radc/daemon.log`, where a started runtime logs.
fn log_path() -> Option<PathBuf> {
    Some(
        radc_runtime::xdg_state_home()?
            .join("radc")
            .join("daemon.log"),
    )
}

fn spawn_daemon(log: Option<&PathBuf>) -> Result<std::process::Child> {
    let exe = std::env::current_exe().context("cannot find the radc executable")?;
    // The log names workspaces, feed URLs and users: only the user may
    // read it, also when an older version left it readable by all.
    let log = log.and_then(|path| Some((path, radc_runtime::open_private_log(path).ok()?)));
    let mut command = Command::new(exe);
    command.arg("daemon");
    let stderr = match log {
        // The runtime rotates the file while it runs; standard error is
        // the same file until it has opened it.
        Some((path, file)) => {
            command.arg("--log-file").arg(path);
            Stdio::from(file)
        }
        None => Stdio::null(),
    };
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        // Its own process group: a Ctrl-C meant for this command must not
        // stop the runtime.
        .process_group(0)
        .spawn()
        .context("cannot start `radc daemon`")
}
