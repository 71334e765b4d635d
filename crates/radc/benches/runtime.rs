//! Benchmarks of the runtime over a real dbus-daemon, each side by side
//! with its baseline in the same run. Run with
//!
//! ```sh
//! cargo bench -p radc --bench runtime
//! cargo bench -p radc --bench runtime -- --round-trips   # only the idle and round-trip figures
//! ```
//!
//! and see BENCHMARKS.md for what each figure means.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::procfs::{cpu_ticks, proc_field, switches, switches_between};
use common::{Answer, TestBus, TestClient, Timeouts};
use futures_util::future::join_all;
use radc_client::proxy::{
    WorkspaceClientExtProxy, WorkspaceRegistrationProxy, WorkspaceScriptableProxy,
};
use radc_client::{Registration, Runtime};
use zbus::Connection;

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let idx = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[idx]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Round trips per second of a method that does no work: `Peer.Ping`
/// (answered inside zbus) or one of the runtime's own.
async fn call_rate(conn: &Connection, interface: &str, method: &str, n: u32) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        conn.call_method(
            Some("org.radc.Runtime"),
            "/org/radc/Runtime",
            Some(interface),
            method,
            &(),
        )
        .await
        .unwrap();
    }
    f64::from(n) / start.elapsed().as_secs_f64()
}

async fn ping_rate(conn: &Connection, n: u32) -> f64 {
    call_rate(conn, "org.freedesktop.DBus.Peer", "Ping", n).await
}

async fn add_remove_rate(conn: &Connection, n: u32) -> f64 {
    // One exported client object, registered and removed over and over:
    // this measures the runtime, not the SDK's object export.
    let runtime = Runtime::with_connection(conn.clone()).await.unwrap();
    let held = runtime
        .add_resource(TestClient::new("rate", "bench"))
        .await
        .unwrap();
    let path = held.object_path().clone();
    let proxy = WorkspaceRegistrationProxy::new(conn).await.unwrap();
    let start = Instant::now();
    for _ in 0..n {
        let cookie = proxy.add_resource(&path.as_ref()).await.unwrap();
        proxy.remove_resource(cookie).await.unwrap();
    }
    let rate = f64::from(n) / start.elapsed().as_secs_f64();
    runtime.remove_resource(held).await.unwrap();
    rate
}

struct Fleet {
    runtimes: Vec<Arc<Runtime>>,
    registrations: Vec<(usize, Registration)>,
}

/// `total` clients of `workspace` spread over the connections of `fleet`.
async fn register(
    fleet_conns: &[Arc<Runtime>],
    workspace: &str,
    total: usize,
    hung: usize,
) -> Fleet {
    let adds = (0..total + hung).map(|i| {
        let idx = i % fleet_conns.len();
        let rt = fleet_conns[idx].clone();
        let workspace = workspace.to_owned();
        async move {
            let reg = rt
                .add_resource(
                    TestClient::new(workspace, "bench").answering(if i >= total {
                        Answer::Hang
                    } else {
                        Answer::Ok
                    }),
                )
                .await
                .unwrap();
            (idx, reg)
        }
    });
    let registrations = join_all(adds).await;
    Fleet {
        runtimes: fleet_conns.to_vec(),
        registrations,
    }
}

async fn wait_listed(conn: &Connection, workspace: &str, count: usize) {
    let proxy = WorkspaceRegistrationProxy::new(conn).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = proxy
            .list_resources()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.1 == workspace)
            .count();
        if listed >= count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {listed} of {count} clients were listed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn clear(fleet: Fleet) {
    join_all(fleet.registrations.into_iter().map(|(idx, reg)| {
        let rt = fleet.runtimes[idx].clone();
        async move {
            let _ = rt.remove_resource(reg).await;
        }
    }))
    .await;
}

/// Median and p99 of DisconnectWorkspace over `n` clients, and of the same
/// clients disconnected one after another by a caller.
async fn fan_out(
    conn: &Connection,
    fleet_conns: &[Arc<Runtime>],
    n: usize,
    rounds: usize,
) -> [Duration; 4] {
    let scriptable = WorkspaceScriptableProxy::new(conn).await.unwrap();
    let mut concurrent = Vec::new();
    let mut sequential = Vec::new();
    for round in 0..rounds {
        let ws = format!("fan-{n}-{round}");
        let fleet = register(fleet_conns, &ws, n, 0).await;
        wait_listed(conn, &ws, n).await;
        let start = Instant::now();
        let rows = scriptable.disconnect_workspace(&ws).await.unwrap();
        concurrent.push(start.elapsed());
        assert_eq!(rows.len(), n);
        assert!(rows.iter().all(|r| r.1 == "ok"));

        // Baseline: the same clients, IssueDisconnect one after another.
        let start = Instant::now();
        for (idx, reg) in &fleet.registrations {
            let dest = fleet.runtimes[*idx]
                .connection()
                .unique_name()
                .unwrap()
                .to_owned();
            let proxy = WorkspaceClientExtProxy::builder(conn)
                .destination(dest)
                .unwrap()
                .path(reg.object_path().clone())
                .unwrap()
                .cache_properties(zbus::proxy::CacheProperties::No)
                .build()
                .await
                .unwrap();
            proxy.issue_disconnect().await.unwrap();
        }
        sequential.push(start.elapsed());
        clear(fleet).await;
    }
    [
        percentile(&mut concurrent, 0.5),
        percentile(&mut concurrent, 0.99),
        percentile(&mut sequential, 0.5),
        percentile(&mut sequential, 0.99),
    ]
}

/// RSS, CPU time and context switches of the runtime over `idle`.
async fn idle_report(pid: u32, idle: Duration, label: &str) {
    let rss = proc_field(pid, "status", "VmRSS:");
    let (cpu0, sw0) = (cpu_ticks(pid), switches(pid));
    tokio::time::sleep(idle).await;
    let (cpu1, sw1) = (cpu_ticks(pid), switches(pid));
    let ticks_per_sec = 100.0; // USER_HZ on Linux
    println!("## Idle runtime, {label} ({} s)", idle.as_secs());
    println!("| measure | value |\n|---|---|");
    println!("| RSS | {:.1} MiB |", rss as f64 / 1024.0);
    println!(
        "| CPU time while idle | {:.0} ms |",
        (cpu1 - cpu0) as f64 / ticks_per_sec * 1000.0
    );
    println!(
        "| context switches while idle (all threads) | {} |",
        switches_between(&sw0, &sw1)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    // Only the idle figures and the registration round trips (a minute).
    let round_trips_only = std::env::args().any(|a| a == "--round-trips");
    let scale: usize = if quick { 10 } else { 1 };
    let bus = TestBus::start_with(Timeouts {
        disconnect: 1.0,
        grace: 30.0,
        probe: 2.0,
        ..Timeouts::default()
    })
    .await;
    let pid = bus.runtime_pid().unwrap();
    let idle = Duration::from_secs(if quick { 2 } else { 10 });
    tokio::time::sleep(Duration::from_millis(500)).await;
    idle_report(pid, idle, "fresh").await;

    let conn = bus.connect().await;
    // Five turns of ping, a method of ours and the pair, each turn a fifth
    // of the calls: a change of load during the run hits all three alike,
    // and the ratios are taken within each turn.
    let n = (4_000 / scale) as u32;
    // Warm both paths first.
    ping_rate(&conn, 500).await;
    add_remove_rate(&conn, 500).await;
    let mut turns = Vec::new();
    for _ in 0..5 {
        let ping = ping_rate(&conn, n).await;
        let own = call_rate(&conn, "org.radc.Workspace1", "GetProcessId", n).await;
        let pair = add_remove_rate(&conn, n).await;
        turns.push([ping, own, pair]);
    }
    let median = |f: &dyn Fn(&[f64; 3]) -> f64| {
        let mut v: Vec<f64> = turns.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "\n## Registration round trips (5 turns of {n} each, one connection; medians of the turns)"
    );
    println!("| operation | per second | ratio to ping |\n|---|---|---|");
    println!(
        "| Peer.Ping to the runtime (floor) | {:.0} | 1.00 |",
        median(&|t| t[0])
    );
    println!(
        "| Workspace1.GetProcessId (one of our methods, no work) | {:.0} | {:.2} |",
        median(&|t| t[1]),
        median(&|t| t[1] / t[0])
    );
    println!(
        "| AddResource + RemoveResource | {:.0} | {:.2} |",
        median(&|t| t[2]),
        median(&|t| t[2] / t[0])
    );
    let ratios: Vec<String> = turns
        .iter()
        .map(|t| format!("{:.2}", t[2] / t[0]))
        .collect();
    println!("\nPair to ping in each turn: {}", ratios.join(" / "));
    if round_trips_only {
        return;
    }

    let mut fleet_conns = Vec::new();
    for _ in 0..10 {
        fleet_conns.push(Arc::new(
            Runtime::with_connection(bus.connect().await).await.unwrap(),
        ));
    }
    println!("\n## DisconnectWorkspace fan-out (clients over 10 connections)");
    println!(
        "| clients | rounds | concurrent median | concurrent p99 | one-by-one median | one-by-one p99 |"
    );
    println!("|---|---|---|---|---|---|");
    for (clients, rounds) in [
        (1, 200 / scale),
        (100, 50 / scale),
        (1000, 20 / scale.min(4)),
    ] {
        let [cm, cp, sm, sp] = fan_out(&conn, &fleet_conns, clients, rounds.max(3)).await;
        println!(
            "| {clients} | {} | {} | {} | {} | {} |",
            rounds.max(3),
            ms(cm),
            ms(cp),
            ms(sm),
            ms(sp)
        );
    }

    let scriptable = WorkspaceScriptableProxy::new(&conn).await.unwrap();
    let fleet = register(&fleet_conns, "hung", 99, 1).await;
    wait_listed(&conn, "hung", 100).await;
    let start = Instant::now();
    let rows = scriptable.disconnect_workspace("hung").await.unwrap();
    let took = start.elapsed();
    let timeouts = rows.iter().filter(|r| r.1 == "timeout").count();
    println!("\n## One hung client among 100 (disconnect timeout 1 s)");
    println!("| total wall time | outcomes `timeout` | outcomes `ok` |\n|---|---|---|");
    println!(
        "| {} | {timeouts} | {} |",
        ms(took),
        rows.iter().filter(|r| r.1 == "ok").count()
    );
    clear(fleet).await;

    // Let the last removals settle, then idle again, now with history.
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!();
    idle_report(pid, idle, "after all the runs above").await;
}
