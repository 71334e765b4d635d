//! The runtime's D-Bus contract, called through the typed proxies of
//! `radc-client` (and, for the unprivileged caller, from Python).

mod common;

use std::fmt::Debug;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::{TestBus, TestClient, Timeouts, eventually};
use futures_util::StreamExt;
use radc_client::proxy::{
    RuntimeProxy, WorkspaceProxy, WorkspaceRegistrationProxy, WorkspaceReportMessageProxy,
    WorkspaceResTypeRegistryProxy, WorkspaceScriptableProxy,
};
use radc_client::{Registration, Runtime};
use zbus::Connection;

const INVALID_ARGS: (&str, &str) = ("org.radc.Error.InvalidArgs", "0x80070057");
const NOT_FOUND: (&str, &str) = ("org.radc.Error.NotFound", "0x80070490");
const NOT_SUPPORTED: (&str, &str) = ("org.radc.Error.NotSupported", "0x80004001");
const FAILED: (&str, &str) = ("org.radc.Error.Failed", "0x80004005");

const SHA1: &str = "0123456789abcdef0123456789ABCDEF01234567";
const SHA256: &str = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";

/// Flags of `StartWorkspace`.
const CLEAR_ON_LAST_RESOURCE: u32 = 0x1;
const PASSWORD_ENCRYPTED: u32 = 0x2;
const CREDS_AUTHENTICATED: u32 = 0x4;

/// A bus with the runtime serving on it.
async fn start_bus() -> TestBus {
    TestBus::start().await
}

/// A connection for SDK clients.
async fn client_connection(bus: &TestBus) -> Connection {
    bus.connect().await
}

/// Asserts that a call was refused with `expected` (error name, HRESULT the
/// message starts with) and returns the message.
#[track_caller]
fn refused<T: Debug>(result: zbus::Result<T>, expected: (&str, &str)) -> String {
    let (name, hresult) = expected;
    match result {
        Err(zbus::Error::MethodError(got, message, _)) => {
            let message = message.unwrap_or_default();
            assert_eq!(got.as_str(), name, "error name (message: {message})");
            assert!(
                message.starts_with(&format!("{hresult}: ")),
                "{name} message should start with {hresult}: {message:?}"
            );
            message
        }
        other => panic!("expected {name}, got {other:?}"),
    }
}

/// Registers a client for `workspace` and waits until the runtime lists it
/// as connected.
async fn register(runtime: &Runtime, conn: &Connection, workspace: &str) -> Registration {
    let reg = runtime
        .add_resource(TestClient::new(
            workspace.to_owned(),
            format!("App of {workspace}"),
        ))
        .await
        .expect("AddResource");
    let cookie = reg.cookie();
    let registration = WorkspaceRegistrationProxy::new(conn).await.unwrap();
    eventually(Duration::from_secs(5), "the client to be connected", || {
        let registration = registration.clone();
        async move {
            registration
                .list_resources()
                .await
                .unwrap()
                .iter()
                .any(|r| r.0 == cookie && r.3 == "connected")
        }
    })
    .await;
    reg
}

async fn scriptable(bus: &TestBus) -> WorkspaceScriptableProxy<'static> {
    WorkspaceScriptableProxy::new(&bus.connect().await)
        .await
        .unwrap()
}

async fn start(
    s: &WorkspaceScriptableProxy<'_>,
    ws: &str,
    params: &str,
    timeout_minutes: i32,
    flags: u32,
) -> zbus::Result<()> {
    s.start_workspace(ws, "CORP\\alice", "s3cret", params, timeout_minutes, flags)
        .await
}

async fn specified(s: &WorkspaceScriptableProxy<'_>, ws: &str) -> (bool, bool) {
    (
        s.is_workspace_credential_specified(ws, false)
            .await
            .unwrap(),
        s.is_workspace_credential_specified(ws, true).await.unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_count_as_authenticated_only_when_they_are() {
    let bus = start_bus().await;
    let s = scriptable(&bus).await;

    assert!(!s.is_workspace_sso_enabled().await.unwrap());
    assert_eq!(specified(&s, "ws-a").await, (false, false));

    // Unauthenticated: counted only when asked to.
    start(&s, "ws-a", &format!("{SHA1};{SHA256}"), 10, 0)
        .await
        .unwrap();
    assert_eq!(specified(&s, "ws-a").await, (false, true));
    assert_eq!(specified(&s, "ws-other").await, (false, false));

    // OnAuthenticated makes them authenticated.
    s.on_authenticated("ws-a", "alice@corp").await.unwrap();
    assert_eq!(specified(&s, "ws-a").await, (true, true));

    // Clear removes them.
    s.clear_workspace_credential("ws-a").await.unwrap();
    assert_eq!(specified(&s, "ws-a").await, (false, false));
    // Clearing nothing is fine.
    s.clear_workspace_credential("ws-a").await.unwrap();

    // The authenticated flag, thumbprints written as viewers print them,
    // timeout 0 (until cleared).
    let colon_sha1 = SHA1
        .as_bytes()
        .chunks(2)
        .map(|p| std::str::from_utf8(p).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    start(
        &s,
        "ws-b",
        &format!(" {colon_sha1} ;;"),
        0,
        CREDS_AUTHENTICATED,
    )
    .await
    .unwrap();
    assert_eq!(specified(&s, "ws-b").await, (true, true));

    // Replacing them with unauthenticated ones drops the authentication.
    start(&s, "ws-b", "", 5, 0).await.unwrap();
    assert_eq!(specified(&s, "ws-b").await, (false, true));

    // OnAuthenticated without credentials.
    let msg = refused(s.on_authenticated("ws-none", "bob").await, NOT_FOUND);
    assert!(msg.contains("ws-none"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_workspace_refuses_bad_arguments_and_stores_nothing() {
    let bus = start_bus().await;
    let s = scriptable(&bus).await;
    let huge = "x".repeat(100 * 1024);

    let msg = refused(
        start(&s, "ws", "", 1, PASSWORD_ENCRYPTED).await,
        NOT_SUPPORTED,
    );
    assert!(msg.contains("ENCRYPTED"), "{msg}");
    refused(
        start(&s, "ws", "", 1, PASSWORD_ENCRYPTED | CREDS_AUTHENTICATED).await,
        NOT_SUPPORTED,
    );
    for flags in [0x8, 0x10, 0x8000_0000, u32::MAX] {
        let msg = refused(start(&s, "ws", "", 1, flags).await, INVALID_ARGS);
        assert!(msg.contains("unknown"), "{flags:#x}: {msg}");
    }
    refused(start(&s, "ws", "", -1, 0).await, INVALID_ARGS);
    refused(start(&s, "ws", "", i32::MIN, 0).await, INVALID_ARGS);
    refused(start(&s, "ws", "", i32::MAX, 0).await, INVALID_ARGS);
    for params in [
        "abcd",
        "not-hex",
        &"g".repeat(40),
        &SHA1[..39],
        &format!("{SHA1}0"),
        &format!("{SHA1};bad"),
        &format!("{SHA256}00"),
        &huge,
    ] {
        refused(start(&s, "ws", params, 1, 0).await, INVALID_ARGS);
    }
    refused(start(&s, "", "", 1, 0).await, INVALID_ARGS);
    refused(start(&s, "a\nb", "", 1, 0).await, INVALID_ARGS);
    refused(start(&s, &huge, "", 1, 0).await, INVALID_ARGS);
    refused(
        s.start_workspace("ws", &huge, "p", "", 1, 0).await,
        INVALID_ARGS,
    );
    refused(
        s.start_workspace("ws", "", "p", "", 1, 0).await,
        INVALID_ARGS,
    );
    refused(
        s.start_workspace("ws", "u", &huge, "", 1, 0).await,
        INVALID_ARGS,
    );
    // None of that stored anything.
    assert_eq!(specified(&s, "ws").await, (false, false));

    // The other methods check the workspace id the same way.
    for ws in ["", huge.as_str()] {
        refused(
            s.is_workspace_credential_specified(ws, true).await,
            INVALID_ARGS,
        );
        refused(s.clear_workspace_credential(ws).await, INVALID_ARGS);
        refused(s.on_authenticated(ws, "u").await, INVALID_ARGS);
        refused(s.disconnect_workspace(ws).await, INVALID_ARGS);
    }
    start(&s, "ws", "", 1, 0).await.unwrap();
    refused(s.on_authenticated("ws", &huge).await, INVALID_ARGS);
    assert_eq!(specified(&s, "ws").await, (false, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_workspace_clears_credentials() {
    let bus = start_bus().await;
    let s = scriptable(&bus).await;

    // With no clients at all.
    start(&s, "lonely", "", 0, CREDS_AUTHENTICATED)
        .await
        .unwrap();
    start(&s, "bystander", "", 0, CREDS_AUTHENTICATED)
        .await
        .unwrap();
    assert!(s.disconnect_workspace("lonely").await.unwrap().is_empty());
    assert_eq!(specified(&s, "lonely").await, (false, false));
    assert_eq!(specified(&s, "bystander").await, (true, true));

    // With a client, which is asked to disconnect.
    let conn = client_connection(&bus).await;
    let runtime = Runtime::with_connection(conn.clone()).await.unwrap();
    let reg = register(&runtime, &conn, "busy").await;
    start(&s, "busy", "", 0, 0).await.unwrap();
    let rows = s.disconnect_workspace("busy").await.unwrap();
    assert_eq!(rows, vec![(reg.cookie(), "ok".to_owned(), String::new())]);
    assert_eq!(specified(&s, "busy").await, (false, false));
    assert_eq!(specified(&s, "bystander").await, (true, true));
    runtime.remove_resource(reg).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_on_last_resource_waits_for_the_last_client() {
    let bus = start_bus().await;
    let s = scriptable(&bus).await;
    let conn = client_connection(&bus).await;
    let runtime = Runtime::with_connection(conn.clone()).await.unwrap();

    let first = register(&runtime, &conn, "flagged").await;
    let second = register(&runtime, &conn, "flagged").await;
    let kept = register(&runtime, &conn, "unflagged").await;
    start(
        &s,
        "flagged",
        "",
        0,
        CLEAR_ON_LAST_RESOURCE | CREDS_AUTHENTICATED,
    )
    .await
    .unwrap();
    start(&s, "unflagged", "", 0, CREDS_AUTHENTICATED)
        .await
        .unwrap();

    runtime.remove_resource(first).await.unwrap();
    assert_eq!(
        specified(&s, "flagged").await,
        (true, true),
        "one client of the workspace is still there"
    );
    runtime.remove_resource(second).await.unwrap();
    eventually(
        Duration::from_secs(5),
        "the flagged credentials to go",
        || async {
            !s.is_workspace_credential_specified("flagged", true)
                .await
                .unwrap()
        },
    )
    .await;

    // Without the flag, the last client leaving changes nothing.
    runtime.remove_resource(kept).await.unwrap();
    assert_eq!(specified(&s, "unflagged").await, (true, true));

    // A client whose process goes away counts as leaving too.
    let vanishing = client_connection(&bus).await;
    let gone_runtime = Runtime::with_connection(vanishing.clone()).await.unwrap();
    let reg = register(&gone_runtime, &conn, "flagged").await;
    start(&s, "flagged", "", 0, CLEAR_ON_LAST_RESOURCE)
        .await
        .unwrap();
    assert_eq!(specified(&s, "flagged").await, (false, true));
    drop(reg);
    drop(gone_runtime);
    vanishing.close().await.unwrap();
    eventually(
        Duration::from_secs(5),
        "the credentials of a vanished client's workspace to go",
        || async {
            !s.is_workspace_credential_specified("flagged", true)
                .await
                .unwrap()
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_interface() {
    let bus = start_bus().await;
    let conn = client_connection(&bus).await;
    let ws = WorkspaceProxy::new(&conn).await.unwrap();

    assert_eq!(
        ws.get_process_id().await.unwrap(),
        bus.runtime_pid().unwrap()
    );
    assert!(ws.get_workspace_names().await.unwrap().is_empty());

    // Launching itself is covered by tests/launch.rs; here, what is refused
    // before anything starts.
    let msg = refused(
        ws.start_remote_application("rdweb.example.com", &["/app:notepad"])
            .await,
        INVALID_ARGS,
    );
    assert!(msg.contains("not valid: line 1"), "{msg}");
    let msg = refused(
        ws.start_remote_application("rdweb.example.com", &[]).await,
        INVALID_ARGS,
    );
    assert!(msg.contains("got 0 parameters"), "{msg}");
    refused(ws.start_remote_application("", &[]).await, INVALID_ARGS);

    let runtime = Runtime::with_connection(conn.clone()).await.unwrap();
    let a = register(&runtime, &conn, "ws-b").await;
    let b = register(&runtime, &conn, "ws-a").await;
    let c = register(&runtime, &conn, "ws-a").await;
    // With no feed, a workspace goes by what its clients call it.
    assert_eq!(
        ws.get_workspace_names().await.unwrap(),
        vec!["App of ws-a".to_owned(), "App of ws-b".to_owned()]
    );

    // A friendly name learnt from ResourceDismissed replaces it.
    let s = WorkspaceScriptableProxy::new(&conn).await.unwrap();
    s.resource_dismissed("ws-b", "Contoso Apps").await.unwrap();
    assert_eq!(
        ws.get_workspace_names().await.unwrap(),
        vec!["App of ws-a".to_owned(), "Contoso Apps".to_owned()]
    );

    for reg in [a, b, c] {
        runtime.remove_resource(reg).await.unwrap();
    }
    assert!(ws.get_workspace_names().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_events_are_told_once() {
    let bus = start_bus().await;
    let conn = bus.connect().await;
    let report = WorkspaceReportMessageProxy::new(&conn).await.unwrap();
    let runtime = RuntimeProxy::new(&conn).await.unwrap();
    let mut notices = runtime.receive_user_notice().await.unwrap();
    let mut next_notice = async || {
        let signal = tokio::time::timeout(Duration::from_secs(5), notices.next())
            .await
            .expect("a UserNotice within 5 s")
            .expect("the signal stream stays open");
        let args = signal.args().unwrap();
        (
            args.workspace_id().clone(),
            args.kind().clone(),
            args.text().clone(),
        )
    };

    let event = (
        "rdweb.example.com",
        2u32,
        "FeedRefreshFailed",
        0x8007_0005u32,
    );
    assert!(
        !report
            .is_error_message_registered(event.0, event.1, event.2, event.3)
            .await
            .unwrap()
    );
    report
        .register_error_event(event.0, event.1, event.2, event.3)
        .await
        .unwrap();
    assert!(
        report
            .is_error_message_registered(event.0, event.1, event.2, event.3)
            .await
            .unwrap()
    );
    // Any part of the 4-tuple differing makes another event.
    for (ws, ty, msg, code) in [
        (event.0, event.1, event.2, event.3 + 1),
        (event.0, event.1 + 1, event.2, event.3),
        (event.0, event.1, "Other", event.3),
        ("other.example.com", event.1, event.2, event.3),
    ] {
        assert!(
            !report
                .is_error_message_registered(ws, ty, msg, code)
                .await
                .unwrap(),
            "{ws} {ty} {msg} {code:#x}"
        );
    }

    let (ws, kind, text) = next_notice().await;
    assert_eq!(ws, event.0);
    assert_eq!(kind, "error-event");
    assert!(text.contains("FeedRefreshFailed"), "{text}");
    assert!(text.contains("0x80070005"), "{text}");

    // A repeat is remembered but not told again: the next notice is the one
    // for a new event registered after it.
    report
        .register_error_event(event.0, event.1, event.2, event.3)
        .await
        .unwrap();
    report
        .register_error_event(event.0, event.1, "Fence", 7)
        .await
        .unwrap();
    let (ws, kind, text) = next_notice().await;
    assert_eq!((ws.as_str(), kind.as_str()), (event.0, "error-event"));
    assert!(text.contains("Fence"), "a repeat was told again: {text}");

    // ResourceDismissed tells the user too.
    WorkspaceScriptableProxy::new(&conn)
        .await
        .unwrap()
        .resource_dismissed("rdweb.example.com", "Contoso Apps")
        .await
        .unwrap();
    let (ws, kind, text) = next_notice().await;
    assert_eq!(
        (ws.as_str(), kind.as_str()),
        (event.0, "resource-dismissed")
    );
    assert!(text.contains("Contoso Apps"), "{text}");

    let huge = "x".repeat(100 * 1024);
    refused(
        report.register_error_event("", 1, "m", 1).await,
        INVALID_ARGS,
    );
    refused(
        report.register_error_event(&huge, 1, "m", 1).await,
        INVALID_ARGS,
    );
    refused(
        report.register_error_event("ws", 1, &huge, 1).await,
        INVALID_ARGS,
    );
    refused(
        report.is_error_message_registered("", 1, "m", 1).await,
        INVALID_ARGS,
    );
    refused(
        report.is_error_message_registered("ws", 1, &huge, 1).await,
        INVALID_ARGS,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_messages_stay_on_one_line() {
    let bus = start_bus().await;
    let conn = bus.connect().await;
    let report = WorkspaceReportMessageProxy::new(&conn).await.unwrap();

    report
        .register_error_log_message("radc-marker first line\nINJECTED ERROR forged entry")
        .await
        .unwrap();
    refused(
        report
            .register_error_log_message(&"x".repeat(100 * 1024))
            .await,
        INVALID_ARGS,
    );

    eventually(Duration::from_secs(5), "the message in the log", || async {
        bus.runtime_log().contains("radc-marker")
    })
    .await;
    let log = bus.runtime_log();
    let line = log
        .lines()
        .find(|l| l.contains("radc-marker"))
        .expect("a line with the marker");
    assert!(
        line.contains(r"radc-marker first line\nINJECTED ERROR forged entry"),
        "the message should be escaped on its line: {line}"
    );
    assert!(
        !log.lines().any(|l| l.starts_with("INJECTED")),
        "the message broke the log into lines:\n{log}"
    );
}

async fn restypes(bus: &TestBus) -> WorkspaceResTypeRegistryProxy<'static> {
    WorkspaceResTypeRegistryProxy::new(&bus.connect().await)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_user_resource_types() {
    let mut bus = start_bus().await;
    let file = bus.config_home().join("radc/restypes.json");
    let r = restypes(&bus).await;

    assert!(
        r.get_registered_file_extensions(false)
            .await
            .unwrap()
            .is_empty()
    );
    r.add_resource_type(false, ".VNC", "/bin/sh").await.unwrap();
    r.add_resource_type(false, ".spice", "/usr/bin/env")
        .await
        .unwrap();
    assert_eq!(
        r.get_registered_file_extensions(false).await.unwrap(),
        vec![".spice".to_owned(), ".vnc".to_owned()]
    );
    assert_eq!(
        r.get_resource_type_info(false, ".vnc").await.unwrap(),
        "/bin/sh"
    );
    assert_eq!(
        r.get_resource_type_info(false, ".Vnc").await.unwrap(),
        "/bin/sh"
    );

    // Launchers: an absolute path to an executable file. (/etc/hostname is
    // the usual non-executable file, but some containers mount it 0755.)
    let plain_file = bus.dir.path().join("plain-file");
    std::fs::write(&plain_file, "not a program\n").unwrap();
    std::fs::set_permissions(&plain_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut launchers = vec![
        plain_file.to_str().unwrap(),
        "sh",
        "",
        "/bin/",
        "/tmp",
        "/usr/../bin/sh",
        "/nonexistent",
    ];
    if std::fs::metadata("/etc/hostname").is_ok_and(|m| m.permissions().mode() & 0o111 == 0) {
        launchers.push("/etc/hostname");
    }
    for launcher in launchers {
        refused(
            r.add_resource_type(false, ".new", launcher).await,
            INVALID_ARGS,
        );
        refused(
            r.modify_resource_type(false, ".vnc", launcher).await,
            INVALID_ARGS,
        );
    }
    // Extensions: a dot and a plain name.
    for ext in ["vnc", ".", ".a/b", "../x", "", ".a b", ".\n"] {
        refused(
            r.add_resource_type(false, ext, "/bin/sh").await,
            INVALID_ARGS,
        );
        refused(r.get_resource_type_info(false, ext).await, INVALID_ARGS);
        refused(r.delete_resource_type(false, ext).await, INVALID_ARGS);
    }
    let huge = "x".repeat(100 * 1024);
    refused(
        r.add_resource_type(false, &format!(".{huge}"), "/bin/sh")
            .await,
        INVALID_ARGS,
    );
    refused(
        r.add_resource_type(false, ".new", &format!("/{huge}"))
            .await,
        INVALID_ARGS,
    );
    // Duplicates, in any case.
    refused(
        r.add_resource_type(false, ".vnc", "/bin/sh").await,
        INVALID_ARGS,
    );
    refused(
        r.add_resource_type(false, ".VNC", "/bin/true").await,
        INVALID_ARGS,
    );
    // Unknown extensions.
    refused(
        r.modify_resource_type(false, ".rdpx", "/bin/sh").await,
        NOT_FOUND,
    );
    refused(r.delete_resource_type(false, ".rdpx").await, NOT_FOUND);
    refused(r.get_resource_type_info(false, ".rdpx").await, NOT_FOUND);
    // None of the refusals changed the table.
    assert_eq!(
        r.get_registered_file_extensions(false).await.unwrap(),
        vec![".spice".to_owned(), ".vnc".to_owned()]
    );

    r.modify_resource_type(false, ".vnc", "/bin/true")
        .await
        .unwrap();
    assert_eq!(
        r.get_resource_type_info(false, ".vnc").await.unwrap(),
        "/bin/true"
    );

    // The table is a file under $XDG_CONFIG_HOME/radc, for this user only.
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(stored["types"][".vnc"], "/bin/true");
    assert_eq!(stored["types"][".spice"], "/usr/bin/env");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        !bus.machine_config_dir().join("restypes.json").exists(),
        "a per-user change touched the machine-wide table"
    );
    assert!(
        r.get_registered_file_extensions(true)
            .await
            .unwrap()
            .is_empty()
    );

    // A restart keeps the table.
    bus.stop_runtime();
    bus.start_runtime(Timeouts::default()).await;
    let r = restypes(&bus).await;
    assert_eq!(
        r.get_registered_file_extensions(false).await.unwrap(),
        vec![".spice".to_owned(), ".vnc".to_owned()]
    );
    assert_eq!(
        r.get_resource_type_info(false, ".vnc").await.unwrap(),
        "/bin/true"
    );

    r.delete_resource_type(false, ".VNC").await.unwrap();
    refused(r.get_resource_type_info(false, ".vnc").await, NOT_FOUND);
    refused(r.delete_resource_type(false, ".vnc").await, NOT_FOUND);
    assert_eq!(
        r.get_registered_file_extensions(false).await.unwrap(),
        vec![".spice".to_owned()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_table_is_never_overwritten() {
    let bus = start_bus().await;
    let dir = bus.config_home().join("radc");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("restypes.json");
    let damaged: &[u8] = b"{ \"version\": 1, \"types\": { \".vnc\": \"/bin/sh\", \0 damaged";
    std::fs::write(&file, damaged).unwrap();
    let r = restypes(&bus).await;

    let msg = refused(r.add_resource_type(false, ".new", "/bin/sh").await, FAILED);
    assert!(msg.contains("damaged"), "{msg}");
    refused(
        r.modify_resource_type(false, ".vnc", "/bin/true").await,
        FAILED,
    );
    refused(r.delete_resource_type(false, ".vnc").await, FAILED);
    refused(r.get_registered_file_extensions(false).await, FAILED);
    refused(r.get_resource_type_info(false, ".vnc").await, FAILED);
    assert_eq!(std::fs::read(&file).unwrap(), damaged);

    // A well-formed file with a hostile entry is refused the same way.
    let hostile = br#"{"version":1,"types":{"../x":"/bin/sh"}}"#;
    std::fs::write(&file, hostile).unwrap();
    let msg = refused(r.add_resource_type(false, ".new", "/bin/sh").await, FAILED);
    assert!(msg.contains("damaged"), "{msg}");
    assert_eq!(std::fs::read(&file).unwrap(), hostile);
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("restypes.json")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machine_wide_resource_types_are_for_root_to_change() {
    let bus = start_bus().await;
    let file = bus.machine_config_dir().join("restypes.json");
    let r = restypes(&bus).await;

    // The tests run as root: root may change the machine-wide table.
    assert_eq!(effective_uid(), 0, "these tests expect to run as root");
    r.add_resource_type(true, ".spice", "/bin/sh")
        .await
        .unwrap();
    assert!(file.exists());
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(stored["types"][".spice"], "/bin/sh");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o644,
        "everyone must be able to read the machine-wide table"
    );
    assert_eq!(
        r.get_registered_file_extensions(true).await.unwrap(),
        vec![".spice".to_owned()]
    );
    assert!(
        r.get_registered_file_extensions(false)
            .await
            .unwrap()
            .is_empty(),
        "a machine-wide change touched the per-user table"
    );
    let before = std::fs::read(&file).unwrap();

    // An unprivileged user may read it but not change it.
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(common::PYTHON)
        .arg(common::python_script("restype_as_user.py"))
        .args([".spice", "/bin/true"])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .envs(bus.env());
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("setpriv runs"))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["uid"], 65534, "{stdout}");
    let answer = |call: &str| -> &serde_json::Value {
        lines
            .iter()
            .find(|l| l["call"] == call)
            .unwrap_or_else(|| panic!("no answer to {call}: {stdout}"))
    };
    for call in [
        "AddResourceType",
        "ModifyResourceType",
        "DeleteResourceType",
    ] {
        let a = answer(call);
        assert_eq!(a["ok"], false, "{call}: {a}");
        assert_eq!(a["error"], "org.radc.Error.AccessDenied", "{call}: {a}");
        let message = a["message"].as_str().unwrap();
        assert!(message.starts_with("0x80070005: "), "{call}: {message}");
        assert!(message.contains("65534"), "{call}: {message}");
    }
    let list = answer("GetRegisteredFileExtensions");
    assert_eq!(list["ok"], true, "{list}");
    assert_eq!(list["result"], serde_json::json!([".spice"]));
    let info = answer("GetResourceTypeInfo");
    assert_eq!(info["ok"], true, "{info}");
    assert_eq!(info["result"], "/bin/sh");

    assert_eq!(std::fs::read(&file).unwrap(), before);
    assert_eq!(
        r.get_registered_file_extensions(true).await.unwrap(),
        vec![".spice".to_owned()]
    );

    // Root can still change and remove it.
    r.modify_resource_type(true, ".spice", "/bin/true")
        .await
        .unwrap();
    assert_eq!(
        r.get_resource_type_info(true, ".spice").await.unwrap(),
        "/bin/true"
    );
    r.delete_resource_type(true, ".spice").await.unwrap();
    refused(r.delete_resource_type(true, ".spice").await, NOT_FOUND);
}

/// The effective uid, read from /proc so no libc binding is needed.
fn effective_uid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .expect("a Uid line");
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}
