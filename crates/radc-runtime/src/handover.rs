//! The record that lets launched connections outlive the runtime.
//!
//! Every launched process is written down in
//! `$XDG_RUNTIME_DIR/radc/BUS-ID/connections.json` (or, where there is no
//! `XDG_RUNTIME_DIR`, under `$XDG_STATE_HOME/radc/run/`), rewritten whole
//! and atomically whenever a connection starts or ends, so that a kill at
//! any instant leaves a record that is true. The next runtime on the same
//! session bus reads it and adopts every connection that is provably the
//! same process ([`radc_core::adoption::judge`]); it never touches a pid
//! that now belongs to something else.
//!
//! The processes' output (and FreeRDP's log) goes to a file of its own
//! beside the record, named when it is created (`TIME-RUNTIME-N.out`) and
//! written down with the process, not to a pipe of the runtime's: FreeRDP
//! treats `SIGPIPE` as fatal, so a pipe would end every connection at the
//! first line it wrote after the runtime was gone. The runtime reads new
//! lines while a connection comes up, keeps each file below
//! [`MAX_OUTPUT_BYTES`], and reads its last lines to explain a failure.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use radc_core::adoption::{self, Entry, Record, Seen, Stat, Verdict};
use radc_core::{Cookie, validate};
use radc_subscribe::fsutil::{self as subfs, create_dirs};

/// The record's file name inside the bus's directory.
pub const RECORD_FILE: &str = "connections.json";

/// A connection's output file is emptied when it grows past this.
pub const MAX_OUTPUT_BYTES: u64 = 1 << 20;

/// How much of an output file is read for its last lines.
const TAIL_BYTES: u64 = 64 << 10;

/// The directory under which each session bus gets its own: the user's
/// runtime directory (emptied at logout), or the state directory where
/// there is none.
pub fn base_dir() -> Option<PathBuf> {
    match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => Some(dir.join("radc")),
        _ => crate::xdg_state_home().map(|state| state.join("radc/run")),
    }
}

/// The kernel's id of this boot.
pub fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// What runs at `pid` now, if anything.
pub fn observe(pid: u32) -> Option<Seen> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let stat = Stat::parse(&stat)?;
    let exe = fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .and_then(|p| p.into_os_string().into_string().ok());
    Some(Seen { stat, exe })
}

/// A handle that becomes readable when process `pid` ends. Taken before
/// the process is judged, so that what is watched is what was judged.
pub fn pidfd(pid: u32) -> io::Result<OwnedFd> {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).map_err(io::Error::from)
}

/// Waits until the process behind `pidfd` has ended.
pub async fn exited(pidfd: OwnedFd) {
    // SAFETY: the `OwnedFd` is open, owned by the `AsyncFd` from here on,
    // and always gives the same descriptor.
    let registered = unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE)
    };
    match registered {
        Ok(fd) => {
            let _ = fd.readable().await;
        }
        Err(e) => {
            // Not expected on any kernel radc runs on (pidfds are 5.3+):
            // say so and never report an end.
            tracing::warn!("cannot watch an adopted connection: {e}");
            std::future::pending::<()>().await;
        }
    }
}

/// A connection found in the record of an earlier runtime.
pub(crate) struct Adoptee {
    pub entry: Entry,
    pub pidfd: OwnedFd,
}

pub(crate) struct Handover {
    dir: PathBuf,
    boot_id: String,
    entries: Mutex<BTreeMap<Cookie, Entry>>,
    counter: AtomicU64,
    /// Whether this runtime is the one serving the bus: until then it
    /// changes no file.
    active: AtomicBool,
}

impl Handover {
    /// The record of the runtime serving the bus whose id is `bus_id`.
    pub(crate) fn new(base: &Path, bus_id: &str) -> Result<Handover, String> {
        if bus_id.is_empty()
            || bus_id.len() > 64
            || !bus_id.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(format!(
                "the bus id {:?} is not one radc can name a directory after",
                validate::for_log(bus_id)
            ));
        }
        Ok(Handover {
            dir: base.join(bus_id),
            boot_id: boot_id(),
            entries: Mutex::new(BTreeMap::new()),
            counter: AtomicU64::new(0),
            active: AtomicBool::new(false),
        })
    }

    fn record_path(&self) -> PathBuf {
        self.dir.join(RECORD_FILE)
    }

    /// The directory of the record and the output files.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn output_path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<Cookie, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new, private output file for a process about to start, and its
    /// name. A file no record names (the runtime died before writing one)
    /// is removed by the next runtime.
    pub(crate) fn output_file(&self) -> io::Result<(File, String)> {
        create_dirs(&self.dir, 0o700)?;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let name = format!("{now}-{}-{n}.out", std::process::id());
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(self.output_path(&name))?;
        Ok((file, name))
    }

    /// New complete lines of output file `name` after `offset`, which moves
    /// past them; at most 64 KiB a call. A file that was emptied (it grew
    /// past the bound) is read again from its start.
    pub(crate) fn new_lines(&self, name: &str, offset: &mut u64) -> Vec<String> {
        let Ok(mut file) = File::open(self.output_path(name)) else {
            return Vec::new();
        };
        let len = file.metadata().map_or(0, |m| m.len());
        if len < *offset {
            *offset = 0;
        }
        if file.seek(SeekFrom::Start(*offset)).is_err() {
            return Vec::new();
        }
        let mut bytes = Vec::new();
        if file.take(TAIL_BYTES).read_to_end(&mut bytes).is_err() {
            return Vec::new();
        }
        // Only whole lines; a partial last line is read again next time,
        // unless it alone fills the window.
        let end = match bytes.iter().rposition(|&b| b == b'\n') {
            Some(i) => i + 1,
            None if bytes.len() as u64 == TAIL_BYTES => bytes.len(),
            None => 0,
        };
        *offset += end as u64;
        String::from_utf8_lossy(&bytes[..end])
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Writes down a process that was just started, with its output file
    /// `output`.
    pub(crate) fn started(
        &self,
        cookie: Cookie,
        pid: u32,
        workspace_id: &str,
        display_name: &str,
        started_unix_ms: u64,
        output: &str,
    ) {
        let Some(seen) = observe(pid) else {
            // It has ended already; its watcher will tell.
            return;
        };
        let entry = Entry {
            pid,
            start_ticks: seen.stat.start_ticks,
            exe: seen
                .exe
                .as_deref()
                .map(adoption::executable)
                .unwrap_or_default()
                .to_owned(),
            workspace_id: workspace_id.to_owned(),
            display_name: display_name.to_owned(),
            started_unix_ms,
            output: output.to_owned(),
        };
        let mut entries = self.entries();
        entries.insert(cookie, entry);
        self.save_locked(&mut entries);
    }

    /// A connection ended: it leaves the record, its output file
    /// (`output`) is removed, and its last lines are returned.
    pub(crate) fn ended(&self, cookie: Cookie, output: &str) -> Vec<String> {
        if output.is_empty() {
            self.forget(cookie);
            return Vec::new();
        }
        let path = self.output_path(output);
        let tail = tail(&path, KEPT_LINES).unwrap_or_default();
        if self.active.load(Ordering::Acquire) {
            let _ = fs::remove_file(&path);
        }
        self.forget(cookie);
        tail
    }

    /// Removes the output file of a process that never started or was
    /// never registered.
    pub(crate) fn ended_unrecorded(&self, output: &str) {
        let _ = fs::remove_file(self.output_path(output));
    }

    fn forget(&self, cookie: Cookie) {
        let mut entries = self.entries();
        if entries.remove(&cookie).is_some() {
            self.save_locked(&mut entries);
        }
    }

    /// Keeps a connection's output file bounded, and its record true if
    /// the process has since become another program (a wrapper script
    /// that replaced itself with FreeRDP).
    pub(crate) fn check(&self, cookie: Cookie, pid: u32, output: &str) {
        let path = self.output_path(output);
        if !output.is_empty()
            && let Ok(meta) = fs::metadata(&path)
            && meta.len() > MAX_OUTPUT_BYTES
        {
            // The process appends, so it carries on at the new end.
            match OpenOptions::new().write(true).open(&path) {
                Ok(file) => {
                    let _ = file.set_len(0);
                    tracing::info!(
                        pid,
                        "the connection's output passed {MAX_OUTPUT_BYTES} bytes; emptied"
                    );
                }
                Err(e) => tracing::debug!(pid, "cannot empty the output file: {e}"),
            }
        }
        let mut entries = self.entries();
        let changed = entries
            .get(&cookie)
            .is_some_and(|entry| current_exe(entry).is_some_and(|exe| exe != entry.exe));
        if changed {
            self.save_locked(&mut entries);
        }
    }

    /// Writes the record as it stands (the runtime is about to hand its
    /// connections over).
    pub(crate) fn save(&self) -> usize {
        let mut entries = self.entries();
        self.save_locked(&mut entries);
        entries.len()
    }

    fn save_locked(&self, entries: &mut BTreeMap<Cookie, Entry>) {
        if !self.active.load(Ordering::Acquire) {
            return;
        }
        for entry in entries.values_mut() {
            if let Some(exe) = current_exe(entry) {
                entry.exe = exe;
            }
        }
        let path = self.record_path();
        let result = if entries.is_empty() {
            subfs::remove_with_temp(&path).map(|_| ())
        } else {
            let record = Record::new(&self.boot_id, entries.values().cloned().collect());
            create_dirs(&self.dir, 0o700)
                .and_then(|()| subfs::write_atomic_locked(&path, &record.to_json(), 0o600))
        };
        if let Err(e) = result {
            tracing::warn!(
                "cannot write {}: {e}; the connections will not be adopted by the next runtime",
                path.display()
            );
        }
    }

    /// Reads the record an earlier runtime on this bus left, and returns
    /// the connections that are provably still the processes it started.
    /// Writes nothing: the runtime may yet find another one serving the
    /// bus. [`Handover::settle`] cleans up once it is the one.
    pub(crate) fn survivors(&self) -> Vec<Adoptee> {
        let path = self.record_path();
        let mut found = Vec::new();
        match fs::read(&path) {
            Ok(bytes) => match Record::from_json(&bytes) {
                Ok((record, refused)) => {
                    for why in refused {
                        tracing::warn!("{}: left out {why}", path.display());
                    }
                    for entry in record.connections {
                        if let Some(adoptee) = self.examine(&record.boot_id, entry) {
                            found.push(adoptee);
                        }
                    }
                }
                Err(e) => tracing::warn!("{}: {e}; nothing adopted", path.display()),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("cannot read {}: {e}; nothing adopted", path.display()),
        }
        found
    }

    /// Makes the record say what this runtime adopted, and removes
    /// everything else earlier runtimes left: ended connections' output,
    /// temporary files, and the directories of earlier boots.
    pub(crate) fn settle(&self) -> usize {
        self.active.store(true, Ordering::Release);
        self.sweep_other_boots();
        let entries = self.entries();
        let keep: Vec<PathBuf> = entries
            .values()
            .filter(|entry| !entry.output.is_empty())
            .map(|entry| self.output_path(&entry.output))
            .chain([self.record_path()])
            .collect();
        drop(entries);
        if let Ok(dir) = fs::read_dir(&self.dir) {
            for item in dir.flatten() {
                if !keep.contains(&item.path()) {
                    let _ = fs::remove_file(item.path());
                }
            }
        }
        self.save()
    }

    fn examine(&self, record_boot: &str, entry: Entry) -> Option<Adoptee> {
        let pidfd = match pidfd(entry.pid) {
            Ok(fd) => fd,
            Err(_) => {
                tracing::info!(
                    pid = entry.pid,
                    "{} ended while no runtime ran",
                    validate::for_log(&entry.display_name)
                );
                return None;
            }
        };
        match adoption::judge(
            record_boot,
            &self.boot_id,
            &entry,
            observe(entry.pid).as_ref(),
        ) {
            Verdict::Adopt => Some(Adoptee { entry, pidfd }),
            Verdict::Gone => {
                tracing::info!(
                    pid = entry.pid,
                    "{} ended while no runtime ran",
                    validate::for_log(&entry.display_name)
                );
                None
            }
            Verdict::NotOurs(why) => {
                tracing::warn!(
                    "not adopting {} of {}: {why}",
                    validate::for_log(&entry.display_name),
                    validate::for_log(&entry.workspace_id)
                );
                None
            }
        }
    }

    /// Removes the directories other buses' runtimes left in an earlier
    /// boot (possible only where the record is kept in the state
    /// directory: the runtime directory is emptied at logout).
    fn sweep_other_boots(&self) {
        let Some(base) = self.dir.parent() else {
            return;
        };
        let Ok(dirs) = fs::read_dir(base) else {
            return;
        };
        for item in dirs.flatten() {
            let dir = item.path();
            if dir == self.dir || !item.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let earlier = fs::read(dir.join(RECORD_FILE))
                .ok()
                .and_then(|bytes| Record::from_json(&bytes).ok())
                .is_some_and(|(record, _)| record.boot_id != self.boot_id);
            if earlier {
                let _ = fs::remove_dir_all(&dir);
            }
        }
    }

    /// Adds an adopted connection to the record under its new cookie.
    pub(crate) fn adopted(&self, cookie: Cookie, entry: Entry) {
        self.entries().insert(cookie, entry);
    }

    /// The session ended and its connections with it: nothing is left
    /// for another runtime.
    pub(crate) fn discard(&self) {
        self.entries().clear();
        if let Err(e) = fs::remove_dir_all(&self.dir)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!("cannot remove {}: {e}", self.dir.display());
        }
    }
}

/// Lines of a connection's output kept to explain its failure.
pub(crate) const KEPT_LINES: usize = 40;
const MAX_LINE: usize = 1024;

/// The executable `entry`'s process runs now, if it is still that process.
fn current_exe(entry: &Entry) -> Option<String> {
    let seen = observe(entry.pid)?;
    if seen.stat.start_ticks != entry.start_ticks {
        return None;
    }
    Some(adoption::executable(&seen.exe?).to_owned())
}

/// The last `lines` lines of a file, each bounded and made safe to log.
fn tail(path: &Path, lines: usize) -> io::Result<Vec<String>> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(TAIL_BYTES);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(TAIL_BYTES).read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if start > 0 && !all.is_empty() {
        // The first line was cut.
        all.remove(0);
    }
    let from = all.len().saturating_sub(lines);
    Ok(all[from..]
        .iter()
        .map(|line| {
            let line = line.trim_end();
            let cut = line
                .char_indices()
                .nth(MAX_LINE)
                .map_or(line, |(i, _)| &line[..i]);
            validate::for_log(cut)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_is_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        fs::write(&path, text).unwrap();
        let lines = tail(&path, 3).unwrap();
        assert_eq!(lines, ["line 97", "line 98", "line 99"]);
        // Longer than what is read: the cut first line is left out.
        let long: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
        fs::write(&path, long).unwrap();
        let lines = tail(&path, 100_000).unwrap();
        assert_eq!(lines.last().unwrap(), "line 19999");
        assert!(lines[0].starts_with("line "), "{}", lines[0]);
        assert!(tail(&dir.path().join("missing"), 3).is_err());
    }

    #[test]
    fn this_process_is_observed_as_itself() {
        let pid = std::process::id();
        let seen = observe(pid).unwrap();
        assert_eq!(
            seen.exe.as_deref().map(adoption::executable),
            std::env::current_exe().unwrap().to_str()
        );
        assert!(seen.stat.start_ticks > 0);
        assert!(!boot_id().is_empty());
    }

    #[test]
    fn output_past_the_bound_is_emptied_and_the_writer_carries_on() {
        let base = tempfile::tempdir().unwrap();
        let handover = Handover::new(base.path(), "bus0").unwrap();
        handover.settle();
        let (mut file, name) = handover.output_file().unwrap();
        assert!(radc_core::adoption::is_output_name(&name), "{name}");
        let pid = std::process::id();
        let cookie = Cookie::new(7).unwrap();
        handover.started(cookie, pid, "ws", "Desktop", 0, &name);
        let path = handover.output_path(&name);
        use std::io::Write;
        let mut offset = 0;
        file.write_all(b"one\ntwo\nthr").unwrap();
        assert_eq!(handover.new_lines(&name, &mut offset), ["one", "two"]);
        file.write_all(b"ee\n").unwrap();
        assert_eq!(handover.new_lines(&name, &mut offset), ["three"]);
        assert!(handover.new_lines(&name, &mut offset).is_empty());
        file.write_all(&vec![b'x'; MAX_OUTPUT_BYTES as usize + 1])
            .unwrap();
        handover.check(cookie, pid, &name);
        assert_eq!(fs::metadata(&path).unwrap().len(), 0);
        // Appending, the writer goes on at the new end, not at its old
        // offset with a hole before it; the reader starts again too.
        file.write_all(b"last line\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "last line\n");
        assert_eq!(handover.new_lines(&name, &mut offset), ["last line"]);
        let record = fs::read_to_string(handover.record_path()).unwrap();
        assert!(record.contains(&format!("\"pid\": {pid}")), "{record}");
        assert!(record.contains(&name), "{record}");
        assert_eq!(handover.ended(cookie, &name), ["last line"]);
        assert!(!path.exists() && !handover.record_path().exists());
    }

    #[test]
    fn a_bus_id_must_be_a_plain_name() {
        let base = Path::new("/tmp/radc-test");
        assert!(Handover::new(base, "0123abcd").is_ok());
        for bad in ["", "../x", "a/b", &"a".repeat(65)] {
            assert!(Handover::new(base, bad).is_err(), "{bad}");
        }
    }
}
