//! The environment a caller of `Runtime1.Launch` passes: which variables
//! the runtime takes from the caller (its display, sound server, locale),
//! in groups whose members must agree. Part of the contract: the runtime
//! builds a launched connection's environment from these (see
//! `radc_runtime::launcher::launch_environment`), and every caller (`radc
//! launch`, the Workspaces window) sends them with
//! [`from_process`].

use std::collections::HashMap;

/// The display and session: FreeRDP and most launchers open a window.
pub const DISPLAY_GROUP: &[&str] = &[
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "XAUTHORITY",
    "XDG_SESSION_TYPE",
    "XDG_CURRENT_DESKTOP",
];

/// Sound: where PulseAudio clients (FreeRDP's `rdpsnd`/`audin` backend) and
/// PipeWire clients find the sound server.
pub const SOUND_GROUP: &[&str] = &[
    "PULSE_SERVER",
    "PULSE_COOKIE",
    "PULSE_SINK",
    "PULSE_SOURCE",
    "PIPEWIRE_RUNTIME_DIR",
    "PIPEWIRE_REMOTE",
];

/// Locale: FreeRDP tells the server the client's locale from `LANG`, and
/// launchers speak the user's language.
pub const LOCALE_GROUP: &[&str] = &[
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_ADDRESS",
    "LC_COLLATE",
    "LC_CTYPE",
    "LC_IDENTIFICATION",
    "LC_MEASUREMENT",
    "LC_MESSAGES",
    "LC_MONETARY",
    "LC_NAME",
    "LC_NUMERIC",
    "LC_PAPER",
    "LC_TELEPHONE",
    "LC_TIME",
];

/// The variables a caller of `Launch` may pass, in groups whose members
/// must agree with each other: each group is taken whole from the caller
/// when the caller set any of it, else whole from the runtime's own
/// environment. (Mixing the caller's `DISPLAY` with the runtime's
/// `WAYLAND_DISPLAY` could open the window on another display; the
/// caller's `LANG` under the runtime's `LC_ALL` would not be the caller's
/// locale.)
pub const CALLER_GROUPS: [&[&str]; 5] = [
    DISPLAY_GROUP,
    SOUND_GROUP,
    LOCALE_GROUP,
    // Where the Wayland socket, the sound server's socket and the session's
    // other sockets are.
    &["XDG_RUNTIME_DIR"],
    // FreeRDP sends the client's time zone to the server.
    &["TZ"],
];

/// Every variable a caller of `Launch` may set.
pub fn passed_environment() -> impl Iterator<Item = &'static str> {
    CALLER_GROUPS.into_iter().flatten().copied()
}

/// This process's values of [`passed_environment`], as `Launch` takes them:
/// what a program passes so that a connection opens on its display, in its
/// locale. Unset and non-UTF-8 variables are left out.
pub fn from_process() -> HashMap<&'static str, String> {
    passed_environment()
        .filter_map(|key| Some((key, std::env::var(key).ok()?)))
        .collect()
}
