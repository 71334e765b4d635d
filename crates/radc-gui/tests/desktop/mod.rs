//! A desktop of real parts for radc-gui's tests: a private X display (Xvfb),
//! a private session bus (radc's test harness, with or without the
//! runtime), the accessibility bus a screen reader would use, and a driver
//! that finds widgets there by role and name (`atspi_driver.py`).
//! Screenshots go to `TARGET/test-artifacts/`.

#![allow(dead_code)]

#[path = "../../../radc/tests/common/mod.rs"]
pub mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::TestBus;
use common::rdp::{GroupChild, XvfbDisplay};
use serde_json::{Value, json};

/// Debian's Python, which has python3-pyatspi.
const PYTHON: &str = "/usr/bin/python3";
const A11Y_LAUNCHER: &str = "/usr/libexec/at-spi-bus-launcher";

pub struct Desktop {
    // Dropped in this order: the driver and the accessibility bus before
    // the display and the session bus they use.
    driver: Driver,
    _a11y: GroupChild,
    pub display: XvfbDisplay,
    pub bus: TestBus,
}

impl Desktop {
    /// A display and the accessibility bus for `bus`'s session.
    pub async fn start(bus: TestBus) -> Desktop {
        assert!(
            Path::new(A11Y_LAUNCHER).exists(),
            "{A11Y_LAUNCHER} is missing: run scripts/install-deps.sh as root"
        );
        let display = XvfbDisplay::start();
        let mut launcher = Command::new(A11Y_LAUNCHER);
        launcher
            .arg("--launch-immediately")
            .envs(bus.env())
            .env("DISPLAY", display.display())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let a11y = GroupChild::spawn(launcher, false).expect("at-spi-bus-launcher starts");
        // Toolkits and the driver find the accessibility bus through the
        // session bus.
        let conn = bus.connect().await;
        let dbus = zbus::fdo::DBusProxy::new(&conn).await.unwrap();
        common::eventually(Duration::from_secs(10), "the accessibility bus", || {
            let dbus = dbus.clone();
            async move {
                dbus.name_has_owner("org.a11y.Bus".try_into().unwrap())
                    .await
                    .unwrap_or(false)
            }
        })
        .await;
        let mut desktop = Desktop {
            driver: Driver::placeholder(),
            _a11y: a11y,
            display,
            bus,
        };
        desktop.driver = Driver::start(&desktop.env());
        desktop
    }

    /// The environment of a program on this desktop.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = self.bus.env();
        env.extend([
            ("DISPLAY", self.display.display().to_owned()),
            ("GDK_BACKEND", "x11".to_owned()),
            // No dconf: settings stay in memory.
            ("GSETTINGS_BACKEND", "memory".to_owned()),
            ("LANG", "C.UTF-8".to_owned()),
        ]);
        env
    }

    /// `radc-gui` with `args`, on this desktop.
    pub fn gui(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_radc-gui"));
        cmd.args(args)
            .env_remove("NO_AT_BRIDGE")
            .env_remove("GTK_A11Y")
            .envs(self.env())
            .stdin(Stdio::null());
        cmd
    }

    pub fn driver(&mut self) -> &mut Driver {
        &mut self.driver
    }

    /// Saves the whole screen as `TARGET/test-artifacts/NAME.png`.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let dir = artifacts();
        let path = dir.join(format!("{name}.png"));
        let status = Command::new("import")
            .args(["-window", "root", "-display", self.display.display()])
            .arg(&path)
            .status()
            .expect("import (imagemagick) runs");
        assert!(status.success(), "screenshot {name} failed");
        path
    }

    /// Presses keys, as `xdotool key` names them (`Return`, `alt+r`).
    pub fn key(&self, keys: &str) {
        self.xdotool(&["key", "--clearmodifiers", keys]);
    }

    /// Types text on the keyboard into whatever has the focus.
    pub fn type_text(&self, text: &str) {
        self.xdotool(&["type", "--delay", "15", "--", text]);
    }

    fn xdotool(&self, args: &[&str]) {
        let status = Command::new("xdotool")
            .args(args)
            .env("DISPLAY", self.display.display())
            .status()
            .expect("xdotool runs");
        assert!(status.success(), "xdotool {args:?} failed");
    }
}

/// `TARGET/test-artifacts`, made if missing.
pub fn artifacts() -> PathBuf {
    common::artifacts()
}

/// The running `atspi_driver.py`.
pub struct Driver {
    child: Option<GroupChild>,
    stdin: Option<ChildStdin>,
    stdout: Option<BufReader<ChildStdout>>,
}

impl Driver {
    fn placeholder() -> Driver {
        Driver {
            child: None,
            stdin: None,
            stdout: None,
        }
    }

    fn start(env: &[(&'static str, String)]) -> Driver {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/atspi_driver.py");
        let mut cmd = Command::new(PYTHON);
        cmd.arg(script)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = GroupChild::spawn(cmd, false).expect("python3 runs");
        let stdin = child.child().stdin.take();
        let stdout = child.child().stdout.take().map(BufReader::new);
        let mut driver = Driver {
            child: Some(child),
            stdin,
            stdout,
        };
        let ready = driver.read();
        assert_eq!(
            ready["ready"], true,
            "atspi_driver.py did not start (is python3-pyatspi installed?)"
        );
        driver
    }

    fn read(&mut self) -> Value {
        let mut line = String::new();
        self.stdout
            .as_mut()
            .expect("a started driver")
            .read_line(&mut line)
            .unwrap();
        assert!(!line.is_empty(), "atspi_driver.py ended");
        serde_json::from_str(&line).unwrap()
    }

    /// Sends a command; fails the test with the driver's words if it fails.
    pub fn call(&mut self, command: Value) -> Value {
        let stdin = self.stdin.as_mut().expect("a started driver");
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
        let answer = self.read();
        assert_eq!(
            answer["ok"],
            true,
            "{command}: {}",
            answer["error"].as_str().unwrap_or("failed")
        );
        answer
    }

    /// Waits for a widget to exist.
    pub fn wait(&mut self, role: &str, name: &str) {
        self.call(json!({"op": "wait", "role": role, "name": name, "timeout": 20}));
    }

    /// Waits for a widget with these states and without those.
    pub fn wait_states(&mut self, role: &str, name: &str, with: &[&str], without: &[&str]) {
        self.call(json!({
            "op": "wait", "role": role, "name": name,
            "states": with, "without": without, "timeout": 20,
        }));
    }

    /// Waits for no such widget to exist.
    pub fn wait_gone(&mut self, role: &str, name: &str) {
        self.call(json!({"op": "wait", "role": role, "name": name, "absent": true, "timeout": 20}));
    }

    pub fn states(&mut self, role: &str, name: &str) -> Vec<String> {
        serde_json::from_value(
            self.call(json!({"op": "states", "role": role, "name": name}))["states"].clone(),
        )
        .unwrap()
    }

    pub fn count(&mut self, role: &str, name: &str) -> u64 {
        self.call(json!({"op": "count", "role": role, "name": name}))["count"]
            .as_u64()
            .unwrap()
    }

    /// Runs a widget's action (`click` for buttons, `toggle` for switches).
    pub fn act(&mut self, role: &str, name: &str, action: &str) {
        self.call(json!({"op": "do", "role": role, "name": name, "action": action}));
    }

    pub fn click(&mut self, name: &str) {
        self.act("push button", name, "click");
    }

    pub fn set_text(&mut self, role: &str, name: &str, text: &str) {
        self.call(json!({"op": "set_text", "role": role, "name": name, "text": text}));
    }

    /// The accessibility tree, for a failing test's message.
    pub fn tree(&mut self) -> String {
        self.call(json!({"op": "tree"}))["tree"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// A `radc-gui` process; killed when dropped.
pub struct Gui {
    process: GroupChild,
}

impl Gui {
    pub fn spawn(mut cmd: Command) -> Gui {
        cmd.stderr(Stdio::inherit());
        Gui {
            process: GroupChild::spawn(cmd, false).expect("radc-gui starts"),
        }
    }

    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// Waits up to `limit` for it to exit; returns its status and all it
    /// wrote on standard output (which must be piped).
    pub fn finish(&mut self, limit: Duration) -> (ExitStatus, Vec<u8>) {
        let status = self
            .process
            .wait_timeout(limit)
            .unwrap_or_else(|| panic!("radc-gui did not exit within {limit:?}"));
        let mut out = Vec::new();
        if let Some(mut stdout) = self.process.child().stdout.take() {
            stdout.read_to_end(&mut out).unwrap();
        }
        (status, out)
    }

    /// Whether it is still running after `wait`.
    pub fn still_running_after(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if self.process.has_exited() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        !self.process.has_exited()
    }
}
