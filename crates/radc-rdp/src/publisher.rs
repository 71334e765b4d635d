//! Whether the signer of an `.rdp` file is a *verified publisher*: its
//! certificate chains, through the certificates the signature carries, to
//! a certificate authority the caller trusts (the system's, and any CA file
//! the workspace was subscribed with), every certificate on the way is
//! valid at the given time, and the signer's certificate may sign `.rdp`
//! files.
//!
//! This is what Windows shows as "verify the publisher" against "unknown
//! publisher". It is information for the user, not the trust decision:
//! whose files launch is decided by pinned thumbprints
//! ([`radc_core::trust`](../../radc_core/trust/index.html)), because a
//! public certificate authority vouches for a name, not for a right to
//! start connections on this computer.
//!
//! Path building, signature checks of the chain, validity dates, basic and
//! name constraints are done by `rustls-webpki` (the same code that checks
//! TLS certificates for rustls). What is ours is the usage rule: like
//! Windows, a certificate for server authentication, code signing or
//! Remote Desktop signing may sign `.rdp` files, and one with no extended
//! key usage may sign anything (RFC 5280, 4.2.1.12). Nothing here does I/O;
//! time is an argument.

use std::time::Duration;

use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use webpki::{EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeId, KeyPurposeIdIter};

use crate::signature::Signed;

/// What [`check`] found out about a signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Publisher {
    /// The signer's certificate chains to a trusted certificate authority,
    /// is valid now and may sign `.rdp` files.
    Verified,
    /// It could not be verified; the text says why, as a clause that fits
    /// after "unknown publisher: " (e.g. "its certificate expired on
    /// 2025-01-31").
    Unknown(String),
}

impl Publisher {
    pub fn is_verified(&self) -> bool {
        matches!(self, Publisher::Verified)
    }
}

/// `id-kp-serverAuth` (1.3.6.1.5.5.7.3.1), `id-kp-codeSigning`
/// (1.3.6.1.5.5.7.3.3) and Microsoft's Remote Desktop signing purpose
/// (1.3.6.1.4.1.311.54.1.2), as DER contents.
const SIGNING_PURPOSES: [&[u8]; 3] = [
    &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01],
    &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03],
    &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x36, 0x01, 0x02],
];

/// Most trust anchors looked at; a system store has a few hundred.
const MAX_ROOTS: usize = 4096;

/// Checks `signed`'s signer against `roots` (DER certificates of the
/// trusted certificate authorities) at `now` (seconds since the Unix
/// epoch). Roots that cannot be used as trust anchors are skipped.
pub fn check(signed: &Signed, roots: &[impl AsRef<[u8]>], now: u64) -> Publisher {
    let anchors: Vec<TrustAnchor<'_>> = roots
        .iter()
        .take(MAX_ROOTS)
        .filter_map(|der| {
            webpki::anchor_from_trusted_cert(&CertificateDer::from(der.as_ref()))
                .ok()
                .map(|anchor| anchor.to_owned())
        })
        .collect();
    let certificate = CertificateDer::from(signed.certificate.as_slice());
    let end_entity = match EndEntityCert::try_from(&certificate) {
        Ok(cert) => cert,
        Err(e) => return Publisher::Unknown(describe(&e)),
    };
    let intermediates: Vec<CertificateDer<'_>> = signed
        .other_certificates
        .iter()
        .map(|der| CertificateDer::from(der.as_slice()))
        .collect();
    let time = UnixTime::since_unix_epoch(Duration::from_secs(now));
    match end_entity.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &intermediates,
        time,
        SigningUsage,
        None,
        None,
    ) {
        Ok(_) => Publisher::Verified,
        Err(e) => Publisher::Unknown(describe(&e)),
    }
}

/// Accepts a certificate whose extended key usage, if it has one, names
/// one of [`SIGNING_PURPOSES`].
struct SigningUsage;

impl ExtendedKeyUsageValidator for SigningUsage {
    fn validate(&self, purposes: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        let mut present = Vec::new();
        for purpose in purposes {
            let purpose = purpose?;
            if SIGNING_PURPOSES
                .iter()
                .any(|&oid| KeyPurposeId::new(oid) == purpose)
            {
                return Ok(());
            }
            present.push(purpose.to_decoded_oid());
        }
        if present.is_empty() {
            return Ok(());
        }
        Err(webpki::Error::RequiredEkuNotFoundContext(
            webpki::RequiredEkuNotFoundContext {
                required: webpki::KeyUsage::required(SIGNING_PURPOSES[1]),
                present,
            },
        ))
    }
}

// The context-less variants are deprecated but still part of the enum.
#[allow(deprecated)]
fn describe(error: &webpki::Error) -> String {
    use webpki::Error as E;
    match error {
        E::UnknownIssuer => {
            "its certificate does not chain to a certificate authority this computer trusts".into()
        }
        E::CertExpired { not_after, .. } => {
            format!("its certificate expired on {}", date(*not_after))
        }
        E::CertNotValidYet { not_before, .. } => {
            format!("its certificate is not valid before {}", date(*not_before))
        }
        E::RequiredEkuNotFound | E::RequiredEkuNotFoundContext(_) | E::EmptyEkuExtension => {
            "its certificate is not meant for signing (it allows neither server authentication, \
             code signing nor Remote Desktop signing)"
                .into()
        }
        E::InvalidSignatureForPublicKey => "its certificate names an issuer this computer trusts, \
                                            but that issuer did not sign it"
            .into(),
        E::CaUsedAsEndEntity => "it signed with a certificate authority's own certificate".into(),
        E::CertRevoked | E::CertDistrusted => {
            "its certificate has been revoked or distrusted".into()
        }
        E::UnsupportedSignatureAlgorithm
        | E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKey
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            "its certificate chain uses a signature algorithm that is not accepted (such as SHA-1)"
                .into()
        }
        other => format!("its certificate chain is not valid ({other:?})"),
    }
}

/// `YYYY-MM-DD` of a time, in UTC.
fn date(time: UnixTime) -> String {
    der::DateTime::from_unix_duration(Duration::from_secs(time.as_secs()))
        .map(|t| t.to_string().chars().take(10).collect())
        .unwrap_or_else(|_| format!("{} seconds after 1970", time.as_secs()))
}
