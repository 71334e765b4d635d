//! Icons are rendered once per source: a resync of an unchanged workspace
//! touches no file at all, a changed icon replaces exactly that resource's
//! icon files, and a missing or damaged render cache in the manifest only
//! costs a full render, never a wrong file. Everything compared with a
//! clean sync of the same state into fresh XDG directories.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use radc_desktop::icons::{Frame, Limits, THEME_SIZES, render_theme_pngs};
use radc_desktop::names::resource_stem;
use radc_desktop::render_cache::source_key;
use radc_subscribe::desktop::{Roots, SyncReport, sync_workspace};
use radc_subscribe::store::{Download, FileKind, Store, WorkspaceRecord};
use url::Url;

const WORKSPACE: &str = "icons.test";
const RESOURCES: usize = 3;

fn feed() -> String {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="utf-8"?>
<ResourceCollection SchemaVersion="2.1" xmlns="http://schemas.microsoft.com/ts/2007/05/tswf">
  <Publisher ID="icons.test" Name="Icon Apps"><Resources>
"#,
    );
    for i in 0..RESOURCES {
        xml.push_str(&format!(
            r#"<Resource ID="app{i}" Title="App {i}" Type="RemoteApp">
  <Icons><Icon32 Dimensions="32x32" FileType="Png" FileURL="/icons/app{i}.png"/></Icons>
  <FileExtensions><FileExtension Name=".radcicon{i}">
    <FileAssociationIcons><Icon32 Dimensions="32x32" FileType="Png" FileURL="/icons/doc{i}.png"/></FileAssociationIcons>
  </FileExtension></FileExtensions>
</Resource>
"#
        ));
    }
    xml.push_str("</Resources></Publisher></ResourceCollection>\n");
    xml
}

/// A 32×32 PNG of its own colour.
fn icon(seed: u8) -> Vec<u8> {
    let mut rgba = Vec::new();
    for p in 0..32 * 32 {
        rgba.extend_from_slice(&[seed, (p % 256) as u8, 255 - seed, 255]);
    }
    let frame = Frame::from_rgba(32, 32, rgba).unwrap();
    render_theme_pngs(&[frame], &[32]).remove(0).1
}

struct Setup {
    dir: tempfile::TempDir,
    store: Store,
    feed: radc_feed::Feed,
    xml: String,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(&dir.path().join("config"), &dir.path().join("data"));
        let xml = feed();
        let base = Url::parse("https://icons.test/RDWeb/Feed/webfeed.aspx").unwrap();
        let feed = radc_feed::parse(xml.as_bytes(), &base).unwrap();
        Setup {
            dir,
            store,
            feed,
            xml,
        }
    }

    /// Stores the workspace with these app icon colours (document icons
    /// stay the same).
    fn commit(&self, colours: &[u8; RESOURCES]) -> WorkspaceRecord {
        let mut downloads = Vec::new();
        for (i, colour) in colours.iter().enumerate() {
            downloads.push(Download {
                url: format!("https://icons.test/icons/app{i}.png"),
                kind: FileKind::Png,
                bytes: icon(*colour),
            });
            downloads.push(Download {
                url: format!("https://icons.test/icons/doc{i}.png"),
                kind: FileKind::Png,
                bytes: icon(200 + i as u8),
            });
        }
        let base = "https://icons.test/RDWeb/Feed/webfeed.aspx";
        self.store
            .commit(
                WorkspaceRecord::new(WORKSPACE, "Icon Apps", base, 0),
                self.xml.as_bytes(),
                &downloads,
            )
            .unwrap()
    }

    fn roots(&self, name: &str) -> Roots {
        let root = self.dir.path().join(name);
        Roots {
            data_home: root.join("share"),
            config_home: root.join("xdg"),
            data_dirs: vec!["/usr/share".into()],
        }
    }

    fn sync(&self, roots: &Roots, record: &WorkspaceRecord) -> SyncReport {
        sync_workspace(roots, &self.store, record, &self.feed).unwrap()
    }

    /// What a sync of `record` into fresh directories leaves.
    fn clean(&self, name: &str, record: &WorkspaceRecord) -> BTreeMap<String, Vec<u8>> {
        let roots = self.roots(name);
        self.sync(&roots, record);
        contents(&roots)
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        }
        out.push(path);
    }
}

/// Every file and directory under the XDG roots, relative to them.
fn tree(roots: &Roots) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for (name, root) in [("share", &roots.data_home), ("xdg", &roots.config_home)] {
        let mut paths = Vec::new();
        walk(root, &mut paths);
        for path in paths {
            let rel = path.strip_prefix(root).unwrap().to_string_lossy();
            out.push((format!("{name}/{rel}"), path));
        }
    }
    out
}

/// Inode, modification and change times of everything under the roots:
/// any write, replacement, removal or mode change shows.
fn stamps(roots: &Roots) -> BTreeMap<String, (u64, i64, i64, i64, i64)> {
    tree(roots)
        .into_iter()
        .map(|(rel, path)| {
            let m = std::fs::symlink_metadata(&path).unwrap();
            (
                rel,
                (
                    m.ino(),
                    m.mtime(),
                    m.mtime_nsec(),
                    m.ctime(),
                    m.ctime_nsec(),
                ),
            )
        })
        .collect()
}

/// Every file's bytes, but for the stamp of the last sync: that names the
/// manifest's inode and time, which each store of it changes.
fn contents(roots: &Roots) -> BTreeMap<String, Vec<u8>> {
    tree(roots)
        .into_iter()
        .filter(|(_, path)| path.is_file())
        .filter(|(rel, _)| !rel.ends_with(".synced"))
        .map(|(rel, path)| (rel, std::fs::read(&path).unwrap()))
        .collect()
}

fn changed(
    before: &BTreeMap<String, (u64, i64, i64, i64, i64)>,
    after: &BTreeMap<String, (u64, i64, i64, i64, i64)>,
) -> BTreeSet<String> {
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .cloned()
        .collect()
}

fn manifest_path(roots: &Roots) -> PathBuf {
    let dir = roots.data_home.join("radc/desktop");
    let mut manifests: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(manifests.len(), 1, "{manifests:?}");
    manifests.remove(0)
}

fn edit_manifest(roots: &Roots, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = manifest_path(roots);
    let mut value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(&path, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
}

#[test]
fn unchanged_icons_are_kept_and_changed_ones_replaced() {
    let setup = Setup::new();
    let roots = setup.roots("home");
    let first = setup.commit(&[10, 20, 30]);
    let report = setup.sync(&roots, &first);
    // Per resource: an entry, its icon and its document icon at 32 px
    // (their own size) and 48 px (the size every theme has).
    assert!(report.written > RESOURCES * 5, "{report:?}");
    assert_eq!(contents(&roots), setup.clean("clean1", &first));

    // Unchanged, even from a new generation of the store: nothing touched,
    // not even the manifest.
    let same = setup.commit(&[10, 20, 30]);
    let before = stamps(&roots);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let report = setup.sync(&roots, &same);
    assert_eq!(report, SyncReport::default());
    assert_eq!(changed(&before, &stamps(&roots)), BTreeSet::new());

    // One icon changed: its files and the manifest, nothing else.
    let second = setup.commit(&[10, 21, 30]);
    let before = stamps(&roots);
    let report = setup.sync(&roots, &second);
    let stem = resource_stem(WORKSPACE, "app1");
    let touched = changed(&before, &stamps(&roots));
    let icons: BTreeSet<&String> = touched
        .iter()
        .filter(|p| p.ends_with(&format!("/apps/{stem}.png")))
        .collect();
    assert_eq!(icons.len(), report.written, "{touched:#?}");
    let sizes: BTreeSet<&str> = icons
        .iter()
        .map(|p| {
            p.split("/hicolor/")
                .nth(1)
                .unwrap()
                .split('/')
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(
        sizes,
        BTreeSet::from(["32x32", "48x48"]),
        "a 32 px icon at its own size and the required 48 px: {touched:#?}"
    );
    let manifest = format!(
        "share/{}",
        manifest_path(&roots)
            .strip_prefix(&roots.data_home)
            .unwrap()
            .display()
    );
    // The directories of those files change with them, and the stamp of
    // the sync beside the manifest.
    let parent = |p: &String| p.rsplit_once('/').unwrap().0.to_string();
    let dirs: BTreeSet<String> = icons.iter().map(|p| parent(p)).collect();
    let stamp = manifest
        .replace("/radc-", "/.radc-")
        .replace(".json", ".synced");
    let others: BTreeSet<&String> = touched
        .iter()
        .filter(|p| !icons.contains(p) && **p != manifest && **p != stamp)
        .filter(|p| !dirs.contains(*p) && **p != parent(&manifest))
        .collect();
    assert!(others.is_empty(), "touched besides the icon: {others:#?}");
    assert_eq!(contents(&roots), setup.clean("clean2", &second));
}

#[test]
fn a_missing_or_damaged_render_cache_costs_a_render_not_a_wrong_file() {
    let setup = Setup::new();
    let roots = setup.roots("home");
    let first = setup.commit(&[10, 20, 30]);
    setup.sync(&roots, &first);
    let clean = setup.clean("clean1", &first);

    // A manifest without the cache (as older versions wrote it): every icon
    // rendered again, the same bytes, so only the manifest is rewritten.
    edit_manifest(&roots, |m| {
        m.as_object_mut().unwrap().remove("icons").unwrap();
    });
    let before = stamps(&roots);
    let report = setup.sync(&roots, &first);
    assert_eq!(report.written, 0, "{report:?}");
    let touched = changed(&before, &stamps(&roots));
    assert!(
        touched.iter().all(|p| p.starts_with("share/radc/desktop")),
        "{touched:#?}"
    );
    assert_eq!(contents(&roots), clean);

    // A damaged cache that, taken at its word, would keep app1's old icon
    // for its new bytes: the entry of the old bytes copied to the key of
    // the new ones, the digest left as it was.
    let second = setup.commit(&[10, 21, 30]);
    let limits = Limits::default();
    let key = |colour| source_key(&[&icon(colour)], &THEME_SIZES, &limits);
    edit_manifest(&roots, |m| {
        let renders = m["icons"]["renders"].as_object_mut().unwrap();
        let old = renders[&key(20)].clone();
        renders.insert(key(21), old);
    });
    let report = setup.sync(&roots, &second);
    assert!(report.written > 0, "{report:?}");
    assert_eq!(contents(&roots), setup.clean("clean2", &second));

    // A cache that is not even of the right shape.
    edit_manifest(&roots, |m| m["icons"] = serde_json::json!([1, "x"]));
    let report = setup.sync(&roots, &second);
    assert_eq!(report.written, 0, "{report:?}");
    assert_eq!(contents(&roots), setup.clean("clean3", &second));
}
