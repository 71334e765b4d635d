//! Feeds arbitrary bytes to `radc_feed::parse`: it must return, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use radc_feed::limits::{MAX_ICONS_PER_RESOURCE, MAX_RESOURCES};
use radc_feed::text::strip_invisible;

/// A kept string must already be free of what the parser removes and
/// refuses.
fn assert_clean(value: &str) {
    assert!(!value.chars().any(char::is_control));
    assert_eq!(strip_invisible(value), value);
}

fuzz_target!(|data: &[u8]| {
    let base = url::Url::parse("https://rdweb.example.test/RDWeb/Feed/webfeed.aspx")
        .expect("constant URL");
    if let Ok(feed) = radc_feed::parse(data, &base) {
        // Everything kept must satisfy the documented guarantees.
        assert!(feed.resources.len() <= MAX_RESOURCES);
        assert_clean(&feed.publisher.id);
        if let Some(name) = &feed.publisher.name {
            assert_clean(name);
        }
        for resource in &feed.resources {
            assert!(!resource.id.is_empty());
            assert_clean(&resource.id);
            assert!(!resource.title.is_empty());
            assert_clean(&resource.title);
            for folder in &resource.folders {
                assert_clean(folder);
            }
            let icons = resource.icons.len()
                + resource
                    .file_extensions
                    .iter()
                    .map(|extension| {
                        assert_clean(&extension.name);
                        extension.icons.len()
                    })
                    .sum::<usize>();
            assert!(icons <= MAX_ICONS_PER_RESOURCE);
        }
    }
});
