//! `radc reconnect` and `Workspaces1.Reconnect` as a user and a program see
//! them: a real runtime on a real dbus-daemon, a real Secret Service
//! (gnome-keyring) holding the workspace's password, and the test RD Web
//! Access server (`feed_server.py`: NTLM by pyspnego, `RDWebService.asmx`
//! answering in MS-RDWR's section 4.1 envelope).
//!
//! Stood in: FreeRDP. The sessions the server returns name a host that
//! does not exist, so a real FreeRDP would only fail to connect; what
//! matters here is what the runtime starts FreeRDP with. The stand-in
//! answers `/version` like FreeRDP 3, records its arguments and standard
//! input, and stays up for a while like a connection would.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::feed_server::FeedServer;
use common::keyring::Keyring;
use common::recorder::recorded;
use common::{TestBus, Timeouts};
use radc_client::proxy::WorkspacesProxy;
use serde_json::Value;

const PASSWORD: &str = "Secr3t-pw";

fn stand_in_freerdp(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("freerdp-stand-in");
    let records = dir.join("records");
    std::fs::create_dir_all(&records).unwrap();
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             if [ \"$1\" = /version ]; then echo 'This is FreeRDP version 3.5.1 (3.5.1)'; exit 0; fi\n\
             printf '%s\\n' \"$@\" > '{records}/argv.'$$.tmp\n\
             cat > '{records}/stdin.'$$\n\
             mv '{records}/argv.'$$.tmp '{records}/argv.'$$\n\
             exec sleep 20\n",
            records = records.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn wait_for_records(dir: &Path, count: usize) -> Vec<(Vec<String>, String)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let records = recorded(dir);
        if records.len() >= count || Instant::now() > deadline {
            return records;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    eprintln!(
        "{:?}: {}\nstdout:\n{}\nstderr:\n{}",
        cmd.get_args().collect::<Vec<_>>(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

struct Setup {
    bus: TestBus,
    server: FeedServer,
    runtime_args: Vec<std::ffi::OsString>,
    _keyring: Keyring,
}

impl Setup {
    async fn start() -> Setup {
        let server = FeedServer::start();
        let mut bus = TestBus::bus_only();
        let keyring = Keyring::start(&bus).await;
        let freerdp = stand_in_freerdp(bus.dir.path());
        let runtime_args = vec!["--freerdp".into(), freerdp.into_os_string()];
        let args: Vec<&std::ffi::OsStr> = runtime_args.iter().map(|a| a.as_os_str()).collect();
        bus.start_runtime_with(Timeouts::default(), &args, &[])
            .await;
        Setup {
            bus,
            server,
            runtime_args,
            _keyring: keyring,
        }
    }

    /// Subscribes to the feed of `mode` as alice; the password goes to
    /// the keyring. Returns the workspace id.
    fn subscribe(&self, mode: &str) -> String {
        let ca = self.server.certs.path().join("ca.pem");
        let mut child = self
            .bus
            .radc()
            .args([
                "subscribe",
                "--json",
                "--password-stdin",
                "-u",
                "RADCTEST\\alice",
            ])
            .arg("--ca-file")
            .arg(&ca)
            .arg(self.server.feed_url(mode, mode))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success() && !text(&out.stdout).contains("not stored"),
            "{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        format!("test-{mode}")
    }

    fn reconnect(&self, args: &[&str]) -> Output {
        run(self.bus.radc().arg("reconnect").args(args))
    }

    fn stats(&self, tenant: &str) -> Value {
        serde_json::from_str(&self.server.control(tenant, "stats", None)).unwrap()
    }

    fn records(&self) -> Vec<(Vec<String>, String)> {
        recorded(self.bus.dir.path())
    }
}

/// A signed file of radc-rdp's fixtures as text (they are UTF-16LE).
fn signed_fixture(name: &str) -> String {
    let bytes = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../radc-rdp/tests/data/signed")
            .join(name),
    )
    .unwrap();
    let units: Vec<u16> = bytes[2..]
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).unwrap()
}

/// A `GetRDPFiles` answer (MS-RDWR 4.1's envelope) with these sessions.
fn answer(sessions: &[(&str, &str)]) -> String {
    let entries: String = sessions
        .iter()
        .map(|(rdp, rct)| {
            let rdp = rdp
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('\r', "&#13;");
            format!(
                "<ReconnectContent><rdpStream>{rdp}</rdpStream><rct>{rct}</rct></ReconnectContent>"
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><GetRDPFilesResponse xmlns="http://schemas.microsoft.com/ts/2010/09/rdweb"><GetRDPFilesResult><version>8.0</version><wkspRC>{entries}</wkspRC></GetRDPFilesResult></GetRDPFilesResponse></soap:Body></soap:Envelope>"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_launches_what_the_server_returns_with_the_workspaces_checks() {
    let mut setup = Setup::start().await;
    let sessions = setup.subscribe("reconnect");
    let off = setup.subscribe("noreconnect");
    let none = setup.subscribe("reconnectnone");
    let bad = setup.subscribe("reconnectbad");
    let fault = setup.subscribe("reconnectfault");

    // The two sessions of the answer are launched, signed in as the
    // workspace's user with its stored password (on standard input).
    let out = setup.reconnect(&["--json", &sessions]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows.iter()
            .all(|r| r["outcome"] == "launched" && r["workspace"] == sessions.as_str())
    );
    assert_eq!(rows[0]["name"], "Desktop on rdsh.radc.test");
    assert_eq!(rows[1]["name"], "Calculator");
    assert_eq!(rows[0]["detail"], "unsigned");
    let records = wait_for_records(setup.bus.dir.path(), 2);
    assert_eq!(records.len(), 2, "{records:?}");
    for (argv, stdin) in &records {
        assert!(
            argv.iter()
                .any(|a| a == "/v:rdsh.radc.test" || a == "/v:rdsh.radc.test:3389"),
            "{argv:?}"
        );
        assert!(argv.contains(&"/u:alice".to_owned()), "{argv:?}");
        assert!(argv.contains(&"/d:RADCTEST".to_owned()), "{argv:?}");
        assert!(argv.iter().all(|a| !a.contains(PASSWORD)), "{argv:?}");
        assert_eq!(stdin.trim_end(), PASSWORD);
    }
    assert!(
        records.iter().any(|(argv, _)| argv
            .iter()
            .any(|a| a.starts_with("/app:") && a.contains("||calc"))),
        "{records:?}"
    );
    let asked = setup.stats("reconnect");
    assert_eq!(asked["rdweb"].as_array().unwrap().len(), 1, "{asked}");
    assert_eq!(asked["rdweb"][0]["signed_in"], true);

    // The connections are the workspace's, as a launched resource is.
    let conn = setup.bus.connect().await;
    let runtime = radc_client::proxy::RuntimeProxy::new(&conn).await.unwrap();
    let listed = runtime.list_connections().await.unwrap();
    let ours: Vec<_> = listed
        .iter()
        .filter(|c| c.1 == sessions)
        .map(|c| c.3.clone())
        .collect();
    assert_eq!(ours.len(), 2, "{listed:?}");

    // A workspace whose feed says it does not offer reconnection: its
    // server sees no request at all, feed included.
    let before = setup.stats("noreconnect");
    let out = setup.reconnect(&[&off]);
    assert!(out.status.success());
    assert!(
        text(&out.stderr).contains("does not offer reconnection"),
        "{}",
        text(&out.stderr)
    );
    let after = setup.stats("noreconnect");
    assert_eq!(after["rdweb"].as_array().unwrap().len(), 0);
    assert_eq!(after["feed_ok"], before["feed_ok"]);

    // Nothing to reconnect.
    let out = setup.reconnect(&[&none]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).trim(), "No disconnected sessions.");

    // A malformed answer and a fault: clear errors, nothing launched.
    let out = setup.reconnect(&[&bad]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not well-formed XML"),
        "{}",
        text(&out.stderr)
    );
    let out = setup.reconnect(&["--json", &fault]);
    assert_eq!(out.status.code(), Some(1));
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["outcome"], "failed");
    assert!(
        rows[0]["detail"]
            .as_str()
            .unwrap()
            .contains("The connection broker is not available."),
        "{rows}"
    );
    assert_eq!(setup.records().len(), 2, "nothing more was launched");

    // Not subscribed: exit 5, as everywhere.
    let out = setup.reconnect(&["no-such-workspace"]);
    assert_eq!(out.status.code(), Some(5));

    // The same method on the bus, for every workspace at once.
    let workspaces = WorkspacesProxy::new(&conn).await.unwrap();
    setup
        .server
        .control("reconnect", "answer", Some(answer(&[]).as_bytes()));
    let rows = workspaces.reconnect("", HashMap::new()).await.unwrap();
    let outcome = |id: &str| -> Vec<String> {
        rows.iter()
            .filter(|r| r.0 == id)
            .map(|r| r.1.clone())
            .collect()
    };
    assert_eq!(outcome(&sessions), ["none"]);
    assert_eq!(outcome(&off), ["not-offered"]);
    assert_eq!(outcome(&none), ["none"]);
    assert_eq!(outcome(&bad), ["failed"]);
    assert_eq!(outcome(&fault), ["failed"]);

    // A tampered signed file is refused like a feed's; the intact one
    // beside it is launched.
    let signed = signed_fixture("app-sha256.rdp");
    let tampered = signed_fixture("tampered-value.rdp");
    setup.server.control(
        "reconnect",
        "answer",
        Some(
            answer(&[
                (&tampered, "REMOTEAPPLICATION"),
                (&signed, "REMOTEAPPLICATION"),
            ])
            .as_bytes(),
        ),
    );
    let out = setup.reconnect(&["--json", &sessions]);
    assert_eq!(out.status.code(), Some(1));
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["outcome"], "refused", "{rows}");
    assert!(
        rows[0]["detail"].as_str().unwrap().contains("tampered"),
        "{rows}"
    );
    assert_eq!(rows[1]["outcome"], "launched", "{rows}");
    assert_eq!(
        rows[1]["detail"],
        "signed by Contoso RDP Publisher, an unknown publisher (not trusted)"
    );
    assert_eq!(wait_for_records(setup.bus.dir.path(), 3).len(), 3);

    // At the start of the session, when the settings ask for it.
    setup
        .server
        .control("reconnect", "answer", Some(answer(&[]).as_bytes()));
    setup.bus.stop_runtime();
    let settings = setup.bus.config_home().join("radc");
    std::fs::create_dir_all(&settings).unwrap();
    std::fs::write(settings.join("config.toml"), "reconnect-at-start = true\n").unwrap();
    let desktop = "full address:s:rdsh-again.radc.test\r\n";
    setup.server.control(
        "reconnect",
        "answer",
        Some(answer(&[(desktop, "REMOTEDESKTOP")]).as_bytes()),
    );
    let args: Vec<&std::ffi::OsStr> = setup.runtime_args.iter().map(|a| a.as_os_str()).collect();
    setup
        .bus
        .start_runtime_with(Timeouts::default(), &args, &[])
        .await;
    let records = wait_for_records(setup.bus.dir.path(), 4);
    assert!(
        records
            .iter()
            .any(|(argv, _)| argv.contains(&"/v:rdsh-again.radc.test".to_owned())),
        "not reconnected at start: {records:?}\n{}",
        setup.bus.runtime_log()
    );
}
