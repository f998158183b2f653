//! The condition lexer's field tokens, for other languages that embed fields: Falco's output
//! templates (`%ka.user.name`, `%ka.uri.param[command]`, `%toupper(ka.verb)`) lex their `%`
//! tokens with these, so a field is spelled the same in a rule's `condition` and `output`.
//!
//! Each function looks at the start of its input only and never allocates unless it returns an
//! argument.
//!
//! ```
//! use kaudit_condition::syntax::token::{field_arg, field_name_len, identifier_len};
//!
//! assert_eq!(field_name_len("ka.verb)"), 7);
//! assert_eq!(field_name_len("verb"), 0); // a field name has at least one dot
//! assert_eq!(identifier_len("toupper(ka.verb)"), 7);
//! assert_eq!(field_arg("[command] rest"), Some(("command".to_owned(), 9)));
//! assert_eq!(field_arg(r#"["a\tb"]"#), Some(("a\tb".to_owned(), 8)));
//! assert_eq!(field_arg("[a b]"), None);
//! ```

use super::escape::unescape_str;
use super::lex;

/// The byte length of an identifier (`[a-zA-Z]+[a-zA-Z0-9_]*`) at the start of `s`, 0 when
/// there is none.
#[must_use]
pub fn identifier_len(s: &str) -> usize {
    lex::identifier(s).map_or(0, |(_, tok)| tok.len())
}

/// The byte length of a field name (`[a-zA-Z]+[a-zA-Z0-9_]*(\.[a-zA-Z]+[a-zA-Z0-9_]*)+`,
/// libsinsp's regex, greedy) at the start of `s`, 0 when there is none.
#[must_use]
pub fn field_name_len(s: &str) -> usize {
    lex::field_name(s).map_or(0, |(_, tok)| tok.len())
}

/// A field argument `[arg]` at the start of `s`, with no blanks inside the brackets: the
/// argument and the byte length of the whole `[…]`.
///
/// The argument is bare (`[^][\"'[:space:]]+`) or quoted with `"` / `'` and unescaped as in a
/// condition ([`unescape_str`]; invalid UTF-8 from `\xHH` is replaced with U+FFFD, as the
/// condition parser does). `None` when `s` does not start with a complete argument, including
/// a quoted one with an escape the condition language rejects.
#[must_use]
pub fn field_arg(s: &str) -> Option<(String, usize)> {
    let rest = s.strip_prefix('[')?;
    let (arg, used) = if let Some((_, quoted)) = lex::quoted(rest) {
        let bytes = unescape_str(quoted.as_bytes()).ok()?;
        (String::from_utf8_lossy(&bytes).into_owned(), quoted.len())
    } else {
        let (_, bare) = lex::field_arg_bare(rest).ok()?;
        (bare.to_owned(), bare.len())
    };
    rest[used..].starts_with(']').then_some((arg, used + 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_tokens() {
        assert_eq!(field_name_len("a.b.1"), 3);
        assert_eq!(field_name_len("ka.verbX/"), 8);
        assert_eq!(field_name_len("1a.b"), 0);
        assert_eq!(identifier_len("_a"), 0);
        assert_eq!(identifier_len("len(x)"), 3);
        assert_eq!(field_arg("[x]y"), Some(("x".to_owned(), 3)));
        assert_eq!(field_arg("['a b']"), Some(("a b".to_owned(), 7)));
        assert_eq!(field_arg(r#"["a\"b"]"#), Some(("a\"b".to_owned(), 8)));
        assert_eq!(field_arg("[]"), None);
        assert_eq!(field_arg("[x"), None);
        assert_eq!(field_arg("x]"), None);
        assert_eq!(field_arg(r#"["a\qb"]"#), None);
        assert_eq!(field_arg(r#"['a\"b']"#), None);
        assert_eq!(field_arg("[a\u{b}b]"), None);
    }
}
