//! What a subscribed workspace becomes on the desktop: the files to
//! generate for it, ready for [`crate::sync::plan`].
//!
//! - one desktop entry per shown resource (`applications/`),
//! - its icon at each rendered size (`icons/hicolor/<n>x<n>/apps/`),
//! - a menu merge file putting the workspace's entries in a submenu named
//!   after the workspace, with the feed's folders as submenus
//!   (`menus/applications-merged/`), and a `.directory` entry per menu
//!   (`desktop-directories/`),
//! - a shared-mime-info package for file extensions the system has no MIME
//!   type for (`mime/packages/`).

use std::collections::{BTreeMap, BTreeSet};

use radc_feed::{Feed, Resource, ResourceType};

use crate::entry::{self, Entry, EntryError, Kind};
use crate::names::{resource_stem, workspace_stem};
use crate::sync::{Base, Contents, GeneratedFile};

/// An icon rendered at theme sizes: `(size, PNG)`, the PNG's bytes or, for
/// an icon rendered by an earlier sync, its hash (see
/// [`crate::render_cache`]).
pub type Rendered = Vec<(u32, Contents)>;

/// What the caller knows that the feed does not.
pub struct Context<'a> {
    /// Absolute path of the `radc` executable.
    pub program: &'a str,
    /// Whether a resource goes into the menu (`ShowByDefault`, unless the
    /// user chose otherwise).
    pub shown: &'a dyn Fn(&Resource) -> bool,
    /// The system's MIME type for a file extension (`.docx`), if it has one.
    pub known_mime_type: &'a dyn Fn(&str) -> Option<String>,
    /// Rendered icon PNGs by resource id.
    pub icons: &'a BTreeMap<String, Rendered>,
    /// Rendered document icons by (resource id, lowercase extension), for
    /// the MIME types radc defines.
    pub extension_icons: &'a BTreeMap<(String, String), Rendered>,
}

/// Extensions accepted from a feed: a dot and up to 31 of `[A-Za-z0-9_+-]`.
fn clean_extension(name: &str) -> Option<String> {
    let rest = name.strip_prefix('.')?;
    let ok = !rest.is_empty()
        && rest.len() < 32
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-'));
    ok.then(|| format!(".{}", rest.to_ascii_lowercase()))
}

/// The MIME type radc defines for an extension nobody else knows.
fn own_mime_type(workspace_id: &str, extension: &str) -> String {
    format!(
        "application/x-{}{}",
        workspace_stem(workspace_id),
        extension.replace('.', "-")
    )
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// A `.directory` entry naming a menu.
fn directory_entry(name: &str) -> Result<Vec<u8>, EntryError> {
    if name.chars().any(char::is_control) {
        return Err(EntryError::ControlCharacter {
            what: "folder name",
            value: name.escape_debug().to_string(),
        });
    }
    Ok(format!(
        "[Desktop Entry]\nType=Directory\nName={}\nIcon=folder-remote\n",
        entry::escape_value(name)
    )
    .into_bytes())
}

/// A folder path's menu name: unique per path, safe in XML and file names.
fn folder_stem(workspace_id: &str, folder: &str) -> String {
    resource_stem(workspace_id, &format!("folder:{folder}"))
}

/// Every file for one workspace.
pub fn workspace_files(feed: &Feed, cx: &Context<'_>) -> Result<Vec<GeneratedFile>, EntryError> {
    let ws = &feed.publisher.id;
    let ws_name = feed.publisher.display_name();
    let ws_stem = workspace_stem(ws);
    let mut files = Vec::new();
    let mut own_types: BTreeSet<(String, String)> = BTreeSet::new();
    // Entries per menu: "" for the workspace's own menu, else a folder path.
    let mut menus: BTreeMap<String, Vec<String>> = BTreeMap::new();

    for resource in feed.resources.iter().filter(|r| (cx.shown)(r)) {
        let stem = resource_stem(ws, &resource.id);
        let mut mime_types = Vec::new();
        for ext in resource
            .file_extensions
            .iter()
            .filter_map(|e| clean_extension(&e.name))
        {
            let mime = (cx.known_mime_type)(&ext).unwrap_or_else(|| {
                let own = own_mime_type(ws, &ext);
                if own_types.insert((own.clone(), ext.clone())) {
                    // The theme looks a type's icon up by its name with `-`
                    // for `/`.
                    let icon_name = own.replace('/', "-");
                    let key = (resource.id.clone(), ext.clone());
                    for (size, png) in cx.extension_icons.get(&key).into_iter().flatten() {
                        files.push(GeneratedFile {
                            base: Base::Icons,
                            path: format!("hicolor/{size}x{size}/mimetypes/{icon_name}.png"),
                            contents: png.clone(),
                        });
                    }
                }
                own
            });
            if !mime_types.contains(&mime) {
                mime_types.push(mime);
            }
        }
        let rendered = cx.icons.get(&resource.id).filter(|i| !i.is_empty());
        for (size, png) in rendered.into_iter().flatten() {
            files.push(GeneratedFile {
                base: Base::Icons,
                path: format!("hicolor/{size}x{size}/apps/{stem}.png"),
                contents: png.clone(),
            });
        }
        let text = entry::render(&Entry {
            kind: match resource.resource_type {
                ResourceType::Desktop => Kind::Desktop,
                _ => Kind::RemoteApp,
            },
            name: &resource.title,
            workspace_name: ws_name,
            workspace_id: ws,
            resource_id: &resource.id,
            program: cx.program,
            icon: Some(if rendered.is_some() {
                &stem
            } else {
                "network-server"
            }),
            mime_types: &mime_types,
            wm_class: &stem,
        })?;
        let file_name = format!("{stem}.desktop");
        files.push(GeneratedFile {
            base: Base::Applications,
            path: file_name.clone(),
            contents: text.into_bytes().into(),
        });
        if resource.folders.is_empty() {
            menus.entry(String::new()).or_default().push(file_name);
        } else {
            for folder in &resource.folders {
                // "/" is the workspace's own menu.
                let key = if folder.trim_matches('/').is_empty() {
                    String::new()
                } else {
                    folder.clone()
                };
                let entries = menus.entry(key).or_default();
                if entries.contains(&file_name) {
                    continue;
                }
                entries.push(file_name.clone());
            }
        }
    }

    if !menus.is_empty() {
        files.push(GeneratedFile {
            base: Base::DesktopDirectories,
            path: format!("{ws_stem}.directory"),
            contents: directory_entry(ws_name)?.into(),
        });
        let mut xml = String::from(
            "<!DOCTYPE Menu PUBLIC \"-//freedesktop//DTD Menu 1.0//EN\"\n \
             \"http://www.freedesktop.org/standards/menu-spec/1.0/menu.dtd\">\n\
             <Menu>\n  <Name>Applications</Name>\n",
        );
        xml.push_str(&format!(
            "  <Menu>\n    <Name>{ws_stem}</Name>\n    <Directory>{ws_stem}.directory</Directory>\n"
        ));
        for (folder, entries) in &menus {
            let indent = if folder.is_empty() { "    " } else { "      " };
            if !folder.is_empty() {
                let stem = folder_stem(ws, folder);
                let label = folder.trim_start_matches('/');
                files.push(GeneratedFile {
                    base: Base::DesktopDirectories,
                    path: format!("{stem}.directory"),
                    contents: directory_entry(if label.is_empty() { ws_name } else { label })?
                        .into(),
                });
                xml.push_str(&format!(
                    "    <Menu>\n      <Name>{stem}</Name>\n      <Directory>{stem}.directory</Directory>\n"
                ));
            }
            xml.push_str(&format!("{indent}<Include>\n"));
            for name in entries {
                xml.push_str(&format!(
                    "{indent}  <Filename>{}</Filename>\n",
                    xml_escape(name)
                ));
            }
            xml.push_str(&format!("{indent}</Include>\n"));
            if !folder.is_empty() {
                xml.push_str("    </Menu>\n");
            }
        }
        xml.push_str("  </Menu>\n</Menu>\n");
        files.push(GeneratedFile {
            base: Base::Menus,
            path: format!("{ws_stem}.menu"),
            contents: xml.into_bytes().into(),
        });
    }

    if !own_types.is_empty() {
        let mut xml = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <mime-info xmlns=\"http://www.freedesktop.org/standards/shared-mime-info\">\n",
        );
        for (mime, ext) in &own_types {
            xml.push_str(&format!(
                "  <mime-type type=\"{}\">\n    <comment>{} document ({})</comment>\n    <glob pattern=\"*{}\"/>\n  </mime-type>\n",
                xml_escape(mime),
                xml_escape(ws_name),
                xml_escape(ext),
                xml_escape(ext)
            ));
        }
        xml.push_str("</mime-info>\n");
        files.push(GeneratedFile {
            base: Base::MimePackages,
            path: format!("{ws_stem}.xml"),
            contents: xml.into_bytes().into(),
        });
    }
    Ok(files)
}
