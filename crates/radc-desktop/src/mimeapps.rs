//! Edits of `mimeapps.list`, the file where the user's file associations
//! live. radc adds its entries to `[Added Associations]` so "Open with"
//! offers a RemoteApp for its file types, and takes exactly those out
//! again; every other line, comment and entry of the file is kept as it
//! was. Making a resource the *default* handler is left to the user.

use std::collections::BTreeMap;

/// The section that makes "Open with" offer an application.
pub const ADDED: &str = "[Added Associations]";
/// The section that makes an application the default for a type.
pub const DEFAULTS: &str = "[Default Applications]";

/// Returns `text` with every desktop id starting with `prefix` removed from
/// `[Added Associations]`, then `wanted` (MIME type → desktop ids) added.
/// Keys left with no value are dropped; the section is created if needed.
pub fn update(text: &str, prefix: &str, wanted: &BTreeMap<String, Vec<String>>) -> String {
    update_section(text, ADDED, prefix, wanted, false)
}

/// Like [`update`], for any section; with `first`, radc's ids go before the
/// others (in `[Default Applications]`, the first installed id wins).
pub fn update_section(
    text: &str,
    header: &str,
    prefix: &str,
    wanted: &BTreeMap<String, Vec<String>>,
    first: bool,
) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let start = lines.iter().position(|l| l.trim() == header);
    if start.is_none() && wanted.values().all(Vec::is_empty) {
        return text.to_owned();
    }
    let (start, end) = match start {
        Some(start) => {
            let end = lines[start + 1..]
                .iter()
                .position(|l| l.trim_start().starts_with('['))
                .map_or(lines.len(), |p| start + 1 + p);
            (start, end)
        }
        None => {
            if lines.last().is_some_and(|l| !l.trim().is_empty()) {
                lines.push(String::new());
            }
            lines.push(header.to_owned());
            (lines.len() - 1, lines.len())
        }
    };
    let mut section: Vec<String> = Vec::new();
    let mut remaining = wanted.clone();
    for line in &lines[start + 1..end] {
        let Some((key, value)) = line.split_once('=') else {
            section.push(line.clone());
            continue;
        };
        let key = key.trim();
        let mut ids: Vec<String> = value
            .split(';')
            .map(str::trim)
            .filter(|id| !id.is_empty() && !id.starts_with(prefix))
            .map(str::to_owned)
            .collect();
        if let Some(ours) = remaining.remove(key) {
            if first {
                ids.splice(0..0, ours);
            } else {
                ids.extend(ours);
            }
        }
        if !ids.is_empty() {
            section.push(format!("{key}={};", ids.join(";")));
        } else if !value.split(';').any(|id| id.trim().starts_with(prefix)) {
            // An empty key that was not ours: keep it as it was.
            section.push(line.clone());
        }
    }
    // Keep blank lines that separate this section from the next at the end.
    let trailing = section
        .iter()
        .rev()
        .take_while(|l| l.trim().is_empty())
        .count();
    let blanks = section.split_off(section.len() - trailing);
    for (mime, ids) in remaining {
        if !ids.is_empty() {
            section.push(format!("{mime}={};", ids.join(";")));
        }
    }
    section.extend(blanks);
    let mut out: Vec<String> = lines[..=start].to_vec();
    out.extend(section);
    out.extend(lines[end..].iter().cloned());
    let mut text = out.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    const USER: &str = "\
# my associations
[Default Applications]
text/plain=gedit.desktop;

[Added Associations]
text/plain=gedit.desktop;radc-old-x.desktop;
image/png=gimp.desktop;

[Removed Associations]
text/html=firefox.desktop;
";

    #[test]
    fn adds_ours_and_keeps_everything_else() {
        let out = update(
            USER,
            "radc-old-",
            &wanted(&[
                ("text/plain", &["radc-old-y.desktop"]),
                ("application/x-a", &["radc-old-y.desktop"]),
            ]),
        );
        assert!(
            out.starts_with(
                "# my associations\n[Default Applications]\ntext/plain=gedit.desktop;\n"
            )
        );
        assert!(
            out.contains("text/plain=gedit.desktop;radc-old-y.desktop;\n"),
            "{out}"
        );
        assert!(!out.contains("radc-old-x"), "{out}");
        assert!(out.contains("image/png=gimp.desktop;\n"));
        assert!(out.contains("application/x-a=radc-old-y.desktop;\n"));
        assert!(out.contains("[Removed Associations]\ntext/html=firefox.desktop;\n"));
    }

    #[test]
    fn removing_ours_restores_the_file() {
        let with = update(
            USER.replace("radc-old-x.desktop;", "").as_str(),
            "radc-w-",
            &wanted(&[
                ("text/plain", &["radc-w-a.desktop"]),
                ("application/x-b", &["radc-w-a.desktop"]),
            ]),
        );
        let without = update(&with, "radc-w-", &BTreeMap::new());
        assert_eq!(without, USER.replace("radc-old-x.desktop;", ""));
    }

    #[test]
    fn creates_the_section_and_file() {
        let out = update(
            "",
            "radc-w-",
            &wanted(&[("text/x-a", &["radc-w-a.desktop"])]),
        );
        assert_eq!(out, "[Added Associations]\ntext/x-a=radc-w-a.desktop;\n");
        let no_defaults = "[Added Associations]\n";
        assert_eq!(
            update_section(no_defaults, DEFAULTS, "radc-w-", &BTreeMap::new(), true),
            no_defaults,
            "no section is created just to remove nothing from it"
        );
        assert_eq!(
            update(&out, "radc-w-", &BTreeMap::new()),
            "[Added Associations]\n"
        );
    }

    #[test]
    fn defaults_go_first_and_come_out_cleanly() {
        let on = update_section(
            USER,
            DEFAULTS,
            "radc-w-",
            &wanted(&[("text/plain", &["radc-w-a.desktop"])]),
            true,
        );
        assert!(
            on.contains("[Default Applications]\ntext/plain=radc-w-a.desktop;gedit.desktop;\n"),
            "{on}"
        );
        let off = update_section(&on, DEFAULTS, "radc-w-", &BTreeMap::new(), true);
        assert_eq!(off, USER);
    }

    #[test]
    fn other_workspaces_are_left_alone() {
        let a = update("", "radc-a-", &wanted(&[("text/x", &["radc-a-1.desktop"])]));
        let both = update(&a, "radc-b-", &wanted(&[("text/x", &["radc-b-1.desktop"])]));
        assert!(
            both.contains("text/x=radc-a-1.desktop;radc-b-1.desktop;"),
            "{both}"
        );
        let only_b = update(&both, "radc-a-", &BTreeMap::new());
        assert!(only_b.contains("text/x=radc-b-1.desktop;"), "{only_b}");
    }
}
