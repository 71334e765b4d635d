//! What a refresh changed: resources added, removed and changed, by id;
//! and which files a refresh may keep without asking the server again.

use std::collections::{BTreeSet, HashMap};

use crate::{Feed, Resource};

/// The difference between the last good feed and a new one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedDiff {
    /// Ids of resources only in the new feed, in its order.
    pub added: Vec<String>,
    /// Ids of resources only in the old feed, in its order.
    pub removed: Vec<String>,
    /// Ids of resources in both whose description changed (title, icons,
    /// file extensions, folders, `.rdp` file…), in the new feed's order.
    pub changed: Vec<String>,
    /// The workspace's display name changed.
    pub renamed: bool,
}

impl FeedDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty() && !self.renamed
    }
}

/// Compares two feeds of the same workspace.
pub fn diff(old: &Feed, new: &Feed) -> FeedDiff {
    let by_id = |feed: &Feed| -> HashMap<String, Resource> {
        feed.resources
            .iter()
            .map(|r| (r.id.clone(), r.clone()))
            .collect()
    };
    let (before, after) = (by_id(old), by_id(new));
    let mut out = FeedDiff {
        renamed: old.publisher.name != new.publisher.name,
        ..FeedDiff::default()
    };
    for resource in &new.resources {
        match before.get(&resource.id) {
            None => out.added.push(resource.id.clone()),
            Some(previous) if previous != resource => out.changed.push(resource.id.clone()),
            Some(_) => {}
        }
    }
    out.removed = old
        .resources
        .iter()
        .filter(|r| !after.contains_key(&r.id))
        .map(|r| r.id.clone())
        .collect();
    out
}

/// The files (by URL) that `new` says are the same as in `old`, so a
/// refresh may keep what it stored for them without asking the server:
///
/// - every file of a resource that carries a `LastUpdated` and is described
///   exactly as before (same id, same `LastUpdated`, same URLs and every
///   other attribute), as are the terminal servers it names: the server
///   moves `LastUpdated` when it publishes the resource again;
/// - an icon whose URL carries a non-empty `hash` query parameter and that
///   `old` named as well: such URLs change with the icon.
///
/// A URL that any other resource of `new` names is left out unless that
/// resource is unchanged too, and a URL is never carried over to a
/// different one: a cache is only ever trusted for the same URL.
pub fn unchanged_files(old: &Feed, new: &Feed) -> BTreeSet<String> {
    let before: HashMap<&str, &Resource> =
        old.resources.iter().map(|r| (r.id.as_str(), r)).collect();
    let old_icons: BTreeSet<&str> = old
        .resources
        .iter()
        .flat_map(icon_urls)
        .map(url::Url::as_str)
        .collect();
    let server =
        |feed: &'_ Feed, id: &str| feed.terminal_servers.iter().find(|s| s.id == id).cloned();
    let same_servers = |resource: &Resource| {
        resource
            .hosting_terminal_servers
            .iter()
            .filter_map(|h| h.terminal_server_ref.as_deref())
            .all(|id| server(old, id) == server(new, id))
    };
    let mut kept = BTreeSet::new();
    let mut unsure = BTreeSet::new();
    for resource in &new.resources {
        let stamped = resource
            .last_updated
            .as_deref()
            .is_some_and(|s| !s.trim().is_empty());
        let same = stamped
            // The same resource of the same feed (a refresh that fetched
            // the stored feed again) needs no comparing field by field.
            && before
                .get(resource.id.as_str())
                .is_some_and(|old| std::ptr::eq(*old, resource) || *old == resource)
            && same_servers(resource);
        for url in rdp_urls(resource) {
            if same {
                kept.insert(url.as_str());
            } else {
                unsure.insert(url.as_str());
            }
        }
        for url in icon_urls(resource) {
            let hashed = url
                .query_pairs()
                .any(|(name, value)| name.eq_ignore_ascii_case("hash") && !value.is_empty());
            if same || (hashed && old_icons.contains(url.as_str())) {
                kept.insert(url.as_str());
            } else {
                unsure.insert(url.as_str());
            }
        }
    }
    kept.difference(&unsure).map(|u| (*u).to_owned()).collect()
}

fn rdp_urls(resource: &Resource) -> impl Iterator<Item = &url::Url> {
    resource
        .hosting_terminal_servers
        .iter()
        .filter_map(|h| h.resource_file.as_ref()?.url.as_ref())
}

fn icon_urls(resource: &Resource) -> impl Iterator<Item = &url::Url> {
    let extension_icons = resource.file_extensions.iter().flat_map(|e| &e.icons);
    resource
        .icons
        .iter()
        .chain(extension_icons)
        .filter_map(|i| i.url.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Feed {
        let base = url::Url::parse("https://rdweb.example.test/RDWeb/Feed/webfeed.aspx").unwrap();
        crate::parse(include_bytes!("../tests/data/v2_0_folders.xml"), &base).unwrap()
    }

    #[test]
    fn same_feed_no_change() {
        let feed = fixture();
        assert!(diff(&feed, &feed.clone()).is_empty());
    }

    #[test]
    fn adds_removes_changes_and_renames() {
        let old = fixture();
        assert!(old.resources.len() >= 2, "the fixture needs two resources");
        let mut new = old.clone();
        let gone = new.resources.remove(0).id;
        new.resources[0].title.push_str(" (new)");
        let retitled = new.resources[0].id.clone();
        let mut extra = new.resources[0].clone();
        extra.id = "brand-new".into();
        new.resources.push(extra);
        new.publisher.name = Some("Renamed".into());
        let d = diff(&old, &new);
        assert_eq!(d.removed, vec![gone]);
        assert_eq!(d.changed, vec![retitled]);
        assert_eq!(d.added, vec!["brand-new".to_string()]);
        assert!(d.renamed);
        assert!(!d.is_empty());
    }

    fn all_files(feed: &Feed) -> BTreeSet<String> {
        feed.resources
            .iter()
            .flat_map(|r| rdp_urls(r).chain(icon_urls(r)))
            .map(|u| u.as_str().to_owned())
            .collect()
    }

    fn files_of(feed: &Feed, id: &str) -> BTreeSet<String> {
        let r = feed.resources.iter().find(|r| r.id == id).unwrap();
        rdp_urls(r)
            .chain(icon_urls(r))
            .map(|u| u.as_str().to_owned())
            .collect()
    }

    #[test]
    fn an_unchanged_stamped_feed_keeps_every_file() {
        let feed = fixture();
        let all = all_files(&feed);
        assert!(all.len() >= 6, "{all:?}");
        assert_eq!(unchanged_files(&feed, &feed.clone()), all);
    }

    #[test]
    fn a_new_stamp_or_description_asks_again_for_that_resource_only() {
        let old = fixture();
        let id = old.resources[0].id.clone();
        let mut new = old.clone();
        new.resources[0].last_updated = Some("2030-01-01T00:00:00Z".into());
        let kept = unchanged_files(&old, &new);
        assert!(kept.is_disjoint(&files_of(&new, &id)), "{kept:?}");
        let others: BTreeSet<String> = all_files(&new)
            .difference(&files_of(&new, &id))
            .cloned()
            .collect();
        assert_eq!(kept, others);

        // Same stamp but another title: not trusted either.
        let mut new = old.clone();
        new.resources[0].title.push('!');
        assert!(unchanged_files(&old, &new).is_disjoint(&files_of(&new, &id)));

        // No stamp at all: nothing is known unchanged.
        let mut bare = old.clone();
        for r in &mut bare.resources {
            r.last_updated = None;
        }
        assert!(unchanged_files(&bare, &bare.clone()).is_empty());
        let mut blank = old.clone();
        blank.resources[0].last_updated = Some(" ".into());
        assert!(unchanged_files(&blank, &blank.clone()).is_disjoint(&files_of(&blank, &id)));
    }

    #[test]
    fn a_changed_terminal_server_asks_again_for_the_resources_on_it() {
        let old = fixture();
        let mut new = old.clone();
        new.terminal_servers[0].last_updated = Some("2030-01-01T00:00:00Z".into());
        let on_it: BTreeSet<String> = new
            .resources
            .iter()
            .filter(|r| {
                r.hosting_terminal_servers
                    .iter()
                    .any(|h| h.terminal_server_ref.as_deref() == Some(&new.terminal_servers[0].id))
            })
            .flat_map(|r| files_of(&new, &r.id))
            .collect();
        assert!(!on_it.is_empty());
        assert!(unchanged_files(&old, &new).is_disjoint(&on_it));
    }

    #[test]
    fn hashed_icon_urls_are_kept_only_for_the_same_url() {
        let mut old = fixture();
        for r in &mut old.resources {
            r.last_updated = None;
            for icon in &mut r.icons {
                if let Some(url) = &mut icon.url {
                    url.set_query(Some("hash=abc123"));
                }
            }
        }
        let kept = unchanged_files(&old, &old.clone());
        let icons: BTreeSet<String> = old
            .resources
            .iter()
            .flat_map(|r| r.icons.iter().filter_map(|i| i.url.as_ref()))
            .map(|u| u.as_str().to_owned())
            .collect();
        assert!(!icons.is_empty());
        assert_eq!(kept, icons, ".rdp files are never kept for a hash");

        // A new hash is a new URL: asked for.
        let mut new = old.clone();
        let url = new.resources[0].icons[0].url.as_mut().unwrap();
        url.set_query(Some("hash=def456"));
        let changed = url.as_str().to_owned();
        assert!(!unchanged_files(&old, &new).contains(&changed));

        // An empty hash proves nothing.
        let mut empty = old.clone();
        let url = empty.resources[0].icons[0].url.as_mut().unwrap();
        url.set_query(Some("hash="));
        let url = url.as_str().to_owned();
        assert!(!unchanged_files(&empty, &empty.clone()).contains(&url));
    }

    #[test]
    fn a_url_shared_with_a_changed_resource_is_asked_for() {
        let old = fixture();
        let mut new = old.clone();
        let shared = new.resources[0].icons[0].url.clone().unwrap();
        new.resources[1].icons[0].url = Some(shared.clone());
        new.resources[1].last_updated = Some("2030-01-01T00:00:00Z".into());
        let mut old2 = old.clone();
        old2.resources[1].icons[0].url = Some(shared.clone());
        assert!(!unchanged_files(&old2, &new).contains(shared.as_str()));
    }
}
