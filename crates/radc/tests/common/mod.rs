//! A private, real `dbus-daemon` and a real `radc daemon` on it, per test.
//!
//! Every test gets its own bus (so tests run in parallel without seeing each
//! other), its own XDG directories, and short timeouts so that timeout
//! paths finish quickly.

#![allow(dead_code)]

pub mod rdp;

pub mod feed_server;
pub mod keyring;
pub mod procfs;
pub mod pyclient;
pub mod recorder;
pub mod site;
pub mod stats;
pub mod tray;
pub mod unfair;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use radc_client::{ClientError, WorkspaceClientExt};
use tempfile::TempDir;
use zbus::Connection;

/// Debian's Python, which has python3-dbus and python3-gi.
pub const PYTHON: &str = "/usr/bin/python3";

pub struct TestBus {
    pub dir: TempDir,
    pub address: String,
    bus: Child,
    runtime: Option<Child>,
}

/// Timeouts the runtime is started with in tests.
#[derive(Clone, Copy)]
pub struct Timeouts {
    pub disconnect: f64,
    pub grace: f64,
    pub probe: f64,
    /// Seconds between refreshes of subscribed workspaces.
    pub refresh: f64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            disconnect: 1.0,
            grace: 1.0,
            probe: 1.0,
            refresh: 86400.0,
        }
    }
}

impl TestBus {
    /// A bus with the runtime already serving on it.
    pub async fn start() -> TestBus {
        Self::start_with(Timeouts::default()).await
    }

    pub async fn start_with(timeouts: Timeouts) -> TestBus {
        let mut bus = Self::bus_only();
        bus.start_runtime(timeouts).await;
        bus
    }

    /// A bus without the runtime, configured like a desktop session bus
    /// except that any user may connect to it, so tests can call the runtime
    /// as an unprivileged user.
    pub fn bus_only() -> TestBus {
        Self::bus_with(false, &[])
    }

    /// A bus without the runtime that starts services on demand from
    /// `$XDG_DATA_HOME/dbus-1/services` (a session bus's own directory, where
    /// `radc setup` writes), with `XDG_DATA_HOME` at [`TestBus::data_home`].
    /// Started services get the bus's environment: [`TestBus::env`] (but
    /// for the bus address, which the bus sets itself), `XDG_DATA_HOME`,
    /// and `env`. The bus's standard error, which is also theirs, goes to
    /// [`TestBus::bus_log`].
    pub fn activating(env: &[(&str, String)]) -> TestBus {
        Self::bus_with(true, env)
    }

    fn bus_with(activating: bool, env: &[(&str, String)]) -> TestBus {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let socket = dir.path().join("bus");
        let config = dir.path().join("bus.conf");
        let data_home = dir.path().join("data");
        let service_dir = if activating {
            format!(
                "  <servicedir>{}</servicedir>\n",
                data_home.join("dbus-1/services").display()
            )
        } else {
            String::new()
        };
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
{service_dir}  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
  <!-- The limits of a desktop session bus (/usr/share/dbus-1/session.conf),
       not dbus-daemon's much lower built-in ones. -->
  <limit name="max_replies_per_connection">50000</limit>
  <limit name="max_match_rules_per_connection">50000</limit>
  <limit name="max_names_per_connection">50000</limit>
  <limit name="max_connections_per_user">100000</limit>
</busconfig>
"#,
                socket.display()
            ),
        )
        .unwrap();
        let mut command = Command::new("dbus-daemon");
        command
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--nopidfile", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if activating {
            command
                .envs(Self::dirs_env(dir.path()))
                .env("XDG_DATA_HOME", &data_home)
                .envs(env.iter().map(|(k, v)| (k, v)))
                .stderr(std::fs::File::create(dir.path().join("bus.log")).unwrap());
        }
        let mut bus = command
            .spawn()
            .expect("dbus-daemon is installed (scripts/install-deps.sh)");
        let mut line = String::new();
        BufReader::new(bus.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("dbus-daemon prints its address");
        let address = line.trim().to_owned();
        assert!(!address.is_empty(), "dbus-daemon did not start");
        for sub in ["config", "state", "etc"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        std::fs::create_dir_all(dir.path().join("run")).unwrap();
        std::fs::set_permissions(
            dir.path().join("run"),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        TestBus {
            dir,
            address,
            bus,
            runtime: None,
        }
    }

    /// Environment for any process that should use this bus and these
    /// directories.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("DBUS_SESSION_BUS_ADDRESS", self.address.clone())];
        env.extend(Self::dirs_env(self.dir.path()));
        env
    }

    /// [`TestBus::env`] without the bus address.
    fn dirs_env(dir: &Path) -> Vec<(&'static str, String)> {
        vec![
            ("HOME", dir.display().to_string()),
            ("XDG_CONFIG_HOME", dir.join("config").display().to_string()),
            ("XDG_STATE_HOME", dir.join("state").display().to_string()),
            ("XDG_RUNTIME_DIR", dir.join("run").display().to_string()),
            ("RADC_LOG", "info".to_owned()),
            // No Kerberos ticket unless a test makes one: the user's own
            // ticket cache must not decide what single sign-on says.
            (
                "KRB5CCNAME",
                format!("FILE:{}", dir.join("krb5cc").display()),
            ),
        ]
    }

    /// `XDG_DATA_HOME` of an [`TestBus::activating`] bus.
    pub fn data_home(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// What the bus, and the services it started, wrote to standard error
    /// (only for [`TestBus::activating`]).
    pub fn bus_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("bus.log")).unwrap_or_default()
    }

    pub fn config_home(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    /// Where the runtime keeps the machine-wide table in tests.
    pub fn machine_config_dir(&self) -> PathBuf {
        self.dir.path().join("etc")
    }

    /// A `radc` command wired to this bus.
    pub fn radc(&self) -> Command {
        let mut cmd = Command::new(radc_exe());
        cmd.envs(self.env());
        cmd
    }

    /// A Python script from tests/python, wired to this bus.
    pub fn python(&self, script: &str) -> Command {
        let mut cmd = Command::new(PYTHON);
        cmd.arg(python_script(script)).envs(self.env());
        cmd
    }

    pub async fn start_runtime(&mut self, t: Timeouts) {
        self.start_runtime_with(t, &[], &[]).await
    }

    /// Starts the runtime with extra `radc daemon` arguments and
    /// environment.
    pub async fn start_runtime_with(
        &mut self,
        t: Timeouts,
        args: &[&std::ffi::OsStr],
        env: &[(&str, &str)],
    ) {
        self.spawn_runtime_with(t, args, env);
        self.wait_for_runtime().await;
    }

    /// Like [`TestBus::start_runtime_with`], without waiting for the runtime
    /// to serve.
    pub fn spawn_runtime_with(
        &mut self,
        t: Timeouts,
        args: &[&std::ffi::OsStr],
        env: &[(&str, &str)],
    ) {
        let log = std::fs::File::create(self.dir.path().join("runtime.log")).unwrap();
        let child = self
            .radc()
            .envs(env.iter().copied())
            .arg("daemon")
            .args(args)
            .args(["--disconnect-timeout", &t.disconnect.to_string()])
            .args(["--grace", &t.grace.to_string()])
            .args(["--probe-timeout", &t.probe.to_string()])
            .args(["--refresh-interval", &t.refresh.to_string()])
            .arg("--machine-config-dir")
            .arg(self.machine_config_dir())
            .stderr(log)
            .spawn()
            .expect("radc daemon starts");
        self.runtime = Some(child);
    }

    /// Stops the runtime (SIGTERM) and waits for it.
    pub fn stop_runtime(&mut self) {
        if let Some(mut child) = self.runtime.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// Kills the runtime with SIGKILL, as a crash would end it, and waits
    /// for it.
    pub fn kill_runtime(&mut self) {
        if let Some(mut child) = self.runtime.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The bus's id (`org.freedesktop.DBus.GetId`).
    pub async fn bus_id(&self) -> String {
        let conn = self.connect().await;
        zbus::fdo::DBusProxy::new(&conn)
            .await
            .unwrap()
            .get_id()
            .await
            .unwrap()
            .to_string()
    }

    /// Where the runtime on this bus keeps its record of launched
    /// connections.
    pub async fn handover_dir(&self) -> PathBuf {
        self.dir.path().join("run/radc").join(self.bus_id().await)
    }

    /// Ends the bus itself, as at the end of a session.
    pub fn stop_bus(&mut self) {
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }

    /// Waits up to `limit` for the runtime to exit by itself.
    pub fn wait_runtime_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        let child = self.runtime.as_mut()?;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.runtime = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn runtime_pid(&self) -> Option<u32> {
        self.runtime.as_ref().map(Child::id)
    }

    /// The bus daemon's process id.
    pub fn bus_pid(&self) -> u32 {
        self.bus.id()
    }

    pub async fn wait_for_runtime(&self) {
        let conn = self.connect().await;
        let dbus = zbus::fdo::DBusProxy::new(&conn).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !dbus
            .name_has_owner("org.radc.Runtime".try_into().unwrap())
            .await
            .unwrap()
        {
            assert!(
                Instant::now() < deadline,
                "the runtime did not appear; its log:\n{}",
                self.runtime_log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits up to 10 s until some connection owns `name` on this bus.
    pub async fn wait_for_name(&self, name: &str) {
        let conn = self.connect().await;
        let dbus = zbus::fdo::DBusProxy::new(&conn).await.unwrap();
        eventually(Duration::from_secs(10), name, || async {
            dbus.name_has_owner(name.try_into().unwrap()).await.unwrap()
        })
        .await;
    }

    pub fn runtime_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("runtime.log")).unwrap_or_default()
    }

    /// Subscribes the runtime to the feed at `url` (plain http allowed, no
    /// sign-in) and returns the workspace's id.
    pub async fn subscribe(&self, url: &str) -> String {
        let conn = self.connect().await;
        radc_client::proxy::WorkspacesProxy::new(&conn)
            .await
            .unwrap()
            .subscribe(url, "", "", true)
            .await
            .unwrap()
    }

    /// A new, separate connection to this bus.
    pub async fn connect(&self) -> Connection {
        zbus::connection::Builder::address(self.address.as_str())
            .unwrap()
            .build()
            .await
            .expect("connect to the test bus")
    }
}

impl Drop for TestBus {
    fn drop(&mut self) {
        if let Some(mut child) = self.runtime.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}

/// The `radc` binary: cargo names it to radc's own tests; other crates'
/// tests that include this module (radc-gui's) find it in the same target
/// directory, which `cargo build --workspace` fills.
/// Where tests keep their screenshots: `TARGET/test-artifacts`, made if
/// missing.
pub fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn radc_exe() -> PathBuf {
    // Lets a benchmark run against another build, e.g. an older one.
    if let Some(path) = std::env::var_os("RADC_EXE") {
        return PathBuf::from(path);
    }
    if let Some(path) = option_env!("CARGO_BIN_EXE_radc") {
        return PathBuf::from(path);
    }
    // A test binary runs from TARGET/PROFILE/deps.
    let exe = std::env::current_exe().expect("the test's own path");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .expect("a test binary in TARGET/PROFILE/deps")
        .join("radc");
    assert!(
        path.is_file(),
        "{} is missing: build the whole workspace first (cargo build --workspace)",
        path.display()
    );
    path
}

pub fn python_script(name: &str) -> PathBuf {
    // From radc's directory or a sibling crate's.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../radc/tests/python")
        .join(name)
}

/// Whether process `pid` still runs. A zombie has exited: only processes
/// that still run count.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// Polls `check` until it is true or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How a [`TestClient`] answers `IssueDisconnect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Ok,
    Fail,
    Hang,
}

/// A custom client as the SDK's users write one, answering
/// `IssueDisconnect` as told.
pub struct TestClient {
    pub workspace: String,
    pub name: String,
    pub answer: Answer,
}

impl TestClient {
    pub fn new(workspace: impl Into<String>, name: impl Into<String>) -> TestClient {
        TestClient {
            workspace: workspace.into(),
            name: name.into(),
            answer: Answer::Ok,
        }
    }

    pub fn answering(self, answer: Answer) -> TestClient {
        TestClient { answer, ..self }
    }
}

impl WorkspaceClientExt for TestClient {
    fn resource_id(&self) -> String {
        self.workspace.clone()
    }

    fn resource_display_name(&self) -> String {
        self.name.clone()
    }

    async fn issue_disconnect(&self) -> Result<(), ClientError> {
        match self.answer {
            Answer::Ok => Ok(()),
            Answer::Fail => Err(ClientError::failed("the session refused to close")),
            Answer::Hang => std::future::pending().await,
        }
    }
}
