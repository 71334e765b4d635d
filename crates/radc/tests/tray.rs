//! `radc tray` as a panel sees it: a StatusNotifierWatcher on a private
//! bus, the tray registering its item with it, the item's properties and
//! its `com.canonical.dbusmenu` menu read and clicked exactly as a panel
//! does, with the real runtime, a real FreeRDP session to a real RDP server
//! (`freerdp-shadow-cli` on Xvfb) and a Python custom client behind it.
//!
//! The watcher is the test's own (`common/tray.rs`); the last test puts
//! the tray under a real panel, xfce4-panel, on Xvfb.
//!
//! The tests wait on the tray's signals (`LayoutUpdated`,
//! `ItemsPropertiesUpdated`, `NewStatus`),
//! never on time: a change the tray did not announce fails them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::pyclient::PyClient;
use common::rdp::{GroupChild, RdpServer, XvfbDisplay};
use common::site::Site;
use common::tray::{
    FOLLOW, Tray, WORKSPACE, WORKSPACE_NAME, publish, spawn_tray, start_watcher, tray_log,
};
use common::{TestBus, Timeouts, alive, eventually};
use radc_client::proxy::{RuntimeProxy, WorkspaceReportMessageProxy, WorkspaceScriptableProxy};
use radc_client::{ClientError, WorkspaceClientExt};
use tokio::sync::mpsc;
use zbus::zvariant::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_menu_launches_shows_and_disconnects_a_workspace() {
    let server = RdpServer::start();
    let display = XvfbDisplay::start();
    let site = Site::start(|root| publish(root, &server.address()));
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
    assert_eq!(desktop.icon_name, "computer", "{desktop:?}");
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

/// A custom client that tells each `IssueDisconnect` it gets.
struct RecordingClient {
    workspace: String,
    name: String,
    asked: mpsc::UnboundedSender<()>,
}

impl RecordingClient {
    fn new(workspace: &str, name: &str) -> (RecordingClient, mpsc::UnboundedReceiver<()>) {
        let (asked, receiver) = mpsc::unbounded_channel();
        let client = RecordingClient {
            workspace: workspace.into(),
            name: name.into(),
            asked,
        };
        (client, receiver)
    }
}

impl WorkspaceClientExt for RecordingClient {
    fn resource_id(&self) -> String {
        self.workspace.clone()
    }

    fn resource_display_name(&self) -> String {
        self.name.clone()
    }

    async fn issue_disconnect(&self) -> Result<(), ClientError> {
        let _ = self.asked.send(());
        Ok(())
    }
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
    let mut asked = Vec::new();
    let mut registrations = Vec::new();
    for name in ["Viewer", "Second viewer"] {
        let (client, disconnects) = RecordingClient::new("ws.example.com", name);
        registrations.push(sdk.add_resource(client).await.unwrap());
        asked.push(disconnects);
    }
    let menu = tray
        .menu_until("the custom client", |m| {
            m.starting("Viewer — since ").len() == 1
                && m.starting("Second viewer — since ").len() == 1
        })
        .await;
    // A workspace nobody subscribed to goes by its client's display name,
    // and has nothing to refresh.
    assert!(menu.find("Viewer").is_some(), "{menu}");
    assert!(menu.find("Refresh").is_none(), "{menu}");
    tray.status_until("Active").await;
    // A connection's own "Disconnect" asks that client alone.
    let viewer = menu.starting("Viewer — since ")[0];
    tray.click(&viewer.children[0]).await;
    tokio::time::timeout(FOLLOW, asked[0].recv())
        .await
        .expect("the client is asked to disconnect");
    let second = registrations.pop().unwrap();
    sdk.remove_resource(registrations.pop().unwrap())
        .await
        .unwrap();
    tray.menu_until("one connection left", |m| {
        m.starting("Viewer — since ").is_empty() && m.starting("Second viewer — since ").len() == 1
    })
    .await;
    assert!(asked[1].try_recv().is_err(), "the other is left alone");
    sdk.remove_resource(second).await.unwrap();
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

#[zbus::proxy(
    interface = "org.kde.StatusNotifierWatcher",
    default_service = "org.kde.StatusNotifierWatcher",
    default_path = "/StatusNotifierWatcher"
)]
trait PanelWatcher {
    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> zbus::Result<Vec<String>>;
}

/// A top panel of xfce4-panel holding only its "Status Tray" plugin, which
/// hosts StatusNotifierItems (xfconf's file format).
const PANEL_CONFIG: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<channel name="xfce4-panel" version="1.0">
  <property name="configver" type="int" value="2"/>
  <property name="panels" type="array">
    <value type="int" value="1"/>
    <property name="panel-1" type="empty">
      <property name="position" type="string" value="p=6;x=0;y=0"/>
      <property name="length" type="uint" value="100"/>
      <property name="position-locked" type="bool" value="true"/>
      <property name="size" type="uint" value="32"/>
      <property name="plugin-ids" type="array">
        <value type="int" value="1"/>
      </property>
    </property>
  </property>
  <property name="plugins" type="empty">
    <property name="plugin-1" type="string" value="systray"/>
  </property>
</channel>
"#;

/// How bright (0 to 1) a region of the screen is, from a screenshot.
fn brightness(screenshot: &Path, region: &str) -> f64 {
    let out = Command::new("convert")
        .arg(screenshot)
        .args(["-crop", region, "-format", "%[fx:mean]", "info:"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0.0)
}

fn screenshot(display: &str, to: &Path) {
    let status = Command::new("import")
        .args(["-display", display, "-window", "root"])
        .arg(to)
        .status()
        .expect("import (ImageMagick) runs");
    assert!(status.success());
}

/// The tray under a real panel: xfce4-panel's Status Tray plugin on Xvfb
/// (its own StatusNotifierWatcher and host, libdbusmenu drawing the menu).
/// A click on the icon opens the menu; the screenshot is kept in
/// `target/test-artifacts/tray-menu.png`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_panel_shows_the_item_and_its_menu() {
    if Command::new("xfce4-panel")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: xfce4-panel is not installed (scripts/install-deps.sh)");
        return;
    }
    let display = XvfbDisplay::start();
    let panel_env = [
        ("DISPLAY", display.display().to_owned()),
        // No accessibility bus here; GTK would wait for it.
        ("NO_AT_BRIDGE", "1".to_owned()),
    ];
    // The bus starts xfconfd, the panel's settings store, as a desktop
    // session bus does.
    let mut bus = TestBus::activating(&panel_env);
    let services = bus.data_home().join("dbus-1/services");
    std::fs::create_dir_all(&services).unwrap();
    std::fs::copy(
        "/usr/share/dbus-1/services/org.xfce.Xfconf.service",
        services.join("org.xfce.Xfconf.service"),
    )
    .expect("xfconf is installed with xfce4-panel");
    let channel = bus.config_home().join("xfce4/xfconf/xfce-perchannel-xml");
    std::fs::create_dir_all(&channel).unwrap();
    std::fs::write(channel.join("xfce4-panel.xml"), PANEL_CONFIG).unwrap();
    bus.start_runtime(Timeouts::default()).await;
    let site = Site::start(|root| publish(root, "127.0.0.1:1"));
    assert_eq!(bus.subscribe(&site.url()).await, WORKSPACE);
    let mut python = vec![
        PyClient::spawn(
            &bus,
            &["--workspace", WORKSPACE, "--name", "Support viewer"],
        ),
        PyClient::spawn(
            &bus,
            &["--workspace", "contoso.example", "--name", "Contoso Viewer"],
        ),
    ];
    for client in &mut python {
        client.ready().await;
    }

    let mut panel = Command::new("xfce4-panel");
    panel
        .env_clear()
        .envs(bus.env())
        .envs(panel_env.iter().map(|(k, v)| (*k, v)))
        .env("PATH", std::env::var("PATH").unwrap())
        // No window manager runs on this display.
        .arg("--disable-wm-check")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(bus.dir.path().join("panel.log")).unwrap());
    let _panel = GroupChild::spawn(panel, true).unwrap();
    let conn = bus.connect().await;
    let dbus = zbus::fdo::DBusProxy::new(&conn).await.unwrap();
    let watcher_name = zbus::names::BusName::try_from("org.kde.StatusNotifierWatcher").unwrap();
    eventually(FOLLOW, "the panel's StatusNotifierWatcher", || async {
        dbus.name_has_owner(watcher_name.clone()).await.unwrap()
    })
    .await;

    let process = spawn_tray(&bus, &[("DISPLAY", display.display())]);
    let watcher = PanelWatcherProxy::builder(&conn)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .unwrap();
    eventually(
        FOLLOW,
        "the item to be registered with the panel",
        || async {
            !watcher
                .registered_status_notifier_items()
                .await
                .unwrap()
                .is_empty()
        },
    )
    .await;
    let registered = watcher.registered_status_notifier_items().await.unwrap();
    let (name, path) = match registered[0].find('/') {
        Some(slash) => (
            registered[0][..slash].to_owned(),
            registered[0][slash..].to_owned(),
        ),
        None => (registered[0].clone(), "/StatusNotifierItem".to_owned()),
    };
    let mut tray = Tray::attach(&bus, process, name, path).await;
    tray.menu_until("both workspaces", |m| {
        m.starting("Support viewer — since ").len() == 1
            && m.starting("Contoso Viewer — since ").len() == 1
            && m.find("Notepad").is_some()
    })
    .await;
    tray.status_until("Active").await;

    // A click on the icon opens the menu, which the panel draws below it.
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let full = bus.dir.path().join("screen.png");
    open_menu(&bus, display.display(), &full).await;
    // Once the menu has drawn all of its items.
    tokio::time::sleep(Duration::from_millis(500)).await;
    screenshot(display.display(), &full);
    let shot = artifacts.join("tray-menu.png");
    let cropped = Command::new("convert")
        .arg(&full)
        .args(["-crop", "320x340+0+0", "+repage"])
        .arg(&shot)
        .status()
        .unwrap();
    assert!(cropped.success());
    eprintln!("screenshot: {}", shot.display());

    // An error told: the item needs attention until the panel opens the
    // menu (its AboutToShow), which shows the error.
    xdotool(display.display(), &["key", "Escape"]);
    eventually(FOLLOW, "the menu to close", || async {
        screenshot(display.display(), &full);
        brightness(&full, "200x60+0+40") < 0.5
    })
    .await;
    WorkspaceReportMessageProxy::new(&conn)
        .await
        .unwrap()
        .register_error_event(WORKSPACE, 2, "connection-failed", 7)
        .await
        .unwrap();
    tray.status_until("NeedsAttention").await;
    open_menu(&bus, display.display(), &full).await;
    tray.status_until("Active").await;
    let menu = tray.layout().await.1;
    assert_eq!(
        menu.children[0].label, "connection-failed (type 2, code 0x7)",
        "{menu}"
    );
    // It stays, however often the menu opens, until dismissed.
    tray.click(menu.find("Dismiss").unwrap()).await;
    tray.menu_until("the notice dismissed", |m| m.find("Dismiss").is_none())
        .await;
}

fn xdotool(display: &str, args: &[&str]) {
    let status = Command::new("xdotool")
        .env("DISPLAY", display)
        .args(args)
        .status()
        .expect("xdotool runs");
    assert!(status.success(), "xdotool {args:?}");
}

/// Clicks the tray's icon, the first in the panel's tray at its left end,
/// until the panel has opened the menu below it (the screen there is
/// black until a menu covers it); `screen` then holds a screenshot.
async fn open_menu(bus: &TestBus, display: &str, screen: &Path) {
    for _ in 0..50 {
        xdotool(display, &["mousemove", "12", "16", "click", "1"]);
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            screenshot(display, screen);
            if brightness(screen, "200x60+0+40") > 0.5 {
                return;
            }
        }
    }
    panic!(
        "the panel never opened the menu; its log:\n{}",
        std::fs::read_to_string(bus.dir.path().join("panel.log")).unwrap_or_default()
    );
}
