//! A static web site on loopback (Python's `http.server`), for feeds.

use std::path::Path;
use std::process::Child;

#[path = "../../../radc-subscribe/tests/support/static_site.rs"]
mod static_site;

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
        let (child, port) = static_site::serve(root.path(), log.reopen().unwrap().into());
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
