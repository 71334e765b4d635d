//! Registration, removal and disconnect of custom clients, end to end: a
//! real dbus-daemon, a real `radc daemon`, clients written with the Rust SDK,
//! with raw zbus messages, and in Python (tests/python/custom_client.py).

mod common;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::pyclient::PyClient;
use common::{Answer, TestBus, TestClient, Timeouts, eventually};
use futures_util::{FutureExt, StreamExt};
use radc_client::names;
use radc_client::proxy::{
    ResourceAddedStream, ResourceRemovedStream, ResourceRow, WorkspaceProxy,
    WorkspaceRegistrationProxy, WorkspaceScriptableProxy,
};
use radc_client::{ErrorKind, Runtime};
use zbus::Connection;
use zbus::message::{Message, Type};
use zbus::zvariant::ObjectPath;

/// Generous bound for anything that should happen promptly.
const PROMPT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Helpers

/// A connection that watches the runtime's signals. Subscribes on creation,
/// so create it BEFORE doing what should trigger the signals.
struct Observer {
    conn: Connection,
    registration: WorkspaceRegistrationProxy<'static>,
    added: ResourceAddedStream,
    removed: ResourceRemovedStream,
}

impl Observer {
    async fn new(bus: &TestBus) -> Observer {
        let conn = bus.connect().await;
        let registration = WorkspaceRegistrationProxy::new(&conn).await.unwrap();
        let added = registration.receive_resource_added().await.unwrap();
        let removed = registration.receive_resource_removed().await.unwrap();
        Observer {
            conn,
            registration,
            added,
            removed,
        }
    }

    async fn list(&self) -> Vec<ResourceRow> {
        self.registration.list_resources().await.unwrap()
    }

    async fn listed_cookies(&self) -> BTreeSet<u32> {
        self.list().await.into_iter().map(|r| r.0).collect()
    }

    /// Waits for `ResourceAdded` for every cookie in `cookies`; returns
    /// (workspace, name) per cookie. Signals for other cookies read on the
    /// way are dropped: ask for everything expected at once.
    async fn added_for(
        &mut self,
        cookies: &[u32],
        limit: Duration,
    ) -> HashMap<u32, (String, String)> {
        let want: HashSet<u32> = cookies.iter().copied().collect();
        let mut got = HashMap::new();
        let deadline = tokio::time::Instant::now() + limit;
        while got.len() < want.len() {
            let signal = tokio::time::timeout_at(deadline, self.added.next())
                .await
                .unwrap_or_else(|_| {
                    panic!("no ResourceAdded for all of {want:?} within {limit:?}; got {got:?}")
                })
                .expect("signal stream ended");
            let args = signal.args().unwrap();
            if want.contains(&args.cookie) {
                let before = got.insert(
                    args.cookie,
                    (args.workspace_id.clone(), args.display_name.clone()),
                );
                assert!(before.is_none(), "ResourceAdded twice for {}", args.cookie);
            }
        }
        got
    }

    /// Waits for `ResourceRemoved` for every cookie in `cookies`; returns the
    /// reason per cookie. Signals for other cookies read on the way are
    /// dropped: ask for everything expected at once.
    async fn removed_for(&mut self, cookies: &[u32], limit: Duration) -> HashMap<u32, String> {
        let want: HashSet<u32> = cookies.iter().copied().collect();
        let mut got = HashMap::new();
        let deadline = tokio::time::Instant::now() + limit;
        while got.len() < want.len() {
            let signal = tokio::time::timeout_at(deadline, self.removed.next())
                .await
                .unwrap_or_else(|_| {
                    panic!("no ResourceRemoved for all of {want:?} within {limit:?}; got {got:?}")
                })
                .expect("signal stream ended");
            let args = signal.args().unwrap();
            if want.contains(&args.cookie) {
                let before = got.insert(args.cookie, args.reason.clone());
                assert!(
                    before.is_none(),
                    "ResourceRemoved twice for {}",
                    args.cookie
                );
            }
        }
        got
    }

    /// Signals already received but not yet read, without waiting.
    fn pending_added(&mut self) -> Vec<u32> {
        let mut out = Vec::new();
        while let Some(Some(signal)) = self.added.next().now_or_never() {
            out.push(signal.args().unwrap().cookie);
        }
        out
    }

    fn pending_removed(&mut self) -> Vec<(u32, String)> {
        let mut out = Vec::new();
        while let Some(Some(signal)) = self.removed.next().now_or_never() {
            let args = signal.args().unwrap();
            out.push((args.cookie, args.reason.clone()));
        }
        out
    }
}

/// Asserts a call failed with `org.radc.Error.<kind>` and a message that
/// starts with the kind's HRESULT.
fn assert_radc_error<T: std::fmt::Debug>(result: zbus::Result<T>, kind: ErrorKind) {
    let err = result.expect_err("the call should have failed");
    let zbus::Error::MethodError(name, message, _) = &err else {
        panic!("expected a D-Bus error reply, got {err:?}");
    };
    assert_eq!(
        name.as_str(),
        format!("{}.{}", names::ERROR_PREFIX, kind.name())
    );
    let message = message.clone().unwrap_or_default();
    let hresult = format!("0x{:08X}", kind.hresult());
    assert!(
        message.starts_with(&hresult),
        "message {message:?} does not start with {hresult}"
    );
    // The SDK maps it back to the same kind.
    assert_eq!(radc_client::Error::from(err).kind(), Some(kind));
}

// ---------------------------------------------------------------------------
// Tests

/// A client's display name reaches `radc status` and every front end, so
/// it loses what could hide or reorder characters, as a feed's names do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn display_names_cannot_hide_or_reorder_characters() {
    let bus = TestBus::start().await;
    let mut observer = Observer::new(&bus).await;
    let runtime = Runtime::with_connection(bus.connect().await).await.unwrap();
    let reg = runtime
        .add_resource(TestClient::new("ws.example.com", "Invoice\u{202E}gpj.exe"))
        .await
        .unwrap();
    let added = observer.added_for(&[reg.cookie()], PROMPT).await;
    assert_eq!(added[&reg.cookie()].1, "Invoicegpj.exe");
    let out = bus.radc().arg("status").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Invoicegpj.exe"), "{text}");
    assert!(!text.contains('\u{202E}'), "{text}");
}

/// In COM a custom client's display name is its workspace's: a workspace
/// with no feed is found by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_without_a_feed_goes_by_its_clients_name() {
    let bus = TestBus::start().await;
    let mut observer = Observer::new(&bus).await;
    let runtime = Runtime::with_connection(bus.connect().await).await.unwrap();
    let reg = runtime
        .add_resource(TestClient::new("ws-gamma", "Gamma Fail"))
        .await
        .unwrap();
    observer.added_for(&[reg.cookie()], PROMPT).await;
    let workspace = WorkspaceProxy::new(&observer.conn).await.unwrap();
    assert_eq!(
        workspace.get_workspace_names().await.unwrap(),
        vec!["Gamma Fail".to_owned()]
    );
    let scriptable = WorkspaceScriptableProxy::new(&observer.conn).await.unwrap();
    let rows = scriptable
        .disconnect_workspace_by_friendly_name("gamma fail")
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, reg.cookie());

    // And the command line finds it the same way.
    let reg = runtime
        .add_resource(TestClient::new("ws-gamma", "Gamma Fail"))
        .await
        .unwrap();
    observer.added_for(&[reg.cookie()], PROMPT).await;
    let out = bus
        .radc()
        .args(["disconnect", "--json", "Gamma Fail"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&reg.cookie().to_string()), "{text}");
}

/// A client built on the SDK carries on across a restart of the runtime:
/// its registration is added again to the new runtime by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_clients_register_again_with_a_restarted_runtime() {
    let mut bus = TestBus::start().await;
    let runtime = Runtime::with_connection(bus.connect().await).await.unwrap();
    let reg = runtime
        .add_resource(TestClient::new("ws-restart", "Survivor"))
        .await
        .unwrap();
    let first_runtime = bus.runtime_pid();
    let conn = bus.connect().await;
    let listed = |conn: Connection| async move {
        WorkspaceRegistrationProxy::new(&conn)
            .await
            .unwrap()
            .list_resources()
            .await
            .map(|rows| {
                rows.into_iter()
                    .map(|r| (r.0, r.1, r.2))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let expected = |cookie: u32| (cookie, "ws-restart".to_owned(), "Survivor".to_owned());
    eventually(PROMPT, "listed by the first runtime", || {
        let conn = conn.clone();
        let want = expected(reg.cookie());
        async move { listed(conn).await.contains(&want) }
    })
    .await;

    bus.stop_runtime();
    bus.start_runtime(Timeouts::default()).await;
    assert_ne!(bus.runtime_pid(), first_runtime);
    eventually(PROMPT, "registered again with the new runtime", || {
        let conn = conn.clone();
        let want = expected(reg.cookie());
        async move { listed(conn).await == vec![want] }
    })
    .await;

    // The new runtime reaches the client: a disconnect is answered.
    let rows = WorkspaceScriptableProxy::new(&conn)
        .await
        .unwrap()
        .disconnect_workspace_by_friendly_name("ws-restart")
        .await
        .unwrap();
    assert_eq!(rows, vec![(reg.cookie(), "ok".to_owned(), String::new())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_registration_is_listed_and_announced() {
    let bus = TestBus::start().await;
    let mut observer = Observer::new(&bus).await;
    let runtime = Runtime::with_connection(bus.connect().await).await.unwrap();
    let workspace = WorkspaceProxy::new(&observer.conn).await.unwrap();
    assert!(workspace.get_workspace_names().await.unwrap().is_empty());

    let reg = runtime
        .add_resource(TestClient::new("rdweb.example.com", "Notepad"))
        .await
        .unwrap();
    let cookie = reg.cookie();
    assert_ne!(cookie, 0);
    let added = observer.added_for(&[cookie], PROMPT).await;
    assert_eq!(
        added[&cookie],
        ("rdweb.example.com".to_owned(), "Notepad".to_owned())
    );
    assert_eq!(
        observer.list().await,
        vec![(
            cookie,
            "rdweb.example.com".to_owned(),
            "Notepad".to_owned(),
            "connected".to_owned(),
            std::process::id(),
        )]
    );
    // No feed names the workspace: its client's display name does.
    assert_eq!(
        workspace.get_workspace_names().await.unwrap(),
        vec!["Notepad".to_owned()]
    );

    // A second connection in the same workspace: listed too, the workspace
    // still named once.
    let reg2 = runtime
        .add_resource(TestClient::new("rdweb.example.com", "Calculator"))
        .await
        .unwrap();
    observer.added_for(&[reg2.cookie()], PROMPT).await;
    assert_eq!(
        observer.listed_cookies().await,
        BTreeSet::from([cookie, reg2.cookie()])
    );
    assert_eq!(workspace.get_workspace_names().await.unwrap().len(), 1);

    runtime.remove_resource(reg).await.unwrap();
    let removed = observer.removed_for(&[cookie], PROMPT).await;
    assert_eq!(removed[&cookie], "removed");
    assert_eq!(
        observer.listed_cookies().await,
        BTreeSet::from([reg2.cookie()])
    );
    let cookie2 = reg2.cookie();
    runtime.remove_resource(reg2).await.unwrap();
    observer.removed_for(&[cookie2], PROMPT).await;
    assert!(observer.list().await.is_empty());
    assert!(workspace.get_workspace_names().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_registers_shows_in_status_and_removes_itself_on_disconnect() {
    let bus = TestBus::start().await;
    let mut observer = Observer::new(&bus).await;
    let mut py = PyClient::start(
        &bus,
        &[
            "--workspace",
            "py.example.com",
            "--name",
            "Python App",
            "--on-disconnect",
            "remove",
        ],
    )
    .await;
    let cookie = py.cookie();
    assert_ne!(cookie, 0);
    let added = observer.added_for(&[cookie], PROMPT).await;
    assert_eq!(
        added[&cookie],
        ("py.example.com".to_owned(), "Python App".to_owned())
    );
    assert_eq!(
        observer.list().await,
        vec![(
            cookie,
            "py.example.com".to_owned(),
            "Python App".to_owned(),
            "connected".to_owned(),
            py.pid(),
        )]
    );

    // The command line sees it.
    let mut status = bus.radc();
    status.args(["status", "--json"]);
    let out = tokio::task::spawn_blocking(move || status.output())
        .await
        .unwrap()
        .expect("radc status runs");
    assert!(
        out.status.success(),
        "radc status failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["runtime_pid"], bus.runtime_pid().unwrap());
    let workspaces = report["workspaces"].as_array().unwrap();
    assert_eq!(workspaces.len(), 1, "{report:#}");
    assert_eq!(workspaces[0]["id"], "py.example.com");
    let connections = workspaces[0]["connections"].as_array().unwrap();
    assert_eq!(connections.len(), 1, "{report:#}");
    assert_eq!(connections[0]["cookie"], cookie);
    assert_eq!(connections[0]["display_name"], "Python App");
    assert_eq!(connections[0]["state"], "connected");
    assert_eq!(connections[0]["pid"], py.pid());

    // Disconnect: the client answers ok, then removes itself.
    let scriptable = WorkspaceScriptableProxy::new(&observer.conn).await.unwrap();
    let rows = scriptable
        .disconnect_workspace("py.example.com")
        .await
        .unwrap();
    assert_eq!(rows, vec![(cookie, "ok".to_owned(), String::new())]);
    assert_eq!(py.line().await, format!("DISCONNECT {cookie}"));
    let removed = observer.removed_for(&[cookie], PROMPT).await;
    assert_eq!(removed[&cookie], "removed");
    assert!(observer.list().await.is_empty());
    assert!(py.wait_exit(PROMPT).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_client_loses_all_registrations_at_once() {
    // Long timeouts: the drop must not come from any of them.
    let bus = TestBus::start_with(Timeouts {
        disconnect: 5.0,
        grace: 5.0,
        probe: 5.0,
        ..Timeouts::default()
    })
    .await;
    let mut observer = Observer::new(&bus).await;
    let mut py = PyClient::spawn(&bus, &["--workspace", "kill.example.com", "--count", "4"]);
    // A bystander in the same workspace, on its own connection.
    let mut other = PyClient::spawn(&bus, &["--workspace", "kill.example.com", "--count", "2"]);
    py.ready().await;
    other.ready().await;
    let cookies = py.cookies();
    let others = other.cookies();
    assert_eq!(cookies.len(), 4);
    assert_eq!(others.len(), 2);
    observer
        .added_for(&[cookies.clone(), others.clone()].concat(), PROMPT)
        .await;
    assert_eq!(observer.list().await.len(), 6);

    let t0 = Instant::now();
    py.child.kill().unwrap(); // SIGKILL
    let removed = observer.removed_for(&cookies, PROMPT).await;
    let elapsed = t0.elapsed();
    for c in &cookies {
        assert_eq!(removed[c], "client-vanished", "cookie {c}");
    }
    assert!(
        elapsed < Duration::from_secs(1),
        "registrations of a killed client took {elapsed:?} to go"
    );
    // Only the killed client's registrations went.
    assert_eq!(
        observer.listed_cookies().await,
        others.iter().copied().collect()
    );
    assert!(observer.pending_removed().is_empty());

    // A client that exits cleanly (SIGTERM) without removing anything is
    // dropped the same way.
    let t0 = Instant::now();
    let term = std::process::Command::new("kill")
        .args(["-TERM", &other.pid().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    assert!(other.wait_exit(PROMPT).await.success());
    let removed = observer.removed_for(&others, PROMPT).await;
    assert!(
        removed.values().all(|r| r == "client-vanished"),
        "{removed:?}"
    );
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    assert!(observer.list().await.is_empty());
    let workspace = WorkspaceProxy::new(&observer.conn).await.unwrap();
    assert!(workspace.get_workspace_names().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_client_costs_only_its_own_timeout() {
    let bus = TestBus::start_with(Timeouts {
        disconnect: 1.0,
        grace: 0.5,
        probe: 2.0,
        ..Timeouts::default()
    })
    .await;
    let mut observer = Observer::new(&bus).await;
    let ws = "farm.example.com";
    let mut hung = PyClient::spawn(
        &bus,
        &[
            "--workspace",
            ws,
            "--name",
            "Hung",
            "--on-disconnect",
            "hang",
        ],
    );
    let mut failing = PyClient::spawn(
        &bus,
        &[
            "--workspace",
            ws,
            "--name",
            "Busy",
            "--on-disconnect",
            "error",
        ],
    );
    let mut good: Vec<PyClient> = (0..5)
        .map(|i| {
            PyClient::spawn(
                &bus,
                &[
                    "--workspace",
                    ws,
                    "--name",
                    &format!("Good {i}"),
                    "--on-disconnect",
                    "remove",
                ],
            )
        })
        .collect();
    hung.ready().await;
    failing.ready().await;
    for g in &mut good {
        g.ready().await;
    }
    let good_cookies: Vec<u32> = good.iter().map(PyClient::cookie).collect();
    let mut all = good_cookies.clone();
    all.extend([hung.cookie(), failing.cookie()]);
    observer.added_for(&all, PROMPT).await;
    assert_eq!(observer.list().await.len(), 7);

    let scriptable = WorkspaceScriptableProxy::new(&observer.conn).await.unwrap();
    let t0 = Instant::now();
    let rows = scriptable.disconnect_workspace(ws).await.unwrap();
    let elapsed = t0.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed <= Duration::from_millis(2500),
        "DisconnectWorkspace with one hung client took {elapsed:?}, expected about 1 s"
    );
    assert_eq!(rows.len(), 7, "{rows:?}");
    let by_cookie: HashMap<u32, (String, String)> = rows
        .into_iter()
        .map(|(c, outcome, detail)| (c, (outcome, detail)))
        .collect();
    assert_eq!(by_cookie[&hung.cookie()].0, "timeout", "{by_cookie:?}");
    let (outcome, detail) = &by_cookie[&failing.cookie()];
    assert_eq!(outcome, "error");
    assert!(detail.contains("0x80004005"), "detail {detail:?}");
    assert!(
        detail.contains("org.radc.Error.Failed"),
        "detail {detail:?}"
    );
    for c in &good_cookies {
        assert_eq!(by_cookie[c], ("ok".to_owned(), String::new()), "cookie {c}");
    }
    // Every client was asked, the hung one included.
    assert_eq!(hung.line().await, format!("DISCONNECT {}", hung.cookie()));
    assert_eq!(
        failing.line().await,
        format!("DISCONNECT {}", failing.cookie())
    );
    for g in &mut good {
        assert_eq!(g.line().await, format!("DISCONNECT {}", g.cookie()));
    }

    // The good ones removed themselves; the other two are dropped after
    // the grace period.
    let removed = observer.removed_for(&all, PROMPT).await;
    for c in &good_cookies {
        assert_eq!(removed[c], "removed", "cookie {c}");
    }
    assert_eq!(removed[&hung.cookie()], "disconnected");
    assert_eq!(removed[&failing.cookie()], "disconnected");
    assert!(observer.list().await.is_empty());
    for client in std::iter::once(&mut hung)
        .chain(std::iter::once(&mut failing))
        .chain(good.iter_mut())
    {
        assert!(client.wait_exit(PROMPT).await.success());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignoring_client_is_dropped_after_the_grace_period_and_not_before() {
    let grace = Duration::from_millis(500);
    let bus = TestBus::start_with(Timeouts {
        disconnect: 1.0,
        grace: grace.as_secs_f64(),
        probe: 1.0,
        ..Timeouts::default()
    })
    .await;
    let mut observer = Observer::new(&bus).await;
    let mut py = PyClient::start(
        &bus,
        &[
            "--workspace",
            "lazy.example.com",
            "--name",
            "Lazy",
            "--on-disconnect",
            "ignore",
        ],
    )
    .await;
    let cookie = py.cookie();
    observer.added_for(&[cookie], PROMPT).await;

    let scriptable = WorkspaceScriptableProxy::new(&observer.conn).await.unwrap();
    // The grace starts when IssueDisconnect returns, which is after this.
    let t0 = Instant::now();
    let rows = scriptable
        .disconnect_workspace("lazy.example.com")
        .await
        .unwrap();
    assert_eq!(rows, vec![(cookie, "ok".to_owned(), String::new())]);
    // Still there, disconnecting, while the grace runs.
    let listed = observer.list().await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0, cookie);
    assert_eq!(listed[0].3, "disconnecting");
    assert!(
        t0.elapsed() < grace,
        "too slow to check the state within the grace"
    );
    assert_eq!(py.line().await, format!("DISCONNECT {cookie}"));

    let removed = observer.removed_for(&[cookie], PROMPT).await;
    let elapsed = t0.elapsed();
    assert_eq!(removed[&cookie], "disconnected");
    assert!(
        elapsed >= grace - Duration::from_millis(20),
        "dropped after {elapsed:?}, before the grace of {grace:?} ran out"
    );
    assert!(
        elapsed < grace + Duration::from_millis(1500),
        "dropped only after {elapsed:?}, grace is {grace:?}"
    );
    assert!(observer.list().await.is_empty());
    // The client notices and exits.
    assert_eq!(py.line().await, format!("REMOVED {cookie} disconnected"));
    assert!(py.wait_exit(PROMPT).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_resource_checks_owner_and_cookie() {
    let bus = TestBus::start().await;
    let mut observer = Observer::new(&bus).await;
    let owner = Runtime::with_connection(bus.connect().await).await.unwrap();
    let reg = owner
        .add_resource(TestClient::new("ws.example.com", "Mine"))
        .await
        .unwrap();
    let cookie = reg.cookie();
    observer.added_for(&[cookie], PROMPT).await;

    // Another connection may not remove it.
    let foreign = WorkspaceRegistrationProxy::new(&observer.conn)
        .await
        .unwrap();
    assert_radc_error(
        foreign.remove_resource(cookie).await,
        ErrorKind::AccessDenied,
    );
    assert_eq!(observer.listed_cookies().await, BTreeSet::from([cookie]));
    assert!(observer.pending_removed().is_empty());

    // Unknown cookies and cookie 0, from anyone.
    assert_radc_error(
        foreign.remove_resource(cookie + 1000).await,
        ErrorKind::NotFound,
    );
    assert_radc_error(foreign.remove_resource(0).await, ErrorKind::InvalidArgs);
    let own = WorkspaceRegistrationProxy::new(owner.connection())
        .await
        .unwrap();
    assert_radc_error(
        own.remove_resource(cookie + 1000).await,
        ErrorKind::NotFound,
    );
    assert_radc_error(own.remove_resource(0).await, ErrorKind::InvalidArgs);

    // The owner may, once; then it is unknown.
    own.remove_resource(cookie).await.unwrap();
    assert_eq!(
        observer.removed_for(&[cookie], PROMPT).await[&cookie],
        "removed"
    );
    assert_radc_error(own.remove_resource(cookie).await, ErrorKind::NotFound);
    assert!(observer.list().await.is_empty());
    // The SDK's error type tells the kind too.
    let err = owner.remove_resource(reg).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::NotFound));
}

/// An interface that is not the client one.
struct Unrelated;

#[zbus::interface(name = "org.example.Unrelated1")]
impl Unrelated {
    fn hello(&self) -> String {
        "hi".into()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_cannot_answer_are_dropped_as_invalid() {
    let probe = Duration::from_millis(500);
    let bus = TestBus::start_with(Timeouts {
        disconnect: 1.0,
        grace: 1.0,
        probe: probe.as_secs_f64(),
        ..Timeouts::default()
    })
    .await;
    let mut observer = Observer::new(&bus).await;

    // 1. An object server, but nothing at the path given.
    let empty = bus.connect().await;
    empty
        .object_server()
        .at("/elsewhere", Unrelated)
        .await
        .unwrap();
    // 2. An object at the path, with another interface.
    let wrong = bus.connect().await;
    wrong
        .object_server()
        .at("/client", Unrelated)
        .await
        .unwrap();
    // 3. No object server at all: calls to it go unanswered.
    let silent = bus.connect().await;
    // 4. Answers, but with an empty workspace id.
    let blank = Runtime::with_connection(bus.connect().await).await.unwrap();

    let t0 = Instant::now();
    let mut cookies = Vec::new();
    for (conn, path) in [
        (&empty, "/nothing/here"),
        (&wrong, "/client"),
        (&silent, "/silent"),
    ] {
        let proxy = WorkspaceRegistrationProxy::new(conn).await.unwrap();
        let path = ObjectPath::try_from(path).unwrap();
        cookies.push(proxy.add_resource(&path).await.unwrap());
    }
    let blank_reg = blank
        .add_resource(TestClient::new("", "No workspace"))
        .await
        .unwrap();
    cookies.push(blank_reg.cookie());
    assert!(cookies.iter().all(|&c| c != 0));
    // Not listed while being probed.
    let listed = observer.listed_cookies().await;
    assert!(cookies.iter().all(|c| !listed.contains(c)), "{listed:?}");

    let removed = observer.removed_for(&cookies, PROMPT).await;
    let elapsed = t0.elapsed();
    for c in &cookies {
        assert_eq!(removed[c], "invalid-client", "cookie {c}");
    }
    assert!(
        elapsed < probe + Duration::from_millis(700),
        "invalid clients dropped after {elapsed:?}, probe timeout is {probe:?}"
    );
    // Never announced, never listed.
    let announced = observer.pending_added();
    assert!(
        cookies.iter().all(|c| !announced.contains(c)),
        "announced {announced:?}"
    );
    assert!(observer.list().await.is_empty());
    let workspace = WorkspaceProxy::new(&observer.conn).await.unwrap();
    assert!(workspace.get_workspace_names().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_replies_to_add_resource_before_calling_back() {
    let bus = TestBus::start().await;
    let mut observer = Observer::new(&bus).await;
    // A raw connection with no object server: we see (and answer) every
    // call the runtime makes to it, in the order they arrive.
    let conn = bus.connect().await;
    let mut stream = zbus::MessageStream::from(&conn);
    let mut cookies = Vec::new();
    for i in 0..10 {
        let path = format!("/raw/c{i}");
        let call = Message::method_call(names::OBJECT_PATH, "AddResource")
            .unwrap()
            .destination(names::BUS_NAME)
            .unwrap()
            .interface(names::REGISTRATION)
            .unwrap()
            .build(&(ObjectPath::try_from(path.as_str()).unwrap(),))
            .unwrap();
        let serial = call.primary_header().serial_num();
        conn.send(&call).await.unwrap();

        let mut cookie = None;
        let mut asked = Vec::new();
        while cookie.is_none() || asked.len() < 2 {
            let msg = tokio::time::timeout(PROMPT, stream.next())
                .await
                .expect("the runtime went quiet")
                .expect("stream ended")
                .unwrap();
            let header = msg.header();
            match msg.message_type() {
                Type::MethodReturn | Type::Error if header.reply_serial() == Some(serial) => {
                    assert_eq!(
                        msg.message_type(),
                        Type::MethodReturn,
                        "AddResource failed: {msg:?}"
                    );
                    assert!(cookie.is_none(), "two replies");
                    cookie = Some(msg.body().deserialize::<u32>().unwrap());
                }
                Type::MethodCall => {
                    let member = header.member().unwrap().to_string();
                    assert!(
                        cookie.is_some(),
                        "the runtime called {member} before replying to AddResource"
                    );
                    assert_eq!(
                        header.interface().map(|i| i.as_str()),
                        Some(names::CLIENT_EXT)
                    );
                    assert_eq!(header.path().unwrap().as_str(), path);
                    let answer = match member.as_str() {
                        "GetResourceId" => "raw.example.com".to_owned(),
                        "GetResourceDisplayName" => format!("Raw {i}"),
                        other => panic!("unexpected call {other}"),
                    };
                    assert!(!asked.contains(&member), "{member} asked twice");
                    asked.push(member);
                    let reply = Message::method_return(&header)
                        .unwrap()
                        .build(&(answer,))
                        .unwrap();
                    conn.send(&reply).await.unwrap();
                }
                _ => {}
            }
        }
        let cookie = cookie.unwrap();
        let added = observer.added_for(&[cookie], PROMPT).await;
        assert_eq!(
            added[&cookie],
            ("raw.example.com".to_owned(), format!("Raw {i}"))
        );
        cookies.push(cookie);
    }
    let listed = observer.list().await;
    assert_eq!(listed.len(), 10);
    for row in &listed {
        assert!(cookies.contains(&row.0));
        assert_eq!(row.3, "connected");
        assert_eq!(row.4, std::process::id());
    }
}

/// A registration that its client removes before the runtime announced it
/// (here: while the client has not answered the probe) was told to nobody,
/// so neither is its removal. The registration after it is announced and
/// removed as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_removed_before_it_was_announced_is_not_announced() {
    let bus = TestBus::start().await;
    let mut observer = Observer::new(&bus).await;
    // A raw connection with no object server: the probe's calls to it stay
    // unanswered.
    let conn = bus.connect().await;
    let mut stream = zbus::MessageStream::from(&conn);
    let proxy = WorkspaceRegistrationProxy::new(&conn).await.unwrap();
    let path = ObjectPath::try_from("/raw/quiet").unwrap();
    let quiet = proxy.add_resource(&path).await.unwrap();
    // The probe has started: the runtime asks, and nobody answers.
    tokio::time::timeout(PROMPT, async {
        while let Some(msg) = stream.next().await {
            let msg = msg.unwrap();
            if msg.message_type() == Type::MethodCall
                && msg.header().path().map(|p| p.as_str()) == Some("/raw/quiet")
            {
                break;
            }
        }
    })
    .await
    .expect("the runtime never asked the new client");
    proxy.remove_resource(quiet).await.unwrap();
    assert!(observer.list().await.is_empty());

    // Signals leave in the order the runtime decided them: by the time the
    // next registration's have arrived, any for `quiet` would have too.
    let owner = Runtime::with_connection(bus.connect().await).await.unwrap();
    let marker = owner
        .add_resource(TestClient::new("ws.example.com", "Marker"))
        .await
        .unwrap();
    let marker_cookie = marker.cookie();
    let added = cookies_until(&mut observer.added, marker_cookie, |s| {
        s.args().unwrap().cookie
    })
    .await;
    assert_eq!(added, [marker_cookie], "ResourceAdded for {quiet}");
    owner.remove_resource(marker).await.unwrap();
    let removed = cookies_until(&mut observer.removed, marker_cookie, |s| {
        s.args().unwrap().cookie
    })
    .await;
    assert_eq!(removed, [marker_cookie], "ResourceRemoved for {quiet}");
}

/// The cookies of the signals `stream` delivers, up to and including
/// `last`'s.
async fn cookies_until<S: futures_util::Stream + Unpin>(
    stream: &mut S,
    last: u32,
    cookie: impl Fn(&S::Item) -> u32,
) -> Vec<u32> {
    let mut seen = Vec::new();
    while !seen.contains(&last) {
        let signal = tokio::time::timeout(PROMPT, stream.next())
            .await
            .unwrap_or_else(|_| panic!("no signal for cookie {last}; got {seen:?}"))
            .expect("signal stream ended");
        seen.push(cookie(&signal));
    }
    seen
}

/// 20 connections add 25 registrations each, all at once, through the SDK:
/// every cookie is distinct and non-zero, every registration is announced
/// and listed, none is dropped.
async fn burst_of_registrations(bus: &TestBus) {
    const CONNECTIONS: usize = 20;
    const PER_CONNECTION: usize = 25;
    const TOTAL: usize = CONNECTIONS * PER_CONNECTION;
    let Observer {
        conn: obs_conn,
        registration: obs_reg,
        added,
        removed,
    } = Observer::new(bus).await;
    // Drain both streams as they come: an unread stream stalls the
    // observer's connection once 64 messages wait in it.
    let announced = tokio::spawn(async move {
        let mut added = added;
        let mut seen = HashSet::new();
        while seen.len() < TOTAL {
            let Some(signal) = added.next().await else {
                break;
            };
            assert!(
                seen.insert(signal.args().unwrap().cookie),
                "a cookie was announced twice"
            );
        }
        seen
    });
    let dropped = Arc::new(Mutex::new(Vec::new()));
    let drain = tokio::spawn({
        let dropped = dropped.clone();
        async move {
            let mut removed = removed;
            while let Some(signal) = removed.next().await {
                let args = signal.args().unwrap();
                dropped
                    .lock()
                    .unwrap()
                    .push((args.cookie, args.reason.clone()));
            }
        }
    });

    let mut runtimes = Vec::new();
    for _ in 0..CONNECTIONS {
        runtimes.push(Runtime::with_connection(bus.connect().await).await.unwrap());
    }
    let per_runtime = runtimes.iter().enumerate().map(|(c, rt)| async move {
        futures_util::future::join_all((0..PER_CONNECTION).map(|i| {
            rt.add_resource(TestClient::new(
                format!("ws{}.example.com", c % 4),
                format!("App {c}/{i}"),
            ))
        }))
        .await
    });
    let registrations: Vec<_> = futures_util::future::join_all(per_runtime)
        .await
        .into_iter()
        .flatten()
        .map(|r| r.expect("AddResource succeeds"))
        .collect();
    let mut cookies = BTreeSet::new();
    for reg in &registrations {
        assert_ne!(reg.cookie(), 0);
        assert!(
            cookies.insert(reg.cookie()),
            "cookie {} twice",
            reg.cookie()
        );
    }
    assert_eq!(cookies.len(), TOTAL);

    let deadline = Instant::now() + PROMPT;
    loop {
        let listed = obs_reg.list_resources().await.unwrap();
        if listed.len() == TOTAL {
            assert_eq!(listed.iter().map(|r| r.0).collect::<BTreeSet<_>>(), cookies);
            assert!(
                listed
                    .iter()
                    .all(|r| r.3 == "connected" && r.4 == std::process::id())
            );
            break;
        }
        let dropped = dropped.lock().unwrap().clone();
        if Instant::now() >= deadline || !dropped.is_empty() {
            let log = bus.runtime_log();
            let why: Vec<&str> = log.lines().filter(|l| l.contains("WARN")).take(3).collect();
            panic!(
                "{} of {TOTAL} listed; {} dropped, e.g. {:?}; the runtime says:\n{}",
                listed.len(),
                dropped.len(),
                &dropped[..dropped.len().min(5)],
                why.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let announced = tokio::time::timeout(PROMPT, announced)
        .await
        .expect("not every registration was announced")
        .unwrap();
    assert_eq!(announced, cookies.iter().copied().collect::<HashSet<_>>());
    assert!(dropped.lock().unwrap().is_empty());
    let workspace = WorkspaceProxy::new(&obs_conn).await.unwrap();
    assert_eq!(workspace.get_workspace_names().await.unwrap().len(), 4);
    drain.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_registrations_get_distinct_cookies() {
    let bus = TestBus::start_with(Timeouts {
        disconnect: 1.0,
        grace: 1.0,
        probe: 10.0,
        ..Timeouts::default()
    })
    .await;
    burst_of_registrations(&bus).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_are_never_reused() {
    let bus = TestBus::start().await;
    let observer = Observer::new(&bus).await;
    let mut last = 0u32;
    let mut seen = Vec::new();
    for round in 0..5 {
        let runtime = Runtime::with_connection(bus.connect().await).await.unwrap();
        for i in 0..10 {
            let reg = runtime
                .add_resource(TestClient::new("reuse.example.com", format!("App {i}")))
                .await
                .unwrap();
            let cookie = reg.cookie();
            assert!(
                cookie > last,
                "cookie {cookie} after {last} (round {round}, seen {seen:?})"
            );
            last = cookie;
            seen.push(cookie);
            if i % 2 == 0 {
                runtime.remove_resource(reg).await.unwrap();
            }
        }
        // The odd ones go with their connection.
        drop(runtime);
    }
    eventually(PROMPT, "every registration gone", || async {
        observer.list().await.is_empty()
    })
    .await;
    // And after all that, the next cookie is still new.
    let runtime = Runtime::with_connection(bus.connect().await).await.unwrap();
    let reg = runtime
        .add_resource(TestClient::new("reuse.example.com", "Last"))
        .await
        .unwrap();
    assert!(reg.cookie() > last);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_by_friendly_name_resolves_names() {
    let bus = TestBus::start_with(Timeouts {
        disconnect: 1.0,
        grace: 0.3,
        probe: 1.0,
        ..Timeouts::default()
    })
    .await;
    let mut observer = Observer::new(&bus).await;
    let runtime = Runtime::with_connection(bus.connect().await).await.unwrap();
    let a = runtime
        .add_resource(TestClient::new("ws-a.example.com", "A"))
        .await
        .unwrap();
    let b = runtime
        .add_resource(TestClient::new("ws-b.example.com", "B"))
        .await
        .unwrap();
    let hang = runtime
        .add_resource(TestClient::new("ws-c.example.com", "C").answering(Answer::Hang))
        .await
        .unwrap();
    observer
        .added_for(&[a.cookie(), b.cookie(), hang.cookie()], PROMPT)
        .await;

    let scriptable = WorkspaceScriptableProxy::new(&observer.conn).await.unwrap();
    assert_radc_error(
        scriptable
            .disconnect_workspace_by_friendly_name("Contoso Apps")
            .await,
        ErrorKind::NotFound,
    );
    scriptable
        .resource_dismissed("ws-a.example.com", "Contoso Apps")
        .await
        .unwrap();
    let workspace = WorkspaceProxy::new(&observer.conn).await.unwrap();
    let mut names_now = workspace.get_workspace_names().await.unwrap();
    names_now.sort();
    assert_eq!(
        names_now,
        vec!["B".to_owned(), "C".to_owned(), "Contoso Apps".to_owned()]
    );

    // A learned name, compared without regard to case.
    let rows = scriptable
        .disconnect_workspace_by_friendly_name("contoso APPS")
        .await
        .unwrap();
    assert_eq!(rows, vec![(a.cookie(), "ok".to_owned(), String::new())]);
    // Else the id, compared without regard to case.
    let rows = scriptable
        .disconnect_workspace_by_friendly_name("WS-B.Example.COM")
        .await
        .unwrap();
    assert_eq!(rows, vec![(b.cookie(), "ok".to_owned(), String::new())]);
    // Unknown names.
    assert_radc_error(
        scriptable
            .disconnect_workspace_by_friendly_name("nobody")
            .await,
        ErrorKind::NotFound,
    );
    // The hung SDK client times out, just like the Python one.
    let t0 = Instant::now();
    let rows = scriptable
        .disconnect_workspace_by_friendly_name("ws-c.example.com")
        .await
        .unwrap();
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, hang.cookie());
    assert_eq!(rows[0].1, "timeout");

    // Nobody removed itself: all three dropped after the grace.
    let removed = observer
        .removed_for(&[a.cookie(), b.cookie(), hang.cookie()], PROMPT)
        .await;
    assert!(removed.values().all(|r| r == "disconnected"), "{removed:?}");
    assert!(observer.list().await.is_empty());
}
