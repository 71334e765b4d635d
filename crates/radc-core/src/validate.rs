//! Checks for strings that arrive from other processes.
//!
//! Every string a D-Bus caller or a custom client hands the runtime passes one
//! of these before it is stored, so the rest of the core can rely on bounded,
//! printable text.

use crate::error::{Result, RuntimeError};

/// Longest workspace id accepted, in bytes. Real ids are GUIDs or host names.
pub const MAX_WORKSPACE_ID_LEN: usize = 256;
/// Longest display name (of a workspace or a resource), in bytes.
pub const MAX_DISPLAY_NAME_LEN: usize = 1024;
/// Longest free-form message (log messages, error message types), in bytes.
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Longest user name, in bytes.
pub const MAX_USER_LEN: usize = 512;
/// Longest password, in bytes.
pub const MAX_PASSWORD_LEN: usize = 4096;

/// A non-empty, bounded, single-line identifier such as a workspace id.
pub fn identifier<'a>(what: &str, value: &'a str, max: usize) -> Result<&'a str> {
    if value.is_empty() {
        return Err(RuntimeError::invalid_args(format!("{what} is empty")));
    }
    bounded(what, value, max)?;
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(RuntimeError::invalid_args(format!(
            "{what} contains the control character U+{:04X}",
            c as u32
        )));
    }
    Ok(value)
}

pub fn workspace_id(value: &str) -> Result<&str> {
    identifier("workspace id", value, MAX_WORKSPACE_ID_LEN)
}

pub fn display_name<'a>(what: &str, value: &'a str) -> Result<&'a str> {
    identifier(what, value, MAX_DISPLAY_NAME_LEN)
}

/// A string that may be empty but not longer than `max` bytes.
pub fn bounded<'a>(what: &str, value: &'a str, max: usize) -> Result<&'a str> {
    if value.len() > max {
        return Err(RuntimeError::invalid_args(format!(
            "{what} is {} bytes long; the limit is {max}",
            value.len()
        )));
    }
    Ok(value)
}

/// Text made safe for one log line: control characters (newlines included)
/// are escaped, so a caller cannot forge extra log entries.
pub fn for_log(value: &str) -> String {
    value.escape_debug().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn rejects_empty_long_and_control() {
        assert_eq!(
            workspace_id("").unwrap_err().message,
            "workspace id is empty"
        );
        let long = "a".repeat(MAX_WORKSPACE_ID_LEN + 1);
        let e = workspace_id(&long).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgs);
        assert!(e.message.contains("257 bytes"), "{}", e.message);
        let e = workspace_id("a\nb").unwrap_err();
        assert!(e.message.contains("U+000A"), "{}", e.message);
        assert_eq!(
            workspace_id("rdweb.example.com").unwrap(),
            "rdweb.example.com"
        );
    }

    #[test]
    fn log_text_stays_on_one_line() {
        assert_eq!(for_log("a\nb\u{1b}[31m"), "a\\nb\\u{1b}[31m");
    }
}
