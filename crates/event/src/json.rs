//! A small borrowed JSON tree with Falco (fastjson) semantics.
//!
//! serde_json cannot give us what k8saudit's extraction needs: the original text of numbers, the
//! original key order with the *first* duplicate key winning, and the raw text of every
//! sub-tree (for the compact JSON rendering of objects and arrays). This module parses an
//! already-validated JSON text (a `RawValue` or a whole event) into [`Node`]s that borrow from it.

use std::borrow::Cow;

/// Nesting limit of the tree parser. serde_json already refuses more than 128 levels, so a text
/// that reached us through serde never hits this; it protects direct callers.
const MAX_DEPTH: usize = 256;

/// One JSON value borrowing from its source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as its original text.
    Num(&'a str),
    /// A string.
    Str {
        /// The source text including the quotes (escapes kept).
        raw: &'a str,
        /// The unescaped text.
        text: Cow<'a, str>,
    },
    /// An array.
    Arr {
        /// The source text of the whole array.
        raw: &'a str,
        /// The elements in order.
        items: Vec<Node<'a>>,
    },
    /// An object.
    Obj {
        /// The source text of the whole object.
        raw: &'a str,
        /// The entries in source order, duplicates kept (lookups take the first).
        entries: Vec<(Cow<'a, str>, Node<'a>)>,
    },
}

impl<'a> Node<'a> {
    /// Parses one JSON value (surrounding whitespace allowed). `None` on any syntax error.
    #[must_use]
    pub fn parse(text: &'a str) -> Option<Node<'a>> {
        Self::parse_with(text, false)
    }

    /// Parses one JSON value the way Falco's parser (fastjson) reads it: string escapes are
    /// undone on a best-effort basis instead of being errors. A lone UTF-16 surrogate escape
    /// (`\ud800` not followed by a `\uXXXX` escape) stays as its six characters, a surrogate
    /// followed by a `\uXXXX` that does not complete a pair becomes U+FFFD (both escapes are
    /// consumed), an unknown escape (`\x`) or a short / non-hex `\u` keeps its backslash, and
    /// raw control characters are accepted. Everything else is as [`Node::parse`].
    #[must_use]
    pub fn parse_falco(text: &'a str) -> Option<Node<'a>> {
        Self::parse_with(text, true)
    }

    fn parse_with(text: &'a str, falco: bool) -> Option<Node<'a>> {
        let mut p = Parser {
            s: text,
            b: text.as_bytes(),
            i: 0,
            falco,
        };
        p.ws();
        let v = p.value(0)?;
        p.ws();
        (p.i == p.b.len()).then_some(v)
    }

    /// Object member lookup (first duplicate wins); on an array a decimal key selects an index.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        match self {
            Node::Obj { entries, .. } => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            Node::Arr { items, .. } => parse_index(key).and_then(|i| items.get(i)),
            _ => None,
        }
    }

    /// Object member lookup only (arrays are not indexed).
    #[must_use]
    pub fn member(&self, key: &str) -> Option<&Node<'a>> {
        match self {
            Node::Obj { entries, .. } => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Walks `path` with [`Node::get`].
    #[must_use]
    pub fn path(&self, path: &[&str]) -> Option<&Node<'a>> {
        path.iter().try_fold(self, |n, k| n.get(k))
    }

    /// The array elements, if this is an array.
    #[must_use]
    pub fn as_array(&self) -> Option<&[Node<'a>]> {
        match self {
            Node::Arr { items, .. } => Some(items),
            _ => None,
        }
    }

    /// The string text, if this is a string.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The source text of this value (strings with their quotes).
    #[must_use]
    pub fn raw(&self) -> &str {
        match self {
            Node::Null => "null",
            Node::Bool(true) => "true",
            Node::Bool(false) => "false",
            Node::Num(s) => s,
            Node::Str { raw, .. } | Node::Arr { raw, .. } | Node::Obj { raw, .. } => raw,
        }
    }

    /// k8saudit's `jsonValueAsString`: a string gives its text, anything else compact JSON.
    #[must_use]
    pub fn to_falco_string(&self) -> Cow<'_, str> {
        match self {
            Node::Str { text, .. } => Cow::Borrowed(text),
            other => compact(other.raw()),
        }
    }
}

/// The unescaped text of one JSON string literal `raw` (quotes included), read like
/// [`Node::parse`] (or [`Node::parse_falco`] when `falco`) reads it: borrowed when it has no
/// escapes. `None` when `raw` is not a string literal.
pub(crate) fn unescape<'a>(raw: &'a str, falco: bool) -> Option<Cow<'a, str>> {
    let mut p = Parser {
        s: raw,
        b: raw.as_bytes(),
        i: 0,
        falco,
    };
    if p.b.first() != Some(&b'"') {
        return None;
    }
    let text = p.string()?;
    (p.i == p.b.len()).then_some(text)
}

/// Parses a decimal array index the way Go's `strconv.Atoi` accepts it for a key (digits only).
pub(crate) fn parse_index(key: &str) -> Option<usize> {
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    key.parse().ok()
}

/// Removes insignificant whitespace from a JSON text; borrows when there is none.
#[must_use]
pub fn compact(raw: &str) -> Cow<'_, str> {
    let b = raw.as_bytes();
    let mut in_str = false;
    let mut esc = false;
    let mut first_ws = None;
    for (i, &c) in b.iter().enumerate() {
        if in_str {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
        } else if c == b'"' {
            in_str = true;
        } else if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            first_ws = Some(i);
            break;
        }
    }
    let Some(start) = first_ws else {
        return Cow::Borrowed(raw);
    };
    let mut out = String::with_capacity(raw.len());
    out.push_str(&raw[..start]);
    let mut seg = start;
    for (i, &c) in b.iter().enumerate().skip(start) {
        if in_str {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
        } else if c == b'"' {
            in_str = true;
        } else if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            out.push_str(&raw[seg..i]);
            seg = i + 1;
        }
    }
    out.push_str(&raw[seg..]);
    Cow::Owned(out)
}

/// Go `json.Indent(dst, src, "", "  ")` of a valid JSON text: two-space indentation, `": "`
/// after keys, empty objects and arrays kept as `{}` / `[]`.
#[must_use]
pub fn indent(raw: &str) -> String {
    let src = raw.trim_start_matches([' ', '\t', '\n', '\r']);
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len() * 2);
    let mut depth = 0usize;
    let mut need_indent = false;
    let mut in_str = false;
    let mut esc = false;
    let mut seg = 0usize;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    for (i, &c) in b.iter().enumerate() {
        if in_str {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
                out.push_str(&src[seg..=i]);
            }
            continue;
        }
        if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            continue;
        }
        if need_indent && c != b']' && c != b'}' {
            need_indent = false;
            depth += 1;
            newline(&mut out, depth);
        }
        match c {
            b'"' => {
                in_str = true;
                seg = i;
            }
            b'{' | b'[' => {
                out.push(char::from(c));
                need_indent = true;
            }
            b',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            b':' => out.push_str(": "),
            b'}' | b']' => {
                if need_indent {
                    need_indent = false;
                } else {
                    depth = depth.saturating_sub(1);
                    newline(&mut out, depth);
                }
                out.push(char::from(c));
            }
            // Scalars (numbers, literals) are ASCII: copy byte by byte.
            _ => out.push(char::from(c)),
        }
    }
    out
}

/// Resolves a JSON pointer (already split and unescaped) against `root`.
#[must_use]
pub fn pointer<'n, 'a>(root: &'n Node<'a>, tokens: &[Box<str>]) -> Option<&'n Node<'a>> {
    tokens.iter().try_fold(root, |n, t| match n {
        Node::Obj { .. } => n.member(t),
        Node::Arr { items, .. } => parse_index(t).and_then(|i| items.get(i)),
        _ => None,
    })
}

/// fastjson's `Value.Get(key)` on one value: an object member (first duplicate wins); on an
/// array, the key read with Go's `strconv.Atoi` (an optional sign, then decimal digits, so
/// `+0`, `-0` and `007` are indices too; negative or out of range gives nothing).
#[must_use]
pub fn get_falco<'n, 'a>(n: &'n Node<'a>, key: &str) -> Option<&'n Node<'a>> {
    match n {
        Node::Obj { .. } => n.member(key),
        Node::Arr { items, .. } => go_atoi_index(key).and_then(|i| items.get(i)),
        _ => None,
    }
}

/// An array index read with Go's `strconv.Atoi`: `[+-]?[0-9]+` fitting an `int` (64 bits);
/// `None` when it does not parse or is negative.
pub(crate) fn go_atoi_index(key: &str) -> Option<usize> {
    let (neg, digits) = match key.as_bytes().first()? {
        b'+' => (false, &key[1..]),
        b'-' => (true, &key[1..]),
        _ => (false, key),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = digits.parse().ok()?;
    if neg && v != 0 {
        return None;
    }
    usize::try_from(v).ok()
}

/// Resolves a JSON pointer split by [`split_pointer_falco`] the way the json plugin does:
/// [`get_falco`] for every token.
#[must_use]
pub fn pointer_falco<'n, 'a>(root: &'n Node<'a>, tokens: &[Box<str>]) -> Option<&'n Node<'a>> {
    tokens.iter().try_fold(root, |n, t| get_falco(n, t))
}

/// Splits a JSON pointer the way the json plugin 0.7.4 does: one leading `/` is dropped, then
/// the rest is split on every `/` (so a lone `/` is the one token `""`, the key `""`), and
/// `~1` then `~0` are undone in each token.
#[must_use]
pub fn split_pointer_falco(ptr: &str) -> Vec<Box<str>> {
    let p = ptr.strip_prefix('/').unwrap_or(ptr);
    p.split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~").into_boxed_str())
        .collect()
}

/// Splits a JSON pointer: a leading `/` is optional, `~1` is `/`, `~0` is `~`. An empty pointer
/// (or a lone `/`) addresses the whole document.
#[must_use]
pub fn split_pointer(ptr: &str) -> Vec<Box<str>> {
    let p = ptr.strip_prefix('/').unwrap_or(ptr);
    if p.is_empty() {
        return Vec::new();
    }
    p.split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~").into_boxed_str())
        .collect()
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    /// fastjson's best-effort string unescaping ([`Node::parse_falco`]).
    falco: bool,
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }

    fn lit(&mut self, word: &str, v: Node<'a>) -> Option<Node<'a>> {
        if self.b[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Some(v)
        } else {
            None
        }
    }

    fn value(&mut self, depth: usize) -> Option<Node<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        match *self.b.get(self.i)? {
            b'n' => self.lit("null", Node::Null),
            b't' => self.lit("true", Node::Bool(true)),
            b'f' => self.lit("false", Node::Bool(false)),
            b'"' => {
                let start = self.i;
                let text = self.string()?;
                Some(Node::Str {
                    raw: &self.s[start..self.i],
                    text,
                })
            }
            b'[' => {
                let start = self.i;
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat(b']').is_none() {
                    loop {
                        self.ws();
                        items.push(self.value(depth + 1)?);
                        self.ws();
                        if self.eat(b',').is_some() {
                            continue;
                        }
                        self.eat(b']')?;
                        break;
                    }
                }
                Some(Node::Arr {
                    raw: &self.s[start..self.i],
                    items,
                })
            }
            b'{' => {
                let start = self.i;
                self.i += 1;
                let mut entries = Vec::new();
                self.ws();
                if self.eat(b'}').is_none() {
                    loop {
                        self.ws();
                        if self.b.get(self.i) != Some(&b'"') {
                            return None;
                        }
                        let k = self.string()?;
                        self.ws();
                        self.eat(b':')?;
                        self.ws();
                        let v = self.value(depth + 1)?;
                        entries.push((k, v));
                        self.ws();
                        if self.eat(b',').is_some() {
                            continue;
                        }
                        self.eat(b'}')?;
                        break;
                    }
                }
                Some(Node::Obj {
                    raw: &self.s[start..self.i],
                    entries,
                })
            }
            b'-' | b'0'..=b'9' => {
                let start = self.i;
                while self.i < self.b.len()
                    && matches!(
                        self.b[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                Some(Node::Num(&self.s[start..self.i]))
            }
            _ => None,
        }
    }

    /// Parses a string starting at the opening quote; returns its unescaped text.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.i += 1;
        let start = self.i;
        let end_plain = memchr::memchr2(b'"', b'\\', &self.b[start..])? + start;
        if self.b[end_plain] == b'"' {
            self.i = end_plain + 1;
            return Some(Cow::Borrowed(&self.s[start..end_plain]));
        }
        let mut out = String::from(&self.s[start..end_plain]);
        self.i = end_plain;
        loop {
            let c = *self.b.get(self.i)?;
            match c {
                b'"' => {
                    self.i += 1;
                    return Some(Cow::Owned(out));
                }
                b'\\' if self.falco => {
                    let e = *self.b.get(self.i + 1)?;
                    self.i += 2;
                    self.escape_falco(e, &mut out);
                }
                b'\\' => {
                    let e = *self.b.get(self.i + 1)?;
                    self.i += 2;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            if (0xD800..0xDC00).contains(&hi)
                                && self.b.get(self.i) == Some(&b'\\')
                                && self.b.get(self.i + 1) == Some(&b'u')
                            {
                                let save = self.i;
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                                    out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                                } else {
                                    out.push('\u{FFFD}');
                                    self.i = save;
                                }
                            } else {
                                out.push(char::from_u32(hi).unwrap_or('\u{FFFD}'));
                            }
                        }
                        _ => return None,
                    }
                }
                _ => {
                    let run = memchr::memchr2(b'"', b'\\', &self.b[self.i..])? + self.i;
                    out.push_str(&self.s[self.i..run]);
                    self.i = run;
                }
            }
        }
    }

    /// fastjson's `unescapeStringBestEffort` for the escape `\\e` (already consumed).
    fn escape_falco(&mut self, e: u8, out: &mut String) {
        match e {
            b'"' => out.push('"'),
            b'\\' => out.push('\\'),
            b'/' => out.push('/'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'u' => {
                let Some(x) = self.peek_hex4(self.i) else {
                    // Too short or not hex: the `\\u` stays, the rest is read as text.
                    out.push_str("\\u");
                    return;
                };
                let xs = &self.s[self.i..self.i + 4];
                self.i += 4;
                if !(0xD800..0xE000).contains(&x) {
                    out.push(char::from_u32(x).unwrap_or('\u{FFFD}'));
                    return;
                }
                let paired =
                    self.b.get(self.i) == Some(&b'\\') && self.b.get(self.i + 1) == Some(&b'u');
                match self.peek_hex4(self.i + 2).filter(|_| paired) {
                    Some(x1) => {
                        // Go's utf16.DecodeRune: U+FFFD unless a high then a low surrogate.
                        let c = if (0xD800..0xDC00).contains(&x) && (0xDC00..0xE000).contains(&x1) {
                            char::from_u32(0x10000 + ((x - 0xD800) << 10) + (x1 - 0xDC00))
                        } else {
                            None
                        };
                        out.push(c.unwrap_or('\u{FFFD}'));
                        self.i += 6;
                    }
                    None => {
                        out.push_str("\\u");
                        out.push_str(xs);
                    }
                }
            }
            _ => {
                // Unknown escape: kept as it is. The escaped byte may start a multi-byte
                // character, so copy the whole character.
                out.push('\\');
                let start = self.i - 1;
                let end = (start + 1..=self.s.len())
                    .find(|&j| self.s.is_char_boundary(j))
                    .unwrap_or(self.s.len());
                out.push_str(&self.s[start..end]);
                self.i = end;
            }
        }
    }

    /// Four hex digits at `at` (Go's `strconv.ParseUint(s, 16, 16)` on them), not consumed.
    fn peek_hex4(&self, at: usize) -> Option<u32> {
        let h = self.b.get(at..at + 4)?;
        if !h.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        h.iter()
            .try_fold(0u32, |acc, &c| Some(acc * 16 + char::from(c).to_digit(16)?))
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        let v = u32::from_str_radix(h, 16).ok()?;
        if !h.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        self.i += 4;
        Some(v)
    }
}

/// Writes `text` as a JSON string literal (used by the sample generator).
#[cfg(feature = "sample")]
pub(crate) fn push_quoted(out: &mut String, text: &str) {
    use std::fmt::Write as _;
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_duplicate_wins_and_strings_unescape() {
        let n = Node::parse(r#"{"a":1,"a":2,"s":"x\"y\u00e9\ud83d\ude00"}"#).unwrap();
        assert_eq!(n.get("a").unwrap().to_falco_string(), "1");
        assert_eq!(n.get("s").unwrap().to_falco_string(), "x\"y\u{e9}\u{1F600}");
    }

    #[test]
    fn compact_keeps_order_and_escapes() {
        let n = Node::parse("{ \"b\" : [1, 2.50 ,\"a b\\\"\"], \"a\": null }").unwrap();
        assert_eq!(n.to_falco_string(), r#"{"b":[1,2.50,"a b\""],"a":null}"#);
        assert_eq!(n.get("a").unwrap().to_falco_string(), "null");
        assert_eq!(n.path(&["b", "1"]).unwrap().to_falco_string(), "2.50");
    }

    #[test]
    fn indent_like_go() {
        assert_eq!(
            indent(r#"{"a":[1,{"b":"x,y:"},[],{}],"c":true}"#),
            "{\n  \"a\": [\n    1,\n    {\n      \"b\": \"x,y:\"\n    },\n    [],\n    {}\n  ],\n  \"c\": true\n}"
        );
        assert_eq!(indent("[]"), "[]");
        assert_eq!(indent("-1.5e3"), "-1.5e3");
    }

    #[test]
    fn pointers() {
        let n = Node::parse(r#"{"a/b":{"c~d":[10,20]}}"#).unwrap();
        let t = split_pointer("/a~1b/c~0d/1");
        assert_eq!(pointer(&n, &t).unwrap().raw(), "20");
        let t = split_pointer("a~1b/c~0d/2");
        assert!(pointer(&n, &t).is_none());
        assert_eq!(pointer(&n, &split_pointer("")).unwrap().raw(), n.raw());
    }

    #[test]
    fn bad_json_is_none() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\"}",
            "\"\\x\"",
            "nul",
            "[1] x",
            "\"\\ud800\\u12\"",
        ] {
            assert!(Node::parse(bad).is_none(), "{bad}");
        }
        let deep = "[".repeat(300) + &"]".repeat(300);
        assert!(Node::parse(&deep).is_none());
    }
}
