//! Feeds arbitrary bytes to `radc_rdp::RdpFile::parse` and the signature
//! check: both must return, never panic.
//!
//! The same bytes are also used as the PKCS#7 inside the signature of a
//! signed sample file, so the fuzzer reaches the DER and certificate code
//! without having to discover the base64 and header wrapping first.
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use radc_rdp::signature::{Verdict, verify};
use radc_rdp::{RdpFile, Value};

const SIGNED: &[u8] = include_bytes!("../../crates/radc-rdp/tests/data/signed/app-sha256.rdp");

fn check(file: &RdpFile) {
    if let Ok(Verdict::Signed(signed)) = verify(file) {
        let covered = signed.covered(file);
        assert!(
            covered
                .settings
                .iter()
                .all(|s| { signed.scope.iter().any(|n| n.eq_ignore_ascii_case(&s.name)) })
        );
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = RdpFile::parse(data) {
        check(&file);
        // What is written back reads the same.
        let again = RdpFile::parse(file.to_string().as_bytes()).expect("written file parses");
        assert_eq!(again, file);
    }

    let mut file = RdpFile::parse(SIGNED).expect("sample parses");
    let mut blob = Vec::with_capacity(12 + data.len());
    blob.extend_from_slice(&0x0001_0001u32.to_le_bytes());
    blob.extend_from_slice(&1u32.to_le_bytes());
    blob.extend_from_slice(&(data.len() as u32).to_le_bytes());
    blob.extend_from_slice(data);
    let encoded = base64::engine::general_purpose::STANDARD.encode(blob);
    for setting in &mut file.settings {
        if setting.name.eq_ignore_ascii_case("signature") {
            setting.value = Value::Str(encoded.clone());
        }
    }
    check(&file);
});
