//! Sign-in time, Kerberos single sign-on against NTLM, for the same feed:
//! the test feed server with the service keytab accepts both inside
//! Negotiate. Each sample is a whole `fetch_feed` with a new client (302,
//! sign-in on its own connection, the feed with the cookie) over TLS with
//! channel bindings. A real MIT KDC on loopback issues the tickets; the
//! service ticket is cached after the first Kerberos sign-in, as it is for
//! a user. Run with
//!
//! ```sh
//! cargo bench -p radc-subscribe --bench sign_in
//! ```

#[path = "../tests/support/feed.rs"]
mod feed;
#[path = "../tests/support/kdc.rs"]
mod kdc;

use std::time::{Duration, Instant};

use radc_subscribe::http::{Credentials, FeedClient, FeedClientOptions};
use url::Url;
use zeroize::Zeroizing;

const SAMPLES: usize = 20;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn sample(
    certdir: &std::path::Path,
    url: Url,
    credentials: Option<&Credentials>,
) -> Duration {
    let client = FeedClient::new(FeedClientOptions {
        extra_ca_pem: Some(std::fs::read(certdir.join("ca.pem")).unwrap()),
        resolve: vec![(kdc::FEED_HOST.into(), "127.0.0.1".parse().unwrap())],
        ..FeedClientOptions::default()
    })
    .unwrap();
    let start = Instant::now();
    client.fetch_feed(&url, credentials).await.unwrap();
    start.elapsed()
}

fn main() {
    let kdc = kdc::Kdc::start();
    let certs = tempfile::tempdir().unwrap();
    let ccache = kdc.ccache("bench");
    // SAFETY: single-threaded still; no runtime started yet.
    unsafe {
        for (name, value) in kdc.client_env(&ccache) {
            std::env::set_var(name, value);
        }
    }
    let keytab = kdc.keytab();
    let server = feed::Feed::start(
        certs.path(),
        &["--require-cb", "--keytab", keytab.to_str().unwrap()],
        &[("KRB5_CONFIG", kdc.krb5_config().into_os_string())],
    );
    let url = |i: usize| {
        Url::parse(&format!(
            "https://{}:{}/bench{i}/normal/feed",
            kdc::FEED_HOST,
            server.port
        ))
        .unwrap()
    };
    let alice = Credentials::parse("RADCTEST\\alice", Zeroizing::new("Secr3t-pw".into())).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        kdc.kinit(&ccache, None);
        sample(certs.path(), url(1000), None).await; // warm-up: service ticket
        let mut kerberos = Vec::new();
        for i in 0..SAMPLES {
            kerberos.push(sample(certs.path(), url(i), None).await);
        }
        kdc.kdestroy(&ccache);
        sample(certs.path(), url(2000), Some(&alice)).await; // warm-up
        let mut ntlm = Vec::new();
        for i in 0..SAMPLES {
            ntlm.push(sample(certs.path(), url(100 + i), Some(&alice)).await);
        }
        let st = server.stats("bench0");
        assert_eq!(st["principals"][0], "alice@RADC.TEST", "{st}");
        let st = server.stats("bench100");
        assert_eq!(st["principals"][0], "RADCTEST\\alice", "{st}");
        println!("sign-in + feed, median of {SAMPLES} each (TLS, channel bindings):");
        println!(
            "  Kerberos SSO (ticket, no password): {}",
            ms(median(kerberos))
        );
        println!("  NTLM in SPNEGO (password):          {}", ms(median(ntlm)));
    });
}
