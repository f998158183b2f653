//! Stage 4, evaluation: [`Program::matches`]. It cannot fail.
//!
//! Missing values are decided in one place (the private `check`): when the left side extracts no
//! value, every comparison is false (`!=` included) and `exists` is false; `not` flips that.
//! A list field with `in` needs every value in the set, with `intersects` some value. A scalar
//! field compares its first value. String values are C strings: an embedded NUL ends them.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::net::IpAddr;

use smallvec::SmallVec;

use crate::compile::{
    CompiledCheck, Component, Node, NodeId, Pred, PredKind, Program, Src, Test, ValueSet, parse_net,
};
use crate::glob::Glob;
use crate::schema::{Event, Value, ValueType, Values};
use crate::syntax::{Modifier, Operator, Transformer};

impl<F> Program<F> {
    /// Evaluates the program on `event`.
    pub fn matches<E: Event<F> + ?Sized>(&self, event: &E) -> bool {
        self.node(self.root, event)
    }

    /// The number of checks (for statistics and tests).
    #[must_use]
    pub fn check_count(&self) -> usize {
        self.checks.len()
    }

    fn node<E: Event<F> + ?Sized>(&self, id: NodeId, event: &E) -> bool {
        match self.nodes.get(id as usize) {
            Some(Node::And(c)) => c.iter().all(|&c| self.node(c, event)),
            Some(Node::Or(c)) => c.iter().any(|&c| self.node(c, event)),
            Some(Node::Not(c)) => !self.node(*c, event),
            Some(Node::Check(c)) => self
                .checks
                .get(*c as usize)
                .is_some_and(|c| check(c, event)),
            None => false,
        }
    }
}

fn check<F, E: Event<F> + ?Sized>(c: &CompiledCheck<F>, event: &E) -> bool {
    let mut vals: Values<'_> = SmallVec::new();
    extract(&c.lhs, event, &mut vals);
    let Some(first) = vals.first() else {
        return false;
    };
    match &c.test {
        Test::Exists => true,
        Test::Pred(p) => pred(p, first),
        Test::Set { all, set } => {
            if c.list {
                if *all {
                    vals.iter().all(|v| in_set(set, v))
                } else {
                    vals.iter().any(|v| in_set(set, v))
                }
            } else {
                in_set(set, first)
            }
        }
        Test::PMatch(paths) => bytes_of(first).is_some_and(|b| pmatch(paths, b)),
        Test::Modifier { modifier, preds } => {
            let n = preds.iter().filter(|p| pred(p, first)).count();
            match modifier {
                Modifier::OneOf => n == 1,
                Modifier::AnyOf => n >= 1,
                Modifier::AllOf => n > 0 && n == preds.len(),
            }
        }
        Test::Dynamic { op, ty, rhs } => {
            let mut rv: Values<'_> = SmallVec::new();
            extract(rhs, event, &mut rv);
            let Some(r0) = rv.first() else {
                return false;
            };
            match op {
                Operator::In | Operator::Intersects => {
                    let member =
                        |v: &Value<'_>| rv.iter().any(|r| dyn_cmp(Operator::Eq, *ty, v, r));
                    if c.list {
                        if *op == Operator::In {
                            vals.iter().all(member)
                        } else {
                            vals.iter().any(member)
                        }
                    } else {
                        member(first)
                    }
                }
                _ => dyn_cmp(*op, *ty, first, r0),
            }
        }
    }
}

/// The bytes of a string-like value: a `Str` ends at its first NUL (C string).
fn bytes_of<'v>(v: &'v Value<'_>) -> Option<&'v [u8]> {
    match v {
        Value::Str(s) => {
            let b = s.as_bytes();
            Some(memchr::memchr(0, b).map_or(b, |i| &b[..i]))
        }
        Value::Bytes(b) => Some(b),
        _ => None,
    }
}

fn num_of(v: &Value<'_>) -> Option<i128> {
    match v {
        Value::Int(i) => Some(i128::from(*i)),
        Value::Uint(u) => Some(i128::from(*u)),
        Value::Bool(b) => Some(i128::from(*b)),
        Value::Str(s) => match s.as_ref() {
            "true" => Some(1),
            "false" => Some(0),
            t => t.parse().ok(),
        },
        Value::Bytes(_) => None,
    }
}

fn ip_of(v: &Value<'_>) -> Option<IpAddr> {
    match v {
        Value::Str(s) => s.parse().ok(),
        _ => None,
    }
}

fn net_contains(net: (IpAddr, u8), ip: IpAddr) -> bool {
    match (net.0, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = if net.1 == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(net.1))
            };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = if net.1 == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(net.1))
            };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

fn ord_ok(op: Operator, o: Ordering) -> bool {
    match op {
        Operator::Lt => o == Ordering::Less,
        Operator::Le => o != Ordering::Greater,
        Operator::Gt => o == Ordering::Greater,
        Operator::Ge => o != Ordering::Less,
        _ => o == Ordering::Equal,
    }
}

fn pred(p: &Pred, v: &Value<'_>) -> bool {
    let r = match &p.kind {
        PredKind::NumCmp(op, n) => num_of(v).is_some_and(|x| ord_ok(*op, x.cmp(n))),
        PredKind::IpEq(ip) => ip_of(v).is_some_and(|a| a == *ip),
        PredKind::NetEq(n, b) => match v {
            Value::Str(s) => {
                parse_net(s).is_some_and(|x| x == (*n, *b))
                    || ip_of(v).is_some_and(|a| net_contains((*n, *b), a))
            }
            _ => false,
        },
        kind => {
            let Some(b) = bytes_of(v) else {
                return false;
            };
            match kind {
                PredKind::BytesEq(n) => b == n.as_slice(),
                PredKind::BytesOrd(op, n) => ord_ok(*op, b.cmp(n.as_slice())),
                PredKind::Contains(f) => f.find(b).is_some(),
                PredKind::IContains(ac) => ac.is_match(b),
                PredKind::StartsWith(n) => b.starts_with(n),
                PredKind::EndsWith(n) => b.ends_with(n),
                PredKind::Glob(g) => g.matches(b),
                PredKind::Regex(r) => r.is_match(b),
                PredKind::NumCmp(..) | PredKind::IpEq(_) | PredKind::NetEq(..) => false,
            }
        }
    };
    r != p.negate
}

fn in_set(set: &ValueSet, v: &Value<'_>) -> bool {
    match set {
        ValueSet::Bytes(s) => bytes_of(v).is_some_and(|b| s.contains(b)),
        ValueSet::Num(s) => num_of(v).is_some_and(|n| s.contains(&n)),
        ValueSet::Ip(s) => ip_of(v).is_some_and(|a| s.contains(&a)),
        ValueSet::Net(s) => match v {
            Value::Str(t) => parse_net(t).is_some_and(|n| s.contains(&n)),
            _ => false,
        },
    }
}

fn pmatch(paths: &[Vec<Component>], value: &[u8]) -> bool {
    paths.iter().any(|path| {
        let mut comps = value.split(|&b| b == b'/').filter(|c| !c.is_empty());
        path.iter().all(|pc| {
            comps.next().is_some_and(|vc| match pc {
                Component::Lit(l) => l.as_slice() == vc,
                Component::Glob(g) => g.matches(vc),
            })
        })
    })
}

/// A comparison whose right side is only known at evaluation time (`val()`, transformers).
fn dyn_cmp(op: Operator, ty: ValueType, l: &Value<'_>, r: &Value<'_>) -> bool {
    use Operator as O;
    match ty {
        ValueType::Int | ValueType::Uint | ValueType::Bool => match (num_of(l), num_of(r)) {
            (Some(a), Some(b)) => match op {
                O::Ne => a != b,
                O::Lt | O::Le | O::Gt | O::Ge => ord_ok(op, a.cmp(&b)),
                _ => a == b,
            },
            _ => false,
        },
        ValueType::IpAddr | ValueType::IpNet => {
            let eq = bytes_of(l).zip(bytes_of(r)).is_some_and(|(a, b)| a == b);
            if op == O::Ne { !eq } else { eq }
        }
        ValueType::Str | ValueType::Bytes => {
            let (Some(a), Some(b)) = (bytes_of(l), bytes_of(r)) else {
                return false;
            };
            match op {
                O::Eq | O::EqEq | O::In | O::Intersects => a == b,
                O::Ne => a != b,
                O::Lt | O::Le | O::Gt | O::Ge => ord_ok(op, a.cmp(b)),
                O::Contains | O::BContains => memchr::memmem::find(a, b).is_some(),
                O::IContains => {
                    b.is_empty() || a.windows(b.len()).any(|w| w.eq_ignore_ascii_case(b))
                }
                O::StartsWith | O::BStartsWith => a.starts_with(b),
                O::EndsWith => a.ends_with(b),
                O::Glob => Glob::new(b, false).matches(a),
                O::IGlob => Glob::new(b, true).matches(a),
                O::Exists | O::Regex | O::PMatch => false,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Extraction and transformers

fn extract<'a, F, E: Event<F> + ?Sized>(src: &'a Src<F>, event: &'a E, out: &mut Values<'a>) {
    match src {
        Src::Field(f) => event.extract(f, out),
        Src::Lit(v) => out.push(match std::str::from_utf8(v) {
            Ok(s) => Value::Str(Cow::Borrowed(s)),
            Err(_) => Value::Bytes(Cow::Borrowed(v)),
        }),
        Src::List(items) => {
            for it in items {
                extract(it, event, out);
            }
        }
        Src::Apply { func, args, arg } => {
            let mut inner: SmallVec<[Values<'a>; 2]> = SmallVec::new();
            for a in args {
                let mut v = Values::new();
                extract(a, event, &mut v);
                inner.push(v);
            }
            apply_transformer(*func, &mut inner, arg.as_deref(), out);
        }
    }
}

fn text_of<'v>(v: &'v Value<'_>) -> Option<Cow<'v, str>> {
    match v {
        Value::Str(s) => Some(Cow::Borrowed(s.as_ref())),
        Value::Bytes(b) => Some(String::from_utf8_lossy(b)),
        Value::Int(i) => Some(Cow::Owned(i.to_string())),
        Value::Uint(u) => Some(Cow::Owned(u.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
    }
}

/// Applies transformer `func` to its argument values (`args`, one [`Values`] per argument, as
/// the transformer's arity says; `arg` is the trailing `[c]` of `getopt`), appending the results
/// to `out`. This is the one transformer table: conditions call it through [`Program::matches`],
/// output templates (kaudit-rules) call it directly.
///
/// - `tolower`, `toupper`, `basename`: per string value (ASCII case mapping; the text after the
///   last `/`).
/// - `b64`: per value, standard-alphabet base64 with optional `=` padding; a value that does
///   not decode is dropped. A decoded string
///   that is not UTF-8 is kept as [`Value::Bytes`], like libsinsp, which keeps the bytes
///   (`CHARBUF` in, `CHARBUF` out, no encoding check); text output renders it lossily.
/// - `len`: the number of values of a list, else the byte length of the one string (1 for a
///   number); nothing for no value.
/// - `join`, `concat`, `getopt`, `val`: as in libs 0.25.
///
/// A value of a type the transformer does not take (a number given to `toupper`) passes
/// through unchanged. [`compile()`](crate::compile()) refuses such conditions, so only output
/// templates, which Falco does not type-check the same way, can produce it.
pub fn apply_transformer<'a>(
    func: Transformer,
    args: &mut [Values<'a>],
    arg: Option<&str>,
    out: &mut Values<'a>,
) {
    let Some(first) = args.first_mut() else {
        return;
    };
    match func {
        Transformer::Val => out.extend(first.drain(..)),
        Transformer::ToLower | Transformer::ToUpper => {
            for v in first.drain(..) {
                let Value::Str(s) = v else {
                    out.push(v);
                    continue;
                };
                let t = if func == Transformer::ToLower {
                    s.to_ascii_lowercase()
                } else {
                    s.to_ascii_uppercase()
                };
                out.push(Value::Str(Cow::Owned(t)));
            }
        }
        Transformer::Basename => {
            for v in first.drain(..) {
                let Value::Str(s) = v else {
                    out.push(v);
                    continue;
                };
                let base = match s.rfind('/') {
                    Some(i) => s[i + 1..].to_owned(),
                    None => s.into_owned(),
                };
                out.push(Value::Str(Cow::Owned(base)));
            }
        }
        Transformer::B64 => {
            for v in first.drain(..) {
                let decoded = match &v {
                    Value::Str(s) => b64_decode(s.as_bytes()),
                    Value::Bytes(b) => b64_decode(b),
                    Value::Int(_) | Value::Uint(_) | Value::Bool(_) => {
                        out.push(v);
                        continue;
                    }
                };
                match (v, decoded) {
                    (Value::Str(_), Some(d)) => out.push(match String::from_utf8(d) {
                        Ok(s) => Value::Str(Cow::Owned(s)),
                        Err(e) => Value::Bytes(Cow::Owned(e.into_bytes())),
                    }),
                    (_, Some(d)) => out.push(Value::Bytes(Cow::Owned(d))),
                    (_, None) => {}
                }
            }
        }
        Transformer::Len => {
            if first.len() > 1 {
                out.push(Value::Uint(first.len() as u64));
            } else if let Some(v) = first.first() {
                let n = match v {
                    Value::Str(s) => s.len(),
                    Value::Bytes(b) => b.len(),
                    _ => 1,
                };
                out.push(Value::Uint(n as u64));
            }
        }
        Transformer::Join => {
            let sep = first
                .first()
                .and_then(text_of)
                .map(Cow::into_owned)
                .unwrap_or_default();
            let Some(list) = args.get(1) else { return };
            if list.is_empty() {
                return;
            }
            let parts: Vec<String> = list
                .iter()
                .filter_map(text_of)
                .map(Cow::into_owned)
                .collect();
            out.push(Value::Str(Cow::Owned(parts.join(&sep))));
        }
        Transformer::Concat => {
            let mut s = String::new();
            for a in args.iter() {
                if a.is_empty() {
                    return;
                }
                for v in a {
                    if let Some(t) = text_of(v) {
                        s.push_str(&t);
                    }
                }
            }
            out.push(Value::Str(Cow::Owned(s)));
        }
        Transformer::Getopt => {
            let optstring = args
                .get(1)
                .and_then(|o| o.first())
                .and_then(text_of)
                .map(Cow::into_owned)
                .unwrap_or_default();
            let Some(want) = arg.and_then(|a| a.chars().next()) else {
                return;
            };
            let tokens: Vec<String> = args[0]
                .iter()
                .filter_map(text_of)
                .map(Cow::into_owned)
                .collect();
            if let Some(v) = getopt(&tokens, &optstring, want) {
                out.push(Value::Str(Cow::Owned(v)));
            }
        }
    }
}

/// POSIX-style `getopt` over `args`: the value of option `want` (its argument, or `"true"` for
/// a flag); scanning stops at the first non-option or `--`.
fn getopt(args: &[String], optstring: &str, want: char) -> Option<String> {
    let takes_arg = |c: char| {
        optstring
            .find(c)
            .map(|i| optstring[i + c.len_utf8()..].starts_with(':'))
    };
    let mut i = 0;
    let mut found = None;
    while i < args.len() {
        let a = &args[i];
        if a == "--" || !a.starts_with('-') || a.len() == 1 {
            break;
        }
        for (idx, c) in a[1..].char_indices() {
            match takes_arg(c) {
                None => break,
                Some(false) => {
                    if c == want {
                        found = Some("true".to_owned());
                    }
                }
                Some(true) => {
                    let rest = &a[1 + idx + c.len_utf8()..];
                    let value = if rest.is_empty() {
                        i += 1;
                        args.get(i).cloned()
                    } else {
                        Some(rest.to_owned())
                    };
                    if c == want {
                        found = value;
                    }
                    break;
                }
            }
        }
        i += 1;
    }
    found
}

/// Standard base64 decoding; padding optional; any other byte fails.
fn b64_decode(input: &[u8]) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    };
    let body = input
        .strip_suffix(b"==")
        .or_else(|| input.strip_suffix(b"="))
        .unwrap_or(input);
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    for chunk in body.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        match chunk.len() {
            4 => out.extend_from_slice(&bytes[1..4]),
            3 => out.extend_from_slice(&bytes[1..3]),
            2 => out.push(bytes[1]),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::{Cow, Transformer, Value, Values, apply_transformer, b64_decode, getopt};

    fn apply(t: Transformer, v: Value<'static>) -> Values<'static> {
        let mut args = [Values::new()];
        args[0].push(v);
        let mut out = Values::new();
        apply_transformer(t, &mut args, None, &mut out);
        out
    }

    /// libsinsp keeps a decoded `b64` value whatever its bytes; a number passes `toupper`
    /// untouched (only output templates can give it one).
    #[test]
    fn transformer_values() {
        let s = |t: &'static str| Value::Str(Cow::Borrowed(t));
        assert_eq!(
            apply(Transformer::B64, s("/w==")).as_slice(),
            &[Value::Bytes(Cow::Owned(vec![0xff]))]
        );
        assert_eq!(
            apply(Transformer::B64, s("aGk=")).as_slice(),
            &[Value::Str(Cow::Owned("hi".to_owned()))]
        );
        assert!(apply(Transformer::B64, s("a$")).is_empty());
        assert_eq!(
            apply(Transformer::ToUpper, Value::Uint(7)).as_slice(),
            &[Value::Uint(7)]
        );
        assert_eq!(
            apply(Transformer::Basename, s("/a/b")).as_slice(),
            &[Value::Str(Cow::Owned("b".to_owned()))]
        );
    }

    #[test]
    fn base64() {
        assert_eq!(b64_decode(b"dGVzdA==").as_deref(), Some(&b"test"[..]));
        assert_eq!(b64_decode(b"dGVzdA").as_deref(), Some(&b"test"[..]));
        assert_eq!(b64_decode(b"d"), None);
        assert_eq!(b64_decode(b"!!!!"), None);
    }

    #[test]
    fn getopt_values() {
        let args: Vec<String> = ["-n", "-t", "val", "x"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(getopt(&args, "nt:", 't').as_deref(), Some("val"));
        assert_eq!(getopt(&args, "nt:", 'n').as_deref(), Some("true"));
        let args: Vec<String> = ["-tabc"].iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(getopt(&args, "t:", 't').as_deref(), Some("abc"));
    }
}
