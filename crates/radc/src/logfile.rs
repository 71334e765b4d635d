//! The runtime's log file when it keeps one itself (`radc daemon
//! --log-file`, as `radc` starts it when nothing else does): bounded on
//! disk while the runtime runs, not only when the file is opened.
//!
//! The file is put on standard error, so a panic's message lands in it
//! too, and log lines are written there. Once the file has grown past
//! [`MAX_LOG_BYTES`] it is renamed to `NAME.1` (replacing the one before)
//! and a fresh one is put on standard error: the two take at most twice
//! the limit, plus one line.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

pub use radc_subscribe::fsutil::MAX_LOG_BYTES;

/// Standard error, backed by a log file that is rotated by size.
pub struct RotatingLog {
    path: PathBuf,
    limit: u64,
    written: u64,
}

impl RotatingLog {
    /// Opens `path` (see [`radc_runtime::open_private_log`]) and puts it on
    /// standard error.
    pub fn open(path: &Path, limit: u64) -> io::Result<RotatingLog> {
        let file = radc_runtime::open_private_log(path)?;
        let written = file.metadata()?.len();
        onto_stderr(&file)?;
        Ok(RotatingLog {
            path: path.to_owned(),
            limit,
            written,
        })
    }

    fn rotate(&mut self) -> io::Result<()> {
        let mut old = self.path.as_os_str().to_owned();
        old.push(".1");
        std::fs::rename(&self.path, old)?;
        let file = radc_runtime::open_private_log(&self.path)?;
        onto_stderr(&file)?;
        self.written = 0;
        Ok(())
    }
}

/// Makes `file` the process's standard error.
fn onto_stderr(file: &File) -> io::Result<()> {
    // Nothing else may be half-way through a write to the old one.
    let _lock = io::stderr().lock();
    // SAFETY: dup2 only duplicates a descriptor `file` keeps open for the
    // call onto 2, which the process always has; it touches no memory.
    if unsafe { libc::dup2(file.as_raw_fd(), libc::STDERR_FILENO) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Write for RotatingLog {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written > 0 && self.written + buf.len() as u64 > self.limit {
            // A log that cannot be rotated is still written: losing the
            // log would be worse than a large one.
            if let Err(e) = self.rotate() {
                self.written = 0;
                let _ = writeln!(io::stderr(), "radc: cannot rotate the log: {e}");
            }
        }
        let n = io::stderr().write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Moves standard error of the test process, so only this test does
    /// it; its old target is put back at the end.
    #[test]
    fn rotates_at_the_limit_and_keeps_one_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("radc/daemon.log");
        // SAFETY: duplicating fd 2 to keep it, and putting it back.
        let saved = unsafe { libc::dup(libc::STDERR_FILENO) };
        assert!(saved >= 0);
        let mut log = RotatingLog::open(&path, 100).unwrap();
        for i in 0..25 {
            log.write_all(format!("line {i:02} of the log\n").as_bytes())
                .unwrap();
        }
        unsafe { libc::dup2(saved, libc::STDERR_FILENO) };
        unsafe { libc::close(saved) };
        let now = std::fs::read_to_string(&path).unwrap();
        let old = std::fs::read_to_string(dir.path().join("radc/daemon.log.1")).unwrap();
        assert!(now.len() <= 100 && old.len() <= 100, "{now:?} {old:?}");
        assert!(now.ends_with("line 24 of the log\n"), "{now:?}");
        assert!(old.ends_with(&format!(
            "line {:02} of the log\n",
            24 - now.lines().count()
        )));
        assert!(!dir.path().join("radc/daemon.log.2").exists());
    }
}
