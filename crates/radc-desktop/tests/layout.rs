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
        std::fs::write(&path, file.contents.bytes().unwrap()).unwrap();
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
    let menu_text = String::from_utf8(menu.contents.bytes().unwrap().to_vec()).unwrap();
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

/// A feed whose names try to look like something else: a right-to-left
/// override turning "gpj.exe" into "exe.jpg", zero-width characters inside
/// a familiar name, and a bidi isolate, in titles, the workspace name and a
/// folder name.
const SPOOFING_FEED: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>
<ResourceCollection SchemaVersion=\"2.1\" xmlns=\"http://schemas.microsoft.com/ts/2007/05/tswf\">
  <Publisher ID=\"rdweb.example.test\" Name=\"Example\u{202E}spA\">
    <Resources>
      <Resource ID=\"invoice\" Title=\"Invoice\u{202E}gpj.exe\" Type=\"RemoteApp\">
        <Folders><Folder Name=\"/Fin\u{2067}ance\u{2069}\"/></Folders>
      </Resource>
      <Resource ID=\"calc\" Title=\"Cal\u{200B}cu\u{200D}la\u{FEFF}tor\" Type=\"RemoteApp\"/>
      <Resource ID=\"isolate\" Title=\"&#x2067;x&#x2069;\" Type=\"RemoteApp\"/>
    </Resources>
  </Publisher>
</ResourceCollection>";

#[test]
fn hidden_characters_in_feed_names_never_reach_the_menu() {
    let base = Url::parse("https://rdweb.example.test/RDWeb/Feed/webfeed.aspx").unwrap();
    let feed = radc_feed::parse(SPOOFING_FEED.as_bytes(), &base).unwrap();
    let root = tempfile::tempdir().unwrap();
    let icons = BTreeMap::new();
    let files = workspace_files(
        &feed,
        &Context {
            program: "/bin/sh",
            shown: &|r| r.show_by_default,
            known_mime_type: &|_| None,
            icons: &icons,
            extension_icons: &BTreeMap::new(),
        },
    )
    .unwrap();
    for file in &files {
        let text = String::from_utf8(file.contents.bytes().unwrap().to_vec()).unwrap();
        assert_eq!(
            radc_feed::text::strip_invisible(&text),
            text,
            "{} holds a hidden character",
            file.path
        );
        let path = base_dir(root.path(), file.base).join(&file.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, file.contents.bytes().unwrap()).unwrap();
    }
    for file in files
        .iter()
        .filter(|f| matches!(f.base, Base::Applications | Base::DesktopDirectories))
    {
        let out = run(Command::new("desktop-file-validate")
            .arg(base_dir(root.path(), file.base).join(&file.path)));
        assert!(out.is_empty(), "{}: {out}", file.path);
    }

    let script = r#"
import json, os, sys
from gi.repository import Gio, GLib
names = {}
for directory in sys.argv[1:]:
    for entry in sorted(os.listdir(directory)):
        path = os.path.join(directory, entry)
        if entry.endswith(".desktop"):
            info = Gio.DesktopAppInfo.new_from_filename(path)
            names[info.get_string("X-Radc-Resource")] = info.get_name()
        else:
            directory_entry = GLib.KeyFile()
            directory_entry.load_from_file(path, GLib.KeyFileFlags.NONE)
            names["directory:" + entry] = directory_entry.get_locale_string(
                "Desktop Entry", "Name", None)
print(json.dumps(names))
"#;
    let out = run(Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(root.path().join("data/applications"))
        .arg(root.path().join("data/desktop-directories")));
    let seen: BTreeMap<String, String> = serde_json::from_str(&out).unwrap();
    let resources: BTreeMap<&str, &str> = seen
        .iter()
        .filter(|(key, _)| !key.starts_with("directory:"))
        .map(|(key, name)| (key.as_str(), name.as_str()))
        .collect();
    assert_eq!(
        resources,
        BTreeMap::from([
            ("calc", "Calculator"),
            ("invoice", "Invoicegpj.exe"),
            ("isolate", "x"),
        ])
    );
    let mut directories: Vec<&str> = seen
        .iter()
        .filter(|(key, _)| key.starts_with("directory:"))
        .map(|(_, name)| name.as_str())
        .collect();
    directories.sort_unstable();
    assert_eq!(directories, ["ExamplespA", "Finance"], "{seen:?}");
}
