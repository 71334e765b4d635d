//! Subscribed workspaces on disk.
//!
//! ```text
//! $XDG_CONFIG_HOME/radc/workspaces/<key>.json        the record: id, name, feed URL, user, times, last error
//! $XDG_DATA_HOME/radc/workspaces/<key>/<generation>/  the last good feed and its files
//!     feed.xml
//!     files/<hash>.<ext>                              .rdp files and icons, named by a hash of their URL
//! ```
//!
//! `<key>` is derived from the workspace id, which comes from a feed and is
//! untrusted: a readable, sanitised prefix plus a hash, never `..` or a
//! path separator.
//!
//! A refresh that changed anything makes a whole new generation directory,
//! then replaces the record (atomically: temp file, fsync, rename, fsync
//! directory) to point at it, then deletes older generations. A file whose
//! URL and bytes are those of the current generation is hard-linked from it
//! rather than written again (generations never change a file in place, so
//! they can share them). The new files are written without an fsync each;
//! one `syncfs` on the data directory's filesystem makes the whole
//! generation durable before the record switches to it. A crash at any
//! moment leaves the old record pointing at the old, complete generation,
//! or the new record pointing at the new, complete one; stray directories
//! are removed by the next commit.
//!
//! A refresh where the feed and every file are unchanged makes no
//! generation at all: only the record is written (its refresh time and the
//! files' HTTP validators).
//!
//! The record keeps each file's HTTP validators (`ETag`, `Last-Modified`)
//! by URL, so the next refresh can ask the server whether exactly that URL
//! changed ([`Content::NotModified`] when it has not).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use radc_feed::identity::{self, IdentityError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

use crate::fsutil::{PRIVATE_DIR, PRIVATE_FILE, create_dirs, private_dir, xdg_dir};

const RECORD_VERSION: u32 = 1;
const FEED_FILE: &str = "feed.xml";
const FILES_DIR: &str = "files";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path} is damaged ({reason}); remove it and subscribe again")]
    Damaged { path: PathBuf, reason: String },
    #[error("no workspace {0:?} is subscribed; `radc workspaces` lists them")]
    NotSubscribed(String),
    #[error("neither XDG_CONFIG_HOME/XDG_DATA_HOME nor HOME is set to an absolute path")]
    NoHome,
    #[error(
        "the stored feed URL of workspace {id:?} is unusable ({reason}); unsubscribe and subscribe again"
    )]
    BadUrl { id: String, reason: String },
    #[error(
        "the workspace was refreshed by another process meanwhile ({url} is no longer stored); \
         refresh again"
    )]
    Changed { url: String },
    #[error(transparent)]
    Identity(#[from] IdentityError),
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A stored [`WorkspaceRecord`] but for its file tables and the time of
/// its last refresh: what a refresh that stores nothing new compares.
#[derive(Debug, PartialEq, Eq, Deserialize)]
struct RecordHead {
    version: u32,
    id: String,
    name: String,
    feed_url: String,
    username: Option<String>,
    subscribed_at: u64,
    last_error: Option<String>,
    #[serde(default)]
    shown: BTreeSet<String>,
    #[serde(default)]
    hidden: BTreeSet<String>,
    #[serde(default)]
    default_handlers: bool,
    #[serde(default)]
    allow_http: bool,
    #[serde(default)]
    ca_file: Option<PathBuf>,
    generation: u64,
}

impl RecordHead {
    fn parse(path: &Path, bytes: &[u8]) -> Result<RecordHead, StoreError> {
        parse_record(path, bytes, |head: &RecordHead| head.version)
    }

    fn of(record: &WorkspaceRecord) -> RecordHead {
        RecordHead {
            version: record.version,
            id: record.id.clone(),
            name: record.name.clone(),
            feed_url: record.feed_url.clone(),
            username: record.username.clone(),
            subscribed_at: record.subscribed_at,
            last_error: record.last_error.clone(),
            shown: record.shown.clone(),
            hidden: record.hidden.clone(),
            default_handlers: record.default_handlers,
            allow_http: record.allow_http,
            ca_file: record.ca_file.clone(),
            generation: record.generation,
        }
    }
}

/// What is stored about one subscribed workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceRecord {
    pub version: u32,
    /// The feed's publisher id.
    pub id: String,
    /// The feed's publisher name.
    pub name: String,
    pub feed_url: String,
    /// `DOMAIN\user`, if the feed needs a login. The password is in the
    /// Secret Service, never here.
    pub username: Option<String>,
    /// Unix seconds.
    pub subscribed_at: u64,
    pub last_refresh: Option<u64>,
    pub last_error: Option<String>,
    /// Resources the user put in the menu although the feed does not show
    /// them by default (`radc show`).
    #[serde(default)]
    pub shown: std::collections::BTreeSet<String>,
    /// Resources the user took out of the menu (`radc hide`).
    #[serde(default)]
    pub hidden: std::collections::BTreeSet<String>,
    /// The user made this workspace's resources the default applications
    /// for their file types (`--default-handlers`).
    #[serde(default)]
    pub default_handlers: bool,
    /// Plain http was allowed at subscribe time (test servers).
    #[serde(default)]
    pub allow_http: bool,
    /// The extra CA file given at subscribe time, used again on refresh.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Which generation directory holds the last good feed.
    pub generation: u64,
    /// Downloaded files: URL → file name under the generation's `files/`.
    pub files: BTreeMap<String, String>,
    /// What the server said identifies each file's version, by URL (only
    /// files it sent validators for).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub validators: BTreeMap<String, Validators>,
    /// The SHA-256 of each downloaded file's bytes (hex), by URL: what the
    /// desktop side keys rendered icons by, without reading the files.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digests: BTreeMap<String, String>,
    /// The SHA-256 of the generation's feed (hex), so a refresh can tell
    /// the feed it fetched is the stored one without reading it (records
    /// written by older versions lack it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed_digest: Option<String>,
    /// What a refresh needs to know of the stored feed to take the same
    /// bytes again without parsing them (see [`WorkspaceRecord::summary`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed_summary: Option<FeedSummary>,
}

/// Facts about a stored feed that follow from its bytes and the URL it was
/// read at, kept so that fetching the same bytes again needs no parse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedSummary {
    /// [`digest_of`] the feed's bytes: the summary speaks for those only.
    pub digest: String,
    /// The URL the feed was read at, which its relative URLs resolve
    /// against.
    pub base: String,
    /// How many resources the feed lists.
    pub resources: usize,
    /// What parsing it reported (see [`radc_feed::Feed::warnings`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The feed vouches for every file it names (they are unchanged
    /// whenever it is: `radc_feed::diff::unchanged_files`) and every one
    /// of them was stored with it.
    pub complete: bool,
}

/// An HTTP response's validators of a file: sent back as `If-None-Match`
/// and `If-Modified-Since` when the same URL is asked for again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

impl Validators {
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

impl WorkspaceRecord {
    pub fn new(id: &str, name: &str, feed_url: &str, now: u64) -> Self {
        WorkspaceRecord {
            version: RECORD_VERSION,
            id: id.to_owned(),
            name: name.to_owned(),
            feed_url: feed_url.to_owned(),
            username: None,
            subscribed_at: now,
            last_refresh: None,
            last_error: None,
            shown: Default::default(),
            hidden: Default::default(),
            default_handlers: false,
            allow_http: false,
            ca_file: None,
            generation: 0,
            files: BTreeMap::new(),
            validators: BTreeMap::new(),
            digests: BTreeMap::new(),
            feed_digest: None,
            feed_summary: None,
        }
    }

    /// The summary of the stored feed, if the record has one made from
    /// exactly that feed.
    pub fn summary(&self) -> Option<&FeedSummary> {
        self.feed_summary
            .as_ref()
            .filter(|summary| self.feed_digest.as_ref() == Some(&summary.digest))
    }

    /// The URL the workspace was subscribed at. Its origin and the id make
    /// the workspace's identity ([`radc_feed::identity`]): credentials
    /// stored for the workspace belong to that origin.
    pub fn url(&self) -> Result<Url, StoreError> {
        Url::parse(&self.feed_url).map_err(|e| StoreError::BadUrl {
            id: self.id.clone(),
            reason: e.to_string(),
        })
    }

    /// The origin of [`WorkspaceRecord::url`] as text.
    pub fn origin(&self) -> Result<String, StoreError> {
        Ok(identity::origin_of(&self.url()?))
    }
}

/// A file to store with a feed: where it came from and its bytes.
pub struct Download {
    pub url: String,
    /// Kind of file, used as the extension: `rdp`, `ico` or `png`.
    pub kind: FileKind,
    pub bytes: Vec<u8>,
}

/// A file to store with a feed, as a refresh got it: new bytes, or the
/// server's word that the stored file of the same URL is still current.
#[derive(Debug, Clone)]
pub struct FileUpdate {
    pub url: String,
    pub kind: FileKind,
    pub content: Content,
    /// The validators the server sent with it (empty if none).
    pub validators: Validators,
}

#[derive(Debug, Clone)]
pub enum Content {
    Bytes(Vec<u8>),
    /// `304 Not Modified` to a request conditional on the validators
    /// stored for this URL: the current generation's file stands. The
    /// update's `validators` are then those the request carried.
    NotModified,
    /// Not asked for: the feed says the file of this URL is unchanged
    /// ([`radc_feed::diff::unchanged_files`]), so the current generation's
    /// file stands, with the validators it has.
    Kept,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Rdp,
    Ico,
    Png,
}

impl FileKind {
    fn extension(self) -> &'static str {
        match self {
            FileKind::Rdp => "rdp",
            FileKind::Ico => "ico",
            FileKind::Png => "png",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    records: PathBuf,
    data: PathBuf,
}

impl Store {
    /// The store under the XDG config and data directories.
    pub fn from_environment() -> Result<Store, StoreError> {
        let config = xdg_dir("XDG_CONFIG_HOME", ".config").ok_or(StoreError::NoHome)?;
        let data = xdg_dir("XDG_DATA_HOME", ".local/share").ok_or(StoreError::NoHome)?;
        Ok(Store::new(&config.join("radc"), &data.join("radc")))
    }

    /// A store whose records live in `config/workspaces` and data in
    /// `data/workspaces`. `config` and `data` are radc's own directories:
    /// they, and everything the store creates in them, are kept private
    /// (0700 directories, 0600 files).
    pub fn new(config: &Path, data: &Path) -> Store {
        Store {
            records: config.join("workspaces"),
            data: data.join("workspaces"),
        }
    }

    fn record_path(&self, id: &str) -> PathBuf {
        self.records.join(format!("{}.json", workspace_key(id)))
    }

    fn workspace_dir(&self, id: &str) -> PathBuf {
        self.data.join(workspace_key(id))
    }

    fn generation_dir(&self, id: &str, generation: u64) -> PathBuf {
        self.workspace_dir(id).join(generation.to_string())
    }

    /// Every subscribed workspace, by id. A damaged record is reported as
    /// an error in its place rather than hiding the others.
    pub fn list(&self) -> Result<Vec<Result<WorkspaceRecord, StoreError>>, StoreError> {
        let entries = match fs::read_dir(&self.records) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(&self.records)(e)),
        };
        let mut out: Vec<Result<WorkspaceRecord, StoreError>> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| read_record(&p))
            .collect();
        out.sort_by(|a, b| match (a, b) {
            (Ok(a), Ok(b)) => a.id.cmp(&b.id),
            (Ok(_), Err(_)) => std::cmp::Ordering::Less,
            (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
            (Err(a), Err(b)) => a.to_string().cmp(&b.to_string()),
        });
        Ok(out)
    }

    pub fn record(&self, id: &str) -> Result<Option<WorkspaceRecord>, StoreError> {
        let path = self.record_path(id);
        match fs::metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(&path)(e)),
            Ok(_) => read_record(&path).map(Some),
        }
    }

    /// The last good feed's bytes.
    pub fn feed(&self, record: &WorkspaceRecord) -> Result<Vec<u8>, StoreError> {
        let path = self
            .generation_dir(&record.id, record.generation)
            .join(FEED_FILE);
        fs::read(&path).map_err(io_error(&path))
    }

    /// Where a downloaded file of the record's generation is.
    pub fn file_path(&self, record: &WorkspaceRecord, url: &str) -> Option<PathBuf> {
        let name = record.files.get(url)?;
        Some(
            self.generation_dir(&record.id, record.generation)
                .join(FILES_DIR)
                .join(name),
        )
    }

    /// The validators to ask the server with whether the record's file of
    /// `url` (as a file of `kind`) changed: only while that file is there.
    pub fn validators_for<'r>(
        &self,
        record: &'r WorkspaceRecord,
        url: &str,
        kind: FileKind,
    ) -> Option<(&'r Validators, u64)> {
        let validators = record.validators.get(url).filter(|v| !v.is_empty())?;
        Some((validators, self.stored_size(record, url, kind)?))
    }

    /// The SHA-256 of the bytes of the record's file of `url`, if the record
    /// keeps it (records written by older versions do not).
    pub fn digest(&self, record: &WorkspaceRecord, url: &str) -> Option<[u8; 32]> {
        let text = record.digests.get(url)?;
        let mut out = [0u8; 32];
        if text.len() != 64 || !text.is_ascii() {
            return None;
        }
        for (byte, pair) in out.iter_mut().zip(text.as_bytes().chunks(2)) {
            *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
        }
        Some(out)
    }

    /// The size of the record's file of `url` (as a file of `kind`), while
    /// it is there.
    pub fn stored_size(&self, record: &WorkspaceRecord, url: &str, kind: FileKind) -> Option<u64> {
        if record.files.get(url)? != &file_name(url, kind) {
            return None;
        }
        Some(fs::metadata(self.file_path(record, url)?).ok()?.len())
    }

    /// Whether the record's generation holds exactly the feed `feed` and a
    /// file for each of `urls` (with the name a file of that kind gets):
    /// then a refresh that fetched those feed bytes has nothing to ask for
    /// and nothing to store. Costs a hash of `feed` (or a read of the
    /// stored feed, for older records) and one listing of the generation's
    /// files, whatever their number.
    pub fn holds<'u>(
        &self,
        record: &WorkspaceRecord,
        feed: &[u8],
        urls: impl IntoIterator<Item = (&'u str, FileKind)>,
    ) -> bool {
        let dir = self.generation_dir(&record.id, record.generation);
        let same_feed = match &record.feed_digest {
            Some(digest) => *digest == digest_of(feed),
            None => fs::read(dir.join(FEED_FILE)).is_ok_and(|stored| stored == feed),
        };
        if !same_feed {
            return false;
        }
        let Some(present) = self.listing(record) else {
            return false;
        };
        // The name's extension tells the kind: the rest of it follows from
        // the URL when the record was written, and is not hashed again.
        urls.into_iter().all(|(url, kind)| {
            record.files.get(url).is_some_and(|name| {
                name.rsplit_once('.')
                    .is_some_and(|(_, extension)| extension == kind.extension())
                    && present.contains(std::ffi::OsStr::new(name))
            })
        })
    }

    /// Whether every file the record lists is in its generation: one
    /// listing of the generation's files.
    pub fn holds_its_files(&self, record: &WorkspaceRecord) -> bool {
        self.listing(record).is_some_and(|present| {
            record
                .files
                .values()
                .all(|name| present.contains(std::ffi::OsStr::new(name)))
        })
    }

    /// The names in the record's generation's `files/`.
    fn listing(
        &self,
        record: &WorkspaceRecord,
    ) -> Option<std::collections::HashSet<std::ffi::OsString>> {
        let dir = self.generation_dir(&record.id, record.generation);
        let entries = fs::read_dir(dir.join(FILES_DIR)).ok()?;
        Some(
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.file_name())
                .collect(),
        )
    }

    /// Stores `record` for a refresh that found its state current (see
    /// [`Store::holds`]): its generation and files stay, nothing else is
    /// written. Fails with [`StoreError::Changed`] if another process
    /// committed another state since `record` was read.
    pub fn commit_unchanged(
        &self,
        mut record: WorkspaceRecord,
        feed: &[u8],
    ) -> Result<WorkspaceRecord, StoreError> {
        // Records of older versions learn their feed's hash here.
        if record.feed_digest.is_none() {
            record.feed_digest = Some(digest_of(feed));
        }
        let _lock = self.lock(&record.id)?;
        let path = self.record_path(&record.id);
        // A generation's files never change, so its number says whether
        // the state is still the one `record` saw: the file tables, most
        // of a large record, are skipped over rather than read.
        let current = match fs::read(&path) {
            Ok(bytes) => RecordHead::parse(&path, &bytes)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NotSubscribed(record.id.clone()));
            }
            Err(e) => return Err(io_error(&path)(e)),
        };
        let current_url = Url::parse(&current.feed_url).map_err(|e| StoreError::BadUrl {
            id: current.id.clone(),
            reason: e.to_string(),
        })?;
        identity::check_subscribe(&record.url()?, &record.id, Some(&current_url))?;
        if current.generation != record.generation {
            return Err(StoreError::Changed {
                url: record.feed_url.clone(),
            });
        }
        if current == RecordHead::of(&record) {
            // Losing this change to a power cut loses only the time of
            // the refresh: the state it records is the one already stored.
            crate::fsutil::write_whole_locked(&path, &to_json(&record), PRIVATE_FILE)
                .map_err(io_error(&path))?;
        } else {
            write_atomic(&path, &to_json(&record))?;
        }
        // What a killed commit may have left of a next generation.
        self.remove_other_generations(&record.id, record.generation);
        Ok(record)
    }

    /// Stores a good feed and its files as the workspace's new state, and
    /// `record` (whose `generation` and `files` are filled in here) as its
    /// record. Returns the record as stored.
    pub fn commit(
        &self,
        record: WorkspaceRecord,
        feed: &[u8],
        downloads: &[Download],
    ) -> Result<WorkspaceRecord, StoreError> {
        let updates: Vec<FileUpdate> = downloads
            .iter()
            .map(|d| FileUpdate {
                url: d.url.clone(),
                kind: d.kind,
                content: Content::Bytes(d.bytes.clone()),
                validators: Validators::default(),
            })
            .collect();
        self.commit_updates(record, feed, &updates)
    }

    /// [`Store::commit`] for a refresh that may have been told some files
    /// are unchanged ([`Content::NotModified`]), keeping the validators it
    /// got. Only what differs from the current generation is written: with
    /// nothing changed, the record alone.
    pub fn commit_updates(
        &self,
        mut record: WorkspaceRecord,
        feed: &[u8],
        updates: &[FileUpdate],
    ) -> Result<WorkspaceRecord, StoreError> {
        let _lock = self.lock(&record.id)?;
        let previous = self.record(&record.id).ok().flatten();
        // Checked again under the lock: whatever raced with the caller's
        // check, a workspace never moves to another origin.
        if let Some(previous) = &previous {
            identity::check_subscribe(&record.url()?, &record.id, Some(&previous.url()?))?;
        }
        let current = previous.as_ref().map(|p| Current {
            dir: self.generation_dir(&p.id, p.generation),
            record: p,
        });
        let plan = plan_files(current.as_ref(), updates)?;
        record.files = plan
            .iter()
            .map(|f| (f.url.clone(), f.name.clone()))
            .collect();
        record.validators = plan
            .iter()
            .filter(|f| !f.validators.is_empty())
            .map(|f| (f.url.clone(), f.validators.clone()))
            .collect();
        record.digests = plan
            .iter()
            .map(|f| (f.url.clone(), f.digest.clone()))
            .collect();
        record.feed_digest = Some(digest_of(feed));
        let feed_kept = current
            .as_ref()
            .is_some_and(|c| fs::read(c.dir.join(FEED_FILE)).is_ok_and(|stored| stored == feed));
        let unchanged = feed_kept
            && current
                .as_ref()
                .is_some_and(|c| c.record.files == record.files)
            && plan.iter().all(|f| matches!(f.source, Source::Current(_)));
        if let (true, Some(previous)) = (unchanged, &previous) {
            record.generation = previous.generation;
            write_atomic(&self.record_path(&record.id), &to_json(&record))?;
            self.remove_other_generations(&record.id, record.generation);
            return Ok(record);
        }

        record.generation = previous.as_ref().map_or(1, |p| p.generation + 1);
        let dir = self.generation_dir(&record.id, record.generation);
        // A directory of that number can only be the debris of a crash.
        remove_dir_if_exists(&dir)?;
        let files_dir = dir.join(FILES_DIR);
        private_dirs(&self.data)?;
        create_dirs(&files_dir, PRIVATE_DIR).map_err(io_error(&files_dir))?;
        match &current {
            Some(c) if feed_kept => link(&c.dir.join(FEED_FILE), &dir.join(FEED_FILE))?,
            _ => write_new(&dir.join(FEED_FILE), feed)?,
        }
        for file in &plan {
            let target = files_dir.join(&file.name);
            match &file.source {
                Source::Current(stored) => link(stored, &target)?,
                Source::Bytes(bytes) => write_new(&target, bytes)?,
            }
        }
        // Every file and directory entry of the generation, durable at
        // once, before the record can point at it.
        crate::fsutil::sync_filesystem(&dir).map_err(io_error(&dir))?;
        write_atomic(&self.record_path(&record.id), &to_json(&record))?;
        self.remove_other_generations(&record.id, record.generation);
        Ok(record)
    }

    /// Records (or clears) a workspace's last error, keeping everything else
    /// of its current record, including a generation another process may
    /// have committed meanwhile.
    pub fn record_error(&self, id: &str, error: Option<&str>) -> Result<(), StoreError> {
        self.modify(id, |record| record.last_error = error.map(str::to_owned))
            .map(drop)
    }

    /// Changes a workspace's current record under its lock and stores it.
    pub fn modify(
        &self,
        id: &str,
        change: impl FnOnce(&mut WorkspaceRecord),
    ) -> Result<WorkspaceRecord, StoreError> {
        let _lock = self.lock(id)?;
        let mut record = self
            .record(id)?
            .ok_or_else(|| StoreError::NotSubscribed(id.to_owned()))?;
        change(&mut record);
        write_atomic(&self.record_path(id), &to_json(&record))?;
        Ok(record)
    }

    /// Serialises changes to one workspace between processes (the runtime's
    /// refresher and a `radc refresh`, say): an advisory lock on a file
    /// beside the records, released when the guard drops.
    fn lock(&self, id: &str) -> Result<File, StoreError> {
        private_dirs(&self.records)?;
        let path = self.records.join(format!(".{}.lock", workspace_key(id)));
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(PRIVATE_FILE)
            .open(&path)
            .map_err(io_error(&path))?;
        file.lock().map_err(io_error(&path))?;
        Ok(file)
    }

    /// Forgets a workspace: the record goes first, so a crash midway leaves
    /// no half-subscribed workspace, only files the next commit or removal
    /// cleans up.
    pub fn remove(&self, id: &str) -> Result<bool, StoreError> {
        let lock = self.lock(id)?;
        let path = self.record_path(id);
        let existed = crate::fsutil::remove_with_temp(&path).map_err(io_error(&path))?;
        if existed {
            sync_dir(&self.records)?;
        }
        remove_dir_if_exists(&self.workspace_dir(id))?;
        drop(lock);
        let _ = fs::remove_file(self.records.join(format!(".{}.lock", workspace_key(id))));
        Ok(existed)
    }

    fn remove_other_generations(&self, id: &str, keep: u64) {
        let Ok(entries) = fs::read_dir(self.workspace_dir(id)) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            if entry.file_name() != keep.to_string().as_str() {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// The directory and file name stem for a workspace id: up to 48 readable
/// characters (`[a-z0-9._-]`) and 16 hex digits of its SHA-256, so distinct
/// ids never collide and no id can name `..` or a path.
pub fn workspace_key(id: &str) -> String {
    let readable: String = id
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(48)
        .collect();
    let readable = readable.trim_start_matches('.');
    let hash = hex(&Sha256::digest(id.as_bytes())[..8]);
    if readable.is_empty() {
        hash
    } else {
        format!("{readable}-{hash}")
    }
}

/// The current generation, which a commit may share files with.
struct Current<'a> {
    record: &'a WorkspaceRecord,
    dir: PathBuf,
}

/// Where a file of a new state comes from.
enum Source<'a> {
    /// The current generation's file of the same URL and name: same bytes.
    Current(PathBuf),
    Bytes(&'a [u8]),
}

struct Planned<'a> {
    url: String,
    name: String,
    source: Source<'a>,
    validators: Validators,
    /// [`digest_of`] the file's bytes.
    digest: String,
}

/// Which files a commit writes and which it takes over from the current
/// generation: those the server said are unchanged, and those downloaded
/// again with the same bytes.
fn plan_files<'a>(
    current: Option<&Current<'_>>,
    updates: &'a [FileUpdate],
) -> Result<Vec<Planned<'a>>, StoreError> {
    let mut seen = BTreeSet::new();
    let mut plan = Vec::new();
    for update in updates {
        if !seen.insert(update.url.as_str()) {
            continue;
        }
        let name = file_name(&update.url, update.kind);
        let stored = current.and_then(|c| {
            (c.record.files.get(&update.url) == Some(&name))
                .then(|| c.dir.join(FILES_DIR).join(&name))
        });
        let known_digest = || {
            current
                .and_then(|c| c.record.digests.get(&update.url))
                .cloned()
        };
        let (source, digest) = match (&update.content, stored) {
            // The request was conditional on exactly the validators the
            // current generation keeps for this URL.
            (Content::NotModified, Some(path))
                if !update.validators.is_empty()
                    && current.and_then(|c| c.record.validators.get(&update.url))
                        == Some(&update.validators) =>
            {
                (Source::Current(path), known_digest())
            }
            (Content::Kept, Some(path)) => (Source::Current(path), known_digest()),
            (Content::NotModified | Content::Kept, _) => {
                // Not the state the request was conditional on (or the
                // file kept from it is gone): another refresh committed
                // meanwhile.
                return Err(StoreError::Changed {
                    url: update.url.clone(),
                });
            }
            (Content::Bytes(bytes), Some(path))
                if fs::read(&path).is_ok_and(|stored| stored == *bytes) =>
            {
                (Source::Current(path), Some(digest_of(bytes)))
            }
            (Content::Bytes(bytes), _) => (Source::Bytes(bytes), Some(digest_of(bytes))),
        };
        // Records written before digests were kept: hashed once here.
        let digest = match (digest, &source) {
            (Some(digest), _) => digest,
            (None, Source::Current(path)) => digest_of(&fs::read(path).map_err(io_error(path))?),
            (None, Source::Bytes(bytes)) => digest_of(bytes),
        };
        let validators = match update.content {
            // Not asked for: what the server said last time still holds.
            Content::Kept => current
                .and_then(|c| c.record.validators.get(&update.url))
                .cloned()
                .unwrap_or_default(),
            _ => update.validators.clone(),
        };
        plan.push(Planned {
            url: update.url.clone(),
            name,
            source,
            validators,
            digest,
        });
    }
    Ok(plan)
}

fn file_name(url: &str, kind: FileKind) -> String {
    format!(
        "{}.{}",
        hex(&Sha256::digest(url.as_bytes())[..16]),
        kind.extension()
    )
}

/// The SHA-256 of a stored file's bytes, in hex, as records keep it.
pub fn digest_of(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(2 * bytes.len());
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn to_json(record: &WorkspaceRecord) -> Vec<u8> {
    // Compact: a large workspace's record is mostly its file tables, read
    // and written by every refresh. `radc workspaces` shows what is in it.
    let mut text = serde_json::to_vec(record).expect("records always serialise");
    text.push(b'\n');
    text
}

fn read_record(path: &Path) -> Result<WorkspaceRecord, StoreError> {
    let bytes = fs::read(path).map_err(io_error(path))?;
    parse_record(path, &bytes, |record: &WorkspaceRecord| record.version)
}

/// A record (or part of one) from the bytes of the file at `path`, if it
/// parses and is of the version this radc writes.
fn parse_record<T: serde::de::DeserializeOwned>(
    path: &Path,
    bytes: &[u8],
    version: impl Fn(&T) -> u32,
) -> Result<T, StoreError> {
    let parsed: T = serde_json::from_slice(bytes).map_err(|e| StoreError::Damaged {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    if version(&parsed) != RECORD_VERSION {
        return Err(StoreError::Damaged {
            path: path.to_owned(),
            reason: format!("record version {} is not supported", version(&parsed)),
        });
    }
    Ok(parsed)
}

/// `radc/workspaces` under the config or data directory: both levels are
/// radc's own, and private (they name every subscribed workspace).
fn private_dirs(workspaces: &Path) -> Result<(), StoreError> {
    for dir in workspaces.parent().into_iter().chain([workspaces]) {
        private_dir(dir).map_err(io_error(dir))?;
    }
    Ok(())
}

/// A new file of a generation being made. Not synced here: the whole
/// generation is, at once, before anything points at it.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_FILE)
        .open(path)
        .map_err(io_error(path))?;
    file.write_all(bytes).map_err(io_error(path))
}

/// Shares a file of the current generation with the new one.
fn link(from: &Path, to: &Path) -> Result<(), StoreError> {
    fs::hard_link(from, to).map_err(io_error(to))
}

/// Records are written under the workspace's lock, through a temporary of
/// a fixed name, so a write killed midway leaves nothing the next write (or
/// the removal) does not clear.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    crate::fsutil::write_atomic_locked(path, bytes, PRIVATE_FILE).map_err(io_error(path))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))
}

fn remove_dir_if_exists(dir: &Path) -> Result<(), StoreError> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error(dir)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(&dir.path().join("config"), &dir.path().join("data"));
        (dir, store)
    }

    fn rdp(url: &str, text: &str) -> Download {
        Download {
            url: url.into(),
            kind: FileKind::Rdp,
            bytes: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn keys_are_safe_and_distinct() {
        for hostile in ["..", "../../etc", "a/b", "", ".hidden", "x\0y", "É"] {
            let key = workspace_key(hostile);
            assert!(
                !key.contains('/') && !key.starts_with('.') && !key.is_empty(),
                "{key}"
            );
        }
        assert_ne!(workspace_key("A"), workspace_key("a"));
        assert!(workspace_key("rdweb.contoso.com").starts_with("rdweb.contoso.com-"));
        assert!(workspace_key(&"x".repeat(1000)).len() < 70);
    }

    #[test]
    fn an_unchanged_state_is_recognised_and_kept_without_a_new_generation() {
        let (_dir, store) = store();
        let record = WorkspaceRecord::new("ws", "Apps", "https://h/RDWeb/Feed/webfeed.aspx", 10);
        let first = store
            .commit(record, b"<feed 1/>", &[rdp("https://h/a.rdp", "one")])
            .unwrap();
        let urls = [("https://h/a.rdp", FileKind::Rdp)];
        assert!(store.holds(&first, b"<feed 1/>", urls));
        assert!(!store.holds(&first, b"<feed 2/>", urls), "another feed");
        assert!(
            !store.holds(&first, b"<feed 1/>", [("https://h/a.rdp", FileKind::Png)]),
            "another kind of file"
        );
        assert!(
            !store.holds(&first, b"<feed 1/>", [("https://h/b.rdp", FileKind::Rdp)]),
            "a file not stored"
        );
        // A record of an older version, without the feed's hash: the
        // stored feed is read instead.
        let mut older = first.clone();
        older.feed_digest = None;
        assert!(store.holds(&older, b"<feed 1/>", urls));
        assert!(!store.holds(&older, b"<feed 2/>", urls));

        // What a commit killed midway left of the next generation goes.
        let debris = store.generation_dir("ws", first.generation + 1);
        fs::create_dir_all(debris.join(FILES_DIR)).unwrap();
        fs::write(debris.join(FEED_FILE), b"<half/>").unwrap();
        let mut refreshed = first.clone();
        refreshed.last_refresh = Some(20);
        let kept = store.commit_unchanged(refreshed, b"<feed 1/>").unwrap();
        assert_eq!(kept.generation, first.generation);
        assert!(!debris.exists());
        assert_eq!(store.record("ws").unwrap().unwrap().last_refresh, Some(20));

        // A file gone from the store is noticed, and so is a commit by
        // another process since the record was read.
        let path = store.file_path(&kept, "https://h/a.rdp").unwrap();
        let bytes = fs::read(&path).unwrap();
        fs::remove_file(&path).unwrap();
        assert!(!store.holds(&kept, b"<feed 1/>", urls));
        fs::write(&path, bytes).unwrap();
        store
            .commit(kept.clone(), b"<feed 2/>", &[rdp("https://h/a.rdp", "two")])
            .unwrap();
        assert!(matches!(
            store.commit_unchanged(kept, b"<feed 1/>"),
            Err(StoreError::Changed { .. })
        ));
        assert_eq!(
            store.feed(&store.record("ws").unwrap().unwrap()).unwrap(),
            b"<feed 2/>"
        );
    }

    #[test]
    fn commit_then_refresh_keeps_one_generation() {
        let (_dir, store) = store();
        let record = WorkspaceRecord::new("ws", "Apps", "https://h/RDWeb/Feed/webfeed.aspx", 10);
        let first = store
            .commit(record, b"<feed 1/>", &[rdp("https://h/a.rdp", "one")])
            .unwrap();
        assert_eq!(first.generation, 1);
        assert_eq!(store.feed(&first).unwrap(), b"<feed 1/>");
        let path = store.file_path(&first, "https://h/a.rdp").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "one");

        let second = store
            .commit(
                first.clone(),
                b"<feed 2/>",
                &[rdp("https://h/b.rdp", "two")],
            )
            .unwrap();
        assert_eq!(second.generation, 2);
        assert_eq!(store.record("ws").unwrap().unwrap(), second);
        assert!(!path.exists(), "the old generation is gone");
        assert!(store.file_path(&second, "https://h/a.rdp").is_none());
        let generations = fs::read_dir(store.workspace_dir("ws")).unwrap().count();
        assert_eq!(generations, 1);
    }

    fn update(url: &str, content: Content, etag: &str) -> FileUpdate {
        FileUpdate {
            url: url.into(),
            kind: FileKind::Rdp,
            content,
            validators: Validators {
                etag: Some(etag.into()),
                last_modified: None,
            },
        }
    }

    #[test]
    fn unchanged_files_are_shared_and_an_unchanged_state_makes_no_generation() {
        use std::os::unix::fs::MetadataExt;
        let (_dir, store) = store();
        let record = WorkspaceRecord::new("ws", "Apps", "https://h/", 10);
        let a = "https://h/a.rdp";
        let b = "https://h/b.rdp";
        let first = store
            .commit_updates(
                record,
                b"<feed/>",
                &[
                    update(a, Content::Bytes(b"one".to_vec()), "\"1\""),
                    update(b, Content::Bytes(b"two".to_vec()), "\"2\""),
                ],
            )
            .unwrap();
        assert_eq!(first.validators[a].etag.as_deref(), Some("\"1\""));
        let inode = |r: &WorkspaceRecord, url| {
            fs::metadata(store.file_path(r, url).unwrap())
                .unwrap()
                .ino()
        };
        let (a1, b1) = (inode(&first, a), inode(&first, b));

        // 304 for a, same bytes again for b: nothing new, no generation.
        let same = store
            .commit_updates(
                first.clone(),
                b"<feed/>",
                &[
                    update(a, Content::NotModified, "\"1\""),
                    update(b, Content::Bytes(b"two".to_vec()), "\"2\""),
                ],
            )
            .unwrap();
        assert_eq!(same.generation, first.generation);
        assert_eq!((inode(&same, a), inode(&same, b)), (a1, b1));

        // b changed: a new generation, a shared, b written.
        let changed = store
            .commit_updates(
                same,
                b"<feed/>",
                &[
                    update(a, Content::NotModified, "\"1\""),
                    update(b, Content::Bytes(b"three".to_vec()), "\"3\""),
                ],
            )
            .unwrap();
        assert_eq!(changed.generation, first.generation + 1);
        assert_eq!(inode(&changed, a), a1);
        assert_ne!(inode(&changed, b), b1);
        assert_eq!(
            fs::read(store.file_path(&changed, b).unwrap()).unwrap(),
            b"three"
        );
        assert_eq!(fs::read_dir(store.workspace_dir("ws")).unwrap().count(), 1);

        // A 304 to validators the record does not hold is refused.
        let stale = store.commit_updates(
            changed.clone(),
            b"<feed/>",
            &[update(b, Content::NotModified, "\"2\"")],
        );
        assert!(
            matches!(stale, Err(StoreError::Changed { .. })),
            "{stale:?}"
        );
        // A new URL is never taken from another's file.
        let moved = store.commit_updates(
            changed,
            b"<feed/>",
            &[update("https://h/a.rdp?v=2", Content::NotModified, "\"1\"")],
        );
        assert!(
            matches!(moved, Err(StoreError::Changed { .. })),
            "{moved:?}"
        );
    }

    #[test]
    fn a_feed_summary_speaks_only_for_the_feed_it_was_made_from() {
        let (_dir, store) = store();
        let mut record = WorkspaceRecord::new("ws", "Apps", "https://h/", 10);
        let summary = |feed: &[u8]| FeedSummary {
            digest: digest_of(feed),
            base: "https://h/".into(),
            resources: 3,
            warnings: vec!["odd".into()],
            complete: true,
        };
        record.feed_summary = Some(summary(b"<feed 1/>"));
        let first = store.commit_updates(record, b"<feed 1/>", &[]).unwrap();
        assert_eq!(first.summary(), Some(&summary(b"<feed 1/>")));
        let read = store.record("ws").unwrap().unwrap();
        assert_eq!(read.summary(), Some(&summary(b"<feed 1/>")), "stored");

        // Another feed committed with the old summary left in the record.
        let second = store.commit_updates(first, b"<feed 2/>", &[]).unwrap();
        assert_eq!(second.summary(), None);
        // And a record without the feed's hash has no summary to trust.
        let mut old = second.clone();
        old.feed_summary = Some(summary(b"<feed 2/>"));
        old.feed_digest = None;
        assert_eq!(old.summary(), None);
    }

    #[test]
    fn records_keep_the_hash_of_every_stored_file() {
        let (_dir, store) = store();
        let record = WorkspaceRecord::new("ws", "Apps", "https://h/", 10);
        let (a, b) = ("https://h/a.rdp", "https://h/b.png");
        let sha = |bytes: &[u8]| -> [u8; 32] { Sha256::digest(bytes).into() };
        let first = store
            .commit_updates(
                record,
                b"<feed/>",
                &[
                    update(a, Content::Bytes(b"one".to_vec()), "\"1\""),
                    update(b, Content::Bytes(b"two".to_vec()), ""),
                ],
            )
            .unwrap();
        assert_eq!(store.digest(&first, a), Some(sha(b"one")));
        assert_eq!(store.digest(&first, b), Some(sha(b"two")));
        assert_eq!(store.digest(&first, "https://h/other"), None);

        // A record written before hashes were kept: kept files are hashed
        // from what is stored, new ones from their bytes.
        let mut old = first.clone();
        old.digests.clear();
        fs::write(store.record_path("ws"), to_json(&old)).unwrap();
        let next = store
            .commit_updates(
                old,
                b"<feed/>",
                &[
                    update(a, Content::Kept, ""),
                    update(b, Content::Bytes(b"three".to_vec()), ""),
                ],
            )
            .unwrap();
        assert_eq!(store.digest(&next, a), Some(sha(b"one")));
        assert_eq!(store.digest(&next, b), Some(sha(b"three")));
        assert_eq!(
            next.validators[a].etag.as_deref(),
            Some("\"1\""),
            "kept as they were"
        );

        // A damaged hash is no hash.
        let mut damaged = next.clone();
        damaged.digests.insert(a.into(), "zz".repeat(32));
        assert_eq!(store.digest(&damaged, a), None);
    }

    #[test]
    fn everything_stored_is_private_even_under_directories_left_open() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (config, data) = (dir.path().join("config/radc"), dir.path().join("data/radc"));
        // As an older version left them.
        for open in [&config, &data] {
            fs::create_dir_all(open.join("workspaces")).unwrap();
            for d in [open.clone(), open.join("workspaces")] {
                fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
        let store = Store::new(&config, &data);
        let record = WorkspaceRecord::new("ws", "Apps", "https://h/RDWeb/Feed/webfeed.aspx", 10);
        let record = store
            .commit(record, b"<feed/>", &[rdp("https://h/a.rdp", "one")])
            .unwrap();
        store.record_error("ws", Some("offline")).unwrap();
        let mut seen = 0;
        let mut stack = vec![config, data];
        while let Some(path) = stack.pop() {
            let meta = fs::symlink_metadata(&path).unwrap();
            let mode = meta.permissions().mode() & 0o777;
            if meta.is_dir() {
                assert_eq!(mode, 0o700, "{}", path.display());
                stack.extend(fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            } else {
                assert_eq!(mode, 0o600, "{}", path.display());
                seen += 1;
            }
        }
        // The record, its lock, the feed and the .rdp file.
        assert!(seen >= 3, "{seen}");
        assert!(
            store
                .file_path(&record, "https://h/a.rdp")
                .unwrap()
                .exists()
        );
    }

    #[test]
    fn errors_update_only_the_record_and_removal_removes_everything() {
        let (dir, store) = store();
        let record = WorkspaceRecord::new("ws", "Apps", "https://h/", 10);
        store.commit(record, b"<feed/>", &[]).unwrap();
        store.record_error("ws", Some("HTTP 404")).unwrap();
        let again = store.record("ws").unwrap().unwrap();
        assert_eq!(again.last_error.as_deref(), Some("HTTP 404"));
        assert_eq!(store.feed(&again).unwrap(), b"<feed/>");
        assert!(store.remove("ws").unwrap());
        assert!(!store.remove("ws").unwrap());
        assert!(store.record("ws").unwrap().is_none());
        let left: Vec<_> = walk(dir.path());
        assert!(left.iter().all(|p| p.is_dir()), "files left: {left:?}");
        assert!(matches!(
            store.record_error("nope", Some("x")),
            Err(StoreError::NotSubscribed(_))
        ));
    }

    #[test]
    fn concurrent_writers_never_leave_a_dangling_record() {
        let (_dir, store) = store();
        std::thread::scope(|scope| {
            for writer in 0..3 {
                let store = store.clone();
                scope.spawn(move || {
                    for round in 0..15 {
                        let base = store
                            .record("ws")
                            .unwrap()
                            .unwrap_or_else(|| WorkspaceRecord::new("ws", "W", "https://h/", 0));
                        let text = format!("{writer}-{round}");
                        store
                            .commit(base, text.as_bytes(), &[rdp("https://h/a.rdp", &text)])
                            .unwrap();
                        store.record_error("ws", Some(&text)).unwrap();
                    }
                });
            }
        });
        let record = store.record("ws").unwrap().unwrap();
        let feed = String::from_utf8(store.feed(&record).unwrap()).unwrap();
        let file = store.file_path(&record, "https://h/a.rdp").unwrap();
        assert_eq!(
            fs::read_to_string(file).unwrap(),
            feed,
            "record, feed and files agree"
        );
        assert_eq!(record.generation, 45);
    }

    #[test]
    fn damaged_records_are_reported_not_hidden() {
        let (_dir, store) = store();
        store
            .commit(
                WorkspaceRecord::new("good", "G", "https://h/", 1),
                b"x",
                &[],
            )
            .unwrap();
        fs::write(store.records.join("bad.json"), "{ not json").unwrap();
        let listed = store.list().unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].as_ref().unwrap().id, "good");
        assert!(matches!(listed[1], Err(StoreError::Damaged { .. })));
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for entry in fs::read_dir(dir).unwrap().filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            }
            out.push(path);
        }
        out
    }
}
