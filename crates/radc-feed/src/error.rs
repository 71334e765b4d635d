//! Why a feed was refused.
//!
//! Every variant says what was wrong and, where it applies, where: a path
//! such as `Resource[ID="calc"]/Icons/IconRaw@FileURL`. Values quoted in
//! errors are escaped and shortened, so messages are safe to log.

/// A feed that could not be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FeedError {
    /// The body is larger than [`crate::limits::MAX_FEED_BYTES`].
    #[error("feed is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// Size of the body.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The body is not UTF-8 (after an optional BOM).
    #[error("feed is not valid UTF-8 (first bad byte at offset {offset})")]
    NotUtf8 {
        /// Offset of the first invalid byte, counting any BOM.
        offset: usize,
    },
    /// The document has a DTD (`<!DOCTYPE ...>`). Refused outright: DTDs
    /// carry entity-expansion attacks and no real feed has one.
    #[error("feed contains a DTD (<!DOCTYPE ...>), which is not allowed")]
    DtdNotAllowed,
    /// More XML nodes than [`crate::limits::MAX_XML_NODES`].
    #[error("feed has more than {limit} XML nodes")]
    TooManyNodes {
        /// The limit.
        limit: u32,
    },
    /// The feed lists more resources than [`crate::limits::MAX_RESOURCES`].
    #[error("the feed lists {count} resources; radc accepts at most {limit}")]
    TooManyResources {
        /// How many `<Resource>` elements the feed lists.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A resource lists more icons than
    /// [`crate::limits::MAX_ICONS_PER_RESOURCE`].
    #[error(
        "{location}: the resource lists {count} icons (its own and its file types'); radc accepts at most {limit}"
    )]
    TooManyIcons {
        /// The resource, e.g. `Resource[ID="calc"]`.
        location: String,
        /// Its icons and its file extensions' icons together.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// Not well-formed XML; the message comes from the XML parser and
    /// includes the line and column.
    #[error("feed is not well-formed XML: {0}")]
    Xml(String),
    /// The root element is not `<ResourceCollection>`.
    #[error("root element is <{found}>, expected <ResourceCollection>")]
    WrongRoot {
        /// Local name of the root element found, escaped.
        found: String,
    },
    /// A required element is missing.
    #[error("{location}: missing required element <{element}>")]
    MissingElement {
        /// Where it was expected.
        location: String,
        /// The element's name.
        element: &'static str,
    },
    /// A required attribute is missing or empty, or holds nothing but
    /// whitespace and invisible characters (see [`crate::text`]).
    #[error("{location}: missing or empty required attribute {attribute}")]
    MissingAttribute {
        /// The element that should carry it.
        location: String,
        /// The attribute's name.
        attribute: &'static str,
    },
    /// An attribute's value breaks a rule (length, control characters,
    /// syntax).
    #[error("{location}: invalid value {value}: {reason}")]
    InvalidValue {
        /// Element and attribute, e.g. `Resource[ID="x"]@Title`.
        location: String,
        /// The offending value, escaped and shortened.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A URL that cannot be parsed or resolved against the feed URL.
    #[error("{location}: invalid URL {value}: {reason}")]
    InvalidUrl {
        /// Element and attribute.
        location: String,
        /// The offending value, escaped and shortened.
        value: String,
        /// What the URL parser said.
        reason: String,
    },
    /// A URL whose scheme is not http or https (`javascript:`, `file:`, ...).
    #[error("{location}: URL scheme {scheme:?} is not allowed (only http and https): {value}")]
    UnsafeUrlScheme {
        /// Element and attribute.
        location: String,
        /// The scheme after resolution.
        scheme: String,
        /// The offending value, escaped and shortened.
        value: String,
    },
}

/// Longest excerpt of a bad value quoted in an error or warning.
const MAX_QUOTED_CHARS: usize = 80;

/// Quotes an untrusted value for an error or warning: escaped (so control
/// characters cannot forge log lines) and cut to a readable length.
pub(crate) fn quote(value: &str) -> String {
    let mut quoted = String::from("\"");
    for (index, ch) in value.chars().enumerate() {
        if index == MAX_QUOTED_CHARS {
            quoted.push_str("\"… (");
            quoted.push_str(&value.chars().count().to_string());
            quoted.push_str(" chars)");
            return quoted;
        }
        quoted.extend(ch.escape_debug());
    }
    quoted.push('"');
    quoted
}
