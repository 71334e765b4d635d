//! The sans-IO core of radc's workspace runtime.
//!
//! Nothing here touches a socket, a file or the clock: callers pass in the
//! current [`std::time::Instant`] and the identity of the peer, and get back
//! decisions and events to act on. That keeps every rule of the runtime
//! testable in isolation, and lets the D-Bus layer stay thin.

pub mod adoption;
pub mod credentials;
pub mod error;
pub mod error_events;
pub mod rate_limit;
pub mod registry;
pub mod restype;
pub mod runtime;
pub mod slots;
pub mod trust;
pub mod validate;

pub use error::{ErrorKind, Result, RuntimeError};
pub use registry::{Cookie, Exit, Kind, RegistryEvent, RemovalReason};
pub use runtime::RuntimeCore;
