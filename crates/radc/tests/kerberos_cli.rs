//! Kerberos single sign-on as a user meets it: `radc subscribe` and
//! `radc refresh` with a ticket and no password, the fallback to the
//! password when there is no ticket, an expired ticket, neither; and
//! `IsWorkspaceSSOEnabled` on the bus. Real parts: an MIT KDC, Apache with
//! mod_auth_gssapi in front of the test feed server, pyspnego for NTLM.

mod common;
#[path = "../../radc-subscribe/tests/support/feed.rs"]
mod feed;
#[path = "../../radc-subscribe/tests/support/kdc.rs"]
mod kdc;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{TestBus, Timeouts};
use feed::Feed;
use kdc::{Apache, Kdc};
use radc_client::proxy::WorkspaceScriptableProxy;

/// A KDC, a TLS feed server with NTLM (pyspnego) and Apache with
/// mod_auth_gssapi in front of a plain one; all on loopback, named
/// `localhost` (the command line has no name overrides).
struct Realm {
    kdc: Kdc,
    certs: tempfile::TempDir,
    ntlm: Feed,
    _backend: Feed,
    apache: Apache,
}

impl Realm {
    fn start() -> Realm {
        let kdc = Kdc::start();
        let certs = tempfile::tempdir().unwrap();
        let ntlm = Feed::start(certs.path(), &[], &[]);
        let backend = Feed::start(certs.path(), &["--plain"], &[]);
        let apache = Apache::start(&kdc, certs.path(), backend.port);
        Realm {
            kdc,
            certs,
            ntlm,
            _backend: backend,
            apache,
        }
    }

    fn ca(&self) -> String {
        self.certs.path().join("ca.pem").display().to_string()
    }

    fn apache_feed(&self, tenant: &str) -> String {
        format!(
            "https://localhost:{}/{tenant}/proxied/feed",
            self.apache.port
        )
    }

    fn ntlm_feed(&self, tenant: &str) -> String {
        format!("https://localhost:{}/{tenant}/normal/feed", self.ntlm.port)
    }

    /// `radc ARGS` with its own XDG directories, no session bus (so no
    /// stored password), and the Kerberos environment of `ccache`.
    fn radc(&self, home: &Path, ccache: &Path, args: &[&str], stdin: &str) -> Output {
        let dirs = [
            ("HOME", home.to_path_buf()),
            ("XDG_CONFIG_HOME", home.join("config")),
            ("XDG_DATA_HOME", home.join("data")),
            ("XDG_STATE_HOME", home.join("state")),
        ];
        let no_bus = format!("unix:path={}/no-bus", home.display());
        let mut command = Command::new(env!("CARGO_BIN_EXE_radc"));
        command
            .args(args)
            .envs(dirs)
            .env("DBUS_SESSION_BUS_ADDRESS", no_bus)
            .envs(self.kdc.client_env(ccache))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        use std::io::Write as _;
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        child.wait_with_output().unwrap()
    }

    /// `radc subscribe` of the Apache feed of `tenant` without a user name:
    /// fails, and says why on standard error.
    fn subscribe_fails_without_password(&self, home: &Path, ccache: &Path, tenant: &str) -> String {
        let url = self.apache_feed(tenant);
        let out = self.radc(
            home,
            ccache,
            &["subscribe", &url, "--ca-file", &self.ca()],
            "",
        );
        assert_eq!(out.status.code(), Some(1), "{}", lossy(&out.stderr));
        lossy(&out.stderr).into_owned()
    }
}

/// Output as text, for messages and matching.
fn lossy(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

#[test]
fn with_a_ticket_subscribe_and_refresh_need_no_password() {
    let realm = Realm::start();
    let home = tempfile::tempdir().unwrap();
    let cc = realm.kdc.ccache("sso");
    realm.kdc.kinit(&cc, None);
    let ca = realm.ca();
    let url = realm.apache_feed("cli-sso");
    let out = realm.radc(home.path(), &cc, &["subscribe", &url, "--ca-file", &ca], "");
    assert!(
        out.status.success(),
        "{}\n{}",
        lossy(&out.stderr),
        realm.apache.error_log()
    );
    assert!(
        lossy(&out.stdout).contains("Subscribed to"),
        "{}",
        lossy(&out.stdout)
    );
    let klist = realm.kdc.klist(&cc);
    assert!(
        klist.contains("HTTP/localhost@RADC.TEST"),
        "no service ticket for the feed's host:\n{klist}"
    );
    let out = realm.radc(home.path(), &cc, &["refresh", "--ca-file", &ca], "");
    assert!(out.status.success(), "{}", lossy(&out.stderr));
    assert!(
        lossy(&out.stdout).contains("0 resources"),
        "{}",
        lossy(&out.stdout)
    );
    assert!(
        !lossy(&out.stderr).contains("Kerberos"),
        "{}",
        lossy(&out.stderr).into_owned()
    );
}

#[test]
fn without_a_ticket_the_password_is_used_and_the_user_told_why() {
    let realm = Realm::start();
    let home = tempfile::tempdir().unwrap();
    let cc = realm.kdc.ccache("none");
    let url = realm.ntlm_feed("cli-fallback");
    let ca = realm.ca();
    let user = ["-u", "RADCTEST\\alice", "--password-stdin"];
    let args = [&["subscribe", &url, "--ca-file", &ca][..], &user].concat();
    let out = realm.radc(home.path(), &cc, &args, "Secr3t-pw\n");
    assert!(out.status.success(), "{}", lossy(&out.stderr));
    let err = lossy(&out.stderr);
    assert!(
        err.contains("no Kerberos ticket (run kinit or sign in to the domain); used the password"),
        "{err}"
    );
    let st = realm.ntlm.stats("cli-fallback");
    assert_eq!(
        st["principals"],
        serde_json::json!(["RADCTEST\\alice"]),
        "{st}"
    );

    // No ticket and no password: the error names both.
    let err = realm.subscribe_fails_without_password(home.path(), &cc, "cli-neither");
    assert!(
        err.contains("no Kerberos ticket") && err.contains("no password was given"),
        "{err}"
    );
}

#[test]
fn an_expired_ticket_is_named_as_such() {
    let realm = Realm::start();
    let home = tempfile::tempdir().unwrap();
    let cc = realm.kdc.ccache("short");
    realm.kdc.kinit(&cc, Some("2s"));
    std::thread::sleep(Duration::from_millis(2500));
    let err = realm.subscribe_fails_without_password(home.path(), &cc, "cli-expired");
    assert!(
        err.contains("the Kerberos ticket has expired (run kinit again)"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sso_is_enabled_exactly_while_there_is_a_ticket() {
    let kdc = Kdc::start();
    let cc = kdc.ccache("bus");
    let env: Vec<(String, String)> = kdc
        .client_env(&cc)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_string_lossy().into_owned()))
        .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut bus = TestBus::bus_only();
    bus.start_runtime_with(Timeouts::default(), &[], &env).await;
    let s = WorkspaceScriptableProxy::new(&bus.connect().await)
        .await
        .unwrap();
    assert!(!s.is_workspace_sso_enabled().await.unwrap());
    kdc.kinit(&cc, None);
    assert!(s.is_workspace_sso_enabled().await.unwrap());
    kdc.kdestroy(&cc);
    assert!(!s.is_workspace_sso_enabled().await.unwrap());
}
