//! TLS channel binding for the Windows sign-in (Extended Protection for
//! Authentication): RFC 5929's `tls-server-end-point`.
//!
//! The binding is a hash of the certificate the server presented on the
//! connection the sign-in runs on. NTLM puts its MD5 into the AUTHENTICATE
//! message, Kerberos into the authenticator's checksum; a server that checks
//! it refuses a sign-in relayed through another TLS connection (a
//! man-in-the-middle with a certificate of its own). No I/O here: the
//! certificate comes in as DER bytes.

use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5912, rfc8410};
use der::{Decode as _, Encode as _};
use sha2::Digest as _;
use x509_cert::Certificate;
use x509_cert::spki::AlgorithmIdentifierOwned;

/// The prefix of the application data (RFC 5929 §4).
pub const PREFIX: &[u8] = b"tls-server-end-point:";

/// Why no binding could be computed for a certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    #[error("the server's certificate cannot be read: {0}")]
    Malformed(String),
    #[error("the server's certificate is signed with an algorithm radc does not know (OID {0})")]
    UnknownAlgorithm(String),
}

/// A hash RFC 5929 §4.1 may choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha224 => sha2::Sha224::digest(data).to_vec(),
            Hash::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
}

/// The channel binding's application data for a server certificate (DER):
/// `tls-server-end-point:` followed by the certificate's hash.
pub fn tls_server_end_point(cert_der: &[u8]) -> Result<Vec<u8>, BindingError> {
    let hash = binding_hash(cert_der)?;
    let mut data = PREFIX.to_vec();
    data.extend_from_slice(&hash.digest(cert_der));
    Ok(data)
}

/// The hash of RFC 5929 §4.1: the one of the certificate's signature
/// algorithm, SHA-256 where that is MD5 or SHA-1. Signatures without a
/// separate hash (Ed25519, Ed448) get SHA-256 too, as other
/// implementations do.
pub fn binding_hash(cert_der: &[u8]) -> Result<Hash, BindingError> {
    let cert =
        Certificate::from_der(cert_der).map_err(|e| BindingError::Malformed(e.to_string()))?;
    let algorithm = cert.signature_algorithm();
    if let Some(hash) = lookup(SIGNATURE_HASHES, &algorithm.oid) {
        return Ok(hash);
    }
    if algorithm.oid == rfc5912::ID_RSASSA_PSS {
        // RSASSA-PSS-params name their hash (SHA-1 when absent).
        let params = match &algorithm.parameters {
            Some(any) => any.to_der().and_then(|der| {
                PssParams::from_der(&der).map(|p| p.hash.map_or(rfc5912::ID_SHA_1, |h| h.oid))
            }),
            None => Ok(rfc5912::ID_SHA_1),
        }
        .map_err(|e| BindingError::Malformed(format!("RSASSA-PSS parameters: {e}")))?;
        return lookup(DIGESTS, &params)
            .ok_or_else(|| BindingError::UnknownAlgorithm(params.to_string()));
    }
    Err(BindingError::UnknownAlgorithm(algorithm.oid.to_string()))
}

/// RSASSA-PSS-params (RFC 4055 §3.1); only the hash matters here.
#[derive(der::Sequence)]
struct PssParams {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    hash: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    _mask_gen: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    _salt_len: Option<u32>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    _trailer: Option<u32>,
}

fn lookup(table: &[(ObjectIdentifier, Hash)], oid: &ObjectIdentifier) -> Option<Hash> {
    table.iter().find(|(o, _)| o == oid).map(|&(_, hash)| hash)
}

/// The `SEC_CHANNEL_BINDINGS` structure (SSPI's layout, little-endian)
/// carrying only application data, as sspi's `ChannelBindings` buffer
/// takes it.
pub fn sec_channel_bindings(application_data: &[u8]) -> Vec<u8> {
    const HEADER: u32 = 32;
    let mut out = Vec::with_capacity(HEADER as usize + application_data.len());
    // initiator: type, length, offset; acceptor: the same; all empty.
    for field in [0, 0, HEADER, 0, 0, HEADER] {
        out.extend_from_slice(&u32::to_le_bytes(field));
    }
    let len = u32::try_from(application_data.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&HEADER.to_le_bytes());
    out.extend_from_slice(application_data);
    out
}

/// ecdsa-with-SHA1 (RFC 3279), which the OID database does not name.
const ECDSA_WITH_SHA_1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.1");

// Signature algorithms and the binding hash each implies.
const SIGNATURE_HASHES: &[(ObjectIdentifier, Hash)] = &[
    // MD5 and SHA-1 signatures: SHA-256 (§4.1)
    (rfc5912::MD_5_WITH_RSA_ENCRYPTION, Hash::Sha256),
    (rfc5912::SHA_1_WITH_RSA_ENCRYPTION, Hash::Sha256),
    (rfc5912::SHA_224_WITH_RSA_ENCRYPTION, Hash::Sha224),
    (rfc5912::SHA_256_WITH_RSA_ENCRYPTION, Hash::Sha256),
    (rfc5912::SHA_384_WITH_RSA_ENCRYPTION, Hash::Sha384),
    (rfc5912::SHA_512_WITH_RSA_ENCRYPTION, Hash::Sha512),
    (ECDSA_WITH_SHA_1, Hash::Sha256),
    (rfc5912::ECDSA_WITH_SHA_224, Hash::Sha224),
    (rfc5912::ECDSA_WITH_SHA_256, Hash::Sha256),
    (rfc5912::ECDSA_WITH_SHA_384, Hash::Sha384),
    (rfc5912::ECDSA_WITH_SHA_512, Hash::Sha512),
    (rfc5912::DSA_WITH_SHA_1, Hash::Sha256),
    (rfc5912::DSA_WITH_SHA_224, Hash::Sha224),
    (rfc5912::DSA_WITH_SHA_256, Hash::Sha256),
    (rfc8410::ID_ED_25519, Hash::Sha256),
    (rfc8410::ID_ED_448, Hash::Sha256),
];
// Digests RSASSA-PSS parameters may name.
const DIGESTS: &[(ObjectIdentifier, Hash)] = &[
    (rfc5912::ID_SHA_1, Hash::Sha256),
    (rfc5912::ID_SHA_224, Hash::Sha224),
    (rfc5912::ID_SHA_256, Hash::Sha256),
    (rfc5912::ID_SHA_384, Hash::Sha384),
    (rfc5912::ID_SHA_512, Hash::Sha512),
];

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::{CertificateDer, pem::PemObject as _};

    /// Signed with ecdsa-with-SHA384, made with `openssl req -x509 -sha384`.
    const EC_SHA384: &str = "-----BEGIN CERTIFICATE-----
MIIBiTCCAS+gAwIBAgIUEJ5n6Vh+sXttjZLthaGduBX+OVMwCgYIKoZIzj0EAwMw
GjEYMBYGA1UEAwwPY2IzODQucmFkYy50ZXN0MB4XDTI2MTEzMDE5MDIwOVoXDTM2
MTEyNzE5MDIwOVowGjEYMBYGA1UEAwwPY2IzODQucmFkYy50ZXN0MFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAEMD3LpoEeEwxa14Q/qDDoETYE+a+Y0++7Dhwf3FiU
2lnv2wo0UiN/O4imfWVsLPMONPGmyXElT3Llo5PFy2Gz0aNTMFEwHQYDVR0OBBYE
FJdOSybeDAjdKrlG6stMt5d2JxamMB8GA1UdIwQYMBaAFJdOSybeDAjdKrlG6stM
t5d2JxamMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwMDSAAwRQIhALgYIWih
40S4PCeGF6qdxvUrcfljAqXATtZgXOs1Y0MaAiAfGj2xYYOF3dzDeVVtBXEpKUR4
c5YF99X1ieoLHhHOiw==
-----END CERTIFICATE-----";
    /// `openssl x509 -outform der | sha384sum` of it.
    const EC_SHA384_HASH: &str = "7acc5aefc397d963fa27ec34cf7cba9f57281cc8c2ad63d3578a3e7d45ad4aeb0ba796a57730a04b761cd5d7b647f44e";

    /// Signed with sha1WithRSAEncryption, made with `openssl req -x509 -sha1`.
    const RSA_SHA1: &str = "-----BEGIN CERTIFICATE-----
MIICDDCCAXWgAwIBAgIUbHEZBoKczAI672M6YOPh2lGL9TEwDQYJKoZIhvcNAQEF
BQAwGDEWMBQGA1UEAwwNY2IxLnJhZGMudGVzdDAeFw0yNjExMzAxOTAyMDlaFw0z
NjExMjcxOTAyMDlaMBgxFjAUBgNVBAMMDWNiMS5yYWRjLnRlc3QwgZ8wDQYJKoZI
hvcNAQEBBQADgY0AMIGJAoGBALnpMYJbHxrnITOOB3PlkHN23JkgbSqjbQZJO12K
aByMMzZvILS/v2dXiNmjpbqCuu/ZzULI2EUue+xphUe7hVhQFdayTA2E43tJmeto
FYkqmdL2ZeTRAd9WIrIyuk2ss4He3XRwxuyzZo1QS5KqUVG7rDJKS3zcIagH6tdo
NgvRAgMBAAGjUzBRMB0GA1UdDgQWBBRQs2e6Di0knfNg49turKamheDpyTAfBgNV
HSMEGDAWgBRQs2e6Di0knfNg49turKamheDpyTAPBgNVHRMBAf8EBTADAQH/MA0G
CSqGSIb3DQEBBQUAA4GBALRwG868E5o5LPLQVrqoaS7KxUq5gNSUJuKRXet/eDUP
TWAUCLzAgVdkf8znXKJwb1LMJMgjYnC9RQ5814kq3DWpZFgxR0ceSYyOeTYhnfOV
fPJpAea8K6lLlfZLzYZ20yN7HW9jUKQL/pvPfQ/pVVGgarbT21XtJjHewrYVrU/a
-----END CERTIFICATE-----";
    /// `openssl x509 -outform der | sha256sum` of it: SHA-1 becomes SHA-256.
    const RSA_SHA1_HASH: &str = "b7aad73ea5820466cc494269672cc9a823432a42af2d8f70fae3c845e76ee62d";

    fn der(pem: &str) -> Vec<u8> {
        CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .to_vec()
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn known_certificates_give_known_bindings() {
        for (pem, hash, expected) in [
            (EC_SHA384, Hash::Sha384, EC_SHA384_HASH),
            (RSA_SHA1, Hash::Sha256, RSA_SHA1_HASH),
        ] {
            let cert = der(pem);
            assert_eq!(binding_hash(&cert), Ok(hash));
            let data = tls_server_end_point(&cert).unwrap();
            let (prefix, digest) = data.split_at(PREFIX.len());
            assert_eq!(prefix, b"tls-server-end-point:");
            assert_eq!(hex(digest), expected);
        }
    }

    #[test]
    fn the_sspi_structure_carries_only_application_data() {
        let s = sec_channel_bindings(b"abc");
        assert_eq!(s.len(), 35);
        let word = |i: usize| u32::from_le_bytes(s[i * 4..i * 4 + 4].try_into().unwrap());
        assert_eq!(
            (0..8).map(word).collect::<Vec<_>>(),
            [0, 0, 32, 0, 0, 32, 3, 32]
        );
        assert_eq!(&s[32..], b"abc");
    }

    /// Signed with RSASSA-PSS over SHA-384, made with `openssl req -x509
    /// -sha384 -sigopt rsa_padding_mode:pss`.
    const PSS_SHA384: &str = "-----BEGIN CERTIFICATE-----
MIICdDCCAamgAwIBAgIUZxtTvKvfTTaZsjy/TxlrNRqUsggwQQYJKoZIhvcNAQEK
MDSgDzANBglghkgBZQMEAgIFAKEcMBoGCSqGSIb3DQEBCDANBglghkgBZQMEAgIF
AKIDAgEgMBgxFjAUBgNVBAMMDXBzcy5yYWRjLnRlc3QwHhcNMjYxMTMwMTkyMjE0
WhcNMzYxMTI3MTkyMjE0WjAYMRYwFAYDVQQDDA1wc3MucmFkYy50ZXN0MIGfMA0G
CSqGSIb3DQEBAQUAA4GNADCBiQKBgQClgcirSs4FZCDRb9iEnT6UcRt5yDceiGij
kKftdJSN6GChZ3yP17Gavb9f8uS5MQaMQyxRUL1vKAUNsyWE1muzJ9GY96E0bTUO
8fTgmQdbpw9xtiBLyEhuX9BFF6B7NZMysVUCR0XSHuXyP516/Z6hTViJFXfHWsGC
GzKCvu/GgQIDAQABo1MwUTAdBgNVHQ4EFgQUt8psX5AVl1ZUMf0j0zg5bhIeRB4w
HwYDVR0jBBgwFoAUt8psX5AVl1ZUMf0j0zg5bhIeRB4wDwYDVR0TAQH/BAUwAwEB
/zBBBgkqhkiG9w0BAQowNKAPMA0GCWCGSAFlAwQCAgUAoRwwGgYJKoZIhvcNAQEI
MA0GCWCGSAFlAwQCAgUAogMCASADgYEAiceb1r6JQJkE9sCovuKef9luARpwo4W4
HOK6hOIl7fby+HbcJxKafl9h0zIN6oWh0rGM1nE3s2r8wEk17o+JGgpv3spzV45+
Yxq02qc7Ivmopb5hF49JYQ5qNAFdFUgVnnMOEnBU8RXMLbCbmuoVebwg4zbQly/0
yLzXgf5WT+g=
-----END CERTIFICATE-----";
    /// `openssl x509 -outform der | sha384sum` of it.
    const PSS_SHA384_HASH: &str = "8686d3287c380ede6f07a6ea1b933f12f9028c748ed968c9d977c813a5da53539e402347897a3a62589286b08d669159";

    #[test]
    fn broken_or_unknown_certificates_are_refused_without_panic() {
        let cert = der(EC_SHA384);
        for cut in 0..cert.len() {
            assert!(matches!(
                binding_hash(&cert[..cut]),
                Err(BindingError::Malformed(_))
            ));
        }
        // ecdsa-with-SHA384 (1.2.840.10045.4.3.3) turned into the unknown
        // 1.2.840.10045.4.3.9 in the outer signatureAlgorithm.
        let oid = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
        let mut fake = cert.clone();
        let at = fake.windows(oid.len()).rposition(|w| w == oid).unwrap();
        fake[at + oid.len() - 1] = 0x09;
        assert_eq!(
            binding_hash(&fake),
            Err(BindingError::UnknownAlgorithm("1.2.840.10045.4.3.9".into()))
        );
    }

    #[test]
    fn pss_takes_its_hash_from_the_parameters() {
        let cert = der(PSS_SHA384);
        assert_eq!(binding_hash(&cert), Ok(Hash::Sha384));
        let data = tls_server_end_point(&cert).unwrap();
        assert_eq!(hex(&data[PREFIX.len()..]), PSS_SHA384_HASH);
    }
}
