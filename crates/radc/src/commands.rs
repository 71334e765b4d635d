//! What each subcommand does.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use radc_client::proxy::{
    RuntimeProxy, WorkspaceProxy, WorkspaceResTypeRegistryProxy, WorkspacesProxy,
};
use serde::Serialize;
use zbus::Connection;

use crate::{Command, DaemonArgs, EXIT_ALREADY_RUNNING, EXIT_PARTIAL, RestypeCommand, autostart};

/// How long a command waits for the runtime to answer a call.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Daemon(args) => daemon(args).await,
        Command::Status { json } => status(json).await,
        Command::Tray => crate::tray::run().await,
        Command::Setup(args) => crate::setup::run(args).await,
        Command::Disconnect {
            workspace,
            timeout,
            json,
        } => disconnect(&workspace, timeout, json).await,
        Command::Restype(cmd) => restype(cmd).await,
        Command::Launch {
            workspace,
            resource,
            files,
            detach,
            timeout,
            wait,
            json,
        } => {
            let until = if detach {
                crate::launch::Until::Started
            } else if wait {
                crate::launch::Until::Ended(timeout)
            } else {
                crate::launch::Until::Up(timeout)
            };
            crate::launch::launch(&workspace, &resource, &files, until, json).await
        }
        Command::Trust(cmd) => crate::launch::trust(cmd),
        Command::Subscribe {
            target,
            username,
            password_stdin,
            default_handlers,
            network,
            json,
        } => {
            crate::workspaces::subscribe(
                &target,
                username.as_deref(),
                password_stdin,
                default_handlers,
                &network,
                json,
            )
            .await
        }
        Command::DefaultHandlers {
            workspace,
            state,
            json,
        } => crate::workspaces::default_handlers(&workspace, state == "on", json),
        Command::Workspaces { json } => crate::workspaces::workspaces(json),
        Command::Resources { workspace, json } => {
            crate::workspaces::resources(workspace.as_deref(), json)
        }
        Command::Refresh {
            workspace,
            revalidate,
            network,
            json,
        } => crate::workspaces::refresh(workspace.as_deref(), revalidate, &network, json).await,
        Command::Reconnect { workspace, json } => {
            crate::reconnect::reconnect(workspace.as_deref(), json).await
        }
        Command::Unsubscribe { workspace, json } => {
            crate::workspaces::unsubscribe(&workspace, json).await
        }
        Command::Show {
            resource,
            workspace,
            json,
        } => crate::workspaces::set_shown(&resource, workspace.as_deref(), true, json),
        Command::Hide {
            resource,
            workspace,
            json,
        } => crate::workspaces::set_shown(&resource, workspace.as_deref(), false, json),
    }
}

async fn daemon(args: DaemonArgs) -> Result<ExitCode> {
    let settings = args
        .settings
        .context("the settings were not read before the runtime started")?;
    let mut config = radc_runtime::Config::from_environment()?;
    config.disconnect_timeout = settings.disconnect_timeout;
    config.grace = settings.grace;
    config.probe_timeout = settings.probe_timeout;
    config.machine_config_dir = settings.machine_config_dir;
    config.refresh_interval = settings.refresh_interval;
    config.freerdp = settings.freerdp;
    config.reconnect_at_start = settings.reconnect_at_start;
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler can be installed");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    match radc_runtime::run(config, shutdown).await {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e @ radc_runtime::Error::AlreadyRunning { .. }) => {
            eprintln!("radc: {e}; nothing to do");
            Ok(ExitCode::from(EXIT_ALREADY_RUNNING))
        }
        Err(e) => Err(e.into()),
    }
}

/// An error the runtime answered with, of radc's contract: shown as its
/// message (which already starts with the HRESULT), and kept typed so
/// `--json` can report its code.
#[derive(Debug)]
pub(crate) struct Refused {
    pub kind: radc_client::ErrorKind,
    pub message: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refused {}

/// What a command that changes something prints when it worked: `text`
/// for a person, or `value` as JSON.
pub(crate) fn done(json: bool, text: String, value: serde_json::Value) {
    if json {
        println!("{value}");
    } else {
        println!("{text}");
    }
}

/// A "not found" error of the command line itself, in the same form and
/// with the same code as the runtime's: `no THING "NAME" …; \`radc …\`
/// lists them`.
pub(crate) fn not_found(message: String) -> anyhow::Error {
    Refused {
        kind: radc_client::ErrorKind::NotFound,
        message: radc_core::RuntimeError::not_found(message).to_string(),
    }
    .into()
}

/// Shows what a remote error said, without the D-Bus error name when it is
/// one of ours.
pub(crate) fn explain(e: zbus::Error) -> anyhow::Error {
    match radc_client::Error::from(e) {
        radc_client::Error::Refused {
            kind: Some(kind),
            message,
            ..
        } => Refused { kind, message }.into(),
        other => other.into(),
    }
}

#[derive(Serialize)]
struct StatusJson {
    runtime_pid: u32,
    workspaces: Vec<WorkspaceJson>,
}

#[derive(Serialize)]
struct WorkspaceJson {
    id: String,
    name: String,
    /// Whether the workspace has a feed subscription (else it exists only
    /// through its live connections).
    subscribed: bool,
    connections: Vec<ConnectionJson>,
}

#[derive(Serialize)]
struct ConnectionJson {
    cookie: u32,
    display_name: String,
    /// `built-in` (launched by radc) or `custom` (a client that registered).
    kind: String,
    state: String,
    pid: u32,
    client: String,
    registered_at_unix_ms: u64,
}

async fn status(json: bool) -> Result<ExitCode> {
    let conn = autostart::connect(CALL_TIMEOUT).await?;
    let runtime = RuntimeProxy::new(&conn).await?;
    let workspace = WorkspaceProxy::new(&conn).await?;
    let rows = runtime.list_connections().await.map_err(explain)?;
    let pid = workspace.get_process_id().await.map_err(explain)?;
    let subscribed = WorkspacesProxy::new(&conn)
        .await?
        .list_workspaces()
        .await
        .map_err(explain)?;
    // Every subscribed workspace, connected or not, and every workspace
    // with connections; by id.
    let mut by_workspace: BTreeMap<String, WorkspaceJson> = BTreeMap::new();
    for (id, name, ..) in subscribed {
        by_workspace.insert(
            id.clone(),
            WorkspaceJson {
                id,
                name,
                subscribed: true,
                connections: Vec::new(),
            },
        );
    }
    for (cookie, ws, name, display_name, state, pid, client, at, kind) in rows {
        by_workspace
            .entry(ws.clone())
            .or_insert_with(|| WorkspaceJson {
                id: ws,
                name,
                subscribed: false,
                connections: Vec::new(),
            })
            .connections
            .push(ConnectionJson {
                cookie,
                display_name,
                kind,
                state,
                pid,
                client,
                registered_at_unix_ms: at,
            });
    }
    let mut workspaces: Vec<WorkspaceJson> = by_workspace.into_values().collect();
    workspaces.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    let report = StatusJson {
        runtime_pid: pid,
        workspaces,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    if report.workspaces.is_empty() {
        println!("No live connections and no subscribed workspaces. (runtime pid {pid})");
        return Ok(ExitCode::SUCCESS);
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    for ws in &report.workspaces {
        let count = ws.connections.len();
        let title = if ws.name == ws.id {
            ws.id.clone()
        } else {
            format!("{} ({})", ws.name, ws.id)
        };
        if count == 0 {
            println!("{title}: no connections");
            continue;
        }
        println!(
            "{title}: {count} connection{}",
            if count == 1 { "" } else { "s" }
        );
        let mut table = vec![
            [
                "COOKIE", "RESOURCE", "KIND", "STATE", "PID", "CLIENT", "SINCE",
            ]
            .map(String::from),
        ];
        for c in &ws.connections {
            table.push([
                c.cookie.to_string(),
                c.display_name.escape_debug().to_string(),
                c.kind.clone(),
                c.state.clone(),
                if c.pid == 0 {
                    "-".into()
                } else {
                    c.pid.to_string()
                },
                if c.client.is_empty() {
                    "radc".into()
                } else {
                    c.client.clone()
                },
                format!(
                    "{} ago",
                    age(Duration::from_millis(
                        now.saturating_sub(c.registered_at_unix_ms),
                    ))
                ),
            ]);
        }
        print_table(&table);
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct DisconnectJson {
    workspace_id: String,
    ok: bool,
    results: Vec<OutcomeJson>,
}

#[derive(Serialize)]
struct OutcomeJson {
    cookie: u32,
    display_name: String,
    outcome: String,
    detail: String,
}

async fn disconnect(workspace: &str, timeout: Option<Duration>, json: bool) -> Result<ExitCode> {
    // Clients are asked concurrently: the call takes at most about one
    // client timeout.
    let call_timeout = CALL_TIMEOUT.max(timeout.unwrap_or_default() + Duration::from_secs(10));
    let conn = autostart::connect(call_timeout).await?;
    let runtime = RuntimeProxy::new(&conn).await?;
    // Names are for the report; the rows only carry cookies.
    let names: BTreeMap<u32, String> = runtime
        .list_connections()
        .await
        .map_err(explain)?
        .into_iter()
        .map(|row| (row.0, row.3))
        .collect();
    let timeout_ms = timeout.map_or(0, |t| (t.as_millis().clamp(1, u32::MAX.into())) as u32);
    let (workspace_id, rows) = runtime
        .disconnect(workspace, timeout_ms)
        .await
        .map_err(explain)?;
    let results: Vec<OutcomeJson> = rows
        .into_iter()
        .map(|(cookie, outcome, detail)| OutcomeJson {
            cookie,
            display_name: names.get(&cookie).cloned().unwrap_or_default(),
            outcome,
            detail,
        })
        .collect();
    let ok = results.iter().all(|r| r.outcome == "ok");
    let report = DisconnectJson {
        workspace_id,
        ok,
        results,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if report.results.is_empty() {
        println!(
            "{}: no live connections; cached credentials cleared.",
            report.workspace_id
        );
    } else {
        let failed = report.results.iter().filter(|r| r.outcome != "ok").count();
        let total = report.results.len();
        let clients = if total == 1 { "client" } else { "clients" };
        if failed == 0 {
            println!("{}: {total} {clients} disconnected.", report.workspace_id);
        } else {
            println!(
                "{}: {failed} of {total} {clients} did not disconnect cleanly.",
                report.workspace_id
            );
        }
        let mut table = vec![["COOKIE", "RESOURCE", "OUTCOME", "DETAIL"].map(String::from)];
        for r in &report.results {
            table.push([
                r.cookie.to_string(),
                r.display_name.escape_debug().to_string(),
                r.outcome.clone(),
                r.detail.escape_debug().to_string(),
            ]);
        }
        print_table(&table);
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PARTIAL)
    })
}

#[derive(Serialize)]
struct RestypeJson {
    extension: String,
    launcher: String,
}

async fn restype(cmd: RestypeCommand) -> Result<ExitCode> {
    let conn: Connection = autostart::connect(CALL_TIMEOUT).await?;
    let registry = WorkspaceResTypeRegistryProxy::new(&conn).await?;
    match cmd {
        RestypeCommand::Add {
            extension,
            launcher,
            scope,
            json,
        } => {
            registry
                .add_resource_type(scope.machine_wide, &extension, &launcher)
                .await
                .map_err(explain)?;
            done(
                json,
                format!("{extension} now opens with {launcher}."),
                serde_json::json!({"extension": extension, "launcher": launcher, "machine_wide": scope.machine_wide}),
            );
        }
        RestypeCommand::Modify {
            extension,
            launcher,
            scope,
            json,
        } => {
            registry
                .modify_resource_type(scope.machine_wide, &extension, &launcher)
                .await
                .map_err(explain)?;
            done(
                json,
                format!("{extension} now opens with {launcher}."),
                serde_json::json!({"extension": extension, "launcher": launcher, "machine_wide": scope.machine_wide}),
            );
        }
        RestypeCommand::Remove {
            extension,
            scope,
            json,
        } => {
            registry
                .delete_resource_type(scope.machine_wide, &extension)
                .await
                .map_err(explain)?;
            done(
                json,
                format!("{extension} removed."),
                serde_json::json!({"extension": extension, "removed": true, "machine_wide": scope.machine_wide}),
            );
        }
        RestypeCommand::List { scope, json } => {
            let mut entries = Vec::new();
            for extension in registry
                .get_registered_file_extensions(scope.machine_wide)
                .await
                .map_err(explain)?
            {
                let launcher = registry
                    .get_resource_type_info(scope.machine_wide, &extension)
                    .await
                    .map_err(explain)
                    .with_context(|| format!("reading {extension}"))?;
                entries.push(RestypeJson {
                    extension,
                    launcher,
                });
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else if entries.is_empty() {
                println!(
                    "No resource types registered{}.",
                    if scope.machine_wide {
                        " machine-wide"
                    } else {
                        ""
                    }
                );
            } else {
                let mut table = vec![["EXTENSION", "LAUNCHER"].map(String::from)];
                table.extend(entries.into_iter().map(|e| [e.extension, e.launcher]));
                print_table(&table);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86400, (s % 86400) / 3600),
    }
}

pub(crate) fn print_table<const N: usize>(rows: &[[String; N]]) {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        println!("  {}", line.join("  ").trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_naturally() {
        assert_eq!(age(Duration::from_secs(5)), "5s");
        assert_eq!(age(Duration::from_secs(65)), "1m05s");
        assert_eq!(age(Duration::from_secs(3 * 3600 + 120)), "3h02m");
        assert_eq!(age(Duration::from_secs(90000)), "1d01h");
    }
}
