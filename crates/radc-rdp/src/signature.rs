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
//! certificate chain, validity dates or key usage: trust is decided
//! elsewhere by pinning thumbprints. A launcher must use only
//! [`Signed::covered`], since settings outside the scope can be changed
//! by anyone without breaking the signature. A signed setting that appears
//! twice is refused, so the value that was signed is never in doubt.
//!
//! Nothing here does I/O or panics; the work is bounded by the file size
//! limit and [`MAX_SIGNATURE_CHARS`], and RSA keys are limited to 8192 bits.

use base64::Engine as _;
use rsa::pkcs8::DecodePublicKey as _;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha384, Sha512};

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
    let signed_data = parse_signed_data(&der)?;
    let certificate = check(&signed_data, &contents)?;

    Ok(Verdict::Signed(Signed {
        publisher: certificate.publisher()?,
        sha1_thumbprint: Sha1::digest(certificate.raw).into(),
        sha256_thumbprint: Sha256::digest(certificate.raw).into(),
        scope: names.iter().map(|n| n.to_ascii_lowercase()).collect(),
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
// DER

/// A field that is missing or malformed, named for the error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Malformed(&'static str);

#[derive(Debug, Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    /// Tag, length and contents.
    raw: &'a [u8],
    contents: &'a [u8],
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const CONTEXT_0: u8 = 0xA0;
const CONTEXT_1: u8 = 0xA1;
const CONTEXT_3: u8 = 0xA3;
const CONTEXT_0_PRIMITIVE: u8 = 0x80;

/// Reads DER values one after another. Only definite lengths (what DER
/// allows) and single-byte tags (all this format needs) are accepted.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn next(&mut self, what: &'static str) -> Result<Tlv<'a>, Malformed> {
        let all = self.0;
        let err = Malformed(what);
        let (&tag, rest) = all.split_first().ok_or(err)?;
        if tag & 0x1F == 0x1F {
            return Err(err);
        }
        let (&first, mut rest) = rest.split_first().ok_or(err)?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7F);
            if n == 0 || n > 4 || rest.len() < n {
                return Err(err);
            }
            let (digits, after) = rest.split_at(n);
            rest = after;
            let len = digits
                .iter()
                .fold(0u32, |acc, &d| (acc << 8) | u32::from(d));
            usize::try_from(len).map_err(|_| err)?
        };
        if rest.len() < len {
            return Err(err);
        }
        let header = all.len() - rest.len();
        let (raw, after) = all.split_at(header + len);
        self.0 = after;
        Ok(Tlv {
            tag,
            raw,
            contents: &raw[header..],
        })
    }

    fn expect(&mut self, tag: u8, what: &'static str) -> Result<Tlv<'a>, Malformed> {
        let tlv = self.next(what)?;
        if tlv.tag == tag {
            Ok(tlv)
        } else {
            Err(Malformed(what))
        }
    }

    fn optional(&mut self, tag: u8, what: &'static str) -> Result<Option<Tlv<'a>>, Malformed> {
        if self.0.first() == Some(&tag) {
            self.next(what).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The contents of a constructed value, to read its parts.
    fn enter(&mut self, tag: u8, what: &'static str) -> Result<Reader<'a>, Malformed> {
        self.expect(tag, what).map(|t| Reader(t.contents))
    }
}

/// An AlgorithmIdentifier's OID contents (parameters are ignored: they are
/// absent or NULL for every supported algorithm).
fn algorithm<'a>(reader: &mut Reader<'a>, what: &'static str) -> Result<&'a [u8], Malformed> {
    let mut inner = reader.enter(SEQUENCE, what)?;
    Ok(inner.expect(OID, what)?.contents)
}

/// Dotted form of an OID's contents, for messages.
fn oid_text(contents: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for &byte in contents {
        if value > u64::MAX >> 7 {
            return "(invalid OID)".into();
        }
        value = (value << 7) | u64::from(byte & 0x7F);
        if byte & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    if arcs.is_empty() || contents.last().is_some_and(|b| b & 0x80 != 0) {
        return "(invalid OID)".into();
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// A signature or key algorithm for messages: its usual name where it is
/// one rdpsign-like tools might produce, and its OID.
fn algorithm_name(oid: &[u8]) -> String {
    let dotted = oid_text(oid);
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

// OID contents (without tag and length).
const OID_SIGNED_DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02];
const OID_DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x01];
const OID_CONTENT_TYPE: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x03];
const OID_MESSAGE_DIGEST: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x04];
const OID_SHA1: &[u8] = &[0x2B, 0x0E, 0x03, 0x02, 0x1A];
const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
const OID_SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
const OID_SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];
/// 1.2.840.113549.1.1: the PKCS#1 arc; the last arc picks the algorithm.
const OID_PKCS1: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01];
const OID_SUBJECT_KEY_ID: &[u8] = &[0x55, 0x1D, 0x0E];
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn from_oid(oid: &[u8]) -> Option<Hash> {
        match oid {
            OID_SHA1 => Some(Hash::Sha1),
            OID_SHA256 => Some(Hash::Sha256),
            OID_SHA384 => Some(Hash::Sha384),
            OID_SHA512 => Some(Hash::Sha512),
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

    fn pkcs1(self) -> Pkcs1v15Sign {
        match self {
            Hash::Sha1 => Pkcs1v15Sign::new::<Sha1>(),
            Hash::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
            Hash::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
            Hash::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Hash::Sha1 => "SHA-1",
            Hash::Sha256 => "SHA-256",
            Hash::Sha384 => "SHA-384",
            Hash::Sha512 => "SHA-512",
        }
    }

    /// The last arc of `sha*WithRSAEncryption` under the PKCS#1 arc.
    fn pkcs1_arc(self) -> u8 {
        match self {
            Hash::Sha1 => 5,
            Hash::Sha256 => 11,
            Hash::Sha384 => 12,
            Hash::Sha512 => 13,
        }
    }
}

enum SignerId<'a> {
    IssuerAndSerial { issuer: &'a [u8], serial: &'a [u8] },
    KeyId(&'a [u8]),
}

struct SignedData<'a> {
    certificates: Vec<&'a [u8]>,
    signer: SignerId<'a>,
    hash: Hash,
    /// The `[0]` signed attributes as they appear, tag included.
    signed_attributes: Option<Tlv<'a>>,
    signature_algorithm: &'a [u8],
    signature: &'a [u8],
}

fn parse_signed_data(der: &[u8]) -> Result<SignedData<'_>, SignatureError> {
    parse_signed_data_inner(der).map_err(|Malformed(what)| {
        SignatureError::Pkcs7(format!("the {what} is missing or malformed"))
    })?
}

fn parse_signed_data_inner(
    der: &[u8],
) -> Result<Result<SignedData<'_>, SignatureError>, Malformed> {
    let mut outer = Reader(der);
    let mut content_info = outer.enter(SEQUENCE, "ContentInfo")?;
    if !outer.is_empty() {
        return Err(Malformed("end of the signature (extra bytes follow)"));
    }
    if content_info.expect(OID, "content type")?.contents != OID_SIGNED_DATA {
        return Err(Malformed("SignedData content type"));
    }
    let mut explicit = content_info.enter(CONTEXT_0, "SignedData")?;
    let mut signed_data = explicit.enter(SEQUENCE, "SignedData")?;
    signed_data.expect(INTEGER, "SignedData version")?;
    signed_data.expect(SET, "digest algorithm list")?;
    let mut encapsulated = signed_data.enter(SEQUENCE, "encapsulated content info")?;
    if encapsulated
        .expect(OID, "encapsulated content type")?
        .contents
        != OID_DATA
    {
        return Ok(Err(SignatureError::Pkcs7(
            "the signed content is not of type data".into(),
        )));
    }
    if !encapsulated.is_empty() {
        return Ok(Err(SignatureError::Pkcs7(
            "the signature embeds its content instead of being detached".into(),
        )));
    }
    let mut certificates = Vec::new();
    if let Some(set) = signed_data.optional(CONTEXT_0, "certificate list")? {
        let mut set = Reader(set.contents);
        while !set.is_empty() {
            let choice = set.next("certificate")?;
            // Other certificate choices (attribute certificates, ...) are
            // never the signer's.
            if choice.tag == SEQUENCE && certificates.len() < MAX_CERTIFICATES {
                certificates.push(choice.raw);
            }
        }
    }
    signed_data.optional(CONTEXT_1, "CRL list")?;
    let mut signer_infos = signed_data.enter(SET, "SignerInfo list")?;
    let mut signer_info = signer_infos.enter(SEQUENCE, "SignerInfo")?;
    if !signer_infos.is_empty() {
        return Ok(Err(SignatureError::Pkcs7(
            "it has more than one signer".into(),
        )));
    }
    signer_info.expect(INTEGER, "SignerInfo version")?;
    let sid = signer_info.next("signer identifier")?;
    let signer = match sid.tag {
        SEQUENCE => {
            let mut parts = Reader(sid.contents);
            let issuer = parts.expect(SEQUENCE, "signer issuer")?.raw;
            let serial = parts.expect(INTEGER, "signer serial number")?.contents;
            SignerId::IssuerAndSerial { issuer, serial }
        }
        CONTEXT_0_PRIMITIVE => SignerId::KeyId(sid.contents),
        _ => return Err(Malformed("signer identifier")),
    };
    let digest_algorithm = algorithm(&mut signer_info, "digest algorithm")?;
    let Some(hash) = Hash::from_oid(digest_algorithm) else {
        return Ok(Err(SignatureError::Unsupported(format!(
            "digest algorithm {}",
            oid_text(digest_algorithm)
        ))));
    };
    let signed_attributes = signer_info.optional(CONTEXT_0, "signed attributes")?;
    let signature_algorithm = algorithm(&mut signer_info, "signature algorithm")?;
    let signature = signer_info
        .expect(OCTET_STRING, "signature value")?
        .contents;
    Ok(Ok(SignedData {
        certificates,
        signer,
        hash,
        signed_attributes,
        signature_algorithm,
        signature,
    }))
}

/// The messageDigest of signed attributes (and checks their content type).
fn message_digest<'a>(attributes: &Tlv<'a>) -> Result<&'a [u8], SignatureError> {
    let malformed = |Malformed(what)| SignatureError::Pkcs7(format!("the {what} is malformed"));
    let mut digest = None;
    let mut reader = Reader(attributes.contents);
    while !reader.is_empty() {
        let mut attribute = reader
            .enter(SEQUENCE, "signed attribute")
            .map_err(malformed)?;
        let kind = attribute
            .expect(OID, "signed attribute type")
            .map_err(malformed)?
            .contents;
        let mut values = attribute
            .enter(SET, "signed attribute values")
            .map_err(malformed)?;
        let value = values.next("signed attribute value").map_err(malformed)?;
        let single = values.is_empty();
        if kind == OID_MESSAGE_DIGEST {
            if digest.is_some() || !single || value.tag != OCTET_STRING {
                return Err(SignatureError::Pkcs7(
                    "the messageDigest attribute is malformed or repeated".into(),
                ));
            }
            digest = Some(value.contents);
        } else if kind == OID_CONTENT_TYPE && (value.tag != OID || value.contents != OID_DATA) {
            return Err(SignatureError::Pkcs7(
                "the contentType attribute is not data".into(),
            ));
        }
    }
    digest.ok_or_else(|| SignatureError::Pkcs7("the messageDigest attribute is missing".into()))
}

/// Verifies the signature against any of the candidate contents and returns
/// the signer's certificate.
fn check<'a>(
    signed_data: &SignedData<'a>,
    contents: &[Vec<u8>],
) -> Result<Certificate<'a>, SignatureError> {
    let hash = signed_data.hash;
    let algorithm = signed_data.signature_algorithm;
    let is_rsa = algorithm.len() == OID_PKCS1.len() + 1
        && algorithm.starts_with(OID_PKCS1)
        && (algorithm[OID_PKCS1.len()] == 1 || algorithm[OID_PKCS1.len()] == hash.pkcs1_arc());
    if !is_rsa {
        return Err(SignatureError::Unsupported(format!(
            "signature algorithm {} with {} (only RSA PKCS#1 v1.5 is supported)",
            algorithm_name(algorithm),
            hash.name()
        )));
    }

    let certificate = signed_data
        .certificates
        .iter()
        .filter_map(|raw| Certificate::parse(raw).ok())
        .find(|c| c.is_signer(&signed_data.signer))
        .ok_or(SignatureError::SignerCertificateMissing)?;
    let key = certificate.rsa_key()?;

    match &signed_data.signed_attributes {
        Some(attributes) => {
            let expected = message_digest(attributes)?;
            if !contents.iter().any(|c| hash.digest(c) == expected) {
                return Err(SignatureError::DigestMismatch);
            }
            // The signature covers the attributes encoded as a SET OF, not
            // with the [0] tag they carry inside SignerInfo.
            let mut der = attributes.raw.to_vec();
            der[0] = SET;
            key.verify(hash.pkcs1(), &hash.digest(&der), signed_data.signature)
                .map_err(|_| SignatureError::BadSignature)?;
        }
        None => {
            let ok = contents.iter().any(|c| {
                key.verify(hash.pkcs1(), &hash.digest(c), signed_data.signature)
                    .is_ok()
            });
            if !ok {
                return Err(SignatureError::ContentOrSignatureMismatch);
            }
        }
    }
    Ok(certificate)
}

// ---------------------------------------------------------------------------
// X.509

struct Certificate<'a> {
    raw: &'a [u8],
    issuer: &'a [u8],
    serial: &'a [u8],
    subject: Tlv<'a>,
    public_key: Tlv<'a>,
    key_id: Option<&'a [u8]>,
}

impl<'a> Certificate<'a> {
    fn parse(raw: &'a [u8]) -> Result<Certificate<'a>, Malformed> {
        let mut outer = Reader(raw);
        let mut certificate = outer.enter(SEQUENCE, "certificate")?;
        let mut tbs = certificate.enter(SEQUENCE, "certificate body")?;
        tbs.optional(CONTEXT_0, "certificate version")?;
        let serial = tbs.expect(INTEGER, "serial number")?.contents;
        tbs.expect(SEQUENCE, "certificate signature algorithm")?;
        let issuer = tbs.expect(SEQUENCE, "issuer")?.raw;
        tbs.expect(SEQUENCE, "validity")?;
        let subject = tbs.expect(SEQUENCE, "subject")?;
        let public_key = tbs.expect(SEQUENCE, "public key")?;
        let mut key_id = None;
        while !tbs.is_empty() {
            let field = tbs.next("certificate field")?;
            if field.tag == CONTEXT_3 {
                key_id = subject_key_id(field.contents)?;
            }
        }
        Ok(Certificate {
            raw,
            issuer,
            serial,
            subject,
            public_key,
            key_id,
        })
    }

    fn is_signer(&self, id: &SignerId<'_>) -> bool {
        match id {
            SignerId::IssuerAndSerial { issuer, serial } => {
                self.issuer == *issuer && self.serial == *serial
            }
            SignerId::KeyId(key_id) => self.key_id == Some(*key_id),
        }
    }

    fn rsa_key(&self) -> Result<RsaPublicKey, SignatureError> {
        let mut reader = Reader(self.public_key.contents);
        let algorithm = algorithm(&mut reader, "public key algorithm")
            .map_err(|Malformed(w)| SignatureError::Certificate(format!("the {w} is malformed")))?;
        if algorithm != [OID_PKCS1, &[1]].concat() {
            return Err(SignatureError::Unsupported(format!(
                "public key algorithm {}",
                algorithm_name(algorithm)
            )));
        }
        RsaPublicKey::from_public_key_der(self.public_key.raw).map_err(|_| {
            SignatureError::Certificate(
                "the RSA public key is malformed or larger than 8192 bits".into(),
            )
        })
    }

    fn publisher(&self) -> Result<String, SignatureError> {
        let parts = name_parts(self.subject.contents)
            .map_err(|Malformed(w)| SignatureError::Certificate(format!("the {w} is malformed")))?;
        let text = match parts.iter().rev().find(|(oid, _)| *oid == OID_COMMON_NAME) {
            Some((_, cn)) => cn.clone(),
            None => parts
                .iter()
                .rev()
                .map(|(oid, value)| format!("{}={value}", attribute_name(oid)))
                .collect::<Vec<_>>()
                .join(", "),
        };
        Ok(text
            .chars()
            .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
            .collect())
    }
}

/// The subjectKeyIdentifier among a certificate's `[3]` extensions.
fn subject_key_id(explicit: &[u8]) -> Result<Option<&[u8]>, Malformed> {
    let mut outer = Reader(explicit);
    let mut extensions = outer.enter(SEQUENCE, "extensions")?;
    while !extensions.is_empty() {
        let mut extension = extensions.enter(SEQUENCE, "extension")?;
        let oid = extension.expect(OID, "extension type")?.contents;
        extension.optional(0x01, "extension criticality")?;
        let value = extension.expect(OCTET_STRING, "extension value")?.contents;
        if oid == OID_SUBJECT_KEY_ID {
            return Ok(Some(
                Reader(value)
                    .expect(OCTET_STRING, "subject key identifier")?
                    .contents,
            ));
        }
    }
    Ok(None)
}

/// A Name's attributes in order: (OID contents, value as text).
fn name_parts(name: &[u8]) -> Result<Vec<(&[u8], String)>, Malformed> {
    let mut parts = Vec::new();
    let mut rdns = Reader(name);
    while !rdns.is_empty() {
        let mut rdn = rdns.enter(SET, "subject name")?;
        while !rdn.is_empty() {
            let mut pair = rdn.enter(SEQUENCE, "subject name")?;
            let oid = pair.expect(OID, "subject name")?.contents;
            let value = pair.next("subject name")?;
            parts.push((oid, string_value(&value)));
        }
    }
    Ok(parts)
}

/// Text of a directory string, whatever its ASN.1 string type.
fn string_value(value: &Tlv<'_>) -> String {
    let bytes = value.contents;
    match value.tag {
        // BMPString: UTF-16BE.
        0x1E => char::decode_utf16(
            bytes
                .chunks_exact(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]])),
        )
        .map(|c| c.unwrap_or('\u{FFFD}'))
        .collect(),
        // UniversalString: UTF-32BE.
        0x1C => bytes
            .chunks_exact(4)
            .map(|p| {
                char::from_u32(u32::from_be_bytes([p[0], p[1], p[2], p[3]])).unwrap_or('\u{FFFD}')
            })
            .collect(),
        // TeletexString: in practice Latin-1.
        0x14 => bytes.iter().map(|&b| char::from(b)).collect(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

fn attribute_name(oid: &[u8]) -> String {
    let short = match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x05] => "SERIALNUMBER",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "S",
        [0x55, 0x04, 0x09] => "STREET",
        [0x55, 0x04, 0x0A] => "O",
        [0x55, 0x04, 0x0B] => "OU",
        [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x01] => "E",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xF2, 0x2C, 0x64, 0x01, 0x19] => "DC",
        _ => return oid_text(oid),
    };
    short.into()
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
    fn der_reader_rejects_what_der_forbids() {
        let mut r = Reader(&[0x30, 0x03, 0x02, 0x01, 0x05, 0xFF]);
        let seq = r.next("x").unwrap();
        assert_eq!(seq.contents, [0x02, 0x01, 0x05]);
        assert_eq!(seq.raw.len(), 5);
        assert!(r.next("x").is_err(), "truncated");
        // Indefinite length, long form over 4 bytes, high tag numbers,
        // lengths past the end.
        for bad in [
            &[0x30, 0x80, 0x00, 0x00][..],
            &[0x30, 0x85, 1, 0, 0, 0, 0],
            &[0x1F, 0x01, 0x00],
            &[0x04, 0x82, 0xFF, 0xFF, 0x00],
            &[0x04],
        ] {
            assert!(Reader(bad).next("x").is_err(), "{bad:02X?}");
        }
        let mut long = vec![0x04, 0x82, 0x01, 0x00];
        long.resize(4 + 256, 7);
        assert_eq!(Reader(&long).next("x").unwrap().contents.len(), 256);
    }

    #[test]
    fn oids_print_dotted() {
        assert_eq!(oid_text(OID_SHA256), "2.16.840.1.101.3.4.2.1");
        assert_eq!(oid_text(OID_SHA1), "1.3.14.3.2.26");
        assert_eq!(oid_text(&[0x80]), "(invalid OID)");
        assert_eq!(oid_text(&[]), "(invalid OID)");
        assert_eq!(oid_text(&[0xFF; 20]), "(invalid OID)");
        assert_eq!(
            algorithm_name(&[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02]),
            "ECDSA with SHA-256 (1.2.840.10045.4.3.2)"
        );
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
