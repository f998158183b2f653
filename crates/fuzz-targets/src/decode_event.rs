//! Decodes arbitrary bytes in every framing and extracts every field of the table in both
//! compat modes, with and without arguments. Nothing may panic.

use kaudit_condition::{Event, Schema, Values};
use kaudit_event::{
    ArgKind, AuditEvent, Compat, DecodeOptions, FIELDS, Framing, K8sAuditSchema, decode_document,
    decode_document_as, json_lines,
};

fn extract_all(ev: &AuditEvent<'_>) {
    for compat in [Compat::Correct, Compat::Falco] {
        let schema = K8sAuditSchema::with_compat(compat);
        for def in &FIELDS {
            let args: &[Option<&str>] = match def.arg {
                ArgKind::None => &[None],
                ArgKind::Index => &[None, Some("0"), Some("1"), Some("4294967295")],
                ArgKind::RequiredKey => &[
                    Some("/requestObject/spec/containers/0"),
                    Some("a"),
                    Some(""),
                    Some("/var/*"),
                    Some("*"),
                ],
            };
            for arg in args {
                if let Ok(info) = schema.resolve(def.name, *arg) {
                    let mut out = Values::new();
                    ev.extract(&info.field, &mut out);
                }
            }
        }
    }
}

/// Runs the target over `data`.
///
/// # Panics
/// When an invariant of the module documentation breaks.
pub fn run(data: &[u8]) {
    let opts = DecodeOptions {
        max_event_size: 1 << 20,
    };
    for item in json_lines(data, opts).flatten() {
        extract_all(&item.1);
    }
    if let Ok(doc) = decode_document(data, &opts) {
        for (_, ev) in doc.events.iter().flatten() {
            extract_all(ev);
        }
    }
    for framing in [Framing::Event, Framing::EventList, Framing::Array] {
        if let Ok(doc) = decode_document_as(data, framing, &opts) {
            for (_, ev) in doc.events.iter().flatten() {
                extract_all(ev);
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        // The tree parser and the pointer/indent helpers on raw input.
        if let Some(node) = kaudit_event::json::Node::parse(text) {
            let _ = node.to_falco_string();
            let _ = kaudit_event::json::indent(text);
        }
        let _ = kaudit_event::internal::query_param(text, "a");
        let _ = kaudit_event::internal::parse_rfc3339_ns(text);
    }
}
