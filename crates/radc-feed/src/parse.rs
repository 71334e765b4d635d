//! From bytes to [`Feed`]: XML parsing with roxmltree, then a walk over the
//! known elements that validates every value it keeps.

use std::borrow::Cow;
use std::collections::HashSet;

use roxmltree::{Document, Node, ParsingOptions};
use url::Url;

use crate::error::{FeedError, quote};
use crate::limits::{
    MAX_DESCRIPTION_BYTES, MAX_FEED_BYTES, MAX_ICONS_PER_RESOURCE, MAX_ID_BYTES, MAX_NAME_BYTES,
    MAX_RESOURCES, MAX_URL_BYTES, MAX_XML_NODES,
};
use crate::model::{
    Feed, FileExtension, HostingTerminalServer, Icon, IconKind, Publisher, Resource, ResourceFile,
    ResourceType, TerminalServer,
};
use crate::text::{first_control, is_printable_ascii, strip_invisible};

/// The XML namespace of MS-TSWP feeds. Elements in this namespace or in no
/// namespace are read; elements in any other namespace are ignored.
pub const TSWF_NAMESPACE: &str = "http://schemas.microsoft.com/ts/2007/05/tswf";

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Parses one MS-TSWP resource list.
///
/// `base_url` is the URL the feed was fetched from; relative icon and
/// resource file URLs are resolved against it. No I/O, no clock.
///
/// # Errors
///
/// A [`FeedError`] saying what was wrong and where, for input that is too
/// large, not UTF-8, not well-formed XML, carries a DTD, lacks the
/// `ResourceCollection`/`Publisher` structure, or holds a value that breaks
/// a rule (see [`crate::limits`] and the crate documentation).
pub fn parse(bytes: &[u8], base_url: &Url) -> Result<Feed, FeedError> {
    parse_with_max_resources(bytes, base_url, MAX_RESOURCES)
}

/// [`parse`] with another resource cap than [`MAX_RESOURCES`], for tools
/// that read feeds larger than radc subscribes to (the throughput
/// benchmark, a check of a large collection); every other check is the
/// same.
pub fn parse_with_max_resources(
    bytes: &[u8],
    base_url: &Url,
    max_resources: usize,
) -> Result<Feed, FeedError> {
    let text = feed_text(bytes)?;
    let compact = without_blank_text(text);
    let document = match &compact {
        // The same document without the white space between tags, which
        // the walk skips anyway: a tree of well under half the nodes, built
        // and walked faster. That white space made text nodes, which
        // count towards the node limit, so the limit is lowered by as
        // many runs as were removed (at least as many as those nodes).
        // Any failure, the lowered limit's included, is decided by
        // parsing the feed as written, so that errors and their positions
        // are the feed's own.
        Some((compacted, removed)) => {
            let limit = MAX_XML_NODES.saturating_sub(u32::try_from(*removed).unwrap_or(u32::MAX));
            match Document::parse_with_options(compacted, xml_options(limit)) {
                Ok(document) => document,
                Err(_) => parse_xml(text)?,
            }
        }
        None => parse_xml(text)?,
    };
    read_document(&document, base_url, max_resources)
}

/// The feed's bytes as text: within the size limit, UTF-8, without a BOM.
fn feed_text(bytes: &[u8]) -> Result<&str, FeedError> {
    if bytes.len() > MAX_FEED_BYTES {
        return Err(FeedError::TooLarge {
            size: bytes.len(),
            limit: MAX_FEED_BYTES,
        });
    }
    // Windows generators commonly prepend a BOM; roxmltree wants bare text.
    let (bom_len, body) = match bytes.strip_prefix(UTF8_BOM) {
        Some(rest) => (UTF8_BOM.len(), rest),
        None => (0, bytes),
    };
    std::str::from_utf8(body).map_err(|error| FeedError::NotUtf8 {
        offset: bom_len + error.valid_up_to(),
    })
}

/// The walk over a parsed document.
fn read_document(
    document: &Document,
    base_url: &Url,
    max_resources: usize,
) -> Result<Feed, FeedError> {
    FeedReader {
        base_url,
        max_resources,
        warnings: Vec::new(),
    }
    .read_feed(document.root_element())
}

fn xml_options<'input>(nodes_limit: u32) -> ParsingOptions<'input> {
    ParsingOptions {
        allow_dtd: false,
        nodes_limit,
        ..ParsingOptions::default()
    }
}

/// The feed's XML tree, with errors worded for the feed.
fn parse_xml(text: &str) -> Result<Document<'_>, FeedError> {
    Document::parse_with_options(text, xml_options(MAX_XML_NODES)).map_err(|error| match error {
        roxmltree::Error::DtdDetected => FeedError::DtdNotAllowed,
        roxmltree::Error::NodesLimitReached => FeedError::TooManyNodes {
            limit: MAX_XML_NODES,
        },
        // The parser's message can quote element and attribute names from
        // the feed, and XML names may hold zero-width and tag characters.
        other => FeedError::Xml(strip_invisible(&other.to_string()).into_owned()),
    })
}

/// True for the four characters of XML's white space (`S`).
fn is_xml_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

/// `text` without every run of XML white space that sits between a `>`
/// and a `<`, and how many runs were removed; `None` when there is none.
///
/// Such a run is the indentation between tags. In a well-formed document
/// it is a text node of white space only (or nothing, outside the root
/// element), or part of a comment, processing instruction or CDATA
/// section; it cannot be inside a tag or an attribute value, where `<`
/// is not allowed. Removing it joins a `>` and a `<`, which starts or
/// ends no markup, so the markup is the same and only those text nodes
/// and the contents of comments, processing instructions and CDATA
/// sections change, none of which a feed is read from. A text that is
/// not well-formed stays not well-formed.
fn without_blank_text(text: &str) -> Option<(String, usize)> {
    let bytes = text.as_bytes();
    let mut kept = String::new();
    let mut removed = 0;
    let mut copied_to = 0;
    for close in memchr::memchr_iter(b'>', bytes) {
        let start = close + 1;
        // Most tags are followed by a line break, a few by text.
        if !bytes.get(start).copied().is_some_and(is_xml_space) {
            continue;
        }
        let mut end = start + 1;
        loop {
            // Indentation is mostly spaces: eight at a time.
            while bytes.get(end..end + 8) == Some(b"        ") {
                end += 8;
            }
            match bytes.get(end) {
                Some(byte) if is_xml_space(*byte) => end += 1,
                _ => break,
            }
        }
        if bytes.get(end) != Some(&b'<') {
            continue;
        }
        if kept.capacity() == 0 {
            kept.reserve(text.len());
        }
        // Both ends are ASCII, so both are character boundaries.
        kept.push_str(&text[copied_to..start]);
        copied_to = end;
        removed += 1;
    }
    if removed == 0 {
        return None;
    }
    kept.push_str(&text[copied_to..]);
    Some((kept, removed))
}

/// Where in the document a value sits, rendered only when an error needs
/// it (so the happy path allocates nothing for it).
#[derive(Clone, Copy)]
enum Place<'a> {
    /// An element under `ResourceCollection/Publisher`, or the publisher
    /// itself when `path` is empty.
    Publisher { path: &'a [&'a str] },
    /// An element under a resource whose ID is not known (yet).
    ResourceAt { index: usize, path: &'a [&'a str] },
    /// An element under the resource with this ID.
    Resource { id: &'a str, path: &'a [&'a str] },
    /// The root element.
    Collection,
}

impl Place<'_> {
    fn render(self, attribute: Option<&str>) -> String {
        let (mut text, path) = match self {
            Place::Collection => ("ResourceCollection".to_owned(), &[][..]),
            Place::Publisher { path } => ("ResourceCollection/Publisher".to_owned(), path),
            Place::ResourceAt { index, path } => (format!("Resource #{}", index + 1), path),
            Place::Resource { id, path } => (format!("Resource[ID={}]", quote(id)), path),
        };
        for step in path {
            text.push('/');
            text.push_str(step);
        }
        if let Some(attribute) = attribute {
            text.push('@');
            text.push_str(attribute);
        }
        text
    }
}

/// True for an element of the feed vocabulary with this local name.
fn is_feed_element(node: Node, name: &str) -> bool {
    node.is_element()
        && node.tag_name().name() == name
        && matches!(node.tag_name().namespace(), None | Some(TSWF_NAMESPACE))
}

fn feed_children<'a, 'input: 'a>(
    node: Node<'a, 'input>,
    name: &'static str,
) -> impl Iterator<Item = Node<'a, 'input>> {
    node.children()
        .filter(move |child| is_feed_element(*child, name))
}

fn first_feed_child<'a, 'input>(
    node: Node<'a, 'input>,
    name: &'static str,
) -> Option<Node<'a, 'input>> {
    feed_children(node, name).next()
}

/// The first child of `node` that is a feed element of each name in
/// `names`, found in one pass over the children (the same answer as one
/// [`first_feed_child`] per name).
fn first_feed_children<'a, 'input, const N: usize>(
    node: Node<'a, 'input>,
    names: [&'static str; N],
) -> [Option<Node<'a, 'input>>; N] {
    let mut found = [None; N];
    for child in node.children() {
        if !child.is_element() {
            continue;
        }
        let tag = child.tag_name();
        if !matches!(tag.namespace(), None | Some(TSWF_NAMESPACE)) {
            continue;
        }
        if let Some(slot) = names
            .iter()
            .position(|name| *name == tag.name())
            .map(|index| &mut found[index])
            && slot.is_none()
        {
            *slot = Some(child);
        }
    }
    found
}

/// Children of the first `container` element that are `item` elements:
/// `<Folders><Folder/>...</Folders>` and the like.
fn items<'a, 'input: 'a>(
    node: Node<'a, 'input>,
    container: &'static str,
    item: &'static str,
) -> impl Iterator<Item = Node<'a, 'input>> {
    first_feed_child(node, container)
        .into_iter()
        .flat_map(move |list| feed_children(list, item))
}

/// Checks an attribute value against the common rules; returns the kept
/// value (invisible characters removed, then trimmed), or `None` when
/// absent or when nothing visible is left.
///
/// Every attribute value the model keeps passes through here; URLs go
/// through [`checked_url_text`] instead, and the one kept element name
/// (an unknown icon kind) through [`icon_kind`].
fn checked_text<'v>(
    value: Option<&'v str>,
    max_bytes: usize,
    place: Place,
    attribute: &'static str,
) -> Result<Option<Cow<'v, str>>, FeedError> {
    match value {
        // The common case, decided by one scan: printable ASCII has
        // nothing invisible to remove, no control character and no white
        // space but the space (`checked_text_by_rule` gives the same
        // answer; a property test holds them together).
        Some(raw) if is_printable_ascii(raw) => {
            // In printable ASCII the only white space is the space.
            let kept = raw.trim_ascii();
            if kept.is_empty() {
                return Ok(None);
            }
            if kept.len() > max_bytes {
                check_kept(kept, kept, max_bytes, place, attribute)?;
            }
            Ok(Some(Cow::Borrowed(kept)))
        }
        _ => checked_text_by_rule(value, max_bytes, place, attribute),
    }
}

/// [`checked_text`] without the printable-ASCII shortcut: the rules
/// themselves.
fn checked_text_by_rule<'v>(
    value: Option<&'v str>,
    max_bytes: usize,
    place: Place,
    attribute: &'static str,
) -> Result<Option<Cow<'v, str>>, FeedError> {
    let Some(raw) = value else {
        return Ok(None);
    };
    // Removal comes before trimming so that "\u{200B} Notes" and
    // "Notes \u{FEFF}" both become "Notes", and a value of only
    // invisible characters and spaces counts as empty.
    let as_written = raw.trim();
    let kept = match strip_invisible(raw) {
        // Nothing removed: the value is `raw`, trimmed once.
        Cow::Borrowed(_) => Cow::Borrowed(as_written),
        Cow::Owned(value) => Cow::Owned(value.trim().to_owned()),
    };
    if kept.is_empty() {
        return Ok(None);
    }
    check_kept(&kept, as_written, max_bytes, place, attribute)?;
    Ok(Some(kept))
}

/// Like [`checked_text`] but leaves invisible characters in place: they
/// may be part of a path the server expects, and a parsed [`Url`] is
/// serialized as ASCII (percent-encoded, IDNA hosts), so none of them
/// reaches anything shown.
fn checked_url_text<'v>(
    value: Option<&'v str>,
    place: Place,
    attribute: &'static str,
) -> Result<Option<&'v str>, FeedError> {
    let Some(raw) = value else {
        return Ok(None);
    };
    // Printable ASCII holds no control character and no white space but
    // the space (see `checked_text`).
    let printable = is_printable_ascii(raw);
    let value = if printable {
        raw.trim_ascii()
    } else {
        raw.trim()
    };
    if value.is_empty() {
        return Ok(None);
    }
    if value.len() > MAX_URL_BYTES || !printable {
        check_kept(value, value, MAX_URL_BYTES, place, attribute)?;
    }
    Ok(Some(value))
}

/// Length and control-character rules for a kept value; errors quote the
/// value as the feed had it.
fn check_kept(
    value: &str,
    as_written: &str,
    max_bytes: usize,
    place: Place,
    attribute: &'static str,
) -> Result<(), FeedError> {
    let invalid = |reason: String| FeedError::InvalidValue {
        location: place.render(Some(attribute)),
        value: quote(as_written),
        reason,
    };
    if value.len() > max_bytes {
        return Err(invalid(format!(
            "{} bytes long, more than the limit of {max_bytes}",
            value.len()
        )));
    }
    // Covers NUL, newlines, escape sequences and the C1 range: none belongs
    // in a name, and each can forge log lines or break later file formats.
    if let Some(control) = first_control(value) {
        return Err(invalid(format!(
            "contains the control character {:?}",
            control
        )));
    }
    Ok(())
}

fn optional_text(
    node: Node,
    attribute: &'static str,
    max_bytes: usize,
    place: Place,
) -> Result<Option<String>, FeedError> {
    kept_text(node.attribute(attribute), attribute, max_bytes, place)
}

/// [`optional_text`] of a value already looked up (see
/// [`attribute_values`]).
fn kept_text(
    value: Option<&str>,
    attribute: &'static str,
    max_bytes: usize,
    place: Place,
) -> Result<Option<String>, FeedError> {
    Ok(checked_text(value, max_bytes, place, attribute)?.map(Cow::into_owned))
}

/// The values of the attributes with these names, as
/// [`Node::attribute`] finds them (the first with that local name), in
/// one pass over the element's attributes instead of one per name.
fn attribute_values<'a, const N: usize>(
    node: Node<'a, '_>,
    names: [&'static str; N],
) -> [Option<&'a str>; N] {
    let mut values = [None; N];
    for attribute in node.attributes() {
        if let Some(slot) = names
            .iter()
            .position(|name| *name == attribute.name())
            .map(|index| &mut values[index])
            && slot.is_none()
        {
            *slot = Some(attribute.value());
        }
    }
    values
}

fn required_text(
    node: Node,
    attribute: &'static str,
    max_bytes: usize,
    place: Place,
) -> Result<String, FeedError> {
    optional_text(node, attribute, max_bytes, place)?.ok_or_else(|| FeedError::MissingAttribute {
        location: place.render(None),
        attribute,
    })
}

/// `xs:boolean`, plus the capitalised `True`/`False` that .NET writes.
fn optional_bool(
    node: Node,
    attribute: &'static str,
    place: Place,
) -> Result<Option<bool>, FeedError> {
    kept_bool(node.attribute(attribute), attribute, place)
}

/// [`optional_bool`] of a value already looked up.
fn kept_bool(
    value: Option<&str>,
    attribute: &'static str,
    place: Place,
) -> Result<Option<bool>, FeedError> {
    let Some(value) = checked_text(value, MAX_NAME_BYTES, place, attribute)? else {
        return Ok(None);
    };
    if value.eq_ignore_ascii_case("true") || value == "1" {
        Ok(Some(true))
    } else if value.eq_ignore_ascii_case("false") || value == "0" {
        Ok(Some(false))
    } else {
        Err(FeedError::InvalidValue {
            location: place.render(Some(attribute)),
            value: quote(&value),
            reason: "not a boolean (true, false, 1 or 0)".to_owned(),
        })
    }
}

/// Folder names are paths from the root `/`; the spec's own 2.0 example
/// omits the slash once, so a missing one is added rather than refused.
fn folder_path(node: Node, place: Place) -> Result<String, FeedError> {
    let name = required_text(node, "Name", MAX_NAME_BYTES, place)?;
    Ok(if name.starts_with('/') {
        name
    } else {
        format!("/{name}")
    })
}

/// `"32x32"` → `(32, 32)`.
fn parse_dimensions(value: &str) -> Option<(u32, u32)> {
    let (width, height) = value.split_once(['x', 'X'])?;
    Some((width.trim().parse().ok()?, height.trim().parse().ok()?))
}

fn icon_kind(element_name: &str) -> IconKind {
    // XML names may contain zero-width joiners, U+FEFF and tag characters.
    let element_name = strip_invisible(element_name);
    match element_name.as_ref() {
        "IconRaw" => IconKind::Raw,
        "Icon" => IconKind::Generic,
        other => match other["Icon".len()..].parse::<u32>() {
            Ok(size) => IconKind::Sized(size),
            Err(_) => IconKind::Other(other.to_owned()),
        },
    }
}

/// The `Icon*` children of an `<Icons>` or `<FileAssociationIcons>`.
fn icon_nodes<'a, 'input: 'a>(list: Node<'a, 'input>) -> impl Iterator<Item = Node<'a, 'input>> {
    list.children().filter(|child| {
        child.is_element()
            && child.tag_name().name().starts_with("Icon")
            && matches!(child.tag_name().namespace(), None | Some(TSWF_NAMESPACE))
    })
}

struct FeedReader<'b> {
    base_url: &'b Url,
    max_resources: usize,
    warnings: Vec<String>,
}

impl FeedReader<'_> {
    fn read_feed(mut self, root: Node) -> Result<Feed, FeedError> {
        if !is_feed_element(root, "ResourceCollection") {
            let name = root.tag_name();
            let found = match name.namespace() {
                Some(namespace) => format!("{{{namespace}}}{}", name.name()),
                None => name.name().to_owned(),
            };
            return Err(FeedError::WrongRoot {
                found: quote(&found),
            });
        }
        let collection = Place::Collection;
        let schema_version = optional_text(root, "SchemaVersion", MAX_NAME_BYTES, collection)?;
        let pub_date = optional_text(root, "PubDate", MAX_NAME_BYTES, collection)?;

        let mut publishers = feed_children(root, "Publisher");
        let publisher_node = publishers.next().ok_or_else(|| FeedError::MissingElement {
            location: collection.render(None),
            element: "Publisher",
        })?;
        let extra_publishers = publishers.count();
        if extra_publishers > 0 {
            // The spec allows exactly one; a workspace is one publisher.
            self.warnings.push(format!(
                "ignored {extra_publishers} extra <Publisher> element(s); only the first is used"
            ));
        }

        let publisher = self.read_publisher(root, publisher_node)?;
        let terminal_servers = self.read_terminal_servers(publisher_node)?;
        let resources = self.read_resources(publisher_node, &terminal_servers)?;
        Ok(Feed {
            schema_version,
            pub_date,
            publisher,
            resources,
            terminal_servers,
            warnings: self.warnings,
        })
    }

    fn read_publisher(&mut self, root: Node, node: Node) -> Result<Publisher, FeedError> {
        let place = Place::Publisher { path: &[] };
        // The spec puts these on ResourceCollection in prose and on
        // Publisher in the schema; servers do both. Publisher wins.
        let supports_reconnect = match optional_bool(node, "SupportsReconnect", place)? {
            Some(value) => Some(value),
            None => optional_bool(root, "SupportsReconnect", Place::Collection)?,
        };
        let display_folder = match optional_text(node, "DisplayFolder", MAX_NAME_BYTES, place)? {
            Some(value) => Some(value),
            None => optional_text(root, "DisplayFolder", MAX_NAME_BYTES, Place::Collection)?,
        };
        let sub_folders = feed_children(node, "SubFolders")
            .flat_map(|list| feed_children(list, "Folder"))
            .map(|folder| {
                folder_path(
                    folder,
                    Place::Publisher {
                        path: &["SubFolders", "Folder"],
                    },
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(Publisher {
            id: required_text(node, "ID", MAX_ID_BYTES, place)?,
            name: optional_text(node, "Name", MAX_NAME_BYTES, place)?,
            description: optional_text(node, "Description", MAX_DESCRIPTION_BYTES, place)?,
            last_updated: optional_text(node, "LastUpdated", MAX_NAME_BYTES, place)?,
            supports_reconnect,
            display_folder,
            sub_folders,
        })
    }

    fn read_terminal_servers(&mut self, publisher: Node) -> Result<Vec<TerminalServer>, FeedError> {
        let place = Place::Publisher {
            path: &["TerminalServers", "TerminalServer"],
        };
        let mut servers: Vec<TerminalServer> = Vec::new();
        for node in items(publisher, "TerminalServers", "TerminalServer") {
            let id = required_text(node, "ID", MAX_ID_BYTES, place)?;
            if servers.iter().any(|server| server.id == id) {
                self.warnings.push(format!(
                    "duplicate <TerminalServer> ID {}: kept the first",
                    quote(&id)
                ));
                continue;
            }
            servers.push(TerminalServer {
                id,
                name: optional_text(node, "Name", MAX_NAME_BYTES, place)?,
                last_updated: optional_text(node, "LastUpdated", MAX_NAME_BYTES, place)?,
            });
        }
        Ok(servers)
    }

    fn read_resources(
        &mut self,
        publisher: Node,
        terminal_servers: &[TerminalServer],
    ) -> Result<Vec<Resource>, FeedError> {
        let known_servers: HashSet<&str> = terminal_servers
            .iter()
            .map(|server| server.id.as_str())
            .collect();
        // Counted before any is read: each resource becomes files on disk
        // (an entry, icons at several sizes, a downloaded .rdp file), so the
        // count bounds that work, not just memory.
        let listed = items(publisher, "Resources", "Resource").count();
        if listed > self.max_resources {
            return Err(FeedError::TooManyResources {
                count: listed,
                limit: self.max_resources,
            });
        }
        let mut seen_ids: HashSet<String> = HashSet::with_capacity(listed);
        let mut resources = Vec::with_capacity(listed);
        for (index, node) in items(publisher, "Resources", "Resource").enumerate() {
            let id = required_text(
                node,
                "ID",
                MAX_ID_BYTES,
                Place::ResourceAt { index, path: &[] },
            )?;
            if seen_ids.contains(&id) {
                self.warnings.push(format!(
                    "duplicate resource ID {} (resource #{}): kept the first",
                    quote(&id),
                    index + 1
                ));
                continue;
            }
            let resource = self.read_resource(node, id, &known_servers)?;
            seen_ids.insert(resource.id.clone());
            resources.push(resource);
        }
        Ok(resources)
    }

    fn read_resource(
        &mut self,
        node: Node,
        id: String,
        known_servers: &HashSet<&str>,
    ) -> Result<Resource, FeedError> {
        let place = Place::Resource { id: &id, path: &[] };
        let [
            alias,
            title,
            kind,
            last_updated,
            executable_name,
            show_by_default,
        ] = attribute_values(
            node,
            [
                "Alias",
                "Title",
                "Type",
                "LastUpdated",
                "ExecutableName",
                "ShowByDefault",
            ],
        );
        let alias = kept_text(alias, "Alias", MAX_ID_BYTES, place)?;
        let title = match kept_text(title, "Title", MAX_NAME_BYTES, place)? {
            Some(title) => title,
            None => alias.clone().unwrap_or_else(|| id.clone()),
        };
        let resource_type = match checked_text(kind, MAX_NAME_BYTES, place, "Type")?.as_deref() {
            None | Some("RemoteApp") => ResourceType::RemoteApp,
            Some("Desktop") => ResourceType::Desktop,
            Some(other) => ResourceType::Other(other.to_owned()),
        };
        let last_updated = kept_text(last_updated, "LastUpdated", MAX_NAME_BYTES, place)?;
        let executable_name = kept_text(executable_name, "ExecutableName", MAX_NAME_BYTES, place)?;
        let show_by_default = kept_bool(show_by_default, "ShowByDefault", place)?.unwrap_or(true);

        let [icon_list, extension_list, folder_list, hosting_list] = first_feed_children(
            node,
            [
                "Icons",
                "FileExtensions",
                "Folders",
                "HostingTerminalServers",
            ],
        );
        let extensions: Vec<(Node, Option<Node>)> = extension_list
            .into_iter()
            .flat_map(|list| feed_children(list, "FileExtension"))
            .map(|extension| {
                (
                    extension,
                    first_feed_child(extension, "FileAssociationIcons"),
                )
            })
            .collect();

        // Every icon is a download and a decode at several sizes; the
        // resource's own and its file types' icons count together.
        let icon_count = icon_list.map_or(0, |list| icon_nodes(list).count())
            + extensions
                .iter()
                .filter_map(|(_, icons)| *icons)
                .map(|list| icon_nodes(list).count())
                .sum::<usize>();
        if icon_count > MAX_ICONS_PER_RESOURCE {
            return Err(FeedError::TooManyIcons {
                location: place.render(None),
                count: icon_count,
                limit: MAX_ICONS_PER_RESOURCE,
            });
        }

        let icons = match icon_list {
            Some(list) => self.read_icons(list, &id, "Icons")?,
            None => Vec::new(),
        };

        let mut file_extensions = Vec::with_capacity(extensions.len());
        let extension_place = Place::Resource {
            id: &id,
            path: &["FileExtensions", "FileExtension"],
        };
        for (extension, association_icons) in extensions {
            let Some(name) = optional_text(extension, "Name", MAX_NAME_BYTES, extension_place)?
            else {
                self.warnings.push(format!(
                    "resource {}: skipped a <FileExtension> without Name",
                    quote(&id)
                ));
                continue;
            };
            let icons = match association_icons {
                Some(list) => self.read_icons(list, &id, "FileAssociationIcons")?,
                None => Vec::new(),
            };
            file_extensions.push(FileExtension {
                primary_handler: optional_bool(extension, "PrimaryHandler", extension_place)?,
                name,
                icons,
            });
        }

        let folders = folder_list
            .into_iter()
            .flat_map(|list| feed_children(list, "Folder"))
            .map(|folder| {
                folder_path(
                    folder,
                    Place::Resource {
                        id: &id,
                        path: &["Folders", "Folder"],
                    },
                )
            })
            .collect::<Result<_, _>>()?;

        let mut hosting_terminal_servers = Vec::new();
        for hosting in hosting_list
            .into_iter()
            .flat_map(|list| feed_children(list, "HostingTerminalServer"))
        {
            hosting_terminal_servers.push(self.read_hosting(hosting, &id, known_servers)?);
        }

        Ok(Resource {
            alias,
            title,
            resource_type,
            last_updated,
            executable_name,
            show_by_default,
            icons,
            file_extensions,
            folders,
            hosting_terminal_servers,
            id,
        })
    }

    /// Every `Icon*` child of an `<Icons>` or `<FileAssociationIcons>`.
    fn read_icons(
        &mut self,
        list: Node,
        resource_id: &str,
        list_name: &'static str,
    ) -> Result<Vec<Icon>, FeedError> {
        let mut icons = Vec::new();
        for node in icon_nodes(list) {
            let element_name = node.tag_name().name();
            let place = Place::Resource {
                id: resource_id,
                path: &[list_name, element_name],
            };
            let [dimensions, file_type, file_url] =
                attribute_values(node, ["Dimensions", "FileType", "FileURL"]);
            let dimensions = match checked_text(dimensions, MAX_NAME_BYTES, place, "Dimensions")? {
                Some(text) => {
                    let parsed = parse_dimensions(&text);
                    if parsed.is_none() {
                        self.warnings.push(format!(
                            "{}: ignored unreadable value {}",
                            place.render(Some("Dimensions")),
                            quote(&text)
                        ));
                    }
                    parsed
                }
                None => None,
            };
            icons.push(Icon {
                kind: icon_kind(element_name),
                dimensions,
                file_type: kept_text(file_type, "FileType", MAX_NAME_BYTES, place)?,
                url: self.kept_url(file_url, "FileURL", place)?,
            });
        }
        Ok(icons)
    }

    fn read_hosting(
        &mut self,
        node: Node,
        resource_id: &str,
        known_servers: &HashSet<&str>,
    ) -> Result<HostingTerminalServer, FeedError> {
        let file_place = Place::Resource {
            id: resource_id,
            path: &[
                "HostingTerminalServers",
                "HostingTerminalServer",
                "ResourceFile",
            ],
        };
        let [file_node, reference_node] =
            first_feed_children(node, ["ResourceFile", "TerminalServerRef"]);
        let resource_file = match file_node {
            Some(file) => Some(ResourceFile {
                url: self.optional_url(file, "URL", file_place)?,
                file_extension: optional_text(file, "FileExtension", MAX_NAME_BYTES, file_place)?
                    .unwrap_or_else(|| ".rdp".to_owned()),
            }),
            None => None,
        };
        let ref_place = Place::Resource {
            id: resource_id,
            path: &[
                "HostingTerminalServers",
                "HostingTerminalServer",
                "TerminalServerRef",
            ],
        };
        let terminal_server_ref = match reference_node {
            Some(reference) => optional_text(reference, "Ref", MAX_ID_BYTES, ref_place)?,
            None => None,
        };
        if let Some(reference) = &terminal_server_ref
            && !known_servers.contains(reference.as_str())
        {
            self.warnings.push(format!(
                "resource {}: TerminalServerRef {} names no <TerminalServer>",
                quote(resource_id),
                quote(reference)
            ));
        }
        Ok(HostingTerminalServer {
            resource_file,
            terminal_server_ref,
        })
    }

    /// Resolves a URL attribute against the feed URL and insists on
    /// http(s): anything else (`javascript:`, `file:`, `data:`, ...) would
    /// let a server point the client at local files or scripts.
    fn optional_url(
        &self,
        node: Node,
        attribute: &'static str,
        place: Place,
    ) -> Result<Option<Url>, FeedError> {
        self.kept_url(node.attribute(attribute), attribute, place)
    }

    /// [`Self::optional_url`] of a value already looked up.
    fn kept_url(
        &self,
        value: Option<&str>,
        attribute: &'static str,
        place: Place,
    ) -> Result<Option<Url>, FeedError> {
        let Some(raw) = checked_url_text(value, place, attribute)? else {
            return Ok(None);
        };
        let url = self
            .base_url
            .join(raw)
            .map_err(|error| FeedError::InvalidUrl {
                location: place.render(Some(attribute)),
                value: quote(raw),
                reason: error.to_string(),
            })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FeedError::UnsafeUrlScheme {
                location: place.render(Some(attribute)),
                scheme: url.scheme().to_owned(),
                value: quote(raw),
            });
        }
        Ok(Some(url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`parse_with_max_resources`] without removing the white space
    /// between tags: the feed as written, straight to roxmltree.
    fn parse_as_written(
        bytes: &[u8],
        base_url: &Url,
        max_resources: usize,
    ) -> Result<Feed, FeedError> {
        let text = feed_text(bytes)?;
        read_document(&parse_xml(text)?, base_url, max_resources)
    }

    #[test]
    fn blank_text_between_tags_is_removed_and_counted() {
        assert_eq!(without_blank_text("<a>x</a>"), None);
        assert_eq!(without_blank_text("<a> x </a>"), None);
        assert_eq!(
            without_blank_text("<?xml version=\"1.0\"?>\r\n<a>\n\t<b/> \n</a>\n"),
            Some(("<?xml version=\"1.0\"?><a><b/></a>\n".to_owned(), 3))
        );
        // Long indentation, spaces in eights and not.
        assert_eq!(
            without_blank_text("<a>\n                <b/>\t         \r\n       x<c/> </a>"),
            Some(("<a><b/>\t         \r\n       x<c/></a>".to_owned(), 2))
        );
        // Only XML's four white space characters make a run.
        assert_eq!(without_blank_text("<a>\u{a0}<b/></a>"), None);
        assert_eq!(without_blank_text("<a>\u{c}<b/></a>"), None);
        // Inside markup the run goes too; the markup stays as it was.
        assert_eq!(
            without_blank_text("<a><!-- x> <y --><![CDATA[> <]]></a>"),
            Some(("<a><!-- x><y --><![CDATA[><]]></a>".to_owned(), 2))
        );
    }

    /// Feed-like XML: a valid feed's pieces in order, a few of them
    /// left out, with markup that holds `> <` (comments, CDATA,
    /// processing instructions, attribute values, a DTD, stray brackets)
    /// and other trouble put in between, all joined by white space, text
    /// or nothing.
    fn feed_like_xml() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        const FEED: &[&str] = &[
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>",
            "<ResourceCollection SchemaVersion=\"2.1\" xmlns=\"http://schemas.microsoft.com/ts/2007/05/tswf\">",
            "<Publisher ID=\"p\" Name=\"P\" LastUpdated=\"2025-01-01\">",
            "<Resources>",
            "<Resource ID=\"a\" Title=\"A\" Alias=\"a\">",
            "<Icons>",
            "<Icon32 Dimensions=\"32x32\" FileType=\"Png\" FileURL=\"/i/a.png?x=1\" />",
            "<IconRaw FileURL=\"https://other.example.test/a.ico\"/>",
            "</Icons>",
            "<Folders>",
            "<Folder Name=\"Tools\"/>",
            "</Folders>",
            "<HostingTerminalServers><HostingTerminalServer>",
            "<ResourceFile URL=\"/a.rdp\"/>",
            "<TerminalServerRef Ref=\"h\"/>",
            "</HostingTerminalServer></HostingTerminalServers>",
            "</Resource>",
            "<Resource ID=\"b\" Type=\"Desktop\">",
            "<FileExtensions><FileExtension Name=\".txt\" PrimaryHandler=\"True\">",
            "</FileExtension></FileExtensions>",
            "</Resource>",
            "</Resources>",
            "<TerminalServers><TerminalServer ID=\"h\" Name=\"h\"/></TerminalServers>",
            "</Publisher>",
            "</ResourceCollection>",
        ];
        const TROUBLE: &[&str] = &[
            "<!-- a> <b -->",
            "<![CDATA[ > \n< ]]>",
            "<?pi a> <b?>",
            "<x a=\"> <\"/>",
            "<!DOCTYPE r [<!ENTITY e \"> <\">]>",
            "&amp;",
            "&#32;",
            "<",
            ">",
            "</x>",
            "<t:x xmlns:t=\"urn:other\"> </t:x>",
            "<IconRaw FileURL=\" javascript:x \"/>",
            "<Resource ID=\"a\" ShowByDefault=\"maybe\"/>",
            "<Resource ID=\"c\"/>",
            "<?xml version=\"1.0\"?>",
        ];
        // Text (the last two) only where an element is open.
        const GLUE: &[&str] = &[
            "",
            "",
            "\n",
            "\r\n  ",
            " ",
            "\t",
            "\n                  \t        ",
            " x ",
            "\u{a0}",
        ];
        let glue = |at: usize, glue: usize| match at {
            0 => "",
            1 => GLUE[glue % 7],
            _ if at == FEED.len() => GLUE[glue % 7],
            _ => GLUE[glue],
        };
        (
            proptest::collection::vec((proptest::bool::weighted(0.95), 0..GLUE.len()), FEED.len()),
            prop_oneof![
                Just(Vec::new()),
                proptest::collection::vec((0..=FEED.len(), 0..TROUBLE.len(), 0..GLUE.len()), 1..3,),
            ],
        )
            .prop_map(move |(kept, trouble)| {
                let mut xml = String::new();
                let trouble_at = |xml: &mut String, index: usize| {
                    for (_, piece, glue_index) in trouble.iter().filter(|(at, ..)| *at == index) {
                        xml.push_str(glue(index, *glue_index));
                        xml.push_str(TROUBLE[*piece]);
                    }
                };
                for (index, (keep, glue_index)) in kept.into_iter().enumerate() {
                    trouble_at(&mut xml, index);
                    if keep {
                        xml.push_str(glue(index, glue_index));
                        xml.push_str(FEED[index]);
                    }
                }
                trouble_at(&mut xml, FEED.len());
                xml
            })
    }

    #[test]
    fn a_whole_feed_reads_the_same_with_blank_text_removed() {
        let feed = "<?xml version=\"1.0\"?>\n<ResourceCollection SchemaVersion=\"2.1\" \
            xmlns=\"http://schemas.microsoft.com/ts/2007/05/tswf\">\n  <Publisher ID=\"p\" \
            Name=\"P\">\n    <Resources>\n      <Resource ID=\"a\" Title=\"A\">\n        \
            <Icons> <Icon32 FileURL=\"/a.png\"/> </Icons>\n      </Resource>\n    \
            </Resources>\n  </Publisher>\n</ResourceCollection>\n";
        let base = Url::parse("https://rdweb.example.test/RDWeb/Feed/webfeed.aspx").unwrap();
        let parsed = parse(feed.as_bytes(), &base).unwrap();
        assert_eq!(parsed.resources.len(), 1);
        assert_eq!(
            Ok(parsed),
            parse_as_written(feed.as_bytes(), &base, MAX_RESOURCES)
        );
    }

    #[test]
    fn dimensions_are_read_leniently() {
        assert_eq!(parse_dimensions("32x32"), Some((32, 32)));
        assert_eq!(parse_dimensions("48 X 48"), Some((48, 48)));
        assert_eq!(parse_dimensions("32"), None);
        assert_eq!(parse_dimensions("-1x4"), None);
    }

    #[test]
    fn icon_kinds_follow_element_names() {
        assert_eq!(icon_kind("IconRaw"), IconKind::Raw);
        assert_eq!(icon_kind("Icon"), IconKind::Generic);
        assert_eq!(icon_kind("Icon256"), IconKind::Sized(256));
        assert_eq!(icon_kind("IconPng"), IconKind::Other("IconPng".to_owned()));
    }

    #[test]
    fn places_render_as_paths() {
        let place = Place::Resource {
            id: "calc",
            path: &["Icons", "Icon32"],
        };
        assert_eq!(
            place.render(Some("FileURL")),
            r#"Resource[ID="calc"]/Icons/Icon32@FileURL"#
        );
        assert_eq!(
            Place::ResourceAt {
                index: 2,
                path: &[]
            }
            .render(Some("ID")),
            "Resource #3@ID"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2048, ..Default::default() })]

        /// The printable-ASCII shortcut of `checked_text` keeps, refuses
        /// and words errors exactly like the rules it skips, for any value
        /// and limit (mostly ASCII with spaces at the ends, to reach the
        /// shortcut, plus anything at all).
        #[test]
        fn checked_text_shortcut_agrees_with_the_rules(
            ascii in "[ ]{0,3}[\\x00-\\x7F]{0,40}[ ]{0,3}",
            any in proptest::prelude::any::<String>(),
            max_bytes in 0usize..48,
        ) {
            let place = Place::Resource { id: "calc", path: &["Icons"] };
            for value in [Some(ascii.as_str()), Some(any.as_str()), None] {
                proptest::prop_assert_eq!(
                    checked_text(value, max_bytes, place, "Title"),
                    checked_text_by_rule(value, max_bytes, place, "Title")
                );
                proptest::prop_assert_eq!(
                    checked_url_text(value, place, "FileURL"),
                    checked_url_text_by_rule(value, place, "FileURL")
                );
            }
        }

        /// Removing the white space between tags changes nothing a
        /// caller sees: the same feed, the same warnings, the same error
        /// with the same wording and position.
        #[test]
        fn blank_text_removal_agrees_with_the_feed_as_written(
            xml in feed_like_xml(),
            bom in proptest::prelude::any::<bool>(),
            max_resources in 1usize..4,
        ) {
            let base = Url::parse("https://rdweb.example.test/RDWeb/Feed/webfeed.aspx").unwrap();
            let bytes = [if bom { UTF8_BOM } else { b"" }, xml.as_bytes()].concat();
            proptest::prop_assert_eq!(
                parse_with_max_resources(&bytes, &base, max_resources),
                parse_as_written(&bytes, &base, max_resources)
            );
        }

        /// The same for URL text at the length limit.
        #[test]
        fn checked_url_text_shortcut_agrees_at_the_limit(
            padding in 0usize..3,
            length in (MAX_URL_BYTES - 2)..(MAX_URL_BYTES + 2),
            tail in "[ \\t\\x01a\u{e9}\u{200b}]{0,2}",
        ) {
            let place = Place::Resource { id: "calc", path: &["Icons"] };
            let value = format!("{}{}{tail}", " ".repeat(padding), "a".repeat(length));
            proptest::prop_assert_eq!(
                checked_url_text(Some(&value), place, "FileURL"),
                checked_url_text_by_rule(Some(&value), place, "FileURL")
            );
        }
    }

    /// What `checked_url_text` did before its printable-ASCII shortcut.
    fn checked_url_text_by_rule<'v>(
        value: Option<&'v str>,
        place: Place,
        attribute: &'static str,
    ) -> Result<Option<&'v str>, FeedError> {
        let Some(value) = value.map(str::trim).filter(|value| !value.is_empty()) else {
            return Ok(None);
        };
        check_kept(value, value, MAX_URL_BYTES, place, attribute)?;
        Ok(Some(value))
    }

    #[test]
    fn quoting_escapes_and_shortens() {
        assert_eq!(quote("a\nb\0"), r#""a\nb\0""#);
        let long = "x".repeat(500);
        assert!(quote(&long).ends_with("(500 chars)"));
    }
}
