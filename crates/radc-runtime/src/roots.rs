//! The certificate authorities against which a signer of `.rdp` files is
//! checked ([`radc_rdp::publisher`]): the system's trust store, as rustls
//! finds it (`SSL_CERT_FILE` and `SSL_CERT_DIR` override it, as for
//! OpenSSL), and the CA file a workspace was subscribed with. Read again
//! for every check, so a CA an administrator adds counts at once.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use radc_rdp::publisher::{self, Publisher};
use radc_rdp::signature::Signed;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

/// DER certificates of the trusted certificate authorities. Unreadable
/// parts of the store are skipped (and logged): they make a publisher
/// unknown, never an error.
pub fn publisher_roots(ca_file: Option<&Path>) -> Vec<Vec<u8>> {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::debug!("part of the system's certificate store was not read: {error}");
    }
    let mut roots: Vec<Vec<u8>> = found.certs.iter().map(|c| c.to_vec()).collect();
    if let Some(path) = ca_file {
        match CertificateDer::pem_file_iter(path) {
            Ok(certs) => roots.extend(certs.filter_map(Result::ok).map(|c| c.to_vec())),
            Err(e) => tracing::warn!(
                "the workspace's CA file {} was not read: {e}",
                path.display()
            ),
        }
    }
    roots
}

/// Whether `signed`'s signer is a verified publisher now, against the
/// system's store and `ca_file`.
pub fn check_publisher(signed: &Signed, ca_file: Option<&Path>) -> Publisher {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    publisher::check(signed, &publisher_roots(ca_file), now)
}
