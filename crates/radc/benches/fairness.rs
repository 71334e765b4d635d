//! How long an honest client waits while other clients misbehave, over a
//! real dbus-daemon and `radc daemon`. Run with
//!
//! ```sh
//! cargo bench -p radc --bench fairness
//! ```
//!
//! and see BENCHMARKS.md ("One client cannot slow another").

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::unfair::{CountingHang, Slow, record_removals, register_silent, time_to_listed};
use common::{TestBus, Timeouts};
use futures_util::future::join_all;
use radc_client::Runtime;
use radc_client::proxy::{RuntimeProxy, WorkspaceRegistrationProxy, WorkspaceScriptableProxy};
use zbus::zvariant::ObjectPath;

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// A time-to-listed; `None` was not listed within 20 s.
fn listed(d: Option<Duration>) -> String {
    d.map_or_else(|| "> 20 s".to_owned(), ms)
}

/// Time-to-listed of five honest clients, one after another, in workspaces
/// of their own: (median, worst); one not listed within 20 s ends the
/// series.
async fn honest_waits(bus: &TestBus, runtime: &RuntimeProxy<'_>, tag: &str) -> (String, String) {
    let mut waits = Vec::new();
    for i in 0..5 {
        let workspace = format!("{tag}{i}.example.com");
        let Some(waited) = time_to_listed(bus, runtime, &workspace).await else {
            return (format!("{} of 5 listed", waits.len()), listed(None));
        };
        waits.push(waited);
    }
    waits.sort();
    (ms(waits[2]), ms(waits[4]))
}

/// Runtime defaults: probe 2 s, IssueDisconnect 5 s.
fn defaults() -> Timeouts {
    Timeouts {
        probe: 2.0,
        disconnect: 5.0,
        grace: 30.0,
        ..Timeouts::default()
    }
}

async fn hanging_probes() {
    let bus = TestBus::start_with(defaults()).await;
    let observer = bus.connect().await;
    let runtime = RuntimeProxy::new(&observer).await.unwrap();
    let (quiet, _) = honest_waits(&bus, &runtime, "quiet").await;
    let silent = bus.connect().await;
    register_silent(&silent, 4096).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (median, worst) = honest_waits(&bus, &runtime, "busy").await;
    println!("| honest client listed, nothing else running | {} |", quiet);
    println!(
        "| honest client listed, another connection has 4,096 hanging probes (median / worst of 5) | {} / {} |",
        median, worst
    );
}

async fn disconnect_storm() {
    const CLIENTS: usize = 40;
    const STORM: usize = 1000;
    let bus = TestBus::start_with(defaults()).await;
    let observer = bus.connect().await;
    let runtime = RuntimeProxy::new(&observer).await.unwrap();
    let ws = "stuck.example.com";
    let asked = Arc::new(AtomicUsize::new(0));
    let owners = [
        Runtime::with_connection(bus.connect().await).await.unwrap(),
        Runtime::with_connection(bus.connect().await).await.unwrap(),
    ];
    let mut held = Vec::new();
    for i in 0..CLIENTS {
        held.push(
            owners[i % 2]
                .add_resource(CountingHang {
                    workspace: ws.into(),
                    asked: asked.clone(),
                })
                .await
                .unwrap(),
        );
    }
    while runtime.list_connections().await.unwrap().len() < CLIENTS {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut callers = Vec::new();
    for _ in 0..STORM {
        callers.push(bus.connect().await);
    }
    let t0 = Instant::now();
    let storm = tokio::spawn(async move {
        let calls = callers.iter().map(|conn| async move {
            let scriptable = WorkspaceScriptableProxy::new(conn).await.unwrap();
            scriptable
                .disconnect_workspace(ws)
                .await
                .map(|rows| rows.len())
        });
        join_all(calls).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (median, worst) = honest_waits(&bus, &runtime, "newcomer").await;
    let replies = storm.await.unwrap();
    let storm_took = t0.elapsed();
    let ok = replies.iter().filter(|r| r.is_ok()).count();
    println!(
        "| newcomer listed during {STORM} parallel DisconnectWorkspace on {CLIENTS} hung clients (median / worst of 5) | {} / {} |",
        median, worst
    );
    println!(
        "| the storm: replies / IssueDisconnect calls made / duration | {ok} / {} / {} |",
        asked.load(Ordering::SeqCst),
        ms(storm_took)
    );
}

async fn slow_flood() {
    const CONNECTIONS: usize = 100;
    const PER_CONNECTION: usize = 40;
    let bus = TestBus::start_with(defaults()).await;
    let observer = bus.connect().await;
    let (dropped, drain) = record_removals(&observer).await;
    // 100 connections, each answering one call at a time after 100 ms.
    let mut conns = Vec::new();
    for c in 0..CONNECTIONS {
        let conn = bus.connect().await;
        let turn = Arc::default();
        for i in 0..PER_CONNECTION {
            conn.object_server()
                .at(
                    format!("/slow/c{i}").as_str(),
                    Slow {
                        workspace: format!("flood{}.example.com", c % 10),
                        name: format!("Slow {c}/{i}"),
                        delay: Duration::from_millis(100),
                        turn: Arc::clone(&turn),
                    },
                )
                .await
                .unwrap();
        }
        conns.push(conn);
    }
    let t0 = Instant::now();
    let all = conns.iter().map(|conn| async move {
        let proxy = WorkspaceRegistrationProxy::new(conn).await.unwrap();
        let calls = (0..PER_CONNECTION).map(|i| {
            let proxy = &proxy;
            async move {
                let path = ObjectPath::try_from(format!("/slow/c{i}")).unwrap();
                proxy.add_resource(&path).await.unwrap()
            }
        });
        join_all(calls).await
    });
    let cookies: Vec<u32> = join_all(all).await.into_iter().flatten().collect();
    let total = cookies.len();
    let runtime = RuntimeProxy::new(&observer).await.unwrap();
    let settled = loop {
        let listed = runtime.list_connections().await.unwrap().len();
        let gone = dropped.lock().unwrap().len();
        if listed + gone >= total || t0.elapsed() > Duration::from_secs(120) {
            break t0.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    drain.abort();
    let gone = dropped.lock().unwrap().len();
    println!(
        "| {CONNECTIONS} connections × {PER_CONNECTION} registrations answering 100 ms per call, one at a time: dropped as invalid / all settled after | {gone} of {total} / {} |",
        ms(settled)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let run = |name: &str| only.is_empty() || only.iter().any(|o| name.contains(o.as_str()));
    println!("| scenario | figure |\n|---|---|");
    if run("probes") {
        hanging_probes().await;
    }
    if run("storm") {
        disconnect_storm().await;
    }
    if run("flood") {
        slow_flood().await;
    }
}
