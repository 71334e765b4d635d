//! Throughput of `radc_feed::parse` against Python's ElementTree on the
//! same generated feeds (50, 500, 2,000 and 5,000 resources), side by side
//! from one run.
//!
//! Run with `cargo bench -p radc-feed --bench parse`. Prints a markdown
//! table; the Python side is `benches/etree_parse.py`, run by
//! `/usr/bin/python3` from here (skipped with a note when that is
//! missing). For each file the two take turns, three rounds each of half
//! a second, and each column is the median of all its runs: one parse of
//! the file from bytes to a dropped result, warm, in the same minutes.
//!
//! 5,000 resources is more than a client accepts
//! ([`radc_feed::limits::MAX_RESOURCES`], 2,000): the Rust side parses
//! every size with `parse_with_max_resources`, which is `parse` with the
//! resource cap raised to the largest size here and every other check
//! unchanged.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use url::Url;

/// Time spent measuring each file, per language.
const BUDGET_PER_FILE: Duration = Duration::from_millis(1500);
const MIN_RUNS: usize = 10;
const MIN_PYTHON_RUNS: usize = 5;
/// Turns each language takes per file.
const ROUNDS: usize = 3;
/// 2,000 is the most a feed may list ([`radc_feed::limits::MAX_RESOURCES`]).
const SIZES: [usize; 4] = [50, 500, radc_feed::limits::MAX_RESOURCES, 5_000];
/// The resource cap the Rust side parses with.
const BENCH_MAX_RESOURCES: usize = 5_000;
const PYTHON: &str = "/usr/bin/python3";

/// A feed shaped like what RD Web Access produces for a busy collection:
/// two icon sizes per app, file associations with their own icons on every
/// third app, folders, and a few terminal servers.
fn generate_feed(resources: usize) -> String {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="utf-8"?>
<ResourceCollection PubDate="2025-02-03T10:00:00.0Z" SchemaVersion="2.1" xmlns="http://schemas.microsoft.com/ts/2007/05/tswf">
  <Publisher LastUpdated="2025-02-03T09:59:00.0Z" Name="Bench Workspace" ID="rdweb.bench.test" Description="" SupportsReconnect="true">
    <Resources>
"#,
    );
    let servers = 4;
    for index in 0..resources {
        let alias = format!("app{index:05}-Collection-Host");
        let server = index % servers;
        let kind = if index % 25 == 0 {
            "Desktop"
        } else {
            "RemoteApp"
        };
        let show = if index % 7 == 0 { "false" } else { "true" };
        write!(
            xml,
            r#"      <Resource ID="{index:040x}" Alias="{alias}" Title="Application {index}" LastUpdated="2025-02-03T09:58:00.0Z" Type="{kind}" ShowByDefault="{show}">
        <Icons>
          <IconRaw FileType="Ico" FileURL="/RDWeb/Pages/rdp/{alias}.ico?hash=Qm9vIQ%3D%3D" />
          <Icon32 Dimensions="32x32" FileType="Png" FileURL="/RDWeb/Pages/rdp/{alias}_32x32.png?hash=Qm9vIQ%3D%3D" />
        </Icons>
"#
        )
        .unwrap();
        if index % 3 == 0 {
            xml.push_str("        <FileExtensions>\n");
            for extension in [".txt", ".log", ".csv"] {
                write!(
                    xml,
                    r#"          <FileExtension Name="{extension}" PrimaryHandler="True">
            <FileAssociationIcons>
              <IconRaw FileType="Ico" FileURL="/RDWeb/Pages/rdp/fileassoc/{extension}/{alias}.ico" />
            </FileAssociationIcons>
          </FileExtension>
"#
                )
                .unwrap();
            }
            xml.push_str("        </FileExtensions>\n");
        } else {
            xml.push_str("        <FileExtensions />\n");
        }
        write!(
            xml,
            r#"        <Folders>
          <Folder Name="/Department {}" />
        </Folders>
        <HostingTerminalServers>
          <HostingTerminalServer>
            <ResourceFile FileExtension=".rdp" URL="/RDWeb/Pages/rdp/host{server}-{alias}.rdp" />
            <TerminalServerRef Ref="host{server}.bench.test" />
          </HostingTerminalServer>
        </HostingTerminalServers>
      </Resource>
"#,
            index % 10
        )
        .unwrap();
    }
    xml.push_str("    </Resources>\n    <TerminalServers>\n");
    for server in 0..servers {
        writeln!(
            xml,
            r#"      <TerminalServer ID="host{server}.bench.test" Name="host{server}.bench.test" LastUpdated="2025-02-03T09:59:00.0Z" />"#
        )
        .unwrap();
    }
    xml.push_str("    </TerminalServers>\n  </Publisher>\n</ResourceCollection>\n");
    xml
}

fn mib_per_second(bytes: usize, seconds: f64) -> f64 {
    bytes as f64 / seconds / (1024.0 * 1024.0)
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// Times `parse` on one feed for `budget` (and at least `min_runs` runs):
/// the time of each run, dropping the result included.
fn time_rust(bytes: &[u8], base: &Url, budget: Duration, min_runs: usize) -> Vec<Duration> {
    let parse =
        |bytes: &[u8]| radc_feed::parse_with_max_resources(bytes, base, BENCH_MAX_RESOURCES);
    let mut samples = Vec::new();
    let deadline = Instant::now() + budget;
    while samples.len() < min_runs || (Instant::now() < deadline && samples.len() < 100_000) {
        let start = Instant::now();
        let feed = parse(std::hint::black_box(bytes));
        std::hint::black_box(feed).ok();
        samples.push(start.elapsed());
    }
    samples
}

/// One round of the Python baseline on one file: how many resources it
/// walked and the time of each run, or why there is none.
fn time_python(
    file: &Path,
    budget: Duration,
    min_runs: usize,
) -> Result<(usize, Vec<Duration>), String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/etree_parse.py");
    let output = Command::new(PYTHON)
        .arg(&script)
        .arg(budget.as_secs_f64().to_string())
        .arg(min_runs.to_string())
        .arg(file)
        .output()
        .map_err(|error| format!("cannot run {PYTHON}: {error}"))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let unexpected = || format!("unexpected output from the script: {stdout}");
    let mut lines = stdout.lines();
    let summary: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let resources = match summary[..] {
        [_, _, resources, _] => resources.parse().map_err(|_| unexpected())?,
        _ => return Err(unexpected()),
    };
    let samples = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(|seconds| seconds.parse().map(Duration::from_secs_f64))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| unexpected())?;
    if samples.is_empty() {
        return Err(unexpected());
    }
    Ok((resources, samples))
}

fn main() {
    // `cargo test --benches` passes --test-ish flags; only time on `cargo bench`.
    if std::env::args().any(|arg| arg == "--test" || arg == "--list") {
        return;
    }
    let directory = std::env::temp_dir().join(format!("radc-feed-bench-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("create temp dir");
    let base = Url::parse("https://rdweb.example.test/RDWeb/Feed/webfeed.aspx").unwrap();

    println!(
        "| resources | feed size | Rust `parse` (MiB/s) | per parse | Python ElementTree (MiB/s) | speed-up |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    let mut python_missing = None;
    for size in SIZES {
        let xml = generate_feed(size);
        let path = directory.join(format!("feed-{size}.xml"));
        std::fs::write(&path, &xml).expect("write feed");
        let parsed =
            radc_feed::parse_with_max_resources(xml.as_bytes(), &base, BENCH_MAX_RESOURCES)
                .expect("generated feed parses");
        assert_eq!(
            parsed.resources.len(),
            size,
            "every generated resource is parsed"
        );
        drop(parsed);
        // Rust and Python take turns, ROUNDS times each, so that a change
        // in the machine's load during the measurement affects both
        // alike; each column is the median of all its runs.
        let budget = BUDGET_PER_FILE / ROUNDS as u32;
        let mut rust_samples = Vec::new();
        let mut python_samples = Vec::new();
        for _ in 0..ROUNDS {
            rust_samples.extend(time_rust(
                xml.as_bytes(),
                &base,
                budget,
                MIN_RUNS.div_ceil(ROUNDS),
            ));
            if python_missing.is_none() {
                match time_python(&path, budget, MIN_PYTHON_RUNS.div_ceil(ROUNDS)) {
                    Ok((python_parsed, samples)) => {
                        assert_eq!(python_parsed, size, "Python walked every resource");
                        python_samples.extend(samples);
                    }
                    Err(reason) => python_missing = Some(reason),
                }
            }
        }
        let rust_runs = rust_samples.len();
        let rust = mib_per_second(xml.len(), median(&mut rust_samples).as_secs_f64());
        let (python, speedup) = if python_missing.is_none() {
            let python = mib_per_second(xml.len(), median(&mut python_samples).as_secs_f64());
            (
                format!("{python:.1} (median of {})", python_samples.len()),
                format!("{:.1}×", rust / python),
            )
        } else {
            ("n/a".to_owned(), "n/a".to_owned())
        };
        let milliseconds = xml.len() as f64 / (rust * 1024.0 * 1024.0) * 1000.0;
        println!(
            "| {size} | {:.1} KiB | {rust:.1} (median of {rust_runs}) | {milliseconds:.2} ms | {python} | {speedup} |",
            xml.len() as f64 / 1024.0
        );
    }
    std::fs::remove_dir_all(&directory).ok();
    if let Some(reason) = python_missing {
        println!("\nPython baseline skipped: {reason}");
    }
}
