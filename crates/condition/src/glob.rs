//! `fnmatch(pattern, string, 0)` (and `FNM_CASEFOLD`) over bytes, compiled once.
//!
//! With flags 0, `*` matches any run of bytes **including `/`**, `?` matches one byte, `[...]`,
//! `[!...]` (and `[^...]`) match a byte class with ranges, and `\` escapes the next byte. An
//! unterminated `[` is a literal `[`.

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Lit(u8),
    Any,
    Star,
    Class {
        negated: bool,
        ranges: Vec<(u8, u8)>,
    },
}

/// A compiled glob pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob {
    toks: Vec<Tok>,
    casefold: bool,
}

impl Glob {
    /// Compiles `pattern`; `casefold` folds ASCII case on both sides (`iglob`).
    #[must_use]
    pub fn new(pattern: &[u8], casefold: bool) -> Self {
        let fold = |c: u8| if casefold { c.to_ascii_lowercase() } else { c };
        let mut toks = Vec::new();
        let mut i = 0;
        while i < pattern.len() {
            let c = pattern[i];
            i += 1;
            match c {
                b'*' => {
                    if toks.last() != Some(&Tok::Star) {
                        toks.push(Tok::Star);
                    }
                }
                b'?' => toks.push(Tok::Any),
                b'\\' => match pattern.get(i) {
                    Some(&n) => {
                        toks.push(Tok::Lit(fold(n)));
                        i += 1;
                    }
                    None => toks.push(Tok::Lit(b'\\')),
                },
                b'[' => match parse_class(pattern, i, casefold) {
                    Some((tok, next)) => {
                        toks.push(tok);
                        i = next;
                    }
                    None => toks.push(Tok::Lit(b'[')),
                },
                _ => toks.push(Tok::Lit(fold(c))),
            }
        }
        Self { toks, casefold }
    }

    /// Whether the pattern has any wildcard (`*`, `?` or a class).
    #[must_use]
    pub fn has_wildcard(&self) -> bool {
        self.toks.iter().any(|t| !matches!(t, Tok::Lit(_)))
    }

    /// Whether the whole of `s` matches.
    #[must_use]
    pub fn matches(&self, s: &[u8]) -> bool {
        let fold = |c: u8| {
            if self.casefold {
                c.to_ascii_lowercase()
            } else {
                c
            }
        };
        let (mut p, mut i) = (0usize, 0usize);
        let mut backtrack: Option<(usize, usize)> = None;
        loop {
            if p < self.toks.len() {
                match &self.toks[p] {
                    Tok::Star => {
                        backtrack = Some((p, i));
                        p += 1;
                        continue;
                    }
                    tok if i < s.len() => {
                        let c = fold(s[i]);
                        let ok = match tok {
                            Tok::Lit(l) => *l == c,
                            Tok::Any => true,
                            Tok::Class { negated, ranges } => {
                                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
                            }
                            Tok::Star => false,
                        };
                        if ok {
                            p += 1;
                            i += 1;
                            continue;
                        }
                    }
                    _ => {}
                }
            } else if i == s.len() {
                return true;
            }
            match backtrack {
                Some((bp, bi)) if bi < s.len() => {
                    backtrack = Some((bp, bi + 1));
                    p = bp + 1;
                    i = bi + 1;
                }
                _ => return false,
            }
        }
    }
}

/// Parses a class after its `[`; returns the token and the index after `]`.
fn parse_class(pat: &[u8], mut i: usize, casefold: bool) -> Option<(Tok, usize)> {
    let mut negated = false;
    if matches!(pat.get(i), Some(b'!' | b'^')) {
        negated = true;
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let mut c = *pat.get(i)?;
        if c == b']' && !first {
            i += 1;
            break;
        }
        first = false;
        i += 1;
        if c == b'\\' {
            c = *pat.get(i)?;
            i += 1;
        }
        let mut hi = c;
        if pat.get(i) == Some(&b'-') && pat.get(i + 1).is_some_and(|&n| n != b']') {
            hi = pat[i + 1];
            i += 2;
            if hi == b'\\' {
                hi = *pat.get(i)?;
                i += 1;
            }
        }
        if casefold {
            ranges.push((c.to_ascii_lowercase(), hi.to_ascii_lowercase()));
            ranges.push((c.to_ascii_uppercase(), hi.to_ascii_uppercase()));
            ranges.push((c, hi));
        } else {
            ranges.push((c, hi));
        }
    }
    Some((Tok::Class { negated, ranges }, i))
}

#[cfg(test)]
mod tests {
    use super::Glob;

    fn m(p: &str, s: &str) -> bool {
        Glob::new(p.as_bytes(), false).matches(s.as_bytes())
    }

    #[test]
    fn fnmatch_semantics() {
        assert!(m("*", ""));
        assert!(m("*.log", "/var/log/x.log"));
        assert!(m("/a/*", "/a/b/c"));
        assert!(!m("/a/?", "/a/bc"));
        assert!(m("di[r]", "dir"));
        assert!(!m("di[!r]", "dir"));
        assert!(m("di[a-z]", "dix"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m("a[", "a["));
        assert!(m("*a*b*", "xxaxxbxx"));
        assert!(!m("*a*b", "xxaxxbxx"));
        assert!(m("[]]", "]"));
        assert!(Glob::new(b"MY*", true).matches(b"myexe"));
        assert!(!Glob::new(b"MY*", false).matches(b"myexe"));
    }
}
