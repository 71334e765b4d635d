//! Filesystem helpers shared by everything that stores state: the XDG base
//! directories and crash-safe file replacement.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// An XDG base directory: `$variable` if it is set to an absolute path,
/// else `$HOME/under_home` (as the XDG Base Directory specification says).
pub fn xdg_dir(variable: &str, under_home: &str) -> Option<PathBuf> {
    let absolute = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    absolute(variable).or_else(|| absolute("HOME").map(|home| home.join(under_home)))
}

/// Replaces `path` with `contents` so that a crash at any moment leaves
/// either the old file or the new one: write a temporary file beside it,
/// fsync it, rename it over the old one, fsync the directory. The
/// temporary is named after the process, so unsynchronised writers never
/// share one; a crash can leave it behind.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let mut suffix = std::ffi::OsString::from(".tmp-");
    suffix.push(std::process::id().to_string());
    replace_through(path, &temp_beside(path, &suffix)?, contents, mode)
}

/// Like [`write_atomic`], through the temporary [`fixed_temp_path`] names,
/// so a later run can find and remove what a killed one left. Only for
/// writers that hold a lock excluding every other writer of `path`.
pub fn write_atomic_locked(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    replace_through(path, &fixed_temp_path(path)?, contents, mode)
}

/// The temporary [`write_atomic_locked`] writes `path` through:
/// `.NAME.radc-tmp` beside it.
pub fn fixed_temp_path(path: &Path) -> io::Result<PathBuf> {
    temp_beside(path, std::ffi::OsStr::new(".radc-tmp"))
}

/// Removes `path` and the temporary [`write_atomic_locked`] may have left
/// of it; either may be missing. Returns whether `path` existed.
pub fn remove_with_temp(path: &Path) -> io::Result<bool> {
    let existed = match fs::remove_file(path) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(e),
    };
    remove_temp(path)?;
    Ok(existed)
}

/// Removes the temporary [`write_atomic_locked`] may have left of `path`.
pub fn remove_temp(path: &Path) -> io::Result<()> {
    match fs::remove_file(fixed_temp_path(path)?) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn temp_beside(path: &Path, suffix: &std::ffi::OsStr) -> io::Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(suffix);
    Ok(path.with_file_name(tmp_name))
}

fn replace_through(path: &Path, tmp: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locked_writes_go_through_a_findable_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/radc-a.desktop");
        assert_eq!(
            fixed_temp_path(&path).unwrap(),
            dir.path().join("sub/.radc-a.desktop.radc-tmp")
        );
        write_atomic_locked(&path, b"one", 0o644).unwrap();
        // What a writer killed between writing and renaming leaves.
        fs::write(fixed_temp_path(&path).unwrap(), b"half").unwrap();
        write_atomic_locked(&path, b"two", 0o644).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert!(!fixed_temp_path(&path).unwrap().exists());
        fs::write(fixed_temp_path(&path).unwrap(), b"half").unwrap();
        assert!(remove_with_temp(&path).unwrap());
        assert!(!remove_with_temp(&path).unwrap());
        assert_eq!(fs::read_dir(dir.path().join("sub")).unwrap().count(), 0);
    }
}
