//! How long a custom client waits when nothing runs yet: its first
//! `AddResource` on a session bus that starts the runtime on demand (the
//! files `radc setup` writes), against the same call to a runtime already
//! running, in the same run. Run with
//!
//! ```sh
//! cargo bench -p radc --bench activation
//! ```
//!
//! Each round has a fresh private `dbus-daemon`, so every cold call really
//! starts a runtime: the bus execs `radc daemon`, which connects, exports
//! its interfaces and claims its name before the bus hands it the call.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{TestBus, TestClient};
use radc_client::Runtime;

const ROUNDS: usize = 20;

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// The runtime's pid, to stop it at the end of a round.
async fn runtime_pid(bus: &TestBus) -> u32 {
    let conn = bus.connect().await;
    let dbus = zbus::fdo::DBusProxy::new(&conn).await.unwrap();
    dbus.get_connection_unix_process_id("org.radc.Runtime".try_into().unwrap())
        .await
        .unwrap()
}

#[tokio::main]
async fn main() {
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for _ in 0..ROUNDS {
        let bus = TestBus::activating(&[]);
        let out = bus
            .radc()
            .env("XDG_DATA_HOME", bus.data_home())
            .args(["setup", "--json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let runtime = Runtime::with_connection(bus.connect().await).await.unwrap();

        let start = Instant::now();
        let first = runtime
            .add_resource(TestClient::new("ws-bench", "First"))
            .await
            .expect("the bus starts the runtime");
        cold.push(start.elapsed());

        let start = Instant::now();
        let second = runtime
            .add_resource(TestClient::new("ws-bench", "Second"))
            .await
            .unwrap();
        warm.push(start.elapsed());

        runtime.remove_resource(first).await.unwrap();
        runtime.remove_resource(second).await.unwrap();
        let pid = runtime_pid(&bus).await;
        let _ = Command::new("kill").arg(pid.to_string()).status();
    }
    println!("## Activation ({ROUNDS} rounds, a fresh bus each)");
    println!("| first AddResource | median | max |");
    println!("|---|---|---|");
    let max = |s: &[Duration]| s.iter().max().copied().unwrap_or_default();
    let (cold_max, warm_max) = (max(&cold), max(&warm));
    println!(
        "| nothing running: the bus starts the runtime | {} | {} |",
        ms(median(&mut cold)),
        ms(cold_max)
    );
    println!(
        "| runtime already running (baseline) | {} | {} |",
        ms(median(&mut warm)),
        ms(warm_max)
    );
}
