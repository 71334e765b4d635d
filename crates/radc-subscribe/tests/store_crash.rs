//! A process killed (SIGKILL) at any moment while it stores refreshes
//! leaves either the old state or the new one, never a mix.

use std::process::{Command, Stdio};
use std::time::Duration;

use radc_subscribe::store::{Download, FileKind, Store, WorkspaceRecord};

const ID: &str = "rdweb.crash.test";
const WRITER_ENV: &str = "RADC_STORE_CRASH_WRITER";

fn refresh_contents(n: u64) -> (Vec<u8>, Vec<Download>) {
    let feed = format!("<feed generation='{n}'/>").into_bytes();
    let downloads = (0..20)
        .map(|i| Download {
            url: format!("https://h/{n}/{i}.rdp"),
            kind: FileKind::Rdp,
            bytes: format!("full address:s:host{n}-{i}\n")
                .repeat(200)
                .into_bytes(),
        })
        .collect();
    (feed, downloads)
}

/// The writer half: runs only when re-executed by the test below, and then
/// commits refreshes until it is killed.
#[test]
fn writer() {
    let Some(root) = std::env::var_os(WRITER_ENV) else {
        return;
    };
    let root = std::path::PathBuf::from(root);
    let store = Store::new(&root.join("config"), &root.join("data"));
    for n in 1.. {
        let (feed, downloads) = refresh_contents(n);
        let record = store
            .record(ID)
            .unwrap()
            .unwrap_or_else(|| WorkspaceRecord::new(ID, "Crash", "https://h/", 0));
        store.commit(record, &feed, &downloads).unwrap();
    }
}

#[test]
fn a_kill_at_any_moment_leaves_a_whole_state() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(&dir.path().join("config"), &dir.path().join("data"));
    let me = std::env::current_exe().unwrap();
    let mut seen_generations = Vec::new();
    for round in 0..25u64 {
        let mut child = Command::new(&me)
            .args(["--exact", "writer", "--nocapture", "--test-threads=1"])
            .env(WRITER_ENV, dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // On a loaded machine the writer may take long to start: the first
        // round waits for its first commit, so that every later kill has a
        // state to keep.
        if round == 0 {
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while store.record(ID).unwrap().is_none() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        // Vary the moment of death.
        std::thread::sleep(Duration::from_millis(20 + (round * 7) % 60));
        child.kill().unwrap();
        child.wait().unwrap();

        let Some(record) = store.record(ID).unwrap() else {
            // On a loaded machine the first writers may die before their
            // first commit; once a state exists it must never vanish.
            assert!(
                seen_generations.is_empty(),
                "the state vanished after round {round}"
            );
            continue;
        };
        let feed = store.feed(&record).unwrap();
        let marker = String::from_utf8(feed).unwrap();
        let n: u64 = marker
            .trim_start_matches("<feed generation='")
            .trim_end_matches("'/>")
            .parse()
            .unwrap_or_else(|_| panic!("torn feed: {marker:?}"));
        let (expected_feed, downloads) = refresh_contents(n);
        assert_eq!(marker.as_bytes(), expected_feed.as_slice());
        assert_eq!(record.files.len(), downloads.len());
        for download in &downloads {
            let path = store.file_path(&record, &download.url).unwrap();
            assert_eq!(
                std::fs::read(&path).unwrap(),
                download.bytes,
                "file {} of refresh {n} is torn or missing",
                download.url
            );
        }
        seen_generations.push(record.generation);
    }
    assert!(
        seen_generations.windows(2).all(|w| w[0] <= w[1]),
        "{seen_generations:?}"
    );
    assert!(!seen_generations.is_empty(), "the writer never committed");
}
