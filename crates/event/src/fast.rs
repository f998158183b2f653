//! The fast decoding of one audit event: a single pass over the text that validates all of it
//! (JSON syntax exactly as serde_json checks it) and keeps, for the keys of the model, only
//! where their values are. Nothing is allocated unless a typed string has escapes: lists
//! (`user.groups`, `sourceIPs`), `annotations` and the raw objects (`requestObject`,
//! `responseObject`, `user.extra`) stay text that is read on demand.
//!
//! It is a strict subset of the serde decoding ([`crate::decode`]): whenever the text is not
//! the common, well-formed shape (a syntax error, a known key of an unexpected type, a
//! duplicate known key, an escaped key, a UTF-16 surrogate escape in a string the model keeps,
//! nesting deeper than [`DEPTH`]), it gives up and the serde decoding decides, with its exact
//! result or error. So an invalid line is never accepted here, and a valid one decodes to the
//! same event either way (the decode tests run both paths over the same inputs).

use std::borrow::Cow;

use crate::model::{
    AuditEvent, Number, ObjectReference, RawJson, ResponseStatus, StrMap, Text, TextList, UserInfo,
};

/// Deepest nesting accepted here (the event object is level 1); deeper text is left to serde,
/// which applies [`crate::MAX_DEPTH`].
pub(crate) const DEPTH: usize = 100;

/// What a string literal holds besides plain characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Esc {
    /// No escape: its text borrows from the input.
    None,
    /// Escapes, none of them a UTF-16 surrogate.
    Plain,
    /// A `\uD800`-`\uDFFF` escape (serde refuses a lone one in a typed string).
    Surrogate,
}

struct P<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

/// Decodes `text` (one JSON object) when it has the common shape; `None` leaves it to serde.
pub(crate) fn decode(text: &str) -> Option<AuditEvent<'_>> {
    let mut p = P {
        s: text,
        b: text.as_bytes(),
        i: 0,
    };
    p.ws();
    let ev = p.event()?;
    p.ws();
    (p.i == p.b.len()).then_some(ev)
}

fn hex(c: u8) -> Option<u32> {
    char::from(c).to_digit(16)
}

impl<'a> P<'a> {
    #[inline]
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        if self.peek() == Some(c) {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    fn lit(&mut self, word: &[u8]) -> Option<()> {
        if self.b.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Some(())
        } else {
            None
        }
    }

    /// A string literal at the cursor: its span (quotes included) and what escapes it has.
    #[inline]
    fn string(&mut self) -> Option<(usize, usize, Esc)> {
        let start = self.i;
        self.eat(b'"')?;
        let mut esc = Esc::None;
        // A local cursor (stored back on the way out): the loops below keep it in a register.
        let b = self.b;
        let mut i = self.i;
        loop {
            i = kaudit_condition::internal::json_plain_end(b, i);
            match *b.get(i)? {
                b'"' => {
                    i += 1;
                    self.i = i;
                    return Some((start, i, esc));
                }
                b'\\' => {
                    match *b.get(i + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                        b'u' => {
                            let h = b.get(i + 2..i + 6)?;
                            let n = h
                                .iter()
                                .try_fold(0u32, |acc, &c| Some(acc * 16 + hex(c)?))?;
                            if (0xD800..0xE000).contains(&n) {
                                esc = Esc::Surrogate;
                            }
                            i += 6;
                        }
                        _ => return None,
                    }
                    esc = esc.max(Esc::Plain);
                }
                // A raw control character.
                _ => return None,
            }
        }
    }

    fn digits(&mut self) -> Option<()> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        (self.i > start).then_some(())
    }

    /// A number with JSON's grammar.
    fn number(&mut self) -> Option<()> {
        let _ = self.eat(b'-');
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits()?,
            _ => return None,
        }
        if self.eat(b'.').is_some() {
            self.digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            self.digits()?;
        }
        Some(())
    }

    /// Validates any value at the cursor; `depth` is the level of the value's container.
    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => {
                if depth >= DEPTH {
                    return None;
                }
                self.i += 1;
                self.ws();
                if self.eat(b'}').is_some() {
                    return Some(());
                }
                loop {
                    self.ws();
                    self.string()?;
                    self.ws();
                    self.eat(b':')?;
                    self.ws();
                    self.value(depth + 1)?;
                    self.ws();
                    if self.eat(b',').is_none() {
                        return self.eat(b'}');
                    }
                }
            }
            b'[' => {
                if depth >= DEPTH {
                    return None;
                }
                self.i += 1;
                self.ws();
                if self.eat(b']').is_some() {
                    return Some(());
                }
                loop {
                    self.ws();
                    self.value(depth + 1)?;
                    self.ws();
                    if self.eat(b',').is_none() {
                        return self.eat(b']');
                    }
                }
            }
            b't' => self.lit(b"true"),
            b'f' => self.lit(b"false"),
            b'n' => self.lit(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// The text of a string literal span, as serde decodes it (no surrogate escapes).
    fn text_of(&self, (s, e, esc): (usize, usize, Esc)) -> Option<Text<'a>> {
        match esc {
            Esc::None => Some(Text(Cow::Borrowed(self.s.get(s + 1..e - 1)?))),
            Esc::Plain => Some(Text(crate::json::unescape(self.s.get(s..e)?, false)?)),
            Esc::Surrogate => None,
        }
    }

    /// An `Option<Text>` field; with `nullable`, `null` is the text `"null"`, else absent.
    fn text(&mut self, nullable: bool) -> Option<Option<Text<'a>>> {
        match self.peek()? {
            b'n' => {
                self.lit(b"null")?;
                Some(nullable.then_some(Text(Cow::Borrowed("null"))))
            }
            b'"' => {
                let span = self.string()?;
                Some(Some(self.text_of(span)?))
            }
            _ => None,
        }
    }

    /// An `Option<TextList>` field: `null` or an array of strings.
    fn list(&mut self) -> Option<Option<TextList<'a>>> {
        match self.peek()? {
            b'n' => self.lit(b"null").map(|()| None),
            b'[' => {
                let start = self.i;
                self.i += 1;
                self.ws();
                let mut n = 0;
                if self.eat(b']').is_none() {
                    loop {
                        self.ws();
                        if self.string()?.2 == Esc::Surrogate {
                            return None;
                        }
                        n += 1;
                        self.ws();
                        if self.eat(b',').is_none() {
                            self.eat(b']')?;
                            break;
                        }
                    }
                }
                Some(Some(TextList::raw(self.s.get(start..self.i)?, n)))
            }
            _ => None,
        }
    }

    /// `annotations`: `null` or an object of strings.
    fn str_map(&mut self) -> Option<Option<StrMap<'a>>> {
        match self.peek()? {
            b'n' => self.lit(b"null").map(|()| None),
            b'{' => {
                let start = self.i;
                self.i += 1;
                self.ws();
                if self.eat(b'}').is_none() {
                    loop {
                        self.ws();
                        if self.string()?.2 == Esc::Surrogate {
                            return None;
                        }
                        self.ws();
                        self.eat(b':')?;
                        self.ws();
                        if self.string()?.2 == Esc::Surrogate {
                            return None;
                        }
                        self.ws();
                        if self.eat(b',').is_none() {
                            self.eat(b'}')?;
                            break;
                        }
                    }
                }
                Some(Some(StrMap::raw(self.s.get(start..self.i)?)))
            }
            _ => None,
        }
    }

    /// An `Option<RawJson>` field: `null` is absent, any other value is kept as its text.
    fn raw(&mut self, depth: usize) -> Option<Option<RawJson<'a>>> {
        if self.peek()? == b'n' {
            return self.lit(b"null").map(|()| None);
        }
        let start = self.i;
        self.value(depth)?;
        Some(Some(RawJson::new(self.s.get(start..self.i)?)))
    }

    /// Walks the members of an object at the cursor, calling `member(self, key, bit)` with
    /// each key's text (no escapes allowed) after the `:`; `bit` is the key's position in
    /// `keys` (a duplicate known key gives up) or `None` for a key the model does not have,
    /// whose value is then validated and skipped here.
    fn object(
        &mut self,
        depth: usize,
        keys: &[&[u8]],
        mut member: impl FnMut(&mut Self, usize) -> Option<()>,
    ) -> Option<()> {
        if depth >= DEPTH {
            return None;
        }
        self.eat(b'{')?;
        self.ws();
        if self.eat(b'}').is_some() {
            return Some(());
        }
        let mut seen = 0u64;
        loop {
            self.ws();
            let (s, e, esc) = self.string()?;
            if esc != Esc::None {
                return None;
            }
            let key = self.b.get(s + 1..e - 1)?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            match keys.iter().position(|k| *k == key) {
                Some(bit) => {
                    if seen & (1 << bit) != 0 {
                        return None;
                    }
                    seen |= 1 << bit;
                    member(self, bit)?;
                }
                None => self.value(depth + 1)?,
            }
            self.ws();
            if self.eat(b',').is_none() {
                return self.eat(b'}');
            }
        }
    }

    fn user(&mut self, depth: usize) -> Option<Option<UserInfo<'a>>> {
        if self.peek()? == b'n' {
            return self.lit(b"null").map(|()| None);
        }
        let mut u = UserInfo::default();
        self.object(
            depth,
            &[b"username", b"uid", b"groups", b"extra"],
            |p, k| {
                match k {
                    0 => u.username = p.text(true)?,
                    1 => u.uid = p.text(false)?,
                    2 => u.groups = p.list()?,
                    _ => u.extra = p.raw(depth + 1)?,
                }
                Some(())
            },
        )?;
        Some(Some(u))
    }

    fn object_ref(&mut self, depth: usize) -> Option<Option<ObjectReference<'a>>> {
        if self.peek()? == b'n' {
            return self.lit(b"null").map(|()| None);
        }
        let mut o = ObjectReference::default();
        self.object(
            depth,
            &[
                b"resource",
                b"namespace",
                b"name",
                b"uid",
                b"apiGroup",
                b"apiVersion",
                b"resourceVersion",
                b"subresource",
            ],
            |p, k| {
                match k {
                    0 => o.resource = p.text(true)?,
                    1 => o.namespace = p.text(true)?,
                    2 => o.name = p.text(true)?,
                    3 => o.uid = p.text(false)?,
                    4 => o.api_group = p.text(false)?,
                    5 => o.api_version = p.text(false)?,
                    6 => o.resource_version = p.text(false)?,
                    _ => o.subresource = p.text(true)?,
                }
                Some(())
            },
        )?;
        Some(Some(o))
    }

    fn status(&mut self, depth: usize) -> Option<Option<ResponseStatus<'a>>> {
        if self.peek()? == b'n' {
            return self.lit(b"null").map(|()| None);
        }
        let mut r = ResponseStatus::default();
        self.object(
            depth,
            &[b"code", b"status", b"message", b"reason"],
            |p, k| {
                match k {
                    0 => {
                        r.code = match p.peek()? {
                            b'n' => p.lit(b"null").map(|()| None)?,
                            b'-' | b'0'..=b'9' => {
                                let start = p.i;
                                p.number()?;
                                Some(Number(p.s.get(start..p.i)?))
                            }
                            _ => return None,
                        }
                    }
                    1 => r.status = p.text(false)?,
                    2 => r.message = p.text(false)?,
                    _ => r.reason = p.text(true)?,
                }
                Some(())
            },
        )?;
        Some(Some(r))
    }

    fn event(&mut self) -> Option<AuditEvent<'a>> {
        let mut ev = AuditEvent::default();
        self.object(
            0,
            &[
                b"kind",
                b"apiVersion",
                b"level",
                b"auditID",
                b"stage",
                b"requestURI",
                b"verb",
                b"user",
                b"impersonatedUser",
                b"sourceIPs",
                b"userAgent",
                b"objectRef",
                b"responseStatus",
                b"requestObject",
                b"responseObject",
                b"requestReceivedTimestamp",
                b"stageTimestamp",
                b"timestamp",
                b"annotations",
            ],
            |p, k| {
                match k {
                    0 => ev.kind = p.text(false)?,
                    1 => ev.api_version = p.text(false)?,
                    2 => ev.level = p.text(false)?,
                    3 => ev.audit_id = p.text(true)?,
                    4 => ev.stage = p.text(true)?,
                    5 => ev.request_uri = p.text(true)?,
                    6 => ev.verb = p.text(true)?,
                    7 => ev.user = p.user(1)?,
                    8 => ev.impersonated_user = p.user(1)?,
                    9 => ev.source_ips = p.list()?,
                    10 => ev.user_agent = p.text(true)?,
                    11 => ev.object_ref = p.object_ref(1)?,
                    12 => ev.response_status = p.status(1)?,
                    13 => ev.request_object = p.raw(1)?,
                    14 => ev.response_object = p.raw(1)?,
                    15 => ev.request_received_timestamp = p.text(false)?,
                    16 => ev.stage_timestamp = p.text(false)?,
                    17 => ev.timestamp = p.text(false)?,
                    _ => ev.annotations = p.str_map()?,
                }
                Some(())
            },
        )?;
        Some(ev)
    }
}

#[cfg(test)]
mod tests {
    use kaudit_condition::{Event, Schema, Values};

    use crate::decode::{Position, decode_serde};
    use crate::fields::{ArgKind, Compat, FIELDS, K8sAuditSchema};
    use crate::model::AuditEvent;

    /// Every field (with a few arguments for those that take one), extracted, as text.
    fn fields_of(ev: &AuditEvent<'_>, compat: Compat) -> Vec<String> {
        let schema = K8sAuditSchema::with_compat(compat);
        let mut out = Vec::new();
        for def in FIELDS {
            let args: &[Option<&str>] = match def.arg {
                ArgKind::None => &[None],
                ArgKind::Index => &[None, Some("0"), Some("1")],
                ArgKind::RequiredKey => &[
                    Some("/stage"),
                    Some("/verb"),
                    Some("/user/username"),
                    Some("/kind"),
                    Some("/requestObject/spec/containers/0/image"),
                    Some("/annotations/authorization.k8s.io~1reason"),
                    Some("authorization.k8s.io/decision"),
                    Some("command"),
                    Some("/"),
                ],
            };
            for &arg in args {
                let Ok(info) = schema.resolve(def.name, arg) else {
                    continue;
                };
                let mut vals = Values::new();
                ev.extract(&info.field, &mut vals);
                out.push(format!("{}[{arg:?}] = {vals:?}", def.name));
            }
        }
        out
    }

    fn decoded(text: &str, fast: bool, compat: Compat) -> AuditEvent<'_> {
        let mut ev = if fast {
            super::decode(text).expect("fast decoding")
        } else {
            decode_serde(text, Position::default()).unwrap_or_else(|e| {
                panic!("the fast decoding took what serde refuses: {e}\n{text}")
            })
        };
        ev.raw = text.trim_matches([' ', '\t', '\n', '\r']);
        ev.falco = compat == Compat::Falco;
        ev
    }

    /// Whether the fast decoding takes `text`; when it does, serde must decode it too, to an
    /// event with the same value for every field in both modes.
    fn same_as_serde(text: &str) -> bool {
        if super::decode(text).is_none() {
            return false;
        }
        assert!(
            serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok(),
            "the fast decoding took invalid JSON: {text}"
        );
        for compat in [Compat::Correct, Compat::Falco] {
            let a = decoded(text, true, compat);
            let b = decoded(text, false, compat);
            assert_eq!(fields_of(&a, compat), fields_of(&b, compat), "{text}");
        }
        true
    }

    const SAMPLE: &str = include_str!("../../../examples/data/sample-audit.jsonl");

    #[test]
    fn sample_events_decode_fast_and_alike() {
        let mut n = 0;
        for line in SAMPLE.lines().filter(|l| !l.trim().is_empty()) {
            assert!(
                same_as_serde(line),
                "not taken by the fast decoding: {line}"
            );
            n += 1;
        }
        assert_eq!(n, 400);
    }

    #[test]
    fn upstream_traces_decode_alike() {
        let Some(dir) = kaudit_testdata::shared("upstream", "fast decoding vs serde") else {
            return;
        };
        let mut stack = vec![dir];
        let (mut taken, mut lines) = (0, 0);
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if let Ok(text) = std::fs::read_to_string(&p) {
                    for line in text.lines().filter(|l| l.trim_start().starts_with('{')) {
                        lines += 1;
                        taken += usize::from(same_as_serde(line));
                    }
                }
            }
        }
        eprintln!("upstream: {taken} of {lines} JSON lines taken by the fast decoding");
        assert!(taken > 0);
    }

    #[test]
    fn edge_cases_decode_alike_or_fall_back() {
        let taken = [
            r#"{"auditID":"a","verb":null,"stage":null,"user":null,"objectRef":null,"responseStatus":null,"annotations":null,"sourceIPs":null,"requestObject":null,"kind":null}"#,
            r#" {"auditID":"a\"b\\c\/d\u00e9\n","requestURI":"/api?x=1\u0026y=2","user":{"username":"u\u0041","groups":["a\"b","c"],"extra":{"x":[1,2,{"y":null}]}}} "#,
            r#"{"auditID":"a","annotations":{"k\"1":"v\"1","k":"first","k":"second"},"sourceIPs":["1.2.3.4","::1"],"responseStatus":{"code":-0.5e+3,"reason":null,"metadata":{}}}"#,
            r#"{"auditID":"a","objectRef":{"resource":"pods","subresource":"exec","namespace":null,"name":"n","uid":"u","apiGroup":"","apiVersion":"v1","resourceVersion":"1"},"unknown":{"a":[true,false,null,1e5,"\ud800"]},"unknown":1}"#,
            r#"{"auditID":"a","requestObject":{"spec":{"containers":[{"image":"nginx:1","securityContext":{"privileged":true}}],"volumes":[{"hostPath":{"path":"/etc"}}]}},"responseObject":{"metadata":{"name":"p\u00e9"}},"impersonatedUser":{"username":"x"}}"#,
            "{\n\t\"auditID\" :\r\n \"a\" , \"verb\" : \"get\"\n}\n",
            r#"{}"#,
        ];
        for t in taken {
            assert!(same_as_serde(t), "not taken: {t}");
        }
        // Shapes left to serde: it decides (an error or the first-wins reading).
        for t in [
            r#"{"auditID":"a","verb":"get","verb":"x"}"#,
            r#"{"audit\u0049D":"a"}"#,
            r#"{"auditID":"\ud83d\ude00"}"#,
            r#"{"auditID":1}"#,
            r#"{"user":[]}"#,
            r#"{"sourceIPs":[null]}"#,
            r#"{"annotations":{"a":1}}"#,
            r#"{"responseStatus":{"code":"200"}}"#,
            r#"{"auditID":"a"} x"#,
            r#"{"auditID":"a",}"#,
            r#"{"auditID":"a","x":01}"#,
            r#"{"auditID":"a","x":"tab	here"}"#,
            r#"{"auditID":"a","x":"\x"}"#,
            r#"{"auditID":"a","x":[1,]}"#,
            r#"{"auditID":"a","x":-}"#,
            r#"{"auditID":"a","x":1.}"#,
            r#"{"auditID":"a","x":tru}"#,
        ] {
            assert!(super::decode(t).is_none(), "taken: {t}");
        }
        let deep = format!(
            r#"{{"auditID":"a","requestObject":{}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        assert!(super::decode(&deep).is_none());
    }

    /// Invalid JSON is never taken: every truncation and many one-byte changes of real events
    /// either fall back to serde (which reports them) or are still valid JSON decoding alike.
    #[test]
    fn damaged_events_are_never_taken_as_valid() {
        let lines: Vec<&str> = SAMPLE.lines().filter(|l| !l.is_empty()).collect();
        let mut picked: Vec<&str> = lines.iter().copied().take(2).collect();
        picked.extend(
            lines
                .iter()
                .copied()
                .filter(|l| l.contains("requestObject"))
                .take(1),
        );
        let subs = [
            b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b'0', b'-', b'x', 0x01, b' ', b'e',
            b'.', b'n',
        ];
        let (mut taken, mut total) = (0, 0);
        for line in picked {
            for cut in 0..line.len() {
                if let Some(t) = line.get(..cut) {
                    total += 1;
                    taken += usize::from(same_as_serde(t));
                }
            }
            let bytes = line.as_bytes();
            for at in 0..bytes.len() {
                for &c in &subs {
                    let mut m = bytes.to_vec();
                    m[at] = c;
                    if let Ok(t) = std::str::from_utf8(&m) {
                        total += 1;
                        if super::decode(t).is_some() {
                            taken += 1;
                            assert!(
                                serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok(),
                                "the fast decoding took invalid JSON: {t}"
                            );
                            assert!(decode_serde(t, Position::default()).is_ok(), "{t}");
                        }
                    }
                }
            }
        }
        assert!(taken > 0 && taken < total, "{taken} of {total}");
    }
}
