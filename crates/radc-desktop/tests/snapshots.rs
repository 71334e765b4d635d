//! The files generated for feeds shaped like the MS-TSWP examples, compared
//! with reviewed copies in `tests/snapshots/`. After an intended change,
//! regenerate them with `RADC_UPDATE_SNAPSHOTS=1 cargo test -p radc-desktop
//! --test snapshots` and review the diff.

use std::collections::BTreeMap;
use std::path::PathBuf;

use radc_desktop::layout::{Context, workspace_files};
use url::Url;

fn snapshot_dir(fixture: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(fixture.trim_end_matches(".xml"))
}

fn check(fixture: &str) {
    let base = Url::parse("https://rdweb.example.test/RDWeb/Feed/webfeed.aspx").unwrap();
    let bytes = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../radc-feed/tests/data")
            .join(fixture),
    )
    .unwrap();
    let feed = radc_feed::parse(&bytes, &base).unwrap();
    let known = |ext: &str| match ext {
        ".txt" => Some("text/plain".to_string()),
        _ => None,
    };
    let files = workspace_files(
        &feed,
        &Context {
            program: "/usr/bin/radc",
            shown: &|r| r.show_by_default,
            known_mime_type: &known,
            icons: &BTreeMap::new(),
            extension_icons: &BTreeMap::new(),
        },
    )
    .unwrap();
    let dir = snapshot_dir(fixture);
    let actual: BTreeMap<String, String> = files
        .iter()
        .map(|f| {
            (
                format!("{:?}/{}", f.base, f.path).to_lowercase(),
                String::from_utf8(f.contents.bytes().unwrap().to_vec()).unwrap(),
            )
        })
        .collect();
    if std::env::var_os("RADC_UPDATE_SNAPSHOTS").is_some() {
        let _ = std::fs::remove_dir_all(&dir);
        for (name, text) in &actual {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        return;
    }
    let mut expected = BTreeMap::new();
    for sub in
        std::fs::read_dir(&dir).unwrap_or_else(|_| panic!("no snapshot at {}", dir.display()))
    {
        let sub = sub.unwrap();
        for file in std::fs::read_dir(sub.path()).unwrap() {
            let file = file.unwrap();
            expected.insert(
                format!(
                    "{}/{}",
                    sub.file_name().to_string_lossy(),
                    file.file_name().to_string_lossy()
                ),
                std::fs::read_to_string(file.path()).unwrap(),
            );
        }
    }
    assert_eq!(
        actual.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "generated file set differs from {}",
        dir.display()
    );
    for (name, text) in &actual {
        assert_eq!(text, &expected[name], "{name} differs from its snapshot");
    }
}

#[test]
fn schema_2_0_with_folders_and_file_types() {
    check("v2_0_folders.xml");
}

#[test]
fn schema_2_1_with_show_by_default() {
    check("v2_1_show_by_default.xml");
}

#[test]
fn schema_1_1_single_server() {
    check("v1_1_single_server.xml");
}
