//! Launching resources: from a subscribed workspace's `.rdp` file (or the
//! contents a D-Bus caller hands over) to a running, registered connection
//! process.
//!
//! The steps, each of which can refuse with a message naming what to do:
//!
//! 1. find the resource and its file in the stored feed;
//! 2. parse the `.rdp` file and verify its signature (a tampered file is
//!    always refused; who may sign is [`radc_core::trust`]'s decision);
//! 3. find FreeRDP and turn the signed settings into its command line;
//! 4. start it in its own process group with the workspace's credentials on
//!    its stdin (never on its command line) and an environment built from
//!    an allow-list ([`launch_environment`]), register it in the core, and
//!    watch it until it exits.
//!
//! Disconnecting a workspace ends these processes: SIGTERM to the group,
//! SIGKILL after the grace period ([`terminate`]). Their registration goes
//! when the process has exited, with its exit status as the reason.
//!
//! A FreeRDP that neither comes up nor exits is ended the same way: the
//! watcher feeds its log lines and the time to a
//! [`radc_rdp::progress::Watchdog`], which decides when it hangs (silent
//! for a few seconds after logging a failure, or not up after three
//! minutes); the launch then fails with the watchdog's cause.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use radc_client::environment::CALLER_GROUPS;
use radc_core::credentials::Thumbprint;
use radc_core::error_events::ErrorEvent;
use radc_core::registry::DisconnectTarget;
use radc_core::trust::{self, Decision, Signer, TrustSettings};
use radc_core::{Cookie, Exit, RuntimeError, validate};
use radc_feed::scope::Scope;
use radc_rdp::RdpFile;
use radc_rdp::freerdp::{self, Client, MappingError, Version};
use radc_rdp::progress::{self, Limits, Watchdog};
use radc_rdp::publisher::Publisher;
use radc_rdp::signature::{self, Verdict};
use radc_subscribe::secrets::SecretStore;
use radc_subscribe::store::{Store, WorkspaceRecord};
use radc_subscribe::workspace::{find_resource, stored_feed};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use zeroize::Zeroizing;

use crate::handover::Handover;
use crate::prompt;
use crate::service::Shared;

/// `RegisterErrorEvent` type the launcher uses for failed connections.
pub const LAUNCH_ERROR_TYPE: u32 = 2;

/// FreeRDP clients looked for on `PATH`, best first.
pub const FREERDP_CANDIDATES: [&str; 3] = ["xfreerdp3", "sdl-freerdp3", "xfreerdp"];

/// Variables that only ever come from the runtime's own environment: who
/// the user is and where their files are. A caller on the bus never sets
/// these (they are the same user's anyway, and a different `HOME` or bus
/// would only redirect the connection's files and calls).
const RUNTIME_ONLY: [&str; 12] = [
    "HOME",
    "USER",
    "LOGNAME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "XDG_STATE_HOME",
    "XDG_CONFIG_DIRS",
    "XDG_DATA_DIRS",
    // The bus the runtime serves on, which is the caller's session bus.
    "DBUS_SESSION_BUS_ADDRESS",
    // Where the user's Kerberos tickets are, for NLA with Kerberos.
    "KRB5CCNAME",
    // FreeRDP's temporary files (WinPR's GetTempPath): a session may point
    // it at a private directory instead of the shared /tmp.
    "TMPDIR",
];

/// `PATH` when the runtime has none with an absolute directory in it.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Longest value of a caller's variable that is passed on.
const MAX_ENVIRONMENT_VALUE: usize = 4096;

/// The whole environment of every process the launcher starts (FreeRDP,
/// its `/version` probe, and the launchers of other resource types): built
/// from nothing, never inherited, so nothing the runtime was started with
/// (`LD_PRELOAD`, proxy settings, tokens, `RADC_*`) reaches a connection,
/// and nothing a caller sends beyond what is listed here does either.
///
/// - From the caller (`environment` of `Launch`), each group whole, or else
///   the same group from the runtime (`own`): the display (`DISPLAY`,
///   `WAYLAND_DISPLAY`, `XAUTHORITY`, `XDG_SESSION_TYPE`,
///   `XDG_CURRENT_DESKTOP`); sound (`PULSE_SERVER`, `PULSE_COOKIE`,
///   `PULSE_SINK`, `PULSE_SOURCE`, `PIPEWIRE_RUNTIME_DIR`,
///   `PIPEWIRE_REMOTE`); the locale (`LANG`, `LANGUAGE`, `LC_ALL` and the
///   `LC_*` categories); `XDG_RUNTIME_DIR`; `TZ`. A caller's value that is
///   empty or longer than 4096 bytes counts as not set.
/// - From the runtime only: `HOME`, `USER`, `LOGNAME`, `XDG_CONFIG_HOME`,
///   `XDG_DATA_HOME`, `XDG_CACHE_HOME`, `XDG_STATE_HOME`,
///   `XDG_CONFIG_DIRS`, `XDG_DATA_DIRS`, `DBUS_SESSION_BUS_ADDRESS`,
///   `KRB5CCNAME`, `TMPDIR`.
/// - `PATH`: the runtime's own, keeping only absolute directories (a
///   relative one would find programs in whatever directory the runtime
///   was started from), or [`DEFAULT_PATH`]. Never the caller's.
///
/// Left out on purpose although FreeRDP reads them: `WLOG_*` (its logging,
/// which can make it write log files anywhere) and the proxy variables
/// (`https_proxy`, `no_proxy`: a connection goes where its `.rdp` file
/// says, through the gateway the file names, not through whatever proxy
/// the runtime happened to be started with).
pub fn launch_environment(
    own: impl Fn(&str) -> Option<OsString>,
    caller: &HashMap<String, String>,
) -> Vec<(&'static str, OsString)> {
    let from_caller = |key: &str| {
        caller
            .get(key)
            .filter(|v| !v.is_empty() && v.len() <= MAX_ENVIRONMENT_VALUE)
            .map(OsString::from)
    };
    let own = |key: &str| own(key).filter(|v| !v.is_empty());
    let mut out = Vec::new();
    for group in CALLER_GROUPS {
        let caller_set = group.iter().any(|key| from_caller(key).is_some());
        for &key in group {
            let value = if caller_set {
                from_caller(key)
            } else {
                own(key)
            };
            out.extend(value.map(|v| (key, v)));
        }
    }
    for key in RUNTIME_ONLY {
        out.extend(own(key).map(|v| (key, v)));
    }
    out.push(("PATH", safe_path(own("PATH"))));
    out
}

/// The absolute directories of a `PATH`, or [`DEFAULT_PATH`] if none.
fn safe_path(path: Option<OsString>) -> OsString {
    let dirs: Vec<PathBuf> = path
        .as_deref()
        .map(std::env::split_paths)
        .into_iter()
        .flatten()
        .filter(|dir| dir.is_absolute())
        .collect();
    if dirs.is_empty() {
        return DEFAULT_PATH.into();
    }
    std::env::join_paths(dirs).unwrap_or_else(|_| DEFAULT_PATH.into())
}

/// A command for `program` with [`launch_environment`] as its whole
/// environment: the one way the launcher starts a process.
fn launch_command(program: impl AsRef<OsStr>, caller: &HashMap<String, String>) -> Command {
    let mut command = Command::new(program);
    command
        .env_clear()
        .envs(launch_environment(|key| std::env::var_os(key), caller));
    command
}

/// A connection that was started.
#[derive(Debug, Clone)]
pub(crate) struct Started {
    pub cookie: Cookie,
    pub pid: u32,
    /// Who vouched for the file, for the caller to show.
    pub trust: String,
}

/// What to start: the file, and who asked for what.
pub(crate) struct Request {
    pub workspace_id: String,
    pub display_name: String,
    /// The id the desktop entry was made for (window class), if any.
    pub resource_id: Option<String>,
    /// `None` for a file of the workspace's own feed; the bus name of the
    /// client that brought it otherwise (`StartRemoteApplication`), which
    /// decides which credentials it may use.
    pub brought_by: Option<String>,
    pub rdp: Vec<u8>,
    pub files: Vec<PathBuf>,
    pub environment: HashMap<String, String>,
    pub fullscreen: Option<bool>,
    /// Whether the password stored in the Secret Service is used (so a
    /// refused sign-in means it is wrong).
    pub stored_password: bool,
}

/// The FreeRDP found on this system.
#[derive(Debug, Clone)]
struct FreeRdp {
    path: PathBuf,
    client: Client,
    modified: Option<SystemTime>,
}

pub(crate) struct Launcher {
    shared: Arc<Shared>,
    store: Store,
    /// The clients probed so far, by path.
    freerdp: Mutex<HashMap<PathBuf, FreeRdp>>,
    /// The record of launched connections, once the bus is known.
    handover: Arc<OnceLock<Arc<Handover>>>,
    /// Whether each recent launch came up.
    outcomes: Arc<Outcomes>,
}

impl Launcher {
    pub(crate) fn new(shared: Arc<Shared>, store: Store) -> Arc<Launcher> {
        Arc::new(Launcher {
            shared,
            store,
            freerdp: Mutex::new(HashMap::new()),
            handover: Arc::new(OnceLock::new()),
            outcomes: Arc::new(Outcomes::default()),
        })
    }

    /// `radc launch WORKSPACE RESOURCE [FILE…]`: a resource of a subscribed
    /// workspace, by id or title.
    pub(crate) async fn launch_resource(
        &self,
        workspace: &str,
        resource: &str,
        files: Vec<PathBuf>,
        environment: HashMap<String, String>,
    ) -> Result<Started, RuntimeError> {
        let record = self.find_workspace(workspace)?;
        let feed = stored_feed(&self.store, &record).ok_or_else(|| {
            RuntimeError::failed(format!(
                "the stored feed of {} cannot be read; run `radc refresh {}`",
                record.name, record.id
            ))
        })?;
        let found = find_resource(&feed, resource).ok_or_else(|| {
            RuntimeError::not_found(format!(
                "no resource {:?} is in {}; `radc resources {}` lists them",
                validate::for_log(resource),
                record.name,
                record.id
            ))
        })?;
        for file in &files {
            if !file.is_absolute() {
                return Err(RuntimeError::invalid_args(format!(
                    "{} is not an absolute path",
                    file.display()
                )));
            }
        }
        let resource_file = found
            .hosting_terminal_servers
            .iter()
            .filter_map(|h| h.resource_file.as_ref())
            .find(|f| f.url.is_some())
            .ok_or_else(|| {
                RuntimeError::failed(format!(
                    "the feed gives no file to launch {} with",
                    validate::for_log(&found.title)
                ))
            })?;
        let url = resource_file.url.as_ref().expect("filtered");
        // What was stored before feeds were held to their scope may come
        // from anywhere; it is not launched with the workspace's
        // credentials.
        let home = record
            .url()
            .map_err(|e| RuntimeError::failed(e.to_string()))?;
        Scope::new(&home).check(url).map_err(|e| {
            RuntimeError::access_denied(format!(
                "the file of {} is not used: {e}; run `radc refresh {}`",
                validate::for_log(&found.title),
                record.id
            ))
        })?;
        let url = url.as_str();
        let path = self.store.file_path(&record, url).ok_or_else(|| {
            RuntimeError::failed(format!(
                "the file of {} was not downloaded; run `radc refresh {}`",
                validate::for_log(&found.title),
                record.id
            ))
        })?;
        let extension = resource_file.file_extension.to_ascii_lowercase();
        if extension != ".rdp" {
            return self
                .launch_other(&record, &found.title, &extension, &path, environment)
                .await;
        }
        let rdp = read_bounded(&path)?;
        self.launch_rdp(Request {
            workspace_id: record.id.clone(),
            display_name: found.title.clone(),
            resource_id: Some(found.id.clone()),
            brought_by: None,
            rdp,
            files,
            environment,
            fullscreen: None,
            stored_password: false,
        })
        .await
    }

    /// Starts FreeRDP for an `.rdp` file.
    pub(crate) async fn launch_rdp(&self, mut request: Request) -> Result<Started, RuntimeError> {
        let name = validate::for_log(&request.display_name);
        let file = RdpFile::parse(&request.rdp).map_err(|e| {
            RuntimeError::invalid_args(format!("the .rdp file of {name} is not valid: {e}"))
        })?;
        let verdict = signature::verify(&file).map_err(|e| {
            RuntimeError::access_denied(format!(
                "the .rdp file of {name} is refused: {e}; it may have been tampered with"
            ))
        })?;
        let (workspace_thumbprints, credential) =
            self.cached_credential(&request.workspace_id, request.brought_by.as_deref());
        let settings = self.trust_settings()?;
        let (decision, file) = match &verdict {
            Verdict::Unsigned => (
                trust::decide(None, &workspace_thumbprints, &settings)?,
                file,
            ),
            Verdict::Signed(signed) => {
                let signer = Signer {
                    publisher: &signed.publisher,
                    sha1: &signed.sha1_thumbprint,
                    sha256: &signed.sha256_thumbprint,
                };
                let decision = trust::decide(Some(signer), &workspace_thumbprints, &settings)?;
                // Only what the publisher signed is used: anything added
                // after signing could redirect drives or change the server.
                (decision, signed.covered(&file))
            }
        };
        // Who the signer is, as far as certificate authorities can tell:
        // shown to the user, not part of the decision.
        let publisher = match &verdict {
            Verdict::Signed(signed) => {
                Some(self.check_publisher(signed, &request.workspace_id).await)
            }
            Verdict::Unsigned => None,
        };
        log_decision(&request.workspace_id, &name, &decision, publisher.as_ref());

        // The password stored at subscription is for the workspace's own
        // files only, never for a file a client brings.
        let credential = match credential {
            Some(c) => Some(c),
            None if request.brought_by.is_none() => {
                let (credential, stored) = self.stored_or_asked(&request).await?;
                request.stored_password = stored;
                credential
            }
            None => None,
        };
        let remote_app = file.get_int("remoteapplicationmode") == Some(1);
        let freerdp = self.freerdp(&request.environment, remote_app).await?;
        let wm_class = match &request.resource_id {
            Some(id) => radc_desktop::names::resource_stem(&request.workspace_id, id),
            None => radc_desktop::names::workspace_stem(&request.workspace_id),
        };
        let mapped = freerdp::command_line_for(
            &freerdp.client,
            &freerdp::Launch {
                rdp: &file,
                wm_class: &wm_class,
                files: &request.files,
                credentials_from_stdin: credential.as_ref().is_some_and(|c| c.password.is_some()),
                title: Some(&request.display_name),
            },
        )
        .map_err(|e| {
            let text = format!("the .rdp file of {name} cannot be used: {e}");
            match e {
                MappingError::Client { .. } => RuntimeError::not_supported(text),
                _ => RuntimeError::invalid_args(text),
            }
        })?;
        for note in &mapped.notes {
            tracing::warn!(
                workspace = %validate::for_log(&request.workspace_id),
                freerdp = %freerdp.client,
                "{name}: {note}"
            );
        }
        let mut args = mapped.args;
        if let Some(fullscreen) = request.fullscreen {
            args.push(if fullscreen { "/f" } else { "-f" }.to_owned());
        }
        let stdin = match &credential {
            Some(c) => {
                args.extend(c.identity_args()?);
                match &c.password {
                    Some(_) => Some(c.stdin_bytes().ok_or_else(|| {
                        RuntimeError::invalid_args(
                            "the workspace's password holds a line break, which FreeRDP cannot be given",
                        )
                    })?),
                    None => None,
                }
            }
            None => None,
        };
        let mut command = launch_command(&freerdp.path, &request.environment);
        command.args(&args).envs(mapped.environment);
        let started = self
            .start(
                command,
                &request,
                stdin,
                trust_text(&decision, publisher.as_ref()),
                true,
            )
            .await?;
        tracing::info!(
            workspace = %validate::for_log(&request.workspace_id),
            cookie = started.cookie.get(),
            pid = started.pid,
            freerdp = %freerdp.path.display(),
            "launched {name}"
        );
        Ok(started)
    }

    /// A resource whose file is not `.rdp`: the launcher registered for its
    /// extension opens it.
    async fn launch_other(
        &self,
        record: &WorkspaceRecord,
        title: &str,
        extension: &str,
        path: &Path,
        environment: HashMap<String, String>,
    ) -> Result<Started, RuntimeError> {
        // Checked before any table: one written by an older radc may still
        // name a launcher for them.
        if radc_core::restype::is_program(extension) {
            return Err(RuntimeError::access_denied(format!(
                "{} cannot be opened: {extension} files run programs on this computer, \
                 and radc never opens them",
                validate::for_log(title)
            )));
        }
        let launcher = self.shared.launcher_for(extension)?.ok_or_else(|| {
            RuntimeError::not_supported(format!(
                "{} cannot be opened: no launcher is registered for {extension} files \
                 (`radc restype add {extension} /path/to/launcher`)",
                validate::for_log(title)
            ))
        })?;
        let mut command = launch_command(&launcher, &environment);
        command.arg(path);
        let request = Request {
            workspace_id: record.id.clone(),
            display_name: title.to_owned(),
            resource_id: None,
            brought_by: None,
            rdp: Vec::new(),
            files: Vec::new(),
            environment,
            fullscreen: None,
            stored_password: false,
        };
        let started = self
            .start(command, &request, None, "not an .rdp file".into(), false)
            .await?;
        tracing::info!(
            workspace = %validate::for_log(&record.id),
            cookie = started.cookie.get(),
            pid = started.pid,
            launcher = %launcher,
            "launched {} with the {extension} launcher",
            validate::for_log(title)
        );
        Ok(started)
    }

    /// Spawns `command` in its own process group, registers it, writes it
    /// down for the next runtime ([`crate::handover`]) and watches it until
    /// it exits. A FreeRDP (`freerdp`) logs to its output file, which the
    /// watcher reads to tell when the connection is up or why it failed.
    async fn start(
        &self,
        mut command: Command,
        request: &Request,
        stdin: Option<Zeroizing<Vec<u8>>>,
        trust: String,
        freerdp: bool,
    ) -> Result<Started, RuntimeError> {
        let output = match self.handover() {
            Some(handover) => {
                let (file, name) = handover.output_file().map_err(|e| {
                    RuntimeError::failed(format!("cannot create the connection's output file: {e}"))
                })?;
                if freerdp {
                    command.envs(freerdp_log_environment(handover.dir(), &name));
                }
                Some((file, name))
            }
            None => None,
        };
        let (stdout, stderr) = match &output {
            Some((file, _)) => {
                let copy = |f: &std::fs::File| {
                    f.try_clone().map(Stdio::from).map_err(|e| {
                        RuntimeError::failed(format!("cannot pass the output file on: {e}"))
                    })
                };
                (copy(file)?, copy(file)?)
            }
            None => (Stdio::null(), Stdio::null()),
        };
        command
            .process_group(0)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(stdout)
            .stderr(stderr);
        let spawned = command.spawn();
        let output = output.map(|(_, name)| name);
        let remove_output = || {
            if let (Some(handover), Some(name)) = (self.handover(), &output) {
                handover.ended_unrecorded(name);
            }
        };
        let mut child = spawned.map_err(|e| {
            remove_output();
            RuntimeError::failed(format!(
                "cannot start {}: {e}",
                command.as_std().get_program().to_string_lossy()
            ))
        })?;
        let pid = child.id().unwrap_or(0);
        if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // A small write into an empty pipe does not block; the pipe is
            // closed right after so the client sees the end of its input.
            tokio::spawn(async move {
                let _ = pipe.write_all(&bytes).await;
                let _ = pipe.shutdown().await;
            });
        }
        let started_at = SystemTime::now();
        let cookie = {
            let mut core = self.shared.core();
            match core.add_launched(
                &request.workspace_id,
                &request.display_name,
                pid,
                Instant::now(),
            ) {
                Ok((cookie, event)) => {
                    self.shared.publish(&core, [event]);
                    cookie
                }
                Err(e) => {
                    drop(core);
                    signal_group(pid, rustix::process::Signal::KILL);
                    remove_output();
                    return Err(e);
                }
            }
        };
        if let (Some(handover), Some(name)) = (self.handover(), &output) {
            handover.started(
                cookie,
                pid,
                &request.workspace_id,
                &request.display_name,
                unix_millis(started_at),
                name,
            );
        }
        // A resource of the workspace's own feed can be launched again from
        // a notification, and is told about if a refresh removes it.
        let retry = match (&request.resource_id, &request.brought_by) {
            (Some(resource_id), None) => {
                self.shared.opened(
                    cookie,
                    &request.workspace_id,
                    resource_id,
                    &request.display_name,
                );
                Some(crate::notify::Retry {
                    workspace_id: request.workspace_id.clone(),
                    resource_id: resource_id.clone(),
                    environment: request.environment.clone(),
                })
            }
            _ => None,
        };
        // Only FreeRDP says when it is up; anything else counts as up once
        // it runs.
        let reads_log = freerdp && output.is_some();
        self.outcomes.begin(cookie, !reads_log);
        let exit = async move {
            use std::os::unix::process::ExitStatusExt;
            match child.wait().await {
                Ok(status) => match (status.code(), status.signal()) {
                    (Some(code), _) => Exit::Code(code),
                    (None, Some(signal)) => Exit::Signal(signal),
                    (None, None) => Exit::Unknown,
                },
                Err(e) => {
                    tracing::warn!(pid, "cannot wait for the connection process: {e}");
                    Exit::Unknown
                }
            }
        };
        tokio::spawn(watch(
            self.shared.clone(),
            self.handover.clone(),
            self.outcomes.clone(),
            exit,
            Watched {
                cookie,
                pid,
                workspace_id: request.workspace_id.clone(),
                display_name: request.display_name.clone(),
                output: output.unwrap_or_default(),
                reads_log,
                retry,
                stored_password: request.stored_password,
            },
        ));
        Ok(Started { cookie, pid, trust })
    }

    /// Waits up to `timeout` for launched connection `cookie` to come up
    /// or fail; see [`Outcome`].
    pub(crate) async fn await_launch(
        &self,
        cookie: u32,
        timeout: Duration,
    ) -> Result<Outcome, RuntimeError> {
        self.outcomes.wait(cookie, timeout).await
    }

    fn handover(&self) -> Option<&crate::handover::Handover> {
        self.handover.get().map(|h| &**h)
    }

    /// Starts keeping the record of launched connections in `handover`,
    /// and adopts the connections an earlier runtime on this bus left
    /// running. Returns how many were adopted. Writes nothing until
    /// [`Launcher::settle`].
    pub(crate) fn adopt(&self, handover: Handover) -> usize {
        let handover = self.handover.get_or_init(|| Arc::new(handover));
        let survivors = handover.survivors();
        let now = (Instant::now(), SystemTime::now());
        let mut adopted = 0;
        for survivor in survivors {
            let entry = survivor.entry;
            // When it started, on this runtime's clock.
            let age = now
                .1
                .duration_since(UNIX_EPOCH + Duration::from_millis(entry.started_unix_ms))
                .unwrap_or_default();
            let since = now.0.checked_sub(age).unwrap_or(now.0);
            let cookie = {
                let mut core = self.shared.core();
                match core.add_launched(&entry.workspace_id, &entry.display_name, entry.pid, since)
                {
                    Ok((cookie, event)) => {
                        self.shared.publish(&core, [event]);
                        cookie
                    }
                    Err(e) => {
                        tracing::warn!(pid = entry.pid, "cannot adopt the connection: {e}");
                        continue;
                    }
                }
            };
            tracing::info!(
                cookie = cookie.get(),
                pid = entry.pid,
                workspace = %validate::for_log(&entry.workspace_id),
                "adopted {} from an earlier runtime",
                validate::for_log(&entry.display_name)
            );
            let watched = Watched {
                cookie,
                pid: entry.pid,
                workspace_id: entry.workspace_id.clone(),
                display_name: entry.display_name.clone(),
                output: entry.output.clone(),
                reads_log: false,
                retry: None,
                stored_password: false,
            };
            handover.adopted(cookie, entry);
            self.outcomes.begin(cookie, true);
            let pidfd = survivor.pidfd;
            tokio::spawn(watch(
                self.shared.clone(),
                self.handover.clone(),
                self.outcomes.clone(),
                async move {
                    crate::handover::exited(pidfd).await;
                    Exit::Unknown
                },
                watched,
            ));
            adopted += 1;
        }
        adopted
    }

    /// This runtime serves the bus: the record and the directory are made
    /// to match what it adopted.
    pub(crate) fn settle(&self) {
        if let Some(handover) = self.handover() {
            handover.settle();
        }
    }

    /// Hands the running connections over to the next runtime: the record
    /// is left as it stands. Returns how many there are.
    pub(crate) fn hand_over(&self) -> usize {
        self.handover().map_or(0, |h| h.save())
    }

    /// The session is ending: ends every launched connection (SIGTERM to
    /// its group, SIGKILL after the grace period), waits until they are
    /// gone, and leaves nothing for another runtime.
    pub(crate) async fn end_all(&self) {
        let targets: Vec<DisconnectTarget> = {
            let mut core = self.shared.core();
            let workspaces: Vec<String> = core
                .registry()
                .listed()
                .filter(|r| r.kind == radc_core::Kind::Launched)
                .filter_map(|r| r.workspace_id.as_deref().map(str::to_owned))
                .collect();
            workspaces
                .iter()
                .flat_map(|ws| core.begin_disconnect(ws).unwrap_or_default())
                .filter(|t| t.kind == radc_core::Kind::Launched)
                .collect()
        };
        for target in &targets {
            if let Err(e) = terminate(&self.shared, target) {
                tracing::debug!(pid = target.pid, "{e}");
            }
        }
        let deadline = Instant::now() + self.shared.config.grace + Duration::from_secs(1);
        while Instant::now() < deadline
            && self
                .shared
                .core()
                .registry()
                .listed()
                .any(|r| r.kind == radc_core::Kind::Launched)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Some(handover) = self.handover() {
            handover.discard();
        }
    }

    /// [`crate::roots::check_publisher`] with the workspace's CA file, off
    /// the runtime's threads (it reads the system's certificate store).
    async fn check_publisher(&self, signed: &signature::Signed, workspace_id: &str) -> Publisher {
        let ca_file = self
            .store
            .record(workspace_id)
            .ok()
            .flatten()
            .and_then(|r| r.ca_file);
        let signed = signed.clone();
        tokio::task::spawn_blocking(move || {
            crate::roots::check_publisher(&signed, ca_file.as_deref())
        })
        .await
        .unwrap_or_else(|e| Publisher::Unknown(format!("the check failed ({e})")))
    }

    fn find_workspace(&self, workspace: &str) -> Result<WorkspaceRecord, RuntimeError> {
        let failed = |e: radc_subscribe::store::StoreError| RuntimeError::failed(e.to_string());
        if let Some(record) = self.store.record(workspace).map_err(failed)? {
            return Ok(record);
        }
        let mut named: Vec<WorkspaceRecord> = self
            .store
            .list()
            .map_err(failed)?
            .into_iter()
            .flatten()
            .filter(|r| r.name.eq_ignore_ascii_case(workspace))
            .collect();
        match named.len() {
            1 => Ok(named.remove(0)),
            0 => Err(RuntimeError::not_found(format!(
                "no workspace {:?} is subscribed; `radc workspaces` lists them",
                validate::for_log(workspace)
            ))),
            n => Err(RuntimeError::invalid_args(format!(
                "{n} workspaces are called {:?}; name one by its id",
                validate::for_log(workspace)
            ))),
        }
    }

    /// The thumbprints and credential `StartWorkspace` gave for a workspace.
    fn cached_credential(
        &self,
        workspace_id: &str,
        brought_by: Option<&str>,
    ) -> (Vec<Thumbprint>, Option<Credential>) {
        let core = self.shared.core();
        match core
            .credentials()
            .for_connection(workspace_id, brought_by, Instant::now())
        {
            Some(c) => (
                c.thumbprints.clone(),
                Some(Credential::new(&c.user, c.password.clone())),
            ),
            None => (Vec::new(), None),
        }
    }

    /// The account the workspace was subscribed with, and its password:
    /// the one stored in the Secret Service at subscription (one per
    /// workspace, as on Windows), or, when there is none or it was refused
    /// the last time, the one the person types into the sign-in prompt
    /// (`radc-gui prompt`) on the caller's display. The second value says
    /// whether the stored password is used. A workspace subscribed without
    /// a user name gets nothing; without a prompt to show, FreeRDP gets the
    /// account and asks for the password itself, as before.
    async fn stored_or_asked(
        &self,
        request: &Request,
    ) -> Result<(Option<Credential>, bool), RuntimeError> {
        let Ok(Some(record)) = self.store.record(&request.workspace_id) else {
            return Ok((None, false));
        };
        let Some(user) = record.username.clone() else {
            return Ok((None, false));
        };
        let refused = self.shared.password_refused(&record.id);
        let secrets = match SecretStore::connect().await {
            Ok(secrets) => Some(secrets),
            Err(e) => {
                tracing::debug!("no Secret Service: {e}");
                None
            }
        };
        if !refused
            && let Some(secrets) = &secrets
            && let Ok(Some(password)) = secrets.load(&record, &user).await
        {
            return Ok((Some(Credential::new(&user, password)), true));
        }
        let reason = refused.then_some("The password radc had was refused.");
        match prompt::ask(&record.name, &user, reason, &request.environment).await {
            prompt::Answer::Password {
                user,
                password,
                remember,
            } => {
                validate::identifier("user name", &user, validate::MAX_USER_LEN)?;
                if remember {
                    match &secrets {
                        Some(secrets) => match secrets.store(&record, &user, &password).await {
                            // The stored one is new: worth trying again.
                            Ok(()) => self.shared.password_accepted(&record.id),
                            Err(e) => tracing::warn!("the password was not remembered: {e}"),
                        },
                        None => tracing::warn!(
                            "the password was not remembered: no Secret Service runs"
                        ),
                    }
                }
                Ok((Some(Credential::new(&user, password)), false))
            }
            prompt::Answer::Cancelled => Err(RuntimeError::cancelled(format!(
                "signing in to {} was cancelled",
                validate::for_log(&record.name)
            ))),
            prompt::Answer::Unavailable(why) => {
                tracing::info!("no sign-in prompt ({why}); FreeRDP asks for the password itself");
                Ok((Some(Credential::account(&user)), false))
            }
        }
    }

    fn trust_settings(&self) -> Result<TrustSettings, RuntimeError> {
        let path = trust_path(&self.shared.config.user_config_dir);
        match std::fs::read_to_string(&path) {
            Ok(text) => TrustSettings::from_json(&text)
                .map_err(|e| RuntimeError::failed(format!("{}: {}", path.display(), e.message))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TrustSettings::default()),
            Err(e) => Err(RuntimeError::failed(format!("{}: {e}", path.display()))),
        }
    }

    /// The FreeRDP client to use, probed once and again when its file
    /// changes. The probe gets the caller's display: FreeRDP 2 opens it
    /// even to print its version. Unless one is configured, a RemoteApp
    /// gets a client that can show it when one is installed.
    async fn freerdp(
        &self,
        environment: &HashMap<String, String>,
        remote_app: bool,
    ) -> Result<FreeRdp, RuntimeError> {
        let path = match &self.shared.config.freerdp {
            Some(path) => path.clone(),
            None => find_on_path(&candidates(remote_app)).ok_or_else(|| {
                RuntimeError::not_supported(
                    "no FreeRDP client was found (xfreerdp3, sdl-freerdp3 or xfreerdp); \
                     install FreeRDP (Debian: apt install freerdp3-x11 or freerdp2-x11) \
                     or start the runtime with --freerdp PATH",
                )
            })?,
        };
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        if let Some(known) = self
            .freerdp
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&path)
            && known.modified == modified
        {
            return Ok(known.clone());
        }
        let mut probe = launch_command(&path, environment);
        probe
            .arg("/version")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let output = tokio::time::timeout(Duration::from_secs(10), probe.output())
            .await
            .map_err(|_| {
                RuntimeError::failed(format!("{} /version did not answer", path.display()))
            })?
            .map_err(|e| RuntimeError::failed(format!("cannot run {}: {e}", path.display())))?;
        let text = String::from_utf8_lossy(&output.stdout);
        let version = freerdp::parse_version(&text).ok_or_else(|| {
            let errors = String::from_utf8_lossy(&output.stderr);
            let said = text
                .lines()
                .chain(errors.lines())
                .find(|l| !l.trim().is_empty());
            RuntimeError::not_supported(format!(
                "{} /version failed ({}){}; is a display available (DISPLAY or WAYLAND_DISPLAY)?",
                path.display(),
                output.status,
                said.map(|l| format!(": {}", validate::for_log(l)))
                    .unwrap_or_default()
            ))
        })?;
        if !(2..=3).contains(&version.major) {
            return Err(RuntimeError::not_supported(format!(
                "{} is FreeRDP {}.{}; radc supports FreeRDP 2 and 3",
                path.display(),
                version.major,
                version.minor
            )));
        }
        let client = client_of(&path, version);
        tracing::info!(path = %path.display(), "using FreeRDP {}.{}.{} ({client})", version.major, version.minor, version.patch);
        let found = FreeRdp {
            path,
            client,
            modified,
        };
        self.freerdp
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(found.path.clone(), found.clone());
        Ok(found)
    }
}

/// The clients to look for on `PATH`, in order: [`FREERDP_CANDIDATES`], with
/// the SDL client last for a RemoteApp, which it cannot show.
fn candidates(remote_app: bool) -> Vec<&'static str> {
    let mut names = FREERDP_CANDIDATES.to_vec();
    if remote_app {
        names.sort_by_key(|name| name.contains("sdl-freerdp"));
    }
    names
}

/// Which client `path` is: by its name, or else by the name of the file a
/// symbolic link leads to (`/usr/bin/xfreerdp` may be a link to the
/// client of the alternatives system).
fn client_of(path: &Path, version: Version) -> Client {
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let named = Client::from_program_name(&name(path), version);
    if named.flavour == freerdp::Flavour::Sdl {
        return named;
    }
    match std::fs::canonicalize(path) {
        Ok(target) => Client::from_program_name(&name(&target), version),
        Err(_) => named,
    }
}

fn unix_millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The user's trust settings file.
pub fn trust_path(user_config_dir: &Path) -> PathBuf {
    user_config_dir.join("trust.json")
}

/// User name and password for FreeRDP's stdin.
struct Credential {
    user: Zeroizing<String>,
    domain: Zeroizing<String>,
    /// `None` when only the account is known (subscribed with a user name,
    /// no password stored): FreeRDP then asks for the password itself.
    password: Option<Zeroizing<String>>,
}

impl Credential {
    /// `DOMAIN\user` is split; `user@domain` stays whole (FreeRDP passes a
    /// UPN on as it is).
    fn new(user: &str, password: Zeroizing<String>) -> Credential {
        Credential {
            password: Some(password),
            ..Credential::account(user)
        }
    }

    /// Only the account, no password.
    fn account(user: &str) -> Credential {
        let (domain, user) = match user.split_once('\\') {
            Some((domain, user)) => (domain, user),
            None => ("", user),
        };
        Credential {
            user: Zeroizing::new(user.to_owned()),
            domain: Zeroizing::new(domain.to_owned()),
            password: None,
        }
    }

    /// What FreeRDP's `/from-stdin:force` reads before it connects: the
    /// password, one line. (User name and domain go on the command line:
    /// they are not secret, and FreeRDP only prompts for them during NLA, so
    /// a server without NLA would never get them from stdin.) `None` if the
    /// password holds a line break, which FreeRDP would cut it at, or if
    /// there is no password.
    fn stdin_bytes(&self) -> Option<Zeroizing<Vec<u8>>> {
        let password = self.password.as_ref()?;
        if password.contains(['\n', '\r']) {
            return None;
        }
        let mut bytes = Zeroizing::new(Vec::with_capacity(password.len() + 1));
        bytes.extend_from_slice(password.as_bytes());
        bytes.push(b'\n');
        Some(bytes)
    }

    /// `/u:` and `/d:` for FreeRDP.
    fn identity_args(&self) -> Result<Vec<String>, RuntimeError> {
        let mut args = Vec::new();
        for (flag, value) in [("/u:", &self.user), ("/d:", &self.domain)] {
            if value.is_empty() {
                continue;
            }
            validate::identifier("user name", value, validate::MAX_USER_LEN)?;
            args.push(format!("{flag}{}", value.as_str()));
        }
        Ok(args)
    }
}

/// Ends a launched connection: SIGTERM to its process group now, SIGKILL
/// if it is still registered (its process not yet exited) after `grace`.
pub(crate) fn terminate(shared: &Arc<Shared>, target: &DisconnectTarget) -> Result<(), String> {
    if target.pid == 0 {
        return Err("the process id is unknown".into());
    }
    send_group(target.pid, rustix::process::Signal::TERM)
        .map_err(|e| format!("cannot signal process group {}: {e}", target.pid))?;
    let shared = shared.clone();
    let (cookie, pid) = (target.cookie, target.pid);
    tokio::spawn(async move {
        tokio::time::sleep(shared.config.grace).await;
        if shared.core().registry().get(cookie).is_some() {
            tracing::warn!(
                cookie = cookie.get(),
                pid,
                "still running after the grace period: killing it"
            );
            signal_group(pid, rustix::process::Signal::KILL);
        }
    });
    Ok(())
}

fn send_group(pid: u32, signal: rustix::process::Signal) -> std::io::Result<()> {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    rustix::process::kill_process_group(pid, signal).map_err(std::io::Error::from)
}

fn signal_group(pid: u32, signal: rustix::process::Signal) {
    if let Err(e) = send_group(pid, signal) {
        tracing::debug!(pid, "signal not delivered: {e}");
    }
}

/// What a watcher needs to know of its connection.
struct Watched {
    cookie: Cookie,
    pid: u32,
    workspace_id: String,
    display_name: String,
    /// Its output file's name ("" for none).
    output: String,
    /// Whether the output is FreeRDP's log, read until the connection is
    /// up.
    reads_log: bool,
    /// How to launch it again, from a notification of its failure.
    retry: Option<crate::notify::Retry>,
    /// Whether it signed in with the stored password.
    stored_password: bool,
}

/// How often a watcher looks at its connection's output file and
/// executable ([`crate::handover::Handover::check`]); the first look comes
/// sooner, once a wrapper script has had time to become FreeRDP.
const CHECK_EVERY: Duration = Duration::from_secs(30);
const FIRST_CHECK: Duration = Duration::from_secs(1);

/// How often FreeRDP's log is read while its connection comes up, and for
/// how long at most.
const READ_LOG_EVERY: Duration = Duration::from_millis(50);
const READ_LOG_FOR: Duration = Duration::from_secs(300);

/// The environment that makes FreeRDP (WinPR's logger) log at `INFO`, line
/// by line, to the connection's output file (`dir`/`name`): the console
/// would buffer its standard output in a file, and only `INFO` says when
/// the connection is up. The runtime sets these itself; a caller's or the
/// runtime's own `WLOG_*` never reach FreeRDP.
fn freerdp_log_environment(dir: &Path, name: &str) -> [(&'static str, OsString); 4] {
    [
        ("WLOG_LEVEL", "INFO".into()),
        ("WLOG_APPENDER", "FILE".into()),
        ("WLOG_FILEAPPENDER_OUTPUT_FILE_PATH", dir.into()),
        ("WLOG_FILEAPPENDER_OUTPUT_FILE_NAME", name.into()),
    ]
}

/// Waits for a launched process to exit (`exit`), then drops its
/// registration and record, and tells the user once if it failed. Until
/// the connection is up, reads FreeRDP's log for the moment it is, or for
/// why it failed.
async fn watch(
    shared: Arc<Shared>,
    handover: Arc<OnceLock<Arc<Handover>>>,
    outcomes: Arc<Outcomes>,
    exit: impl Future<Output = Exit>,
    watched: Watched,
) {
    let Watched {
        cookie,
        pid,
        workspace_id,
        display_name,
        output,
        reads_log,
        retry,
        stored_password,
    } = watched;
    let name = validate::for_log(&display_name);
    let mut exit = std::pin::pin!(exit);
    let mut watchdog = Watchdog::new(Limits::default(), Instant::now());
    let mut offset = 0;
    let mut reading = reads_log;
    let read_until = tokio::time::Instant::now() + READ_LOG_FOR;
    let mut read_log = |watchdog: &mut Watchdog| {
        let Some(handover) = handover.get() else {
            return false;
        };
        let mut up = false;
        for line in handover.new_lines(&output, &mut offset) {
            up |= watchdog.line(Instant::now(), &line) == Some(radc_rdp::progress::Event::Up);
        }
        up
    };
    let mut next_check = tokio::time::Instant::now() + FIRST_CHECK;
    // When the process the watchdog stopped is killed if still there.
    let mut kill_at: Option<tokio::time::Instant> = None;
    let exit = loop {
        let next_read = tokio::time::Instant::now() + READ_LOG_EVERY;
        tokio::select! {
            exit = &mut exit => break exit,
            _ = tokio::time::sleep_until(next_read), if reading => {
                if read_log(&mut watchdog) {
                    tracing::info!(cookie = cookie.get(), pid, "connection to {name} is up");
                    outcomes.settle(cookie, Outcome::Up);
                    reading = false;
                } else if let progress::Verdict::Stop(cause) = watchdog.check(Instant::now()) {
                    tracing::warn!(
                        cookie = cookie.get(),
                        pid,
                        "FreeRDP for {name} hangs ({cause}): ending its process group"
                    );
                    signal_group(pid, rustix::process::Signal::TERM);
                    kill_at = Some(tokio::time::Instant::now() + shared.config.grace);
                    reading = false;
                } else if tokio::time::Instant::now() > read_until {
                    reading = false;
                }
            }
            _ = tokio::time::sleep_until(kill_at.unwrap_or_else(tokio::time::Instant::now)), if kill_at.is_some() => {
                tracing::warn!(cookie = cookie.get(), pid, "still running after the grace period: killing it");
                signal_group(pid, rustix::process::Signal::KILL);
                kill_at = None;
            }
            _ = tokio::time::sleep_until(next_check) => {
                if let Some(handover) = handover.get() {
                    handover.check(cookie, pid, &output);
                }
                next_check += CHECK_EVERY;
            }
        }
    };
    if reading {
        // What it logged between the last read and its exit.
        read_log(&mut watchdog);
    }
    let progress = watchdog.progress();
    shared.closed(cookie);
    let (disconnecting, event) = {
        let mut core = shared.core();
        let disconnecting = core
            .registry()
            .get(cookie)
            .is_some_and(|r| r.state != radc_core::registry::State::Connected);
        let event = core.launched_exited(cookie, exit);
        shared.publish(&core, event.clone());
        (disconnecting, event)
    };
    let tail = handover
        .get()
        .map(|h| h.ended(cookie, &output))
        .unwrap_or_default();
    let failure = match watchdog.stopped() {
        Some(cause) => Some((cause.message_type(), cause.to_string())),
        None => (!disconnecting)
            .then(|| failure_of(exit, reads_log.then_some(progress)))
            .flatten(),
    };
    match &failure {
        Some((_, text)) if !progress.is_up() => {
            outcomes.settle(cookie, Outcome::Failed(text.clone()));
        }
        _ if !progress.is_up() && reads_log => outcomes.settle(
            cookie,
            Outcome::Failed(format!(
                "FreeRDP ended before the connection was established ({exit})"
            )),
        ),
        _ => outcomes.settle(cookie, Outcome::Ended(exit.to_string())),
    }
    let Some((message_type, text)) = failure else {
        tracing::info!(cookie = cookie.get(), %exit, "connection to {name} ended");
        return;
    };
    tracing::warn!(
        cookie = cookie.get(),
        %exit,
        output = %tail.join(" ⏎ "),
        "connection to {name} failed: {text}"
    );
    if stored_password && message_type == "authentication-failed" {
        // The next launch asks for the password instead.
        shared.password_was_refused(&workspace_id);
    }
    shared.tell(crate::notify::Notice::ConnectionFailed {
        resource: display_name.clone(),
        cause: text.clone(),
        retry,
    });
    let code = match exit {
        Exit::Code(c) => c as u32,
        Exit::Signal(s) => 0x100 | s as u32,
        Exit::Unknown => return,
    };
    if event.is_none() {
        return;
    }
    let Ok(error) = ErrorEvent::new(&workspace_id, LAUNCH_ERROR_TYPE, message_type, code) else {
        return;
    };
    if shared.core().error_events_mut().register(error) {
        shared.notice(&workspace_id, "error-event", format!("{name}: {text}"));
    }
}

/// How a launch turned out, for `AwaitLaunch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Started; FreeRDP has not said yet whether it is up.
    Connecting,
    /// The connection is established (or the process, not FreeRDP, runs).
    Up,
    /// It ended before coming up: why, in one sentence.
    Failed(String),
    /// It came up and has since ended (`exited:0`, …).
    Ended(String),
}

/// How long the outcome of an ended launch is kept for a late `AwaitLaunch`.
const OUTCOME_KEPT: Duration = Duration::from_secs(60);
/// Most outcomes kept at once.
const MAX_OUTCOMES: usize = 4096;

/// A launch's outcome so far, and when it ended (if it did).
type Tracked = (tokio::sync::watch::Sender<Outcome>, Option<Instant>);

/// The outcome of every live launch and of those that ended in the last
/// minute.
#[derive(Default)]
pub(crate) struct Outcomes {
    map: Mutex<HashMap<u32, Tracked>>,
}

impl Outcomes {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Tracked>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn begin(&self, cookie: Cookie, up: bool) {
        let mut map = self.map();
        let now = Instant::now();
        map.retain(|_, (_, ended)| ended.is_none_or(|at| now.duration_since(at) < OUTCOME_KEPT));
        if map.len() >= MAX_OUTCOMES {
            // The oldest ended ones go first; live ones always stay.
            let mut ended: Vec<(u32, Instant)> = map
                .iter()
                .filter_map(|(c, (_, at))| at.map(|at| (*c, at)))
                .collect();
            ended.sort_by_key(|(_, at)| *at);
            for (c, _) in ended.into_iter().take(map.len() + 1 - MAX_OUTCOMES) {
                map.remove(&c);
            }
        }
        let first = if up { Outcome::Up } else { Outcome::Connecting };
        map.insert(cookie.get(), (tokio::sync::watch::Sender::new(first), None));
    }

    fn settle(&self, cookie: Cookie, outcome: Outcome) {
        let mut map = self.map();
        if let Some((sender, ended)) = map.get_mut(&cookie.get()) {
            if !matches!(outcome, Outcome::Up) {
                *ended = Some(Instant::now());
            }
            sender.send_replace(outcome);
        }
    }

    async fn wait(&self, cookie: u32, timeout: Duration) -> Result<Outcome, RuntimeError> {
        let mut receiver = self
            .map()
            .get(&cookie)
            .map(|(sender, _)| sender.subscribe())
            .ok_or_else(|| {
                RuntimeError::not_found(format!(
                    "no launch has cookie {cookie}; `radc status` lists the connections"
                ))
            })?;
        let settled =
            tokio::time::timeout(timeout, receiver.wait_for(|o| *o != Outcome::Connecting))
                .await
                .ok()
                .and_then(Result::ok)
                .map(|outcome| outcome.clone());
        Ok(settled.unwrap_or_else(|| receiver.borrow().clone()))
    }
}

/// Whether an exit is a failure to tell the user about, and how: from what
/// FreeRDP logged (`progress`) and its exit status.
fn failure_of(
    exit: Exit,
    progress: Option<&radc_rdp::progress::Progress>,
) -> Option<(&'static str, String)> {
    let from_freerdp = |code: Option<i32>| {
        let cause = match progress {
            Some(progress) => progress.failure(code),
            None => code.and_then(radc_rdp::progress::describe_exit),
        };
        cause.map(|c| (c.message_type(), c.to_string()))
    };
    match exit {
        Exit::Code(code) => from_freerdp(Some(code)),
        Exit::Signal(signal) => Some((
            "connection-crashed",
            format!("the connection process was ended by signal {signal}"),
        )),
        // An adopted connection: how it ended went to its parent.
        Exit::Unknown => None,
    }
}

fn log_decision(
    workspace_id: &str,
    name: &str,
    decision: &Decision,
    publisher: Option<&Publisher>,
) {
    let workspace = validate::for_log(workspace_id);
    let known = match publisher {
        Some(Publisher::Verified) => "a verified publisher".to_owned(),
        Some(Publisher::Unknown(why)) => format!("an unknown publisher: {why}"),
        None => String::new(),
    };
    match decision {
        Decision::Unsigned => {
            tracing::warn!(%workspace, "the .rdp file of {name} is not signed; launching it anyway as the policy allows")
        }
        Decision::UntrustedSigner {
            publisher,
            thumbprint,
        } => tracing::warn!(
            %workspace,
            "the .rdp file of {name} is signed by {publisher:?} ({thumbprint}; {known}), whom nobody vouched for; \
             launching it anyway as the policy allows (`radc trust add {thumbprint}` trusts it)"
        ),
        Decision::TrustedByWorkspace { publisher } | Decision::TrustedByUser { publisher } => {
            tracing::info!(%workspace, "the .rdp file of {name} is signed by trusted publisher {publisher:?} ({known})")
        }
    }
}

/// What a launch reports about its file: signed or not, by whom, whether
/// certificate authorities vouch for that name, whether it is trusted.
fn trust_text(decision: &Decision, publisher: Option<&Publisher>) -> String {
    let known = match publisher {
        Some(Publisher::Verified) => ", a verified publisher",
        _ => ", an unknown publisher",
    };
    match decision {
        Decision::Unsigned => "unsigned".into(),
        Decision::UntrustedSigner { publisher, .. } => {
            format!("signed by {publisher}{known} (not trusted)")
        }
        Decision::TrustedByWorkspace { publisher } => {
            format!("signed by {publisher}{known} (trusted by the workspace)")
        }
        Decision::TrustedByUser { publisher } => {
            format!("signed by {publisher}{known} (trusted by you)")
        }
    }
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, RuntimeError> {
    let bytes = std::fs::read(path)
        .map_err(|e| RuntimeError::failed(format!("cannot read {}: {e}", path.display())))?;
    if bytes.len() > radc_rdp::MAX_FILE_BYTES {
        return Err(RuntimeError::invalid_args(format!(
            "{} is {} bytes; the limit is {}",
            path.display(),
            bytes.len(),
            radc_rdp::MAX_FILE_BYTES
        )));
    }
    Ok(bytes)
}

/// The first of `names` in the `PATH` FreeRDP is started with.
pub(crate) fn find_on_path(names: &[&str]) -> Option<PathBuf> {
    let path = safe_path(std::env::var_os("PATH"));
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| crate::fsutil::is_executable_file(candidate))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_apps_look_for_the_sdl_client_last() {
        assert_eq!(candidates(false), FREERDP_CANDIDATES);
        assert_eq!(candidates(true), ["xfreerdp3", "xfreerdp", "sdl-freerdp3"]);
    }

    #[test]
    fn the_password_goes_to_stdin_and_only_the_identity_to_argv() {
        let c = Credential::new("CORP\\alice", Zeroizing::new("pa ss".into()));
        assert_eq!(&**c.stdin_bytes().unwrap(), b"pa ss\n");
        assert_eq!(c.identity_args().unwrap(), ["/u:alice", "/d:CORP"]);
        let c = Credential::new("alice@corp.example", Zeroizing::new("x".into()));
        assert_eq!(c.identity_args().unwrap(), ["/u:alice@corp.example"]);
        let c = Credential::new("alice", Zeroizing::new("x\nmallory".into()));
        assert!(c.stdin_bytes().is_none());
        let c = Credential::new("al\tice", Zeroizing::new("x".into()));
        assert!(c.identity_args().is_err());
        let c = Credential::account("CORP\\alice");
        assert_eq!(c.identity_args().unwrap(), ["/u:alice", "/d:CORP"]);
        assert!(c.stdin_bytes().is_none(), "no password, nothing on stdin");
    }

    /// Every variable a process may get from the lists (PATH aside); the
    /// integration test in `crates/radc/tests/launch.rs` states them again,
    /// independently, at the API boundary.
    fn listed() -> Vec<&'static str> {
        radc_client::environment::passed_environment()
            .chain(RUNTIME_ONLY)
            .collect()
    }

    fn env_of(
        own: &[(&str, &str)],
        caller: &[(&str, &str)],
    ) -> std::collections::BTreeMap<&'static str, String> {
        let own: HashMap<String, OsString> = own
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        let caller: HashMap<String, String> = caller
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let pairs = launch_environment(|key| own.get(key).cloned(), &caller);
        let map: std::collections::BTreeMap<_, _> = pairs
            .iter()
            .map(|(k, v)| (*k, v.to_str().unwrap().to_owned()))
            .collect();
        assert_eq!(map.len(), pairs.len(), "each variable once: {pairs:?}");
        map
    }

    #[test]
    fn only_listed_variables_reach_a_launched_process() {
        let mut own: Vec<(&str, &str)> = listed().into_iter().map(|k| (k, "runtime")).collect();
        own.extend([
            ("PATH", "/usr/bin"),
            ("KRB5CCNAME", "KCM:"),
            ("TMPDIR", "/tmp/user/1000"),
            ("LD_PRELOAD", "/tmp/evil.so"),
            ("LD_LIBRARY_PATH", "/tmp"),
            ("http_proxy", "http://proxy:3128"),
            ("HTTPS_PROXY", "http://proxy:3128"),
            ("RADC_LOG", "debug"),
            ("GITHUB_TOKEN", "secret"),
            ("SSH_AUTH_SOCK", "/run/agent"),
            ("WLOG_LEVEL", "TRACE"),
        ]);
        let caller = [
            ("DISPLAY", ":7"),
            ("PATH", "/home/mallory/bin"),
            ("LD_PRELOAD", "/tmp/evil.so"),
            ("HOME", "/home/mallory"),
            ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/tmp/other"),
            ("GITHUB_TOKEN", "secret"),
        ];
        let env = env_of(&own, &caller);
        let allowed: Vec<&str> = listed().into_iter().chain(["PATH"]).collect();
        for key in env.keys() {
            assert!(allowed.contains(key), "{key} is not on the list");
        }
        assert_eq!(env["PATH"], "/usr/bin", "never the caller's PATH");
        assert_eq!(env["HOME"], "runtime");
        assert_eq!(env["DBUS_SESSION_BUS_ADDRESS"], "runtime");
        assert_eq!(env["DISPLAY"], ":7");
        assert_eq!(env["KRB5CCNAME"], "KCM:");
        assert_eq!(env["TMPDIR"], "/tmp/user/1000");
        // Every caller-settable variable is one `radc launch` sends.
        let passed: Vec<&str> = radc_client::environment::passed_environment().collect();
        for key in passed.iter() {
            assert!(!RUNTIME_ONLY.contains(key), "{key}");
        }
        for key in ["HOME", "PATH", "DBUS_SESSION_BUS_ADDRESS", "USER"] {
            assert!(!passed.contains(&key), "{key} is the runtime's alone");
        }
    }

    #[test]
    fn each_group_comes_whole_from_the_caller_or_whole_from_the_runtime() {
        let own = [
            ("DISPLAY", ":0"),
            ("WAYLAND_DISPLAY", "wayland-0"),
            ("XDG_SESSION_TYPE", "wayland"),
            ("LANG", "de_DE.UTF-8"),
            ("LC_ALL", "C"),
            ("PULSE_SERVER", "unix:/run/pulse"),
            ("XDG_RUNTIME_DIR", "/run/user/1000"),
            ("TZ", "Europe/Berlin"),
        ];
        // The caller on X11 with its own locale: none of the runtime's
        // display or locale is mixed in; sound and the rest fall back.
        let env = env_of(
            &own,
            &[
                ("DISPLAY", ":5"),
                ("XDG_SESSION_TYPE", "x11"),
                ("LANG", "fr_FR.UTF-8"),
            ],
        );
        assert_eq!(env.get("DISPLAY").map(String::as_str), Some(":5"));
        assert_eq!(env.get("XDG_SESSION_TYPE").map(String::as_str), Some("x11"));
        assert!(!env.contains_key("WAYLAND_DISPLAY"), "{env:?}");
        assert_eq!(env.get("LANG").map(String::as_str), Some("fr_FR.UTF-8"));
        assert!(!env.contains_key("LC_ALL"), "{env:?}");
        assert_eq!(env["PULSE_SERVER"], "unix:/run/pulse");
        assert_eq!(env["XDG_RUNTIME_DIR"], "/run/user/1000");
        assert_eq!(env["TZ"], "Europe/Berlin");

        // A caller that sends nothing (StartRemoteApplication) gets the
        // runtime's session.
        let env = env_of(&own, &[]);
        assert_eq!(env["DISPLAY"], ":0");
        assert_eq!(env["WAYLAND_DISPLAY"], "wayland-0");
        assert_eq!(env["LC_ALL"], "C");

        // Empty and oversized values count as not sent.
        let long = "x".repeat(MAX_ENVIRONMENT_VALUE + 1);
        let env = env_of(&own, &[("DISPLAY", ""), ("LANG", &long), ("TZ", "UTC")]);
        assert_eq!(env["DISPLAY"], ":0");
        assert_eq!(env["LANG"], "de_DE.UTF-8");
        assert_eq!(env["TZ"], "UTC");
    }

    #[test]
    fn path_keeps_only_absolute_directories() {
        let env = env_of(&[("PATH", ".:/usr/local/bin::bin:/usr/bin")], &[]);
        assert_eq!(env["PATH"], "/usr/local/bin:/usr/bin");
        assert_eq!(env_of(&[("PATH", ".:bin")], &[])["PATH"], DEFAULT_PATH);
        assert_eq!(env_of(&[], &[])["PATH"], DEFAULT_PATH);
        // Nothing set, nothing invented but PATH.
        assert_eq!(env_of(&[], &[]).len(), 1);
    }

    #[test]
    fn programs_and_scripts_are_unsafe_documents_are_not() {}
}
