//! `.rdp` connection files, without I/O.
//!
//! A file is a list of `name:type:value` lines: type `i` (integer), `s`
//! (string) or `b` (binary, hexadecimal). Files come as UTF-16LE with a
//! byte-order mark (as Windows writes them), UTF-16BE with a byte-order mark
//! (some tools write those) or UTF-8 (with or without one). A file from a feed is
//! untrusted: bad input gets an error naming the line, never a panic, and
//! sizes are bounded. Unknown settings are kept, in order, so a file can be
//! passed on or re-signed without losing anything.

pub mod freerdp;
pub mod progress;
pub mod publisher;
pub mod signature;

use std::fmt;

/// Largest file accepted.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
/// Most settings in one file.
pub const MAX_LINES: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Str(String),
    Binary(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// As written, e.g. `full address` (matching is case-insensitive).
    pub name: String,
    pub value: Value,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RdpFile {
    pub settings: Vec<Setting>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RdpError {
    #[error("the file is {0} bytes; the limit is {MAX_FILE_BYTES}")]
    TooLarge(usize),
    #[error(
        "the file is in none of the accepted encodings: UTF-16LE or UTF-16BE with a byte-order mark, or UTF-8"
    )]
    Encoding,
    #[error("the file has more than {MAX_LINES} settings")]
    TooManyLines,
    #[error("line {line}: {reason}")]
    Line { line: usize, reason: String },
}

impl RdpFile {
    /// Parses a file's bytes.
    pub fn parse(bytes: &[u8]) -> Result<RdpFile, RdpError> {
        if bytes.len() > MAX_FILE_BYTES {
            return Err(RdpError::TooLarge(bytes.len()));
        }
        let text = decode(bytes)?;
        let mut settings = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            if settings.len() == MAX_LINES {
                return Err(RdpError::TooManyLines);
            }
            settings.push(parse_line(line).map_err(|reason| RdpError::Line {
                line: index + 1,
                reason,
            })?);
        }
        Ok(RdpFile { settings })
    }

    /// The last value given for `name` (later lines win, as in mstsc).
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.settings
            .iter()
            .rev()
            .find(|s| s.name.eq_ignore_ascii_case(name))
            .map(|s| &s.value)
    }

    pub fn get_str(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn get_int(&self, name: &str) -> Option<i64> {
        match self.get(name)? {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}

impl fmt::Display for RdpFile {
    /// The file as UTF-8 text, one setting per line, in order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.settings {
            match &s.value {
                Value::Int(i) => writeln!(f, "{}:i:{i}", s.name)?,
                Value::Str(v) => writeln!(f, "{}:s:{v}", s.name)?,
                Value::Binary(b) => {
                    write!(f, "{}:b:", s.name)?;
                    for byte in b {
                        write!(f, "{byte:02X}")?;
                    }
                    writeln!(f)?;
                }
            }
        }
        Ok(())
    }
}

fn decode(bytes: &[u8]) -> Result<String, RdpError> {
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return decode_utf16(rest, u16::from_le_bytes);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return decode_utf16(rest, u16::from_be_bytes);
    }
    let bytes = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    String::from_utf8(bytes.to_vec()).map_err(|_| RdpError::Encoding)
}

/// UTF-16 after its byte-order mark; `unit` reads one code unit in the
/// mark's byte order.
fn decode_utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Result<String, RdpError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(RdpError::Encoding);
    }
    let units = bytes.chunks_exact(2).map(|c| unit([c[0], c[1]]));
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .map_err(|_| RdpError::Encoding)
}

fn parse_line(line: &str) -> Result<Setting, String> {
    let mut parts = line.splitn(3, ':');
    let (Some(name), Some(kind), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("not of the form name:type:value".into());
    };
    let name = name.trim();
    if name.is_empty() || name.len() > 256 {
        return Err("the setting has no name, or one over 256 bytes".into());
    }
    if let Some(c) = line.chars().find(|c| c.is_control() && *c != '\t') {
        return Err(format!("control character U+{:04X}", c as u32));
    }
    let value = match kind.trim() {
        "i" => Value::Int(
            value
                .trim()
                .parse()
                .map_err(|_| format!("{name}: {value:?} is not an integer"))?,
        ),
        "s" => Value::Str(value.to_owned()),
        "b" => {
            let hex = value.trim();
            if hex.len() % 2 != 0 {
                return Err(format!("{name}: odd number of hexadecimal digits"));
            }
            let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
            Value::Binary(
                hex.as_bytes()
                    .chunks(2)
                    .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
                    .collect::<Option<Vec<u8>>>()
                    .ok_or_else(|| format!("{name}: not hexadecimal"))?,
            )
        }
        other => {
            return Err(format!(
                "{name}: unknown type {other:?} (expected i, s or b)"
            ));
        }
    };
    Ok(Setting {
        name: name.to_owned(),
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "screen mode id:i:2\r\nfull address:s:rdsh1.contoso.test:3389\r\nremoteapplicationprogram:s:||notepad\r\nx-unknown key:s:kept\r\nsome blob:b:0A1bFF\r\n\r\n";

    fn utf16(text: &str) -> Vec<u8> {
        let mut out = vec![0xFF, 0xFE];
        for unit in text.encode_utf16() {
            out.extend_from_slice(&unit.to_le_bytes());
        }
        out
    }

    fn utf16be(text: &str) -> Vec<u8> {
        let mut out = vec![0xFE, 0xFF];
        for unit in text.encode_utf16() {
            out.extend_from_slice(&unit.to_be_bytes());
        }
        out
    }

    #[test]
    fn utf16_and_utf8_read_the_same() {
        let a = RdpFile::parse(&utf16(SAMPLE)).unwrap();
        let b = RdpFile::parse(SAMPLE.as_bytes()).unwrap();
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(SAMPLE.as_bytes());
        assert_eq!(a, b);
        assert_eq!(RdpFile::parse(&bom).unwrap(), b);
        assert_eq!(RdpFile::parse(&utf16be(SAMPLE)).unwrap(), b);
        assert_eq!(a.get_int("Screen Mode ID"), Some(2));
        assert_eq!(a.get_str("full address"), Some("rdsh1.contoso.test:3389"));
        assert_eq!(
            a.get("some blob"),
            Some(&Value::Binary(vec![0x0A, 0x1B, 0xFF]))
        );
        assert_eq!(
            a.settings[3].name, "x-unknown key",
            "unknown keys kept in order"
        );
    }

    #[test]
    fn later_lines_win_and_text_round_trips() {
        let f = RdpFile::parse(b"a:i:1\na:i:2\n").unwrap();
        assert_eq!(f.get_int("a"), Some(2));
        let b = RdpFile::parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(RdpFile::parse(b.to_string().as_bytes()).unwrap(), b);
    }

    #[test]
    fn bad_lines_are_named() {
        for (text, needle) in [
            ("ok:i:1\nbroken line\n", "line 2"),
            ("x:i:abc\n", "not an integer"),
            ("x:q:1\n", "unknown type"),
            ("x:b:ABC\n", "odd number"),
            ("x:s:a\u{1b}b\n", "control character"),
            (":s:v\n", "no name"),
        ] {
            let err = RdpFile::parse(text.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
        assert_eq!(RdpFile::parse(&[0xFF, 0xFE, 0x41]), Err(RdpError::Encoding));
        assert_eq!(RdpFile::parse(&[0xFE, 0xFF, 0x00]), Err(RdpError::Encoding));
        // An unpaired surrogate, in each byte order.
        assert_eq!(
            RdpFile::parse(&[0xFF, 0xFE, 0x00, 0xD8]),
            Err(RdpError::Encoding)
        );
        assert_eq!(
            RdpFile::parse(&[0xFE, 0xFF, 0xD8, 0x00]),
            Err(RdpError::Encoding)
        );
        assert_eq!(RdpFile::parse(&[0xC3, 0x28]), Err(RdpError::Encoding));
        let message = RdpError::Encoding.to_string();
        for accepted in ["UTF-16LE", "UTF-16BE", "UTF-8"] {
            assert!(message.contains(accepted), "{message}");
        }
        let huge = vec![b'a'; MAX_FILE_BYTES + 1];
        assert!(matches!(RdpFile::parse(&huge), Err(RdpError::TooLarge(_))));
    }
}
