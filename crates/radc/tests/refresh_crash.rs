//! `radc subscribe` and `radc refresh` killed (SIGKILL) at random moments
//! while they download and store a workspace whose files change between
//! rounds: what is stored afterwards is always the old state or the new
//! one, whole (the record, its feed, and every file it names, with the
//! bytes of one moment of the server), and the next good run leaves
//! nothing behind that the record does not name.
//!
//! The delays come from a small deterministic generator; its seed is printed
//! and can be set with `RADC_CRASH_SEED` to replay a failure.

#[path = "common/file_site.rs"]
mod file_site;
#[path = "common/rng.rs"]
mod rng;

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use file_site::{FileSite, WORKSPACE_ID};
use rng::Rng;
use serde_json::Value;

const APPS: usize = 40;
const ROUNDS: usize = 100;

/// A home in RAM: SIGKILL keeps the page cache, so this tests the same
/// thing as a disk, without its fsync latency times a hundred rounds.
fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir_in("/dev/shm").unwrap_or_else(|_| tempfile::tempdir().unwrap())
}

fn command(home: &Path, args: &[&str]) -> Command {
    let mut command = file_site::radc(home, args);
    command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // Its own process group, to kill what it started with it.
        .process_group(0);
    command
}

fn run(home: &Path, args: &[&str]) -> Duration {
    let start = Instant::now();
    let out = command(home, args).output().unwrap();
    assert!(
        out.status.success(),
        "radc {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    start.elapsed()
}

/// Starts `radc args` and kills its process group after `delay`.
fn kill_after(home: &Path, args: &[&str], delay: Duration) {
    let mut child = command(home, args).spawn().unwrap();
    std::thread::sleep(delay);
    // SAFETY: kill(2) on the child's own process group.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
    let _ = child.wait();
}

type Contents = BTreeMap<String, Arc<Vec<u8>>>;

/// What the site serves now, by URL.
fn contents(site: &FileSite) -> Contents {
    site.file_paths()
        .into_iter()
        .map(|path| {
            let bytes = site.bytes(&path).unwrap();
            (site.url(&path), bytes)
        })
        .collect()
}

/// The stored state: the record, if any, and the bytes of every file it
/// names (a missing or unreadable file fails the test).
fn stored(home: &Path) -> Option<(Value, Contents)> {
    let records = home.join("config/radc/workspaces");
    let path = std::fs::read_dir(&records)
        .ok()?
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))?;
    let record: Value = serde_json::from_slice(&std::fs::read(&path).unwrap())
        .unwrap_or_else(|e| panic!("{} unreadable: {e}", path.display()));
    let generation = generation_dir(home, &record);
    assert!(
        generation.join("feed.xml").is_file(),
        "{} has no feed",
        generation.display()
    );
    let files = record["files"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(url, name)| {
            let file = generation.join("files").join(name.as_str().unwrap());
            let bytes =
                std::fs::read(&file).unwrap_or_else(|e| panic!("{} of {url}: {e}", file.display()));
            (url.clone(), Arc::new(bytes))
        })
        .collect();
    Some((record, files))
}

fn workspace_dirs(home: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(home.join("data/radc/workspaces"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

fn generation_dir(home: &Path, record: &Value) -> PathBuf {
    let dirs = workspace_dirs(home);
    assert_eq!(dirs.len(), 1, "one workspace: {dirs:?}");
    dirs[0].join(record["generation"].as_u64().unwrap().to_string())
}

/// After a good run: one generation, holding the feed and exactly the
/// record's files; beside the record only its lock.
fn assert_no_orphans(home: &Path, seed: u64) {
    let (record, files) = stored(home).expect("subscribed");
    let generation = generation_dir(home, &record);
    let generations: Vec<_> = std::fs::read_dir(generation.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(generations.len(), 1, "seed {seed}: {generations:?}");
    let mut present: Vec<String> = std::fs::read_dir(generation.join("files"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    present.sort();
    let mut named: Vec<String> = record["files"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    named.sort();
    assert_eq!(present, named, "seed {seed}: files not in the record");
    assert_eq!(files.len(), 3 * APPS);
    let beside: Vec<String> = std::fs::read_dir(home.join("config/radc/workspaces"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".json") && !n.ends_with(".lock"))
        .collect();
    assert!(
        beside.is_empty(),
        "seed {seed}: left beside the record: {beside:?}"
    );
}

#[test]
fn killed_subscribes_and_refreshes_leave_a_whole_state() {
    let seed: u64 = std::env::var("RADC_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_2027);
    eprintln!("RADC_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let site = FileSite::start(APPS, 8);
    let url = site.feed_url();
    let subscribe = ["subscribe", url.as_str(), "--allow-http"];
    let refresh = ["refresh", WORKSPACE_ID];

    // How long each takes when left alone, to spread the kills over it.
    let scratch = tempdir();
    let cold_time = run(scratch.path(), &subscribe);
    site.change("/RDWeb/Pages/app0.rdp");
    let refresh_time = run(scratch.path(), &refresh);
    eprintln!("subscribe {cold_time:?}, refresh {refresh_time:?}");

    let mut home = tempdir();
    let mut kills = (0, 0);
    for round in 0..ROUNDS {
        if round % 5 == 0 {
            // A cold subscribe in a fresh home.
            home = tempdir();
            let now = contents(&site);
            let delay = rng.below(cold_time.as_micros() as u64 * 5 / 4);
            kill_after(home.path(), &subscribe, Duration::from_micros(delay));
            match stored(home.path()) {
                None => kills.0 += 1,
                Some((_, files)) => {
                    assert_eq!(files, now, "seed {seed}, round {round}: not whole");
                }
            }
            run(home.path(), &subscribe);
            assert_no_orphans(home.path(), seed);
            continue;
        }
        // A refresh while some files (or none) changed on the server. What
        // is stored may be older than what the server had before (the
        // last refresh was killed too).
        let (_, old) = stored(home.path()).expect("subscribed");
        for _ in 0..rng.below(4) {
            let path = &site.file_paths()[rng.below((3 * APPS) as u64) as usize];
            site.change(path);
        }
        let new = contents(&site);
        let delay = rng.below(refresh_time.as_micros() as u64 * 5 / 4);
        kill_after(home.path(), &refresh, Duration::from_micros(delay));
        let (_, files) = stored(home.path())
            .unwrap_or_else(|| panic!("seed {seed}, round {round}: the workspace is gone"));
        if files == new && new != old {
            kills.1 += 1;
        }
        assert!(
            files == old || files == new,
            "seed {seed}, round {round}: neither the old state nor the new one"
        );
        if round % 10 == 9 {
            run(home.path(), &refresh);
            assert_no_orphans(home.path(), seed);
            assert_eq!(stored(home.path()).unwrap().1, new);
        }
    }
    eprintln!(
        "subscribes killed before storing: {}, refreshes done before the kill: {}",
        kills.0, kills.1
    );
}
