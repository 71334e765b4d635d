//! Verified and unknown publishers: chains made by `openssl ca` in
//! `tests/data/signed/chains/` (see its `generate.sh`), checked at fixed
//! times.

use std::path::{Path, PathBuf};

use radc_rdp::RdpFile;
use radc_rdp::publisher::{self, Publisher};
use radc_rdp::signature::{Signed, Verdict, verify};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

/// 2026-11-30, inside every "valid" certificate's 2020–2120.
const NOW: u64 = 1_795_996_800;

fn chains() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/signed/chains")
}

fn signed(path: &Path) -> Signed {
    let file = RdpFile::parse(&std::fs::read(path).unwrap()).unwrap();
    match verify(&file) {
        Ok(Verdict::Signed(s)) => s,
        other => panic!(
            "{}: expected a valid signature, got {other:?}",
            path.display()
        ),
    }
}

fn chain_file(name: &str) -> Signed {
    signed(&chains().join(name))
}

fn pem(path: &Path) -> Vec<u8> {
    CertificateDer::from_pem_file(path).unwrap().to_vec()
}

fn root() -> Vec<Vec<u8>> {
    vec![pem(&chains().join("root.pem"))]
}

fn unknown(publisher: Publisher) -> String {
    match publisher {
        Publisher::Unknown(why) => why,
        Publisher::Verified => panic!("verified"),
    }
}

#[test]
fn a_publisher_chaining_to_a_trusted_root_is_verified() {
    let signed = chain_file("publisher.rdp");
    assert_eq!(signed.publisher, "Contoso Verified Publisher");
    assert_eq!(signed.other_certificates.len(), 1, "the intermediate");
    assert_eq!(publisher::check(&signed, &root(), NOW), Publisher::Verified);
    // Among other roots, as in a system store.
    let mut roots = vec![pem(&chains().join("stranger_root.pem"))];
    roots.extend(root());
    assert!(publisher::check(&signed, &roots, NOW).is_verified());
}

#[test]
fn without_the_root_or_the_intermediate_the_publisher_is_unknown() {
    let signed = chain_file("publisher.rdp");
    let none: [Vec<u8>; 0] = [];
    let why = unknown(publisher::check(&signed, &none, NOW));
    assert!(why.contains("does not chain"), "{why}");

    let alone = chain_file("publisher-alone.rdp");
    assert!(alone.other_certificates.is_empty());
    let why = unknown(publisher::check(&alone, &root(), NOW));
    assert!(why.contains("does not chain"), "{why}");
}

#[test]
fn a_root_carried_in_the_signature_vouches_for_nothing() {
    // The stranger ships its own root, with the same name as the trusted
    // one.
    let signed = chain_file("stranger.rdp");
    assert_eq!(signed.other_certificates.len(), 1);
    let why = unknown(publisher::check(&signed, &root(), NOW));
    assert!(why.contains("did not sign it"), "{why}");
    let none: [Vec<u8>; 0] = [];
    let why = unknown(publisher::check(&signed, &none, NOW));
    assert!(why.contains("does not chain"), "{why}");
    // Trusting the stranger's root is what it would take.
    let roots = vec![pem(&chains().join("stranger_root.pem"))];
    assert!(publisher::check(&signed, &roots, NOW).is_verified());
}

#[test]
fn validity_dates_are_checked_at_the_given_time() {
    let expired = chain_file("expired.rdp");
    let why = unknown(publisher::check(&expired, &root(), NOW));
    assert_eq!(why, "its certificate expired on 2001-01-01");
    // While it was valid (the CAs were not yet: 2020 onwards).
    let why = unknown(publisher::check(&expired, &root(), 978_000_000));
    assert!(why.contains("not valid before 2020-01-01"), "{why}");

    let good = chain_file("publisher.rdp");
    let why = unknown(publisher::check(&good, &root(), 1_500_000_000));
    assert_eq!(why, "its certificate is not valid before 2020-01-01");
    let why = unknown(publisher::check(&good, &root(), 4_800_000_000));
    assert_eq!(why, "its certificate expired on 2120-01-01");
}

#[test]
fn a_certificate_for_something_else_cannot_sign() {
    let mail = chain_file("mail.rdp");
    let why = unknown(publisher::check(&mail, &root(), NOW));
    assert!(why.contains("not meant for signing"), "{why}");
}

#[test]
fn the_existing_corpus_checks_against_its_own_ca() {
    // Server authentication and code signing; the CA travels in the
    // signature but counts only once trusted.
    let dir = chains().join("..");
    let signed = signed(&dir.join("app-sha256.rdp"));
    let none: [Vec<u8>; 0] = [];
    assert!(!publisher::check(&signed, &none, NOW).is_verified());
    let ca = vec![pem(&dir.join("ca.pem"))];
    assert_eq!(publisher::check(&signed, &ca, NOW), Publisher::Verified);
}

#[test]
fn garbage_roots_are_skipped_not_fatal() {
    let signed = chain_file("publisher.rdp");
    let mut roots = vec![b"not a certificate".to_vec(), Vec::new()];
    roots.extend(root());
    assert!(publisher::check(&signed, &roots, NOW).is_verified());
}

#[test]
fn microsofts_sample_is_an_unknown_publisher_here() {
    // Signed with SHA-1 by a certificate nobody here trusts.
    let signed = signed(&chains().join("../ms-rdwr-sample.rdp"));
    let why = unknown(publisher::check(&signed, &root(), NOW));
    assert!(!why.is_empty());
}
