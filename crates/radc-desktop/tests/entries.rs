//! Generated desktop entries as real tools read them: each passes
//! `desktop-file-validate`, and GLib (through Python's Gio, as GNOME does)
//! reads back exactly the title, ids and command line that went in, however
//! hostile the feed's strings.

use std::process::Command;

use radc_desktop::entry::{Entry, Kind, render};
use radc_desktop::names::{desktop_file_name, resource_stem};

/// Any program that exists stands in for radc.
const PROGRAM: &str = "/bin/sh";

const READ_BACK: &str = r#"
import json, sys
from gi.repository import Gio, GLib
info = Gio.DesktopAppInfo.new_from_filename(sys.argv[1])
print(json.dumps({
    "name": info.get_name(),
    "workspace": info.get_string("X-Radc-Workspace"),
    "resource": info.get_string("X-Radc-Resource"),
    "argv": GLib.shell_parse_argv(info.get_commandline())[1],
    "wm_class": info.get_startup_wm_class(),
    "mime": info.get_supported_types(),
}))
"#;

#[test]
fn hostile_entries_validate_and_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &str)] = &[
        ("Word", "rdweb.contoso.com", "word"),
        (" Leading space", "ws", "r1"),
        ("Calc; Exec=rm -rf ~ [x]", "ws $(reboot)", "a b"),
        ("100% \"quoted\" `tick` \\back", "../../etc", "--help"),
        ("Ünïcödé ✓ 電卓", "-ws", "$HOME"),
    ];
    let mime = vec!["application/x-radc-test".to_string()];
    for (i, (name, ws, res)) in cases.iter().enumerate() {
        let stem = resource_stem(ws, res);
        let mime_types: &[String] = if i % 2 == 0 { &mime } else { &[] };
        let text = render(&Entry {
            kind: if i == 1 {
                Kind::Desktop
            } else {
                Kind::RemoteApp
            },
            name,
            workspace_name: "Contoso; Apps",
            workspace_id: ws,
            resource_id: res,
            // GLib ignores entries whose TryExec does not exist.
            program: PROGRAM,
            icon: Some(&stem),
            mime_types,
            wm_class: &stem,
        })
        .unwrap();
        let path = dir.path().join(desktop_file_name(ws, res));
        std::fs::write(&path, &text).unwrap();

        let out = Command::new("desktop-file-validate")
            .arg(&path)
            .output()
            .expect("desktop-file-validate is installed (scripts/install-deps.sh)");
        assert!(
            out.status.success() && out.stdout.is_empty(),
            "{name:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            text
        );

        let out = Command::new("/usr/bin/python3")
            .args(["-c", READ_BACK])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let back: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(back["name"], *name, "{text}");
        assert_eq!(back["workspace"], *ws);
        assert_eq!(back["resource"], *res);
        assert_eq!(back["wm_class"], stem.as_str());
        let mut argv = vec![PROGRAM, "launch", "--", ws, res];
        if !mime_types.is_empty() {
            argv.push("%f");
            assert_eq!(back["mime"], serde_json::json!(["application/x-radc-test"]));
        }
        assert_eq!(back["argv"], serde_json::json!(argv), "{text}");
    }
}
