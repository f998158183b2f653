//! The formats CloudWatch Logs hands out when people export an audit log by hand, so they can be
//! scanned as they are:
//!
//! * **`aws logs filter-log-events` JSON**: `{"events": [{"logStreamName", "timestamp",
//!   "message", "ingestionTime", "eventId"}, …], "searchedLogStreams": …, "nextToken": …}`,
//!   pretty-printed by the CLI, possibly several pages one after another (`--starting-token`
//!   runs appended to one file) or one page per line (`jq -c`). Each `message` is one record.
//! * **Export-to-S3 lines**: `<RFC 3339 timestamp> <message>`, one event per line, usually in
//!   gzipped objects. The timestamp prefix is dropped and kept as the record's timestamp.
//!
//! Only the transport is unwrapped: the messages stay opaque bytes (this crate knows nothing of
//! what an audit event is).

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

/// One message taken out of a `filter-log-events` page.
#[derive(Debug)]
pub(crate) struct PageItem {
    /// The message, unescaped.
    pub payload: Bytes,
    /// Byte offset of the event object inside the container.
    pub rel_offset: usize,
    /// Line ends before the event object inside the container.
    pub rel_lines: u64,
    pub stream: Option<String>,
    pub event_id: Option<String>,
    pub timestamp_ms: Option<i64>,
    pub ingestion_time_ms: Option<i64>,
}

#[derive(Deserialize)]
struct Page<'a> {
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageEvent {
    message: String,
    #[serde(default)]
    log_stream_name: Option<String>,
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(default)]
    ingestion_time: Option<i64>,
    #[serde(default)]
    event_id: Option<String>,
}

/// `true` when `b` starts like a `filter-log-events` page: an object whose first key is
/// `events` (the CLI always writes it first; an audit event never has that key).
pub(crate) fn looks_like_pages(b: &[u8]) -> bool {
    let mut rest = b.trim_ascii_start();
    let Some(r) = rest.strip_prefix(b"{") else {
        return false;
    };
    rest = r.trim_ascii_start();
    rest.starts_with(b"\"events\"")
}

/// The messages of one or more concatenated `filter-log-events` pages in `container`, or
/// `None` when `container` is not entirely such pages (it is then read as it is, and the
/// decoder reports what is wrong with it).
pub(crate) fn page_items(container: &Bytes) -> Option<Vec<PageItem>> {
    let text = container.as_ref();
    let mut items = Vec::new();
    // Line ends are counted once over the container, from one message to the next (items come
    // in text order), not again from the start for each message.
    let (mut counted_to, mut lines) = (0usize, 0u64);
    let mut pages = serde_json::Deserializer::from_slice(text).into_iter::<Page<'_>>();
    for page in pages.by_ref() {
        let page = page.ok()?;
        for raw in page.events {
            let event: PageEvent = serde_json::from_str(raw.get()).ok()?;
            let rel_offset = (raw.get().as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
            if let Some(between) = text.get(counted_to..rel_offset) {
                lines += between.iter().filter(|&&c| c == b'\n').count() as u64;
                counted_to = rel_offset;
            }
            let rel_lines = lines;
            items.push(PageItem {
                payload: Bytes::from(event.message.into_bytes()),
                rel_offset,
                rel_lines,
                stream: event.log_stream_name,
                event_id: event.event_id,
                timestamp_ms: event.timestamp,
                ingestion_time_ms: event.ingestion_time,
            });
        }
    }
    Some(items)
}

/// For an export-to-S3 line (`2026-11-27T10:00:00.123Z {"kind":…}`): the length of the
/// timestamp prefix with its space, and the timestamp in ms since the epoch. `None` for any
/// other line (it is then read as it is).
pub(crate) fn s3_prefix(line: &[u8]) -> Option<(usize, i64)> {
    if !line.first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let space = line.iter().take(40).position(|&b| b == b' ')?;
    let stamp = std::str::from_utf8(&line[..space]).ok()?;
    let ms = crate::time::parse_rfc3339(stamp).ok()?;
    let rest = &line[space..];
    let body = rest.len() - rest.trim_ascii_start().len();
    rest.get(body..)?.first().filter(|&&b| b == b'{')?;
    Some((space + body, ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_recognised_by_their_first_key() {
        assert!(looks_like_pages(b"{\n    \"events\": [\n"));
        assert!(looks_like_pages(br#"{"events":[]}"#));
        assert!(!looks_like_pages(br#"{"kind":"Event","events":1}"#));
        assert!(!looks_like_pages(b"[]"));
    }

    #[test]
    fn messages_of_concatenated_pages_with_their_places() {
        let text = Bytes::from_static(
            b"{\n  \"events\": [\n    {\"logStreamName\": \"kube-apiserver-audit-1\", \"timestamp\": 5, \"message\": \"{\\\"kind\\\":\\\"Event\\\"}\", \"ingestionTime\": 7, \"eventId\": \"e1\"}\n  ],\n  \"searchedLogStreams\": []\n}\n{\"events\": [{\"message\": \"x\"}], \"nextToken\": \"t\"}\n",
        );
        let items = page_items(&text).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(&items[0].payload[..], br#"{"kind":"Event"}"#);
        assert_eq!(items[0].stream.as_deref(), Some("kube-apiserver-audit-1"));
        assert_eq!(items[0].event_id.as_deref(), Some("e1"));
        assert_eq!(
            (items[0].timestamp_ms, items[0].ingestion_time_ms),
            (Some(5), Some(7))
        );
        assert_eq!(items[0].rel_lines, 2);
        assert_eq!(&text[items[0].rel_offset..items[0].rel_offset + 1], b"{");
        assert_eq!(&items[1].payload[..], b"x");
        assert_eq!(items[1].rel_lines, 6);
        assert!(page_items(&Bytes::from_static(br#"{"events": [{"nomessage": 1}]}"#)).is_none());
        assert!(page_items(&Bytes::from_static(br#"{"events": []} trailing"#)).is_none());
    }

    #[test]
    fn s3_export_prefixes() {
        let line = br#"2026-11-27T10:00:00.123Z {"kind":"Event"}"#;
        let (n, ms) = s3_prefix(line).unwrap();
        assert_eq!(&line[n..], br#"{"kind":"Event"}"#);
        assert_eq!(ms, 1_795_773_600_123);
        assert_eq!(s3_prefix(br#"{"kind":"Event"}"#), None);
        assert_eq!(s3_prefix(b"2026-11-27T10:00:00Z not json"), None);
        assert_eq!(s3_prefix(b"2026-02-30T10:00:00Z {}"), None);
        assert_eq!(s3_prefix(b"12345 {}"), None);
    }
}
