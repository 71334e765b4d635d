//! The window's only way to the runtime: D-Bus calls through `radc-client`'s
//! proxies, run on a tokio runtime in a thread of their own, so no call
//! ever blocks GTK's main loop.
//!
//! The GTK side awaits results and events with `glib::spawn_future_local`:
//! replies come back through oneshot channels and signals through an
//! unbounded channel, both of which any executor can await. Nothing here
//! polls: the tokio thread sleeps in epoll until the bus has something.

use std::future::Future;
use std::path::PathBuf;

use futures_util::StreamExt;
use radc_client::names;
use radc_client::proxy::{RuntimeProxy, WorkspaceRegistrationProxy, WorkspacesProxy};
use tokio::sync::{mpsc, oneshot, watch};
use zbus::Connection;
use zbus::fdo::DBusProxy;
use zbus::proxy::CacheProperties;

/// Proxies of the interfaces the window uses, on one connection.
#[derive(Clone)]
pub struct Proxies {
    pub workspaces: WorkspacesProxy<'static>,
    pub runtime: RuntimeProxy<'static>,
    pub registration: WorkspaceRegistrationProxy<'static>,
}

/// What the runtime told, for the window to read again.
#[derive(Debug)]
pub enum Event {
    /// Connected (or the runtime was started again under another bus name):
    /// read everything.
    Ready,
    /// `Workspaces1.WorkspacesChanged`: this workspace (`""`: any).
    WorkspacesChanged(String),
    /// A connection was added or removed.
    ConnectionsChanged,
    /// The session bus cannot be reached, or the runtime not started; the
    /// message says why, for people.
    Unavailable(String),
}

/// Where calls go. Cheap to clone.
#[derive(Clone)]
pub struct Backend {
    handle: tokio::runtime::Handle,
    ready: watch::Receiver<Option<Result<Proxies, String>>>,
    ready_tx: std::sync::Arc<watch::Sender<Option<Result<Proxies, String>>>>,
    events: mpsc::UnboundedSender<Event>,
}

impl Backend {
    /// Starts the tokio thread and connects in it; events arrive on the
    /// returned receiver, starting with `Ready` or `Unavailable`.
    pub fn start() -> (Backend, mpsc::UnboundedReceiver<Event>) {
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("radc-dbus".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a tokio runtime");
                handle_tx
                    .send(runtime.handle().clone())
                    .expect("the GTK thread waits for the handle");
                runtime.block_on(std::future::pending::<()>());
            })
            .expect("a thread for D-Bus");
        let handle = handle_rx.recv().expect("the D-Bus thread starts");
        let (ready_tx, ready) = watch::channel(None);
        let (events, rx) = mpsc::unbounded_channel();
        let backend = Backend {
            handle,
            ready,
            ready_tx: std::sync::Arc::new(ready_tx),
            events,
        };
        backend.connect();
        (backend, rx)
    }

    /// Whether the proxies are there (the runtime itself may still have to
    /// be started by a call).
    pub fn connected(&self) -> bool {
        matches!(*self.ready.borrow(), Some(Ok(_)))
    }

    /// Connects (again, after `Unavailable`): `Ready` or `Unavailable`
    /// follows.
    pub fn connect(&self) {
        let (ready_tx, events) = (self.ready_tx.clone(), self.events.clone());
        ready_tx.send_replace(None);
        self.handle.spawn(async move {
            let connected = match connect().await {
                // Listen before telling the window to read, so that no
                // change between its read and the listening is missed.
                Ok(proxies) => listen(&proxies, events.clone())
                    .await
                    .map(|()| proxies)
                    .map_err(|e| describe(&e)),
                Err(message) => Err(message),
            };
            let event = match &connected {
                Ok(_) => Event::Ready,
                Err(message) => Event::Unavailable(message.clone()),
            };
            ready_tx.send_replace(Some(connected));
            let _ = events.send(event);
        });
    }

    /// Runs `call` on the D-Bus thread and returns its result, with errors
    /// in words for people. When the runtime has gone away (and nothing
    /// starts it on demand), it is started as `radc` starts it and the call
    /// made once more.
    pub fn call<T, F, Fut>(&self, call: F) -> impl Future<Output = Result<T, String>> + 'static
    where
        T: Send + 'static,
        F: Fn(Proxies) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = zbus::Result<T>> + Send,
    {
        let (tx, rx) = oneshot::channel();
        let mut ready = self.ready.clone();
        self.handle.spawn(async move {
            let result = async {
                let proxies = match ready.wait_for(Option::is_some).await {
                    Ok(state) => state.clone().expect("waited for Some")?,
                    Err(_) => return Err("the connection to radc ended".to_owned()),
                };
                match call(proxies.clone()).await {
                    Err(e) if runtime_absent(&e) => {
                        ensure_runtime(proxies.workspaces.inner().connection()).await?;
                        call(proxies).await.map_err(|e| describe(&e))
                    }
                    other => other.map_err(|e| describe(&e)),
                }
            }
            .await;
            let _ = tx.send(result);
        });
        async move {
            rx.await
                .unwrap_or_else(|_| Err("the connection to radc ended".to_owned()))
        }
    }
}

/// Connects to the session bus, makes sure the runtime runs, and makes the
/// proxies.
async fn connect() -> Result<Proxies, String> {
    let conn = Connection::session().await.map_err(|e| {
        format!("The session bus cannot be reached ({e}); radc needs a desktop session.")
    })?;
    ensure_runtime(&conn).await?;
    proxies(&conn).await.map_err(|e| describe(&e))
}

async fn proxies(conn: &Connection) -> zbus::Result<Proxies> {
    // None of these interfaces has properties: no cache, no GetAll call and
    // no PropertiesChanged subscription.
    Ok(Proxies {
        workspaces: WorkspacesProxy::builder(conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await?,
        runtime: RuntimeProxy::builder(conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await?,
        registration: WorkspaceRegistrationProxy::builder(conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await?,
    })
}

/// Subscribes to the signals the window follows and forwards them as
/// events from a task of their own.
async fn listen(p: &Proxies, events: mpsc::UnboundedSender<Event>) -> zbus::Result<()> {
    let conn = p.workspaces.inner().connection();
    let mut changed = p.workspaces.receive_workspaces_changed().await?;
    let mut added = p.registration.receive_resource_added().await?;
    let mut removed = p.registration.receive_resource_removed().await?;
    let mut owner = DBusProxy::new(conn)
        .await?
        .receive_name_owner_changed_with_args(&[(0, names::BUS_NAME)])
        .await?;
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                Some(signal) = changed.next() => match signal.args() {
                    Ok(args) => Event::WorkspacesChanged(args.workspace_id),
                    Err(_) => Event::WorkspacesChanged(String::new()),
                },
                Some(_) = added.next() => Event::ConnectionsChanged,
                Some(_) = removed.next() => Event::ConnectionsChanged,
                Some(signal) = owner.next() => {
                    // A new runtime: its state may differ from the last
                    // one's. A runtime going away changes nothing to show
                    // until the next one starts (connections it launched
                    // are adopted then).
                    match signal.args() {
                        Ok(args) if args.new_owner().is_some() => Event::Ready,
                        _ => continue,
                    }
                }
                else => break,
            };
            if events.send(event).is_err() {
                break;
            }
        }
    });
    Ok(())
}

/// Whether a call failed because nobody serves the runtime's name.
fn runtime_absent(e: &zbus::Error) -> bool {
    match e {
        zbus::Error::MethodError(name, _, _) => matches!(
            name.as_str(),
            "org.freedesktop.DBus.Error.ServiceUnknown"
                | "org.freedesktop.DBus.Error.NameHasNoOwner"
        ),
        zbus::Error::FDO(e) => matches!(
            **e,
            zbus::fdo::Error::ServiceUnknown(_) | zbus::fdo::Error::NameHasNoOwner(_)
        ),
        _ => false,
    }
}

/// Starts the runtime if nobody owns its name, the way every `radc`
/// command does (through the bus where activation is installed, else as
/// `radc daemon` logging to `$XDG_STATE_HOME/radc/daemon.log`): by running
/// `radc status --json` once. One place knows how to start the runtime, and
/// the window needs none of the runtime's code.
async fn ensure_runtime(conn: &Connection) -> Result<(), String> {
    let dbus = DBusProxy::new(conn).await.map_err(|e| describe(&e))?;
    let name = zbus::names::BusName::try_from(names::BUS_NAME).expect("a valid name");
    if dbus.name_has_owner(name).await.unwrap_or(false) {
        return Ok(());
    }
    let radc = radc_executable();
    let output = tokio::process::Command::new(&radc)
        .args(["status", "--json"])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                "radc is not installed: it is looked for beside radc-gui and on PATH.".to_owned()
            }
            _ => format!("radc cannot be started ({}: {e}).", radc.display()),
        })?;
    if output.status.success() {
        return Ok(());
    }
    // Errors are JSON too: {"error": "…", …}.
    let error = serde_json::from_slice::<serde_json::Value>(&output.stdout)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&output.stderr).trim().to_owned());
    Err(format!(
        "The radc service could not be started: {}",
        crate::text::for_people(&error)
    ))
}

/// `radc` beside this program (`/usr/bin/radc` for `/usr/bin/radc-gui`, or
/// the same build directory), else the one on `PATH`.
fn radc_executable() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("radc")))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("radc"))
}

/// A failed call in words for people: the runtime's own message (one
/// sentence, without its HRESULT), or what went wrong with the bus.
pub fn describe(e: &zbus::Error) -> String {
    match e {
        zbus::Error::MethodError(name, message, _) => {
            if name.starts_with(names::ERROR_PREFIX) {
                crate::text::for_people(message.as_deref().unwrap_or("the call failed"))
            } else {
                format!(
                    "radc did not answer: {}",
                    message.as_deref().unwrap_or(name.as_str())
                )
            }
        }
        zbus::Error::FDO(e) => format!("radc did not answer: {e}"),
        other => format!("The connection to radc failed: {other}"),
    }
}
