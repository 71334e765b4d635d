//! Puts a subscribed workspace on the desktop and takes it off again: the
//! I/O side of [`radc_desktop`]. The files come from
//! [`radc_desktop::layout`], the decision of what to write and delete from
//! [`radc_desktop::sync`]; this module reads the icons and the system's
//! MIME globs, writes atomically, keeps the manifest, and runs the
//! freedesktop cache tools when they exist.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use radc_desktop::icons::{self, Limits, THEME_SIZES};
use radc_desktop::layout::{Context, Rendered, workspace_files};
use radc_desktop::names::workspace_stem;
use radc_desktop::sync::{Base, Manifest, Step, plan};
use radc_feed::{Feed, IconKind};

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
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub written: usize,
    pub deleted: usize,
}

/// Brings the desktop files of a workspace in line with its stored feed.
pub fn sync_workspace(
    roots: &Roots,
    store: &Store,
    record: &WorkspaceRecord,
    feed: &Feed,
) -> Result<SyncReport, String> {
    let program = std::env::current_exe()
        .map_err(|e| format!("cannot find the radc executable: {e}"))?
        .to_string_lossy()
        .into_owned();
    let icons = render_icons(store, record, feed);
    let globs = SystemGlobs::load(roots);
    let known = |ext: &str| globs.lookup(ext);
    let files = workspace_files(
        feed,
        &Context {
            program: &program,
            shown: &|r| is_shown(record, r),
            known_mime_type: &known,
            icons: &icons.resources,
            extension_icons: &icons.extensions,
        },
    )
    .map_err(|e| e.to_string())?;
    apply(roots, &record.id, files, record.default_handlers)
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
    let report = apply(roots, workspace_id, Vec::new(), false)?;
    // The plan removes a manifest that listed files; one that listed none
    // (written by an older radc) goes here.
    let path = roots.manifest_path(workspace_id);
    remove_with_temp(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(report)
}

/// Carries out the sync plan of a workspace, step by step in the order
/// [`SyncPlan::steps`](radc_desktop::sync::SyncPlan::steps) gives, which
/// keeps the stored manifest a cover of every file (and temporary) radc
/// may have created, whenever the process dies.
fn apply(
    roots: &Roots,
    workspace_id: &str,
    files: Vec<radc_desktop::sync::GeneratedFile>,
    defaults: bool,
) -> Result<SyncReport, String> {
    let manifest_path = roots.manifest_path(workspace_id);
    let _lock = lock(&manifest_path)?;
    let previous: Manifest = match fs::read(&manifest_path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| format!("{} is damaged ({e}); remove it", manifest_path.display()))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Manifest::default(),
        Err(e) => return Err(format!("{}: {e}", manifest_path.display())),
    };
    if previous.is_interrupted() {
        tracing::info!("finishing the desktop sync of {workspace_id:?} that was interrupted");
    }
    let associations = associations(&files);
    let plan = plan(&previous, files).map_err(|e| e.to_string())?;
    let mimeapps = roots.config_home.join("mimeapps.list");
    let failed = |path: &Path| {
        let path = path.to_owned();
        move |e: io::Error| format!("{}: {e}", path.display())
    };
    // Directories whose deletions must be durable before the manifest
    // forgets the deleted files.
    let mut deleted_from: BTreeSet<PathBuf> = BTreeSet::new();
    for step in plan.steps() {
        match step {
            Step::SweepTemps => {
                remove_temp(&manifest_path).map_err(failed(&manifest_path))?;
                remove_temp(&mimeapps).map_err(failed(&mimeapps))?;
            }
            Step::StoreManifest(manifest) => {
                for dir in std::mem::take(&mut deleted_from) {
                    sync_dir(&dir).map_err(failed(&dir))?;
                }
                if manifest.is_empty() {
                    remove_with_temp(&manifest_path).map_err(failed(&manifest_path))?;
                } else {
                    let json = serde_json::to_vec_pretty(manifest).expect("manifests serialise");
                    write_atomic(&manifest_path, &json).map_err(failed(&manifest_path))?;
                }
            }
            Step::Write(file) => {
                let path = roots.base(file.base).join(&file.path);
                write_atomic(&path, &file.contents).map_err(failed(&path))?;
            }
            Step::Delete(base, rel) => {
                let path = roots.base(base).join(rel);
                if remove_with_temp(&path).map_err(failed(&path))?
                    && let Some(dir) = path.parent()
                {
                    deleted_from.insert(dir.to_owned());
                }
            }
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

fn sync_dir(dir: &Path) -> io::Result<()> {
    match fs::File::open(dir) {
        Ok(file) => file.sync_all(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// MIME type → desktop ids, from the `MimeType=` keys of generated entries.
fn associations(files: &[radc_desktop::sync::GeneratedFile]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in files.iter().filter(|f| f.base == Base::Applications) {
        let text = String::from_utf8_lossy(&file.contents);
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

/// Rendered icons of a workspace: per resource, and per (resource, file
/// extension) for the documents it opens.
struct RenderedIcons {
    resources: BTreeMap<String, Rendered>,
    extensions: BTreeMap<(String, String), Rendered>,
}

/// Each icon set rendered for the theme: all its files' frames together,
/// so an `.ico` and a larger PNG complement each other. An icon that cannot
/// be read is skipped (the entry gets a generic icon).
fn render_icons(store: &Store, record: &WorkspaceRecord, feed: &Feed) -> RenderedIcons {
    let render = |icons: &[radc_feed::Icon]| -> Option<Rendered> {
        let limits = Limits::default();
        let mut frames = Vec::new();
        for icon in icons {
            let Some(path) = icon
                .url
                .as_ref()
                .and_then(|u| store.file_path(record, u.as_str()))
            else {
                continue;
            };
            let Ok(bytes) = fs::read(&path) else { continue };
            match icons::decode(&bytes, &limits) {
                Ok(decoded) => frames.extend(decoded),
                Err(e) => tracing::debug!(
                    raw = matches!(icon.kind, IconKind::Raw),
                    "icon {} skipped: {e}",
                    path.display()
                ),
            }
        }
        (!frames.is_empty()).then(|| icons::render_theme_pngs(&frames, &THEME_SIZES))
    };
    let mut out = RenderedIcons {
        resources: BTreeMap::new(),
        extensions: BTreeMap::new(),
    };
    for resource in &feed.resources {
        if let Some(rendered) = render(&resource.icons) {
            out.resources.insert(resource.id.clone(), rendered);
        }
        for ext in &resource.file_extensions {
            if let Some(rendered) = render(&ext.icons) {
                out.extensions.insert(
                    (resource.id.clone(), ext.name.to_ascii_lowercase()),
                    rendered,
                );
            }
        }
    }
    out
}

/// The system's `*.ext` globs from shared-mime-info's `globs2` files.
struct SystemGlobs(HashMap<String, String>);

impl SystemGlobs {
    fn load(roots: &Roots) -> SystemGlobs {
        let mut map = HashMap::new();
        // Lowest priority first, so the user's own database wins.
        let mut dirs: Vec<&PathBuf> = roots.data_dirs.iter().rev().collect();
        dirs.push(&roots.data_home);
        for dir in dirs {
            let Ok(text) = fs::read_to_string(dir.join("mime/globs2")) else {
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
