//! Line outputs (a writer, `file:`), the dead-letter file, and target parsing: exact contents.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]
#![allow(clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use common::{exec_alert, exec_alerts};
use kaudit_engine::alert::AlertFormat;
use kaudit_engine::output::{Attempt, DeadLetterSink, Output};
use kaudit_output::{
    BuildError, DeadLetterFile, FileOutput, OutputOptions, Target, TargetError, WriterOutput,
    build_output, parse_target,
};

#[tokio::test]
async fn a_writer_gets_one_line_per_alert_in_either_format() {
    let alerts = exec_alerts(2);
    let text = WriterOutput::new("memory", AlertFormat::Text, Vec::new());
    assert_eq!(text.name(), "memory");
    assert_eq!(text.send(&alerts).await, vec![Attempt::Delivered; 2]);
    text.flush().await.unwrap();
    assert_eq!(
        String::from_utf8(text.into_inner()).unwrap(),
        format!("{}\n{}\n", alerts[0].output, alerts[1].output)
    );
    assert!(
        alerts[0]
            .output
            .starts_with("20:53:20.000000000: Notice Attach/Exec to pod")
    );

    let json = WriterOutput::new("memory", AlertFormat::Json, Vec::new());
    assert_eq!(json.send(&alerts).await, vec![Attempt::Delivered; 2]);
    json.with_writer(|w| {
        assert_eq!(
            String::from_utf8(w.clone()).unwrap(),
            format!("{}\n{}\n", alerts[0].to_json(), alerts[1].to_json())
        );
    });
}

/// Accepts `room` bytes, then fails.
struct Full {
    room: usize,
}

impl Write for Full {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.room == 0 {
            return Err(io::Error::other("disk full"));
        }
        let n = buf.len().min(self.room);
        self.room -= n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Err(io::Error::other("disk full"))
    }
}

#[tokio::test]
async fn a_failing_writer_gives_retries_from_the_failure_on() {
    let alerts = exec_alerts(3);
    let line = alerts[0].output.len() + 1;
    let output = WriterOutput::new("full", AlertFormat::Text, Full { room: line + 5 });
    let failed = Attempt::retry("write failed: disk full");
    assert_eq!(
        output.send(&alerts).await,
        vec![Attempt::Delivered, failed.clone(), failed]
    );
    assert_eq!(
        output.flush().await.unwrap_err().to_string(),
        "full: flush failed: disk full"
    );
}

#[tokio::test]
async fn a_file_gets_json_lines_appended_and_synced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.json");
    std::fs::write(&path, "{\"earlier\":true}\n").unwrap();
    let alerts = exec_alerts(2);

    let target = parse_target(&format!("file:{}", path.display())).unwrap();
    assert_eq!(target, Target::File(path.clone()));
    // The format is for stdout only: files always get JSON.
    let output = build_output(&target, &OutputOptions::default(), AlertFormat::Text).unwrap();
    assert_eq!(output.name(), format!("file:{}", path.display()));
    assert_eq!(output.send(&alerts).await, vec![Attempt::Delivered; 2]);
    output.flush().await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!(
            "{{\"earlier\":true}}\n{}\n{}\n",
            alerts[0].to_json(),
            alerts[1].to_json()
        )
    );

    // A new file is created; reopening appends.
    let fresh = dir.path().join("new.json");
    let output = FileOutput::open(&fresh).unwrap();
    assert_eq!(output.path(), fresh.as_path());
    assert_eq!(output.send(&alerts[..1]).await, vec![Attempt::Delivered]);
    output.flush().await.unwrap();
    drop(output);
    let output = FileOutput::open(&fresh).unwrap();
    assert_eq!(output.send(&alerts[1..]).await, vec![Attempt::Delivered]);
    output.flush().await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&fresh).unwrap(),
        format!("{}\n{}\n", alerts[0].to_json(), alerts[1].to_json())
    );

    let nowhere = dir.path().join("no/such/dir/alerts.json");
    let err = FileOutput::open(&nowhere).unwrap_err();
    assert!(matches!(err, BuildError::Open { ref path, .. } if *path == nowhere));
    assert!(
        err.to_string()
            .starts_with(&format!("cannot open `{}`: ", nowhere.display())),
        "{err}"
    );
}

fn fixed_clock() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(1_733_000_001_500)
}

#[tokio::test]
async fn dead_letters_are_json_lines_with_the_alert_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dead.jsonl");
    let sink = DeadLetterFile::open(&path).unwrap().with_clock(fixed_clock);
    assert_eq!(sink.path(), path.as_path());
    let alert = exec_alert(0);
    sink.write(
        &alert,
        "http://falcosidekick:2801/",
        "HTTP 400: Please send a valid request body",
        1,
    )
    .await
    .unwrap();
    sink.write(
        &alert,
        "webhook:https://hooks.example/x",
        "connection failed: refused",
        12,
    )
    .await
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!(
            "{{\"alert\":{json},\"output\":\"http://falcosidekick:2801/\",\"reason\":\"HTTP 400: Please send a valid request body\",\"attempts\":1,\"time\":\"2024-11-30T20:53:21.5Z\"}}\n\
             {{\"alert\":{json},\"output\":\"webhook:https://hooks.example/x\",\"reason\":\"connection failed: refused\",\"attempts\":12,\"time\":\"2024-11-30T20:53:21.5Z\"}}\n",
            json = alert.to_json()
        )
    );

    // The system clock gives an RFC 3339 UTC time of now.
    let path = dir.path().join("now.jsonl");
    let sink = DeadLetterFile::open(&path).unwrap();
    let before = jiff::Timestamp::now();
    sink.write(&alert, "stdout", "x", 2).await.unwrap();
    let line: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let time = line["time"].as_str().unwrap();
    assert!(time.ends_with('Z'), "{time}");
    let time: jiff::Timestamp = time.parse().unwrap();
    assert!(time >= before && time <= jiff::Timestamp::now(), "{time}");
    assert_eq!(line["alert"], serde_json::to_value(&alert).unwrap());
}

#[test]
fn targets_parse_and_print_back() {
    let ok: [(&str, Target, &str); 8] = [
        ("stdout", Target::Stdout, "stdout"),
        ("-", Target::Stdout, "stdout"),
        (
            "file:/var/log/kaudit.json",
            Target::File(PathBuf::from("/var/log/kaudit.json")),
            "file:/var/log/kaudit.json",
        ),
        (
            "file:relative:name.json",
            Target::File(PathBuf::from("relative:name.json")),
            "file:relative:name.json",
        ),
        (
            "http://falcosidekick:2801",
            Target::Http("http://falcosidekick:2801/".into()),
            "http://falcosidekick:2801/",
        ),
        (
            "HTTPS://Sidekick.example/alerts?x=1",
            Target::Http("https://sidekick.example/alerts?x=1".into()),
            "https://sidekick.example/alerts?x=1",
        ),
        (
            "webhook:https://hooks.example/T1",
            Target::Webhook("https://hooks.example/T1".into()),
            "webhook:https://hooks.example/T1",
        ),
        (
            "webhook:http://10.0.0.1:8080",
            Target::Webhook("http://10.0.0.1:8080/".into()),
            "webhook:http://10.0.0.1:8080/",
        ),
    ];
    for (text, target, shown) in ok {
        assert_eq!(parse_target(text), Ok(target.clone()), "{text}");
        assert_eq!(text.parse::<Target>(), Ok(target.clone()), "{text}");
        assert_eq!(target.to_string(), shown);
        assert_eq!(parse_target(shown), Ok(target));
    }

    let errors: [(&str, TargetError, &str); 7] = [
        (
            "file:",
            TargetError::EmptyPath("file:".into()),
            "output `file:`: `file:` needs a path (file:PATH)",
        ),
        (
            "stdout2",
            TargetError::Unknown("stdout2".into()),
            "unknown output `stdout2`: expected stdout, file:PATH, http(s)://URL or webhook:URL",
        ),
        (
            "",
            TargetError::Unknown(String::new()),
            "unknown output ``: expected stdout, file:PATH, http(s)://URL or webhook:URL",
        ),
        (
            "ftp://x",
            TargetError::Unknown("ftp://x".into()),
            "unknown output `ftp://x`: expected stdout, file:PATH, http(s)://URL or webhook:URL",
        ),
        (
            "webhook:ftp://x",
            TargetError::Scheme("webhook:ftp://x".into()),
            "output `webhook:ftp://x`: only http:// and https:// URLs are supported",
        ),
        (
            "http://",
            TargetError::Url {
                value: "http://".into(),
                reason: "empty host".into(),
            },
            "output `http://`: invalid URL: empty host",
        ),
        (
            "webhook:http://[::1",
            TargetError::Url {
                value: "webhook:http://[::1".into(),
                reason: "invalid IPv6 address".into(),
            },
            "output `webhook:http://[::1`: invalid URL: invalid IPv6 address",
        ),
    ];
    for (text, error, message) in errors {
        assert_eq!(parse_target(text), Err(error), "{text}");
        assert_eq!(parse_target(text).unwrap_err().to_string(), message);
    }
}
