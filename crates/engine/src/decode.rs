//! Splitting one payload (a record, a line, a document) into decoded events.

use kaudit_event::{AuditEvent, Compat, DecodeError, DecodeErrorKind, Framing, Position};

/// Decodes every event of one record's payload: one JSON object (an `Event`, or an
/// `EventList` whose items are each an event), a JSON array of events, or, for a whole
/// document read at once, any framing [`kaudit_event::detect_framing`] knows.
///
/// Errors carry positions relative to the payload (line 1, offset 0 at its start). `compat`
/// says how events are read ([`Compat::Falco`]: what Falco's k8saudit accepts, it accepts).
pub fn decode_record<'a>(
    payload: &'a [u8],
    opts: &kaudit_event::DecodeOptions,
    compat: Compat,
) -> Vec<Result<AuditEvent<'a>, DecodeError>> {
    let first = payload.iter().position(|b| !b.is_ascii_whitespace());
    let single_line = !payload
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .is_some_and(|last| payload[first.unwrap_or(0)..last].contains(&b'\n'));
    if single_line && first.is_some_and(|i| payload[i] == b'{') {
        let text = match std::str::from_utf8(payload) {
            Ok(t) => t,
            Err(e) => {
                return vec![Err(DecodeError {
                    line: 1,
                    offset: e.valid_up_to(),
                    kind: DecodeErrorKind::NotUtf8,
                })];
            }
        };
        let start = Position { line: 1, offset: 0 };
        return match kaudit_event::decode_event_with(text, start, opts, compat) {
            Ok(ev) if ev.kind.as_ref().is_some_and(|k| k.as_str() == "EventList") => {
                document(payload, Some(Framing::EventList), opts, compat)
            }
            other => vec![other],
        };
    }
    if first.is_none() {
        return Vec::new();
    }
    document(payload, None, opts, compat)
}

fn document<'a>(
    payload: &'a [u8],
    framing: Option<Framing>,
    opts: &kaudit_event::DecodeOptions,
    compat: Compat,
) -> Vec<Result<AuditEvent<'a>, DecodeError>> {
    let doc = match framing {
        Some(f) => kaudit_event::decode_document_as_with(payload, f, opts, compat),
        None => kaudit_event::decode_document_with(payload, opts, compat),
    };
    match doc {
        Ok(doc) => doc
            .events
            .into_iter()
            .map(|r| r.map(|(_, ev)| ev))
            .collect(),
        Err(e) => vec![Err(e)],
    }
}
