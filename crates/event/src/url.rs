//! `ka.uri.param`: Go's `url.Parse` followed by `url.ParseQuery`, reduced to what matters for
//! a request URI.

use std::borrow::Cow;

/// Go `url.Parse(uri)` then `url.ParseQuery(u.RawQuery)`, returning the first value of `key`.
///
/// `None` when Go would return an error (a control character, a bad `%` escape in the path,
/// fragment, or any query pair, a `;` in the query) or when the key is absent.
#[must_use]
pub fn query_param<'u>(uri: &'u str, key: &str) -> Option<Cow<'u, str>> {
    if uri.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return None;
    }
    let (rest, fragment) = uri.split_once('#').unwrap_or((uri, ""));
    unescape(fragment, false)?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.contains('%') && unescape(path, false).is_none() {
        return None;
    }
    let mut found = None;
    for pair in query.split('&') {
        if pair.is_empty() {
            continue;
        }
        if pair.contains(';') {
            return None;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = unescape(k, true)?;
        let v = unescape(v, true)?;
        if found.is_none() && k == key {
            found = Some(v);
        }
    }
    found
}

/// Percent-decoding; with `plus`, `+` becomes a space (query mode). `None` on a bad escape.
fn unescape(s: &str, plus: bool) -> Option<Cow<'_, str>> {
    if !(s.contains('%') || (plus && s.contains('+'))) {
        return Some(Cow::Borrowed(s));
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let h = b.get(i + 1..i + 3)?;
                let hex = |c: u8| char::from(c).to_digit(16);
                let v = hex(h[0])? * 16 + hex(h[1])?;
                out.push(u8::try_from(v).ok()?);
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    // Go strings may hold any bytes; ours must be UTF-8, so invalid sequences are replaced.
    Some(Cow::Owned(String::from_utf8_lossy(&out).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::query_param;

    #[test]
    fn go_query_rules() {
        let q = |u, k| query_param(u, k).map(|c| c.into_owned());
        assert_eq!(
            q("/api/v1/pods?watch=true&a=1&a=2", "a").as_deref(),
            Some("1")
        );
        assert_eq!(
            q("/x?cmd=ls+-la%2Fetc&x", "cmd").as_deref(),
            Some("ls -la/etc")
        );
        assert_eq!(q("/x?flag", "flag").as_deref(), Some(""));
        assert_eq!(q("/x?a=1", "b"), None);
        assert_eq!(q("/x?a=1;b=2", "a"), None);
        assert_eq!(q("/x?a=%zz&b=1", "b"), None);
        assert_eq!(q("/x%zz?a=1", "a"), None);
        assert_eq!(q("/x?a=1#frag", "a").as_deref(), Some("1"));
        assert_eq!(q("/x?a=1#%", "a"), None);
        assert_eq!(q("/x?a=1\u{7f}", "a"), None);
        assert_eq!(q("/x?a%20b=c", "a b").as_deref(), Some("c"));
        assert_eq!(q("/x?a=b=c", "a").as_deref(), Some("b=c"));
    }
}
