//! Timings and their summaries, for the benchmarks and the tests that
//! bound latency.

use std::time::{Duration, Instant};

use zbus::Connection;

/// One round trip of `Peer.Ping` to the runtime, which zbus answers
/// without the runtime's own code: how long the runtime takes to get to a
/// call.
pub async fn ping_runtime(conn: &Connection) -> Duration {
    let start = Instant::now();
    conn.call_method(
        Some("org.radc.Runtime"),
        "/org/radc/Runtime",
        Some("org.freedesktop.DBus.Peer"),
        "Ping",
        &(),
    )
    .await
    .expect("the runtime answers Ping");
    start.elapsed()
}

/// The `p` quantile (0.0..=1.0) of `samples`, which it sorts.
pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let idx = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[idx]
}

/// A duration in milliseconds, two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}
