//! Filesystem helpers shared by everything that stores state: the XDG base
//! directories, crash-safe file replacement, and the modes of what radc
//! writes.
//!
//! What radc keeps holds workspace names, feed URLs, user names and the
//! runtime's log of them: files are [`PRIVATE_FILE`], and directories radc
//! creates are [`PRIVATE_DIR`]. Modes are set explicitly, not left to the
//! umask, because the umask is the user's choice for the files *they*
//! create (also through a launched connection's redirected drives, which
//! inherit the runtime's umask).

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of every file radc writes for the user.
pub const PRIVATE_FILE: u32 = 0o600;
/// Size past which a log is rotated when it is opened.
pub const MAX_LOG_BYTES: u64 = 1024 * 1024;

/// Mode of every directory radc creates for the user.
pub const PRIVATE_DIR: u32 = 0o700;

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

/// Creates `dir` and its missing parents, each with exactly `mode`.
/// Directories that exist are left as they are: they may be shared ones
/// such as `~/.local/share`.
pub fn create_dirs(dir: &Path, mode: u32) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dirs(parent, mode)?;
    }
    match DirBuilder::new().mode(mode).create(dir) {
        // The umask may have taken bits away that `mode` asks for.
        Ok(()) => fs::set_permissions(dir, Permissions::from_mode(mode)),
        // Created meanwhile by another process.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// A directory that is radc's own (`$XDG_CONFIG_HOME/radc` and the like):
/// created [`PRIVATE_DIR`] with any missing parents, and made private if
/// it exists with access for group or others (as older versions of radc
/// left it).
pub fn private_dir(dir: &Path) -> io::Result<()> {
    create_dirs(dir, PRIVATE_DIR)?;
    let mode = fs::metadata(dir)?.permissions().mode();
    if mode & 0o077 != 0 {
        fs::set_permissions(dir, Permissions::from_mode(mode & 0o7700))?;
    }
    Ok(())
}

/// Replaces a file in one of radc's own directories (which is made
/// private, see [`private_dir`]) with a [`PRIVATE_FILE`].
pub fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        private_dir(dir)?;
    }
    write_atomic(path, contents, PRIVATE_FILE)
}

/// Opens a log file of radc's for appending: created [`PRIVATE_FILE`] in a
/// [`private_dir`], and made private if it exists with access for group or
/// others.
///
/// A log that has grown past [`MAX_LOG_BYTES`] is first moved aside to
/// `NAME.1` (replacing the one before), so the two take at most about twice
/// that.
pub fn open_private_log(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        private_dir(dir)?;
    }
    if fs::metadata(path).is_ok_and(|m| m.len() > MAX_LOG_BYTES) {
        let mut old = path.as_os_str().to_owned();
        old.push(".1");
        fs::rename(path, old)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(PRIVATE_FILE)
        .open(path)?;
    let mode = file.metadata()?.permissions().mode();
    if mode & 0o077 != 0 {
        file.set_permissions(Permissions::from_mode(mode & 0o7700))?;
    }
    Ok(file)
}

/// The mode of directories made to hold a file of `file_mode`: whoever may
/// read the file may also enter them.
fn dir_mode_for(file_mode: u32) -> u32 {
    let read = file_mode & 0o044;
    PRIVATE_DIR | read | (read >> 2)
}

/// Replaces `path` with `contents` so that a crash at any moment leaves
/// either the old file or the new one: write a temporary file beside it,
/// fsync it, rename it over the old one, fsync the directory. The file gets
/// exactly `mode`; missing directories are created for it (private unless
/// `mode` lets others read the file). The temporary is named after the
/// process, so unsynchronised writers never share one; a crash can leave it
/// behind.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let mut suffix = std::ffi::OsString::from(".tmp-");
    suffix.push(std::process::id().to_string());
    replace_through(
        path,
        &temp_beside(path, &suffix)?,
        contents,
        mode,
        Durability::Full,
    )
}
/// Like [`write_atomic`], through the temporary [`fixed_temp_path`] names,
/// so a later run can find and remove what a killed one left. Only for
/// writers that hold a lock excluding every other writer of `path`.
pub fn write_atomic_locked(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    replace_through(
        path,
        &fixed_temp_path(path)?,
        contents,
        mode,
        Durability::Full,
    )
}

/// Like [`write_atomic_locked`], but only the new contents are made
/// durable before the rename, not the rename itself: whatever a power cut
/// leaves is the old file or the new one, whole, and it may be the old
/// one. For changes that may be lost but never half-written, at the cost
/// of one fsync instead of two.
pub fn write_whole_locked(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    replace_through(
        path,
        &fixed_temp_path(path)?,
        contents,
        mode,
        Durability::Contents,
    )
}

/// Like [`write_atomic_locked`] (same temporary, mode and directories) but
/// without its fsyncs: the rename is atomic, not yet durable. For writers
/// that make a whole batch durable at once with [`sync_filesystem`].
pub fn write_atomic_locked_unsynced(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    replace_through(
        path,
        &fixed_temp_path(path)?,
        contents,
        mode,
        Durability::None,
    )
}

/// What [`replace_through`] makes durable before returning.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// Nothing: the caller syncs a batch at once.
    None,
    /// The new contents, before the rename.
    Contents,
    /// The new contents, then the rename.
    Full,
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

/// Makes everything written so far to the filesystem holding `path` durable,
/// with one `syncfs(2)`: the data of every file and every directory entry.
/// One call instead of an fsync per file, for a tree of new files that
/// only becomes reachable (through an atomic rename) after this returns.
pub fn sync_filesystem(path: &Path) -> io::Result<()> {
    let dir = File::open(path)?;
    rustix::fs::syncfs(&dir).map_err(io::Error::from)
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

fn replace_through(
    path: &Path,
    tmp: &Path,
    contents: &[u8],
    mode: u32,
    durable: Durability,
) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    create_dirs(dir, dir_mode_for(mode))?;
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(tmp)?;
        // Exactly `mode`: neither the umask nor a stale temporary file of
        // the same name decides it.
        file.set_permissions(Permissions::from_mode(mode))?;
        file.write_all(contents)?;
        if durable != Durability::None {
            file.sync_all()?;
        }
        fs::rename(tmp, path)?;
        if durable == Durability::Full {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn private_files_get_private_directories_and_shared_ones_are_left_alone() {
        let root = tempfile::tempdir().unwrap();
        let shared = root.path().join("share");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, Permissions::from_mode(0o755)).unwrap();
        let file = shared.join("new/deeper/entry.desktop");
        write_atomic(&file, b"x", PRIVATE_FILE).unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&shared.join("new")), 0o700);
        assert_eq!(mode(&shared.join("new/deeper")), 0o700);
        assert_eq!(mode(&shared), 0o755, "an existing directory is not radc's");

        // A file replaced with another mode has the new one.
        fs::set_permissions(&file, Permissions::from_mode(0o644)).unwrap();
        write_atomic(&file, b"y", PRIVATE_FILE).unwrap();
        assert_eq!(mode(&file), 0o600);

        // A file meant for everyone gets directories everyone may enter.
        let public = root.path().join("etc/radc/table.json");
        write_atomic(&public, b"{}", 0o644).unwrap();
        assert_eq!(mode(&public), 0o644);
        assert_eq!(mode(public.parent().unwrap()), 0o755);
    }

    #[test]
    fn a_grown_log_is_rotated_when_opened() {
        let root = tempfile::tempdir().unwrap();
        let log = root.path().join("radc/daemon.log");
        drop(open_private_log(&log).unwrap());
        fs::write(&log, vec![b'x'; MAX_LOG_BYTES as usize]).unwrap();
        let mut file = open_private_log(&log).unwrap();
        file.write_all(b"kept\n").unwrap();
        assert_eq!(
            fs::metadata(&log).unwrap().len(),
            MAX_LOG_BYTES + 5,
            "at the limit: kept"
        );
        let old = root.path().join("radc/daemon.log.1");
        assert!(!old.exists());
        drop(file);
        let mut file = open_private_log(&log).unwrap();
        file.write_all(b"new\n").unwrap();
        assert_eq!(
            fs::read(&log).unwrap(),
            b"new\n",
            "past the limit: a fresh log"
        );
        assert_eq!(fs::metadata(&old).unwrap().len(), MAX_LOG_BYTES + 5);
        assert_eq!(mode(&old), 0o600);
    }

    #[test]
    fn radcs_own_directories_and_log_are_made_private() {
        let root = tempfile::tempdir().unwrap();
        let own = root.path().join("state/radc");
        fs::create_dir_all(&own).unwrap();
        fs::set_permissions(&own, Permissions::from_mode(0o755)).unwrap();
        let log = own.join("daemon.log");
        fs::write(&log, "earlier\n").unwrap();
        fs::set_permissions(&log, Permissions::from_mode(0o644)).unwrap();
        let mut file = open_private_log(&log).unwrap();
        file.write_all(b"later\n").unwrap();
        assert_eq!(fs::read_to_string(&log).unwrap(), "earlier\nlater\n");
        assert_eq!(mode(&log), 0o600);
        assert_eq!(mode(&own), 0o700);

        let fresh = root.path().join("config/radc/trust.json");
        write_private(&fresh, b"{}").unwrap();
        assert_eq!(mode(&fresh), 0o600);
        assert_eq!(mode(&root.path().join("config")), 0o700);
        assert_eq!(mode(&root.path().join("config/radc")), 0o700);
    }

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
