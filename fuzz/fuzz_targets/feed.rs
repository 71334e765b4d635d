//! Feeds arbitrary bytes to `radc_feed::parse`: it must return, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let base = url::Url::parse("https://rdweb.example.test/RDWeb/Feed/webfeed.aspx")
        .expect("constant URL");
    if let Ok(feed) = radc_feed::parse(data, &base) {
        // Everything kept must satisfy the documented guarantees.
        for resource in &feed.resources {
            assert!(!resource.id.is_empty());
            assert!(!resource.id.chars().any(char::is_control));
        }
    }
});
