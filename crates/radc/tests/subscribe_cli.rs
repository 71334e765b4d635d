//! `radc subscribe`, `workspaces`, `resources`, `refresh` and `unsubscribe`
//! as a user runs them, against the test RD Web Access server (TLS with a
//! test CA, sign-in through pyspnego's independent NTLM implementation).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Output, Stdio};

use serde_json::Value;

const PYTHON: &str = "/opt/radc-test-venv/bin/python";

struct FeedServer {
    port: u16,
    certs: tempfile::TempDir,
    _stdin: ChildStdin,
    child: Child,
}

impl FeedServer {
    fn start() -> FeedServer {
        let certs = tempfile::tempdir().unwrap();
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../radc-subscribe/tests/server/feed_server.py"
        );
        let mut child = Command::new(PYTHON)
            .arg(script)
            .arg("--certdir")
            .arg(certs.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the test venv exists (scripts/install-deps.sh)");
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words.first(), Some(&"READY"), "server said {line:?}");
        FeedServer {
            port: words[1].parse().unwrap(),
            certs,
            _stdin: stdin,
            child,
        }
    }

    fn feed_url(&self, tenant: &str) -> String {
        format!("https://127.0.0.1:{}/{tenant}/normal/feed", self.port)
    }
}

impl Drop for FeedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `radc` command with its own XDG directories and no session bus (so no
/// Secret Service: the password is used once and not stored).
fn radc(home: &std::path::Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_radc"))
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}/no-bus", home.display()),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn subscribe_with_ntlm_then_list_and_unsubscribe() {
    let server = FeedServer::start();
    let home = tempfile::tempdir().unwrap();
    let ca = server.certs.path().join("ca.pem");
    let ca = ca.to_str().unwrap();
    let url = server.feed_url("cli");

    // Wrong password: a clear error, exit 1, nothing stored, password not echoed.
    let out = radc(
        home.path(),
        &[
            "subscribe",
            &url,
            "-u",
            "RADCTEST\\alice",
            "--password-stdin",
            "--ca-file",
            ca,
        ],
        "not-the-password\n",
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("rejected"), "{err}");
    assert!(!err.contains("not-the-password"), "{err}");

    // Without the test CA the certificate is refused, with a hint.
    let out = radc(
        home.path(),
        &[
            "subscribe",
            &url,
            "-u",
            "RADCTEST\\alice",
            "--password-stdin",
        ],
        "Secr3t-pw\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--ca-file"),
        "{}",
        text(&out.stderr)
    );

    let out = radc(home.path(), &["workspaces", "--json"], "");
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        Value::Array(vec![])
    );

    // The right password.
    let out = radc(
        home.path(),
        &[
            "subscribe",
            &url,
            "-u",
            "RADCTEST\\alice",
            "--password-stdin",
            "--ca-file",
            ca,
            "--json",
        ],
        "Secr3t-pw\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let subscribed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(subscribed["id"], "test");
    assert_eq!(subscribed["url"], url.as_str());
    assert_eq!(subscribed["username"], "RADCTEST\\alice");
    assert!(
        text(&out.stderr).contains("not stored"),
        "without a Secret Service the user is told: {}",
        text(&out.stderr)
    );
    let config = std::fs::read_dir(home.path().join("config/radc/workspaces"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    assert!(
        !config.contains("Secr3t-pw"),
        "no password in the stored record"
    );

    let out = radc(home.path(), &["workspaces", "--json"], "");
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["id"], "test");
    assert_eq!(listed[0]["resource_count"], 0);
    assert!(listed[0]["last_refresh"].is_u64());
    assert!(listed[0]["last_error"].is_null());

    let out = radc(home.path(), &["resources", "test", "--json"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        Value::Array(vec![])
    );

    // Without a keyring and without a terminal there is no password to
    // refresh with: say so, keep the stored state.
    let out = radc(home.path(), &["refresh", "test", "--ca-file", ca], "");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("needs the password of RADCTEST\\alice"),
        "{err}"
    );
    let out = radc(home.path(), &["workspaces", "--json"], "");
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["id"], "test");

    let out = radc(home.path(), &["unsubscribe", "test"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = radc(home.path(), &["unsubscribe", "test"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("radc workspaces"),
        "{}",
        text(&out.stderr)
    );
}
