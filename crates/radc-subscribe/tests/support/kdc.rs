//! A real MIT Kerberos realm and a real Apache httpd with mod_auth_gssapi,
//! made per test run in temporary directories: nothing system-wide is read
//! or changed (own `krb5.conf`, `kdc.conf`, database, keytab, httpd.conf;
//! free loopback ports). Shared by radc-subscribe's and radc's tests.
//!
//! Needs `krb5-kdc`, `krb5-admin-server`, `krb5-user`, `apache2` and
//! `libapache2-mod-auth-gssapi` (`scripts/install-deps.sh`).

#![allow(dead_code)]

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The test realm.
pub const REALM: &str = "RADC.TEST";
/// The feed's host name; it resolves to 127.0.0.1 for the client through
/// its resolver overrides, and `HTTP/<it>` is the service principal.
pub const FEED_HOST: &str = "rdweb.radc.test";
/// The user with a Kerberos password (given to kinit on its stdin).
pub const USER: &str = "alice";
pub const USER_PASSWORD: &str = "Kerb-pw-4-alice";

/// A free TCP port on loopback (closed again; the caller binds it soon).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).and_then(|l| l.local_addr());
    listener.map(|a| a.port()).expect("a free port on loopback")
}

fn wait_for_port(port: u16, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {port}: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A KDC for [`REALM`] with the principals `alice`, `HTTP/rdweb.radc.test`
/// and `HTTP/localhost` (the services in [`Kdc::keytab`]).
pub struct Kdc {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
}

impl Kdc {
    pub fn start() -> Kdc {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let port = free_port();
        std::fs::write(
            d.join("krb5.conf"),
            format!(
                "[libdefaults]\n  default_realm = {REALM}\n  dns_lookup_kdc = false\n  \
                 dns_lookup_realm = false\n  rdns = false\n  dns_canonicalize_hostname = false\n  \
                 udp_preference_limit = 1\n\
                 [realms]\n  {REALM} = {{\n    kdc = 127.0.0.1:{port}\n  }}\n\
                 [domain_realm]\n  .radc.test = {REALM}\n  radc.test = {REALM}\n"
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("kdc.conf"),
            format!(
                "[kdcdefaults]\n  kdc_listen = 127.0.0.1:{port}\n  kdc_tcp_listen = 127.0.0.1:{port}\n\
                 [realms]\n  {REALM} = {{\n    database_name = {db}\n    key_stash_file = {stash}\n    \
                 acl_file = {acl}\n    max_life = 1h\n  }}\n\
                 [logging]\n  kdc = FILE:{log}\n",
                db = d.join("principal").display(),
                stash = d.join("stash").display(),
                acl = d.join("kadm5.acl").display(),
                log = d.join("kdc.log").display(),
            ),
        )
        .unwrap();
        let kdc = |program: &str| {
            let mut cmd = Command::new(program);
            cmd.env("KRB5_CONFIG", d.join("krb5.conf"))
                .env("KRB5_KDC_PROFILE", d.join("kdc.conf"))
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            cmd
        };
        // The database's master key and the user's password go on stdin.
        let run = |mut cmd: Command, input: &str| {
            let mut child = cmd.stdin(Stdio::piped()).spawn().unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{cmd:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let master = "master-key-of-a-test-realm";
        let mut create = kdc("kdb5_util");
        create.args(["create", "-s", "-r", REALM]);
        run(create, &format!("{master}\n{master}\n"));
        let mut add_user = kdc("kadmin.local");
        add_user.args(["-q", &format!("addprinc {USER}")]);
        run(add_user, &format!("{USER_PASSWORD}\n{USER_PASSWORD}\n"));
        // The feed's made-up name (radc-subscribe's tests resolve it
        // themselves) and localhost (for the command line, which cannot).
        for host in [FEED_HOST, "localhost"] {
            let service = format!("HTTP/{host}");
            let mut add_service = kdc("kadmin.local");
            add_service.args(["-q", &format!("addprinc -randkey {service}")]);
            run(add_service, "");
            let mut keytab = kdc("kadmin.local");
            keytab.args([
                "-q",
                &format!("ktadd -k {} {service}", d.join("http.keytab").display()),
            ]);
            run(keytab, "");
        }
        let child = kdc("krb5kdc")
            .args(["-n", "-P"])
            .arg(d.join("kdc.pid"))
            .stderr(Stdio::null())
            .spawn()
            .expect("start krb5kdc");
        wait_for_port(port, "krb5kdc", &d.join("kdc.log"));
        Kdc { dir, port, child }
    }

    pub fn krb5_config(&self) -> PathBuf {
        self.dir.path().join("krb5.conf")
    }

    pub fn keytab(&self) -> PathBuf {
        self.dir.path().join("http.keytab")
    }

    /// A credential cache path of its own for `name` (empty until kinit).
    pub fn ccache(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("cc-{name}"))
    }

    /// The environment a Kerberos client of this realm needs.
    pub fn client_env(&self, ccache: &Path) -> Vec<(&'static str, std::ffi::OsString)> {
        vec![
            ("KRB5_CONFIG", self.krb5_config().into()),
            ("KRB5CCNAME", format!("FILE:{}", ccache.display()).into()),
        ]
    }

    fn tool(&self, program: &str, ccache: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.envs(self.client_env(ccache));
        cmd
    }

    /// `kinit alice` into `ccache`, the password on stdin; `lifetime` as
    /// kinit's `-l` (e.g. "5s").
    pub fn kinit(&self, ccache: &Path, lifetime: Option<&str>) {
        let mut cmd = self.tool("kinit", ccache);
        if let Some(l) = lifetime {
            cmd.args(["-l", l]);
        }
        let mut child = cmd
            .arg(USER)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kinit");
        writeln!(child.stdin.take().unwrap(), "{USER_PASSWORD}").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "kinit: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `klist`'s output for `ccache`.
    pub fn klist(&self, ccache: &Path) -> String {
        let out = self.tool("klist", ccache).output().expect("klist");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn kdestroy(&self, ccache: &Path) {
        let _ = self.tool("kdestroy", ccache).output();
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Apache httpd in the foreground with a configuration of its own: TLS
/// with the test CA's certificate, mod_auth_gssapi (SPNEGO with the KDC's
/// keytab) on the login URLs, and everything proxied to a plain-http
/// `feed_server.py`, which trusts the user name Apache passes on.
pub struct Apache {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
}

impl Apache {
    pub fn start(kdc: &Kdc, certdir: &Path, backend_port: u16) -> Apache {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let port = free_port();
        let keytab = d.join("http.keytab");
        std::fs::copy(kdc.keytab(), &keytab).unwrap();
        // As root, httpd's workers run as www-data: they must read the
        // keytab and write the replay cache.
        let as_root = is_root();
        if as_root {
            let (uid, gid) = www_data();
            std::os::unix::fs::chown(d, Some(uid), Some(gid)).unwrap();
            std::os::unix::fs::chown(&keytab, Some(uid), Some(gid)).unwrap();
        }
        let modules = "/usr/lib/apache2/modules";
        let user = if as_root {
            "User www-data\nGroup www-data\n"
        } else {
            ""
        };
        let conf = format!(
            r#"ServerRoot "{root}"
ServerName {FEED_HOST}
Listen 127.0.0.1:{port}
PidFile {root}/httpd.pid
DefaultRuntimeDir {root}
ErrorLog {root}/error.log
LogLevel warn
{user}LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authn_core_module {modules}/mod_authn_core.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule authz_user_module {modules}/mod_authz_user.so
LoadModule auth_gssapi_module {modules}/mod_auth_gssapi.so
LoadModule ssl_module {modules}/mod_ssl.so
LoadModule socache_shmcb_module {modules}/mod_socache_shmcb.so
LoadModule proxy_module {modules}/mod_proxy.so
LoadModule proxy_http_module {modules}/mod_proxy_http.so
LoadModule headers_module {modules}/mod_headers.so
StartServers 1
ServerLimit 1
ThreadsPerChild 8
SSLEngine on
SSLCertificateFile {certdir}/server.pem
SSLCertificateKeyFile {certdir}/server.key
SSLSessionCache none
ProxyPass "/" "http://127.0.0.1:{backend_port}/"
RequestHeader unset X-Remote-User
<LocationMatch "^/[^/]+/[^/]+/login">
    AuthType GSSAPI
    AuthName "RD Web Access"
    GssapiCredStore keytab:{keytab}
    GssapiAllowedMech krb5
    GssapiSSLonly On
    Require valid-user
    RequestHeader set X-Remote-User "expr=%{{REMOTE_USER}}"
</LocationMatch>
"#,
            root = d.display(),
            certdir = certdir.display(),
            keytab = keytab.display(),
        );
        std::fs::write(d.join("httpd.conf"), conf).unwrap();
        let child = Command::new("/usr/sbin/apache2")
            .arg("-f")
            .arg(d.join("httpd.conf"))
            .args(["-DFOREGROUND", "-k", "start"])
            .env("KRB5_CONFIG", kdc.krb5_config())
            .env("KRB5RCACHEDIR", d)
            .env_remove("KRB5CCNAME")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start apache2");
        wait_for_port(port, "apache2", &d.join("error.log"));
        Apache { dir, port, child }
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        // The parent process stops its workers on SIGTERM.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn www_data() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let line = passwd
        .lines()
        .find(|l| l.starts_with("www-data:"))
        .expect("a www-data user (apache2 creates it)");
    let fields: Vec<&str> = line.split(':').collect();
    (fields[2].parse().unwrap(), fields[3].parse().unwrap())
}
