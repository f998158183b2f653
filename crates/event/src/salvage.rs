//! Salvaging what identifies an event from text that does not decode (a message CloudWatch
//! cut, a line damaged in transit), so a report can name the event.

/// The `auditID` of a damaged event's text, when the text holds exactly one `"auditID"` key
/// followed by a plain string value (a UUID: letters, digits and `-`, at most 64 bytes). `None`
/// when there is none, when there are several (the text holds several events, so the one at
/// fault is unknown) or when the value looks like anything else.
#[must_use]
pub fn salvage_audit_id(text: &[u8]) -> Option<&str> {
    const KEY: &[u8] = b"\"auditID\"";
    let mut hits = text
        .windows(KEY.len())
        .enumerate()
        .filter(|(_, w)| *w == KEY);
    let (at, _) = hits.next()?;
    if hits.next().is_some() {
        return None;
    }
    let rest = text[at + KEY.len()..].trim_ascii_start();
    let rest = rest.strip_prefix(b":")?.trim_ascii_start();
    let rest = rest.strip_prefix(b"\"")?;
    let len = rest.iter().position(|&b| b == b'"')?;
    let id = &rest[..len];
    if id.is_empty() || id.len() > 64 || !id.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
    {
        return None;
    }
    std::str::from_utf8(id).ok()
}

#[cfg(test)]
mod tests {
    use super::salvage_audit_id;

    #[test]
    fn one_plain_audit_id_is_salvaged() {
        let cut = br#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID" : "5e1f-aa02","requestObject":{"spec":[Truncated...]"#;
        assert_eq!(salvage_audit_id(cut), Some("5e1f-aa02"));
        assert_eq!(
            salvage_audit_id(br#"{"auditID":"a"} {"auditID":"b"}"#),
            None
        );
        assert_eq!(salvage_audit_id(br#"{"auditID":"a\"b"}"#), None);
        assert_eq!(salvage_audit_id(br#"{"auditID":12}"#), None);
        assert_eq!(salvage_audit_id(br#"{"auditID":"abc"#), None);
        assert_eq!(salvage_audit_id(b"not json"), None);
    }
}
