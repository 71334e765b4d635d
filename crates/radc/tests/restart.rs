//! What a runtime that starts finds of the one before it on the same bus:
//! the record of the connections it launched (`$XDG_RUNTIME_DIR/radc/BUS/
//! connections.json`), and which of them it adopts: only processes that are
//! provably the ones written down. And how it stops: handing connections
//! over when told to stop, ending them when the session ends.
//!
//! The processes here are plain `sleep`s in their own process groups, as
//! the runtime starts connections; `tests/launch.rs` does the same with a
//! real FreeRDP session.

mod common;

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{TestBus, Timeouts, eventually};
use radc_client::proxy::WorkspaceRegistrationProxy;
use serde_json::{Value, json};

const WORKSPACE: &str = "rdweb.restart.test";

/// A process in its own process group, killed with its group when dropped.
struct Group(Child);

impl Group {
    fn sleep() -> Group {
        Group(
            Command::new("sleep")
                .arg("300")
                .process_group(0)
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    fn alive(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.wait();
    }
}

fn start_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    fields[19].parse().unwrap()
}

fn exe(pid: u32) -> String {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .unwrap()
        .trim()
        .to_owned()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A record entry for `pid` as the runtime writes one.
fn entry(pid: u32, start_ticks: u64, exe: &str, name: &str, started: u64) -> Value {
    json!({
        "pid": pid,
        "start_ticks": start_ticks,
        "exe": exe,
        "workspace_id": WORKSPACE,
        "display_name": name,
        "started_unix_ms": started,
        "output": output_name(pid),
    })
}

/// The name of the output file an entry for `pid` names.
fn output_name(pid: u32) -> String {
    format!("1700000000000-1-{pid}.out")
}

async fn write_record(bus: &TestBus, entries: Vec<Value>) -> std::path::PathBuf {
    let dir = bus.handover_dir().await;
    std::fs::create_dir_all(&dir).unwrap();
    let record = json!({"version": 1, "boot_id": boot_id(), "connections": entries});
    std::fs::write(dir.join("connections.json"), record.to_string()).unwrap();
    dir
}

fn status(bus: &TestBus) -> Value {
    let out = bus.radc().args(["status", "--json"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `(pid, display name, registered at)` of every listed connection.
fn listed(bus: &TestBus) -> Vec<(u64, String, u64)> {
    let status = status(bus);
    let mut rows: Vec<_> = status["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["connections"].as_array().cloned().unwrap_or_default())
        .map(|c| {
            (
                c["pid"].as_u64().unwrap(),
                c["display_name"].as_str().unwrap().to_owned(),
                c["registered_at_unix_ms"].as_u64().unwrap(),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// Only provably the same process is adopted: a pid that now belongs to a
/// process started at another time, or one running another program, is
/// left alone, listed nowhere and never signalled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_recorded_processes_themselves_are_adopted() {
    let mut bus = TestBus::bus_only();
    let mut ours = Group::sleep();
    let mut recycled = Group::sleep();
    let mut other_program = Group::sleep();
    let gone = {
        let mut g = Group::sleep();
        let pid = g.pid();
        let ticks = start_ticks(pid);
        g.0.kill().unwrap();
        g.0.wait().unwrap();
        (pid, ticks)
    };
    let started = now_ms() - 3_600_000;
    let sleep = exe(ours.pid());
    let dir = write_record(
        &bus,
        vec![
            entry(ours.pid(), start_ticks(ours.pid()), &sleep, "Ours", started),
            // The pid of a process started later than the recorded one.
            entry(
                recycled.pid(),
                start_ticks(recycled.pid()) - 1,
                &sleep,
                "Recycled",
                started,
            ),
            // The right start time, another program.
            entry(
                other_program.pid(),
                start_ticks(other_program.pid()),
                "/usr/bin/xfreerdp",
                "Other program",
                started,
            ),
            entry(gone.0, gone.1, &sleep, "Gone", started),
        ],
    )
    .await;
    // Left behind by the earlier runtime: an ended connection's output and
    // a temporary file.
    std::fs::write(dir.join(output_name(gone.0)), "bye\n").unwrap();
    std::fs::write(dir.join("1700000000000-1-999999999.out"), "").unwrap();
    std::fs::write(dir.join(output_name(ours.pid())), "hello\n").unwrap();

    bus.start_runtime(Timeouts::default()).await;
    assert_eq!(
        listed(&bus),
        [(ours.pid() as u64, "Ours".to_owned(), started)],
        "{}",
        bus.runtime_log()
    );
    let log = bus.runtime_log();
    assert!(
        log.contains(&format!(
            "pid {} now belongs to a process started at another time",
            recycled.pid()
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("pid {} runs {sleep}", other_program.pid())),
        "{log}"
    );

    // The record now names only what was adopted; what ended is cleaned up.
    let record: Value =
        serde_json::from_slice(&std::fs::read(dir.join("connections.json")).unwrap()).unwrap();
    let pids: Vec<u64> = record["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(pids, [ours.pid() as u64]);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut kept = vec!["connections.json".to_owned(), output_name(ours.pid())];
    kept.sort();
    assert_eq!(files, kept);

    // Disconnecting the workspace ends the adopted process only.
    let out = bus
        .radc()
        .args(["disconnect", "--json", WORKSPACE])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    eventually(Duration::from_secs(5), "the adopted process to end", || {
        let ended = !ours.alive();
        async move { ended }
    })
    .await;
    let conn = bus.connect().await;
    let registration = WorkspaceRegistrationProxy::new(&conn).await.unwrap();
    eventually(Duration::from_secs(5), "its exit to be noticed", || async {
        registration.list_resources().await.unwrap().is_empty()
    })
    .await;
    assert!(recycled.alive() && other_program.alive());
    assert!(!dir.join("connections.json").exists());
}

/// A record that is not valid is reported and nothing is adopted; the
/// runtime starts all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_record_adopts_nothing() {
    let mut bus = TestBus::bus_only();
    let mut ours = Group::sleep();
    let dir = bus.handover_dir().await;
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("connections.json"), "{\"version\": 1, \"boot").unwrap();
    bus.start_runtime(Timeouts::default()).await;
    assert!(listed(&bus).is_empty());
    assert!(bus.runtime_log().contains("nothing adopted"));
    assert!(ours.alive());
}

/// A `org.freedesktop.systemd1.Manager` with just the one property the
/// runtime reads. (The real systemd user manager cannot run in this test
/// environment: there is no systemd as process 1.)
struct Manager(Arc<Mutex<String>>);

#[zbus::interface(name = "org.freedesktop.systemd1.Manager")]
impl Manager {
    #[zbus(property)]
    fn system_state(&self) -> String {
        self.0.lock().unwrap().clone()
    }
}

/// Adopts `group` into a runtime started on `bus` (through the record, as
/// after a restart).
async fn with_adopted(bus: &mut TestBus, group: &Group, name: &str) {
    let pid = group.pid();
    write_record(
        bus,
        vec![entry(pid, start_ticks(pid), &exe(pid), name, now_ms())],
    )
    .await;
    bus.start_runtime(Timeouts {
        grace: 1.0,
        ..Timeouts::default()
    })
    .await;
    assert_eq!(listed(bus).len(), 1, "{}", bus.runtime_log());
}

/// Told to stop while the systemd user manager runs on: hand over. Told to
/// stop while it is stopping (the user signs out): every workspace is
/// disconnected first, custom clients included, and nothing is left for
/// another runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_at_the_end_of_the_session_disconnects_everything() {
    let mut bus = TestBus::bus_only();
    let state = Arc::new(Mutex::new("running".to_owned()));
    let _manager = zbus::connection::Builder::address(bus.address.as_str())
        .unwrap()
        .name("org.freedesktop.systemd1")
        .unwrap()
        .serve_at("/org/freedesktop/systemd1", Manager(state.clone()))
        .unwrap()
        .build()
        .await
        .unwrap();
    let mut group = Group::sleep();
    with_adopted(&mut bus, &group, "Desktop").await;
    let dir = bus.handover_dir().await;

    bus.stop_runtime();
    assert!(group.alive(), "a restart keeps connections running");
    assert!(dir.join("connections.json").exists());

    bus.start_runtime(Timeouts {
        grace: 1.0,
        ..Timeouts::default()
    })
    .await;
    assert_eq!(listed(&bus).len(), 1);
    let mut py =
        common::pyclient::PyClient::start(&bus, &["--workspace", WORKSPACE, "--name", "Viewer"])
            .await;
    *state.lock().unwrap() = "stopping".into();
    bus.stop_runtime();
    assert!(
        py.line().await.starts_with("DISCONNECT"),
        "the custom client was told to disconnect"
    );
    assert!(!group.alive(), "{}", bus.runtime_log());
    assert!(bus.runtime_log().contains("the session is ending"));
    assert!(!dir.exists(), "nothing is left for another runtime");
}

/// The session bus closing is the end of the session: the runtime ends its
/// connections and leaves nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_end_of_the_bus_ends_the_connections() {
    let mut bus = TestBus::bus_only();
    let mut group = Group::sleep();
    with_adopted(&mut bus, &group, "Desktop").await;
    let dir = bus.handover_dir().await;
    assert!(dir.join("connections.json").exists());
    bus.stop_bus();
    let status = bus.wait_runtime_exit(Duration::from_secs(10));
    assert!(status.is_some(), "the runtime outlived its bus");
    assert!(!group.alive(), "{}", bus.runtime_log());
    assert!(bus.runtime_log().contains("the session has ended"));
    assert!(!dir.exists());
}

/// Nothing is adopted from a record of another boot, however alike the
/// process looks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_of_another_boot_is_ignored() {
    let mut bus = TestBus::bus_only();
    let mut ours = Group::sleep();
    let dir = bus.handover_dir().await;
    std::fs::create_dir_all(&dir).unwrap();
    let pid = ours.pid();
    let record = json!({
        "version": 1,
        "boot_id": "00000000-0000-0000-0000-000000000000",
        "connections": [entry(pid, start_ticks(pid), &exe(pid), "Old", now_ms())],
    });
    std::fs::write(dir.join("connections.json"), record.to_string()).unwrap();
    bus.start_runtime(Timeouts::default()).await;
    assert!(listed(&bus).is_empty());
    assert!(!dir.join("connections.json").exists());
    assert!(ours.alive());
}
