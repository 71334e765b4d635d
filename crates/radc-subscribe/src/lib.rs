//! The I/O side of subscribing to an RD Web Access workspace. The protocol
//! rules live in [`radc_feed`]; this crate talks to the network.

pub mod channel_binding;
pub mod desktop;
pub mod dns;
pub mod fsutil;
pub mod http;
pub mod kerberos;
pub mod reconnect;
pub mod secrets;
pub mod sign_in;
pub mod store;
pub mod workspace;
