//! A real RDP server on loopback for end-to-end tests.
//!
//! `RdpServer` runs `freerdp-shadow-cli` (FreeRDP 2; or
//! `freerdp-shadow-cli3`, FreeRDP 3, with [`RdpServer::start_with`],
//! which takes the same options and the same SAM file) shadowing a private
//! `Xvfb`, listening on a free port of 127.0.0.1 and accepting only NLA
//! against a SAM file of its own, so a client with a wrong password is
//! refused exactly as by a real host. `XvfbDisplay` gives clients such as
//! `xfreerdp` an X display of their own.
//!
//! Whether a session exists is read on the server side: activations come
//! from the server's log, open connections from the sockets the server
//! process holds (its file descriptors and `/proc/net`). The log cannot
//! tell the end of a session: FreeRDP 2 logs only the call that failed,
//! which differs (e.g. "Failed to check FreeRDP file descriptor" when the
//! client closed, "Failed to send surface update" when it reset).
//!
//! Every process is started in its own process group, and the group is
//! killed on drop, also when a test panics.

#![allow(dead_code)]

use std::collections::HashSet;
use std::fs;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub const XVFB: &str = "Xvfb";
pub const SHADOW_SERVER: &str = "freerdp-shadow-cli";
pub const SHADOW_SERVER3: &str = "freerdp-shadow-cli3";
pub const XFREERDP: &str = "xfreerdp";

/// How long a server or display may take to come up.
const START_LIMIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(20);

/// Logged by the shadow server once a client is through NLA and the RDP
/// connection sequence (`com.freerdp.client.shadow`, INFO).
pub const LOG_ACTIVATED: &str = "is activated";
/// Logged when NLA fails, e.g. for a wrong password
/// (`com.freerdp.core.transport`, ERROR).
pub const LOG_AUTH_FAILURE: &str = "client authentication failure";

/// `xfreerdp` 2 exit codes seen against this server (`client/X11/xfreerdp.h`).
pub mod exit_code {
    /// `XF_EXIT_CONNECT_TRANSPORT_FAILED`: the server closed the connection.
    /// The shadow server gives a client no NLA error code, so a wrong
    /// password ends this way, as does a port nobody listens on.
    pub const TRANSPORT_FAILED: i32 = 147;
    /// `XF_EXIT_CONNECT_NO_OR_MISSING_CREDENTIALS`: stdin ended before the
    /// user name was read.
    pub const MISSING_CREDENTIALS: i32 = 159;
}

/// A child process that is the leader of its own process group; the whole
/// group is killed when this is dropped.
pub struct GroupChild {
    child: Child,
    /// Ask politely first (SIGTERM, then SIGKILL after a short while), for
    /// programs that clean up after themselves, such as Xvfb's lock files.
    gentle: bool,
}

impl GroupChild {
    /// Spawns `cmd` as the leader of a new process group.
    pub fn spawn(mut cmd: Command, gentle: bool) -> std::io::Result<GroupChild> {
        cmd.process_group(0);
        Ok(GroupChild {
            child: cmd.spawn()?,
            gentle,
        })
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Sends `signal` (a name such as `TERM`) to the whole group.
    pub fn signal_group(&self, signal: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg("--")
            .arg(format!("-{}", self.child.id()))
            .stderr(Stdio::null())
            .status();
    }

    /// Whether the leader has exited (and is reaped).
    pub fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits up to `limit` for the leader to exit.
    pub fn wait_timeout(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            sleep(POLL);
        }
    }
}

impl Drop for GroupChild {
    fn drop(&mut self) {
        if self.gentle {
            self.signal_group("TERM");
            if self.wait_timeout(Duration::from_secs(2)).is_some() {
                // The leader is gone; anything left in its group is not.
                self.signal_group("KILL");
                return;
            }
        }
        self.signal_group("KILL");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private X display (`Xvfb`), for the server to shadow or for a client
/// to draw on.
pub struct XvfbDisplay {
    process: GroupChild,
    display: String,
    _dir: TempDir,
}

impl XvfbDisplay {
    /// Starts Xvfb on a display number it picks itself: `-displayfd` makes
    /// the choice race-free against other tests and other X servers.
    pub fn start() -> XvfbDisplay {
        let dir = tempfile::tempdir().unwrap();
        let number_file = dir.path().join("display");
        let mut cmd = Command::new(XVFB);
        cmd.args(["-displayfd", "1", "-screen", "0", "1024x768x24"])
            .args(["-nolisten", "tcp", "-noreset"])
            .stdin(Stdio::null())
            .stdout(fs::File::create(&number_file).unwrap())
            .stderr(fs::File::create(dir.path().join("xvfb.log")).unwrap());
        let mut process = GroupChild::spawn(cmd, true).expect("Xvfb starts (is xvfb installed?)");
        let deadline = Instant::now() + START_LIMIT;
        let number = loop {
            // Xvfb writes the number and a newline once it accepts clients.
            let text = fs::read_to_string(&number_file).unwrap_or_default();
            if let Some(line) = text.strip_suffix('\n') {
                break line
                    .trim()
                    .parse::<u32>()
                    .expect("Xvfb writes a display number");
            }
            assert!(
                !process.has_exited(),
                "Xvfb exited at start; its log:\n{}",
                fs::read_to_string(dir.path().join("xvfb.log")).unwrap_or_default()
            );
            assert!(Instant::now() < deadline, "Xvfb did not start in time");
            sleep(POLL);
        };
        XvfbDisplay {
            process,
            display: format!(":{number}"),
            _dir: dir,
        }
    }

    /// The value for `DISPLAY`, e.g. `:3`.
    pub fn display(&self) -> &str {
        &self.display
    }

    pub fn pid(&self) -> u32 {
        self.process.id()
    }
}

/// `freerdp-shadow-cli` on 127.0.0.1 with NLA against a private SAM file.
pub struct RdpServer {
    // Dropped in this order: the server before the display it shadows.
    process: GroupChild,
    display: XvfbDisplay,
    dir: TempDir,
    port: u16,
    log_path: PathBuf,
    /// The sockets the server held before any client came, whatever they
    /// are.
    idle_sockets: HashSet<u64>,
}

impl RdpServer {
    pub const USER: &'static str = "alice";
    pub const DOMAIN: &'static str = "RADCTEST";
    /// Has a space and punctuation, so nothing on the way may split or
    /// reinterpret it.
    pub const PASSWORD: &'static str = "S3cret pass!";

    pub fn start() -> RdpServer {
        Self::start_with(SHADOW_SERVER)
    }

    /// With `program` (`freerdp-shadow-cli` or `freerdp-shadow-cli3`) as
    /// the server.
    pub fn start_with(program: &str) -> RdpServer {
        let mut dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        for sub in [".config", ".local/share", ".cache", "run"] {
            fs::create_dir_all(home.join(sub)).unwrap();
        }
        let sam = dir.path().join("SAM");
        fs::write(&sam, sam_line(Self::USER, Self::DOMAIN, Self::PASSWORD)).unwrap();
        let mut display = XvfbDisplay::start();

        // A free port is found by binding port 0; someone may take it
        // before the server binds it, so a failed start is retried.
        let mut failures = String::new();
        for attempt in 0..5 {
            let port = free_port();
            let log_name = format!("shadow-{attempt}.log");
            let log_path = dir.path().join(&log_name);
            let mut cmd = Command::new(program);
            cmd.arg(format!("/port:{port}"))
                .arg("/bind-address:127.0.0.1")
                // NLA only: no TLS or RDP security a client could fall back
                // to without a password.
                .arg("/sec:nla")
                .arg(format!("/sam-file:{}", sam.display()))
                .env("DISPLAY", display.display())
                .env_remove("XAUTHORITY")
                .env_remove("WAYLAND_DISPLAY")
                // The server creates its certificate under the config dir.
                .env("HOME", &home)
                .env("XDG_CONFIG_HOME", home.join(".config"))
                .env("XDG_DATA_HOME", home.join(".local/share"))
                .env("XDG_CACHE_HOME", home.join(".cache"))
                .env("XDG_RUNTIME_DIR", home.join("run"))
                // WLog's file appender flushes every line; the console one
                // buffers stdout when it is not a terminal.
                .env("WLOG_LEVEL", "INFO")
                .env("WLOG_APPENDER", "FILE")
                .env("WLOG_FILEAPPENDER_OUTPUT_FILE_PATH", dir.path())
                .env("WLOG_FILEAPPENDER_OUTPUT_FILE_NAME", &log_name)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(
                    fs::File::create(dir.path().join(format!("shadow-{attempt}.stderr"))).unwrap(),
                );
            let process = GroupChild::spawn(cmd, false).unwrap_or_else(|e| {
                panic!("{program} does not start ({e}): run scripts/install-deps.sh")
            });
            let mut server = RdpServer {
                process,
                display,
                dir,
                port,
                log_path,
                idle_sockets: HashSet::new(),
            };
            if server.wait_listening() {
                server.idle_sockets = socket_inodes(server.process.id());
                return server;
            }
            failures.push_str(&format!(
                "attempt {attempt}, port {port}:\n{}\n",
                server.log()
            ));
            // Keep the display and directory for the next attempt; the
            // failed server is killed as its process is dropped.
            let RdpServer {
                process,
                display: d,
                dir: t,
                ..
            } = server;
            drop(process);
            (display, dir) = (d, t);
        }
        panic!("{program} did not start listening:\n{failures}");
    }

    /// Waits until this server process holds a listening socket on the
    /// port, without connecting to it (which would count as a client).
    fn wait_listening(&mut self) -> bool {
        let deadline = Instant::now() + START_LIMIT;
        while Instant::now() < deadline {
            if self.process.has_exited() {
                return false;
            }
            if self.server_sockets().iter().any(|s| s.state == TCP_LISTEN) {
                return true;
            }
            sleep(POLL);
        }
        false
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host:port` for xfreerdp's `/v:`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn user(&self) -> &'static str {
        Self::USER
    }

    pub fn domain(&self) -> &'static str {
        Self::DOMAIN
    }

    pub fn password(&self) -> &'static str {
        Self::PASSWORD
    }

    /// The display the server shadows.
    pub fn display(&self) -> &str {
        self.display.display()
    }

    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// The server's log (WLog, INFO and above).
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// How many sessions got through NLA and were activated so far.
    pub fn activations(&self) -> usize {
        self.log().matches(LOG_ACTIVATED).count()
    }

    /// How many NLA attempts failed so far.
    pub fn auth_failures(&self) -> usize {
        self.log().matches(LOG_AUTH_FAILURE).count()
    }

    /// Client connections the server process still holds. An accepted
    /// socket counts until the server closes it, also after the client has
    /// gone: a connection the client closed stays in `/proc/net/tcp` as
    /// CLOSE_WAIT, one it reset (a killed client with unread data does)
    /// leaves every table of `/proc/net` at once but stays among the
    /// server's file descriptors.
    pub fn open_connections(&self) -> usize {
        let held = socket_inodes(self.process.id());
        // Everything the server holds that is known not to be a client:
        // its listening socket, its X11 connection, netlink and UDP.
        let mut other: HashSet<u64> = tcp_sockets()
            .into_iter()
            .filter(|s| s.local_port != self.port || s.state == TCP_LISTEN)
            .map(|s| s.inode)
            .collect();
        for (table, column) in [
            ("/proc/net/tcp6", 9),
            ("/proc/net/udp", 9),
            ("/proc/net/udp6", 9),
            ("/proc/net/unix", 6),
            ("/proc/net/netlink", 9),
        ] {
            other.extend(listed_inodes(table, column));
        }
        held.difference(&other)
            .filter(|inode| !self.idle_sockets.contains(inode))
            .count()
    }

    /// Waits until a session was activated and its connection is open.
    pub fn wait_for_session(&self, limit: Duration) -> bool {
        self.wait_for_activations(1, limit)
    }

    /// Waits until at least `n` sessions were activated in all and one is
    /// open now.
    pub fn wait_for_activations(&self, n: usize, limit: Duration) -> bool {
        wait_until(limit, || {
            self.activations() >= n && self.open_connections() > 0
        })
    }

    /// Waits until the server holds no client connection any more.
    pub fn wait_for_no_session(&self, limit: Duration) -> bool {
        wait_until(limit, || self.open_connections() == 0)
    }

    /// What to write to the stdin of `xfreerdp /from-stdin:force` when
    /// neither `/u:` nor `/d:` is on its command line: the password is read
    /// first, before connecting, byte by byte up to a newline; user name and
    /// domain are read as lines when the server asks for NLA. All of it may
    /// be written at once.
    pub fn stdin_credentials(&self) -> String {
        stdin_credentials(Self::USER, Self::DOMAIN, Self::PASSWORD)
    }

    /// The same with another password.
    pub fn stdin_credentials_with_password(&self, password: &str) -> String {
        stdin_credentials(Self::USER, Self::DOMAIN, password)
    }

    /// The server's sockets on its port, found by the inodes of the sockets
    /// its process holds, so other servers and the client's end are never
    /// counted.
    fn server_sockets(&self) -> Vec<TcpSocket> {
        let inodes = socket_inodes(self.process.id());
        tcp_sockets()
            .into_iter()
            .filter(|s| s.local_port == self.port && inodes.contains(&s.inode))
            .collect()
    }
}

/// The bytes for `xfreerdp /from-stdin:force` without `/u:` and `/d:`:
/// password, user name, domain, one line each.
pub fn stdin_credentials(user: &str, domain: &str, password: &str) -> String {
    format!("{password}\n{user}\n{domain}\n")
}

/// A SAM file line as `winpr-hash -f sam` prints it
/// (`user:domain::NTHASH:::`), made by that tool so the hash is FreeRDP's.
fn sam_line(user: &str, domain: &str, password: &str) -> String {
    let out = Command::new("winpr-hash")
        .args(["-u", user, "-d", domain, "-p", password, "-f", "sam"])
        .stderr(Stdio::inherit())
        .output()
        .expect("winpr-hash runs (is winpr-utils installed?)");
    assert!(out.status.success(), "winpr-hash failed: {:?}", out.status);
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(
        line.starts_with(&format!("{user}:{domain}::")),
        "unexpected winpr-hash output: {line:?}"
    );
    line
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` until it is true or `limit` passes.
pub fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(POLL);
    }
}

const TCP_LISTEN: u8 = 0x0A;

#[derive(Debug)]
struct TcpSocket {
    local_port: u16,
    state: u8,
    inode: u64,
}

/// IPv4 TCP sockets of this network namespace, from `/proc/net/tcp`
/// (`sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...`).
fn tcp_sockets() -> Vec<TcpSocket> {
    let text = fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (_, port) = fields.get(1)?.split_once(':')?;
            Some(TcpSocket {
                local_port: u16::from_str_radix(port, 16).ok()?,
                state: u8::from_str_radix(fields.get(3)?, 16).ok()?,
                inode: fields.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

/// The inode column of a `/proc/net` table.
fn listed_inodes(table: &str, column: usize) -> HashSet<u64> {
    let text = fs::read_to_string(table).unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(column)?.parse().ok())
        .collect()
}

/// Inodes of the sockets process `pid` has open.
fn socket_inodes(pid: u32) -> HashSet<u64> {
    let Ok(entries) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return HashSet::new();
    };
    entries
        .filter_map(|e| fs::read_link(e.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_str()?;
            target
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}
