mod common;

use common::TestBus;
use radc_client::proxy::WorkspaceProxy;

#[tokio::test]
async fn runtime_answers_on_a_private_bus() {
    let bus = TestBus::start().await;
    let conn = bus.connect().await;
    let ws = WorkspaceProxy::new(&conn).await.unwrap();
    assert_eq!(
        ws.get_process_id().await.unwrap(),
        bus.runtime_pid().unwrap()
    );
    assert!(ws.get_workspace_names().await.unwrap().is_empty());
}
