//! Feeds that attack other workspaces or the user's machine, through the
//! command line and the runtime's D-Bus API: a feed renaming itself after
//! another subscription, and feeds naming files on other servers.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::TestBus;
use common::site::Site;
use radc_client::proxy::{WorkspaceScriptableProxy, WorkspacesProxy};

/// A feed of publisher `id` with one RemoteApp per `(resource id, title)`;
/// each names its `.rdp` file and icon at `rdp`/`icon` (relative URLs are
/// the feed's own server).
fn feed(id: &str, resources: &[(&str, &str)], rdp: &str, icon: &str) -> String {
    let mut out = format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<ResourceCollection SchemaVersion="2.1" xmlns="http://schemas.microsoft.com/ts/2007/05/tswf">
  <Publisher ID="{id}" Name="Apps of {id}">
    <Resources>
"#
    );
    for (res, title) in resources {
        let rdp = rdp.replace("{res}", res);
        let icon = icon.replace("{res}", res);
        out.push_str(&format!(
            r#"      <Resource ID="{res}" Title="{title}" Type="RemoteApp">
        <Icons><Icon32 Dimensions="32x32" FileType="Png" FileURL="{icon}"/></Icons>
        <HostingTerminalServers><HostingTerminalServer>
          <ResourceFile FileExtension=".rdp" URL="{rdp}"/>
          <TerminalServerRef Ref="host1"/>
        </HostingTerminalServer></HostingTerminalServers>
      </Resource>
"#
        ));
    }
    out.push_str(
        r#"    </Resources>
    <TerminalServers><TerminalServer ID="host1" Name="host1"/></TerminalServers>
  </Publisher>
</ResourceCollection>
"#,
    );
    out
}

/// Publishes `feed` with `.rdp` files (pointing at `server`) and icons for
/// `resources` under the conventional RD Web paths.
fn publish(root: &Path, feed: &str, resources: &[&str], server: &str) {
    std::fs::create_dir_all(root.join("RDWeb/Feed")).unwrap();
    std::fs::create_dir_all(root.join("RDWeb/rdp")).unwrap();
    std::fs::write(root.join("RDWeb/Feed/webfeed.aspx"), feed).unwrap();
    for res in resources {
        std::fs::write(
            root.join(format!("RDWeb/rdp/{res}.rdp")),
            format!("full address:s:{server}\r\nremoteapplicationprogram:s:||{res}\r\n"),
        )
        .unwrap();
        std::fs::write(
            root.join(format!("RDWeb/rdp/{res}.png")),
            b"\x89PNG\r\n\x1a\n not decoded by these tests",
        )
        .unwrap();
    }
}

const RDP: &str = "/RDWeb/rdp/{res}.rdp";
const ICON: &str = "/RDWeb/rdp/{res}.png";

fn feed_url(site: &Site) -> String {
    format!("{}/RDWeb/Feed/webfeed.aspx", site.url())
}

fn run(bus: &TestBus, args: &[&str]) -> Output {
    bus.radc().args(args).output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every file under `dir` with its bytes.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            out.extend(tree(&path));
        } else {
            out.insert(path.clone(), std::fs::read(&path).unwrap());
        }
    }
    out
}

/// The files of the victim's workspace: its record, its stored generation
/// and its desktop files (their names carry the workspace's stem).
fn victim_files(bus: &TestBus) -> BTreeMap<PathBuf, Vec<u8>> {
    let home = bus.env().into_iter().find(|(k, _)| *k == "HOME").unwrap().1;
    let home = PathBuf::from(home);
    let mut all = tree(&bus.config_home());
    all.extend(tree(&home.join(".local/share")));
    all.into_iter()
        .filter(|(p, _)| p.to_string_lossy().contains("victim"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_cannot_take_over_another_workspace() {
    let victim = Site::start(|root| {
        let f = feed("victim.corp", &[("payroll", "Payroll")], RDP, ICON);
        publish(root, &f, &["payroll"], "rds.victim.corp");
    });
    let hostile = Site::start(|root| {
        let f = feed("hostile.test", &[("game", "Game")], RDP, ICON);
        publish(root, &f, &["game"], "rds.hostile.test");
    });
    let bus = TestBus::start().await;
    let conn = bus.connect().await;
    let workspaces = WorkspacesProxy::new(&conn).await.unwrap();

    // The victim through the runtime, the other feed through the CLI.
    let id = workspaces
        .subscribe(&feed_url(&victim), "", "", true)
        .await
        .unwrap();
    assert_eq!(id, "victim.corp");
    let out = run(&bus, &["subscribe", "--allow-http", &feed_url(&hostile)]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The victim's web page gave its credentials for this session.
    let scriptable = WorkspaceScriptableProxy::new(&conn).await.unwrap();
    scriptable
        .start_workspace("victim.corp", "VICTIM\\alice", "s3cret", "", 0, 0)
        .await
        .unwrap();
    // Subscribed workspaces show in `radc status` before anything connects.
    let out = run(&bus, &["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Apps of victim.corp (victim.corp): no connections")
            && text.contains("Apps of hostile.test (hostile.test): no connections"),
        "{text}"
    );
    let out = run(&bus, &["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        status["workspaces"].as_array().unwrap().len(),
        2,
        "{status}"
    );
    assert_eq!(status["workspaces"][0]["subscribed"], true, "{status}");
    let before = victim_files(&bus);
    assert!(
        before
            .keys()
            .any(|p| p.extension().is_some_and(|e| e == "desktop")),
        "the victim has menu entries: {:?}",
        before.keys()
    );

    // The second feed now claims the victim's publisher ID, with a resource
    // of the victim's name whose .rdp file points at its own server.
    let claim = feed("victim.corp", &[("payroll", "Payroll")], RDP, ICON);
    publish(
        hostile.root.path(),
        &claim,
        &["payroll"],
        "harvest.hostile.test",
    );

    // Refreshing it, by the runtime and by the CLI, is refused.
    let rows = workspaces.refresh("hostile.test").await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, "hostile.test");
    assert!(rows[0].1.contains("now calls itself"), "{rows:?}");
    let out = run(&bus, &["refresh", "--allow-http", "hostile.test"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(r#"now calls itself "victim.corp" instead of "hostile.test""#),
        "{}",
        stderr(&out)
    );
    let out = run(&bus, &["refresh", "--allow-http", "--json", "hostile.test"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("now calls itself"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // So is subscribing to it afresh, which would replace the victim.
    let out = run(&bus, &["subscribe", "--allow-http", &feed_url(&hostile)]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("already subscribed from {}", victim.url())),
        "{}",
        stderr(&out)
    );
    let err = workspaces
        .subscribe(&feed_url(&hostile), "", "", true)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already subscribed from"), "{err}");

    // The victim's record, stored feed, files and menu entries are
    // byte-for-byte what they were, and its credentials are still its own.
    assert_eq!(victim_files(&bus), before);
    assert!(
        scriptable
            .is_workspace_credential_specified("victim.corp", true)
            .await
            .unwrap()
    );
    assert!(
        !scriptable
            .is_workspace_credential_specified("hostile.test", true)
            .await
            .unwrap()
    );
    let rows = workspaces.list_workspaces().await.unwrap();
    let row = |id: &str| rows.iter().find(|r| r.0 == id).unwrap().clone();
    assert_eq!(row("victim.corp").2, feed_url(&victim));
    assert_eq!(row("victim.corp").4, "");
    assert_eq!(row("hostile.test").2, feed_url(&hostile));
    assert!(row("hostile.test").4.contains("now calls itself"));

    // And the victim's refreshes still go to the victim's server only.
    let hostile_seen = hostile.requests().len();
    let victim_seen = victim.requests().len();
    let rows = workspaces.refresh("victim.corp").await.unwrap();
    assert_eq!(rows, vec![("victim.corp".to_owned(), String::new())]);
    assert!(victim.requests().len() > victim_seen);
    assert_eq!(hostile.requests().len(), hostile_seen);
    let out = run(&bus, &["resources", "--json", "victim.corp"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Payroll") && !text.contains("Game"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_a_feed_names_on_other_servers_are_not_fetched() {
    // A service on the user's machine that no feed should reach.
    let internal = Site::start(|root| {
        std::fs::create_dir_all(root.join("internal")).unwrap();
        std::fs::write(root.join("internal/admin"), "full address:s:secret\r\n").unwrap();
    });
    let target = format!("{}/internal/admin?x=1", internal.url());
    let site = Site::start(|root| {
        let f = feed("probe.test", &[("app", "App")], RDP, &target);
        publish(root, &f, &["app"], "rds.probe.test");
    });
    let bus = TestBus::bus_only();

    // An icon elsewhere is skipped with a warning; the subscription stands.
    let out = run(&bus, &["subscribe", "--allow-http", &feed_url(&site)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = format!("{}{}", stderr(&out), String::from_utf8_lossy(&out.stdout));
    assert!(said.contains("not fetched"), "{said}");
    assert!(said.contains(&target), "{said}");

    // An .rdp file elsewhere makes the refresh fail and keeps what was.
    let f = feed(
        "probe.test",
        &[("app", "App"), ("new", "New")],
        &target,
        ICON,
    );
    publish(site.root.path(), &f, &["app", "new"], "rds.probe.test");
    let out = run(&bus, &["refresh", "--allow-http", "probe.test"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not fetched"), "{}", stderr(&out));
    let out = run(&bus, &["resources", "--json", "probe.test"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\"App\"") && !text.contains("\"New\""),
        "{text}"
    );

    assert_eq!(
        internal.requests(),
        Vec::<String>::new(),
        "the internal service was never asked"
    );
    assert!(!site.requests().is_empty(), "the feed's own server was");

    // A workspace that never had a password leaves without a word about
    // the Secret Service.
    let out = run(&bus, &["unsubscribe", "probe.test"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
}
