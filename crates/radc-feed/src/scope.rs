//! Where a feed may make radc go.
//!
//! A feed names icons and `.rdp` files by URL, and radc downloads them on
//! the user's behalf, from the user's machine and network. Left open, any
//! feed could make radc request services on the user's own machine or
//! intranet (`http://127.0.0.1:8080/admin?...`) and store the answer. So a
//! file named by a feed is fetched only when its URL is within the feed's
//! [`Scope`]:
//!
//! 1. the feed's own origin (scheme, host, port): always;
//! 2. another origin only when its host is a DNS name in the same site
//!    (registrable domain, from the Public Suffix List) as the feed's host,
//!    which must be a DNS name too: `icons.contoso.com` for a feed on
//!    `rdweb.contoso.com`, never `contoso.net`, an IP address, or a
//!    single-label name;
//! 3. and, for such another host, only addresses that are public, or of the
//!    same kind as the feed's own address, or any address when the feed
//!    itself is on loopback ([`address_allowed`]): a feed on the Internet
//!    cannot point radc at the user's loopback, link-local or private
//!    network through a name it controls. This part is checked where names
//!    are resolved, with [`AddressKind::of`].
//!
//! Redirects are held to the same rules at every hop.

use std::net::IpAddr;

use url::{Host, Url};

/// The hosts a feed's files may come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    feed: Url,
    /// The registrable domain of the feed's host; `None` for an IP address
    /// or a name with no registrable part (`localhost`, `rdweb`).
    site: Option<String>,
}

/// Why a URL is outside a feed's scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutOfScope {
    #[error("{url} is on an IP address, not on the feed's server {feed}")]
    IpAddress { url: String, feed: String },
    #[error("{url} is on another server than the feed ({feed}), which names no domain to share")]
    OtherHost { url: String, feed: String },
    #[error("{url} is outside the feed's domain {site}")]
    OtherDomain { url: String, site: String },
}

impl Scope {
    /// The scope of the feed at `feed_url`.
    pub fn new(feed_url: &Url) -> Scope {
        let site = match feed_url.host() {
            Some(Host::Domain(name)) => site_of(name),
            _ => None,
        };
        Scope {
            feed: feed_url.clone(),
            site,
        }
    }

    /// The feed's URL this scope was made from.
    pub fn feed_url(&self) -> &Url {
        &self.feed
    }

    /// Whether `url` is on the feed's own origin.
    pub fn is_home(&self, url: &Url) -> bool {
        url.origin() == self.feed.origin()
    }

    /// Whether a file at `url` may be fetched for this feed (rules 1 and 2;
    /// rule 3 is for whoever resolves the host name).
    pub fn check(&self, url: &Url) -> Result<(), OutOfScope> {
        if self.is_home(url) {
            return Ok(());
        }
        let feed = crate::identity::origin_of(&self.feed);
        let name = match url.host() {
            Some(Host::Domain(name)) => name,
            _ => {
                return Err(OutOfScope::IpAddress {
                    url: url.to_string(),
                    feed,
                });
            }
        };
        let Some(site) = &self.site else {
            return Err(OutOfScope::OtherHost {
                url: url.to_string(),
                feed,
            });
        };
        if site_of(name).as_ref() == Some(site) {
            Ok(())
        } else {
            Err(OutOfScope::OtherDomain {
                url: url.to_string(),
                site: site.clone(),
            })
        }
    }
}

/// The registrable domain of a host name (`contoso.com` for
/// `rdweb.corp.contoso.com`, `contoso.co.uk` for `rdweb.contoso.co.uk`).
fn site_of(name: &str) -> Option<String> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let domain = psl::domain(name.as_bytes())?;
    // A name with no registrable part of its own (a bare suffix such as
    // `co.uk`, or a single label) shares nothing with anyone.
    let domain = std::str::from_utf8(domain.as_bytes()).ok()?;
    domain.contains('.').then(|| domain.to_owned())
}

/// What kind of network an address is on, as far as reaching it on a
/// feed's behalf goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AddressKind {
    /// This machine: 127.0.0.0/8, ::1, and the unspecified addresses.
    Loopback,
    /// 169.254.0.0/16, fe80::/10.
    LinkLocal,
    /// RFC 1918, shared address space (100.64.0.0/10), unique local
    /// (fc00::/7).
    Private,
    /// Everything else.
    Public,
}

impl AddressKind {
    pub fn of(addr: IpAddr) -> AddressKind {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        match addr {
            IpAddr::V4(a) => {
                let [b0, b1, ..] = a.octets();
                if a.is_loopback() || a.is_unspecified() || b0 == 0 {
                    AddressKind::Loopback
                } else if a.is_link_local() {
                    AddressKind::LinkLocal
                } else if a.is_private() || (b0 == 100 && (64..128).contains(&b1)) {
                    AddressKind::Private
                } else {
                    AddressKind::Public
                }
            }
            IpAddr::V6(a) => {
                let first = a.segments()[0];
                if a.is_loopback() || a.is_unspecified() {
                    AddressKind::Loopback
                } else if first & 0xffc0 == 0xfe80 {
                    AddressKind::LinkLocal
                } else if first & 0xfe00 == 0xfc00 {
                    AddressKind::Private
                } else {
                    AddressKind::Public
                }
            }
        }
    }

    /// The kind that stands for a host with these addresses: the most
    /// public one, so that a name with one public address counts as public
    /// and may not lead anywhere more private.
    pub fn of_host(addrs: impl IntoIterator<Item = IpAddr>) -> Option<AddressKind> {
        addrs.into_iter().map(AddressKind::of).max()
    }
}

/// Whether a host of the feed's scope (not the feed's own origin) may be
/// contacted at `addr`, for a feed whose own address is of kind `feed`.
pub fn address_allowed(feed: AddressKind, addr: IpAddr) -> bool {
    let kind = AddressKind::of(addr);
    kind == AddressKind::Public || kind == feed || feed == AddressKind::Loopback
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn same_origin_is_always_in_scope() {
        for feed in [
            "https://rdweb.contoso.com/RDWeb/Feed/webfeed.aspx",
            "http://127.0.0.1:8080/feed",
            "https://rdweb/feed",
        ] {
            let scope = Scope::new(&url(feed));
            let file = url(feed).join("/RDWeb/icon.ico?x=1").unwrap();
            assert_eq!(scope.check(&file), Ok(()), "{feed}");
        }
    }

    #[test]
    fn other_hosts_only_in_the_same_site() {
        let scope = Scope::new(&url(
            "https://rdweb.corp.contoso.com/RDWeb/Feed/webfeed.aspx",
        ));
        for ok in [
            "https://icons.contoso.com/a.png",
            "https://contoso.com/a.png",
            "http://x.y.corp.contoso.com:8080/a.rdp",
            "https://RDWEB2.Contoso.COM/a.rdp",
        ] {
            assert_eq!(scope.check(&url(ok)), Ok(()), "{ok}");
        }
        for refused in [
            "https://contoso.net/a.png",
            "https://contoso.com.evil.test/a.png",
            "https://com/a.png",
            "http://127.0.0.1:8080/internal/admin?x=1",
            "http://[::1]/a.png",
            "http://localhost/a.png",
            "https://evilcontoso.com/a.png",
        ] {
            assert!(scope.check(&url(refused)).is_err(), "{refused}");
        }
    }

    #[test]
    fn public_suffixes_are_not_sites() {
        let scope = Scope::new(&url("https://rdweb.contoso.co.uk/feed"));
        assert!(scope.check(&url("https://cdn.contoso.co.uk/a.png")).is_ok());
        assert!(scope.check(&url("https://other.co.uk/a.png")).is_err());
        // A feed on a bare suffix or a single label shares with nobody.
        let scope = Scope::new(&url("https://co.uk/feed"));
        assert!(scope.check(&url("https://contoso.co.uk/a.png")).is_err());
        let scope = Scope::new(&url("https://rdweb/feed"));
        assert!(scope.check(&url("https://rdweb:444/a.png")).is_err());
    }

    #[test]
    fn ip_feeds_reach_only_their_own_origin() {
        let scope = Scope::new(&url("http://127.0.0.1:8080/feed"));
        let err = scope
            .check(&url("http://127.0.0.1:9090/internal/admin?x=1"))
            .unwrap_err();
        assert!(matches!(err, OutOfScope::IpAddress { .. }));
        assert!(err.to_string().contains("127.0.0.1:9090"), "{err}");
        assert!(scope.check(&url("http://localhost:8080/feed")).is_err());
    }

    #[test]
    fn address_kinds() {
        let kind = |s: &str| AddressKind::of(s.parse().unwrap());
        assert_eq!(kind("127.0.0.1"), AddressKind::Loopback);
        assert_eq!(kind("127.9.9.9"), AddressKind::Loopback);
        assert_eq!(kind("0.0.0.0"), AddressKind::Loopback);
        assert_eq!(kind("::1"), AddressKind::Loopback);
        assert_eq!(kind("::ffff:127.0.0.1"), AddressKind::Loopback);
        assert_eq!(kind("169.254.169.254"), AddressKind::LinkLocal);
        assert_eq!(kind("fe80::1"), AddressKind::LinkLocal);
        assert_eq!(kind("10.1.2.3"), AddressKind::Private);
        assert_eq!(kind("172.16.0.1"), AddressKind::Private);
        assert_eq!(kind("192.168.1.1"), AddressKind::Private);
        assert_eq!(kind("100.64.0.1"), AddressKind::Private);
        assert_eq!(kind("fd00::1"), AddressKind::Private);
        assert_eq!(kind("8.8.8.8"), AddressKind::Public);
        assert_eq!(kind("2001:db8::1"), AddressKind::Public);
        assert_eq!(kind("172.32.0.1"), AddressKind::Public);
    }

    #[test]
    fn addresses_no_more_local_than_the_feed() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        use AddressKind::*;
        assert!(address_allowed(Public, ip("8.8.8.8")));
        assert!(!address_allowed(Public, ip("127.0.0.1")));
        assert!(!address_allowed(Public, ip("10.0.0.1")));
        assert!(!address_allowed(Public, ip("169.254.169.254")));
        assert!(address_allowed(Private, ip("10.0.0.1")));
        assert!(address_allowed(Private, ip("8.8.8.8")));
        assert!(!address_allowed(Private, ip("127.0.0.1")));
        assert!(!address_allowed(Private, ip("169.254.169.254")));
        assert!(address_allowed(Loopback, ip("127.0.0.1")));
        assert!(address_allowed(Loopback, ip("10.0.0.1")));
        assert_eq!(
            AddressKind::of_host([ip("127.0.0.1"), ip("8.8.8.8")]),
            Some(Public)
        );
        assert_eq!(AddressKind::of_host([]), None);
    }
}
