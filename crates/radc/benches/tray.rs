//! What `radc tray` costs while nothing happens: its resident memory with
//! one subscribed workspace (a desktop and a RemoteApp with an icon) and a
//! few live connections in its menu, and its wake-ups over 10 s of quiet.
//! The runtime it follows, idle over the same 10 s, is the baseline. Run
//! with
//!
//! ```sh
//! cargo bench -p radc --bench tray
//! ```
//!
//! Real parts: a private `dbus-daemon`, the release `radc daemon`, a feed
//! on loopback, custom clients registered through the Rust SDK, a
//! StatusNotifierWatcher the tray registers its item with (the tests'),
//! and the release `radc tray`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::procfs::{cpu_ticks, proc_field, switches, switches_between};
use common::site::Site;
use common::tray::{FOLLOW, Tray, WORKSPACE, publish, spawn_tray, start_watcher};
use common::{TestBus, TestClient, eventually};
use radc_client::Runtime;

/// Live connections in the workspace while the tray is measured.
const CONNECTIONS: usize = 3;
const IDLE: Duration = Duration::from_secs(10);

/// RSS (KiB), CPU time (ms) and context switches of `pid` over the same
/// idle period as the others measured with it.
struct Reading {
    pid: u32,
    rss_kib: u64,
    /// Of it, memory of the process's own (the rest is pages of files,
    /// the binary and libraries, shared with other processes mapping them).
    anon_kib: u64,
    cpu: u64,
    switches: std::collections::HashMap<String, u64>,
}

impl Reading {
    fn start(pid: u32) -> Reading {
        Reading {
            pid,
            rss_kib: proc_field(pid, "status", "VmRSS:"),
            anon_kib: proc_field(pid, "status", "RssAnon:"),
            cpu: cpu_ticks(pid),
            switches: switches(pid),
        }
    }

    fn row(&self, what: &str) -> String {
        let cpu_ms = (cpu_ticks(self.pid) - self.cpu) * 10; // USER_HZ = 100
        format!(
            "| {what} | {:.1} MiB | {:.1} MiB | {cpu_ms} ms | {} |",
            self.rss_kib as f64 / 1024.0,
            self.anon_kib as f64 / 1024.0,
            switches_between(&self.switches, &switches(self.pid)),
        )
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut bus = TestBus::bus_only();
    let (_watcher, mut registrations) = start_watcher(&bus).await;
    bus.start_runtime(common::Timeouts::default()).await;
    let site = Site::start(|root| publish(root, "127.0.0.1:1"));
    assert_eq!(bus.subscribe(&site.url()).await, WORKSPACE);
    let sdk = Runtime::with_connection(bus.connect().await).await.unwrap();
    let mut held = Vec::new();
    for n in 0..CONNECTIONS {
        let client = TestClient::new(WORKSPACE, format!("Viewer {n}"));
        held.push(sdk.add_resource(client).await.unwrap());
    }

    let process = spawn_tray(&bus, &[]);
    let (name, path) = tokio::time::timeout(FOLLOW, registrations.recv())
        .await
        .expect("the tray registers its item")
        .unwrap();
    let tray = Tray::attach(&bus, process, name, path).await;
    let summary = format!("{CONNECTIONS} connections");
    eventually(FOLLOW, "the tray to show the connections", || async {
        tray.item.tool_tip().await.unwrap().3 == summary
    })
    .await;
    let menu = tray.layout().await.1;
    assert!(menu.find("Notepad").is_some(), "{menu}");
    // What the reads and the first menu left behind settles first.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let tray_pid = tray.process.id();
    let runtime_pid = bus.runtime_pid().unwrap();
    let (tray_reading, runtime_reading) = (Reading::start(tray_pid), Reading::start(runtime_pid));
    tokio::time::sleep(IDLE).await;
    println!(
        "## radc tray, idle ({} s; 1 workspace, {CONNECTIONS} connections)",
        IDLE.as_secs()
    );
    println!(
        "| process | RSS | of it anonymous | CPU time while idle | context switches while idle (all threads) |"
    );
    println!("|---|---|---|---|---|");
    println!("{}", tray_reading.row("`radc tray`"));
    println!("{}", runtime_reading.row("`radc daemon` (baseline)"));

    for registration in held {
        sdk.remove_resource(registration).await.unwrap();
    }
}
