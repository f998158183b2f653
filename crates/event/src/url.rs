//! `ka.uri.param`: Go's `url.Parse` followed by `url.ParseQuery`, reduced to what matters for
//! a request URI.

use std::borrow::Cow;

/// Go `url.Parse(uri)` then `url.ParseQuery(u.RawQuery)`, returning the first value of `key`.
///
/// `None` when Go would return an error (see `raw_query`; for the query: a bad `%` escape in
/// any pair, a `;`) or when the key is absent.
#[must_use]
pub fn query_param<'u>(uri: &'u str, key: &str) -> Option<Cow<'u, str>> {
    let query = raw_query(uri)?;
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

/// The `RawQuery` of Go's `url.Parse(uri)`, or `None` where it returns an error: a control
/// character before the `#`; a bad `%` escape in the fragment, the path or the authority; a
/// URI starting with `:` ("missing protocol scheme"); no scheme and a first path segment
/// holding a `:`; after `//`, a bad port, a host character Go refuses, a `%` escape of an
/// ASCII byte in the host, or user info with a character Go refuses. With a scheme and a rest
/// not starting with `/`, the rest is opaque and is not checked.
#[must_use]
pub(crate) fn raw_query(uri: &str) -> Option<&str> {
    let (u, frag) = uri.split_once('#').unwrap_or((uri, ""));
    if u.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return None;
    }
    if !frag.is_empty() {
        check_escapes(frag, Mode::Other)?;
    }
    if u == "*" {
        return Some("");
    }
    let (scheme, rest) = scheme(u)?;
    let (rest, query) = if rest.ends_with('?') && rest.matches('?').count() == 1 {
        (&rest[..rest.len() - 1], "")
    } else {
        rest.split_once('?').unwrap_or((rest, ""))
    };
    if !rest.starts_with('/') {
        if !scheme.is_empty() {
            // Opaque: nothing more is parsed.
            return Some(query);
        }
        let first = rest.split('/').next().unwrap_or("");
        if first.contains(':') {
            return None;
        }
    }
    let mut path = rest;
    if (!scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let auth = &rest[2..];
        let (authority, p) = auth.find('/').map_or((auth, ""), |i| auth.split_at(i));
        authority_ok(authority)?;
        path = p;
    }
    check_escapes(path, Mode::Other)?;
    Some(query)
}

/// Go's `getScheme`: `(scheme, rest)`; `None` for a leading `:`.
fn scheme(u: &str) -> Option<(&str, &str)> {
    for (i, c) in u.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return None,
            b':' => return Some((&u[..i], &u[i + 1..])),
            _ => return Some(("", u)),
        }
    }
    Some(("", u))
}

/// Go's `parseAuthority`: the host (and port), then the user info before the last `@`.
fn authority_ok(authority: &str) -> Option<()> {
    let (user, host) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    host_ok(host)?;
    if let Some(user) = user {
        let valid = user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._:~!$&'()*+,;=%@".contains(c));
        if !valid {
            return None;
        }
        check_escapes(user, Mode::Other)?;
    }
    Some(())
}

/// Go's `parseHost`.
fn host_ok(host: &str) -> Option<()> {
    let port_ok = |p: &str| {
        p.is_empty() || (p.starts_with(':') && p[1..].bytes().all(|b| b.is_ascii_digit()))
    };
    if host.starts_with('[') {
        let i = host.rfind(']')?;
        if !port_ok(&host[i + 1..]) {
            return None;
        }
        if let Some(zone) = host[..i].find("%25") {
            check_escapes(&host[..zone], Mode::Host)?;
            check_escapes(&host[zone..i], Mode::Zone)?;
            return check_escapes(&host[i..], Mode::Host);
        }
    } else if let Some(i) = host.rfind(':')
        && !port_ok(&host[i..])
    {
        return None;
    }
    check_escapes(host, Mode::Host)
}

/// Which part Go's `unescape` checks.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Host,
    Zone,
    Other,
}

/// An ASCII byte Go's `shouldEscape(c, encodeHost)` lets through unescaped in a host.
fn host_byte_ok(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!$&'()*+,;=:[]<>\"-_.~".contains(&c)
}

/// The errors of Go's `unescape(s, mode)`: a `%` not followed by two hex digits; in a host, a
/// `%` escape of an ASCII byte other than `%25` and a raw ASCII byte Go would escape; in a
/// zone, an escape of a byte Go would escape in a host (other than `%25` and a space).
fn check_escapes(s: &str, mode: Mode) -> Option<()> {
    let b = s.as_bytes();
    let hex = |c: u8| char::from(c).to_digit(16);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let (h, l) = (hex(*b.get(i + 1)?)?, hex(*b.get(i + 2)?)?);
                let pct25 = &b[i..i + 3] == b"%25";
                if mode == Mode::Host && h < 8 && !pct25 {
                    return None;
                }
                let v = u8::try_from(h * 16 + l).ok()?;
                if mode == Mode::Zone && !pct25 && v != b' ' && (v >= 0x80 || !host_byte_ok(v)) {
                    return None;
                }
                i += 3;
            }
            c if mode != Mode::Other && c < 0x80 && !host_byte_ok(c) => return None,
            _ => i += 1,
        }
    }
    Some(())
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

    #[test]
    fn go_parse_rules() {
        let q = |u, k| query_param(u, k).map(|c| c.into_owned());
        // url.Parse errors.
        assert_eq!(q(":x?a=1", "a"), None); // missing protocol scheme
        assert_eq!(q("a:b/c?a=1", "a").as_deref(), Some("1")); // scheme "a", opaque
        assert_eq!(q("1a:b/c?a=1", "a"), None); // no scheme, colon in the first segment
        assert_eq!(q("_x:y?a=1", "a"), None);
        assert_eq!(q("x/a:b?a=1", "a").as_deref(), Some("1")); // colon after the first segment
        assert_eq!(q("//h:x/p?a=1", "a"), None); // invalid port
        assert_eq!(q("//h:8080/p?a=1", "a").as_deref(), Some("1"));
        assert_eq!(q("//h{/p?a=1", "a"), None); // invalid host character
        assert_eq!(q("//h%41/p?a=1", "a"), None); // ASCII escaped in the host
        assert_eq!(q("//u%zz@h/p?a=1", "a"), None);
        assert_eq!(q("//u^@h/p?a=1", "a"), None); // invalid user info
        assert_eq!(q("//[::1/p?a=1", "a"), None); // missing ']'
        assert_eq!(q("///h{/p?a=1", "a").as_deref(), Some("1")); // `///` is a path
        assert_eq!(q("https://h/p?a=1", "a").as_deref(), Some("1"));
        assert_eq!(q("foo:%zz?a=1", "a").as_deref(), Some("1")); // opaque is not checked
        // A control character after `#` is fine to Go; the fragment's escapes are checked.
        assert_eq!(q("/x?a=1#\u{1}", "a").as_deref(), Some("1"));
        assert_eq!(q("*", "a"), None);
        assert_eq!(q("/x??a=1", "?a").as_deref(), Some("1"));
        assert_eq!(q("/x?", "a"), None);
    }
}
