//! Input framings: JSON lines, a single `Event`, an `EventList`, a JSON array of events.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::fields::Compat;
use crate::model::{AuditEvent, EventList};
use crate::time::parse_rfc3339_ns;

/// Our default maximum size of one event's JSON text: 4 MiB.
///
/// Falco's k8saudit drops events over 262144 bytes (its `maxEventSize` default). Real EKS
/// events with a large `RequestResponse` body (CRDs, big ConfigMaps) exceed that, and silently
/// dropping them hides exactly the writes the rules look at, so we accept up to 4 MiB (the
/// kube-apiserver's default audit webhook batch is smaller than that) and report anything larger
/// as [`DecodeErrorKind::TooLarge`], never dropping it silently.
pub const DEFAULT_MAX_EVENT_SIZE: usize = 4 * 1024 * 1024;

/// Falco's own `maxEventSize` default (for a strict Falco-compatible configuration).
pub const FALCO_MAX_EVENT_SIZE: usize = 262_144;

/// Maximum nesting depth of an event, counting the event object as level 1 (serde_json's own
/// limit for the typed parts is the same 128).
pub const MAX_DEPTH: usize = 128;

/// Offset (inside `raw`) of the first bracket deeper than `limit` levels, if any.
fn too_deep(raw: &str, limit: usize) -> Option<usize> {
    let b = raw.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                // Skip the string, honouring backslash escapes.
                i += 1;
                while i < b.len() {
                    match b[i] {
                        b'\\' => i += 2,
                        b'"' => break,
                        _ => i += 1,
                    }
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Some(i);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Decoding options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Maximum size in bytes of one event's JSON text; larger events are an error.
    pub max_event_size: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            max_event_size: DEFAULT_MAX_EVENT_SIZE,
        }
    }
}

/// The framing of an input document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Framing {
    /// One JSON event per line (what EKS writes to CloudWatch Logs, and audit log files).
    JsonLines,
    /// A single `Event` object.
    Event,
    /// An `EventList` object with `items` (what the webhook backend posts).
    EventList,
    /// A JSON array of `Event` objects.
    Array,
}

/// Where an event (or an error) is in the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Position {
    /// 1-based line number.
    pub line: usize,
    /// Byte offset from the start of the input.
    pub offset: usize,
}

/// Why an event could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    /// The bytes are not valid UTF-8.
    #[error("invalid UTF-8")]
    NotUtf8,
    /// The event text is larger than the configured maximum.
    #[error("event of {size} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// Size of the event text.
        size: usize,
        /// The configured maximum ([`DecodeOptions::max_event_size`]).
        max: usize,
    },
    /// Syntax error, truncated input, nesting deeper than 128 levels, or a known key with the
    /// wrong type; the message is serde_json's.
    #[error("invalid audit event JSON: {0}")]
    Json(String),
    /// The value is not a JSON object.
    #[error("expected a JSON object for an audit event")]
    NotAnObject,
    /// `requestObject`, `responseObject` or `user.extra` nest deeper than the limit.
    #[error("JSON nested deeper than {max} levels")]
    TooDeep {
        /// The limit ([`MAX_DEPTH`]).
        max: usize,
    },
    /// A JSON object that is not a Kubernetes audit event: its `kind` is not `Event`, its
    /// `apiVersion` not `audit.k8s.io/…`, or it has no key of an audit event at all
    /// (`{"a":1}`). Such an object is never evaluated as an event of missing values.
    #[error("not a Kubernetes audit event: {0}")]
    NotAuditEvent(String),
    /// A timestamp that is present but not RFC 3339 (or before 1970).
    #[error("invalid timestamp in `{field}`: {value:?}")]
    BadTimestamp {
        /// The key holding it.
        field: &'static str,
        /// Its text.
        value: String,
    },
}

/// A decoding error naming its place in the input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, byte offset {offset}: {kind}")]
pub struct DecodeError {
    /// 1-based line of the error.
    pub line: usize,
    /// Byte offset of the error from the start of the input: for a JSON error, the last byte
    /// serde_json read (its reported column); for a size error, the start of the event; for
    /// invalid UTF-8, the first bad byte; for too deep nesting, the first bracket past the limit.
    pub offset: usize,
    /// What went wrong.
    pub kind: DecodeErrorKind,
}

/// A decoded event or its error, with its position.
pub type Decoded<'a> = Result<(Position, AuditEvent<'a>), DecodeError>;

/// Line and byte offset of `(line, column)` reported by serde_json inside `text`, which starts
/// at `base` (line `base_line`) in the whole input.
fn place(text: &str, base: Position, line: usize, column: usize) -> Position {
    let mut off = 0usize;
    for _ in 1..line.max(1) {
        match memchr::memchr(b'\n', &text.as_bytes()[off..]) {
            Some(p) => off += p + 1,
            None => break,
        }
    }
    // serde_json columns are 1-based byte counts; column 0 means "at line start".
    let off = (off + column.saturating_sub(1)).min(text.len());
    Position {
        line: base.line + line.max(1) - 1,
        offset: base.offset + off,
    }
}

fn json_error(text: &str, base: Position, e: &serde_json::Error) -> DecodeError {
    let p = place(text, base, e.line(), e.column());
    DecodeError {
        line: p.line,
        offset: p.offset,
        kind: DecodeErrorKind::Json(e.to_string()),
    }
}

/// Decodes one event from its JSON text (an object). `base` is where `text` starts in the
/// whole input, used for error positions.
///
/// # Errors
/// A [`DecodeError`] for oversized, malformed or mistyped input.
pub fn decode_event_at<'a>(
    text: &'a str,
    base: Position,
    opts: &DecodeOptions,
) -> Result<AuditEvent<'a>, DecodeError> {
    decode_event_with(text, base, opts, Compat::Correct)
}

/// Decodes one event from its JSON text for a compat mode.
///
/// [`Compat::Correct`] is [`decode_event_at`]. Under [`Compat::Falco`] an event is read the
/// way Falco's k8saudit reads it: when the strict decoding refuses it for a JSON reason (a
/// known key of an unexpected type, a string holding a lone UTF-16 surrogate escape) but the
/// text is a JSON object to Falco's parser, the event is decoded anyway, every such key giving
/// the text Falco renders for it (a string's text, otherwise compact JSON; an object key like
/// `user` that is not an object is absent), and strings keep fastjson's unescaping (a lone
/// `\ud800` stays those six characters). A `kind` or `stageTimestamp` that is not a string is
/// still an error, since Falco drops such an event too. The strict decoding runs first, so
/// well-formed events cost the same in both modes.
///
/// # Errors
/// A [`DecodeError`] for oversized, malformed or mistyped input (under [`Compat::Falco`],
/// only for input Falco does not accept either).
pub fn decode_event_with<'a>(
    text: &'a str,
    base: Position,
    opts: &DecodeOptions,
    compat: Compat,
) -> Result<AuditEvent<'a>, DecodeError> {
    let falco = compat == Compat::Falco;
    match decode_strict(text, base, opts) {
        Ok(mut ev) => {
            ev.falco = falco;
            finish(ev, text, base)
        }
        Err(e) if falco && matches!(e.kind, DecodeErrorKind::Json(_)) => {
            let loose = too_deep(text, MAX_DEPTH)
                .is_none()
                .then(|| crate::falco::decode_loose(text))
                .flatten();
            match loose {
                Some(mut ev) => {
                    ev.falco = true;
                    ev.loose = true;
                    finish(ev, text, base)
                }
                None => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// The strict serde decoding of one event, with the size, shape and depth checks.
fn decode_strict<'a>(
    text: &'a str,
    base: Position,
    opts: &DecodeOptions,
) -> Result<AuditEvent<'a>, DecodeError> {
    let err = |kind| DecodeError {
        line: base.line,
        offset: base.offset,
        kind,
    };
    if text.len() > opts.max_event_size {
        return Err(err(DecodeErrorKind::TooLarge {
            size: text.len(),
            max: opts.max_event_size,
        }));
    }
    let trimmed = text.trim_start_matches([' ', '\t', '\n', '\r']);
    if !trimmed.starts_with('{') {
        return Err(err(DecodeErrorKind::NotAnObject));
    }
    // The common shape in one pass with no allocation; anything else (including every
    // invalid text) goes through serde, which gives the exact result or error.
    if let Some(ev) = crate::fast::decode(text) {
        return Ok(ev);
    }
    decode_serde(text, base)
}

/// The serde decoding of one event, with the depth check of the raw parts.
pub(crate) fn decode_serde<'a>(
    text: &'a str,
    base: Position,
) -> Result<AuditEvent<'a>, DecodeError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = AuditEvent::deserialize(crate::firstwins::FirstWins(&mut de))
        .and_then(|ev| de.end().map(|()| ev));
    let ev: AuditEvent<'a> = parsed.map_err(|e| json_error(text, base, &e))?;
    let raws = [
        ev.request_object,
        ev.response_object,
        ev.user.as_ref().and_then(|u| u.extra),
    ];
    for raw in raws.into_iter().flatten() {
        // serde_json does not apply its recursion limit to `RawValue`s; we do, one level is
        // taken by the event object itself.
        if let Some(at) = too_deep(raw.get(), MAX_DEPTH - 1) {
            let offset = raw.get().as_ptr() as usize - text.as_ptr() as usize + at;
            let p = place(text, base, 1, 1);
            let line = p.line
                + text.as_bytes()[..offset]
                    .iter()
                    .filter(|&&c| c == b'\n')
                    .count();
            return Err(DecodeError {
                line,
                offset: base.offset + offset,
                kind: DecodeErrorKind::TooDeep { max: MAX_DEPTH },
            });
        }
    }
    Ok(ev)
}

/// Checks the object is an audit event, then sets its own text and its time.
fn finish<'a>(
    mut ev: AuditEvent<'a>,
    text: &'a str,
    base: Position,
) -> Result<AuditEvent<'a>, DecodeError> {
    let err = |kind| DecodeError {
        line: base.line,
        offset: base.offset,
        kind,
    };
    if let Some(reason) = not_audit_event(&ev) {
        return Err(err(DecodeErrorKind::NotAuditEvent(reason)));
    }
    ev.raw = text.trim_matches([' ', '\t', '\n', '\r']);
    ev.time_ns = 0;
    for (field, value) in [
        ("timestamp", &ev.timestamp),
        ("requestReceivedTimestamp", &ev.request_received_timestamp),
        ("stageTimestamp", &ev.stage_timestamp),
    ] {
        if let Some(v) = value {
            match parse_rfc3339_ns(v) {
                Some(ns) => ev.time_ns = ns,
                None => {
                    return Err(err(DecodeErrorKind::BadTimestamp {
                        field,
                        value: v.as_str().to_owned(),
                    }));
                }
            }
        }
    }
    Ok(ev)
}

/// Why `ev` is not an audit event, if it is not. `EventList` passes: the callers that read
/// documents expand it into its items. Items of an apiserver webhook `EventList` carry no
/// `kind`/`apiVersion`, so an object without them passes when it has any key of an audit event.
fn not_audit_event(ev: &AuditEvent<'_>) -> Option<String> {
    if let Some(kind) = &ev.kind
        && !matches!(kind.as_str(), "Event" | "EventList")
    {
        return Some(format!("`kind` is {:?}, expected \"Event\"", kind.as_str()));
    }
    if let Some(v) = &ev.api_version
        && !v.as_str().starts_with("audit.k8s.io/")
    {
        return Some(format!(
            "`apiVersion` is {:?}, expected \"audit.k8s.io/v1\"",
            v.as_str()
        ));
    }
    let known = ev.kind.is_some()
        || ev.api_version.is_some()
        || ev.level.is_some()
        || ev.audit_id.is_some()
        || ev.stage.is_some()
        || ev.request_uri.is_some()
        || ev.verb.is_some()
        || ev.user.is_some()
        || ev.impersonated_user.is_some()
        || ev.source_ips.is_some()
        || ev.user_agent.is_some()
        || ev.object_ref.is_some()
        || ev.response_status.is_some()
        || ev.request_object.is_some()
        || ev.response_object.is_some()
        || ev.request_received_timestamp.is_some()
        || ev.stage_timestamp.is_some()
        || ev.timestamp.is_some()
        || ev.annotations.is_some();
    if !known {
        return Some(
            "it has no key of an audit event (`kind`, `apiVersion`, `auditID`, `verb`, …)"
                .to_owned(),
        );
    }
    None
}

/// Decodes one event from its JSON text with default positions (line 1, offset 0).
///
/// # Errors
/// See [`decode_event_at`].
pub fn decode_event<'a>(
    text: &'a str,
    opts: &DecodeOptions,
) -> Result<AuditEvent<'a>, DecodeError> {
    decode_event_at(text, Position { line: 1, offset: 0 }, opts)
}

/// Iterator over the events of a JSON-lines buffer. Blank lines are skipped; a bad line yields
/// an error and the iteration goes on with the next line.
#[derive(Debug, Clone)]
pub struct JsonLines<'a> {
    buf: &'a [u8],
    pos: usize,
    line: usize,
    opts: DecodeOptions,
    compat: Compat,
}

/// Iterates the events of a JSON-lines buffer (one event per line, `\n` or `\r\n`).
#[must_use]
pub fn json_lines(buf: &[u8], opts: DecodeOptions) -> JsonLines<'_> {
    json_lines_with(buf, opts, Compat::Correct)
}

/// [`json_lines`] decoding each line for a compat mode (see [`decode_event_with`]).
#[must_use]
pub fn json_lines_with(buf: &[u8], opts: DecodeOptions, compat: Compat) -> JsonLines<'_> {
    JsonLines {
        buf,
        pos: 0,
        line: 0,
        opts,
        compat,
    }
}

impl<'a> Iterator for JsonLines<'a> {
    type Item = Decoded<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.pos < self.buf.len() {
            let start = self.pos;
            let end =
                memchr::memchr(b'\n', &self.buf[start..]).map_or(self.buf.len(), |p| start + p);
            self.pos = if end < self.buf.len() { end + 1 } else { end };
            self.line += 1;
            let mut bytes = &self.buf[start..end];
            if let [rest @ .., b'\r'] = bytes {
                bytes = rest;
            }
            if bytes.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
                continue;
            }
            let at = Position {
                line: self.line,
                offset: start,
            };
            if bytes.len() > self.opts.max_event_size {
                return Some(Err(DecodeError {
                    line: at.line,
                    offset: at.offset,
                    kind: DecodeErrorKind::TooLarge {
                        size: bytes.len(),
                        max: self.opts.max_event_size,
                    },
                }));
            }
            let text = match std::str::from_utf8(bytes) {
                Ok(t) => t,
                Err(e) => {
                    return Some(Err(DecodeError {
                        line: at.line,
                        offset: start + e.valid_up_to(),
                        kind: DecodeErrorKind::NotUtf8,
                    }));
                }
            };
            return Some(decode_event_with(text, at, &self.opts, self.compat).map(|ev| (at, ev)));
        }
        None
    }
}

/// Guesses the framing of a document from its first bytes and first line.
///
/// `[` starts an [`Framing::Array`]. Otherwise, when the first non-blank line is a complete JSON
/// value and another non-blank line follows, it is [`Framing::JsonLines`]; a lone object with
/// an `items` key is an [`Framing::EventList`], any other single object an [`Framing::Event`].
/// Empty input is JSON lines (with no events).
#[must_use]
pub fn detect_framing(buf: &[u8]) -> Framing {
    let start = buf.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        return Framing::JsonLines;
    };
    if buf[start] == b'[' {
        return Framing::Array;
    }
    let end = memchr::memchr(b'\n', &buf[start..]).map_or(buf.len(), |p| start + p);
    let rest_blank = buf[end..].iter().all(u8::is_ascii_whitespace);
    let first_complete = std::str::from_utf8(&buf[start..end])
        .ok()
        .is_some_and(|l| serde_json::from_str::<&RawValue>(l).is_ok());
    if !rest_blank && first_complete {
        return Framing::JsonLines;
    }
    if !rest_blank && !first_complete {
        // A pretty-printed document, or JSON lines whose first line is broken: look at the
        // second non-blank line.
        let mut lines = buf[end..]
            .split(|&b| b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace));
        if let Some(second) = lines.next() {
            let second_ok = std::str::from_utf8(second).ok().is_some_and(|l| {
                l.trim_start().starts_with('{') && serde_json::from_str::<&RawValue>(l).is_ok()
            });
            if second_ok {
                return Framing::JsonLines;
            }
        }
    }
    #[derive(Deserialize)]
    struct Probe<'a> {
        #[serde(borrow, default)]
        items: Option<&'a RawValue>,
    }
    let is_list = std::str::from_utf8(buf)
        .ok()
        .and_then(|t| serde_json::from_str::<Probe<'_>>(t).ok())
        .is_some_and(|p| p.items.is_some());
    if is_list {
        Framing::EventList
    } else {
        Framing::Event
    }
}

/// A whole decoded document.
#[derive(Debug)]
pub struct Document<'a> {
    /// The framing that was detected (or forced).
    pub framing: Framing,
    /// Every event or per-event error, in input order.
    pub events: Vec<Decoded<'a>>,
}

/// Decodes a whole document, auto-detecting its framing ([`detect_framing`]).
///
/// Per-event problems (a bad line, a mistyped item) are per-event errors in
/// [`Document::events`]; the function itself fails only when the whole document is unusable
/// (invalid UTF-8 in a single-document framing, a syntax error in the enclosing array or list).
///
/// # Errors
/// A [`DecodeError`] naming the line and byte offset.
pub fn decode_document<'a>(
    buf: &'a [u8],
    opts: &DecodeOptions,
) -> Result<Document<'a>, DecodeError> {
    decode_document_as(buf, detect_framing(buf), opts)
}

/// [`decode_document`] decoding each event for a compat mode (see [`decode_event_with`]).
///
/// # Errors
/// See [`decode_document`].
pub fn decode_document_with<'a>(
    buf: &'a [u8],
    opts: &DecodeOptions,
    compat: Compat,
) -> Result<Document<'a>, DecodeError> {
    decode_document_as_with(buf, detect_framing(buf), opts, compat)
}

/// Decodes a whole document with a given framing.
///
/// # Errors
/// See [`decode_document`].
pub fn decode_document_as<'a>(
    buf: &'a [u8],
    framing: Framing,
    opts: &DecodeOptions,
) -> Result<Document<'a>, DecodeError> {
    decode_document_as_with(buf, framing, opts, Compat::Correct)
}

/// [`decode_document_as`] decoding each event for a compat mode (see [`decode_event_with`]).
///
/// # Errors
/// See [`decode_document`].
pub fn decode_document_as_with<'a>(
    buf: &'a [u8],
    framing: Framing,
    opts: &DecodeOptions,
    compat: Compat,
) -> Result<Document<'a>, DecodeError> {
    if framing == Framing::JsonLines {
        return Ok(Document {
            framing,
            events: json_lines_with(buf, *opts, compat).collect(),
        });
    }
    let text = std::str::from_utf8(buf).map_err(|e| {
        let off = e.valid_up_to();
        DecodeError {
            line: line_of(buf, off),
            offset: off,
            kind: DecodeErrorKind::NotUtf8,
        }
    })?;
    let base = Position { line: 1, offset: 0 };
    let items: Vec<&'a RawValue> = match framing {
        Framing::Event => {
            let ev = decode_event_with(text, base, opts, compat).map(|e| (at_start(text, base), e));
            return Ok(Document {
                framing,
                events: vec![ev],
            });
        }
        Framing::EventList => {
            let list: EventList<'a> =
                serde_json::from_str(text).map_err(|e| json_error(text, base, &e))?;
            list.items
        }
        Framing::Array | Framing::JsonLines => {
            serde_json::from_str(text).map_err(|e| json_error(text, base, &e))?
        }
    };
    let events = items
        .into_iter()
        .map(|raw| {
            let item = raw.get();
            let offset = item.as_ptr() as usize - text.as_ptr() as usize;
            let at = Position {
                line: line_of(buf, offset),
                offset,
            };
            decode_event_with(item, at, opts, compat).map(|mut e| {
                e.list_item = framing == Framing::EventList;
                (at, e)
            })
        })
        .collect();
    Ok(Document { framing, events })
}

fn at_start(text: &str, base: Position) -> Position {
    let lead = text.len() - text.trim_start_matches([' ', '\t', '\n', '\r']).len();
    let off = base.offset + lead;
    Position {
        line: base.line
            + text.as_bytes()[..lead]
                .iter()
                .filter(|&&b| b == b'\n')
                .count(),
        offset: off,
    }
}

fn line_of(buf: &[u8], offset: usize) -> usize {
    1 + buf[..offset.min(buf.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}
