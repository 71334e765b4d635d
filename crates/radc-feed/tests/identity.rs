//! The feed-identity rules against a model of the stored workspaces: any
//! sequence of subscriptions, refreshes (with servers answering whatever
//! publisher ID they like) and unsubscriptions never lets a feed from one
//! origin write the workspace another origin holds.

use std::collections::BTreeMap;

use proptest::prelude::*;
use radc_feed::identity::{check_refresh, check_subscribe};
use url::Url;

const ORIGINS: &[&str] = &[
    "https://rdweb.victim.corp",
    "https://feeds.hostile.test",
    "https://rdweb.victim.corp:8443",
    "http://rdweb.victim.corp",
];
const IDS: &[&str] = &["victim.corp", "hostile.test", "other"];
const PATHS: &[&str] = &[
    "/RDWeb/Feed/webfeed.aspx",
    "/feed",
    "/RDWeb/Feed/webfeed.aspx?a=b",
];

#[derive(Debug, Clone)]
enum Op {
    /// The user subscribes to a URL; the server there answers with an ID.
    Subscribe {
        origin: usize,
        path: usize,
        answers: usize,
    },
    /// A subscribed workspace is refreshed; its server now answers with an
    /// ID of its choosing.
    Refresh {
        workspace: usize,
        answers: usize,
    },
    Unsubscribe {
        workspace: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..ORIGINS.len(), 0..PATHS.len(), 0..IDS.len()).prop_map(|(origin, path, answers)| {
            Op::Subscribe {
                origin,
                path,
                answers,
            }
        }),
        (0..IDS.len(), 0..IDS.len())
            .prop_map(|(workspace, answers)| Op::Refresh { workspace, answers }),
        (0..IDS.len()).prop_map(|workspace| Op::Unsubscribe { workspace }),
    ]
}

fn url(origin: usize, path: usize) -> Url {
    Url::parse(&format!("{}{}", ORIGINS[origin], PATHS[path])).unwrap()
}

proptest! {
    #[test]
    fn no_feed_writes_another_origins_workspace(ops in prop::collection::vec(op(), 1..40)) {
        // id → feed URL, as the store keeps them.
        let mut store: BTreeMap<String, Url> = BTreeMap::new();
        // id → the origin the user first subscribed it from (since its
        // last unsubscribe): what the rules must preserve.
        let mut bound: BTreeMap<String, String> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Subscribe { origin, path, answers } => {
                    let feed_url = url(origin, path);
                    let id = IDS[answers];
                    let verdict = check_subscribe(&feed_url, id, store.get(id));
                    match bound.get(id) {
                        Some(holder) if holder != ORIGINS[origin] => {
                            prop_assert!(verdict.is_err(), "{feed_url} took over {id}");
                        }
                        _ => prop_assert!(verdict.is_ok(), "{feed_url} refused for {id}: {verdict:?}"),
                    }
                    if verdict.is_ok() {
                        store.insert(id.to_owned(), feed_url);
                        bound.entry(id.to_owned()).or_insert_with(|| ORIGINS[origin].to_owned());
                    }
                }
                Op::Refresh { workspace, answers } => {
                    let id = IDS[workspace];
                    let Some(home) = store.get(id).cloned() else { continue };
                    let answered = IDS[answers];
                    let verdict = check_refresh(id, &home, &home, answered);
                    prop_assert_eq!(verdict.is_ok(), answered == id);
                    // A refresh only ever writes the workspace it refreshes,
                    // and keeps its URL.
                    if verdict.is_ok() {
                        store.insert(id.to_owned(), home);
                    }
                }
                Op::Unsubscribe { workspace } => {
                    store.remove(IDS[workspace]);
                    bound.remove(IDS[workspace]);
                }
            }
            for (id, feed_url) in &store {
                prop_assert_eq!(
                    &feed_url.origin().ascii_serialization(),
                    &bound[id],
                    "workspace {} moved", id
                );
            }
        }
    }

    #[test]
    fn refreshes_from_elsewhere_are_refused(home in 0..ORIGINS.len(), there in 0..ORIGINS.len(), path in 0..PATHS.len()) {
        let verdict = check_refresh("victim.corp", &url(home, 0), &url(there, path), "victim.corp");
        prop_assert_eq!(verdict.is_ok(), home == there);
    }
}
