//! Any bytes: an error or a file, never a panic; any file written back
//! reads the same.

use proptest::prelude::*;
use radc_rdp::{RdpFile, Setting, Value};

fn arb_setting() -> impl Strategy<Value = Setting> {
    let name = "[a-zA-Z][a-zA-Z0-9 _-]{0,20}[a-zA-Z0-9]";
    let value = prop_oneof![
        any::<i64>().prop_map(Value::Int),
        "[^\\p{Cc}]{0,40}".prop_map(Value::Str),
        prop::collection::vec(any::<u8>(), 0..20).prop_map(Value::Binary),
    ];
    (name, value).prop_map(|(name, value)| Setting { name, value })
}

proptest! {
    #[test]
    fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = RdpFile::parse(&bytes);
    }

    #[test]
    fn never_panics_on_text(text in "([a-z ]{0,8}:[isbq]?:[^\\n]{0,12}\\n){0,8}") {
        let _ = RdpFile::parse(text.as_bytes());
    }

    #[test]
    fn written_files_read_back(settings in prop::collection::vec(arb_setting(), 0..12)) {
        let file = RdpFile { settings };
        let again = RdpFile::parse(file.to_string().as_bytes()).unwrap();
        prop_assert_eq!(again, file);
    }
}
