//! The feed client against a real test server (`server/feed_server.py`):
//! TLS with a CA made for the test, NTLM/SPNEGO done by pyspnego, the RD Web
//! Access login dance, and the failure modes a user can meet.
//!
//! Needs `/opt/radc-test-venv` (made by `scripts/install-deps.sh`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use radc_subscribe::http::{Credentials, FEED_ACCEPT, FeedClient, FeedClientOptions, HttpError};
use serde_json::Value;
use url::Url;
use zeroize::Zeroizing;

const PYTHON: &str = "/opt/radc-test-venv/bin/python";
const PASSWORD: &str = "Secr3t-pw";

struct Server {
    port: u16,
    control: u16,
    scheme: &'static str,
    // Dropping these would stop the server; they live as long as the test
    // process, and the server exits when its stdin closes with it.
    _stdin: ChildStdin,
    _child: Child,
}

struct Servers {
    certs: tempfile::TempDir,
    main: Server,
    icons: Server,
    plain: Server,
}

fn start(certdir: &std::path::Path, plain: bool) -> Server {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/server/feed_server.py");
    assert!(
        std::path::Path::new(PYTHON).exists(),
        "{PYTHON} is missing: run scripts/install-deps.sh as root"
    );
    let mut cmd = Command::new(PYTHON);
    cmd.arg(script).arg("--certdir").arg(certdir);
    if plain {
        cmd.arg("--plain");
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start feed_server.py");
    let stdin = child.stdin.take().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"READY"), "server said {line:?}");
    Server {
        port: words[1].parse().unwrap(),
        control: words[2].parse().unwrap(),
        scheme: if plain { "http" } else { "https" },
        _stdin: stdin,
        _child: child,
    }
}

static SERVERS: LazyLock<Servers> = LazyLock::new(|| {
    let certs = tempfile::tempdir().unwrap();
    // The first one writes the CA and the certificate; the others reuse them.
    let main = start(certs.path(), false);
    let icons = start(certs.path(), false);
    let plain = start(certs.path(), true);
    Servers {
        certs,
        main,
        icons,
        plain,
    }
});

fn ca_pem() -> Vec<u8> {
    std::fs::read(SERVERS.certs.path().join("ca.pem")).unwrap()
}

impl Server {
    fn url(&self, path: &str) -> Url {
        Url::parse(&format!("{}://127.0.0.1:{}/{path}", self.scheme, self.port)).unwrap()
    }

    fn control(&self, tenant: &str, what: &str) -> Value {
        let mut s = TcpStream::connect(("127.0.0.1", self.control)).unwrap();
        write!(
            s,
            "GET /{tenant}/{what} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let body = text.split_once("\r\n\r\n").unwrap().1;
        serde_json::from_str(body).unwrap_or(Value::Null)
    }

    fn stats(&self, tenant: &str) -> Value {
        self.control(tenant, "stats")
    }
}

fn client_with(f: impl FnOnce(&mut FeedClientOptions)) -> FeedClient {
    let mut options = FeedClientOptions {
        extra_ca_pem: Some(ca_pem()),
        timeout: Duration::from_secs(10),
        ..FeedClientOptions::default()
    };
    f(&mut options);
    FeedClient::new(options).unwrap()
}

fn client() -> FeedClient {
    client_with(|_| {})
}

fn alice() -> Credentials {
    Credentials::parse("RADCTEST\\alice", Zeroizing::new(PASSWORD.to_owned())).unwrap()
}

/// The client of a test that names the servers `rdweb.radc.test` (the
/// feed's) and `icons.radc.test`, one site resolved to loopback.
fn named_client() -> FeedClient {
    client_with(|o| {
        for name in ["rdweb.radc.test", "icons.radc.test"] {
            o.resolve.push((name.into(), "127.0.0.1".parse().unwrap()));
        }
    })
}

impl Server {
    fn named_url(&self, host: &str, path: &str) -> Url {
        Url::parse(&format!("{}://{host}:{}/{path}", self.scheme, self.port)).unwrap()
    }
}

#[tokio::test]
async fn signs_in_and_reuses_the_cookie_only_on_the_feeds_origin() {
    let s = &SERVERS.main;
    let t = "first";
    let client = named_client();
    let feed_url = s.named_url("rdweb.radc.test", &format!("{t}/normal/feed"));
    assert!(!client.is_signed_in());

    let feed = client.fetch_feed(&feed_url, Some(&alice())).await.unwrap();
    assert!(client.is_signed_in());
    let shown = format!("{client:?}");
    assert!(
        shown.contains("signed_in: true") && !shown.contains(PASSWORD),
        "{shown}"
    );
    assert_eq!(feed.final_url, feed_url);
    assert!(
        feed.content_type
            .as_deref()
            .unwrap()
            .starts_with("application/x-msts-radc+xml"),
        "{:?}",
        feed.content_type
    );
    assert!(String::from_utf8_lossy(&feed.body).contains("SchemaVersion=\"2.1\""));

    let st = s.stats(t);
    assert_eq!(st["feed_redirects"], 1, "{st}");
    assert_eq!(st["logins"], 1, "{st}");
    assert_eq!(st["feed_ok"], 1, "{st}");
    assert_eq!(st["principals"][0], "RADCTEST\\alice", "{st}");
    assert_eq!(st["schemes"], serde_json::json!(["Negotiate"]), "{st}");
    // The whole Negotiate exchange ran on one connection.
    assert_eq!(
        st["handshake_connections"].as_array().unwrap().len(),
        1,
        "{st}"
    );
    assert_eq!(st["accept"][1], FEED_ACCEPT, "{st}");
    assert!(
        st["user_agents"][0]
            .as_str()
            .unwrap()
            .starts_with("TSWorkspace/2.0"),
        "{st}"
    );

    // A file on the same origin goes with the cookie, without a new login.
    let rdp = client
        .fetch_file(&s.named_url("rdweb.radc.test", &format!("{t}/normal/files/app.rdp")))
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&rdp).contains("full address"));
    let st = s.stats(t);
    assert_eq!(
        (st["files_ok"].as_u64(), st["files_refused"].as_u64()),
        (Some(1), Some(0)),
        "{st}"
    );
    assert_eq!(st["logins"], 1, "{st}");

    // An icon on another origin of the feed's site gets neither cookie nor
    // credentials.
    let icon = client
        .fetch_file(
            &SERVERS
                .icons
                .named_url("icons.radc.test", &format!("{t}/icon.png")),
        )
        .await
        .unwrap();
    assert_eq!(icon, b"\x89PNG icon");
    let st = SERVERS.icons.stats(t);
    assert_eq!(st["icon_requests"].as_array().unwrap().len(), 1, "{st}");
    assert!(st["icon_requests"][0]["cookie"].is_null(), "{st}");
    assert!(st["icon_requests"][0]["authorization"].is_null(), "{st}");
}

#[tokio::test]
async fn files_outside_the_feeds_site_are_not_fetched() {
    let t = "scope";
    let client = named_client();
    let feed_url = SERVERS
        .main
        .named_url("rdweb.radc.test", &format!("{t}/normal/feed"));
    client.fetch_feed(&feed_url, Some(&alice())).await.unwrap();
    let icon_requests = || {
        SERVERS.icons.stats(t)["icon_requests"]
            .as_array()
            .unwrap()
            .len()
    };

    // The same server by address: another origin, and not a name in the
    // feed's site; `localhost` is not in it either.
    for outside in [
        SERVERS.icons.url(&format!("{t}/icon.png")),
        SERVERS
            .icons
            .named_url("localhost", &format!("{t}/icon.png")),
    ] {
        let err = client.fetch_file(&outside).await.unwrap_err();
        assert!(matches!(err, HttpError::OutsideWorkspace { .. }), "{err:?}");
        assert!(err.to_string().contains(outside.as_str()), "{err}");
    }
    // A redirect from within the site to outside it stops at that hop.
    let mut hop = SERVERS
        .icons
        .named_url("icons.radc.test", &format!("{t}/away/feed"));
    hop.query_pairs_mut()
        .append_pair("to", SERVERS.icons.url(&format!("{t}/icon.png")).as_str());
    let err = client.fetch_file(&hop).await.unwrap_err();
    assert!(matches!(err, HttpError::OutsideWorkspace { .. }), "{err:?}");
    assert_eq!(icon_requests(), 0, "nothing reached the icon server's icon");
}

#[tokio::test]
async fn ntlm_only_login_with_a_upn() {
    let s = &SERVERS.main;
    let t = "ntlmonly";
    let bob = Credentials::parse("bob@radc.test", Zeroizing::new("B0b-secret".into())).unwrap();
    let feed = client()
        .fetch_feed(&s.url(&format!("{t}/ntlmonly/feed")), Some(&bob))
        .await
        .unwrap();
    assert!(!feed.body.is_empty());
    let st = s.stats(t);
    assert_eq!(st["logins"], 1, "{st}");
    assert_eq!(st["principals"][0], "bob@radc.test", "{st}");
    assert_eq!(st["schemes"], serde_json::json!(["NTLM"]), "{st}");
}

#[tokio::test]
async fn wrong_password_is_reported_without_the_password() {
    let s = &SERVERS.main;
    let t = "wrongpw";
    let bad =
        Credentials::parse("RADCTEST\\alice", Zeroizing::new("not-the-pw-xyz".into())).unwrap();
    let err = client()
        .fetch_feed(&s.url(&format!("{t}/normal/feed")), Some(&bad))
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::WrongPassword { .. }), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(text.contains("RADCTEST\\alice"), "{text}");
    assert!(!text.contains("not-the-pw-xyz"), "{text}");
    let st = s.stats(t);
    assert_eq!(st["logins"], 0, "{st}");
    assert_eq!(st["login_failures"], 1, "{st}");

    // No credentials and no Kerberos ticket: both are said.
    let err = client()
        .fetch_feed(&s.url(&format!("{t}/normal/feed")), None)
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::KerberosFailed { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("no Kerberos ticket") && text.contains("no password was given"),
        "{text}"
    );
    // A server without Negotiate can only take a password.
    let err = client()
        .fetch_feed(&s.url(&format!("{t}/ntlmonly/feed")), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, HttpError::CredentialsRequired { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_expired_cookie_leads_to_one_new_login() {
    let s = &SERVERS.main;
    let t = "expire";
    let client = client();
    client
        .fetch_feed(&s.url(&format!("{t}/normal/feed")), Some(&alice()))
        .await
        .unwrap();
    s.control(t, "expire");
    let rdp = client
        .fetch_file(&s.url(&format!("{t}/normal/files/app.rdp")))
        .await
        .unwrap();
    assert!(!rdp.is_empty());
    let st = s.stats(t);
    assert_eq!(st["logins"], 2, "{st}");
    assert_eq!(st["files_refused"], 1, "{st}");
    assert_eq!(st["files_ok"], 1, "{st}");

    // And the feed again, on the new cookie.
    client
        .fetch_feed(&s.url(&format!("{t}/normal/feed")), None)
        .await
        .unwrap();
    assert_eq!(s.stats(t)["logins"], 2);
}

#[tokio::test]
async fn a_feed_that_challenges_itself() {
    let s = &SERVERS.main;
    let t = "direct";
    let client = client();
    let feed = client
        .fetch_feed(&s.url(&format!("{t}/direct/feed")), Some(&alice()))
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&feed.body).contains("ResourceCollection"));
    // Files there are challenged too, and signed in with the same credentials.
    client
        .fetch_file(&s.url(&format!("{t}/direct/files/app.rdp")))
        .await
        .unwrap();
    let st = s.stats(t);
    assert_eq!(st["logins"], 1, "{st}");
    assert_eq!(st["files_ok"], 1, "{st}");
    assert_eq!(
        st["handshake_connections"].as_array().unwrap().len(),
        2,
        "{st}"
    );
}

#[tokio::test]
async fn basic_only_over_https() {
    let t = "basic";
    let feed = client()
        .fetch_feed(
            &SERVERS.main.url(&format!("{t}/basic/feed")),
            Some(&alice()),
        )
        .await
        .unwrap();
    assert!(!feed.body.is_empty());
    let st = SERVERS.main.stats(t);
    assert_eq!(st["logins"], 1, "{st}");
    assert_eq!(st["schemes"], serde_json::json!(["Basic"]), "{st}");

    let err = client_with(|o| o.allow_http = true)
        .fetch_feed(
            &SERVERS.plain.url(&format!("{t}/basic/feed")),
            Some(&alice()),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::BasicOverHttp { .. }), "{err:?}");
    assert_eq!(SERVERS.plain.stats(t)["logins"], 0);
}

#[tokio::test]
async fn plain_http_only_when_allowed() {
    let t = "plain";
    let url = SERVERS.plain.url(&format!("{t}/normal/feed"));
    let err = client().fetch_feed(&url, Some(&alice())).await.unwrap_err();
    assert!(matches!(err, HttpError::PlainHttpRefused { .. }), "{err:?}");
    assert!(err.to_string().contains("--allow-http"), "{err}");
    assert!(
        SERVERS.plain.stats(t)["accept"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let feed = client_with(|o| o.allow_http = true)
        .fetch_feed(&url, Some(&alice()))
        .await
        .unwrap();
    assert!(!feed.body.is_empty());
    assert_eq!(SERVERS.plain.stats(t)["logins"], 1);
}

#[tokio::test]
async fn an_unknown_ca_is_refused_with_a_hint() {
    let client = client_with(|o| o.extra_ca_pem = None);
    let err = client
        .fetch_feed(&SERVERS.main.url("ca/normal/feed"), Some(&alice()))
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("--ca-file"), "{err}");
}

#[tokio::test]
async fn not_found() {
    let err = client()
        .fetch_feed(&SERVERS.main.url("nf/missing/feed"), Some(&alice()))
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("404"), "{err}");
}

#[tokio::test]
async fn a_login_page_without_a_token() {
    let err = client()
        .fetch_feed(&SERVERS.main.url("nt/notoken/feed"), Some(&alice()))
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::NoLoginToken { .. }), "{err:?}");
    assert!(err.to_string().contains("text/html"), "{err}");
}

#[tokio::test]
async fn a_redirect_to_another_origin_is_not_followed() {
    let t = "away";
    let elsewhere = SERVERS.icons.url(&format!("{t}/icon.png"));
    let mut url = SERVERS.main.url(&format!("{t}/away/feed"));
    url.query_pairs_mut().append_pair("to", elsewhere.as_str());
    let err = client().fetch_feed(&url, Some(&alice())).await.unwrap_err();
    assert!(
        matches!(err, HttpError::CrossOriginRedirect { .. }),
        "{err:?}"
    );
    assert!(
        SERVERS.icons.stats(t)["icon_requests"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_truncated_body_fails() {
    let err = client()
        .fetch_feed(&SERVERS.main.url("tr/truncated/feed"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::Transfer { .. }), "{err:?}");
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let client = client_with(|o| o.timeout = Duration::from_secs(1));
    let started = Instant::now();
    let err = client
        .fetch_feed(&SERVERS.main.url("slow/slow/feed"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("timeout"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_200_mb_body_is_refused_early() {
    for mode in ["huge", "hugechunked"] {
        let started = Instant::now();
        let err = client()
            .fetch_feed(&SERVERS.main.url(&format!("big/{mode}/feed")), None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, HttpError::BodyTooLarge { limit, .. } if limit == 32 * 1024 * 1024),
            "{mode}: {err:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{mode}: {:?}",
            started.elapsed()
        );
    }
}
