//! radc-subscribe's test RD Web Access server (`feed_server.py`): the
//! MS-TSWP login dance with NTLM/Negotiate done by pyspnego, an
//! implementation independent of radc's. Needs `/opt/radc-test-venv`
//! (`scripts/install-deps.sh`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

/// The venv with pyspnego.
pub const PYTHON: &str = "/opt/radc-test-venv/bin/python";

pub struct FeedServer {
    pub port: u16,
    /// The plain-http control port (`/<tenant>/stats`, …).
    pub control: u16,
    /// Where its test CA (`ca.pem`) is, with TLS.
    pub certs: tempfile::TempDir,
    plain: bool,
    // The server exits when its stdin closes.
    _stdin: ChildStdin,
    child: Child,
}

impl FeedServer {
    /// On TLS with a CA made for the test.
    pub fn start() -> FeedServer {
        Self::spawn(false)
    }

    /// On plain http (radc accepts it only when allowed).
    pub fn start_plain() -> FeedServer {
        Self::spawn(true)
    }

    fn spawn(plain: bool) -> FeedServer {
        assert!(
            Path::new(PYTHON).exists(),
            "{PYTHON} is missing: run scripts/install-deps.sh as root"
        );
        let certs = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../radc-subscribe/tests/server/feed_server.py");
        let mut command = Command::new(PYTHON);
        command.arg(script).arg("--certdir").arg(certs.path());
        if plain {
            command.arg("--plain");
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("feed_server.py starts");
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words.first(), Some(&"READY"), "server said {line:?}");
        FeedServer {
            port: words[1].parse().unwrap(),
            control: words[2].parse().unwrap(),
            certs,
            plain,
            _stdin: stdin,
            child,
        }
    }

    /// The feed of `tenant` (any name; it keeps tests apart) in `mode`
    /// (`normal`, `apps`, … as `feed_server.py` lists them).
    pub fn feed_url(&self, tenant: &str, mode: &str) -> String {
        let scheme = if self.plain { "http" } else { "https" };
        format!("{scheme}://127.0.0.1:{}/{tenant}/{mode}/feed", self.port)
    }
}

impl FeedServer {
    /// Asks the control port: `GET /<tenant>/<what>` (`stats` is JSON),
    /// or `POST` with a body; returns the body.
    #[allow(dead_code)]
    pub fn control(&self, tenant: &str, what: &str, post: Option<&[u8]>) -> String {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.control)).unwrap();
        let body = post.unwrap_or_default();
        let method = if post.is_some() { "POST" } else { "GET" };
        write!(
            s,
            "{method} /{tenant}/{what} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .unwrap();
        s.write_all(body).unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text.split_once("\r\n\r\n").unwrap().1.to_owned()
    }
}

impl Drop for FeedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
