//! Benchmarks of launching and of disconnecting launched connections, with
//! real parts: the release `radc daemon` on a private bus, the real
//! `xfreerdp` and a real RDP server (`freerdp-shadow-cli` on Xvfb). Run with
//!
//! ```sh
//! cargo bench -p radc --bench launch
//! ```
//!
//! and see BENCHMARKS.md for what each figure means. With `--clients` it
//! compares the FreeRDP clients instead (`xfreerdp`, `xfreerdp3`,
//! `sdl-freerdp3`, each against `freerdp-shadow-cli` and
//! `freerdp-shadow-cli3`): `radc launch` until the session is up.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::rdp::{RdpServer, XvfbDisplay};
use common::site::Site;
use common::{TestBus, Timeouts};
use radc_client::proxy::{
    RuntimeProxy, WorkspaceRegistrationProxy, WorkspaceScriptableProxy, WorkspacesProxy,
};

const WORKSPACE: &str = "rdweb.bench.test";

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn publish(root: &Path, server: &RdpServer) {
    std::fs::create_dir_all(root.join("RDWeb/Feed")).unwrap();
    std::fs::create_dir_all(root.join("RDWeb/files")).unwrap();
    let files = [
        (
            "desktop",
            format!(
                "full address:s:127.0.0.1:{}\r\ndesktopwidth:i:640\r\ndesktopheight:i:480\r\n",
                server.port()
            ),
        ),
        // Nobody listens on port 9: FreeRDP starts and gives up at once.
        ("probe", "full address:s:127.0.0.1:9\r\n".to_owned()),
    ];
    let mut entries = String::new();
    for (id, contents) in &files {
        std::fs::write(root.join(format!("RDWeb/files/{id}.rdp")), contents).unwrap();
        entries.push_str(&format!(
            r#"<Resource ID="{id}" Title="{id}" Type="Desktop"><HostingTerminalServers><HostingTerminalServer>
<ResourceFile FileExtension=".rdp" URL="/RDWeb/files/{id}.rdp"/><TerminalServerRef Ref="h"/>
</HostingTerminalServer></HostingTerminalServers></Resource>
"#
        ));
    }
    std::fs::write(
        root.join("RDWeb/Feed/webfeed.aspx"),
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<ResourceCollection SchemaVersion="2.1" xmlns="http://schemas.microsoft.com/ts/2007/05/tswf">
<Publisher ID="{WORKSPACE}" Name="Bench"><Resources>
{entries}</Resources><TerminalServers><TerminalServer ID="h" Name="h"/></TerminalServers></Publisher>
</ResourceCollection>
"#
        ),
    )
    .unwrap();
}

/// A FreeRDP that notes the moment it starts (and its arguments), then
/// becomes the real `xfreerdp`. Both the launch and the baseline run it, so
/// its own cost is in both.
fn stamping_freerdp(dir: &Path) -> (PathBuf, PathBuf) {
    let script = dir.join("xfreerdp-stamp");
    let stamps = dir.join("stamps");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$(date +%s%N) $*\" >> '{}'\nexec /usr/bin/xfreerdp \"$@\"\n",
            stamps.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, stamps)
}

/// Waits for stamp line `index` (0-based) and returns its time and arguments.
fn wait_stamp(stamps: &Path, index: usize) -> (u128, String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(file) = std::fs::File::open(stamps)
            && let Some(Ok(line)) = BufReader::new(file).lines().nth(index)
        {
            let (at, args) = line.split_once(' ').unwrap_or((&line, ""));
            return (at.parse().unwrap(), args.to_owned());
        }
        assert!(Instant::now() < deadline, "FreeRDP never started");
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn stamp_count(stamps: &Path) -> usize {
    std::fs::read_to_string(stamps).map_or(0, |t| t.lines().count())
}

fn since(start_ns: u128, at_ns: u128) -> Duration {
    Duration::from_nanos(at_ns.saturating_sub(start_ns) as u64)
}

async fn launch_latency(
    bus: &TestBus,
    display: &XvfbDisplay,
    script: &Path,
    stamps: &Path,
    rounds: usize,
) {
    let conn = bus.connect().await;
    let runtime = RuntimeProxy::new(&conn).await.unwrap();
    let env = HashMap::from([("DISPLAY", display.display())]);
    // Warm up: the runtime probes FreeRDP once, and caches fill.
    runtime
        .launch(WORKSPACE, "probe", &[], env.clone())
        .await
        .unwrap();
    let (_, args) = wait_stamp(stamps, stamp_count(stamps).max(1) - 1);
    let args: Vec<String> = args.split(' ').map(str::to_owned).collect();
    std::thread::sleep(Duration::from_millis(500));

    let (mut cli, mut dbus, mut direct) = (Vec::new(), Vec::new(), Vec::new());
    let mut children: Vec<Child> = Vec::new();
    for _ in 0..rounds {
        // `radc launch` as a desktop entry runs it.
        let n = stamp_count(stamps);
        let start = now_ns();
        let status = bus
            .radc()
            .env("DISPLAY", display.display())
            .args(["launch", "--detach", WORKSPACE, "probe"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        cli.push(since(start, wait_stamp(stamps, n).0));

        // The same through one D-Bus call from a program already connected.
        let n = stamp_count(stamps);
        let start = now_ns();
        runtime
            .launch(WORKSPACE, "probe", &[], env.clone())
            .await
            .unwrap();
        dbus.push(since(start, wait_stamp(stamps, n).0));

        // Baseline: the same FreeRDP command started directly.
        let n = stamp_count(stamps);
        let start = now_ns();
        children.push(
            Command::new(script)
                .args(&args)
                .env("DISPLAY", display.display())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        direct.push(since(start, wait_stamp(stamps, n).0));
        // Let the connections fail and exit before the next round.
        std::thread::sleep(Duration::from_millis(150));
    }
    for mut child in children {
        let _ = child.wait();
    }
    println!("\n## Launch latency ({rounds} rounds, daemon warm)");
    println!("| path | median | p90 |\n|---|---|---|");
    for (what, samples) in [
        ("FreeRDP command started directly (baseline)", &mut direct),
        ("`Runtime1.Launch` over D-Bus", &mut dbus),
        ("`radc launch` (a new process, as from a menu)", &mut cli),
    ] {
        let m = median(samples);
        println!("| {what} | {} | {} |", ms(m), ms(percentile(samples, 0.9)));
    }
}

/// `radc launch [FLAGS] WORKSPACE RESOURCE` on `display`, until it exits:
/// how long it took, and its output.
fn timed_launch(
    bus: &TestBus,
    display: &XvfbDisplay,
    flags: &[&str],
    resource: &str,
) -> (Duration, std::process::Output) {
    let start = Instant::now();
    let out = bus
        .radc()
        .env("DISPLAY", display.display())
        .arg("launch")
        .args(flags)
        .args([WORKSPACE, resource])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (start.elapsed(), out)
}

/// From starting `radc launch` to its exit with the cause, for a server
/// that does not answer, against the same FreeRDP command started by hand
/// until it gives up, in the same rounds.
fn failed_launch(
    bus: &TestBus,
    display: &XvfbDisplay,
    script: &Path,
    stamps: &Path,
    rounds: usize,
) {
    let (mut radc, mut direct) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let n = stamp_count(stamps);
        let (took, out) = timed_launch(bus, display, &[], "probe");
        radc.push(took);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("could not be reached"),
            "{out:?}"
        );
        // The same command line, started by hand.
        let (_, args) = wait_stamp(stamps, n);
        let args: Vec<&str> = args.split(' ').collect();
        let start = Instant::now();
        let status = Command::new(script)
            .args(&args)
            .env("DISPLAY", display.display())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        direct.push(start.elapsed());
        assert!(!status.success());
    }
    println!("\n## Failed launch ({rounds} rounds): the server does not answer");
    println!("| path | median | p90 |\n|---|---|---|");
    for (what, samples) in [
        (
            "FreeRDP started by hand, until it gives up (baseline)",
            &mut direct,
        ),
        ("`radc launch`, until it exits with the cause", &mut radc),
    ] {
        let m = median(samples);
        println!("| {what} | {} | {} |", ms(m), ms(percentile(samples, 0.9)));
    }
}

/// Registers `count` custom clients (Python, removing themselves when told
/// to disconnect) spread over a few processes.
fn custom_clients(bus: &TestBus, count: usize) -> Vec<Child> {
    let per = 25;
    (0..count.div_ceil(per))
        .map(|i| {
            // Its output goes to a file: it must stay writable to the end.
            let out = bus.dir.path().join(format!("client-{i}.out"));
            let child = bus
                .python("custom_client.py")
                .args(["--workspace", WORKSPACE, "--count", &per.to_string()])
                .args(["--on-disconnect", "remove"])
                .stdout(std::fs::File::create(&out).unwrap())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(30);
            while !std::fs::read_to_string(&out).unwrap().contains("READY") {
                assert!(Instant::now() < deadline, "a custom client did not start");
                std::thread::sleep(Duration::from_millis(10));
            }
            child
        })
        .collect()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// Launches `sessions` desktops through the runtime with the server's
/// credentials and waits until the server has activated them all. Returns
/// their pids.
async fn launch_sessions(
    conn: &zbus::Connection,
    server: &RdpServer,
    display: &XvfbDisplay,
    sessions: usize,
) -> Vec<u32> {
    let runtime = RuntimeProxy::new(conn).await.unwrap();
    let scriptable = WorkspaceScriptableProxy::new(conn).await.unwrap();
    let user = format!("{}\\{}", server.domain(), server.user());
    scriptable
        .start_workspace(WORKSPACE, &user, server.password(), "", 0, 0)
        .await
        .unwrap();
    let activated = server.activations();
    let env = HashMap::from([("DISPLAY", display.display())]);
    let mut pids = Vec::new();
    for _ in 0..sessions {
        let (_, pid, _) = runtime
            .launch(WORKSPACE, "desktop", &[], env.clone())
            .await
            .unwrap();
        pids.push(pid);
    }
    assert!(
        server.wait_for_activations(activated + sessions, Duration::from_secs(120)),
        "only {} of {sessions} sessions came up",
        server.activations() - activated
    );
    pids
}

async fn disconnect_fleet(
    bus: &TestBus,
    server: &RdpServer,
    display: &XvfbDisplay,
    sessions: usize,
    clients: usize,
    grace: Duration,
    round: usize,
) {
    let conn = bus.connect().await;
    let runtime = RuntimeProxy::new(&conn).await.unwrap();
    let registration = WorkspaceRegistrationProxy::new(&conn).await.unwrap();
    let pids = launch_sessions(&conn, server, display, sessions).await;
    let mut python = custom_clients(bus, clients);
    // Registrations are listed once the runtime has probed them.
    let deadline = Instant::now() + Duration::from_secs(30);
    while registration.list_resources().await.unwrap().len() < sessions + clients {
        assert!(
            Instant::now() < deadline,
            "the clients were never all listed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let start = Instant::now();
    let (_, rows) = runtime.disconnect(WORKSPACE, 0).await.unwrap();
    let replied = start.elapsed();
    assert_eq!(rows.len(), sessions + clients);
    let failed: Vec<_> = rows.iter().filter(|r| r.1 != "ok").collect();
    assert!(
        failed.is_empty(),
        "{} did not answer ok: {:?}",
        failed.len(),
        failed.first()
    );
    while pids.iter().any(|&pid| alive(pid)) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let processes_gone = start.elapsed();
    while !registration.list_resources().await.unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let registry_empty = start.elapsed();
    for child in &mut python {
        let _ = child.wait();
    }
    println!(
        "| {round} | {sessions} + {clients} | {} | {} | {} | {:.1} s |",
        ms(replied),
        ms(processes_gone),
        ms(registry_empty),
        grace.as_secs_f64()
    );
    assert!(server.wait_for_no_session(Duration::from_secs(30)));
}

/// Polls the runtime's `ListConnections` until it answers with `count`
/// rows; the runtime may not serve yet.
async fn until_listed(conn: &zbus::Connection, count: usize) {
    let runtime = RuntimeProxy::builder(conn)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(rows) = runtime.list_connections().await
            && rows.len() == count
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the runtime never listed {count} connections"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Starts the runtime again after a kill -9, with `sessions` FreeRDP
/// sessions running that the earlier one launched; then, as the baseline,
/// once more with nothing to adopt.
async fn readoption(
    bus: &mut TestBus,
    runtime_args: &(Timeouts, PathBuf),
    server: &RdpServer,
    display: &XvfbDisplay,
    sessions: usize,
    round: usize,
) {
    let (timeouts, script) = runtime_args;
    let respawn = |bus: &mut TestBus| {
        bus.spawn_runtime_with(*timeouts, &["--freerdp".as_ref(), script.as_os_str()], &[])
    };
    let conn = bus.connect().await;
    let pids = launch_sessions(&conn, server, display, sessions).await;
    // The record names what each wrapper became after the first second.
    tokio::time::sleep(Duration::from_secs(2)).await;

    bus.kill_runtime();
    let watcher = bus.connect().await;
    let start = Instant::now();
    respawn(bus);
    until_listed(&watcher, sessions).await;
    let adopted = start.elapsed();

    // The adopted sessions end as launched ones do.
    let runtime = RuntimeProxy::new(&watcher).await.unwrap();
    let (_, rows) = runtime.disconnect(WORKSPACE, 0).await.unwrap();
    assert_eq!(rows.len(), sessions);
    while pids.iter().any(|&pid| alive(pid)) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    until_listed(&watcher, 0).await;
    assert!(server.wait_for_no_session(Duration::from_secs(30)));

    bus.kill_runtime();
    let start = Instant::now();
    respawn(bus);
    until_listed(&watcher, 0).await;
    let baseline = start.elapsed();
    println!("| {round} | {} | {} |", ms(baseline), ms(adopted));
}

/// The FreeRDP clients radc looks for.
const CLIENTS: [&str; 3] = [
    "/usr/bin/xfreerdp",
    "/usr/bin/xfreerdp3",
    "/usr/bin/sdl-freerdp3",
];

/// `radc launch` (which waits until FreeRDP says the session is up) of a
/// desktop, `rounds` times per client and server, each session
/// disconnected before the next; median and p90 side by side. Every
/// client gets a runtime of its own (`--freerdp`) on one bus, with one
/// server and display per server program.
async fn client_comparison(rounds: usize) {
    let servers = [common::rdp::SHADOW_SERVER, common::rdp::SHADOW_SERVER3];
    let mut rows: Vec<(String, String, Duration, Duration)> = Vec::new();
    for server_program in servers {
        let server = RdpServer::start_with(server_program);
        let display = XvfbDisplay::start();
        let site = Site::start(|root| publish(root, &server));
        let mut bus = TestBus::bus_only();
        let mut subscribed = false;
        for client in CLIENTS {
            bus.stop_runtime();
            bus.start_runtime_with(
                Timeouts::default(),
                &["--freerdp".as_ref(), client.as_ref()],
                &[],
            )
            .await;
            let conn = bus.connect().await;
            if !subscribed {
                WorkspacesProxy::new(&conn)
                    .await
                    .unwrap()
                    .subscribe(&site.url(), "", "", true)
                    .await
                    .unwrap();
                subscribed = true;
            }
            let scriptable = WorkspaceScriptableProxy::new(&conn).await.unwrap();
            let user = format!("{}\\{}", server.domain(), server.user());
            let mut samples = Vec::new();
            // One launch to warm up (the runtime probes the client, the
            // client notes the server's certificate), then the rounds.
            for round in 0..=rounds {
                scriptable
                    .start_workspace(WORKSPACE, &user, server.password(), "", 0, 0)
                    .await
                    .unwrap();
                let (took, out) = timed_launch(&bus, &display, &["--json"], "desktop");
                let report: serde_json::Value =
                    serde_json::from_slice(&out.stdout).unwrap_or_default();
                assert!(
                    out.status.success() && report["state"] == "up",
                    "{client} against {server_program}: {report}"
                );
                if round > 0 {
                    samples.push(took);
                }
                let status = bus
                    .radc()
                    .args(["disconnect", WORKSPACE])
                    .stdout(Stdio::null())
                    .status()
                    .unwrap();
                assert!(status.success());
                assert!(server.wait_for_no_session(Duration::from_secs(10)));
            }
            let name = Path::new(client).file_name().unwrap().to_string_lossy();
            rows.push((
                name.into_owned(),
                server_program.to_owned(),
                median(&mut samples),
                percentile(&mut samples, 0.9),
            ));
        }
        bus.stop_runtime();
    }
    println!("\n## Launch to session up, per client ({rounds} rounds each)");
    println!("| client | server | median | p90 |\n|---|---|---|---|");
    for (client, server, m, p90) in rows {
        println!("| `{client}` | `{server}` | {} | {} |", ms(m), ms(p90));
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    if std::env::args().any(|a| a == "--clients") {
        client_comparison(if quick { 3 } else { 10 }).await;
        return;
    }
    let server = RdpServer::start();
    let display = XvfbDisplay::start();
    let site = Site::start(|root| publish(root, &server));
    let mut bus = TestBus::bus_only();
    let (script, stamps) = stamping_freerdp(bus.dir.path());
    let grace = Duration::from_secs(10);
    bus.start_runtime_with(
        Timeouts {
            disconnect: 5.0,
            grace: grace.as_secs_f64(),
            ..Timeouts::default()
        },
        &["--freerdp".as_ref(), script.as_os_str()],
        &[],
    )
    .await;
    let conn = bus.connect().await;
    WorkspacesProxy::new(&conn)
        .await
        .unwrap()
        .subscribe(&site.url(), "", "", true)
        .await
        .unwrap();

    launch_latency(
        &bus,
        &display,
        &script,
        &stamps,
        if quick { 10 } else { 100 },
    )
    .await;
    failed_launch(&bus, &display, &script, &stamps, if quick { 5 } else { 20 });

    println!("\n## Disconnecting launched sessions and custom clients");
    println!(
        "| round | sessions + clients | reply | FreeRDP processes gone | registry empty | grace period |"
    );
    println!("|---|---|---|---|---|---|");
    for round in 1..=(if quick { 1 } else { 3 }) {
        disconnect_fleet(&bus, &server, &display, 20, 100, grace, round).await;
    }

    println!("\n## Re-adoption after the runtime was killed");
    println!(
        "| round | start to serving, nothing to adopt (baseline) | start to all 20 sessions listed |"
    );
    println!("|---|---|---|");
    let runtime_args = (
        Timeouts {
            disconnect: 5.0,
            grace: grace.as_secs_f64(),
            ..Timeouts::default()
        },
        script.clone(),
    );
    for round in 1..=(if quick { 1 } else { 3 }) {
        readoption(&mut bus, &runtime_args, &server, &display, 20, round).await;
    }
}
