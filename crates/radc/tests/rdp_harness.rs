//! The RDP test server itself, checked with a real `xfreerdp`: the right
//! password gets a session, the server sees it end when the client is
//! killed, and a wrong password is refused. Credentials go through
//! xfreerdp's stdin only.

mod common;

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::rdp::{GroupChild, RdpServer, XFREERDP, XvfbDisplay, exit_code, free_port};

const SIGTERM: i32 = 15;

/// Starts xfreerdp against `address` with `stdin` written to it (and then
/// closed), on its own display and with its own HOME, so the server's
/// certificate is new to it and `/cert:tofu` accepts it.
fn xfreerdp(display: &XvfbDisplay, home: &Path, address: &str, stdin: &str) -> GroupChild {
    let mut cmd = Command::new(XFREERDP);
    cmd.arg(format!("/v:{address}"))
        .arg("/from-stdin:force")
        .arg("/cert:tofu")
        .env("DISPLAY", display.display())
        .env_remove("XAUTHORITY")
        .env_remove("WAYLAND_DISPLAY")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(home.join("xfreerdp.log")).unwrap());
    let mut client = GroupChild::spawn(cmd, false).expect("xfreerdp starts");
    let mut pipe = client.child().stdin.take().unwrap();
    // A client that already gave up has closed its end; its exit status tells.
    let _ = pipe.write_all(stdin.as_bytes());
    drop(pipe);
    client
}

fn client_log(home: &Path) -> String {
    std::fs::read_to_string(home.join("xfreerdp.log")).unwrap_or_default()
}

fn terminate(client: &mut GroupChild) -> ExitStatus {
    client.signal_group("TERM");
    client
        .wait_timeout(Duration::from_secs(5))
        .expect("xfreerdp exits on SIGTERM")
}

#[test]
fn right_password_gets_a_session_that_ends_with_the_client() {
    let server = RdpServer::start();
    let display = XvfbDisplay::start();
    let home = tempfile::tempdir().unwrap();

    let started = Instant::now();
    let mut client = xfreerdp(
        &display,
        home.path(),
        &server.address(),
        &server.stdin_credentials(),
    );
    assert!(
        server.wait_for_session(Duration::from_secs(8)),
        "no session; server log:\n{}\nclient log:\n{}",
        server.log(),
        client_log(home.path())
    );
    eprintln!(
        "xfreerdp start to server-side session: {:?}",
        started.elapsed()
    );
    assert_eq!(server.activations(), 1);
    assert_eq!(server.auth_failures(), 0);
    assert_eq!(server.open_connections(), 1);
    assert!(!client.has_exited(), "xfreerdp stays connected");

    let status = terminate(&mut client);
    assert_eq!(status.signal(), Some(SIGTERM), "{status:?}");
    assert!(
        server.wait_for_no_session(Duration::from_secs(3)),
        "the server still holds the connection; its log:\n{}",
        server.log()
    );
}

#[test]
fn wrong_password_is_refused() {
    let server = RdpServer::start();
    let display = XvfbDisplay::start();
    let home = tempfile::tempdir().unwrap();

    let mut client = xfreerdp(
        &display,
        home.path(),
        &server.address(),
        &server.stdin_credentials_with_password("not the password"),
    );
    let status = client
        .wait_timeout(Duration::from_secs(8))
        .expect("xfreerdp gives up");
    // The shadow server closes the connection without an NLA error code,
    // so FreeRDP reports a transport failure rather than a logon failure.
    assert_eq!(
        status.code(),
        Some(exit_code::TRANSPORT_FAILED),
        "{status:?}; client log:\n{}",
        client_log(home.path())
    );
    assert!(server.auth_failures() >= 1, "server log:\n{}", server.log());
    assert_eq!(server.activations(), 0, "server log:\n{}", server.log());
    assert!(server.wait_for_no_session(Duration::from_secs(3)));
}

#[test]
fn missing_user_name_ends_without_connecting() {
    let server = RdpServer::start();
    let display = XvfbDisplay::start();
    let home = tempfile::tempdir().unwrap();

    // Only the password: stdin ends where the user name should be.
    let stdin = format!("{}\n", server.password());
    let mut client = xfreerdp(&display, home.path(), &server.address(), &stdin);
    let status = client
        .wait_timeout(Duration::from_secs(8))
        .expect("xfreerdp gives up");
    assert_eq!(
        status.code(),
        Some(exit_code::MISSING_CREDENTIALS),
        "{status:?}"
    );
    assert_eq!(server.activations(), 0);
}

#[test]
fn closed_port_is_a_transport_failure() {
    let display = XvfbDisplay::start();
    let home = tempfile::tempdir().unwrap();
    let address = format!("127.0.0.1:{}", free_port());

    let stdin = common::rdp::stdin_credentials("alice", "RADCTEST", "pw");
    let mut client = xfreerdp(&display, home.path(), &address, &stdin);
    let status = client
        .wait_timeout(Duration::from_secs(8))
        .expect("xfreerdp gives up");
    assert_eq!(
        status.code(),
        Some(exit_code::TRANSPORT_FAILED),
        "{status:?}"
    );
}
