//! Errors on the wire and in the SDK.

use radc_core::{ErrorKind, RuntimeError};
use zbus::DBusError;

/// A D-Bus error reply of the radc contract: the name is
/// `org.radc.Error.<Variant>`, the message starts with the HRESULT.
///
/// The runtime answers with these, and custom clients built on this crate
/// answer `IssueDisconnect` with them.
#[derive(Debug, DBusError)]
#[zbus(prefix = "org.radc.Error")]
pub enum WireError {
    #[zbus(error)]
    ZBus(zbus::Error),
    InvalidArgs(String),
    NotFound(String),
    AccessDenied(String),
    Timeout(String),
    NotSupported(String),
    Failed(String),
    Cancelled(String),
}

impl WireError {
    /// The reply for `kind`; `text` should start with the HRESULT.
    pub fn new(kind: ErrorKind, text: String) -> Self {
        match kind {
            ErrorKind::InvalidArgs => WireError::InvalidArgs(text),
            ErrorKind::NotFound => WireError::NotFound(text),
            ErrorKind::AccessDenied => WireError::AccessDenied(text),
            ErrorKind::Timeout => WireError::Timeout(text),
            ErrorKind::NotSupported => WireError::NotSupported(text),
            ErrorKind::Failed => WireError::Failed(text),
            ErrorKind::Cancelled => WireError::Cancelled(text),
        }
    }
}

impl From<RuntimeError> for WireError {
    fn from(e: RuntimeError) -> Self {
        WireError::new(e.kind, e.to_string())
    }
}

/// An error as a custom client returns it from `issue_disconnect`: an
/// HRESULT and a message, as `IWorkspaceClientExt::IssueDisconnect` would.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("0x{hresult:08X}: {message}")]
pub struct ClientError {
    pub hresult: u32,
    pub message: String,
}

impl ClientError {
    pub fn new(hresult: u32, message: impl Into<String>) -> Self {
        Self {
            hresult,
            message: message.into(),
        }
    }

    /// `E_FAIL` with a message.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Failed.hresult(), message)
    }
}

impl From<ClientError> for WireError {
    fn from(e: ClientError) -> Self {
        // HRESULTs outside radc's six travel as Failed, the code kept in the
        // message.
        let kind = ErrorKind::from_hresult(e.hresult).unwrap_or(ErrorKind::Failed);
        WireError::new(kind, e.to_string())
    }
}

/// What went wrong talking to the runtime.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The runtime refused the call. `kind` is `None` for errors outside the
    /// radc contract (e.g. `org.freedesktop.DBus.Error.ServiceUnknown`).
    #[error("{name}: {message}")]
    Refused {
        name: String,
        kind: Option<ErrorKind>,
        message: String,
    },
    /// The bus itself failed.
    #[error(transparent)]
    Bus(zbus::Error),
}

impl Error {
    /// The radc error kind, if the runtime answered with one.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            Error::Refused { kind, .. } => *kind,
            Error::Bus(_) => None,
        }
    }
}

impl From<zbus::Error> for Error {
    fn from(e: zbus::Error) -> Self {
        match e {
            zbus::Error::MethodError(name, message, _) => {
                let name = name.to_string();
                let kind = name
                    .strip_prefix("org.radc.Error.")
                    .and_then(|k| ErrorKind::ALL.into_iter().find(|kind| kind.name() == k));
                Error::Refused {
                    name,
                    kind,
                    message: message.unwrap_or_default(),
                }
            }
            other => Error::Bus(other),
        }
    }
}

impl From<zbus::fdo::Error> for Error {
    fn from(e: zbus::fdo::Error) -> Self {
        Error::from(zbus::Error::from(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_keep_their_hresult() {
        let w = WireError::from(ClientError::new(0x8007_0005, "busy"));
        assert_eq!(w.name().as_str(), "org.radc.Error.AccessDenied");
        assert_eq!(w.description(), Some("0x80070005: busy"));
        let w = WireError::from(ClientError::new(0x8000_FFFF, "odd"));
        assert_eq!(w.name().as_str(), "org.radc.Error.Failed");
        assert_eq!(w.description(), Some("0x8000FFFF: odd"));
    }

    #[test]
    fn runtime_errors_name_their_kind() {
        for kind in ErrorKind::ALL {
            let w = WireError::from(RuntimeError::new(kind, "x"));
            assert_eq!(w.name().as_str(), format!("org.radc.Error.{}", kind.name()));
            assert!(w.description().unwrap().starts_with("0x8"));
        }
    }
}
