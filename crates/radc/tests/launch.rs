//! Launching resources with real parts: a feed on loopback, the runtime on a
//! private bus, the real `xfreerdp` connecting to a real RDP server
//! (`freerdp-shadow-cli` on Xvfb, checking the password with NTLM), a
//! Python custom client in the same workspace, and `radc launch`, `radc
//! status` and `radc disconnect` as a user runs them.

mod common;

use common::keyring::Keyring;
use common::recorder::recorded;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::pyclient::PyClient;
use common::rdp::{RdpServer, XvfbDisplay};
use common::site::Site;
use common::{TestBus, Timeouts, alive, eventually};
use futures_util::StreamExt;
use radc_client::proxy::{
    RuntimeProxy, WorkspaceProxy, WorkspaceRegistrationProxy, WorkspaceScriptableProxy,
};
use serde_json::Value;

const WORKSPACE: &str = "rdweb.launch.test";

/// Writes a feed with `(id, title, type, extension, file contents)`
/// resources.
fn publish(root: &Path, resources: &[(&str, &str, &str, &str, &[u8])]) {
    std::fs::create_dir_all(root.join("RDWeb/Feed")).unwrap();
    std::fs::create_dir_all(root.join("RDWeb/files")).unwrap();
    let mut entries = String::new();
    for (id, title, kind, extension, contents) in resources {
        let name = format!("{id}{extension}");
        std::fs::write(root.join("RDWeb/files").join(&name), contents).unwrap();
        entries.push_str(&format!(
            r#"      <Resource ID="{id}" Title="{title}" Type="{kind}">
        <HostingTerminalServers><HostingTerminalServer>
          <ResourceFile FileExtension="{extension}" URL="/RDWeb/files/{name}"/>
          <TerminalServerRef Ref="host1"/>
        </HostingTerminalServer></HostingTerminalServers>
      </Resource>
"#
        ));
    }
    std::fs::write(
        root.join("RDWeb/Feed/webfeed.aspx"),
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<ResourceCollection SchemaVersion="2.1" xmlns="http://schemas.microsoft.com/ts/2007/05/tswf">
  <Publisher ID="{WORKSPACE}" Name="Launch Test">
    <Resources>
{entries}    </Resources>
    <TerminalServers><TerminalServer ID="host1" Name="host1"/></TerminalServers>
  </Publisher>
</ResourceCollection>
"#
        ),
    )
    .unwrap();
}

/// A FreeRDP that records its arguments, standard input and environment
/// (as the runtime gave it: `/proc/$$/environ` is what the shell was
/// started with, before it adds `PWD` of its own), then runs the real
/// `xfreerdp` with them.
fn recording_freerdp(dir: &Path) -> PathBuf {
    let script = dir.join("xfreerdp-recorder");
    let records = dir.join("records");
    std::fs::create_dir_all(&records).unwrap();
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             cat /proc/$$/environ > '{records}/environ.'$$\n\
             printf '%s\\n' \"$@\" > '{records}/argv.'$$\n\
             cat > '{records}/stdin.'$$\n\
             exec /usr/bin/xfreerdp \"$@\" < '{records}/stdin.'$$\n",
            records = records.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
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

fn desktop_rdp(server: &RdpServer) -> Vec<u8> {
    format!(
        "full address:s:127.0.0.1:{}\r\nscreen mode id:i:1\r\ndesktopwidth:i:800\r\ndesktopheight:i:600\r\n",
        server.port()
    )
    .into_bytes()
}

struct Setup {
    bus: TestBus,
    site: Site,
    server: RdpServer,
    display: XvfbDisplay,
    /// How the runtime is started: timeouts, FreeRDP, environment.
    runtime: (Timeouts, PathBuf, Vec<(String, String)>),
}

async fn start_runtime(
    bus: &mut TestBus,
    (timeouts, freerdp, env): &(Timeouts, PathBuf, Vec<(String, String)>),
) {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    bus.start_runtime_with(
        *timeouts,
        &["--freerdp".as_ref(), freerdp.as_os_str()],
        &env,
    )
    .await;
}

impl Setup {
    /// The runtime gets no `DISPLAY` unless `runtime_display`: `radc
    /// launch` must pass its own.
    async fn start(
        extra: &[(&str, &str, &str, &str, &[u8])],
        grace: f64,
        runtime_display: bool,
    ) -> Setup {
        Self::start_with_env(extra, grace, runtime_display, &[]).await
    }

    /// Also with `runtime_env` in the runtime's own environment.
    async fn start_with_env(
        extra: &[(&str, &str, &str, &str, &[u8])],
        grace: f64,
        runtime_display: bool,
        runtime_env: &[(&str, &str)],
    ) -> Setup {
        Self::start_with(extra, grace, runtime_display, runtime_env, None).await
    }

    /// With `freerdp` as the runtime's FreeRDP instead of the recording
    /// wrapper.
    async fn start_with(
        extra: &[(&str, &str, &str, &str, &[u8])],
        grace: f64,
        runtime_display: bool,
        runtime_env: &[(&str, &str)],
        freerdp: Option<&Path>,
    ) -> Setup {
        Self::start_on(
            common::rdp::SHADOW_SERVER,
            extra,
            grace,
            runtime_display,
            runtime_env,
            freerdp,
        )
        .await
    }

    /// With `server` (`freerdp-shadow-cli` or `freerdp-shadow-cli3`) as
    /// the RDP server.
    async fn start_on(
        server: &str,
        extra: &[(&str, &str, &str, &str, &[u8])],
        grace: f64,
        runtime_display: bool,
        runtime_env: &[(&str, &str)],
        freerdp: Option<&Path>,
    ) -> Setup {
        let server = RdpServer::start_with(server);
        let display = XvfbDisplay::start();
        let mut resources: Vec<(&str, &str, &str, &str, &[u8])> = Vec::new();
        let desktop = desktop_rdp(&server);
        resources.push(("desktop", "Full Desktop", "Desktop", ".rdp", &desktop));
        resources.extend_from_slice(extra);
        let site = Site::start(|root| publish(root, &resources));
        let mut bus = TestBus::bus_only();
        let freerdp = match freerdp {
            Some(path) => path.to_owned(),
            None => recording_freerdp(bus.dir.path()),
        };
        let mut env: Vec<(String, String)> = runtime_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if runtime_display {
            env.push(("DISPLAY".into(), display.display().into()));
        }
        let timeouts = Timeouts {
            grace,
            ..Timeouts::default()
        };
        let runtime = (timeouts, freerdp, env);
        start_runtime(&mut bus, &runtime).await;
        assert_eq!(bus.subscribe(&site.url()).await, WORKSPACE);
        Setup {
            bus,
            site,
            server,
            display,
            runtime,
        }
    }

    /// Stops the runtime and starts it again with `freerdp`.
    async fn switch_freerdp(&mut self, freerdp: &Path) {
        self.bus.stop_runtime();
        self.runtime.1 = freerdp.to_owned();
        self.restart_runtime().await;
    }

    /// Starts the runtime again as it was started first.
    async fn restart_runtime(&mut self) {
        start_runtime(&mut self.bus, &self.runtime).await;
    }

    fn radc(&self) -> Command {
        let mut cmd = self.bus.radc();
        cmd.env("DISPLAY", self.display.display());
        cmd
    }

    /// `radc launch WORKSPACE RESOURCE`, which must succeed.
    fn launch_ok(&self, resource: &str) {
        let out = run(self.radc().args(["launch", WORKSPACE, resource]));
        assert!(out.status.success(), "{resource} did not come up");
    }

    async fn start_workspace(&self, password: &str, flags: u32) {
        let conn = self.bus.connect().await;
        let scriptable = WorkspaceScriptableProxy::new(&conn).await.unwrap();
        let user = format!("{}\\{}", self.server.domain(), self.server.user());
        scriptable
            .start_workspace(WORKSPACE, &user, password, "", 0, flags)
            .await
            .unwrap();
    }
}

/// A resource opened by the launcher registered for `.vnc`.
const VNC_VIEWER: (&str, &str, &str, &str, &[u8]) = (
    "viewer",
    "VNC Viewer",
    "RemoteApp",
    ".vnc",
    b"host=127.0.0.1\n",
);

/// `radc launch --json WORKSPACE RESOURCE`, which must succeed; the pid it
/// reports.
fn launched_pid(setup: &Setup, resource: &str) -> u32 {
    let out = run(setup.radc().args(["launch", "--json", WORKSPACE, resource]));
    assert!(out.status.success());
    let launched: Value = serde_json::from_slice(&out.stdout).unwrap();
    launched["pid"].as_u64().unwrap() as u32
}

fn status_json(setup: &Setup) -> Value {
    let out = run(setup.radc().args(["status", "--json"]));
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launched_desktop_and_a_custom_client_go_with_one_disconnect() {
    let setup = Setup::start(&[], 3.0, false).await;
    let password = setup.server.password().to_owned();
    setup.start_workspace(&password, 0).await;
    let mut py = PyClient::start(
        &setup.bus,
        &["--workspace", WORKSPACE, "--name", "Python viewer"],
    )
    .await;

    let out = run(setup
        .radc()
        .args(["launch", "--json", WORKSPACE, "Full Desktop"]));
    assert!(out.status.success());
    let launched: Value = serde_json::from_slice(&out.stdout).unwrap();
    let pid = launched["pid"].as_u64().unwrap() as u32;
    assert_eq!(launched["trust"], "unsigned");
    assert!(
        setup.server.wait_for_session(Duration::from_secs(20)),
        "the RDP server never saw the session; server log:\n{}",
        setup.server.log()
    );

    // radc status: both connections, told apart by kind.
    let status = status_json(&setup);
    let connections = status["workspaces"][0]["connections"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(connections.len(), 2, "{status:#}");
    let builtin = connections
        .iter()
        .find(|c| c["kind"] == "built-in")
        .unwrap();
    assert_eq!(builtin["display_name"], "Full Desktop");
    assert_eq!(builtin["pid"], pid);
    let custom = connections.iter().find(|c| c["kind"] == "custom").unwrap();
    assert_eq!(custom["display_name"], "Python viewer");
    let text = run(setup.radc().arg("status"));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("built-in") && text.contains("custom") && text.contains(" ago"),
        "{text}"
    );

    // The password went to FreeRDP's stdin, never to its command line.
    let records = recorded(setup.bus.dir.path());
    assert_eq!(records.len(), 1, "{records:?}");
    let (argv, stdin) = &records[0];
    assert!(argv.iter().all(|a| !a.contains(&password)), "{argv:?}");
    assert!(
        argv.iter().any(|a| a.starts_with("/wm-class:radc-")),
        "{argv:?}"
    );
    assert!(stdin.contains(&password), "the password reached stdin");

    // One disconnect ends both.
    let started = Instant::now();
    let out = run(setup.radc().args(["disconnect", "--json", "Launch Test"]));
    assert!(out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["results"].as_array().unwrap().len(), 2, "{report:#}");
    assert!(py.line().await.starts_with("DISCONNECT"));
    eventually(
        Duration::from_secs(3),
        "FreeRDP to exit within the grace period",
        || async { !alive(pid) },
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        setup.server.wait_for_no_session(Duration::from_secs(10)),
        "the server still has the session:\n{}",
        setup.server.log()
    );
    let conn = setup.bus.connect().await;
    let registration = WorkspaceRegistrationProxy::new(&conn).await.unwrap();
    eventually(Duration::from_secs(5), "an empty registry", || async {
        registration.list_resources().await.unwrap().is_empty()
    })
    .await;
    py.wait_exit(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_told_once_and_the_registration_says_why() {
    let setup = Setup::start(&[], 1.0, false).await;
    let conn = setup.bus.connect().await;
    let runtime = RuntimeProxy::new(&conn).await.unwrap();
    let registration = WorkspaceRegistrationProxy::new(&conn).await.unwrap();
    let mut notices = runtime.receive_user_notice().await.unwrap();
    let mut removed = registration.receive_resource_removed().await.unwrap();
    setup.start_workspace("not the password", 0).await;

    for attempt in 0..2 {
        // radc launch waits for the connection and says why it failed, in
        // one sentence (FreeRDP's own log stays in the runtime's).
        let out = run(setup
            .radc()
            .args(["launch", "--json", WORKSPACE, "desktop"]));
        assert_eq!(out.status.code(), Some(1));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            report["error"],
            "cannot connect to desktop: the server ended the connection during sign-in: \
             check the user name and password",
            "{report}"
        );
        let signal = tokio::time::timeout(Duration::from_secs(5), removed.next())
            .await
            .unwrap()
            .unwrap();
        let ended = signal.args().unwrap().reason.to_owned();
        assert!(ended.starts_with("exited:"), "{ended}");
        assert_ne!(ended, "exited:0");
        if attempt == 0 {
            let notice = tokio::time::timeout(Duration::from_secs(5), notices.next())
                .await
                .expect("the failure is told")
                .unwrap();
            let args = notice.args().unwrap();
            assert_eq!(args.workspace_id, WORKSPACE);
            assert!(
                args.text.contains("Full Desktop")
                    && args.text.contains("ended the connection during sign-in"),
                "{}",
                args.text
            );
        } else {
            assert!(
                tokio::time::timeout(Duration::from_millis(500), notices.next())
                    .await
                    .is_err(),
                "the same failure is told only once"
            );
        }
    }
    assert!(
        setup.server.auth_failures() > 0,
        "the server refused the password"
    );
    assert_eq!(setup.server.activations(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_cleared_with_the_last_resource_when_asked() {
    let setup = Setup::start(&[], 1.0, false).await;
    let password = setup.server.password().to_owned();
    // WKS_FLAG_CLEAR_CREDS_ON_LAST_RESOURCE
    setup.start_workspace(&password, 1).await;
    let conn = setup.bus.connect().await;
    let scriptable = WorkspaceScriptableProxy::new(&conn).await.unwrap();
    let pid = launched_pid(&setup, "desktop");
    assert!(
        setup.server.wait_for_session(Duration::from_secs(20)),
        "{}",
        setup.server.log()
    );
    assert!(
        scriptable
            .is_workspace_credential_specified(WORKSPACE, true)
            .await
            .unwrap()
    );
    // The connection ends on its own (the user closes the window).
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    eventually(
        Duration::from_secs(5),
        "the credentials to go with the last resource",
        || async {
            !scriptable
                .is_workspace_credential_specified(WORKSPACE, true)
                .await
                .unwrap()
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_resource_types_use_their_registered_launcher_and_unsafe_ones_are_refused() {
    let script: &[u8] = b"#!/bin/sh\necho hello\n";
    let setup = Setup::start(
        &[
            VNC_VIEWER,
            ("tool", "Setup Tool", "RemoteApp", ".sh", script),
        ],
        0.5,
        false,
    )
    .await;
    // Unregistered: refused, with what to do.
    let out = run(setup.radc().args(["launch", WORKSPACE, "VNC Viewer"]));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("radc restype add .vnc"), "{err}");
    let out = run(setup.radc().args(["launch", WORKSPACE, "Setup Tool"]));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("radc never opens them"), "{err}");

    // A launcher that ignores SIGTERM: it is killed after the grace period.
    let launcher = setup.bus.dir.path().join("vnc-launcher");
    let opened = setup.bus.dir.path().join("opened");
    std::fs::write(
        &launcher,
        format!(
            "#!/bin/sh\ntrap '' TERM\ncat \"$1\" > '{}'\nwhile :; do sleep 0.1; done\n",
            opened.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&launcher, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = run(setup.radc().args(["restype", "add", ".vnc"]).arg(&launcher));
    assert!(out.status.success());
    let conn = setup.bus.connect().await;
    let registration = WorkspaceRegistrationProxy::new(&conn).await.unwrap();
    let mut removed = registration.receive_resource_removed().await.unwrap();
    let pid = launched_pid(&setup, "viewer");
    eventually(
        Duration::from_secs(5),
        "the launcher to get the file",
        || async { std::fs::read_to_string(&opened).is_ok_and(|t| t == "host=127.0.0.1\n") },
    )
    .await;
    let out = run(setup.radc().args(["disconnect", WORKSPACE]));
    assert!(out.status.success());
    let signal = tokio::time::timeout(Duration::from_secs(5), removed.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        signal.args().unwrap().reason,
        "signal:9",
        "SIGTERM was ignored"
    );
    assert!(!alive(pid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_remote_application_launches_the_callers_rdp_file() {
    let setup = Setup::start(&[], 1.0, true).await;
    let password = setup.server.password().to_owned();
    // The client that brings the file gave the workspace's credentials.
    let conn = setup.bus.connect().await;
    let user = format!("{}\\{}", setup.server.domain(), setup.server.user());
    WorkspaceScriptableProxy::new(&conn)
        .await
        .unwrap()
        .start_workspace(WORKSPACE, &user, &password, "", 0, 0)
        .await
        .unwrap();
    let workspace = WorkspaceProxy::new(&conn).await.unwrap();
    let registration = WorkspaceRegistrationProxy::new(&conn).await.unwrap();
    let rdp = String::from_utf8(desktop_rdp(&setup.server)).unwrap();

    let err = workspace
        .start_remote_application(WORKSPACE, &[&rdp, "/admin"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("/admin"), "{err}");
    let err = workspace
        .start_remote_application(WORKSPACE, &["not an rdp file"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not valid"), "{err}");
    assert!(registration.list_resources().await.unwrap().is_empty());

    let mut added = registration.receive_resource_added().await.unwrap();
    workspace
        .start_remote_application(WORKSPACE, &[&rdp, "/window"])
        .await
        .unwrap();
    let signal = tokio::time::timeout(Duration::from_secs(5), added.next())
        .await
        .unwrap()
        .unwrap();
    let args = signal.args().unwrap();
    assert_eq!(args.workspace_id, WORKSPACE);
    assert!(
        setup.server.wait_for_session(Duration::from_secs(20)),
        "{}",
        setup.server.log()
    );
    let rows = registration.list_resources().await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].2, format!("127.0.0.1:{}", setup.server.port()));
    assert!(rows[0].4 > 0, "the pid is known");
    let records = recorded(setup.bus.dir.path());
    assert_eq!(records.len(), 1);
    assert!(
        records[0].1.contains(&password),
        "the bringer's credentials"
    );

    // Another client bringing a file for the same workspace gets neither
    // those credentials nor the workspace's stored ones: it could name any
    // server in its file.
    let other = setup.bus.connect().await;
    WorkspaceProxy::new(&other)
        .await
        .unwrap()
        .start_remote_application(WORKSPACE, &[&rdp])
        .await
        .unwrap();
    assert!(common::rdp::wait_until(Duration::from_secs(10), || {
        recorded(setup.bus.dir.path()).len() == 2
    }));
    for (argv, stdin) in recorded(setup.bus.dir.path()) {
        if !stdin.contains(&password) {
            assert!(
                !argv.iter().any(|a| a.starts_with("/from-stdin")),
                "{argv:?}"
            );
            return;
        }
    }
    panic!("the second client's connection got the first client's password");
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../radc-rdp/tests/data/signed")
        .join(name)
}

fn launch_error(setup: &Setup, resource: &str) -> String {
    let out = run(setup.radc().args(["launch", WORKSPACE, resource]));
    assert!(!out.status.success(), "{resource} was launched");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn launch_trust(setup: &Setup, resource: &str) -> String {
    // Accepted is all that counts here: the servers these files name do
    // not exist.
    let out = run(setup
        .radc()
        .args(["launch", "--detach", "--json", WORKSPACE, resource]));
    assert!(out.status.success(), "{resource} was refused");
    let launched: Value = serde_json::from_slice(&out.stdout).unwrap();
    launched["trust"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_decide_with_the_users_and_the_workspaces_trust() {
    let signed = std::fs::read(fixture("app-sha256.rdp")).unwrap();
    let tampered = std::fs::read(fixture("tampered-value.rdp")).unwrap();
    let setup = Setup::start(
        &[
            ("notepad", "Notepad", "RemoteApp", ".rdp", &signed),
            ("evil", "Evil Notepad", "RemoteApp", ".rdp", &tampered),
        ],
        0.5,
        false,
    )
    .await;
    let sha1 = std::fs::read_to_string(fixture("signer.sha1"))
        .unwrap()
        .trim()
        .rsplit('=')
        .next()
        .unwrap()
        .replace(':', "")
        .to_ascii_lowercase();

    // What an admin sees before trusting anyone.
    let out = run(setup
        .radc()
        .args(["trust", "check", "--json"])
        .arg(fixture("app-sha256.rdp")));
    assert!(out.status.success());
    let check: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(check["publisher"], "Contoso RDP Publisher");
    assert_eq!(check["sha1_thumbprint"], sha1.as_str());
    assert_eq!(check["trusted"], false);
    // Its CA is not among the system's.
    assert_eq!(check["verified_publisher"], false);
    let why = check["unknown_publisher_reason"].as_str().unwrap();
    assert!(why.contains("does not chain"), "{why}");

    // Default policy: launched, but not trusted; a tampered file never.
    assert_eq!(
        launch_trust(&setup, "Notepad"),
        "signed by Contoso RDP Publisher, an unknown publisher (not trusted)"
    );
    let err = launch_error(&setup, "Evil Notepad");
    assert!(err.contains("tampered"), "{err}");

    // Refusing what nobody vouched for: unsigned and untrusted both go.
    assert!(
        run(setup.radc().args(["trust", "policy", "refuse"]))
            .status
            .success()
    );
    let err = launch_error(&setup, "Notepad");
    assert!(err.contains(&format!("radc trust add {sha1}")), "{err}");
    let err = launch_error(&setup, "Full Desktop");
    assert!(err.contains("not signed"), "{err}");

    // The user trusts the publisher from a file it signed.
    let out = run(setup
        .radc()
        .args(["trust", "add", "--from"])
        .arg(fixture("app-sha256.rdp")));
    assert!(out.status.success());
    assert_eq!(
        launch_trust(&setup, "Notepad"),
        "signed by Contoso RDP Publisher, an unknown publisher (trusted by you)"
    );
    assert!(
        run(setup.radc().args(["trust", "remove", &sha1]))
            .status
            .success()
    );
    launch_error(&setup, "Notepad");

    // Or the workspace vouches for it when it is started.
    let sha256 = std::fs::read_to_string(fixture("signer.sha256"))
        .unwrap()
        .trim()
        .rsplit('=')
        .next()
        .unwrap()
        .to_owned();
    let conn = setup.bus.connect().await;
    let scriptable = WorkspaceScriptableProxy::new(&conn).await.unwrap();
    scriptable
        .start_workspace(WORKSPACE, "RADCTEST\\alice", "x", &sha256, 0, 0)
        .await
        .unwrap();
    assert_eq!(
        launch_trust(&setup, "Notepad"),
        "signed by Contoso RDP Publisher, an unknown publisher (trusted by the workspace)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_authorities_make_a_publisher_verified_not_trusted() {
    let signed = std::fs::read(fixture("app-sha256.rdp")).unwrap();
    let ca = fixture("ca.pem");
    // The system's store, as the runtime sees it, holds the CA that
    // issued the signer's certificate.
    let mut setup = Setup::start_with_env(
        &[("notepad", "Notepad", "RemoteApp", ".rdp", &signed)],
        0.5,
        false,
        &[("SSL_CERT_FILE", ca.to_str().unwrap())],
    )
    .await;
    // Verified says who signed, not that the file may do anything: still
    // not trusted, and refused once the policy says so.
    assert_eq!(
        launch_trust(&setup, "Notepad"),
        "signed by Contoso RDP Publisher, a verified publisher (not trusted)"
    );
    assert!(
        run(setup.radc().args(["trust", "policy", "refuse"]))
            .status
            .success()
    );
    let err = launch_error(&setup, "Notepad");
    assert!(err.contains("radc trust add"), "{err}");
    assert!(
        run(setup.radc().args(["trust", "policy", "warn"]))
            .status
            .success()
    );

    // A system store without it: unknown again.
    setup.bus.stop_runtime();
    setup.runtime.2.retain(|(name, _)| name != "SSL_CERT_FILE");
    setup.restart_runtime().await;
    assert_eq!(
        launch_trust(&setup, "Notepad"),
        "signed by Contoso RDP Publisher, an unknown publisher (not trusted)"
    );

    // The CA file the workspace is subscribed with counts too: whoever
    // subscribed trusts that CA for the workspace's server already.
    let out = run(setup
        .radc()
        .args(["subscribe", "--allow-http", "--ca-file"])
        .arg(&ca)
        .arg(setup.site.url()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        launch_trust(&setup, "Notepad"),
        "signed by Contoso RDP Publisher, a verified publisher (not trusted)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_is_opened_in_the_remoteapp_through_a_redirected_drive() {
    let app = b"full address:s:127.0.0.1:9\r\nremoteapplicationmode:i:1\r\nremoteapplicationprogram:s:||wordpad\r\nremoteapplicationname:s:WordPad\r\n";
    let setup = Setup::start(
        &[("wordpad", "WordPad", "RemoteApp", ".rdp", app)],
        0.5,
        false,
    )
    .await;
    let documents = setup.bus.dir.path().join("My Documents");
    std::fs::create_dir_all(&documents).unwrap();
    let letter = documents.join("letter one.txt");
    std::fs::write(&letter, "Dear Sir").unwrap();
    let out = run(setup
        .radc()
        .args(["launch", "--detach", WORKSPACE, "WordPad"])
        .arg(&letter));
    assert!(out.status.success());
    assert!(common::rdp::wait_until(Duration::from_secs(10), || {
        !recorded(setup.bus.dir.path()).is_empty()
    }));
    let records = recorded(setup.bus.dir.path());
    assert_eq!(records.len(), 1, "{records:?}");
    let argv = &records[0].0;
    let drive = format!("/drive:radc1,{}", documents.display());
    assert!(argv.contains(&drive), "{argv:?}");
    assert!(
        argv.iter()
            .any(|a| a.contains(r"\\tsclient\radc1\letter one.txt")),
        "{argv:?}"
    );
    assert!(argv.contains(&"/app:||wordpad".to_owned()), "{argv:?}");
    // A file that does not exist is the caller's mistake, found before
    // anything starts.
    let out = run(setup
        .radc()
        .args(["launch", WORKSPACE, "WordPad", "/nonexistent/file.txt"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open /nonexistent/file.txt"));
}

/// `radc subscribe` to the test site as the RDP server's user, the password
/// on standard input.
fn subscribe_as_the_servers_user(setup: &Setup) -> Output {
    subscribe_with_password(setup, setup.server.password())
}

/// `radc subscribe` as the RDP server's user, with `password` on standard
/// input.
fn subscribe_with_password(setup: &Setup, password: &str) -> Output {
    let user = format!("{}\\{}", setup.server.domain(), setup.server.user());
    let mut subscribe = setup
        .radc()
        .args(["subscribe", "--allow-http", "--password-stdin", "-u", &user])
        .arg(setup.site.url())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = subscribe.stdin.take().unwrap();
        writeln!(stdin, "{password}").unwrap();
    }
    subscribe.wait_with_output().unwrap()
}

/// Runs xdotool on the setup's display.
fn xdotool(setup: &Setup, args: &[&str]) -> Output {
    Command::new("xdotool")
        .args(args)
        .env("DISPLAY", setup.display.display())
        .output()
        .expect("xdotool is installed (scripts/install-deps.sh)")
}

/// Waits for the sign-in prompt of the test's workspace to be on screen.
fn wait_for_prompt(setup: &Setup) {
    let found = common::rdp::wait_until(Duration::from_secs(20), || {
        xdotool(
            setup,
            &[
                "search",
                "--onlyvisible",
                "--name",
                "Sign in to Launch Test",
            ],
        )
        .status
        .success()
    });
    assert!(
        found,
        "no sign-in prompt appeared:\n{}",
        setup.bus.runtime_log()
    );
    // Mapped is not yet drawn and focused.
    std::thread::sleep(Duration::from_millis(500));
}

/// A launch that needs a password radc does not have asks for it in a
/// window on the caller's display (`radc-gui prompt`): when the stored one
/// was refused (with a word on why), Cancel fails the launch cleanly, the
/// typed password signs in, and with "Remember" the next launch needs no
/// prompt. Without `radc-gui` beside radc (run `cargo build --workspace`
/// first, as scripts/test.sh does) this test cannot run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_refused_password_is_asked_for_in_a_window() {
    let gui = common::radc_exe().with_file_name("radc-gui");
    assert!(
        gui.is_file(),
        "{} is missing: build the workspace first (cargo build --workspace)",
        gui.display()
    );
    let setup = Setup::start_with(&[], 1.0, false, &[], Some(Path::new("/usr/bin/xfreerdp"))).await;
    let _keyring = Keyring::start(&setup.bus).await;
    // Subscribed with the wrong password, which the keyring keeps.
    let out = subscribe_with_password(&setup, "not the password");
    assert!(out.status.success(), "{out:?}");
    let out = run(setup.radc().args(["launch", WORKSPACE, "desktop"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ended the connection during sign-in"),
        "{out:?}"
    );

    // The next launch asks; Cancel is a failure of its own.
    let launch = || {
        setup
            .radc()
            .args(["launch", WORKSPACE, "desktop"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let cancelled = launch();
    wait_for_prompt(&setup);
    let shot = common::artifacts().join("sign-in-prompt.png");
    let status = Command::new("import")
        .args(["-window", "root", "-display", setup.display.display()])
        .arg(&shot)
        .status()
        .expect("import (imagemagick) runs");
    assert!(status.success());
    assert!(
        xdotool(&setup, &["key", "--clearmodifiers", "Escape"])
            .status
            .success()
    );
    let out = cancelled.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "radc: 0x800704C7: signing in to Launch Test was cancelled"
    );
    assert_eq!(setup.server.activations(), 0);

    // Typed, remembered: the session comes up.
    let typed = launch();
    wait_for_prompt(&setup);
    let password = setup.server.password().to_owned();
    assert!(
        xdotool(&setup, &["type", "--delay", "15", "--", &password])
            .status
            .success()
    );
    assert!(
        xdotool(&setup, &["key", "--clearmodifiers", "alt+r"])
            .status
            .success()
    );
    assert!(
        xdotool(&setup, &["key", "--clearmodifiers", "Return"])
            .status
            .success()
    );
    let out = typed.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}\n{}", setup.bus.runtime_log());
    assert!(
        setup
            .server
            .wait_for_activations(1, Duration::from_secs(10))
    );
    // The password went to FreeRDP's standard input, not its command line,
    // and never into the runtime's log.
    assert!(!setup.bus.runtime_log().contains(&password));
    assert!(
        run(setup.radc().args(["disconnect", WORKSPACE]))
            .status
            .success()
    );
    assert!(setup.server.wait_for_no_session(Duration::from_secs(10)));

    // Remembered: no prompt the next time.
    let out = run(setup.radc().args(["launch", WORKSPACE, "desktop"]));
    assert!(out.status.success(), "{out:?}");
    assert!(
        !xdotool(&setup, &["search", "--onlyvisible", "--name", "Sign in to"])
            .status
            .success(),
        "no prompt this time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_stored_at_subscription_signs_in_the_connection() {
    let setup = Setup::start(&[], 1.0, false).await;
    // A real Secret Service on the test's bus.
    let keyring = Keyring::start(&setup.bus).await;

    let out = subscribe_as_the_servers_user(&setup);
    assert!(
        out.status.success() && !String::from_utf8_lossy(&out.stdout).contains("not stored"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let out = run(setup.radc().args(["launch", WORKSPACE, "Full Desktop"]));
    assert!(out.status.success());
    assert!(
        setup.server.wait_for_session(Duration::from_secs(20)),
        "the stored password did not sign in:\n{}",
        setup.server.log()
    );
    let records = recorded(setup.bus.dir.path());
    assert!(records[0].0.contains(&"/u:alice".to_owned()), "{records:?}");
    assert!(
        records[0]
            .0
            .iter()
            .all(|a| !a.contains(setup.server.password()))
    );
    drop(keyring);
}

/// Every variable a launched process may have: the list documented at
/// `radc_runtime::launcher::launch_environment`, written out again here.
const ALLOWED_ENVIRONMENT: [&str; 41] = [
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "XAUTHORITY",
    "XDG_SESSION_TYPE",
    "XDG_CURRENT_DESKTOP",
    "PULSE_SERVER",
    "PULSE_COOKIE",
    "PULSE_SINK",
    "PULSE_SOURCE",
    "PIPEWIRE_RUNTIME_DIR",
    "PIPEWIRE_REMOTE",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_ADDRESS",
    "LC_COLLATE",
    "LC_CTYPE",
    "LC_IDENTIFICATION",
    "LC_MEASUREMENT",
    "LC_MESSAGES",
    "LC_MONETARY",
    "LC_NAME",
    "LC_NUMERIC",
    "LC_PAPER",
    "LC_TELEPHONE",
    "LC_TIME",
    "XDG_RUNTIME_DIR",
    "TZ",
    "HOME",
    "USER",
    "LOGNAME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "XDG_STATE_HOME",
    "XDG_CONFIG_DIRS",
    "XDG_DATA_DIRS",
    "DBUS_SESSION_BUS_ADDRESS",
    "KRB5CCNAME",
    "TMPDIR",
    "PATH",
];

/// What the runtime sets for FreeRDP itself: its log, to the connection's
/// output file.
const FREERDP_LOG: [&str; 4] = [
    "WLOG_LEVEL",
    "WLOG_APPENDER",
    "WLOG_FILEAPPENDER_OUTPUT_FILE_PATH",
    "WLOG_FILEAPPENDER_OUTPUT_FILE_NAME",
];

/// What the runtime is started with that no launched process may see.
const RUNTIME_SECRETS: [(&str, &str); 6] = [
    ("RADC_TEST_SECRET", "runtime-secret-4711"),
    ("SOME_TOKEN", "token-4712"),
    // A library that does not exist: ld.so only warns about it.
    ("LD_PRELOAD", "/nonexistent/radc-test-preload.so"),
    ("http_proxy", "http://127.0.0.1:9"),
    // The caller's display and locale replace these as a whole.
    ("WAYLAND_DISPLAY", "radc-test-wayland-4713"),
    ("LC_ALL", "radc-test-locale-4714"),
];

/// What a caller sends besides its display: none of it may be used.
const CALLER_EXTRAS: [(&str, &str); 3] = [
    ("PATH", "/caller/bin-4715"),
    ("LD_PRELOAD", "/caller/preload-4716.so"),
    ("CALLER_TOKEN", "caller-secret-4717"),
];

fn parse_environ(bytes: &[u8]) -> std::collections::BTreeMap<String, String> {
    bytes
        .split(|b| *b == 0)
        .filter(|v| !v.is_empty())
        .map(|v| {
            let text = String::from_utf8_lossy(v);
            let (key, value) = text.split_once('=').unwrap_or((&text, ""));
            (key.to_owned(), value.to_owned())
        })
        .collect()
}

/// Checks a launched process's environment against what the runtime and
/// the caller were given. `shell_adds` names variables the test's own
/// wrapper shell adds on `exec`.
fn check_environment(
    what: &str,
    env: &std::collections::BTreeMap<String, String>,
    setup: &Setup,
    shell_adds: &[&str],
) {
    for key in env.keys() {
        assert!(
            ALLOWED_ENVIRONMENT.contains(&key.as_str()) || shell_adds.contains(&key.as_str()),
            "{what}: {key} is not on the list: {env:#?}"
        );
    }
    for (key, value) in RUNTIME_SECRETS.iter().chain(&CALLER_EXTRAS) {
        assert!(
            env.values().all(|v| !v.contains(value)),
            "{what}: the value of {key} leaked: {env:#?}"
        );
    }
    for key in ["RADC_LOG", "RADC_TEST_SECRET", "SOME_TOKEN", "LD_PRELOAD"] {
        assert!(!env.contains_key(key), "{what}: {key}");
    }
    // The caller's display and session, and its locale instead of the
    // runtime's.
    let get = |key: &str| env.get(key).map(String::as_str);
    assert_eq!(
        get("DISPLAY"),
        Some(setup.display.display()),
        "{what}: {env:#?}"
    );
    assert_eq!(get("XDG_SESSION_TYPE"), Some("x11"), "{what}: {env:#?}");
    assert_eq!(get("LANG"), Some("C.UTF-8"), "{what}: {env:#?}");
    assert!(!env.contains_key("WAYLAND_DISPLAY"), "{what}: {env:#?}");
    assert!(!env.contains_key("LC_ALL"), "{what}: {env:#?}");
    // The user's home, bus and the runtime's PATH (without relative
    // directories), never the caller's.
    let home = setup.bus.dir.path().display().to_string();
    assert_eq!(env["HOME"], home, "{what}");
    assert_eq!(env["DBUS_SESSION_BUS_ADDRESS"], setup.bus.address, "{what}");
    assert_eq!(
        env["XDG_CONFIG_HOME"],
        setup.bus.config_home().display().to_string(),
        "{what}"
    );
    let runtime_path: Vec<PathBuf> = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .filter(|p| p.is_absolute())
        .collect();
    let runtime_path = std::env::join_paths(runtime_path).unwrap();
    assert_eq!(env["PATH"], runtime_path.to_str().unwrap(), "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launched_processes_get_only_the_listed_environment() {
    let mut runtime_env = RUNTIME_SECRETS.to_vec();
    // A display of the runtime's own that would fail: the caller's is used.
    runtime_env.push(("DISPLAY", ":4718"));
    let setup = Setup::start_with_env(&[VNC_VIEWER], 1.0, false, &runtime_env).await;
    let password = setup.server.password().to_owned();
    setup.start_workspace(&password, 0).await;
    let conn = setup.bus.connect().await;
    let runtime = RuntimeProxy::new(&conn).await.unwrap();
    let mut caller: std::collections::HashMap<&str, &str> = CALLER_EXTRAS.into_iter().collect();
    caller.extend([
        ("DISPLAY", setup.display.display()),
        ("XDG_SESSION_TYPE", "x11"),
        ("LANG", "C.UTF-8"),
    ]);

    // FreeRDP: the probe and the connection as started, and the running
    // connection as the system sees it.
    let (_, pid, _) = runtime
        .launch(WORKSPACE, "Full Desktop", &[], caller.clone())
        .await
        .unwrap();
    assert!(
        setup.server.wait_for_session(Duration::from_secs(20)),
        "FreeRDP did not connect on the caller's display; server log:\n{}\nruntime log:\n{}",
        setup.server.log(),
        setup.bus.runtime_log()
    );
    let live = parse_environ(&std::fs::read(format!("/proc/{pid}/environ")).unwrap());
    check_environment(
        "running FreeRDP",
        &live,
        &setup,
        // The recording wrapper's `exec` adds its working directory; the
        // runtime has FreeRDP log to the connection's own file.
        &[
            "PWD",
            FREERDP_LOG[0],
            FREERDP_LOG[1],
            FREERDP_LOG[2],
            FREERDP_LOG[3],
        ],
    );
    assert_eq!(live["WLOG_APPENDER"], "FILE");
    assert!(
        Path::new(&live["WLOG_FILEAPPENDER_OUTPUT_FILE_PATH"])
            .starts_with(setup.bus.dir.path().join("run/radc")),
        "FreeRDP logs into the runtime's private directory: {live:#?}"
    );
    let records = setup.bus.dir.path().join("records");
    let mut started = 0;
    for entry in std::fs::read_dir(&records).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if let Some(of) = name.strip_prefix("environ.") {
            let argv = std::fs::read_to_string(records.join(format!("argv.{of}"))).unwrap();
            let (what, adds): (_, &[&str]) = if argv.trim() == "/version" {
                ("FreeRDP /version", &[])
            } else {
                ("FreeRDP", &FREERDP_LOG)
            };
            check_environment(
                what,
                &parse_environ(&std::fs::read(&path).unwrap()),
                &setup,
                adds,
            );
            started += 1;
        }
    }
    assert_eq!(started, 2, "the probe and the connection were recorded");

    // A launcher of another resource type. Python does not touch its
    // initial environment, so /proc shows exactly what it was given.
    let launcher = setup.bus.dir.path().join("vnc-launcher");
    std::fs::write(
        &launcher,
        format!("#!{}\nimport time\ntime.sleep(60)\n", common::PYTHON),
    )
    .unwrap();
    std::fs::set_permissions(&launcher, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = run(setup.radc().args(["restype", "add", ".vnc"]).arg(&launcher));
    assert!(out.status.success());
    let (_, pid, _) = runtime
        .launch(WORKSPACE, "VNC Viewer", &[], caller)
        .await
        .unwrap();
    let live = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    check_environment("the .vnc launcher", &parse_environ(&live), &setup, &[]);

    // Stored trust settings too, for the check of file modes.
    assert!(
        run(setup.radc().args(["trust", "policy", "warn"]))
            .status
            .success()
    );
    let out = run(setup.radc().args(["disconnect", WORKSPACE]));
    assert!(out.status.success());
    eventually(
        Duration::from_secs(5),
        "the launched processes to end",
        || async { !alive(pid) },
    )
    .await;
    assert_private_files(&setup.bus);
}

/// Every file radc wrote under the test's home is 0600, and every directory
/// radc created is 0700: all of `radc/` under the config, data and state
/// directories, and the shared directories (`~/.local/share/applications`
/// and the like) that did not exist before radc wrote into them. Returns
/// how many files were checked.
fn assert_private_files(bus: &TestBus) -> usize {
    let home = bus.dir.path();
    // What the harness itself created.
    let harness = [
        home.to_owned(),
        home.join("config"),
        home.join("state"),
        home.join("etc"),
        home.join("run"),
    ];
    let radc_roots = [
        home.join("config/radc"),
        home.join(".local/share/radc"),
        home.join("state/radc"),
        home.join("run/radc"),
    ];
    let mut files = Vec::new();
    let mut stack = vec![home.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let radcs = radc_roots.iter().any(|r| path.starts_with(r))
                    || (name.starts_with("radc-") && !path.starts_with(home.join("records")))
                    || path == home.join("config/mimeapps.list");
                if radcs {
                    files.push(path);
                }
            }
        }
    }
    // The runtime may still be removing what an ended connection left
    // (its log, its state): a file gone by now holds nothing to protect.
    let mode = |p: &Path| match std::fs::metadata(p) {
        Ok(meta) => Some(meta.permissions().mode() & 0o7777),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("{}: {e}", p.display()),
    };
    files.retain(|file| mode(file).is_some());
    let mut dirs = std::collections::BTreeSet::new();
    for file in &files {
        assert_eq!(mode(file), Some(0o600), "{}", file.display());
        for dir in file.ancestors().skip(1) {
            if harness.iter().any(|h| h == dir) || !dir.starts_with(home) {
                break;
            }
            dirs.insert(dir.to_owned());
        }
    }
    for dir in &dirs {
        assert!(
            matches!(mode(dir), Some(0o700) | None),
            "{}: {:?}",
            dir.display(),
            mode(dir).map(|m| format!("{m:o}"))
        );
    }
    // What must be there after subscribing, launching and changing the
    // trust and resource-type settings.
    let names: Vec<String> = files
        .iter()
        .map(|f| f.strip_prefix(home).unwrap().display().to_string())
        .collect();
    for wanted in [
        "config/radc/trust.json",
        "config/radc/restypes.json",
        "config/radc/workspaces/",
        ".local/share/radc/workspaces/",
        ".local/share/radc/desktop/",
        ".local/share/applications/radc-",
    ] {
        assert!(
            names.iter().any(|n| n.starts_with(wanted)),
            "nothing under {wanted} in {names:#?}"
        );
    }
    files.len()
}

/// The connection's row in `radc status --json`, if it is listed.
fn listed_connection(setup: &Setup, pid: u32) -> Option<Value> {
    let status = status_json(setup);
    status["workspaces"]
        .as_array()?
        .iter()
        .flat_map(|w| w["connections"].as_array().cloned().unwrap_or_default())
        .find(|c| c["pid"] == pid)
}

/// A FreeRDP session outlives its runtime, whether the runtime was told to
/// stop (SIGTERM: handed over) or killed; each new runtime adopts it, lists
/// it as before, ends it on `radc disconnect` and notices its exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_outlives_the_runtime_and_the_next_one_adopts_it() {
    let mut setup =
        Setup::start_with(&[], 3.0, false, &[], Some(Path::new("/usr/bin/xfreerdp"))).await;
    let password = setup.server.password().to_owned();
    setup.start_workspace(&password, 0).await;
    let pid = launched_pid(&setup, "Full Desktop");
    assert!(
        setup.server.wait_for_session(Duration::from_secs(20)),
        "the RDP server never saw the session; server log:\n{}",
        setup.server.log()
    );
    let before = listed_connection(&setup, pid).expect("listed");

    // The record: private, naming the process, never the password.
    let dir = setup.bus.handover_dir().await;
    let record = std::fs::read_to_string(dir.join("connections.json")).unwrap();
    assert!(record.contains(&format!("\"pid\": {pid}")), "{record}");
    assert!(!record.contains(&password));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.join("connections.json")), 0o600);
    assert_eq!(mode(&dir), 0o700);

    // SIGTERM while the session goes on: the connection is handed over.
    setup.bus.stop_runtime();
    assert!(alive(pid), "FreeRDP ended with the runtime");
    assert!(
        setup
            .bus
            .runtime_log()
            .contains("keep running for the next runtime"),
        "{}",
        setup.bus.runtime_log()
    );
    std::thread::sleep(Duration::from_secs(1));
    assert!(alive(pid), "FreeRDP did not survive without the runtime");
    assert_eq!(
        setup.server.open_connections(),
        1,
        "the session is still up"
    );

    for round in ["after SIGTERM", "after SIGKILL"] {
        setup.restart_runtime().await;
        let row = listed_connection(&setup, pid)
            .unwrap_or_else(|| panic!("not adopted {round}:\n{}", setup.bus.runtime_log()));
        for field in ["workspace_id", "display_name", "kind"] {
            assert_eq!(row[field], before[field], "{field} {round}: {row:#}");
        }
        // The start time, to the millisecond (each runtime maps it to its
        // own monotonic clock, which may round it by one).
        let at = |row: &Value| row["registered_at_unix_ms"].as_i64().unwrap();
        assert!(
            (at(&row) - at(&before)).abs() <= 2,
            "start time {round}: {row:#} vs {before:#}"
        );
        assert!(setup.bus.runtime_log().contains("adopted Full Desktop"));
        if round == "after SIGTERM" {
            setup.bus.kill_runtime();
            assert!(alive(pid));
        }
    }

    // `radc disconnect` ends it, and its exit is noticed.
    let out = run(setup.radc().args(["disconnect", "--json", "Launch Test"]));
    assert!(out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["results"].as_array().unwrap().len(), 1, "{report:#}");
    assert_eq!(report["results"][0]["outcome"], "ok", "{report:#}");
    eventually(Duration::from_secs(5), "FreeRDP to exit", || async {
        !alive(pid)
    })
    .await;
    assert!(setup.server.wait_for_no_session(Duration::from_secs(10)));
    let conn = setup.bus.connect().await;
    let registration = WorkspaceRegistrationProxy::new(&conn).await.unwrap();
    eventually(Duration::from_secs(5), "the exit to be noticed", || async {
        registration.list_resources().await.unwrap().is_empty()
    })
    .await;
    assert!(
        !dir.join("connections.json").exists(),
        "nothing is left to adopt"
    );
    let left: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

/// A launcher that replaces itself with another program (as a wrapper
/// script around FreeRDP does) is written down as that program within a
/// second, so a runtime killed afterwards is followed by one that adopts
/// it. Its output goes to a private file beside the record, not to a pipe
/// that would break with the runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrapper_that_becomes_another_program_is_adopted_as_that_program() {
    let mut setup = Setup::start(&[VNC_VIEWER], 1.0, false).await;
    let launcher = setup.bus.dir.path().join("vnc-wrapper");
    std::fs::write(
        &launcher,
        "#!/bin/sh\necho wrapper started\nexec sleep 300\n",
    )
    .unwrap();
    std::fs::set_permissions(&launcher, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(
        run(setup.radc().args(["restype", "add", ".vnc"]).arg(&launcher))
            .status
            .success()
    );
    let pid = launched_pid(&setup, "viewer");

    let dir = setup.bus.handover_dir().await;
    let record: Value =
        serde_json::from_slice(&std::fs::read(dir.join("connections.json")).unwrap()).unwrap();
    let output = dir.join(record["connections"][0]["output"].as_str().unwrap());
    eventually(Duration::from_secs(5), "the launcher's output", || async {
        std::fs::read_to_string(&output).is_ok_and(|t| t == "wrapper started\n")
    })
    .await;
    assert_eq!(
        std::fs::metadata(&output).unwrap().permissions().mode() & 0o777,
        0o600
    );
    eventually(
        Duration::from_secs(5),
        "the record to name the program it became",
        || async {
            std::fs::read_to_string(dir.join("connections.json"))
                .is_ok_and(|t| t.contains("\"exe\": \"/usr/bin/sleep\""))
        },
    )
    .await;

    setup.bus.kill_runtime();
    setup.restart_runtime().await;
    let row = listed_connection(&setup, pid)
        .unwrap_or_else(|| panic!("not adopted:\n{}", setup.bus.runtime_log()));
    assert_eq!(row["display_name"], "VNC Viewer");
    assert!(
        run(setup.radc().args(["disconnect", WORKSPACE]))
            .status
            .success()
    );
    eventually(Duration::from_secs(5), "the launcher to end", || async {
        !alive(pid)
    })
    .await;
}

/// Every FreeRDP client radc looks for, against the FreeRDP 2 and the
/// FreeRDP 3 server.
const CLIENTS: [&str; 3] = [
    "/usr/bin/xfreerdp",
    "/usr/bin/xfreerdp3",
    "/usr/bin/sdl-freerdp3",
];

/// Processes whose command line holds `needle` (as one argument).
fn processes_with_argument(needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        if cmdline.split(|b| *b == 0).any(|a| a == needle.as_bytes()) {
            found.push(pid);
        }
    }
    found
}

/// Asserts that no process connecting to 127.0.0.1:`port` is left (a
/// moment after the launch failed).
fn assert_none_left(freerdp: &str, port: u16) {
    let address = format!("/v:127.0.0.1:{port}");
    assert!(
        common::rdp::wait_until(Duration::from_secs(3), || {
            processes_with_argument(&address).is_empty()
        }),
        "{freerdp} still running: {:?}",
        processes_with_argument(&address)
    );
}

/// `radc disconnect` of the workspace, and the server sees no session.
fn disconnect_all(setup: &Setup) {
    assert!(
        run(setup.radc().args(["disconnect", WORKSPACE]))
            .status
            .success()
    );
    assert!(setup.server.wait_for_no_session(Duration::from_secs(10)));
}

/// The `StartupWMClass` of the menu entry radc wrote for `resource`.
fn startup_wm_class(setup: &Setup, resource: &str) -> String {
    let dir = setup.bus.dir.path().join(".local/share/applications");
    let marker = format!("\nX-Radc-Resource={resource}\n");
    for entry in std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
    {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        if text.contains(&marker) {
            let class = text
                .lines()
                .find_map(|l| l.strip_prefix("StartupWMClass="))
                .expect("the entry names its window class");
            return class.to_owned();
        }
    }
    panic!("no menu entry for {resource} in {}", dir.display());
}

/// `WM_CLASS` of the windows titled `title` on `display`, as `xprop`
/// prints it (`"instance", "class"`).
fn window_classes(display: &str, title: &str) -> Vec<String> {
    let search = Command::new("xdotool")
        .args(["search", "--name", &format!("^{title}$")])
        .env("DISPLAY", display)
        .output()
        .expect("xdotool runs (scripts/install-deps.sh)");
    String::from_utf8_lossy(&search.stdout)
        .split_whitespace()
        .map(|id| {
            let out = Command::new("xprop")
                .args(["-id", id, "WM_CLASS"])
                .env("DISPLAY", display)
                .output()
                .expect("xprop runs (x11-utils)");
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.split_once(" = ")
                .map_or(text.clone(), |(_, v)| v.trim().to_owned())
        })
        .collect()
}

/// Launches with every client against `server`: failures name their
/// cause (also when the client hangs instead of exiting: it is ended,
/// and nothing of it is left running), a desktop comes up with the menu
/// entry's window class on its window, and a RemoteApp either starts or
/// (sdl-freerdp3) is refused up front, naming the setting.
async fn every_client_against(server: &str) {
    let closed = common::rdp::free_port();
    let unreachable = format!("full address:s:127.0.0.1:{closed}\r\n");
    let nowhere = "full address:s:rdp.nonexistent.invalid\r\n";
    for freerdp in CLIENTS {
        assert!(
            Path::new(freerdp).exists(),
            "{freerdp} is missing: run scripts/install-deps.sh"
        );
    }
    let mut setup =
        Setup::start_on(server, &[], 1.0, false, &[], Some(Path::new(CLIENTS[0]))).await;
    // The rest is published once the server's port is known.
    let port = setup.server.port();
    let fullscreen = format!("full address:s:127.0.0.1:{port}\r\nscreen mode id:i:2\r\n");
    let app = format!(
        "full address:s:127.0.0.1:{port}\r\nremoteapplicationmode:i:1\r\n\
         remoteapplicationprogram:s:||calc\r\nremoteapplicationname:s:Calculator\r\n"
    );
    let desktop = desktop_rdp(&setup.server);
    publish(
        setup.site.root.path(),
        &[
            ("desktop", "Full Desktop", "Desktop", ".rdp", &desktop),
            (
                "closed",
                "Closed Port",
                "Desktop",
                ".rdp",
                unreachable.as_bytes(),
            ),
            ("nowhere", "Nowhere", "Desktop", ".rdp", nowhere.as_bytes()),
            (
                "fullscreen",
                "Full Screen",
                "Desktop",
                ".rdp",
                fullscreen.as_bytes(),
            ),
            ("calc", "Calculator", "RemoteApp", ".rdp", app.as_bytes()),
        ],
    );
    assert!(
        run(setup.radc().args(["refresh", WORKSPACE]))
            .status
            .success()
    );
    let password = setup.server.password().to_owned();

    for freerdp in CLIENTS {
        setup.switch_freerdp(Path::new(freerdp)).await;
        let sdl = freerdp.ends_with("sdl-freerdp3");
        let failed = |resource: &str, password: Option<&str>| {
            let setup = &setup;
            let resource = resource.to_owned();
            let password = password.map(str::to_owned);
            async move {
                if let Some(password) = &password {
                    setup.start_workspace(password, 0).await;
                }
                let started = Instant::now();
                let out = run(setup.radc().args([
                    "launch",
                    "--json",
                    "--timeout",
                    "30",
                    WORKSPACE,
                    &resource,
                ]));
                let took = started.elapsed();
                assert_eq!(out.status.code(), Some(1), "{freerdp} {resource}");
                // A hanging client is given a few seconds of silence.
                assert!(
                    took < Duration::from_secs(if sdl { 15 } else { 10 }),
                    "{freerdp} {resource}: {took:?}"
                );
                let report: Value = serde_json::from_slice(&out.stdout).unwrap();
                report["error"].as_str().unwrap().to_owned()
            }
        };
        assert_eq!(
            failed("closed", None).await,
            "cannot connect to closed: the server could not be reached",
            "{freerdp} {server}"
        );
        // Whatever hung was ended, its whole group.
        assert_none_left(freerdp, closed);
        assert_eq!(
            failed("nowhere", None).await,
            "cannot connect to nowhere: the server's name could not be resolved",
            "{freerdp} {server}"
        );
        // The FreeRDP 3 server says the password is wrong; the FreeRDP 2
        // one ends the connection.
        let refused = failed("desktop", Some("not the password")).await;
        assert!(
            refused.starts_with("cannot connect to desktop: ")
                && refused.contains("sign-in")
                && refused.contains("wrong user name or password")
                    == (server == common::rdp::SHADOW_SERVER3),
            "{freerdp} {server}: {refused}\n{}",
            std::fs::read_to_string(setup.bus.dir.path().join("runtime.log")).unwrap_or_default()
        );
        if sdl {
            // Full screen without a window manager: sdl-freerdp3 fails
            // before connecting, then hangs; radc ends it and says why.
            let said = failed("fullscreen", Some(&password)).await;
            assert!(
                said.starts_with("cannot connect to fullscreen: FreeRDP failed before connecting"),
                "{said}"
            );
            assert_none_left(freerdp, port);
            // A RemoteApp is refused before anything starts, naming the
            // setting and the client that can.
            setup.start_workspace(&password, 0).await;
            let out = run(setup.radc().args(["launch", WORKSPACE, "calc"]));
            assert_eq!(out.status.code(), Some(1));
            let said = String::from_utf8_lossy(&out.stderr);
            assert!(
                said.contains("remoteapplicationmode") && said.contains("xfreerdp3"),
                "{said}"
            );
        }

        let activations = setup.server.activations();
        setup.start_workspace(&password, 0).await;
        let out = run(setup
            .radc()
            .args(["launch", "--json", WORKSPACE, "desktop"]));
        assert!(out.status.success(), "{freerdp} {server}");
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["state"], "up", "{freerdp}: {report}");
        // Up means signed in, with the connection to the server open.
        assert!(
            setup
                .server
                .wait_for_activations(activations + 1, Duration::from_secs(10)),
            "{freerdp}: {}",
            setup.server.log()
        );
        // The session's window carries the class of the menu entry.
        let class = startup_wm_class(&setup, "desktop");
        let mut classes = Vec::new();
        let found = common::rdp::wait_until(Duration::from_secs(10), || {
            classes = window_classes(setup.display.display(), "Full Desktop");
            classes
                .iter()
                .any(|c| c.ends_with(&format!(", \"{class}\"")))
        });
        assert!(found, "{freerdp}: WM_CLASS {classes:?}, entry {class}");
        disconnect_all(&setup);

        if !sdl {
            // The shadow server runs no programs, but the RemoteApp's
            // connection is made and comes up.
            setup.start_workspace(&password, 0).await;
            let out = run(setup.radc().args(["launch", "--json", WORKSPACE, "calc"]));
            let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            eprintln!("{freerdp} RemoteApp: {report}");
            assert!(out.status.success(), "{freerdp}: {report}");
            disconnect_all(&setup);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_against_the_freerdp_2_server() {
    every_client_against(common::rdp::SHADOW_SERVER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_against_the_freerdp_3_server() {
    every_client_against(common::rdp::SHADOW_SERVER3).await;
}

/// A server whose certificate is not the one FreeRDP met there before is
/// refused, and `radc launch` says so. (The certificate FreeRDP 2 noted is
/// changed in its store, as a server's new certificate would look to it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_server_certificate_is_named() {
    let setup = Setup::start_with(&[], 1.0, false, &[], Some(Path::new("/usr/bin/xfreerdp"))).await;
    let password = setup.server.password().to_owned();
    setup.start_workspace(&password, 0).await;
    setup.launch_ok("desktop");
    assert!(
        run(setup.radc().args(["disconnect", WORKSPACE]))
            .status
            .success()
    );
    assert!(setup.server.wait_for_no_session(Duration::from_secs(10)));
    let store = setup.bus.dir.path().join("config/freerdp/known_hosts2");
    let known = std::fs::read_to_string(&store).unwrap();
    let port = setup.server.port().to_string();
    let changed: String = known
        .lines()
        .map(|line| {
            let mut fields: Vec<String> = line.split(' ').map(str::to_owned).collect();
            if fields.get(1) == Some(&port) {
                fields[2] = fields[2].replace(|c: char| c.is_ascii_hexdigit(), "0");
            }
            fields.join(" ") + "\n"
        })
        .collect();
    assert_ne!(changed, known, "FreeRDP noted the server: {known}");
    std::fs::write(&store, changed).unwrap();

    setup.start_workspace(&password, 0).await;
    let out = run(setup.radc().args(["launch", WORKSPACE, "desktop"]));
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.starts_with(
            "radc: cannot connect to desktop: the server's certificate changed since the last connection"
        ),
        "{said}"
    );
    assert_eq!(setup.server.activations(), 1, "only the first connection");
}

/// The `Notify` calls seen on a bus: what a notification server received.
struct NotifyCalls {
    calls: std::sync::Arc<std::sync::Mutex<Vec<NotifyCall>>>,
    _task: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Clone)]
struct NotifyCall {
    app: String,
    replaces: u32,
    summary: String,
    body: String,
    actions: Vec<String>,
    urgency: Option<u8>,
}

impl NotifyCalls {
    /// Watches the bus as a monitor (what `dbus-monitor` does).
    async fn watch(bus: &TestBus) -> NotifyCalls {
        let monitor = bus.connect().await;
        monitor
            .call_method(
                Some("org.freedesktop.DBus"),
                "/org/freedesktop/DBus",
                Some("org.freedesktop.DBus.Monitoring"),
                "BecomeMonitor",
                &(
                    vec!["type='method_call',interface='org.freedesktop.Notifications',member='Notify'"],
                    0u32,
                ),
            )
            .await
            .unwrap();
        let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = calls.clone();
        let mut stream = zbus::MessageStream::from(&monitor);
        let task = tokio::spawn(async move {
            let _keep = monitor;
            while let Some(Ok(message)) = stream.next().await {
                type Body = (
                    String,
                    u32,
                    String,
                    String,
                    String,
                    Vec<String>,
                    std::collections::HashMap<String, zbus::zvariant::OwnedValue>,
                    i32,
                );
                let Ok((app, replaces, _icon, summary, body, actions, hints, _)) =
                    message.body().deserialize::<Body>()
                else {
                    continue;
                };
                let urgency = hints.get("urgency").and_then(|v| u8::try_from(v).ok());
                seen.lock().unwrap().push(NotifyCall {
                    app,
                    replaces,
                    summary,
                    body,
                    actions,
                    urgency,
                });
            }
        });
        NotifyCalls { calls, _task: task }
    }

    fn all(&self) -> Vec<NotifyCall> {
        self.calls.lock().unwrap().clone()
    }

    /// Waits until `n` calls were seen, then a little longer to be sure no
    /// more come; returns them all.
    async fn exactly(&self, n: usize, what: &str) -> Vec<NotifyCall> {
        eventually(Duration::from_secs(15), what, || async {
            self.all().len() >= n
        })
        .await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        let all = self.all();
        assert_eq!(all.len(), n, "{what}: {all:#?}");
        all
    }
}

/// A real notification server (dunst, on Xvfb and the test's bus) gets
/// exactly the expected bubbles: none for a good launch; a failed one with
/// its cause and a Retry that launches again; a storm of failures as one
/// growing bubble; a failed refresh once; a sign-in; a resource removed
/// while it is open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desktop_is_told_through_its_notification_server() {
    let closed = common::rdp::free_port();
    let unreachable = format!("full address:s:127.0.0.1:{closed}\r\n");
    let setup = Setup::start_with(
        &[(
            "closed",
            "Closed Port",
            "Desktop",
            ".rdp",
            unreachable.as_bytes(),
        )],
        1.0,
        false,
        &[],
        Some(Path::new("/usr/bin/xfreerdp")),
    )
    .await;
    let dunst = common::rdp::GroupChild::spawn(
        {
            let mut cmd = Command::new("dunst");
            cmd.envs(setup.bus.env())
                .env("DISPLAY", setup.display.display())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            cmd
        },
        true,
    )
    .expect("dunst is installed (scripts/install-deps.sh)");
    setup
        .bus
        .wait_for_name("org.freedesktop.Notifications")
        .await;
    let conn = setup.bus.connect().await;
    let notes = NotifyCalls::watch(&setup.bus).await;
    let password = setup.server.password().to_owned();

    // A good launch: no bubble.
    setup.start_workspace(&password, 0).await;
    setup.launch_ok("desktop");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(notes.all().is_empty(), "{:#?}", notes.all());

    // A failed one: its cause, and Retry.
    assert_eq!(
        run(setup.radc().args(["launch", WORKSPACE, "closed"]))
            .status
            .code(),
        Some(1)
    );
    let calls = notes.exactly(1, "the failure's bubble").await;
    let first = &calls[0];
    assert_eq!(first.app, "Remote Workspaces");
    assert_eq!(first.summary, "Cannot connect to Closed Port");
    assert_eq!(first.body, "The server could not be reached.");
    assert_eq!(first.actions, ["default", "Retry"]);
    assert_eq!(first.urgency, Some(1));
    assert_eq!(first.replaces, 0);
    // What the desktop shows.
    std::thread::sleep(Duration::from_millis(300));
    let status = Command::new("import")
        .args(["-window", "root", "-display", setup.display.display()])
        .arg(common::artifacts().join("notification.png"))
        .status()
        .expect("import (imagemagick) runs");
    assert!(status.success());

    // Retry, as the user clicking the bubble: launched again, fails again.
    let out = Command::new("dunstctl")
        .args(["action", "0"])
        .envs(setup.bus.env())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let calls = notes.exactly(2, "the retried launch's bubble").await;
    assert_eq!(calls[1].summary, "Cannot connect to Closed Port");
    assert!(setup.bus.runtime_log().contains("again, as asked"));

    // A storm: three more at once join that bubble, which grows.
    let runtime = RuntimeProxy::new(&conn).await.unwrap();
    let env = std::collections::HashMap::from([("DISPLAY", setup.display.display())]);
    for _ in 0..3 {
        runtime
            .launch(WORKSPACE, "closed", &[], env.clone())
            .await
            .unwrap();
    }
    let calls = notes.exactly(5, "the storm's bubble").await;
    assert_eq!(calls[1].replaces, 0, "the retry's failure is a new bubble");
    let storm = &calls[2..];
    assert!(
        storm
            .iter()
            .all(|c| c.replaces != 0 && c.replaces == storm[0].replaces),
        "{storm:#?}"
    );
    assert_eq!(storm[2].summary, "4 connections failed");
    assert_eq!(storm[2].body.lines().count(), 4, "{}", storm[2].body);
    let shown = Command::new("dunstctl")
        .args(["count", "displayed"])
        .envs(setup.bus.env())
        .output()
        .unwrap();
    let shown: usize = String::from_utf8_lossy(&shown.stdout)
        .trim()
        .parse()
        .unwrap();
    assert!(
        shown <= 2,
        "one bubble for the storm (and maybe the retry's): {shown}"
    );

    // A failed refresh, told once.
    let workspaces = radc_client::proxy::WorkspacesProxy::new(&conn)
        .await
        .unwrap();
    let feed = setup.site.feed_path();
    let good_feed = std::fs::read(&feed).unwrap();
    std::fs::write(&feed, "<ResourceCollection").unwrap();
    workspaces.refresh(WORKSPACE).await.unwrap();
    workspaces.refresh(WORKSPACE).await.unwrap();
    let calls = notes.exactly(6, "the failed refresh's bubble").await;
    assert_eq!(calls[5].summary, "Launch Test could not be updated");

    // A resource removed while open (the desktop launched above).
    let without_desktop = String::from_utf8(good_feed.clone())
        .unwrap()
        .replace(r#"<Resource ID="desktop""#, r#"<Resource ID="gone""#);
    std::fs::write(&feed, without_desktop).unwrap();
    workspaces.refresh(WORKSPACE).await.unwrap();
    let calls = notes.exactly(7, "the removed resource's bubble").await;
    assert_eq!(calls[6].summary, "Full Desktop was removed");

    // Signing in to a workspace.
    std::fs::write(&feed, &good_feed).unwrap();
    workspaces.unsubscribe(WORKSPACE).await.unwrap();
    let user = format!("{}\\{}", setup.server.domain(), setup.server.user());
    workspaces
        .subscribe(&setup.site.url(), &user, &password, true)
        .await
        .unwrap();
    let calls = notes.exactly(8, "the sign-in's bubble").await;
    assert_eq!(calls[7].summary, "Connected to Launch Test");
    assert_eq!(calls[7].urgency, Some(0));
    dunst.signal_group("TERM");
}

/// A stand-in FreeRDP called `name` in `dir` that says it is `version`,
/// writes its name to `dir/launched.PID` and waits. Stands in for the real
/// clients where only the runtime's choice between them is under test.
fn named_stand_in(dir: &Path, name: &str, version: &str) {
    let script = dir.join(name);
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             if [ \"$1\" = /version ]; then echo 'This is FreeRDP version {version} ({version})'; exit 0; fi\n\
             echo {name} > '{dir}/launched.'$$\n\
             exec /bin/sleep 30\n",
            dir = dir.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_app_gets_a_client_that_can_show_it() {
    // sdl-freerdp3 comes before xfreerdp on the list, but cannot show
    // RemoteApps: with both installed (and no xfreerdp3), a desktop gets
    // sdl-freerdp3 and a RemoteApp xfreerdp.
    let app = b"full address:s:127.0.0.1:9\r\nremoteapplicationmode:i:1\r\nremoteapplicationprogram:s:||wordpad\r\nremoteapplicationname:s:WordPad\r\n";
    let desktop = b"full address:s:127.0.0.1:9\r\n";
    let resources: [(&str, &str, &str, &str, &[u8]); 2] = [
        ("wordpad", "WordPad", "RemoteApp", ".rdp", app),
        ("desktop", "Full Desktop", "Desktop", ".rdp", desktop),
    ];
    let site = Site::start(|root| publish(root, &resources));
    let mut bus = TestBus::bus_only();
    let bin = bus.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    named_stand_in(&bin, "sdl-freerdp3", "3.10.3");
    named_stand_in(&bin, "xfreerdp", "2.11.7");
    let path = bin.display().to_string();
    bus.start_runtime_with(Timeouts::default(), &[], &[("PATH", &path)])
        .await;
    assert_eq!(bus.subscribe(&site.url()).await, WORKSPACE);

    let launched_by = |resource: &str| {
        let before: Vec<_> = std::fs::read_dir(&bin)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        let out = run(bus.radc().args(["launch", "--detach", WORKSPACE, resource]));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let new: Vec<String> = std::fs::read_dir(&bin)
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .filter(|p| !before.contains(p))
                .filter_map(|p| std::fs::read_to_string(p).ok())
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
            if !new.is_empty() || Instant::now() > deadline {
                return new;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    assert_eq!(launched_by("desktop"), ["sdl-freerdp3"]);
    assert_eq!(launched_by("wordpad"), ["xfreerdp"]);
    let out = run(bus.radc().args(["disconnect", WORKSPACE]));
    assert!(out.status.success());
}
