//! Asking for disconnected sessions (MS-RDWR) against the test RD Web
//! Access server (`server/feed_server.py`): the same sign-in as the feed
//! (NTLM by pyspnego), then `RDWebService.asmx` beside the feed.
//!
//! Needs `/opt/radc-test-venv` (made by `scripts/install-deps.sh`).

use std::sync::LazyLock;
use std::time::Duration;

use radc_feed::rdwr::{self, SessionKind};
use radc_subscribe::http::{Credentials, FeedClient, FeedClientOptions};
use radc_subscribe::reconnect::{ReconnectError, disconnected_sessions};
use radc_subscribe::store::WorkspaceRecord;
use radc_subscribe::workspace::Options;
use serde_json::Value;
use url::Url;
use zeroize::Zeroizing;

// The radc crate's handle on the same server, shared rather than copied.
#[allow(dead_code)]
#[path = "../../radc/tests/common/feed_server.rs"]
mod feed_server;

static SERVER: LazyLock<feed_server::FeedServer> = LazyLock::new(feed_server::FeedServer::start);

fn feed_url(tenant: &str, mode: &str) -> Url {
    Url::parse(&SERVER.feed_url(tenant, mode)).unwrap()
}

fn control(tenant: &str, what: &str) -> Value {
    serde_json::from_str(&SERVER.control(tenant, what, None)).unwrap_or(Value::Null)
}

fn record(tenant: &str, mode: &str) -> WorkspaceRecord {
    let mut record = WorkspaceRecord::new(
        &format!("test-{mode}"),
        "Test",
        feed_url(tenant, mode).as_str(),
        0,
    );
    record.ca_file = Some(SERVER.certs.path().join("ca.pem"));
    record
}

fn options() -> Options {
    let mut options = Options::default();
    options.http.timeout = Duration::from_secs(10);
    options
}

fn alice() -> Credentials {
    Credentials::parse("RADCTEST\\alice", Zeroizing::new("Secr3t-pw".into())).unwrap()
}

async fn ask(tenant: &str, mode: &str) -> Result<rdwr::Answer, ReconnectError> {
    disconnected_sessions(&record(tenant, mode), Some(&alice()), &options()).await
}

#[tokio::test]
async fn sessions_come_back_after_the_feeds_sign_in() {
    let answer = ask("sessions", "reconnect").await.unwrap();
    assert_eq!(answer.version.as_deref(), Some("8.0"));
    let kinds: Vec<_> = answer.sessions.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [SessionKind::Desktop, SessionKind::RemoteApp]);
    assert!(
        answer.sessions[1]
            .rdp
            .contains("remoteapplicationprogram:s:||calc\r\n"),
        "{:?}",
        answer.sessions[1].rdp
    );
    let stats = control("sessions", "stats");
    let requests = stats["rdweb"].as_array().unwrap();
    assert_eq!(requests.len(), 1, "{stats}");
    let request = &requests[0];
    assert_eq!(request["signed_in"], true, "the feed's cookie went along");
    assert_eq!(request["soapaction"], rdwr::SOAP_ACTION);
    assert_eq!(request["content_type"], "text/xml; charset=utf-8");
    assert_eq!(request["body"], rdwr::REQUEST_BODY);
    assert_eq!(stats["logins"], 1, "one sign-in for feed and service");
}

#[tokio::test]
async fn an_expired_cookie_signs_in_again() {
    let url = feed_url("expired", "reconnect");
    let client = FeedClient::new(FeedClientOptions {
        extra_ca_pem: Some(std::fs::read(SERVER.certs.path().join("ca.pem")).unwrap()),
        ..FeedClientOptions::default()
    })
    .unwrap();
    client.fetch_feed(&url, Some(&alice())).await.unwrap();
    control("expired", "expire");
    let service = rdwr::service_url(&url);
    let headers = [("SOAPAction", rdwr::SOAP_ACTION)];
    let posted = client
        .post(&service, &headers, rdwr::REQUEST_BODY.as_bytes(), 1 << 20)
        .await
        .unwrap();
    assert_eq!(posted.status, 200);
    assert_eq!(
        rdwr::parse_response(200, &posted.body)
            .unwrap()
            .sessions
            .len(),
        2
    );
    let stats = control("expired", "stats");
    let signed: Vec<_> = stats["rdweb"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["signed_in"].as_bool().unwrap())
        .collect();
    assert_eq!(signed, [false, true], "refused, signed in again, accepted");
    assert_eq!(stats["logins"], 2);
    // Another origin never gets the session.
    let elsewhere = Url::parse(&format!(
        "https://localhost:{}/x/RDWebService.asmx",
        SERVER.port
    ))
    .unwrap();
    let e = client
        .post(&elsewhere, &headers, b"", 1024)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("not on the server of the feed"), "{e}");
}

#[tokio::test]
async fn no_sessions_is_an_empty_answer() {
    let answer = ask("none", "reconnectnone").await.unwrap();
    assert!(answer.sessions.is_empty());
}

#[tokio::test]
async fn malformed_answers_and_faults_are_errors_naming_them() {
    let e = ask("bad", "reconnectbad").await.unwrap_err().to_string();
    assert!(
        e.contains("RDWebService.asmx gave an unusable answer")
            && e.contains("not well-formed XML"),
        "{e}"
    );
    let e = ask("fault", "reconnectfault")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("SOAP fault soap:Server")
            && e.contains("The connection broker is not available."),
        "{e}"
    );
}

#[tokio::test]
async fn a_feed_without_reconnect_is_not_asked() {
    let e = ask("off", "noreconnect").await.unwrap_err();
    assert!(matches!(e, ReconnectError::NotSupported { .. }), "{e}");
    assert_eq!(
        control("off", "stats")["rdweb"].as_array().unwrap().len(),
        0
    );
}

#[tokio::test]
async fn a_wrong_password_stops_before_the_service() {
    let wrong = Credentials::parse("RADCTEST\\alice", Zeroizing::new("nope".into())).unwrap();
    let e = disconnected_sessions(&record("wrong", "reconnect"), Some(&wrong), &options())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("rejected the user name"), "{e}");
    assert_eq!(
        control("wrong", "stats")["rdweb"].as_array().unwrap().len(),
        0
    );
}
