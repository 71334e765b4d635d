//! The Workspaces window at rest: its resident memory once it shows one
//! workspace with its resources, and how often it wakes up (context
//! switches of all its threads) over 10 s in which nothing changes. Run with
//!
//! ```sh
//! cargo build --release -p radc && cargo bench -p radc-gui --bench idle
//! ```
//!
//! Real parts: Xvfb, a private session bus with the release `radc daemon`,
//! and radc-subscribe's NTLM test feed server (`apps` mode: three resources
//! with icons), subscribed through the API before the window starts. No
//! accessibility bus runs (as on a desktop without a screen reader).
//!
//! Baselines from the same run: `radc-gui prompt` (the same binary and
//! toolkit with a small window and no D-Bus), and the runtime itself over
//! the window's measurement.

#[path = "../../radc/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::TestBus;
use common::feed_server::FeedServer;
use common::rdp::{GroupChild, XvfbDisplay};
use radc_client::proxy::WorkspacesProxy;

/// Long enough for the window to read everything and draw, and for any
/// cursor blinking (10 s after the last key in GTK) to have stopped.
const SETTLE: Duration = Duration::from_secs(12);
const MEASURE: Duration = Duration::from_secs(10);

/// Context switches (voluntary and not) per thread: id, name and count.
fn switches(pid: u32) -> Vec<(u32, String, u64)> {
    let mut threads = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = task.unwrap().path();
        let Some(tid) = task.file_name().and_then(|n| n.to_str()?.parse().ok()) else {
            continue;
        };
        let name = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        let status = std::fs::read_to_string(task.join("status")).unwrap_or_default();
        let count = status
            .lines()
            .filter(|l| l.contains("ctxt_switches"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum();
        threads.push((tid, name.trim().to_owned(), count));
    }
    threads
}

/// The wake-ups of each thread between two readings (a thread that started
/// in between counts whole; one that ended is not seen).
fn woke(before: &[(u32, String, u64)], after: &[(u32, String, u64)]) -> Vec<(String, u64)> {
    after
        .iter()
        .map(|(tid, name, n)| {
            let was = before.iter().find(|b| b.0 == *tid).map_or(0, |b| b.2);
            (name.clone(), n.saturating_sub(was))
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// A `/proc/PID/status` field in KiB (`VmRSS`, `RssAnon`).
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Waits for a window with this title on `display`.
fn wait_for_window(display: &str, title: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = Command::new("xdotool")
            .args(["search", "--name", title])
            .env("DISPLAY", display)
            .stdout(Stdio::null())
            .status()
            .expect("xdotool runs")
            .success();
        if found {
            return;
        }
        assert!(Instant::now() < deadline, "no window {title:?} appeared");
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Figures {
    rss_kib: u64,
    /// Of which the process's own (heap, stacks), not mapped files such as
    /// libraries.
    anon_kib: u64,
    wakeups: u64,
    /// Threads that woke, with how often.
    woke: Vec<(String, u64)>,
    /// The runtime's wake-ups over the same 10 s.
    runtime_wakeups: u64,
    /// Seconds since the workspace's last refresh at the start and the
    /// end of the 10 s.
    age: (u64, u64),
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Starts `radc-gui ARGS` with GTK's `renderer`, lets it settle, and
/// measures it at rest.
fn measure(
    bus: &TestBus,
    refreshed: u64,
    display: &str,
    renderer: &str,
    args: &[&str],
    title: &str,
    shot: &str,
) -> Figures {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_radc-gui"));
    if renderer != "default" {
        cmd.env("GSK_RENDERER", renderer);
    }
    cmd.args(args)
        .envs(bus.env())
        .env("DISPLAY", display)
        .env("GDK_BACKEND", "x11")
        .env("GSETTINGS_BACKEND", "memory")
        .env("LANG", "C.UTF-8")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let gui = GroupChild::spawn(cmd, false).expect("radc-gui starts");
    wait_for_window(display, title);
    std::thread::sleep(SETTLE);
    let pid = gui.id();
    let runtime = bus.runtime_pid().expect("the runtime runs");
    let (rss_kib, anon_kib) = (status_kib(pid, "VmRSS"), status_kib(pid, "RssAnon"));
    let (before, runtime_before) = (switches(pid), switches(runtime));
    let start = unix_now();
    std::thread::sleep(MEASURE);
    let (after, runtime_after) = (switches(pid), switches(runtime));
    let age = (start - refreshed, unix_now() - refreshed);
    let threads = woke(&before, &after);
    // What it showed, to check by eye (after measuring: a screenshot is no
    // event for the window, but costs the machine).
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts");
    std::fs::create_dir_all(&shots).unwrap();
    let _ = Command::new("import")
        .args(["-window", "root", "-display", display])
        .arg(shots.join(format!("{shot}.png")))
        .status();
    drop(gui);
    Figures {
        rss_kib,
        anon_kib,
        wakeups: threads.iter().map(|t| t.1).sum(),
        woke: threads,
        runtime_wakeups: woke(&runtime_before, &runtime_after)
            .iter()
            .map(|t| t.1)
            .sum(),
        age,
    }
}

#[tokio::main]
async fn main() {
    let display = XvfbDisplay::start();
    let bus = TestBus::start().await;
    let feed = FeedServer::start_plain();
    let conn = bus.connect().await;
    let workspaces = WorkspacesProxy::new(&conn).await.unwrap();
    workspaces
        .subscribe(
            &feed.feed_url("bench", "apps"),
            "RADCTEST\\alice",
            "Secr3t-pw",
            true,
        )
        .await
        .expect("subscribed to the test feed");
    let resources = workspaces.list_resources("").await.unwrap().len();
    let refreshed = workspaces.list_workspaces().await.unwrap()[0].3;

    println!("## Workspaces window at rest (one workspace, {resources} resources)");
    println!(
        "| process | GTK renderer | VmRSS | of which anonymous | context switches in 10 s | threads that woke | last update, seconds ago |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut runtime_wakeups = Vec::new();
    // GTK's default on X11 is its GL renderer (Mesa's llvmpipe on Xvfb);
    // cairo draws in software without GL.
    for renderer in ["default", "cairo"] {
        let window = measure(
            &bus,
            refreshed,
            display.display(),
            renderer,
            &["window"],
            "Remote Workspaces",
            &format!("bench-window-{renderer}"),
        );
        let prompt = measure(
            &bus,
            refreshed,
            display.display(),
            renderer,
            &["prompt", "--workspace", "Bench", "--user", "alice"],
            "Sign in to Bench",
            &format!("bench-prompt-{renderer}"),
        );
        runtime_wakeups.push(window.runtime_wakeups);
        for (what, f) in [
            ("`radc-gui window`", &window),
            (
                "`radc-gui prompt` (baseline: same toolkit, no D-Bus)",
                &prompt,
            ),
        ] {
            let woke: Vec<String> = f.woke.iter().map(|(n, c)| format!("{n} {c}")).collect();
            // "Updated N minutes ago" changes its words on the minute in
            // the first hour: a wake-up when the 10 s cross one.
            let (from, to) = f.age;
            let minute = if what.contains("window") && from / 60 != to / 60 {
                " (a minute passed: the words changed)"
            } else {
                ""
            };
            println!(
                "| {what} | {renderer} | {:.1} MiB | {:.1} MiB | {} | {} | {from}–{to}{minute} |",
                f.rss_kib as f64 / 1024.0,
                f.anon_kib as f64 / 1024.0,
                f.wakeups,
                if woke.is_empty() {
                    "none".to_owned()
                } else {
                    woke.join(", ")
                }
            );
        }
    }
    println!(
        "\n`radc daemon` over the window's two 10 s (baseline): {runtime_wakeups:?} context switches"
    );
}
