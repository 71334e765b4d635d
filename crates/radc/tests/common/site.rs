//! A static web site on loopback (Python's `http.server`), for feeds.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Site {
    child: Child,
    pub port: u16,
    pub root: tempfile::TempDir,
    /// The server's request log (kept outside the served directory).
    log: tempfile::NamedTempFile,
}

impl Site {
    /// Serves a new temporary directory after `publish` has filled it.
    pub fn start(publish: impl FnOnce(&Path)) -> Site {
        let root = tempfile::tempdir().unwrap();
        publish(root.path());
        let log = tempfile::NamedTempFile::new().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("/usr/bin/python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .arg("--directory")
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the HTTP server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Site {
            child,
            port,
            root,
            log,
        }
    }

    /// The request lines the server logged so far (`GET /path HTTP/1.1`).
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(self.log.path())
            .unwrap()
            .lines()
            .filter_map(|l| Some(l.split_once('"')?.1.split_once('"')?.0.to_owned()))
            .collect()
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where `RDWeb/Feed/webfeed.aspx` is served from.
    pub fn feed_path(&self) -> std::path::PathBuf {
        self.root.path().join("RDWeb/Feed/webfeed.aspx")
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
