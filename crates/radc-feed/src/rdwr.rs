//! MS-RDWR, the Remote Desktop Workspace Runtime Protocol: asking RD Web
//! Access for the `.rdp` files that reconnect the user to their sessions.
//!
//! One SOAP 1.1 operation, `GetRDPFiles`, on the web service
//! `RDWebService.asmx`. The request is an empty element
//! ([`REQUEST_BODY`], with the `SOAPAction` header [`SOAP_ACTION`]); the
//! answer is
//!
//! ```text
//! Envelope/Body/GetRDPFilesResponse/GetRDPFilesResult
//!     version?            protocol version string, informative
//!     wkspRC?             zero or more of:
//!         ReconnectContent
//!             rdpStream?  the text of one .rdp file
//!             rct         REMOTEDESKTOP | VMREMOTEDESKTOP | REMOTEAPPLICATION
//! ```
//!
//! An answer without `wkspRC`, or with an empty one, means no sessions.
//! A SOAP `Fault` is reported with its (cleaned, shortened) `faultstring`.
//!
//! The specification does not say where the service is
//! (MS-RDWR 1.5: "the client requires a valid URL to the server"). RD Web
//! Access serves it beside the feed (`/RDWeb/Feed/webfeed.aspx` →
//! `/RDWeb/Feed/RDWebService.asmx`), which is what [`service_url`] derives.
//! A feed says whether the service exists with `SupportsReconnect` on its
//! publisher ([`crate::Publisher::supports_reconnect`]).
//!
//! Everything here is pure: [`parse_response`] takes the bytes and the
//! HTTP status, and never panics; every value it returns is bounded.

use roxmltree::{Document, Node, ParsingOptions};
use url::Url;

use crate::error::quote;
use crate::text::strip_invisible;

/// The XML namespace of MS-RDWR's messages.
pub const RDWEB_NAMESPACE: &str = "http://schemas.microsoft.com/ts/2010/09/rdweb";
/// The SOAP 1.1 envelope namespace.
pub const SOAP_ENVELOPE_NAMESPACE: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The `SOAPAction` header value of `GetRDPFiles`, quoted as SOAP 1.1
/// requires (MS-RDWR 3.1.4.1, 4.1).
pub const SOAP_ACTION: &str = "\"http://schemas.microsoft.com/ts/2010/09/rdweb/GetRDPFiles\"";
/// The request's `Content-Type`.
pub const REQUEST_CONTENT_TYPE: &str = "text/xml; charset=utf-8";
/// The name of the web service beside the feed.
pub const SERVICE_NAME: &str = "RDWebService.asmx";

/// The whole request body: a SOAP 1.1 envelope holding an empty
/// `GetRDPFiles` (MS-RDWR 3.1.4.1.2.1, 4.1).
pub const REQUEST_BODY: &str = concat!(
    r#"<?xml version="1.0" encoding="utf-8"?>"#,
    r#"<soap:Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" "#,
    r#"xmlns:xsd="http://www.w3.org/2001/XMLSchema" "#,
    r#"xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">"#,
    r#"<soap:Body><GetRDPFiles xmlns="http://schemas.microsoft.com/ts/2010/09/rdweb" /></soap:Body>"#,
    r#"</soap:Envelope>"#
);

/// Bounds on an answer.
pub mod limits {
    /// Largest answer body accepted.
    pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
    /// Most sessions one answer may return. A user with more disconnected
    /// sessions in one deployment than this is not reconnected to the rest.
    pub const MAX_FILES: usize = 32;
    /// Largest `.rdp` text of one session (a signed file is about 10 KiB).
    pub const MAX_FILE_BYTES: usize = 256 * 1024;
    /// Most XML nodes parsed.
    pub const MAX_XML_NODES: u32 = 20_000;
    /// Longest fault text kept, in characters.
    pub const MAX_FAULT_CHARS: usize = 300;
}

/// What kind of session a file reconnects to (`ReconnectContentType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// `REMOTEDESKTOP`
    Desktop,
    /// `VMREMOTEDESKTOP`: a desktop on a virtual machine.
    VirtualMachine,
    /// `REMOTEAPPLICATION`: RemoteApp programs.
    RemoteApp,
}

impl SessionKind {
    fn parse(value: &str) -> Option<SessionKind> {
        match value {
            "REMOTEDESKTOP" => Some(SessionKind::Desktop),
            "VMREMOTEDESKTOP" => Some(SessionKind::VirtualMachine),
            "REMOTEAPPLICATION" => Some(SessionKind::RemoteApp),
            _ => None,
        }
    }

    /// The protocol's own word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Desktop => "REMOTEDESKTOP",
            SessionKind::VirtualMachine => "VMREMOTEDESKTOP",
            SessionKind::RemoteApp => "REMOTEAPPLICATION",
        }
    }
}

/// One session to reconnect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub kind: SessionKind,
    /// The `.rdp` file's text, as the server sent it (UTF-8; line breaks
    /// kept). Untrusted: it goes through the `.rdp` parser, the signature
    /// check and the trust decision like any file of the workspace.
    pub rdp: String,
}

/// A parsed `GetRDPFiles` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    /// `version`, if given (cleaned, at most 64 characters).
    pub version: Option<String>,
    /// The sessions, in the server's order. Empty: no sessions.
    pub sessions: Vec<Session>,
    /// Entries skipped without failing the answer (an entry without
    /// `rdpStream`). Safe to log.
    pub warnings: Vec<String>,
}

/// Why an answer was refused. Messages name what was wrong and quote
/// server values escaped and shortened, so they are safe to show and log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RdwrError {
    #[error("the server's answer is {size} bytes, more than the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("the server's answer is not UTF-8 (first bad byte at offset {offset})")]
    NotUtf8 { offset: usize },
    #[error("the server's answer contains a DTD (<!DOCTYPE ...>), which is not allowed")]
    DtdNotAllowed,
    #[error("the server's answer is not well-formed XML: {0}")]
    Xml(String),
    #[error("the server's answer has more than {limit} XML nodes")]
    TooManyNodes { limit: u32 },
    #[error(
        "the server's answer is not a SOAP 1.1 envelope: the root element is {found}, expected Envelope in {SOAP_ENVELOPE_NAMESPACE}"
    )]
    NotSoap { found: String },
    #[error("the server's answer has no SOAP Body")]
    NoBody,
    #[error("the server refused the request (SOAP fault {code}): {text}")]
    Fault { code: String, text: String },
    #[error("the server answered HTTP {status} without a SOAP fault")]
    Status { status: u16 },
    #[error(
        "the server's answer does not hold a GetRDPFilesResponse in {RDWEB_NAMESPACE} (found {found})"
    )]
    NoResponse { found: String },
    #[error("the server's answer lacks GetRDPFilesResponse/GetRDPFilesResult")]
    NoResult,
    #[error("session #{index} of the answer has no rct (session type)")]
    NoKind { index: usize },
    #[error(
        "session #{index} of the answer has an unknown rct (session type) {value}; expected REMOTEDESKTOP, VMREMOTEDESKTOP or REMOTEAPPLICATION"
    )]
    UnknownKind { index: usize, value: String },
    #[error("the answer returns {count} sessions; radc reconnects at most {limit}")]
    TooManySessions { count: usize, limit: usize },
    #[error("the .rdp file of session #{index} is {size} bytes, more than the limit of {limit}")]
    FileTooLarge {
        index: usize,
        size: usize,
        limit: usize,
    },
}

/// Where the workspace's `RDWebService.asmx` is: beside its feed, on the
/// feed's origin (so it is within the feed's scope by construction). The
/// query and fragment of the feed URL are dropped.
///
/// ```
/// # use url::Url;
/// let feed = Url::parse("https://rd.contoso.com/RDWeb/Feed/webfeed.aspx?x=1").unwrap();
/// assert_eq!(
///     radc_feed::rdwr::service_url(&feed).as_str(),
///     "https://rd.contoso.com/RDWeb/Feed/RDWebService.asmx"
/// );
/// ```
pub fn service_url(feed_url: &Url) -> Url {
    let mut url = feed_url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.join(SERVICE_NAME).unwrap_or(url)
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads a `GetRDPFiles` answer. `status` is the HTTP status: a SOAP fault
/// comes with 500; any other status than 200 without a fault is refused.
///
/// # Errors
///
/// An [`RdwrError`] naming what was wrong: size, encoding, XML, not SOAP,
/// a fault, wrong namespaces or structure, unknown session types, too many
/// sessions or too large a file.
pub fn parse_response(status: u16, body: &[u8]) -> Result<Answer, RdwrError> {
    if body.len() > limits::MAX_ANSWER_BYTES {
        return Err(RdwrError::TooLarge {
            size: body.len(),
            limit: limits::MAX_ANSWER_BYTES,
        });
    }
    if status != 200 && body.is_empty() {
        return Err(RdwrError::Status { status });
    }
    let (bom, body) = match body.strip_prefix(UTF8_BOM) {
        Some(rest) => (UTF8_BOM.len(), rest),
        None => (0, body),
    };
    let text = std::str::from_utf8(body).map_err(|e| RdwrError::NotUtf8 {
        offset: bom + e.valid_up_to(),
    })?;
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: limits::MAX_XML_NODES,
        ..ParsingOptions::default()
    };
    let document = Document::parse_with_options(text, options).map_err(|e| match e {
        roxmltree::Error::DtdDetected => RdwrError::DtdNotAllowed,
        roxmltree::Error::NodesLimitReached => RdwrError::TooManyNodes {
            limit: limits::MAX_XML_NODES,
        },
        other => RdwrError::Xml(clean(&other.to_string(), limits::MAX_FAULT_CHARS)),
    });
    let document = match document {
        Ok(d) => d,
        // An error page instead of SOAP: the status says more than the XML.
        Err(RdwrError::Xml(_)) if status != 200 => return Err(RdwrError::Status { status }),
        Err(e) => return Err(e),
    };
    let envelope = document.root_element();
    if !is(envelope, SOAP_ENVELOPE_NAMESPACE, "Envelope") {
        if status != 200 {
            return Err(RdwrError::Status { status });
        }
        return Err(RdwrError::NotSoap {
            found: name_of(envelope),
        });
    }
    let body = children(envelope)
        .find(|n| is(*n, SOAP_ENVELOPE_NAMESPACE, "Body"))
        .ok_or(RdwrError::NoBody)?;
    let mut content = children(body);
    let first = content.next();
    if let Some(fault) = first.filter(|n| is(*n, SOAP_ENVELOPE_NAMESPACE, "Fault")) {
        return Err(fault_of(fault));
    }
    if status != 200 {
        return Err(RdwrError::Status { status });
    }
    let Some(response) = first else {
        return Err(RdwrError::NoResponse {
            found: "an empty Body".into(),
        });
    };
    if !is(response, RDWEB_NAMESPACE, "GetRDPFilesResponse") {
        return Err(RdwrError::NoResponse {
            found: name_of(response),
        });
    }
    let result = rdweb_child(response, "GetRDPFilesResult").ok_or(RdwrError::NoResult)?;
    let mut answer = Answer {
        version: rdweb_child(result, "version")
            .map(|v| clean(&text_of(v), 64))
            .filter(|v| !v.is_empty()),
        ..Answer::default()
    };
    let Some(list) = rdweb_child(result, "wkspRC") else {
        return Ok(answer);
    };
    let entries: Vec<Node> = children(list)
        .filter(|n| is(*n, RDWEB_NAMESPACE, "ReconnectContent"))
        .collect();
    if entries.len() > limits::MAX_FILES {
        return Err(RdwrError::TooManySessions {
            count: entries.len(),
            limit: limits::MAX_FILES,
        });
    }
    for (i, entry) in entries.into_iter().enumerate() {
        let index = i + 1;
        let kind_text = rdweb_child(entry, "rct")
            .map(|n| text_of(n).trim().to_owned())
            .ok_or(RdwrError::NoKind { index })?;
        let kind = SessionKind::parse(&kind_text).ok_or_else(|| RdwrError::UnknownKind {
            index,
            value: quote(&strip_invisible(&kind_text)),
        })?;
        let rdp = rdweb_child(entry, "rdpStream")
            .map(text_of)
            .filter(|t| !t.trim().is_empty());
        let Some(rdp) = rdp else {
            answer.warnings.push(format!(
                "session #{index} ({}) has no .rdp file",
                kind.as_str()
            ));
            continue;
        };
        if rdp.len() > limits::MAX_FILE_BYTES {
            return Err(RdwrError::FileTooLarge {
                index,
                size: rdp.len(),
                limit: limits::MAX_FILE_BYTES,
            });
        }
        answer.sessions.push(Session {
            kind,
            rdp: rdp.trim_start().to_owned(),
        });
    }
    Ok(answer)
}

fn fault_of(fault: Node) -> RdwrError {
    // SOAP 1.1: `faultcode` and `faultstring` are unqualified children.
    let field = |name: &str| {
        children(fault)
            .find(|n| n.tag_name().name() == name && n.tag_name().namespace().is_none())
            .map(|n| clean(&text_of(n), limits::MAX_FAULT_CHARS))
            .filter(|t| !t.is_empty())
    };
    RdwrError::Fault {
        code: field("faultcode").unwrap_or_else(|| "without a code".into()),
        text: field("faultstring").unwrap_or_else(|| "no reason given".into()),
    }
}

fn children<'a, 'i>(node: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(Node::is_element)
}

fn is(node: Node, namespace: &str, name: &str) -> bool {
    node.is_element()
        && node.tag_name().name() == name
        && node.tag_name().namespace() == Some(namespace)
}

fn rdweb_child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    children(node).find(|n| is(*n, RDWEB_NAMESPACE, name))
}

/// All text below `node` (an `xsd:string` may be split by comments or
/// CDATA sections).
fn text_of(node: Node) -> String {
    node.descendants()
        .filter(Node::is_text)
        .filter_map(|n| n.text())
        .collect()
}

/// `{namespace}name` of an element, escaped and shortened.
fn name_of(node: Node) -> String {
    let tag = node.tag_name();
    let full = match tag.namespace() {
        Some(ns) => format!("{{{ns}}}{}", tag.name()),
        None => tag.name().to_owned(),
    };
    quote(&strip_invisible(&full))
}

/// A server's words made safe to show: invisible and control characters
/// become spaces, runs of white space one space, at most `max` characters.
fn clean(value: &str, max: usize) -> String {
    let visible = strip_invisible(value);
    let mut out = String::new();
    let mut count = 0;
    for word in visible.split(|c: char| c.is_whitespace() || c.is_control()) {
        if word.is_empty() {
            continue;
        }
        if count > 0 {
            out.push(' ');
            count += 1;
        }
        for ch in word.chars() {
            if count >= max {
                out.push('…');
                return out;
            }
            out.push(ch);
            count += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST_4_1: &str = include_str!("../tests/data/rdwr/request_4_1.xml");
    const RESPONSE_4_1: &str = include_str!("../tests/data/rdwr/response_4_1.xml");
    const RESPONSE_4_2: &str = include_str!("../tests/data/rdwr/response_4_2.xml");
    const EMPTY: &str = include_str!("../tests/data/rdwr/response_empty.xml");
    const FAULT: &str = include_str!("../tests/data/rdwr/response_fault.xml");

    fn ok(body: &str) -> Answer {
        parse_response(200, body.as_bytes()).unwrap()
    }

    fn err(status: u16, body: &str) -> String {
        parse_response(status, body.as_bytes())
            .unwrap_err()
            .to_string()
    }

    /// The same elements, namespaces and attributes as the spec's request
    /// (prefixes and white space aside).
    #[test]
    fn request_is_the_spec_example() {
        let ours = Document::parse(REQUEST_BODY).unwrap();
        let spec = Document::parse(REQUEST_4_1).unwrap();
        let shape = |d: &Document| -> Vec<(Option<String>, String, usize)> {
            d.descendants()
                .filter(Node::is_element)
                .map(|n| {
                    (
                        n.tag_name().namespace().map(str::to_owned),
                        n.tag_name().name().to_owned(),
                        n.children().filter(Node::is_element).count(),
                    )
                })
                .collect()
        };
        assert_eq!(shape(&ours), shape(&spec));
        assert!(SOAP_ACTION.starts_with('"') && SOAP_ACTION.ends_with('"'));
        assert_eq!(
            SOAP_ACTION.trim_matches('"'),
            format!("{RDWEB_NAMESPACE}/GetRDPFiles")
        );
    }

    /// Section 4.1's answer holds placeholders: `string` for the file and
    /// the list of allowed words for `rct`, which is not one of them.
    #[test]
    fn spec_4_1_placeholders() {
        let text = err(200, RESPONSE_4_1);
        assert!(text.contains("session #1"), "{text}");
        assert!(
            text.contains("\"REMOTEAPPLICATION or REMOTEDESKTOP or VMREMOTEDESKTOP\""),
            "{text}"
        );
        let filled = RESPONSE_4_1.replacen(
            "REMOTEAPPLICATION or REMOTEDESKTOP or VMREMOTEDESKTOP",
            "REMOTEAPPLICATION",
            1,
        );
        let filled = filled.replacen(
            "REMOTEAPPLICATION or REMOTEDESKTOP or VMREMOTEDESKTOP",
            "VMREMOTEDESKTOP",
            1,
        );
        let answer = ok(&filled);
        assert_eq!(answer.version.as_deref(), Some("string"));
        assert_eq!(
            answer
                .sessions
                .iter()
                .map(|s| (s.kind, s.rdp.as_str()))
                .collect::<Vec<_>>(),
            [
                (SessionKind::RemoteApp, "string"),
                (SessionKind::VirtualMachine, "string")
            ]
        );
    }

    /// Section 4.2's three sessions, in the 4.1 envelope.
    #[test]
    fn spec_4_2_sessions() {
        let answer = ok(RESPONSE_4_2);
        assert_eq!(answer.version.as_deref(), Some("8.0"));
        let kinds: Vec<_> = answer.sessions.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [
                SessionKind::Desktop,
                SessionKind::Desktop,
                SessionKind::RemoteApp
            ]
        );
        for session in &answer.sessions {
            assert!(
                session.rdp.starts_with("redirectclipboard:i:0\r\n"),
                "{:?}",
                &session.rdp[..40]
            );
            assert!(
                session
                    .rdp
                    .contains("full address:s:RDVB9-101180.rdvteam.stbtest.microsoft.com\r\n")
            );
        }
        assert!(
            answer.sessions[2]
                .rdp
                .contains("remoteapplicationprogram:s:||cmd\r\n")
        );
        assert!(answer.warnings.is_empty());
    }

    #[test]
    fn empty_answers_are_no_sessions() {
        assert_eq!(ok(EMPTY), Answer::default());
        let no_list = RESPONSE_4_2.split("<wkspRC>").next().unwrap().to_owned()
            + "</GetRDPFilesResult></GetRDPFilesResponse></soap:Body></soap:Envelope>";
        let answer = ok(&no_list);
        assert!(answer.sessions.is_empty());
        assert_eq!(answer.version.as_deref(), Some("8.0"));
        let nil = EMPTY.replace(
            "<wkspRC />",
            r#"<wkspRC xsi:nil="true" /><version xsi:nil="true"/>"#,
        );
        assert!(ok(&nil).sessions.is_empty());
    }

    #[test]
    fn an_entry_without_file_is_skipped_with_a_warning() {
        let body = EMPTY.replace(
            "<wkspRC />",
            "<wkspRC><ReconnectContent><rct>REMOTEDESKTOP</rct></ReconnectContent>\
             <ReconnectContent><rdpStream>full address:s:a</rdpStream><rct>REMOTEDESKTOP</rct></ReconnectContent></wkspRC>",
        );
        let answer = ok(&body);
        assert_eq!(answer.sessions.len(), 1);
        assert_eq!(answer.sessions[0].rdp, "full address:s:a");
        assert_eq!(
            answer.warnings,
            ["session #1 (REMOTEDESKTOP) has no .rdp file"]
        );
    }

    #[test]
    fn faults_name_the_server_reason_cleaned() {
        let text = err(500, FAULT);
        assert_eq!(
            text,
            "the server refused the request (SOAP fault soap:Server): \
             Server was unable to process request. ---> Object reference not set to an instance of an object."
        );
        // Control, bidi and long text are cleaned and cut.
        let hostile = FAULT.replace(
            "Server was unable",
            &format!("\u{202E}evil\t\u{85}[31m{}", "x".repeat(1000)),
        );
        let text = err(500, &hostile);
        assert!(!text.contains('\u{202E}') && !text.contains('\u{85}') && !text.contains('\t'));
        assert!(text.len() < 500, "{}", text.len());
        assert!(text.contains("evil [31mxxx"), "{text}");
    }

    #[test]
    fn errors_name_what_was_wrong() {
        let cases: Vec<(u16, String, &str)> = vec![
            (200, "not xml".into(), "not well-formed XML"),
            (200, "".into(), "not well-formed XML"),
            (
                200,
                RESPONSE_4_2.replace(
                    SOAP_ENVELOPE_NAMESPACE,
                    "http://www.w3.org/2003/05/soap-envelope",
                ),
                "not a SOAP 1.1 envelope: the root element is \"{http://www.w3.org/2003/05/soap-envelope}Envelope\"",
            ),
            (
                200,
                RESPONSE_4_2.replace(RDWEB_NAMESPACE, "http://example.test/other"),
                "does not hold a GetRDPFilesResponse in http://schemas.microsoft.com/ts/2010/09/rdweb (found \"{http://example.test/other}GetRDPFilesResponse\")",
            ),
            (
                200,
                r#"<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"/>"#.into(),
                "no SOAP Body",
            ),
            (
                200,
                r#"<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body/></Envelope>"#
                    .into(),
                "found an empty Body",
            ),
            (
                200,
                EMPTY
                    .replace("<GetRDPFilesResult>", "<Other>")
                    .replace("</GetRDPFilesResult>", "</Other>"),
                "lacks GetRDPFilesResponse/GetRDPFilesResult",
            ),
            (
                200,
                RESPONSE_4_2.replacen("<rct>REMOTEDESKTOP</rct>", "", 1),
                "session #1 of the answer has no rct",
            ),
            (
                200,
                RESPONSE_4_2.replacen("<rct>REMOTEDESKTOP</rct>", "<rct>\u{202E}SHELL</rct>", 1),
                "session #1 of the answer has an unknown rct (session type) \"SHELL\"",
            ),
            (
                200,
                format!("<!DOCTYPE x [<!ENTITY a \"b\">]>{EMPTY}"),
                "contains a DTD",
            ),
            (
                500,
                "<html>Server Error</html>".into(),
                "answered HTTP 500 without a SOAP fault",
            ),
            (502, "Bad gateway".into(), "answered HTTP 502"),
            (
                500,
                RESPONSE_4_2.to_owned(),
                "answered HTTP 500 without a SOAP fault",
            ),
        ];
        for (status, body, expected) in cases {
            let text = err(status, &body);
            assert!(text.contains(expected), "{expected:?} not in {text:?}");
        }
        let bad = [b"<a>".as_slice(), &[0xff, 0xfe], b"</a>"].concat();
        assert!(matches!(
            parse_response(200, &bad),
            Err(RdwrError::NotUtf8 { offset: 3 })
        ));
    }

    #[test]
    fn caps() {
        let entry = "<ReconnectContent><rdpStream>full address:s:a</rdpStream><rct>REMOTEDESKTOP</rct></ReconnectContent>";
        let many = EMPTY.replace(
            "<wkspRC />",
            &format!("<wkspRC>{}</wkspRC>", entry.repeat(limits::MAX_FILES)),
        );
        assert_eq!(ok(&many).sessions.len(), limits::MAX_FILES);
        let too_many = EMPTY.replace(
            "<wkspRC />",
            &format!("<wkspRC>{}</wkspRC>", entry.repeat(limits::MAX_FILES + 1)),
        );
        assert_eq!(
            parse_response(200, too_many.as_bytes()),
            Err(RdwrError::TooManySessions {
                count: limits::MAX_FILES + 1,
                limit: limits::MAX_FILES
            })
        );
        let big = EMPTY.replace(
            "<wkspRC />",
            &format!(
                "<wkspRC><ReconnectContent><rdpStream>{}</rdpStream><rct>REMOTEDESKTOP</rct></ReconnectContent></wkspRC>",
                "a".repeat(limits::MAX_FILE_BYTES + 1)
            ),
        );
        assert!(matches!(
            parse_response(200, big.as_bytes()),
            Err(RdwrError::FileTooLarge { index: 1, .. })
        ));
        let huge = vec![b' '; limits::MAX_ANSWER_BYTES + 1];
        assert!(matches!(
            parse_response(200, &huge),
            Err(RdwrError::TooLarge { .. })
        ));
    }

    #[test]
    fn escaped_and_cdata_text_is_decoded() {
        let body = EMPTY.replace(
            "<wkspRC />",
            "<wkspRC><ReconnectContent><rdpStream>full address:s:a&amp;b&#13;\n<![CDATA[username:s:<x>]]></rdpStream>\
             <rct> REMOTEAPPLICATION </rct></ReconnectContent></wkspRC>",
        );
        let answer = ok(&body);
        assert_eq!(
            answer.sessions[0].rdp,
            "full address:s:a&b\r\nusername:s:<x>"
        );
        assert_eq!(answer.sessions[0].kind, SessionKind::RemoteApp);
    }

    #[test]
    fn service_url_is_beside_the_feed() {
        for (feed, service) in [
            (
                "https://rd.contoso.com/RDWeb/Feed/webfeed.aspx",
                "https://rd.contoso.com/RDWeb/Feed/RDWebService.asmx",
            ),
            (
                "https://rd.contoso.com:8443/RDWeb/Feed/",
                "https://rd.contoso.com:8443/RDWeb/Feed/RDWebService.asmx",
            ),
            (
                "https://rd.contoso.com/t/normal/feed?x=1#y",
                "https://rd.contoso.com/t/normal/RDWebService.asmx",
            ),
        ] {
            let url = service_url(&Url::parse(feed).unwrap());
            assert_eq!(url.as_str(), service);
            assert_eq!(url.origin(), Url::parse(feed).unwrap().origin());
        }
    }
}
