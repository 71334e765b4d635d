//! Logging when systemd started the runtime.

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

/// Whether standard error is the systemd journal: `JOURNAL_STREAM` names
/// the device and inode of the stream systemd connected, and must match
/// stderr itself, since a process started from a journaled one inherits the
/// variable even when its stderr goes elsewhere (e.g. `daemon.log`).
pub fn stderr_is_journal() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = value.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    std::fs::File::from(fd)
        .metadata()
        .is_ok_and(|m| m.dev() == dev && m.ino() == ino)
}
