//! Errors of the runtime, each tied to the HRESULT a Windows client would see.

use std::fmt;

/// The kinds of failure the runtime reports. Each maps to one D-Bus error name
/// (`org.radc.Error.<Kind>`) and one HRESULT, so people porting Windows
/// clients recognise them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    InvalidArgs,
    NotFound,
    AccessDenied,
    Timeout,
    NotSupported,
    Failed,
    /// The person asked for something (a password) said no.
    Cancelled,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::InvalidArgs,
        ErrorKind::NotFound,
        ErrorKind::AccessDenied,
        ErrorKind::Timeout,
        ErrorKind::NotSupported,
        ErrorKind::Failed,
        ErrorKind::Cancelled,
    ];

    /// The HRESULT that `IWorkspace*` methods return for this kind of failure.
    pub const fn hresult(self) -> u32 {
        match self {
            ErrorKind::InvalidArgs => 0x8007_0057,  // E_INVALIDARG
            ErrorKind::NotFound => 0x8007_0490,     // HRESULT_FROM_WIN32(ERROR_NOT_FOUND)
            ErrorKind::AccessDenied => 0x8007_0005, // E_ACCESSDENIED
            ErrorKind::Timeout => 0x8007_05B4,      // HRESULT_FROM_WIN32(ERROR_TIMEOUT)
            ErrorKind::NotSupported => 0x8000_4001, // E_NOTIMPL
            ErrorKind::Failed => 0x8000_4005,       // E_FAIL
            ErrorKind::Cancelled => 0x8007_04C7,    // HRESULT_FROM_WIN32(ERROR_CANCELLED)
        }
    }

    /// The last component of the D-Bus error name.
    pub const fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgs => "InvalidArgs",
            ErrorKind::NotFound => "NotFound",
            ErrorKind::AccessDenied => "AccessDenied",
            ErrorKind::Timeout => "Timeout",
            ErrorKind::NotSupported => "NotSupported",
            ErrorKind::Failed => "Failed",
            ErrorKind::Cancelled => "Cancelled",
        }
    }

    /// The kind whose HRESULT is `hresult`, if it is one of ours.
    pub fn from_hresult(hresult: u32) -> Option<ErrorKind> {
        Self::ALL.into_iter().find(|k| k.hresult() == hresult)
    }
}

/// A failure with its kind and a message for a person.
///
/// `Display` renders `0x80070057: <message>`: the form used for D-Bus error
/// messages, so the HRESULT always comes first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RuntimeError {
    pub kind: ErrorKind,
    pub message: String,
}

impl RuntimeError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn invalid_args(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgs, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::AccessDenied, message)
    }

    pub fn not_supported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotSupported, message)
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Failed, message)
    }

    pub fn cancelled(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Cancelled, message)
    }
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08X}: {}", self.kind.hresult(), self.message)
    }
}

/// Splits a message of the form `0x80070057: text` into its HRESULT and text.
pub fn split_hresult(message: &str) -> Option<(u32, &str)> {
    let rest = message
        .strip_prefix("0x")
        .or_else(|| message.strip_prefix("0X"))?;
    let hex = rest
        .get(..8)
        .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))?;
    let code = u32::from_str_radix(hex, 16).ok()?;
    let text = rest[8..]
        .strip_prefix(':')
        .unwrap_or(&rest[8..])
        .trim_start();
    Some((code, text))
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_starts_with_the_hresult() {
        let e = RuntimeError::invalid_args("workspace id is empty");
        assert_eq!(e.to_string(), "0x80070057: workspace id is empty");
        let e = RuntimeError::new(ErrorKind::Timeout, "x");
        assert_eq!(e.to_string(), "0x800705B4: x");
    }

    #[test]
    fn hresults_round_trip() {
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_hresult(kind.hresult()), Some(kind));
            let text = RuntimeError::new(kind, "m").to_string();
            assert_eq!(split_hresult(&text), Some((kind.hresult(), "m")));
        }
        assert_eq!(split_hresult("no code"), None);
        assert_eq!(split_hresult("0x+8007005: signed"), None);
    }
}
