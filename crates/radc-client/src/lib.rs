//! Take part in the radc workspace runtime from your own remote-access
//! client.
//!
//! A workspace is the set of connections a user opened from one RD Web
//! Access feed (or one deployment of yours). The runtime tracks every live
//! connection of every client, and when the user (or a program) disconnects
//! a workspace, it asks each client to close its connections. This crate is
//! the client side of that contract, the Linux counterpart of implementing
//! `IWorkspaceClientExt` and calling `IWorkspaceRegistration::AddResource`.
//!
//! 1. Implement [`WorkspaceClientExt`] for a type describing one connection.
//! 2. [`Runtime::connect`] to the session bus.
//! 3. [`Runtime::add_resource`] when the connection opens; keep the
//!    [`Registration`].
//! 4. When the runtime calls [`WorkspaceClientExt::issue_disconnect`], close
//!    the connection, then [`Runtime::remove_resource`]. (If your process
//!    exits instead, the runtime notices at once and drops its
//!    registrations.)
//!
//! ```no_run
//! use radc_client::{ClientError, Runtime, WorkspaceClientExt};
//!
//! struct Session { workspace: String, title: String }
//!
//! impl WorkspaceClientExt for Session {
//!     fn resource_id(&self) -> String { self.workspace.clone() }
//!     fn resource_display_name(&self) -> String { self.title.clone() }
//!     async fn issue_disconnect(&self) -> Result<(), ClientError> {
//!         // close the connection here
//!         Ok(())
//!     }
//! }
//!
//! # async fn run() -> Result<(), radc_client::Error> {
//! let runtime = Runtime::connect().await?;
//! let registration = runtime
//!     .add_resource(Session { workspace: "rdweb.example.com".into(), title: "Notepad".into() })
//!     .await?;
//! println!("registered with cookie {}", registration.cookie());
//! // ... later, once the connection is closed:
//! runtime.remove_resource(registration).await?;
//! # Ok(()) }
//! ```
//!
//! See `examples/custom_client.rs` for a complete program, and the
//! [`proxy`] module to drive the rest of the runtime's API.

mod client;
pub mod environment;
mod error;
pub mod names;
pub mod proxy;

pub use client::{Registration, Runtime, WorkspaceClientExt};
pub use error::{ClientError, Error, WireError};
pub use radc_core::ErrorKind;
