//! Feeds shaped like the MS-TSWP section 4 examples and like real
//! generators, each checked field by field.

use radc_feed::{Feed, IconKind, ResourceType, parse};
use url::Url;

const FEED_URL: &str = "https://rdweb.example.test/RDWeb/Feed/webfeed.aspx";

fn load(name: &str) -> Feed {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
    parse(&bytes, &Url::parse(FEED_URL).unwrap()).unwrap_or_else(|error| panic!("{name}: {error}"))
}

fn url(text: &str) -> Option<Url> {
    Some(Url::parse(text).unwrap())
}

#[test]
fn schema_1_1_with_one_terminal_server() {
    let feed = load("v1_1_single_server.xml");
    assert_eq!(feed.schema_version.as_deref(), Some("1.1"));
    assert_eq!(feed.pub_date.as_deref(), Some("2024-03-11T08:15:00.125Z"));
    assert_eq!(feed.publisher.id, "rdweb.northwind.test");
    assert_eq!(feed.publisher.display_name(), "Northwind Remote Apps");
    assert_eq!(
        feed.publisher.description, None,
        "empty description is absent"
    );
    assert_eq!(feed.publisher.supports_reconnect, None);
    assert!(feed.warnings.is_empty(), "{:?}", feed.warnings);

    let titles: Vec<_> = feed.resources.iter().map(|r| r.title.as_str()).collect();
    assert_eq!(titles, ["Text Editor", "Spreadsheet", "Office Desktop"]);
    let editor = &feed.resources[0];
    assert_eq!(editor.id, "3f1c0a9e7b2d4c6e8a0b1c2d3e4f5a6b7c8d9e0f");
    assert_eq!(editor.alias.as_deref(), Some("notepad-Apps-Host"));
    assert_eq!(editor.resource_type, ResourceType::RemoteApp);
    assert!(editor.show_by_default, "absent ShowByDefault means true");
    assert_eq!(editor.icons.len(), 2);
    assert_eq!(editor.icons[0].kind, IconKind::Raw);
    assert_eq!(editor.icons[0].dimensions, None);
    assert_eq!(
        editor.icons[0].url,
        url("https://rdweb.example.test/RDWeb/Pages/rdp/notepad-Apps-Host.ico?hash=abc%3D")
    );
    assert_eq!(editor.icons[1].kind, IconKind::Sized(32));
    assert_eq!(editor.icons[1].dimensions, Some((32, 32)));
    assert_eq!(editor.icons[1].file_type.as_deref(), Some("Png"));
    assert!(editor.file_extensions.is_empty());
    let hosting = &editor.hosting_terminal_servers[0];
    assert_eq!(hosting.terminal_server_ref.as_deref(), Some("apphost"));
    let file = hosting.resource_file.as_ref().unwrap();
    assert_eq!(file.file_extension, ".rdp");
    assert_eq!(
        file.url,
        url("https://rdweb.example.test/RDWeb/Pages/rdp/apphost-notepad-Apps-Host.rdp")
    );

    let extensions: Vec<_> = feed.resources[1]
        .file_extensions
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(extensions, [".csv", ".tsv"]);
    assert_eq!(feed.resources[2].resource_type, ResourceType::Desktop);

    assert_eq!(feed.terminal_servers.len(), 1);
    assert_eq!(feed.terminal_servers[0].id, "apphost");
    assert_eq!(
        feed.terminal_servers[0].name.as_deref(),
        Some("apphost.northwind.test")
    );
}

#[test]
fn schema_1_1_with_several_terminal_servers() {
    let feed = load("v1_1_multi_server.xml");
    assert_eq!(feed.schema_version.as_deref(), Some("1.0"));
    let ids: Vec<_> = feed
        .terminal_servers
        .iter()
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(ids, ["HOSTA", "HOSTB"], "the duplicate HOSTA is dropped");
    assert_eq!(
        feed.terminal_servers[0].name.as_deref(),
        Some("hosta.farm.test")
    );
    assert_eq!(feed.warnings.len(), 1, "{:?}", feed.warnings);
    assert!(feed.warnings[0].contains("duplicate <TerminalServer> ID \"HOSTA\""));

    // " HOSTA" is trimmed, so it still matches.
    assert_eq!(
        feed.resources[0].hosting_terminal_servers[0]
            .terminal_server_ref
            .as_deref(),
        Some("HOSTA")
    );
    let refs: Vec<_> = feed.resources[1]
        .hosting_terminal_servers
        .iter()
        .map(|h| h.terminal_server_ref.as_deref().unwrap())
        .collect();
    assert_eq!(refs, ["HOSTB", "HOSTA"]);
}

#[test]
fn schema_2_0_with_folders_and_file_associations() {
    let feed = load("v2_0_folders.xml");
    let publisher = &feed.publisher;
    assert_eq!(publisher.supports_reconnect, Some(true));
    assert_eq!(publisher.display_folder.as_deref(), Some("/"));
    assert_eq!(publisher.sub_folders, ["/Office", "/Admin tools"]);
    assert_eq!(
        publisher.description.as_deref(),
        Some("Line of business apps")
    );
    assert!(feed.warnings.is_empty(), "{:?}", feed.warnings);

    let writer = &feed.resources[0];
    assert_eq!(writer.folders, ["/Office", "/"]);
    assert_eq!(
        writer.icons[0].url,
        url("https://cdn.contoso.test/RDWeb/img/writer.ico"),
        "absolute URLs are kept"
    );
    let odt = &writer.file_extensions[0];
    assert_eq!(odt.name, ".odt");
    assert_eq!(odt.primary_handler, Some(true));
    assert_eq!(odt.icons.len(), 2);
    assert_eq!(
        odt.icons[0].url,
        url("https://rdweb.example.test/RDWeb/Pages/rdp/fileassoc/.odt/writer.ico")
    );
    assert_eq!(odt.icons[1].dimensions, Some((32, 32)));
    assert_eq!(writer.file_extensions[1].primary_handler, Some(false));

    assert_eq!(
        feed.resources[1].folders,
        ["/Admin tools"],
        "a folder name without the leading slash gets one"
    );
    assert!(feed.resources[2].folders.is_empty());
}

#[test]
fn schema_2_1_show_by_default_and_unknown_parts() {
    let feed = load("v2_1_show_by_default.xml");
    assert_eq!(feed.schema_version.as_deref(), Some("2.1"));
    assert_eq!(feed.publisher.supports_reconnect, Some(false));
    assert!(feed.warnings.is_empty(), "{:?}", feed.warnings);

    let paint = &feed.resources[0];
    assert!(paint.show_by_default);
    assert_eq!(paint.executable_name.as_deref(), Some("paint.exe"));
    let kinds: Vec<_> = paint.icons.iter().map(|i| i.kind.clone()).collect();
    assert_eq!(
        kinds,
        [
            IconKind::Raw,
            IconKind::Sized(16),
            IconKind::Sized(256),
            IconKind::Generic,
            IconKind::Other("IconPng".to_owned()),
        ]
    );
    assert_eq!(paint.icons[3].dimensions, Some((48, 48)));
    assert_eq!(paint.icons[4].dimensions, Some((64, 64)));
    // Relative to the feed URL's directory.
    assert_eq!(
        paint.icons[0].url,
        url("https://rdweb.example.test/RDWeb/Feed/icons/paint.ico")
    );
    let file = paint.hosting_terminal_servers[0]
        .resource_file
        .as_ref()
        .unwrap();
    assert_eq!(file.file_extension, ".rdp", "schema default");

    let debugger = &feed.resources[1];
    assert!(!debugger.show_by_default);
    assert!(debugger.file_extensions.is_empty());

    let kiosk = &feed.resources[2];
    assert_eq!(kiosk.resource_type, ResourceType::Other("Kiosk".to_owned()));
    assert!(!kiosk.show_by_default, "0 is false");
    assert_eq!(
        kiosk.title, "kiosk-id",
        "no Title or Alias: the ID stands in"
    );
    assert!(kiosk.icons.is_empty() && kiosk.hosting_terminal_servers.is_empty());
}

#[test]
fn real_generator_with_bom_crlf_and_no_namespace() {
    let feed = load("real_bom_no_namespace.xml");
    // On ResourceCollection rather than Publisher.
    assert_eq!(feed.publisher.supports_reconnect, Some(true));
    assert_eq!(feed.publisher.display_folder.as_deref(), Some("/Office"));
    assert_eq!(feed.publisher.sub_folders, ["/Office/Drafts"]);
    let mail = &feed.resources[0];
    assert_eq!(mail.title, "Mail Client", "surrounding blanks are trimmed");
    assert_eq!(
        mail.icons[0].url,
        url("https://static.tailspin.test/icons/mail.ico")
    );
    assert_eq!(
        mail.hosting_terminal_servers[0]
            .resource_file
            .as_ref()
            .unwrap()
            .url,
        url("https://rdweb.example.test/RDWeb/rdp/mail.rdp")
    );
    assert_eq!(mail.file_extensions.len(), 1);
    assert_eq!(feed.warnings.len(), 2, "{:?}", feed.warnings);
    assert!(feed.warnings[0].contains("without Name"));
    assert!(feed.warnings[1].contains("\"missing-host\" names no <TerminalServer>"));
}

#[test]
fn attributes_on_publisher_win_over_the_collection() {
    let body =
        br#"<ResourceCollection SchemaVersion="2.0" SupportsReconnect="false" DisplayFolder="/A">
        <Publisher ID="p" SupportsReconnect="true" DisplayFolder="/B"/></ResourceCollection>"#;
    let feed = parse(body, &Url::parse(FEED_URL).unwrap()).unwrap();
    assert_eq!(feed.publisher.supports_reconnect, Some(true));
    assert_eq!(feed.publisher.display_folder.as_deref(), Some("/B"));
    assert!(feed.resources.is_empty() && feed.terminal_servers.is_empty());
    assert_eq!(feed.publisher.display_name(), "p");
}
