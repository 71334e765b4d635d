//! A running tests/python/custom_client.py, read line by line.

use std::io::{BufRead, BufReader};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::TestBus;

/// How long a prompt answer from the client may take.
const PROMPT: Duration = Duration::from_secs(10);

/// A running tests/python/custom_client.py.
pub struct PyClient {
    pub child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    /// (cookie, display name) per registration, once [`PyClient::ready`].
    pub registrations: Vec<(u32, String)>,
}

impl PyClient {
    /// Starts the client; call [`PyClient::ready`] before using it. Starting
    /// several, then waiting for each, starts them in parallel.
    pub fn spawn(bus: &TestBus, args: &[&str]) -> PyClient {
        let mut child = bus
            .python("custom_client.py")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        PyClient {
            child,
            lines,
            registrations: Vec::new(),
        }
    }

    pub async fn start(bus: &TestBus, args: &[&str]) -> PyClient {
        let mut client = Self::spawn(bus, args);
        client.ready().await;
        client
    }

    /// Reads the registrations up to `READY`.
    pub async fn ready(&mut self) {
        loop {
            let line = self.line().await;
            if line == "READY" {
                return;
            }
            let v: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("unexpected line {line:?} from the client: {e}"));
            let cookie = v["cookie"].as_u64().expect("a cookie") as u32;
            let name = v["name"].as_str().expect("a name").to_owned();
            self.registrations.push((cookie, name));
        }
    }

    /// The next line on its stdout.
    pub async fn line(&mut self) -> String {
        tokio::time::timeout(PROMPT, self.lines.recv())
            .await
            .expect("the Python client printed nothing for 10 s")
            .expect("the Python client closed its stdout")
    }

    pub fn cookies(&self) -> Vec<u32> {
        self.registrations.iter().map(|r| r.0).collect()
    }

    pub fn cookie(&self) -> u32 {
        assert_eq!(self.registrations.len(), 1);
        self.registrations[0].0
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the Python client did not exit within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for PyClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
