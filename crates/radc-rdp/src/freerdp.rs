//! `.rdp` settings → a FreeRDP command line, for FreeRDP 2 and 3.
//!
//! [`command_line`] turns a parsed `.rdp` file (untrusted: it comes from a
//! feed or a D-Bus caller) into the arguments of `xfreerdp` (2.x) or
//! `xfreerdp3`/`sdl-freerdp3` (3.x). Every value becomes exactly one
//! argument, so nothing goes through a shell, but FreeRDP splits some option
//! values itself, and that is where a hostile file could smuggle in options
//! of its own. The rules below keep that from happening.
//!
//! # What FreeRDP parses out of one argument
//!
//! * An argument is `/name:value`; the name ends at the first `:`, the value
//!   is the rest, verbatim. Values of `/v:`, `/app:` (2.x), `/app-name:`,
//!   `/app-cmd:`, `/load-balance-info:`, `/u:`, `/d:`, `/t:`, `/wm-class:`,
//!   `/shell:` are taken whole.
//! * 3.x `/app:` and `/gateway:`, and `/drive:` in both versions, are
//!   comma-separated lists of `key:value` items. Depending on the 3.x
//!   release, `"` and `'` quote an item and `\` escapes the next character
//!   (for finding commas only: it is not removed), or none of that. So a
//!   value in such a list may not contain `,` or `'`, may not end with `\`,
//!   and only the last item (`cmd:`) may contain `"`, balanced and never
//!   right after a `\`. Anything else is refused with
//!   [`MappingError::Setting`] naming the setting.
//! * FreeRDP treats the first argument as a connection file when it ends in
//!   `.rdp`, so the first argument is always the fixed certificate policy.
//!
//! Control characters, empty or malformed addresses and out-of-range numbers
//! are refused as well. Settings FreeRDP has no option for, and settings a
//! feed must not decide on this machine, are ignored; see [`command_line`].
//!
//! # Files
//!
//! For files to open in a RemoteApp, the directory of each file is
//! redirected as a drive (`/drive:radcN,DIR`, one per directory) and the
//! file is named on the RemoteApp's command line by its path on the server,
//! `\\tsclient\radcN\NAME`, after the file's `remoteapplicationcmdline`
//! and quoted when it holds a space. FreeRDP itself would append
//! `/app-file:` (2.x) or `file:` (3.x) unquoted after the command line (and
//! 3.x cuts the result at 519 bytes), so the command line is built here.
//! FreeRDP refuses to start when a `/drive:` directory does not exist.
//!
//! # Clients
//!
//! [`Client`] is a program and its release: `xfreerdp` (2.x) and
//! `xfreerdp3` share the X11 client ([`Flavour::X11`]); `sdl-freerdp3`
//! ([`Flavour::Sdl`]) is FreeRDP 3's SDL client. They parse the same
//! options, but the SDL client (3.10 and the releases after it) does not
//! act on all of them. Per setting:
//!
//! * **RemoteApps** (`remoteapplicationmode:i:1`): the SDL client has no
//!   RemoteApp windows (it never starts the program on the server), so a
//!   RemoteApp is refused before anything starts, with
//!   [`MappingError::Client`] naming the setting and suggesting `xfreerdp3`.
//!   Files to open go with RemoteApps, so they are refused too.
//! * **Window class** (`/wm-class:`): the SDL client ignores the option;
//!   its window takes its class from SDL, which reads
//!   `SDL_VIDEO_X11_WMCLASS` (X11) and `SDL_VIDEO_WAYLAND_WMCLASS`
//!   (Wayland). [`CommandLine::environment`] sets both, so the desktop
//!   entry's `StartupWMClass` matches with every client.
//! * **Full screen** (`screen mode id:i:2` → `/f`): passed on. The SDL
//!   client needs a window manager for it; without one it fails before
//!   connecting and does not exit, which the launcher's watchdog
//!   ([`crate::progress::Watchdog`]) notices and ends.
//! * **Clipboard** (`redirectclipboard`): passed on, with a
//!   [`CommandLine::notes`] warning: SDL2 builds of the client (Debian's)
//!   do not share the clipboard, SDL3 builds partly do.
//! * Everything else (size, multiple monitors, dynamic resolution, smart
//!   sizing, sound, drives, printers, smart cards, gateway, credentials on
//!   standard input, title) is handled by FreeRDP's common code or by the
//!   SDL client itself and passed on as for `xfreerdp3`.
//!
//! # RD Gateway
//!
//! `gatewayhostname` with `gatewayusagemethod` becomes `/g:` and
//! `/gateway-usage-method:` (2.x) or `/gateway:g:…,usage-method:…` (3.x).
//! Naming the gateway without credentials of its own makes FreeRDP (2 and
//! 3) set its "use the same credentials" setting, so the gateway signs in
//! with the session's user, domain and password, the password coming from
//! standard input (`/from-stdin:force`) like the session's. Gateway
//! credentials never go on the command line: no `/gu:`, `/gd:`, `/gp:` or
//! `u:`/`d:`/`p:` items are ever written.
//!
//! * `promptcredentialonce:i:1` (RD Web Access writes it): that is exactly
//!   FreeRDP's same-credentials setting.
//! * `promptcredentialonce:i:0`: Windows would ask for the gateway's
//!   password separately, with the same account filled in. radc keeps one
//!   credential per workspace, and the gateway of a workspace's file
//!   belongs to that workspace, so it is used for the gateway too; asking
//!   twice for the same password would only be noise. A gateway that
//!   refuses it fails the launch like a refused session sign-in.
//! * `gatewaycredentialssource`: 0 (password), 3 and 4 (chosen later) sign
//!   in with the password as above. 1 (smart card), 2 (this computer's
//!   logon) and 5 (a cookie from the web site) are not available to
//!   FreeRDP here; the password is used instead, with a
//!   [`CommandLine::notes`] warning.
//! * `gatewayprofileusagemethod` only says whether `gatewayusagemethod`
//!   came from the user or the administrator; like FreeRDP's own `.rdp`
//!   reader, radc follows `gatewayusagemethod` either way.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};

use crate::{RdpFile, Value};

/// A FreeRDP release, as printed by `/version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Version {
        Version {
            major,
            minor,
            patch,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Reads the version out of what `xfreerdp /version`, `xfreerdp3 /version`
/// or `sdl-freerdp3 /version` print, e.g.
/// `This is FreeRDP version 2.11.7 (2.11.7)` or
/// `This is FreeRDP version 3.5.1 (3.5.1)`. A missing patch number reads
/// as 0; suffixes such as `-dev` are ignored.
pub fn parse_version(output: &str) -> Option<Version> {
    const MARKER: &str = "FreeRDP version ";
    let start = output.find(MARKER)? + MARKER.len();
    let rest = &output[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let mut parts = rest[..end].split('.');
    let number = |part: Option<&str>| -> Option<u32> {
        let part = part?;
        if part.is_empty() || part.len() > 9 {
            return None;
        }
        part.parse().ok()
    };
    let major = number(parts.next())?;
    let minor = number(parts.next())?;
    let patch = match parts.next() {
        None => 0,
        p => number(p)?,
    };
    Some(Version::new(major, minor, patch))
}

/// Which FreeRDP client program runs a launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavour {
    /// `xfreerdp` (2.x) or `xfreerdp3`.
    X11,
    /// `sdl-freerdp3`.
    Sdl,
}

/// A FreeRDP client: which program, and its release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Client {
    pub flavour: Flavour,
    pub version: Version,
}

impl Client {
    pub const fn x11(version: Version) -> Client {
        Client {
            flavour: Flavour::X11,
            version,
        }
    }

    pub const fn sdl(version: Version) -> Client {
        Client {
            flavour: Flavour::Sdl,
            version,
        }
    }

    /// The client a program file is, by its name (`sdl-freerdp3`,
    /// `sdl-freerdp`, or a wrapper whose name holds `sdl-freerdp`, is the
    /// SDL client; anything else the X11 one), with the release its
    /// `/version` printed.
    pub fn from_program_name(name: &str, version: Version) -> Client {
        let flavour = if name.contains("sdl-freerdp") || name.contains("sdl3-freerdp") {
            Flavour::Sdl
        } else {
            Flavour::X11
        };
        Client { flavour, version }
    }
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match (self.flavour, self.version.major) {
            (Flavour::Sdl, _) => "sdl-freerdp3",
            (Flavour::X11, 2) => "xfreerdp",
            (Flavour::X11, _) => "xfreerdp3",
        };
        write!(f, "{name} {}", self.version)
    }
}

/// What runs one launch: the arguments, variables to add to the
/// environment, and warnings about settings the client will not honour
/// fully (for the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    pub args: Vec<String>,
    pub environment: Vec<(&'static str, String)>,
    pub notes: Vec<Note>,
}

/// A setting a client takes but does not (fully) honour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub setting: &'static str,
    pub text: String,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "setting {:?}: {}", self.setting, self.text)
    }
}

/// One launch of a resource.
#[derive(Debug, Clone, Copy)]
pub struct Launch<'a> {
    /// The resource's `.rdp` file (untrusted).
    pub rdp: &'a RdpFile,
    /// Window class for `/wm-class:`; matches the desktop entry's
    /// `StartupWMClass`.
    pub wm_class: &'a str,
    /// Local files to open in the RemoteApp (absolute paths).
    pub files: &'a [PathBuf],
    /// The caller writes the credentials on FreeRDP's standard input
    /// (`/from-stdin:force`); no user name or domain goes on the command
    /// line then. FreeRDP 2 reads the password first, right after parsing
    /// its arguments, then the user name and domain, one line each, when
    /// network level authentication asks for them.
    pub credentials_from_stdin: bool,
    /// Window title (`/t:`).
    pub title: Option<&'a str>,
}

/// Why a file could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("FreeRDP {0} is not supported (2.x and 3.x are)")]
    UnsupportedVersion(Version),
    #[error("the file has no {0}")]
    Missing(&'static str),
    #[error("setting {setting:?}: {reason}")]
    Setting { setting: String, reason: String },
    #[error("file {path:?}: {reason}")]
    File { path: String, reason: String },
    #[error("{what}: {reason}")]
    Launch { what: &'static str, reason: String },
    /// The client cannot honour a setting the file depends on.
    #[error("setting {setting:?}: {reason}")]
    Client {
        setting: &'static str,
        reason: String,
    },
}

/// Longest string value passed on (FreeRDP has no limit of its own; the
/// RDP fields these end up in are far shorter).
const MAX_VALUE: usize = 2048;
/// Longest RemoteApp program ([MS-RDPERP] ExeOrFile: 520 bytes of UTF-16).
const MAX_PROGRAM: usize = 259;
/// Longest RemoteApp command line ([MS-RDPERP] Arguments: 16,000 bytes).
const MAX_ARGUMENTS: usize = 7999;
/// Most files opened at once.
pub const MAX_FILES: usize = 64;

/// The arguments (not the program name) that run `launch` with FreeRDP
/// `version`.
///
/// | `.rdp` setting | FreeRDP 2.x | FreeRDP 3.x |
/// |---|---|---|
/// | (always, first) | `/cert-tofu` | `/cert:tofu` |
/// | `authentication level:i:1` | `/cert-deny` | `/cert:deny` |
/// | `full address`, `server port`, `alternate full address` | `/v:host[:port]`, `/v:[v6][:port]` | same |
/// | `gatewayhostname` + `gatewayusagemethod` 1 / 2, 3 | `/g:host[:port]` `/gateway-usage-method:direct` / `detect` | `/gateway:g:host[:port],usage-method:direct` / `detect` |
/// | `loadbalanceinfo` | `/load-balance-info:…` | same |
/// | `remoteapplicationmode:i:1` + `remoteapplicationprogram` | `/app:…` | `/app:program:…` |
/// | `remoteapplicationname` | `/app-name:…` | `,name:…` |
/// | `remoteapplicationcmdline` (+ files) | `/app-cmd:…` | `,cmd:…` (last) |
/// | `remoteapplicationfile` (no files given) | `/app-file:…` | `,file:…` |
/// | files | `/drive:radcN,DIR` + `\\tsclient\radcN\NAME` in the command line | same |
/// | `screen mode id:i:2` | `/f` | same |
/// | `desktopwidth` + `desktopheight` | `/size:WxH` | same |
/// | `use multimon:i:1`, `span monitors:i:1` | `/multimon`, `/span` | same |
/// | `dynamic resolution:i:1`, else `smart sizing:i:1` | `/dynamic-resolution`, `/smart-sizing` | same |
/// | `session bpp` | `/bpp:N` | same |
/// | `audiomode` 0 / 1 / 2 | `/sound` / `/audio-mode:1` / `/audio-mode:2` | same |
/// | `audiocapturemode:i:1` | `/microphone` | same |
/// | `redirectclipboard` | `+clipboard` / `-clipboard` | same |
/// | `redirectprinters:i:1`, `redirectsmartcards:i:1` | `/printer`, `/smartcard` | same |
/// | `drivestoredirect:s:*` | `+home-drive` | same |
/// | `enablecredsspsupport:i:0` | `-sec-nla` | `/sec:tls` |
/// | `username`, `domain` (not with stdin credentials) | `/u:…`, `/d:…` | same |
/// | `disable wallpaper`, `disable themes`, `disable menu anims`, `disable full window drag` | `-wallpaper` … / `+wallpaper` … | same |
/// | `allow font smoothing`, `allow desktop composition` | `+fonts`, `+aero` (or `-`) | same |
/// | `connection type` | `/network:…` | same |
/// | `compression:i:0`, `autoreconnection enabled:i:1` | `-compression`, `+auto-reconnect` | same |
/// | `alternate shell`, `shell working directory` (desktops only) | `/shell:…`, `/shell-dir:…` | same |
/// | credentials on stdin | `/from-stdin:force` | same |
/// | title, window class | `/t:…`, `/wm-class:…` | same |
///
/// Ignored: `workspace id` (FreeRDP has no such option; it only groups
/// resources), `remoteapplicationfileextensions` and `remoteapplicationicon`
/// (desktop integration, not the connection), `prompt for credentials`
/// (the launcher decides how to ask), `gatewayprofileusagemethod`,
/// `promptcredentialonce` and `gatewaycredentialssource` (range-checked;
/// the gateway signs in with the session's credentials, never with a
/// password on the command line: see the module documentation), every other
/// `drivestoredirect` value (a feed never picks local paths: `*` exposes
/// the home directory only, through FreeRDP's own `+home-drive`), serial
/// ports, USB, cameras and other devices, and any setting not listed.
///
/// This is the X11 client's (`xfreerdp`, `xfreerdp3`) command line;
/// [`command_line_for`] is the one for any [`Client`].
pub fn command_line(version: &Version, launch: &Launch) -> Result<Vec<String>, MappingError> {
    command_line_for(&Client::x11(*version), launch).map(|c| c.args)
}

/// What runs `launch` with `client`: [`command_line`]'s arguments, less
/// and plus what the client needs (see the module documentation, Clients).
pub fn command_line_for(client: &Client, launch: &Launch) -> Result<CommandLine, MappingError> {
    let version = &client.version;
    let v3 = match version.major {
        2 => false,
        3 => true,
        _ => return Err(MappingError::UnsupportedVersion(*version)),
    };
    let sdl = client.flavour == Flavour::Sdl;
    if sdl && !v3 {
        return Err(MappingError::UnsupportedVersion(*version));
    }
    let rdp = launch.rdp;
    let mut args = Vec::new();
    let mut notes = Vec::new();

    // First, so that argv[1] is never a path FreeRDP would load as a file.
    let strict = int_in(rdp, "authentication level", 0, 3)? == Some(1);
    args.push(
        match (v3, strict) {
            (false, false) => "/cert-tofu",
            (false, true) => "/cert-deny",
            (true, false) => "/cert:tofu",
            (true, true) => "/cert:deny",
        }
        .to_owned(),
    );

    args.push(format!("/v:{}", target(rdp)?));
    gateway(rdp, v3, &mut args, &mut notes)?;
    if let Some(info) = nonempty(string(rdp, "loadbalanceinfo")?) {
        args.push(format!(
            "/load-balance-info:{}",
            plain("loadbalanceinfo", info, MAX_VALUE)?
        ));
    }

    // Desktop settings are checked in RemoteApp mode too, then dropped:
    // a RemoteApp fills the work area.
    let mut desktop_args = Vec::new();
    desktop(rdp, &mut desktop_args)?;
    if flag(rdp, "remoteapplicationmode")? == Some(true) {
        if sdl {
            return Err(MappingError::Client {
                setting: "remoteapplicationmode",
                reason: format!(
                    "{client} cannot show RemoteApps (it has no RemoteApp windows); \
                     use xfreerdp3 (radc daemon --freerdp /usr/bin/xfreerdp3)"
                ),
            });
        }
        remote_application(rdp, v3, launch.files, &mut args)?;
    } else {
        if !launch.files.is_empty() {
            return Err(MappingError::Launch {
                what: "files",
                reason: "files can only be opened in a RemoteApp".into(),
            });
        }
        args.append(&mut desktop_args);
    }

    if let Some(bpp) = int(rdp, "session bpp")? {
        if ![8, 15, 16, 24, 32].contains(&bpp) {
            return Err(setting_error(
                "session bpp",
                format!("{bpp} is not 8, 15, 16, 24 or 32"),
            ));
        }
        args.push(format!("/bpp:{bpp}"));
    }
    match int_in(rdp, "audiomode", 0, 2)? {
        Some(0) => args.push("/sound".into()),
        Some(mode) => args.push(format!("/audio-mode:{mode}")),
        None => {}
    }
    if flag(rdp, "audiocapturemode")? == Some(true) {
        args.push("/microphone".into());
    }
    toggle(rdp, "redirectclipboard", "clipboard", false, &mut args)?;
    if sdl && flag(rdp, "redirectclipboard")? == Some(true) {
        notes.push(Note {
            setting: "redirectclipboard",
            text: format!(
                "{client} shares the clipboard only when built with SDL3 (Debian's SDL2 build \
                 does not); xfreerdp3 shares it"
            ),
        });
    }
    if flag(rdp, "redirectprinters")? == Some(true) {
        args.push("/printer".into());
    }
    if flag(rdp, "redirectsmartcards")? == Some(true) {
        args.push("/smartcard".into());
    }
    if string(rdp, "drivestoredirect")?.map(str::trim) == Some("*") {
        args.push("+home-drive".into());
    }
    if flag(rdp, "enablecredsspsupport")? == Some(false) {
        args.push(if v3 { "/sec:tls" } else { "-sec-nla" }.into());
    }

    toggle(rdp, "disable wallpaper", "wallpaper", true, &mut args)?;
    toggle(rdp, "disable themes", "themes", true, &mut args)?;
    toggle(rdp, "disable menu anims", "menu-anims", true, &mut args)?;
    toggle(
        rdp,
        "disable full window drag",
        "window-drag",
        true,
        &mut args,
    )?;
    toggle(rdp, "allow font smoothing", "fonts", false, &mut args)?;
    toggle(rdp, "allow desktop composition", "aero", false, &mut args)?;
    if let Some(kind) = int_in(rdp, "connection type", 1, 7)? {
        // Type 3 (satellite) has no name in FreeRDP 2.
        let name = [
            "modem",
            "broadband-low",
            "",
            "broadband-high",
            "wan",
            "lan",
            "auto",
        ][kind as usize - 1];
        if !name.is_empty() {
            args.push(format!("/network:{name}"));
        }
    }
    if flag(rdp, "compression")? == Some(false) {
        args.push("-compression".into());
    }
    if flag(rdp, "autoreconnection enabled")? == Some(true) {
        args.push("+auto-reconnect".into());
    }

    if launch.credentials_from_stdin {
        args.push("/from-stdin:force".into());
    } else {
        if let Some(user) = nonempty(string(rdp, "username")?) {
            args.push(format!("/u:{}", plain("username", user, 256)?));
        }
        if let Some(domain) = nonempty(string(rdp, "domain")?) {
            args.push(format!("/d:{}", plain("domain", domain, 256)?));
        }
    }
    if let Some(title) = launch.title {
        args.push(format!("/t:{}", caller_text("title", title)?));
    }
    let wm_class = caller_text("window class", launch.wm_class)?;
    args.push(format!("/wm-class:{wm_class}"));
    let environment = if sdl {
        // The SDL client ignores /wm-class:; SDL reads these.
        vec![
            ("SDL_VIDEO_X11_WMCLASS", wm_class.to_owned()),
            ("SDL_VIDEO_WAYLAND_WMCLASS", wm_class.to_owned()),
        ]
    } else {
        Vec::new()
    };
    Ok(CommandLine {
        args,
        environment,
        notes,
    })
}

/// The connection target: `alternate full address` when set (as FreeRDP's
/// own `.rdp` reader does), else `full address`, with `server port` when
/// the address names none.
fn target(rdp: &RdpFile) -> Result<String, MappingError> {
    let (setting, raw) = match nonempty(string(rdp, "alternate full address")?) {
        Some(alt) => ("alternate full address", alt),
        None => match string(rdp, "full address")? {
            Some(full) => ("full address", full),
            None => return Err(MappingError::Missing("full address")),
        },
    };
    let (host, port) = address(setting, raw, true)?;
    let port = match (port, int(rdp, "server port")?) {
        (Some(p), _) => Some(p),
        (None, Some(p)) => Some(port_number("server port", p)?),
        (None, None) => None,
    };
    Ok(match port {
        Some(p) => format!("{host}:{p}"),
        None => host,
    })
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 literal →
/// (`host` or `[v6]`, port).
fn address(
    setting: &str,
    raw: &str,
    allow_ipv6: bool,
) -> Result<(String, Option<u16>), MappingError> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(setting_error(setting, "the address is empty"));
    }
    no_controls(setting, value)?;
    let bad = |reason: &str| setting_error(setting, format!("{value:?}: {reason}"));
    let parse_port = |text: &str| -> Result<u16, MappingError> {
        if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("the port is not a number from 1 to 65535"));
        }
        port_number(setting, text.parse::<i64>().unwrap_or(0))
    };
    let ipv6 = |text: &str| -> Result<String, MappingError> {
        if !allow_ipv6 {
            return Err(bad("IPv6 literals are not supported here"));
        }
        text.parse::<Ipv6Addr>()
            .map_err(|_| bad("not an IPv6 address"))?;
        Ok(format!("[{text}]"))
    };
    if let Some(rest) = value.strip_prefix('[') {
        let (inner, after) = rest.split_once(']').ok_or_else(|| bad("no closing ]"))?;
        let host = ipv6(inner)?;
        let port = match after {
            "" => None,
            _ => Some(parse_port(
                after.strip_prefix(':').ok_or_else(|| bad("junk after ]"))?,
            )?),
        };
        return Ok((host, port));
    }
    if value.matches(':').count() > 1 {
        return Ok((ipv6(value)?, None));
    }
    let (host, port) = match value.split_once(':') {
        Some((host, port)) => (host, Some(parse_port(port)?)),
        None => (value, None),
    };
    let valid = !host.is_empty()
        && host.len() <= 253
        && !host.starts_with(['-', '.'])
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if !valid {
        return Err(bad("not a host name or IP address"));
    }
    Ok((host.to_owned(), port))
}

fn port_number(setting: &str, value: i64) -> Result<u16, MappingError> {
    match u16::try_from(value) {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(setting_error(
            setting,
            format!("port {value} is not from 1 to 65535"),
        )),
    }
}

/// The gateway options; see the module documentation (RD Gateway).
fn gateway(
    rdp: &RdpFile,
    v3: bool,
    args: &mut Vec<String>,
    notes: &mut Vec<Note>,
) -> Result<(), MappingError> {
    let method = int_in(rdp, "gatewayusagemethod", 0, 4)?;
    // Range checks only: radc follows gatewayusagemethod whoever set it,
    // and the workspace's credentials serve the gateway either way.
    int_in(rdp, "gatewayprofileusagemethod", 0, 1)?;
    int_in(rdp, "promptcredentialonce", 0, 1)?;
    let source = int_in(rdp, "gatewaycredentialssource", 0, 5)?;
    let Some(raw) = nonempty(string(rdp, "gatewayhostname")?) else {
        return Ok(());
    };
    // Checked even when unused. FreeRDP 2 splits the gateway at its last
    // ':', so IPv6 literals would fail.
    let (host, port) = address("gatewayhostname", raw, false)?;
    let host = match port {
        Some(p) => format!("{host}:{p}"),
        None => host,
    };
    // 1: always; 2: only if a direct connection fails; 3: the client's
    // default, which here is detection. 0 and 4: never. A file that names a
    // gateway without a method means to use it.
    let mode = match method {
        Some(0 | 4) => return Ok(()),
        Some(1) | None => "direct",
        _ => "detect",
    };
    let unavailable = match source {
        Some(1) => Some("a smart card"),
        Some(2) => Some("this computer's logon"),
        Some(5) => Some("a cookie from the web site"),
        _ => None,
    };
    if let Some(what) = unavailable {
        notes.push(Note {
            setting: "gatewaycredentialssource",
            text: format!(
                "the gateway asks for {what}, which FreeRDP cannot offer here; it gets the \
                 workspace's user name and password instead"
            ),
        });
    }
    if v3 {
        args.push(format!("/gateway:g:{host},usage-method:{mode}"));
    } else {
        args.push(format!("/g:{host}"));
        args.push(format!("/gateway-usage-method:{mode}"));
    }
    Ok(())
}

fn remote_application(
    rdp: &RdpFile,
    v3: bool,
    files: &[PathBuf],
    args: &mut Vec<String>,
) -> Result<(), MappingError> {
    const PROGRAM: &str = "remoteapplicationprogram";
    let program = nonempty(string(rdp, PROGRAM)?).ok_or(MappingError::Missing(PROGRAM))?;
    let program = plain(PROGRAM, program.trim(), MAX_PROGRAM)?;
    let name = match nonempty(string(rdp, "remoteapplicationname")?) {
        Some(n) => Some(plain("remoteapplicationname", n, MAX_VALUE)?),
        None => None,
    };
    let mut cmd = match nonempty(string(rdp, "remoteapplicationcmdline")?) {
        Some(c) => plain("remoteapplicationcmdline", c, MAX_ARGUMENTS)?.to_owned(),
        None => String::new(),
    };
    let (drives, remote_paths) = redirect_files(files, v3)?;
    for path in &remote_paths {
        if !cmd.is_empty() {
            cmd.push(' ');
        }
        cmd.push_str(path);
    }
    if cmd.chars().count() > MAX_ARGUMENTS {
        return Err(MappingError::Launch {
            what: "files",
            reason: format!("the command line would exceed {MAX_ARGUMENTS} characters"),
        });
    }
    // A file the .rdp names on the server, unless local files are opened.
    let remote_file = match nonempty(string(rdp, "remoteapplicationfile")?) {
        Some(f) if files.is_empty() => Some(plain("remoteapplicationfile", f, MAX_PROGRAM)?),
        _ => None,
    };

    if v3 {
        check_list_item(PROGRAM, program, false)?;
        let mut value = format!("program:{program}");
        if let Some(name) = name {
            check_list_item("remoteapplicationname", name, false)?;
            value.push_str(",name:");
            value.push_str(name);
        }
        if let Some(file) = remote_file {
            check_list_item("remoteapplicationfile", file, false)?;
            value.push_str(",file:");
            value.push_str(file);
        }
        if !cmd.is_empty() {
            // Last: the only item allowed to hold quotes.
            check_list_item("remoteapplicationcmdline", &cmd, true)?;
            value.push_str(",cmd:");
            value.push_str(&cmd);
        }
        args.push(format!("/app:{value}"));
    } else {
        args.push(format!("/app:{program}"));
        if let Some(name) = name {
            args.push(format!("/app-name:{name}"));
        }
        if !cmd.is_empty() {
            args.push(format!("/app-cmd:{cmd}"));
        }
        if let Some(file) = remote_file {
            args.push(format!("/app-file:{file}"));
        }
    }
    args.extend(drives);
    Ok(())
}

/// `/drive:` arguments for the files' directories, and each file's path on
/// the server (quoted when it holds a space).
fn redirect_files(files: &[PathBuf], v3: bool) -> Result<(Vec<String>, Vec<String>), MappingError> {
    if files.len() > MAX_FILES {
        return Err(MappingError::Launch {
            what: "files",
            reason: format!(
                "{} files; at most {MAX_FILES} can be opened at once",
                files.len()
            ),
        });
    }
    let mut shares: BTreeMap<&str, String> = BTreeMap::new();
    let mut drives = Vec::new();
    let mut paths = Vec::new();
    for file in files {
        let (dir, name) = split_file(file, v3)?;
        let share = match shares.get(dir) {
            Some(share) => share.clone(),
            None => {
                let share = format!("radc{}", shares.len() + 1);
                drives.push(format!("/drive:{share},{dir}"));
                shares.insert(dir, share.clone());
                share
            }
        };
        let remote = format!("\\\\tsclient\\{share}\\{name}");
        paths.push(if name.contains(' ') {
            format!("\"{remote}\"")
        } else {
            remote
        });
    }
    Ok((drives, paths))
}

/// A file's directory and name, both checked for what `/drive:`, the
/// server's file system and (3.x) the `/app:` list can carry.
fn split_file(file: &Path, v3: bool) -> Result<(&str, &str), MappingError> {
    let bad = |reason: &str| MappingError::File {
        path: file.to_string_lossy().into_owned(),
        reason: reason.to_owned(),
    };
    let text = file.to_str().ok_or_else(|| bad("the path is not UTF-8"))?;
    if !file.is_absolute() {
        return Err(bad("the path is not absolute"));
    }
    if text.chars().any(char::is_control) {
        return Err(bad("the path holds a control character"));
    }
    let (dir, name) = text.rsplit_once('/').ok_or_else(|| bad("no file name"))?;
    let dir = if dir.is_empty() { "/" } else { dir };
    if name.is_empty() || name == "." || name == ".." {
        return Err(bad("no file name"));
    }
    if name.len() > 255 || dir.len() > 1024 {
        return Err(bad("the path is too long"));
    }
    // `/drive:NAME,PATH` is a comma-separated list in both versions.
    if dir.contains([',', '"', '\'', '\\']) {
        return Err(bad(
            "the directory holds a comma, quote or backslash, which FreeRDP's /drive: cannot carry",
        ));
    }
    if name.contains(['<', '>', ':', '"', '\\', '|', '?', '*']) || name.ends_with(['.', ' ']) {
        return Err(bad("the file name is not valid on Windows"));
    }
    if v3 && name.contains([',', '\'']) {
        return Err(bad(
            "FreeRDP 3 cannot pass a file name with a comma or apostrophe to a RemoteApp",
        ));
    }
    Ok((dir, name))
}

/// Desktop-only settings.
fn desktop(rdp: &RdpFile, args: &mut Vec<String>) -> Result<(), MappingError> {
    if int_in(rdp, "screen mode id", 1, 2)? == Some(2) {
        args.push("/f".into());
    }
    let width = int_in(rdp, "desktopwidth", 200, 8192)?;
    let height = int_in(rdp, "desktopheight", 200, 8192)?;
    if let (Some(w), Some(h)) = (width, height) {
        args.push(format!("/size:{w}x{h}"));
    }
    if flag(rdp, "use multimon")? == Some(true) {
        args.push("/multimon".into());
    }
    if flag(rdp, "span monitors")? == Some(true) {
        args.push("/span".into());
    }
    // FreeRDP refuses the two together; resizing the session wins.
    let dynamic = flag(rdp, "dynamic resolution")? == Some(true);
    if dynamic {
        args.push("/dynamic-resolution".into());
    }
    if flag(rdp, "smart sizing")? == Some(true) && !dynamic {
        args.push("/smart-sizing".into());
    }
    if let Some(shell) = nonempty(string(rdp, "alternate shell")?) {
        args.push(format!(
            "/shell:{}",
            plain("alternate shell", shell, MAX_PROGRAM)?
        ));
    }
    if let Some(dir) = nonempty(string(rdp, "shell working directory")?) {
        args.push(format!(
            "/shell-dir:{}",
            plain("shell working directory", dir, MAX_PROGRAM)?
        ));
    }
    Ok(())
}

/// `+name`/`-name` from a 0/1 setting; `inverted` for `disable …` settings.
fn toggle(
    rdp: &RdpFile,
    setting: &str,
    option: &str,
    inverted: bool,
    args: &mut Vec<String>,
) -> Result<(), MappingError> {
    if let Some(on) = flag(rdp, setting)? {
        let sign = if on != inverted { '+' } else { '-' };
        args.push(format!("{sign}{option}"));
    }
    Ok(())
}

/// Checks one item of a 3.x comma-separated option value (see the module
/// documentation).
fn check_list_item(setting: &str, value: &str, quotes: bool) -> Result<(), MappingError> {
    let refuse = |reason: &str| setting_error(setting, format!("FreeRDP 3 cannot carry {reason}"));
    if value.contains(',') {
        return Err(refuse("a comma here"));
    }
    if value.contains('\'') {
        return Err(refuse("an apostrophe here"));
    }
    if value.ends_with('\\') {
        return Err(refuse("a trailing backslash here"));
    }
    if value.contains('"') {
        if !quotes {
            return Err(refuse("a double quote here"));
        }
        if !value.matches('"').count().is_multiple_of(2) || value.contains("\\\"") {
            return Err(refuse("unbalanced or escaped double quotes"));
        }
    }
    Ok(())
}

/// A string setting: `None` when absent; an error when it is not a string.
fn string<'a>(rdp: &'a RdpFile, setting: &str) -> Result<Option<&'a str>, MappingError> {
    match rdp.get(setting) {
        None => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s)),
        Some(_) => Err(setting_error(setting, "expected a string (type s)")),
    }
}

fn nonempty(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.trim().is_empty())
}

fn int(rdp: &RdpFile, setting: &str) -> Result<Option<i64>, MappingError> {
    match rdp.get(setting) {
        None => Ok(None),
        Some(Value::Int(i)) => Ok(Some(*i)),
        Some(_) => Err(setting_error(setting, "expected an integer (type i)")),
    }
}

fn int_in(rdp: &RdpFile, setting: &str, min: i64, max: i64) -> Result<Option<i64>, MappingError> {
    match int(rdp, setting)? {
        Some(i) if !(min..=max).contains(&i) => Err(setting_error(
            setting,
            format!("{i} is out of range ({min} to {max})"),
        )),
        other => Ok(other),
    }
}

fn flag(rdp: &RdpFile, setting: &str) -> Result<Option<bool>, MappingError> {
    Ok(int_in(rdp, setting, 0, 1)?.map(|i| i == 1))
}

/// A value passed whole: bounded, free of control characters.
fn plain<'a>(setting: &str, value: &'a str, max: usize) -> Result<&'a str, MappingError> {
    no_controls(setting, value)?;
    if value.chars().count() > max {
        return Err(setting_error(
            setting,
            format!("longer than {max} characters"),
        ));
    }
    Ok(value)
}

fn no_controls(setting: &str, value: &str) -> Result<(), MappingError> {
    match value.chars().find(|c| c.is_control()) {
        Some(c) => Err(setting_error(
            setting,
            format!("control character U+{:04X}", c as u32),
        )),
        None => Ok(()),
    }
}

fn caller_text<'a>(what: &'static str, value: &'a str) -> Result<&'a str, MappingError> {
    let reason = if value.trim().is_empty() {
        "empty"
    } else if value.chars().any(char::is_control) {
        "holds a control character"
    } else if value.chars().count() > 256 {
        "longer than 256 characters"
    } else {
        return Ok(value);
    };
    Err(MappingError::Launch {
        what,
        reason: reason.into(),
    })
}

fn setting_error(setting: &str, reason: impl Into<String>) -> MappingError {
    MappingError::Setting {
        setting: setting.to_owned(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2: Version = Version::new(2, 11, 7);
    const V3: Version = Version::new(3, 5, 1);

    fn rdp(text: &str) -> RdpFile {
        RdpFile::parse(text.as_bytes()).unwrap()
    }

    fn launch<'a>(rdp: &'a RdpFile, files: &'a [PathBuf]) -> Launch<'a> {
        Launch {
            rdp,
            wm_class: "radc-test",
            files,
            credentials_from_stdin: false,
            title: None,
        }
    }

    fn args(version: Version, text: &str) -> Result<Vec<String>, MappingError> {
        command_line(&version, &launch(&rdp(text), &[]))
    }

    fn setting_of(err: MappingError) -> String {
        match err {
            MappingError::Setting { setting, .. } => setting,
            other => panic!("not a setting error: {other:?}"),
        }
    }

    #[test]
    fn versions() {
        assert_eq!(
            parse_version("This is FreeRDP version 2.11.7 (2.11.7)\n"),
            Some(V2)
        );
        assert_eq!(
            parse_version("[08:00] [1:2] [WARN]...\nThis is FreeRDP version 3.5.1 (3.5.1)"),
            Some(V3)
        );
        assert_eq!(
            parse_version("This is FreeRDP version 3.0.0-dev (n/a)"),
            Some(Version::new(3, 0, 0))
        );
        assert_eq!(
            parse_version("This is FreeRDP version 3.10"),
            Some(Version::new(3, 10, 0))
        );
        for bad in [
            "",
            "FreeRDP version x",
            "FreeRDP version 3",
            "version 2.1.1",
            "FreeRDP version 99999999999.1",
        ] {
            assert_eq!(parse_version(bad), None, "{bad:?}");
        }
        assert_eq!(V2.to_string(), "2.11.7");
        assert!(matches!(
            args(Version::new(4, 0, 0), "full address:s:h\n"),
            Err(MappingError::UnsupportedVersion(_))
        ));
    }

    #[test]
    fn addresses() {
        for (text, v) in [
            ("full address:s:host.test\n", "/v:host.test"),
            ("full address:s:host.test:3390\n", "/v:host.test:3390"),
            (
                "full address:s:host.test\nserver port:i:3391\n",
                "/v:host.test:3391",
            ),
            (
                "full address:s:host.test:3390\nserver port:i:3391\n",
                "/v:host.test:3390",
            ),
            ("full address:s:[::1]:3390\n", "/v:[::1]:3390"),
            ("full address:s:[2001:db8::1]\n", "/v:[2001:db8::1]"),
            ("full address:s:2001:db8::1\n", "/v:[2001:db8::1]"),
            ("full address:s: 10.0.0.1 \n", "/v:10.0.0.1"),
            (
                "full address:s:a\nalternate full address:s:b.test:4000\n",
                "/v:b.test:4000",
            ),
            ("full address:s:a\nalternate full address:s:\n", "/v:a"),
        ] {
            let got = args(V2, text).unwrap();
            assert_eq!(got[1], v, "{text:?}");
            assert_eq!(args(V3, text).unwrap()[1], v, "{text:?}");
        }
        for (text, setting) in [
            ("full address:s:\n", "full address"),
            ("full address:s:host,evil\n", "full address"),
            ("full address:s:host /p:x\n", "full address"),
            ("full address:s:-host\n", "full address"),
            ("full address:s:|:12\n", "full address"),
            ("full address:s:vsock://1\n", "full address"),
            ("full address:s:host:0\n", "full address"),
            ("full address:s:host:65536\n", "full address"),
            ("full address:s:host:99999999999999999999\n", "full address"),
            ("full address:s:[::1\n", "full address"),
            ("full address:s:[::1]x\n", "full address"),
            ("full address:s:[nothex::]\n", "full address"),
            ("full address:s:h\nserver port:i:-1\n", "server port"),
            (
                "full address:s:h\nserver port:i:9223372036854775807\n",
                "server port",
            ),
            ("full address:i:5\n", "full address"),
            (
                "full address:s:h\nalternate full address:s:a b\n",
                "alternate full address",
            ),
        ] {
            assert_eq!(setting_of(args(V2, text).unwrap_err()), setting, "{text:?}");
        }
        assert_eq!(
            args(V2, "username:s:x\n"),
            Err(MappingError::Missing("full address"))
        );
    }

    #[test]
    fn first_argument_is_the_certificate_policy() {
        let text = "full address:s:evil.rdp\n";
        assert_eq!(args(V2, text).unwrap()[0], "/cert-tofu");
        assert_eq!(args(V3, text).unwrap()[0], "/cert:tofu");
        let strict = "full address:s:h\nauthentication level:i:1\n";
        assert_eq!(args(V2, strict).unwrap()[0], "/cert-deny");
        assert_eq!(args(V3, strict).unwrap()[0], "/cert:deny");
        assert!(args(V2, "full address:s:h\nauthentication level:i:4\n").is_err());
    }

    #[test]
    fn gateways() {
        let base = "full address:s:h\ngatewayhostname:s:gw.test\n";
        let v2 = args(V2, &format!("{base}gatewayusagemethod:i:1\n")).unwrap();
        assert_eq!(v2[2..4], ["/g:gw.test", "/gateway-usage-method:direct"]);
        let v3 = args(V3, &format!("{base}gatewayusagemethod:i:2\n")).unwrap();
        assert_eq!(v3[2], "/gateway:g:gw.test,usage-method:detect");
        for off in ["0", "4"] {
            let a = args(V3, &format!("{base}gatewayusagemethod:i:{off}\n")).unwrap();
            assert!(!a.iter().any(|a| a.starts_with("/gateway")), "{a:?}");
        }
        assert_eq!(
            args(V2, "full address:s:h\ngatewayhostname:s:gw.test:8443\n").unwrap()[2],
            "/g:gw.test:8443"
        );
        assert_eq!(
            args(V2, "full address:s:h\ngatewayhostname:s:\n")
                .unwrap()
                .len(),
            3
        );
        for hostile in [
            "gw,p:secret",
            "gw.test,usage-method:none",
            "[::1]:443",
            "gw test",
        ] {
            let text = format!("full address:s:h\ngatewayhostname:s:{hostile}\n");
            assert_eq!(setting_of(args(V3, &text).unwrap_err()), "gatewayhostname");
        }
        assert!(args(V2, &format!("{base}gatewayusagemethod:i:9\n")).is_err());
        assert!(args(V2, &format!("{base}gatewaycredentialssource:i:99\n")).is_err());
    }

    const APP: &str = "full address:s:h\nremoteapplicationmode:i:1\nremoteapplicationprogram:s:||calc\nremoteapplicationname:s:Calculator\n";

    #[test]
    fn remote_apps() {
        let v2 = args(V2, &format!("{APP}remoteapplicationcmdline:s:/x \"a b\"\n")).unwrap();
        assert_eq!(
            v2[2..5],
            ["/app:||calc", "/app-name:Calculator", "/app-cmd:/x \"a b\""]
        );
        let v3 = args(V3, &format!("{APP}remoteapplicationcmdline:s:/x \"a b\"\n")).unwrap();
        assert_eq!(v3[2], "/app:program:||calc,name:Calculator,cmd:/x \"a b\"");
        let v3 = args(
            V3,
            &format!("{APP}remoteapplicationfile:s:C:\\data\\x.txt\n"),
        )
        .unwrap();
        assert_eq!(
            v3[2],
            "/app:program:||calc,name:Calculator,file:C:\\data\\x.txt"
        );
        assert_eq!(
            args(V2, "full address:s:h\nremoteapplicationmode:i:1\n"),
            Err(MappingError::Missing("remoteapplicationprogram"))
        );
    }

    #[test]
    fn list_injection_is_refused_for_3() {
        for (line, setting) in [
            (
                "remoteapplicationprogram:s:||calc,file:x",
                "remoteapplicationprogram",
            ),
            (
                "remoteapplicationname:s:a,program:evil",
                "remoteapplicationname",
            ),
            (
                "remoteapplicationname:s:\"quoted\"",
                "remoteapplicationname",
            ),
            ("remoteapplicationcmdline:s:a,b", "remoteapplicationcmdline"),
            (
                "remoteapplicationcmdline:s:it's",
                "remoteapplicationcmdline",
            ),
            (
                "remoteapplicationcmdline:s:\"odd",
                "remoteapplicationcmdline",
            ),
            (
                "remoteapplicationcmdline:s:\"a\\\"\"",
                "remoteapplicationcmdline",
            ),
            (
                "remoteapplicationcmdline:s:C:\\dir\\",
                "remoteapplicationcmdline",
            ),
        ] {
            let text = format!("{APP}{line}\n");
            assert_eq!(setting_of(args(V3, &text).unwrap_err()), setting, "{line}");
            // FreeRDP 2 takes these values whole.
            assert!(args(V2, &text).is_ok(), "{line}");
        }
    }

    #[test]
    fn hostile_values() {
        let long = "x".repeat(MAX_PROGRAM + 1);
        for line in [
            format!("remoteapplicationprogram:s:{long}"),
            "remoteapplicationname:i:3".to_owned(),
            "session bpp:i:31".to_owned(),
            "session bpp:i:99999999999".to_owned(),
            "audiomode:i:3".to_owned(),
            "redirectclipboard:i:2".to_owned(),
            "connection type:i:0".to_owned(),
            "screen mode id:i:-1".to_owned(),
        ] {
            assert!(args(V2, &format!("{APP}{line}\n")).is_err(), "{line}");
        }
        // A file built in memory can hold what the parser refuses.
        let mut file = rdp(APP);
        file.settings.push(crate::Setting {
            name: "remoteapplicationcmdline".into(),
            value: Value::Str("a\nb".into()),
        });
        let err = command_line(&V2, &launch(&file, &[])).unwrap_err();
        assert!(
            err.to_string().contains("control character U+000A"),
            "{err}"
        );
    }

    #[test]
    fn caller_values() {
        let file = rdp("full address:s:h\n");
        let mut l = launch(&file, &[]);
        l.title = Some("Calculator (work)");
        let a = command_line(&V2, &l).unwrap();
        assert_eq!(
            a[a.len() - 2..],
            ["/t:Calculator (work)", "/wm-class:radc-test"]
        );
        l.wm_class = "";
        assert!(matches!(
            command_line(&V2, &l),
            Err(MappingError::Launch {
                what: "window class",
                ..
            })
        ));
        l.wm_class = "ok";
        l.title = Some("a\u{7}");
        assert!(matches!(
            command_line(&V2, &l),
            Err(MappingError::Launch { what: "title", .. })
        ));
    }

    #[test]
    fn credentials() {
        let file = rdp("full address:s:h\nusername:s:CONTOSO\\alice\ndomain:s:CONTOSO\n");
        let mut l = launch(&file, &[]);
        let a = command_line(&V3, &l).unwrap();
        assert!(
            a.contains(&"/u:CONTOSO\\alice".to_owned()) && a.contains(&"/d:CONTOSO".to_owned())
        );
        l.credentials_from_stdin = true;
        let a = command_line(&V3, &l).unwrap();
        assert!(a.contains(&"/from-stdin:force".to_owned()));
        assert!(
            !a.iter()
                .any(|a| a.starts_with("/u:") || a.starts_with("/d:")),
            "{a:?}"
        );
    }

    #[test]
    fn files_become_drives_and_arguments() {
        let file = rdp(APP);
        let files = [
            PathBuf::from("/home/u/Documents/report.docx"),
            PathBuf::from("/home/u/Documents/my notes.txt"),
            PathBuf::from("/tmp/x.txt"),
        ];
        for version in [V2, V3] {
            let a = command_line(&version, &launch(&file, &files)).unwrap();
            let cmd = r#"\\tsclient\radc1\report.docx "\\tsclient\radc1\my notes.txt" \\tsclient\radc2\x.txt"#;
            if version.major == 2 {
                assert!(a.contains(&format!("/app-cmd:{cmd}")), "{a:?}");
            } else {
                assert!(
                    a.contains(&format!("/app:program:||calc,name:Calculator,cmd:{cmd}")),
                    "{a:?}"
                );
            }
            assert!(
                a.contains(&"/drive:radc1,/home/u/Documents".to_owned()),
                "{a:?}"
            );
            assert!(a.contains(&"/drive:radc2,/tmp".to_owned()), "{a:?}");
        }
        let with_cmd = rdp(&format!("{APP}remoteapplicationcmdline:s:/p\n"));
        let a = command_line(&V2, &launch(&with_cmd, &files[2..])).unwrap();
        assert!(
            a.contains(&r"/app-cmd:/p \\tsclient\radc1\x.txt".to_owned()),
            "{a:?}"
        );
        let root = [PathBuf::from("/x.txt")];
        let a = command_line(&V2, &launch(&file, &root)).unwrap();
        assert!(a.contains(&"/drive:radc1,/".to_owned()), "{a:?}");
    }

    #[test]
    fn bad_files_are_refused() {
        let file = rdp(APP);
        for (path, v3_only) in [
            ("relative.txt", false),
            ("/a,b/x.txt", false),
            ("/it's/x.txt", false),
            ("/a\\b/x.txt", false),
            ("/d/a:b.txt", false),
            ("/d/a\"b.txt", false),
            ("/d/a|b.txt", false),
            ("/d/trailing.", false),
            ("/d/line\nbreak", false),
            ("/d/", false),
            ("/d/a,b.txt", true),
            ("/d/Bob's.txt", true),
        ] {
            let files = [PathBuf::from(path)];
            let v3 = command_line(&V3, &launch(&file, &files));
            assert!(
                matches!(v3, Err(MappingError::File { .. })),
                "{path}: {v3:?}"
            );
            let v2 = command_line(&V2, &launch(&file, &files));
            assert_eq!(v2.is_ok(), v3_only, "{path}: {v2:?}");
        }
        let many: Vec<PathBuf> = (0..=MAX_FILES)
            .map(|i| PathBuf::from(format!("/d/{i}")))
            .collect();
        assert!(command_line(&V2, &launch(&file, &many)).is_err());
        let desktop = rdp("full address:s:h\n");
        let files = [PathBuf::from("/d/x.txt")];
        assert!(matches!(
            command_line(&V2, &launch(&desktop, &files)),
            Err(MappingError::Launch { what: "files", .. })
        ));
    }

    const SDL: Client = Client::sdl(Version::new(3, 10, 3));
    const X3: Client = Client::x11(Version::new(3, 10, 3));

    #[test]
    fn clients_are_known_by_their_program_names() {
        let v = Version::new(3, 10, 3);
        assert_eq!(Client::from_program_name("sdl-freerdp3", v), SDL);
        assert_eq!(Client::from_program_name("sdl-freerdp", v), SDL);
        assert_eq!(Client::from_program_name("xfreerdp3", v), X3);
        assert_eq!(
            Client::from_program_name("xfreerdp-recorder", V2),
            Client::x11(V2)
        );
        assert_eq!(SDL.to_string(), "sdl-freerdp3 3.10.3");
        assert_eq!(Client::x11(V2).to_string(), "xfreerdp 2.11.7");
        assert_eq!(X3.to_string(), "xfreerdp3 3.10.3");
        // There is no SDL client in FreeRDP 2.
        let file = rdp("full address:s:h\n");
        assert_eq!(
            command_line_for(&Client::sdl(V2), &launch(&file, &[])),
            Err(MappingError::UnsupportedVersion(V2))
        );
    }

    #[test]
    fn the_sdl_client_runs_desktops_as_xfreerdp3_does() {
        let file = rdp(
            "full address:s:h\nscreen mode id:i:2\ndesktopwidth:i:800\ndesktopheight:i:600\n\
             use multimon:i:1\ndynamic resolution:i:1\ndrivestoredirect:s:*\n",
        );
        let l = launch(&file, &[]);
        let x = command_line_for(&X3, &l).unwrap();
        let s = command_line_for(&SDL, &l).unwrap();
        assert_eq!(s.args, x.args, "the same options");
        assert!(s.args.contains(&"/f".to_owned()), "{:?}", s.args);
        assert!(x.environment.is_empty() && x.notes.is_empty());
        // The window class reaches SDL through its environment.
        assert_eq!(
            s.environment,
            [
                ("SDL_VIDEO_X11_WMCLASS", "radc-test".to_owned()),
                ("SDL_VIDEO_WAYLAND_WMCLASS", "radc-test".to_owned()),
            ]
        );
        assert!(s.notes.is_empty(), "{:?}", s.notes);
    }

    #[test]
    fn the_sdl_client_refuses_remote_apps_and_names_the_setting() {
        let file = rdp(APP);
        let err = command_line_for(&SDL, &launch(&file, &[])).unwrap_err();
        assert!(
            matches!(
                err,
                MappingError::Client {
                    setting: "remoteapplicationmode",
                    ..
                }
            ),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("sdl-freerdp3") && text.contains("xfreerdp3"),
            "{text}"
        );
        assert!(command_line_for(&X3, &launch(&file, &[])).is_ok());
        // With files to open, too.
        let files = [PathBuf::from("/tmp/x.txt")];
        assert!(matches!(
            command_line_for(&SDL, &launch(&file, &files)),
            Err(MappingError::Client { .. })
        ));
    }

    #[test]
    fn the_sdl_client_warns_that_it_may_not_share_the_clipboard() {
        let on = rdp("full address:s:h\nredirectclipboard:i:1\n");
        let c = command_line_for(&SDL, &launch(&on, &[])).unwrap();
        assert!(c.args.contains(&"+clipboard".to_owned()));
        assert_eq!(c.notes.len(), 1, "{:?}", c.notes);
        assert_eq!(c.notes[0].setting, "redirectclipboard");
        let off = rdp("full address:s:h\nredirectclipboard:i:0\n");
        assert!(
            command_line_for(&SDL, &launch(&off, &[]))
                .unwrap()
                .notes
                .is_empty()
        );
    }

    #[test]
    fn gateway_credentials_never_go_on_the_command_line() {
        let base = "full address:s:h\ngatewayhostname:s:gw.test\ngatewayusagemethod:i:1\n";
        for once in [0, 1] {
            for source in 0..=5 {
                for stdin in [false, true] {
                    let text = format!(
                        "{base}promptcredentialonce:i:{once}\ngatewaycredentialssource:i:{source}\n\
                         gatewayprofileusagemethod:i:1\nusername:s:alice\ndomain:s:CORP\n"
                    );
                    let file = rdp(&text);
                    let mut l = launch(&file, &[]);
                    l.credentials_from_stdin = stdin;
                    for client in [Client::x11(V2), X3, SDL] {
                        let c = command_line_for(&client, &l).unwrap();
                        let gateway: Vec<&String> = c
                            .args
                            .iter()
                            .filter(|a| a.starts_with("/g") && !a.starts_with("/gdi"))
                            .collect();
                        if client.version.major == 2 {
                            assert_eq!(
                                gateway,
                                ["/g:gw.test", "/gateway-usage-method:direct"],
                                "{text}"
                            );
                        } else {
                            assert_eq!(gateway, ["/gateway:g:gw.test,usage-method:direct"]);
                        }
                        for a in &c.args {
                            assert!(
                                !(a.starts_with("/gu:")
                                    || a.starts_with("/gp:")
                                    || a.starts_with("/gd:")
                                    || a.starts_with("/p:")
                                    || a.contains(",u:")
                                    || a.contains(",p:")
                                    || a.contains(",d:")),
                                "{a}"
                            );
                        }
                        // The session's account serves the gateway: it is
                        // on the command line exactly when it would be
                        // without one.
                        assert_eq!(c.args.contains(&"/u:alice".to_owned()), !stdin);
                        assert_eq!(c.args.contains(&"/from-stdin:force".to_owned()), stdin);
                        let warned = c
                            .notes
                            .iter()
                            .any(|n| n.setting == "gatewaycredentialssource");
                        assert_eq!(warned, [1, 2, 5].contains(&source), "{source}");
                    }
                }
            }
        }
        for bad in [
            "promptcredentialonce:i:2",
            "promptcredentialonce:s:1",
            "gatewayprofileusagemethod:i:2",
            "gatewaycredentialssource:i:6",
        ] {
            let err = args(V3, &format!("{base}{bad}\n")).unwrap_err();
            assert_eq!(setting_of(err), bad.split(':').next().unwrap(), "{bad}");
        }
        // Without a gateway, nothing of it is written or warned about.
        let c = command_line_for(
            &SDL,
            &launch(
                &rdp("full address:s:h\ngatewaycredentialssource:i:1\n"),
                &[],
            ),
        )
        .unwrap();
        assert!(c.notes.is_empty());
    }

    #[test]
    fn drives_from_the_file_never_name_local_paths() {
        for value in ["*", "C:\\;D:\\", "DynamicDrives", "/etc", ""] {
            let a = args(
                V2,
                &format!("full address:s:h\ndrivestoredirect:s:{value}\n"),
            )
            .unwrap();
            let home = a.contains(&"+home-drive".to_owned());
            assert_eq!(home, value == "*", "{value}");
            assert!(!a.iter().any(|a| a.starts_with("/drive")), "{a:?}");
        }
    }
}
