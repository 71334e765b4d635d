//! Which feed a workspace is.
//!
//! A workspace is the pair of the **origin** (scheme, host, port) its feed
//! was subscribed from and the **publisher ID** that feed had then. Both
//! come from outside, but only the user chooses the origin: the publisher
//! ID is whatever the server says. So the ID alone must never decide which
//! stored workspace a feed updates, or any feed could name itself after
//! another subscription and take over its record, its menu entries and the
//! credentials stored for it.
//!
//! The rules, checked before anything is downloaded or stored:
//!
//! - **Subscribe**: a feed may create a workspace under its publisher ID,
//!   or update the workspace of that ID when it was subscribed from the same
//!   origin (subscribing again to the same server). An ID already held by a
//!   subscription from another origin is refused.
//! - **Refresh**: the answer must come from the workspace's own origin and
//!   carry the workspace's own publisher ID. A changed ID is refused, even
//!   on the same origin: radc never follows a change of identity on its
//!   own. If the server really was renamed, the user unsubscribes and
//!   subscribes again, which is the confirmation.

use url::Url;

/// Why a feed may not update a workspace.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// Subscribing: the publisher ID belongs to a workspace subscribed from
    /// another origin.
    #[error(
        "the feed at {url} calls itself {id:?}, but workspace {id:?} is already subscribed \
         from {held_by}; radc does not let one feed replace another's workspace \
         (unsubscribe {id:?} first if it is really the same workspace)"
    )]
    HeldElsewhere {
        url: String,
        id: String,
        held_by: String,
    },
    /// Refreshing: the feed answered with another publisher ID.
    #[error(
        "the feed at {url} now calls itself {now:?} instead of {was:?}; radc does not follow \
         a change of identity on its own. If the change is expected, run \
         `radc unsubscribe {was:?}` and subscribe to {url} again"
    )]
    IdChanged {
        url: String,
        was: String,
        now: String,
    },
    /// Refreshing: the answer came from another origin than the one
    /// subscribed.
    #[error(
        "the feed of workspace {id:?} answered from {now} instead of {was}; \
         nothing was changed"
    )]
    OriginChanged {
        id: String,
        was: String,
        now: String,
    },
}

/// The origin of a URL as text (`https://host:port`), the form stored
/// with a workspace and shown in messages.
pub fn origin_of(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// May a feed fetched from `feed_url` with publisher ID `id` be subscribed,
/// given the feed URL of the workspace already stored under `id`, if any?
pub fn check_subscribe(
    feed_url: &Url,
    id: &str,
    existing_feed_url: Option<&Url>,
) -> Result<(), IdentityError> {
    match existing_feed_url {
        Some(existing) if existing.origin() != feed_url.origin() => {
            Err(IdentityError::HeldElsewhere {
                url: feed_url.to_string(),
                id: id.to_owned(),
                held_by: origin_of(existing),
            })
        }
        _ => Ok(()),
    }
}

/// May a refresh of workspace `id`, subscribed at `subscribed_url`, take
/// the feed that `fetched_url` answered with publisher ID `fetched_id`?
pub fn check_refresh(
    id: &str,
    subscribed_url: &Url,
    fetched_url: &Url,
    fetched_id: &str,
) -> Result<(), IdentityError> {
    if fetched_url.origin() != subscribed_url.origin() {
        return Err(IdentityError::OriginChanged {
            id: id.to_owned(),
            was: origin_of(subscribed_url),
            now: origin_of(fetched_url),
        });
    }
    if fetched_id != id {
        return Err(IdentityError::IdChanged {
            url: subscribed_url.to_string(),
            was: id.to_owned(),
            now: fetched_id.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn subscribe_rules() {
        let victim = url("https://rdweb.victim.corp/RDWeb/Feed/webfeed.aspx");
        let hostile = url("https://feeds.hostile.test/feed");
        assert!(check_subscribe(&victim, "victim.corp", None).is_ok());
        // The same server again, even by another path, is the same workspace.
        let again = url("https://rdweb.victim.corp/RDWeb/Feed/webfeed.aspx?x=1");
        assert!(check_subscribe(&again, "victim.corp", Some(&victim)).is_ok());
        let err = check_subscribe(&hostile, "victim.corp", Some(&victim)).unwrap_err();
        assert!(matches!(err, IdentityError::HeldElsewhere { .. }));
        let text = err.to_string();
        assert!(text.contains("https://rdweb.victim.corp"), "{text}");
        // Another port or scheme is another origin.
        let port = url("https://rdweb.victim.corp:8443/RDWeb/Feed/webfeed.aspx");
        assert!(check_subscribe(&port, "victim.corp", Some(&victim)).is_err());
        let http = url("http://rdweb.victim.corp/RDWeb/Feed/webfeed.aspx");
        assert!(check_subscribe(&http, "victim.corp", Some(&victim)).is_err());
    }

    #[test]
    fn refresh_rules() {
        let home = url("https://rdweb.victim.corp/RDWeb/Feed/webfeed.aspx");
        assert!(check_refresh("victim.corp", &home, &home, "victim.corp").is_ok());
        let moved = url("https://rdweb.victim.corp/other");
        assert!(check_refresh("victim.corp", &home, &moved, "victim.corp").is_ok());
        assert!(matches!(
            check_refresh("hostile.test", &home, &home, "victim.corp"),
            Err(IdentityError::IdChanged { .. })
        ));
        assert!(matches!(
            check_refresh(
                "victim.corp",
                &home,
                &url("https://elsewhere/"),
                "victim.corp"
            ),
            Err(IdentityError::OriginChanged { .. })
        ));
    }
}
