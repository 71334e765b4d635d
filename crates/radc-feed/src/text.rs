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
    if value.chars().any(is_invisible) {
        Cow::Owned(value.chars().filter(|&ch| !is_invisible(ch)).collect())
    } else {
        Cow::Borrowed(value)
    }
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
