//! Path-directed reading of JSON text that has already been validated (by serde_json, when the
//! event was decoded): member, element and pointer lookups that skip what they do not need,
//! without building a tree and without allocating (only a string with escapes, or an object with
//! insignificant whitespace, is copied when it is rendered).
//!
//! Every answer is the one [`Node`](crate::json::Node) gives on the same text: the first
//! duplicate key wins, keys are compared after unescaping, strings unescape like
//! [`Node::parse`](crate::json::Node::parse) (or [`Node::parse_falco`](crate::json::Node::parse_falco)
//! with `falco`), other values render as their compact text. On text that is not valid JSON the
//! answers are unspecified (but never a panic): callers use these functions only on validated
//! text, and fall back to the tree for events decoded by the tolerant Falco-compat reading.

use std::borrow::Cow;

use crate::json;

#[inline]
fn ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// Index just past the string literal whose opening quote is at `i`.
#[inline]
fn string_end(b: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < b.len() {
        match memchr::memchr2(b'"', b'\\', &b[i..]) {
            Some(p) => {
                i += p;
                if b[i] == b'"' {
                    return i + 1;
                }
                i += 2;
            }
            None => return b.len(),
        }
    }
    b.len()
}

/// Index just past the value that starts at `i` (no leading whitespace).
fn value_end(b: &[u8], i: usize) -> usize {
    match b.get(i) {
        Some(b'"') => string_end(b, i),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = string_end(b, j);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            b.len()
        }
        Some(_) => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            {
                j += 1;
            }
            j
        }
        None => i,
    }
}

/// The members of an object, in source order: (key literal with its quotes, value text).
#[derive(Debug, Clone)]
pub(crate) struct Members<'a> {
    s: &'a str,
    i: usize,
}

/// The members of the object `obj` (surrounding whitespace allowed); `None` when it is not an
/// object.
pub(crate) fn members(obj: &str) -> Option<Members<'_>> {
    let b = obj.as_bytes();
    let i = ws(b, 0);
    (b.get(i) == Some(&b'{')).then_some(Members { s: obj, i: i + 1 })
}

impl<'a> Iterator for Members<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.s.as_bytes();
        let i = ws(b, self.i);
        if b.get(i) != Some(&b'"') {
            self.i = b.len();
            return None;
        }
        let kend = string_end(b, i);
        let mut j = ws(b, kend);
        if b.get(j) != Some(&b':') {
            self.i = b.len();
            return None;
        }
        j = ws(b, j + 1);
        let vend = value_end(b, j);
        let next = ws(b, vend);
        self.i = if b.get(next) == Some(&b',') {
            next + 1
        } else {
            b.len()
        };
        Some((self.s.get(i..kend)?, self.s.get(j..vend)?))
    }
}

/// The elements of an array, in order (value texts).
#[derive(Debug, Clone)]
pub(crate) struct Elements<'a> {
    s: &'a str,
    i: usize,
}

impl Elements<'_> {
    /// No elements.
    pub(crate) fn empty() -> Self {
        Elements { s: "", i: 0 }
    }
}

/// The elements of the array `arr` (surrounding whitespace allowed); `None` when it is not an
/// array.
pub(crate) fn elements(arr: &str) -> Option<Elements<'_>> {
    let b = arr.as_bytes();
    let i = ws(b, 0);
    (b.get(i) == Some(&b'[')).then_some(Elements { s: arr, i: i + 1 })
}

impl<'a> Iterator for Elements<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.s.as_bytes();
        let i = ws(b, self.i);
        if matches!(b.get(i), None | Some(b']')) {
            self.i = b.len();
            return None;
        }
        let end = value_end(b, i);
        let next = ws(b, end);
        self.i = if b.get(next) == Some(&b',') {
            next + 1
        } else {
            b.len()
        };
        self.s.get(i..end)
    }
}

/// Whether the key literal `lit` (with quotes) is `key` once unescaped.
#[inline]
fn key_is(lit: &str, key: &str, falco: bool) -> bool {
    let inner = lit.get(1..lit.len().saturating_sub(1)).unwrap_or_default();
    if !inner.contains('\\') {
        return inner == key;
    }
    json::unescape(lit, falco).is_some_and(|k| k == key)
}

/// The value of the first member `key` of the object `obj`.
pub(crate) fn member<'a>(obj: &'a str, key: &str, falco: bool) -> Option<&'a str> {
    member_open(obj, key, falco).map(exact)
}

/// [`member`], open-ended: the text from the value's start to the end of `obj`, so the value
/// found is not skipped over (a lookup inside it reads only as far as it needs); [`exact`] cuts
/// it. [`members`] and [`elements`] stop at the end of their object or array, so they take
/// open-ended text too.
pub(crate) fn member_open<'a>(obj: &'a str, key: &str, falco: bool) -> Option<&'a str> {
    let b = obj.as_bytes();
    let mut i = ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    loop {
        i = ws(b, i);
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let kend = string_end(b, i);
        let mut j = ws(b, kend);
        if b.get(j) != Some(&b':') {
            return None;
        }
        j = ws(b, j + 1);
        if key_is(obj.get(i..kend)?, key, falco) {
            return obj.get(j..);
        }
        let next = ws(b, value_end(b, j));
        if b.get(next) != Some(&b',') {
            return None;
        }
        i = next + 1;
    }
}

/// The value at the start of `v` (leading whitespace skipped), without what follows it: the
/// exact text of an open-ended value ([`member_open`]).
pub(crate) fn exact(v: &str) -> &str {
    let b = v.as_bytes();
    let i = ws(b, 0);
    v.get(i..value_end(b, i)).unwrap_or_default()
}

/// The first byte of `v` after whitespace.
pub(crate) fn first_byte(v: &str) -> Option<u8> {
    let b = v.as_bytes();
    b.get(ws(b, 0)).copied()
}

/// [`Node::get`](crate::json::Node::get): an object member, or on an array a decimal index;
/// open-ended (see [`member_open`]).
pub(crate) fn get_open<'a>(v: &'a str, key: &str, falco: bool) -> Option<&'a str> {
    match first_byte(v)? {
        b'{' => member_open(v, key, falco),
        b'[' => elements(v)?.nth(json::parse_index(key)?),
        _ => None,
    }
}

/// [`Node::path`](crate::json::Node::path): [`get_open`] for every key, the end cut.
pub(crate) fn path<'a>(v: &'a str, keys: &[&str], falco: bool) -> Option<&'a str> {
    keys.iter()
        .try_fold(v, |v, k| get_open(v, k, falco))
        .map(exact)
}

/// [`json::pointer`] on the text `root`.
pub(crate) fn pointer<'a>(root: &'a str, tokens: &[Box<str>], falco: bool) -> Option<&'a str> {
    tokens
        .iter()
        .try_fold(root, |v, t| get_open(v, t, falco))
        .map(exact)
}

/// [`json::pointer_falco`] on the text `root`.
pub(crate) fn pointer_falco<'a>(
    root: &'a str,
    tokens: &[Box<str>],
    falco: bool,
) -> Option<&'a str> {
    tokens
        .iter()
        .try_fold(root, |v, t| get_falco_open(v, t, falco))
        .map(exact)
}

/// [`json::get_falco`] on the text `v`, open-ended (see [`member_open`]): an object member, or
/// on an array a Go `Atoi` index.
pub(crate) fn get_falco_open<'a>(v: &'a str, key: &str, falco: bool) -> Option<&'a str> {
    match first_byte(v)? {
        b'{' => member_open(v, key, falco),
        b'[' => elements(v)?.nth(json::go_atoi_index(key)?),
        _ => None,
    }
}

/// The array elements of `v`, if it is an array.
pub(crate) fn as_array(v: &str) -> Option<Elements<'_>> {
    elements(v)
}

/// [`Node::to_falco_string`](crate::json::Node::to_falco_string) of the value text `v`: a
/// string's unescaped text, anything else compact JSON.
pub(crate) fn to_falco_string(v: &str, falco: bool) -> Cow<'_, str> {
    let v = v.trim_matches([' ', '\t', '\n', '\r']);
    if v.starts_with('"') {
        json::unescape(v, falco).unwrap_or(Cow::Borrowed(""))
    } else {
        json::compact(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{Node, split_pointer, split_pointer_falco};

    const DOC: &str = r#" { "a" : 1, "a":2, "s\u0074":"x\"y", "o":{"k":[10, {"z":null} ,"q"]},
        "e":{}, "l":[], "n": -1.5e3 , "t":true } "#;

    #[test]
    fn lookups_agree_with_the_tree() {
        let tree = Node::parse(DOC).unwrap();
        for ptr in [
            "", "/a", "/st", "/o", "/o/k", "/o/k/0", "/o/k/1/z", "/o/k/2", "/o/k/3", "/o/x", "/e",
            "/l", "/l/0", "/n", "/t", "/t/x", "/a/0", "/o/k/+1",
        ] {
            for falco in [false, true] {
                let t = split_pointer(ptr);
                let want = json::pointer(&tree, &t).map(Node::to_falco_string);
                let got = pointer(DOC.trim(), &t, falco).map(|v| to_falco_string(v, falco));
                assert_eq!(got, want, "{ptr}");
                let t = split_pointer_falco(ptr);
                let want = json::pointer_falco(&tree, &t).map(Node::to_falco_string);
                let got = pointer_falco(DOC.trim(), &t, falco).map(|v| to_falco_string(v, falco));
                assert_eq!(got, want, "falco {ptr}");
            }
        }
        let keys: Vec<&str> = members(DOC).unwrap().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "\"a\"",
                "\"a\"",
                "\"s\\u0074\"",
                "\"o\"",
                "\"e\"",
                "\"l\"",
                "\"n\"",
                "\"t\""
            ]
        );
        assert_eq!(path(DOC, &["o", "k", "1", "z"], false), Some("null"));
        assert_eq!(as_array("[ ]").map(Iterator::count), Some(0));
        assert!(as_array("{}").is_none());
    }

    #[test]
    fn garbage_never_panics() {
        for bad in [
            "",
            "{",
            "{\"a",
            "{\"a\":",
            "[1,",
            "\"\\",
            "{\"a\" 1}",
            "[[[",
            "}}",
        ] {
            let _ = pointer(bad, &split_pointer("/a/0"), false);
            let _ = members(bad).map(Iterator::count);
            let _ = elements(bad).map(Iterator::count);
            let _ = to_falco_string(bad, true);
        }
    }
}
