//! Which characters of a feed's text are kept.
//!
//! A title is shown in menus, notifications, tray tooltips, window titles
//! and terminals. Characters that change how the text around them is shown
//! without showing themselves let a server make a name look like something
//! else: `Invoice\u{202E}gpj.exe` (a right-to-left override) is displayed
//! as "Invoiceexe.jpg", and `Cal\u{200B}culator` looks like "Calculator"
//! while being a different string. [`strip_invisible`] removes them; the
//! parser applies it to every string it keeps, before trimming and before
//! the other checks, so nothing downstream has to.
//!
//! What is removed is every character of Unicode general category Cf
//! ("format"), which is where all of these live:
//!
//! - the bidirectional controls: embeddings and overrides U+202A–U+202E,
//!   isolates U+2066–U+2069, the marks U+200E, U+200F and U+061C;
//! - zero-width characters: U+200B–U+200D, U+2060–U+2064, U+FEFF, U+180E;
//! - the soft hyphen U+00AD, tag characters U+E0001–U+E007F, interlinear
//!   annotation U+FFF9–U+FFFB, and the rest of the category.
//!
//! The category comes from the `unicode-properties` tables rather than a
//! list kept here, so characters added to Cf by new Unicode versions are
//! covered by updating the dependency. The characters named above are also
//! matched explicitly, so they stay removed whatever a table says.
//!
//! Removing a zero-width joiner also breaks the emoji sequences and the
//! Indic conjuncts built with it; a name shown slightly differently is a
//! better failure than a name that lies.

use std::borrow::Cow;

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// `value` without bidirectional controls and invisible (general category
/// Cf) characters. Borrows when there is nothing to remove, which is the
/// common case. Idempotent: the result has nothing left to remove.
///
/// ```
/// use radc_feed::text::strip_invisible;
/// assert_eq!(strip_invisible("Invoice\u{202E}gpj.exe"), "Invoicegpj.exe");
/// assert_eq!(strip_invisible("Cal\u{200B}cu\u{200D}la\u{FEFF}tor"), "Calculator");
/// assert!(matches!(strip_invisible("Notes"), std::borrow::Cow::Borrowed("Notes")));
/// ```
pub fn strip_invisible(value: &str) -> Cow<'_, str> {
    // No ASCII character is in category Cf (checked by a test over all
    // 128), and ASCII is what almost every feed value is: a byte scan
    // decides it without decoding characters or looking anything up.
    if value.is_ascii() {
        return Cow::Borrowed(value);
    }
    strip_invisible_by_char(value)
}

/// [`strip_invisible`] without the ASCII shortcut: the rule itself.
fn strip_invisible_by_char(value: &str) -> Cow<'_, str> {
    if value.chars().any(is_invisible) {
        Cow::Owned(value.chars().filter(|&ch| !is_invisible(ch)).collect())
    } else {
        Cow::Borrowed(value)
    }
}

/// The first control character (Unicode category Cc: U+0000–U+001F and
/// U+007F–U+009F) in `value`, if any.
///
/// Cc characters are U+0000–U+001F and U+007F (one byte each in UTF-8) and
/// U+0080–U+009F (encoded as 0xC2 followed by 0x80–0x9F). A value with
/// none of those bytes has no control character, which is decided by one
/// scan over bytes; only a value with such a byte is decoded.
pub(crate) fn first_control(value: &str) -> Option<char> {
    // Or-ing over fixed chunks (rather than stopping at the first hit)
    // lets the compiler compare many bytes per instruction.
    let suspect = value.as_bytes().chunks(64).any(|chunk| {
        chunk.iter().fold(false, |found, &byte| {
            found | (byte < 0x20) | (byte == 0x7F) | (byte == 0xC2)
        })
    });
    if !suspect {
        return None;
    }
    first_control_by_char(value)
}

/// True when every byte of `value` is printable ASCII (0x20–0x7E).
///
/// Such a value has nothing for [`strip_invisible`] to remove (no ASCII
/// character is in category Cf), no control character for
/// [`first_control`] to find, and no white space but the plain space for
/// `str::trim` to remove. That is what almost every feed value is, and one
/// scan decides it instead of one scan per rule.
pub(crate) fn is_printable_ascii(value: &str) -> bool {
    // Or-ing over fixed chunks (rather than stopping at the first hit)
    // lets the compiler compare many bytes per instruction.
    !value.as_bytes().chunks(64).any(|chunk| {
        chunk.iter().fold(false, |found, &byte| {
            found | (byte.wrapping_sub(0x20) >= 0x5F)
        })
    })
}

/// [`first_control`] without the byte shortcut: the rule itself.
fn first_control_by_char(value: &str) -> Option<char> {
    value.chars().find(|ch| ch.is_control())
}

fn is_invisible(ch: char) -> bool {
    // No ASCII character is Cf; this keeps the common case off the table
    // lookup.
    !ch.is_ascii()
        && (matches!(
            ch,
            '\u{00AD}'
                | '\u{061C}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{E0001}'..='\u{E007F}'
        ) || ch.general_category() == GeneralCategory::Format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_ascii_character_is_invisible_or_a_format_character() {
        // What the ASCII shortcut of `strip_invisible` rests on.
        for byte in 0..=0x7Fu8 {
            let ch = char::from(byte);
            assert!(!is_invisible(ch), "U+{byte:04X}");
            assert_ne!(ch.general_category(), GeneralCategory::Format);
        }
    }

    #[test]
    fn control_characters_are_exactly_the_bytes_the_shortcut_looks_for() {
        // What the byte shortcut of `first_control` rests on: every Cc
        // character's UTF-8 starts with a byte below 0x20, 0x7F or 0xC2.
        for ch in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let mut buffer = [0; 4];
            let first = ch.encode_utf8(&mut buffer).as_bytes()[0];
            if ch.is_control() {
                assert!(first < 0x20 || first == 0x7F || first == 0xC2, "{ch:?}");
            }
        }
        assert_eq!(first_control("a\u{85}b"), Some('\u{85}'));
        assert_eq!(first_control("\u{A0}\u{9F}"), Some('\u{9F}'));
        assert_eq!(first_control("Caf\u{E9} \u{FF}"), None);
        assert_eq!(first_control("a\u{7F}"), Some('\u{7F}'));
        assert_eq!(first_control("tab\there"), Some('\t'));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2048, ..Default::default() })]

        /// The shortcuts give the same answer as the rules themselves, for
        /// any string and for strings built from the characters near the
        /// edges (ASCII, C1 controls, Latin-1, the Cf characters).
        #[test]
        fn shortcuts_agree_with_the_rules(
            any in proptest::prelude::any::<String>(),
            near in proptest::collection::vec(proptest::prop_oneof![
                0x00u32..0x100,
                0x2000u32..0x2070,
                proptest::prelude::Just(0xFEFFu32),
                0xE0000u32..0xE0080,
            ], 0..24),
            ascii in "[\\x00-\\x7F]{0,80}",
        ) {
            let near: String = near.into_iter().filter_map(char::from_u32).collect();
            for value in [any.as_str(), near.as_str(), ascii.as_str()] {
                proptest::prop_assert_eq!(strip_invisible(value), strip_invisible_by_char(value));
                proptest::prop_assert_eq!(
                    matches!(strip_invisible(value), Cow::Borrowed(_)),
                    matches!(strip_invisible_by_char(value), Cow::Borrowed(_))
                );
                proptest::prop_assert_eq!(first_control(value), first_control_by_char(value));
                if is_printable_ascii(value) {
                    // What the parser's shortcut rests on.
                    proptest::prop_assert!(matches!(strip_invisible_by_char(value), Cow::Borrowed(_)));
                    proptest::prop_assert_eq!(first_control_by_char(value), None);
                    proptest::prop_assert_eq!(value.trim(), value.trim_ascii());
                }
                proptest::prop_assert_eq!(
                    is_printable_ascii(value),
                    value.bytes().all(|byte| (0x20..0x7F).contains(&byte))
                );
            }
        }
    }

    #[test]
    fn named_characters_are_removed() {
        for ch in [
            '\u{202A}',
            '\u{202B}',
            '\u{202C}',
            '\u{202D}',
            '\u{202E}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{200E}',
            '\u{200F}',
            '\u{061C}',
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{2060}',
            '\u{2061}',
            '\u{2062}',
            '\u{2063}',
            '\u{2064}',
            '\u{FEFF}',
            '\u{180E}',
            '\u{00AD}',
            '\u{E0001}',
            '\u{E0020}',
            '\u{E007F}',
            '\u{FFF9}',
            '\u{FFFA}',
            '\u{FFFB}',
        ] {
            let value = format!("a{ch}b");
            assert_eq!(strip_invisible(&value), "ab", "U+{:04X}", ch as u32);
        }
    }

    #[test]
    fn other_format_characters_are_removed() {
        // Cf characters outside the named groups: Arabic number sign,
        // Syriac abbreviation mark, Egyptian hieroglyph format controls,
        // shorthand format controls, musical symbol beams.
        for ch in [
            '\u{0600}',
            '\u{070F}',
            '\u{13430}',
            '\u{1BCA0}',
            '\u{1D173}',
        ] {
            let value = format!("x{ch}y");
            assert_eq!(strip_invisible(&value), "xy", "U+{:04X}", ch as u32);
        }
    }

    #[test]
    fn visible_text_is_borrowed_unchanged() {
        for value in [
            "",
            "Notes",
            "Café 漢字",
            "עברית",
            "مرحبا",
            "/Office/Tools",
            "a b",
        ] {
            let kept = strip_invisible(value);
            assert!(matches!(kept, Cow::Borrowed(_)), "{value:?}");
            assert_eq!(kept, value);
        }
    }

    #[test]
    fn whitespace_and_controls_are_left_to_the_caller() {
        // Trimming and refusing control characters are the parser's rules;
        // this function must not hide a control character by removing it.
        assert_eq!(strip_invisible(" a\u{200B} "), " a ");
        assert_eq!(strip_invisible("a\nb\u{1B}"), "a\nb\u{1B}");
    }
}
