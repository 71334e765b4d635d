//! Typed proxies for every interface of the runtime. They are the contract
//! in code form: the runtime's tests call it through these, and so can any
//! Rust program that drives the runtime (a tray, a GUI, a script).

use zbus::proxy;
use zbus::zvariant::ObjectPath;

/// One `ListResources` row: cookie, workspace id, display name, state, pid.
pub type ResourceRow = (u32, String, String, String, u32);
/// One `DisconnectWorkspace` row: cookie, outcome (`ok`, `error`,
/// `timeout`), detail.
pub type DisconnectRow = (u32, String, String);
/// One `ListConnections` row: cookie, workspace id, workspace name, display
/// name, state, pid, unique bus name of the client (empty for connections
/// radc launched), registered at (Unix ms), kind (`custom` for a custom
/// client, `built-in` for a connection radc launched).
pub type ConnectionRow = (
    u32,
    String,
    String,
    String,
    String,
    u32,
    String,
    u64,
    String,
);

#[proxy(
    interface = "org.radc.WorkspaceRegistration1",
    default_service = "org.radc.Runtime",
    default_path = "/org/radc/Runtime"
)]
pub trait WorkspaceRegistration {
    fn add_resource(&self, client: &ObjectPath<'_>) -> zbus::Result<u32>;
    fn remove_resource(&self, cookie: u32) -> zbus::Result<()>;
    fn list_resources(&self) -> zbus::Result<Vec<ResourceRow>>;
    #[zbus(signal)]
    fn resource_added(
        &self,
        cookie: u32,
        workspace_id: String,
        display_name: String,
    ) -> zbus::Result<()>;
    #[zbus(signal)]
    fn resource_removed(&self, cookie: u32, reason: String) -> zbus::Result<()>;
}

#[proxy(interface = "org.radc.WorkspaceClientExt1")]
pub trait WorkspaceClientExt {
    fn get_resource_id(&self) -> zbus::Result<String>;
    fn get_resource_display_name(&self) -> zbus::Result<String>;
    fn issue_disconnect(&self) -> zbus::Result<()>;
}

#[proxy(
    interface = "org.radc.WorkspaceScriptable1",
    default_service = "org.radc.Runtime",
    default_path = "/org/radc/Runtime"
)]
pub trait WorkspaceScriptable {
    fn disconnect_workspace(&self, workspace_id: &str) -> zbus::Result<Vec<DisconnectRow>>;
    fn disconnect_workspace_by_friendly_name(&self, name: &str)
    -> zbus::Result<Vec<DisconnectRow>>;
    #[allow(clippy::too_many_arguments)]
    fn start_workspace(
        &self,
        workspace_id: &str,
        user: &str,
        password: &str,
        workspace_params: &str,
        timeout_minutes: i32,
        flags: u32,
    ) -> zbus::Result<()>;
    fn is_workspace_credential_specified(
        &self,
        workspace_id: &str,
        count_unauthenticated: bool,
    ) -> zbus::Result<bool>;
    #[zbus(name = "IsWorkspaceSSOEnabled")]
    fn is_workspace_sso_enabled(&self) -> zbus::Result<bool>;
    fn clear_workspace_credential(&self, workspace_id: &str) -> zbus::Result<()>;
    #[zbus(name = "OnAuthenticated")]
    fn on_authenticated(&self, workspace_id: &str, user: &str) -> zbus::Result<()>;
    fn resource_dismissed(&self, workspace_id: &str, friendly_name: &str) -> zbus::Result<()>;
}

#[proxy(
    interface = "org.radc.Workspace1",
    default_service = "org.radc.Runtime",
    default_path = "/org/radc/Runtime"
)]
pub trait Workspace {
    fn get_workspace_names(&self) -> zbus::Result<Vec<String>>;
    fn get_process_id(&self) -> zbus::Result<u32>;
    fn start_remote_application(&self, workspace_id: &str, params: &[&str]) -> zbus::Result<()>;
}

#[proxy(
    interface = "org.radc.WorkspaceReportMessage1",
    default_service = "org.radc.Runtime",
    default_path = "/org/radc/Runtime"
)]
pub trait WorkspaceReportMessage {
    fn register_error_log_message(&self, message: &str) -> zbus::Result<()>;
    fn is_error_message_registered(
        &self,
        workspace_id: &str,
        error_type: u32,
        error_message_type: &str,
        error_code: u32,
    ) -> zbus::Result<bool>;
    fn register_error_event(
        &self,
        workspace_id: &str,
        error_type: u32,
        error_message_type: &str,
        error_code: u32,
    ) -> zbus::Result<()>;
}

#[proxy(
    interface = "org.radc.WorkspaceResTypeRegistry1",
    default_service = "org.radc.Runtime",
    default_path = "/org/radc/Runtime"
)]
pub trait WorkspaceResTypeRegistry {
    fn add_resource_type(
        &self,
        machine_wide: bool,
        extension: &str,
        launcher: &str,
    ) -> zbus::Result<()>;
    fn delete_resource_type(&self, machine_wide: bool, extension: &str) -> zbus::Result<()>;
    fn get_registered_file_extensions(&self, machine_wide: bool) -> zbus::Result<Vec<String>>;
    fn get_resource_type_info(&self, machine_wide: bool, extension: &str) -> zbus::Result<String>;
    fn modify_resource_type(
        &self,
        machine_wide: bool,
        extension: &str,
        launcher: &str,
    ) -> zbus::Result<()>;
}

#[proxy(
    interface = "org.radc.Runtime1",
    default_service = "org.radc.Runtime",
    default_path = "/org/radc/Runtime"
)]
pub trait Runtime {
    /// Disconnects a workspace named by id or display name, with a per-client
    /// timeout in milliseconds (0: the runtime's default). Returns the
    /// workspace id it resolved to and one row per client.
    fn disconnect(
        &self,
        workspace: &str,
        timeout_ms: u32,
    ) -> zbus::Result<(String, Vec<DisconnectRow>)>;
    /// Disconnects one connection by cookie, leaving the rest of its
    /// workspace connected; timeout as for `disconnect`. Returns the outcome
    /// (`ok`, `error`, `timeout`) and its detail.
    fn disconnect_connection(&self, cookie: u32, timeout_ms: u32)
    -> zbus::Result<(String, String)>;
    /// Waits up to `timeout_ms` for a launched connection to come up or
    /// fail: `("up", "")`, `("failed", why)`, `("ended", how)` or
    /// `("connecting", "")` when neither happened in time.
    fn await_launch(&self, cookie: u32, timeout_ms: u32) -> zbus::Result<(String, String)>;
    /// Every listed connection, with more detail than `ListResources`.
    fn list_connections(&self) -> zbus::Result<Vec<ConnectionRow>>;
    /// Launches a resource of a subscribed workspace (each by id or title),
    /// opening `files` (absolute paths) in it; `environment` holds the
    /// caller's display variables (`DISPLAY`, `WAYLAND_DISPLAY`, …).
    /// Returns the new connection's cookie, its process id and who vouched
    /// for its `.rdp` file.
    fn launch(
        &self,
        workspace: &str,
        resource: &str,
        files: &[&str],
        environment: std::collections::HashMap<&str, &str>,
    ) -> zbus::Result<(u32, u32, String)>;
    /// Something the user should be told once: `kind` is `error-event` or
    /// `resource-dismissed`.
    #[zbus(signal)]
    fn user_notice(&self, workspace_id: String, kind: String, text: String) -> zbus::Result<()>;
}

/// One `ListWorkspaces` row: id, name, feed URL, last refresh (Unix seconds,
/// 0 for never), last error ("" for none).
pub type WorkspaceRow = (String, String, String, u64, String);

#[proxy(
    interface = "org.radc.Workspaces1",
    default_service = "org.radc.Runtime",
    default_path = "/org/radc/Runtime"
)]
pub trait Workspaces {
    fn list_workspaces(&self) -> zbus::Result<Vec<WorkspaceRow>>;
    /// Subscribes to a feed URL, server or e-mail address; `username` empty
    /// for none. Returns the workspace id.
    fn subscribe(
        &self,
        target: &str,
        username: &str,
        password: &str,
        allow_http: bool,
    ) -> zbus::Result<String>;
    /// Refreshes one workspace (id or name) or all (`""`): one
    /// `(workspace id, error)` row each, the error empty on success.
    fn refresh(&self, workspace: &str) -> zbus::Result<Vec<(String, String)>>;
    /// Reconnects to the user's disconnected sessions on one workspace (id
    /// or name) or on all (`""`), launching each session the server returns
    /// like a resource of that workspace; `environment` as for
    /// `Runtime1.Launch`. One [`ReconnectRow`] per session or workspace.
    fn reconnect(
        &self,
        workspace: &str,
        environment: std::collections::HashMap<&str, &str>,
    ) -> zbus::Result<Vec<ReconnectRow>>;
    fn unsubscribe(&self, workspace: &str) -> zbus::Result<()>;
    /// Re-reads the stored workspaces (after changes made outside the
    /// runtime).
    fn reload(&self) -> zbus::Result<()>;
    /// The resources of one workspace (id or name) or of all (`""`).
    fn list_resources(&self, workspace: &str) -> zbus::Result<Vec<MenuResourceRow>>;
    /// Puts a resource in the application menu or takes it out; returns its
    /// id.
    fn set_shown(&self, workspace: &str, resource: &str, shown: bool) -> zbus::Result<String>;
    /// A workspace was subscribed, refreshed, changed or unsubscribed (`""`:
    /// any may have).
    #[zbus(signal)]
    fn workspaces_changed(&self, workspace_id: String) -> zbus::Result<()>;
}

/// One `Workspaces1.Reconnect` row: workspace id, outcome, session name,
/// cookie, pid, detail. Outcomes: `launched` (cookie and pid of the new
/// connection; detail: who vouched for its `.rdp` file), `refused` (a
/// returned file was not launched; detail: why), `none` (no disconnected
/// sessions), `not-offered` (the feed says `SupportsReconnect="false"`, so
/// the server was not asked), `failed` (asking failed; detail: why).
pub type ReconnectRow = (String, String, String, u32, u32, String);

/// One `Workspaces1.ListResources` row: workspace id, resource id, title,
/// type (`RemoteApp`, `Desktop`, …), icon path ("" for none), in the menu,
/// file extensions, folders.
pub type MenuResourceRow = (
    String,
    String,
    String,
    String,
    String,
    bool,
    Vec<String>,
    Vec<String>,
);
