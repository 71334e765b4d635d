//! Which generated files to write and which to delete, from what radc wrote
//! last time (its manifest) and what it wants now. A refresh that changes
//! nothing writes nothing; a removed resource leaves nothing behind; files
//! radc did not write are never touched, because only manifest entries are
//! ever deleted.
//!
//! A sync may be killed at any instant, so the manifest on disk must always
//! name every file radc may have created, including the temporaries of its
//! atomic writes. A plan is therefore carried out as [`SyncPlan::steps`]:
//! first an *intent* manifest (the old entries plus everything about to be
//! written, with every file about to change or go marked as of unknown
//! contents), then the writes and deletions, then the freedesktop caches,
//! and only then the final manifest. The next sync after a crash rewrites
//! or deletes every entry of unknown contents, which brings the tree, the
//! temporaries and the caches back in line.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::render_cache::RenderCache;

/// The XDG location a generated file lives under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Base {
    /// `$XDG_DATA_HOME/applications`
    Applications,
    /// `$XDG_DATA_HOME/icons`
    Icons,
    /// `$XDG_CONFIG_HOME/menus/applications-merged`
    Menus,
    /// `$XDG_DATA_HOME/desktop-directories`
    DesktopDirectories,
    /// `$XDG_DATA_HOME/mime/packages`
    MimePackages,
}

/// One file radc wants to exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    pub base: Base,
    /// Relative to the base, `/`-separated, built from [`crate::names`].
    pub path: String,
    pub contents: Contents,
}

/// What a generated file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contents {
    /// These bytes.
    Bytes(Vec<u8>),
    /// An icon an earlier sync rendered from the icon source `source` (a
    /// key of the [`RenderCache`]), known only by the hash of its bytes. It
    /// can stand for a file the stored manifest records with that very
    /// hash, and for nothing else: [`unvouched`] names the sources to
    /// render again before [`plan`] is called.
    Rendered { source: String, hash: String },
}

impl Contents {
    /// The bytes, unless the file is only known by its hash.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Contents::Bytes(bytes) => Some(bytes),
            Contents::Rendered { .. } => None,
        }
    }

    /// The hash the manifest records for these contents.
    pub fn hash(&self) -> String {
        match self {
            Contents::Bytes(bytes) => hash(bytes),
            Contents::Rendered { hash, .. } => hash.clone(),
        }
    }
}

impl From<Vec<u8>> for Contents {
    fn from(bytes: Vec<u8>) -> Contents {
        Contents::Bytes(bytes)
    }
}

/// Why no plan could be made: a bug in the caller, never feed input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A path that could escape its base (names are derived through
    /// [`crate::names`], so this is never the feed's doing).
    #[error("generated path {0:?} is not a plain relative path")]
    BadPath(String),
    /// An icon known only by its hash, for a file the manifest does not
    /// record with that hash: its source must be rendered (see
    /// [`unvouched`]).
    #[error("generated file {0:?} must be rendered, the manifest does not vouch for it")]
    Unrendered(String),
}

/// What radc wrote for one workspace: every file and a hash of its
/// contents. `None` means "may exist, contents unknown": a file a sync was
/// about to write or delete when it stopped.
///
/// It also keeps the icons the sync rendered, by source (see
/// [`crate::render_cache`]), so an unchanged icon is not rendered again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub files: BTreeMap<Base, BTreeMap<String, Option<String>>>,
    #[serde(default, skip_serializing_if = "RenderCache::is_empty")]
    pub icons: RenderCache,
}

impl Manifest {
    /// Whether it records no file (what it remembers of icons aside: with
    /// no file to vouch for them they are of no use).
    pub fn is_empty(&self) -> bool {
        self.files.values().all(BTreeMap::is_empty)
    }

    pub fn len(&self) -> usize {
        self.files.values().map(BTreeMap::len).sum()
    }

    /// Whether a sync stopped midway: some file's contents are unknown.
    pub fn is_interrupted(&self) -> bool {
        self.files
            .values()
            .any(|files| files.values().any(Option::is_none))
    }

    /// Whether the manifest records `path` with exactly `hash`.
    pub fn vouches_for(&self, base: Base, path: &str, hash: &str) -> bool {
        matches!(self.get(base, path), Some(Some(h)) if h == hash)
    }

    fn get(&self, base: Base, path: &str) -> Option<&Option<String>> {
        self.files.get(&base)?.get(path)
    }

    fn insert(&mut self, base: Base, path: String, hash: Option<String>) {
        self.files.entry(base).or_default().insert(path, hash);
    }
}

/// The work of one sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncPlan {
    /// New or changed files, and files of unknown contents that are still
    /// wanted.
    pub write: Vec<GeneratedFile>,
    /// Files radc wrote (or may have written) that are no longer wanted.
    pub delete: Vec<(Base, String)>,
    /// The manifest to store before anything is written or deleted: the
    /// previous one with every file in `write` or `delete` marked unknown.
    /// `None` when the plan writes and deletes nothing.
    pub intent: Option<Manifest>,
    /// The manifest to store once the plan is carried out.
    pub manifest: Manifest,
    /// Whether `manifest` differs from the previous one (an unchanged
    /// resync stores nothing).
    pub manifest_changed: bool,
}

/// One step of carrying out a plan, in the order [`SyncPlan::steps`] gives.
/// Only [`Step::StoreManifest`] and [`Step::Flush`] need to reach the disk
/// before the next step: a crash, even a power loss, anywhere else leaves
/// files the stored manifest marks as of unknown contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    /// Remove the temporaries a killed sync may have left of the manifest
    /// and of `mimeapps.list`: those two files have fixed names, are not
    /// covered by the manifest, and are replaced through a temporary of a
    /// fixed name.
    SweepTemps,
    /// Replace the stored manifest atomically (through its temporary) and
    /// durably (fsync of the file and of its directory), or remove it if
    /// the manifest is empty.
    StoreManifest(&'a Manifest),
    /// Replace the file atomically, through a temporary beside it whose
    /// name is derived from the file's alone. It need not be durable yet:
    /// the stored manifest marks it as of unknown contents until after the
    /// next [`Step::Flush`].
    Write(&'a GeneratedFile),
    /// Remove the file and its temporary, whichever exist.
    Delete(Base, &'a str),
    /// Bring `mimeapps.list` in line with the wanted entries (always: it is
    /// compared before it is written), and rebuild the caches of the bases
    /// the plan touched.
    Publish { applications: bool, mime: bool },
    /// Make every write and deletion so far durable (one `syncfs`, say),
    /// before the final manifest claims their results.
    Flush,
}

impl SyncPlan {
    /// The plan as an ordered list of steps. Carried out in this order and
    /// killed anywhere, the stored manifest names every file (and
    /// temporary) radc may have created, and claims known contents only for
    /// files that have them; the next complete plan then converges.
    pub fn steps(&self) -> Vec<Step<'_>> {
        let mut steps = vec![Step::SweepTemps];
        steps.extend(self.intent.as_ref().map(Step::StoreManifest));
        steps.extend(self.write.iter().map(Step::Write));
        steps.extend(self.delete.iter().map(|(b, p)| Step::Delete(*b, p)));
        let touched = |base| {
            self.write.iter().any(|f| f.base == base) || self.delete.iter().any(|(b, _)| *b == base)
        };
        let mime = touched(Base::MimePackages);
        steps.push(Step::Publish {
            // Entries name MIME types, so a new type changes their cache too.
            applications: touched(Base::Applications) || mime,
            mime,
        });
        // Last, so that a sync killed before its caches were rebuilt still
        // has files of unknown contents (or still-listed deletions) and the
        // next one rebuilds them.
        if self.manifest_changed {
            if !self.write.is_empty() || !self.delete.is_empty() {
                steps.push(Step::Flush);
            }
            steps.push(Step::StoreManifest(&self.manifest));
        }
        steps
    }
}

/// The icon sources whose files in `wanted` are known only by a hash the
/// manifest does not record for them (a new file, one of unknown contents
/// after a killed sync, one whose bytes differ): they must be rendered
/// before `wanted` can be [`plan`]ned.
pub fn unvouched(previous: &Manifest, wanted: &[GeneratedFile]) -> BTreeSet<String> {
    wanted
        .iter()
        .filter_map(|file| match &file.contents {
            Contents::Rendered { source, hash }
                if !previous.vouches_for(file.base, &file.path, hash) =>
            {
                Some(source.clone())
            }
            _ => None,
        })
        .collect()
}

/// Compares what was written with what is wanted, and stores `icons` (what
/// the sync remembers of rendered icons) in the final manifest. Fails on a
/// generated path that could escape its base, or a file known only by a
/// hash the manifest does not vouch for: both bugs in the caller.
pub fn plan(
    previous: &Manifest,
    wanted: Vec<GeneratedFile>,
    icons: RenderCache,
) -> Result<SyncPlan, PlanError> {
    let mut out = SyncPlan::default();
    for file in wanted {
        check_path(&file.path)?;
        let hash = file.contents.hash();
        if !previous.vouches_for(file.base, &file.path, &hash) {
            if file.contents.bytes().is_none() {
                return Err(PlanError::Unrendered(file.path));
            }
            out.write.push(file.clone());
        }
        out.manifest.insert(file.base, file.path, Some(hash));
    }
    if !out.manifest.is_empty() {
        out.manifest.icons = icons;
    }
    for (base, files) in &previous.files {
        for path in files.keys() {
            if out.manifest.get(*base, path).is_none() {
                out.delete.push((*base, path.clone()));
            }
        }
    }
    if !out.write.is_empty() || !out.delete.is_empty() {
        let mut intent = previous.clone();
        let changing = out.write.iter().map(|f| (f.base, &f.path));
        for (base, path) in changing.chain(out.delete.iter().map(|(b, p)| (*b, p))) {
            intent.insert(base, path.clone(), None);
        }
        out.intent = Some(intent);
    }
    out.manifest_changed = out.manifest != *previous;
    Ok(out)
}

fn check_path(path: &str) -> Result<(), PlanError> {
    let plain = !path.is_empty()
        && !path.starts_with('/')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\0'));
    if plain {
        Ok(())
    } else {
        Err(PlanError::BadPath(path.to_owned()))
    }
}

/// The hash a manifest records for a file's bytes: SHA-256, hex.
pub fn hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::TestCaseError;
    use std::collections::HashMap;

    /// Plans without icons to remember; `render_cache` tests those.
    fn plan(previous: &Manifest, wanted: Vec<GeneratedFile>) -> Result<SyncPlan, PlanError> {
        super::plan(previous, wanted, RenderCache::default())
    }

    fn file(base: Base, path: &str, contents: &str) -> GeneratedFile {
        GeneratedFile {
            base,
            path: path.into(),
            contents: contents.as_bytes().to_vec().into(),
        }
    }

    #[test]
    fn unchanged_writes_nothing_and_removed_is_deleted() {
        let first = plan(
            &Manifest::default(),
            vec![
                file(Base::Applications, "radc-a.desktop", "A"),
                file(Base::Icons, "hicolor/32x32/apps/radc-a.png", "png"),
            ],
        )
        .unwrap();
        assert_eq!(first.write.len(), 2);
        assert!(first.delete.is_empty());

        let again = plan(
            &first.manifest,
            vec![
                file(Base::Applications, "radc-a.desktop", "A"),
                file(Base::Icons, "hicolor/32x32/apps/radc-a.png", "png"),
            ],
        )
        .unwrap();
        assert!(again.write.is_empty() && again.delete.is_empty());
        assert_eq!(again.manifest, first.manifest);

        let changed = plan(
            &first.manifest,
            vec![file(Base::Applications, "radc-a.desktop", "A renamed")],
        )
        .unwrap();
        assert_eq!(changed.write.len(), 1);
        assert_eq!(
            changed.delete,
            vec![(Base::Icons, "hicolor/32x32/apps/radc-a.png".to_string())]
        );
        let gone = plan(&changed.manifest, vec![]).unwrap();
        assert_eq!(gone.delete.len(), 1);
        assert!(gone.manifest.is_empty());
    }

    #[test]
    fn paths_that_could_escape_are_refused() {
        for bad in ["", "/etc/passwd", "../x", "a/../b", "a//b", "./a", "a\0b"] {
            assert!(
                plan(&Manifest::default(), vec![file(Base::Menus, bad, "x")]).is_err(),
                "{bad:?}"
            );
        }
    }

    fn arb_files() -> impl Strategy<Value = Vec<GeneratedFile>> {
        prop::collection::btree_map(("[a-c]{1,2}", 0u8..4), "[xy]{0,2}", 0..6).prop_map(|m| {
            m.into_iter()
                .map(|((name, base), contents)| GeneratedFile {
                    base: [
                        Base::Applications,
                        Base::Icons,
                        Base::Menus,
                        Base::MimePackages,
                    ][base as usize],
                    path: format!("radc-{name}"),
                    contents: contents.into_bytes().into(),
                })
                .collect()
        })
    }

    proptest! {
        /// Carrying out each plan on a simulated tree always leaves exactly
        /// the wanted files, and touches nothing it did not write.
        #[test]
        fn plans_converge(rounds in prop::collection::vec(arb_files(), 1..5)) {
            let foreign = (Base::Applications, "someone-else.desktop".to_string());
            let mut tree: HashMap<(Base, String), Vec<u8>> = HashMap::new();
            tree.insert(foreign.clone(), b"not ours".to_vec());
            let mut manifest = Manifest::default();
            for wanted in rounds {
                let p = plan(&manifest, wanted.clone()).unwrap();
                for f in &p.write {
                    tree.insert((f.base, f.path.clone()), f.contents.bytes().unwrap().to_vec());
                }
                for key in &p.delete {
                    tree.remove(key);
                }
                manifest = p.manifest;
                let expected: HashMap<_, _> = wanted
                    .iter()
                    .map(|f| ((f.base, f.path.clone()), f.contents.bytes().unwrap().to_vec()))
                    .chain([(foreign.clone(), b"not ours".to_vec())])
                    .collect();
                prop_assert_eq!(&tree, &expected);
                prop_assert_eq!(manifest.len(), wanted.len());
                let idle = plan(&manifest, wanted).unwrap();
                prop_assert!(idle.write.is_empty() && idle.delete.is_empty());
            }
        }
    }

    #[test]
    fn intent_marks_every_changing_file_unknown() {
        let first = plan(
            &Manifest::default(),
            vec![
                file(Base::Applications, "radc-a.desktop", "A"),
                file(Base::Icons, "radc-a.png", "png"),
                file(Base::Menus, "radc.menu", "menu"),
            ],
        )
        .unwrap();
        let intent = first.intent.as_ref().unwrap();
        assert_eq!(intent.len(), 3);
        assert!(
            intent
                .files
                .values()
                .flat_map(|f| f.values())
                .all(Option::is_none)
        );
        assert!(intent.is_interrupted() && !first.manifest.is_interrupted());

        let next = plan(
            &first.manifest,
            vec![
                file(Base::Applications, "radc-a.desktop", "A changed"),
                file(Base::Icons, "radc-a.png", "png"),
                file(Base::Applications, "radc-b.desktop", "B"),
            ],
        )
        .unwrap();
        let intent = next.intent.as_ref().unwrap();
        // Old and new files together; the unchanged icon keeps its hash.
        assert_eq!(intent.len(), 4);
        assert_eq!(
            intent.get(Base::Applications, "radc-a.desktop"),
            Some(&None)
        );
        assert_eq!(
            intent.get(Base::Applications, "radc-b.desktop"),
            Some(&None)
        );
        assert_eq!(intent.get(Base::Menus, "radc.menu"), Some(&None));
        assert_eq!(
            intent.get(Base::Icons, "radc-a.png"),
            first.manifest.get(Base::Icons, "radc-a.png")
        );
        let order: Vec<_> = next.steps();
        assert_eq!(order.first(), Some(&Step::SweepTemps));
        assert_eq!(order[1], Step::StoreManifest(intent));
        assert_eq!(order.last(), Some(&Step::StoreManifest(&next.manifest)));
        assert!(order.contains(&Step::Publish {
            applications: true,
            mime: false
        }));
    }

    #[test]
    fn an_unchanged_resync_stores_nothing() {
        let wanted = vec![file(Base::Applications, "radc-a.desktop", "A")];
        let first = plan(&Manifest::default(), wanted.clone()).unwrap();
        let again = plan(&first.manifest, wanted).unwrap();
        assert_eq!(
            again.steps(),
            vec![
                Step::SweepTemps,
                Step::Publish {
                    applications: false,
                    mime: false
                }
            ]
        );
    }

    #[test]
    fn a_file_of_unknown_contents_is_rewritten_or_deleted() {
        let mut previous = Manifest::default();
        previous.insert(Base::Applications, "radc-a.desktop".into(), None);
        previous.insert(Base::Icons, "radc-a.png".into(), None);
        let next = plan(
            &previous,
            vec![file(Base::Applications, "radc-a.desktop", "A")],
        )
        .unwrap();
        assert_eq!(next.write.len(), 1);
        assert_eq!(next.delete, vec![(Base::Icons, "radc-a.png".to_string())]);
    }

    #[test]
    fn old_manifests_are_still_read() {
        let old = r#"{"files":{"applications":{"radc-a.desktop":"00ff"}}}"#;
        let manifest: Manifest = serde_json::from_str(old).unwrap();
        assert_eq!(
            manifest.get(Base::Applications, "radc-a.desktop"),
            Some(&Some("00ff".to_string()))
        );
        let json = serde_json::to_string(&manifest).unwrap();
        assert_eq!(json, old);
    }

    /// The files of one workspace's sync as a sync could leave them on
    /// disk, with the freedesktop caches as of their last rebuild.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Disk {
        files: BTreeMap<(Base, String), Vec<u8>>,
        temps: BTreeSet<(Base, String)>,
        manifest: Option<Manifest>,
        manifest_temp: bool,
        /// The desktop ids listed under `[Added Associations]`.
        associations: BTreeSet<String>,
        associations_temp: bool,
        applications_cache: BTreeMap<String, Vec<u8>>,
        mime_cache: BTreeMap<String, Vec<u8>>,
        /// Files written or deleted since the last flush, with what a power
        /// loss may leave of them: `None` for a write (torn contents, and
        /// its temporary back), the old contents for a deletion.
        volatile: BTreeMap<(Base, String), Option<Vec<u8>>>,
    }

    const FOREIGN: &str = "someone-else.desktop";

    impl Disk {
        fn new() -> Disk {
            let mut files = BTreeMap::new();
            files.insert(
                (Base::Applications, FOREIGN.to_string()),
                b"not ours".to_vec(),
            );
            let mut disk = Disk {
                files,
                temps: BTreeSet::new(),
                manifest: None,
                manifest_temp: false,
                associations: BTreeSet::new(),
                associations_temp: false,
                applications_cache: BTreeMap::new(),
                mime_cache: BTreeMap::new(),
                volatile: BTreeMap::new(),
            };
            disk.applications_cache = disk.snapshot(Base::Applications);
            disk
        }

        fn snapshot(&self, base: Base) -> BTreeMap<String, Vec<u8>> {
            self.files
                .iter()
                .filter(|((b, _), _)| *b == base)
                .map(|((_, p), c)| (p.clone(), c.clone()))
                .collect()
        }

        /// Carries out one sync the way `radc_subscribe::desktop` does, one
        /// primitive file operation at a time, and stops when `budget`
        /// operations are spent (a kill). Returns whether it completed.
        fn sync(&mut self, wanted: &[GeneratedFile], budget: &mut usize) -> bool {
            let previous = self.manifest.clone().unwrap_or_default();
            let plan = plan(&previous, wanted.to_vec()).unwrap();
            let mut op = || {
                if *budget == 0 {
                    return false;
                }
                *budget -= 1;
                true
            };
            for step in plan.steps() {
                match step {
                    Step::SweepTemps => {
                        if !op() {
                            return false;
                        }
                        self.manifest_temp = false;
                        if !op() {
                            return false;
                        }
                        self.associations_temp = false;
                    }
                    Step::StoreManifest(m) if m.is_empty() => {
                        if !op() {
                            return false;
                        }
                        self.manifest = None;
                    }
                    Step::StoreManifest(m) => {
                        if !op() {
                            return false;
                        }
                        self.manifest_temp = true;
                        if !op() {
                            return false;
                        }
                        self.manifest = Some(m.clone());
                        self.manifest_temp = false;
                    }
                    Step::Write(f) => {
                        let key = (f.base, f.path.clone());
                        if !op() {
                            return false;
                        }
                        self.temps.insert(key.clone());
                        if !op() {
                            return false;
                        }
                        self.temps.remove(&key);
                        self.files
                            .insert(key.clone(), f.contents.bytes().unwrap().to_vec());
                        self.volatile.insert(key, None);
                    }
                    Step::Delete(base, path) => {
                        let key = (base, path.to_string());
                        if !op() {
                            return false;
                        }
                        if let Some(old) = self.files.remove(&key) {
                            self.volatile.entry(key.clone()).or_insert(Some(old));
                        }
                        if !op() {
                            return false;
                        }
                        self.temps.remove(&key);
                    }
                    Step::Flush => {
                        if !op() {
                            return false;
                        }
                        self.volatile.clear();
                    }
                    Step::Publish { applications, mime } => {
                        let wanted_ids = associations(wanted);
                        if self.associations != wanted_ids {
                            if !op() {
                                return false;
                            }
                            self.associations_temp = true;
                            if !op() {
                                return false;
                            }
                            self.associations = wanted_ids;
                            self.associations_temp = false;
                        }
                        if mime {
                            if !op() {
                                return false;
                            }
                            self.mime_cache = self.snapshot(Base::MimePackages);
                        }
                        if applications {
                            if !op() {
                                return false;
                            }
                            self.applications_cache = self.snapshot(Base::Applications);
                        }
                    }
                }
            }
            true
        }

        /// The disk after a power loss: the manifest as last stored (it is
        /// made durable each time), but writes and deletions since the last
        /// flush torn or undone.
        fn power_loss(&self) -> Disk {
            let mut disk = self.clone();
            for (key, back) in std::mem::take(&mut disk.volatile) {
                match back {
                    None => {
                        disk.files.insert(key.clone(), b"torn".to_vec());
                        disk.temps.insert(key);
                    }
                    Some(old) => {
                        disk.files.insert(key, old);
                    }
                }
            }
            disk
        }

        /// What must hold at every instant: the stored manifest names every
        /// file and temporary of ours, and a known hash is the truth.
        fn check_covered(&self) -> Result<(), TestCaseError> {
            let manifest = self.manifest.clone().unwrap_or_default();
            for ((base, path), contents) in &self.files {
                if path == FOREIGN {
                    prop_assert_eq!(contents, &b"not ours".to_vec());
                    continue;
                }
                match manifest.get(*base, path) {
                    None => prop_assert!(false, "{base:?}/{path} exists unrecorded"),
                    Some(Some(h)) => prop_assert_eq!(h, &hash(contents)),
                    Some(None) => {}
                }
            }
            for (base, files) in &manifest.files {
                for (path, h) in files {
                    if h.is_some() {
                        prop_assert!(
                            self.files.contains_key(&(*base, path.clone())),
                            "{base:?}/{path} is recorded as written but missing"
                        );
                    }
                }
            }
            for (base, path) in &self.temps {
                prop_assert_eq!(
                    manifest.get(*base, path),
                    Some(&None),
                    "temporary of {:?}/{} unrecorded",
                    base,
                    path
                );
            }
            Ok(())
        }

        /// What must hold after a completed sync of `wanted`.
        fn check_converged(&self, wanted: &[GeneratedFile]) -> Result<(), TestCaseError> {
            let mut expected: BTreeMap<_, _> = wanted
                .iter()
                .map(|f| {
                    (
                        (f.base, f.path.clone()),
                        f.contents.bytes().unwrap().to_vec(),
                    )
                })
                .collect();
            expected.insert(
                (Base::Applications, FOREIGN.to_string()),
                b"not ours".to_vec(),
            );
            prop_assert_eq!(&self.files, &expected);
            prop_assert!(self.temps.is_empty(), "temporaries left: {:?}", self.temps);
            prop_assert!(!self.manifest_temp && !self.associations_temp);
            let clean = plan(&Manifest::default(), wanted.to_vec())
                .unwrap()
                .manifest;
            prop_assert_eq!(self.manifest.clone().unwrap_or_default(), clean);
            prop_assert!(wanted.is_empty() == self.manifest.is_none());
            prop_assert_eq!(&self.associations, &associations(wanted));
            prop_assert_eq!(&self.applications_cache, &self.snapshot(Base::Applications));
            prop_assert_eq!(&self.mime_cache, &self.snapshot(Base::MimePackages));
            self.check_covered()
        }
    }

    fn associations(wanted: &[GeneratedFile]) -> BTreeSet<String> {
        wanted
            .iter()
            .filter(|f| f.base == Base::Applications)
            .map(|f| f.path.clone())
            .collect()
    }

    fn operations(disk: &Disk, wanted: &[GeneratedFile]) -> usize {
        let mut budget = usize::MAX;
        assert!(disk.clone().sync(wanted, &mut budget));
        usize::MAX - budget
    }

    #[test]
    fn a_deletion_cut_short_is_not_taken_for_a_kept_file() {
        let wanted = vec![file(Base::Applications, "radc-a.desktop", "A")];
        let mut disk = Disk::new();
        assert!(disk.sync(&wanted, &mut usize::MAX.clone()));
        // Killed right after the entry was deleted, before the manifest
        // forgot it (operations: two sweeps, the intent's temporary and
        // rename, the deletion); then the feed brings it back unchanged.
        let mut killed = disk.clone();
        assert!(!killed.sync(&[], &mut 5));
        assert_eq!(killed.files.len(), 1, "only the foreign entry: {killed:?}");
        killed.check_covered().unwrap();
        assert!(killed.sync(&wanted, &mut usize::MAX.clone()));
        killed.check_converged(&wanted).unwrap();
    }

    proptest! {
        /// A sync killed after any number of file operations, followed by
        /// one complete sync (of the same files, others, or none as in an
        /// unsubscribe), leaves exactly the wanted files, no temporaries, and
        /// caches and associations that match; and at every kill the stored
        /// manifest covered everything on disk.
        #[test]
        fn a_kill_at_any_step_converges_after_one_more_sync(
            before in arb_files(),
            during in arb_files(),
            after in arb_files(),
        ) {
            let mut disk = Disk::new();
            prop_assert!(disk.sync(&before, &mut usize::MAX.clone()));
            disk.check_converged(&before)?;
            let total = operations(&disk, &during);
            for kill_at in 0..=total {
                let mut killed = disk.clone();
                let completed = killed.sync(&during, &mut kill_at.clone());
                prop_assert_eq!(completed, kill_at == total);
                for crashed in [killed.clone(), killed.power_loss()] {
                    crashed.check_covered()?;
                    for next in [&during, &after, &Vec::new()] {
                        let mut recovered = crashed.clone();
                        prop_assert!(recovered.sync(next, &mut usize::MAX.clone()));
                        recovered.check_converged(next)?;
                    }
                }
            }
        }

        /// Kills in a row (the next sync dies too), some with the power,
        /// still converge.
        #[test]
        fn kills_in_a_row_converge(
            rounds in prop::collection::vec((arb_files(), 0usize..40, any::<bool>()), 1..5),
            last in arb_files(),
        ) {
            let mut disk = Disk::new();
            for (wanted, kill_at, power_lost) in rounds {
                disk.sync(&wanted, &mut kill_at.clone());
                if power_lost {
                    disk = disk.power_loss();
                }
                disk.check_covered()?;
            }
            prop_assert!(disk.sync(&last, &mut usize::MAX.clone()));
            disk.check_converged(&last)?;
        }
    }
}
