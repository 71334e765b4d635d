//! Inputs a malicious or broken server could send. Each must give a clear
//! error (naming what and where) or be handled safely; none may panic.

use radc_feed::limits::{MAX_FEED_BYTES, MAX_XML_NODES};
use radc_feed::{FeedError, parse};
use url::Url;

fn base() -> Url {
    Url::parse("https://rdweb.example.test/RDWeb/Feed/webfeed.aspx").unwrap()
}

/// A minimal feed with one resource whose attributes and content are given.
fn feed_with_resource(attributes: &str, content: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<ResourceCollection SchemaVersion="2.0" xmlns="http://schemas.microsoft.com/ts/2007/05/tswf">
  <Publisher ID="ws" Name="Workspace"><Resources>
    <Resource {attributes}>{content}</Resource>
  </Resources></Publisher>
</ResourceCollection>"#
    )
}

fn parse_str(text: &str) -> Result<radc_feed::Feed, FeedError> {
    parse(text.as_bytes(), &base())
}

fn error_of(text: &str) -> FeedError {
    match parse_str(text) {
        Ok(feed) => panic!("expected an error, got {feed:?}"),
        Err(error) => error,
    }
}

#[test]
fn billion_laughs_dtd_is_refused_by_name() {
    let body = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<ResourceCollection SchemaVersion="1.1"><Publisher ID="&lol9;"/></ResourceCollection>"#;
    let error = error_of(body);
    assert_eq!(error, FeedError::DtdNotAllowed);
    assert!(error.to_string().contains("DTD"), "{error}");
}

#[test]
fn external_entity_dtd_is_refused() {
    let body = r#"<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<ResourceCollection><Publisher ID="&xxe;"/></ResourceCollection>"#;
    assert_eq!(error_of(body), FeedError::DtdNotAllowed);
}

#[test]
fn body_over_the_size_limit_is_refused_before_parsing() {
    let mut body = feed_with_resource(r#"ID="a""#, "").into_bytes();
    body.resize(MAX_FEED_BYTES + 1, b' ');
    let error = parse(&body, &base()).unwrap_err();
    assert_eq!(
        error,
        FeedError::TooLarge {
            size: MAX_FEED_BYTES + 1,
            limit: MAX_FEED_BYTES
        }
    );
    assert!(error.to_string().contains("limit"));
}

#[test]
fn too_many_nodes_are_refused() {
    let elements = "<x/>".repeat(MAX_XML_NODES as usize + 1);
    let body = format!("<ResourceCollection>{elements}</ResourceCollection>");
    assert!(body.len() < MAX_FEED_BYTES);
    assert_eq!(
        error_of(&body),
        FeedError::TooManyNodes {
            limit: MAX_XML_NODES
        }
    );
}

/// The white space between elements makes text nodes, and those count
/// towards the node limit like elements do: with `elements` empty
/// elements, each followed by a line break, the tree has a root, the
/// root element and two nodes per element.
#[test]
fn white_space_between_elements_counts_towards_the_node_limit() {
    let body = |elements: usize| {
        format!(
            "<ResourceCollection>{}</ResourceCollection>",
            "<x/>\n".repeat(elements)
        )
    };
    let at_the_limit = (MAX_XML_NODES as usize - 2) / 2;
    assert_eq!(
        error_of(&body(at_the_limit + 1)),
        FeedError::TooManyNodes {
            limit: MAX_XML_NODES
        }
    );
    // One element fewer is within the limit and refused for what it
    // lacks instead.
    let error = error_of(&body(at_the_limit));
    assert!(
        !matches!(error, FeedError::TooManyNodes { .. }),
        "{error:?}"
    );
}

#[test]
fn deep_nesting_does_not_overflow_the_stack() {
    let depth = 200_000;
    let body = format!(
        r#"<ResourceCollection><Publisher ID="p">{}{}</Publisher></ResourceCollection>"#,
        "<Resources>".repeat(depth),
        "</Resources>".repeat(depth)
    );
    // Either refused or parsed; the point is that it returns.
    if let Ok(feed) = parse_str(&body) {
        assert!(feed.resources.is_empty());
    }
}

#[test]
fn ids_with_path_parts_are_kept_verbatim_for_a_later_layer() {
    let feed = parse_str(&feed_with_resource(
        r#"ID="../../etc/passwd" Alias="a/b\c" Title="..""#,
        r#"<Folders><Folder Name="/../../x"/></Folders>"#,
    ))
    .unwrap();
    let resource = &feed.resources[0];
    assert_eq!(resource.id, "../../etc/passwd");
    assert_eq!(resource.alias.as_deref(), Some(r"a/b\c"));
    assert_eq!(resource.folders, ["/../../x"]);
}

#[test]
fn control_characters_in_ids_are_refused_with_their_place() {
    let error = error_of(&feed_with_resource(r#"ID="evil&#0;id""#, ""));
    // roxmltree itself refuses the NUL reference (not an XML character).
    assert!(matches!(error, FeedError::Xml(_)), "{error:?}");

    let error = error_of(&feed_with_resource(r#"ID="line&#10;break""#, ""));
    assert!(
        matches!(&error, FeedError::InvalidValue { location, .. } if location == "Resource #1@ID"),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("control character"), "{message}");
    assert!(
        !message.contains('\n'),
        "the value is escaped in the message: {message}"
    );

    let error = error_of(&feed_with_resource(r#"ID="ok" Alias="tab&#9;here""#, ""));
    assert!(
        matches!(&error, FeedError::InvalidValue { location, .. } if location == r#"Resource[ID="ok"]@Alias"#),
        "{error:?}"
    );
    let error = error_of(&feed_with_resource(r#"ID="ok" Title="csi&#x9B;31m""#, ""));
    assert!(error.to_string().contains("@Title"), "{error}");
}

#[test]
fn raw_nul_byte_is_refused() {
    let body = feed_with_resource("ID=\"a\0b\"", "");
    assert!(matches!(error_of(&body), FeedError::Xml(_)));
}

#[test]
fn absurdly_long_title_is_refused() {
    let title = "A".repeat(100_000);
    let error = error_of(&feed_with_resource(
        &format!(r#"ID="long" Title="{title}""#),
        "",
    ));
    let message = error.to_string();
    assert!(
        message.contains(r#"Resource[ID="long"]@Title"#),
        "{message}"
    );
    assert!(message.contains("100000 bytes long"), "{message}");
    assert!(message.len() < 400, "quoted value is shortened: {message}");
}

#[test]
fn missing_or_empty_required_values_are_named() {
    let error = error_of(&feed_with_resource(r#"Title="No id""#, ""));
    assert_eq!(
        error,
        FeedError::MissingAttribute {
            location: "Resource #1".to_owned(),
            attribute: "ID"
        }
    );
    let error = error_of(&feed_with_resource(r#"ID="   ""#, ""));
    assert!(matches!(error, FeedError::MissingAttribute { .. }));
    let error = error_of(&feed_with_resource(
        r#"ID="f""#,
        r#"<Folders><Folder Name=""/></Folders>"#,
    ));
    assert_eq!(
        error.to_string(),
        r#"Resource[ID="f"]/Folders/Folder: missing or empty required attribute Name"#
    );
    let error = error_of("<ResourceCollection><Publisher Name='x'/></ResourceCollection>");
    assert_eq!(
        error.to_string(),
        "ResourceCollection/Publisher: missing or empty required attribute ID"
    );
    let error = error_of("<ResourceCollection SchemaVersion='2.0'/>");
    assert!(matches!(
        error,
        FeedError::MissingElement {
            element: "Publisher",
            ..
        }
    ));
}

#[test]
fn javascript_and_file_urls_are_refused() {
    for (url, scheme) in [
        ("javascript:alert(1)", "javascript"),
        ("JavaScript:alert(1)", "javascript"),
        ("file:///etc/passwd", "file"),
        ("data:image/png;base64,AAAA", "data"),
        ("ftp://files.example.test/x.ico", "ftp"),
    ] {
        let error = error_of(&feed_with_resource(
            r#"ID="icon""#,
            &format!(r#"<Icons><IconRaw FileURL="{url}"/></Icons>"#),
        ));
        match &error {
            FeedError::UnsafeUrlScheme {
                location,
                scheme: found,
                ..
            } => {
                assert_eq!(location, r#"Resource[ID="icon"]/Icons/IconRaw@FileURL"#);
                assert_eq!(found, scheme);
            }
            other => panic!("{url}: {other:?}"),
        }
    }
    let error = error_of(&feed_with_resource(
        r#"ID="rdp""#,
        r#"<HostingTerminalServers><HostingTerminalServer>
             <ResourceFile URL="file:///home/user/.ssh/id_rsa"/>
           </HostingTerminalServer></HostingTerminalServers>"#,
    ));
    assert!(
        error
            .to_string()
            .contains("HostingTerminalServer/ResourceFile@URL"),
        "{error}"
    );
}

#[test]
fn relative_urls_cannot_escape_to_another_scheme_via_the_base() {
    // A file: base is the caller's mistake, but the result is still checked.
    let file_base = Url::parse("file:///srv/feed.xml").unwrap();
    let body = feed_with_resource(r#"ID="a""#, r#"<Icons><IconRaw FileURL="x.ico"/></Icons>"#);
    assert!(matches!(
        parse(body.as_bytes(), &file_base),
        Err(FeedError::UnsafeUrlScheme { .. })
    ));
}

#[test]
fn unparseable_url_is_an_error() {
    let error = error_of(&feed_with_resource(
        r#"ID="a""#,
        r#"<Icons><IconRaw FileURL="https://[::1"/></Icons>"#,
    ));
    assert!(matches!(error, FeedError::InvalidUrl { .. }), "{error:?}");
}

#[test]
fn duplicate_resource_ids_keep_the_first_and_warn() {
    let body = r#"<ResourceCollection><Publisher ID="ws"><Resources>
        <Resource ID="same" Title="First"/>
        <Resource ID="other" Title="Other"/>
        <Resource ID="same" Title="Second"/>
      </Resources></Publisher></ResourceCollection>"#;
    let feed = parse_str(body).unwrap();
    let titles: Vec<_> = feed.resources.iter().map(|r| r.title.as_str()).collect();
    assert_eq!(titles, ["First", "Other"]);
    assert_eq!(
        feed.warnings,
        [r#"duplicate resource ID "same" (resource #3): kept the first"#]
    );
}

#[test]
fn extra_publishers_are_ignored_with_a_warning() {
    let body =
        r#"<ResourceCollection><Publisher ID="one"/><Publisher ID="two"/></ResourceCollection>"#;
    let feed = parse_str(body).unwrap();
    assert_eq!(feed.publisher.id, "one");
    assert_eq!(feed.warnings.len(), 1);
}

#[test]
fn wrong_root_and_foreign_namespace_are_refused() {
    let error = error_of("<html><body/></html>");
    assert_eq!(
        error.to_string(),
        r#"root element is <"html">, expected <ResourceCollection>"#
    );
    let error = error_of(
        r#"<ResourceCollection xmlns="urn:other"><Publisher ID="p"/></ResourceCollection>"#,
    );
    assert!(error.to_string().contains("urn:other"), "{error}");
}

#[test]
fn non_utf8_and_garbage_are_errors() {
    assert_eq!(
        parse(b"<ResourceCollection>\xff</ResourceCollection>", &base()).unwrap_err(),
        FeedError::NotUtf8 { offset: 20 }
    );
    assert!(matches!(parse(b"", &base()), Err(FeedError::Xml(_))));
    assert!(matches!(
        parse(b"\xEF\xBB\xBF", &base()),
        Err(FeedError::Xml(_))
    ));
    assert!(matches!(
        parse(b"<ResourceCollection>", &base()),
        Err(FeedError::Xml(_))
    ));
}

#[test]
fn bad_booleans_are_errors() {
    let error = error_of(&feed_with_resource(r#"ID="a" ShowByDefault="maybe""#, ""));
    assert!(error.to_string().contains("@ShowByDefault"), "{error}");
}

// ------------------------------------------- characters that hide or reorder

#[test]
fn bidi_controls_and_invisible_characters_are_removed_from_every_name() {
    let body = r#"<?xml version="1.0" encoding="utf-8"?>
<ResourceCollection SchemaVersion="2.1" xmlns="http://schemas.microsoft.com/ts/2007/05/tswf">
  <Publisher ID="ws&#x200B;1" Name="Work&#x202E;space" Description="All &#x2067;apps&#x2069;"
             DisplayFolder="/&#xAD;" LastUpdated="2024&#x200E;">
    <SubFolders><Folder Name="/Off&#x200D;ice"/></SubFolders>
    <Resources>
      <Resource ID="inv&#x2060;oice" Alias="al&#xFEFF;ias" Title="Invoice&#x202E;gpj.exe"
                Type="Remote&#x200C;App" ExecutableName="calc&#x200F;.exe">
        <Icons><Icon32 Dimensions="32&#x2063;x32" FileType="P&#xE0001;ng" FileURL="/i.png"/></Icons>
        <FileExtensions>
          <FileExtension Name=".t&#x061C;xt" PrimaryHandler="tr&#x180E;ue"/>
        </FileExtensions>
        <Folders><Folder Name="/To&#xFFF9;ols&#xFFFB;"/></Folders>
        <HostingTerminalServers><HostingTerminalServer>
          <ResourceFile FileExtension=".r&#x2066;dp" URL="/x.rdp"/>
          <TerminalServerRef Ref="h&#x202A;ost"/>
        </HostingTerminalServer></HostingTerminalServers>
      </Resource>
      <Resource ID="calc" Title="Cal&#x200B;cu&#x200D;la&#xFEFF;tor"/>
      <Resource ID="iso" Title="&#x2067;x&#x2069;"/>
    </Resources>
    <TerminalServers><TerminalServer ID="host" Name="Ho&#x202D;st&#x202C;"/></TerminalServers>
  </Publisher>
</ResourceCollection>"#;
    let feed = parse_str(body).unwrap();
    assert!(feed.warnings.is_empty(), "{:?}", feed.warnings);
    let publisher = &feed.publisher;
    assert_eq!(publisher.id, "ws1");
    assert_eq!(publisher.name.as_deref(), Some("Workspace"));
    assert_eq!(publisher.description.as_deref(), Some("All apps"));
    assert_eq!(publisher.display_folder.as_deref(), Some("/"));
    assert_eq!(publisher.last_updated.as_deref(), Some("2024"));
    assert_eq!(publisher.sub_folders, ["/Office"]);

    let titles: Vec<_> = feed.resources.iter().map(|r| r.title.as_str()).collect();
    assert_eq!(titles, ["Invoicegpj.exe", "Calculator", "x"]);
    let invoice = &feed.resources[0];
    assert_eq!(invoice.id, "invoice");
    assert_eq!(invoice.alias.as_deref(), Some("alias"));
    assert_eq!(invoice.resource_type, radc_feed::ResourceType::RemoteApp);
    assert_eq!(invoice.executable_name.as_deref(), Some("calc.exe"));
    assert_eq!(invoice.icons[0].dimensions, Some((32, 32)));
    assert_eq!(invoice.icons[0].file_type.as_deref(), Some("Png"));
    assert_eq!(invoice.file_extensions[0].name, ".txt");
    assert_eq!(invoice.file_extensions[0].primary_handler, Some(true));
    assert_eq!(invoice.folders, ["/Tools"]);
    let hosting = &invoice.hosting_terminal_servers[0];
    assert_eq!(
        hosting.resource_file.as_ref().unwrap().file_extension,
        ".rdp"
    );
    assert_eq!(hosting.terminal_server_ref.as_deref(), Some("host"));
    assert_eq!(feed.terminal_servers[0].name.as_deref(), Some("Host"));
}

#[test]
fn values_left_empty_by_removal_are_treated_as_empty() {
    // An optional title falls back to the alias, then the ID, as when it
    // is absent.
    let feed = parse_str(&feed_with_resource(
        r#"ID="notes" Alias="Notes" Title="&#x202E; &#x200B;&#xFEFF; ""#,
        "",
    ))
    .unwrap();
    assert_eq!(feed.resources[0].title, "Notes");

    // A required one is refused, naming the attribute.
    let error = error_of(&feed_with_resource(r#"ID="&#x2066;&#x200B;&#x2069;""#, ""));
    assert_eq!(
        error,
        FeedError::MissingAttribute {
            location: "Resource #1".to_owned(),
            attribute: "ID"
        }
    );
    let error = error_of(&feed_with_resource(
        r#"ID="f""#,
        r#"<Folders><Folder Name="&#xAD;"/></Folders>"#,
    ));
    assert_eq!(
        error.to_string(),
        r#"Resource[ID="f"]/Folders/Folder: missing or empty required attribute Name"#
    );

    // A file extension without a visible name is skipped as one without
    // a name is.
    let feed = parse_str(&feed_with_resource(
        r#"ID="e""#,
        r#"<FileExtensions><FileExtension Name="&#x200B;"/></FileExtensions>"#,
    ))
    .unwrap();
    assert!(feed.resources[0].file_extensions.is_empty());
    assert_eq!(feed.warnings.len(), 1, "{:?}", feed.warnings);
}

#[test]
fn removal_does_not_hide_control_characters_or_lift_limits() {
    let error = error_of(&feed_with_resource(
        r#"ID="ok" Title="a&#x200B;&#10;&#x202E;b""#,
        "",
    ));
    let message = error.to_string();
    assert!(message.contains("control character"), "{message}");
    assert!(
        message.contains("\\u{202e}"),
        "quoted as written: {message}"
    );

    // The limit applies to what is kept, so padding does not count...
    let title = format!("{}{}", "A".repeat(1024), "\u{200B}".repeat(1000));
    let feed = parse_str(&feed_with_resource(
        &format!(r#"ID="p" Title="{title}""#),
        "",
    ))
    .unwrap();
    assert_eq!(feed.resources[0].title, "A".repeat(1024));
    // ...and cannot be used to sneak a longer name through.
    let title = format!("{}\u{200B}", "A".repeat(1025));
    let error = error_of(&feed_with_resource(
        &format!(r#"ID="p" Title="{title}""#),
        "",
    ));
    assert!(error.to_string().contains("1025 bytes long"), "{error}");
}

#[test]
fn ids_equal_after_removal_are_duplicates() {
    let feed = parse_str(&feed_with_resource(
        r#"ID="calc" Title="Calculator"/><Resource ID="ca&#x200B;lc" Title="Impostor""#,
        "",
    ))
    .unwrap();
    assert_eq!(feed.resources.len(), 1);
    assert_eq!(feed.resources[0].title, "Calculator");
    assert!(
        feed.warnings[0].contains("duplicate resource ID"),
        "{:?}",
        feed.warnings
    );
}

#[test]
fn urls_keep_their_characters_percent_encoded() {
    // A URL names a file on the server; removing characters would fetch a
    // different one. A parsed URL is ASCII, so nothing invisible is shown.
    let feed = parse_str(&feed_with_resource(
        r#"ID="u""#,
        r#"<Icons><IconRaw FileURL="/icons/a&#x200B;b.ico"/></Icons>"#,
    ))
    .unwrap();
    let url = feed.resources[0].icons[0].url.as_ref().unwrap();
    assert_eq!(url.path(), "/icons/a%E2%80%8Bb.ico");
    assert!(url.as_str().is_ascii());
}

#[test]
fn icon_element_names_lose_invisible_characters() {
    let feed = parse_str(&feed_with_resource(
        r#"ID="i""#,
        "<Icons><Icon\u{200D}Png\u{E0041} FileURL=\"/a.png\"/><Icon\u{200C}48 FileURL=\"/b.png\"/></Icons>",
    ))
    .unwrap();
    let kinds: Vec<_> = feed.resources[0]
        .icons
        .iter()
        .map(|i| i.kind.clone())
        .collect();
    assert_eq!(
        kinds,
        [
            radc_feed::IconKind::Other("IconPng".to_owned()),
            radc_feed::IconKind::Sized(48)
        ]
    );
}

#[test]
fn xml_errors_do_not_carry_invisible_characters() {
    let error =
        error_of("<ResourceCollection><Publisher ID='p'></Pub\u{200D}lisher></ResourceCollection>");
    let message = error.to_string();
    assert!(matches!(error, FeedError::Xml(_)), "{error:?}");
    // The parser quotes both tag names; the closing one, cleaned, reads
    // as a second "Publisher".
    assert_eq!(message.matches("Publisher").count(), 2, "{message:?}");
    assert!(!message.contains('\u{200D}'), "{message:?}");
}
