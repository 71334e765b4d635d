//! `org.radc.Workspaces1` and the runtime's refresher, against a real HTTP
//! server on loopback serving a feed.

mod common;

use std::path::Path;
use std::time::Duration;

use common::site::Site;
use common::{TestBus, Timeouts};
use futures_util::StreamExt;
use radc_client::proxy::{
    RuntimeProxy, WorkspaceReportMessageProxy, WorkspaceScriptableProxy, WorkspacesProxy,
};

fn publish(root: &Path) {
    std::fs::create_dir_all(root.join("RDWeb/Feed")).unwrap();
    std::fs::create_dir_all(root.join("RDWeb/rdp")).unwrap();
    std::fs::write(
        root.join("RDWeb/Feed/webfeed.aspx"),
        r#"<?xml version="1.0" encoding="utf-8"?>
<ResourceCollection SchemaVersion="2.1" xmlns="http://schemas.microsoft.com/ts/2007/05/tswf">
  <Publisher ID="rdweb.dbus.test" Name="Contoso Apps">
    <Resources>
      <Resource ID="calc" Title="Calculator" Type="RemoteApp">
        <HostingTerminalServers><HostingTerminalServer>
          <ResourceFile FileExtension=".rdp" URL="/RDWeb/rdp/calc.rdp"/>
          <TerminalServerRef Ref="host1"/>
        </HostingTerminalServer></HostingTerminalServers>
      </Resource>
    </Resources>
    <TerminalServers><TerminalServer ID="host1" Name="host1"/></TerminalServers>
  </Publisher>
</ResourceCollection>
"#,
    )
    .unwrap();
    std::fs::write(root.join("RDWeb/rdp/calc.rdp"), "full address:s:host1\n").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_refresh_and_tell_a_failure_once() {
    let site = Site::start(publish);
    let bus = TestBus::start_with(Timeouts {
        refresh: 1.0,
        ..Timeouts::default()
    })
    .await;
    let conn = bus.connect().await;
    let workspaces = WorkspacesProxy::new(&conn).await.unwrap();
    let runtime = RuntimeProxy::new(&conn).await.unwrap();
    let report = WorkspaceReportMessageProxy::new(&conn).await.unwrap();
    let mut notices = runtime.receive_user_notice().await.unwrap();

    let target = format!("http://127.0.0.1:{}", site.port);
    // Plain http is refused unless allowed.
    let err = workspaces
        .subscribe(&target, "", "", false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--allow-http"), "{err}");
    let id = workspaces.subscribe(&target, "", "", true).await.unwrap();
    assert_eq!(id, "rdweb.dbus.test");
    let rows = workspaces.list_workspaces().await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1, "Contoso Apps");
    assert!(rows[0].3 > 0, "last refresh is set");
    assert_eq!(rows[0].4, "");

    // The runtime learned the workspace's name from its feed.
    let scriptable = WorkspaceScriptableProxy::new(&conn).await.unwrap();
    assert!(
        scriptable
            .disconnect_workspace_by_friendly_name("contoso apps")
            .await
            .unwrap()
            .is_empty()
    );

    // The feed breaks: the periodic refresh (every second here) fails and
    // the user is told once.
    std::fs::write(site.feed_path(), "<ResourceCollection").unwrap();
    let notice = tokio::time::timeout(Duration::from_secs(10), notices.next())
        .await
        .expect("a notice within 10 s")
        .unwrap();
    let args = notice.args().unwrap();
    assert_eq!(args.workspace_id, "rdweb.dbus.test");
    assert_eq!(args.kind, "refresh-failed");
    assert!(args.text.contains("Contoso Apps"), "{}", args.text);
    assert!(
        report
            .is_error_message_registered("rdweb.dbus.test", 1, "refresh-failed", 0)
            .await
            .unwrap()
    );
    // Asking again fails again, but is not announced again.
    let rows = workspaces.refresh("Contoso Apps").await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(!rows[0].1.is_empty(), "the refresh reports its error");
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), notices.next())
            .await
            .is_err(),
        "a repeated failure is not announced again"
    );
    let listed = workspaces.list_workspaces().await.unwrap();
    assert!(!listed[0].4.is_empty(), "the error is recorded");

    // Fixed: the next refresh succeeds and clears the error.
    publish(site.root.path());
    let rows = workspaces.refresh("").await.unwrap();
    assert_eq!(rows, vec![("rdweb.dbus.test".to_string(), String::new())]);
    assert!(
        !report
            .is_error_message_registered("rdweb.dbus.test", 1, "refresh-failed", 0)
            .await
            .unwrap()
    );
    assert_eq!(workspaces.list_workspaces().await.unwrap()[0].4, "");

    workspaces.unsubscribe("rdweb.dbus.test").await.unwrap();
    assert!(workspaces.list_workspaces().await.unwrap().is_empty());
    let err = workspaces.unsubscribe("rdweb.dbus.test").await.unwrap_err();
    assert!(err.to_string().contains("0x80070490"), "{err}");

    // Subscribed from the command line instead: the runtime is told, lists
    // it and puts it on its refresh schedule.
    let mut cmd = bus.radc();
    cmd.args(["subscribe", &target, "--allow-http"]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(workspaces.list_workspaces().await.unwrap().len(), 1);
    std::fs::write(site.feed_path(), "<ResourceCollection").unwrap();
    let notice = tokio::time::timeout(Duration::from_secs(10), notices.next())
        .await
        .expect("the runtime refreshes a workspace subscribed by the CLI")
        .unwrap();
    assert_eq!(notice.args().unwrap().kind, "refresh-failed");
}

/// A 32×32 PNG, as a feed's `Icon32`.
fn icon() -> Vec<u8> {
    let rgba: Vec<u8> = (0..32 * 32)
        .flat_map(|p| [200, 40, (p % 256) as u8, 255])
        .collect();
    let frame = radc_desktop::icons::Frame::from_rgba(32, 32, rgba).unwrap();
    radc_desktop::icons::render_theme_pngs(&[frame], &[32])
        .remove(0)
        .1
}

/// What a window or a tray needs, over the bus: each workspace's resources
/// with their icons and menu state, showing and hiding them, and a signal
/// whenever a workspace changes, so nobody polls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_are_listed_with_icons_and_changes_are_signalled() {
    let site = Site::start(|root| {
        publish(root);
        std::fs::write(root.join("RDWeb/rdp/pad.rdp"), "full address:s:host1\n").unwrap();
        std::fs::write(root.join("RDWeb/rdp/pad.png"), icon()).unwrap();
        let feed = std::fs::read_to_string(root.join("RDWeb/Feed/webfeed.aspx")).unwrap();
        let feed = feed.replace(
            "    </Resources>",
            r#"      <Resource ID="pad" Title="Notepad" Type="RemoteApp" ShowByDefault="False">
        <Icons><Icon32 Dimensions="32x32" FileType="Png" FileURL="/RDWeb/rdp/pad.png"/></Icons>
        <FileExtensions><FileExtension Name=".txt"/></FileExtensions>
        <Folders><Folder Name="/Office"/></Folders>
        <HostingTerminalServers><HostingTerminalServer>
          <ResourceFile FileExtension=".rdp" URL="/RDWeb/rdp/pad.rdp"/>
          <TerminalServerRef Ref="host1"/>
        </HostingTerminalServer></HostingTerminalServers>
      </Resource>
    </Resources>"#,
        );
        std::fs::write(root.join("RDWeb/Feed/webfeed.aspx"), feed).unwrap();
    });
    let bus = TestBus::start().await;
    let conn = bus.connect().await;
    let workspaces = WorkspacesProxy::new(&conn).await.unwrap();
    let mut changes = workspaces.receive_workspaces_changed().await.unwrap();
    let mut next_change = async || {
        let signal = tokio::time::timeout(Duration::from_secs(10), changes.next())
            .await
            .expect("a WorkspacesChanged signal")
            .unwrap();
        signal.args().unwrap().workspace_id
    };

    let target = format!("http://127.0.0.1:{}", site.port);
    let id = workspaces.subscribe(&target, "", "", true).await.unwrap();
    assert_eq!(next_change().await, id);

    let mut rows = workspaces.list_resources("Contoso Apps").await.unwrap();
    rows.sort();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let (ws, calc_id, title, kind, calc_icon, shown, _, _) = &rows[0];
    assert_eq!(
        (ws.as_str(), calc_id.as_str(), title.as_str(), kind.as_str()),
        ("rdweb.dbus.test", "calc", "Calculator", "RemoteApp")
    );
    assert!(shown);
    assert_eq!(calc_icon, "", "a resource without an icon has none");
    let (_, pad_id, _, _, pad_icon, shown, extensions, folders) = &rows[1];
    assert_eq!(pad_id, "pad");
    assert!(!shown, "ShowByDefault=False");
    assert_eq!(extensions, &[".txt"]);
    assert_eq!(folders, &["/Office"]);
    assert_eq!(pad_icon, "", "not in the menu: no icon rendered for it");

    // Shown through the bus: listed as shown with the icon the menu now
    // has, and the change signalled.
    assert_eq!(
        workspaces.set_shown(&id, "Notepad", true).await.unwrap(),
        "pad"
    );
    assert_eq!(next_change().await, id);
    let rows = workspaces.list_resources("").await.unwrap();
    assert!(rows.iter().all(|r| r.5), "{rows:?}");
    let pad_icon = &rows.iter().find(|r| r.1 == "pad").unwrap().4;
    assert!(pad_icon.contains("/32x32/apps/"), "{pad_icon}");
    let png = std::fs::read(pad_icon).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "the icon is a PNG file");
    let err = workspaces
        .set_shown(&id, "Nothing", true)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("0x80070490"), "{err}");

    let _ = workspaces.refresh(&id).await.unwrap();
    assert_eq!(next_change().await, id);
    workspaces.unsubscribe(&id).await.unwrap();
    assert_eq!(next_change().await, id);
    assert!(workspaces.list_resources("").await.unwrap().is_empty());
}
