//! The names of the runtime's D-Bus contract. Stable: programs in any
//! language rely on them.

/// Well-known name the runtime owns on the session bus.
pub const BUS_NAME: &str = "org.radc.Runtime";
/// The runtime's one object.
pub const OBJECT_PATH: &str = "/org/radc/Runtime";

/// Register and remove connections (`IWorkspaceRegistration`).
pub const REGISTRATION: &str = "org.radc.WorkspaceRegistration1";
/// Implemented by custom clients (`IWorkspaceClientExt`).
pub const CLIENT_EXT: &str = "org.radc.WorkspaceClientExt1";
/// Credentials and disconnect (`IWorkspaceScriptable`).
pub const SCRIPTABLE: &str = "org.radc.WorkspaceScriptable1";
/// Workspace names and launching (`IWorkspace`).
pub const WORKSPACE: &str = "org.radc.Workspace1";
/// Error reporting (`IWorkspaceReportMessage`).
pub const REPORT_MESSAGE: &str = "org.radc.WorkspaceReportMessage1";
/// Launchers for resource types (`IWorkspaceResTypeRegistry`).
pub const RES_TYPE_REGISTRY: &str = "org.radc.WorkspaceResTypeRegistry1";
/// Subscribed workspaces: subscribe, refresh, unsubscribe.
pub const WORKSPACES: &str = "org.radc.Workspaces1";
/// radc's own additions, with no COM twin.
pub const RUNTIME: &str = "org.radc.Runtime1";

/// Prefix of every error name: `org.radc.Error.InvalidArgs` and so on.
pub const ERROR_PREFIX: &str = "org.radc.Error";
