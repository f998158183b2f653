//! The file / stdin source and the replay source against the shared conformance suite, plus
//! follow-mode behaviour (append, rotation, truncation) and anomaly flags.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use kaudit_source::testing::{Conformance, ReplaySource, conformance};
use kaudit_source::{
    Anomaly, Checkpoint, FileInput, FileSource, FileSourceConfig, Record, Source, SourceError,
};

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
