//! Desktop sync of a large workspace: a cold sync of 1,000 resources with
//! icons, a resync of the unchanged workspace, and one after a single icon
//! changed. Run with
//!
//! ```sh
//! cargo bench -p radc-subscribe --bench desktop_sync
//! ```

use std::time::Instant;

use radc_desktop::icons::{Frame, render_theme_pngs};
use radc_subscribe::desktop::{Roots, SyncReport, sync_workspace};
use radc_subscribe::store::{Download, FileKind, Store, WorkspaceRecord};
use url::Url;

const RESOURCES: usize = 1000;
const RESYNCS: usize = 5;

fn feed_xml() -> String {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="utf-8"?>
<ResourceCollection SchemaVersion="2.1" xmlns="http://schemas.microsoft.com/ts/2007/05/tswf">
  <Publisher ID="bench.example.test" Name="Bench Apps"><Resources>
"#,
    );
    for i in 0..RESOURCES {
        xml.push_str(&format!(
            r#"<Resource ID="app{i}" Title="Application {i}" Type="RemoteApp">
  <Icons><Icon32 Dimensions="48x48" FileType="Png" FileURL="/icons/app{i}.png"/></Icons>
  <FileExtensions><FileExtension Name=".ext{}"/></FileExtensions>
  <Folders><Folder Name="/Group {}"/></Folders>
  <HostingTerminalServers><HostingTerminalServer>
    <ResourceFile FileExtension=".rdp" URL="/rdp/app{i}.rdp"/><TerminalServerRef Ref="h"/>
  </HostingTerminalServer></HostingTerminalServers>
</Resource>
"#,
            i % 20,
            i % 10
        ));
    }
    xml.push_str("</Resources><TerminalServers><TerminalServer ID=\"h\" Name=\"h\"/></TerminalServers></Publisher></ResourceCollection>\n");
    xml
}

/// A 48×48 PNG whose colour depends on `seed`.
fn icon(seed: usize) -> Vec<u8> {
    let mut rgba = Vec::with_capacity(48 * 48 * 4);
    for p in 0..48 * 48 {
        rgba.extend_from_slice(&[(seed * 7) as u8, (p % 251) as u8, (seed * 13) as u8, 255]);
    }
    let frame = Frame::from_rgba(48, 48, rgba).unwrap();
    render_theme_pngs(&[frame], &[48]).remove(0).1
}

fn count_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() { count_files(&p) } else { 1 }
                })
                .sum()
        })
        .unwrap_or(0)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(&dir.path().join("config"), &dir.path().join("data"));
    let base = Url::parse("https://bench.example.test/RDWeb/Feed/webfeed.aspx").unwrap();
    let xml = feed_xml();
    let feed = radc_feed::parse(xml.as_bytes(), &base).unwrap();
    let mut downloads = Vec::new();
    for i in 0..RESOURCES {
        downloads.push(Download {
            url: format!("https://bench.example.test/icons/app{i}.png"),
            kind: FileKind::Png,
            bytes: icon(i),
        });
    }
    let commit = |downloads: &[Download]| {
        store
            .commit(
                WorkspaceRecord::new("bench.example.test", "Bench Apps", base.as_str(), 0),
                xml.as_bytes(),
                downloads,
            )
            .unwrap()
    };
    let record = commit(&downloads);
    let roots = Roots {
        data_home: dir.path().join("share"),
        config_home: dir.path().join("xdg-config"),
        data_dirs: vec!["/usr/share".into()],
    };

    let start = Instant::now();
    let cold = sync_workspace(&roots, &store, &record, &feed).unwrap();
    let cold_time = start.elapsed();
    let on_disk = count_files(&roots.data_home) + count_files(&roots.config_home);

    // The median of a few: one run is a few tens of milliseconds, at the
    // mercy of whatever else the machine does.
    let mut warm_times = Vec::new();
    let mut warm = SyncReport::default();
    for _ in 0..RESYNCS {
        let start = Instant::now();
        warm = sync_workspace(&roots, &store, &record, &feed).unwrap();
        warm_times.push(start.elapsed());
    }
    warm_times.sort();
    let warm_time = warm_times[RESYNCS / 2];

    downloads[0].bytes = icon(RESOURCES);
    let record = commit(&downloads);
    let start = Instant::now();
    let one = sync_workspace(&roots, &store, &record, &feed).unwrap();
    let one_time = start.elapsed();

    println!("## Desktop sync of {RESOURCES} resources with icons");
    println!("| sync | wall time | files written | files deleted |\n|---|---|---|---|");
    println!(
        "| cold | {:.0} ms | {} | {} |",
        cold_time.as_secs_f64() * 1000.0,
        cold.written,
        cold.deleted
    );
    println!(
        "| unchanged resync (median of {RESYNCS}) | {:.0} ms | {} | {} |",
        warm_time.as_secs_f64() * 1000.0,
        warm.written,
        warm.deleted
    );
    println!(
        "| one icon changed | {:.0} ms | {} | {} |",
        one_time.as_secs_f64() * 1000.0,
        one.written,
        one.deleted
    );
    println!(
        "\nResync / cold: {:.1}%. Files under the XDG roots after the cold sync: {on_disk}.",
        warm_time.as_secs_f64() / cold_time.as_secs_f64() * 100.0
    );
    assert_eq!(warm.written, 0, "an unchanged workspace writes nothing");
    assert!(
        one.written > 0 && one.written <= 8,
        "only the changed icon's sizes: {one:?}"
    );
}
