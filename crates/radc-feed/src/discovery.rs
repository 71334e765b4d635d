//! From what a person types to the feed URL to fetch.
//!
//! `radc subscribe` accepts a feed URL, a bare server (`rdweb.contoso.com`
//! or `https://rdweb.contoso.com`), or an e-mail address. An e-mail address
//! is looked up in DNS: the TXT record `_msradc.<domain>` holds the feed
//! URL. This module decides what to do with the input and checks what DNS
//! answers; the lookup itself is the caller's I/O.

use url::Url;

/// The path RD Web Access serves its feed at.
pub const CONVENTIONAL_FEED_PATH: &str = "/RDWeb/Feed/webfeed.aspx";

/// Longest input accepted, in bytes.
const MAX_INPUT_LEN: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    #[error("nothing to subscribe to: give a feed URL, a server name or an e-mail address")]
    Empty,
    #[error("{0:?} is too long to be a feed URL or an e-mail address")]
    TooLong(String),
    #[error("{input:?} is not a valid URL: {reason}")]
    BadUrl { input: String, reason: String },
    #[error("{0:?}: only https:// feeds are accepted (use --allow-http to allow http://)")]
    InsecureScheme(String),
    #[error("{0:?}: the scheme must be https:// (or http:// with --allow-http)")]
    UnsupportedScheme(String),
    #[error(
        "{0:?} carries a user name or password; give them with --username and --password-stdin instead"
    )]
    CredentialsInUrl(String),
    #[error("{0:?} is not a valid e-mail domain")]
    BadDomain(String),
    #[error("the DNS record {record} holds no feed URL")]
    NoRecord { record: String },
    #[error("the DNS record {record} holds {count} different feed URLs; cannot choose")]
    AmbiguousRecord { record: String, count: usize },
}

/// What the input names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A URL to try, or several in order (a bare server gets the
    /// conventional feed path).
    Urls(Vec<Url>),
    /// An e-mail address: look up `record` (a fully qualified TXT name).
    Email { domain: String, record: String },
}

/// Classifies what a person typed.
pub fn classify(input: &str, allow_http: bool) -> Result<Target, DiscoveryError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(DiscoveryError::Empty);
    }
    if input.len() > MAX_INPUT_LEN {
        return Err(DiscoveryError::TooLong(shorten(input)));
    }
    if !input.contains("://")
        && let Some((_, domain)) = input.rsplit_once('@')
    {
        let domain = validate_domain(domain)?;
        return Ok(Target::Email {
            record: format!("_msradc.{domain}."),
            domain,
        });
    }
    let with_scheme = if input.contains("://") {
        input.to_owned()
    } else {
        format!("https://{input}")
    };
    let url = checked_url(&with_scheme, allow_http)?;
    Ok(Target::Urls(feed_url_candidates(&url)))
}

/// Checks a URL given by a person or by DNS: it parses, has a host, uses
/// https (or http when allowed) and carries no credentials.
pub fn checked_url(text: &str, allow_http: bool) -> Result<Url, DiscoveryError> {
    let url = Url::parse(text).map_err(|e| DiscoveryError::BadUrl {
        input: shorten(text),
        reason: e.to_string(),
    })?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => return Err(DiscoveryError::InsecureScheme(shorten(text))),
        _ => return Err(DiscoveryError::UnsupportedScheme(shorten(text))),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(DiscoveryError::BadUrl {
            input: shorten(text),
            reason: "it names no server".into(),
        });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(DiscoveryError::CredentialsInUrl(redact(&url)));
    }
    Ok(url)
}

/// The URLs to try for a URL a person gave: the URL itself, except that a
/// bare server gets the conventional feed path and an RD Web `Feed` folder
/// gets its `webfeed.aspx`.
pub fn feed_url_candidates(url: &Url) -> Vec<Url> {
    let path = url.path();
    let mut candidate = url.clone();
    if path.is_empty() || path == "/" {
        candidate.set_path(CONVENTIONAL_FEED_PATH);
    } else if path
        .trim_end_matches('/')
        .to_ascii_lowercase()
        .ends_with("/rdweb/feed")
    {
        let folder = path.trim_end_matches('/').to_owned();
        candidate.set_path(&format!("{folder}/webfeed.aspx"));
    }
    vec![candidate]
}

/// The feed URL from the TXT records of `_msradc.<domain>`. Each record is
/// the list of its character-strings, which are joined (long URLs are
/// split across several). Records that are not URLs are ignored, since a
/// name can carry unrelated TXT records.
pub fn feed_url_from_txt(
    record: &str,
    records: &[Vec<Vec<u8>>],
    allow_http: bool,
) -> Result<Vec<Url>, DiscoveryError> {
    let mut urls: Vec<Url> = Vec::new();
    let mut first_error = None;
    for strings in records {
        let joined: Vec<u8> = strings.concat();
        let Ok(text) = std::str::from_utf8(&joined) else {
            continue;
        };
        let text = text.trim();
        if !text.contains("://") {
            continue;
        }
        match checked_url(text, allow_http) {
            Ok(url) if !urls.contains(&url) => urls.push(url),
            Ok(_) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match urls.len() {
        0 => Err(first_error.unwrap_or(DiscoveryError::NoRecord {
            record: record.to_owned(),
        })),
        1 => Ok(feed_url_candidates(&urls[0])),
        count => Err(DiscoveryError::AmbiguousRecord {
            record: record.to_owned(),
            count,
        }),
    }
}

/// A DNS domain as typed in an e-mail address, lowercased and checked:
/// labels of letters, digits and hyphens, 1 to 63 bytes, 253 in all.
fn validate_domain(domain: &str) -> Result<String, DiscoveryError> {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let bad = || DiscoveryError::BadDomain(shorten(&domain));
    if domain.is_empty() || domain.len() > 253 || !domain.contains('.') {
        return Err(bad());
    }
    for label in domain.split('.') {
        let ok = (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(bad());
        }
    }
    Ok(domain)
}

fn shorten(text: &str) -> String {
    let mut end = text.len().min(120);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out: String = text[..end].chars().filter(|c| !c.is_control()).collect();
    if end < text.len() {
        out.push('…');
    }
    out
}

fn redact(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shorten(shown.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(target: Target) -> Vec<String> {
        match target {
            Target::Urls(list) => list.into_iter().map(String::from).collect(),
            other => panic!("expected URLs, got {other:?}"),
        }
    }

    #[test]
    fn bare_servers_get_the_conventional_path() {
        for input in [
            "rdweb.contoso.com",
            "https://rdweb.contoso.com",
            "https://rdweb.contoso.com/",
        ] {
            assert_eq!(
                urls(classify(input, false).unwrap()),
                vec!["https://rdweb.contoso.com/RDWeb/Feed/webfeed.aspx"],
                "{input}"
            );
        }
        assert_eq!(
            urls(classify("https://rd.contoso.com:8443/RDWeb/Feed/", false).unwrap()),
            vec!["https://rd.contoso.com:8443/RDWeb/Feed/webfeed.aspx"]
        );
        let exact = "https://rd.contoso.com/Custom/webfeed.aspx?tenant=1";
        assert_eq!(urls(classify(exact, false).unwrap()), vec![exact]);
    }

    #[test]
    fn e_mail_addresses_name_the_txt_record() {
        assert_eq!(
            classify(" alice@Contoso.COM ", false).unwrap(),
            Target::Email {
                domain: "contoso.com".into(),
                record: "_msradc.contoso.com.".into()
            }
        );
        for bad in [
            "alice@",
            "alice@localhost",
            "a@-x.com",
            "a@x..com",
            "a@x_y.com",
            "a@x y.com",
        ] {
            assert!(
                matches!(classify(bad, false), Err(DiscoveryError::BadDomain(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn unsafe_urls_are_refused_with_a_reason() {
        assert!(matches!(
            classify("http://rdweb.contoso.com", false),
            Err(DiscoveryError::InsecureScheme(_))
        ));
        assert!(classify("http://rdweb.contoso.com", true).is_ok());
        assert!(matches!(
            classify("file:///etc/passwd", true),
            Err(DiscoveryError::UnsupportedScheme(_))
        ));
        let err = classify("https://bob:hunter2@rdweb.contoso.com/", false).unwrap_err();
        assert!(matches!(err, DiscoveryError::CredentialsInUrl(_)));
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(matches!(classify("", false), Err(DiscoveryError::Empty)));
        assert!(matches!(
            classify(&"a".repeat(5000), false),
            Err(DiscoveryError::TooLong(_))
        ));
    }

    #[test]
    fn txt_records_give_one_feed() {
        let record = "_msradc.contoso.com.";
        let split = vec![
            b"https://rdweb.contoso.com".to_vec(),
            b"/RDWeb/Feed".to_vec(),
        ];
        let spf = vec![b"v=spf1 -all".to_vec()];
        assert_eq!(
            feed_url_from_txt(record, &[spf.clone(), split.clone()], false)
                .unwrap()
                .iter()
                .map(Url::as_str)
                .collect::<Vec<_>>(),
            vec!["https://rdweb.contoso.com/RDWeb/Feed/webfeed.aspx"]
        );
        assert!(matches!(
            feed_url_from_txt(record, &[spf], false),
            Err(DiscoveryError::NoRecord { .. })
        ));
        let other = vec![b"https://other.contoso.com/RDWeb/Feed".to_vec()];
        assert!(matches!(
            feed_url_from_txt(record, &[split.clone(), other], false),
            Err(DiscoveryError::AmbiguousRecord { count: 2, .. })
        ));
        let plain = vec![b"http://rdweb.contoso.com/RDWeb/Feed".to_vec()];
        assert!(matches!(
            feed_url_from_txt(record, &[plain], false),
            Err(DiscoveryError::InsecureScheme(_))
        ));
        assert_eq!(
            feed_url_from_txt(record, &[split.clone(), split], false)
                .unwrap()
                .len(),
            1
        );
    }
}
