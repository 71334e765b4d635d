//! FreeRDP command lines from `.rdp` files: expected arguments for 2.x and
//! 3.x, hostile values, files, and the real FreeRDP 2 and 3 parsers
//! (`xfreerdp`, `xfreerdp3`, `sdl-freerdp3`).
//!
//! The files under `tests/data/tswp/` are the resources of the [MS-TSWP]
//! section 4 examples (calc, mspaint and wordpad in `TestAppCollection`, the
//! `TestDesktopCollection` desktop on `examplehost.exampledomain`), written
//! the way RD Web Access writes them; the specification shows the feeds
//! only, not the files.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use radc_rdp::freerdp::{Launch, MappingError, Version, command_line, parse_version};
use radc_rdp::{RdpFile, Setting, Value};

const V2: Version = Version::new(2, 11, 7);
const V3: Version = Version::new(3, 5, 1);

fn fixture(name: &str) -> RdpFile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tswp")
        .join(name);
    RdpFile::parse(&std::fs::read(&path).unwrap()).unwrap()
}

fn launch<'a>(rdp: &'a RdpFile, files: &'a [PathBuf], stdin: bool) -> Launch<'a> {
    Launch {
        rdp,
        wm_class: "radc-examplehost-calc",
        files,
        credentials_from_stdin: stdin,
        title: None,
    }
}

fn with(mut rdp: RdpFile, extra: &[(&str, Value)]) -> RdpFile {
    // Later lines win, as in mstsc.
    for (name, value) in extra {
        rdp.settings.push(Setting {
            name: (*name).to_owned(),
            value: value.clone(),
        });
    }
    rdp
}

fn s(v: &str) -> Value {
    Value::Str(v.to_owned())
}

#[test]
fn calc_remote_app() {
    let rdp = fixture("calc-TestAppCollection-CmsRdsh.rdp");
    let l = launch(&rdp, &[], true);
    assert_eq!(
        command_line(&V2, &l).unwrap(),
        [
            "/cert-tofu",
            "/v:examplehost.exampledomain:3389",
            "/load-balance-info:tsv://MS Terminal Services Plugin.1.TestAppCollection",
            "/app:||calc-TestAppCollection-CmsRdsh",
            "/app-name:Calculator",
            "/bpp:32",
            "/microphone",
            "+clipboard",
            "/printer",
            "/smartcard",
            "+home-drive",
            "+fonts",
            "/from-stdin:force",
            "/wm-class:radc-examplehost-calc",
        ]
    );
    assert_eq!(
        command_line(&V3, &l).unwrap(),
        [
            "/cert:tofu",
            "/v:examplehost.exampledomain:3389",
            "/load-balance-info:tsv://MS Terminal Services Plugin.1.TestAppCollection",
            "/app:program:||calc-TestAppCollection-CmsRdsh,name:Calculator",
            "/bpp:32",
            "/microphone",
            "+clipboard",
            "/printer",
            "/smartcard",
            "+home-drive",
            "+fonts",
            "/from-stdin:force",
            "/wm-class:radc-examplehost-calc",
        ]
    );
}

#[test]
fn mspaint_through_a_gateway() {
    let rdp = fixture("mspaint-TestAppCollection-CmsRdsh.rdp");
    let mut l = launch(&rdp, &[], true);
    l.title = Some("Paint");
    assert_eq!(
        command_line(&V2, &l).unwrap(),
        [
            "/cert-tofu",
            "/v:examplehost.exampledomain:3389",
            "/g:rdgw.exampledomain",
            "/gateway-usage-method:detect",
            "/load-balance-info:tsv://MS Terminal Services Plugin.1.TestAppCollection",
            "/app:||mspaint-TestAppCollection-CmsRdsh",
            "/app-name:Paint",
            "/bpp:24",
            "/sound",
            "+clipboard",
            "+fonts",
            "/from-stdin:force",
            "/t:Paint",
            "/wm-class:radc-examplehost-calc",
        ]
    );
    assert_eq!(
        command_line(&V3, &l).unwrap()[2..6],
        [
            "/gateway:g:rdgw.exampledomain,usage-method:detect",
            "/load-balance-info:tsv://MS Terminal Services Plugin.1.TestAppCollection",
            "/app:program:||mspaint-TestAppCollection-CmsRdsh,name:Paint",
            "/bpp:24",
        ]
    );
}

#[test]
fn wordpad_utf16_ipv6_and_files() {
    let rdp = fixture("wordpad-TestAppCollection-CmsRdsh.rdp");
    let files = [
        PathBuf::from("/home/alice/Documents/Quarterly report.docx"),
        PathBuf::from("/home/alice/Documents/notes.rtf"),
        PathBuf::from("/media/usb/letter.odt"),
    ];
    let l = launch(&rdp, &files, true);
    let cmd = r#"/p "\\tsclient\radc1\Quarterly report.docx" \\tsclient\radc1\notes.rtf \\tsclient\radc2\letter.odt"#;
    assert_eq!(
        command_line(&V2, &l).unwrap(),
        [
            "/cert-deny",
            "/v:[2001:db8::15]:3390",
            "/g:rdgw.exampledomain:8443",
            "/gateway-usage-method:direct",
            "/load-balance-info:tsv://MS Terminal Services Plugin.1.TestAppCollection",
            "/app:||wordpad-TestAppCollection-CmsRdsh",
            "/app-name:WordPad",
            &format!("/app-cmd:{cmd}"),
            "/drive:radc1,/home/alice/Documents",
            "/drive:radc2,/media/usb",
            "/bpp:32",
            "-clipboard",
            "/printer",
            "/from-stdin:force",
            "/wm-class:radc-examplehost-calc",
        ]
    );
    assert_eq!(
        command_line(&V3, &l).unwrap()[..8],
        [
            "/cert:deny",
            "/v:[2001:db8::15]:3390",
            "/gateway:g:rdgw.exampledomain:8443,usage-method:direct",
            "/load-balance-info:tsv://MS Terminal Services Plugin.1.TestAppCollection",
            &format!("/app:program:||wordpad-TestAppCollection-CmsRdsh,name:WordPad,cmd:{cmd}"),
            "/drive:radc1,/home/alice/Documents",
            "/drive:radc2,/media/usb",
            "/bpp:32",
        ]
    );
}

#[test]
fn desktop() {
    let rdp = fixture("TSRemoteDesktop-TestDesktopCollection-CmsRdsh.rdp");
    let expected = |v3: bool| {
        [
            if v3 { "/cert:tofu" } else { "/cert-tofu" },
            "/v:examplehost.exampledomain",
            "/load-balance-info:tsv://MS Terminal Services Plugin.1.TestDesktopCollection",
            "/f",
            "/size:1920x1080",
            "/bpp:32",
            "/audio-mode:1",
            "/microphone",
            "+clipboard",
            "/smartcard",
            "+home-drive",
            "-wallpaper",
            "+themes",
            "-menu-anims",
            "-window-drag",
            "+fonts",
            "+aero",
            "/network:lan",
            "+auto-reconnect",
            "/u:alice",
            "/d:EXAMPLEDOMAIN",
            "/wm-class:radc-examplehost-calc",
        ]
    };
    assert_eq!(
        command_line(&V2, &launch(&rdp, &[], false)).unwrap(),
        expected(false)
    );
    assert_eq!(
        command_line(&V3, &launch(&rdp, &[], false)).unwrap(),
        expected(true)
    );
    let stdin = command_line(&V2, &launch(&rdp, &[], true)).unwrap();
    assert!(stdin.contains(&"/from-stdin:force".to_owned()));
    assert!(
        !stdin
            .iter()
            .any(|a| a.starts_with("/u:") || a.starts_with("/d:"))
    );
}

#[test]
fn version_strings() {
    assert_eq!(
        parse_version("This is FreeRDP version 2.11.7 (2.11.7)"),
        Some(V2)
    );
    assert_eq!(
        parse_version("This is FreeRDP version 3.5.1 (3.5.1)\n"),
        Some(V3)
    );
}

/// Values that would add options if FreeRDP split them, or if they reached
/// a shell. FreeRDP 2 takes every one of these whole.
const HOSTILE: &[(&str, &str)] = &[
    (
        "remoteapplicationcmdline",
        "/version, /p:secret,+drives -clipboard",
    ),
    (
        "remoteapplicationcmdline",
        "\"C:\\a b\\c.txt\" ; $(touch /tmp/x) `id`",
    ),
    ("remoteapplicationname", "x,cmd:/c calc,file:evil"),
    ("remoteapplicationname", "/help"),
    ("remoteapplicationprogram", "||calc,cmd:evil"),
    ("loadbalanceinfo", "tsv://x,/drive:all,/"),
    ("username", "-u evil /p:x"),
    ("domain", "+drives"),
];

#[test]
fn hostile_values_stay_one_argument_or_are_refused() {
    let base = fixture("calc-TestAppCollection-CmsRdsh.rdp");
    for (setting, value) in HOSTILE {
        let rdp = with(base.clone(), &[(setting, s(value))]);
        let v2 = command_line(&V2, &launch(&rdp, &[], false)).unwrap();
        assert!(v2.iter().any(|a| a.ends_with(value)), "{setting}: {v2:?}");
        match command_line(&V3, &launch(&rdp, &[], false)) {
            Ok(v3) => {
                // Whole values pass; inside a comma-separated list only
                // what cannot start another item does.
                assert!(v3.iter().any(|a| a.ends_with(value)), "{v3:?}");
                if setting.starts_with("remoteapplication") {
                    assert!(!value.contains(','), "{setting}: {v3:?}");
                }
            }
            Err(MappingError::Setting { setting: named, .. }) => assert_eq!(named, *setting),
            Err(other) => panic!("{setting}: {other:?}"),
        }
    }
    for (setting, value) in [
        ("full address", s("evil.test,/drive:x,/")),
        ("full address", s("evil.test /p:x")),
        ("full address", s("")),
        ("gatewayhostname", s("gw,u:attacker")),
        ("remoteapplicationcmdline", s("a\u{0}b")),
        ("remoteapplicationname", s("a\r\n/p:x")),
        ("session bpp", Value::Int(i64::MAX)),
        ("server port", Value::Int(70000)),
        ("desktopwidth", Value::Int(100_000)),
        ("audiomode", Value::Int(-1)),
        ("remoteapplicationmode", Value::Binary(vec![1])),
    ] {
        let rdp = with(base.clone(), &[(setting, value.clone())]);
        for version in [V2, V3] {
            match command_line(&version, &launch(&rdp, &[], false)) {
                Err(MappingError::Setting { setting: named, .. }) => {
                    assert_eq!(named, setting, "{value:?}")
                }
                other => panic!("{setting} {value:?}: {other:?}"),
            }
        }
    }
}

// ---- The real FreeRDP 2 parser ----

/// An `Xvfb` for the test's lifetime: xfreerdp 2 opens the display before
/// it parses its arguments.
struct Xvfb(Child, String);

impl Xvfb {
    fn start() -> Xvfb {
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-nolisten",
                "tcp",
                "-screen",
                "0",
                "1024x768x24",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb is needed to run xfreerdp (install xvfb)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let display = line.trim().to_owned();
        assert!(
            !display.is_empty() && display.bytes().all(|b| b.is_ascii_digit()),
            "Xvfb printed no display number: {line:?}"
        );
        Xvfb(child, format!(":{display}"))
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Run {
    code: Option<i32>,
    output: String,
}

/// `program args` with nothing of this process's environment but `PATH`,
/// on `display`, with `home` as its home.
fn client_command(program: &str, display: &str, home: &Path, args: &[String]) -> Command {
    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DISPLAY", display)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"));
    command
}

fn run_xfreerdp(display: &str, home: &Path, args: &[String]) -> Run {
    let mut child = client_command("xfreerdp", display, home, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xfreerdp (FreeRDP 2) must be installed: apt install freerdp2-x11");
    // What a launcher writes for /from-stdin:force: the password first.
    let _ = child.stdin.take().unwrap().write_all(b"pw\nuser\ndomain\n");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("xfreerdp {args:?} did not exit within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut output = String::from_utf8_lossy(&out.join().unwrap()).into_owned();
    output.push_str(&String::from_utf8_lossy(&err.join().unwrap()));
    Run {
        code: status.code(),
        output,
    }
}

/// FreeRDP 2 exits with its parser's status (COMMAND_LINE_ERROR* are
/// -1000 to -1006, so 24 down to 18 as an exit code) after printing the
/// usage; once parsing succeeded it tries to connect and reports
/// `ERRCONNECT_*` with an exit code of 128 or more.
fn assert_parsed(run: &Run, args: &[String]) {
    let usage = run.output.contains("Usage: xfreerdp");
    let parse_code = matches!(run.code, Some(18..=24) | Some(255) | None);
    let connected = run.output.contains("ERRCONNECT_") || matches!(run.code, Some(128..=160));
    assert!(
        !usage && !parse_code && connected,
        "xfreerdp did not accept {args:?}: exit {:?}\n{}",
        run.code,
        run.output
    );
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("radc-freerdp-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Points a file at a closed local port (and its gateway too) so xfreerdp
/// fails fast, after parsing.
fn local(rdp: RdpFile) -> RdpFile {
    let gateway = rdp
        .get_str("gatewayhostname")
        .is_some_and(|g| !g.trim().is_empty());
    let mut extra = vec![
        ("full address", s("127.0.0.1:1")),
        ("alternate full address", s("")),
    ];
    if gateway {
        extra.push(("gatewayhostname", s("127.0.0.1:1")));
    }
    with(rdp, &extra)
}

/// A generated command line to check: label, file, files to open,
/// credentials on stdin.
type Case = (String, RdpFile, Vec<PathBuf>, bool);

/// What both parser checks run (each adds a file with every setting):
/// the example resources (credentials on stdin or not, RemoteApps with
/// `files` to open), hostile values, an IPv6 address, and desktops through
/// a gateway with each usage method and credential setting. Everything
/// points at closed local ports.
fn generated_cases(files: &[PathBuf]) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    for name in [
        "calc-TestAppCollection-CmsRdsh.rdp",
        "mspaint-TestAppCollection-CmsRdsh.rdp",
        "wordpad-TestAppCollection-CmsRdsh.rdp",
        "TSRemoteDesktop-TestDesktopCollection-CmsRdsh.rdp",
    ] {
        let rdp = local(fixture(name));
        let app = rdp.get_int("remoteapplicationmode") == Some(1);
        cases.push((format!("{name} stdin"), rdp.clone(), vec![], true));
        cases.push((format!("{name} argv"), rdp.clone(), vec![], false));
        if app {
            cases.push((format!("{name} files"), rdp, files.to_vec(), true));
        }
    }
    let calc = local(fixture("calc-TestAppCollection-CmsRdsh.rdp"));
    for (setting, value) in HOSTILE {
        cases.push((
            format!("hostile {setting}"),
            with(calc.clone(), &[(setting, s(value))]),
            vec![],
            false,
        ));
    }
    cases.push((
        "ipv6".into(),
        with(calc, &[("full address", s("[::1]:1"))]),
        vec![],
        true,
    ));
    let desktop = local(fixture("TSRemoteDesktop-TestDesktopCollection-CmsRdsh.rdp"));
    cases.extend(
        [(1, 1, 0), (2, 0, 1), (3, 1, 5)]
            .into_iter()
            .map(|(method, once, source)| {
                let rdp = with(
                    desktop.clone(),
                    &[
                        ("gatewayhostname", s("127.0.0.1:1")),
                        ("gatewayusagemethod", Value::Int(method)),
                        ("promptcredentialonce", Value::Int(once)),
                        ("gatewaycredentialssource", Value::Int(source)),
                        ("gatewayprofileusagemethod", Value::Int(1)),
                        ("drivestoredirect", s("*")),
                    ],
                );
                (format!("gateway method {method}"), rdp, vec![], true)
            }),
    );
    cases
}

#[test]
fn real_freerdp2_parser_accepts_generated_command_lines() {
    let xvfb = Xvfb::start();
    let home = temp_dir("home");
    let docs = temp_dir("My Documents");
    let other = temp_dir("other");
    let files = [
        docs.join("Quarterly report.docx"),
        docs.join("notes, draft.rtf"),
        other.join("Bob's letter.odt"),
    ];
    for f in &files {
        std::fs::write(f, b"x").unwrap();
    }

    let version = {
        let run = run_xfreerdp(&xvfb.1, &home, &["/version".to_owned()]);
        parse_version(&run.output).unwrap_or_else(|| panic!("no version in {:?}", run.output))
    };
    assert_eq!(
        version.major, 2,
        "this test is for FreeRDP 2, found {version}"
    );

    let cases = generated_cases(&files);

    for (label, rdp, files, stdin) in &cases {
        let mut l = launch(rdp, files, *stdin);
        l.title = Some("Title, with /t:comma");
        let args = command_line(&version, &l).unwrap_or_else(|e| panic!("{label}: {e}"));
        let started = Instant::now();
        let run = run_xfreerdp(&xvfb.1, &home, &args);
        assert_parsed(&run, &args);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{label}: xfreerdp took {:?}",
            started.elapsed()
        );
    }

    // The check itself must tell a parse failure apart.
    for bad in [
        vec!["/cert-tofu", "/v:127.0.0.1:1", "/no-such-option"],
        vec!["/cert-tofu", "/v:127.0.0.1:1", "/bpp:99999999999"],
        vec![
            "/cert-tofu",
            "/v:127.0.0.1:1",
            "/dynamic-resolution",
            "/smart-sizing",
        ],
    ] {
        let args: Vec<String> = bad.iter().map(|a| (*a).to_owned()).collect();
        let run = run_xfreerdp(&xvfb.1, &home, &args);
        assert!(
            matches!(run.code, Some(18..=24)) && run.output.contains("Usage: xfreerdp"),
            "{args:?} should fail to parse: {:?}\n{}",
            run.code,
            run.output
        );
    }

    for dir in [&home, &docs, &other] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

// ---- The real FreeRDP 3 parsers ----

/// How a FreeRDP 3 client took a command line.
#[derive(Debug)]
enum Parsed {
    /// It accepted it and tried to connect: it logged a connection error
    /// (`ERRCONNECT_*`), or exited with a connection failure status.
    Connecting,
    /// It refused it: a parser status (18 to 24) or the parser's log line.
    Refused(Option<i32>),
}

/// Runs FreeRDP 3 `program` with `args` against a closed local port and
/// tells whether its parser accepted them. FreeRDP logs through WLog's
/// file appender (flushed per line) so the verdict is known as soon as it
/// is logged: sdl-freerdp3 does not exit after a failed connection, so
/// it is killed once it has said it is connecting.
fn parse_with(program: &str, display: &str, home: &Path, args: &[String]) -> (Parsed, String) {
    let log_dir = temp_dir("log3");
    let log = log_dir.join("freerdp.log");
    let mut child = client_command(program, display, home, args)
        .env("XDG_RUNTIME_DIR", home)
        .env("WLOG_LEVEL", "INFO")
        .env("WLOG_APPENDER", "FILE")
        .env("WLOG_FILEAPPENDER_OUTPUT_FILE_PATH", &log_dir)
        .env("WLOG_FILEAPPENDER_OUTPUT_FILE_NAME", "freerdp.log")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("{program} runs ({e}): run scripts/install-deps.sh"));
    let _ = child.stdin.take().unwrap().write_all(b"pw\n");
    let deadline = Instant::now() + Duration::from_secs(20);
    let parsed = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("Command line parsing failed") || text.contains("Failed at index") {
            break Parsed::Refused(None);
        }
        if text.contains("ERRCONNECT_") {
            break Parsed::Connecting;
        }
        if let Some(status) = child.try_wait().unwrap() {
            break match status.code() {
                Some(128..=160) => Parsed::Connecting,
                code => Parsed::Refused(code),
            };
        }
        assert!(
            Instant::now() < deadline,
            "{program} {args:?} neither failed to parse nor connected within 20 s:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // The whole group: nothing of it outlives the check.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&log_dir);
    (parsed, text)
}

/// Every command line radc writes for FreeRDP 3: the desktop, RemoteApp,
/// gateway and drive-redirection cases of the FreeRDP 2 check, for the X11
/// client and for the SDL client (which radc refuses RemoteApps for; the
/// X11 client's lines go through its parser too, which is FreeRDP's common
/// one).
#[test]
fn real_freerdp3_parsers_accept_generated_command_lines() {
    use radc_rdp::freerdp::{Client, command_line_for};

    let xvfb = Xvfb::start();
    let home = temp_dir("home3");
    let docs = temp_dir("Docs3");
    let files = [docs.join("Quarterly report.docx"), docs.join("notes.rtf")];
    for f in &files {
        std::fs::write(f, b"x").unwrap();
    }
    let programs = ["xfreerdp3", "sdl-freerdp3"];
    let mut version = None;
    for program in programs {
        let out = Command::new(program)
            .arg("/version")
            .env("DISPLAY", &xvfb.1)
            .output()
            .unwrap_or_else(|e| panic!("{program} runs ({e}): run scripts/install-deps.sh"));
        let found = parse_version(&String::from_utf8_lossy(&out.stdout))
            .unwrap_or_else(|| panic!("{program} /version printed no version"));
        assert_eq!(found.major, 3, "{program} is FreeRDP {found}");
        version = Some(found);
    }
    let version = version.unwrap();

    let cases = generated_cases(&files);

    let mut checked = [0, 0];
    for (label, rdp, files, stdin) in &cases {
        let mut l = launch(rdp, files, *stdin);
        l.title = Some("Title, with /t:comma");
        // The X11 client's line, if radc writes one (hostile values in a
        // 3.x list are refused), through both parsers; the SDL client's
        // own line through its parser.
        let x11 = match command_line_for(&Client::x11(version), &l) {
            Ok(c) => c.args,
            Err(MappingError::Setting { .. }) if label.starts_with("hostile") => continue,
            Err(e) => panic!("{label}: {e}"),
        };
        let sdl = match command_line_for(&Client::sdl(version), &l) {
            Ok(c) => Some(c.args),
            Err(MappingError::Client { .. }) if rdp.get_int("remoteapplicationmode") == Some(1) => {
                None
            }
            Err(e) => panic!("{label} (sdl): {e}"),
        };
        let runs = [("xfreerdp3", &x11), ("sdl-freerdp3", &x11)]
            .into_iter()
            .chain(sdl.as_ref().map(|a| ("sdl-freerdp3", a)));
        for (index, (program, args)) in runs.enumerate() {
            let (parsed, log) = parse_with(program, &xvfb.1, &home, args);
            assert!(
                matches!(parsed, Parsed::Connecting),
                "{program} did not accept {label}: {args:?}: {parsed:?}\n{log}"
            );
            checked[usize::from(index > 0)] += 1;
        }
    }
    assert!(checked[0] >= 10 && checked[1] >= 10, "{checked:?}");

    // The check itself must tell a parse failure apart, in both.
    for program in programs {
        for bad in [
            vec!["/cert:tofu", "/v:127.0.0.1:1", "/no-such-option"],
            vec!["/cert:tofu", "/v:127.0.0.1:1", "/app:program:x,bogus:y"],
            vec!["/cert:tofu", "/v:127.0.0.1:1", "/gateway:g:h,bogus:1"],
        ] {
            let args: Vec<String> = bad.iter().map(|a| (*a).to_owned()).collect();
            let (parsed, log) = parse_with(program, &xvfb.1, &home, &args);
            assert!(
                matches!(parsed, Parsed::Refused(None | Some(18..=24))),
                "{program} {args:?} should fail to parse: {parsed:?}\n{log}"
            );
        }
    }
    for dir in [&home, &docs] {
        let _ = std::fs::remove_dir_all(dir);
    }
}
