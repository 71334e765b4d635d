//! `radc tray` as a panel sees it: a StatusNotifierWatcher to register
//! with, the item's and the menu's proxies, the menu as a panel renders it,
//! and a workspace feed with a desktop and a RemoteApp with an icon. Used by
//! `tests/tray.rs` and `benches/tray.rs`.
//!
//! The watcher is written here with zbus: nothing in Debian 12 serves a
//! headless `org.kde.StatusNotifierWatcher` (panels such as xfce4-panel
//! need a display; snixembed and stalonetray are not packaged).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use futures_util::StreamExt;
use radc_desktop::icons::{Frame, render_theme_pngs};
use tokio::sync::mpsc;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

use super::TestBus;
use super::rdp::GroupChild;

pub const WORKSPACE: &str = "rdweb.tray.test";
pub const WORKSPACE_NAME: &str = "Tray Test";
/// How long the tray may take to follow a change.
pub const FOLLOW: Duration = Duration::from_secs(15);

/// `org.kde.StatusNotifierWatcher` as a panel serves it: it takes the
/// registrations of items and says that a host shows them.
pub struct Watcher {
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
pub async fn start_watcher(
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
pub trait Item {
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

pub type RawLayout = (i32, HashMap<String, OwnedValue>, Vec<OwnedValue>);

#[zbus::proxy(interface = "com.canonical.dbusmenu")]
pub trait Menu {
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
pub struct Node {
    pub id: i32,
    pub label: String,
    pub enabled: bool,
    pub separator: bool,
    pub icon_name: String,
    pub icon_data: Vec<u8>,
    pub children: Vec<Node>,
}

impl Node {
    pub fn parse((id, props, children): RawLayout) -> Node {
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
    pub fn all(&self) -> Vec<&Node> {
        let mut out = vec![self];
        for child in &self.children {
            out.extend(child.all());
        }
        out
    }

    pub fn find(&self, label: &str) -> Option<&Node> {
        self.all().into_iter().find(|n| n.label == label)
    }

    pub fn starting(&self, prefix: &str) -> Vec<&Node> {
        self.all()
            .into_iter()
            .filter(|n| n.label.starts_with(prefix))
            .collect()
    }

    /// The labels, one line each, submenus indented: for failure messages.
    pub fn text(&self, depth: usize, out: &mut String) {
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
pub struct Tray {
    pub process: GroupChild,
    pub item: ItemProxy<'static>,
    pub menu: MenuProxy<'static>,
    /// `LayoutUpdated` (items came or went) and `ItemsPropertiesUpdated`
    /// (items changed), the two signals a panel redraws the menu on.
    pub changes: std::pin::Pin<Box<dyn futures_util::Stream<Item = ()> + Send>>,
    pub statuses: NewStatusStream,
    pub log: PathBuf,
}

impl Tray {
    /// Starts `radc tray` and attaches to the item it registers with the
    /// test's watcher.
    pub async fn start(
        bus: &TestBus,
        registrations: &mut mpsc::UnboundedReceiver<(String, String)>,
        env: &[(&str, &str)],
    ) -> Tray {
        let process = spawn_tray(bus, env);
        let (name, path) = tokio::time::timeout(FOLLOW, registrations.recv())
            .await
            .unwrap_or_else(|_| panic!("the tray registered no item; its log:\n{}", tray_log(bus)))
            .unwrap();
        Tray::attach(bus, process, name, path).await
    }

    /// The proxies of the item `name` serves at `path`.
    pub async fn attach(bus: &TestBus, process: GroupChild, name: String, path: String) -> Tray {
        let log = bus.dir.path().join("tray.log");
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

    pub async fn layout(&self) -> (u32, Node) {
        let (revision, raw) = self.menu.get_layout(0, -1, &[]).await.unwrap();
        (revision, Node::parse(raw))
    }

    /// Waits, on the menu's signals, until it satisfies `check`; returns
    /// it.
    pub async fn menu_until(&mut self, what: &str, check: impl Fn(&Node) -> bool) -> Node {
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
    pub async fn status_until(&mut self, status: &str) {
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

    pub async fn click(&self, node: &Node) {
        self.menu
            .event(node.id, "clicked", &Value::from(0i32), 0)
            .await
            .unwrap();
    }
}

/// `radc tray` on `bus`, logging to `tray.log` in the bus's directory.
pub fn spawn_tray(bus: &TestBus, env: &[(&str, &str)]) -> GroupChild {
    let mut cmd = bus.radc();
    cmd.arg("tray")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .env("RADC_LOG", "debug")
        .stderr(std::fs::File::create(bus.dir.path().join("tray.log")).unwrap());
    GroupChild::spawn(cmd, true).expect("radc tray starts")
}

pub fn tray_log(bus: &TestBus) -> String {
    std::fs::read_to_string(bus.dir.path().join("tray.log")).unwrap_or_default()
}

/// A small PNG icon, as a feed would serve it: a sheet of ruled paper.
pub fn icon() -> Vec<u8> {
    let mut pixels = Vec::with_capacity(32 * 32 * 4);
    for y in 0..32 {
        for x in 0..32 {
            let pixel: [u8; 4] = match (x, y) {
                (6..=25, 2..=29) if x == 6 || x == 25 || y == 2 || y == 29 => [70, 90, 120, 255],
                (9..=22, 7..=26) if y % 4 == 3 => [40, 110, 200, 255],
                (7..=24, 3..=28) => [250, 250, 245, 255],
                _ => [0, 0, 0, 0],
            };
            pixels.extend(pixel);
        }
    }
    let frame = Frame::from_rgba(32, 32, pixels).unwrap();
    render_theme_pngs(&[frame], &[32]).remove(0).1
}

/// The workspace's feed: the RDP server's full desktop, and a RemoteApp
/// with an icon.
pub fn publish(root: &Path, server_address: &str) {
    let files = root.join("RDWeb/files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::create_dir_all(root.join("RDWeb/Feed")).unwrap();
    let address = format!("full address:s:{server_address}\r\n");
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
