//! Quoted-string escaping, as libsinsp's `escaping.cpp` does it, plus the stricter quoting the
//! canonical printer needs to re-parse.
//!
//! Escapes understood inside quotes: `\b \f \n \r \t \\ \/`, `\"` inside `"…"` only, `\'` inside
//! `'…'` only, `\xHH` (exactly two hex digits, libs master), and `\` + space, which gives one
//! backslash and drops the space (kept by libsinsp for old rules).

use std::fmt;

/// Why a quoted string could not be unescaped. `Display` is libsinsp's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnescapeError {
    /// `\"` inside a `'`-quoted string.
    DoubleQuoteInSingle,
    /// `\'` inside a `"`-quoted string.
    SingleQuoteInDouble,
    /// `\x` not followed by two hex digits.
    BadHex,
    /// Any other escape character.
    Unsupported(char),
}

impl fmt::Display for UnescapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnescapeError::DoubleQuoteInSingle => {
                f.write_str("invalid \\\" escape in '-quoted string")
            }
            UnescapeError::SingleQuoteInDouble => {
                f.write_str("invalid \\' escape in \"-quoted string")
            }
            UnescapeError::BadHex => {
                f.write_str("invalid \\x escape sequence: expected exactly two hex digits")
            }
            UnescapeError::Unsupported(c) => write!(f, "unsupported string escape sequence: \\{c}"),
        }
    }
}

impl std::error::Error for UnescapeError {}

/// Unescapes a quoted token **including** its opening and closing quote (libsinsp
/// `unescape_str`). The first byte decides which quote escapes are legal.
///
/// # Errors
/// An [`UnescapeError`] for an escape that libsinsp rejects.
pub fn unescape_str(quoted: &[u8]) -> Result<Vec<u8>, UnescapeError> {
    if quoted.len() < 2 {
        return Ok(Vec::new());
    }
    let delim = quoted[0];
    let body = &quoted[1..quoted.len() - 1];
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = body.get(i) else {
            // A trailing lone backslash cannot occur in a lexed token (the closing quote would
            // have been escaped); keep it literally.
            out.push(b'\\');
            break;
        };
        i += 1;
        match e {
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b' ' | b'\\' => out.push(b'\\'),
            b'/' => out.push(b'/'),
            b'"' if delim == b'"' => out.push(b'"'),
            b'"' => return Err(UnescapeError::DoubleQuoteInSingle),
            b'\'' if delim == b'\'' => out.push(b'\''),
            b'\'' => return Err(UnescapeError::SingleQuoteInDouble),
            b'x' => {
                let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
                match (hex(body.get(i)), hex(body.get(i + 1))) {
                    (Some(h), Some(l)) => {
                        out.push(u8::try_from(h * 16 + l).unwrap_or(0));
                        i += 2;
                    }
                    _ => return Err(UnescapeError::BadHex),
                }
            }
            other => {
                let ch = if other.is_ascii() {
                    other as char
                } else {
                    // Report the whole UTF-8 character, not its first byte.
                    std::str::from_utf8(&body[i - 1..])
                        .ok()
                        .or_else(|| {
                            let end = (i - 1 + 4).min(body.len());
                            (i..=end)
                                .rev()
                                .find_map(|e| std::str::from_utf8(&body[i - 1..e]).ok())
                        })
                        .and_then(|s| s.chars().next())
                        .unwrap_or('\u{fffd}')
                };
                return Err(UnescapeError::Unsupported(ch));
            }
        }
    }
    Ok(out)
}

/// libsinsp `escape_str`: quotes (with `"`) a value containing a blank, a quote, a backslash or
/// a NUL, escaping `\b \f \n \r \t \\ \"`; anything else is copied raw, and a value needing no
/// escape is returned unchanged.
#[must_use]
pub fn escape_str(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() + 2);
    let mut quote = false;
    for &c in v {
        match c {
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b' ' | b'\'' | 0 => out.push(c),
            _ => {
                out.push(c);
                continue;
            }
        }
        quote = true;
    }
    if quote {
        out.insert(0, b'"');
        out.push(b'"');
    }
    out
}

/// `[:space:]` in POSIX: space, `\t`, `\n`, `\v`, `\f`, `\r`.
pub(crate) fn is_posix_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// A byte allowed in a bare string: `[^()"'[:space:]=,]`.
pub(crate) fn is_bare_byte(c: u8) -> bool {
    !is_posix_space(c) && !matches!(c, b'(' | b')' | b'"' | b'\'' | b'=' | b',')
}

/// A byte allowed in a bare field argument: `[^][\"'[:space:]]`.
pub(crate) fn is_field_arg_byte(c: u8) -> bool {
    !is_posix_space(c) && !matches!(c, b'[' | b']' | b'"' | b'\'')
}

/// Writes `v` double-quoted, escaping what the parser unescapes and writing invalid UTF-8 bytes
/// as `\xHH`.
pub(crate) fn write_quoted(out: &mut String, v: &[u8]) {
    out.push('"');
    for chunk in v.utf8_chunks() {
        for ch in chunk.valid().chars() {
            match ch {
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\0' => out.push_str("\\x00"),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    // libsinsp's lexer never ends a string at a quote preceded by `\`, so a value ending in a
    // backslash cannot be written `"…\\"`: write that backslash as `\x5c`.
    if v.last() == Some(&b'\\') && out.ends_with("\\\\") {
        out.truncate(out.len() - 2);
        out.push_str("\\x5c");
    }
    out.push('"');
}

/// A value in canonical text: bare when it lexes back as one bare string, else quoted.
pub(crate) fn write_canonical_value(out: &mut String, v: &[u8]) {
    let bare = !v.is_empty()
        && std::str::from_utf8(v).is_ok()
        && v.iter().all(|&c| is_bare_byte(c) && c != 0x08 && c != 0);
    if bare {
        out.push_str(&String::from_utf8_lossy(v));
    } else {
        write_quoted(out, v);
    }
}

/// A field argument in canonical text: bare when it lexes back as one bare argument.
pub(crate) fn write_canonical_field_arg(out: &mut String, a: &str) {
    if !a.is_empty() && a.bytes().all(|c| is_field_arg_byte(c) && c != 0) {
        out.push_str(a);
    } else {
        write_quoted(out, a.as_bytes());
    }
}

/// A literal transformer argument: raw when it is a number, else quoted.
pub(crate) fn write_canonical_arg_literal(out: &mut String, v: &[u8]) {
    let is_number = std::str::from_utf8(v)
        .ok()
        .is_some_and(super::lex::full_number);
    if is_number {
        out.push_str(&String::from_utf8_lossy(v));
    } else {
        write_quoted(out, v);
    }
}
