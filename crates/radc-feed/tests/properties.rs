//! Property tests: `parse` never panics, a generated model written out
//! as XML by a small test-only writer parses back to the same model (also
//! with invisible characters sprinkled into every value), and removing
//! invisible characters leaves none, changes nothing twice and nothing
//! visible.

use std::collections::HashSet;
use std::fmt::Write as _;

use proptest::prelude::*;
use radc_feed::text::strip_invisible;
use radc_feed::{
    Feed, FileExtension, HostingTerminalServer, Icon, IconKind, Publisher, Resource, ResourceFile,
    ResourceType, TerminalServer, parse,
};
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
use url::Url;

fn base() -> Url {
    Url::parse("https://rdweb.example.test/RDWeb/Feed/webfeed.aspx").unwrap()
}

// ---------------------------------------------------------------- writer

fn escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for ch in value.chars() {
        match ch {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Appends ` name="value"` when the value is present.
fn attr(out: &mut String, name: &str, value: Option<&str>) {
    if let Some(value) = value {
        write!(out, r#" {name}="{}""#, escape(value)).unwrap();
    }
}

fn bool_text(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

fn write_icons(out: &mut String, list: &str, icons: &[Icon]) {
    write!(out, "<{list}>").unwrap();
    for icon in icons {
        let element = match &icon.kind {
            IconKind::Raw => "IconRaw".to_owned(),
            IconKind::Sized(size) => format!("Icon{size}"),
            IconKind::Generic => "Icon".to_owned(),
            IconKind::Other(name) => name.clone(),
        };
        write!(out, "<{element}").unwrap();
        let dimensions = icon.dimensions.map(|(w, h)| format!("{w}x{h}"));
        attr(out, "Dimensions", dimensions.as_deref());
        attr(out, "FileType", icon.file_type.as_deref());
        attr(out, "FileURL", icon.url.as_ref().map(Url::as_str));
        out.push_str("/>");
    }
    write!(out, "</{list}>").unwrap();
}

/// Renders a model the way a schema 2.1 server would.
fn write_feed(feed: &Feed) -> String {
    let mut out = String::from(r#"<?xml version="1.0" encoding="utf-8"?><ResourceCollection"#);
    attr(&mut out, "SchemaVersion", feed.schema_version.as_deref());
    attr(&mut out, "PubDate", feed.pub_date.as_deref());
    out.push_str(r#" xmlns="http://schemas.microsoft.com/ts/2007/05/tswf"><Publisher"#);
    let publisher = &feed.publisher;
    attr(&mut out, "ID", Some(&publisher.id));
    attr(&mut out, "Name", publisher.name.as_deref());
    attr(&mut out, "Description", publisher.description.as_deref());
    attr(&mut out, "LastUpdated", publisher.last_updated.as_deref());
    attr(
        &mut out,
        "SupportsReconnect",
        publisher.supports_reconnect.map(bool_text),
    );
    attr(
        &mut out,
        "DisplayFolder",
        publisher.display_folder.as_deref(),
    );
    out.push_str("><SubFolders>");
    for folder in &publisher.sub_folders {
        attr_element(&mut out, "Folder", "Name", folder);
    }
    out.push_str("</SubFolders><Resources>");
    for resource in &feed.resources {
        out.push_str("<Resource");
        attr(&mut out, "ID", Some(&resource.id));
        attr(&mut out, "Alias", resource.alias.as_deref());
        attr(&mut out, "Title", Some(&resource.title));
        let resource_type = match &resource.resource_type {
            ResourceType::RemoteApp => "RemoteApp",
            ResourceType::Desktop => "Desktop",
            ResourceType::Other(other) => other,
        };
        attr(&mut out, "Type", Some(resource_type));
        attr(&mut out, "LastUpdated", resource.last_updated.as_deref());
        attr(
            &mut out,
            "ExecutableName",
            resource.executable_name.as_deref(),
        );
        attr(
            &mut out,
            "ShowByDefault",
            Some(bool_text(resource.show_by_default)),
        );
        out.push('>');
        write_icons(&mut out, "Icons", &resource.icons);
        out.push_str("<FileExtensions>");
        for extension in &resource.file_extensions {
            out.push_str("<FileExtension");
            attr(&mut out, "Name", Some(&extension.name));
            attr(
                &mut out,
                "PrimaryHandler",
                extension.primary_handler.map(bool_text),
            );
            out.push('>');
            write_icons(&mut out, "FileAssociationIcons", &extension.icons);
            out.push_str("</FileExtension>");
        }
        out.push_str("</FileExtensions><Folders>");
        for folder in &resource.folders {
            attr_element(&mut out, "Folder", "Name", folder);
        }
        out.push_str("</Folders><HostingTerminalServers>");
        for hosting in &resource.hosting_terminal_servers {
            out.push_str("<HostingTerminalServer>");
            if let Some(file) = &hosting.resource_file {
                out.push_str("<ResourceFile");
                attr(&mut out, "FileExtension", Some(&file.file_extension));
                attr(&mut out, "URL", file.url.as_ref().map(Url::as_str));
                out.push_str("/>");
            }
            if let Some(reference) = &hosting.terminal_server_ref {
                attr_element(&mut out, "TerminalServerRef", "Ref", reference);
            }
            out.push_str("</HostingTerminalServer>");
        }
        out.push_str("</HostingTerminalServers></Resource>");
    }
    out.push_str("</Resources><TerminalServers>");
    for server in &feed.terminal_servers {
        out.push_str("<TerminalServer");
        attr(&mut out, "ID", Some(&server.id));
        attr(&mut out, "Name", server.name.as_deref());
        attr(&mut out, "LastUpdated", server.last_updated.as_deref());
        out.push_str("/>");
    }
    out.push_str("</TerminalServers></Publisher></ResourceCollection>");
    out
}

fn attr_element(out: &mut String, element: &str, name: &str, value: &str) {
    write!(out, "<{element}").unwrap();
    attr(out, name, Some(value));
    out.push_str("/>");
}

/// Inserts `noise` (cycled; `None` inserts nothing) after characters of
/// every feed attribute value except URLs, never inside an entity
/// reference.
fn sprinkle(xml: &str, noise: &[Option<char>]) -> String {
    let mut out = String::with_capacity(xml.len() * 2);
    let mut rest = xml;
    let mut next = noise.iter().cycle();
    while let Some(start) = rest.find("=\"") {
        let name_start = rest[..start].rfind(' ').map_or(0, |space| space + 1);
        // URLs are kept as written; the rest are XML's own.
        let untouched = matches!(
            &rest[name_start..start],
            "URL" | "FileURL" | "xmlns" | "version" | "encoding"
        );
        out.push_str(&rest[..start + 2]);
        rest = &rest[start + 2..];
        let end = rest.find('"').expect("closing quote");
        let mut in_entity = false;
        for ch in rest[..end].chars() {
            out.push(ch);
            in_entity = match ch {
                '&' => true,
                ';' => false,
                _ => in_entity,
            };
            if !untouched
                && !in_entity
                && let Some(Some(extra)) = next.next()
            {
                out.push(*extra);
            }
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

// ------------------------------------------------------------ generators

/// Every character the parser must remove from what it keeps: the
/// bidirectional controls, the invisible characters named in the crate's
/// documentation (the whole tag block, assigned or not) and Unicode
/// general category Cf.
fn must_be_removed(ch: char) -> bool {
    matches!(
        ch,
        '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{061C}'
            | '\u{200B}'..='\u{200D}'
            | '\u{2060}'..='\u{2064}'
            | '\u{FEFF}'
            | '\u{180E}'
            | '\u{00AD}'
            | '\u{E0001}'..='\u{E007F}'
            | '\u{FFF9}'..='\u{FFFB}'
    ) || ch.general_category() == GeneralCategory::Format
}

/// Characters to hide in text: the named bidirectional and invisible ones,
/// tag characters and interlinear annotations, and any other Cf character.
fn invisible_char() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::sample::select(vec![
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}', '\u{200B}', '\u{200C}',
            '\u{200D}', '\u{2060}', '\u{2061}', '\u{2062}', '\u{2063}', '\u{2064}', '\u{FEFF}',
            '\u{180E}', '\u{00AD}', '\u{FFF9}', '\u{FFFA}', '\u{FFFB}',
        ]),
        (0xE0001u32..=0xE007F).prop_map(|code| char::from_u32(code).unwrap()),
        any::<char>().prop_filter("a format character", |ch| {
            ch.general_category() == GeneralCategory::Format
        }),
    ]
}

/// Any text, with invisible characters mixed in often.
fn text_with_invisibles() -> impl Strategy<Value = String> {
    prop::collection::vec(prop_oneof![any::<char>(), invisible_char()], 0..48)
        .prop_map(|chars| chars.into_iter().collect())
}

/// Non-empty, already trimmed, printable, with XML specials and non-ASCII
/// so the writer's escaping is exercised.
fn text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9é漢&<>\"'/._-]([A-Za-z0-9é漢 &<>\"'/._-]{0,16}[A-Za-z0-9é漢&<>\"'/._-])?"
}

fn folder() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/".to_owned()),
        text().prop_map(|name| format!("/{name}"))
    ]
}

fn https_url() -> impl Strategy<Value = Url> {
    ("[a-z]{1,8}", "[a-z0-9]{1,8}", "[a-z0-9_.-]{0,12}").prop_map(|(host, dir, file)| {
        Url::parse(&format!("https://{host}.example.test/{dir}/{file}")).unwrap()
    })
}

fn icon() -> impl Strategy<Value = Icon> {
    let kind = prop_oneof![
        Just(IconKind::Raw),
        prop::sample::select(vec![16u32, 32, 48, 64, 100, 256]).prop_map(IconKind::Sized),
        Just(IconKind::Generic),
        "Icon[A-Z][a-z]{1,6}"
            .prop_filter("IconRaw is a known kind, not Other", |n| n != "IconRaw")
            .prop_map(IconKind::Other),
    ];
    (
        kind,
        prop::option::of((1u32..1024, 1u32..1024)),
        prop::option::of(text()),
        prop::option::of(https_url()),
    )
        .prop_map(|(kind, dimensions, file_type, url)| Icon {
            kind,
            dimensions,
            file_type,
            url,
        })
}

fn resource() -> impl Strategy<Value = Resource> {
    let resource_type = prop_oneof![
        Just(ResourceType::RemoteApp),
        Just(ResourceType::Desktop),
        text()
            .prop_filter("not a known type", |t| t != "RemoteApp" && t != "Desktop")
            .prop_map(ResourceType::Other),
    ];
    let extension = (
        text(),
        prop::option::of(any::<bool>()),
        prop::collection::vec(icon(), 0..3),
    )
        .prop_map(|(name, primary_handler, icons)| FileExtension {
            name,
            primary_handler,
            icons,
        });
    let hosting = (
        prop::option::of((prop::option::of(https_url()), text()).prop_map(
            |(url, file_extension)| ResourceFile {
                url,
                file_extension,
            },
        )),
        prop::option::of(text()),
    )
        .prop_map(
            |(resource_file, terminal_server_ref)| HostingTerminalServer {
                resource_file,
                terminal_server_ref,
            },
        );
    (
        (
            text(),
            prop::option::of(text()),
            text(),
            resource_type,
            prop::option::of(text()),
            prop::option::of(text()),
            any::<bool>(),
        ),
        (
            prop::collection::vec(icon(), 0..4),
            prop::collection::vec(extension, 0..3),
            prop::collection::vec(folder(), 0..3),
            prop::collection::vec(hosting, 0..3),
        ),
    )
        .prop_map(
            |(
                (id, alias, title, resource_type, last_updated, executable_name, show_by_default),
                (icons, file_extensions, folders, hosting_terminal_servers),
            )| Resource {
                id,
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
            },
        )
}

fn terminal_server() -> impl Strategy<Value = TerminalServer> {
    (text(), prop::option::of(text()), prop::option::of(text())).prop_map(
        |(id, name, last_updated)| TerminalServer {
            id,
            name,
            last_updated,
        },
    )
}

/// A feed the parser should accept without warnings: unique IDs, and every
/// TerminalServerRef naming a server.
fn feed() -> impl Strategy<Value = Feed> {
    let publisher = (
        text(),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(any::<bool>()),
        prop::option::of(folder()),
        prop::collection::vec(folder(), 0..3),
    )
        .prop_map(
            |(
                id,
                name,
                description,
                last_updated,
                supports_reconnect,
                display_folder,
                sub_folders,
            )| {
                Publisher {
                    id,
                    name,
                    description,
                    last_updated,
                    supports_reconnect,
                    display_folder,
                    sub_folders,
                }
            },
        );
    (
        prop::option::of(prop::sample::select(vec!["1.1", "2.0", "2.1"]).prop_map(str::to_owned)),
        prop::option::of(text()),
        publisher,
        prop::collection::vec(resource(), 0..6),
        prop::collection::vec(terminal_server(), 0..3),
    )
        .prop_map(
            |(schema_version, pub_date, publisher, mut resources, mut terminal_servers)| {
                let mut seen = HashSet::new();
                resources.retain(|resource| seen.insert(resource.id.clone()));
                let mut server_ids = HashSet::new();
                terminal_servers.retain(|server| server_ids.insert(server.id.clone()));
                for reference in resources
                    .iter()
                    .flat_map(|r| &r.hosting_terminal_servers)
                    .filter_map(|h| h.terminal_server_ref.clone())
                {
                    if server_ids.insert(reference.clone()) {
                        terminal_servers.push(TerminalServer {
                            id: reference,
                            name: None,
                            last_updated: None,
                        });
                    }
                }
                Feed {
                    schema_version,
                    pub_date,
                    publisher,
                    resources,
                    terminal_servers,
                    warnings: Vec::new(),
                }
            },
        )
}

/// Bits of feed markup, so random documents get deep into the parser
/// instead of failing at the first byte.
fn feedish_text() -> impl Strategy<Value = String> {
    let fragment = prop::sample::select(vec![
        "<ResourceCollection>",
        "</ResourceCollection>",
        r#"<ResourceCollection xmlns="http://schemas.microsoft.com/ts/2007/05/tswf" SchemaVersion="2.1">"#,
        r#"<Publisher ID="p">"#,
        "</Publisher>",
        "<Resources>",
        "</Resources>",
        r#"<Resource ID="r" ShowByDefault="false">"#,
        r#"<Resource ID="r" Type="x">"#,
        "</Resource>",
        "<Icons>",
        "</Icons>",
        r#"<IconRaw FileURL="a.ico"/>"#,
        r#"<Icon32 Dimensions="32x" FileURL="javascript:x"/>"#,
        "<FileExtensions>",
        "</FileExtensions>",
        r#"<FileExtension Name=".x"/>"#,
        "<Folders>",
        "</Folders>",
        r#"<Folder Name="o"/>"#,
        "<HostingTerminalServers><HostingTerminalServer>",
        "</HostingTerminalServer></HostingTerminalServers>",
        r#"<ResourceFile URL="//h/x.rdp"/><TerminalServerRef Ref="t"/>"#,
        r#"<TerminalServers><TerminalServer ID="t"/></TerminalServers>"#,
        "<!DOCTYPE x>",
        "&#10;",
        "&amp;",
        "\u{feff}",
        " ",
        "\"",
    ]);
    prop::collection::vec(fragment, 0..40).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        let _ = parse(&bytes, &base());
    }

    #[test]
    fn parse_never_panics_on_arbitrary_strings(text in any::<String>()) {
        let _ = parse(text.as_bytes(), &base());
    }

    #[test]
    fn parse_never_panics_on_feed_like_markup(text in feedish_text()) {
        let _ = parse(text.as_bytes(), &base());
    }

    #[test]
    fn removal_leaves_no_bidi_control_or_format_character(text in text_with_invisibles()) {
        let kept = strip_invisible(&text);
        prop_assert!(!kept.chars().any(must_be_removed), "{:?} -> {:?}", text, kept);
        // Only removal: what is left is the visible characters in order.
        let visible: String = text.chars().filter(|&ch| !must_be_removed(ch)).collect();
        prop_assert_eq!(kept.as_ref(), visible.as_str());
    }

    #[test]
    fn removal_is_idempotent(text in text_with_invisibles()) {
        let once = strip_invisible(&text).into_owned();
        let twice = strip_invisible(&once);
        prop_assert_eq!(twice.as_ref(), once.as_str());
    }

    #[test]
    fn text_without_invisible_characters_passes_unchanged(text in any::<String>()) {
        let text: String = text.chars().filter(|&ch| !must_be_removed(ch)).collect();
        let kept = strip_invisible(&text);
        prop_assert!(matches!(kept, std::borrow::Cow::Borrowed(_)));
        prop_assert_eq!(kept.as_ref(), text.as_str());
    }

    #[test]
    fn invisible_characters_in_every_value_are_removed_by_parse(
        feed in feed(),
        noise in prop::collection::vec(prop::option::of(invisible_char()), 1..8),
    ) {
        let xml = sprinkle(&write_feed(&feed), &noise);
        let parsed = parse(xml.as_bytes(), &base())
            .map_err(|error| TestCaseError::fail(format!("{error}\n{xml}")))?;
        prop_assert_eq!(parsed, feed);
    }

    #[test]
    fn written_model_parses_back_to_itself(feed in feed()) {
        let xml = write_feed(&feed);
        let parsed = parse(xml.as_bytes(), &base())
            .map_err(|error| TestCaseError::fail(format!("{error}\n{xml}")))?;
        prop_assert_eq!(parsed, feed);
    }
}
