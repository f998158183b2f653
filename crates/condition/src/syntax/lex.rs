//! Token-level nom parsers, one per libsinsp token regex (`parser.cpp`, POSIX RE2 anchored at the
//! cursor; POSIX leftmost-longest equals the greedy match for each of these).
//!
//! | token | libsinsp regex |
//! |---|---|
//! | [`identifier`] | `[a-zA-Z]+[a-zA-Z0-9_]*` |
//! | [`field_name`] | `[a-zA-Z]+[a-zA-Z0-9_]*(\.[a-zA-Z]+[a-zA-Z0-9_]*)+` |
//! | [`field_arg_bare`] | `[^][\"'[:space:]]+` |
//! | [`hex_number`] | `0[xX][0-9a-zA-Z]+` |
//! | [`number`] | `[+\-]?[0-9]+[\.]?[0-9]*([eE][+\-][0-9]+)?` |
//! | [`bare_str`] | `[^()\"'[:space:]=,]+` |
//! | [`not_blank`] | `not[[:space:]]+` |
//!
//! Blanks between tokens ([`blank`]) are space, `\t`, `\b`, `\r` and `\n` (not `\v` / `\f`).

use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::{char, digit0, digit1, one_of};
use nom::combinator::{opt, recognize};
use nom::multi::many1;
use nom::{IResult, Parser};

use super::escape::is_posix_space;

/// A blank between tokens (`lex_blank`).
pub(crate) fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{8}' | '\r' | '\n')
}

/// Zero or more blanks.
pub(crate) fn blank(i: &str) -> IResult<&str, &str> {
    take_while(is_blank)(i)
}

fn posix_space(c: char) -> bool {
    c.is_ascii() && is_posix_space(c as u8)
}

/// `[a-zA-Z]+[a-zA-Z0-9_]*`.
pub(crate) fn identifier(i: &str) -> IResult<&str, &str> {
    recognize((
        take_while1(|c: char| c.is_ascii_alphabetic()),
        take_while(|c: char| c.is_ascii_alphanumeric() || c == '_'),
    ))
    .parse(i)
}

/// A dotted field name (at least one dot).
pub(crate) fn field_name(i: &str) -> IResult<&str, &str> {
    recognize((identifier, many1((char('.'), identifier)))).parse(i)
}

/// A bare field argument.
pub(crate) fn field_arg_bare(i: &str) -> IResult<&str, &str> {
    take_while1(|c: char| !(posix_space(c) || matches!(c, '[' | ']' | '"' | '\'')))(i)
}

/// `0x…` (libsinsp accepts any alphanumerics after the prefix; compilation validates them).
pub(crate) fn hex_number(i: &str) -> IResult<&str, &str> {
    recognize((
        char('0'),
        one_of("xX"),
        take_while1(|c: char| c.is_ascii_alphanumeric()),
    ))
    .parse(i)
}

/// A decimal number, optionally signed, with an optional fraction and a signed exponent.
pub(crate) fn number(i: &str) -> IResult<&str, &str> {
    let (rest, _) = opt(one_of("+-")).parse(i)?;
    let (rest, _) = digit1(rest)?;
    let rest = rest.strip_prefix('.').unwrap_or(rest);
    let (rest, _) = digit0(rest)?;
    let rest = match (
        one_of::<_, _, nom::error::Error<&str>>("eE"),
        one_of("+-"),
        digit1,
    )
        .parse(rest)
    {
        Ok((r, _)) => r,
        Err(_) => rest,
    };
    let len = i.len() - rest.len();
    Ok((rest, &i[..len]))
}

/// Whether `s` is entirely one number or hex number token.
pub(crate) fn full_number(s: &str) -> bool {
    matches!(hex_number(s), Ok(("", _))) || matches!(number(s), Ok(("", _)))
}

/// A bare string value.
pub(crate) fn bare_str(i: &str) -> IResult<&str, &str> {
    take_while1(|c: char| !(posix_space(c) || matches!(c, '(' | ')' | '"' | '\'' | '=' | ',')))(i)
}

/// `not` followed by at least one `[[:space:]]`.
pub(crate) fn not_blank(i: &str) -> IResult<&str, &str> {
    recognize((tag("not"), take_while1(posix_space))).parse(i)
}

/// A quoted string token including its quotes: it ends at the first matching quote whose
/// previous character is not a backslash. Returns `None` when there is no quote or no end.
pub(crate) fn quoted(i: &str) -> Option<(&str, &str)> {
    let bytes = i.as_bytes();
    let delim = *bytes.first()?;
    if delim != b'"' && delim != b'\'' {
        return None;
    }
    let mut prev = b'\\';
    for (idx, &c) in bytes.iter().enumerate() {
        if c == delim && prev != b'\\' {
            return Some((&i[idx + 1..], &i[..=idx]));
        }
        prev = c;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert_eq!(field_name("ka.req.pod[0]"), Ok(("[0]", "ka.req.pod")));
        assert!(field_name("ka").is_err());
        assert_eq!(field_name("a.b.1"), Ok((".1", "a.b")));
        assert_eq!(number("-0.1222e+10x"), Ok(("x", "-0.1222e+10")));
        assert_eq!(number("1e5"), Ok(("e5", "1")));
        assert_eq!(number("1.2"), Ok(("", "1.2")));
        assert_eq!(number("+1.e-3 "), Ok((" ", "+1.e-3")));
        assert_eq!(hex_number("0xAAA.1"), Ok((".1", "0xAAA")));
        assert_eq!(bare_str("/var/lo);g"), Ok((");g", "/var/lo")));
        assert_eq!(quoted(r#""a\"b" x"#), Some((" x", r#""a\"b""#)));
        assert_eq!(quoted(r#""a\\""#), None);
        assert_eq!(not_blank("not\u{c}a"), Ok(("a", "not\u{c}")));
        assert!(not_blank("not(a)").is_err());
    }
}
