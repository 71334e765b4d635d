//! What a FreeRDP process says about its connection, read from its log.
//!
//! The launcher has FreeRDP (2.x and 3.x, every client) log at `INFO` to a
//! file and feeds each new line to a [`Progress`]. The connection is *up*
//! when FreeRDP sets up the session's frame buffer (`Local framebuffer
//! format`, logged by `gdi_init` in the client's post-connect step: the
//! connection sequence is done, sign-in included, and the session's window
//! is being created). A process that exits before that has *failed*, and
//! [`Progress::failure`] names the cause from what it logged and its exit
//! status. FreeRDP's own words never reach the user; they stay in the log.
//!
//! A FreeRDP that neither comes up nor exits is ended: `sdl-freerdp3`
//! 3.10 logs that it failed (before connecting, in full screen without a
//! window manager; or when the server cannot be reached) and then waits
//! forever. [`Watchdog`] decides when to give up on one, from the lines
//! and the time it is given; the launcher ends the process group and
//! reports [`Watchdog::cause`].

use std::fmt;
use std::time::{Duration, Instant};

/// The line FreeRDP 2 and 3 log once the connection is established.
const UP: &str = "Local framebuffer format";

/// Why a connection did not come up, in the words the user sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// The server's name does not resolve.
    NameNotResolved,
    /// Nothing answered at the server's address.
    Unreachable,
    /// The server was reached, then ended the connection during sign-in:
    /// with NLA that is how a wrong user name or password ends.
    SignInRefused,
    /// The server said the user name or password is wrong.
    WrongPassword,
    /// The server's certificate is not the one it had before.
    CertificateChanged,
    /// FreeRDP wanted a user name and password and had none.
    CredentialsNeeded,
    /// FreeRDP failed while preparing the connection (its pre-connect
    /// step) and then stopped responding, so it was ended.
    PreparationFailed,
    /// FreeRDP reported a failure and then stopped responding, or did not
    /// come up in time, so it was ended.
    StoppedResponding,
    /// An account problem, a refused connection or another failure with a
    /// known exit status: the sentence for it.
    Other(&'static str),
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cause::NameNotResolved => "the server's name could not be resolved",
            Cause::Unreachable => "the server could not be reached",
            Cause::SignInRefused => {
                "the server ended the connection during sign-in: check the user name and password"
            }
            Cause::WrongPassword => "sign-in failed: wrong user name or password",
            Cause::CredentialsNeeded => {
                "the server asks for a user name and password, and radc has none for this \
                 workspace; subscribe with your user name (radc subscribe -u) to be asked for it"
            }
            Cause::CertificateChanged => {
                "the server's certificate changed since the last connection; if that is expected, \
                 ask your administrator, then remove the old one from ~/.config/freerdp"
            }
            Cause::PreparationFailed => {
                "FreeRDP failed before connecting (full screen needs a window manager with \
                 sdl-freerdp3; see the runtime log) and stopped responding, so radc ended it"
            }
            Cause::StoppedResponding => {
                "FreeRDP stopped responding before the connection was established, so radc \
                 ended it (see the runtime log)"
            }
            Cause::Other(text) => text,
        })
    }
}

impl Cause {
    /// The `RegisterErrorEvent` message type of this cause.
    pub fn message_type(&self) -> &'static str {
        match self {
            Cause::SignInRefused | Cause::WrongPassword | Cause::CredentialsNeeded => {
                "authentication-failed"
            }
            Cause::Other(text) if text.starts_with("sign-in failed") => "authentication-failed",
            _ => "connection-failed",
        }
    }
}

/// What a connection process has said so far.
#[derive(Debug, Default, Clone)]
pub struct Progress {
    up: bool,
    /// TLS with the server was set up (it presented a certificate).
    reached: bool,
    dns: bool,
    transport_failed: bool,
    logon_failed: bool,
    certificate_changed: bool,
    credentials_needed: bool,
    /// FreeRDP logged that the connection failed (it should exit next).
    gave_up: bool,
    /// ...in its pre-connect step.
    pre_connect_failed: bool,
}

/// A line that changed the picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The connection is established.
    Up,
}

impl Progress {
    pub fn new() -> Progress {
        Progress::default()
    }

    /// Whether the connection has come up.
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// Takes one line of FreeRDP's log; returns [`Event::Up`] the first
    /// time the connection is established.
    pub fn line(&mut self, line: &str) -> Option<Event> {
        if line.contains(UP) {
            let first = !self.up;
            self.up = true;
            return first.then_some(Event::Up);
        }
        if line.contains("ERRCONNECT_PRE_CONNECT_FAILED")
            || line.contains("freerdp_pre_connect failed")
        {
            self.pre_connect_failed = true;
        }
        if line.contains("ERRCONNECT_")
            || line.contains("_connect failed")
            || line.contains("freerdp_connect failed")
        {
            self.gave_up = true;
        }
        if line.contains("ERRCONNECT_CONNECT_CANCELLED")
            || line.contains("client_cli_authenticate_raw")
        {
            // FreeRDP 3 asks on its terminal (there is none) for what it
            // lacks, and gives up.
            self.credentials_needed = true;
        } else if line.contains("ERRCONNECT_DNS_NAME_NOT_FOUND") {
            self.dns = true;
        } else if line.contains("ERRCONNECT_CONNECT_TRANSPORT_FAILED") {
            self.transport_failed = true;
        } else if line.contains("ERRCONNECT_LOGON_FAILURE")
            || line.contains("ERRCONNECT_WRONG_PASSWORD")
            // FreeRDP 3 when NLA fails (the FreeRDP 3 server refused the
            // password), before it exits or, sdl-freerdp3, hangs.
            || line.contains("ERRCONNECT_AUTHENTICATION_FAILED")
            || line.contains("STATUS_LOGON_FAILURE")
        {
            self.logon_failed = true;
        } else if line.contains("does not match the certificate used for previous connections") {
            // FreeRDP 2 and 3 print this (on standard output) when a known
            // server's certificate changed; FreeRDP 3 logs the louder
            // "REMOTE HOST IDENTIFICATION HAS CHANGED" for a new one too.
            self.certificate_changed = true;
        } else if line.contains("com.freerdp.crypto") && line.contains("ertificate") {
            self.reached = true;
        }
        None
    }

    /// Why the process, which ended with `exit` (its exit code, if it had
    /// one) without ever coming up, failed. `None` when it ended the way a
    /// session normally does (the user closed it, logged off).
    pub fn failure(&self, exit: Option<i32>) -> Option<Cause> {
        if self.dns {
            return Some(Cause::NameNotResolved);
        }
        if self.logon_failed {
            return Some(Cause::WrongPassword);
        }
        if self.certificate_changed && !self.up {
            return Some(Cause::CertificateChanged);
        }
        if self.credentials_needed && !self.up {
            return Some(Cause::CredentialsNeeded);
        }
        if self.transport_failed && !self.up {
            return Some(if self.reached {
                Cause::SignInRefused
            } else {
                Cause::Unreachable
            });
        }
        exit.and_then(describe_exit)
    }
}

/// How long a [`Watchdog`] waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest time from start to up. FreeRDP may show dialogs of its own
    /// (a certificate, a password) while connecting, so this is generous.
    pub connect: Duration,
    /// How long FreeRDP may stay silent after logging that the connection
    /// failed before it counts as hanging. Any later line means it is still
    /// working (a gateway tried after a failed direct connection, a
    /// reconnection).
    pub after_failure: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            connect: Duration::from_secs(180),
            after_failure: Duration::from_secs(4),
        }
    }
}

/// What to do with a connection process now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Let it run; look again at `next` at the latest (with a new line
    /// sooner).
    Wait { next: Instant },
    /// It is up: nothing more to watch for.
    Up,
    /// It hangs: end it, and report this.
    Stop(Cause),
}

/// Decides when a FreeRDP that neither comes up nor exits is given up on.
/// Sans-IO: it is fed log lines and the time; the caller does the rest.
#[derive(Debug, Clone)]
pub struct Watchdog {
    limits: Limits,
    progress: Progress,
    started: Instant,
    last_line: Instant,
    /// When FreeRDP first logged a failure.
    failed_at: Option<Instant>,
    stopped: Option<Cause>,
}

impl Watchdog {
    pub fn new(limits: Limits, now: Instant) -> Watchdog {
        Watchdog {
            limits,
            progress: Progress::new(),
            started: now,
            last_line: now,
            failed_at: None,
            stopped: None,
        }
    }

    /// What FreeRDP said so far.
    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// Takes a line FreeRDP logged at `now`; see [`Progress::line`].
    pub fn line(&mut self, now: Instant, line: &str) -> Option<Event> {
        self.last_line = now;
        let event = self.progress.line(line);
        if self.progress.gave_up && self.failed_at.is_none() {
            self.failed_at = Some(now);
        }
        event
    }

    /// Whether to let the process run at `now`. Once this said
    /// [`Verdict::Stop`], it keeps saying so.
    pub fn check(&mut self, now: Instant) -> Verdict {
        if let Some(cause) = &self.stopped {
            return Verdict::Stop(cause.clone());
        }
        if self.progress.is_up() {
            return Verdict::Up;
        }
        let give_up_at = self.started + self.limits.connect;
        let silent_until = self
            .failed_at
            .map(|_| self.last_line + self.limits.after_failure);
        let next = silent_until.map_or(give_up_at, |s| s.min(give_up_at));
        if now < next {
            return Verdict::Wait { next };
        }
        let cause = self.cause();
        self.stopped = Some(cause.clone());
        Verdict::Stop(cause)
    }

    /// Why a process this stopped failed: what the log says, else that it
    /// failed preparing the connection, else that it stopped responding.
    pub fn cause(&self) -> Cause {
        match self.progress.failure(None) {
            Some(cause) => cause,
            None if self.progress.pre_connect_failed => Cause::PreparationFailed,
            None => Cause::StoppedResponding,
        }
    }

    /// Whether this decided to stop the process.
    pub fn stopped(&self) -> Option<&Cause> {
        self.stopped.as_ref()
    }
}

/// What a FreeRDP exit status means: `None` for the ways a session normally
/// ends (disconnected, logged off, closed by the user), else the cause.
/// FreeRDP 2 and 3 share these codes (`XF_EXIT_*` and the client exit
/// codes).
pub fn describe_exit(code: i32) -> Option<Cause> {
    Some(match code {
        0 | 1 | 2 | 5 | 11 => return None,
        3 => Cause::Other("the session was ended after being idle too long"),
        4 => Cause::Other("the server gave up waiting for the sign-in"),
        7 | 9 => Cause::Other("the server refused the connection"),
        10 => Cause::Other("the server wants fresh credentials"),
        145 => Cause::CredentialsNeeded,
        128 => Cause::Other("FreeRDP did not accept its command line (see the runtime log)"),
        131 | 141 => Cause::Unreachable,
        // Also what FreeRDP reports when a server drops the connection
        // after refusing the password during NLA.
        147 => Cause::Other(
            "the connection failed: the server could not be reached or refused the sign-in",
        ),
        139 | 140 => Cause::NameNotResolved,
        143 => Cause::Other("the secure (TLS) connection to the server failed"),
        133 => Cause::Other("the server and FreeRDP agreed on no security protocol"),
        150 => Cause::Other("the Kerberos server could not be reached"),
        132 | 134 | 154 | 159 => Cause::WrongPassword,
        135 => Cause::Other("sign-in failed: the account is locked out"),
        148 | 149 | 152 => {
            Cause::Other("sign-in failed: the password has expired or must be changed")
        }
        151 | 157 => Cause::Other("sign-in failed: the account is disabled or expired"),
        155 | 156 | 158 | 144 => {
            Cause::Other("sign-in failed: the account may not sign in to this server")
        }
        _ => Cause::Other("the connection failed (see the runtime log for FreeRDP's output)"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fed(lines: &str) -> Progress {
        let mut p = Progress::new();
        for line in lines.lines() {
            p.line(line);
        }
        p
    }

    // Lines as FreeRDP 2.11 (first) and 3.10 (second) log them.
    const UP2: &str = "[16:56:44:224] [25813:25814] [INFO][com.freerdp.gdi] - Local framebuffer format  PIXEL_FORMAT_BGRX32";
    const UP3: &str = "[16:57:32:143] [28129:00006de2] [INFO][com.freerdp.gdi] - [gdi_init_ex]: Local framebuffer format  PIXEL_FORMAT_BGRX32";
    const CERT2: &str = "[16:56:54:238] [26190:26193] [WARN][com.freerdp.crypto] - Certificate verification failure 'self-signed certificate (18)' at stack position 0";
    const CERT3: &str = "[16:57:42:077] [28290:00006e85] [WARN][com.freerdp.crypto] - [verify_cb]: Certificate verification failure 'self-signed certificate (18)' at stack position 0";
    const TRANSPORT2: &str = "[16:56:54:451] [26190:26193] [ERROR][com.freerdp.core] - transport_read_layer:freerdp_set_last_error_ex ERRCONNECT_CONNECT_TRANSPORT_FAILED [0x0002000D]";
    const TRANSPORT3: &str = "[16:57:42:096] [28290:00006e85] [ERROR][com.freerdp.core] - [transport_read_layer]: ERRCONNECT_CONNECT_TRANSPORT_FAILED [0x0002000D]";
    const DNS3: &str = "[16:57:44:330] [28332:00006eb0] [ERROR][com.freerdp.core] - [freerdp_tcp_is_hostname_resolvable]: ERRCONNECT_DNS_NAME_NOT_FOUND [0x00020005]";
    /// What FreeRDP 3 logs for a certificate it has never seen.
    const NEW3: &str = "[16:57:32:112] [28129:00006de2] [ERROR][com.freerdp.crypto] - [tls_print_new_certificate_warn]: @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @";
    /// What FreeRDP 2 and 3 print for a known server's changed one.
    const CHANGED: &str =
        "The above X.509 certificate does not match the certificate used for previous connections.";
    const ASKED3: &str = "[17:20:11:101] [7102:00001bbe] [ERROR][com.freerdp.core] - [transport_connect_tls]: ERRCONNECT_CONNECT_CANCELLED [0x0002000B]";
    const TLS_FAILED3: &str = "[17:04:30:140] [30310:00007666] [ERROR][com.freerdp.core] - [transport_default_connect_tls]: ERRCONNECT_TLS_CONNECT_FAILED [0x00020008]";

    #[test]
    fn the_framebuffer_line_means_up_once() {
        for up in [UP2, UP3] {
            let mut p = Progress::new();
            assert_eq!(p.line(CERT2), None);
            assert_eq!(p.line(up), Some(Event::Up));
            assert_eq!(p.line(up), None, "told once");
            assert!(p.is_up());
            // A session that then ends normally is no failure.
            assert_eq!(p.failure(Some(0)), None);
        }
    }

    #[test]
    fn causes_come_from_the_log_before_the_exit_status() {
        assert_eq!(fed(DNS3).failure(Some(140)), Some(Cause::NameNotResolved));
        // Reached the server (TLS), then the transport failed: NLA refused.
        for (cert, transport) in [(CERT2, TRANSPORT2), (CERT3, TRANSPORT3)] {
            assert_eq!(
                fed(&format!("{cert}\n{transport}")).failure(Some(147)),
                Some(Cause::SignInRefused)
            );
            // Never reached: unreachable.
            assert_eq!(fed(transport).failure(Some(147)), Some(Cause::Unreachable));
        }
        assert_eq!(
            fed(&format!("{CERT3}\n{TLS_FAILED3}\n{CHANGED}")).failure(Some(143)),
            Some(Cause::CertificateChanged)
        );
        // FreeRDP 3 warns of a "changed" key for a new one and connects, or
        // fails for another reason.
        assert_eq!(fed(&format!("{NEW3}\n{UP3}")).failure(Some(0)), None);
        assert_eq!(
            fed(&format!("{CERT3}\n{NEW3}\n{TRANSPORT3}")).failure(Some(147)),
            Some(Cause::SignInRefused)
        );
        assert_eq!(
            fed("ERRCONNECT_LOGON_FAILURE [0x00020014]").failure(Some(132)),
            Some(Cause::WrongPassword)
        );
        assert_eq!(
            fed(ASKED3).failure(Some(145)),
            Some(Cause::CredentialsNeeded)
        );
    }

    #[test]
    fn with_nothing_logged_the_exit_status_decides() {
        let p = Progress::new();
        assert_eq!(p.failure(Some(0)), None);
        assert_eq!(p.failure(Some(131)), Some(Cause::Unreachable));
        assert_eq!(p.failure(Some(140)), Some(Cause::NameNotResolved));
        assert_eq!(p.failure(Some(132)), Some(Cause::WrongPassword));
        assert_eq!(p.failure(None), None, "a signal is not a FreeRDP cause");
        assert!(matches!(p.failure(Some(999)), Some(Cause::Other(_))));
    }

    /// What sdl-freerdp3 3.10 logs in full screen under a bare X server,
    /// and when the server cannot be reached, before it hangs.
    const PRE3: &str = "[19:07:37:963] [29199:00007216] [ERROR][com.freerdp.core] - [freerdp_connect_begin]: ERRCONNECT_PRE_CONNECT_FAILED [0x00020001]";
    const PRE3B: &str = "[19:07:37:963] [29199:00007216] [ERROR][com.freerdp.core] - [freerdp_connect_begin]: freerdp_pre_connect failed: CLIENT_STATE_PRECONNECT_PASSED";
    const WRITE3: &str = "[19:07:53:343] [29211:00007223] [ERROR][com.freerdp.core] - [transport_default_write]: ERRCONNECT_CONNECT_TRANSPORT_FAILED [0x0002000D]";
    const POST3: &str = "[19:07:53:350] [29211:00007223] [ERROR][com.freerdp.core] - [freerdp_connect]: freerdp_post_connect failed";
    const NOISE: &str = "[19:07:52:079] [29211:0000721b] [INFO][com.freerdp.client.SDL] - [winpr_LogOutputFunction]: [SDL_LOG_CATEGORY_RENDER] Created renderer: opengl";

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    const LIMITS: Limits = Limits {
        connect: Duration::from_secs(60),
        after_failure: Duration::from_secs(4),
    };

    #[test]
    fn silence_after_a_pre_connect_failure_stops_the_process() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(LIMITS, t0);
        w.line(t0 + secs(0.1), NOISE);
        assert_eq!(
            w.check(t0 + secs(0.2)),
            Verdict::Wait {
                next: t0 + LIMITS.connect
            }
        );
        w.line(t0 + secs(1.0), PRE3);
        w.line(t0 + secs(1.0), PRE3B);
        assert_eq!(
            w.check(t0 + secs(4.9)),
            Verdict::Wait {
                next: t0 + secs(5.0)
            }
        );
        assert_eq!(w.stopped(), None);
        assert_eq!(
            w.check(t0 + secs(5.0)),
            Verdict::Stop(Cause::PreparationFailed)
        );
        // Decided once, for good.
        w.line(t0 + secs(5.1), UP3);
        assert_eq!(
            w.check(t0 + secs(5.2)),
            Verdict::Stop(Cause::PreparationFailed)
        );
        assert_eq!(w.stopped(), Some(&Cause::PreparationFailed));
    }

    #[test]
    fn the_cause_comes_from_the_log_when_it_tells_one() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(LIMITS, t0);
        w.line(t0 + secs(1.3), WRITE3);
        w.line(t0 + secs(1.3), POST3);
        assert!(matches!(w.check(t0 + secs(5.0)), Verdict::Wait { .. }));
        assert_eq!(w.check(t0 + secs(5.3)), Verdict::Stop(Cause::Unreachable));
    }

    #[test]
    fn a_refused_password_is_named_when_the_client_hangs_after_it() {
        const NLA3: &str = "[19:19:40:353] [21805:00005535] [ERROR][com.freerdp.core] - [nla_recv_pdu]: ERRCONNECT_AUTHENTICATION_FAILED [0x00020009]";
        let t0 = Instant::now();
        let mut w = Watchdog::new(LIMITS, t0);
        w.line(t0 + secs(1.0), CERT3);
        w.line(t0 + secs(1.0), NLA3);
        assert_eq!(w.check(t0 + secs(5.0)), Verdict::Stop(Cause::WrongPassword));
    }

    #[test]
    fn lines_after_a_failure_mean_it_is_still_working() {
        // A failed direct connection, then the gateway: still logging.
        let t0 = Instant::now();
        let mut w = Watchdog::new(LIMITS, t0);
        w.line(t0 + secs(1.0), TRANSPORT3);
        for i in 2..20 {
            w.line(t0 + secs(f64::from(i)), NOISE);
            assert!(
                matches!(w.check(t0 + secs(f64::from(i) + 3.9)), Verdict::Wait { .. }),
                "{i}"
            );
        }
        w.line(t0 + secs(20.0), UP3);
        assert_eq!(
            w.check(t0 + secs(100.0)),
            Verdict::Up,
            "up is never stopped"
        );
    }

    #[test]
    fn a_process_that_says_nothing_is_given_the_connect_limit() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(LIMITS, t0);
        // Logging without failing (a dialog waiting for the user).
        w.line(t0 + secs(30.0), CERT3);
        assert!(matches!(w.check(t0 + secs(59.9)), Verdict::Wait { .. }));
        assert_eq!(
            w.check(t0 + secs(60.0)),
            Verdict::Stop(Cause::StoppedResponding)
        );
        // A failure line never extends the connect limit.
        let mut w = Watchdog::new(LIMITS, t0);
        w.line(t0 + secs(58.0), TRANSPORT3);
        assert_eq!(
            w.check(t0 + secs(59.0)),
            Verdict::Wait {
                next: t0 + secs(60.0)
            }
        );
        assert_eq!(w.check(t0 + secs(60.0)), Verdict::Stop(Cause::Unreachable));
    }

    #[test]
    fn every_cause_is_one_sentence_without_freerdp_words() {
        let causes = [
            Cause::PreparationFailed,
            Cause::StoppedResponding,
            Cause::NameNotResolved,
            Cause::Unreachable,
            Cause::SignInRefused,
            Cause::WrongPassword,
            Cause::CertificateChanged,
            Cause::CredentialsNeeded,
        ];
        let from_codes = (0..300).filter_map(describe_exit);
        for cause in causes.into_iter().chain(from_codes) {
            let text = cause.to_string();
            assert!(
                !text.contains("ERRCONNECT") && !text.contains('\n'),
                "{text}"
            );
            assert!(!text.ends_with('.'), "{text}");
        }
    }
}
