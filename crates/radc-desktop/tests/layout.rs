//! A workspace's generated files, written into a temporary XDG tree and
//! checked with the real tools: desktop-file-validate, update-mime-database
//! and update-desktop-database, then GLib (as GNOME reads them) for the MIME
//! type of a feed's own extension and the applications offered for it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use radc_desktop::layout::{Context, workspace_files};
use radc_desktop::sync::Base;
use url::Url;

fn feed() -> radc_feed::Feed {
    let base = Url::parse("https://rdweb.example.test/RDWeb/Feed/webfeed.aspx").unwrap();
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../radc-feed/tests/data/v2_0_folders.xml"
    ))
    .unwrap();
    radc_feed::parse(&bytes, &base).unwrap()
}

fn base_dir(root: &Path, base: Base) -> PathBuf {
    match base {
        Base::Applications => root.join("data/applications"),
        Base::Icons => root.join("data/icons"),
        Base::Menus => root.join("config/menus/applications-merged"),
        Base::DesktopDirectories => root.join("data/desktop-directories"),
        Base::MimePackages => root.join("data/mime/packages"),
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .expect("tool is installed (scripts/install-deps.sh)");
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_workspace_becomes_valid_desktop_files() {
    let feed = feed();
    let root = tempfile::tempdir().unwrap();
    let icons = BTreeMap::new();
    // The system knows .txt; .odt is pretended unknown so radc defines it.
    let known = |ext: &str| (ext == ".txt").then(|| "text/plain".to_string());
    let files = workspace_files(
        &feed,
        &Context {
            program: "/bin/sh",
            shown: &|r| r.show_by_default,
            known_mime_type: &known,
            icons: &icons,
            extension_icons: &BTreeMap::new(),
        },
    )
    .unwrap();
    for file in &files {
        let path = base_dir(root.path(), file.base).join(&file.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &file.contents).unwrap();
    }
    let count = |base| files.iter().filter(|f| f.base == base).count();
    assert!(count(Base::Applications) >= 2, "{files:#?}");
    assert_eq!(count(Base::Menus), 1);
    assert_eq!(count(Base::MimePackages), 1);

    for file in files
        .iter()
        .filter(|f| matches!(f.base, Base::Applications | Base::DesktopDirectories))
    {
        let out = run(Command::new("desktop-file-validate")
            .arg(base_dir(root.path(), file.base).join(&file.path)));
        assert!(out.is_empty(), "{}: {out}", file.path);
    }
    let menu = files.iter().find(|f| f.base == Base::Menus).unwrap();
    let menu_text = String::from_utf8(menu.contents.clone()).unwrap();
    assert!(menu_text.contains("<Menu>"), "{menu_text}");

    run(Command::new("update-mime-database").arg(root.path().join("data/mime")));
    run(Command::new("update-desktop-database").arg(root.path().join("data/applications")));

    let script = r#"
import json, sys
from gi.repository import Gio
ctype, _ = Gio.content_type_guess("report.odt", None)
apps = [a.get_id() for a in Gio.AppInfo.get_all_for_type(ctype)]
writer = [a.get_id() for a in Gio.AppInfo.get_all() if a.get_id() and a.get_id().startswith("radc-")]
print(json.dumps({"type": ctype, "apps": apps, "radc": writer}))
"#;
    let out = run(Command::new("/usr/bin/python3")
        .args(["-c", script])
        .env("XDG_DATA_HOME", root.path().join("data"))
        .env("XDG_CONFIG_HOME", root.path().join("config"))
        .env("XDG_DATA_DIRS", "/usr/local/share:/usr/share"));
    let seen: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ctype = seen["type"].as_str().unwrap();
    assert!(ctype.starts_with("application/x-radc-"), "{seen}");
    let apps = seen["apps"].as_array().unwrap();
    assert!(
        apps.iter()
            .any(|a| a.as_str().unwrap().starts_with("radc-")),
        "the resource handling .odt is offered for it: {seen}"
    );
    assert!(seen["radc"].as_array().unwrap().len() >= 2, "{seen}");
}
