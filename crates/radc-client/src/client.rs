use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use zbus::Connection;
use zbus::zvariant::OwnedObjectPath;

use crate::error::{ClientError, Error, WireError};
use crate::proxy::WorkspaceRegistrationProxy;

/// One connection of your client, as the runtime sees it.
///
/// The runtime calls these from its own task, possibly while your program
/// is busy elsewhere; keep them quick. `resource_id` and
/// `resource_display_name` are asked once, right after
/// [`Runtime::add_resource`], and must answer within a couple of seconds or
/// the registration is dropped.
pub trait WorkspaceClientExt: Send + Sync + 'static {
    /// The id of the workspace this connection belongs to (for a connection
    /// opened from an RD Web Access feed, the feed's publisher id).
    fn resource_id(&self) -> String;

    /// What the user sees for this connection, e.g. the RemoteApp's title.
    fn resource_display_name(&self) -> String;

    /// Close this connection: the user disconnected its workspace. Return
    /// once the close has been started; an error travels back to whoever
    /// asked for the disconnect, with its HRESULT. The runtime waits a
    /// bounded time (5 s by default) for the answer.
    fn issue_disconnect(&self) -> impl Future<Output = Result<(), ClientError>> + Send;
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Object-safe twin of [`WorkspaceClientExt`], so one exported type serves
/// every implementation.
trait ErasedClient: Send + Sync {
    fn resource_id(&self) -> String;
    fn resource_display_name(&self) -> String;
    fn issue_disconnect(&self) -> BoxFuture<'_, Result<(), ClientError>>;
}

impl<T: WorkspaceClientExt> ErasedClient for T {
    fn resource_id(&self) -> String {
        WorkspaceClientExt::resource_id(self)
    }
    fn resource_display_name(&self) -> String {
        WorkspaceClientExt::resource_display_name(self)
    }
    fn issue_disconnect(&self) -> BoxFuture<'_, Result<(), ClientError>> {
        Box::pin(WorkspaceClientExt::issue_disconnect(self))
    }
}

/// The object exported on the bus for one registration.
struct ClientObject(Arc<dyn ErasedClient>);

#[zbus::interface(name = "org.radc.WorkspaceClientExt1")]
impl ClientObject {
    fn get_resource_id(&self) -> String {
        self.0.resource_id()
    }

    fn get_resource_display_name(&self) -> String {
        self.0.resource_display_name()
    }

    async fn issue_disconnect(&self) -> Result<(), WireError> {
        self.0.issue_disconnect().await.map_err(WireError::from)
    }
}

/// Makes sure `conn` answers incoming method calls before the runtime makes
/// any. zbus starts receiving them lazily, in the background, once the
/// object server is first used; a call arriving before that is dropped. A
/// ping to ourselves comes back only once the receiver runs, so retry it
/// until it does.
async fn ensure_serving(conn: &Connection) -> Result<(), Error> {
    conn.object_server();
    let me = conn
        .unique_name()
        .ok_or_else(|| Error::Bus(zbus::Error::Failure("not connected to a bus".into())))?
        .to_owned();
    for attempt in 1..=50u64 {
        let ping = conn.call_method(
            Some(&me),
            "/",
            Some("org.freedesktop.DBus.Peer"),
            "Ping",
            &(),
        );
        match tokio::time::timeout(Duration::from_millis(10 * attempt.min(10)), ping).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => continue,
        }
    }
    Err(Error::Bus(zbus::Error::Failure(
        "this connection does not answer method calls".into(),
    )))
}

/// A live registration. Keep it for as long as the connection is open and
/// hand it back to [`Runtime::remove_resource`].
#[derive(Debug)]
#[must_use = "a registration should be removed when its connection closes"]
pub struct Registration {
    cookie: Arc<AtomicU32>,
    path: OwnedObjectPath,
}

impl Registration {
    /// The cookie the runtime returned; it names this registration in
    /// `ListResources`, `ResourceAdded`/`ResourceRemoved` and disconnect
    /// outcomes. After a restart of the runtime, the cookie the new runtime
    /// gave.
    pub fn cookie(&self) -> u32 {
        self.cookie.load(Ordering::Relaxed)
    }

    /// Where the client object is exported on your connection.
    pub fn object_path(&self) -> &OwnedObjectPath {
        &self.path
    }
}

/// Your connection to the runtime.
///
/// When the runtime restarts (an upgrade, a crash, `systemctl --user
/// restart radc`), every registration still held is added again to the new
/// runtime, by itself: the client object stays where it is, and
/// [`Registration::cookie`] then gives the new cookie.
pub struct Runtime {
    conn: Connection,
    registration: WorkspaceRegistrationProxy<'static>,
    next_object: AtomicU64,
    live: Arc<Live>,
    watcher: tokio::task::JoinHandle<()>,
}

/// The registrations held, by object path: their cookie, and the unique
/// bus name of the runtime that gave it.
#[derive(Default)]
struct Live(Mutex<HashMap<OwnedObjectPath, (Arc<AtomicU32>, String)>>);

impl Live {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<OwnedObjectPath, (Arc<AtomicU32>, String)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

/// `AddResource(path)`: the cookie, and who answered.
async fn add(conn: &Connection, path: &OwnedObjectPath) -> Result<(u32, String), Error> {
    let reply = conn
        .call_method(
            Some(crate::names::BUS_NAME),
            crate::names::OBJECT_PATH,
            Some(crate::names::REGISTRATION),
            "AddResource",
            &(path,),
        )
        .await?;
    let owner = reply
        .header()
        .sender()
        .map(|s| s.to_string())
        .unwrap_or_default();
    let cookie: u32 = reply.body().deserialize()?;
    Ok((cookie, owner))
}

/// Adds every held registration again whenever a runtime other than the
/// one that gave its cookie takes the runtime's name.
async fn reregister(conn: Connection, live: Arc<Live>) {
    let Ok(dbus) = zbus::fdo::DBusProxy::new(&conn).await else {
        return;
    };
    let Ok(mut changes) = dbus
        .receive_name_owner_changed_with_args(&[(0, crate::names::BUS_NAME)])
        .await
    else {
        return;
    };
    while let Some(change) = changes.next().await {
        let Ok(args) = change.args() else { continue };
        let Some(owner) = args.new_owner().as_ref().map(|o| o.to_string()) else {
            continue;
        };
        let stale: Vec<OwnedObjectPath> = live
            .lock()
            .iter()
            .filter(|(_, (_, by))| *by != owner)
            .map(|(path, _)| path.clone())
            .collect();
        for path in stale {
            match add(&conn, &path).await {
                Ok((cookie, by)) => {
                    if let Some(entry) = live.lock().get_mut(&path) {
                        entry.0.store(cookie, Ordering::Relaxed);
                        entry.1 = by;
                    }
                    tracing::debug!("{path} registered again with cookie {cookie}");
                }
                Err(e) => tracing::warn!("{path} could not be registered again: {e}"),
            }
        }
    }
}

impl Runtime {
    /// Connects to the runtime on the session bus.
    ///
    /// The bus starts the runtime on the first call where radc is set up
    /// for that (its package, or `radc setup` after `cargo install`).
    /// Elsewhere calls fail with `org.freedesktop.DBus.Error.ServiceUnknown`
    /// until something starts it (`radc daemon`, or any `radc` command).
    pub async fn connect() -> Result<Runtime, Error> {
        Runtime::with_connection(Connection::session().await?).await
    }

    /// Uses an existing bus connection; registrations are tied to it and
    /// vanish when it closes.
    pub async fn with_connection(conn: Connection) -> Result<Runtime, Error> {
        ensure_serving(&conn).await?;
        let registration = WorkspaceRegistrationProxy::builder(&conn)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await?;
        let live = Arc::new(Live::default());
        let watcher = tokio::spawn(reregister(conn.clone(), live.clone()));
        Ok(Runtime {
            conn,
            registration,
            next_object: AtomicU64::new(1),
            live,
            watcher,
        })
    }

    /// The bus connection registrations are made on.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Registers one connection of your client. The runtime then asks
    /// `client` for its workspace and name, and lists it.
    pub async fn add_resource<C: WorkspaceClientExt>(
        &self,
        client: C,
    ) -> Result<Registration, Error> {
        let n = self.next_object.fetch_add(1, Ordering::Relaxed);
        let path = OwnedObjectPath::try_from(format!("/org/radc/client/r{n}"))
            .expect("a fixed prefix and a number form a valid object path");
        let object = ClientObject(Arc::new(client));
        self.conn.object_server().at(&path, object).await?;
        match add(&self.conn, &path).await {
            Ok((cookie, owner)) => {
                let cookie = Arc::new(AtomicU32::new(cookie));
                self.live
                    .lock()
                    .insert(path.clone(), (cookie.clone(), owner));
                Ok(Registration { cookie, path })
            }
            Err(e) => {
                self.unexport(&path).await;
                Err(e)
            }
        }
    }

    /// Removes a registration, e.g. after its connection closed.
    pub async fn remove_resource(&self, registration: Registration) -> Result<(), Error> {
        self.live.lock().remove(&registration.path);
        let result = self
            .registration
            .remove_resource(registration.cookie())
            .await;
        self.unexport(&registration.path).await;
        result.map_err(Error::from)
    }

    async fn unexport(&self, path: &OwnedObjectPath) {
        if let Err(e) = self
            .conn
            .object_server()
            .remove::<ClientObject, _>(path)
            .await
        {
            tracing::debug!("could not unexport {path}: {e}");
        }
    }
}
