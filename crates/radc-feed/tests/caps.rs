//! The caps on how much one feed may ask for: resources per feed and icons
//! per resource, exactly at and just past each limit.

use std::fmt::Write as _;

use radc_feed::limits::{MAX_ICONS_PER_RESOURCE, MAX_RESOURCES};
use radc_feed::{FeedError, parse};
use url::Url;

fn base() -> Url {
    Url::parse("https://rdweb.example.test/RDWeb/Feed/webfeed.aspx").unwrap()
}

fn feed_with_resources(resources: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<ResourceCollection SchemaVersion="2.1" xmlns="http://schemas.microsoft.com/ts/2007/05/tswf">
  <Publisher ID="ws" Name="Workspace"><Resources>{resources}</Resources></Publisher>
</ResourceCollection>"#
    )
}

/// `count` resources with IDs `app0`, `app1`, ...
fn feed_of(count: usize) -> String {
    let mut resources = String::new();
    for index in 0..count {
        write!(
            resources,
            r#"<Resource ID="app{index}" Title="App {index}"><HostingTerminalServers><HostingTerminalServer><ResourceFile URL="/rdp/{index}.rdp"/></HostingTerminalServer></HostingTerminalServers></Resource>"#
        )
        .unwrap();
    }
    feed_with_resources(&resources)
}

/// One resource with `own` icons and one file extension per entry of
/// `per_extension`, each with that many icons.
fn feed_with_icons(own: usize, per_extension: &[usize]) -> String {
    let icon = |out: &mut String, n: usize| {
        write!(out, r#"<Icon32 FileURL="/icons/{n}.png"/>"#).unwrap();
    };
    let mut resource = String::from(r#"<Resource ID="calc" Title="Calculator"><Icons>"#);
    for n in 0..own {
        icon(&mut resource, n);
    }
    resource.push_str("</Icons><FileExtensions>");
    for (index, &count) in per_extension.iter().enumerate() {
        write!(
            resource,
            r#"<FileExtension Name=".e{index}"><FileAssociationIcons>"#
        )
        .unwrap();
        for n in 0..count {
            icon(&mut resource, n);
        }
        resource.push_str("</FileAssociationIcons></FileExtension>");
    }
    resource.push_str("</FileExtensions></Resource>");
    feed_with_resources(&resource)
}

#[test]
fn the_limits_are_the_documented_numbers() {
    assert_eq!(MAX_RESOURCES, 2_000);
    assert_eq!(MAX_ICONS_PER_RESOURCE, 16);
}

#[test]
fn a_feed_of_exactly_the_resource_limit_is_accepted() {
    let feed = parse(feed_of(MAX_RESOURCES).as_bytes(), &base()).unwrap();
    assert_eq!(feed.resources.len(), MAX_RESOURCES);
    assert_eq!(feed.resources[1999].title, "App 1999");
}

#[test]
fn one_resource_more_is_refused_naming_the_limit_and_the_count() {
    let error = parse(feed_of(MAX_RESOURCES + 1).as_bytes(), &base()).unwrap_err();
    assert_eq!(
        error,
        FeedError::TooManyResources {
            count: 2001,
            limit: 2000
        }
    );
    assert_eq!(
        error.to_string(),
        "the feed lists 2001 resources; radc accepts at most 2000"
    );
}

#[test]
fn duplicates_count_towards_the_resource_limit() {
    // Listing is what costs parsing work, whether or not an entry is kept.
    let resources = r#"<Resource ID="same"/>"#.repeat(MAX_RESOURCES + 1);
    let error = parse(feed_with_resources(&resources).as_bytes(), &base()).unwrap_err();
    assert!(
        matches!(error, FeedError::TooManyResources { count: 2001, .. }),
        "{error:?}"
    );
}

#[test]
fn a_huge_feed_is_refused_with_its_count() {
    let error = parse(feed_of(100_000).as_bytes(), &base()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the feed lists 100000 resources; radc accepts at most 2000"
    );
}

#[test]
fn exactly_the_icon_limit_is_accepted_however_it_is_split() {
    for (own, per_extension) in [
        (16, &[][..]),
        (0, &[16][..]),
        (8, &[4, 4][..]),
        (1, &[5; 3][..]),
    ] {
        let feed = parse(feed_with_icons(own, per_extension).as_bytes(), &base())
            .unwrap_or_else(|error| panic!("{own} + {per_extension:?}: {error}"));
        let resource = &feed.resources[0];
        let total = resource.icons.len()
            + resource
                .file_extensions
                .iter()
                .map(|extension| extension.icons.len())
                .sum::<usize>();
        assert_eq!(total, MAX_ICONS_PER_RESOURCE);
    }
}

#[test]
fn one_icon_more_is_refused_naming_the_resource() {
    for (own, per_extension) in [
        (17, &[][..]),
        (0, &[17][..]),
        (16, &[1][..]),
        (1, &[8, 8][..]),
    ] {
        let error = parse(feed_with_icons(own, per_extension).as_bytes(), &base()).unwrap_err();
        assert_eq!(
            error,
            FeedError::TooManyIcons {
                location: r#"Resource[ID="calc"]"#.to_owned(),
                count: 17,
                limit: 16
            },
            "{own} + {per_extension:?}"
        );
        assert_eq!(
            error.to_string(),
            r#"Resource[ID="calc"]: the resource lists 17 icons (its own and its file types'); radc accepts at most 16"#
        );
    }
}

#[test]
fn icons_of_different_resources_are_counted_separately() {
    let icons = r#"<Icon32 FileURL="/i.png"/>"#.repeat(MAX_ICONS_PER_RESOURCE);
    let resources: String = (0..3)
        .map(|index| format!(r#"<Resource ID="r{index}"><Icons>{icons}</Icons></Resource>"#))
        .collect();
    let feed = parse(feed_with_resources(&resources).as_bytes(), &base()).unwrap();
    assert_eq!(feed.resources.len(), 3);
}

#[test]
fn another_resource_cap_moves_only_that_cap() {
    // `parse_with_max_resources` must apply the cap it is given and every
    // other check.
    let feed = feed_of(MAX_RESOURCES + 1);
    let parsed =
        radc_feed::parse_with_max_resources(feed.as_bytes(), &base(), MAX_RESOURCES + 1).unwrap();
    assert_eq!(parsed.resources.len(), MAX_RESOURCES + 1);
    assert_eq!(
        radc_feed::parse_with_max_resources(feed_of(11).as_bytes(), &base(), 10).unwrap_err(),
        FeedError::TooManyResources {
            count: 11,
            limit: 10
        }
    );
    let too_many_icons = feed_with_icons(MAX_ICONS_PER_RESOURCE + 1, &[]);
    assert!(matches!(
        radc_feed::parse_with_max_resources(too_many_icons.as_bytes(), &base(), 10_000),
        Err(FeedError::TooManyIcons { .. })
    ));
    assert_eq!(
        radc_feed::parse_with_max_resources(b"<!DOCTYPE x []><x/>", &base(), 10_000).unwrap_err(),
        FeedError::DtdNotAllowed
    );
}
