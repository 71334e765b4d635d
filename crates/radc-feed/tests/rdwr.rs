//! MS-RDWR answers: arbitrary bytes never panic the parser, and the files
//! of the specification's sample answer are what the `.rdp` parser reads.

use proptest::prelude::*;
use radc_feed::rdwr::{self, SessionKind};

const RESPONSE_4_2: &str = include_str!("data/rdwr/response_4_2.xml");

#[test]
fn spec_sessions_are_rdp_files() {
    let answer = rdwr::parse_response(200, RESPONSE_4_2.as_bytes()).unwrap();
    assert_eq!(answer.sessions.len(), 3);
    for session in &answer.sessions {
        let file = radc_rdp::RdpFile::parse(session.rdp.as_bytes()).unwrap();
        assert_eq!(
            file.get_str("full address"),
            Some("RDVB9-101180.rdvteam.stbtest.microsoft.com")
        );
        assert_eq!(
            file.get_str("remoteapplicationname").is_some(),
            session.kind == SessionKind::RemoteApp
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(status in prop_oneof![Just(200u16), Just(500u16), any::<u16>()],
                                body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = rdwr::parse_response(status, &body);
    }

    /// Mutations of a real answer (bytes replaced, cut short) are read or
    /// refused, never a panic, and whatever is read stays within the caps.
    #[test]
    fn mutated_answers_never_panic(cut in 0..RESPONSE_4_2.len(),
                                   edits in proptest::collection::vec((0..RESPONSE_4_2.len(), any::<u8>()), 0..8)) {
        let mut body = RESPONSE_4_2.as_bytes().to_vec();
        for (at, byte) in edits {
            body[at] = byte;
        }
        body.truncate(cut.max(1));
        if let Ok(answer) = rdwr::parse_response(200, &body) {
            prop_assert!(answer.sessions.len() <= rdwr::limits::MAX_FILES);
            for s in &answer.sessions {
                prop_assert!(s.rdp.len() <= rdwr::limits::MAX_FILE_BYTES);
            }
        }
    }

    /// Any text in a fault comes back without control or invisible
    /// characters and bounded.
    #[test]
    fn fault_text_is_clean(text in "\\PC{0,600}") {
        let escaped = text.replace('&', "&amp;").replace('<', "&lt;");
        let body = format!(
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Server</faultcode><faultstring>{escaped}</faultstring></s:Fault></s:Body></s:Envelope>"#
        );
        if let Err(e) = rdwr::parse_response(500, body.as_bytes()) {
            let message = e.to_string();
            prop_assert!(!message.chars().any(|c| c.is_control()));
            prop_assert!(radc_feed::text::strip_invisible(&message) == message);
            prop_assert!(message.chars().count() < 450);
        }
    }
}
