//! Puts a subscribed workspace on the desktop and takes it off again: the
//! I/O side of [`radc_desktop`]. The files come from
//! [`radc_desktop::layout`], the decision of what to write and delete from
//! [`radc_desktop::sync`], of which icons to render from
//! [`radc_desktop::render_cache`]; this module reads the icons and the
//! system's MIME globs, renders the icons that changed, writes, keeps the
//! manifest, and runs the freedesktop cache tools when they exist.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use radc_desktop::icons::{self, Limits, THEME_SIZES};
use radc_desktop::layout::{Context, Rendered, workspace_files};
use radc_desktop::names::workspace_stem;
use radc_desktop::render_cache::{RenderCache, icons_for_sync, source_key_of_digests};
use radc_desktop::sync::{Base, GeneratedFile, Manifest, Step, plan};
use radc_feed::Feed;
use sha2::{Digest, Sha256};
use url::Url;

use crate::fsutil::{remove_temp, remove_with_temp, xdg_dir};
use crate::store::{Store, WorkspaceRecord};

/// Where generated files go: normally `$XDG_DATA_HOME` and
/// `$XDG_CONFIG_HOME`; tests use temporary directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    pub data_home: PathBuf,
    pub config_home: PathBuf,
    /// Where the system's MIME globs are looked up (`XDG_DATA_DIRS`).
    pub data_dirs: Vec<PathBuf>,
}

impl Roots {
    pub fn from_environment() -> Option<Roots> {
        let data_dirs = std::env::var("XDG_DATA_DIRS")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "/usr/local/share:/usr/share".into())
            .split(':')
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .collect();
        Some(Roots {
            data_home: xdg_dir("XDG_DATA_HOME", ".local/share")?,
            config_home: xdg_dir("XDG_CONFIG_HOME", ".config")?,
            data_dirs,
        })
    }

    fn base(&self, base: Base) -> PathBuf {
        match base {
            Base::Applications => self.data_home.join("applications"),
            Base::Icons => self.data_home.join("icons"),
            Base::Menus => self.config_home.join("menus/applications-merged"),
            Base::DesktopDirectories => self.data_home.join("desktop-directories"),
            Base::MimePackages => self.data_home.join("mime/packages"),
        }
    }

    fn manifest_path(&self, workspace_id: &str) -> PathBuf {
        self.data_home
            .join("radc/desktop")
            .join(format!("{}.json", workspace_stem(workspace_id)))
    }

    /// Where the [`SyncStamp`] of the workspace's last complete sync is.
    fn stamp_path(&self, workspace_id: &str) -> PathBuf {
        self.data_home
            .join("radc/desktop")
            .join(format!(".{}.synced", workspace_stem(workspace_id)))
    }
}

/// What a complete sync of a workspace was made from: a hash of every
/// input of [`sync_workspace`] (the stored feed's bytes, the record's
/// choices and files with their hashes, the roots, the executable, the
/// system's MIME globs as they stand on disk, this version of radc and its
/// icon renderer) and of the manifest the sync stored. Kept beside the
/// manifest after a sync has finished, and removed before one starts. A
/// sync plans from its inputs and the manifest alone (it does not look at
/// the files it wrote), so one with the same stamp would find nothing to
/// do and is skipped: an unchanged refresh then reads neither the
/// manifest nor an icon. Editing or replacing the manifest (even by hand)
/// changes the stamp.
struct SyncStamp;

impl SyncStamp {
    fn inputs(
        roots: &Roots,
        store: &Store,
        record: &WorkspaceRecord,
        program: &str,
    ) -> Option<Sha256> {
        let mut h = Sha256::new();
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        field(b"radc-desktop-sync/1");
        field(env!("CARGO_PKG_VERSION").as_bytes());
        field(radc_desktop::render_cache::RENDERER.as_bytes());
        field(program.as_bytes());
        field(format!("{roots:?}").as_bytes());
        match &record.feed_digest {
            Some(digest) => field(digest.as_bytes()),
            None => field(&Sha256::digest(store.feed(record).ok()?)),
        }
        field(record.id.as_bytes());
        field(record.name.as_bytes());
        field(&[u8::from(record.default_handlers)]);
        for set in [&record.shown, &record.hidden] {
            field(&(set.len() as u64).to_le_bytes());
            for id in set {
                field(id.as_bytes());
            }
        }
        for map in [&record.files, &record.digests] {
            field(&(map.len() as u64).to_le_bytes());
            for (key, value) in map {
                field(key.as_bytes());
                field(value.as_bytes());
            }
        }
        Some(h)
    }

    /// The stamp of `inputs` with the files on disk that a sync reads or
    /// writes besides: the MIME globs (the user's own are regenerated by
    /// the sync, hence taken as they are once it is done) and the manifest.
    fn with_files(inputs: Sha256, roots: &Roots, manifest: &Path) -> String {
        let mut h = inputs;
        let mut files = SystemGlobs::files(roots);
        files.push(manifest.to_owned());
        for path in files {
            let name = path.as_os_str().as_encoded_bytes();
            h.update((name.len() as u64).to_le_bytes());
            h.update(name);
            h.update(file_identity(&path));
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A file's device, inode, size, modification and change times (or
/// nothing, for a file that is not there): what changes whenever the file
/// is replaced or written to, even if its modification time is set back.
fn file_identity(path: &Path) -> Vec<u8> {
    let Ok(meta) = fs::metadata(path) else {
        return Vec::new();
    };
    [
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime() as u64,
        meta.mtime_nsec() as u64,
        meta.ctime() as u64,
        meta.ctime_nsec() as u64,
    ]
    .iter()
    .flat_map(|n| n.to_le_bytes())
    .collect()
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub written: usize,
    pub deleted: usize,
}

/// Brings the desktop files of a workspace in line with its stored feed.
/// Icons are rendered only where the manifest's cache has no render of
/// the same source bytes (or the files it rendered are not known to be in
/// place). When the last sync finished with exactly these inputs (its
/// [`SyncStamp`]), there is nothing to do and nothing is read.
pub fn sync_workspace(
    roots: &Roots,
    store: &Store,
    record: &WorkspaceRecord,
    feed: &Feed,
) -> Result<SyncReport, String> {
    sync_workspace_with(roots, store, record, || Ok(feed))
}

/// [`sync_workspace`] with the stored feed parsed by `feed` only when
/// there is something to do.
pub fn sync_workspace_with<F: Borrow<Feed>>(
    roots: &Roots,
    store: &Store,
    record: &WorkspaceRecord,
    feed: impl FnOnce() -> Result<F, String>,
) -> Result<SyncReport, String> {
    let program = std::env::current_exe()
        .map_err(|e| format!("cannot find the radc executable: {e}"))?
        .to_string_lossy()
        .into_owned();
    let stamp = SyncStamp::inputs(roots, store, record, &program);
    // Read only once the stamp says there is work to do.
    let wanted = |previous: &Manifest| {
        let feed = feed()?;
        let feed = feed.borrow();
        let sources = IconSources::read(store, record, feed);
        let globs = SystemGlobs::load(roots);
        let known = |ext: &str| globs.lookup(ext);
        icons_for_sync(
            previous,
            &sources.keys(),
            |keys| sources.render(keys),
            |icons| {
                let (resources, extensions) = sources.by_resource(icons);
                workspace_files(
                    feed,
                    &Context {
                        program: &program,
                        shown: &|r| is_shown(record, r),
                        known_mime_type: &known,
                        icons: &resources,
                        extension_icons: &extensions,
                    },
                )
                .map_err(|e| e.to_string())
            },
        )
    };
    apply(roots, &record.id, wanted, record.default_handlers, stamp)
}

/// Whether a resource goes into the menu: the user's choice, else the
/// feed's `ShowByDefault`.
pub fn is_shown(record: &WorkspaceRecord, resource: &radc_feed::Resource) -> bool {
    if record.hidden.contains(&resource.id) {
        false
    } else {
        record.shown.contains(&resource.id) || resource.show_by_default
    }
}

/// Removes every desktop file radc wrote for a workspace, including those
/// a killed sync may have written.
pub fn remove_workspace(roots: &Roots, workspace_id: &str) -> Result<SyncReport, String> {
    let nothing = |_: &Manifest| Ok((Vec::new(), RenderCache::default()));
    let report = apply(roots, workspace_id, nothing, false, None)?;
    // The plan removes a manifest that listed files; one that listed none
    // (written by an older radc) goes here.
    let path = roots.manifest_path(workspace_id);
    remove_with_temp(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(report)
}

/// Carries out the sync plan of a workspace, step by step in the order
/// [`SyncPlan::steps`](radc_desktop::sync::SyncPlan::steps) gives, which
/// keeps the stored manifest a cover of every file (and temporary) radc
/// may have created, whenever the process dies. `wanted` gives the files
/// and the icons to remember, from the stored manifest. With the inputs
/// of a [`SyncStamp`], a sync whose stamp is the stored one is skipped, and
/// a finished one stores its stamp.
///
/// Durability: the intent manifest is stored with an fsync (of the file
/// and its directory) before anything is written, so whatever a crash or
/// power loss leaves of the files it lists is rewritten or deleted by the
/// next sync. The files themselves are written without one each; a single
/// `syncfs` of each file system written to makes them durable before the
/// final manifest, which claims their contents, is stored.
fn apply(
    roots: &Roots,
    workspace_id: &str,
    wanted: impl FnOnce(&Manifest) -> Result<(Vec<GeneratedFile>, RenderCache), String>,
    defaults: bool,
    stamp: Option<Sha256>,
) -> Result<SyncReport, String> {
    let manifest_path = roots.manifest_path(workspace_id);
    let stamp_path = roots.stamp_path(workspace_id);
    let _lock = lock(&manifest_path)?;
    if let Some(inputs) = &stamp
        && fs::read(&stamp_path).is_ok_and(|stored| {
            stored == SyncStamp::with_files(inputs.clone(), roots, &manifest_path).as_bytes()
        })
    {
        return Ok(SyncReport::default());
    }
    // From here until the end the files may match neither stamp.
    remove_with_temp(&stamp_path).map_err(|e| format!("{}: {e}", stamp_path.display()))?;
    let previous: Manifest = match fs::read(&manifest_path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| format!("{} is damaged ({e}); remove it", manifest_path.display()))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Manifest::default(),
        Err(e) => return Err(format!("{}: {e}", manifest_path.display())),
    };
    if previous.is_interrupted() {
        tracing::info!("finishing the desktop sync of {workspace_id:?} that was interrupted");
    }
    let (files, icons) = wanted(&previous)?;
    let associations = associations(&files);
    let plan = plan(&previous, files, icons).map_err(|e| e.to_string())?;
    let mimeapps = roots.config_home.join("mimeapps.list");
    let failed = |path: &Path| {
        let path = path.to_owned();
        move |e: io::Error| format!("{}: {e}", path.display())
    };
    // Directories whose writes and deletions must be durable before the
    // manifest records the written files and forgets the deleted ones.
    let mut touched: BTreeSet<PathBuf> = BTreeSet::new();
    for step in plan.steps() {
        match step {
            Step::SweepTemps => {
                remove_temp(&manifest_path).map_err(failed(&manifest_path))?;
                remove_temp(&mimeapps).map_err(failed(&mimeapps))?;
            }
            Step::StoreManifest(manifest) => {
                if manifest.is_empty() {
                    remove_with_temp(&manifest_path).map_err(failed(&manifest_path))?;
                } else {
                    let json = serde_json::to_vec_pretty(manifest).expect("manifests serialise");
                    write_atomic(&manifest_path, &json).map_err(failed(&manifest_path))?;
                }
            }
            Step::Write(file) => {
                let path = roots.base(file.base).join(&file.path);
                let Some(bytes) = file.contents.bytes() else {
                    return Err(format!("{}: nothing rendered to write", path.display()));
                };
                write_unsynced(&path, bytes).map_err(failed(&path))?;
                if let Some(dir) = path.parent() {
                    touched.insert(dir.to_owned());
                }
            }
            Step::Delete(base, rel) => {
                let path = roots.base(base).join(rel);
                if remove_with_temp(&path).map_err(failed(&path))?
                    && let Some(dir) = path.parent()
                {
                    touched.insert(dir.to_owned());
                }
            }
            Step::Flush => sync_file_systems(&std::mem::take(&mut touched))?,
            Step::Publish { applications, mime } => {
                associate(&mimeapps, workspace_id, &associations, defaults)?;
                if mime {
                    refresh_cache("update-mime-database", &roots.data_home.join("mime"));
                }
                if applications {
                    refresh_cache("update-desktop-database", &roots.base(Base::Applications));
                }
            }
        }
    }
    if let Some(inputs) = stamp
        && manifest_path.exists()
    {
        let stamp = SyncStamp::with_files(inputs, roots, &manifest_path);
        // Not made durable: a stamp lost to a power cut only costs a full
        // sync.
        write_unsynced(&stamp_path, stamp.as_bytes())
            .map_err(|e| format!("{}: {e}", stamp_path.display()))?;
    }
    Ok(SyncReport {
        written: plan.write.len(),
        deleted: plan.delete.len(),
    })
}

/// Serialises desktop syncs between processes (the runtime's refresher and
/// a `radc refresh`, say), for all workspaces at once since they share
/// `mimeapps.list` and the caches: an advisory lock on the manifests'
/// directory itself, so nothing is left behind once the last workspace is
/// gone. The kernel drops it with the process, however that ends.
fn lock(manifest_path: &Path) -> Result<fs::File, String> {
    let dir = manifest_path
        .parent()
        .expect("manifests live in a directory");
    let locked = crate::fsutil::private_dir(dir)
        .and_then(|()| fs::File::open(dir))
        .and_then(|file| file.lock().map(|()| file));
    locked.map_err(|e| format!("cannot lock {}: {e}", dir.display()))
}

/// Makes everything written to the file systems of `dirs` durable: one
/// `syncfs` per file system (the XDG data and config homes may be two)
/// instead of an fsync per file and directory.
fn sync_file_systems(dirs: &BTreeSet<PathBuf>) -> Result<(), String> {
    let mut synced = BTreeSet::new();
    for dir in dirs {
        let file = match fs::File::open(dir) {
            Ok(file) => file,
            // Emptied and removed by someone else meanwhile: nothing of
            // ours left there to make durable.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("{}: {e}", dir.display())),
        };
        let device = file
            .metadata()
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .dev();
        if synced.insert(device) {
            rustix::fs::syncfs(&file).map_err(|e| format!("syncfs {}: {e}", dir.display()))?;
        }
    }
    Ok(())
}

/// MIME type → desktop ids, from the `MimeType=` keys of generated entries.
fn associations(files: &[GeneratedFile]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in files.iter().filter(|f| f.base == Base::Applications) {
        let text = String::from_utf8_lossy(file.contents.bytes().unwrap_or_default());
        let Some(types) = text.lines().find_map(|l| l.strip_prefix("MimeType=")) else {
            continue;
        };
        for mime in types.split(';').filter(|m| !m.is_empty()) {
            out.entry(mime.to_owned())
                .or_default()
                .push(file.path.clone());
        }
    }
    out
}

/// Lists the workspace's entries under `[Added Associations]` in the
/// user's `mimeapps.list` ("Open with" offers them), replacing what radc
/// listed there before for this workspace and nothing else.
fn associate(
    path: &Path,
    workspace_id: &str,
    wanted: &BTreeMap<String, Vec<String>>,
    defaults: bool,
) -> Result<(), String> {
    let before = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let prefix = format!("{}-", workspace_stem(workspace_id));
    let added = radc_desktop::mimeapps::update(&before, &prefix, wanted);
    let none = BTreeMap::new();
    let after = radc_desktop::mimeapps::update_section(
        &added,
        radc_desktop::mimeapps::DEFAULTS,
        &prefix,
        if defaults { wanted } else { &none },
        true,
    );
    if after == before || (before.is_empty() && wanted.is_empty()) {
        return Ok(());
    }
    // Nothing but the sections radc created: the file was radc's alone.
    let leftover: String = after.split_whitespace().collect();
    if leftover == "[AddedAssociations]" || leftover == "[AddedAssociations][DefaultApplications]" {
        return match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(format!("{}: {e}", path.display()))
            }
            _ => Ok(()),
        };
    }
    write_atomic(path, after.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))
}

/// Runs a cache tool if it is installed; launchers still work without it,
/// only more slowly or without file associations.
fn refresh_cache(tool: &str, dir: &Path) {
    if !dir.exists() {
        return;
    }
    match Command::new(tool).arg(dir).output() {
        Ok(out) if !out.status.success() => tracing::warn!(
            "{tool} {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            tracing::debug!("{tool} is not installed")
        }
        Err(e) => tracing::warn!("{tool}: {e}"),
    }
}

/// The icon sources of a workspace's shown resources: each icon set (a
/// resource's, or a file extension's) by its key
/// ([`source_key_of_digests`]), with the stored files to render it from.
struct IconSources {
    resources: BTreeMap<String, String>,
    extensions: BTreeMap<(String, String), String>,
    files: BTreeMap<String, Vec<PathBuf>>,
}

type ByResource = (
    BTreeMap<String, Rendered>,
    BTreeMap<(String, String), Rendered>,
);

impl IconSources {
    /// Keys the stored icon files of every shown resource (hidden ones have
    /// no files on the desktop) by the hashes the record keeps of them, so
    /// an unchanged workspace is synced without reading one; a file whose
    /// hash the record lacks is read and hashed here. A set none of whose
    /// files is stored has no source: its entry gets a generic icon.
    fn read(store: &Store, record: &WorkspaceRecord, feed: &Feed) -> IconSources {
        let mut out = IconSources {
            resources: BTreeMap::new(),
            extensions: BTreeMap::new(),
            files: BTreeMap::new(),
        };
        let mut add = |icons: &[radc_feed::Icon]| -> Option<String> {
            let mut paths = Vec::new();
            let mut digests = Vec::new();
            for icon in icons {
                let Some(url) = icon.url.as_ref().map(Url::as_str) else {
                    continue;
                };
                let Some(path) = store.file_path(record, url) else {
                    continue;
                };
                let digest = match store.digest(record, url) {
                    Some(digest) => digest,
                    None => match fs::read(&path) {
                        Ok(bytes) => Sha256::digest(&bytes).into(),
                        Err(_) => continue,
                    },
                };
                paths.push(path);
                digests.push(digest);
            }
            if paths.is_empty() {
                return None;
            }
            let key = source_key_of_digests(&digests, &THEME_SIZES, &Limits::default());
            out.files.entry(key.clone()).or_insert(paths);
            Some(key)
        };
        let mut resources = BTreeMap::new();
        let mut extensions = BTreeMap::new();
        for resource in feed.resources.iter().filter(|r| is_shown(record, r)) {
            if let Some(key) = add(&resource.icons) {
                resources.insert(resource.id.clone(), key);
            }
            for ext in &resource.file_extensions {
                if let Some(key) = add(&ext.icons) {
                    let id = (resource.id.clone(), ext.name.to_ascii_lowercase());
                    extensions.insert(id, key);
                }
            }
        }
        out.resources = resources;
        out.extensions = extensions;
        out
    }

    fn keys(&self) -> BTreeSet<String> {
        self.files.keys().cloned().collect()
    }

    /// The icons by resource and by (resource, extension), from the icons
    /// by source.
    fn by_resource(&self, icons: &BTreeMap<String, Rendered>) -> ByResource {
        let pick = |key: &String| icons.get(key).cloned().unwrap_or_default();
        (
            self.resources
                .iter()
                .map(|(id, key)| (id.clone(), pick(key)))
                .collect(),
            self.extensions
                .iter()
                .map(|(id, key)| (id.clone(), pick(key)))
                .collect(),
        )
    }

    /// Renders the icon sets of `keys` for the theme, spread over the
    /// machine's cores. All of a set's files' frames render together, so
    /// an `.ico` and a larger PNG complement each other; a set none of
    /// whose files decodes renders nothing.
    fn render(&self, keys: &BTreeSet<String>) -> BTreeMap<String, Vec<(u32, Vec<u8>)>> {
        let keys: Vec<&String> = keys.iter().collect();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = keys.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let workers: Vec<_> = keys
                .chunks(chunk)
                .map(|keys| {
                    scope.spawn(move || {
                        keys.iter()
                            .map(|key| ((*key).clone(), self.render_one(key)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().expect("rendering does not panic"))
                .collect()
        })
    }

    fn render_one(&self, key: &str) -> Vec<(u32, Vec<u8>)> {
        let limits = Limits::default();
        let mut frames = Vec::new();
        for path in self.files.get(key).into_iter().flatten() {
            let decoded = fs::read(path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| icons::decode(&bytes, &limits).map_err(|e| e.to_string()));
            match decoded {
                Ok(decoded) => frames.extend(decoded),
                Err(e) => tracing::debug!("icon {} skipped: {e}", path.display()),
            }
        }
        if frames.is_empty() {
            Vec::new()
        } else {
            icons::render_theme_pngs(&frames, &icons::wanted_sizes(&frames, &THEME_SIZES))
        }
    }
}

/// The system's `*.ext` globs from shared-mime-info's `globs2` files.
struct SystemGlobs(HashMap<String, String>);

impl SystemGlobs {
    /// The `globs2` files read, lowest priority first, so the user's own
    /// database wins.
    fn files(roots: &Roots) -> Vec<PathBuf> {
        let mut dirs: Vec<&PathBuf> = roots.data_dirs.iter().rev().collect();
        dirs.push(&roots.data_home);
        dirs.into_iter()
            .map(|dir| dir.join("mime/globs2"))
            .collect()
    }

    fn load(roots: &Roots) -> SystemGlobs {
        let mut map = HashMap::new();
        for path in Self::files(roots) {
            let Ok(text) = fs::read_to_string(path) else {
                continue;
            };
            for line in text.lines().filter(|l| !l.starts_with('#')) {
                let mut parts = line.splitn(3, ':');
                let (Some(_weight), Some(mime), Some(pattern)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    continue;
                };
                // Our own types must not count as known, or they would stick.
                if mime.starts_with("application/x-radc-") {
                    continue;
                }
                let pattern = pattern.split(':').next().unwrap_or(pattern);
                if let Some(ext) = pattern.strip_prefix("*.")
                    && !ext.contains(['*', '?', '['])
                {
                    map.entry(format!(".{}", ext.to_ascii_lowercase()))
                        .or_insert_with(|| mime.to_owned());
                }
            }
        }
        SystemGlobs(map)
    }

    fn lookup(&self, extension: &str) -> Option<String> {
        self.0.get(&extension.to_ascii_lowercase()).cloned()
    }
}

/// Generated files name the user's workspaces and resources, and only the
/// user's own session reads them: private, like everything radc stores.
/// Written under [`lock`], through temporaries of fixed names that the
/// plan's deletions and sweeps know how to find.
fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    crate::fsutil::write_atomic_locked(path, bytes, crate::fsutil::PRIVATE_FILE)
}

/// Like [`write_atomic`] (same temporary, same mode, same directories) but
/// without its fsyncs: for the files the intent manifest marks as of
/// unknown contents, which [`sync_file_systems`] makes durable at once.
fn write_unsynced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    crate::fsutil::write_atomic_locked_unsynced(path, bytes, crate::fsutil::PRIVATE_FILE)
}
