//! The file / stdin source and the replay source against the shared conformance suite, plus
//! follow-mode behaviour (append, rotation, truncation) and anomaly flags.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use kaudit_source::testing::{Conformance, ReplaySource, conformance};
use kaudit_source::{
    Anomaly, Checkpoint, FileInput, FileSource, FileSourceConfig, Framing, Record, Source,
    SourceError, SourceErrorKind,
};
use tokio::io::AsyncWriteExt;

fn lines(n: usize) -> String {
    (0..n)
        .map(|i| format!("{{\"auditID\":\"a-{i}\",\"n\":{i}}}\n"))
        .collect()
}

fn follow_config(path: &Path) -> FileSourceConfig {
    let mut c = FileSourceConfig::new(FileInput::Path(path.to_owned())).follow(true);
    c.poll_interval = Duration::from_millis(10);
    c
}

#[expect(
    clippy::expect_used,
    reason = "test helper: a missing record fails the test"
)]
async fn next_ok(
    s: &mut futures::stream::BoxStream<'static, Result<Record, SourceError>>,
) -> Record {
    tokio::time::timeout(Duration::from_secs(10), s.next())
        .await
        .expect("record within 10 s")
        .expect("stream still open")
        .expect("no error item")
}

fn text(r: &Record) -> String {
    String::from_utf8_lossy(&r.payload).into_owned()
}

#[tokio::test]
async fn file_source_conformance_plain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    std::fs::write(&path, lines(40)).unwrap();
    let cfg = FileSourceConfig::new(FileInput::Path(path));
    conformance(|| FileSource::new(cfg.clone()), Conformance::finite(40))
        .await
        .unwrap();
}

#[tokio::test]
async fn file_source_conformance_gzip_multi_member() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl.gz");
    let mut out = Vec::new();
    for part in [lines(10), lines(15)] {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(part.as_bytes()).unwrap();
        out.extend(gz.finish().unwrap());
    }
    std::fs::write(&path, out).unwrap();
    let cfg = FileSourceConfig::new(FileInput::Path(path));
    conformance(|| FileSource::new(cfg.clone()), Conformance::finite(25))
        .await
        .unwrap();
}

#[tokio::test]
async fn file_source_conformance_follow_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    std::fs::write(&path, lines(12)).unwrap();
    let cfg = follow_config(&path);
    conformance(
        || FileSource::new(cfg.clone()),
        Conformance::endless(12, Duration::from_millis(100)),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn replay_source_conformance() {
    let src = ReplaySource::from_ndjson("fixture", &lines(30));
    conformance(|| src.clone(), Conformance::finite(30))
        .await
        .unwrap();
}

#[tokio::test]
async fn file_source_lines_offsets_and_anomalies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.jsonl");
    let long = format!("{{\"x\":\"{}\"}}", "y".repeat(100));
    let body = format!(
        "{{\"a\":1}}\r\n\n   \nI0612 klog line\n{long}\n{{\"cut\":\"abc[Truncated...]\n{{\"last\":true}}"
    );
    std::fs::write(&path, &body).unwrap();
    let mut cfg = FileSourceConfig::new(FileInput::Path(path.clone()));
    cfg.max_line_bytes = 50;
    let src = FileSource::new(cfg);
    let recs: Vec<Record> = src.stream(None).map(|r| r.unwrap()).collect().await;
    let texts: Vec<String> = recs.iter().map(text).collect();
    let got: Vec<(&str, Option<u64>, Option<Anomaly>)> = recs
        .iter()
        .zip(&texts)
        .map(|(r, t)| (t.as_str(), r.meta.offset, r.meta.anomaly.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (r#"{"a":1}"#, Some(0), None),
            ("I0612 klog line", Some(14), Some(Anomaly::NotJson)),
            (
                &long[..50],
                Some(30),
                Some(Anomaly::Oversize {
                    len: 108,
                    limit: 50
                })
            ),
            (
                r#"{"cut":"abc[Truncated...]"#,
                Some(139),
                Some(Anomaly::Truncated)
            ),
            (r#"{"last":true}"#, Some(165), None),
        ]
    );
    // The last checkpoint is the end of the file.
    assert_eq!(
        recs.last().unwrap().checkpoint.position()["offset"],
        serde_json::json!(body.len())
    );
    let m = src.metrics();
    assert_eq!(
        (m.events_emitted, m.not_json, m.oversize, m.truncated),
        (5, 1, 1, 1)
    );
}

#[tokio::test]
async fn file_source_oversize_line_is_not_buffered_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.jsonl");
    // 300 KiB line: far more than the 64 KiB read chunk and the 1 KiB limit.
    let big = format!("{{\"x\":\"{}\"}}", "z".repeat(300 * 1024));
    std::fs::write(&path, format!("{big}\n{{\"after\":1}}\n")).unwrap();
    let mut cfg = FileSourceConfig::new(FileInput::Path(path));
    cfg.max_line_bytes = 1024;
    let recs: Vec<Record> = FileSource::new(cfg)
        .stream(None)
        .map(|r| r.unwrap())
        .collect()
        .await;
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].payload.len(), 1024);
    assert_eq!(
        recs[0].meta.anomaly,
        Some(Anomaly::Oversize {
            len: big.len(),
            limit: 1024
        })
    );
    assert_eq!(text(&recs[1]), r#"{"after":1}"#);
    assert_eq!(recs[1].meta.offset, Some(big.len() as u64 + 1));
    assert_eq!((recs[0].meta.line, recs[1].meta.line), (Some(1), Some(2)));
}

#[tokio::test]
async fn file_source_follow_append_rotation_and_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    std::fs::write(&path, "{\"n\":1}\n").unwrap();
    let src = FileSource::new(follow_config(&path));
    let mut s = src.stream(None);
    assert_eq!(text(&next_ok(&mut s).await), r#"{"n":1}"#);

    // Append, including a line written in two pieces: only whole lines are yielded.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"{\"n\":2}\n{\"n\":").unwrap();
    f.flush().unwrap();
    assert_eq!(text(&next_ok(&mut s).await), r#"{"n":2}"#);
    tokio::time::sleep(Duration::from_millis(50)).await;
    f.write_all(b"3}\n").unwrap();
    f.flush().unwrap();
    assert_eq!(text(&next_ok(&mut s).await), r#"{"n":3}"#);

    // Rotation by rename while the reader waits at end of file: the last writes to the old
    // file (its last line unterminated) are read before switching, then the new file from
    // offset 0.
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(next_ok(&mut s).await);
        }
        (s, got)
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    f.write_all(b"{\"n\":4}\n{\"n\":4.5}").unwrap();
    drop(f);
    std::fs::rename(&path, dir.path().join("audit.log.1")).unwrap();
    std::fs::write(&path, "{\"n\":5}\n").unwrap();
    let (mut s, got) = reader.await.unwrap();
    let got_text: Vec<String> = got.iter().map(text).collect();
    assert_eq!(got_text, vec![r#"{"n":4}"#, r#"{"n":4.5}"#, r#"{"n":5}"#]);
    assert_eq!(got[2].meta.offset, Some(0));

    // Copy-truncate: the file shrinks below our position; read it again from the start. The
    // reader keeps polling meanwhile (as the engine does), so it sees the shrink.
    let reader = tokio::spawn(async move { next_ok(&mut s).await });
    tokio::time::sleep(Duration::from_millis(30)).await;
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    std::fs::write(&path, "{\"n\":6}\n").unwrap();
    let r6 = reader.await.unwrap();
    assert_eq!(text(&r6), r#"{"n":6}"#);
    assert_eq!(r6.meta.offset, Some(0));
}

#[tokio::test]
async fn file_source_resume_after_rotation_while_stopped_reads_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    std::fs::write(&path, lines(3)).unwrap();
    let cfg = FileSourceConfig::new(FileInput::Path(path.clone()));
    let recs: Vec<Record> = FileSource::new(cfg.clone())
        .stream(None)
        .map(|r| r.unwrap())
        .collect()
        .await;
    let cp: Checkpoint = recs[1].checkpoint.clone();
    std::fs::rename(&path, dir.path().join("audit.log.1")).unwrap();
    std::fs::write(&path, "{\"new\":1}\n{\"new\":2}\n").unwrap();
    let again: Vec<String> = FileSource::new(cfg)
        .stream(Some(cp))
        .map(|r| text(&r.unwrap()).to_owned())
        .collect()
        .await;
    assert_eq!(again, vec![r#"{"new":1}"#, r#"{"new":2}"#]);
}

#[tokio::test]
async fn file_source_missing_file_is_a_terminal_error() {
    let src = FileSource::new(FileSourceConfig::from_arg("/nonexistent/kaudit/audit.log"));
    let items: Vec<Result<Record, SourceError>> = src.stream(None).collect().await;
    assert_eq!(items.len(), 1);
    let err = items.into_iter().next().unwrap().unwrap_err();
    assert!(err.is_terminal());
    assert_eq!(
        err.to_string(),
        format!(
            "file:/nonexistent/kaudit/audit.log: cannot read `/nonexistent/kaudit/audit.log`: No such file or directory (os error 2)"
        )
    );
}

#[tokio::test]
async fn boxed_dyn_source_conformance() {
    // Sources picked at run time are `Box<dyn Source>`; the contract holds through the box.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    std::fs::write(&path, lines(7)).unwrap();
    let make = || -> Box<dyn Source> {
        Box::new(FileSource::new(FileSourceConfig::from_arg(
            path.to_str().unwrap(),
        )))
    };
    conformance(make, Conformance::finite(7)).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Framing (lines / document / auto), line numbers, stdin and readers.

#[expect(clippy::unwrap_used, reason = "test helper: a failure fails the test")]
async fn collect(src: &FileSource, resume: Option<Checkpoint>) -> Vec<Record> {
    src.stream(resume).map(|r| r.unwrap()).collect().await
}

/// `(payload, line, offset, anomaly)` of a record.
type Summary = (String, Option<u64>, Option<u64>, Option<Anomaly>);

/// The [`Summary`] of each record.
fn summary(recs: &[Record]) -> Vec<Summary> {
    recs.iter()
        .map(|r| (text(r), r.meta.line, r.meta.offset, r.meta.anomaly.clone()))
        .collect()
}

#[expect(clippy::unwrap_used, reason = "test helper: a failure fails the test")]
fn gz(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

const PRETTY_ARRAY: &str = "\n\n  [\n  {\"auditID\": \"a-1\"},\n  {\"auditID\": \"a-2\"}\n]\n\n";
const PRETTY_OBJECT: &str =
    "{\r\n  \"kind\": \"EventList\",\n  \"items\": [\n    {\"auditID\": \"a-1\"}\n  ]\n}\n";

#[tokio::test]
async fn auto_pretty_printed_array_is_one_document() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.json");
    std::fs::write(&path, PRETTY_ARRAY).unwrap();
    let src = FileSource::new(FileSourceConfig::from_arg(path.to_str().unwrap()));
    let recs = collect(&src, None).await;
    assert_eq!(
        summary(&recs),
        vec![(
            "[\n  {\"auditID\": \"a-1\"},\n  {\"auditID\": \"a-2\"}\n]".to_owned(),
            Some(3),
            Some(2),
            None
        )]
    );
    // The checkpoint is the end of the input.
    assert_eq!(
        recs[0].checkpoint.position()["offset"],
        serde_json::json!(PRETTY_ARRAY.len())
    );
    assert_eq!(recs[0].checkpoint.position()["lines"], serde_json::json!(7));
    assert_eq!(recs[0].meta.stream.as_deref(), path.to_str());
    let m = src.metrics();
    assert_eq!((m.events_emitted, m.not_json), (1, 0));
}

#[tokio::test]
async fn auto_single_line_array_is_one_document() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.json");
    std::fs::write(&path, "[{\"a\":1},\n{\"a\":2}]").unwrap();
    let src = FileSource::new(FileSourceConfig::from_arg(path.to_str().unwrap()));
    assert_eq!(
        summary(&collect(&src, None).await),
        vec![("[{\"a\":1},\n{\"a\":2}]".to_owned(), Some(1), Some(0), None)]
    );
}

#[tokio::test]
async fn auto_pretty_printed_object_is_one_document() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eventlist.json");
    std::fs::write(&path, PRETTY_OBJECT).unwrap();
    let src = FileSource::new(FileSourceConfig::from_arg(path.to_str().unwrap()));
    let recs = collect(&src, None).await;
    assert_eq!(
        summary(&recs),
        vec![(PRETTY_OBJECT.trim().to_owned(), Some(1), Some(0), None)]
    );
    assert_eq!(
        recs[0].checkpoint.position()["offset"],
        serde_json::json!(PRETTY_OBJECT.len())
    );
}

#[tokio::test]
async fn auto_single_line_event_list_stays_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eventlist.jsonl");
    let list = r#"{"kind":"EventList","items":[{"auditID":"a-1"},{"auditID":"a-2"}]}"#;
    std::fs::write(&path, format!("\n{list}\n{{\"auditID\":\"a-3\"}}\n")).unwrap();
    let src = FileSource::new(FileSourceConfig::from_arg(path.to_str().unwrap()));
    assert_eq!(
        summary(&collect(&src, None).await),
        vec![
            (list.to_owned(), Some(2), Some(1), None),
            (
                r#"{"auditID":"a-3"}"#.to_owned(),
                Some(3),
                Some(2 + list.len() as u64),
                None
            ),
        ]
    );
}

#[tokio::test]
async fn auto_truncated_first_lines_stay_lines() {
    // CloudWatch cuts long messages and appends `[Truncated...]`: broken JSON, still one
    // record per line.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cw.jsonl");
    let t1 = r#"{"kind":"Event","auditID":"a-1","requestObject":{"spec":{"x":"yyy[Truncated...]"#;
    let t2 = r#"{"kind":"Event","auditID":"a-2","requestObject":{"[Truncated...]"#;
    let ok = r#"{"kind":"Event","auditID":"a-3"}"#;
    let body = format!("{t1}\n\n{t2}\n{ok}\n");
    std::fs::write(&path, &body).unwrap();
    let src = FileSource::new(FileSourceConfig::from_arg(path.to_str().unwrap()));
    let o2 = t1.len() as u64 + 2;
    let o3 = o2 + t2.len() as u64 + 1;
    assert_eq!(
        summary(&collect(&src, None).await),
        vec![
            (t1.to_owned(), Some(1), Some(0), Some(Anomaly::Truncated)),
            (t2.to_owned(), Some(3), Some(o2), Some(Anomaly::Truncated)),
            (ok.to_owned(), Some(4), Some(o3), None),
        ]
    );
    assert_eq!(src.metrics().truncated, 2);
}

#[tokio::test]
async fn auto_other_first_bytes_stay_lines() {
    // `{` followed by more on its line, `{}` and non-JSON first lines are all lines.
    for (body, want) in [
        ("{ \"a\": 1 }\n{\n", vec![("{ \"a\": 1 }", 1), ("{", 2)]),
        ("{}\n[1]\n", vec![("{}", 1), ("[1]", 2)]),
        ("I0612 klog\n[x]\n", vec![("I0612 klog", 1), ("[x]", 2)]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        std::fs::write(&path, body).unwrap();
        let src = FileSource::new(FileSourceConfig::from_arg(path.to_str().unwrap()));
        let got: Vec<(String, u64)> = collect(&src, None)
            .await
            .iter()
            .map(|r| (text(r), r.meta.line.unwrap()))
            .collect();
        let want: Vec<(String, u64)> = want.into_iter().map(|(t, l)| (t.to_owned(), l)).collect();
        assert_eq!(got, want, "input {body:?}");
    }
}

#[test]
fn framing_names() {
    for f in [Framing::Lines, Framing::Document, Framing::Auto] {
        assert_eq!(f.to_string().parse::<Framing>(), Ok(f));
    }
    assert_eq!(
        "json".parse::<Framing>(),
        Err("unknown framing `json`: expected `lines`, `document` or `auto`".to_owned())
    );
}

#[tokio::test]
async fn explicit_framing_overrides_detection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.json");
    std::fs::write(&path, PRETTY_ARRAY).unwrap();
    // `new` is lines framing: each line of the pretty array is a record.
    let recs = collect(
        &FileSource::new(FileSourceConfig::new(FileInput::Path(path.clone()))),
        None,
    )
    .await;
    assert_eq!(recs.len(), 4);
    assert_eq!(
        (
            text(&recs[0]),
            recs[0].meta.line,
            recs[0].meta.anomaly.clone()
        ),
        ("[".to_owned(), Some(3), Some(Anomaly::NotJson))
    );
    // Document framing on JSON lines: one record.
    let path2 = dir.path().join("audit.jsonl");
    std::fs::write(&path2, lines(3)).unwrap();
    let cfg = FileSourceConfig::new(FileInput::Path(path2)).framing(Framing::Document);
    let doc = collect(&FileSource::new(cfg), None).await;
    assert_eq!(
        summary(&doc),
        vec![(lines(3).trim().to_owned(), Some(1), Some(0), None)]
    );
}

#[tokio::test]
async fn auto_detects_inside_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("events.json.gz");
    std::fs::write(&doc, gz(PRETTY_OBJECT.as_bytes())).unwrap();
    let src = FileSource::new(FileSourceConfig::from_arg(doc.to_str().unwrap()));
    let recs = collect(&src, None).await;
    assert_eq!(
        summary(&recs),
        vec![(PRETTY_OBJECT.trim().to_owned(), Some(1), Some(0), None)]
    );
    // Resuming from the document's checkpoint yields nothing.
    let cp = recs[0].checkpoint.clone();
    assert!(collect(&src, Some(cp)).await.is_empty());

    let jsonl = dir.path().join("audit.jsonl.gz");
    std::fs::write(&jsonl, gz(lines(5).as_bytes())).unwrap();
    let src = FileSource::new(FileSourceConfig::from_arg(jsonl.to_str().unwrap()));
    let recs = collect(&src, None).await;
    let got: Vec<(String, Option<u64>)> = recs.iter().map(|r| (text(r), r.meta.line)).collect();
    let want: Vec<(String, Option<u64>)> = lines(5)
        .lines()
        .enumerate()
        .map(|(i, l)| (l.to_owned(), Some(i as u64 + 1)))
        .collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn document_over_the_cap_is_a_terminal_error() {
    let dir = tempfile::tempdir().unwrap();
    let body = format!("[\n{}\n]\n", "{\"a\":1},".repeat(20));
    let path = dir.path().join("big.json");
    std::fs::write(&path, &body).unwrap();
    let mut cfg = FileSourceConfig::from_arg(path.to_str().unwrap());
    cfg.max_document_bytes = 100;
    let items: Vec<Result<Record, SourceError>> = FileSource::new(cfg).stream(None).collect().await;
    assert_eq!(items.len(), 1);
    let err = items.into_iter().next().unwrap().unwrap_err();
    assert!(err.is_terminal());
    assert!(matches!(
        err.kind(),
        SourceErrorKind::DocumentTooLarge {
            size: 165,
            exact: true,
            limit: 100,
            ..
        }
    ));
    assert_eq!(body.len(), 165);
    let p = path.display();
    assert_eq!(
        err.to_string(),
        format!(
            "file:{p}: cannot read `{p}` as one JSON document: it is 165 bytes, over the 100-byte document limit; convert it to JSON lines (one object per line) or raise the limit"
        )
    );

    // Stdin, readers and gzip do not know the size up front: they read until the limit is
    // crossed.
    let mut cfg = FileSourceConfig::new(FileInput::reader(
        "big",
        std::io::Cursor::new(body.clone().into_bytes()),
    ))
    .framing(Framing::Auto);
    cfg.max_document_bytes = 100;
    let items: Vec<Result<Record, SourceError>> = FileSource::new(cfg).stream(None).collect().await;
    assert_eq!(items.len(), 1);
    let err = items.into_iter().next().unwrap().unwrap_err();
    assert!(err.is_terminal());
    assert_eq!(
        err.to_string(),
        "reader:big: cannot read `big` as one JSON document: it is at least 165 bytes, over the 100-byte document limit; convert it to JSON lines (one object per line) or raise the limit"
    );

    // At the limit exactly, the document is read.
    let mut cfg = FileSourceConfig::from_arg(path.to_str().unwrap());
    cfg.max_document_bytes = 165;
    assert_eq!(collect(&FileSource::new(cfg), None).await.len(), 1);
}

const BLANKS: &str = "\n{\"a\":1}\r\n\n\n{\"b\":2}\n   \n{\"c\":3}";

#[tokio::test]
async fn line_numbers_count_blank_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blank.jsonl");
    std::fs::write(&path, BLANKS).unwrap();
    let src = FileSource::new(FileSourceConfig::new(FileInput::Path(path)));
    let recs = collect(&src, None).await;
    assert_eq!(
        summary(&recs),
        vec![
            (r#"{"a":1}"#.to_owned(), Some(2), Some(1), None),
            (r#"{"b":2}"#.to_owned(), Some(5), Some(12), None),
            (r#"{"c":3}"#.to_owned(), Some(7), Some(24), None),
        ]
    );
    let pos: Vec<serde_json::Value> = recs
        .iter()
        .map(|r| {
            let p = r.checkpoint.position();
            serde_json::json!([p["offset"], p["lines"]])
        })
        .collect();
    assert_eq!(
        pos,
        vec![
            serde_json::json!([10, 2]),
            serde_json::json!([20, 5]),
            serde_json::json!([31, 6])
        ]
    );
}

#[tokio::test]
async fn resume_keeps_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("blank.jsonl");
    std::fs::write(&plain, BLANKS).unwrap();
    let gzip = dir.path().join("blank.jsonl.gz");
    std::fs::write(&gzip, gz(BLANKS.as_bytes())).unwrap();
    let want = vec![
        (r#"{"b":2}"#.to_owned(), Some(5), Some(12), None),
        (r#"{"c":3}"#.to_owned(), Some(7), Some(24), None),
    ];
    for cfg in [
        // Seeks to the offset, takes the line count from the checkpoint.
        FileSourceConfig::new(FileInput::Path(plain.clone())),
        // Auto detection has read the start: skips within the buffer, counting.
        FileSourceConfig::from_arg(plain.to_str().unwrap()),
        // Cannot seek: skips decompressed bytes, counting.
        FileSourceConfig::new(FileInput::Path(gzip.clone())),
        FileSourceConfig::from_arg(gzip.to_str().unwrap()),
    ] {
        let src = FileSource::new(cfg.clone());
        let all = collect(&src, None).await;
        let rest = collect(&src, Some(all[0].checkpoint.clone())).await;
        assert_eq!(summary(&rest), want, "{cfg:?}");
        // A checkpoint without the line count (older versions) counts the skipped lines.
        let old = Checkpoint::new(
            std::sync::Arc::new(src.identity().clone()),
            serde_json::json!({"offset": 10}),
        );
        assert_eq!(summary(&collect(&src, Some(old)).await), want, "{cfg:?}");
        // Resuming from the last record yields nothing.
        let last = all.last().unwrap().checkpoint.clone();
        assert!(collect(&src, Some(last)).await.is_empty(), "{cfg:?}");
    }
}

#[tokio::test]
async fn document_resume() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.json");
    std::fs::write(&path, PRETTY_ARRAY).unwrap();
    let src = FileSource::new(FileSourceConfig::from_arg(path.to_str().unwrap()));
    let recs = collect(&src, None).await;
    assert_eq!(recs.len(), 1);
    let cp = Checkpoint::from_json(&recs[0].checkpoint.to_json()).unwrap();
    // The checkpoint is at the end of the input: nothing is left.
    assert!(collect(&src, Some(cp.clone())).await.is_empty());
    // The file has grown since: the document is read again (at-least-once), from its start.
    let grown = format!("{PRETTY_ARRAY}\n");
    std::fs::write(&path, &grown).unwrap();
    let again = collect(&src, Some(cp)).await;
    assert_eq!(summary(&again), summary(&recs));
    assert_eq!(
        again[0].checkpoint.position()["offset"],
        serde_json::json!(grown.len())
    );
}

#[tokio::test]
async fn document_conformance() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("events.json");
    std::fs::write(&plain, PRETTY_ARRAY).unwrap();
    let gzip = dir.path().join("events.json.gz");
    std::fs::write(&gzip, gz(PRETTY_OBJECT.as_bytes())).unwrap();
    for path in [plain, gzip] {
        let cfg = FileSourceConfig::from_arg(path.to_str().unwrap());
        conformance(|| FileSource::new(cfg.clone()), Conformance::finite(1))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn auto_conformance_lines_and_follow() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    std::fs::write(&path, format!("\n\n{}", lines(20))).unwrap();
    let cfg = FileSourceConfig::from_arg(path.to_str().unwrap());
    conformance(|| FileSource::new(cfg.clone()), Conformance::finite(20))
        .await
        .unwrap();
    let mut cfg = cfg.follow(true);
    cfg.poll_interval = Duration::from_millis(10);
    conformance(
        || FileSource::new(cfg.clone()),
        Conformance::endless(20, Duration::from_millis(100)),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn auto_follow_of_an_empty_file_reads_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    std::fs::write(&path, "").unwrap();
    let mut cfg = FileSourceConfig::from_arg(path.to_str().unwrap()).follow(true);
    cfg.poll_interval = Duration::from_millis(10);
    let src = FileSource::new(cfg);
    let mut s = src.stream(None);
    let reader = tokio::spawn(async move {
        let a = next_ok(&mut s).await;
        let b = next_ok(&mut s).await;
        (a, b)
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    std::fs::write(&path, "{\n\"a\":1}\n").unwrap();
    let (a, b) = reader.await.unwrap();
    assert_eq!(
        summary(&[a, b]),
        vec![
            ("{".to_owned(), Some(1), Some(0), None),
            (
                "\"a\":1}".to_owned(),
                Some(2),
                Some(2),
                Some(Anomaly::NotJson)
            ),
        ]
    );
}

#[tokio::test]
async fn byte_order_mark_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bom.json");
    std::fs::write(&path, "\u{feff}[\n{\"a\":1}\n]\n").unwrap();
    let src = FileSource::new(FileSourceConfig::from_arg(path.to_str().unwrap()));
    assert_eq!(
        summary(&collect(&src, None).await),
        vec![("[\n{\"a\":1}\n]".to_owned(), Some(1), Some(0), None)]
    );
    std::fs::write(&path, "\u{feff}{\"a\":1}\n{\"b\":2}\n").unwrap();
    assert_eq!(
        summary(&collect(&src, None).await),
        vec![
            (r#"{"a":1}"#.to_owned(), Some(1), Some(0), None),
            (r#"{"b":2}"#.to_owned(), Some(2), Some(11), None),
        ]
    );
}

#[tokio::test]
async fn gzip_bomb_line_is_cut_with_bounded_reads() {
    // 64 MiB of one line compresses to ~64 KiB: decoded piecemeal, cut to the limit.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![b'z'; 1 << 20];
    enc.write_all(b"{\"x\":\"").unwrap();
    for _ in 0..64 {
        enc.write_all(&block).unwrap();
    }
    enc.write_all(b"\"}\n{\"after\":1}\n").unwrap();
    std::fs::write(&path, enc.finish().unwrap()).unwrap();
    let mut cfg = FileSourceConfig::from_arg(path.to_str().unwrap());
    cfg.max_line_bytes = 1024;
    let recs = collect(&FileSource::new(cfg), None).await;
    let len = 6 + (64 << 20) + 2;
    assert_eq!(
        summary(&recs)
            .into_iter()
            .map(|(t, l, o, a)| (t.len(), l, o, a))
            .collect::<Vec<_>>(),
        vec![
            (
                1024,
                Some(1),
                Some(0),
                Some(Anomaly::Oversize { len, limit: 1024 })
            ),
            (11, Some(2), Some(len as u64 + 1), None),
        ]
    );
}

#[tokio::test]
async fn reader_lines_are_yielded_before_eof() {
    let (mut tx, rx) = tokio::io::duplex(64);
    let src = FileSource::new(
        FileSourceConfig::new(FileInput::reader("pipe", rx)).framing(Framing::Auto),
    );
    let mut s = src.stream(None);
    tx.write_all(b"{\"n\":1}\n").await.unwrap();
    let r = next_ok(&mut s).await;
    assert_eq!((text(&r), r.meta.line), (r#"{"n":1}"#.to_owned(), Some(1)));
    // A partial line waits for its newline.
    tx.write_all(b"\n{\"n\":").await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(100), s.next())
            .await
            .is_err()
    );
    tx.write_all(b"2}\n").await.unwrap();
    let r = next_ok(&mut s).await;
    assert_eq!((text(&r), r.meta.line), (r#"{"n":2}"#.to_owned(), Some(3)));
    drop(tx);
    assert!(s.next().await.is_none());
    assert_eq!(r.meta.stream.as_deref(), Some("pipe"));
    assert_eq!(r.meta.source.as_ref(), "reader:pipe");
    // A reader is read once.
    let items: Vec<Result<Record, SourceError>> = src.stream(None).collect().await;
    assert_eq!(items.len(), 1);
    let err = items.into_iter().next().unwrap().unwrap_err();
    assert!(err.is_terminal());
    assert_eq!(
        err.to_string(),
        "reader:pipe: invalid configuration: the reader `pipe` was already read by an earlier stream (a reader can be read once)"
    );
}

#[tokio::test]
async fn reader_auto_detection_keeps_what_it_peeked() {
    // The decision needs the whole first non-blank line: bytes trickle in one by one.
    let (mut tx, rx) = tokio::io::duplex(64);
    let src = FileSource::new(
        FileSourceConfig::new(FileInput::reader("pipe", rx)).framing(Framing::Auto),
    );
    let mut s = src.stream(None);
    let writer = tokio::spawn(async move {
        for b in " \n {  \n\"a\": 1\n}\n".bytes() {
            tx.write_all(&[b]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    let r = next_ok(&mut s).await;
    writer.await.unwrap();
    assert_eq!(
        summary(&[r]),
        vec![("{  \n\"a\": 1\n}".to_owned(), Some(2), Some(2), None)]
    );
    assert!(s.next().await.is_none());

    // `{` then more on the line: lines, decided before the line ends.
    let (mut tx, rx) = tokio::io::duplex(64);
    let src = FileSource::new(
        FileSourceConfig::new(FileInput::reader("pipe2", rx)).framing(Framing::Auto),
    );
    let mut s = src.stream(None);
    tx.write_all(b"{\"a\":1}\n").await.unwrap();
    assert_eq!(text(&next_ok(&mut s).await), r#"{"a":1}"#);
    drop(tx);
    assert!(s.next().await.is_none());
}

#[tokio::test]
async fn reader_resume_skips_to_the_checkpoint() {
    let body = BLANKS.as_bytes().to_vec();
    let first = FileSource::new(FileSourceConfig::new(FileInput::reader(
        "r",
        std::io::Cursor::new(body.clone()),
    )));
    let all = collect(&first, None).await;
    let again = FileSource::new(
        FileSourceConfig::new(FileInput::reader("r", std::io::Cursor::new(body)))
            .framing(Framing::Auto),
    );
    assert_eq!(
        summary(&collect(&again, Some(all[1].checkpoint.clone())).await),
        vec![(r#"{"c":3}"#.to_owned(), Some(7), Some(24), None)]
    );
}

// Stdin itself: the test binary runs itself as a child (`stdin_child` below) and feeds its
// stdin through a pipe.

/// Kills the child when a test fails midway.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[expect(clippy::unwrap_used, reason = "test helper: a failure fails the test")]
/// Starts `stdin_child`; returns the child, its stdin and the `REC` lines it prints.
fn spawn_stdin_child() -> (
    Child,
    std::process::ChildStdin,
    std::sync::mpsc::Receiver<String>,
) {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["stdin_child", "--exact", "--nocapture", "--test-threads=1"])
        .env("KAUDIT_TEST_STDIN_CHILD", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            // The first one follows libtest's `test stdin_child ... ` on the same line.
            if let Some((_, rec)) = line.split_once("REC ")
                && tx.send(rec.to_owned()).is_err()
            {
                break;
            }
        }
    });
    (Child(child), stdin, rx)
}

const CHILD_WAIT: Duration = Duration::from_secs(30);

#[test]
fn stdin_lines_are_yielded_before_eof() {
    // `kubectl logs -f … | kaudit scan -`: each line is a record as soon as its newline
    // arrives, while stdin stays open.
    let (mut child, mut stdin, recs) = spawn_stdin_child();
    stdin.write_all(b"{\"n\":1}\n").unwrap();
    stdin.flush().unwrap();
    assert_eq!(recs.recv_timeout(CHILD_WAIT).unwrap(), r#"1 0 {"n":1}"#);
    stdin.write_all(b"\n{\"n\":").unwrap();
    stdin.flush().unwrap();
    assert!(recs.recv_timeout(Duration::from_millis(200)).is_err());
    stdin.write_all(b"2}\n").unwrap();
    stdin.flush().unwrap();
    assert_eq!(recs.recv_timeout(CHILD_WAIT).unwrap(), r#"3 9 {"n":2}"#);
    drop(stdin);
    assert_eq!(recs.recv_timeout(CHILD_WAIT).unwrap(), "END");
    assert!(child.0.wait().unwrap().success());
}

#[test]
fn stdin_pretty_printed_document_is_one_record() {
    let (mut child, mut stdin, recs) = spawn_stdin_child();
    stdin.write_all(b"[\n  {\"n\": 1},\n").unwrap();
    stdin.flush().unwrap();
    // A document ends with its input.
    assert!(recs.recv_timeout(Duration::from_millis(200)).is_err());
    stdin.write_all(b"  {\"n\": 2}\n]\n").unwrap();
    drop(stdin);
    assert_eq!(
        recs.recv_timeout(CHILD_WAIT).unwrap(),
        r#"1 0 [\n  {"n": 1},\n  {"n": 2}\n]"#
    );
    assert_eq!(recs.recv_timeout(CHILD_WAIT).unwrap(), "END");
    assert!(child.0.wait().unwrap().success());
}

/// Not a test on its own: the child of the `stdin_*` tests (it does nothing unless
/// `KAUDIT_TEST_STDIN_CHILD` is set). Prints `REC <line> <offset> <payload with \n escaped>` per
/// record as it arrives, then `REC END`.
#[tokio::test]
async fn stdin_child() {
    if std::env::var_os("KAUDIT_TEST_STDIN_CHILD").is_none() {
        return;
    }
    let src = FileSource::new(FileSourceConfig::from_arg("-"));
    let mut s = src.stream(None);
    while let Some(r) = s.next().await {
        let r = r.unwrap();
        println!(
            "REC {} {} {}",
            r.meta.line.unwrap(),
            r.meta.offset.unwrap(),
            text(&r).replace('\n', "\\n")
        );
    }
    println!("REC END");
}

/// `aws logs filter-log-events` pages holding the messages of `lines(n)` split `per_page`.
#[expect(clippy::unwrap_used, reason = "test helper: a failure fails the test")]
fn pages(n: usize, per_page: usize, pretty: bool) -> String {
    let msgs: Vec<String> = lines(n).lines().map(str::to_owned).collect();
    let mut out = String::new();
    for (p, chunk) in msgs.chunks(per_page).enumerate() {
        let events: Vec<serde_json::Value> = chunk
            .iter()
            .enumerate()
            .map(|(i, m)| {
                serde_json::json!({
                    "logStreamName": "kube-apiserver-audit-1",
                    "timestamp": 1000 + p * per_page + i,
                    "message": m,
                    "ingestionTime": 2000 + p * per_page + i,
                    "eventId": format!("{}", p * per_page + i),
                })
            })
            .collect();
        let page = serde_json::json!({"events": events, "searchedLogStreams": []});
        if pretty {
            out.push_str(&serde_json::to_string_pretty(&page).unwrap());
        } else {
            out.push_str(&page.to_string());
        }
        out.push('\n');
    }
    out
}

#[tokio::test]
async fn filter_log_events_pages_conform_as_their_messages() {
    let dir = tempfile::tempdir().unwrap();
    // Pretty pages: one document of several concatenated pages; compact: one page per line.
    for (name, body) in [
        ("pretty.json", pages(23, 10, true)),
        ("compact.jsonl", pages(23, 10, false)),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        let cfg = FileSourceConfig::from_arg(path.to_str().unwrap());
        conformance(|| FileSource::new(cfg.clone()), Conformance::finite(23))
            .await
            .unwrap();
        let mut s = FileSource::new(cfg.clone()).stream(None);
        let first = next_ok(&mut s).await;
        assert_eq!(text(&first), r#"{"auditID":"a-0","n":0}"#);
        assert_eq!(first.meta.stream.as_deref(), Some("kube-apiserver-audit-1"));
        assert_eq!(first.meta.event_id.as_deref(), Some("0"));
        assert_eq!(first.meta.timestamp_ms, Some(1000));
        assert_eq!(first.meta.ingestion_time_ms, Some(2000));
        let mut last = first;
        for _ in 1..23 {
            last = next_ok(&mut s).await;
        }
        assert_eq!(text(&last), r#"{"auditID":"a-22","n":22}"#);
        assert!(s.next().await.is_none());
    }
}

#[tokio::test]
async fn s3_export_lines_conform_as_their_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("000000.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for (i, l) in lines(12).lines().enumerate() {
        writeln!(gz, "2026-12-01T00:00:{i:02}.500Z {l}").unwrap();
    }
    std::fs::write(&path, gz.finish().unwrap()).unwrap();
    let cfg = FileSourceConfig::from_arg(path.to_str().unwrap());
    conformance(|| FileSource::new(cfg.clone()), Conformance::finite(12))
        .await
        .unwrap();
    let mut s = FileSource::new(cfg).stream(None);
    let r = next_ok(&mut s).await;
    assert_eq!(text(&r), r#"{"auditID":"a-0","n":0}"#);
    assert_eq!(r.meta.timestamp_ms, Some(1_796_083_200_500));
    assert_eq!(r.meta.line, Some(1));
}
