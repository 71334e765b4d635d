//! What one local client can do to the runtime: a flood of report messages
//! (other callers' latency, the runtime's memory and log during and after)
//! and the resident memory registrations cost. Run with
//!
//! ```sh
//! cargo bench -p radc --bench flood                 # both
//! cargo bench -p radc --bench flood -- --flood      # the flood only
//! cargo bench -p radc --bench flood -- --memory     # memory only
//! cargo bench -p radc --bench flood -- --calls 1000000   # default 200000
//! ```
//!
//! and see BENCHMARKS.md for what each figure means.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::procfs::{cpu_ticks, proc_field};
use common::stats::{ms, percentile, ping_runtime};
use common::{TestBus, TestClient, Timeouts};
use futures_util::StreamExt;
use futures_util::future::join_all;
use radc_client::proxy::{WorkspaceRegistrationProxy, WorkspaceReportMessageProxy};
use radc_client::{Registration, Runtime};
use zbus::Connection;

fn rss_mib(pid: u32) -> f64 {
    proc_field(pid, "status", "VmRSS:") as f64 / 1024.0
}

/// The bench's own `dbus-daemon`: the child of this process by that name.
fn bus_daemon_pid() -> u32 {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let comm_ok = stat.contains("(dbus-daemon)");
            let ppid = stat[stat.rfind(')').unwrap() + 2..]
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u32>().ok());
            comm_ok && ppid == Some(me)
        })
        .expect("the bench's dbus-daemon")
}

/// CPU seconds the runtime, the bus daemon and this process (the flooder
/// and the pinger) have used so far.
fn cpu_seconds(runtime: u32, bus: u32) -> [f64; 3] {
    // SAFETY: sysconf only reads a constant of the system.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    [runtime, bus, std::process::id()].map(|pid| cpu_ticks(pid) as f64 / hz)
}

/// Pings the runtime every 10 ms until `stop`, returning each round trip.
async fn pinger(conn: Connection, stop: Arc<AtomicBool>) -> Vec<Duration> {
    let mut samples = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        samples.push(ping_runtime(&conn).await);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    samples
}

/// `calls` report messages from one connection, 64 in flight, half log
/// messages and half error events (each a new one).
async fn flood(conn: &Connection, calls: u32) -> Duration {
    let proxy = WorkspaceReportMessageProxy::new(conn).await.unwrap();
    let start = Instant::now();
    futures_util::stream::iter(0..calls)
        .for_each_concurrent(64, |i| {
            let proxy = proxy.clone();
            async move {
                let result = if i % 2 == 0 {
                    proxy
                        .register_error_log_message(&format!(
                            "flood message {i}: the quick brown fox jumps over the lazy dog"
                        ))
                        .await
                } else {
                    proxy
                        .register_error_event("flood.example.com", 1, "refresh failed", i)
                        .await
                };
                // Refusals are answers too; only a broken bus is not.
                if let Err(zbus::Error::InputOutput(e)) = result {
                    panic!("the bus went away: {e}");
                }
            }
        })
        .await;
    start.elapsed()
}

/// `calls` report messages sent as fast as the connection takes them,
/// flagged as wanting no reply, as a hostile client would: nothing but the
/// bus slows it down.
async fn flood_no_reply(conn: &Connection, calls: u32) -> Duration {
    use zbus::message::{Flags, Message};
    let start = Instant::now();
    for i in 0..calls {
        let builder = Message::method_call("/org/radc/Runtime", "RegisterErrorLogMessage")
            .unwrap()
            .destination("org.radc.Runtime")
            .unwrap()
            .interface("org.radc.WorkspaceReportMessage1")
            .unwrap()
            .with_flags(Flags::NoReplyExpected)
            .unwrap();
        let msg = builder
            .build(&(format!(
                "flood message {i}: the quick brown fox jumps over the lazy dog"
            ),))
            .unwrap();
        conn.send(&msg).await.unwrap();
    }
    // Wait until the runtime has read them all: its answer to a call sent
    // after them comes after.
    ping_runtime(conn).await;
    start.elapsed()
}

fn log_bytes(bus: &TestBus) -> u64 {
    ["runtime.log", "runtime.log.1"]
        .iter()
        .filter_map(|f| std::fs::metadata(bus.dir.path().join(f)).ok())
        .map(|m| m.len())
        .sum()
}

async fn flood_report(bus: &TestBus, pid: u32, calls: u32, no_reply: bool) {
    let idle_rss = rss_mib(pid);
    let log_before = log_bytes(bus);
    // Latency with nobody flooding, for comparison.
    let quiet = bus.connect().await;
    let mut baseline = Vec::new();
    for _ in 0..300 {
        baseline.push(ping_runtime(&quiet).await);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let pings = tokio::spawn(pinger(quiet, stop.clone()));
    let sampling = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut peak: f64 = 0.0;
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(rss_mib(pid));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            peak
        })
    };
    let flooder = bus.connect().await;
    let bus_pid = bus_daemon_pid();
    let cpu_before = cpu_seconds(pid, bus_pid);
    let took = if no_reply {
        flood_no_reply(&flooder, calls).await
    } else {
        flood(&flooder, calls).await
    };
    let cpu_after = cpu_seconds(pid, bus_pid);
    let end_rss = rss_mib(pid);
    stop.store(true, Ordering::Relaxed);
    let mut during = pings.await.unwrap();
    let peak = sampling.await.unwrap().max(end_rss);
    drop(flooder);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after_rss = rss_mib(pid);
    let log = log_bytes(bus) - log_before;

    println!(
        "## Report-message flood ({calls} calls from one connection, {}, took {:.1} s = {:.0} calls/s)",
        if no_reply {
            "RegisterErrorLogMessage without waiting for replies"
        } else {
            "half each call, 64 in flight"
        },
        took.as_secs_f64(),
        f64::from(calls) / took.as_secs_f64()
    );
    println!("| measure | value |\n|---|---|");
    println!(
        "| other caller's Peer.Ping, quiet: median / p99 | {} / {} |",
        ms(percentile(&mut baseline, 0.5)),
        ms(percentile(&mut baseline, 0.99))
    );
    println!(
        "| other caller's Peer.Ping during the flood: median / p99 ({} pings) | {} / {} |",
        during.len(),
        ms(percentile(&mut during, 0.5)),
        ms(percentile(&mut during, 0.99))
    );
    // Who the 2 cores went to: if the runtime needs less per call than
    // the bus daemon, the queue ahead of other callers builds up before
    // the bus daemon, not before the runtime.
    for (i, who) in ["runtime", "dbus-daemon", "flooder and pinger"]
        .iter()
        .enumerate()
    {
        let used = cpu_after[i] - cpu_before[i];
        println!(
            "| CPU of the {who} during the flood | {used:.2} s ({:.0}% of the time, {:.1} µs per call) |",
            100.0 * used / took.as_secs_f64(),
            used * 1e6 / f64::from(calls)
        );
    }
    println!("| runtime RSS before | {idle_rss:.1} MiB |");
    println!("| runtime RSS peak during | {peak:.1} MiB |");
    println!("| runtime RSS 5 s after | {after_rss:.1} MiB |");
    println!("| log written | {:.1} MB |", log as f64 / 1e6);
}

async fn register(runtimes: &[Arc<Runtime>], total: usize) -> Vec<(usize, Registration)> {
    let mut out = Vec::with_capacity(total);
    // In batches, so the clients' own connections are not the bottleneck.
    for batch in (0..total).collect::<Vec<_>>().chunks(1000) {
        let adds = batch.iter().map(|&i| {
            let idx = i % runtimes.len();
            let rt = runtimes[idx].clone();
            async move {
                let reg = rt
                    .add_resource(TestClient::new("memory", "bench"))
                    .await
                    .unwrap();
                (idx, reg)
            }
        });
        out.extend(join_all(adds).await);
    }
    out
}

async fn listed(conn: &Connection) -> usize {
    WorkspaceRegistrationProxy::new(conn)
        .await
        .unwrap()
        .list_resources()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.1 == "memory")
        .count()
}

async fn memory_report(bus: &TestBus, pid: u32, n: usize) {
    let conn = bus.connect().await;
    let mut runtimes = Vec::new();
    for _ in 0..10 {
        runtimes.push(Arc::new(
            Runtime::with_connection(bus.connect().await).await.unwrap(),
        ));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = rss_mib(pid);
    let regs = register(&runtimes, n).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while listed(&conn).await < n {
        assert!(Instant::now() < deadline, "not all clients were listed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let just_listed = rss_mib(pid);
    // Steady state: the burst's messages and calls are gone, and the
    // runtime has had its quiet period (2 s) to give their memory back.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let with = rss_mib(pid);
    join_all(regs.into_iter().map(|(idx, reg)| {
        let rt = runtimes[idx].clone();
        async move { rt.remove_resource(reg).await.unwrap() }
    }))
    .await;
    assert_eq!(listed(&conn).await, 0);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = rss_mib(pid);
    println!("## Resident memory ({n} registrations over 10 connections)");
    println!("| measure | value |\n|---|---|");
    println!("| runtime RSS idle | {idle:.1} MiB |");
    let per = |rss: f64| (rss - idle) * 1024.0 * 1024.0 / n as f64;
    println!(
        "| runtime RSS with {n} registrations, 1 s after all are listed | {just_listed:.1} MiB ({:.0} bytes each) |",
        per(just_listed)
    );
    println!("| runtime RSS with {n} registrations, 4 s after | {with:.1} MiB |");
    println!("| per registration, 4 s after | {:.0} bytes |", per(with));
    println!("| runtime RSS 5 s after they are removed | {after:.1} MiB |");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let only_flood = args.iter().any(|a| a == "--flood");
    let only_memory = args.iter().any(|a| a == "--memory");
    let calls: u32 = args
        .iter()
        .position(|a| a == "--calls")
        .and_then(|i| args.get(i + 1))
        .map_or(200_000, |n| n.parse().expect("--calls takes a number"));
    let bus = TestBus::start_with(Timeouts {
        grace: 30.0,
        probe: 5.0,
        ..Timeouts::default()
    })
    .await;
    let pid = bus.runtime_pid().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    if !only_flood {
        memory_report(&bus, pid, 10_000).await;
        println!();
    }
    if !only_memory {
        flood_report(&bus, pid, calls, false).await;
        println!();
        flood_report(&bus, pid, calls, true).await;
    }
}
