//! Sans-IO model and parser for MS-TSWP resource lists: the XML "webfeed"
//! that RD Web Access serves to RemoteApp and Desktop Connection clients.
//!
//! [`parse`] turns the bytes of one HTTP response body into a [`Feed`]. It
//! does no I/O and reads no clock, so it can be tested and fuzzed in
//! isolation; fetching, authentication and storing files belong to other
//! layers.
//!
//! Schema versions 1.1, 2.0 and 2.1 are understood (they only add to each
//! other). The parser is tolerant where real servers differ from the spec
//! (UTF-8 BOM, the tswf namespace or none, attributes on `<Publisher>` or on
//! `<ResourceCollection>`, relative or absolute URLs, unknown elements and
//! attributes, missing optional parts) and strict where safety needs it:
//!
//! - no DTD ([`FeedError::DtdNotAllowed`]), so no entity expansion;
//! - bounded input size and XML node count ([`limits`]);
//! - every kept string has its bidirectional controls and invisible
//!   characters removed ([`text::strip_invisible`]), is trimmed, bounded and
//!   free of control characters; required ones (IDs, folder names, ...) are
//!   non-empty after that;
//! - bounded work per feed: at most [`limits::MAX_RESOURCES`] resources and
//!   [`limits::MAX_ICONS_PER_RESOURCE`] icons per resource;
//! - every URL is resolved against the feed URL and must be http or https.
//!
//! Strings in the model are still untrusted: IDs, aliases and folder names
//! may contain `/` or `..`. Turning them into file names is the job of a
//! later layer.
//!
//! ```
//! let body = br#"<?xml version="1.0" encoding="utf-8"?>
//! <ResourceCollection SchemaVersion="2.1" xmlns="http://schemas.microsoft.com/ts/2007/05/tswf">
//!   <Publisher ID="rdweb.example.test" Name="Example Apps">
//!     <Resources>
//!       <Resource ID="notes" Title="Notes" Type="RemoteApp">
//!         <HostingTerminalServers><HostingTerminalServer>
//!           <ResourceFile FileExtension=".rdp" URL="/RDWeb/rdp/notes.rdp"/>
//!           <TerminalServerRef Ref="host1"/>
//!         </HostingTerminalServer></HostingTerminalServers>
//!       </Resource>
//!     </Resources>
//!   </Publisher>
//! </ResourceCollection>"#;
//! let base = url::Url::parse("https://rdweb.example.test/RDWeb/Feed/webfeed.aspx").unwrap();
//! let feed = radc_feed::parse(body, &base).unwrap();
//! assert_eq!(feed.publisher.id, "rdweb.example.test");
//! let file = feed.resources[0].hosting_terminal_servers[0].resource_file.as_ref().unwrap();
//! assert_eq!(file.url.as_ref().unwrap().as_str(), "https://rdweb.example.test/RDWeb/rdp/notes.rdp");
//! ```

pub mod diff;
pub mod discovery;
mod error;
pub mod identity;
mod model;
mod parse;
pub mod rdwr;
pub mod schedule;
pub mod scope;
pub mod text;

pub use error::FeedError;
pub use model::{
    Feed, FileExtension, HostingTerminalServer, Icon, IconKind, Publisher, Resource, ResourceFile,
    ResourceType, TerminalServer,
};
pub use parse::{TSWF_NAMESPACE, parse, parse_with_max_resources};

/// Bounds applied to every feed. Lengths are in bytes of UTF-8.
pub mod limits {
    /// Largest body accepted. Real feeds with thousands of resources stay
    /// well below a few MiB; this leaves room while bounding memory.
    pub const MAX_FEED_BYTES: usize = 32 * 1024 * 1024;
    /// Most XML nodes (elements, text, ...) accepted; bounds the tree's
    /// memory independently of how compact the markup is.
    pub const MAX_XML_NODES: u32 = 1_000_000;
    /// Resource IDs and aliases, terminal server IDs and references,
    /// the publisher ID.
    pub const MAX_ID_BYTES: usize = 512;
    /// Titles, names, folder names, types, timestamps, file extensions.
    pub const MAX_NAME_BYTES: usize = 1024;
    /// The publisher's description.
    pub const MAX_DESCRIPTION_BYTES: usize = 4096;
    /// URLs, before resolution.
    pub const MAX_URL_BYTES: usize = 8192;
    /// Most `<Resource>` elements a feed may list (duplicates included).
    /// Each one becomes a downloaded `.rdp` file, a desktop entry and icons,
    /// so this bounds the disk and time a refresh can cost. It is far above
    /// what a usable application menu holds.
    pub const MAX_RESOURCES: usize = 2_000;
    /// Most icons one resource may list: its own `<Icons>` and the
    /// `<FileAssociationIcons>` of all its file extensions together. Each
    /// is downloaded and rendered at several sizes; RD Web Access lists two
    /// (`IconRaw` and `Icon32`) per resource and per extension.
    pub const MAX_ICONS_PER_RESOURCE: usize = 16;
}
