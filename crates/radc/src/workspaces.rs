//! `radc subscribe`, `workspaces`, `resources`, `refresh`, `unsubscribe`.

use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use radc_feed::ResourceType;
use radc_subscribe::desktop::Roots;
use radc_subscribe::dns::Nameserver;
use radc_subscribe::http::Credentials;
use radc_subscribe::secrets::{SecretError, SecretStore};
use radc_subscribe::store::{Store, WorkspaceRecord};
use radc_subscribe::workspace::{self, Options, Outcome, Progress, resource_count, stored_feed};
use serde::Serialize;
use zeroize::Zeroizing;

/// Connection settings shared by subscribe and refresh.
#[derive(clap::Args, Debug, Clone)]
pub struct Network {
    /// Trust the CA certificates in this PEM file too (deployments with a
    /// private CA).
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Allow plain http:// feeds (test servers only: the password's
    /// challenge and the sign-in cookie travel unencrypted).
    #[arg(long)]
    pub allow_http: bool,
    /// Ask this DNS server for the e-mail discovery record (IP:PORT).
    #[arg(long, value_name = "IP:PORT")]
    pub resolver: Option<SocketAddr>,
}

impl Network {
    fn options(&self) -> Result<Options> {
        let mut options = Options::default();
        options.http.allow_http = self.allow_http;
        options.http.timeout = Duration::from_secs(30);
        // Absolute, since it is stored for later refreshes.
        options.ca_file = self
            .ca_file
            .as_ref()
            .map(|path| {
                std::fs::canonicalize(path)
                    .with_context(|| format!("cannot read the CA file {}", path.display()))
            })
            .transpose()?;
        options.nameserver = self.resolver.map_or(Nameserver::System, Nameserver::At);
        options.desktop = Roots::from_environment();
        Ok(options)
    }
}

fn store() -> Result<Store> {
    Ok(Store::from_environment()?)
}

/// Reads the password: from standard input with `--password-stdin`, else
/// from a prompt on the terminal (never echoed, never an argument).
fn read_password(user: &str, from_stdin: bool) -> Result<Zeroizing<String>> {
    if from_stdin {
        let mut line = Zeroizing::new(String::new());
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        let trimmed = line.trim_end_matches(['\n', '\r']).len();
        line.truncate(trimmed);
        return Ok(line);
    }
    if !std::io::stdin().is_terminal() {
        bail!("no password: pass it on standard input with --password-stdin");
    }
    let password = rpassword::prompt_password(format!("Password for {user}: "))
        .context("cannot read the password")?;
    Ok(Zeroizing::new(password))
}

/// Shows download progress on a terminal, one updating line.
fn progress_line() -> impl Fn(Progress) + Sync {
    let on_terminal = std::io::stderr().is_terminal();
    move |p: Progress| {
        if on_terminal && p.total > 0 {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\rDownloading files: {}/{}", p.done, p.total);
            if p.done == p.total {
                let _ = writeln!(err);
            }
        }
    }
}

pub async fn subscribe(
    target: &str,
    username: Option<&str>,
    password_stdin: bool,
    default_handlers: bool,
    network: &Network,
    json: bool,
) -> Result<ExitCode> {
    let options = network.options()?;
    let credentials = match username {
        Some(user) => Some(Credentials::parse(
            user,
            read_password(user, password_stdin)?,
        )?),
        None if password_stdin => bail!("--password-stdin needs --username"),
        None => None,
    };
    let store = store()?;
    let outcome = workspace::subscribe(
        &store,
        target,
        credentials.as_ref(),
        &options,
        &progress_line(),
    )
    .await
    .map_err(|e| {
        anyhow::anyhow!(match e {
            radc_subscribe::workspace::WorkspaceError::Http(
                radc_subscribe::http::HttpError::CredentialsRequired { .. },
            ) => format!("{e}: run again with --username 'DOMAIN\\user'"),
            other => other.to_string(),
        })
    })?;
    let mut notes = outcome.warnings.clone();
    if default_handlers {
        workspace::set_default_handlers(&store, &outcome.record.id, true, &options)?;
    }
    if let Some(credentials) = &credentials
        && let Some(note) = remember(&outcome.record, credentials).await
    {
        notes.push(note);
    }
    tell_runtime().await;
    report(&outcome, json, &notes)
}

/// Tells the runtime (starting it if needed) that the stored workspaces
/// changed, so it schedules their refreshes. Best effort: without a session
/// bus there is no runtime to tell.
async fn tell_runtime() {
    let told = async {
        let conn = crate::autostart::connect(Duration::from_secs(10)).await?;
        radc_client::proxy::WorkspacesProxy::new(&conn)
            .await?
            .reload()
            .await?;
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = told {
        tracing::debug!("the runtime was not told about the change: {e:#}");
    }
}

/// Stores the password for refreshes; returns a note if it could not.
async fn remember(record: &WorkspaceRecord, credentials: &Credentials) -> Option<String> {
    let result = async {
        let secrets = SecretStore::connect().await?;
        secrets
            .store(record, &credentials.login_name(), credentials.password())
            .await
    }
    .await;
    result.err().map(|e| match e {
        SecretError::Unavailable => e.to_string(),
        other => format!("the password was not stored: {other}"),
    })
}

pub async fn refresh(
    workspace_filter: Option<&str>,
    revalidate: bool,
    network: &Network,
    json: bool,
) -> Result<ExitCode> {
    let options = Options {
        revalidate,
        ..network.options()?
    };
    let store = store()?;
    let records = records(&store, workspace_filter)?;
    let mut failed = 0;
    let mut reports = Vec::new();
    for record in records {
        let credentials = match &record.username {
            Some(user) => stored_credentials(&record, user).await?,
            None => None,
        };
        let id = record.id.clone();
        match workspace::refresh_record(
            &store,
            record,
            credentials.as_ref(),
            &options,
            &progress_line(),
        )
        .await
        {
            Ok(outcome) => {
                let changes = outcome.changes.clone().unwrap_or_default();
                if !json {
                    println!(
                        "{}: {} resources ({} added, {} removed, {} changed)",
                        outcome.record.name,
                        outcome.resources,
                        changes.added.len(),
                        changes.removed.len(),
                        changes.changed.len()
                    );
                }
                reports.push(workspace_json(&outcome.record, outcome.resources));
                // A large workspace's feed and record are tens of thousands
                // of allocations; the command ends soon and the kernel takes
                // them back at once, faster than freeing them one by one.
                std::mem::forget(outcome);
            }
            Err(e) => {
                failed += 1;
                // With --json the report's last_error says it.
                if !json {
                    eprintln!("radc: {id}: {e}");
                }
                // What is still stored, as `radc workspaces` would show it
                // (nothing, if it was unsubscribed meanwhile).
                if let Some(record) = store.record(&id)? {
                    let resources = resource_count(&store, &record);
                    reports.push(workspace_json(&record, resources));
                }
            }
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The stored password of `user`; without one, none when a Kerberos ticket
/// can sign in instead, else the password asked on the terminal.
async fn stored_credentials(record: &WorkspaceRecord, user: &str) -> Result<Option<Credentials>> {
    let stored = match SecretStore::connect().await {
        Ok(secrets) => secrets.load(record, user).await.ok().flatten(),
        Err(_) => None,
    };
    let password = match stored {
        Some(password) => password,
        None if radc_subscribe::kerberos::has_ticket() => return Ok(None),
        None => read_password(user, false).with_context(|| {
            format!(
                "{} needs the password of {user} (or a Kerberos ticket: run kinit)",
                record.id
            )
        })?,
    };
    Ok(Some(Credentials::parse(user, password)?))
}

fn records(store: &Store, filter: Option<&str>) -> Result<Vec<WorkspaceRecord>> {
    let mut out = Vec::new();
    for entry in store.list()? {
        match entry {
            Ok(record) => out.push(record),
            Err(e) => eprintln!("radc: {e}"),
        }
    }
    if let Some(wanted) = filter {
        out.retain(|r| r.id == wanted || r.name.eq_ignore_ascii_case(wanted));
        if out.is_empty() {
            return Err(crate::commands::not_found(format!(
                "no workspace {wanted:?} is subscribed; `radc workspaces` lists them"
            )));
        }
    }
    Ok(out)
}

#[derive(Serialize)]
struct WorkspaceJson {
    id: String,
    name: String,
    url: String,
    username: Option<String>,
    resource_count: usize,
    /// Like every time in radc's JSON: milliseconds since the Unix epoch.
    last_refresh_unix_ms: Option<u64>,
    last_error: Option<String>,
}

fn workspace_json(record: &WorkspaceRecord, resources: usize) -> WorkspaceJson {
    WorkspaceJson {
        id: record.id.clone(),
        name: record.name.clone(),
        url: record.feed_url.clone(),
        username: record.username.clone(),
        resource_count: resources,
        last_refresh_unix_ms: record.last_refresh.map(|s| s.saturating_mul(1000)),
        last_error: record.last_error.clone(),
    }
}

fn report(outcome: &Outcome, json: bool, notes: &[String]) -> Result<ExitCode> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&workspace_json(&outcome.record, outcome.resources))?
        );
    } else {
        println!(
            "Subscribed to {} ({}): {} resources.",
            outcome.record.name, outcome.record.id, outcome.resources
        );
    }
    for note in notes {
        eprintln!("radc: note: {note}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn workspaces(json: bool) -> Result<ExitCode> {
    let store = store()?;
    let rows: Vec<WorkspaceJson> = records(&store, None)?
        .iter()
        .map(|r| workspace_json(r, resource_count(&store, r)))
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if rows.is_empty() {
        println!("No workspaces. Subscribe with: radc subscribe https://rdweb.example.com");
    } else {
        for row in rows {
            println!(
                "{} ({}): {} resources",
                row.name, row.id, row.resource_count
            );
            println!("  feed: {}", row.url);
            match row.last_refresh_unix_ms {
                Some(at) => println!(
                    "  last refreshed {} ago",
                    crate::commands::age(Duration::from_millis(now_ms().saturating_sub(at)))
                ),
                None => println!("  never refreshed"),
            }
            if let Some(error) = row.last_error {
                println!("  last refresh failed: {error}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct ResourceJson {
    workspace_id: String,
    id: String,
    alias: Option<String>,
    title: String,
    #[serde(rename = "type")]
    kind: String,
    show_by_default: bool,
    /// Whether it is in the application menu (the user's choice, else
    /// `show_by_default`).
    in_menu: bool,
    file_extensions: Vec<String>,
    folders: Vec<String>,
    rdp_file: Option<PathBuf>,
}

pub fn resources(workspace_filter: Option<&str>, json: bool) -> Result<ExitCode> {
    let store = store()?;
    let mut rows = Vec::new();
    let mut names = Vec::new();
    for record in records(&store, workspace_filter)? {
        names.push((record.id.clone(), record.name.clone()));
        let Some(feed) = stored_feed(&store, &record) else {
            eprintln!(
                "radc: {}: the stored feed cannot be read; run `radc refresh`",
                record.id
            );
            continue;
        };
        for resource in &feed.resources {
            let rdp_file = resource
                .hosting_terminal_servers
                .iter()
                .filter_map(|h| h.resource_file.as_ref()?.url.as_ref())
                .find_map(|url| store.file_path(&record, url.as_str()));
            rows.push(ResourceJson {
                workspace_id: record.id.clone(),
                id: resource.id.clone(),
                alias: resource.alias.clone(),
                title: resource.title.clone(),
                kind: match &resource.resource_type {
                    ResourceType::RemoteApp => "RemoteApp".into(),
                    ResourceType::Desktop => "Desktop".into(),
                    ResourceType::Other(other) => other.clone(),
                },
                show_by_default: resource.show_by_default,
                in_menu: radc_subscribe::desktop::is_shown(&record, resource),
                file_extensions: resource
                    .file_extensions
                    .iter()
                    .map(|e| e.name.clone())
                    .collect(),
                folders: resource.folders.clone(),
                rdp_file,
            });
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if rows.is_empty() {
        println!("No resources.");
    } else {
        print_resources(&rows, &names);
    }
    Ok(ExitCode::SUCCESS)
}

/// One table per workspace: type, title, whether it is in the menu, the
/// file types it opens, its folders and its id.
fn print_resources(rows: &[ResourceJson], names: &[(String, String)]) {
    let mut first = true;
    for (id, name) in names {
        let mine: Vec<&ResourceJson> = rows.iter().filter(|r| &r.workspace_id == id).collect();
        if mine.is_empty() {
            continue;
        }
        if !first {
            println!();
        }
        first = false;
        let count = mine.len();
        println!(
            "{} ({id}): {count} resource{}",
            name.escape_debug(),
            if count == 1 { "" } else { "s" }
        );
        let mut table = vec![["TYPE", "TITLE", "MENU", "OPENS", "FOLDERS", "ID"].map(String::from)];
        let or_dash = |s: String| if s.is_empty() { "-".to_owned() } else { s };
        for r in mine {
            table.push([
                r.kind.escape_debug().to_string(),
                r.title.escape_debug().to_string(),
                if r.in_menu { "shown" } else { "hidden" }.to_owned(),
                or_dash(r.file_extensions.join(",")),
                or_dash(
                    r.folders
                        .iter()
                        .map(|f| f.escape_debug().to_string())
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                r.id.escape_debug().to_string(),
            ]);
        }
        crate::commands::print_table(&table);
    }
}

pub async fn unsubscribe(workspace: &str, json: bool) -> Result<ExitCode> {
    let store = store()?;
    let record = records(&store, Some(workspace))?.remove(0);
    let options = Options {
        desktop: Roots::from_environment(),
        ..Options::default()
    };
    workspace::unsubscribe(&store, &record.id, &options)?;
    // A password is only ever stored with a user name: a workspace without
    // one has nothing in the Secret Service, which need not even run.
    if record.username.is_some() {
        let forgotten = match SecretStore::connect().await {
            Ok(secrets) => secrets.forget(&record.id).await.map(drop),
            Err(e) => Err(e),
        };
        match forgotten {
            Ok(()) | Err(SecretError::Unavailable) => {}
            Err(e) => eprintln!("radc: note: the stored password was not removed: {e}"),
        }
    }
    tell_runtime().await;
    crate::commands::done(
        json,
        format!("Unsubscribed from {} ({}).", record.name, record.id),
        serde_json::json!({"workspace_id": record.id, "name": record.name, "unsubscribed": true}),
    );
    Ok(ExitCode::SUCCESS)
}

/// `radc show` / `radc hide`.
pub fn set_shown(
    resource: &str,
    workspace_filter: Option<&str>,
    show: bool,
    json: bool,
) -> Result<ExitCode> {
    let store = store()?;
    let options = Options {
        desktop: Roots::from_environment(),
        ..Options::default()
    };
    let matching: Vec<WorkspaceRecord> = records(&store, workspace_filter)?
        .into_iter()
        .filter(|record| {
            stored_feed(&store, record).is_some_and(|feed| {
                feed.resources
                    .iter()
                    .any(|r| r.id == resource || r.title.eq_ignore_ascii_case(resource))
            })
        })
        .collect();
    let record = match matching.as_slice() {
        [one] => one,
        [] => {
            return Err(crate::commands::not_found(format!(
                "no resource {resource:?} is subscribed; `radc resources` lists them"
            )));
        }
        many => bail!(
            "{resource:?} is in {} workspaces ({}); name one with --workspace",
            many.len(),
            many.iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let id = workspace::set_shown(&store, &record.id, resource, show, &options)?;
    crate::commands::done(
        json,
        format!(
            "{id} ({}) is {} the menu.",
            record.name,
            if show { "now in" } else { "no longer in" }
        ),
        serde_json::json!({"workspace_id": record.id, "id": id, "in_menu": show}),
    );
    Ok(ExitCode::SUCCESS)
}

/// `radc default-handlers WORKSPACE on|off`.
pub fn default_handlers(workspace_filter: &str, on: bool, json: bool) -> Result<ExitCode> {
    let store = store()?;
    let record = records(&store, Some(workspace_filter))?.remove(0);
    let options = Options {
        desktop: Roots::from_environment(),
        ..Options::default()
    };
    workspace::set_default_handlers(&store, &record.id, on, &options)?;
    crate::commands::done(
        json,
        format!(
            "{}'s RemoteApps are {} the default applications for their file types.",
            record.name,
            if on { "now" } else { "no longer" }
        ),
        serde_json::json!({"workspace_id": record.id, "default_handlers": on}),
    );
    Ok(ExitCode::SUCCESS)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
