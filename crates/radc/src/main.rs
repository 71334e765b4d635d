//! `radc`: the workspace runtime and the command line around it.

/// jemalloc instead of glibc's allocator. glibc places small allocations of
/// every size and lifetime side by side, so after a burst (thousands of
/// registrations, their probes, signals and messages) the few allocations
/// that live on pin most of the pages the burst touched, and
/// `malloc_trim` cannot give those back. jemalloc keeps each size class
/// in runs of its own, fills the lowest ones first and returns runs
/// that empty out (see [`MALLOC_CONF`] and [`purge_in_background`]).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read before `main` (`_RJEM_MALLOC_CONF` in the
/// environment overrides them):
///
/// - `narenas:1`: one arena for all threads instead of four per core, so
///   what one thread's burst left behind is filled again by any thread;
/// - `tcache_max:1024`: the per-thread caches keep only small objects;
/// - `dirty_decay_ms:500,muzzy_decay_ms:0`: freed pages go back to the
///   system half a second after they are freed instead of ten, and at
///   once rather than being kept resident as reusable on the way.
///
/// With 10,000 registrations they lowered the resident memory per
/// registration from about 850 bytes (jemalloc's defaults, decay at one
/// second) to about 470 (see BENCHMARKS.md).
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static MALLOC_CONF: &[u8] = b"narenas:1,tcache_max:1024,dirty_decay_ms:500,muzzy_decay_ms:0\0";

/// Lets jemalloc's own thread return freed pages on time even when the
/// runtime is idle after a burst (otherwise that happens only as a side
/// effect of later allocations). For the long-running daemon only: a
/// command that ends in milliseconds needs no extra thread. The thread
/// sleeps while there is nothing to return.
fn purge_in_background() {
    let enable = true;
    // SAFETY: the name is NUL-terminated, no old value is asked for, and
    // the new value is a `bool` of the size given, as `background_thread`
    // takes.
    let status = unsafe {
        tikv_jemalloc_sys::mallctl(
            c"background_thread".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            (&raw const enable).cast_mut().cast(),
            std::mem::size_of::<bool>(),
        )
    };
    if status != 0 {
        tracing::debug!(status, "jemalloc's background purging is not available");
    }
}

mod autostart;
mod commands;
mod config;
mod generate;
mod journal;
mod launch;
mod logfile;
mod reconnect;
mod setup;
mod tray;
mod workspaces;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// RemoteApp and Desktop Connections for Linux.
///
/// radc keeps track of every live remote connection of your workspaces, from
/// radc itself and from other clients that register with its runtime, and
/// disconnects a whole workspace with one command.
///
/// The runtime starts by itself when a command needs it.
#[derive(Parser, Debug)]
#[command(name = "radc", version, propagate_version = true, max_term_width = 100)]
#[command(after_help = "\
Exit status: 0 success, 1 error, 2 wrong usage, 3 some clients did not \
disconnect cleanly, 4 another runtime already serves this session, 5 the \
workspace, resource, extension or publisher named does not exist. With \
--json, errors too are JSON on standard output: {\"error\": message, \
\"code\": HRESULT or null, \"kind\": error kind or null}.

Logging: RADC_LOG sets what is logged (error, warn, info, debug, trace; \
default warn, info for the runtime), e.g. RADC_LOG=debug.

Settings: the runtime reads $XDG_CONFIG_HOME/radc/config.toml over \
/etc/radc/config.toml (see `radc daemon --help` for the keys).

Examples:
  radc subscribe https://rdweb.contoso.com -u 'CONTOSO\\alice'
  radc launch Contoso Calculator   start a RemoteApp (or desktop) by title
  radc status                      what is connected right now
  radc disconnect Contoso          end every connection of the workspace
  radc reconnect                   back to the sessions you left disconnected
  radc restype add .vnc /usr/bin/vncviewer")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the workspace runtime on the session bus (normally started for
    /// you).
    Daemon(DaemonArgs),
    /// Let the session bus start the runtime when a client calls it, and
    /// start the tray with your session.
    ///
    /// radc commands start the runtime themselves; other programs (custom
    /// clients) find it only if it runs or the bus can start it. This
    /// writes the two files for that, pointing at this radc, under your
    /// own directories: $XDG_DATA_HOME/dbus-1/services/org.radc.Runtime.service
    /// and $XDG_CONFIG_HOME/systemd/user/radc.service (used when your
    /// session runs under systemd; the runtime then logs to the journal),
    /// and the autostart entry of `radc tray`,
    /// $XDG_CONFIG_HOME/autostart/radc-tray.desktop. Packages install them
    /// system-wide instead; --print shows them.
    #[command(after_help = "\
Examples:
  radc setup                 after `cargo install`; again after moving radc
  radc setup --undo          remove the files (only if radc wrote them)
  radc setup --print systemd-unit --bin /usr/bin/radc")]
    Setup(setup::SetupArgs),
    /// Show your workspaces and their connections in the panel's tray.
    ///
    /// A StatusNotifierItem (the tray of KDE, of GNOME with AppIndicator
    /// support, of XFCE and of waybar) whose menu lists each workspace's
    /// live connections (each can be disconnected), its RemoteApps and
    /// desktops to start, "Disconnect all" and "Refresh". The icon is idle
    /// with nothing connected (the panel may then hide it), connected, or
    /// needs attention when a workspace's last refresh failed or an error
    /// was told since the menu was last opened. `radc setup` makes it start
    /// with your session. It starts the runtime if needed and follows it,
    /// also across restarts.
    #[command(after_help = "\
Examples:
  radc tray &                       show it now
  RADC_LOG=info radc tray           and say what it does")]
    Tray,
    /// Show workspaces and their live connections.
    Status {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Disconnect every connection of a workspace, by id or display name.
    ///
    /// Every client is asked at once; each has its own timeout. Prints what
    /// each client answered and exits with 3 if any failed or timed out. The
    /// workspace's cached credentials are cleared as well.
    Disconnect {
        /// Workspace id or display name.
        workspace: String,
        /// Seconds each client has to answer (default: the runtime's, 5).
        #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
        timeout: Option<Duration>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Start a RemoteApp or desktop of a subscribed workspace.
    ///
    /// The runtime checks the resource's .rdp file (a tampered signature is
    /// refused; see `radc trust`), starts FreeRDP with the workspace's
    /// credentials on its standard input, and tracks the connection: it
    /// shows in `radc status` and ends with `radc disconnect`. FILEs are
    /// opened in the RemoteApp through a redirected drive. Resources that
    /// are not .rdp files open with the launcher registered for their
    /// extension (`radc restype`).
    #[command(after_help = "\
radc launch waits (10 s by default, --timeout) until the connection is up \
(FreeRDP has signed in and set up the session's display) or has failed, \
and then exits 0, or 1 with the cause in one sentence: wrong password, \
server unreachable, name not resolved, certificate changed… If it is \
neither up nor failed in time, it says so, exits 0 and the connection goes \
on in the background. --detach returns as soon as FreeRDP is started. With \
--wait, the exit status is the connection's: its exit code, or 128 plus \
the signal that ended it.

Examples:
  radc launch Contoso Calculator
  radc launch -- Contoso Word ~/report.docx
  radc launch --wait --json Contoso 'Full Desktop'")]
    Launch {
        /// Workspace id or name.
        workspace: String,
        /// Resource id or title (`radc resources` lists them).
        resource: String,
        /// Local files to open in the RemoteApp.
        files: Vec<PathBuf>,
        /// Return as soon as the connection is started, without waiting to
        /// see it come up.
        #[arg(long, conflicts_with = "wait")]
        detach: bool,
        /// Seconds to wait for the connection to come up (or fail) before
        /// returning; it goes on connecting in the background after that.
        #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_seconds)]
        timeout: Duration,
        /// Wait until the connection ends.
        #[arg(long)]
        wait: bool,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Choose whose .rdp files to trust: publishers, and the policy for
    /// files no trusted publisher signed.
    ///
    /// A file signed by a publisher that a workspace vouches for (the
    /// thumbprints given to StartWorkspace) or that you trust is launched
    /// silently. Others, and unsigned files, follow the policy: `warn`
    /// (the default: launched, with a warning in the log) or `refuse`. A
    /// file whose signature does not hold is always refused.
    #[command(subcommand)]
    Trust(TrustCommand),
    /// Manage the programs that open resources other than .rdp files.
    #[command(subcommand)]
    Restype(RestypeCommand),
    /// Subscribe to an RD Web Access workspace (its RemoteApps and desktops).
    ///
    /// TARGET is the feed URL (https://rdweb.contoso.com/RDWeb/Feed/webfeed.aspx),
    /// just the server (https://rdweb.contoso.com), or your e-mail address
    /// (alice@contoso.com: the feed is found through the DNS record
    /// _msradc.contoso.com). The password is read from a prompt, or from
    /// standard input with --password-stdin, and kept in your keyring for
    /// refreshes.
    Subscribe {
        /// Feed URL, server, or e-mail address.
        target: String,
        /// Account to sign in with: 'DOMAIN\user' or user@domain.
        #[arg(long, short = 'u')]
        username: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Also make the workspace's RemoteApps the default applications
        /// for their file types (otherwise they are only offered).
        #[arg(long)]
        default_handlers: bool,
        #[command(flatten)]
        network: workspaces::Network,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// List subscribed workspaces.
    Workspaces {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// List the resources of one workspace, or of all.
    Resources {
        /// Workspace id or name.
        workspace: Option<String>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Reconnect to the sessions you left disconnected on a workspace's
    /// servers (or on all workspaces).
    ///
    /// radc asks each workspace's RD Web Access for the .rdp files of your
    /// disconnected sessions (its RDWebService.asmx beside the feed, signed
    /// in like a refresh, with the password in your keyring) and launches
    /// each one as if you had started it from the workspace: the same
    /// signature and trust checks, the workspace's own credentials. A
    /// workspace whose feed says it does not offer reconnection is not
    /// asked. To do this whenever you sign in, put
    /// `reconnect-at-start = true` in ~/.config/radc/config.toml.
    #[command(after_help = "\
Prints one line per launched session, or \"No disconnected sessions.\". Exit \
status: 0 when nothing failed (also when there was nothing to reconnect), \
1 when a workspace could not be asked or a returned file was refused, 5 \
when WORKSPACE is not subscribed.

Examples:
  radc reconnect                 every workspace
  radc reconnect Contoso         one workspace, by name or id
  radc reconnect --json          one object per workspace and session")]
    Reconnect {
        /// Workspace id or name (default: all).
        workspace: Option<String>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Fetch the feeds again and update the stored resources.
    ///
    /// Only what changed is downloaded and written: files of resources the
    /// feed says are unchanged (same `LastUpdated`, same URLs) and icons
    /// whose URLs carry a `hash` are kept without asking the server; the
    /// others are asked for with the validators (`ETag`, `Last-Modified`)
    /// the server gave last time.
    Refresh {
        /// Workspace id or name (default: all).
        workspace: Option<String>,
        /// Ask the server about every file again, even those the feed says
        /// are unchanged (still conditionally, so unchanged files are not
        /// downloaded again).
        #[arg(long)]
        revalidate: bool,
        #[command(flatten)]
        network: workspaces::Network,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Forget a workspace: its stored feed, files and password.
    Unsubscribe {
        /// Workspace id or name.
        workspace: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Put a resource in the application menu (e.g. one the feed lists but
    /// does not show by default). The choice survives refreshes.
    Show {
        /// Resource id or title.
        resource: String,
        /// Workspace id or name, if several have the resource.
        #[arg(long)]
        workspace: Option<String>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Make a workspace's RemoteApps the default applications for their
    /// file types, or stop.
    DefaultHandlers {
        /// Workspace id or name.
        workspace: String,
        /// `on` to make them the defaults, `off` to give the file types back.
        #[arg(value_parser = ["on", "off"])]
        state: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Take a resource out of the application menu. The choice survives
    /// refreshes.
    Hide {
        /// Resource id or title.
        resource: String,
        /// Workspace id or name, if several have the resource.
        #[arg(long)]
        workspace: Option<String>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
}

/// Every option can also be set in the settings file; a flag wins over it.
#[derive(Args, Debug)]
#[command(after_help = "\
Settings: $XDG_CONFIG_HOME/radc/config.toml, over /etc/radc/config.toml, \
with the same names as the flags (disconnect-timeout = 5, grace = 10, \
probe-timeout = 2, refresh-interval = 86400, freerdp = \"/usr/bin/xfreerdp3\", \
machine-config-dir = \"/etc/radc\", log-level = \"info\", \
reconnect-at-start = true). A runtime the \
session bus or a command starts reads them too. An unknown key or a bad \
value stops the runtime with an error naming it. RADC_LOG wins over \
log-level.")]
struct DaemonArgs {
    /// Seconds each client has to answer IssueDisconnect [default: 5].
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    disconnect_timeout: Option<Duration>,
    /// Seconds a disconnected client has to go away by itself before it is
    /// dropped [default: 10].
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    grace: Option<Duration>,
    /// Seconds a new client has to tell its workspace and name [default: 2].
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    probe_timeout: Option<Duration>,
    /// Seconds between two refreshes of each subscribed workspace; a failed
    /// refresh is retried sooner, backing off from five minutes [default:
    /// 86400].
    #[arg(long, value_name = "SECS", value_parser = parse_interval)]
    refresh_interval: Option<Duration>,
    /// Directory of the machine-wide resource-type table [default:
    /// /etc/radc].
    #[arg(long, value_name = "DIR")]
    machine_config_dir: Option<PathBuf>,
    /// Once started, reconnect to your disconnected sessions on every
    /// workspace whose server offers it, as `radc reconnect` does
    /// (reconnect-at-start = true in the settings file).
    #[arg(long)]
    reconnect_at_start: bool,
    /// FreeRDP client to launch connections with (default: the first of
    /// xfreerdp3, sdl-freerdp3 and xfreerdp on PATH).
    #[arg(long, value_name = "PATH")]
    freerdp: Option<PathBuf>,
    /// Log to this file instead of standard error: created private, and
    /// rotated to PATH.1 whenever it passes 1 MiB (radc starts the runtime
    /// so, with $XDG_STATE_HOME/radc/daemon.log).
    #[arg(long, value_name = "PATH")]
    log_file: Option<PathBuf>,
    /// The settings in force: these flags over the settings files.
    #[arg(skip)]
    settings: Option<config::Resolved>,
}

impl DaemonArgs {
    fn flags(&self) -> config::Settings {
        config::Settings {
            disconnect_timeout: self.disconnect_timeout.map(|d| d.as_secs_f64()),
            grace: self.grace.map(|d| d.as_secs_f64()),
            probe_timeout: self.probe_timeout.map(|d| d.as_secs_f64()),
            refresh_interval: self.refresh_interval.map(|d| d.as_secs_f64()),
            freerdp: self.freerdp.clone(),
            machine_config_dir: self.machine_config_dir.clone(),
            log_level: None,
            reconnect_at_start: self.reconnect_at_start.then_some(true),
        }
    }
}

#[derive(Subcommand, Debug)]
pub(crate) enum TrustCommand {
    /// Show the policy and the publishers you trust.
    List {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Trust a publisher, by certificate thumbprint (SHA-1 or SHA-256, as
    /// `radc trust check` prints it) or from a file it signed. Adding one
    /// already trusted with another --name renames it.
    #[command(group = clap::ArgGroup::new("publisher").required(true).args(["thumbprint", "from"]))]
    Add {
        /// Hexadecimal thumbprint; spaces and colons are ignored.
        thumbprint: Option<String>,
        /// Trust whoever signed this .rdp file (its signature must hold).
        #[arg(long, value_name = "FILE.rdp", conflicts_with = "thumbprint")]
        from: Option<PathBuf>,
        /// A name to remember the publisher by.
        #[arg(long)]
        name: Option<String>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Stop trusting a publisher.
    Remove {
        /// Its thumbprint, as `radc trust list` shows it.
        thumbprint: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Show or set what happens to files no trusted publisher signed.
    Policy {
        /// `warn`: launch them with a warning in the log; `refuse`: never
        /// launch them. Without it, the policy in force is shown.
        #[arg(value_parser = ["warn", "refuse"])]
        policy: Option<String>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Verify an .rdp file's signature and show its publisher, and
    /// whether it is a verified publisher: its certificate chains to a
    /// certificate authority the system trusts (or one in --ca-file).
    Check {
        /// The .rdp file.
        file: PathBuf,
        /// Count the CA certificates in this PEM file as trusted too
        /// (deployments with a private CA).
        #[arg(long, value_name = "PEM")]
        ca_file: Option<PathBuf>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum RestypeCommand {
    /// Register a launcher for a file extension.
    Add {
        /// Extension with its dot, e.g. .vnc
        extension: String,
        /// Absolute path of the program that opens it.
        launcher: String,
        #[command(flatten)]
        scope: Scope,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Change the launcher of a registered extension.
    Modify {
        /// Extension with its dot, e.g. .vnc
        extension: String,
        /// Absolute path of the program that opens it from now on.
        launcher: String,
        #[command(flatten)]
        scope: Scope,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Remove a registered extension.
    Remove {
        /// Extension with its dot, e.g. .vnc
        extension: String,
        #[command(flatten)]
        scope: Scope,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// List registered extensions and their launchers.
    List {
        #[command(flatten)]
        scope: Scope,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug, Clone, Copy)]
struct Scope {
    /// Use the machine-wide table (/etc/radc) instead of your own; changing
    /// it needs root.
    #[arg(long)]
    machine_wide: bool,
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    config::seconds(secs)
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    config::interval(secs)
}

/// Exit codes beyond 0/1/2.
pub(crate) const EXIT_PARTIAL: u8 = 3;
pub(crate) const EXIT_ALREADY_RUNNING: u8 = 4;
/// What the command names (a workspace, resource, extension, publisher)
/// does not exist.
pub(crate) const EXIT_NOT_FOUND: u8 = 5;

/// Whether the command line asks for JSON: then every outcome, errors
/// included, is JSON on standard output.
fn wants_json() -> bool {
    std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

/// An error as `--json` reports it: `{"error": message, "code": HRESULT or
/// null, "kind": radc error kind or null}`.
fn print_json_error(message: &str, refused: Option<&commands::Refused>) {
    let report = serde_json::json!({
        "error": message,
        "code": refused.map(|r| r.kind.hresult()),
        "kind": refused.map(|r| r.kind.name()),
    });
    println!("{report}");
}

/// What is logged: `RADC_LOG` if set, else `default_level`. zbus is held
/// at `warn` unless `RADC_LOG` names it: at `info` it opens a span for every
/// method call it dispatches and formats the whole message into it, which
/// during a flood of calls took about an eighth of the runtime's CPU.
fn log_filter(from_env: Option<&str>, default_level: &str) -> tracing_subscriber::EnvFilter {
    use tracing_subscriber::EnvFilter;
    let quiet_zbus = || "zbus=warn".parse().expect("a valid directive");
    match from_env.and_then(|spec| Some((spec, EnvFilter::try_new(spec).ok()?))) {
        Some((spec, filter)) if spec.contains("zbus") => filter,
        Some((_, filter)) => filter.add_directive(quiet_zbus()),
        None => EnvFilter::new(default_level).add_directive(quiet_zbus()),
    }
}

fn main() -> ExitCode {
    let json = wants_json();
    let cli = match generate::try_parse() {
        Ok(cli) => cli,
        Err(e)
            if json
                && !matches!(
                    e.kind(),
                    clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
                ) =>
        {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            print_json_error(first.trim_start_matches("error: "), None);
            return ExitCode::from(2);
        }
        Err(e) => e.exit(),
    };
    let mut cli = cli;
    if let Command::Daemon(args) = &mut cli.command {
        let settings = radc_runtime::Config::from_environment()
            .map_err(anyhow::Error::from)
            .and_then(|c| config::Settings::load(&c.user_config_dir));
        match settings {
            Ok(settings) => args.settings = Some(settings.resolve(args.flags())),
            Err(e) => {
                eprintln!("radc: {e:#}");
                return ExitCode::from(2);
            }
        }
    }
    let default_level = match &cli.command {
        Command::Daemon(DaemonArgs {
            settings: Some(settings),
            ..
        }) => settings.log_level.as_str(),
        _ => "warn",
    };
    // The file goes onto standard error, so it must be open before
    // standard error is looked at below.
    let log_file = match &cli.command {
        Command::Daemon(DaemonArgs {
            log_file: Some(path),
            ..
        }) => match logfile::RotatingLog::open(path, logfile::MAX_LOG_BYTES) {
            Ok(log) => Some(log),
            Err(e) => {
                eprintln!("radc: cannot open the log {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    let writer = match log_file {
        Some(log) => BoxMakeWriter::new(std::sync::Mutex::new(log)),
        None => BoxMakeWriter::new(std::io::stderr),
    };
    let logger = tracing_subscriber::fmt()
        .with_env_filter(log_filter(
            std::env::var("RADC_LOG").ok().as_deref(),
            default_level,
        ))
        .with_writer(writer);
    if matches!(cli.command, Command::Daemon(_)) && journal::stderr_is_journal() {
        // Started by systemd: the journal stamps each line itself.
        logger.without_time().with_ansi(false).init();
    } else {
        logger
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    if matches!(cli.command, Command::Daemon(_)) {
        purge_in_background();
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("radc: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            let refused: Option<&commands::Refused> = e.downcast_ref();
            if json {
                print_json_error(&format!("{e:#}"), refused);
            } else {
                eprintln!("radc: {e:#}");
            }
            match refused {
                Some(r) if r.kind == radc_client::ErrorKind::NotFound => {
                    ExitCode::from(EXIT_NOT_FOUND)
                }
                _ => ExitCode::FAILURE,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every subcommand and every argument explains itself in `--help`
    /// (and so in the man pages generated from the same definition).
    #[test]
    fn zbus_is_logged_at_warn_unless_named() {
        let default = log_filter(None, "info").to_string();
        assert!(default.contains("zbus=warn"), "{default}");
        assert!(default.contains("info"), "{default}");
        let from_env = log_filter(Some("debug"), "info").to_string();
        assert!(from_env.contains("zbus=warn"), "{from_env}");
        assert!(from_env.contains("debug"), "{from_env}");
        let named = log_filter(Some("info,zbus=trace"), "warn").to_string();
        assert!(named.contains("zbus=trace"), "{named}");
        assert!(!named.contains("zbus=warn"), "{named}");
        // A filter that does not parse counts as none.
        let broken = log_filter(Some("zbus=[{"), "info").to_string();
        assert!(broken.contains("zbus=warn"), "{broken}");
    }

    #[test]
    fn every_subcommand_and_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if arg.is_hide_set() || id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} <{id}>"));
                }
            }
            for sub in cmd.get_subcommands() {
                let name = format!("{path} {}", sub.get_name());
                if sub.get_name() == "help" {
                    continue;
                }
                if sub.get_about().is_none() && sub.get_long_about().is_none() {
                    missing.push(name.clone());
                }
                walk(sub, &name, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "radc", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }
}
