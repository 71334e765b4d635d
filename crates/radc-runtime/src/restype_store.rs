//! Where the resource-type tables live: one per user under the XDG config
//! directory, one machine-wide under `/etc/radc`. The file is the source of
//! truth: it is read for every call, so edits by another process (or by root
//! on the machine-wide table) are seen at once, and every change is written
//! atomically.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use radc_core::restype::{self, ResTypeTable};
use radc_core::{Result, RuntimeError};

use crate::fsutil;

pub const FILE_NAME: &str = "restypes.json";

#[derive(Debug)]
pub struct ResTypeStore {
    path: PathBuf,
    mode: u32,
    /// Serialises read-modify-write cycles within this process.
    lock: Mutex<()>,
}

impl ResTypeStore {
    /// A store for the table in `dir`; `mode` is the file's permission bits.
    pub fn new(dir: &Path, mode: u32) -> Self {
        Self {
            path: dir.join(FILE_NAME),
            mode,
            lock: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn load(&self) -> Result<ResTypeTable> {
        let text = fsutil::read_optional(&self.path).map_err(|e| self.io_error("read", e))?;
        match text {
            None => Ok(ResTypeTable::new()),
            Some(text) => ResTypeTable::from_json(&text).map_err(|e| {
                RuntimeError::failed(format!(
                    "{} is damaged ({}); fix or remove it, nothing was changed",
                    self.path.display(),
                    e.message
                ))
            }),
        }
    }

    /// Applies `change` to the stored table and writes it back. If `change`
    /// fails, or the table cannot be read, nothing is written.
    pub fn update<T>(&self, change: impl FnOnce(&mut ResTypeTable) -> Result<T>) -> Result<T> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut table = self.load()?;
        let out = change(&mut table)?;
        let json = table.to_json();
        if self.mode & 0o077 == 0 {
            // A table only its owner may read is the user's, in a directory
            // of radc's own that is kept private as well.
            fsutil::write_private(&self.path, json.as_bytes())
        } else {
            fsutil::write_atomic(&self.path, json.as_bytes(), self.mode)
        }
        .map_err(|e| self.io_error("write", e))?;
        Ok(out)
    }

    fn io_error(&self, what: &str, e: std::io::Error) -> RuntimeError {
        let text = format!("cannot {what} {}: {e}", self.path.display());
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            RuntimeError::access_denied(text)
        } else {
            RuntimeError::failed(text)
        }
    }
}

/// Checks a launcher's form and that it is an executable file.
pub fn check_launcher(launcher: &str) -> Result<()> {
    restype::validate_launcher(launcher)?;
    if !fsutil::is_executable_file(Path::new(launcher)) {
        return Err(RuntimeError::invalid_args(format!(
            "launcher {launcher} is not an executable file"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use radc_core::ErrorKind;

    #[test]
    fn survives_reload_and_refuses_to_overwrite_damage() {
        let dir = tempfile::tempdir().unwrap();
        let store = ResTypeStore::new(dir.path(), 0o600);
        store.update(|t| t.add(".vnc", "/bin/sh")).unwrap();
        let again = ResTypeStore::new(dir.path(), 0o600);
        assert_eq!(again.load().unwrap().get(".vnc").unwrap(), "/bin/sh");

        std::fs::write(store.path(), "{ damaged").unwrap();
        let err = store.update(|t| t.add(".x", "/bin/sh")).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Failed);
        assert!(err.message.contains("damaged"), "{}", err.message);
        assert_eq!(std::fs::read_to_string(store.path()).unwrap(), "{ damaged");
    }

    #[test]
    fn failed_change_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = ResTypeStore::new(dir.path(), 0o600);
        assert!(store.update(|t| t.delete(".vnc")).is_err());
        assert!(!store.path().exists());
    }

    #[test]
    fn launcher_must_be_executable() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("notes.txt");
        crate::fsutil::write_atomic(&plain, b"x", 0o644).unwrap();
        assert!(check_launcher("/bin/sh").is_ok());
        assert!(check_launcher(plain.to_str().unwrap()).is_err());
        assert!(check_launcher("sh").is_err());
    }
}
