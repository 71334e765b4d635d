//! One local client flooding the runtime's report-message API: the runtime
//! stays responsive to everyone else, logs and stores only what each
//! client's rate allows, and keeps its log file under its cap.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::procfs::proc_field;
use common::stats::{percentile, ping_runtime};
use common::{TestBus, Timeouts, eventually};
use futures_util::StreamExt;
use radc_client::proxy::WorkspaceReportMessageProxy;

/// What `radc daemon --log-file` rotates at (radc-subscribe's
/// `MAX_LOG_BYTES`).
const LOG_CAP: u64 = 1024 * 1024;

/// A runtime that keeps its own log file, as `radc` starts it.
async fn runtime_with_log_file() -> TestBus {
    let mut bus = TestBus::bus_only();
    let log = bus.dir.path().join("runtime.log");
    bus.start_runtime_with(
        Timeouts::default(),
        &["--log-file".as_ref(), log.as_os_str()],
        &[],
    )
    .await;
    bus
}

fn log_files(bus: &TestBus) -> (String, u64) {
    let mut text = String::new();
    let mut total = 0;
    for name in ["runtime.log.1", "runtime.log"] {
        if let Ok(t) = std::fs::read_to_string(bus.dir.path().join(name)) {
            total += t.len() as u64;
            text.push_str(&t);
        }
    }
    (text, total)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_client_leaves_the_runtime_responsive_and_others_heard() {
    const CALLS: u32 = 40_000;
    let bus = runtime_with_log_file().await;
    let pid = bus.runtime_pid().unwrap();
    let flooder = bus.connect().await;
    let other = bus.connect().await;
    let pinger = bus.connect().await;
    let other_report = WorkspaceReportMessageProxy::new(&other).await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let pings = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                samples.push(ping_runtime(&pinger).await);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            samples
        })
    };
    let flood = {
        let flooder = flooder.clone();
        tokio::spawn(async move {
            let proxy = WorkspaceReportMessageProxy::new(&flooder).await.unwrap();
            futures_util::stream::iter(0..CALLS)
                .for_each_concurrent(64, |i| {
                    let proxy = proxy.clone();
                    async move {
                        if i % 2 == 0 {
                            proxy
                                .register_error_log_message(&format!("flood-line {i}"))
                                .await
                        } else {
                            proxy
                                .register_error_event("flood.example", 1, "flood", i)
                                .await
                        }
                        .expect("a call over the limit is still answered");
                    }
                })
                .await;
        })
    };
    // While the flood runs, another client is heard, every time.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..10 {
        other_report
            .register_error_log_message(&format!("other-client-line {i}"))
            .await
            .unwrap();
        other_report
            .register_error_event("other.example", 2, "other", i)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    flood.await.unwrap();
    stop.store(true, Ordering::Relaxed);
    let mut samples = pings.await.unwrap();
    assert!(samples.len() >= 5, "too few pings: {}", samples.len());
    let median = percentile(&mut samples, 0.5);
    let worst = percentile(&mut samples, 1.0);
    // Generous bounds: this is a shared test machine, not a benchmark.
    assert!(
        median < Duration::from_millis(250) && worst < Duration::from_secs(5),
        "Ping took {median:?} at the median and {worst:?} at worst during the flood"
    );

    let report = WorkspaceReportMessageProxy::new(&bus.connect().await)
        .await
        .unwrap();
    for i in 0..10 {
        assert!(
            report
                .is_error_message_registered("other.example", 2, "other", i)
                .await
                .unwrap(),
            "the other client's event {i} was dropped with the flood"
        );
    }
    // The flooder's first events were stored; the last ones, sent far over
    // its rate, were not.
    assert!(
        report
            .is_error_message_registered("flood.example", 1, "flood", 1)
            .await
            .unwrap()
    );
    assert!(
        !report
            .is_error_message_registered("flood.example", 1, "flood", CALLS - 1)
            .await
            .unwrap()
    );

    // Dropped ones are summarised, once the flood is over, in one line.
    drop(flooder);
    eventually(
        Duration::from_secs(15),
        "a summary of dropped messages",
        || async {
            log_files(&bus)
                .0
                .contains("answered but not logged or stored")
        },
    )
    .await;
    let (log, bytes) = log_files(&bus);
    for i in 0..10 {
        assert!(
            log.contains(&format!("other-client-line {i}")),
            "{i} missing"
        );
    }
    let flood_lines = log.matches("flood-line").count();
    assert!(
        (50..=400).contains(&flood_lines),
        "{flood_lines} of the flooder's messages were logged; its rate allows about 100 at once and 20/s"
    );
    assert!(bytes < LOG_CAP, "the log grew to {bytes} bytes");
    let rss_kib = proc_field(pid, "status", "VmRSS:");
    assert!(rss_kib < 128 * 1024, "the runtime holds {rss_kib} KiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_file_is_rotated_at_its_cap_while_the_runtime_runs() {
    // Many clients, each within its burst, with the longest messages
    // accepted: several times the cap in all.
    let bus = runtime_with_log_file().await;
    let long = "x".repeat(4000);
    let clients = futures_util::future::join_all((0..24).map(|_| bus.connect())).await;
    futures_util::future::join_all(clients.iter().map(|conn| {
        let long = &long;
        async move {
            let report = WorkspaceReportMessageProxy::new(conn).await.unwrap();
            for i in 0..100 {
                report
                    .register_error_log_message(&format!("long-line {i} {long}"))
                    .await
                    .unwrap();
            }
        }
    }))
    .await;
    let report = WorkspaceReportMessageProxy::new(&clients[0]).await.unwrap();
    let (_, before) = log_files(&bus);
    // 24 × 100 × 4 KB ≈ 9.6 MB were logged; the two files hold the last
    // two megabytes or so, and the runtime still writes to the newest.
    assert!(
        before <= 2 * LOG_CAP + 8192,
        "the log takes {before} bytes on disk"
    );
    assert!(bus.dir.path().join("runtime.log.1").exists());
    assert!(!bus.dir.path().join("runtime.log.2").exists());
    drop(report);
    let late = bus.connect().await;
    WorkspaceReportMessageProxy::new(&late)
        .await
        .unwrap()
        .register_error_log_message("the-last-line")
        .await
        .unwrap();
    eventually(
        Duration::from_secs(5),
        "the last line in the log",
        || async {
            std::fs::read_to_string(bus.dir.path().join("runtime.log"))
                .unwrap_or_default()
                .contains("the-last-line")
        },
    )
    .await;
}
