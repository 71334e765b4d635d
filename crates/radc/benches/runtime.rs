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

use common::procfs::{cpu_ns, cpu_ticks, proc_field, switches, switches_between};
use common::{Answer, TestBus, TestClient, Timeouts};
use futures_util::future::join_all;
use radc_client::proxy::{
    WorkspaceClientExtProxy, WorkspaceRegistrationProxy, WorkspaceScriptableProxy,
};
use radc_client::{Registration, Runtime};
use zbus::Connection;
use zbus::zvariant::ObjectPath;

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let idx = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[idx]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// One timed stretch of calls: calls per second, and the CPU the runtime
/// and the bus daemon spent per call (µs, all threads, by the scheduler's
/// clock).
#[derive(Clone, Copy)]
struct Turn {
    rate: f64,
    runtime_us: f64,
    bus_us: f64,
    /// The runtime's context switches per call (each wake-up of one of
    /// its threads is one).
    runtime_switches: f64,
}

async fn timed<F: std::future::Future<Output = ()>>(pids: (u32, u32), calls: u32, work: F) -> Turn {
    let (runtime0, bus0, sw0) = (cpu_ns(pids.0), cpu_ns(pids.1), switches(pids.0));
    let start = Instant::now();
    work.await;
    let elapsed = start.elapsed();
    let (runtime1, bus1, sw1) = (cpu_ns(pids.0), cpu_ns(pids.1), switches(pids.0));
    let per_call = |ns: u64| ns as f64 / 1000.0 / f64::from(calls);
    Turn {
        rate: f64::from(calls) / elapsed.as_secs_f64(),
        runtime_us: per_call(switches_between(&runtime0, &runtime1)),
        bus_us: per_call(switches_between(&bus0, &bus1)),
        runtime_switches: switches_between(&sw0, &sw1) as f64 / f64::from(calls),
    }
}

/// `n` calls of a method that does no work: `Peer.Ping` (answered inside
/// zbus) or one of the runtime's own.
async fn call_loop(conn: &Connection, interface: &str, method: &str, n: u32) {
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
}

/// `n` times `AddResource` and at once `RemoveResource`, of one exported
/// client object: this measures the runtime, not the SDK's object export.
async fn add_remove_loop(proxy: &WorkspaceRegistrationProxy<'_>, path: &ObjectPath<'_>, n: u32) {
    for _ in 0..n {
        let cookie = proxy.add_resource(path).await.unwrap();
        proxy.remove_resource(cookie).await.unwrap();
    }
}

/// The same pairs as [`add_remove_loop`], sent as bare calls on the
/// connection, as the pings are: the pair without the SDK's proxy.
async fn add_remove_bare(conn: &Connection, path: &ObjectPath<'_>, n: u32) {
    for _ in 0..n {
        let reply = conn
            .call_method(
                Some("org.radc.Runtime"),
                "/org/radc/Runtime",
                Some("org.radc.WorkspaceRegistration1"),
                "AddResource",
                &(path,),
            )
            .await
            .unwrap();
        let cookie: u32 = reply.body().deserialize().unwrap();
        conn.call_method(
            Some("org.radc.Runtime"),
            "/org/radc/Runtime",
            Some("org.radc.WorkspaceRegistration1"),
            "RemoveResource",
            &(cookie,),
        )
        .await
        .unwrap();
    }
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
    let pids = (pid, bus.bus_pid());
    // The client object the pairs register, exported and listed once,
    // before any timing.
    let client = Runtime::with_connection(conn.clone()).await.unwrap();
    let held = client
        .add_resource(TestClient::new("rate", "bench"))
        .await
        .unwrap();
    let path = held.object_path().clone();
    let proxy = WorkspaceRegistrationProxy::new(&conn).await.unwrap();
    wait_listed(&conn, "rate", 1).await;
    // Forty turns of ping, a method of ours and the pair, each turn 500
    // calls (a fifth of a second): a change of load during the run, or of
    // where the scheduler puts the client, the bus daemon and the runtime,
    // hits all three alike, and the ratios are taken within each turn.
    let n = (500 / scale) as u32;
    let turn_count = 40;
    let ping = || call_loop(&conn, "org.freedesktop.DBus.Peer", "Ping", n);
    let own = || call_loop(&conn, "org.radc.Workspace1", "GetProcessId", n);
    let pair = || add_remove_loop(&proxy, &path, n);
    let bare = || add_remove_bare(&conn, &path, n);
    // Warm all four first.
    ping().await;
    own().await;
    pair().await;
    bare().await;
    let mut turns = Vec::new();
    for _ in 0..turn_count {
        turns.push([
            timed(pids, n, ping()).await,
            timed(pids, n, own()).await,
            timed(pids, n, pair()).await,
            timed(pids, n, bare()).await,
        ]);
    }
    let quartiles = |f: &dyn Fn(&[Turn; 4]) -> f64| {
        let mut v: Vec<f64> = turns.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        let at = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        [at(0.25), at(0.5), at(0.75)]
    };
    println!(
        "\n## Registration round trips ({turn_count} turns of {n} each, one connection; medians of the turns)"
    );
    println!(
        "| operation | per second | ratio to ping (quartiles) | runtime CPU per call | bus daemon CPU per call | runtime context switches per call |"
    );
    println!("|---|---|---|---|---|---|");
    let names = [
        "Peer.Ping to the runtime (floor)",
        "Workspace1.GetProcessId (one of our methods, no work)",
        "AddResource + RemoveResource",
        "the same pair as bare calls, without the SDK's proxy",
    ];
    for (i, name) in names.iter().enumerate() {
        let [q1, q2, q3] = quartiles(&|t| t[i].rate / t[0].rate);
        println!(
            "| {name} | {:.0} | {q2:.2} ({q1:.2}–{q3:.2}) | {:.1} µs | {:.1} µs | {:.2} |",
            quartiles(&|t| t[i].rate)[1],
            quartiles(&|t| t[i].runtime_us)[1],
            quartiles(&|t| t[i].bus_us)[1],
            quartiles(&|t| t[i].runtime_switches)[1],
        );
    }
    let [q1, q2, q3] = quartiles(&|t| t[2].runtime_us / (2.0 * t[0].runtime_us));
    println!(
        "\nRuntime CPU of a pair against two pings, within each turn: {q2:.2} ({q1:.2}–{q3:.2})"
    );
    client.remove_resource(held).await.unwrap();
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
