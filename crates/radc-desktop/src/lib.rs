//! The freedesktop side of radc, without I/O: what to write so that
//! launchers (GNOME, KDE, XFCE, …) show a workspace's RemoteApps and
//! desktops like local applications. Everything that comes from a feed is
//! untrusted: it is escaped for the file format it lands in and never used
//! as a file name as is.

pub mod entry;
pub mod icons;
pub mod layout;
pub mod mimeapps;
pub mod names;
pub mod render_cache;
pub mod sync;
