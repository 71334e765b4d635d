//! Kerberos single sign-on and channel binding against real parts: an MIT
//! KDC on loopback, Apache httpd with mod_auth_gssapi as the Kerberos
//! acceptor in front of the test feed server, and pyspnego (with
//! python-gssapi and the service keytab) where an acceptor must check
//! channel bindings, which mod_auth_gssapi cannot.
//!
//! GSSAPI reads `KRB5_CONFIG` and `KRB5CCNAME` from this process's
//! environment, so the scenarios that change the ticket run one after the
//! other in one test.

#[path = "support/feed.rs"]
mod feed;
#[path = "support/kdc.rs"]
mod kdc;

use std::time::Duration;

use feed::Feed;
use kdc::{Apache, FEED_HOST, Kdc};
use radc_subscribe::http::{Credentials, FeedClient, FeedClientOptions, HttpError};
use url::Url;
use zeroize::Zeroizing;

/// alice's NTLM password on the pyspnego servers.
const NTLM_PASSWORD: &str = "Secr3t-pw";

fn client(certdir: &std::path::Path, binding: Option<&[u8]>) -> FeedClient {
    FeedClient::new(FeedClientOptions {
        extra_ca_pem: Some(std::fs::read(certdir.join("ca.pem")).unwrap()),
        timeout: Duration::from_secs(10),
        resolve: vec![(FEED_HOST.into(), "127.0.0.1".parse().unwrap())],
        channel_binding_override: binding.map(<[u8]>::to_vec),
        ..FeedClientOptions::default()
    })
    .unwrap()
}

fn url(port: u16, path: &str) -> Url {
    Url::parse(&format!("https://{FEED_HOST}:{port}/{path}")).unwrap()
}

fn alice() -> Credentials {
    Credentials::parse("RADCTEST\\alice", Zeroizing::new(NTLM_PASSWORD.into())).unwrap()
}

const WRONG_BINDING: &[u8] = b"tls-server-end-point:not-the-hash-of-this-certificate";

#[tokio::test(flavor = "multi_thread")]
async fn kerberos_sign_in_and_channel_binding() {
    let kdc = Kdc::start();
    let certs = tempfile::tempdir().unwrap();
    let certdir = certs.path();
    let ccache = kdc.ccache("alice");
    // SAFETY: the only test of this binary; set before any thread of ours
    // reads the environment.
    unsafe {
        for (name, value) in kdc.client_env(&ccache) {
            std::env::set_var(name, value);
        }
    }
    let krb_env = [("KRB5_CONFIG", kdc.krb5_config().into_os_string())];
    // Extended Protection: NTLM, and Kerberos with the service keytab.
    let ntlm_cb = Feed::start(certdir, &["--require-cb"], &[]);
    let keytab = kdc.keytab();
    let krb_cb = Feed::start(
        certdir,
        &["--require-cb", "--keytab", keytab.to_str().unwrap()],
        &krb_env,
    );
    // Apache with mod_auth_gssapi in front of a plain feed server.
    let backend = Feed::start(certdir, &["--plain"], &[]);
    let apache = Apache::start(&kdc, certdir, backend.port);

    // 1. A ticket, no password: Apache's GSSAPI signs us in.
    kdc.kinit(&ccache, None);
    let feed = client(certdir, None)
        .fetch_feed(&url(apache.port, "sso/proxied/feed"), None)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", apache.error_log()));
    assert!(String::from_utf8_lossy(&feed.body).contains("ResourceCollection"));
    let st = backend.stats("sso");
    assert_eq!(
        st["principals"],
        serde_json::json!(["alice@RADC.TEST"]),
        "{st}"
    );
    let klist = kdc.klist(&ccache);
    assert!(
        klist.contains(&format!("HTTP/{FEED_HOST}@RADC.TEST")),
        "no service ticket for the feed's host:\n{klist}"
    );

    // 2. Kerberos with channel bindings on a server that requires them.
    client(certdir, None)
        .fetch_feed(&url(krb_cb.port, "kcb/normal/feed"), None)
        .await
        .unwrap();
    let st = krb_cb.stats("kcb");
    assert_eq!(
        st["principals"],
        serde_json::json!(["alice@RADC.TEST"]),
        "{st}"
    );
    // Wrong bindings (a relayed sign-in): the server refuses the ticket.
    let err = client(certdir, Some(WRONG_BINDING))
        .fetch_feed(&url(krb_cb.port, "kcbwrong/normal/feed"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::KerberosFailed { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("the server did not accept the Kerberos ticket"),
        "{err}"
    );
    let st = krb_cb.stats("kcbwrong");
    assert_eq!(
        (st["logins"].as_u64(), st["login_failures"].as_u64()),
        (Some(0), Some(1)),
        "{st}"
    );

    // 3. NTLM with channel bindings (a server offering NTLM only, so the
    // ticket plays no part).
    client(certdir, None)
        .fetch_feed(&url(ntlm_cb.port, "ncb/ntlmonly/feed"), Some(&alice()))
        .await
        .unwrap();
    let st = ntlm_cb.stats("ncb");
    assert_eq!(
        st["principals"],
        serde_json::json!(["RADCTEST\\alice"]),
        "{st}"
    );
    let err = client(certdir, Some(WRONG_BINDING))
        .fetch_feed(&url(ntlm_cb.port, "ncbwrong/ntlmonly/feed"), Some(&alice()))
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::WrongPassword { .. }), "{err:?}");
    let st = ntlm_cb.stats("ncbwrong");
    assert_eq!(
        (st["logins"].as_u64(), st["login_failures"].as_u64()),
        (Some(0), Some(1)),
        "{st}"
    );

    // 4. No ticket: Negotiate falls back to NTLM inside SPNEGO with the
    // password (channel-bound too); without a password both are said.
    kdc.kdestroy(&ccache);
    client(certdir, None)
        .fetch_feed(&url(ntlm_cb.port, "fallback/normal/feed"), Some(&alice()))
        .await
        .unwrap();
    let st = ntlm_cb.stats("fallback");
    assert_eq!(
        st["principals"],
        serde_json::json!(["RADCTEST\\alice"]),
        "{st}"
    );
    assert_eq!(st["schemes"], serde_json::json!(["Negotiate"]), "{st}");
    let err = client(certdir, None)
        .fetch_feed(&url(apache.port, "nothing/proxied/feed"), None)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("no Kerberos ticket (run kinit") && text.contains("no password was given"),
        "{text}"
    );
}
