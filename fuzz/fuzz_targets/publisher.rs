//! Runs `radc_rdp::publisher::check` on arbitrary certificates: it must
//! return a verdict, never panic, whatever a signature carries and
//! whatever a system store holds.
//!
//! The certificates are those of a real chain (root, intermediate,
//! signer, from `crates/radc-rdp/tests/data/signed/chains`); the input
//! replaces one of them or overwrites part of it, so the fuzzer reaches
//! path building and the extension checks without having to discover DER
//! first. A `Signed` is built directly: going through `signature::verify`
//! would need a valid RSA signature over every mutated certificate.
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use radc_rdp::publisher;
use radc_rdp::signature::Signed;

fn der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("fixture PEM")
}

/// 2026-11-30, when the fixture chain is valid.
const NOW: u64 = 1_795_996_800;

fuzz_target!(|data: &[u8]| {
    let [how, which, at_hi, at_lo, rest @ ..] = data else {
        return;
    };
    let mut certs = [
        der(include_str!(
            "../../crates/radc-rdp/tests/data/signed/chains/publisher.pem"
        )),
        der(include_str!(
            "../../crates/radc-rdp/tests/data/signed/chains/intermediate.pem"
        )),
        der(include_str!(
            "../../crates/radc-rdp/tests/data/signed/chains/root.pem"
        )),
    ];
    let target = &mut certs[usize::from(*which) % 3];
    if how & 1 == 0 {
        // A certificate of the fuzzer's own.
        *target = rest.to_vec();
    } else {
        // The real one with bytes overwritten from an offset (and grown if
        // they run past its end).
        let at = usize::from(u16::from_be_bytes([*at_hi, *at_lo])) % (target.len() + 1);
        let end = at + rest.len();
        if end > target.len() {
            target.resize(end, 0);
        }
        target[at..end].copy_from_slice(rest);
    }
    // Also at times outside every certificate's validity.
    let now = match how >> 1 & 3 {
        0 => NOW,
        1 => 0,
        2 => u64::MAX,
        _ => u64::from_be_bytes([*at_hi, *at_lo, 0, 0, 0, 0, 0, 0]),
    };
    let [signer, intermediate, root] = certs;
    let signed = Signed {
        publisher: String::new(),
        sha1_thumbprint: [0; 20],
        sha256_thumbprint: [0; 32],
        scope: Vec::new(),
        certificate: signer,
        // The root travels too, as some publishers ship it: it must count
        // for nothing unless it is also among the roots.
        other_certificates: vec![intermediate, root.clone()],
    };
    let verdict = publisher::check(&signed, &[root], now);
    if how & 7 == 1 && rest.is_empty() {
        // Nothing was changed: the chain holds.
        assert!(verdict.is_verified(), "{verdict:?}");
    }
});
