//! Request bodies: gzip decoding under a limit, and splitting an `EventList` (or a single
//! `Event`) into one payload per event, with serde_json only (this crate knows no audit model).

use std::io::Read;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// The body, or its decompressed form, is larger than the limit (answered 413).
    #[error("the body is over the {limit}-byte limit")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body is not what the endpoint accepts (answered 400): `reason` says why, with the
    /// line and column of a JSON syntax error.
    #[error("{reason}")]
    Malformed {
        /// What is wrong.
        reason: String,
    },
}

fn malformed(reason: impl Into<String>) -> BodyError {
    BodyError::Malformed {
        reason: reason.into(),
    }
}

/// Decompresses a gzip body, refusing output over `limit` bytes.
pub(super) fn gunzip(body: &[u8], limit: usize) -> Result<Bytes, BodyError> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut decoder = flate2::read::MultiGzDecoder::new(body).take(cap);
    decoder
        .read_to_end(&mut out)
        .map_err(|e| malformed(format!("invalid gzip body: {e}")))?;
    if out.len() > limit {
        return Err(BodyError::TooLarge { limit });
    }
    Ok(Bytes::from(out))
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default, borrow)]
    items: Option<Vec<&'a RawValue>>,
}

/// Splits a body into one payload per event, each a slice of `body` (no copy):
///
/// * an object with `"kind": "EventList"`: each element of `items` (an absent or `null`
///   `items` is an empty batch);
/// * any other JSON object: the whole body, one event.
///
/// # Errors
/// [`BodyError::Malformed`] when the body is not one JSON object (with serde's line and column),
/// is not UTF-8, or an `EventList` item is not an object.
pub fn split_body(body: &Bytes) -> Result<Vec<Bytes>, BodyError> {
    let text =
        std::str::from_utf8(body).map_err(|e| malformed(format!("the body is not UTF-8: {e}")))?;
    if !text.trim_start().starts_with('{') {
        return Err(malformed(
            "the body must be a JSON object (an audit.k8s.io EventList or Event)",
        ));
    }
    let envelope: Envelope<'_> =
        serde_json::from_str(text).map_err(|e| malformed(format!("invalid JSON: {e}")))?;
    if envelope.kind.as_deref() != Some("EventList") {
        return Ok(vec![body.clone()]);
    }
    let items = envelope.items.unwrap_or_default();
    let mut payloads = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let raw = item.get();
        if !raw.starts_with('{') {
            return Err(malformed(format!(
                "EventList item {i} is not a JSON object"
            )));
        }
        payloads.push(body.slice_ref(raw.as_bytes()));
    }
    Ok(payloads)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Result<Vec<String>, BodyError> {
        split_body(&Bytes::copy_from_slice(s.as_bytes())).map(|v| {
            v.into_iter()
                .map(|b| String::from_utf8(b.to_vec()).unwrap())
                .collect()
        })
    }

    /// Found by the `webhook_body` fuzz target: a number beyond f64's range is valid JSON
    /// syntax (serde_json's `Value` refuses it); the body is one event, passed on whole, and
    /// the event decoder reports what it cannot read.
    #[test]
    fn a_number_out_of_f64_range_is_still_one_event() {
        let body = r#"{"":201e11111111}"#;
        assert_eq!(split(body).unwrap(), vec![body.to_owned()]);
    }

    #[test]
    fn an_event_list_is_split_into_its_items_and_an_event_is_one() {
        assert_eq!(
            split(r#"{"kind":"EventList","items":[{"a":1}, {"b":[2,3]}],"metadata":{}}"#).unwrap(),
            [r#"{"a":1}"#, r#"{"b":[2,3]}"#]
        );
        assert_eq!(
            split(r#"{"kind":"EventList","items":null}"#).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            split(r#"{"kind":"EventList"}"#).unwrap(),
            Vec::<String>::new()
        );
        let ev = r#" {"kind":"Event","verb":"get"} "#;
        assert_eq!(split(ev).unwrap(), [ev]);
    }

    #[test]
    fn malformed_bodies_say_why() {
        assert_eq!(
            split(r#"{"kind":"EventList","items":[{"a":1},]}"#).unwrap_err(),
            malformed("invalid JSON: trailing comma at line 1 column 38")
        );
        assert_eq!(
            split("[]").unwrap_err(),
            malformed("the body must be a JSON object (an audit.k8s.io EventList or Event)")
        );
        assert_eq!(
            split(r#"{"kind":"EventList","items":[1]}"#).unwrap_err(),
            malformed("EventList item 0 is not a JSON object")
        );
        assert_eq!(
            split(r#"{"kind":"Event"} x"#).unwrap_err(),
            malformed("invalid JSON: trailing characters at line 1 column 18")
        );
    }

    #[test]
    fn gzip_is_decoded_under_the_limit() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&[b'x'; 1000]).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(gunzip(&gz, 1000).unwrap().len(), 1000);
        assert_eq!(
            gunzip(&gz, 999).unwrap_err(),
            BodyError::TooLarge { limit: 999 }
        );
        assert!(matches!(
            gunzip(b"not gzip", 10).unwrap_err(),
            BodyError::Malformed { .. }
        ));
    }
}
