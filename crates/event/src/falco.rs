//! Falco compat at the event level: reading an event the strict decoding refuses the way
//! Falco's k8saudit reads it, and the payload text Falco stores for an event.
//!
//! Falco parses an audit event with fastjson, which checks the JSON syntax but neither the
//! types of known keys nor the string escapes, and its extractors render whatever value a key
//! holds as a string. So an event whose `user.username` is an object, whose
//! `objectRef.subresource` is a number, or whose strings hold a lone UTF-16 surrogate escape is
//! an event to Falco, with values for its fields. The strict serde decoding refuses those;
//! [`decode_loose`] is the fallback taken for them under [`crate::Compat::Falco`] only, so the
//! default path keeps its speed and its errors.

use std::borrow::Cow;

use serde_json::value::RawValue;

use crate::json::{self, Node};
use crate::model::{
    AuditEvent, Number, ObjectReference, RawJson, ResponseStatus, StrMap, Text, TextList, UserInfo,
};

/// The source text of a value, borrowed from the input.
fn raw_of<'a>(n: &Node<'a>) -> &'a str {
    match *n {
        Node::Null => "null",
        Node::Bool(true) => "true",
        Node::Bool(false) => "false",
        Node::Num(s) => s,
        Node::Str { raw, .. } | Node::Arr { raw, .. } | Node::Obj { raw, .. } => raw,
    }
}

/// k8saudit's `jsonValueAsString`: a string's text, anything else compact JSON (`null` is the
/// text `null`).
fn text_of(n: Node<'_>) -> Text<'_> {
    match n {
        Node::Str { text, .. } => Text(text),
        other => Text(json::compact(raw_of(&other))),
    }
}

/// Like [`text_of`], but `null` is absent (the strict model's plain `Option<Text>` fields).
fn opt_text(n: Node<'_>) -> Option<Text<'_>> {
    match n {
        Node::Null => None,
        other => Some(text_of(other)),
    }
}

/// A string, or `None` for anything else.
fn string_only(n: Node<'_>) -> Option<Text<'_>> {
    match n {
        Node::Str { text, .. } => Some(Text(text)),
        _ => None,
    }
}

/// An array of values as texts (`K` of a list field: it must be an array).
fn list_of(n: Node<'_>) -> Option<TextList<'_>> {
    match n {
        Node::Arr { items, .. } => Some(TextList::from(
            items.into_iter().map(text_of).collect::<Vec<_>>(),
        )),
        _ => None,
    }
}

/// A value kept raw, as the strict model keeps `requestObject`.
fn raw_value<'a>(n: &Node<'a>) -> Option<RawJson<'a>> {
    serde_json::from_str::<&RawValue>(raw_of(n))
        .ok()
        .map(|r| RawJson::new(r.get()))
}

/// The members of an object, for [`take`].
type Entries<'a> = Vec<(Cow<'a, str>, Node<'a>)>;

/// Removes and returns the first member named `key` (the first duplicate wins).
fn take<'a>(entries: &mut Entries<'a>, key: &str) -> Option<Node<'a>> {
    let at = entries.iter().position(|(k, _)| k == key)?;
    Some(entries.remove(at).1)
}

fn members(n: Node<'_>) -> Option<Entries<'_>> {
    match n {
        Node::Obj { entries, .. } => Some(entries),
        _ => None,
    }
}

fn user_of(n: Node<'_>) -> Option<UserInfo<'_>> {
    let mut m = members(n)?;
    Some(UserInfo {
        username: take(&mut m, "username").map(text_of),
        uid: take(&mut m, "uid").and_then(opt_text),
        groups: take(&mut m, "groups").and_then(list_of),
        extra: take(&mut m, "extra").as_ref().and_then(raw_value),
    })
}

fn object_ref_of(n: Node<'_>) -> Option<ObjectReference<'_>> {
    let mut m = members(n)?;
    Some(ObjectReference {
        resource: take(&mut m, "resource").map(text_of),
        namespace: take(&mut m, "namespace").map(text_of),
        name: take(&mut m, "name").map(text_of),
        uid: take(&mut m, "uid").and_then(opt_text),
        api_group: take(&mut m, "apiGroup").and_then(opt_text),
        api_version: take(&mut m, "apiVersion").and_then(opt_text),
        resource_version: take(&mut m, "resourceVersion").and_then(opt_text),
        subresource: take(&mut m, "subresource").map(text_of),
    })
}

fn status_of(n: Node<'_>) -> Option<ResponseStatus<'_>> {
    let mut m = members(n)?;
    let (code, code_text) = match take(&mut m, "code") {
        Some(Node::Num(s)) => (Some(Number(s)), None),
        Some(Node::Null) | None => (None, None),
        Some(other) => (None, Some(text_of(other))),
    };
    Some(ResponseStatus {
        code,
        status: take(&mut m, "status").and_then(opt_text),
        message: take(&mut m, "message").and_then(opt_text),
        reason: take(&mut m, "reason").map(text_of),
        code_text,
    })
}

fn annotations_of(n: Node<'_>) -> Option<StrMap<'_>> {
    let mut out: Vec<(Text<'_>, Text<'_>)> = Vec::new();
    for (k, v) in members(n)? {
        if out.iter().all(|(e, _)| e.as_str() != k) {
            out.push((Text(k), text_of(v)));
        }
    }
    Some(StrMap::from_entries(out))
}

/// Reads an event the way Falco does, for an event the strict decoding refused: every known
/// key of an unexpected type becomes the text Falco's extractors render for it (a string's
/// text, otherwise compact JSON), keys that must be objects (`user`, `objectRef`, ...) are
/// absent when they are not, and strings are unescaped like fastjson does
/// ([`Node::parse_falco`]).
///
/// `None` (the strict error stands) when the text is not a JSON object to fastjson either, or
/// when Falco would drop the event as well: a `kind` or `stageTimestamp` that is present but
/// not a string. The caller sets `raw` and the time.
pub(crate) fn decode_loose(text: &str) -> Option<AuditEvent<'_>> {
    let mut m = members(Node::parse_falco(text)?)?;
    let mut ev = AuditEvent {
        kind: match take(&mut m, "kind") {
            None | Some(Node::Null) => None,
            Some(Node::Str { text, .. }) => Some(Text(text)),
            Some(_) => return None,
        },
        stage_timestamp: match take(&mut m, "stageTimestamp") {
            None | Some(Node::Null) => None,
            Some(Node::Str { text, .. }) => Some(Text(text)),
            Some(_) => return None,
        },
        ..AuditEvent::default()
    };
    ev.api_version = take(&mut m, "apiVersion").and_then(opt_text);
    ev.level = take(&mut m, "level").and_then(opt_text);
    ev.audit_id = take(&mut m, "auditID").map(text_of);
    ev.stage = take(&mut m, "stage").map(text_of);
    ev.request_uri = take(&mut m, "requestURI").map(text_of);
    ev.verb = take(&mut m, "verb").map(text_of);
    ev.user = take(&mut m, "user").and_then(user_of);
    ev.impersonated_user = take(&mut m, "impersonatedUser").and_then(user_of);
    ev.source_ips = take(&mut m, "sourceIPs").and_then(list_of);
    ev.user_agent = take(&mut m, "userAgent").map(text_of);
    ev.object_ref = take(&mut m, "objectRef").and_then(object_ref_of);
    ev.response_status = take(&mut m, "responseStatus").and_then(status_of);
    ev.request_object = take(&mut m, "requestObject").as_ref().and_then(raw_value);
    ev.response_object = take(&mut m, "responseObject").as_ref().and_then(raw_value);
    ev.request_received_timestamp = take(&mut m, "requestReceivedTimestamp").and_then(string_only);
    ev.timestamp = take(&mut m, "timestamp").and_then(string_only);
    ev.annotations = take(&mut m, "annotations").and_then(annotations_of);
    Some(ev)
}

/// Whether Go's `encoding/json` scanner accepts the strings of an (otherwise well-formed)
/// JSON text: no raw control character inside a string, and only the escapes
/// `\" \\ \/ \b \f \n \r \t \uXXXX`.
fn go_strings_valid(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    let mut in_str = false;
    while i < b.len() {
        let c = b[i];
        if !in_str {
            in_str = c == b'"';
            i += 1;
            continue;
        }
        match c {
            b'"' => in_str = false,
            b'\\' => {
                match b.get(i + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {}
                    Some(b'u') => {
                        let hex = b.get(i + 2..i + 6);
                        if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                            return false;
                        }
                        i += 4;
                    }
                    _ => return false,
                }
                i += 1;
            }
            c if c < 0x20 => return false,
            _ => {}
        }
        i += 1;
    }
    true
}

/// The payload Falco's k8saudit stores for this event, as far as `json.obj` can tell: the
/// event re-marshalled by fastjson, in which the strings the source read are rewritten with
/// their unescaped text: `stageTimestamp`, and `kind` unless the event is an `EventList` item.
/// Whitespace is not kept either, which `json.obj`'s indentation makes irrelevant. `None` when
/// Go's `json.Indent` would refuse the text (a raw control character or an unknown escape in
/// a string).
pub(crate) fn stored_payload(ev: &AuditEvent<'_>) -> Option<String> {
    let raw = ev.raw_json();
    if !go_strings_valid(raw) {
        return None;
    }
    let Some(Node::Obj { entries, .. }) = ev.document_tree() else {
        return Some(raw.to_owned());
    };
    let mut keys: Vec<&str> = vec!["stageTimestamp"];
    if !ev.list_item {
        keys.push("kind");
    }
    let mut edits: Vec<(usize, usize, &str)> = Vec::new();
    for key in keys {
        let Some((_, Node::Str { raw: lit, text })) = entries.iter().find(|(k, _)| k == key) else {
            continue;
        };
        // fastjson writes an accessed string back raw inside quotes unless it holds a quote,
        // a backslash or a control character (then Go quoting; Falco drops such an event,
        // since neither key can then hold a valid value, so it is left as it is here).
        let special = text.bytes().any(|c| c == b'"' || c == b'\\' || c < 0x20);
        if lit.contains('\\') && !special {
            let start = lit.as_ptr() as usize - raw.as_ptr() as usize;
            edits.push((start, start + lit.len(), text));
        }
    }
    edits.sort_unstable();
    let mut out = String::with_capacity(raw.len());
    let mut at = 0;
    for (start, end, text) in edits {
        out.push_str(&raw[at..start]);
        out.push('"');
        out.push_str(text);
        out.push('"');
        at = end;
    }
    out.push_str(&raw[at..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::go_strings_valid;

    #[test]
    fn go_string_rules() {
        assert!(go_strings_valid(r#"{"a":"x\u00e9\n\/","b":[1,"\ud800"]}"#));
        assert!(!go_strings_valid("{\"a\":\"x\u{1}\"}"));
        assert!(!go_strings_valid(r#"{"a":"\x"}"#));
        assert!(!go_strings_valid(r#"{"a":"\u12"}"#));
        assert!(go_strings_valid("{\"a\":\n\"b\"}"));
    }
}
