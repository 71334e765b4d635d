//! The resource-type registry: which program opens a resource whose file
//! extension is not `.rdp`. Two tables exist, per-user and machine-wide;
//! this module is the table and its validation, the caller stores it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Result, RuntimeError};
use crate::validate;

/// Longest extension accepted, dot included.
pub const MAX_EXTENSION_LEN: usize = 32;
/// Longest launcher path accepted.
pub const MAX_LAUNCHER_LEN: usize = 4096;
/// Most entries in one table.
pub const MAX_ENTRIES: usize = 1024;
/// Version written into stored tables.
pub const FORMAT_VERSION: u32 = 1;

/// Extensions of files that run code when opened. A feed could publish
/// one as a resource; radc never opens them, whatever launcher is
/// registered.
const PROGRAM_EXTENSIONS: [&str; 24] = [
    ".exe",
    ".com",
    ".bat",
    ".cmd",
    ".msi",
    ".ps1",
    ".vbs",
    ".js",
    ".jar",
    ".sh",
    ".bash",
    ".zsh",
    ".py",
    ".pl",
    ".rb",
    ".desktop",
    ".appimage",
    ".run",
    ".bin",
    ".elf",
    ".so",
    ".deb",
    ".rpm",
    ".scr",
];

/// Whether files of this extension run code when opened.
pub fn is_program(extension: &str) -> bool {
    PROGRAM_EXTENSIONS.contains(&extension.to_ascii_lowercase().as_str())
}

/// An extension a launcher may be registered for, normalised: not `.rdp`
/// (radc opens those with FreeRDP itself, after checking their signature
/// and the trust policy) and not a program.
pub fn registrable_extension(extension: &str) -> Result<String> {
    let ext = validate_extension(extension)?;
    if ext == ".rdp" {
        return Err(RuntimeError::invalid_args(
            ".rdp files always open with FreeRDP, after radc checks their signature; \
             no other launcher can be registered for them",
        ));
    }
    if is_program(&ext) {
        return Err(RuntimeError::invalid_args(format!(
            "{ext} files run programs on this computer when opened; radc never opens them, \
             so no launcher can be registered for them"
        )));
    }
    Ok(ext)
}

/// Normalises and checks an extension: a dot, then 1 to 31 ASCII letters,
/// digits, `_`, `-` or `+`. Stored lowercase, as file matching is
/// case-insensitive.
pub fn validate_extension(extension: &str) -> Result<String> {
    let bad = |why: &str| {
        RuntimeError::invalid_args(format!(
            "extension {:?} {why}; write it like \".rdp\" or \".vnc\"",
            validate::for_log(extension)
        ))
    };
    let Some(rest) = extension.strip_prefix('.') else {
        return Err(bad("does not start with a dot"));
    };
    if rest.is_empty() {
        return Err(bad("has nothing after the dot"));
    }
    if extension.len() > MAX_EXTENSION_LEN {
        return Err(bad(&format!("is longer than {MAX_EXTENSION_LEN} bytes")));
    }
    if !rest
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+'))
    {
        return Err(bad(
            "may hold only letters, digits, '_', '-' and '+' after the dot",
        ));
    }
    Ok(extension.to_ascii_lowercase())
}

/// Checks the form of a launcher path: absolute, bounded, printable, no `.`
/// or `..` components. Whether it is an executable file is the caller's
/// check, since it needs the filesystem.
pub fn validate_launcher(launcher: &str) -> Result<&str> {
    validate::identifier("launcher", launcher, MAX_LAUNCHER_LEN)?;
    if !launcher.starts_with('/') {
        return Err(RuntimeError::invalid_args(format!(
            "launcher {:?} is not an absolute path; give the full path, e.g. /usr/bin/remmina",
            validate::for_log(launcher)
        )));
    }
    if launcher.ends_with('/') || launcher.split('/').any(|c| c == "." || c == "..") {
        return Err(RuntimeError::invalid_args(format!(
            "launcher {:?} is not a plain path to a file",
            validate::for_log(launcher)
        )));
    }
    Ok(launcher)
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResTypeTable {
    entries: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    version: u32,
    types: BTreeMap<String, String>,
}

impl ResTypeTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// `AddResourceType`: fails if the extension is already registered.
    pub fn add(&mut self, extension: &str, launcher: &str) -> Result<()> {
        let ext = registrable_extension(extension)?;
        validate_launcher(launcher)?;
        if self.entries.contains_key(&ext) {
            return Err(RuntimeError::invalid_args(format!(
                "extension {ext} is already registered; change its launcher with \
                 `radc restype modify` (ModifyResourceType)"
            )));
        }
        if self.entries.len() >= MAX_ENTRIES {
            return Err(RuntimeError::failed(format!(
                "the table already holds {MAX_ENTRIES} resource types"
            )));
        }
        self.entries.insert(ext, launcher.to_owned());
        Ok(())
    }

    /// `ModifyResourceType`: fails if the extension is not registered.
    pub fn modify(&mut self, extension: &str, launcher: &str) -> Result<()> {
        let ext = registrable_extension(extension)?;
        validate_launcher(launcher)?;
        let slot = self
            .entries
            .get_mut(&ext)
            .ok_or_else(|| not_registered(&ext))?;
        *slot = launcher.to_owned();
        Ok(())
    }

    /// `DeleteResourceType`.
    pub fn delete(&mut self, extension: &str) -> Result<()> {
        let ext = validate_extension(extension)?;
        self.entries
            .remove(&ext)
            .map(drop)
            .ok_or_else(|| not_registered(&ext))
    }

    /// `GetResourceTypeInfo`: the launcher of an extension.
    pub fn get(&self, extension: &str) -> Result<&str> {
        let ext = validate_extension(extension)?;
        self.entries
            .get(&ext)
            .map(String::as_str)
            .ok_or_else(|| not_registered(&ext))
    }

    /// `GetRegisteredFileExtensions`, sorted.
    pub fn extensions(&self) -> Vec<String> {
        self.entries.keys().cloned().collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn to_json(&self) -> String {
        let stored = Stored {
            version: FORMAT_VERSION,
            types: self.entries.clone(),
        };
        serde_json::to_string_pretty(&stored).expect("a map of strings always serialises") + "\n"
    }

    /// Reads a stored table, checking every entry as if it had been added
    /// through the API: a hand-edited file gets the same scrutiny.
    pub fn from_json(text: &str) -> Result<ResTypeTable> {
        let stored: Stored = serde_json::from_str(text)
            .map_err(|e| RuntimeError::failed(format!("not a resource-type table: {e}")))?;
        if stored.version != FORMAT_VERSION {
            return Err(RuntimeError::failed(format!(
                "table format version {} is not supported (expected {FORMAT_VERSION})",
                stored.version
            )));
        }
        let mut table = ResTypeTable::new();
        for (ext, launcher) in &stored.types {
            table.add(ext, launcher)?;
        }
        Ok(table)
    }
}

fn not_registered(ext: &str) -> RuntimeError {
    RuntimeError::not_found(format!(
        "no launcher is registered for {ext} files; `radc restype list` lists them"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn extension_rules() {
        assert_eq!(validate_extension(".VNC").unwrap(), ".vnc");
        assert_eq!(validate_extension(".tar-gz+1_x").unwrap(), ".tar-gz+1_x");
        for bad in ["", ".", "vnc", "..", "./x", ".a b", ".a/b", ".\n", ".é"] {
            let e = validate_extension(bad).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidArgs, "{bad:?}");
        }
        assert!(validate_extension(&format!(".{}", "a".repeat(MAX_EXTENSION_LEN))).is_err());
    }

    #[test]
    fn launcher_rules() {
        assert!(validate_launcher("/usr/bin/remmina").is_ok());
        for bad in [
            "",
            "remmina",
            "/usr/bin/",
            "/usr/../bin/sh",
            "/a/./b",
            "/a\nb",
        ] {
            assert!(validate_launcher(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn add_modify_delete() {
        let mut t = ResTypeTable::new();
        t.add(".VNC", "/usr/bin/vncviewer").unwrap();
        assert_eq!(
            t.add(".vnc", "/bin/x").unwrap_err().kind,
            ErrorKind::InvalidArgs
        );
        assert_eq!(t.get(".vnc").unwrap(), "/usr/bin/vncviewer");
        t.modify(".vnc", "/usr/bin/remmina").unwrap();
        assert_eq!(t.get(".Vnc").unwrap(), "/usr/bin/remmina");
        assert_eq!(
            t.modify(".x", "/bin/x").unwrap_err().kind,
            ErrorKind::NotFound
        );
        assert_eq!(t.extensions(), vec![".vnc".to_string()]);
        t.delete(".vnc").unwrap();
        assert_eq!(t.delete(".vnc").unwrap_err().kind, ErrorKind::NotFound);
        assert_eq!(t.get(".vnc").unwrap_err().kind, ErrorKind::NotFound);
    }

    #[test]
    fn json_round_trip_and_hostile_files() {
        let mut t = ResTypeTable::new();
        t.add(".vnc", "/usr/bin/vncviewer").unwrap();
        t.add(".spice", "/usr/bin/remote-viewer").unwrap();
        assert_eq!(ResTypeTable::from_json(&t.to_json()).unwrap(), t);
        assert!(ResTypeTable::from_json("{").is_err());
        assert!(ResTypeTable::from_json(r#"{"version":2,"types":{}}"#).is_err());
        let hostile = r#"{"version":1,"types":{"../x":"/bin/sh"}}"#;
        assert_eq!(
            ResTypeTable::from_json(hostile).unwrap_err().kind,
            ErrorKind::InvalidArgs
        );
    }
}
