//! Desktop entries (`.desktop` files) for workspace resources, written by
//! the rules of the Desktop Entry Specification (version 1.4, the newest
//! that the validators in use know) so that no feed string can add a key,
//! break a line or change the command that runs.

use std::fmt::Write as _;

/// RemoteApp or full desktop: they are told apart in the menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    RemoteApp,
    Desktop,
}

/// Everything one desktop entry says.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub kind: Kind,
    /// The resource's title (from the feed).
    pub name: &'a str,
    /// The workspace's display name (from the feed).
    pub workspace_name: &'a str,
    pub workspace_id: &'a str,
    pub resource_id: &'a str,
    /// Absolute path of the `radc` executable.
    pub program: &'a str,
    /// Icon name in the icon theme, if the resource has an icon.
    pub icon: Option<&'a str>,
    /// MIME types the resource opens (from its file extensions).
    pub mime_types: &'a [String],
    /// The window class the launched connection gets.
    pub wm_class: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("{what} {value:?} contains a control character; it cannot go into a desktop entry")]
    ControlCharacter { what: &'static str, value: String },
    #[error("the program path {0:?} is not absolute")]
    RelativeProgram(String),
    #[error("{0:?} is not a valid MIME type")]
    BadMimeType(String),
}

/// Escapes a value of type string or localestring: `\s`, `\n`, `\t`, `\r`
/// and `\\` (spec, "Possible value types"). Control characters other than
/// those are refused before this is called.
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            // A leading space would be trimmed by readers.
            ' ' if i == 0 => out.push_str("\\s"),
            c => out.push(c),
        }
    }
    out
}

/// Quotes one argument of the `Exec` key (spec, "The Exec key"): arguments
/// with reserved characters go in double quotes, inside which `"`, `` ` ``,
/// `$` and `\` take a backslash; `%` is doubled so it is never a field code.
/// The result is then escaped as a string value like any other key.
pub fn exec_argument(arg: &str) -> String {
    const RESERVED: &[char] = &[
        ' ', '\t', '\n', '"', '\'', '\\', '>', '<', '~', '|', '&', ';', '$', '*', '?', '#', '(',
        ')', '`', '=',
    ];
    let arg = arg.replace('%', "%%");
    if !arg.is_empty() && !arg.contains(RESERVED) {
        return arg;
    }
    let mut quoted = String::from("\"");
    for c in arg.chars() {
        if matches!(c, '"' | '`' | '$' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

fn checked<'v>(what: &'static str, value: &'v str) -> Result<&'v str, EntryError> {
    if value.chars().any(char::is_control) {
        return Err(EntryError::ControlCharacter {
            what,
            value: value.escape_debug().to_string(),
        });
    }
    Ok(value)
}

fn valid_mime_type(text: &str) -> bool {
    let Some((kind, sub)) = text.split_once('/') else {
        return false;
    };
    let part = |p: &str| {
        !p.is_empty()
            && p.len() <= 127
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    part(kind) && part(sub)
}

/// The text of the desktop entry.
pub fn render(entry: &Entry<'_>) -> Result<String, EntryError> {
    if !entry.program.starts_with('/') {
        return Err(EntryError::RelativeProgram(entry.program.to_owned()));
    }
    let name = checked("resource title", entry.name)?;
    let workspace_name = checked("workspace name", entry.workspace_name)?;
    let workspace_id = checked("workspace id", entry.workspace_id)?;
    let resource_id = checked("resource id", entry.resource_id)?;
    checked("program path", entry.program)?;
    for mime in entry.mime_types {
        if !valid_mime_type(mime) {
            return Err(EntryError::BadMimeType(mime.clone()));
        }
    }

    let mut exec = [entry.program, "launch", "--", workspace_id, resource_id]
        .iter()
        .map(|a| exec_argument(a))
        .collect::<Vec<_>>()
        .join(" ");
    if !entry.mime_types.is_empty() {
        exec.push_str(" %f");
    }
    let (comment, categories) = match entry.kind {
        Kind::RemoteApp => (
            format!("RemoteApp from {workspace_name}"),
            "Network;RemoteAccess;X-Radc-RemoteApp;",
        ),
        Kind::Desktop => (
            format!("Remote desktop from {workspace_name}"),
            "Network;RemoteAccess;X-Radc-Desktop;",
        ),
    };

    let mut out = String::from("[Desktop Entry]\nType=Application\nVersion=1.4\n");
    let mut key = |k: &str, v: &str| {
        let _ = writeln!(out, "{k}={v}");
    };
    key("Name", &escape_value(name));
    key("Comment", &escape_value(&comment));
    key("Exec", &escape_value(&exec));
    key("TryExec", &escape_value(entry.program));
    if let Some(icon) = entry.icon {
        key("Icon", &escape_value(checked("icon name", icon)?));
    }
    key("Terminal", "false");
    key("Categories", categories);
    key(
        "StartupWMClass",
        &escape_value(checked("window class", entry.wm_class)?),
    );
    if !entry.mime_types.is_empty() {
        key("MimeType", &format!("{};", entry.mime_types.join(";")));
    }
    key("X-Radc-Workspace", &escape_value(workspace_id));
    key("X-Radc-Resource", &escape_value(resource_id));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(name: &'a str, ws: &'a str, res: &'a str, mime: &'a [String]) -> Entry<'a> {
        Entry {
            kind: Kind::RemoteApp,
            name,
            workspace_name: "Contoso Apps",
            workspace_id: ws,
            resource_id: res,
            program: "/usr/bin/radc",
            icon: Some("radc-x"),
            mime_types: mime,
            wm_class: "radc-x",
        }
    }

    #[test]
    fn plain_entry() {
        let mime = vec![
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document".to_string(),
        ];
        let text = render(&entry("Word", "rdweb.contoso.com", "word", &mime)).unwrap();
        assert!(text.contains("\nName=Word\n"), "{text}");
        assert!(
            text.contains("\nExec=/usr/bin/radc launch -- rdweb.contoso.com word %f\n"),
            "{text}"
        );
        assert!(text.contains(
            "\nMimeType=application/vnd.openxmlformats-officedocument.wordprocessingml.document;\n"
        ));
        assert!(text.contains("\nX-Radc-Workspace=rdweb.contoso.com\n"));
    }

    #[test]
    fn nothing_from_the_feed_can_add_a_line_or_a_field_code() {
        let text = render(&entry(
            " Calc\\ [x]; Exec=rm -rf ~",
            "ws $(reboot)",
            "100% \"evil\" `x`",
            &[],
        ))
        .unwrap();
        assert_eq!(text.lines().filter(|l| l.starts_with("Exec=")).count(), 1);
        assert!(
            text.contains("\nName=\\sCalc\\\\ [x]; Exec=rm -rf ~\n"),
            "{text}"
        );
        let exec = text.lines().find(|l| l.starts_with("Exec=")).unwrap();
        assert!(exec.contains("\"ws \\\\$(reboot)\""), "{exec}");
        assert!(exec.contains("100%%"), "{exec}");
        assert!(!exec.ends_with("%f"));
    }

    #[test]
    fn control_characters_are_refused() {
        let err = render(&entry("a\nb", "ws", "r", &[])).unwrap_err();
        assert!(matches!(
            err,
            EntryError::ControlCharacter {
                what: "resource title",
                ..
            }
        ));
        assert!(render(&entry("ok", "w\0s", "r", &[])).is_err());
        let bad = vec!["text/plain;evil".to_string()];
        assert!(matches!(
            render(&entry("ok", "ws", "r", &bad)),
            Err(EntryError::BadMimeType(_))
        ));
    }
}
