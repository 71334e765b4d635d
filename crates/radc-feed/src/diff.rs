//! What a refresh changed: resources added, removed and changed, by id.

use std::collections::HashMap;

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
}
