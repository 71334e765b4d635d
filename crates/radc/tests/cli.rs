//! The `radc` command line against a real runtime on a private bus.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Output, Stdio};
use std::time::Duration;

use common::{Answer, TestBus, TestClient, eventually};
use radc_client::proxy::{WorkspaceProxy, WorkspaceRegistrationProxy};
use radc_client::{Registration, Runtime};
use serde_json::Value;
use zbus::Connection;

/// A bus with the runtime serving on it.
async fn start_bus() -> TestBus {
    TestBus::start().await
}

/// A connection for SDK clients.
async fn client_connection(bus: &TestBus) -> Connection {
    bus.connect().await
}

/// Runs a command off the async threads (zbus needs them) and collects its
/// output; never waits more than 20 s.
async fn run(cmd: std::process::Command) -> Output {
    let what = format!("{cmd:?}");
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.stdin(Stdio::null()).kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(20), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within 20 s"))
        .expect("radc runs")
}

async fn radc(bus: &TestBus, args: &[&str]) -> Output {
    let mut cmd = bus.radc();
    cmd.args(args);
    run(cmd).await
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit status\nstdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

#[track_caller]
fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", stdout(out)))
}

/// Registers a client and waits until the runtime lists it as connected.
async fn register(
    bus: &TestBus,
    runtime: &Runtime,
    conn: &Connection,
    workspace: &str,
    name: &str,
    answer: Answer,
) -> Registration {
    let reg = runtime
        .add_resource(TestClient::new(workspace.to_owned(), name.to_owned()).answering(answer))
        .await
        .expect("AddResource");
    wait_connected(bus, conn, reg.cookie()).await;
    reg
}

/// Waits until the runtime lists `cookie` as connected.
async fn wait_connected(bus: &TestBus, conn: &Connection, cookie: u32) {
    let registration = WorkspaceRegistrationProxy::new(conn).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let rows = registration.list_resources().await.unwrap();
        if rows.iter().any(|r| r.0 == cookie && r.3 == "connected") {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "client {cookie} was not listed as connected: {rows:?}\nruntime log:\n{}",
            bus.runtime_log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_connections() {
    let bus = start_bus().await;
    let runtime_pid = bus.runtime_pid().unwrap();

    let out = radc(&bus, &["status"]).await;
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("No live connections"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains(&runtime_pid.to_string()));

    let out = radc(&bus, &["status", "--json"]).await;
    assert_exit(&out, 0);
    let report = json(&out);
    assert_eq!(report["runtime_pid"], runtime_pid);
    assert_eq!(report["workspaces"], serde_json::json!([]));

    let conn = client_connection(&bus).await;
    let runtime = Runtime::with_connection(conn.clone()).await.unwrap();
    let reg = register(
        &bus,
        &runtime,
        &conn,
        "rdweb.example.com",
        "Notepad",
        Answer::Ok,
    )
    .await;

    let out = radc(&bus, &["status", "--json"]).await;
    assert_exit(&out, 0);
    let report = json(&out);
    let workspaces = report["workspaces"].as_array().unwrap();
    assert_eq!(workspaces.len(), 1, "{report}");
    let ws = &workspaces[0];
    assert_eq!(ws["id"], "rdweb.example.com");
    // No feed names this workspace: its client's display name does.
    assert_eq!(ws["name"], "Notepad");
    assert_eq!(ws["subscribed"], false);
    let connections = ws["connections"].as_array().unwrap();
    assert_eq!(connections.len(), 1, "{report}");
    let c = &connections[0];
    assert_eq!(c["cookie"], reg.cookie());
    assert_eq!(c["display_name"], "Notepad");
    assert_eq!(c["state"], "connected");
    assert_eq!(c["pid"], std::process::id(), "the client is this test");
    assert_eq!(c["client"], conn.unique_name().unwrap().as_str());
    assert!(c["registered_at_unix_ms"].as_u64().unwrap() > 1_600_000_000_000);

    let out = radc(&bus, &["status"]).await;
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains("Notepad (rdweb.example.com): 1 connection"),
        "{text}"
    );
    assert!(text.contains("Notepad"), "{text}");
    assert!(text.contains("connected"), "{text}");
    assert!(text.contains(&reg.cookie().to_string()), "{text}");

    runtime.remove_resource(reg).await.unwrap();
    let out = radc(&bus, &["status", "--json"]).await;
    assert_eq!(json(&out)["workspaces"], serde_json::json!([]));
}

/// With `--json`, errors are JSON on standard output too: the message, and
/// the HRESULT and kind when the runtime refused the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_errors_are_json() {
    let bus = start_bus().await;
    let out = radc(&bus, &["disconnect", "--json", "nobody"]).await;
    assert_exit(&out, 5);
    let report = json(&out);
    assert_eq!(report["code"], 0x8007_0490u32, "{report}");
    assert_eq!(report["kind"], "NotFound", "{report}");
    assert!(
        report["error"].as_str().unwrap().contains("nobody"),
        "{report}"
    );
    assert_eq!(stderr(&out), "", "nothing but JSON");

    // An error with no HRESULT: no code.
    let out = radc(&bus, &["launch", "--json", "ws", "App", "relative/file"]).await;
    assert_exit(&out, 1);
    let report = json(&out);
    assert!(report["code"].is_null(), "{report}");
    assert!(
        report["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{report}"
    );

    // A command line clap refuses: exit 2, still JSON.
    let out = radc(&bus, &["status", "--json", "--bogus"]).await;
    assert_exit(&out, 2);
    assert!(json(&out)["error"].as_str().unwrap().contains("--bogus"));
}

/// The settings file: its values taken, flags winning, mistakes named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_reads_its_settings_file() {
    let bus = TestBus::bus_only();
    let dir = bus.config_home().join("radc");
    std::fs::create_dir_all(&dir).unwrap();
    let conn = bus.connect().await;
    let dbus = zbus::fdo::DBusProxy::new(&conn).await.unwrap();
    // Starts `radc daemon`, waits until it serves, stops it, and returns
    // what it printed.
    let serve = async |args: &[&str]| {
        let child = bus
            .radc()
            .arg("daemon")
            .args(args)
            .env_remove("RADC_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        eventually(Duration::from_secs(10), "the runtime serves", || async {
            dbus.name_has_owner("org.radc.Runtime".try_into().unwrap())
                .await
                .unwrap()
        })
        .await;
        // SIGTERM: a clean stop, after everything it logged on the way.
        let status = std::process::Command::new("kill")
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        child.wait_with_output().unwrap()
    };
    std::fs::write(
        dir.join("config.toml"),
        "grace = 0.25\nrefresh-interval = 3600\nfreerdp = \"/opt/freerdp/xfreerdp\"\n",
    )
    .unwrap();
    let out = serve(&["--refresh-interval", "60"]).await;
    let log = stderr(&out);
    assert!(log.contains("grace=250ms"), "{log}");
    assert!(log.contains("refresh_interval=60s"), "the flag wins: {log}");
    assert!(log.contains("/opt/freerdp/xfreerdp"), "{log}");
    assert!(log.contains("disconnect_timeout=5s"), "the default: {log}");

    // log-level is used unless RADC_LOG says otherwise.
    std::fs::write(dir.join("config.toml"), "log-level = \"warn\"\n").unwrap();
    let out = serve(&[]).await;
    assert!(!stderr(&out).contains("serving"), "{}", stderr(&out));

    std::fs::write(dir.join("config.toml"), "grace = 3\ngrase = 4\n").unwrap();
    let out = bus.radc().arg("daemon").output().unwrap();
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("grase") && err.contains("config.toml"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_reports_each_client() {
    let bus = start_bus().await;
    let conn = client_connection(&bus).await;
    let runtime = Runtime::with_connection(conn.clone()).await.unwrap();

    // Every client answers: exit 0.
    let good = register(&bus, &runtime, &conn, "ws-good", "Calc", Answer::Ok).await;
    let out = radc(&bus, &["disconnect", "ws-good", "--json"]).await;
    assert_exit(&out, 0);
    let report = json(&out);
    assert_eq!(report["workspace_id"], "ws-good");
    assert_eq!(report["ok"], true);
    assert_eq!(
        report["results"],
        serde_json::json!([{
            "cookie": good.cookie(),
            "display_name": "Calc",
            "outcome": "ok",
            "detail": "",
        }])
    );

    // One client fails: exit 3, and the report says which.
    let fine = register(&bus, &runtime, &conn, "ws-mixed", "Word", Answer::Ok).await;
    let bad = register(&bus, &runtime, &conn, "ws-mixed", "Excel", Answer::Fail).await;
    let out = radc(&bus, &["disconnect", "ws-mixed", "--json"]).await;
    assert_exit(&out, 3);
    let report = json(&out);
    assert_eq!(report["workspace_id"], "ws-mixed");
    assert_eq!(report["ok"], false);
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{report}");
    let row = |cookie: u32| {
        results
            .iter()
            .find(|r| r["cookie"] == cookie)
            .unwrap_or_else(|| panic!("no row for cookie {cookie}: {report}"))
    };
    assert_eq!(row(fine.cookie())["outcome"], "ok");
    assert_eq!(row(fine.cookie())["display_name"], "Word");
    let failed = row(bad.cookie());
    assert_eq!(failed["outcome"], "error");
    assert_eq!(failed["display_name"], "Excel");
    let detail = failed["detail"].as_str().unwrap();
    assert!(detail.contains("org.radc.Error.Failed"), "{detail}");
    assert!(detail.contains("0x80004005"), "{detail}");
    assert!(detail.contains("the session refused to close"), "{detail}");

    // A client that does not answer in time: exit 3 with a timeout row, and
    // the command does not wait for the client.
    let slow = register(&bus, &runtime, &conn, "ws-slow", "Paint", Answer::Hang).await;
    let started = std::time::Instant::now();
    let out = radc(&bus, &["disconnect", "ws-slow", "--timeout", "0.3"]).await;
    assert_exit(&out, 3);
    assert!(started.elapsed() < Duration::from_secs(10));
    let text = stdout(&out);
    assert!(text.contains("timeout"), "{text}");
    assert!(text.contains("Paint"), "{text}");
    assert!(text.contains(&slow.cookie().to_string()), "{text}");

    // Unknown workspace: exit 5 with the NotFound HRESULT.
    let out = radc(&bus, &["disconnect", "unknown-ws"]).await;
    assert_exit(&out, 5);
    assert!(stderr(&out).contains("0x80070490"), "{}", stderr(&out));
    assert!(stderr(&out).contains("unknown-ws"), "{}", stderr(&out));
    let out = radc(&bus, &["disconnect", "unknown-ws", "--json"]).await;
    assert_exit(&out, 5);
    assert_eq!(json(&out)["code"], 0x8007_0490u32, "{}", stdout(&out));

    // Wrong usage: exit 2.
    let out = radc(&bus, &["disconnect", "ws-good", "--timeout", "soon"]).await;
    assert_exit(&out, 2);
    let out = radc(&bus, &["disconnect"]).await;
    assert_exit(&out, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restype_commands() {
    let bus = start_bus().await;
    let file = bus.config_home().join("radc/restypes.json");

    let out = radc(&bus, &["restype", "list", "--json"]).await;
    assert_exit(&out, 0);
    assert_eq!(json(&out), serde_json::json!([]));
    let out = radc(&bus, &["restype", "list"]).await;
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("No resource types"),
        "{}",
        stdout(&out)
    );

    let out = radc(&bus, &["restype", "add", ".vnc", "/bin/sh"]).await;
    assert_exit(&out, 0);
    let out = radc(&bus, &["restype", "add", ".spice", "/usr/bin/env"]).await;
    assert_exit(&out, 0);
    assert!(file.exists());
    let out = radc(&bus, &["restype", "list", "--json"]).await;
    assert_exit(&out, 0);
    assert_eq!(
        json(&out),
        serde_json::json!([
            {"extension": ".spice", "launcher": "/usr/bin/env"},
            {"extension": ".vnc", "launcher": "/bin/sh"},
        ])
    );
    let out = radc(&bus, &["restype", "list"]).await;
    let text = stdout(&out);
    assert!(text.contains(".vnc") && text.contains("/bin/sh"), "{text}");

    // Refusals exit 1 and show the HRESULT.
    let out = radc(&bus, &["restype", "add", ".vnc", "/bin/sh"]).await;
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("0x80070057"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("radc restype modify"),
        "a command, not a D-Bus method: {}",
        stderr(&out)
    );
    // .rdp always opens with FreeRDP; programs never open at all.
    let out = radc(&bus, &["restype", "add", ".rdp", "/bin/sh"]).await;
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("always open with FreeRDP"),
        "{}",
        stderr(&out)
    );
    for program in [".exe", ".SH", ".desktop"] {
        let out = radc(&bus, &["restype", "add", program, "/bin/sh"]).await;
        assert_exit(&out, 1);
        assert!(stderr(&out).contains("run programs"), "{}", stderr(&out));
    }
    let out = radc(&bus, &["restype", "add", "vnc", "/bin/sh"]).await;
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("0x80070057"), "{}", stderr(&out));
    let out = radc(&bus, &["restype", "add", ".rdg", "sh"]).await;
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("0x80070057"), "{}", stderr(&out));
    let out = radc(&bus, &["restype", "modify", ".nope", "/bin/sh"]).await;
    assert_exit(&out, 5);
    assert!(stderr(&out).contains("0x80070490"), "{}", stderr(&out));
    let out = radc(&bus, &["restype", "remove", ".nope"]).await;
    assert_exit(&out, 5);
    assert!(stderr(&out).contains("0x80070490"), "{}", stderr(&out));

    let out = radc(&bus, &["restype", "modify", ".vnc", "/bin/true"]).await;
    assert_exit(&out, 0);
    let out = radc(&bus, &["restype", "remove", ".spice"]).await;
    assert_exit(&out, 0);
    let out = radc(&bus, &["restype", "list", "--json"]).await;
    assert_eq!(
        json(&out),
        serde_json::json!([{"extension": ".vnc", "launcher": "/bin/true"}])
    );

    // The machine-wide table, as root.
    let out = radc(
        &bus,
        &["restype", "add", "--machine-wide", ".rdpx", "/bin/sh"],
    )
    .await;
    assert_exit(&out, 0);
    assert!(bus.machine_config_dir().join("restypes.json").exists());
    let out = radc(&bus, &["restype", "list", "--machine-wide", "--json"]).await;
    assert_eq!(
        json(&out),
        serde_json::json!([{"extension": ".rdpx", "launcher": "/bin/sh"}])
    );
    let out = radc(&bus, &["restype", "list", "--json"]).await;
    assert_eq!(
        json(&out),
        serde_json::json!([{"extension": ".vnc", "launcher": "/bin/true"}])
    );
    let out = radc(&bus, &["restype", "remove", "--machine-wide", ".rdpx"]).await;
    assert_exit(&out, 0);
    let out = radc(&bus, &["restype", "list", "--machine-wide", "--json"]).await;
    assert_eq!(json(&out), serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_exits_with_4() {
    let bus = start_bus().await;
    let mut cmd = bus.radc();
    cmd.arg("daemon")
        .arg("--machine-config-dir")
        .arg(bus.machine_config_dir());
    let out = run(cmd).await;
    assert_exit(&out, 4);
    let err = stderr(&out);
    assert!(err.contains("already running"), "{err}");
    assert!(
        err.contains(&bus.runtime_pid().unwrap().to_string()),
        "the message names the running runtime: {err}"
    );

    // The first one still serves.
    let conn = bus.connect().await;
    let ws = WorkspaceProxy::new(&conn).await.unwrap();
    assert_eq!(
        ws.get_process_id().await.unwrap(),
        bus.runtime_pid().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_explains_exit_codes_and_timeout() {
    let bus = TestBus::bus_only();
    // Help is wrapped to the terminal; compare with whitespace collapsed.
    let flat = |out: &Output| stdout(out).split_whitespace().collect::<Vec<_>>().join(" ");
    let out = radc(&bus, &["--help"]).await;
    assert_exit(&out, 0);
    let text = flat(&out);
    for needle in [
        "Exit status: 0 success, 1 error, 2 wrong usage, 3 some clients did not disconnect cleanly, 4 another runtime",
        "5 the workspace, resource, extension or publisher named does not exist",
        "RADC_LOG",
        "$XDG_CONFIG_HOME/radc/config.toml",
        "radc disconnect",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    let out = radc(&bus, &["disconnect", "--help"]).await;
    assert_exit(&out, 0);
    let text = flat(&out);
    for needle in ["--timeout", "--json", "exits with 3"] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    let out = radc(&bus, &["no-such-command"]).await;
    assert_exit(&out, 2);
}

/// Every live `radc daemon` process serving `bus`, found through /proc.
fn daemons_on(bus: &TestBus) -> Vec<u32> {
    let wanted = format!("DBUS_SESSION_BUS_ADDRESS={}", bus.address);
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let (Ok(cmdline), Ok(environ)) = (
            std::fs::read(entry.path().join("cmdline")),
            std::fs::read(entry.path().join("environ")),
        ) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_daemon = args.first().is_some_and(|a| a.ends_with(b"/radc"))
            && args.get(1) == Some(&&b"daemon"[..]);
        if is_daemon && environ.split(|b| *b == 0).any(|v| v == wanted.as_bytes()) {
            pids.push(pid);
        }
    }
    pids
}

fn kill(pid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// Stops runtimes the test started through `radc`, even if it fails.
struct StartedRuntimes<'a>(&'a TestBus);

impl Drop for StartedRuntimes<'_> {
    fn drop(&mut self) {
        daemons_on(self.0).into_iter().for_each(kill);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_start_the_runtime_when_it_is_missing() {
    let bus = TestBus::bus_only();
    let _cleanup = StartedRuntimes(&bus);
    let conn = bus.connect().await;
    let dbus = zbus::fdo::DBusProxy::new(&conn).await.unwrap();
    let name = || zbus::names::BusName::try_from("org.radc.Runtime").unwrap();
    assert!(!dbus.name_has_owner(name()).await.unwrap());
    // A log an older version left readable by everyone.
    let log_dir = bus.dir.path().join("state/radc");
    let log_path = log_dir.join("daemon.log");
    std::fs::create_dir_all(&log_dir).unwrap();
    std::fs::write(&log_path, "an earlier run\n").unwrap();
    for (path, mode) in [(&log_dir, 0o755), (&log_path, 0o644)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    // A command finding no runtime starts one and is served by it. (Should
    // this hang: the runtime claims its name before zbus's object-server
    // task listens, and the command's first call is dropped; see the report
    // on radc-runtime's `run`.)
    let mut cmd = bus.radc();
    cmd.args(["status", "--json"]);
    let out = run(cmd).await;
    assert_exit(&out, 0);
    assert!(dbus.name_has_owner(name()).await.unwrap());
    let ws = WorkspaceProxy::new(&conn).await.unwrap();
    let pid = ws.get_process_id().await.unwrap();
    let report = json(&out);
    assert_eq!(report["runtime_pid"], pid);
    assert_eq!(report["workspaces"], serde_json::json!([]));
    assert_eq!(daemons_on(&bus), vec![pid], "one runtime, started by radc");
    let log = std::fs::read_to_string(&log_path)
        .expect("the started runtime logs under $XDG_STATE_HOME/radc");
    assert!(log.contains("serving"), "{log}");
    assert!(log.starts_with("an earlier run\n"), "appended: {log}");
    // It names workspaces and users: only the user may read it.
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&log_path), 0o600);
    assert_eq!(mode(&log_dir), 0o700);

    // The next command uses it.
    let out = radc(&bus, &["status"]).await;
    assert_exit(&out, 0);
    assert!(stdout(&out).contains(&pid.to_string()), "{}", stdout(&out));
    assert_eq!(daemons_on(&bus), vec![pid]);

    // Leave nothing running.
    kill(pid);
    eventually(Duration::from_secs(5), "the runtime to stop", || async {
        !dbus.name_has_owner(name()).await.unwrap() && daemons_on(&bus).is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_add_names_both_forms_and_renames() {
    let bus = TestBus::bus_only();
    let out = radc(&bus, &["trust", "add"]).await;
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("<THUMBPRINT|--from <FILE.rdp>>"),
        "{}",
        stderr(&out)
    );
    let thumbprint = "0123456789abcdef0123456789abcdef01234567";
    let out = radc(&bus, &["trust", "add", thumbprint]).await;
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), format!("Trusted {thumbprint}.\n"));
    let out = radc(&bus, &["trust", "add", thumbprint, "--name", "Contoso"]).await;
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("now named (Contoso)"),
        "{}",
        stdout(&out)
    );
    let out = radc(&bus, &["trust", "list", "--json"]).await;
    let listed = json(&out);
    assert_eq!(listed["publishers"][0]["name"], "Contoso", "{listed}");
}

/// Every command that names something that is not there says so in one
/// form ("no THING "NAME" …; `radc …` lists them"), with the same HRESULT
/// and kind, and exit status 5, whether the runtime or the command itself
/// found out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_not_found_has_one_form_and_code() {
    let bus = start_bus().await;
    let thumbprint = "AB".repeat(20);
    let commands: &[&[&str]] = &[
        &["disconnect", "nobody"],
        &["resources", "nobody"],
        &["refresh", "nobody"],
        &["unsubscribe", "nobody"],
        &["launch", "nobody", "App"],
        &["hide", "nothing"],
        &["show", "nothing"],
        &["restype", "remove", ".zzz"],
        &["restype", "modify", ".zzz", "/usr/bin/true"],
        &["trust", "remove", &thumbprint],
    ];
    for args in commands {
        let out = radc(&bus, args).await;
        assert_exit(&out, 5);
        let said = stderr(&out);
        let message = said
            .strip_prefix("radc: 0x80070490: no ")
            .unwrap_or_else(|| panic!("{args:?}: {said}"));
        assert!(
            message.contains("; `radc ") && message.trim_end().ends_with("lists them"),
            "{args:?}: {said}"
        );
        assert_eq!(said.lines().count(), 1, "{args:?}: {said}");

        let mut with_json = args.to_vec();
        with_json.insert(
            if args[0] == "restype" || args[0] == "trust" {
                2
            } else {
                1
            },
            "--json",
        );
        let out = radc(&bus, &with_json).await;
        assert_exit(&out, 5);
        let report = json(&out);
        assert_eq!(report["code"], 0x8007_0490u32, "{args:?}: {report}");
        assert_eq!(report["kind"], "NotFound", "{args:?}: {report}");
        assert_eq!(
            report["error"].as_str().unwrap(),
            said.trim_end().strip_prefix("radc: ").unwrap(),
            "{args:?}"
        );
    }
}

/// One connection of a workspace can be disconnected by its cookie (the
/// tray's "Disconnect" on a single connection); the others stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_is_disconnected_by_its_cookie() {
    let bus = start_bus().await;
    let conn = client_connection(&bus).await;
    let runtime = Runtime::with_connection(conn.clone()).await.unwrap();
    let first = register(&bus, &runtime, &conn, "ws-one", "First", Answer::Ok).await;
    let second = register(&bus, &runtime, &conn, "ws-one", "Second", Answer::Ok).await;
    let proxy = radc_client::proxy::RuntimeProxy::new(&conn).await.unwrap();
    let (outcome, detail) = proxy
        .disconnect_connection(first.cookie(), 0)
        .await
        .unwrap();
    assert_eq!((outcome.as_str(), detail.as_str()), ("ok", ""));
    let registration = WorkspaceRegistrationProxy::new(&conn).await.unwrap();
    let rows = registration.list_resources().await.unwrap();
    let state = |cookie: u32| rows.iter().find(|r| r.0 == cookie).map(|r| r.3.clone());
    assert_eq!(
        state(first.cookie()).as_deref(),
        Some("disconnecting"),
        "{rows:?}"
    );
    assert_eq!(
        state(second.cookie()).as_deref(),
        Some("connected"),
        "{rows:?}"
    );
    let err = proxy.disconnect_connection(999_999, 0).await.unwrap_err();
    assert!(err.to_string().contains("0x80070490"), "{err}");
}

fn chains(name: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../radc-rdp/tests/data/signed/chains")
        .join(name)
        .to_str()
        .unwrap()
        .to_owned()
}

/// `radc trust check` says whether a signer is a verified publisher (its
/// chain reaches a CA the system, or `--ca-file`, trusts) and why not;
/// trusting a publisher stays a separate matter. The chains are the test
/// CAs of radc-rdp (`tests/data/signed/chains/generate.sh`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_check_tells_verified_from_unknown_publishers() {
    let bus = TestBus::bus_only();
    let root = chains("root.pem");
    let publisher = chains("publisher.rdp");

    // The system's store does not hold the test root.
    let out = radc(&bus, &["trust", "check", "--json", &publisher]).await;
    assert_exit(&out, 0);
    let report = json(&out);
    assert_eq!(
        report["publisher"], "Contoso Verified Publisher",
        "{report}"
    );
    assert_eq!(report["verified_publisher"], false, "{report}");
    let why = report["unknown_publisher_reason"].as_str().unwrap();
    assert!(why.contains("does not chain"), "{why}");

    // With it as an extra root: verified, and still not trusted.
    let out = radc(
        &bus,
        &["trust", "check", "--json", "--ca-file", &root, &publisher],
    )
    .await;
    assert_exit(&out, 0);
    let report = json(&out);
    assert_eq!(report["verified_publisher"], true, "{report}");
    assert_eq!(report["unknown_publisher_reason"], Value::Null, "{report}");
    assert_eq!(report["trusted"], false, "{report}");
    let out = radc(&bus, &["trust", "check", "--ca-file", &root, &publisher]).await;
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("\n  verified publisher: yes"),
        "{}",
        stdout(&out)
    );

    // The system's store is what SSL_CERT_FILE names, as for OpenSSL.
    let mut cmd = bus.radc();
    cmd.env("SSL_CERT_FILE", &root)
        .args(["trust", "check", "--json", &publisher]);
    let report = json(&run(cmd).await);
    assert_eq!(report["verified_publisher"], true, "{report}");

    // Reasons, in the text and the JSON alike.
    for (file, reason) in [
        ("expired.rdp", "its certificate expired on 2001-01-01"),
        ("mail.rdp", "its certificate is not meant for signing"),
        ("stranger.rdp", "did not sign it"),
        ("publisher-alone.rdp", "does not chain"),
    ] {
        let file = chains(file);
        let out = radc(&bus, &["trust", "check", "--ca-file", &root, &file]).await;
        assert_exit(&out, 0);
        let line = stdout(&out)
            .lines()
            .find(|l| l.starts_with("  verified publisher: "))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("{}", stdout(&out)));
        assert!(line.starts_with("  verified publisher: no, "), "{line}");
        assert!(line.contains(reason), "{file}: {line}");
        let out = radc(
            &bus,
            &["trust", "check", "--json", "--ca-file", &root, &file],
        )
        .await;
        let report = json(&out);
        assert_eq!(report["verified_publisher"], false, "{report}");
        let why = report["unknown_publisher_reason"].as_str().unwrap();
        assert!(line.ends_with(why), "{line} / {why}");
    }

    // Unsigned: nobody to verify.
    let out = radc(&bus, &["trust", "check", "--json", &chains("../app.rdp")]).await;
    assert_exit(&out, 0);
    let report = json(&out);
    assert_eq!(report["signed"], false, "{report}");
    assert_eq!(report["verified_publisher"], false, "{report}");
    assert_eq!(report["unknown_publisher_reason"], Value::Null, "{report}");

    // A CA file given on purpose must be usable.
    for bad in [chains("missing.pem"), chains("generate.sh")] {
        let out = radc(&bus, &["trust", "check", "--ca-file", &bad, &publisher]).await;
        assert!(!out.status.success(), "{bad}: {}", stdout(&out));
        assert!(stderr(&out).contains(&bad), "{}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    }
}
