//! `radc tray` as a panel sees it: a StatusNotifierWatcher on a private
//! bus, the tray registering its item with it, the item's properties and
//! its `com.canonical.dbusmenu` menu read and clicked exactly as a panel
//! does, with the real runtime, a real FreeRDP session to a real RDP server
//! (`freerdp-shadow-cli` on Xvfb) and a Python custom client behind it.
//!
//! The watcher is written here with zbus: nothing in Debian 12 serves a
//! headless `org.kde.StatusNotifierWatcher` (panels such as xfce4-panel
//! need a display; snixembed and stalonetray are not packaged).
//!
//! The tests wait on the tray's signals (`LayoutUpdated`,
//! `ItemsPropertiesUpdated`, `NewStatus`),
//! never on time: a change the tray did not announce fails them.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::pyclient::PyClient;
use common::rdp::{GroupChild, RdpServer, XvfbDisplay};
use common::site::Site;
use common::{TestBus, TestClient, Timeouts, alive, eventually};
use futures_util::StreamExt;
use radc_client::proxy::{RuntimeProxy, WorkspaceScriptableProxy};
use radc_desktop::icons::{Frame, render_theme_pngs};
use tokio::sync::mpsc;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

const WORKSPACE: &str = "rdweb.tray.test";
const WORKSPACE_NAME: &str = "Tray Test";
/// How long the tray may take to follow a change.
const FOLLOW: Duration = Duration::from_secs(15);

/// `org.kde.StatusNotifierWatcher` as a panel serves it: it takes the
/// registrations of items and says that a host shows them.
struct Watcher {
    items: Vec<String>,
    registered: mpsc::UnboundedSender<(String, String)>,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    /// `service` is the item's bus name (its object at
    /// `/StatusNotifierItem`) or an object path on the caller's connection.
    async fn register_status_notifier_item(
        &mut self,
        service: String,
        #[zbus(header)] header: zbus::message::Header<'_>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> zbus::fdo::Result<()> {
        let sender = header.sender().map(|s| s.to_string()).unwrap_or_default();
        let (name, path) = if service.starts_with('/') {
            (sender, service)
        } else {
            (service, "/StatusNotifierItem".to_owned())
        };
        let id = format!("{name}{path}");
        self.items.push(id.clone());
        Self::status_notifier_item_registered(&emitter, &id).await?;
        let _ = self.registered.send((name, path));
        Ok(())
    }

    fn register_status_notifier_host(&self, _service: String) {}

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.items.clone()
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }

    #[zbus(signal)]
    async fn status_notifier_item_registered(
        emitter: &SignalEmitter<'_>,
        service: &str,
    ) -> zbus::Result<()>;
}

/// Serves the watcher on `bus`; registrations arrive on the receiver.
async fn start_watcher(
    bus: &TestBus,
) -> (zbus::Connection, mpsc::UnboundedReceiver<(String, String)>) {
    let (registered, receiver) = mpsc::unbounded_channel();
    let watcher = Watcher {
        items: Vec::new(),
        registered,
    };
    let conn = zbus::connection::Builder::address(bus.address.as_str())
        .unwrap()
        .name("org.kde.StatusNotifierWatcher")
        .unwrap()
        .serve_at("/StatusNotifierWatcher", watcher)
        .unwrap()
        .build()
        .await
        .unwrap();
    (conn, receiver)
}

#[zbus::proxy(interface = "org.kde.StatusNotifierItem")]
trait Item {
    #[zbus(property)]
    fn id(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn title(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn status(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn icon_name(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn menu(&self) -> zbus::Result<OwnedObjectPath>;
    #[zbus(property)]
    fn tool_tip(&self) -> zbus::Result<(String, Vec<(i32, i32, Vec<u8>)>, String, String)>;
    #[zbus(signal)]
    fn new_status(&self, status: String) -> zbus::Result<()>;
}

type RawLayout = (i32, HashMap<String, OwnedValue>, Vec<OwnedValue>);

#[zbus::proxy(interface = "com.canonical.dbusmenu")]
trait Menu {
    fn get_layout(
        &self,
        parent_id: i32,
        recursion_depth: i32,
        property_names: &[&str],
    ) -> zbus::Result<(u32, RawLayout)>;
    fn event(&self, id: i32, event_id: &str, data: &Value<'_>, timestamp: u32) -> zbus::Result<()>;
    fn about_to_show(&self, id: i32) -> zbus::Result<bool>;
    #[zbus(signal)]
    fn layout_updated(&self, revision: u32, parent: i32) -> zbus::Result<()>;
    #[zbus(signal)]
    fn items_properties_updated(
        &self,
        updated: Vec<(i32, HashMap<String, OwnedValue>)>,
        removed: Vec<(i32, Vec<String>)>,
    ) -> zbus::Result<()>;
}

/// One menu item as a panel renders it.
#[derive(Debug, Clone)]
struct Node {
    id: i32,
    label: String,
    enabled: bool,
    separator: bool,
    icon_name: String,
    icon_data: Vec<u8>,
    children: Vec<Node>,
}

impl Node {
    fn parse((id, props, children): RawLayout) -> Node {
        let text = |key: &str| {
            props
                .get(key)
                .and_then(|v| String::try_from(v.try_clone().unwrap()).ok())
                .unwrap_or_default()
        };
        Node {
            id,
            // The label as shown: "__" is one underscore.
            label: text("label").replace("__", "_"),
            enabled: props
                .get("enabled")
                .is_none_or(|v| bool::try_from(v).unwrap()),
            separator: text("type") == "separator",
            icon_name: text("icon-name"),
            icon_data: props
                .get("icon-data")
                .map(|v| Vec::<u8>::try_from(v.try_clone().unwrap()).unwrap())
                .unwrap_or_default(),
            children: children
                .into_iter()
                .map(|child| Node::parse(RawLayout::try_from(child).unwrap()))
                .collect(),
        }
    }

    /// Every item, depth first.
    fn all(&self) -> Vec<&Node> {
        let mut out = vec![self];
        for child in &self.children {
            out.extend(child.all());
        }
        out
    }

    fn find(&self, label: &str) -> Option<&Node> {
        self.all().into_iter().find(|n| n.label == label)
    }

    fn starting(&self, prefix: &str) -> Vec<&Node> {
        self.all()
            .into_iter()
            .filter(|n| n.label.starts_with(prefix))
            .collect()
    }

    /// The labels, one line each, submenus indented: for failure messages.
    fn text(&self, depth: usize, out: &mut String) {
        for child in &self.children {
            let label = if child.separator { "---" } else { &child.label };
            let off = if child.enabled { "" } else { " (off)" };
            out.push_str(&format!("{}{label}{off}\n", "  ".repeat(depth)));
            child.text(depth + 1, out);
        }
    }
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = String::new();
        self.text(0, &mut out);
        f.write_str(&out)
    }
}

/// A running `radc tray`, its item as the watcher was told it, and the
/// proxies a panel would use.
struct Tray {
    process: GroupChild,
    item: ItemProxy<'static>,
    menu: MenuProxy<'static>,
    /// `LayoutUpdated` (items came or went) and `ItemsPropertiesUpdated`
    /// (items changed), the two signals a panel redraws the menu on.
    changes: std::pin::Pin<Box<dyn futures_util::Stream<Item = ()> + Send>>,
    statuses: NewStatusStream,
    log: PathBuf,
}

impl Tray {
    async fn start(
        bus: &TestBus,
        registrations: &mut mpsc::UnboundedReceiver<(String, String)>,
        env: &[(&str, &str)],
    ) -> Tray {
        let mut cmd = bus.radc();
        cmd.arg("tray")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .env("RADC_LOG", "debug")
            .stderr(std::fs::File::create(bus.dir.path().join("tray.log")).unwrap());
        let log = bus.dir.path().join("tray.log");
        let process = GroupChild::spawn(cmd, true).expect("radc tray starts");
        let (name, path) = tokio::time::timeout(FOLLOW, registrations.recv())
            .await
            .unwrap_or_else(|_| panic!("the tray registered no item; its log:\n{}", tray_log(bus)))
            .unwrap();
        let conn = bus.connect().await;
        let item = ItemProxy::builder(&conn)
            .destination(name.clone())
            .unwrap()
            .path(path)
            .unwrap()
            // SNI announces changes with its own signals, not
            // PropertiesChanged: read afresh every time, as panels do.
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
            .unwrap();
        let menu_path = item.menu().await.unwrap();
        let menu = MenuProxy::builder(&conn)
            .destination(name)
            .unwrap()
            .path(menu_path)
            .unwrap()
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
            .unwrap();
        let layouts = menu.receive_layout_updated().await.unwrap();
        let items = menu.receive_items_properties_updated().await.unwrap();
        let changes = Box::pin(futures_util::stream::select(
            layouts.map(|_| ()),
            items.map(|_| ()),
        ));
        let statuses = item.receive_new_status().await.unwrap();
        Tray {
            process,
            item,
            menu,
            changes,
            statuses,
            log,
        }
    }

    async fn layout(&self) -> (u32, Node) {
        let (revision, raw) = self.menu.get_layout(0, -1, &[]).await.unwrap();
        (revision, Node::parse(raw))
    }

    /// Waits, on the menu's signals, until it satisfies `check`; returns
    /// it.
    async fn menu_until(&mut self, what: &str, check: impl Fn(&Node) -> bool) -> Node {
        let (mut revision, mut menu) = self.layout().await;
        while !check(&menu) {
            match tokio::time::timeout(FOLLOW, self.changes.next()).await {
                Ok(Some(_)) => {}
                _ => panic!(
                    "the tray never showed {what}; its menu (revision {revision}):\n{menu}\n\
                     its log:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                ),
            }
            let (next, layout) = self.layout().await;
            assert!(next >= revision, "the revision went back");
            (revision, menu) = (next, layout);
        }
        menu
    }

    /// Waits, on `NewStatus`, until the item's status is `status`.
    async fn status_until(&mut self, status: &str) {
        while self.item.status().await.unwrap() != status {
            match tokio::time::timeout(FOLLOW, self.statuses.next()).await {
                Ok(Some(_)) => {}
                _ => panic!(
                    "the status stayed {} instead of {status}",
                    self.item.status().await.unwrap()
                ),
            }
        }
    }

    async fn click(&self, node: &Node) {
        self.menu
            .event(node.id, "clicked", &Value::from(0i32), 0)
            .await
            .unwrap();
    }
}

fn tray_log(bus: &TestBus) -> String {
    std::fs::read_to_string(bus.dir.path().join("tray.log")).unwrap_or_default()
}

/// A small PNG icon, as a feed would serve it.
fn icon() -> Vec<u8> {
    let pixels = [40u8, 120, 200, 255].repeat(32 * 32);
    let frame = Frame::from_rgba(32, 32, pixels).unwrap();
    render_theme_pngs(&[frame], &[32]).remove(0).1
}

/// The workspace's feed: the RDP server's full desktop, and a RemoteApp
/// with an icon.
fn publish(root: &Path, server: &RdpServer) {
    let files = root.join("RDWeb/files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::create_dir_all(root.join("RDWeb/Feed")).unwrap();
    let address = format!("full address:s:{}\r\n", server.address());
    std::fs::write(
        files.join("desktop.rdp"),
        format!("{address}desktopwidth:i:800\r\ndesktopheight:i:600\r\n"),
    )
    .unwrap();
    std::fs::write(
        files.join("notepad.rdp"),
        format!("{address}remoteapplicationmode:i:1\r\nremoteapplicationprogram:s:||notepad\r\n"),
    )
    .unwrap();
    std::fs::write(files.join("notepad.png"), icon()).unwrap();
    let resource = |id: &str, title: &str, kind: &str, icons: &str| {
        format!(
            r#"<Resource ID="{id}" Title="{title}" Type="{kind}">{icons}
        <HostingTerminalServers><HostingTerminalServer>
          <ResourceFile FileExtension=".rdp" URL="/RDWeb/files/{id}.rdp"/>
          <TerminalServerRef Ref="host1"/>
        </HostingTerminalServer></HostingTerminalServers></Resource>"#
        )
    };
    let feed = format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<ResourceCollection SchemaVersion="2.1" xmlns="http://schemas.microsoft.com/ts/2007/05/tswf">
  <Publisher ID="{WORKSPACE}" Name="{WORKSPACE_NAME}"><Resources>
    {desktop}
    {notepad}
  </Resources><TerminalServers><TerminalServer ID="host1" Name="host1"/></TerminalServers></Publisher>
</ResourceCollection>
"#,
        desktop = resource("desktop", "Full Desktop", "Desktop", ""),
        notepad = resource(
            "notepad",
            "Notepad",
            "RemoteApp",
            r#"<Icons><Icon32 Dimensions="32x32" FileType="Png" FileURL="/RDWeb/files/notepad.png"/></Icons>"#,
        ),
    );
    std::fs::write(root.join("RDWeb/Feed/webfeed.aspx"), feed).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_menu_launches_shows_and_disconnects_a_workspace() {
    let server = RdpServer::start();
    let display = XvfbDisplay::start();
    let site = Site::start(|root| publish(root, &server));
    let mut bus = TestBus::bus_only();
    let (_watcher, mut registrations) = start_watcher(&bus).await;
    // The runtime has no display of its own: the tray passes its own.
    bus.start_runtime(Timeouts::default()).await;
    assert_eq!(bus.subscribe(&site.url()).await, WORKSPACE);
    let conn = bus.connect().await;
    let user = format!("{}\\{}", server.domain(), server.user());
    WorkspaceScriptableProxy::new(&conn)
        .await
        .unwrap()
        .start_workspace(WORKSPACE, &user, server.password(), "", 0, 0)
        .await
        .unwrap();
    let runtime = RuntimeProxy::new(&conn).await.unwrap();

    let mut tray = Tray::start(&bus, &mut registrations, &[("DISPLAY", display.display())]).await;
    assert_eq!(tray.item.id().await.unwrap(), "radc");
    assert_eq!(tray.item.title().await.unwrap(), "Remote Workspaces");

    // Idle: the workspace, its resources (with the feed's icon), nothing
    // connected, and the panel may hide the item.
    let menu = tray
        .menu_until("the workspace's resources", |m| m.find("Notepad").is_some())
        .await;
    let header = menu.find(WORKSPACE_NAME).expect("a header");
    assert!(!header.enabled, "{menu}");
    let notepad = menu.find("Notepad").unwrap();
    assert!(notepad.icon_data.starts_with(b"\x89PNG"), "{notepad:?}");
    let desktop = menu.find("Full Desktop").unwrap().clone();
    assert_eq!(desktop.icon_name, "video-display", "{desktop:?}");
    assert!(menu.find("Refresh").is_some() && menu.find("Quit").is_some());
    assert!(menu.find("Disconnect all").is_none(), "{menu}");
    assert_eq!(tray.item.status().await.unwrap(), "Passive");
    assert_eq!(tray.item.icon_name().await.unwrap(), "network-idle");
    assert_eq!(tray.item.tool_tip().await.unwrap().3, "No connections");

    // A click on the desktop starts it through the runtime, on the tray's
    // display.
    tray.click(&desktop).await;
    eventually(FOLLOW, "a launched connection", || async {
        runtime
            .list_connections()
            .await
            .unwrap()
            .iter()
            .any(|c| c.3 == "Full Desktop" && c.8 == "built-in")
    })
    .await;
    assert!(
        server.wait_for_session(Duration::from_secs(20)),
        "the RDP server never saw the session; server log:\n{}",
        server.log()
    );
    let freerdp = runtime.list_connections().await.unwrap()[0].5;
    let mut python =
        PyClient::start(&bus, &["--workspace", WORKSPACE, "--name", "Python viewer"]).await;

    // Both connections, each with its own "Disconnect"; the item is active.
    let menu = tray
        .menu_until("both connections", |m| {
            m.starting("Full Desktop — since ").len() == 1
                && m.starting("Python viewer — since ").len() == 1
        })
        .await;
    let connection = menu.starting("Python viewer — since ")[0];
    assert_eq!(connection.children.len(), 1, "{menu}");
    assert_eq!(connection.children[0].label, "Disconnect");
    tray.status_until("Active").await;
    assert_eq!(
        tray.item.icon_name().await.unwrap(),
        "network-transmit-receive"
    );
    assert_eq!(tray.item.tool_tip().await.unwrap().3, "2 connections");

    // "Disconnect all" ends both: FreeRDP exits, the Python client is
    // asked to disconnect, the registry empties, and the menu and the
    // item follow.
    let (revision, _) = tray.layout().await;
    tray.click(menu.find("Disconnect all").unwrap()).await;
    assert!(python.line().await.starts_with("DISCONNECT"));
    eventually(FOLLOW, "FreeRDP to exit", || async { !alive(freerdp) }).await;
    assert!(server.wait_for_no_session(FOLLOW), "{}", server.log());
    python.wait_exit(FOLLOW).await;
    eventually(FOLLOW, "an empty registry", || async {
        runtime.list_connections().await.unwrap().is_empty()
    })
    .await;
    let menu = tray
        .menu_until("no connections", |m| m.starting("Python viewer").is_empty())
        .await;
    assert!(menu.starting("Full Desktop — ").is_empty(), "{menu}");
    assert!(menu.find("Disconnect all").is_none(), "{menu}");
    assert!(tray.layout().await.0 > revision, "the revision moved on");
    tray.status_until("Passive").await;
    assert_eq!(tray.item.icon_name().await.unwrap(), "network-idle");

    // The feed breaks; "Refresh" fails, and the item needs attention.
    std::fs::write(site.feed_path(), "<ResourceCollection").unwrap();
    tray.click(menu.find("Refresh").unwrap()).await;
    tray.status_until("NeedsAttention").await;
    assert_eq!(tray.item.icon_name().await.unwrap(), "network-error");
    let menu = tray
        .menu_until("the failure", |m| {
            !m.starting("Refresh failed: ").is_empty()
        })
        .await;
    // The last good resources stay.
    assert!(menu.find("Notepad").is_some(), "{menu}");
    // Opening the menu does not make a failed refresh go away: only a
    // good one does.
    tray.menu.about_to_show(0).await.unwrap();
    assert_eq!(tray.item.status().await.unwrap(), "NeedsAttention");
    drop(tray);
}

/// What a fake `radc-gui` writes: its arguments, one a line.
fn fake_gui(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("gui-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("radc-gui");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\n",
            dir.join("gui-args").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tray_starts_the_runtime_follows_its_restarts_and_quits_alone() {
    let mut bus = TestBus::bus_only();
    let (_watcher, mut registrations) = start_watcher(&bus).await;
    // "Workspaces…" runs radc-gui: a stand-in on PATH, unless a real one
    // was built beside radc.
    let beside = Path::new(env!("CARGO_BIN_EXE_radc")).with_file_name("radc-gui");
    let bin = fake_gui(bus.dir.path());
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let mut tray = Tray::start(&bus, &mut registrations, &[("PATH", &path)]).await;

    // No runtime ran: the tray started one, as radc commands do.
    let menu = tray
        .menu_until("an empty runtime", |m| {
            m.find("No workspaces: subscribe with radc subscribe")
                .is_some()
        })
        .await;
    let conn = bus.connect().await;
    let dbus = zbus::fdo::DBusProxy::new(&conn).await.unwrap();
    let name = zbus::names::BusName::try_from("org.radc.Runtime").unwrap();
    let first = dbus
        .get_connection_unix_process_id(name.clone())
        .await
        .unwrap();
    assert_eq!(tray.item.status().await.unwrap(), "Passive");

    let workspaces = menu.find("Workspaces…").expect("radc-gui is found");
    if !beside.exists() {
        tray.click(workspaces).await;
        let args = bus.dir.path().join("gui-args");
        eventually(FOLLOW, "radc-gui to start", || async {
            std::fs::read_to_string(&args).is_ok_and(|a| a == "window\n")
        })
        .await;
    }

    // The runtime goes: the menu says so.
    Command::new("kill")
        .args(["-KILL", &first.to_string()])
        .status()
        .unwrap();
    tray.menu_until("the runtime's absence", |m| {
        m.find("The radc runtime is not running").is_some()
    })
    .await;

    // Another one comes: the tray reads everything from it, and follows
    // its connections.
    bus.start_runtime(Timeouts::default()).await;
    tray.menu_until("the new runtime", |m| {
        m.find("No workspaces: subscribe with radc subscribe")
            .is_some()
    })
    .await;
    let sdk = radc_client::Runtime::with_connection(bus.connect().await)
        .await
        .unwrap();
    let registration = sdk
        .add_resource(TestClient::new("ws.example.com", "Viewer"))
        .await
        .unwrap();
    let menu = tray
        .menu_until("the custom client", |m| {
            m.starting("Viewer — since ").len() == 1
        })
        .await;
    // A workspace nobody subscribed to goes by its client's display name,
    // and has nothing to refresh.
    assert!(menu.find("Viewer").is_some(), "{menu}");
    assert!(menu.find("Refresh").is_none(), "{menu}");
    tray.status_until("Active").await;
    sdk.remove_resource(registration).await.unwrap();
    tray.status_until("Passive").await;

    // "Quit" ends the tray, not the runtime.
    let menu = tray.layout().await.1;
    let quit = menu.find("Quit").unwrap().id;
    // The tray may be gone before its reply, as any program that quits.
    let clicked = tray
        .menu
        .event(quit, "clicked", &Value::from(0i32), 0)
        .await;
    assert!(
        clicked.is_ok()
            || matches!(&clicked, Err(zbus::Error::MethodError(name, ..)) if name.as_str() == "org.freedesktop.DBus.Error.NoReply"),
        "{clicked:?}"
    );
    let status = tray
        .process
        .wait_timeout(FOLLOW)
        .expect("the tray exits on Quit");
    assert!(status.success(), "{status}; log:\n{}", tray_log(&bus));
    assert!(dbus.name_has_owner(name).await.unwrap());
}
