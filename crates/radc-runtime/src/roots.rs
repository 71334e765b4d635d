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

/// DER certificates of the system's certificate authorities. Unreadable
/// parts of the store are skipped (and logged): they make a publisher
/// unknown, never an error.
pub fn system_roots() -> Vec<Vec<u8>> {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::debug!("part of the system's certificate store was not read: {error}");
    }
    found.certs.iter().map(|c| c.to_vec()).collect()
}

/// The certificates of a PEM file (DER). A file that cannot be read, or
/// holds no certificate, is an error naming the file.
pub fn ca_file_roots(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("the CA file {} cannot be read: {e}", path.display()))?
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the CA file {} is not valid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "the CA file {} holds no certificate",
            path.display()
        ));
    }
    Ok(certs)
}

/// The system's certificate authorities and those of `ca_file`, whose
/// problems are logged: they leave a publisher unknown, never fail a
/// launch.
pub fn publisher_roots(ca_file: Option<&Path>) -> Vec<Vec<u8>> {
    let mut roots = system_roots();
    if let Some(path) = ca_file {
        match ca_file_roots(path) {
            Ok(certs) => roots.extend(certs),
            Err(e) => tracing::warn!("{e}; the workspace's own CA does not count"),
        }
    }
    roots
}

/// Whether `signed`'s signer is a verified publisher now, against `roots`.
pub fn check_publisher_against(signed: &Signed, roots: &[Vec<u8>]) -> Publisher {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    publisher::check(signed, roots, now)
}

/// Whether `signed`'s signer is a verified publisher now, against the
/// system's store and `ca_file`.
pub fn check_publisher(signed: &Signed, ca_file: Option<&Path>) -> Publisher {
    check_publisher_against(signed, &publisher_roots(ca_file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_files_that_hold_nothing_usable_are_errors_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = ca_file_roots(&missing).unwrap_err();
        assert!(
            err.contains("missing.pem") && err.contains("cannot be read"),
            "{err}"
        );
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no PEM here\n").unwrap();
        let err = ca_file_roots(&empty).unwrap_err();
        assert!(err.contains("holds no certificate"), "{err}");
        let ca = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../radc-rdp/tests/data/signed/chains/root.pem");
        assert_eq!(ca_file_roots(&ca).unwrap().len(), 1);
    }
}
