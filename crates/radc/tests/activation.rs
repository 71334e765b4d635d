//! `radc setup`: a custom client's first call starts the runtime through
//! the session bus, with no radc command run before; the files it writes
//! are radc's alone and pass systemd's own check; and a runtime that
//! systemd connected to the journal leaves timestamps to the journal.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::pyclient::PyClient;
use common::{TestBus, TestClient, eventually};
use radc_client::Runtime;
use serde_json::Value;

/// `radc` on `bus`, with `XDG_DATA_HOME` where the bus looks for services.
fn radc(bus: &TestBus) -> Command {
    let mut cmd = bus.radc();
    cmd.env("XDG_DATA_HOME", bus.data_home());
    cmd
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("radc runs");
    eprintln!(
        "{cmd:?}: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "failed: {out:?}");
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn service_file(bus: &TestBus) -> PathBuf {
    bus.data_home()
        .join("dbus-1/services/org.radc.Runtime.service")
}

fn unit_file(bus: &TestBus) -> PathBuf {
    bus.config_home().join("systemd/user/radc.service")
}

fn tray_autostart_file(bus: &TestBus) -> PathBuf {
    bus.config_home().join("autostart/radc-tray.desktop")
}

/// The runtime the bus started, stopped when the test ends (it is the
/// bus's child, not the test's).
struct Started(u32);

impl Drop for Started {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.to_string()])
            .status();
    }
}

/// Whether the bus started the runtime (it logs each service it starts).
fn bus_started_runtime(bus: &TestBus) -> bool {
    let log = bus.bus_log();
    log.contains("Activating service name='org.radc.Runtime'")
        && log.contains("Successfully activated service 'org.radc.Runtime'")
}

async fn runtime_owner_pid(bus: &TestBus) -> Option<u32> {
    let conn = bus.connect().await;
    let dbus = zbus::fdo::DBusProxy::new(&conn).await.unwrap();
    let name = zbus::names::BusName::try_from("org.radc.Runtime").unwrap();
    dbus.get_connection_unix_process_id(name).await.ok()
}

/// `radc setup` on a bus that is already running: the bus is told to read
/// its service directories again, so the next call starts the runtime.
fn set_up(bus: &TestBus) -> Value {
    let report = json(&run(radc(bus).args(["setup", "--json"])));
    assert_eq!(report["changed"], true, "{report}");
    report
}

#[tokio::test(flavor = "multi_thread")]
async fn python_client_starts_the_runtime_through_the_bus() {
    let bus = TestBus::activating(&[]);
    assert_eq!(runtime_owner_pid(&bus).await, None, "nothing runs yet");
    set_up(&bus);

    // No radc command has run: the bus starts the runtime for the client's
    // first call, and AddResource answers with a cookie.
    let client = PyClient::start(&bus, &["--workspace", "ws-act", "--name", "Editor"]).await;
    let cookie = client.cookie();
    assert!(cookie >= 1);
    let pid = runtime_owner_pid(&bus)
        .await
        .expect("the runtime owns its name");
    let _started = Started(pid);
    assert!(
        bus_started_runtime(&bus),
        "the bus started the runtime; bus log:\n{}",
        bus.bus_log()
    );

    // The started runtime is on the same bus and directories as the CLI.
    let status = json(&run(radc(&bus).args(["status", "--json"])));
    assert_eq!(status["runtime_pid"], pid, "{status}");
    let ws = &status["workspaces"][0];
    assert_eq!(ws["id"], "ws-act", "{status}");
    assert_eq!(ws["connections"][0]["cookie"], cookie, "{status}");
    assert_eq!(ws["connections"][0]["display_name"], "Editor", "{status}");
    assert_eq!(ws["connections"][0]["pid"], client.pid(), "{status}");
    assert!(
        !bus.dir.path().join("state/radc/daemon.log").exists(),
        "no radc command started a runtime of its own"
    );
    assert!(
        bus.bus_log().contains("org.radc.Runtime"),
        "the runtime logs where the bus's output goes:\n{}",
        bus.bus_log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sdk_add_resource_starts_the_runtime_through_the_bus() {
    let bus = TestBus::activating(&[]);
    set_up(&bus);

    let runtime = Runtime::with_connection(bus.connect().await).await.unwrap();
    let registration = runtime
        .add_resource(TestClient::new("ws-sdk", "Terminal"))
        .await
        .expect("AddResource starts the runtime and answers");
    let _started = Started(runtime_owner_pid(&bus).await.unwrap());
    let cookie = registration.cookie();
    assert!(cookie >= 1);

    let conn = bus.connect().await;
    let registry = radc_client::proxy::WorkspaceRegistrationProxy::new(&conn)
        .await
        .unwrap();
    eventually(Duration::from_secs(5), "the registration is listed", || {
        let registry = registry.clone();
        async move {
            registry
                .list_resources()
                .await
                .unwrap()
                .iter()
                .any(|r| r.0 == cookie && r.1 == "ws-sdk" && r.2 == "Terminal")
        }
    })
    .await;
    runtime.remove_resource(registration).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn without_setup_clients_are_told_the_runtime_is_missing_and_commands_start_it() {
    let bus = TestBus::activating(&[]);
    let runtime = Runtime::with_connection(bus.connect().await).await.unwrap();
    let err = runtime
        .add_resource(TestClient::new("ws", "App"))
        .await
        .expect_err("nothing starts the runtime");
    assert!(
        format!("{err:?}").contains("ServiceUnknown"),
        "unexpected error {err:?}"
    );

    // The command line still starts its own.
    let status = json(&run(radc(&bus).args(["status", "--json"])));
    let pid = status["runtime_pid"].as_u64().unwrap() as u32;
    let _started = Started(pid);
    assert!(!bus_started_runtime(&bus), "{}", bus.bus_log());
    assert!(bus.dir.path().join("state/radc/daemon.log").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn once_set_up_commands_have_the_bus_start_the_runtime() {
    let bus = TestBus::activating(&[]);
    set_up(&bus);
    let status = json(&run(radc(&bus).args(["status", "--json"])));
    let pid = status["runtime_pid"].as_u64().unwrap() as u32;
    let _started = Started(pid);
    assert!(
        bus_started_runtime(&bus),
        "the bus started the runtime; bus log:\n{}",
        bus.bus_log()
    );
    assert!(!bus.dir.path().join("state/radc/daemon.log").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_start_the_runtime_themselves_when_the_bus_cannot() {
    let bus = TestBus::activating(&[]);
    let broken = json(&run(radc(&bus).args([
        "setup",
        "--json",
        "--bin",
        "/bin/false",
    ])));
    assert_eq!(broken["changed"], true);
    let out = run(radc(&bus).args(["status", "--json"]));
    let status = json(&out);
    let _started = Started(status["runtime_pid"].as_u64().unwrap() as u32);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("could not start the radc runtime"),
        "the user is told"
    );
    assert!(bus.dir.path().join("state/radc/daemon.log").exists());
}

#[test]
fn setup_is_idempotent_and_undo_removes_only_its_own_files() {
    let bus = TestBus::activating(&[]);
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_radc")).unwrap();
    let exe = exe.to_str().unwrap();

    let first = set_up(&bus);
    assert_eq!(first["bin"], exe);
    let files = first["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    assert_eq!(files[0]["path"], service_file(&bus).to_str().unwrap());
    assert_eq!(files[1]["path"], unit_file(&bus).to_str().unwrap());
    assert_eq!(
        files[2]["path"],
        tray_autostart_file(&bus).to_str().unwrap()
    );
    assert!(files.iter().all(|f| f["action"] == "created"), "{first}");

    // Each file is exactly what a package would install.
    for (path, which) in [
        (service_file(&bus), "dbus-service"),
        (unit_file(&bus), "systemd-unit"),
        (tray_autostart_file(&bus), "tray-autostart"),
    ] {
        let printed = run(radc(&bus).args(["setup", "--print", which]));
        assert!(printed.status.success());
        assert_eq!(std::fs::read(&path).unwrap(), printed.stdout, "{which}");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let service = std::fs::read_to_string(service_file(&bus)).unwrap();
    assert!(service.contains("\n[D-BUS Service]\nName=org.radc.Runtime\n"));
    assert!(service.contains(&format!("\nExec={exe} daemon\n")));
    assert!(service.contains("\nSystemdService=radc.service\n"));
    let unit = std::fs::read_to_string(unit_file(&bus)).unwrap();
    for line in [
        "Type=dbus",
        "BusName=org.radc.Runtime",
        &format!("ExecStart={exe} daemon"),
        "Restart=on-failure",
        "Documentation=man:radc(1)",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} in\n{unit}");
    }
    // The tray's autostart entry is a valid desktop entry that runs this
    // radc's tray when the session starts, and is in no menu.
    let entry = std::fs::read_to_string(tray_autostart_file(&bus)).unwrap();
    for line in [
        &format!("Exec={exe} tray"),
        "NoDisplay=true",
        "X-GNOME-Autostart-enabled=true",
    ] {
        assert!(entry.lines().any(|l| l == line), "{line} in\n{entry}");
    }
    let validate = run(Command::new("desktop-file-validate").arg(tray_autostart_file(&bus)));
    assert!(
        validate.status.success() && validate.stdout.is_empty(),
        "desktop-file-validate complains"
    );

    // Again: nothing to do, nothing touched.
    let inode = std::fs::metadata(unit_file(&bus)).unwrap().ino();
    let second = json(&run(radc(&bus).args(["setup", "--json"])));
    assert_eq!(second["changed"], false, "{second}");
    assert!(
        second["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["action"] == "unchanged")
    );
    assert_eq!(std::fs::metadata(unit_file(&bus)).unwrap().ino(), inode);
    let text = run(radc(&bus).arg("setup"));
    assert!(text.status.success());
    assert!(String::from_utf8_lossy(&text.stdout).contains("Nothing changed"));

    // A stale file of ours (radc moved) is brought up to date.
    std::fs::write(
        service_file(&bus),
        service.replace(exe, "/old/place/radc").as_bytes(),
    )
    .unwrap();
    let third = json(&run(radc(&bus).args(["setup", "--json"])));
    assert_eq!(third["files"][0]["action"], "updated", "{third}");
    assert_eq!(third["files"][1]["action"], "unchanged", "{third}");
    assert_eq!(third["files"][2]["action"], "unchanged", "{third}");
    assert_eq!(
        std::fs::read_to_string(service_file(&bus)).unwrap(),
        service
    );

    // A unit someone else wrote is neither replaced nor removed, and then
    // nothing else is changed either.
    let foreign = "[Service]\nExecStart=/usr/local/bin/my-radc daemon\n";
    std::fs::write(unit_file(&bus), foreign).unwrap();
    for args in [&["setup"][..], &["setup", "--undo"]] {
        let out = run(radc(&bus).args(args));
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("was not written by radc setup"),
            "{args:?}"
        );
        assert_eq!(std::fs::read_to_string(unit_file(&bus)).unwrap(), foreign);
        assert_eq!(
            std::fs::read_to_string(service_file(&bus)).unwrap(),
            service
        );
    }

    // Undo removes radc's files, and only them.
    std::fs::remove_file(unit_file(&bus)).unwrap();
    let undone = json(&run(radc(&bus).args(["setup", "--undo", "--json"])));
    assert_eq!(undone["changed"], true, "{undone}");
    assert_eq!(undone["files"][0]["action"], "removed", "{undone}");
    assert_eq!(undone["files"][1]["action"], "absent", "{undone}");
    assert_eq!(undone["files"][2]["action"], "removed", "{undone}");
    assert!(!service_file(&bus).exists());
    assert!(!tray_autostart_file(&bus).exists());
    assert!(
        service_file(&bus).parent().unwrap().is_dir(),
        "directories stay"
    );
    let again = run(radc(&bus).args(["setup", "--undo"]));
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("Nothing changed"));
}

#[test]
fn setup_refuses_paths_that_would_need_quoting() {
    let bus = TestBus::activating(&[]);
    // A hard link, not a copy: a copy's write handle may leak into a process
    // another test forks meanwhile and make running it fail (ETXTBSY).
    let odd = tempfile::Builder::new()
        .prefix("my programs")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let copy = odd.path().join("radc");
    std::fs::hard_link(env!("CARGO_BIN_EXE_radc"), &copy).unwrap();

    // Run from there, and named explicitly.
    let mut from_copy = Command::new(&copy);
    from_copy
        .envs(bus.env())
        .env("XDG_DATA_HOME", bus.data_home())
        .arg("setup");
    for cmd in [
        &mut from_copy,
        radc(&bus).args(["setup", "--bin"]).arg(&copy),
        radc(&bus)
            .args(["setup", "--print", "systemd-unit", "--bin"])
            .arg(&copy),
    ] {
        let out = run(cmd);
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("would need quoted"), "{stderr}");
        assert!(stderr.contains("my programs"), "{stderr}");
    }
    assert!(!service_file(&bus).exists());
    assert!(!unit_file(&bus).exists());

    // A package names where radc will be; it need not exist yet.
    let printed =
        run(radc(&bus).args(["setup", "--print", "dbus-service", "--bin", "/usr/bin/radc"]));
    assert!(printed.status.success());
    assert!(String::from_utf8_lossy(&printed.stdout).contains("\nExec=/usr/bin/radc daemon\n"));
}

#[test]
fn systemd_accepts_the_unit() {
    let bus = TestBus::activating(&[]);
    set_up(&bus);
    // --man=no: the manual page is installed with the package, not here.
    let out = Command::new("systemd-analyze")
        .args(["--user", "verify", "--man=no"])
        .arg(unit_file(&bus))
        .envs(bus.env())
        .env("XDG_RUNTIME_DIR", bus.dir.path())
        .output()
        .expect("systemd-analyze runs (the systemd package)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {stderr}");
    assert!(
        !stderr.contains("radc.service"),
        "no complaint about the unit: {stderr}"
    );
}

/// Starts `radc daemon` with its standard error in `log` and `journal` as
/// `JOURNAL_STREAM`, and returns what it logged at start.
async fn daemon_log_with_journal_stream(journal: impl FnOnce(&Path) -> String) -> String {
    let mut bus = TestBus::bus_only();
    let log = bus.dir.path().join("runtime.log");
    std::fs::write(&log, "").unwrap();
    let stream = journal(&log);
    bus.start_runtime_with(Default::default(), &[], &[("JOURNAL_STREAM", &stream)])
        .await;
    bus.stop_runtime();
    bus.runtime_log()
}

fn starts_with_timestamp(line: &str) -> bool {
    // e.g. "2026-11-30T14:57:40.123456Z  INFO …"
    line.len() > 20 && line.as_bytes()[4] == b'-' && line.as_bytes()[10] == b'T'
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runtime_logging_to_the_journal_leaves_timestamps_to_it() {
    let journal = daemon_log_with_journal_stream(|log| {
        let m = std::fs::metadata(log).unwrap();
        format!("{}:{}", m.dev(), m.ino())
    })
    .await;
    let lines: Vec<&str> = journal.lines().collect();
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|l| !starts_with_timestamp(l)), "{journal}");
    assert!(journal.contains("INFO"), "{journal}");

    // JOURNAL_STREAM inherited from elsewhere (stderr is not that stream):
    // timestamps as usual.
    let file = daemon_log_with_journal_stream(|_| "1:1".to_owned()).await;
    assert!(
        file.lines().next().is_some_and(starts_with_timestamp),
        "{file}"
    );
}
