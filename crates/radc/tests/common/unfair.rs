//! Clients that misbehave on purpose (never answer, hang on
//! `IssueDisconnect`, answer slowly) and the measure of how long an honest
//! client waits next to them; shared by tests/fairness.rs and
//! benches/fairness.rs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use radc_client::proxy::{RuntimeProxy, WorkspaceRegistrationProxy};
use radc_client::{ClientError, Runtime, WorkspaceClientExt};
use zbus::Connection;
use zbus::zvariant::ObjectPath;

use super::{TestBus, TestClient};

/// Registers `count` client objects at `/hung/cN` on `conn`, a connection
/// with no object server: the runtime's calls to it are never answered.
/// Returns once every `AddResource` has been answered.
pub async fn register_silent(conn: &Connection, count: usize) -> Vec<u32> {
    let proxy = WorkspaceRegistrationProxy::new(conn).await.unwrap();
    let mut cookies = Vec::with_capacity(count);
    // In batches, so the test's own connection stays within its limits.
    for batch in (0..count).collect::<Vec<_>>().chunks(512) {
        let calls = batch.iter().map(|i| {
            let proxy = &proxy;
            async move {
                let path = ObjectPath::try_from(format!("/hung/c{i}")).unwrap();
                proxy.add_resource(&path).await.unwrap()
            }
        });
        cookies.extend(join_all(calls).await);
    }
    cookies
}

/// Registers one honest client in its own workspace on a fresh connection
/// and returns how long until `ListConnections` (what `radc status` shows)
/// lists it as connected; `None` if that takes over 20 s.
pub async fn time_to_listed(
    bus: &TestBus,
    observer: &RuntimeProxy<'_>,
    workspace: &str,
) -> Option<Duration> {
    let honest = Runtime::with_connection(bus.connect().await).await.unwrap();
    let t0 = Instant::now();
    let reg = honest
        .add_resource(TestClient::new(workspace, "Honest"))
        .await
        .unwrap();
    while t0.elapsed() < Duration::from_secs(20) {
        let rows = observer.list_connections().await.unwrap();
        if rows
            .iter()
            .any(|r| r.0 == reg.cookie() && r.1 == workspace && r.4 == "connected")
        {
            return Some(t0.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

/// A client that answers the probe but never `IssueDisconnect`, counting
/// how often it is asked.
pub struct CountingHang {
    pub workspace: String,
    pub asked: Arc<AtomicUsize>,
}

impl WorkspaceClientExt for CountingHang {
    fn resource_id(&self) -> String {
        self.workspace.clone()
    }

    fn resource_display_name(&self) -> String {
        "Hangs on disconnect".into()
    }

    async fn issue_disconnect(&self) -> Result<(), ClientError> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        std::future::pending().await
    }
}

/// A client that answers every call, one at a time, after `delay`, as a
/// single-threaded client with a busy main loop does.
pub struct Slow {
    pub workspace: String,
    pub name: String,
    pub delay: Duration,
    /// One call at a time over the whole connection.
    pub turn: Arc<tokio::sync::Mutex<()>>,
}

#[zbus::interface(name = "org.radc.WorkspaceClientExt1")]
impl Slow {
    async fn get_resource_id(&self) -> String {
        let _turn = self.turn.lock().await;
        tokio::time::sleep(self.delay).await;
        self.workspace.clone()
    }

    async fn get_resource_display_name(&self) -> String {
        let _turn = self.turn.lock().await;
        tokio::time::sleep(self.delay).await;
        self.name.clone()
    }

    async fn issue_disconnect(&self) {}
}

/// Removals seen so far, by cookie: reason.
pub type Removals = Arc<std::sync::Mutex<std::collections::HashMap<u32, String>>>;

/// Records every `ResourceRemoved` as it comes, from a task (an unread
/// stream stalls its connection once 64 messages wait in it). Abort the
/// task when done.
pub async fn record_removals(conn: &Connection) -> (Removals, tokio::task::JoinHandle<()>) {
    use futures_util::StreamExt;
    let registration = WorkspaceRegistrationProxy::new(conn).await.unwrap();
    let mut removed = registration.receive_resource_removed().await.unwrap();
    let seen = Removals::default();
    let task = tokio::spawn({
        let seen = seen.clone();
        async move {
            while let Some(signal) = removed.next().await {
                let args = signal.args().unwrap();
                seen.lock()
                    .unwrap()
                    .insert(args.cookie, args.reason.to_string());
            }
        }
    });
    (seen, task)
}
