//! Names radc gives the files and objects it creates for a resource. Feed
//! ids are untrusted, so each name is a short readable part (letters,
//! digits, `-`, `_`) plus a hash of the full id: no traversal, no clash
//! between workspaces, and still recognisable in a directory listing.

use sha2::{Digest, Sha256};

/// Every generated name starts with this.
pub const PREFIX: &str = "radc";

fn readable(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(max)
        .collect();
    while out.contains("__") {
        out = out.replace("__", "_");
    }
    out.trim_matches('_').to_owned()
}

fn hash(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .take(5)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn stem(label: &str, parts: &[&str]) -> String {
    let label = readable(label, 24);
    let hash = hash(parts);
    if label.is_empty() {
        hash
    } else {
        format!("{label}-{hash}")
    }
}

/// The part of every name that identifies a workspace: files of one
/// workspace share it, so they can be found and removed together.
pub fn workspace_stem(workspace_id: &str) -> String {
    format!("{PREFIX}-{}", stem(workspace_id, &[workspace_id]))
}

/// The stem of everything radc creates for one resource: the desktop file
/// (`<stem>.desktop`), the icon name, and the window class FreeRDP gives
/// the connection (so the taskbar groups it under the menu entry).
pub fn resource_stem(workspace_id: &str, resource_id: &str) -> String {
    format!(
        "{}-{}",
        workspace_stem(workspace_id),
        stem(resource_id, &[workspace_id, resource_id])
    )
}

/// The desktop file id (file name under `applications/`).
pub fn desktop_file_name(workspace_id: &str, resource_id: &str) -> String {
    format!("{}.desktop", resource_stem(workspace_id, resource_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_safe(name: &str) -> bool {
        !name.is_empty()
            && name.len() < 100
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && !name.starts_with('.')
    }

    #[test]
    fn hostile_ids_give_safe_distinct_names() {
        let hostile = [
            "../../etc/passwd",
            "/",
            "",
            "a\nb",
            "\0",
            "É✓",
            &"x".repeat(5000),
        ];
        let mut seen = std::collections::HashSet::new();
        for ws in hostile {
            for res in hostile {
                let name = desktop_file_name(ws, res);
                assert!(is_safe(&name), "{name:?}");
                assert!(seen.insert(name), "clash for {ws:?}/{res:?}");
            }
        }
    }

    #[test]
    fn names_are_readable_and_grouped_by_workspace() {
        let name = desktop_file_name("rdweb.contoso.com", "Word 2019");
        assert!(name.starts_with("radc-rdweb_contoso_com-"), "{name}");
        assert!(name.contains("-word_2019-"), "{name}");
        assert!(name.starts_with(&workspace_stem("rdweb.contoso.com")));
        assert_ne!(
            resource_stem("ws-a", "calc"),
            resource_stem("ws-b", "calc"),
            "the same resource id in two workspaces"
        );
        assert_ne!(resource_stem("ab", "c"), resource_stem("a", "bc"));
    }
}
