//! `feed_server.py` with the options the Kerberos and channel-binding tests
//! need (`--require-cb`, `--keytab`, `--plain` behind Apache), sharing one
//! certificate directory. Shared by radc-subscribe's and radc's tests.

#![allow(dead_code)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

pub const VENV_PYTHON: &str = "/opt/radc-test-venv/bin/python";

pub struct Feed {
    pub port: u16,
    pub control: u16,
    _stdin: ChildStdin,
    child: Child,
}

impl Feed {
    /// Starts the server with `args` (after `--certdir`) and `env`; waits
    /// for its `READY` line.
    pub fn start(certdir: &Path, args: &[&str], env: &[(&str, std::ffi::OsString)]) -> Feed {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../radc-subscribe/tests/server/feed_server.py");
        let mut child = Command::new(VENV_PYTHON)
            .arg(script)
            .arg("--certdir")
            .arg(certdir)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{VENV_PYTHON}: {e}; run scripts/install-deps.sh"));
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        let ports: Vec<u16> = ready
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("feed_server.py said {ready:?}"))
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect();
        Feed {
            port: ports[0],
            control: ports[1],
            _stdin: child.stdin.take().unwrap(),
            child,
        }
    }

    /// What the server recorded for `tenant` (JSON).
    pub fn stats(&self, tenant: &str) -> serde_json::Value {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.control)).unwrap();
        let request =
            format!("GET /{tenant}/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        let (_, body) = answer.split_once("\r\n\r\n").unwrap();
        serde_json::from_str(body).unwrap()
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
