//! The CloudWatch export framings read by the file source, driven directly:
//!
//! * `aws logs filter-log-events` JSON pages built from fuzzed messages (pretty-printed as the
//!   CLI writes them, several pages one after another, or one compact page per line): the
//!   records are exactly the messages, in order, with their stream, event id and timestamps;
//! * export-to-S3 lines (`<RFC 3339 timestamp> <message>`) built from fuzzed instants and
//!   messages: the records are the messages with the timestamp as the record's;
//! * raw bytes in each framing (lines, document, auto), which reach the same parsers with
//!   anything at all.
//!
//! In every case: nothing panics, the stream ends, records come in input order, and resuming
//! from any record's checkpoint yields exactly the records after it (strictly after: nothing
//! lost, nothing repeated).

use std::sync::OnceLock;

use futures::StreamExt;
use kaudit_source::{
    Checkpoint, FileInput, FileSource, FileSourceConfig, Framing, InputReader, Record, Source,
};
use serde::Serialize;

#[derive(Debug, Clone, Copy)]
enum Layout {
    /// `aws logs filter-log-events` output: each page pretty-printed.
    Pretty,
    /// `jq -c`: one compact page per line.
    OnePerLine,
    /// Compact pages back to back on one line.
    OneLine,
}

/// One message of a page: `message[\tstream[\tevent id[\ttimestamp[\tingestion time]]]]` in
/// the input, an empty field being absent (`\n` in the message is a line end).
#[derive(Debug)]
struct Message {
    message: String,
    stream: Option<String>,
    timestamp: Option<i64>,
    ingestion_time: Option<i64>,
    event_id: Option<String>,
}

impl Message {
    fn parse(line: &str) -> Message {
        let mut f = line.split('\t');
        let message = f.next().unwrap_or("").replace("\\n", "\n");
        let mut text = || f.next().filter(|s| !s.is_empty()).map(str::to_owned);
        let stream = text();
        let event_id = text();
        let timestamp = text().and_then(|t| t.parse().ok());
        let ingestion_time = text().and_then(|t| t.parse().ok());
        Message {
            message,
            stream,
            timestamp,
            ingestion_time,
            event_id,
        }
    }
}

/// One page as the CLI writes it: `events` first.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Page<'a> {
    events: Vec<PageEvent<'a>>,
    searched_log_streams: [(); 0],
    next_token: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PageEvent<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    log_stream_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<i64>,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ingestion_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<&'a str>,
}

/// What a record must carry: payload, stream, event id, timestamp, ingestion time.
type Expected = (
    Vec<u8>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

/// The last instant `format_rfc3339` writes as it is: jiff's range ends at
/// 9999-12-30T22:00:00.999999999Z, and milliseconds past its last whole second are clamped to
/// that end (`.999`).
const MAX_MS: u64 = 253_402_207_200_000;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    })
}

fn source(data: &[u8], framing: Framing) -> FileSource {
    let reader = InputReader::new("fuzz", std::io::Cursor::new(data.to_vec()));
    let mut config = FileSourceConfig::new(FileInput::Reader(reader)).framing(framing);
    config.max_line_bytes = 1 << 16;
    config.max_document_bytes = 1 << 20;
    FileSource::new(config)
}

/// Every record (and whether the stream ended on an error), from the start or after `resume`.
fn read(data: &[u8], framing: Framing, resume: Option<Checkpoint>) -> (Vec<Record>, bool) {
    let source = source(data, framing);
    runtime().block_on(async {
        let mut stream = source.stream(resume);
        let mut records = Vec::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(r) => records.push(r),
                Err(_) => return (records, true),
            }
        }
        (records, false)
    })
}

fn same(a: &Record, b: &Record) -> bool {
    a.payload == b.payload && a.meta == b.meta
}

/// Records in input order, and every checkpoint resumes strictly after its record.
fn check_order_and_resume(data: &[u8], framing: Framing) -> Vec<Record> {
    let (records, failed) = read(data, framing, None);
    let mut last: Option<(u64, u64)> = None;
    for r in &records {
        let offset = r.meta.offset.expect("file records have offsets");
        let line = r.meta.line.expect("file records have line numbers");
        assert!(
            offset as usize <= data.len(),
            "offset {offset} past the input"
        );
        if let Some((o, l)) = last {
            assert!(
                offset >= o && line >= l,
                "records out of order: {o}:{l} then {offset}:{line}"
            );
        }
        last = Some((offset, line));
    }
    if failed {
        return records;
    }
    // Every checkpoint for small outputs; a spread of them for large ones.
    let step = records.len().div_ceil(32).max(1);
    for i in (0..records.len())
        .step_by(step)
        .chain(records.len().checked_sub(1))
    {
        let (rest, failed) = read(data, framing, Some(records[i].checkpoint.clone()));
        assert!(!failed, "resuming after record {i} fails");
        let want = &records[i + 1..];
        assert!(
            rest.len() == want.len() && rest.iter().zip(want).all(|(a, b)| same(a, b)),
            "resuming after record {i} of {} yields {} records, not the {} after it",
            records.len(),
            rest.len(),
            want.len()
        );
    }
    records
}

fn check_expected(records: &[Record], expected: &[Expected]) {
    let got: Vec<Expected> = records
        .iter()
        .map(|r| {
            (
                r.payload.to_vec(),
                r.meta.stream.as_deref().map(str::to_owned),
                r.meta.event_id.clone(),
                r.meta.timestamp_ms,
                r.meta.ingestion_time_ms,
            )
        })
        .collect();
    assert_eq!(got, expected);
}

fn pages(pages: &[Vec<Message>], layout: Layout) {
    let mut data = Vec::new();
    let mut expected = Vec::new();
    for (n, page) in pages.iter().enumerate() {
        let events = page
            .iter()
            .map(|m| PageEvent {
                log_stream_name: m.stream.as_deref(),
                timestamp: m.timestamp,
                message: &m.message,
                ingestion_time: m.ingestion_time,
                event_id: m.event_id.as_deref(),
            })
            .collect();
        let page = Page {
            events,
            searched_log_streams: [],
            next_token: "t",
        };
        let text = match layout {
            Layout::Pretty => serde_json::to_vec_pretty(&page),
            Layout::OnePerLine | Layout::OneLine => serde_json::to_vec(&page),
        }
        .expect("a page serialises");
        data.extend_from_slice(&text);
        match layout {
            Layout::Pretty | Layout::OnePerLine => data.push(b'\n'),
            Layout::OneLine => {}
        }
        for m in &pages[n] {
            expected.push((
                m.message.as_bytes().to_vec(),
                m.stream.clone(),
                m.event_id.clone(),
                m.timestamp,
                m.ingestion_time,
            ));
        }
    }
    let framings: &[Framing] = match layout {
        Layout::Pretty => &[Framing::Auto, Framing::Document],
        Layout::OnePerLine => &[Framing::Auto, Framing::Lines],
        Layout::OneLine => &[Framing::Auto, Framing::Lines, Framing::Document],
    };
    for &framing in framings {
        let records = check_order_and_resume(&data, framing);
        check_expected(&records, &expected);
    }
}

fn s3(lines: &[(u64, &str)]) {
    let mut data = Vec::new();
    let mut expected = Vec::new();
    for &(ms, text) in lines {
        let ms = (ms % (MAX_MS + 1)) as i64;
        // One line, starting with `{` (an audit event); what the line framing trims is trimmed.
        let mut message = String::from("{");
        message.extend(
            text.chars()
                .map(|c| if c == '\n' || c == '\r' { ' ' } else { c }),
        );
        let message = message.trim_ascii_end().to_owned();
        if message[1..].trim_ascii_start().starts_with("\"events\"") {
            // A `filter-log-events` page inside an export line is read as a page: not this
            // oracle's business.
            return;
        }
        data.extend_from_slice(kaudit_source::internal::format_rfc3339(ms).as_bytes());
        data.push(b' ');
        data.extend_from_slice(message.as_bytes());
        data.push(b'\n');
        expected.push((
            message.into_bytes(),
            Some("fuzz".to_owned()),
            None,
            Some(ms),
            None,
        ));
    }
    for framing in [Framing::Auto, Framing::Lines] {
        let records = check_order_and_resume(&data, framing);
        check_expected(&records, &expected);
    }
}

/// Runs the target over `data`, whose first byte chooses what the rest is: `0`..`2` pages
/// (pretty, one per line, one line; the rest is one message per line, `---` between pages), `3`
/// export-to-S3 lines (the rest is `MS\tmessage` per line), `4`..`7` raw bytes read as lines, as
/// a document, or in auto framing.
///
/// # Panics
/// When an invariant of the module documentation breaks.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match mode % 8 {
        m @ 0..=2 => {
            let layout = [Layout::Pretty, Layout::OnePerLine, Layout::OneLine][usize::from(m)];
            let mut p: Vec<Vec<Message>> = vec![Vec::new()];
            for line in text.lines() {
                if line == "---" {
                    p.push(Vec::new());
                } else if let Some(page) = p.last_mut() {
                    page.push(Message::parse(line));
                }
            }
            pages(&p, layout);
        }
        3 => {
            let lines: Vec<(u64, &str)> = text
                .lines()
                .map(|l| {
                    let (ms, message) = l.split_once('\t').unwrap_or(("0", l));
                    (ms.parse().unwrap_or(0), message)
                })
                .collect();
            s3(&lines);
        }
        4 => {
            check_order_and_resume(rest, Framing::Lines);
        }
        5 => {
            check_order_and_resume(rest, Framing::Document);
        }
        _ => {
            check_order_and_resume(rest, Framing::Auto);
        }
    }
}
