//! Subscribe, refresh and unsubscribe against a real HTTP server on
//! loopback serving a feed and its files (no sign-in: that is
//! `http_login.rs`'s business).

use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::time::Duration;

#[path = "support/static_site.rs"]
mod static_site;

use radc_subscribe::desktop::Roots;
use radc_subscribe::store::Store;
use radc_subscribe::workspace::{self, Options, Progress, WorkspaceError};

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(root: &Path) -> Server {
        let (child, port) = static_site::serve(root, Stdio::null());
        Server { child, port }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn feed(resources: &[(&str, &str)]) -> String {
    let mut out = String::from(
        r#"<?xml version="1.0" encoding="utf-8"?>
<ResourceCollection PubDate="2026-11-24T00:00:00Z" SchemaVersion="2.0" xmlns="http://schemas.microsoft.com/ts/2007/05/tswf">
  <Publisher LastUpdated="2026-11-24T00:00:00Z" Name="Test Apps" ID="rdweb.test" Description="">
    <Resources>
"#,
    );
    for (id, title) in resources {
        out.push_str(&format!(
            r#"      <Resource ID="{id}" Alias="{id}" Title="{title}" LastUpdated="2026-11-24T00:00:00Z" Type="RemoteApp">
        <Icons>
          <IconRaw FileType="Ico" FileURL="/RDWeb/Pages/rdp/{id}.ico" />
          <Icon32 Dimensions="32x32" FileType="Png" FileURL="/RDWeb/Pages/rdp/{id}.png" />
        </Icons>
        <FileExtensions />
        <HostingTerminalServers>
          <HostingTerminalServer>
            <ResourceFile FileExtension=".rdp" URL="/RDWeb/Pages/rdp/{id}.rdp" />
            <TerminalServerRef Ref="host1" />
          </HostingTerminalServer>
        </HostingTerminalServers>
      </Resource>
"#
        ));
    }
    out.push_str(
        r#"    </Resources>
    <TerminalServers>
      <TerminalServer ID="host1" Name="host1" LastUpdated="2026-11-24T00:00:00Z" />
    </TerminalServers>
  </Publisher>
</ResourceCollection>
"#,
    );
    out
}

fn publish(root: &Path, resources: &[(&str, &str)]) {
    let feed_dir = root.join("RDWeb/Feed");
    let files = root.join("RDWeb/Pages/rdp");
    std::fs::create_dir_all(&feed_dir).unwrap();
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(feed_dir.join("webfeed.aspx"), feed(resources)).unwrap();
    for (id, _) in resources {
        std::fs::write(
            files.join(format!("{id}.rdp")),
            format!("full address:s:{id}\n"),
        )
        .unwrap();
        std::fs::write(files.join(format!("{id}.ico")), b"\0\0\x01\0ico").unwrap();
        std::fs::write(files.join(format!("{id}.png")), b"\x89PNG png").unwrap();
    }
}

fn options() -> Options {
    let mut options = Options::default();
    options.http.allow_http = true;
    options.http.timeout = Duration::from_secs(5);
    options
}

/// [`options`] putting menu entries under `dir`.
fn with_desktop(dir: &Path) -> (Roots, Options) {
    let roots = Roots {
        data_home: dir.join("share"),
        config_home: dir.join("config"),
        data_dirs: vec!["/usr/share".into()],
    };
    let options = Options {
        desktop: Some(roots.clone()),
        ..options()
    };
    (roots, options)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_refresh_unsubscribe() {
    let site = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    publish(site.path(), &[("calc", "Calculator"), ("paint", "Paint")]);
    let server = Server::start(site.path());
    let store = Store::new(&home.path().join("config"), &home.path().join("data"));
    let seen = Mutex::new(Vec::new());
    let progress = |p: Progress| seen.lock().unwrap().push(p);
    let desktop_home = tempfile::tempdir().unwrap();
    let (roots, options) = with_desktop(desktop_home.path());
    let entries = |roots: &Roots| -> Vec<String> {
        std::fs::read_dir(roots.data_home.join("applications"))
            .map(|d| {
                let mut names: Vec<String> = d
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".desktop"))
                    .collect();
                names.sort();
                names
            })
            .unwrap_or_default()
    };

    // A bare server: the conventional feed path is tried.
    let input = format!("http://127.0.0.1:{}", server.port);
    let outcome = workspace::subscribe(&store, &input, None, &options, &progress)
        .await
        .unwrap();
    assert_eq!(entries(&roots).len(), 2, "one menu entry per resource");
    assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);
    assert_eq!(outcome.record.id, "rdweb.test");
    assert_eq!(outcome.record.name, "Test Apps");
    assert!(
        outcome
            .record
            .feed_url
            .ends_with("/RDWeb/Feed/webfeed.aspx")
    );
    assert!(outcome.changes.is_none());
    assert_eq!(outcome.resources, 2);
    assert_eq!(
        outcome.record.files.len(),
        6,
        "two .rdp files and four icons"
    );
    let rdp_url = format!("http://127.0.0.1:{}/RDWeb/Pages/rdp/calc.rdp", server.port);
    let rdp = store.file_path(&outcome.record, &rdp_url).unwrap();
    assert_eq!(
        std::fs::read_to_string(&rdp).unwrap(),
        "full address:s:calc\n"
    );
    let last = *seen.lock().unwrap().last().unwrap();
    assert_eq!(last, Progress { done: 6, total: 6 });

    // The server changes: one gone, one renamed, one new.
    publish(site.path(), &[("paint", "Paint 2"), ("word", "Word")]);
    std::fs::remove_file(site.path().join("RDWeb/Pages/rdp/calc.rdp")).unwrap();
    let before = entries(&roots);
    let outcome = workspace::refresh(&store, "rdweb.test", None, &options, &progress)
        .await
        .unwrap();
    let after = entries(&roots);
    assert_eq!(after.len(), 2);
    assert_eq!(
        before.iter().filter(|e| after.contains(e)).count(),
        1,
        "paint's entry stays, calc's goes, word's comes"
    );
    let changes = outcome.changes.unwrap();
    assert_eq!(changes.added, vec!["word".to_string()]);
    assert_eq!(changes.removed, vec!["calc".to_string()]);
    assert_eq!(changes.changed, vec!["paint".to_string()]);
    assert!(!rdp.exists(), "files of removed resources go");
    let generation = outcome.record.generation;

    // The feed disappears: the refresh fails, the last good state stays.
    std::fs::remove_file(site.path().join("RDWeb/Feed/webfeed.aspx")).unwrap();
    let err = workspace::refresh(&store, "rdweb.test", None, &options, &progress)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    let record = store.record("rdweb.test").unwrap().unwrap();
    assert_eq!(record.generation, generation);
    assert!(record.last_error.as_deref().unwrap().contains("404"));
    assert!(store.feed(&record).unwrap().starts_with(b"<?xml"));

    workspace::unsubscribe(&store, "rdweb.test", &options).unwrap();
    assert!(store.record("rdweb.test").unwrap().is_none());
    assert!(matches!(
        workspace::unsubscribe(&store, "rdweb.test", &options),
        Err(WorkspaceError::NotSubscribed(_))
    ));
    let left = walk_files(desktop_home.path());
    assert!(
        left.iter().all(|p| !p.to_string_lossy().contains("radc")),
        "nothing of radc's is left on the desktop: {left:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_first_subscribe_stores_nothing() {
    let site = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let server = Server::start(site.path());
    let store = Store::new(&home.path().join("config"), &home.path().join("data"));
    let nothing = |_: Progress| {};
    let base = format!("http://127.0.0.1:{}", server.port);

    // 404.
    let err = workspace::subscribe(&store, &base, None, &options(), &nothing)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");

    // Truncated XML.
    publish(site.path(), &[("calc", "Calculator")]);
    let path = site.path().join("RDWeb/Feed/webfeed.aspx");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, &text[..text.len() / 2]).unwrap();
    let err = workspace::subscribe(&store, &base, None, &options(), &nothing)
        .await
        .unwrap_err();
    assert!(matches!(err, WorkspaceError::Feed { .. }), "{err:?}");

    // A feed whose .rdp file is missing.
    publish(site.path(), &[("calc", "Calculator")]);
    std::fs::remove_file(site.path().join("RDWeb/Pages/rdp/calc.rdp")).unwrap();
    let err = workspace::subscribe(&store, &base, None, &options(), &nothing)
        .await
        .unwrap_err();
    assert!(
        matches!(err, WorkspaceError::Downloads { count: 1, .. }),
        "{err:?}"
    );

    // Plain http without allowing it.
    let err = workspace::subscribe(&store, &base, None, &Options::default(), &nothing)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--allow-http"), "{err}");

    assert!(store.list().unwrap().is_empty(), "nothing was stored");
    assert!(!home.path().join("data").exists() || walk_files(home.path()).is_empty());
}

fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk_files(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_over_its_byte_budget_keeps_its_last_state() {
    let site = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    publish(site.path(), &[("calc", "Calculator")]);
    let server = Server::start(site.path());
    let store = Store::new(&home.path().join("config"), &home.path().join("data"));
    let input = format!("http://127.0.0.1:{}", server.port);
    let first = workspace::subscribe(&store, &input, None, &options(), &|_| {})
        .await
        .unwrap();

    // The feed grows past what one workspace may store: a large .rdp file.
    publish(site.path(), &[("calc", "Calculator"), ("big", "Big")]);
    std::fs::write(
        site.path().join("RDWeb/Pages/rdp/big.rdp"),
        vec![b'x'; 64 * 1024],
    )
    .unwrap();
    let limit = 48 * 1024;
    let small = Options {
        max_workspace_bytes: limit,
        ..options()
    };
    let err = workspace::refresh(&store, "rdweb.test", None, &small, &|_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(err, WorkspaceError::TooLarge { limit: l } if l == limit),
        "{err:?}"
    );
    assert!(err.to_string().contains("49152 bytes"), "{err}");
    let kept = store.record("rdweb.test").unwrap().unwrap();
    assert_eq!(kept.generation, first.record.generation);
    assert_eq!(kept.files, first.record.files);
    assert_eq!(kept.last_error.as_deref(), Some(err.to_string().as_str()));
    // Within the default budget the same feed is fine.
    let grown = workspace::refresh(&store, "rdweb.test", None, &options(), &|_| {})
        .await
        .unwrap();
    assert_eq!(grown.resources, 2);
}

/// A refresh that fetched the stored feed's very bytes takes them from the
/// record's summary of that feed: it reports what a parse would, and
/// stands aside for one whenever the summary does not cover the state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_feed_again_is_taken_as_it_was_stored() {
    let site = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let desktop_home = tempfile::tempdir().unwrap();
    // Two resources with one ID: the feed is parsed with a warning.
    publish(
        site.path(),
        &[
            ("calc", "Calculator"),
            ("paint", "Paint"),
            ("calc", "Again"),
        ],
    );
    let server = Server::start(site.path());
    let store = Store::new(&home.path().join("config"), &home.path().join("data"));
    let (roots, options) = with_desktop(desktop_home.path());
    let refresh = || workspace::refresh(&store, "rdweb.test", None, &options, &|_| {});
    let input = format!("http://127.0.0.1:{}", server.port);
    let first = workspace::subscribe(&store, &input, None, &options, &|_| {})
        .await
        .unwrap();
    assert_eq!(first.resources, 2);
    assert_eq!(first.warnings.len(), 1, "{:?}", first.warnings);
    let summary = first
        .record
        .summary()
        .expect("a summary of the stored feed");
    assert!(summary.complete, "{summary:?}");

    let again = refresh().await.unwrap();
    assert_eq!(again.resources, 2);
    assert_eq!(again.warnings, first.warnings);
    assert_eq!(again.changes.unwrap(), Default::default());
    assert_eq!(again.record.generation, first.record.generation);
    assert_eq!(again.record.feed_summary, first.record.feed_summary);

    // A stored file went missing: the refresh downloads it again.
    let rdp_url = format!("{input}/RDWeb/Pages/rdp/calc.rdp");
    let rdp = store.file_path(&again.record, &rdp_url).unwrap();
    std::fs::remove_file(&rdp).unwrap();
    let mended = refresh().await.unwrap();
    let rdp = store.file_path(&mended.record, &rdp_url).unwrap();
    assert_eq!(std::fs::read(&rdp).unwrap(), b"full address:s:calc\n");
    assert_eq!(mended.warnings, first.warnings);

    // The menu's manifest and an entry went: the menu is made again from
    // the stored feed.
    let applications = roots.data_home.join("applications");
    let entry = std::fs::read_dir(&applications)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "desktop"))
        .unwrap();
    let manifests = roots.data_home.join("radc/desktop");
    for manifest in std::fs::read_dir(&manifests).unwrap() {
        std::fs::remove_file(manifest.unwrap().path()).unwrap();
    }
    std::fs::remove_file(&entry).unwrap();
    let remade = refresh().await.unwrap();
    assert!(remade.warnings == first.warnings, "{:?}", remade.warnings);
    assert!(entry.exists(), "{} is back", entry.display());

    // An icon could not be downloaded: the summary does not vouch for the
    // state, and the next refresh of the same feed asks for the icon.
    let icon = site.path().join("RDWeb/Pages/rdp/paint.png");
    let icon_bytes = std::fs::read(&icon).unwrap();
    std::fs::remove_file(&icon).unwrap();
    let revalidate = Options {
        revalidate: true,
        ..options.clone()
    };
    let partial = workspace::refresh(&store, "rdweb.test", None, &revalidate, &|_| {})
        .await
        .unwrap();
    assert!(
        partial.warnings.iter().any(|w| w.contains("paint.png")),
        "{:?}",
        partial.warnings
    );
    assert!(!partial.record.summary().unwrap().complete);
    std::fs::write(&icon, &icon_bytes).unwrap();
    let whole = refresh().await.unwrap();
    let icon_url = format!("{input}/RDWeb/Pages/rdp/paint.png");
    let stored = store.file_path(&whole.record, &icon_url).unwrap();
    assert_eq!(std::fs::read(stored).unwrap(), icon_bytes);
    assert!(whole.record.summary().unwrap().complete);
}
