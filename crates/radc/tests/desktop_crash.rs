//! `radc refresh` and `radc unsubscribe` killed (SIGKILL) at random
//! moments, before, during and after they write the desktop files: the next
//! good run must leave exactly the files a clean subscription to the same
//! feed leaves, and an unsubscribe nothing at all.
//!
//! The delays come from a small deterministic generator; its seed is printed
//! and can be set with `RADC_CRASH_SEED` to replay a failure.

#[path = "common/rng.rs"]
mod rng;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use radc_desktop::icons::{Frame, render_theme_pngs};
use rng::Rng;

const SMALL: usize = 50;
const LARGE: usize = 600;
const ROUNDS: usize = 100;
const USER_MIMEAPPS: &str = "[Default Applications]\ntext/plain=gedit.desktop;\n\n[Added Associations]\ntext/plain=gedit.desktop;\n";

/// A minimal HTTP/1.1 server on loopback (keep-alive, so a refresh's
/// thousand downloads do not cost a thousand connections): the feed, which
/// the test replaces, and every resource's `.rdp` file and icon.
struct Site {
    port: u16,
    files: Arc<Mutex<HashMap<String, Arc<Vec<u8>>>>>,
}

impl Site {
    fn start() -> Site {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut files = HashMap::new();
        for i in 0..LARGE {
            let rdp = format!("full address:s:host{i}\n").into_bytes();
            files.insert(format!("/RDWeb/Pages/app{i}.rdp"), Arc::new(rdp));
            files.insert(format!("/RDWeb/Pages/app{i}.png"), Arc::new(icon(i)));
        }
        let files = Arc::new(Mutex::new(files));
        let served = files.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().filter_map(Result::ok) {
                let files = served.clone();
                std::thread::spawn(move || serve(stream, &files));
            }
        });
        Site { port, files }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}{FEED_PATH}", self.port)
    }

    /// Publishes the feed with the first `resources` applications.
    fn publish(&self, resources: usize) {
        let feed = Arc::new(feed(resources).into_bytes());
        self.files.lock().unwrap().insert(FEED_PATH.into(), feed);
    }
}

const FEED_PATH: &str = "/RDWeb/Feed/webfeed.aspx";

fn serve(stream: TcpStream, files: &Mutex<HashMap<String, Arc<Vec<u8>>>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let _ = writer.set_nodelay(true);
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header.trim().is_empty() {
                break;
            }
        }
        let path = request.split_whitespace().nth(1).unwrap_or("");
        let body = files.lock().unwrap().get(path).cloned();
        let head = match &body {
            Some(body) => format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()),
            None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_string(),
        };
        // One write: a header and body sent apart wait for a delayed ACK.
        let mut response = head.into_bytes();
        response.extend_from_slice(body.as_deref().map_or(&[], Vec::as_slice));
        if writer.write_all(&response).is_err() {
            return;
        }
    }
}

/// A feed whose every resource has its own icon, an entry, a menu folder
/// and a document type nobody knows (so MIME packages and associations
/// come and go with it).
fn feed(resources: usize) -> String {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="utf-8"?>
<ResourceCollection PubDate="2026-11-24T00:00:00Z" SchemaVersion="2.1" xmlns="http://schemas.microsoft.com/ts/2007/05/tswf">
  <Publisher LastUpdated="2026-11-24T00:00:00Z" Name="Crash Apps" ID="crash.test" Description="">
    <Resources>
"#,
    );
    for i in 0..resources {
        xml.push_str(&format!(
            r#"      <Resource ID="app{i}" Alias="app{i}" Title="Application {i}" LastUpdated="2026-11-24T00:00:00Z" Type="RemoteApp">
        <Icons><Icon32 Dimensions="8x8" FileType="Png" FileURL="/RDWeb/Pages/app{i}.png"/></Icons>
        <FileExtensions><FileExtension Name=".radccrash{}"/></FileExtensions>
        <Folders><Folder Name="/Group {}"/></Folders>
        <HostingTerminalServers><HostingTerminalServer>
          <ResourceFile FileExtension=".rdp" URL="/RDWeb/Pages/app{i}.rdp"/>
          <TerminalServerRef Ref="host1"/>
        </HostingTerminalServer></HostingTerminalServers>
      </Resource>
"#,
            i % 7,
            i % 5
        ));
    }
    xml.push_str(
        r#"    </Resources>
    <TerminalServers><TerminalServer ID="host1" Name="host1" LastUpdated="2026-11-24T00:00:00Z"/></TerminalServers>
  </Publisher>
</ResourceCollection>
"#,
    );
    xml
}

/// An 8×8 PNG of its own for every resource. So small an icon is only
/// rendered at 16×16 (never more than twice enlarged), which keeps the
/// refreshes of a debug build quick.
fn icon(seed: usize) -> Vec<u8> {
    let mut rgba = Vec::with_capacity(8 * 8 * 4);
    for p in 0..8 * 8 {
        rgba.extend_from_slice(&[seed as u8, (seed >> 8) as u8, (p * 3) as u8, 255]);
    }
    let frame = Frame::from_rgba(8, 8, rgba).unwrap();
    render_theme_pngs(&[frame], &[8]).remove(0).1
}

/// A place for XDG trees. SIGKILL keeps the page cache, so a RAM-backed
/// directory tests the same thing as a disk, without the machine's fsync
/// latency multiplied by thousands of files and a hundred rounds.
fn tempdir() -> tempfile::TempDir {
    match tempfile::tempdir_in("/dev/shm") {
        Ok(dir) => dir,
        Err(_) => tempfile::tempdir().unwrap(),
    }
}

/// A user's home with its own XDG directories and no session bus.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        let home = Home { dir: tempdir() };
        std::fs::create_dir_all(home.config()).unwrap();
        std::fs::create_dir_all(home.data()).unwrap();
        std::fs::write(home.config().join("mimeapps.list"), USER_MIMEAPPS).unwrap();
        home
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, args: &[&str]) -> Command {
        let home = self.dir.path();
        let mut command = Command::new(env!("CARGO_BIN_EXE_radc"));
        command
            .args(args)
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", self.config())
            .env("XDG_DATA_HOME", self.data())
            .env("XDG_STATE_HOME", home.join("state"))
            .env_remove("XDG_DATA_DIRS")
            .env(
                "DBUS_SESSION_BUS_ADDRESS",
                format!("unix:path={}/no-bus", home.display()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, to find the cache tools it started.
            .process_group(0);
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().unwrap();
        assert!(
            out.status.success(),
            "radc {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn applications(&self) -> usize {
        std::fs::read_dir(self.data().join("applications"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".desktop"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// Whether a desktop sync was cut short: its stored manifest still has
    /// files of unknown contents.
    fn sync_interrupted(&self) -> bool {
        walk(&self.data().join("radc/desktop"))
            .iter()
            .any(|path| std::fs::read_to_string(path).is_ok_and(|text| text.contains(": null")))
    }

    /// The inode of the workspace's stored manifest, which every store
    /// (an atomic rename) changes.
    fn manifest_inode(&self) -> Option<u64> {
        use std::os::unix::fs::MetadataExt;
        let path = walk(&self.data().join("radc/desktop"))
            .into_iter()
            .find(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))?;
        std::fs::metadata(path).ok().map(|m| m.ino())
    }

    /// Every file under the XDG homes, as comparable as two trees written
    /// at different times can be: the store's generation number and
    /// timestamps aside, contents are compared exactly, and the two caches
    /// whose line order follows directory order are compared as sets.
    fn snapshot(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (top, root) in [("config", self.config()), ("data", self.data())] {
            for path in walk(&root) {
                let rel = path
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let parts: Vec<&str> = rel.split('/').collect();
                let bytes = std::fs::read(&path).unwrap();
                let (key, value) = match parts.as_slice() {
                    // The store: generation directories are numbered, records
                    // carry times.
                    ["radc", "workspaces", key, _generation, rest @ ..] if top == "data" => (
                        format!("radc/workspaces/{key}/N/{}", rest.join("/")),
                        digest(&bytes),
                    ),
                    ["radc", "workspaces", record] if top == "config" => {
                        (rel.clone(), format!("record {record}"))
                    }
                    ["applications", "mimeinfo.cache"] | ["mime", "globs2"] | ["mime", "globs"] => {
                        let lines: BTreeSet<String> = String::from_utf8_lossy(&bytes)
                            .lines()
                            .map(|l| {
                                let mut parts: Vec<&str> = l.split([';', '=']).collect();
                                parts.sort();
                                parts.join(" ")
                            })
                            .collect();
                        (rel.clone(), format!("{lines:?}"))
                    }
                    // Binary databases built from the same packages in
                    // another order; the text ones above stand for them.
                    ["mime", "mime.cache"] => (rel.clone(), String::new()),
                    // The stamp of the last sync names inodes and times.
                    ["radc", "desktop", stamp] if stamp.ends_with(".synced") => {
                        (rel.clone(), "stamp".into())
                    }
                    _ => (rel.clone(), digest(&bytes)),
                };
                out.insert(format!("{top}/{key}"), value);
            }
        }
        out
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

fn digest(bytes: &[u8]) -> String {
    // FNV-1a and the length: only equality matters here.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{} bytes, {hash:016x}", bytes.len())
}

/// What differs between two snapshots, for a readable failure.
fn difference(got: &BTreeMap<String, String>, want: &BTreeMap<String, String>) -> String {
    let mut lines = Vec::new();
    for (k, v) in got {
        match want.get(k) {
            None => lines.push(format!("+ {k}")),
            Some(w) if w != v => lines.push(format!("~ {k}: {} instead of {}", cut(v), cut(w))),
            _ => {}
        }
    }
    lines.extend(
        want.keys()
            .filter(|k| !got.contains_key(*k))
            .map(|k| format!("- {k}")),
    );
    let total = lines.len();
    lines.truncate(20);
    format!("{total} differences, first: {lines:#?}")
}

fn cut(text: &str) -> String {
    match text.char_indices().nth(300) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Waits until nothing of the process group `pgid` runs any more: a killed
/// radc's cache tools finish on their own, and must before the next check.
fn wait_for_group(pgid: u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let alive = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| {
                std::fs::read_to_string(e.path().join("stat"))
                    .ok()
                    .and_then(|stat| {
                        let after = &stat[stat.rfind(')')? + 2..];
                        let fields: Vec<&str> = after.split(' ').collect();
                        // state ppid pgrp: a zombie is not running anything.
                        Some(fields.get(2)? == &pgid.to_string().as_str() && fields[0] != "Z")
                    })
                    .unwrap_or(false)
            });
        if !alive {
            return;
        }
        assert!(Instant::now() < deadline, "process group {pgid} still runs");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Kills `child` (SIGKILL) and waits for what it started.
fn kill(mut child: Child) {
    let _ = child.kill();
    child.wait().unwrap();
    wait_for_group(child.id());
}

/// Kills `child` once `ready` holds (polled as fast as possible); fails if
/// the process ended first, so a kill at that point really happened.
fn kill_when(child: Child, ready: impl Fn() -> bool, what: &str) {
    let mut child = child;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("radc ended ({status}) before {what}");
        }
        assert!(Instant::now() < deadline, "never reached {what}");
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "radc ended before {what}"
    );
    kill(child);
}

#[test]
fn killed_refreshes_and_unsubscribes_leave_no_trace() {
    let seed: u64 = std::env::var("RADC_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_2026);
    eprintln!("RADC_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let site = Site::start();
    let url = site.url();
    let subscribe = ["subscribe", url.as_str(), "--allow-http"];
    let refresh = ["refresh", "crash.test"];

    // What a clean subscription to each feed leaves, in trees of their own.
    let before = Home::new().snapshot();
    let mut expected = BTreeMap::new();
    for size in [SMALL, LARGE] {
        site.publish(size);
        let clean = Home::new();
        clean.run(&subscribe);
        assert_eq!(clean.applications(), size);
        expected.insert(size, clean.snapshot());
    }
    assert!(
        expected[&LARGE].len() > 3 * LARGE,
        "icons, entries, the store and the rest"
    );

    let home = Home::new();
    site.publish(SMALL);
    home.run(&subscribe);
    assert_eq!(home.snapshot(), expected[&SMALL]);

    // How long a refresh takes each way, and when its desktop sync runs
    // (the stored manifest has files of unknown contents), to spread the
    // kills over both.
    let mut timing = BTreeMap::new();
    for size in [LARGE, SMALL] {
        site.publish(size);
        let start = Instant::now();
        let mut child = home.command(&refresh).spawn().unwrap();
        let mut window: Option<(Duration, Duration)> = None;
        while child.try_wait().unwrap().is_none() {
            if home.sync_interrupted() {
                let now = start.elapsed();
                window = Some(window.map_or((now, now), |(first, _)| (first, now)));
            }
        }
        let total = start.elapsed();
        assert!(child.wait().unwrap().success());
        wait_for_group(child.id());
        let got = home.snapshot();
        assert!(
            got == expected[&size],
            "{}",
            difference(&got, &expected[&size])
        );
        let (first, last) = window.unwrap_or((total / 2, total / 2));
        timing.insert(size, (total, first, last));
    }
    eprintln!("refresh (total, desktop sync from, to): {timing:?}");

    let mut size = SMALL;
    let mut interrupted = 0;
    let started = Instant::now();
    for round in 0..ROUNDS {
        size = if size == SMALL { LARGE } else { SMALL };
        site.publish(size);
        // Half anywhere in the refresh and a little after; half amid its
        // desktop sync, counted from the moment it stores its first
        // manifest (the start of a process varies too much under load to
        // hit a window of a few milliseconds from the outside).
        let (total, first, last) = timing[&size];
        let amid = rng.below(2) == 0;
        let delay = if amid {
            Duration::from_micros(rng.below((last - first).as_micros() as u64 + 5_000))
        } else {
            let span = total.as_micros() as u64;
            Duration::from_micros(rng.below(span + span / 5))
        };
        let stored = home.manifest_inode();
        let mut child = home.command(&refresh).spawn().unwrap();
        if amid {
            while home.manifest_inode() == stored && child.try_wait().unwrap().is_none() {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
        std::thread::sleep(delay);
        kill(child);
        if home.sync_interrupted() {
            interrupted += 1;
        }
        // Sometimes the feed changes again before the next good refresh.
        if rng.below(4) == 0 {
            size = if size == SMALL { LARGE } else { SMALL };
            site.publish(size);
        }
        home.run(&refresh);
        let got = home.snapshot();
        assert!(
            got == expected[&size],
            "seed {seed}, round {round}, killed after {delay:?}, feed of {size}: {}",
            difference(&got, &expected[&size])
        );
    }
    eprintln!(
        "{ROUNDS} killed refreshes in {:?}, {interrupted} of them amid the desktop sync",
        started.elapsed()
    );
    assert!(
        interrupted >= ROUNDS / 10,
        "seed {seed}: only {interrupted} kills landed amid the desktop sync"
    );

    // The worst point: a feed that grew, killed with ~200 new entries written.
    if size == LARGE {
        site.publish(SMALL);
        home.run(&refresh);
    }
    site.publish(LARGE);
    let child = home.command(&refresh).spawn().unwrap();
    kill_when(
        child,
        || home.applications() >= SMALL + 200,
        "200 new entries",
    );
    assert!(home.applications() < LARGE, "killed midway");
    home.run(&refresh);
    let got = home.snapshot();
    assert!(
        got == expected[&LARGE],
        "{}",
        difference(&got, &expected[&LARGE])
    );

    // Unsubscribe killed halfway through the removal, then run again.
    let child = home
        .command(&["unsubscribe", "crash.test"])
        .spawn()
        .unwrap();
    kill_when(
        child,
        || home.applications() <= LARGE - 200,
        "200 entries removed",
    );
    assert!(home.applications() > 0, "killed midway");
    home.run(&["unsubscribe", "crash.test"]);
    assert_nothing_left(&home, &before, seed);

    // A refresh killed mid-entries, then an unsubscribe.
    site.publish(SMALL);
    home.run(&subscribe);
    site.publish(LARGE);
    let child = home.command(&refresh).spawn().unwrap();
    kill_when(
        child,
        || home.applications() >= SMALL + 200,
        "200 new entries",
    );
    home.run(&["unsubscribe", "crash.test"]);
    assert_nothing_left(&home, &before, seed);
}

/// Only what was there before the subscription, the caches radc had
/// rebuilt (and which no longer mention it), and empty directories.
fn assert_nothing_left(home: &Home, before: &BTreeMap<String, String>, seed: u64) {
    let after = home.snapshot();
    let extra: Vec<&String> = after
        .keys()
        .filter(|k| !before.contains_key(*k))
        .filter(|k| {
            let cache = k.as_str() == "data/applications/mimeinfo.cache"
                || (k.starts_with("data/mime/") && !k.starts_with("data/mime/packages/"));
            let path = home.dir.path().join(k);
            let mentions = std::fs::read(&path)
                .map(|b| String::from_utf8_lossy(&b).contains("radc"))
                .unwrap_or(true);
            !cache || mentions
        })
        .collect();
    assert!(extra.is_empty(), "seed {seed}: left behind: {extra:#?}");
    assert_eq!(
        std::fs::read_to_string(home.config().join("mimeapps.list")).unwrap(),
        USER_MIMEAPPS,
        "seed {seed}"
    );
}
