//! The few filesystem operations the runtime needs, done carefully.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// `$XDG_CONFIG_HOME`, or `~/.config` when it is unset or not absolute (as
/// the XDG Base Directory specification requires).
pub fn xdg_config_home() -> Option<PathBuf> {
    xdg_dir("XDG_CONFIG_HOME", ".config")
}

/// `$XDG_STATE_HOME`, or `~/.local/state`.
pub fn xdg_state_home() -> Option<PathBuf> {
    xdg_dir("XDG_STATE_HOME", ".local/state")
}

use radc_subscribe::fsutil::xdg_dir;
pub use radc_subscribe::fsutil::{open_private_log, write_atomic, write_private};

/// Reads a file, `None` if it does not exist.
pub fn read_optional(path: &Path) -> io::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether `path` is a regular file someone may execute.
pub fn is_executable_file(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/table.json");
        write_atomic(&path, b"one", 0o600).unwrap();
        write_atomic(&path, b"two", 0o600).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "two");
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("table.json")]);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn executables() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        write_atomic(&plain, b"x", 0o644).unwrap();
        let tool = dir.path().join("tool");
        write_atomic(&tool, b"x", 0o755).unwrap();
        assert!(is_executable_file(&tool));
        assert!(!is_executable_file(&plain));
        assert!(!is_executable_file(dir.path()));
        assert!(!is_executable_file(&dir.path().join("missing")));
    }
}
