//! Words for people: what the runtime's answers and the times it gives
//! mean, said for someone who is not an administrator.

/// The runtime's message without its leading HRESULT (`0x80070490: no
/// workspace …` → `no workspace …`), with the command-line flag that allows
/// plain http named as the window's switch, and its first letter a
/// capital when it starts with a plain word (not with a URL or a name in
/// quotes).
pub fn for_people(message: &str) -> String {
    let message = message.trim();
    let message = match message.split_once(": ") {
        Some((code, rest))
            if code.len() == 10
                && code.starts_with("0x")
                && code[2..].chars().all(|c| c.is_ascii_hexdigit()) =>
        {
            rest
        }
        _ => message,
    };
    let message = message
        .replace(
            "pass --allow-http",
            "turn on “Allow unencrypted http” under Advanced",
        )
        .replace("--allow-http", "“Allow unencrypted http” under Advanced");
    let first_word = message.split_whitespace().next().unwrap_or_default();
    if !first_word.chars().all(|c| c.is_alphabetic()) {
        return message;
    }
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => message,
    }
}

/// When a workspace was last updated, relative to `now` (both Unix seconds;
/// `then` 0 for never), and how many seconds until the words change (`None`:
/// they never do).
pub fn last_update(now: u64, then: u64) -> (String, Option<u64>) {
    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    if then == 0 {
        return ("Never updated".to_owned(), None);
    }
    if then > now {
        // A clock set back: "just now" until the clock catches up.
        return ("Updated just now".to_owned(), Some(then - now + MINUTE));
    }
    let age = now - then;
    let (words, unit) = if age < MINUTE {
        ("Updated just now".to_owned(), MINUTE)
    } else if age < HOUR {
        (count(age / MINUTE, "minute"), MINUTE)
    } else if age < DAY {
        (count(age / HOUR, "hour"), HOUR)
    } else {
        (count(age / DAY, "day"), DAY)
    };
    (words, Some(unit - age % unit))
}

fn count(n: u64, unit: &str) -> String {
    if n == 1 {
        format!("Updated 1 {unit} ago")
    } else {
        format!("Updated {n} {unit}s ago")
    }
}

/// What a resource is, in words (`RemoteApp` → "Remote app").
pub fn resource_kind(kind: &str) -> &str {
    match kind {
        "RemoteApp" => "Remote app",
        "Desktop" => "Remote desktop",
        other => other,
    }
}

/// A resource row's subtitle: its kind, and the file types it opens.
pub fn resource_subtitle(kind: &str, extensions: &[String]) -> String {
    let kind = resource_kind(kind);
    if extensions.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind} · opens {}", extensions.join(", "))
    }
}

/// "1 connection", "3 connections".
pub fn connections(n: usize) -> String {
    if n == 1 {
        "1 open connection".to_owned()
    } else {
        format!("{n} open connections")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hresults_are_not_for_people() {
        assert_eq!(
            for_people("0x80070490: no workspace \"x\" is subscribed"),
            "No workspace \"x\" is subscribed"
        );
        assert_eq!(
            for_people("0x80004005: cannot reach rdweb.example.com: connection refused"),
            "Cannot reach rdweb.example.com: connection refused"
        );
        // Only a real HRESULT is taken off.
        assert_eq!(for_people("0xZZ: odd"), "0xZZ: odd");
        assert_eq!(for_people("http://x: y"), "http://x: y");
        assert_eq!(for_people(""), "");
        assert_eq!(
            for_people(
                "0x80070057: http://h/ is plain http: …; use an https URL, or pass --allow-http for a test server"
            ),
            "http://h/ is plain http: …; use an https URL, or turn on “Allow unencrypted http” under Advanced for a test server"
        );
    }

    #[test]
    fn relative_times_and_when_they_change() {
        let now = 1_000_000;
        assert_eq!(last_update(now, 0), ("Never updated".into(), None));
        assert_eq!(last_update(now, now), ("Updated just now".into(), Some(60)));
        assert_eq!(
            last_update(now, now - 59),
            ("Updated just now".into(), Some(1))
        );
        assert_eq!(
            last_update(now, now - 60),
            ("Updated 1 minute ago".into(), Some(60))
        );
        assert_eq!(
            last_update(now, now - 150),
            ("Updated 2 minutes ago".into(), Some(30))
        );
        assert_eq!(
            last_update(now, now - 3600 - 5),
            ("Updated 1 hour ago".into(), Some(3595))
        );
        assert_eq!(
            last_update(now, now - 3 * 86400),
            ("Updated 3 days ago".into(), Some(86400))
        );
        assert_eq!(
            last_update(now, now + 10),
            ("Updated just now".into(), Some(70))
        );
    }

    #[test]
    fn resources_in_words() {
        assert_eq!(resource_subtitle("RemoteApp", &[]), "Remote app");
        assert_eq!(
            resource_subtitle("Desktop", &[".txt".into(), ".log".into()]),
            "Remote desktop · opens .txt, .log"
        );
        assert_eq!(resource_kind("Other"), "Other");
        assert_eq!(connections(1), "1 open connection");
        assert_eq!(connections(2), "2 open connections");
    }
}
