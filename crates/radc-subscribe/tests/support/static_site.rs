//! A static web site on loopback: `tests/server/static_site.py` serving a
//! directory on a port it binds itself.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const SCRIPT: &str = include_str!("../server/static_site.py");

/// Serves `dir`, logging requests to `log`; returns the server and its
/// port once it listens.
pub fn serve(dir: &Path, log: Stdio) -> (Child, u16) {
    let mut child = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("/usr/bin/python3 starts (scripts/install-deps.sh installs it)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .strip_prefix("READY ")
        .and_then(|port| port.trim().parse().ok())
        .unwrap_or_else(|| panic!("the HTTP server said {line:?}"));
    (child, port)
}
