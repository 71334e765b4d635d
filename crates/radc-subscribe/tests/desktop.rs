//! A workspace put on the desktop and taken off again, in temporary XDG
//! directories: entries, menu and file associations appear, and removal
//! leaves the user's own `mimeapps.list` exactly as it was.

use radc_desktop::icons::{Frame, render_theme_pngs};
use radc_subscribe::desktop::{Roots, remove_workspace, sync_workspace};
use radc_subscribe::store::{Download, FileKind, Store, WorkspaceRecord};
use radc_subscribe::workspace::{self, Options};
use url::Url;

const FEED: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<ResourceCollection SchemaVersion="2.1" xmlns="http://schemas.microsoft.com/ts/2007/05/tswf">
  <Publisher ID="assoc.test" Name="Assoc Apps">
    <Resources>
      <Resource ID="writer" Title="Writer" Type="RemoteApp">
        <FileExtensions>
          <FileExtension Name=".txt"/>
          <FileExtension Name=".radcdoc">
            <FileAssociationIcons>
              <Icon32 Dimensions="32x32" FileType="Png" FileURL="/icons/radcdoc.png"/>
            </FileAssociationIcons>
          </FileExtension>
        </FileExtensions>
        <Folders><Folder Name="/Office"/></Folders>
      </Resource>
      <Resource ID="hidden" Title="Hidden" Type="RemoteApp" ShowByDefault="false"/>
    </Resources>
  </Publisher>
</ResourceCollection>
"#;

const USER_MIMEAPPS: &str = "[Default Applications]\ntext/plain=gedit.desktop;\n\n[Added Associations]\ntext/plain=gedit.desktop;\n";

#[test]
fn associations_come_and_go_leaving_the_users_own() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(&dir.path().join("config"), &dir.path().join("data"));
    let base = Url::parse("https://assoc.test/RDWeb/Feed/webfeed.aspx").unwrap();
    let feed = radc_feed::parse(FEED.as_bytes(), &base).unwrap();
    let icon = {
        let frame = Frame::from_rgba(32, 32, vec![200; 32 * 32 * 4]).unwrap();
        render_theme_pngs(&[frame], &[32]).remove(0).1
    };
    let record = store
        .commit(
            WorkspaceRecord::new("assoc.test", "Assoc Apps", base.as_str(), 0),
            FEED.as_bytes(),
            &[Download {
                url: "https://assoc.test/icons/radcdoc.png".into(),
                kind: FileKind::Png,
                bytes: icon,
            }],
        )
        .unwrap();
    let roots = Roots {
        data_home: dir.path().join("share"),
        config_home: dir.path().join("xdg"),
        data_dirs: vec!["/usr/share".into()],
    };
    std::fs::create_dir_all(&roots.config_home).unwrap();
    let mimeapps = roots.config_home.join("mimeapps.list");
    std::fs::write(&mimeapps, USER_MIMEAPPS).unwrap();

    let report = sync_workspace(&roots, &store, &record, &feed).unwrap();
    assert!(report.written >= 4, "{report:?}");
    let apps: Vec<String> = std::fs::read_dir(roots.data_home.join("applications"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".desktop"))
        .collect();
    assert_eq!(
        apps.len(),
        1,
        "the hidden resource stays out of the menu: {apps:?}"
    );
    let entry = &apps[0];
    let list = std::fs::read_to_string(&mimeapps).unwrap();
    assert!(
        list.contains(&format!("text/plain=gedit.desktop;{entry};")),
        "{list}"
    );
    assert!(list.contains("application/x-radc-"), "{list}");
    assert!(
        list.starts_with("[Default Applications]\ntext/plain=gedit.desktop;\n"),
        "{list}"
    );
    let pkg = std::fs::read_dir(roots.data_home.join("mime/packages"))
        .unwrap()
        .count();
    assert_eq!(pkg, 1, "a MIME package for .radcdoc, which nobody knows");
    let type_icons: Vec<String> =
        std::fs::read_dir(roots.data_home.join("icons/hicolor/32x32/mimetypes"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
    assert_eq!(type_icons.len(), 1, "{type_icons:?}");
    assert!(
        type_icons[0].starts_with("application-x-radc-") && type_icons[0].ends_with("-radcdoc.png"),
        "the document icon is named after its MIME type: {type_icons:?}"
    );

    // Unchanged: nothing written.
    let again = sync_workspace(&roots, &store, &record, &feed).unwrap();
    assert_eq!((again.written, again.deleted), (0, 0));

    // A refresh brings a new document icon: only its rendered sizes are
    // rewritten, not the entries or the menu.
    let new_icon = {
        let frame = Frame::from_rgba(32, 32, vec![40; 32 * 32 * 4]).unwrap();
        render_theme_pngs(&[frame], &[32]).remove(0).1
    };
    let record = store
        .commit(
            record.clone(),
            FEED.as_bytes(),
            &[Download {
                url: "https://assoc.test/icons/radcdoc.png".into(),
                kind: FileKind::Png,
                bytes: new_icon,
            }],
        )
        .unwrap();
    let changed = sync_workspace(&roots, &store, &record, &feed).unwrap();
    let sizes = std::fs::read_dir(roots.data_home.join("icons/hicolor"))
        .unwrap()
        .count();
    assert_eq!(changed.written, sizes, "{changed:?}");
    assert_eq!(changed.deleted, 0);

    let removed = remove_workspace(&roots, "assoc.test").unwrap();
    assert_eq!(removed.deleted, report.written);
    assert_eq!(std::fs::read_to_string(&mimeapps).unwrap(), USER_MIMEAPPS);
    let leftovers: Vec<_> = walk(&roots.data_home)
        .into_iter()
        .chain(walk(&roots.config_home))
        .filter(|p| p.to_string_lossy().contains("radc"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn catalog_choices_survive_refreshes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(&dir.path().join("config"), &dir.path().join("data"));
    let base = Url::parse("https://assoc.test/RDWeb/Feed/webfeed.aspx").unwrap();
    let feed = radc_feed::parse(FEED.as_bytes(), &base).unwrap();
    store
        .commit(
            WorkspaceRecord::new("assoc.test", "Assoc Apps", base.as_str(), 0),
            FEED.as_bytes(),
            &[],
        )
        .unwrap();
    let roots = Roots {
        data_home: dir.path().join("share"),
        config_home: dir.path().join("xdg"),
        data_dirs: vec!["/usr/share".into()],
    };
    let options = Options {
        desktop: Some(roots.clone()),
        ..Options::default()
    };
    let in_menu = || -> Vec<String> {
        let mut titles: Vec<String> = std::fs::read_dir(roots.data_home.join("applications"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".desktop"))
                    .map(|e| {
                        let text = std::fs::read_to_string(e.path()).unwrap();
                        text.lines()
                            .find_map(|l| l.strip_prefix("Name="))
                            .unwrap()
                            .to_owned()
                    })
                    .collect()
            })
            .unwrap_or_default();
        titles.sort();
        titles
    };
    // "hidden" is ShowByDefault=false: the user puts it in; by title.
    let id = workspace::set_shown(&store, "assoc.test", "HIDDEN", true, &options).unwrap();
    assert_eq!(id, "hidden");
    assert_eq!(in_menu(), vec!["Hidden", "Writer"]);
    workspace::set_shown(&store, "assoc.test", "writer", false, &options).unwrap();
    assert_eq!(in_menu(), vec!["Hidden"]);
    // A refresh rebuilds the menu from the feed and keeps the choices.
    let record = store.record("assoc.test").unwrap().unwrap();
    sync_workspace(&roots, &store, &record, &feed).unwrap();
    assert_eq!(in_menu(), vec!["Hidden"]);
    let err = workspace::set_shown(&store, "assoc.test", "nope", true, &options).unwrap_err();
    assert!(err.to_string().contains("radc resources"), "{err}");

    // Default handlers only on request, and cleanly off again.
    let mimeapps = roots.config_home.join("mimeapps.list");
    std::fs::write(&mimeapps, USER_MIMEAPPS).unwrap();
    workspace::set_shown(&store, "assoc.test", "writer", true, &options).unwrap();
    let list = std::fs::read_to_string(&mimeapps).unwrap();
    assert!(
        list.starts_with("[Default Applications]\ntext/plain=gedit.desktop;\n"),
        "{list}"
    );
    workspace::set_default_handlers(&store, "assoc.test", true, &options).unwrap();
    let list = std::fs::read_to_string(&mimeapps).unwrap();
    assert!(
        list.starts_with("[Default Applications]\ntext/plain=radc-"),
        "the resource comes first for its types: {list}"
    );
    workspace::set_default_handlers(&store, "assoc.test", false, &options).unwrap();
    let list = std::fs::read_to_string(&mimeapps).unwrap();
    assert!(
        list.starts_with("[Default Applications]\ntext/plain=gedit.desktop;\n"),
        "{list}"
    );
}

/// What a sync killed midway leaves: an intent manifest naming a file of
/// unknown contents that exists, another that was never written, and
/// temporaries of entries, of the manifest and of `mimeapps.list`.
fn leave_a_killed_sync(roots: &Roots) {
    let dir = roots.data_home.join("radc/desktop");
    let manifest = walk(&dir)
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    let apps = json["files"]["applications"].as_object_mut().unwrap();
    let entry = apps.keys().next().unwrap().clone();
    apps.insert(entry.clone(), serde_json::Value::Null);
    apps.insert("radc-ghost.desktop".into(), serde_json::Value::Null);
    apps.insert("radc-never-written.desktop".into(), serde_json::Value::Null);
    std::fs::write(&manifest, serde_json::to_vec(&json).unwrap()).unwrap();
    let applications = roots.data_home.join("applications");
    std::fs::write(applications.join("radc-ghost.desktop"), "[Desktop Entry]\n").unwrap();
    for temp in [
        applications.join(".radc-ghost.desktop.radc-tmp"),
        applications.join(".radc-never-written.desktop.radc-tmp"),
        applications.join(format!(".{entry}.radc-tmp")),
        dir.join(format!(
            ".{}.radc-tmp",
            manifest.file_name().unwrap().to_string_lossy()
        )),
        roots.config_home.join(".mimeapps.list.radc-tmp"),
    ] {
        std::fs::write(temp, "half").unwrap();
    }
    // The entry was half rewritten.
    std::fs::write(applications.join(entry), "torn").unwrap();
}

/// The feed stored as a workspace (without its icon) in a temporary
/// directory, and desktop roots beside it.
fn stored_workspace() -> (
    tempfile::TempDir,
    Store,
    radc_feed::Feed,
    WorkspaceRecord,
    Roots,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(&dir.path().join("config"), &dir.path().join("data"));
    let base = Url::parse("https://assoc.test/RDWeb/Feed/webfeed.aspx").unwrap();
    let feed = radc_feed::parse(FEED.as_bytes(), &base).unwrap();
    let record = store
        .commit(
            WorkspaceRecord::new("assoc.test", "Assoc Apps", base.as_str(), 0),
            FEED.as_bytes(),
            &[],
        )
        .unwrap();
    let roots = Roots {
        data_home: dir.path().join("share"),
        config_home: dir.path().join("xdg"),
        data_dirs: vec!["/usr/share".into()],
    };
    (dir, store, feed, record, roots)
}

#[test]
fn a_killed_syncs_leftovers_are_cleared_by_the_next_sync_or_removal() {
    let (_dir, store, feed, record, roots) = stored_workspace();
    std::fs::create_dir_all(&roots.config_home).unwrap();
    let mimeapps = roots.config_home.join("mimeapps.list");
    std::fs::write(&mimeapps, USER_MIMEAPPS).unwrap();
    // Every file with its bytes, but for the stamp of the last sync: that
    // names the manifest's inode and time, which each store changes.
    let tree = || -> Vec<(std::path::PathBuf, Vec<u8>)> {
        let mut files: Vec<_> = walk(&roots.data_home)
            .into_iter()
            .chain(walk(&roots.config_home))
            .filter(|p| p.extension().is_none_or(|e| e != "synced"))
            .map(|p| {
                let bytes = std::fs::read(&p).unwrap();
                (p, bytes)
            })
            .collect();
        files.sort();
        files
    };
    sync_workspace(&roots, &store, &record, &feed).unwrap();
    let clean = tree();

    leave_a_killed_sync(&roots);
    let report = sync_workspace(&roots, &store, &record, &feed).unwrap();
    assert_eq!((report.written, report.deleted), (1, 2), "{report:?}");
    assert_eq!(tree(), clean);
    let again = sync_workspace(&roots, &store, &record, &feed).unwrap();
    assert_eq!((again.written, again.deleted), (0, 0));

    leave_a_killed_sync(&roots);
    remove_workspace(&roots, "assoc.test").unwrap();
    assert_eq!(std::fs::read_to_string(&mimeapps).unwrap(), USER_MIMEAPPS);
    let leftovers: Vec<_> = walk(&roots.data_home)
        .into_iter()
        .chain(walk(&roots.config_home))
        .filter(|p| p.to_string_lossy().contains("radc"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// A sync with the inputs of the last complete one is skipped; anything
/// that feeds a sync (the user's choices, the manifest itself) makes the
/// next one run.
#[test]
fn a_sync_with_the_last_ones_inputs_is_skipped() {
    let (_dir, store, feed, record, roots) = stored_workspace();
    assert!(
        sync_workspace(&roots, &store, &record, &feed)
            .unwrap()
            .written
            > 0
    );
    let stamp = walk(&roots.data_home.join("radc/desktop"))
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "synced"))
        .expect("a complete sync leaves its stamp");
    let skipped = sync_workspace(&roots, &store, &record, &feed).unwrap();
    assert_eq!((skipped.written, skipped.deleted), (0, 0));

    // A damaged manifest is not skipped over: the sync reads it and says so.
    let manifest = std::fs::read_dir(roots.data_home.join("radc/desktop"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let good = std::fs::read(&manifest).unwrap();
    std::fs::write(&manifest, b"{").unwrap();
    let err = sync_workspace(&roots, &store, &record, &feed).unwrap_err();
    assert!(err.contains("is damaged"), "{err}");
    assert!(
        !stamp.exists(),
        "a sync that did not finish leaves no stamp"
    );
    std::fs::write(&manifest, good).unwrap();
    let repaired = sync_workspace(&roots, &store, &record, &feed).unwrap();
    assert_eq!((repaired.written, repaired.deleted), (0, 0));
    assert!(stamp.exists());

    // The user's choice changes what is wanted: not skipped.
    let record = store
        .modify("assoc.test", |r| {
            r.shown.insert("hidden".into());
        })
        .unwrap();
    let shown = sync_workspace(&roots, &store, &record, &feed).unwrap();
    assert!(shown.written > 0, "{shown:?}");
    let again = sync_workspace(&roots, &store, &record, &feed).unwrap();
    assert_eq!((again.written, again.deleted), (0, 0));

    // Removal takes the stamp with everything else.
    remove_workspace(&roots, "assoc.test").unwrap();
    let left: Vec<_> = walk(&roots.data_home.join("radc/desktop"));
    assert!(left.is_empty(), "{left:?}");
}
