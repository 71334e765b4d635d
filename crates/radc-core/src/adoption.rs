//! Connections that outlive the runtime.
//!
//! Launched connections run in their own process groups, so a runtime that
//! stops (a crash, an upgrade, `systemctl --user restart radc`) leaves them
//! running. The runtime keeps a [`Record`] of them, rewritten whole on
//! every change, and the next runtime on the same bus adopts every entry
//! that [`judge`] finds to be provably the same process: the same boot,
//! the same start time (in clock ticks since boot, which no later process
//! with a recycled pid can share), still the leader of its own process
//! group, and still running the executable recorded for it.
//!
//! This module only decides; reading `/proc` and writing the record are the
//! runtime's.

use serde::{Deserialize, Serialize};

use crate::validate;

/// The version of the record's format.
pub const RECORD_VERSION: u32 = 1;

/// The largest record that is read; 20,000 connections fit well within it.
pub const MAX_RECORD_BYTES: usize = 8 << 20;

/// The connections a runtime had launched, as it last wrote them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub version: u32,
    /// `/proc/sys/kernel/random/boot_id` when the record was written:
    /// process ids and start times mean nothing across a reboot.
    pub boot_id: String,
    pub connections: Vec<Entry>,
}

/// One launched connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The process, which also leads its process group.
    pub pid: u32,
    /// Its start time in clock ticks after boot (`/proc/PID/stat` field 22).
    pub start_ticks: u64,
    /// What `/proc/PID/exe` pointed at.
    pub exe: String,
    pub workspace_id: String,
    pub display_name: String,
    /// When it was started, in milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// The name of its output file beside the record ("" for none).
    #[serde(default)]
    pub output: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("the record is {0} bytes; the limit is {MAX_RECORD_BYTES}")]
    TooLarge(usize),
    #[error("the record is not valid: {0}")]
    Invalid(String),
    #[error("the record has version {0}; this radc reads version {RECORD_VERSION}")]
    Version(u32),
}

impl Record {
    pub fn new(boot_id: &str, connections: Vec<Entry>) -> Record {
        Record {
            version: RECORD_VERSION,
            boot_id: boot_id.to_owned(),
            connections,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a record always serializes")
    }

    /// Reads a record. Entries that are not valid are left out with the
    /// reason (the second value); a record that is not valid as a whole is
    /// an error.
    pub fn from_json(bytes: &[u8]) -> Result<(Record, Vec<String>), RecordError> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(RecordError::TooLarge(bytes.len()));
        }
        let mut record: Record =
            serde_json::from_slice(bytes).map_err(|e| RecordError::Invalid(e.to_string()))?;
        if record.version != RECORD_VERSION {
            return Err(RecordError::Version(record.version));
        }
        let mut refused = Vec::new();
        record.connections.retain(|entry| match entry.check() {
            Ok(()) => true,
            Err(why) => {
                refused.push(format!("pid {}: {why}", entry.pid));
                false
            }
        });
        Ok((record, refused))
    }
}

impl Entry {
    fn check(&self) -> Result<(), String> {
        if self.pid <= 1 || i32::try_from(self.pid).is_err() {
            return Err("not a process id another program may have".into());
        }
        validate::workspace_id(&self.workspace_id).map_err(|e| e.message)?;
        validate::display_name("display name", &self.display_name).map_err(|e| e.message)?;
        if !self.exe.starts_with('/') || self.exe.contains('\0') {
            return Err("the executable is not an absolute path".into());
        }
        if !self.output.is_empty() && !is_output_name(&self.output) {
            return Err("the output file's name is not one radc gives".into());
        }
        Ok(())
    }
}

/// Whether `name` is an output file name as the runtime makes them: a plain
/// name (no directory, not hidden) ending in `.out`, of ASCII letters,
/// digits and `-`.
pub fn is_output_name(name: &str) -> bool {
    name.len() <= 100
        && name.ends_with(".out")
        && !name.starts_with(['.', '-'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !name.contains("..")
}

/// What `/proc/PID/stat` says of a process, as far as adoption cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// `R`, `S`, `D`, `Z` …
    pub state: char,
    pub pgrp: u32,
    pub start_ticks: u64,
}

impl Stat {
    /// Parses `/proc/PID/stat`. The command name in parentheses may hold
    /// spaces and parentheses itself, so the fields are counted from the
    /// last `)`.
    pub fn parse(text: &str) -> Option<Stat> {
        let rest = &text[text.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
        // `rest` starts at field 3 (state); pgrp is field 5, starttime 22.
        let state = fields.first()?.chars().next()?;
        let pgrp = fields.get(2)?.parse().ok()?;
        let start_ticks = fields.get(19)?.parse().ok()?;
        Some(Stat {
            state,
            pgrp,
            start_ticks,
        })
    }
}

/// What is found at a recorded pid now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub stat: Stat,
    /// `/proc/PID/exe`, `None` if it cannot be read.
    pub exe: Option<String>,
}

/// What to do with a recorded connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It is the same process, still running: adopt it.
    Adopt,
    /// It has ended (or the machine was restarted since): forget it.
    Gone,
    /// Its pid now belongs to something else, or it cannot be proven to be
    /// the same: forget it and never touch that process.
    NotOurs(String),
}

/// The executable behind `/proc/PID/exe`, without the ` (deleted)` the
/// kernel adds once the file was replaced (an upgrade of FreeRDP while it
/// runs).
pub fn executable(link: &str) -> &str {
    link.strip_suffix(" (deleted)").unwrap_or(link)
}

/// Whether the process found at `entry.pid` (`seen`, `None` if there is
/// none) is the one the record names.
pub fn judge(record_boot: &str, boot_now: &str, entry: &Entry, seen: Option<&Seen>) -> Verdict {
    if record_boot.is_empty() || record_boot != boot_now {
        return Verdict::Gone;
    }
    let Some(seen) = seen else {
        return Verdict::Gone;
    };
    if seen.stat.start_ticks != entry.start_ticks {
        return Verdict::NotOurs(format!(
            "pid {} now belongs to a process started at another time",
            entry.pid
        ));
    }
    // The same process, but it has exited and waits to be reaped.
    if seen.stat.state == 'Z' || seen.stat.state == 'X' {
        return Verdict::Gone;
    }
    if seen.stat.pgrp != entry.pid {
        return Verdict::NotOurs(format!(
            "pid {} no longer leads its own process group",
            entry.pid
        ));
    }
    match seen.exe.as_deref().map(executable) {
        Some(exe) if exe == entry.exe => Verdict::Adopt,
        Some(exe) => Verdict::NotOurs(format!(
            "pid {} runs {}, not {}",
            entry.pid,
            validate::for_log(exe),
            validate::for_log(&entry.exe)
        )),
        None => Verdict::NotOurs(format!(
            "the executable of pid {} cannot be read",
            entry.pid
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            pid: 4242,
            start_ticks: 123_456,
            exe: "/usr/bin/xfreerdp".into(),
            workspace_id: "rdweb.example.com".into(),
            display_name: "Full Desktop".into(),
            started_unix_ms: 1_700_000_000_000,
            output: "1700000000000-42-0.out".into(),
        }
    }

    fn seen(start_ticks: u64, pgrp: u32, exe: &str) -> Seen {
        Seen {
            stat: Stat {
                state: 'S',
                pgrp,
                start_ticks,
            },
            exe: Some(exe.into()),
        }
    }

    #[test]
    fn stat_lines_are_read_from_the_last_parenthesis() {
        let line = "4242 (x) (free rdp)) S 1 4242 4242 0 -1 4194560 2047 0 0 0 \
                    12 4 0 0 20 0 5 0 123456 300000000 9000 18446744073709551615";
        assert_eq!(
            Stat::parse(line),
            Some(Stat {
                state: 'S',
                pgrp: 4242,
                start_ticks: 123_456
            })
        );
        assert_eq!(Stat::parse("4242 (xfreerdp) S 1 2"), None);
        assert_eq!(Stat::parse("no parenthesis"), None);
        assert_eq!(Stat::parse(""), None);
    }

    #[test]
    fn the_same_process_is_adopted() {
        let e = entry();
        let s = seen(123_456, 4242, "/usr/bin/xfreerdp");
        assert_eq!(judge("b", "b", &e, Some(&s)), Verdict::Adopt);
        // Upgraded while it runs: still the same process.
        let s = seen(123_456, 4242, "/usr/bin/xfreerdp (deleted)");
        assert_eq!(judge("b", "b", &e, Some(&s)), Verdict::Adopt);
    }

    #[test]
    fn a_recycled_pid_is_never_adopted() {
        let e = entry();
        for s in [
            seen(999_999, 4242, "/usr/bin/xfreerdp"),
            seen(123_456, 4242, "/usr/bin/sleep"),
            seen(123_456, 1, "/usr/bin/xfreerdp"),
            Seen {
                exe: None,
                ..seen(123_456, 4242, "/usr/bin/xfreerdp")
            },
        ] {
            assert!(
                matches!(judge("b", "b", &e, Some(&s)), Verdict::NotOurs(_)),
                "{s:?}"
            );
        }
    }

    #[test]
    fn ended_processes_and_other_boots_are_forgotten() {
        let e = entry();
        let mut zombie = seen(123_456, 4242, "/usr/bin/xfreerdp");
        zombie.stat.state = 'Z';
        assert_eq!(judge("b", "b", &e, Some(&zombie)), Verdict::Gone);
        assert_eq!(judge("b", "b", &e, None), Verdict::Gone);
        let s = seen(123_456, 4242, "/usr/bin/xfreerdp");
        assert_eq!(judge("before", "after", &e, Some(&s)), Verdict::Gone);
        assert_eq!(judge("", "", &e, Some(&s)), Verdict::Gone);
    }

    #[test]
    fn records_round_trip_and_bad_entries_are_left_out() {
        let mut bad = entry();
        bad.workspace_id = "two\nlines".into();
        let mut init = entry();
        init.pid = 1;
        let mut relative = entry();
        relative.exe = "xfreerdp".into();
        let mut escaping = entry();
        escaping.output = "../../.bashrc.out".into();
        let record = Record::new("boot", vec![entry(), bad, init, relative, escaping]);
        let (read, refused) = Record::from_json(&record.to_json()).unwrap();
        assert_eq!(read.connections, vec![entry()]);
        assert_eq!(refused.len(), 4, "{refused:?}");
        for name in ["a/b.out", ".x.out", "x.log", "", "x .out"] {
            assert!(!is_output_name(name), "{name}");
        }
        assert!(matches!(
            Record::from_json(b"{\"version\": 1}"),
            Err(RecordError::Invalid(_))
        ));
        let mut newer = record.clone();
        newer.version = 2;
        assert_eq!(
            Record::from_json(&newer.to_json()),
            Err(RecordError::Version(2))
        );
        let huge = vec![b' '; MAX_RECORD_BYTES + 1];
        assert!(matches!(
            Record::from_json(&huge),
            Err(RecordError::TooLarge(_))
        ));
    }
}
