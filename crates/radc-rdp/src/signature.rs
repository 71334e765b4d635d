//! Signatures of `.rdp` files (`signscope` and `signature`, as `rdpsign`
//! writes them).
//!
//! Microsoft has not published the format; it has been worked out from
//! `rdpsign.exe`'s output and is the same in the open-source re-implementations
//! (for example `nfedera/rdpsign` in Python and the RDP support of `psign`
//! in Rust). The tests check it against a signature made by Microsoft's own
//! tools: the signed RemoteApp sample in section 4.2 of the MS-RDWR
//! specification (SHA-1, no signed attributes). What a signed file holds:
//!
//! * `signscope:s:` names the signed settings, separated by commas, in the
//!   order they were signed and in rdpsign's own spelling (`Full Address`,
//!   `Server Port`, `RemoteApplicationProgram`, ...). Names match the
//!   settings case-insensitively.
//! * The signed content is, for each name in the scope, the setting's line
//!   `name:type:value` followed by CR LF; then the `signscope` line itself
//!   (`signscope:s:<scope>` CR LF); then one NUL character; all of it
//!   encoded as UTF-16LE without a byte-order mark.
//! * `signature:s:` is base64 (rdpsign breaks it into 64-character chunks
//!   separated by spaces; all whitespace is ignored) of a 12-byte header of
//!   three little-endian 32-bit words (`0x00010001`, `0x00000001`, length of
//!   what follows) and then a DER PKCS#7 / CMS `SignedData` with one signer,
//!   detached (no embedded content), normally carrying the signer's
//!   certificate and its chain.
//! * Current rdpsign signs with SHA-256 (older versions with SHA-1) and
//!   RSA PKCS#1 v1.5. With signed attributes, their `messageDigest` is the
//!   hash of the content and the signature covers the DER of the attributes;
//!   without them, the signature covers the content directly.
//! * rdpsign signs, of the settings a file has, these (in this order):
//!   full address, alternate full address, pcb, use redirection server name,
//!   server port, negotiate security layer, enablecredsspsupport,
//!   disableconnectionsharing, autoreconnection enabled, gatewayhostname,
//!   gatewayusagemethod, gatewayprofileusagemethod, gatewaycredentialssource,
//!   support url, promptcredentialonce, require pre-authentication,
//!   pre-authentication server address, alternate shell, shell working
//!   directory, the remoteapplication* settings, prompt for credentials,
//!   authentication level, audiomode, the redirect* settings,
//!   devicestoredirect, drivestoredirect, loadbalanceinfo, rdgiskdcproxy,
//!   kdcproxyname, eventloguploadaddress. When a file has `full address` but
//!   no `alternate full address`, rdpsign adds the latter with the same value
//!   so that one cannot be added unsigned later. Everything else (screen
//!   size, user name, ...) stays unsigned and may be changed by anyone.
//!   Newer versions add newer settings to the list; verification does not
//!   depend on it, it follows the file's `signscope`.
//!
//! Lines are rebuilt from the parsed settings (integers in decimal, binary
//! values in upper-case hexadecimal, names as written in the file), so a
//! file written with unusual spacing or number formats fails to verify
//! rather than verifying something else. Names are also tried in lower case,
//! the spelling every known writer uses (Microsoft's sample signs
//! `full address:s:...` and `signscope:s:...` as they appear in the file).
//!
//! [`verify`] checks that the signature is intact and reports who signed
//! it: the certificate's subject and thumbprints. It does **not** check the
//! certificate chain, validity dates or key usage; [`crate::publisher`]
//! does, against the certificate authorities a caller passes in. Trust is
//! decided elsewhere by pinning thumbprints. A launcher must use only
//! [`Signed::covered`], since settings outside the scope can be changed
//! by anyone without breaking the signature. A signed setting that appears
//! twice is refused, so the value that was signed is never in doubt.
//!
//! Only what is specific to `.rdp` files is done here (the scope, the
//! signed text, the blob header). The PKCS#7 `SignedData` and the
//! certificates are parsed by RustCrypto's `cms` and `x509-cert` (strict
//! DER: no indefinite lengths, nothing after the signature), the signature
//! is checked with ring, as rustls checks TLS signatures. Signed attributes
//! are hashed as their DER encoding, as RFC 5652 says and OpenSSL does;
//! thumbprints are hashes of the certificate bytes as they appear in the
//! signature.
//!
//! Nothing here does I/O or panics; the work is bounded by the file size
//! limit and [`MAX_SIGNATURE_CHARS`], and RSA keys are limited to 8192
//! bits. Keys under 1024 bits (2048 with SHA-384) are refused as
//! unsupported.

use base64::Engine as _;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedAttributes, SignedData, SignerIdentifier, SignerInfo};
use const_oid::ObjectIdentifier;
use const_oid::db::{rfc3280, rfc4519, rfc5911, rfc5912};
use der::asn1::{Any, OctetString};
use der::{
    Decode as _, Encode as _, Header, Reader as _, SliceReader, Tag, TagNumber, Tagged as _,
};
use ring::signature::{self as ring_signature, UnparsedPublicKey};
use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use x509_cert::Certificate;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::name::Name;

use crate::{RdpFile, Setting, Value};

/// Longest `signature` value accepted, in characters.
pub const MAX_SIGNATURE_CHARS: usize = 256 * 1024;
/// Most certificates looked at in one signature.
const MAX_CERTIFICATES: usize = 64;
/// Most settings one `signscope` may name.
const MAX_SCOPE_NAMES: usize = 256;

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The file has neither `signscope` nor `signature`.
    Unsigned,
    /// The signature is intact.
    Signed(Signed),
}

/// An intact signature and who made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The signer certificate's subject common name, or its whole subject
    /// (`O=..., C=...`) when it has none. Control characters are replaced.
    pub publisher: String,
    /// SHA-1 of the signer certificate's DER: what Windows shows as its
    /// thumbprint.
    pub sha1_thumbprint: [u8; 20],
    /// SHA-256 of the signer certificate's DER.
    pub sha256_thumbprint: [u8; 32],
    /// The names of the signed settings, lower-case, in signing order.
    pub scope: Vec<String>,
    /// The signer's certificate (DER, as it appears in the signature).
    pub certificate: Vec<u8>,
    /// The other certificates the signature carries (DER): candidates for
    /// the chain up to a certificate authority, vouching for nothing by
    /// themselves. See [`crate::publisher`].
    pub other_certificates: Vec<Vec<u8>>,
}

impl Signed {
    /// The file restricted to the settings the signature covers (what a
    /// launcher should use). `file` is the file that was verified; the
    /// `signscope` and `signature` settings themselves are left out.
    pub fn covered(&self, file: &RdpFile) -> RdpFile {
        RdpFile {
            settings: file
                .settings
                .iter()
                .filter(|s| self.scope.iter().any(|n| n.eq_ignore_ascii_case(&s.name)))
                .cloned()
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the file has a signature but no signscope setting saying what it covers")]
    SignatureWithoutScope,
    #[error("the file has a signscope setting but no signature")]
    ScopeWithoutSignature,
    #[error("the {0} setting must be a string (type s)")]
    NotAString(&'static str),
    #[error("the setting {0:?} appears more than once, so which value was signed is unclear")]
    Duplicate(String),
    #[error("the signscope setting is malformed: {0}")]
    BadScope(String),
    #[error("signscope lists the setting {0:?}, but the file does not have it")]
    ScopeSettingMissing(String),
    #[error("the signature is longer than {MAX_SIGNATURE_CHARS} characters")]
    TooLong,
    #[error("the signature is not valid base64")]
    Base64,
    #[error("the signature header is malformed: {0}")]
    Header(String),
    #[error("the signature is not a well-formed PKCS#7 signature: {0}")]
    Pkcs7(String),
    #[error("the signature uses an unsupported {0}")]
    Unsupported(String),
    #[error("the signature does not contain the signer's certificate")]
    SignerCertificateMissing,
    #[error("the signer's certificate is malformed: {0}")]
    Certificate(String),
    #[error("the signed settings were changed after signing (digest mismatch)")]
    DigestMismatch,
    #[error("the signature does not verify with the signer's certificate")]
    BadSignature,
    #[error(
        "the signed settings were changed after signing, or the signature does not verify with the signer's certificate"
    )]
    ContentOrSignatureMismatch,
}

/// Checks a file's signature; see the module documentation for what is and
/// is not checked.
pub fn verify(file: &RdpFile) -> Result<Verdict, SignatureError> {
    let signature = unique(file, "signature")?;
    let scope = unique(file, "signscope")?;
    let (signature, scope) = match (signature, scope) {
        (None, None) => return Ok(Verdict::Unsigned),
        (Some(_), None) => return Err(SignatureError::SignatureWithoutScope),
        (None, Some(_)) => return Err(SignatureError::ScopeWithoutSignature),
        (Some(signature), Some(scope)) => (signature, scope),
    };
    let Value::Str(signature_text) = &signature.value else {
        return Err(SignatureError::NotAString("signature"));
    };
    let Value::Str(scope_text) = &scope.value else {
        return Err(SignatureError::NotAString("signscope"));
    };

    let names = parse_scope(scope_text)?;
    let mut signed = Vec::with_capacity(names.len());
    for name in &names {
        signed.push(
            unique(file, name)?.ok_or_else(|| SignatureError::ScopeSettingMissing(name.clone()))?,
        );
    }
    let mut contents = vec![signed_content(&signed, scope, false)];
    let lower = signed_content(&signed, scope, true);
    if lower != contents[0] {
        contents.push(lower);
    }

    let der = decode_signature(signature_text)?;
    let pkcs7 = parse_pkcs7(&der)?;
    let signer = check(&pkcs7, &contents)?;

    Ok(Verdict::Signed(Signed {
        publisher: publisher(signer.certificate.tbs_certificate().subject()),
        sha1_thumbprint: Sha1::digest(signer.raw).into(),
        sha256_thumbprint: Sha256::digest(signer.raw).into(),
        scope: names.iter().map(|n| n.to_ascii_lowercase()).collect(),
        certificate: signer.raw.to_vec(),
        other_certificates: pkcs7
            .certificates
            .iter()
            .filter(|&&raw| raw != signer.raw)
            .map(|raw| raw.to_vec())
            .collect(),
    }))
}

/// The one setting called `name`: `None` if absent, an error if repeated.
fn unique<'a>(file: &'a RdpFile, name: &str) -> Result<Option<&'a Setting>, SignatureError> {
    let mut found = file
        .settings
        .iter()
        .filter(|s| s.name.eq_ignore_ascii_case(name));
    let first = found.next();
    if found.next().is_some() {
        return Err(SignatureError::Duplicate(name.to_ascii_lowercase()));
    }
    Ok(first)
}

fn parse_scope(text: &str) -> Result<Vec<String>, SignatureError> {
    let bad = |why: String| Err(SignatureError::BadScope(why));
    if text.is_empty() {
        return bad("it names no settings".into());
    }
    let mut names: Vec<String> = Vec::new();
    for name in text.split(',') {
        // Setting names are at most 256 bytes, so a longer entry can match
        // nothing (and is not worth repeating in a message).
        if name.len() > 256 {
            return bad("it lists a name longer than 256 bytes".into());
        }
        if name.is_empty() || name.trim() != name {
            return bad(format!("{name:?} is not a setting name"));
        }
        if name.eq_ignore_ascii_case("signature") || name.eq_ignore_ascii_case("signscope") {
            return bad(format!("it lists {name:?}"));
        }
        if names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            return bad(format!("it lists {name:?} twice"));
        }
        if names.len() == MAX_SCOPE_NAMES {
            return bad(format!("it lists more than {MAX_SCOPE_NAMES} settings"));
        }
        names.push(name.to_owned());
    }
    Ok(names)
}

/// The bytes that were signed: each signed line, the `signscope` line,
/// a NUL, as UTF-16LE.
fn signed_content(signed: &[&Setting], scope: &Setting, lower_case_names: bool) -> Vec<u8> {
    let mut text = String::new();
    for setting in signed.iter().copied().chain(std::iter::once(scope)) {
        if lower_case_names {
            text.push_str(&setting.name.to_ascii_lowercase());
        } else {
            text.push_str(&setting.name);
        }
        match &setting.value {
            Value::Int(i) => text.push_str(&format!(":i:{i}")),
            Value::Str(s) => {
                text.push_str(":s:");
                text.push_str(s);
            }
            Value::Binary(bytes) => {
                text.push_str(":b:");
                for byte in bytes {
                    text.push_str(&format!("{byte:02X}"));
                }
            }
        }
        text.push_str("\r\n");
    }
    text.push('\0');
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

const HEADER_VERSION: u32 = 0x0001_0001;
const HEADER_TYPE: u32 = 0x0000_0001;

/// The DER PKCS#7 inside a `signature` value.
fn decode_signature(text: &str) -> Result<Vec<u8>, SignatureError> {
    if text.len() > MAX_SIGNATURE_CHARS {
        return Err(SignatureError::TooLong);
    }
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let bytes = engine.decode(compact).map_err(|_| SignatureError::Base64)?;
    strip_header(&bytes).map(<[u8]>::to_vec)
}

fn strip_header(bytes: &[u8]) -> Result<&[u8], SignatureError> {
    let bad = |why: String| Err(SignatureError::Header(why));
    let Some((header, rest)) = bytes.split_first_chunk::<12>() else {
        return bad(format!(
            "{} bytes is shorter than the 12-byte header",
            bytes.len()
        ));
    };
    let word =
        |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    if word(0) != HEADER_VERSION {
        return bad(format!(
            "version 0x{:08X}, expected 0x{HEADER_VERSION:08X}",
            word(0)
        ));
    }
    if word(4) != HEADER_TYPE {
        return bad(format!("type {}, expected {HEADER_TYPE}", word(4)));
    }
    if usize::try_from(word(8)).ok() != Some(rest.len()) {
        return bad(format!(
            "it announces {} bytes but {} follow",
            word(8),
            rest.len()
        ));
    }
    Ok(rest)
}

// ---------------------------------------------------------------------------
// PKCS#7 / CMS, through the `cms` and `x509-cert` crates

/// What the check needs from the PKCS#7 `SignedData`.
struct Pkcs7<'a> {
    signer: SignerInfo,
    hash: Hash,
    /// The certificates as they appear in the signature (their thumbprints
    /// are hashes of these bytes), at most [`MAX_CERTIFICATES`].
    certificates: Vec<&'a [u8]>,
}

fn malformed(what: &'static str) -> impl Fn(der::Error) -> SignatureError {
    move |e| SignatureError::Pkcs7(format!("the {what} is malformed ({e})"))
}

fn parse_pkcs7(der: &[u8]) -> Result<Pkcs7<'_>, SignatureError> {
    // DER only (no indefinite lengths), and nothing may follow.
    let content_info = ContentInfo::from_der(der).map_err(malformed("ContentInfo"))?;
    if content_info.content_type != rfc5911::ID_SIGNED_DATA {
        return Err(SignatureError::Pkcs7(format!(
            "its content type is {}, not SignedData",
            content_info.content_type
        )));
    }
    let signed_data: SignedData = content_info
        .content
        .decode_as()
        .map_err(malformed("SignedData"))?;
    let encapsulated = &signed_data.encap_content_info;
    if encapsulated.econtent_type != rfc5911::ID_DATA {
        return Err(SignatureError::Pkcs7(
            "the signed content is not of type data".into(),
        ));
    }
    if encapsulated.econtent.is_some() {
        return Err(SignatureError::Pkcs7(
            "the signature embeds its content instead of being detached".into(),
        ));
    }
    let mut signers = signed_data.signer_infos.0.into_vec().into_iter();
    let (Some(signer), None) = (signers.next(), signers.next()) else {
        return Err(SignatureError::Pkcs7(
            "it must have exactly one signer".into(),
        ));
    };
    let Some(hash) = Hash::from_oid(&signer.digest_alg.oid) else {
        return Err(SignatureError::Unsupported(format!(
            "digest algorithm {}",
            signer.digest_alg.oid
        )));
    };
    let certificates = raw_certificates(der).map_err(malformed("certificate list"))?;
    Ok(Pkcs7 {
        signer,
        hash,
        certificates,
    })
}

/// The DER of the certificates in a PKCS#7 `ContentInfo`, as they appear.
/// `cms` has parsed the structure already; this only finds the original
/// bytes, which re-encoding a parsed certificate need not give back (times,
/// ordering inside sets).
fn raw_certificates(content_info: &[u8]) -> der::Result<Vec<&[u8]>> {
    let mut fields = inside(content_info)?;
    fields.tlv_bytes()?; // contentType
    let mut fields = inside(inside(fields.tlv_bytes()?)?.tlv_bytes()?)?; // [0] SignedData
    for _ in 0..3 {
        fields.tlv_bytes()?; // version, digestAlgorithms, encapContentInfo
    }
    let mut raw = Vec::new();
    let certificate_set = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber(0),
    };
    if Tag::peek(&fields)? == certificate_set {
        let mut set = inside(fields.tlv_bytes()?)?;
        while !set.is_finished() {
            let choice = set.tlv_bytes()?;
            // Other certificate choices (attribute certificates, ...) are
            // never the signer's.
            if choice.first() == Some(&0x30) && raw.len() < MAX_CERTIFICATES {
                raw.push(choice);
            }
        }
    }
    Ok(raw)
}

/// A reader over the contents of one DER value.
fn inside(tlv: &[u8]) -> der::Result<SliceReader<'_>> {
    let mut reader = SliceReader::new(tlv)?;
    let header = Header::decode(&mut reader)?;
    SliceReader::new(reader.read_slice(header.length())?)
}

/// The messageDigest of signed attributes (and checks their content type).
fn message_digest(attributes: &SignedAttributes) -> Result<Vec<u8>, SignatureError> {
    let mut digest = None;
    for attribute in attributes.iter() {
        let mut values = attribute.values.iter();
        let (Some(value), rest) = (values.next(), values.next()) else {
            return Err(SignatureError::Pkcs7(format!(
                "the signed attribute {} has no value",
                attribute.oid
            )));
        };
        if attribute.oid == rfc5911::ID_MESSAGE_DIGEST {
            let octets = value.decode_as::<OctetString>().ok();
            let (None, Some(octets), None) = (&digest, octets, rest) else {
                return Err(SignatureError::Pkcs7(
                    "the messageDigest attribute is malformed or repeated".into(),
                ));
            };
            digest = Some(octets.into_bytes().into_vec());
        } else if attribute.oid == rfc5911::ID_CONTENT_TYPE
            && value.decode_as::<ObjectIdentifier>().ok() != Some(rfc5911::ID_DATA)
        {
            return Err(SignatureError::Pkcs7(
                "the contentType attribute is not data".into(),
            ));
        }
    }
    digest.ok_or_else(|| SignatureError::Pkcs7("the messageDigest attribute is missing".into()))
}

/// The signer's certificate: its DER as it appears and parsed.
struct Signer<'a> {
    raw: &'a [u8],
    certificate: Certificate,
}

/// Verifies the signature against any of the candidate contents and returns
/// the signer's certificate.
fn check<'a>(pkcs7: &Pkcs7<'a>, contents: &[Vec<u8>]) -> Result<Signer<'a>, SignatureError> {
    let hash = pkcs7.hash;
    let signer = &pkcs7.signer;
    let algorithm = &signer.signature_algorithm.oid;
    if *algorithm != rfc5912::RSA_ENCRYPTION && *algorithm != hash.with_rsa() {
        return Err(SignatureError::Unsupported(format!(
            "signature algorithm {} with {} (only RSA PKCS#1 v1.5 is supported)",
            algorithm_name(algorithm),
            hash.name()
        )));
    }

    let found = pkcs7
        .certificates
        .iter()
        .filter_map(|&raw| {
            let certificate = Certificate::from_der(raw).ok()?;
            Some(Signer { raw, certificate })
        })
        .find(|s| is_signer(&s.certificate, &signer.sid))
        .ok_or(SignatureError::SignerCertificateMissing)?;
    let (key, bits) = rsa_key(&found.certificate)?;
    if bits < hash.min_rsa_bits() {
        return Err(SignatureError::Unsupported(format!(
            "RSA key of {bits} bits with {} (at least {} are needed)",
            hash.name(),
            hash.min_rsa_bits()
        )));
    }
    let signature = signer.signature.as_bytes();

    match &signer.signed_attrs {
        Some(attributes) => {
            let expected = message_digest(attributes)?;
            if !contents.iter().any(|c| hash.digest(c) == expected) {
                return Err(SignatureError::DigestMismatch);
            }
            // The signature covers the DER of the attributes as a SET OF
            // (not with the [0] tag they carry inside SignerInfo).
            let der = attributes
                .to_der()
                .map_err(malformed("signed attributes"))?;
            hash.verify(&key, &der, signature)
                .map_err(|_| SignatureError::BadSignature)?;
        }
        None => {
            let ok = contents
                .iter()
                .any(|c| hash.verify(&key, c, signature).is_ok());
            if !ok {
                return Err(SignatureError::ContentOrSignatureMismatch);
            }
        }
    }
    Ok(found)
}

fn is_signer(certificate: &Certificate, id: &SignerIdentifier) -> bool {
    let tbs = certificate.tbs_certificate();
    match id {
        SignerIdentifier::IssuerAndSerialNumber(id) => {
            *tbs.issuer() == id.issuer && *tbs.serial_number() == id.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(key_id) => tbs
            .get_extension::<SubjectKeyIdentifier>()
            .ok()
            .flatten()
            .is_some_and(|(_, own)| own == *key_id),
    }
}

/// The signer's RSA public key (the PKCS#1 `RSAPublicKey` inside its
/// certificate's subject public key) and the size of its modulus in bits.
fn rsa_key(certificate: &Certificate) -> Result<(Vec<u8>, usize), SignatureError> {
    let spki = certificate.tbs_certificate().subject_public_key_info();
    if spki.algorithm.oid != rfc5912::RSA_ENCRYPTION {
        return Err(SignatureError::Unsupported(format!(
            "public key algorithm {}",
            algorithm_name(&spki.algorithm.oid)
        )));
    }
    let malformed = || {
        SignatureError::Certificate(
            "the RSA public key is malformed or larger than 8192 bits".into(),
        )
    };
    let key = spki.subject_public_key.as_bytes().ok_or_else(malformed)?;
    let bits = rsa_modulus_bits(key).ok_or_else(malformed)?;
    if bits > 8192 {
        return Err(malformed());
    }
    Ok((key.to_vec(), bits))
}

/// Bits of the modulus of a DER `RSAPublicKey`, if it is one.
fn rsa_modulus_bits(key: &[u8]) -> Option<usize> {
    #[derive(der::Sequence)]
    struct RsaPublicKey<'a> {
        modulus: der::asn1::UintRef<'a>,
        public_exponent: der::asn1::UintRef<'a>,
    }
    let modulus = RsaPublicKey::from_der(key).ok()?.modulus.as_bytes();
    let first = *modulus.first()?;
    Some(modulus.len() * 8 - first.leading_zeros() as usize)
}

/// The subject's common name, or the whole subject (most specific part
/// first, as Windows shows it) when it has none; control characters
/// replaced.
fn publisher(subject: &Name) -> String {
    let parts: Vec<&AttributeTypeAndValue> = subject.iter().collect();
    let text = match parts.iter().rev().find(|a| a.oid == rfc4519::CN) {
        Some(cn) => string_value(&cn.value),
        None => parts
            .iter()
            .rev()
            .map(|a| format!("{}={}", attribute_name(&a.oid), string_value(&a.value)))
            .collect::<Vec<_>>()
            .join(", "),
    };
    text.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

/// Text of a directory string, whatever its ASN.1 string type.
fn string_value(value: &Any) -> String {
    let bytes = value.value();
    match value.tag() {
        Tag::BmpString => char::decode_utf16(
            bytes
                .chunks_exact(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]])),
        )
        .map(|c| c.unwrap_or('\u{FFFD}'))
        .collect(),
        // In practice Latin-1.
        Tag::TeletexString => bytes.iter().map(|&b| char::from(b)).collect(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Windows' short names for the usual subject attributes.
fn attribute_name(oid: &ObjectIdentifier) -> String {
    let short = match *oid {
        rfc4519::CN => "CN",
        rfc4519::SERIAL_NUMBER => "SERIALNUMBER",
        rfc4519::C => "C",
        rfc4519::L => "L",
        rfc4519::ST => "S",
        rfc4519::STREET => "STREET",
        rfc4519::O => "O",
        rfc4519::OU => "OU",
        rfc4519::DC => "DC",
        rfc3280::EMAIL_ADDRESS => "E",
        _ => return oid.to_string(),
    };
    short.into()
}

/// A signature or key algorithm for messages: its usual name where it is
/// one rdpsign-like tools might produce, and its OID.
fn algorithm_name(oid: &ObjectIdentifier) -> String {
    let dotted = oid.to_string();
    let name = match dotted.as_str() {
        "1.2.840.10045.2.1" => "EC public key",
        "1.2.840.10045.4.1" => "ECDSA with SHA-1",
        "1.2.840.10045.4.3.2" => "ECDSA with SHA-256",
        "1.2.840.10045.4.3.3" => "ECDSA with SHA-384",
        "1.2.840.10045.4.3.4" => "ECDSA with SHA-512",
        "1.2.840.113549.1.1.10" => "RSASSA-PSS",
        "1.2.840.10040.4.1" | "1.2.840.10040.4.3" => "DSA",
        "1.3.101.112" => "Ed25519",
        _ => return dotted,
    };
    format!("{name} ({dotted})")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn from_oid(oid: &ObjectIdentifier) -> Option<Hash> {
        match *oid {
            rfc5912::ID_SHA_1 => Some(Hash::Sha1),
            rfc5912::ID_SHA_256 => Some(Hash::Sha256),
            rfc5912::ID_SHA_384 => Some(Hash::Sha384),
            rfc5912::ID_SHA_512 => Some(Hash::Sha512),
            _ => None,
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha1 => Sha1::digest(data).to_vec(),
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha384 => Sha384::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// The smallest RSA key accepted with this hash: 1,024 bits, as older
    /// signing certificates have, except with SHA-384, which ring checks
    /// only from 2,048 bits on.
    fn min_rsa_bits(self) -> usize {
        match self {
            Hash::Sha384 => 2048,
            _ => 1024,
        }
    }

    /// Checks an RSA PKCS#1 v1.5 signature over `message` with this hash,
    /// through ring (as rustls checks TLS signatures).
    fn verify(
        self,
        key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), ring::error::Unspecified> {
        let algorithm: &'static ring_signature::RsaParameters = match self {
            Hash::Sha1 => &ring_signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
            Hash::Sha256 => &ring_signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
            Hash::Sha384 => &ring_signature::RSA_PKCS1_2048_8192_SHA384,
            Hash::Sha512 => &ring_signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
        };
        UnparsedPublicKey::new(algorithm, key).verify(message, signature)
    }

    fn name(self) -> &'static str {
        match self {
            Hash::Sha1 => "SHA-1",
            Hash::Sha256 => "SHA-256",
            Hash::Sha384 => "SHA-384",
            Hash::Sha512 => "SHA-512",
        }
    }

    /// `sha*WithRSAEncryption` for this hash.
    fn with_rsa(self) -> ObjectIdentifier {
        match self {
            Hash::Sha1 => rfc5912::SHA_1_WITH_RSA_ENCRYPTION,
            Hash::Sha256 => rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
            Hash::Sha384 => rfc5912::SHA_384_WITH_RSA_ENCRYPTION,
            Hash::Sha512 => rfc5912::SHA_512_WITH_RSA_ENCRYPTION,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(name: &str, value: Value) -> Setting {
        Setting {
            name: name.into(),
            value,
        }
    }

    fn utf16(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    #[test]
    fn content_is_signed_lines_then_scope_then_nul_in_utf16le() {
        let address = setting("full address", Value::Str("host.test:3389".into()));
        let port = setting("Server Port", Value::Int(3389));
        let blob = setting("Some Blob", Value::Binary(vec![0x0A, 0xFF]));
        let scope = setting(
            "signscope",
            Value::Str("Full Address,Server Port,Some Blob".into()),
        );
        let expected = "full address:s:host.test:3389\r\nServer Port:i:3389\r\nSome Blob:b:0AFF\r\n\
                        signscope:s:Full Address,Server Port,Some Blob\r\n\0";
        assert_eq!(
            signed_content(&[&address, &port, &blob], &scope, false),
            utf16(expected)
        );
        let lower = signed_content(&[&address, &port, &blob], &scope, true);
        assert_eq!(
            lower,
            utf16(
                &expected
                    .replace("Server Port:", "server port:")
                    .replace("Some Blob:", "some blob:")
            )
        );
        assert_eq!(
            &lower[lower.len() - 4..],
            &[b'\n', 0, 0, 0],
            "ends with LF then NUL"
        );
    }

    #[test]
    fn content_keeps_non_ascii_and_empty_values() {
        let name = setting("remoteapplicationname", Value::Str("Bücher ✓".into()));
        let empty = setting("drivestoredirect", Value::Str(String::new()));
        let scope = setting("SignScope", Value::Str("x".into()));
        assert_eq!(
            signed_content(&[&name, &empty], &scope, false),
            utf16("remoteapplicationname:s:Bücher ✓\r\ndrivestoredirect:s:\r\nSignScope:s:x\r\n\0")
        );
    }

    #[test]
    fn scope_names_are_checked() {
        assert_eq!(
            parse_scope("Full Address,Server Port").unwrap(),
            ["Full Address", "Server Port"]
        );
        let long = "x".repeat(257);
        for bad in [
            &long,
            "",
            "Full Address,",
            ",a",
            "a, b",
            "a,Signature",
            "a,A",
            "signscope",
        ] {
            assert!(
                matches!(parse_scope(bad), Err(SignatureError::BadScope(_))),
                "{bad:?}"
            );
        }
        let many = (0..=MAX_SCOPE_NAMES)
            .map(|i| format!("n{i}"))
            .collect::<Vec<_>>()
            .join(",");
        assert!(parse_scope(&many).is_err());
    }

    #[test]
    fn header_is_checked() {
        let mut good = vec![1, 0, 1, 0, 1, 0, 0, 0, 3, 0, 0, 0];
        good.extend_from_slice(b"abc");
        assert_eq!(strip_header(&good).unwrap(), b"abc");
        let mut version = good.clone();
        version[0] = 2;
        let mut kind = good.clone();
        kind[4] = 2;
        let mut length = good.clone();
        length[8] = 4;
        for bad in [&version[..], &kind, &length, &good[..11], &[]] {
            assert!(matches!(strip_header(bad), Err(SignatureError::Header(_))));
        }
    }

    #[test]
    fn base64_may_be_wrapped_with_spaces() {
        // Header announcing 1 byte, then 0x30.
        let der = decode_signature("AQABAAEA  AAABAAAA\r\n MA==  ").unwrap();
        assert_eq!(der, [0x30]);
        assert_eq!(decode_signature("AQABAAEAAAABAAAAMA").unwrap(), [0x30]);
        assert_eq!(decode_signature("AQ*B"), Err(SignatureError::Base64));
    }

    #[test]
    fn algorithms_are_named_with_their_oid() {
        let oid = |s| ObjectIdentifier::new_unwrap(s);
        assert_eq!(
            algorithm_name(&oid("1.2.840.10045.4.3.2")),
            "ECDSA with SHA-256 (1.2.840.10045.4.3.2)"
        );
        assert_eq!(algorithm_name(&oid("1.2.3.4")), "1.2.3.4");
        assert_eq!(Hash::from_oid(&rfc5912::ID_SHA_256), Some(Hash::Sha256));
        assert_eq!(Hash::from_oid(&oid("1.2.840.113549.2.5")), None, "MD5");
        assert_eq!(Hash::Sha256.with_rsa().to_string(), "1.2.840.113549.1.1.11");
    }

    #[test]
    fn unsigned_and_half_signed_files() {
        let unsigned = RdpFile::parse(b"full address:s:a\n").unwrap();
        assert_eq!(verify(&unsigned), Ok(Verdict::Unsigned));
        let only_signature = RdpFile::parse(b"full address:s:a\nsignature:s:AAAA\n").unwrap();
        assert_eq!(
            verify(&only_signature),
            Err(SignatureError::SignatureWithoutScope)
        );
        let only_scope = RdpFile::parse(b"full address:s:a\nsignscope:s:Full Address\n").unwrap();
        assert_eq!(
            verify(&only_scope),
            Err(SignatureError::ScopeWithoutSignature)
        );
        let missing = RdpFile::parse(
            b"signscope:s:Full Address,Server Port\nsignature:s:AAAA\nfull address:s:a\n",
        )
        .unwrap();
        assert_eq!(
            verify(&missing),
            Err(SignatureError::ScopeSettingMissing("Server Port".into()))
        );
        let twice = RdpFile::parse(
            b"signscope:s:Full Address\nsignature:s:AAAA\nfull address:s:a\nFull Address:s:b\n",
        )
        .unwrap();
        assert_eq!(
            verify(&twice),
            Err(SignatureError::Duplicate("full address".into()))
        );
        let int =
            RdpFile::parse(b"signscope:s:Full Address\nsignature:i:1\nfull address:s:a\n").unwrap();
        assert_eq!(verify(&int), Err(SignatureError::NotAString("signature")));
    }
}
