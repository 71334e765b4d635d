//! What a subscribe and a refresh cost against what they download, in one
//! run. Run with
//!
//! ```sh
//! cargo bench -p radc --bench subscribe
//! ```
//!
//! A loopback HTTP/1.1 server (keep-alive, `ETag` and `Last-Modified` on
//! every file, `304` to a matching conditional request) publishes a feed of
//! 1,000 RemoteApps, each with an `.ico`, a 32×32 PNG and an `.rdp` file.
//! Measured:
//!
//! - a bare sequential download of the feed and its 3,000 files over one
//!   keep-alive connection (a plain reqwest client): the floor;
//! - a cold `radc subscribe`, end to end, menu entries and icons included,
//!   in a fresh home (these two three times, in turns; the medians, with
//!   files written and answers of the first);
//! - an unchanged `radc refresh` (the median of five; files written and
//!   answers of the first);
//! - a `radc refresh` after one resource's `.rdp` file and icons changed.
//!
//! Each is printed in ms and as a share of the cold subscribe, with the
//! files it wrote under the home (files whose inode and mtime no file had
//! before) and the answers the server gave (200 and 304).

#[path = "../tests/common/file_site.rs"]
mod file_site;

use std::path::Path;
use std::time::{Duration, Instant};

use file_site::{FEED_PATH, FileSite, WORKSPACE_ID, snapshot, written};

const APPS: usize = 1000;

fn run(home: &Path, args: &[&str]) -> Duration {
    let start = Instant::now();
    let out = file_site::radc(home, args).output().unwrap();
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "radc {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let site = FileSite::start(APPS, 32);
    let mut paths = vec![FEED_PATH.to_owned()];
    paths.extend(site.file_paths());

    // reqwest is built without a TLS provider of its own here (radc's
    // client brings one); plain http needs none, but the builder asks.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The floor: the same files one after another on one connection.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let bare_download = || async {
        let start = Instant::now();
        let mut bytes = 0;
        for path in &paths {
            let body = client
                .get(site.url(path))
                .send()
                .await
                .unwrap()
                .error_for_status()
                .unwrap()
                .bytes()
                .await
                .unwrap();
            bytes += body.len();
        }
        (start.elapsed(), bytes)
    };

    // Three of each, taken in turns, so that a change of load hits both
    // alike; the medians are shown. Each cold subscribe has a fresh home of
    // its own, on disk (not /dev/shm: the fsyncs are part of what is
    // measured), and all stay until the end: deleting one would leave the
    // next to the file system's slow allocation of just-freed inodes.
    let feed_url = site.feed_url();
    let mut bares = Vec::new();
    let mut colds = Vec::new();
    let mut homes = Vec::new();
    let mut first = None;
    for _ in 0..3 {
        let (took, bytes) = bare_download().await;
        let bare_answers = site.answers();
        bares.push(took);
        let home = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let before = snapshot(home.path());
        colds.push(run(home.path(), &["subscribe", &feed_url, "--allow-http"]));
        let after = snapshot(home.path());
        let cold_answers = site.answers();
        first.get_or_insert((
            bytes,
            bare_answers,
            written(&before, &after).len(),
            cold_answers,
            after,
        ));
        homes.push(home);
    }
    let (bytes, bare_answers, cold_written, cold_answers, after_cold) = first.unwrap();
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (bare_runs, cold_runs) = (bares.clone(), colds.clone());
    let (bare, cold) = (median(bares), median(colds));
    // The refreshes run in the first home.
    let home = &homes[0];

    let unchanged = run(home.path(), &["refresh", WORKSPACE_ID]);
    let after_unchanged = snapshot(home.path());
    let unchanged_written = written(&after_cold, &after_unchanged).len();
    let unchanged_answers = site.answers();
    // A single refresh swings by a fifth: the median of five.
    let mut again: Vec<Duration> = (0..4)
        .map(|_| run(home.path(), &["refresh", WORKSPACE_ID]))
        .chain([unchanged])
        .collect();
    again.sort();
    let unchanged = again[2];
    let _ = site.answers();
    let after_unchanged = snapshot(home.path());

    for ext in ["rdp", "png", "ico"] {
        site.change(&format!("/RDWeb/Pages/app7.{ext}"));
    }
    let one = run(home.path(), &["refresh", WORKSPACE_ID]);
    let after_one = snapshot(home.path());
    let one_written = written(&after_unchanged, &after_one).len();
    let one_answers = site.answers();

    println!(
        "{} RemoteApps, {} files, {} KiB, on loopback HTTP/1.1",
        APPS,
        paths.len(),
        bytes / 1024
    );
    println!(
        "{:<34} {:>9} {:>9} {:>14} {:>10}",
        "", "ms", "of cold", "files written", "200/304"
    );
    let row = |what: &str, took: Duration, files: Option<usize>, answers: (usize, usize)| {
        println!(
            "{:<34} {:>9.1} {:>8.1}% {:>14} {:>10}",
            what,
            ms(took),
            100.0 * took.as_secs_f64() / cold.as_secs_f64(),
            files.map_or("-".into(), |n| n.to_string()),
            format!("{}/{}", answers.0, answers.1),
        );
    };
    row("bare sequential download", bare, None, bare_answers);
    row(
        "cold radc subscribe",
        cold,
        Some(cold_written),
        cold_answers,
    );
    row(
        "unchanged radc refresh",
        unchanged,
        Some(unchanged_written),
        unchanged_answers,
    );
    row(
        "refresh, 1 of 1000 changed",
        one,
        Some(one_written),
        one_answers,
    );
    println!(
        "cold subscribe / bare download: {:.1}x",
        cold.as_secs_f64() / bare.as_secs_f64()
    );
    let list = |v: &[Duration]| {
        v.iter()
            .map(|d| format!("{:.1}", ms(*d)))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    println!(
        "in turn: bare {} ms, cold {} ms",
        list(&bare_runs),
        list(&cold_runs)
    );
}
