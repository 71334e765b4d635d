//! The parsed form of an MS-TSWP resource list.
//!
//! Every string in this model comes from the server and is **untrusted**.
//! The parser guarantees that strings are trimmed, non-empty where the
//! protocol needs a value, bounded in length (see [`crate::limits`]), free
//! of control characters and free of bidirectional controls and invisible
//! characters (see [`crate::text`]), so they are safe to log and to show
//! and are shown as they are. It does
//! *not* make them safe as file names: IDs, aliases and folder names may
//! contain `/`, `\`, `..` or anything else printable. A later layer must map
//! them to file names itself.

use url::Url;

/// One resource list ("webfeed") as served by RD Web Access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feed {
    /// `SchemaVersion` of `<ResourceCollection>` (`"1.1"`, `"2.0"`, `"2.1"`,
    /// sometimes others); kept as text because servers are loose with it.
    pub schema_version: Option<String>,
    /// `PubDate` of `<ResourceCollection>`, as the server wrote it
    /// (normally `xs:dateTime`). Not interpreted: this crate has no clock.
    pub pub_date: Option<String>,
    /// The workspace this feed describes.
    pub publisher: Publisher,
    /// Resources in document order; the first of several with the same ID
    /// wins (the others are reported in [`Feed::warnings`]).
    pub resources: Vec<Resource>,
    /// `<TerminalServers>` of the publisher, first of each ID kept.
    pub terminal_servers: Vec<TerminalServer>,
    /// Things that were odd but not fatal (duplicates, dangling references,
    /// extra publishers, ...). Safe to log: values are escaped.
    pub warnings: Vec<String>,
}

/// The `<Publisher>` element: the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publisher {
    /// `ID`: the workspace id (a GUID or the server's FQDN).
    pub id: String,
    /// `Name`: the display name, if the server gave one.
    pub name: Option<String>,
    /// `Description`, if present and not empty.
    pub description: Option<String>,
    /// `LastUpdated`, as written (normally `xs:dateTime`).
    pub last_updated: Option<String>,
    /// `SupportsReconnect` (MS-RDWR support). Servers put it on
    /// `<Publisher>` or on `<ResourceCollection>`; the former wins.
    pub supports_reconnect: Option<bool>,
    /// `DisplayFolder`: when present the feed only lists this folder
    /// (e.g. `/`). Same placement rule as `supports_reconnect`.
    pub display_folder: Option<String>,
    /// `<SubFolders>`: folders below the display folder, as paths
    /// starting with `/`.
    pub sub_folders: Vec<String>,
}

impl Publisher {
    /// The name to show for the workspace: `Name`, else the ID.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }
}

/// One `<Resource>`: a RemoteApp or a desktop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// `ID`: unique within the feed. Untrusted: may contain `/` or `..`.
    pub id: String,
    /// `Alias`: the server's lookup name. Untrusted like `id`.
    pub alias: Option<String>,
    /// `Title`: the display name. When the server omits it, the alias, or
    /// failing that the ID, stands in so there is always something to show.
    pub title: String,
    /// `Type`.
    pub resource_type: ResourceType,
    /// `LastUpdated`, as written.
    pub last_updated: Option<String>,
    /// `ExecutableName`: the program run on the server, informational.
    pub executable_name: Option<String>,
    /// `ShowByDefault` (schema 2.1); `true` when absent, as the spec says.
    pub show_by_default: bool,
    /// `<Icons>` children in document order.
    pub icons: Vec<Icon>,
    /// `<FileExtensions>` the resource opens.
    pub file_extensions: Vec<FileExtension>,
    /// `<Folders>` (schema 2.0+): paths such as `/Office`; `/` is the root.
    pub folders: Vec<String>,
    /// `<HostingTerminalServers>`: where and how to launch the resource.
    pub hosting_terminal_servers: Vec<HostingTerminalServer>,
}

/// The `Type` attribute of a resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResourceType {
    /// `RemoteApp`; also used when `Type` is absent, since the spec says
    /// everything that is not a full desktop is a RemoteApp.
    RemoteApp,
    /// `Desktop`: a full remote desktop.
    Desktop,
    /// Anything else, kept verbatim for a later layer to decide.
    Other(String),
}

/// Which icon element an [`Icon`] came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IconKind {
    /// `<IconRaw>`: an `.ico` that may hold several sizes.
    Raw,
    /// `<Icon16>`, `<Icon32>`, ... `<Icon256>`: a square icon of that size.
    Sized(u32),
    /// `<Icon>` (schema 2.0): size only known from `Dimensions`.
    Generic,
    /// Any other `<Icon…>` element some generator invented (such as
    /// `IconPng`); the element name is kept.
    Other(String),
}

/// One icon reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Icon {
    /// The element it came from.
    pub kind: IconKind,
    /// `Dimensions` (`"32x32"`) as width and height, if present and valid.
    pub dimensions: Option<(u32, u32)>,
    /// `FileType` (`"Ico"`, `"Png"`), as written.
    pub file_type: Option<String>,
    /// `FileURL`, resolved against the feed URL; always http or https.
    /// `None` when the server only inlines content (which clients ignore).
    pub url: Option<Url>,
}

/// One `<FileExtension>` a resource can open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileExtension {
    /// `Name`, normally with a leading dot (`".docx"`). Untrusted.
    pub name: String,
    /// `PrimaryHandler` (schema 2.0), when present.
    pub primary_handler: Option<bool>,
    /// `<FileAssociationIcons>`: icons for documents of this type.
    pub icons: Vec<Icon>,
}

/// One `<HostingTerminalServer>`: a launch file and the server it targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostingTerminalServer {
    /// `<ResourceFile>`, if present.
    pub resource_file: Option<ResourceFile>,
    /// `Ref` of `<TerminalServerRef>`: an ID in [`Feed::terminal_servers`].
    pub terminal_server_ref: Option<String>,
}

/// A `<ResourceFile>`: the file (normally `.rdp`) that launches a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceFile {
    /// `URL`, resolved against the feed URL; always http or https.
    pub url: Option<Url>,
    /// `FileExtension`; `.rdp` when absent (the schema default). Untrusted.
    pub file_extension: String,
}

/// A `<TerminalServer>` of the publisher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalServer {
    /// `ID`, the target of `TerminalServerRef/@Ref`.
    pub id: String,
    /// `Name`, normally the server's FQDN.
    pub name: Option<String>,
    /// `LastUpdated`, as written.
    pub last_updated: Option<String>,
}
