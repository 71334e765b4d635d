//! Signature verification against files signed by an independent signer
//! (`tests/sign_rdp.py`, which drives `openssl cms`). The fixtures and how
//! they were made are in `tests/data/signed/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use proptest::prelude::*;
use radc_rdp::signature::{SignatureError, Signed, Verdict, verify};
use radc_rdp::{RdpFile, Setting, Value};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/signed")
}

fn fixture(name: &str) -> RdpFile {
    let bytes = std::fs::read(data_dir().join(name)).unwrap();
    RdpFile::parse(&bytes).unwrap()
}

/// `openssl x509 -fingerprint` output (`sha1 Fingerprint=AB:CD:...`) as bytes.
fn fingerprint(text: &str) -> Vec<u8> {
    let hex = text.trim().rsplit('=').next().unwrap().replace(':', "");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn recorded(name: &str) -> Vec<u8> {
    fingerprint(&std::fs::read_to_string(data_dir().join(name)).unwrap())
}

fn signed(file: &RdpFile) -> Signed {
    match verify(file) {
        Ok(Verdict::Signed(s)) => s,
        other => panic!("expected a valid signature, got {other:?}"),
    }
}

const SCOPE: [&str; 12] = [
    "full address",
    "alternate full address",
    "server port",
    "gatewayhostname",
    "gatewayusagemethod",
    "alternate shell",
    "remoteapplicationprogram",
    "remoteapplicationmode",
    "remoteapplicationname",
    "prompt for credentials",
    "redirectclipboard",
    "drivestoredirect",
];

#[test]
fn sha256_signature_verifies_and_names_the_signer() {
    let file = fixture("app-sha256.rdp");
    let s = signed(&file);
    assert_eq!(s.publisher, "Contoso RDP Publisher");
    assert_eq!(s.sha1_thumbprint.to_vec(), recorded("signer.sha1"));
    assert_eq!(s.sha256_thumbprint.to_vec(), recorded("signer.sha256"));
    assert_eq!(s.scope, SCOPE);

    let covered = s.covered(&file);
    let names: Vec<&str> = covered.settings.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.len(), SCOPE.len());
    for name in SCOPE {
        assert!(names.contains(&name), "{name} covered");
    }
    assert_eq!(covered.get_str("full address"), Some("rdsh1.contoso.test"));
    for unsigned in [
        "screen mode id",
        "x-custom setting",
        "signature",
        "signscope",
    ] {
        assert!(covered.get(unsigned).is_none(), "{unsigned} not covered");
    }
}

/// Some tools write `.rdp` files as UTF-16BE with a byte-order mark. What
/// rdpsign signs is UTF-16LE text whatever the file's encoding, so the same
/// signed file re-encoded still verifies, with the same signer and scope.
#[test]
fn utf16be_file_reads_and_verifies() {
    let bytes = std::fs::read(data_dir().join("app-sha256-utf16be.rdp")).unwrap();
    assert_eq!(&bytes[..2], [0xFE, 0xFF], "UTF-16BE with BOM");
    let file = RdpFile::parse(&bytes).unwrap();
    assert_eq!(file, fixture("app-sha256.rdp"));
    let s = signed(&file);
    assert_eq!(s.sha256_thumbprint.to_vec(), recorded("signer.sha256"));
    assert_eq!(s.scope, SCOPE);
    assert_eq!(
        s.covered(&file).get_str("full address"),
        Some("rdsh1.contoso.test")
    );
}

/// A signature made by Microsoft's own tools: the RemoteApp sample of
/// [MS-RDWR] section 4.2 (SHA-1, no signed attributes). The sample prints
/// the host as RDVB9-101180, but the signature was made for RDVB9-101184,
/// the host its certificate names; the fixture uses the latter.
#[test]
fn signature_made_by_windows_verifies() {
    let file = fixture("ms-rdwr-sample.rdp");
    let s = signed(&file);
    assert_eq!(s.publisher, "RDVB9-101184.rdvteam.stbtest.microsoft.com");
    assert_eq!(
        s.sha1_thumbprint.to_vec(),
        fingerprint("sha1 Fingerprint=2F:02:BB:5F:D0:38:F4:D3:AC:8A:E9:88:C8:7B:08:BB:FB:9B:7C:D3")
    );
    assert_eq!(s.scope.len(), 22);
    assert_eq!(s.scope[0], "full address");
    assert_eq!(
        s.covered(&file).get_str("remoteapplicationprogram"),
        Some("||cmd")
    );

    // As printed in the specification, it does not verify.
    let mut printed = file.clone();
    for name in ["full address", "alternate full address"] {
        set(
            &mut printed,
            name,
            Value::Str("RDVB9-101180.rdvteam.stbtest.microsoft.com".into()),
        );
    }
    assert_eq!(
        verify(&printed),
        Err(SignatureError::ContentOrSignatureMismatch)
    );
}

#[test]
fn sha1_signature_verifies() {
    let s = signed(&fixture("app-sha1.rdp"));
    assert_eq!(s.sha1_thumbprint.to_vec(), recorded("signer.sha1"));
}

#[test]
fn signature_without_signed_attributes_verifies() {
    let file = fixture("app-noattr.rdp");
    assert_eq!(signed(&file).publisher, "Contoso RDP Publisher");

    // Without attributes, a changed value and a broken signature look alike.
    let mut changed = file.clone();
    set(&mut changed, "server port", Value::Int(3390));
    assert_eq!(
        verify(&changed),
        Err(SignatureError::ContentOrSignatureMismatch)
    );
}

#[test]
fn changed_signed_value_is_refused() {
    assert_eq!(
        verify(&fixture("tampered-value.rdp")),
        Err(SignatureError::DigestMismatch)
    );
    let mut file = fixture("app-sha256.rdp");
    set(
        &mut file,
        "remoteapplicationprogram",
        Value::Str("||cmd".into()),
    );
    assert_eq!(verify(&file), Err(SignatureError::DigestMismatch));
    // The scope itself is signed: dropping a name from it breaks the digest.
    let mut file = fixture("app-sha256.rdp");
    let scope = file
        .get_str("signscope")
        .unwrap()
        .replace(",Server Port", "");
    set(&mut file, "signscope", Value::Str(scope));
    assert_eq!(verify(&file), Err(SignatureError::DigestMismatch));
}

#[test]
fn changed_signature_bytes_are_refused() {
    assert_eq!(
        verify(&fixture("tampered-signature.rdp")),
        Err(SignatureError::BadSignature)
    );
}

#[test]
fn added_unsigned_setting_keeps_the_signature_but_is_not_covered() {
    let file = fixture("added-setting.rdp");
    assert_eq!(file.get_str("username"), Some("CONTOSO\\mallory"));
    let s = signed(&file);
    assert!(s.covered(&file).get("username").is_none());
}

#[test]
fn repeated_signed_setting_is_refused() {
    let mut file = fixture("app-sha256.rdp");
    file.settings.push(Setting {
        name: "full address".into(),
        value: Value::Str("evil.example.test".into()),
    });
    assert_eq!(
        verify(&file),
        Err(SignatureError::Duplicate("full address".into()))
    );
}

#[test]
fn unsigned_file_is_unsigned() {
    assert_eq!(verify(&fixture("app.rdp")), Ok(Verdict::Unsigned));
}

#[test]
fn malformed_signatures_are_named() {
    let base = fixture("app-sha256.rdp");
    let der = signature_der(&base);
    type Check = fn(&SignatureError) -> bool;
    let cases: Vec<(String, Check)> = vec![
        ("not base64!".into(), |e| *e == SignatureError::Base64),
        (encode(&[1, 0, 1, 0]), |e| {
            matches!(e, SignatureError::Header(_))
        }),
        (encode(&with_header(&der[..der.len() - 1])), |e| {
            matches!(e, SignatureError::Pkcs7(_))
        }),
        (encode(&with_header(b"\x30\x00")), |e| {
            matches!(e, SignatureError::Pkcs7(_))
        }),
    ];
    for (value, expected) in cases {
        let mut file = base.clone();
        set(&mut file, "signature", Value::Str(value.clone()));
        let err = verify(&file).unwrap_err();
        assert!(expected(&err), "{value:.40}: {err}");
    }
}

/// Signs `input` into `output` with `tests/sign_rdp.py`.
fn sign_with_script(cert: &Path, key: &Path, extra: &[&str], input: &Path, output: &Path) {
    let status = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sign_rdp.py"))
        .arg("--cert")
        .arg(cert)
        .arg("--key")
        .arg(key)
        .args(extra)
        .arg(input)
        .arg(output)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "sign_rdp.py {extra:?} {}",
        input.display()
    );
}

/// A self-signed certificate and its key, made by openssl in `dir` as
/// `NAME.pem` and `NAME.key`; `new_key` follows `-newkey`.
fn self_signed(dir: &Path, name: &str, new_key: &[&str], subject: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    let openssl = Command::new("openssl")
        .args(["req", "-x509", "-nodes", "-days", "30", "-newkey"])
        .args(new_key)
        .args(["-subj", subject, "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(openssl.status.success(), "{openssl:?}");
    (cert, key)
}

/// Signs a freshly written file with the script at test time, so the
/// script and the verifier are checked against each other on every run.
#[test]
fn files_signed_by_the_script_verify() {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sign-rdp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    // Windows-style capitalised names, non-ASCII text, an unsigned extra.
    let text = format!(
        "Full Address:s:host-{nonce}.example.test\r\nServer Port:i:3390\r\n\
         remoteapplicationprogram:s:||app{nonce}\r\nremoteapplicationname:s:Bücher ✓\r\n\
         desktopwidth:i:1280\r\n"
    );
    let input = dir.join("in.rdp");
    std::fs::write(&input, text).unwrap();
    let cert = data_dir().join("signer.pem");
    let key = data_dir().join("signer.key");

    for (name, extra) in [
        ("sha256", &[][..]),
        ("sha1", &["--md", "sha1"][..]),
        ("sha384", &["--md", "sha384"][..]),
        (
            "sha512-noattr",
            &["--md", "sha512", "--no-attributes", "--no-wrap"][..],
        ),
    ] {
        let output = dir.join(format!("{name}.rdp"));
        sign_with_script(&cert, &key, extra, &input, &output);
        let bytes = std::fs::read(&output).unwrap();
        assert_eq!(&bytes[..2], [0xFF, 0xFE], "UTF-16LE with BOM");
        let file = RdpFile::parse(&bytes).unwrap();
        let s = signed(&file);
        assert_eq!(
            s.scope,
            [
                "full address",
                "alternate full address",
                "server port",
                "remoteapplicationprogram",
                "remoteapplicationname"
            ],
            "{name}"
        );
        let covered = s.covered(&file);
        assert_eq!(
            covered.get_str("alternate full address"),
            Some(format!("host-{nonce}.example.test").as_str())
        );
        assert!(covered.get("desktopwidth").is_none());
    }

    let openssl = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha1", "-in"])
        .arg(&cert)
        .output()
        .unwrap();
    assert!(openssl.status.success());
    let s = signed(&RdpFile::parse(&std::fs::read(dir.join("sha256.rdp")).unwrap()).unwrap());
    assert_eq!(
        s.sha1_thumbprint.to_vec(),
        fingerprint(&String::from_utf8(openssl.stdout).unwrap())
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A signature by an RSA key too small to mean anything is refused as
/// unsupported, naming the size, even though it is correct.
#[test]
fn keys_under_1024_bits_are_refused() {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("small-key-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = self_signed(&dir, "small", &["rsa:512"], "/CN=Small key");
    let input = dir.join("in.rdp");
    std::fs::write(&input, "full address:s:host.example.test\r\n").unwrap();
    let output = dir.join("out.rdp");
    sign_with_script(&cert, &key, &[], &input, &output);
    let file = RdpFile::parse(&std::fs::read(&output).unwrap()).unwrap();
    let err = verify(&file).unwrap_err();
    assert!(matches!(err, SignatureError::Unsupported(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the signature uses an unsupported RSA key of 512 bits with SHA-256 (at least 1024 are needed)"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// rdpsign signs with RSA; other key types get a clear "unsupported" error.
#[test]
fn ecdsa_signature_is_unsupported() {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sign-rdp-ec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = self_signed(
        &dir,
        "ec",
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/CN=EC publisher",
    );
    let output = dir.join("ec.rdp");
    sign_with_script(&cert, &key, &[], &data_dir().join("app.rdp"), &output);
    let file = RdpFile::parse(&std::fs::read(&output).unwrap()).unwrap();
    let err = verify(&file).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the signature uses an unsupported signature algorithm ECDSA with SHA-256 \
         (1.2.840.10045.4.3.2) with SHA-256 (only RSA PKCS#1 v1.5 is supported)"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn set(file: &mut RdpFile, name: &str, value: Value) {
    let setting = file
        .settings
        .iter_mut()
        .find(|s| s.name.eq_ignore_ascii_case(name))
        .unwrap();
    setting.value = value;
}

fn signature_der(file: &RdpFile) -> Vec<u8> {
    let text: String = file
        .get_str("signature")
        .unwrap()
        .split_whitespace()
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap();
    bytes[12..].to_vec()
}

fn with_header(der: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0x0001_0001u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&(der.len() as u32).to_le_bytes());
    out.extend_from_slice(der);
    out
}

fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

proptest! {
    #[test]
    fn arbitrary_signature_and_scope_never_panic(
        signature in "[A-Za-z0-9+/= \\-]{0,200}",
        scope in "[A-Za-z ,]{0,60}",
    ) {
        let mut file = fixture("app-sha256.rdp");
        set(&mut file, "signature", Value::Str(signature));
        set(&mut file, "signscope", Value::Str(scope));
        let _ = verify(&file);
    }

    #[test]
    fn arbitrary_pkcs7_never_panics(der in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut file = fixture("app-sha256.rdp");
        set(&mut file, "signature", Value::Str(encode(&with_header(&der))));
        prop_assert!(!matches!(verify(&file), Ok(Verdict::Signed(_))));
    }

    /// Damaging any one byte of a real signature never panics; where it
    /// hits something checked, verification fails.
    #[test]
    fn damaged_real_signature_never_panics(index in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut file = fixture("app-sha256.rdp");
        let mut der = signature_der(&file);
        let i = index.index(der.len());
        der[i] = byte;
        set(&mut file, "signature", Value::Str(encode(&with_header(&der))));
        let _ = verify(&file);
    }
}
