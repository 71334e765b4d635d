//! The Debian package `scripts/package.sh` builds: what it holds and
//! declares, what lintian says, and (as root) installing it on this machine,
//! using what it installed, and removing it without a trace.
//!
//! The script runs once per test binary (a release build, reused when
//! nothing changed); the tests share its package.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const RUNTIME_DEPENDS: &str = "freerdp2-x11 | freerdp3-x11 | freerdp3-sdl, desktop-file-utils, \
shared-mime-info, default-dbus-session-bus | dbus-session-bus";

/// Every file the package must install, besides the man pages of the
/// subcommands.
const FILES: &[&str] = &[
    "/usr/bin/radc",
    "/usr/bin/radc-gui",
    "/usr/share/applications/org.radc.Workspaces.desktop",
    "/usr/share/dbus-1/services/org.radc.Runtime.service",
    "/usr/lib/systemd/user/radc.service",
    "/etc/xdg/autostart/radc-tray.desktop",
    "/usr/share/man/man1/radc.1.gz",
    "/usr/share/man/man1/radc-gui.1.gz",
    "/usr/share/bash-completion/completions/radc",
    "/usr/share/zsh/vendor-completions/_radc",
    "/usr/share/fish/vendor_completions.d/radc.fish",
    "/usr/share/doc/radc/copyright",
    "/usr/share/doc/radc/changelog.gz",
    "/usr/share/doc/radc/README.md.gz",
];

/// The subcommands each of which has a man page `radc-NAME.1.gz`.
const SUBCOMMANDS: &[&str] = &[
    "daemon",
    "tray",
    "status",
    "disconnect",
    "launch",
    "trust",
    "trust-list",
    "trust-add",
    "trust-remove",
    "trust-policy",
    "trust-check",
    "restype",
    "restype-add",
    "restype-modify",
    "restype-remove",
    "restype-list",
    "subscribe",
    "workspaces",
    "resources",
    "refresh",
    "unsubscribe",
    "show",
    "default-handlers",
    "hide",
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs `cmd`, fails the test unless it succeeds, and returns its stdout.
fn checked(cmd: &mut Command) -> String {
    let out = output(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// The package, built once for all tests of this binary.
fn package() -> &'static Path {
    static PACKAGE: OnceLock<PathBuf> = OnceLock::new();
    PACKAGE.get_or_init(|| {
        let mut script = Command::new(repo_root().join("scripts/package.sh"));
        // Variables cargo sets for this test describe this crate, not the
        // build; build scripts that watch them (ring's watches
        // CARGO_MANIFEST_DIR) would make the release build start over.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("CARGO_MANIFEST_")
                || name.starts_with("CARGO_PKG_")
                || name.starts_with("CARGO_BIN_")
                || [
                    "CARGO_CRATE_NAME",
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_TARGET_TMPDIR",
                    "OUT_DIR",
                ]
                .contains(&name.as_ref())
            {
                script.env_remove(name.as_ref());
            }
        }
        let stdout = checked(script.stderr(Stdio::inherit()));
        let deb = PathBuf::from(stdout.lines().last().expect("the script printed the path"));
        assert!(deb.is_file(), "{} is not a file", deb.display());
        let arch = checked(Command::new("dpkg").arg("--print-architecture"));
        assert_eq!(
            deb.file_name().unwrap().to_str().unwrap(),
            format!("radc_{VERSION}_{}.deb", arch.trim())
        );
        assert!(deb.parent().unwrap().ends_with("debian"));
        deb
    })
}

/// `(mode, path)` of each entry, paths absolute, directories with no
/// trailing slash.
fn contents(deb: &Path) -> Vec<(String, String)> {
    checked(Command::new("dpkg-deb").arg("--contents").arg(deb))
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(fields[1], "root/root", "owner of {line}");
            let path = fields[5].trim_start_matches('.').trim_end_matches('/');
            (fields[0].to_owned(), path.to_owned())
        })
        .filter(|(_, path)| !path.is_empty())
        .collect()
}

fn field(deb: &Path, name: &str) -> String {
    checked(
        Command::new("dpkg-deb")
            .args(["--field"])
            .arg(deb)
            .arg(name),
    )
    .trim()
    .to_owned()
}

/// One file of the package's control archive (`control`, `conffiles`, …).
fn control_file(deb: &Path, name: &str) -> String {
    checked(Command::new("dpkg-deb").arg("--info").arg(deb).arg(name))
}

fn extract(deb: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    checked(Command::new("dpkg-deb").arg("-x").arg(deb).arg(dir.path()));
    dir
}

/// The Debian package that holds the library the dynamic linker would load
/// for `soname`.
fn package_of_library(soname: &str) -> String {
    let cache = checked(Command::new("ldconfig").arg("-p"));
    let path = cache
        .lines()
        .filter(|l| l.trim_start().starts_with(&format!("{soname} ")))
        .filter_map(|l| l.split(" => ").nth(1))
        .next()
        .unwrap_or_else(|| panic!("the dynamic linker does not know {soname}"));
    // dpkg records a library under /lib or /usr/lib depending on the
    // package; the cache may give either spelling.
    let canonical = std::fs::canonicalize(path).unwrap();
    let mut candidates = vec![path.to_owned(), canonical.display().to_string()];
    for p in candidates.clone() {
        match p.strip_prefix("/usr") {
            Some(rest) => candidates.push(rest.to_owned()),
            None => candidates.push(format!("/usr{p}")),
        }
    }
    for candidate in &candidates {
        let out = output(Command::new("dpkg-query").arg("-S").arg(candidate));
        if out.status.success() {
            let line = String::from_utf8(out.stdout).unwrap();
            let package = line.split(':').next().unwrap().trim().to_owned();
            return package;
        }
    }
    panic!("no package holds {soname} ({candidates:?})")
}

#[test]
fn package_holds_every_file_and_declares_its_dependencies() {
    let deb = package();
    let entries = contents(deb);
    let paths: BTreeSet<&str> = entries.iter().map(|(_, p)| p.as_str()).collect();
    let mut wanted: Vec<String> = FILES.iter().map(|f| f.to_string()).collect();
    wanted.extend(
        SUBCOMMANDS
            .iter()
            .map(|s| format!("/usr/share/man/man1/radc-{s}.1.gz")),
    );
    for file in &wanted {
        assert!(
            paths.contains(file.as_str()),
            "{file} is missing: {paths:#?}"
        );
    }
    for (mode, path) in &entries {
        let expected = if mode.starts_with('d') {
            "drwxr-xr-x"
        } else if path.starts_with("/usr/bin/") {
            "-rwxr-xr-x"
        } else {
            "-rw-r--r--"
        };
        assert_eq!(mode, expected, "mode of {path}");
        if let Some(page) = path.strip_prefix("/usr/share/man/")
            && !mode.starts_with('d')
        {
            assert!(
                page.starts_with("man1/radc") && page.ends_with(".1.gz"),
                "unexpected man page {path}"
            );
        }
    }

    assert_eq!(field(deb, "Package"), "radc");
    assert_eq!(field(deb, "Version"), VERSION);
    let arch = checked(Command::new("dpkg").arg("--print-architecture"));
    assert_eq!(field(deb, "Architecture"), arch.trim());
    assert!(field(deb, "Maintainer").ends_with('>'));

    // Depends: the libraries the binary links (as dpkg-shlibdeps words
    // them), then exactly what radc runs.
    let depends = field(deb, "Depends");
    let shlibs = depends
        .strip_suffix(&format!(", {RUNTIME_DEPENDS}"))
        .unwrap_or_else(|| panic!("Depends does not end with the runtime's: {depends}"));
    let mut declared = BTreeSet::new();
    for dep in shlibs.split(", ") {
        let (name, version) = dep
            .split_once(" (>= ")
            .unwrap_or_else(|| panic!("{dep:?} is not NAME (>= VERSION)"));
        assert!(version.ends_with(')') && version.len() > 1, "{dep:?}");
        declared.insert(name.to_owned());
    }
    let unpacked = extract(deb);
    let mut linked = BTreeSet::new();
    for name in ["radc", "radc-gui"] {
        let binary = unpacked.path().join("usr/bin").join(name);
        let dynamic = checked(Command::new("readelf").arg("-d").arg(&binary));
        linked.extend(dynamic.lines().filter(|l| l.contains("(NEEDED)")).map(|l| {
            let soname = l.rsplit('[').next().unwrap().trim_end_matches(']');
            package_of_library(soname)
        }));
        // Stripped: no symbol table, no debug sections.
        let sections = checked(Command::new("readelf").arg("-S").arg(&binary));
        assert!(
            !sections.contains(".symtab") && !sections.contains(".debug_"),
            "/usr/bin/{name} is not stripped:\n{sections}"
        );
    }
    assert_eq!(declared, linked, "Depends: {depends}");
    // The window's libraries come with it.
    assert!(
        declared.iter().any(|p| p.starts_with("libgtk-4"))
            && declared.iter().any(|p| p.starts_with("libadwaita-1")),
        "Depends: {depends}"
    );

    // The window's desktop entry is valid and starts it.
    let entry = unpacked
        .path()
        .join("usr/share/applications/org.radc.Workspaces.desktop");
    checked(Command::new("desktop-file-validate").arg(&entry));
    let entry = std::fs::read_to_string(&entry).unwrap();
    assert!(entry.contains("\nExec=radc-gui window\n"), "{entry}");
    assert!(
        entry.contains("\nCategories=Network;RemoteAccess;\n"),
        "{entry}"
    );

    // The service files and the tray's autostart entry are what the binary
    // renders for /usr/bin/radc, the same text `radc setup` writes.
    for (what, installed, exec) in [
        (
            "dbus-service",
            "usr/share/dbus-1/services/org.radc.Runtime.service",
            "/usr/bin/radc daemon",
        ),
        (
            "systemd-unit",
            "usr/lib/systemd/user/radc.service",
            "/usr/bin/radc daemon",
        ),
        (
            "tray-autostart",
            "etc/xdg/autostart/radc-tray.desktop",
            "/usr/bin/radc tray",
        ),
    ] {
        let rendered = Command::new(env!("CARGO_BIN_EXE_radc"))
            .args(["setup", "--print", what, "--bin", "/usr/bin/radc"])
            .output()
            .unwrap();
        assert!(rendered.status.success());
        let text = std::fs::read(unpacked.path().join(installed)).unwrap();
        assert_eq!(rendered.stdout, text, "{installed}");
        assert!(String::from_utf8_lossy(&text).contains(exec), "{installed}");
    }
    // The autostart entry is a configuration file, and valid.
    assert_eq!(
        control_file(deb, "conffiles"),
        "/etc/xdg/autostart/radc-tray.desktop\n"
    );
    checked(
        Command::new("desktop-file-validate")
            .arg(unpacked.path().join("etc/xdg/autostart/radc-tray.desktop")),
    );
    let copyright =
        std::fs::read_to_string(unpacked.path().join("usr/share/doc/radc/copyright")).unwrap();
    assert!(copyright.starts_with(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
    ));
    assert!(copyright.contains("\nLicense: MIT\n Permission is hereby granted"));
}

#[test]
fn lintian_finds_no_errors() {
    let deb = package();
    let out = output(
        Command::new("lintian")
            .args(["--fail-on", "error", "--display-info"])
            .arg(deb),
    );
    let report = String::from_utf8_lossy(&out.stdout);
    eprintln!("lintian:\n{report}");
    assert!(
        out.status.success(),
        "lintian failed ({}):\n{report}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !report.lines().any(|l| l.starts_with("E: ")),
        "lintian errors:\n{report}"
    );
}

/// Removes the package when dropped, so a failed test leaves the system as
/// it found it.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        if is_installed() {
            let out = output(Command::new("dpkg").args(["--purge", "radc"]));
            if !out.status.success() {
                eprintln!(
                    "cannot remove radc: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
}

fn is_installed() -> bool {
    let out = output(Command::new("dpkg-query").args(["-W", "-f=${Status}", "radc"]));
    out.status.success() && !String::from_utf8_lossy(&out.stdout).ends_with("not-installed")
}

fn is_root() -> bool {
    checked(Command::new("id").arg("-u")).trim() == "0"
}

#[test]
fn installs_works_and_removes_cleanly() {
    if !is_root() {
        eprintln!("skipped: installing a package needs root");
        return;
    }
    let deb = package();
    // One install at a time on this machine, whichever checkout runs it.
    let lock = File::create(std::env::temp_dir().join("radc-package-test.lock")).unwrap();
    lock.lock().unwrap();

    // Never replace anything that is not this test's: another radc package,
    // or files of ours that something else put there.
    assert!(
        !is_installed(),
        "a radc package is installed; remove it before running this test"
    );
    let entries = contents(deb);
    let existed_before: BTreeSet<String> = entries
        .iter()
        .map(|(_, p)| p.clone())
        .filter(|p| Path::new(p).symlink_metadata().is_ok())
        .collect();
    for (mode, path) in &entries {
        assert!(
            mode.starts_with('d') || !existed_before.contains(path),
            "{path} exists already and the package would replace it"
        );
    }

    let guard = Installed;
    // `--path-include` undoes any dpkg path-exclude (containers often drop
    // /usr/share/man), so what is checked is what the package installs.
    checked(
        Command::new("dpkg")
            .args(["--path-include=*", "-i"])
            .arg(deb),
    );
    let listed: Vec<String> = checked(Command::new("dpkg").args(["-L", "radc"]))
        .lines()
        .filter(|l| *l != "/.")
        .map(str::to_owned)
        .collect();
    let listed_set: BTreeSet<&str> = listed.iter().map(String::as_str).collect();
    for (_, path) in &entries {
        assert!(listed_set.contains(path.as_str()), "dpkg -L lacks {path}");
        assert!(
            Path::new(path).symlink_metadata().is_ok(),
            "{path} not installed"
        );
    }

    let version = checked(Command::new("/usr/bin/radc").arg("--version"));
    assert_eq!(version.trim(), format!("radc {VERSION}"));
    // radc-gui finds its libraries (no display is needed for this).
    let version = checked(Command::new("/usr/bin/radc-gui").arg("--version"));
    assert_eq!(version.trim(), format!("radc-gui {VERSION}"));

    let man = |page: &str| {
        checked(
            Command::new("man")
                .arg("-l")
                .arg(format!("/usr/share/man/man1/{page}.1.gz"))
                .env("MANPAGER", "cat")
                .env("MANWIDTH", "100")
                .env("LC_ALL", "C"),
        )
    };
    let main_page = man("radc");
    assert!(main_page.contains("radc-subscribe(1)"), "{main_page}");
    assert!(main_page.contains("radc-disconnect(1)"), "{main_page}");
    assert!(!main_page.contains("radc-generate"), "{main_page}");
    let subscribe = man("radc-subscribe");
    assert!(subscribe.contains("--password-stdin"), "{subscribe}");
    let gui = man("radc-gui");
    assert!(gui.contains("--workspace NAME"), "{gui}");

    let complete = checked(Command::new("bash").args([
        "-c",
        "source /usr/share/bash-completion/completions/radc && complete -p radc",
    ]));
    assert!(complete.trim_end().ends_with(" radc"), "{complete}");
    // The other shells check their scripts' syntax when they are present.
    for (shell, flag, script) in [
        ("zsh", "-n", "/usr/share/zsh/vendor-completions/_radc"),
        (
            "fish",
            "--no-execute",
            "/usr/share/fish/vendor_completions.d/radc.fish",
        ),
    ] {
        if output(Command::new("sh").args(["-c", &format!("command -v {shell}")]))
            .status
            .success()
        {
            checked(Command::new(shell).arg(flag).arg(script));
        }
    }

    // Removed (not purged): only the configuration file stays, as for any
    // package; purged, nothing of it does.
    const CONFFILE: &str = "/etc/xdg/autostart/radc-tray.desktop";
    checked(Command::new("dpkg").args(["-r", "radc"]));
    for path in &listed {
        if !existed_before.contains(path) && path != CONFFILE {
            assert!(
                Path::new(path).symlink_metadata().is_err(),
                "{path} is left after removal"
            );
        }
    }
    assert!(Path::new(CONFFILE).exists(), "dpkg -r keeps conffiles");
    checked(Command::new("dpkg").args(["--purge", "radc"]));
    assert!(!is_installed());
    for path in &listed {
        if !existed_before.contains(path) {
            assert!(
                Path::new(path).symlink_metadata().is_err(),
                "{path} is left after purging"
            );
        }
    }
    drop(guard);
}
