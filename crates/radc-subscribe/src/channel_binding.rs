//! TLS channel binding for the Windows sign-in (Extended Protection for
//! Authentication): RFC 5929's `tls-server-end-point`.
//!
//! The binding is a hash of the certificate the server presented on the
//! connection the sign-in runs on. NTLM puts its MD5 into the AUTHENTICATE
//! message, Kerberos into the authenticator's checksum; a server that checks
//! it refuses a sign-in relayed through another TLS connection (a
//! man-in-the-middle with a certificate of its own). No I/O here: the
//! certificate comes in as DER bytes.

use sha2::Digest as _;

/// The prefix of the application data (RFC 5929 §4).
pub const PREFIX: &[u8] = b"tls-server-end-point:";

/// Why no binding could be computed for a certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    #[error("the server's certificate is not valid DER: {0}")]
    Malformed(&'static str),
    #[error(
        "the server's certificate is signed with an algorithm radc does not know (DER OID {0})"
    )]
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
    let (oid, params) = signature_algorithm(cert_der)?;
    let known = |table: &[(&[u8], Hash)], wanted: &[u8]| {
        table
            .iter()
            .find(|(o, _)| *o == wanted)
            .map(|&(_, hash)| hash)
    };
    if let Some(hash) = known(SIGNATURE_HASHES, oid) {
        return Ok(hash);
    }
    if oid == RSASSA_PSS {
        // RSASSA-PSS-params: [0] EXPLICIT hashAlgorithm, SHA-1 by default.
        return match pss_hash(params)? {
            None => Ok(Hash::Sha256),
            Some(h) => known(DIGESTS, h).ok_or_else(|| BindingError::UnknownAlgorithm(hex_oid(h))),
        };
    }
    Err(BindingError::UnknownAlgorithm(hex_oid(oid)))
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

// Signature algorithm OIDs (DER contents) and the binding hash each implies.
const SIGNATURE_HASHES: &[(&[u8], Hash)] = &[
    // md5WithRSAEncryption, sha1WithRSAEncryption: SHA-256 (§4.1)
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x04", Hash::Sha256),
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x05", Hash::Sha256),
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b", Hash::Sha256),
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0c", Hash::Sha384),
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0d", Hash::Sha512),
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0e", Hash::Sha224),
    // ecdsa-with-SHA1, -SHA224, -SHA256, -SHA384, -SHA512
    (b"\x2a\x86\x48\xce\x3d\x04\x01", Hash::Sha256),
    (b"\x2a\x86\x48\xce\x3d\x04\x03\x01", Hash::Sha224),
    (b"\x2a\x86\x48\xce\x3d\x04\x03\x02", Hash::Sha256),
    (b"\x2a\x86\x48\xce\x3d\x04\x03\x03", Hash::Sha384),
    (b"\x2a\x86\x48\xce\x3d\x04\x03\x04", Hash::Sha512),
    // dsa-with-sha1, dsa-with-sha224, dsa-with-sha256
    (b"\x2a\x86\x48\xce\x38\x04\x03", Hash::Sha256),
    (b"\x60\x86\x48\x01\x65\x03\x04\x03\x01", Hash::Sha224),
    (b"\x60\x86\x48\x01\x65\x03\x04\x03\x02", Hash::Sha256),
    // Ed25519, Ed448
    (b"\x2b\x65\x70", Hash::Sha256),
    (b"\x2b\x65\x71", Hash::Sha256),
];
const RSASSA_PSS: &[u8] = b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0a";
// Digest OIDs, for RSASSA-PSS parameters.
const DIGESTS: &[(&[u8], Hash)] = &[
    (b"\x2b\x0e\x03\x02\x1a", Hash::Sha256), // SHA-1
    (b"\x60\x86\x48\x01\x65\x03\x04\x02\x01", Hash::Sha256),
    (b"\x60\x86\x48\x01\x65\x03\x04\x02\x02", Hash::Sha384),
    (b"\x60\x86\x48\x01\x65\x03\x04\x02\x03", Hash::Sha512),
    (b"\x60\x86\x48\x01\x65\x03\x04\x02\x04", Hash::Sha224),
];

const SEQUENCE: u8 = 0x30;
const OID: u8 = 0x06;

/// One DER element: tag, contents, what follows. Definite lengths only.
fn element(input: &[u8]) -> Result<(u8, &[u8], &[u8]), BindingError> {
    let short = BindingError::Malformed("an element runs past its end");
    let [tag, first, rest @ ..] = input else {
        return Err(short);
    };
    let (len, rest) = if first & 0x80 == 0 {
        (usize::from(*first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return Err(BindingError::Malformed("a length is not definite DER"));
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[count..])
    };
    if rest.len() < len {
        return Err(short);
    }
    Ok((*tag, &rest[..len], &rest[len..]))
}

fn expect<'a>(
    input: &'a [u8],
    tag: u8,
    what: &'static str,
) -> Result<(&'a [u8], &'a [u8]), BindingError> {
    let (t, contents, rest) = element(input)?;
    if t != tag {
        return Err(BindingError::Malformed(what));
    }
    Ok((contents, rest))
}

/// Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm
/// AlgorithmIdentifier, signature }: the algorithm's OID and parameters.
fn signature_algorithm(cert: &[u8]) -> Result<(&[u8], &[u8]), BindingError> {
    let (certificate, _) = expect(cert, SEQUENCE, "not a certificate")?;
    let (_tbs, rest) = expect(certificate, SEQUENCE, "no tbsCertificate")?;
    let (algorithm, _) = expect(rest, SEQUENCE, "no signatureAlgorithm")?;
    let (oid, params) = expect(algorithm, OID, "no algorithm OID")?;
    Ok((oid, params))
}

/// The hash OID of RSASSA-PSS parameters, `None` for the default (SHA-1).
fn pss_hash(params: &[u8]) -> Result<Option<&[u8]>, BindingError> {
    if params.is_empty() {
        return Ok(None);
    }
    let (seq, _) = expect(params, SEQUENCE, "RSASSA-PSS parameters")?;
    if seq.is_empty() {
        return Ok(None);
    }
    let (tag, explicit, _) = element(seq)?;
    if tag != 0xa0 {
        return Ok(None);
    }
    let (algorithm, _) = expect(explicit, SEQUENCE, "RSASSA-PSS hash algorithm")?;
    let (oid, _) = expect(algorithm, OID, "RSASSA-PSS hash OID")?;
    Ok(Some(oid))
}

/// An OID's DER contents in hex, for messages.
fn hex_oid(oid: &[u8]) -> String {
    oid.iter().map(|b| format!("{b:02x}")).collect()
}

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

    #[test]
    fn broken_or_unknown_certificates_are_refused_without_panic() {
        let cert = der(EC_SHA384);
        for cut in 0..cert.len() {
            // Every truncation either still finds the algorithm (it lies
            // before the cut) or is refused; none panics.
            let _ = binding_hash(&cert[..cut]);
        }
        assert!(matches!(binding_hash(b""), Err(BindingError::Malformed(_))));
        assert!(matches!(
            binding_hash(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            Err(BindingError::Malformed(_))
        ));
        // A made-up algorithm 1.2.3.4 in place of the real one.
        let fake = [
            0x30, 0x0c, 0x30, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2a, 0x03, 0x04, 0x03, 0x01, 0x00,
        ];
        assert_eq!(
            binding_hash(&fake),
            Err(BindingError::UnknownAlgorithm("2a0304".into()))
        );
    }

    #[test]
    fn pss_takes_its_hash_from_the_parameters() {
        // AlgorithmIdentifier { RSASSA-PSS, { [0] { sha384 } } }
        let sha384 = b"\x60\x86\x48\x01\x65\x03\x04\x02\x02";
        let hash_alg = [&[0x30, 0x0b, 0x06, 0x09][..], sha384].concat();
        let explicit = [&[0xa0, hash_alg.len() as u8][..], &hash_alg].concat();
        let params = [&[0x30, explicit.len() as u8][..], &explicit].concat();
        let alg = [&[0x06, 0x09][..], RSASSA_PSS, &params].concat();
        let alg = [&[0x30, alg.len() as u8][..], &alg].concat();
        let body = [&[0x30, 0x00][..], &alg, &[0x03, 0x01, 0x00]].concat();
        let cert = [&[0x30, body.len() as u8][..], &body].concat();
        assert_eq!(binding_hash(&cert), Ok(Hash::Sha384));
    }
}
