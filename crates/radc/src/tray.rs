//! `radc tray`: the workspaces in the panel, as a StatusNotifierItem
//! (`org.kde.StatusNotifierItem`, the tray protocol of KDE, GNOME with
//! AppIndicator support, XFCE and waybar) with a `com.canonical.dbusmenu`
//! menu.
//!
//! The tray is a pure client of the runtime's D-Bus API: it reads
//! `Workspaces1.ListWorkspaces`, `Workspaces1.ListResources` and
//! `Runtime1.ListConnections`, and reads them again only when a signal says
//! something changed (`ResourceAdded`, `ResourceRemoved`,
//! `WorkspacesChanged`, and `NameOwnerChanged` of `org.radc.Runtime` when
//! the runtime restarts). It never polls and holds no timer: between two
//! signals it does not wake up. Every action in the menu is one call of the
//! runtime's API.
//!
//! The icon tells the state (see [`Condition`]): idle, connected, or a
//! problem. Idle is `Passive`, which panels may hide; that is the
//! protocol's way of saying there is nothing to show.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use futures_util::StreamExt;
use ksni::menu::{StandardItem, SubMenu};
use ksni::{MenuItem, Status, ToolTip, TrayMethods};
use radc_client::names;
use radc_client::proxy::{
    ConnectionRow, RuntimeProxy, WorkspaceRegistrationProxy, WorkspaceRow, WorkspacesProxy,
};
use tokio::sync::mpsc;
use zbus::Connection;

use crate::autostart;

/// The item's title, and the first line of its tooltip.
pub const TITLE: &str = "Remote Workspaces";

/// How long a call of the runtime may take: a refresh fetches feeds over
/// the network.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// The icons of the three states: names from the freedesktop Icon Naming
/// Specification that Adwaita and hicolor-based themes have.
const ICON_IDLE: &str = "network-idle";
const ICON_CONNECTED: &str = "network-transmit-receive";
const ICON_PROBLEM: &str = "network-error";

/// Icons of menu items, from the same specification.
const ICON_DESKTOP: &str = "computer";
const ICON_REMOTE_APP: &str = "application-x-executable";
const ICON_CONNECTION: &str = "preferences-desktop-remote-desktop";
const ICON_DISCONNECT: &str = "process-stop";
const ICON_REFRESH: &str = "view-refresh";
const ICON_WARNING: &str = "dialog-warning";
const ICON_WORKSPACES: &str = "folder-remote";
const ICON_QUIT: &str = "application-exit";

/// The program behind "Workspaces…", run as `radc-gui window`.
const GUI: &str = "radc-gui";

/// The largest resource icon the menu carries (they are rendered small for
/// menus; anything larger is not what radc wrote).
const MAX_ICON_BYTES: u64 = 256 * 1024;

/// How many notices the menu keeps at most.
const MAX_NOTICES: usize = 5;

/// What the icon shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Nothing connected: `Passive`, the panel may hide the item.
    Idle,
    /// At least one connection: `Active`.
    Connected,
    /// A workspace's last refresh failed, or an error was told
    /// (`UserNotice` of kind `error-event`, or an action from the menu
    /// failed) since the menu was last opened: `NeedsAttention`.
    Problem,
}

/// A RemoteApp or desktop in the menu.
#[derive(Debug, Clone, PartialEq)]
struct Resource {
    workspace: String,
    id: String,
    title: String,
    kind: String,
    /// The PNG the runtime rendered for the application menu, if any.
    icon: Vec<u8>,
}

/// Everything the tray shows, as last read from the runtime.
#[derive(Debug, Clone, Default)]
struct View {
    /// Whether the runtime owns its name.
    runtime: bool,
    workspaces: Vec<WorkspaceRow>,
    resources: Vec<Resource>,
    connections: Vec<ConnectionRow>,
    /// Errors told, newest last: shown at the top of the menu until the
    /// user dismisses them.
    notices: Vec<String>,
    /// Whether a notice came since the menu was last opened.
    unseen: bool,
    /// `radc-gui`, when it is installed.
    gui: Option<PathBuf>,
    /// Now, in Unix milliseconds, when the connections were read (their
    /// "since" shows the date only when it is not today).
    read_at_ms: u64,
}

/// One workspace as the menu shows it: a subscribed one, or one known only
/// through its connections (a custom client of a workspace radc does not
/// subscribe to).
struct Section<'a> {
    id: &'a str,
    name: &'a str,
    subscribed: bool,
    last_error: &'a str,
    connections: Vec<&'a ConnectionRow>,
    resources: Vec<&'a Resource>,
}

impl View {
    fn condition(&self) -> Condition {
        if self.unseen || self.workspaces.iter().any(|w| !w.4.is_empty()) {
            Condition::Problem
        } else if self.connections.is_empty() {
            Condition::Idle
        } else {
            Condition::Connected
        }
    }

    /// The tooltip's text: how many connections, and what went wrong.
    fn summary(&self) -> String {
        if !self.runtime {
            return "The radc runtime is not running".into();
        }
        let mut text = match self.connections.len() {
            0 => "No connections".to_owned(),
            1 => "1 connection".to_owned(),
            n => format!("{n} connections"),
        };
        for (_, name, _, _, error) in &self.workspaces {
            if !error.is_empty() {
                text.push_str(&format!("\n{name}: the last refresh failed"));
            }
        }
        if self.unseen
            && let Some(last) = self.notices.last()
        {
            text.push('\n');
            text.push_str(last);
        }
        text
    }

    /// The workspaces by name: every subscribed one, then those that only
    /// have connections.
    fn sections(&self) -> Vec<Section<'_>> {
        let mut by_id: BTreeMap<&str, Section<'_>> = BTreeMap::new();
        for (id, name, _, _, error) in &self.workspaces {
            by_id.insert(
                id,
                Section {
                    id,
                    name,
                    subscribed: true,
                    last_error: error,
                    connections: Vec::new(),
                    resources: Vec::new(),
                },
            );
        }
        for row in &self.connections {
            let (_, workspace, name, ..) = row;
            by_id
                .entry(workspace)
                .or_insert_with(|| Section {
                    id: workspace,
                    name,
                    subscribed: false,
                    last_error: "",
                    connections: Vec::new(),
                    resources: Vec::new(),
                })
                .connections
                .push(row);
        }
        for resource in &self.resources {
            if let Some(section) = by_id.get_mut(resource.workspace.as_str()) {
                section.resources.push(resource);
            }
        }
        let mut sections: Vec<Section<'_>> = by_id.into_values().collect();
        sections.sort_by(|a, b| (a.name, a.id).cmp(&(b.name, b.id)));
        for section in &mut sections {
            section.connections.sort_by_key(|c| (c.7, c.0));
        }
        sections
    }

    fn notice(&mut self, text: String) {
        self.notices.push(text);
        let excess = self.notices.len().saturating_sub(MAX_NOTICES);
        self.notices.drain(..excess);
        self.unseen = true;
    }

    /// The menu is being opened: what it tells is seen now. (The notices
    /// stay until dismissed: a panel may ask more than once per opening,
    /// and a menu must not change under the user's eyes.)
    fn menu_opened(&mut self) {
        self.unseen = false;
    }
}

/// What a click in the menu asks for; the main loop carries it out.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Launch { workspace: String, resource: String },
    Disconnect { cookie: u32 },
    DisconnectAll { workspace: String },
    Refresh { workspace: String },
    OpenWorkspaces,
    Quit,
}

struct RadcTray {
    view: View,
    actions: mpsc::UnboundedSender<Action>,
}

impl ksni::Tray for RadcTray {
    /// A left click opens the menu too: it is all the item has.
    const MENU_ON_ACTIVATE: bool = true;

    fn id(&self) -> String {
        "radc".into()
    }

    fn title(&self) -> String {
        TITLE.into()
    }

    fn status(&self) -> Status {
        match self.view.condition() {
            Condition::Idle => Status::Passive,
            Condition::Connected => Status::Active,
            Condition::Problem => Status::NeedsAttention,
        }
    }

    fn icon_name(&self) -> String {
        match self.view.condition() {
            Condition::Idle => ICON_IDLE,
            Condition::Connected => ICON_CONNECTED,
            Condition::Problem => ICON_PROBLEM,
        }
        .into()
    }

    fn attention_icon_name(&self) -> String {
        ICON_PROBLEM.into()
    }

    fn tool_tip(&self) -> ToolTip {
        ToolTip {
            title: TITLE.into(),
            description: self.view.summary(),
            ..Default::default()
        }
    }

    fn menu(&self) -> Vec<MenuItem<Self>> {
        menu(&self.view)
    }

    fn menu_about_to_show(&mut self) {
        self.view.menu_opened();
    }

    fn watcher_online(&self) {
        tracing::info!("a StatusNotifierWatcher appeared; the item is registered with it");
    }

    fn watcher_offline(&self, reason: ksni::OfflineReason) -> bool {
        // Keep serving: the panel may come (back) later, and then the item
        // registers again.
        tracing::info!("no StatusNotifierWatcher ({reason:?}); waiting for one");
        true
    }
}

/// A dbusmenu label shows `text` as it is: an underscore there marks an
/// access key, two stand for one.
fn label(text: &str) -> String {
    text.replace('_', "__")
}

/// The first line of `text`, at most `max` characters.
fn shorten(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() <= max {
        line.to_owned()
    } else {
        let mut short: String = line.chars().take(max - 1).collect();
        short.push('…');
        short
    }
}

fn on_click(action: Action) -> Box<dyn Fn(&mut RadcTray) + Send> {
    Box::new(move |tray: &mut RadcTray| {
        let _ = tray.actions.send(action.clone());
    })
}

fn item(text: &str, icon: &str, action: Action) -> MenuItem<RadcTray> {
    StandardItem {
        label: label(text),
        icon_name: icon.into(),
        activate: on_click(action),
        ..Default::default()
    }
    .into()
}

/// An item that only tells something.
fn note(text: &str, icon: &str) -> MenuItem<RadcTray> {
    StandardItem {
        label: label(text),
        icon_name: icon.into(),
        enabled: false,
        ..Default::default()
    }
    .into()
}

/// The whole menu: a section per workspace (a disabled header with its
/// name; its connections, each a submenu with "Disconnect"; its RemoteApps
/// and desktops; "Disconnect all" and "Refresh"), then "Workspaces…" and
/// "Quit". One level of submenus only: GNOME's AppIndicator menus do not
/// nest deeper well.
fn menu(view: &View) -> Vec<MenuItem<RadcTray>> {
    let mut items = Vec::new();
    if !view.notices.is_empty() {
        for text in &view.notices {
            items.push(note(&shorten(text, 100), ICON_WARNING));
        }
        items.push(
            StandardItem {
                label: "Dismiss".into(),
                activate: Box::new(|tray: &mut RadcTray| tray.view.notices.clear()),
                ..Default::default()
            }
            .into(),
        );
        items.push(MenuItem::Separator);
    }
    let sections = view.sections();
    if !view.runtime {
        items.push(note("The radc runtime is not running", ICON_WARNING));
    } else if sections.is_empty() {
        items.push(note("No workspaces: subscribe with radc subscribe", ""));
    }
    for (index, section) in sections.iter().enumerate() {
        if index > 0 {
            items.push(MenuItem::Separator);
        }
        items.extend(section_items(section, view.read_at_ms));
    }
    items.push(MenuItem::Separator);
    if view.gui.is_some() {
        items.push(item("Workspaces…", ICON_WORKSPACES, Action::OpenWorkspaces));
    }
    items.push(item("Quit", ICON_QUIT, Action::Quit));
    items
}

fn section_items(section: &Section<'_>, now_ms: u64) -> Vec<MenuItem<RadcTray>> {
    let mut items = vec![note(section.name, "")];
    if !section.last_error.is_empty() {
        items.push(note(
            &format!("Refresh failed: {}", shorten(section.last_error, 100)),
            ICON_WARNING,
        ));
    }
    for &(cookie, _, _, display_name, state, _, _, registered_at_ms, _) in &section.connections {
        let when = if state == "connected" {
            format!("since {}", clock(*registered_at_ms, now_ms))
        } else {
            state.clone()
        };
        items.push(
            SubMenu {
                label: label(&format!("{display_name} — {when}")),
                icon_name: ICON_CONNECTION.into(),
                submenu: vec![item(
                    "Disconnect",
                    ICON_DISCONNECT,
                    Action::Disconnect { cookie: *cookie },
                )],
                ..Default::default()
            }
            .into(),
        );
    }
    for resource in &section.resources {
        let fallback = if resource.kind == "Desktop" {
            ICON_DESKTOP
        } else {
            ICON_REMOTE_APP
        };
        items.push(
            StandardItem {
                label: label(&resource.title),
                // A panel shows the PNG; the name is for those that do not.
                icon_name: if resource.icon.is_empty() {
                    fallback.into()
                } else {
                    String::new()
                },
                icon_data: resource.icon.clone(),
                activate: on_click(Action::Launch {
                    workspace: resource.workspace.clone(),
                    resource: resource.id.clone(),
                }),
                ..Default::default()
            }
            .into(),
        );
    }
    if !section.connections.is_empty() {
        items.push(item(
            "Disconnect all",
            ICON_DISCONNECT,
            Action::DisconnectAll {
                workspace: section.id.into(),
            },
        ));
    }
    if section.subscribed {
        items.push(item(
            "Refresh",
            ICON_REFRESH,
            Action::Refresh {
                workspace: section.id.into(),
            },
        ));
    }
    items
}

/// Local wall-clock time of `at_ms` as "10:42", with the date before it
/// when that is not the date of `now_ms` ("2024-03-01 10:42").
fn clock(at_ms: u64, now_ms: u64) -> String {
    let (Some(at), Some(now)) = (local_time(at_ms / 1000), local_time(now_ms / 1000)) else {
        return "?".into();
    };
    let time = format!("{:02}:{:02}", at.tm_hour, at.tm_min);
    if (at.tm_year, at.tm_yday) == (now.tm_year, now.tm_yday) {
        time
    } else {
        format!(
            "{}-{:02}-{:02} {time}",
            at.tm_year + 1900,
            at.tm_mon + 1,
            at.tm_mday
        )
    }
}

/// The broken-down local time of a Unix time, in the system's time zone
/// (`TZ`, else `/etc/localtime`).
fn local_time(unix_seconds: u64) -> Option<libc::tm> {
    let time = libc::time_t::try_from(unix_seconds).ok()?;
    // SAFETY: `localtime_r` only writes the `tm` it is given (all-zero is a
    // valid `tm`) and reads `time`; it is the thread-safe form.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        (!libc::localtime_r(&time, &mut tm).is_null()).then_some(tm)
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `radc-gui` beside this executable, else on `PATH`.
fn find_gui() -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(GUI)));
    let on_path = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .filter(|dir| dir.is_absolute())
                .map(|dir| dir.join(GUI))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    beside
        .into_iter()
        .chain(on_path)
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The runtime's proxies, on the tray's one connection.
#[derive(Clone)]
struct Api {
    conn: Connection,
    runtime: RuntimeProxy<'static>,
    workspaces: WorkspacesProxy<'static>,
}

impl Api {
    async fn connections(&self) -> zbus::Result<Vec<ConnectionRow>> {
        self.runtime.list_connections().await
    }

    /// Subscribed workspaces and the resources they put in the menu, with
    /// their icons read from disk.
    async fn workspaces(&self) -> zbus::Result<(Vec<WorkspaceRow>, Vec<Resource>)> {
        let workspaces = self.workspaces.list_workspaces().await?;
        let rows = self.workspaces.list_resources("").await?;
        let resources = rows
            .into_iter()
            .filter(|row| row.5)
            .map(|(workspace, id, title, kind, icon, ..)| Resource {
                workspace,
                id,
                title,
                kind,
                icon: read_icon(&icon),
            })
            .collect();
        Ok((workspaces, resources))
    }

    /// Carries out a click; what went wrong is told in the menu.
    async fn act(&self, action: Action, tray: &ksni::Handle<RadcTray>) {
        let (what, result) = match &action {
            Action::Launch {
                workspace,
                resource,
            } => ("start", self.launch(workspace, resource).await),
            Action::Disconnect { cookie } => ("disconnect", self.disconnect_one(*cookie).await),
            Action::DisconnectAll { workspace } => {
                ("disconnect", self.disconnect_all(workspace).await)
            }
            Action::Refresh { workspace } => ("refresh", self.refresh(workspace).await),
            Action::OpenWorkspaces => ("open the Workspaces window", open_gui()),
            Action::Quit => return,
        };
        if let Err(e) = result {
            let text = format!("Could not {what}: {e:#}");
            tracing::warn!("{text}");
            tray.update(|tray| tray.view.notice(text)).await;
        }
    }

    async fn launch(&self, workspace: &str, resource: &str) -> Result<()> {
        // The runtime may have gone since; a click brings it back.
        autostart::ensure_runtime(&self.conn).await?;
        let environment = radc_client::environment::from_process();
        let environment = environment.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (cookie, pid, trust) = self
            .runtime
            .launch(workspace, resource, &[], environment)
            .await
            .map_err(crate::commands::explain)?;
        tracing::info!(cookie, pid, trust, "started {resource} of {workspace}");
        Ok(())
    }

    async fn disconnect_one(&self, cookie: u32) -> Result<()> {
        let (outcome, detail) = self
            .runtime
            .disconnect_connection(cookie, 0)
            .await
            .map_err(crate::commands::explain)?;
        match outcome.as_str() {
            "ok" => Ok(()),
            _ => anyhow::bail!("{outcome}: {detail}"),
        }
    }

    async fn disconnect_all(&self, workspace: &str) -> Result<()> {
        let (_, rows) = self
            .runtime
            .disconnect(workspace, 0)
            .await
            .map_err(crate::commands::explain)?;
        let failed: Vec<String> = rows
            .into_iter()
            .filter(|(_, outcome, _)| outcome != "ok")
            .map(|(cookie, outcome, detail)| format!("{cookie}: {outcome} {detail}"))
            .collect();
        if failed.is_empty() {
            Ok(())
        } else {
            anyhow::bail!("some clients did not answer ({})", failed.join(", "))
        }
    }

    async fn refresh(&self, workspace: &str) -> Result<()> {
        // A failure is recorded in the workspace, which the menu shows.
        self.workspaces
            .refresh(workspace)
            .await
            .map_err(crate::commands::explain)?;
        Ok(())
    }
}

fn read_icon(path: &str) -> Vec<u8> {
    if path.is_empty() {
        return Vec::new();
    }
    let path = Path::new(path);
    match std::fs::metadata(path) {
        Ok(m) if m.len() <= MAX_ICON_BYTES => std::fs::read(path).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Starts `radc-gui window`, on its own: it outlives the tray.
fn open_gui() -> Result<()> {
    let gui = find_gui().with_context(|| format!("{GUI} is not installed"))?;
    let mut child = tokio::process::Command::new(&gui)
        .arg("window")
        .stdin(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start {}", gui.display()))?;
    tokio::spawn(async move { child.wait().await });
    Ok(())
}

/// Which reads a signal calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reload {
    Connections,
    Everything,
}

/// `radc tray`: serves the item until "Quit" or the end of the session bus.
pub async fn run() -> Result<ExitCode> {
    let conn = autostart::session(CALL_TIMEOUT).await?;
    let api = Api {
        runtime: RuntimeProxy::new(&conn).await?,
        workspaces: WorkspacesProxy::new(&conn).await?,
        conn: conn.clone(),
    };
    // Every subscription is made before the first read, so no change falls
    // between the two.
    let dbus = zbus::fdo::DBusProxy::new(&conn).await?;
    let mut owners = dbus
        .receive_name_owner_changed_with_args(&[(0, names::BUS_NAME)])
        .await?;
    let registration = WorkspaceRegistrationProxy::new(&conn).await?;
    let mut added = registration.receive_resource_added().await?;
    let mut removed = registration.receive_resource_removed().await?;
    let mut changed = api.workspaces.receive_workspaces_changed().await?;
    let mut notices = api.runtime.receive_user_notice().await?;

    let gui = find_gui();
    if gui.is_none() {
        tracing::warn!("{GUI} is not installed: the menu has no \"Workspaces…\"");
    }
    let (actions_tx, mut actions) = mpsc::unbounded_channel();
    let tray = RadcTray {
        view: View {
            gui,
            ..View::default()
        },
        actions: actions_tx,
    }
    // The panel may start after the tray (both start with the session):
    // the item registers once a StatusNotifierWatcher appears.
    .assume_sni_available(true)
    .spawn()
    .await
    .context("cannot serve the tray item on the session bus")?;

    // Started the way radc commands start it; without it, the tray shows
    // nothing until it appears.
    match autostart::ensure_runtime(&conn).await {
        Ok(()) => reload(&api, &tray, Reload::Everything).await,
        Err(e) => tracing::warn!("{e:#}; the tray waits for the runtime to appear"),
    }

    loop {
        tokio::select! {
            Some(signal) = owners.next() => {
                let appeared = signal.args().is_ok_and(|a| a.new_owner().is_some());
                if appeared {
                    // A new runtime: nothing read from the last one holds.
                    reload(&api, &tray, Reload::Everything).await;
                } else {
                    tray.update(|tray| {
                        tray.view.runtime = false;
                        tray.view.workspaces.clear();
                        tray.view.resources.clear();
                        tray.view.connections.clear();
                    })
                    .await;
                }
            }
            Some(_) = added.next() => reload(&api, &tray, Reload::Connections).await,
            Some(_) = removed.next() => reload(&api, &tray, Reload::Connections).await,
            Some(_) = changed.next() => reload(&api, &tray, Reload::Everything).await,
            Some(signal) = notices.next() => {
                if let Ok(args) = signal.args()
                    && args.kind == "error-event"
                {
                    let text = args.text.clone();
                    tray.update(|tray| tray.view.notice(text)).await;
                }
            }
            Some(action) = actions.recv() => {
                if action == Action::Quit {
                    tray.shutdown().await;
                    return Ok(ExitCode::SUCCESS);
                }
                let (api, tray) = (api.clone(), tray.clone());
                tokio::spawn(async move { api.act(action, &tray).await });
            }
            else => anyhow::bail!("the session bus closed"),
        }
    }
}

/// Reads what `what` names again and shows it.
async fn reload(api: &Api, tray: &ksni::Handle<RadcTray>, what: Reload) {
    tracing::debug!(?what, "reading the runtime's state");
    let workspaces = match what {
        Reload::Everything => Some(api.workspaces().await),
        Reload::Connections => None,
    };
    let connections = api.connections().await;
    let read_at_ms = now_ms();
    let gui = (what == Reload::Everything).then(find_gui);
    tray.update(move |tray| {
        let view = &mut tray.view;
        let mut runtime = true;
        match connections {
            Ok(rows) => view.connections = rows,
            Err(e) => {
                tracing::warn!("cannot list the connections: {e}");
                runtime = false;
            }
        }
        match workspaces {
            Some(Ok((workspaces, resources))) => {
                view.workspaces = workspaces;
                view.resources = resources;
            }
            Some(Err(e)) => {
                tracing::warn!("cannot list the workspaces: {e}");
                runtime = false;
            }
            None => {}
        }
        view.runtime = runtime;
        view.read_at_ms = read_at_ms;
        if let Some(gui) = gui {
            view.gui = gui;
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(cookie: u32, workspace: &str, name: &str) -> ConnectionRow {
        (
            cookie,
            workspace.into(),
            format!("{workspace} name"),
            name.into(),
            "connected".into(),
            0,
            String::new(),
            1_700_000_000_000 + u64::from(cookie),
            "built-in".into(),
        )
    }

    fn workspace(id: &str, name: &str, error: &str) -> WorkspaceRow {
        (
            id.into(),
            name.into(),
            format!("https://{id}/"),
            1,
            error.into(),
        )
    }

    /// The labels of a menu, nested items indented.
    fn labels(items: &[MenuItem<RadcTray>], depth: usize, out: &mut Vec<String>) {
        for item in items {
            let pad = "  ".repeat(depth);
            match item {
                MenuItem::Standard(i) => {
                    let off = if i.enabled { "" } else { " (off)" };
                    out.push(format!("{pad}{}{off}", i.label));
                }
                MenuItem::SubMenu(m) => {
                    out.push(format!("{pad}{} >", m.label));
                    labels(&m.submenu, depth + 1, out);
                }
                MenuItem::Separator => out.push(format!("{pad}---")),
                _ => out.push(format!("{pad}?")),
            }
        }
    }

    fn menu_text(view: &View) -> Vec<String> {
        let mut out = Vec::new();
        labels(&menu(view), 0, &mut out);
        out
    }

    fn view() -> View {
        View {
            runtime: true,
            read_at_ms: 1_700_000_000_000,
            ..View::default()
        }
    }

    #[test]
    fn the_state_follows_connections_and_problems() {
        let mut v = view();
        assert_eq!(v.condition(), Condition::Idle);
        assert_eq!(v.summary(), "No connections");
        v.connections.push(connection(1, "a", "Desktop"));
        v.connections.push(connection(2, "a", "Word"));
        assert_eq!(v.condition(), Condition::Connected);
        assert_eq!(v.summary(), "2 connections");
        v.workspaces.push(workspace("a", "Contoso", "unreachable"));
        assert_eq!(v.condition(), Condition::Problem);
        assert!(v.summary().contains("Contoso: the last refresh failed"));
        v.workspaces[0].4.clear();
        v.notice("FreeRDP could not connect".into());
        assert_eq!(v.condition(), Condition::Problem);
        // Opening the menu shows the notice: the state is back at once,
        // the text stays until dismissed.
        v.menu_opened();
        assert_eq!(v.condition(), Condition::Connected);
        v.menu_opened();
        assert_eq!(v.notices.len(), 1);
        assert_eq!(
            menu_text(&v)[..3],
            ["FreeRDP could not connect (off)", "Dismiss", "---"]
        );
        let (tx, _rx) = mpsc::unbounded_channel();
        let mut tray = RadcTray {
            view: v,
            actions: tx,
        };
        let MenuItem::Standard(dismiss) = &menu(&tray.view)[1] else {
            panic!()
        };
        (dismiss.activate)(&mut tray);
        assert!(tray.view.notices.is_empty());
        assert_eq!(tray.view.condition(), Condition::Connected);
    }

    #[test]
    fn notices_are_bounded() {
        let mut v = view();
        for n in 0..(MAX_NOTICES + 3) {
            v.notice(format!("n{n}"));
        }
        assert_eq!(v.notices.len(), MAX_NOTICES);
        assert_eq!(v.notices.last().unwrap(), &format!("n{}", MAX_NOTICES + 2));
    }

    #[test]
    fn the_menu_has_a_section_per_workspace() {
        let mut v = view();
        v.workspaces.push(workspace("b", "Beta_Apps", ""));
        v.workspaces
            .push(workspace("a", "Alpha", "the server said 500\nmore"));
        v.resources.push(Resource {
            workspace: "a".into(),
            id: "calc".into(),
            title: "Calculator".into(),
            kind: "RemoteApp".into(),
            icon: vec![1, 2, 3],
        });
        v.connections.push(connection(7, "a", "Calculator"));
        // A custom client of a workspace nobody subscribed to.
        v.connections.push(connection(9, "z", "Viewer"));
        v.gui = Some("/usr/bin/radc-gui".into());
        let text = menu_text(&v);
        let since = clock(1_700_000_000_007, v.read_at_ms);
        assert_eq!(
            text,
            [
                "Alpha (off)",
                "Refresh failed: the server said 500 (off)",
                &format!("Calculator — since {since} >"),
                "  Disconnect",
                "Calculator",
                "Disconnect all",
                "Refresh",
                "---",
                // Underscores are shown, not taken as access keys.
                "Beta__Apps (off)",
                "Refresh",
                "---",
                "z name (off)",
                &format!(
                    "Viewer — since {} >",
                    clock(1_700_000_000_009, v.read_at_ms)
                ),
                "  Disconnect",
                "Disconnect all",
                "---",
                "Workspaces…",
                "Quit",
            ]
        );
    }

    #[test]
    fn without_a_runtime_or_gui_the_menu_says_so() {
        let v = View::default();
        assert_eq!(
            menu_text(&v),
            ["The radc runtime is not running (off)", "---", "Quit"]
        );
        assert_eq!(v.summary(), "The radc runtime is not running");
    }

    #[test]
    fn clicks_send_their_action() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut v = view();
        v.workspaces.push(workspace("a", "Alpha", ""));
        v.connections.push(connection(7, "a", "Desktop"));
        let mut tray = RadcTray {
            view: v,
            actions: tx,
        };
        let items = menu(&tray.view);
        let MenuItem::SubMenu(connection) = &items[1] else {
            panic!("{:?}", items[1]);
        };
        let MenuItem::Standard(disconnect) = &connection.submenu[0] else {
            panic!()
        };
        (disconnect.activate)(&mut tray);
        assert_eq!(rx.try_recv().unwrap(), Action::Disconnect { cookie: 7 });
        let MenuItem::Standard(all) = &items[2] else {
            panic!()
        };
        (all.activate)(&mut tray);
        assert_eq!(
            rx.try_recv().unwrap(),
            Action::DisconnectAll {
                workspace: "a".into()
            }
        );
    }

    #[test]
    fn times_are_local_clock_times() {
        let at = 1_700_000_000_000;
        let today = clock(at, at + 60_000);
        assert_eq!(today.len(), 5, "{today}");
        assert_eq!(&today[2..3], ":");
        let earlier = clock(at, at + 3 * 86_400_000);
        assert!(
            earlier.ends_with(&today) && earlier.len() == 16,
            "{earlier}"
        );
    }

    #[test]
    fn long_texts_are_shortened_to_one_line() {
        assert_eq!(shorten("a\nb", 10), "a");
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("abcd", 4), "abcd");
    }
}
