//! E-mail discovery against a real DNS server (dnsmasq) on loopback.

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use radc_feed::discovery::{DiscoveryError, Target, classify};
use radc_subscribe::dns::{DnsError, Nameserver, feed_urls};

struct Dnsmasq {
    child: Child,
    addr: SocketAddr,
}

impl Dnsmasq {
    /// Serves the given TXT records (`name,string[,string…]`), and answers
    /// NXDOMAIN for any other name under `.test`, as an authoritative server
    /// would.
    fn start(txt_records: &[&str]) -> Dnsmasq {
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new("dnsmasq");
        cmd.args([
            "--no-daemon",
            "--conf-file=/dev/null",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            "--pid-file=",
            "--local=/test/",
        ])
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        for record in txt_records {
            cmd.arg(format!("--txt-record={record}"));
        }
        let child = cmd
            .spawn()
            .expect("dnsmasq is installed (scripts/install-deps.sh)");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        wait_until_answering(addr);
        Dnsmasq { child, addr }
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends a minimal query until the server answers.
fn wait_until_answering(addr: SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    // Header (id 1, recursion desired, one question) + "a." TXT IN.
    let query = [0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 0, 0, 16, 0, 1];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 512];
    while Instant::now() < deadline {
        let _ = socket.send_to(&query, addr);
        if socket.recv_from(&mut buf).is_ok() {
            return;
        }
    }
    panic!("dnsmasq did not answer on {addr}");
}

fn record_of(input: &str) -> String {
    match classify(input, false).unwrap() {
        Target::Email { record, .. } => record,
        other => panic!("not an e-mail address: {other:?}"),
    }
}

#[tokio::test]
async fn e_mail_address_finds_the_feed() {
    let dns = Dnsmasq::start(&[
        "_msradc.contoso.test,https://rdweb.contoso.test/RDWeb/Feed",
        // A long value split over two character-strings.
        "_msradc.split.test,https://rdweb.split.test,/RDWeb/Feed/",
        "_msradc.noise.test,v=spf1 -all",
        "_msradc.noise.test,https://rdweb.noise.test/RDWeb/Feed",
    ]);
    let ns = Nameserver::At(dns.addr);
    for (input, expected) in [
        (
            "alice@contoso.test",
            "https://rdweb.contoso.test/RDWeb/Feed/webfeed.aspx",
        ),
        (
            "bob@Split.Test",
            "https://rdweb.split.test/RDWeb/Feed/webfeed.aspx",
        ),
        (
            "carol@noise.test",
            "https://rdweb.noise.test/RDWeb/Feed/webfeed.aspx",
        ),
    ] {
        let urls = feed_urls(&record_of(input), ns, false).await.unwrap();
        assert_eq!(
            urls.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
            vec![expected],
            "{input}"
        );
    }
}

#[tokio::test]
async fn missing_or_unsafe_records_say_why() {
    let dns = Dnsmasq::start(&[
        "_msradc.plain.test,http://rdweb.plain.test/RDWeb/Feed",
        "_msradc.evil.test,file:///etc/passwd",
    ]);
    let ns = Nameserver::At(dns.addr);
    let err = feed_urls(&record_of("x@nothing.test"), ns, false)
        .await
        .unwrap_err();
    assert!(matches!(err, DnsError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("_msradc.nothing.test"), "{err}");

    let err = feed_urls(&record_of("x@plain.test"), ns, false)
        .await
        .unwrap_err();
    assert!(
        matches!(err, DnsError::Record(DiscoveryError::InsecureScheme(_))),
        "{err:?}"
    );
    assert!(
        feed_urls(&record_of("x@plain.test"), ns, true)
            .await
            .is_ok()
    );

    let err = feed_urls(&record_of("x@evil.test"), ns, true)
        .await
        .unwrap_err();
    assert!(
        matches!(err, DnsError::Record(DiscoveryError::UnsupportedScheme(_))),
        "{err:?}"
    );
}
