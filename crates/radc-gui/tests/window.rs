//! `radc-gui window` on a real X display with a real runtime, driven through
//! the accessibility tree as a screen reader user would: add a workspace
//! from a feed that signs in with NTLM (`feed_server.py`, pyspnego), see its
//! resources, take one into the menu, end a connection, launch an app,
//! remove the workspace; and check each step through the runtime's own
//! D-Bus API.

mod desktop;

use std::process::Stdio;
use std::time::Duration;

use desktop::common::feed_server::FeedServer;
use desktop::common::{self, TestBus, TestClient};
use desktop::{Desktop, Gui};
use futures_util::StreamExt;
use radc_client::Runtime;
use radc_client::proxy::{MenuResourceRow, WorkspaceRegistrationProxy, WorkspacesProxy};

const PASSWORD: &str = "Secr3t-pw";
const SLOW: Duration = Duration::from_secs(20);

/// radc-subscribe's test feed server on plain http, in its `apps` mode (two
/// RemoteApps and a desktop with icons, behind an NTLM sign-in).
fn feed_url(server: &FeedServer) -> String {
    server.feed_url("gui", "apps")
}

async fn resources(workspaces: &WorkspacesProxy<'_>) -> Vec<MenuResourceRow> {
    workspaces.list_resources("").await.unwrap()
}

async fn in_menu(workspaces: &WorkspacesProxy<'_>, id: &str) -> bool {
    resources(workspaces)
        .await
        .iter()
        .find(|r| r.1 == id)
        .unwrap_or_else(|| panic!("no resource {id}"))
        .5
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_a_workspace_choose_its_menu_end_a_connection_launch_and_remove() {
    let feed = FeedServer::start_plain();
    let mut desktop = Desktop::start(TestBus::start().await).await;
    let conn = desktop.bus.connect().await;
    let workspaces = WorkspacesProxy::new(&conn).await.unwrap();
    let _gui = Gui::spawn(desktop.gui(&["window"]));

    let driver = desktop.driver();
    driver.wait("push button", "Add Workspace");
    desktop.screenshot("window-empty");

    // Add the workspace as a user would: address, user name, password.
    let driver = desktop.driver();
    driver.click("Add Workspace");
    driver.wait("text", "Address");
    driver.wait_states("push button", "Add", &[], &["sensitive"]);
    driver.set_text("text", "Address", &feed_url(&feed));
    driver.set_text("text", "User Name", "RADCTEST\\alice");
    driver.set_text("text", "Password", PASSWORD);
    // Loopback test servers speak plain http.
    driver.act("check box", "Allow unencrypted http", "toggle");
    driver.wait_states("check box", "Allow unencrypted http", &["checked"], &[]);
    desktop.screenshot("window-add");
    let driver = desktop.driver();
    driver.click("Add");

    // Its resources are listed, and the dialog is gone.
    driver.call(serde_json::json!({
        "op": "wait", "role": "check box", "name": "Show Calculator in the menu",
        "states": ["checked"], "timeout": SLOW.as_secs(),
    }));
    driver.wait_gone("frame", "Add Workspace");
    driver.wait("push button", "Launch WordPad");
    driver.wait_states(
        "check box",
        "Show Office Desktop in the menu",
        &[],
        &["checked"],
    );
    let listed = workspaces.list_workspaces().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0, "test-apps");
    assert_eq!(listed[0].1, "Test Apps");
    assert!(!in_menu(&workspaces, "desktop").await);

    // "Show in menu" for the desktop: the runtime puts it there.
    driver.act("check box", "Show Office Desktop in the menu", "toggle");
    common::eventually(SLOW, "the desktop in the menu", || {
        in_menu(&workspaces, "desktop")
    })
    .await;
    let driver = desktop.driver();
    driver.wait_states(
        "check box",
        "Show Office Desktop in the menu",
        &["checked"],
        &[],
    );

    // A connection a custom client opened in the workspace shows up, and
    // "Disconnect" ends it.
    let client = Runtime::with_connection(desktop.bus.connect().await)
        .await
        .unwrap();
    let _registration = client
        .add_resource(TestClient::new("test-apps", "Terminal"))
        .await
        .unwrap();
    let driver = desktop.driver();
    driver.wait("push button", "Disconnect Terminal");
    driver.wait("push button", "Disconnect all of Test Apps");
    desktop.screenshot("window");
    let driver = desktop.driver();
    driver.click("Disconnect Terminal");
    // The client answered and did not go away: the runtime drops it after
    // the grace period (1 s here).
    driver.wait_gone("push button", "Disconnect Terminal");

    // "Launch" asks the runtime to start the app with the window's display.
    // No keyring kept the password at subscription, so the runtime asks for
    // it in the sign-in prompt, on the same display; then FreeRDP starts
    // (and soon gives up: the test's RD Session Host does not exist).
    let registration = WorkspaceRegistrationProxy::new(&conn).await.unwrap();
    let mut added = registration.receive_resource_added().await.unwrap();
    desktop.driver().click("Launch Calculator");
    desktop.driver().wait("frame", "Sign in to Test Apps");
    desktop
        .driver()
        .wait_states("password text", "Password", &["focused"], &[]);
    desktop.type_text(PASSWORD);
    desktop.key("Return");
    let launched = tokio::time::timeout(SLOW, added.next())
        .await
        .expect("a connection within 20 s")
        .unwrap();
    let launched = launched.args().unwrap();
    assert_eq!(
        (
            launched.workspace_id.as_str(),
            launched.display_name.as_str()
        ),
        ("test-apps", "Calculator")
    );

    // A second `radc-gui window` shows this window and exits.
    let second = desktop
        .gui(&["window"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(second.success(), "{second}");
    assert_eq!(desktop.driver().count("frame", "Remote Workspaces"), 1);

    // Remove it, confirming.
    let driver = desktop.driver();
    driver.click("Remove Test Apps");
    driver.wait("push button", "Remove");
    desktop.screenshot("window-remove");
    let driver = desktop.driver();
    driver.click("Remove");
    common::eventually(SLOW, "the workspace to go", || async {
        workspaces.list_workspaces().await.unwrap().is_empty()
    })
    .await;
    let driver = desktop.driver();
    driver.wait_gone("push button", "Remove Test Apps");
    driver.wait_gone("check box", "Show Calculator in the menu");
    desktop.screenshot("window-removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_starts_the_runtime_when_none_runs() {
    let mut desktop = Desktop::start(TestBus::bus_only()).await;
    let conn = desktop.bus.connect().await;
    let _gui = Gui::spawn(desktop.gui(&["window"]));
    desktop.driver().wait("push button", "Add Workspace");
    let dbus = zbus::fdo::DBusProxy::new(&conn).await.unwrap();
    common::eventually(SLOW, "the runtime", || {
        let dbus = dbus.clone();
        async move {
            dbus.name_has_owner("org.radc.Runtime".try_into().unwrap())
                .await
                .unwrap()
        }
    })
    .await;
    // The window follows that runtime: a workspace subscribed through the
    // API (as `radc subscribe` does) appears in it.
    let feed = FeedServer::start_plain();
    let workspaces = WorkspacesProxy::new(&conn).await.unwrap();
    workspaces
        .subscribe(&feed_url(&feed), "RADCTEST\\alice", PASSWORD, true)
        .await
        .unwrap();
    desktop
        .driver()
        .wait("check box", "Show Calculator in the menu");
}
