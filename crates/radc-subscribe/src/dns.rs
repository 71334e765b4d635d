//! E-mail discovery: the feed URL of `alice@contoso.com` is in the DNS TXT
//! record `_msradc.contoso.com`.

use std::net::SocketAddr;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};
use radc_feed::discovery::{self, DiscoveryError};
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("cannot set up DNS resolution: {0}")]
    Setup(NetError),
    #[error(
        "DNS has no record {record}: the domain publishes no RemoteApp feed; ask for the feed URL instead"
    )]
    NotFound { record: String },
    #[error("looking up {record} failed: {source}")]
    Lookup { record: String, source: NetError },
    #[error(transparent)]
    Record(#[from] DiscoveryError),
}

/// Which DNS server to ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nameserver {
    /// The system's resolvers (`/etc/resolv.conf`).
    System,
    /// One server, over UDP with TCP fallback: for split-horizon DNS, and
    /// for tests.
    At(SocketAddr),
}

/// Looks up `record` (as given by [`discovery::classify`]) and returns the
/// feed URLs to try.
pub async fn feed_urls(
    record: &str,
    nameserver: Nameserver,
    allow_http: bool,
) -> Result<Vec<Url>, DnsError> {
    let resolver = resolver(nameserver)?;
    let lookup = match resolver.txt_lookup(record).await {
        Ok(lookup) => lookup,
        Err(e) if e.is_no_records_found() => {
            return Err(DnsError::NotFound {
                record: record.to_owned(),
            });
        }
        Err(source) => {
            return Err(DnsError::Lookup {
                record: record.to_owned(),
                source,
            });
        }
    };
    let records: Vec<Vec<Vec<u8>>> = lookup
        .answers()
        .iter()
        .filter_map(|answer| match &answer.data {
            RData::TXT(txt) => Some(txt.txt_data.iter().map(|s| s.to_vec()).collect()),
            _ => None,
        })
        .collect();
    Ok(discovery::feed_url_from_txt(record, &records, allow_http)?)
}

fn resolver(nameserver: Nameserver) -> Result<TokioResolver, DnsError> {
    let builder = match nameserver {
        Nameserver::System => TokioResolver::builder_tokio().map_err(DnsError::Setup)?,
        Nameserver::At(addr) => {
            let mut udp = ConnectionConfig::udp();
            udp.port = addr.port();
            let mut tcp = ConnectionConfig::tcp();
            tcp.port = addr.port();
            let server = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
            Resolver::builder_with_config(
                ResolverConfig::from_name_servers(vec![server]),
                TokioRuntimeProvider::default(),
            )
        }
    };
    builder.build().map_err(DnsError::Setup)
}
