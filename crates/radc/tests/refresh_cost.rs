//! What `radc refresh` writes and downloads, seen from outside: on the
//! filesystem (inode and mtime of every file under the home) and on the
//! test RD Web Access server (which requests it got, with which
//! conditional headers, and what it answered).

mod common;
#[path = "common/file_site.rs"]
mod file_site;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::feed_server::FeedServer;
use file_site::{snapshot, written};
use serde_json::Value;

const TENANT: &str = "cost";
const WORKSPACE: &str = "test-apps";

fn radc(home: &Path, args: &[&str]) -> Output {
    let out = file_site::radc(home, args).output().unwrap();
    assert!(
        out.status.success(),
        "radc {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The file requests the server got since `seen` of them.
fn file_requests(server: &FeedServer, seen: &mut usize) -> Vec<Value> {
    tenant_file_requests(server, TENANT, seen)
}

fn tenant_file_requests(server: &FeedServer, tenant: &str, seen: &mut usize) -> Vec<Value> {
    let stats: Value = serde_json::from_str(&server.control(tenant, "stats", None)).unwrap();
    let all = stats["file_requests"].as_array().unwrap().clone();
    let new = all[*seen..].to_vec();
    *seen = all.len();
    new
}

fn record_path(home: &Path) -> PathBuf {
    let dir = home.join("config/radc/workspaces");
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .unwrap()
}

/// The stored bytes of the file of `url`, as the record says.
fn stored(home: &Path, url_end: &str) -> Vec<u8> {
    let record: Value = serde_json::from_slice(&std::fs::read(record_path(home)).unwrap()).unwrap();
    let (_, name) = record["files"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(url, _)| url.ends_with(url_end))
        .unwrap_or_else(|| panic!("no stored file for {url_end}: {record}"));
    let workspaces = home.join("data/radc/workspaces");
    let key = std::fs::read_dir(&workspaces)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let generation = record["generation"].as_u64().unwrap().to_string();
    std::fs::read(
        key.join(generation)
            .join("files")
            .join(name.as_str().unwrap()),
    )
    .unwrap()
}

#[test]
fn refreshes_write_and_download_only_what_changed() {
    let server = FeedServer::start_plain();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let url = server.feed_url(TENANT, "public");
    let mut seen = 0;

    radc(home, &["subscribe", &url, "--allow-http"]);
    let cold = file_requests(&server, &mut seen);
    assert_eq!(cold.len(), 6, "three resources' icons and .rdp files");
    assert!(
        cold.iter()
            .all(|r| r["if_none_match"].is_null() && r["status"] == 200),
        "{cold:?}"
    );
    let record = record_path(home);

    // Unchanged: each file asked for with its ETag, 304 each time, and
    // nothing written under the home but the record.
    let before = snapshot(home);
    radc(home, &["refresh", WORKSPACE]);
    let after = snapshot(home);
    assert_eq!(written(&before, &after), vec![record.clone()]);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "no path came or went"
    );
    let requests = file_requests(&server, &mut seen);
    assert_eq!(requests.len(), 6, "{requests:?}");
    for request in &requests {
        let etag = request["if_none_match"].as_str().unwrap_or_default();
        assert!(etag.starts_with('"') && etag.len() > 2, "{request}");
        assert!(request["if_modified_since"].is_string(), "{request}");
        assert_eq!(request["status"], 304, "{request}");
    }

    // One resource's .rdp file and icon changed: those two are downloaded
    // and written; the store takes everything else over from before.
    server.control(TENANT, "change", Some(b"calc.rdp"));
    server.control(TENANT, "change", Some(b"calc.png"));
    let before = after;
    radc(home, &["refresh", WORKSPACE]);
    let after = snapshot(home);
    let requests = file_requests(&server, &mut seen);
    let fetched: BTreeSet<&str> = requests
        .iter()
        .filter(|r| r["status"] == 200)
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        fetched,
        BTreeSet::from(["/cost/public/files/calc.png", "/cost/public/files/calc.rdp"])
    );
    assert!(
        requests.iter().all(|r| r["if_none_match"].is_string()),
        "{requests:?}"
    );
    assert!(
        String::from_utf8(stored(home, "calc.rdp"))
            .unwrap()
            .contains("alternate shell:s:v1"),
        "the new .rdp file is stored"
    );
    let store_root = home.join("data/radc/workspaces");
    let mut stored_written: Vec<PathBuf> = written(&before, &after)
        .into_iter()
        .filter(|p| p.starts_with(&store_root) || p.starts_with(home.join("config")))
        .collect();
    stored_written.sort();
    let names: Vec<String> = stored_written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(stored_written.len(), 3, "{stored_written:?}");
    assert!(stored_written.contains(&record), "{stored_written:?}");
    assert!(
        names.iter().filter(|n| n.ends_with(".rdp")).count() == 1
            && names.iter().filter(|n| n.ends_with(".png")).count() == 1,
        "{names:?}"
    );
    // Whatever the menu side rewrote belongs to the changed resource (or
    // is its manifest of what it wrote).
    let manifests = home.join("data/radc/desktop");
    for path in written(&before, &after) {
        if !path.starts_with(&store_root) && path != record && !path.starts_with(&manifests) {
            let name = path.to_string_lossy();
            assert!(
                name.contains("calc") || name.contains("Calculator"),
                "{name} written"
            );
        }
    }

    // New URLs for the same bytes: asked for without any condition, and
    // stored under the new URLs.
    server.control(TENANT, "query", Some(b"?v=2"));
    radc(home, &["refresh", WORKSPACE]);
    let requests = file_requests(&server, &mut seen);
    assert_eq!(requests.len(), 6, "{requests:?}");
    for request in &requests {
        assert!(
            request["path"].as_str().unwrap().ends_with("?v=2"),
            "{request}"
        );
        assert!(request["if_none_match"].is_null(), "{request}");
        assert!(request["if_modified_since"].is_null(), "{request}");
        assert_eq!(request["status"], 200, "{request}");
    }
    let record_json: Value =
        serde_json::from_slice(&std::fs::read(record_path(home)).unwrap()).unwrap();
    let urls: Vec<&String> = record_json["files"].as_object().unwrap().keys().collect();
    assert_eq!(urls.len(), 6);
    assert!(urls.iter().all(|u| u.ends_with("?v=2")), "{urls:?}");
    assert!(
        String::from_utf8(stored(home, "calc.rdp?v=2"))
            .unwrap()
            .contains("alternate shell:s:v1")
    );
}

#[test]
fn files_the_feed_says_are_unchanged_are_not_asked_for() {
    const TENANT: &str = "stamped";
    let server = FeedServer::start_plain();
    server.control(TENANT, "stamp", Some(b"on"));
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let url = server.feed_url(TENANT, "public");
    let mut seen = 0;
    let mut requests = || tenant_file_requests(&server, TENANT, &mut seen);

    radc(home, &["subscribe", &url, "--allow-http"]);
    assert_eq!(requests().len(), 6);
    let record = record_path(home);

    // Every resource has the LastUpdated it had: not one file is asked for,
    // and nothing but the record is written.
    let before = snapshot(home);
    radc(home, &["refresh", WORKSPACE]);
    let after = snapshot(home);
    assert_eq!(requests(), Vec::<Value>::new());
    assert_eq!(written(&before, &after), vec![record.clone()]);

    // --revalidate asks about each file anyway, conditionally.
    radc(home, &["refresh", WORKSPACE, "--revalidate"]);
    let asked = requests();
    assert_eq!(asked.len(), 6, "{asked:?}");
    assert!(asked.iter().all(|r| r["status"] == 304), "{asked:?}");

    // calc's .rdp file changed and the feed says so: calc's two files are
    // asked for (the icon conditionally), nobody else's.
    server.control(TENANT, "change", Some(b"calc.rdp"));
    radc(home, &["refresh", WORKSPACE]);
    let asked = requests();
    let paths: BTreeSet<(&str, i64)> = asked
        .iter()
        .map(|r| (r["path"].as_str().unwrap(), r["status"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        paths,
        BTreeSet::from([
            ("/stamped/public/files/calc.png", 304),
            ("/stamped/public/files/calc.rdp", 200),
        ])
    );
    assert!(
        String::from_utf8(stored(home, "calc.rdp"))
            .unwrap()
            .contains("alternate shell:s:v1"),
        "the new .rdp file is stored"
    );

    // A feed without LastUpdated proves nothing: every file is asked about.
    server.control(TENANT, "stamp", Some(b"off"));
    radc(home, &["refresh", WORKSPACE]);
    assert_eq!(
        requests().len(),
        6,
        "without LastUpdated every file is asked about"
    );

    // Icons whose URLs carry a hash are not asked for again; .rdp files are.
    server.control(TENANT, "query", Some(b"?hash=5f2c"));
    radc(home, &["refresh", WORKSPACE]);
    assert_eq!(requests().len(), 6, "new URLs: all downloaded");
    radc(home, &["refresh", WORKSPACE]);
    let asked = requests();
    let paths: BTreeSet<&str> = asked.iter().map(|r| r["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        BTreeSet::from([
            "/stamped/public/files/calc.rdp?hash=5f2c",
            "/stamped/public/files/desktop.rdp?hash=5f2c",
            "/stamped/public/files/wordpad.rdp?hash=5f2c",
        ])
    );
    assert!(asked.iter().all(|r| r["status"] == 304), "{asked:?}");
}
