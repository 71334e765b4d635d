//! `radc subscribe`, `workspaces`, `resources`, `refresh` and `unsubscribe`
//! as a user runs them, against the test RD Web Access server (TLS with a
//! test CA, sign-in through pyspnego's independent NTLM implementation).

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::feed_server::FeedServer;
use common::site::Site;
use serde_json::Value;

/// A `radc` command with its own XDG directories and no session bus (so no
/// Secret Service: the password is used once and not stored).
fn radc(home: &std::path::Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_radc"))
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}/no-bus", home.display()),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn subscribe_with_ntlm_then_list_and_unsubscribe() {
    let server = FeedServer::start();
    let home = tempfile::tempdir().unwrap();
    let ca = server.certs.path().join("ca.pem");
    let ca = ca.to_str().unwrap();
    let url = server.feed_url("cli", "normal");

    // Wrong password: a clear error, exit 1, nothing stored, password not echoed.
    let out = radc(
        home.path(),
        &[
            "subscribe",
            &url,
            "-u",
            "RADCTEST\\alice",
            "--password-stdin",
            "--ca-file",
            ca,
        ],
        "not-the-password\n",
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("rejected"), "{err}");
    assert!(!err.contains("not-the-password"), "{err}");

    // Without the test CA the certificate is refused, with a hint.
    let out = radc(
        home.path(),
        &[
            "subscribe",
            &url,
            "-u",
            "RADCTEST\\alice",
            "--password-stdin",
        ],
        "Secr3t-pw\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--ca-file"),
        "{}",
        text(&out.stderr)
    );

    let out = radc(home.path(), &["workspaces", "--json"], "");
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        Value::Array(vec![])
    );

    // The right password.
    let out = radc(
        home.path(),
        &[
            "subscribe",
            &url,
            "-u",
            "RADCTEST\\alice",
            "--password-stdin",
            "--ca-file",
            ca,
            "--json",
        ],
        "Secr3t-pw\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let subscribed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(subscribed["id"], "test");
    assert_eq!(subscribed["url"], url.as_str());
    assert_eq!(subscribed["username"], "RADCTEST\\alice");
    assert!(
        text(&out.stderr).contains("not stored"),
        "without a Secret Service the user is told: {}",
        text(&out.stderr)
    );
    let config = std::fs::read_dir(home.path().join("config/radc/workspaces"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    assert!(
        !config.contains("Secr3t-pw"),
        "no password in the stored record"
    );

    let out = radc(home.path(), &["workspaces", "--json"], "");
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["id"], "test");
    assert_eq!(listed[0]["resource_count"], 0);
    assert!(listed[0]["last_refresh_unix_ms"].as_u64().unwrap() > 1_600_000_000_000);
    assert!(listed[0]["last_error"].is_null());
    let out = radc(home.path(), &["workspaces"], "");
    let shown = text(&out.stdout);
    assert!(
        shown.contains("last refreshed ") && shown.contains(" ago"),
        "{shown}"
    );

    let out = radc(home.path(), &["resources", "test", "--json"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        Value::Array(vec![])
    );

    // Without a keyring and without a terminal there is no password to
    // refresh with: say so, keep the stored state.
    let out = radc(home.path(), &["refresh", "test", "--ca-file", ca], "");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("needs the password of RADCTEST\\alice"),
        "{err}"
    );
    let out = radc(home.path(), &["workspaces", "--json"], "");
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["id"], "test");

    let out = radc(home.path(), &["unsubscribe", "test"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = radc(home.path(), &["unsubscribe", "test"], "");
    assert_eq!(out.status.code(), Some(5), "not found");
    assert!(
        text(&out.stderr).contains("radc workspaces"),
        "{}",
        text(&out.stderr)
    );
}

fn feed_url(site: &Site) -> String {
    format!("{}/RDWeb/Feed/webfeed.aspx", site.url())
}

/// Serves a feed listing these `(id, title)` resources (titles are
/// inserted as given, so they may hold character references) and their
/// `.rdp` files.
fn publish(site: &Site, resources: &[(String, String)]) {
    let feed_dir = site.root.path().join("RDWeb/Feed");
    let rdp_dir = site.root.path().join("rdp");
    std::fs::create_dir_all(&feed_dir).unwrap();
    std::fs::create_dir_all(&rdp_dir).unwrap();
    let mut feed = String::from(
        r#"<?xml version="1.0" encoding="utf-8"?>
<ResourceCollection SchemaVersion="2.1" xmlns="http://schemas.microsoft.com/ts/2007/05/tswf">
  <Publisher ID="rdweb.test" Name="Test Apps"><Resources>
"#,
    );
    for (id, title) in resources {
        feed.push_str(&format!(
            r#"<Resource ID="{id}" Title="{title}" Type="RemoteApp"><HostingTerminalServers><HostingTerminalServer><ResourceFile FileExtension=".rdp" URL="/rdp/{id}.rdp"/></HostingTerminalServer></HostingTerminalServers></Resource>
"#
        ));
        std::fs::write(
            rdp_dir.join(format!("{id}.rdp")),
            format!("full address:s:{id}.test\n"),
        )
        .unwrap();
    }
    feed.push_str("</Resources></Publisher></ResourceCollection>\n");
    std::fs::write(feed_dir.join("webfeed.aspx"), feed).unwrap();
}

fn resources(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(id, title)| (id.to_string(), title.to_string()))
        .collect()
}

/// A new home subscribed to `site`'s feed over plain http.
fn subscribed_home(site: &Site) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let out = radc(
        home.path(),
        &["subscribe", &feed_url(site), "--allow-http"],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    home
}

/// The `Name=` of every desktop entry radc wrote, sorted.
fn entry_names(home: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(home.join("data/applications"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "desktop"))
        .flat_map(|path| {
            std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .filter_map(|line| line.strip_prefix("Name=").map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn titles_that_hide_or_reorder_characters_are_stored_and_shown_clean() {
    let site = Site::start(|_| {});
    publish(
        &site,
        &resources(&[
            // A right-to-left override, written raw and as a reference.
            ("invoice", "Invoice\u{202E}gpj.exe"),
            ("calc", "Cal&#x200B;cu\u{200D}la&#xFEFF;tor"),
            ("isolate", "&#x2067;x&#x2069;"),
        ]),
    );
    let home = subscribed_home(&site);

    let out = radc(home.path(), &["resources", "--json"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut titles: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (row["id"].as_str().unwrap(), row["title"].as_str().unwrap()))
        .collect();
    titles.sort_unstable();
    assert_eq!(
        titles,
        [
            ("calc", "Calculator"),
            ("invoice", "Invoicegpj.exe"),
            ("isolate", "x")
        ]
    );

    // The plain listing reaches a terminal too.
    let out = radc(home.path(), &["resources"], "");
    let listing = text(&out.stdout);
    assert!(listing.contains("Invoicegpj.exe"), "{listing}");
    assert!(
        !listing.contains(['\u{202E}', '\u{200B}', '\u{200D}', '\u{FEFF}', '\u{2067}']),
        "{listing:?}"
    );

    assert_eq!(
        entry_names(home.path()),
        ["Calculator", "Invoicegpj.exe", "x"]
    );
}

/// `count` resources `app0`, `app1`, ... titled `App 0`, ...
fn many(count: usize) -> Vec<(String, String)> {
    (0..count)
        .map(|index| (format!("app{index}"), format!("App {index}")))
        .collect()
}

#[test]
fn a_refresh_to_an_oversized_feed_fails_and_keeps_the_previous_resources() {
    let site = Site::start(|_| {});
    publish(&site, &many(2));
    let home = subscribed_home(&site);

    publish(&site, &many(2001));
    let limit_message = "the feed lists 2001 resources; radc accepts at most 2000";
    let out = radc(home.path(), &["refresh", "--allow-http"], "");
    assert_ne!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(err.contains(limit_message), "{err}");

    let out = radc(home.path(), &["refresh", "--allow-http", "--json"], "");
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(text(&out.stderr), "", "nothing but JSON");
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|error| panic!("{error}: {}", text(&out.stdout)));
    assert_eq!(report[0]["id"], "rdweb.test");
    let last_error = report[0]["last_error"].as_str().unwrap_or_default();
    assert!(last_error.contains(limit_message), "{report}");
    // The same count as `radc workspaces --json` gives below: what is
    // still stored.
    assert_eq!(report[0]["resource_count"], 2, "{report}");

    // Nothing of the refused feed was stored: the two resources remain,
    // in the listing and in the menu.
    let out = radc(home.path(), &["resources", "--json"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["app0", "app1"]);
    assert_eq!(entry_names(home.path()), ["App 0", "App 1"]);
    let out = radc(home.path(), &["workspaces", "--json"], "");
    let workspaces: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(workspaces[0]["resource_count"], 2);
}

/// `radc resources` shows, per workspace, an aligned table of what the
/// menu has: type, title, shown or hidden, the file types each opens, its
/// folders and its id.
#[test]
fn resources_are_listed_in_aligned_columns() {
    let site = Site::start(|root| {
        std::fs::create_dir_all(root.join("RDWeb/Feed")).unwrap();
        std::fs::create_dir_all(root.join("rdp")).unwrap();
        for id in ["wordpad", "desktop"] {
            std::fs::write(
                root.join(format!("rdp/{id}.rdp")),
                "full address:s:host.test\n",
            )
            .unwrap();
        }
        std::fs::write(
            root.join("RDWeb/Feed/webfeed.aspx"),
            r#"<?xml version="1.0" encoding="utf-8"?>
<ResourceCollection SchemaVersion="2.1" xmlns="http://schemas.microsoft.com/ts/2007/05/tswf">
  <Publisher ID="rdweb.test" Name="Test Apps"><Resources>
    <Resource ID="wordpad" Title="WordPad" Type="RemoteApp">
      <FileExtensions><FileExtension Name=".txt"/><FileExtension Name=".rtf"/></FileExtensions>
      <Folders><Folder Name="/Office"/><Folder Name="/Editors"/></Folders>
      <HostingTerminalServers><HostingTerminalServer><ResourceFile FileExtension=".rdp" URL="/rdp/wordpad.rdp"/></HostingTerminalServer></HostingTerminalServers>
    </Resource>
    <Resource ID="desktop" Title="A Much Longer Desktop Title" Type="Desktop">
      <HostingTerminalServers><HostingTerminalServer><ResourceFile FileExtension=".rdp" URL="/rdp/desktop.rdp"/></HostingTerminalServer></HostingTerminalServers>
    </Resource>
  </Resources></Publisher></ResourceCollection>
"#,
        )
        .unwrap();
    });
    let home = subscribed_home(&site);
    let out = radc(home.path(), &["hide", "desktop"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let out = radc(home.path(), &["resources"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let listing = text(&out.stdout);
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines[0], "Test Apps (rdweb.test): 2 resources", "{listing}");
    let header = lines[1];
    let column = |name: &str| header.find(name).unwrap_or_else(|| panic!("{header}"));
    let rows: Vec<&str> = lines[2..].to_vec();
    assert_eq!(rows.len(), 2, "{listing}");
    let row_of = |title: &str| *rows.iter().find(|r| r.contains(title)).unwrap();
    let wordpad = row_of("WordPad");
    let desktop = row_of("A Much Longer Desktop Title");
    // Every column starts where its heading does.
    for (name, wordpad_cell, desktop_cell) in [
        ("TITLE", "WordPad", "A Much Longer Desktop Title"),
        ("MENU", "shown", "hidden"),
        ("OPENS", ".txt,.rtf", "-"),
        ("FOLDERS", "/Office /Editors", "-"),
        ("ID", "wordpad", "desktop"),
    ] {
        let at = column(name);
        assert_eq!(
            &wordpad[at..at + wordpad_cell.len()],
            wordpad_cell,
            "{listing}"
        );
        assert_eq!(
            &desktop[at..at + desktop_cell.len()],
            desktop_cell,
            "{listing}"
        );
    }
    assert!(wordpad.trim_start().starts_with("RemoteApp"), "{listing}");
    assert!(desktop.trim_start().starts_with("Desktop"), "{listing}");
}

/// A server that cannot be found or does not answer is told in one
/// sentence that says what to check, not as a chain of library errors.
#[test]
fn unreachable_servers_are_one_sentence_with_what_to_check() {
    let home = tempfile::tempdir().unwrap();
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    for (url, said) in [
        (
            "https://rdweb.nonexistent.invalid/".to_owned(),
            "cannot find the server rdweb.nonexistent.invalid: its name does not resolve; \
             check the address, and your network connection or VPN",
        ),
        (
            format!("https://127.0.0.1:{closed}/"),
            "nothing answers at 127.0.0.1:PORT (connection refused); check the address and \
             port, and that the server is running",
        ),
    ] {
        let said = said.replace("PORT", &closed.to_string());
        let out = radc(home.path(), &["subscribe", &url], "");
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(text(&out.stderr).trim_end(), format!("radc: {said}"));
        let out = radc(home.path(), &["subscribe", "--json", &url], "");
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["error"], said.as_str());
    }
}
