//! Harness code the end-to-end tests share (each test binary includes it with `mod common;`):
//! reading a child's output line by line, one-shot HTTP exchanges and polling, the `/metrics`
//! comparison, and the CloudWatch Logs emulator's log group, stream and events.

#![allow(
    dead_code,
    reason = "each test binary uses only part of the shared harness"
)]
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test harness: a failure to set up fails the test with a message"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::types::InputLogEvent;

/// The sample audit log every end-to-end test draws its events from.
pub(crate) const SAMPLE: &str = include_str!("../../examples/data/sample-audit.jsonl");

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(d.as_millis()).unwrap()
}

/// Forwards `pipe`'s lines to a channel (and to the test's stderr when `echo`).
pub(crate) fn forward_lines(
    pipe: impl Read + Send + 'static,
    echo: bool,
) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if echo {
                eprintln!("{line}");
            }
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Reads `lines` until one satisfies `want` (`limit` at most, a safety limit); returns the
/// lines read, the matching one last.
pub(crate) fn wait_for_line(
    lines: &mpsc::Receiver<String>,
    what: &str,
    limit: Duration,
    want: impl Fn(&str) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + limit;
    let mut read = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                let done = want(&line);
                read.push(line);
                if done {
                    return read;
                }
            }
            Err(e) => panic!("no {what} ({e}); read:\n{}", read.join("\n")),
        }
    }
}

/// One `Connection: close` HTTP/1.1 exchange; returns the status and the body.
pub(crate) fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    http_with_headers(addr, method, path, &[], body)
}

/// [`http`] with extra request header lines (`Name: value`).
pub(crate) fn http_with_headers(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &str,
) -> (u16, String) {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: kaudit\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    req.push_str(body);
    tcp.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    tcp.read_to_string(&mut raw).unwrap();
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {raw:?}"));
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

/// Sends SIGTERM to `child`.
pub(crate) fn sigterm(child: &Child) {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
}

/// Waits (30 s at most) for `child` to exit by itself, successfully.
pub(crate) fn wait_clean_exit(child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{what} exited with {status}");
            return;
        }
        assert!(Instant::now() < deadline, "{what} did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `kaudit watch <kind> --config <file>` with `yaml` as the file, and checks it is
/// refused with exit 2 and exactly `kaudit: <file>:<message>` on stderr.
pub(crate) fn refused_config(kind: &str, yaml: &str, message: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kaudit.yaml");
    std::fs::write(&config, yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kaudit"))
        .args(["watch", kind, "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!("kaudit: {}:{message}\n", config.display())
    );
    assert!(out.stdout.is_empty());
}

/// Polls `GET path` until `done(status, body)` (60 s at most: a safety limit).
pub(crate) fn poll(
    addr: SocketAddr,
    path: &str,
    done: impl Fn(u16, &str) -> bool,
) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = http(addr, "GET", path, "");
        if done(status, &body) {
            return (status, body);
        }
        assert!(Instant::now() < deadline, "{path} stayed {status}: {body}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The two `/metrics` gauges that depend on the clock: each test checks them against bounds.
pub(crate) const CLOCK_GAUGES: [&str; 2] =
    ["kaudit_source_lag_seconds", "kaudit_checkpoint_age_seconds"];

/// The value of the unlabelled series `name` in a `/metrics` text.
pub(crate) fn sample(text: &str, name: &str) -> f64 {
    let prefix = format!("{name} ");
    let line = text
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"));
    line[prefix.len()..]
        .parse()
        .unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// `/metrics` without the [`CLOCK_GAUGES`]' values, lines sorted (the series of a family come
/// in no particular order).
pub(crate) fn stable_metrics(text: &str) -> String {
    for gauge in CLOCK_GAUGES {
        sample(text, gauge);
    }
    sorted(
        &text
            .lines()
            .filter(|l| !CLOCK_GAUGES.iter().any(|g| l.starts_with(&format!("{g} "))))
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    )
}

/// `expected`'s lines, sorted like [`stable_metrics`] sorts.
pub(crate) fn sorted(expected: &str) -> String {
    let mut lines: Vec<&str> = expected.lines().collect();
    lines.sort_unstable();
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// The `/metrics` text of a service that read the first 40 sample events once and delivered
/// their 14 alerts to `URL` (the receiver's URL replaces it), with `API_CALLS` standing for the
/// `kaudit_source_api_calls_total` series and `DUPLICATES` for the duplicates dropped.
pub(crate) const FORTY_EVENTS_METRICS: &str = r#"# HELP kaudit_events Audit events decoded and evaluated.
# TYPE kaudit_events counter
kaudit_events_total 40
# HELP kaudit_events_bad Events that did not decode (skipped).
# TYPE kaudit_events_bad counter
kaudit_events_bad_total 0
# HELP kaudit_alerts Alerts raised, per rule and priority.
# TYPE kaudit_alerts counter
kaudit_alerts_total{rule="Wildcard Role Created",priority="Warning"} 1
kaudit_alerts_total{rule="Binding To cluster-admin",priority="Warning"} 1
kaudit_alerts_total{rule="Pod Mounts Sensitive Host Path",priority="Warning"} 1
kaudit_alerts_total{rule="Request Forbidden For Human User",priority="Informational"} 1
kaudit_alerts_total{rule="Privileged Pod Created",priority="Warning"} 2
kaudit_alerts_total{rule="Exec Or Attach Into Pod",priority="Notice"} 4
kaudit_alerts_total{rule="ConfigMap Holds Credentials",priority="Warning"} 2
kaudit_alerts_total{rule="Secret Read By Unexpected User",priority="Notice"} 2
# HELP kaudit_output_delivered Alerts an output accepted.
# TYPE kaudit_output_delivered counter
kaudit_output_delivered_total{output="URL"} 14
# HELP kaudit_output_failures Failed delivery attempts, per output.
# TYPE kaudit_output_failures counter
kaudit_output_failures_total{output="URL"} FAILURES
# HELP kaudit_output_dead_letters Alerts an output gave up on (dead-lettered).
# TYPE kaudit_output_dead_letters counter
kaudit_output_dead_letters_total{output="URL"} 0
# HELP kaudit_source_lag_seconds How far the source's last event is behind now.
# TYPE kaudit_source_lag_seconds gauge
# HELP kaudit_checkpoint_age_seconds Seconds since the last checkpoint commit (or the start).
# TYPE kaudit_checkpoint_age_seconds gauge
# HELP kaudit_source_api_calls Source backend API calls, by operation (FilterLogEvents, DescribeLogStreams) and outcome (ok, throttled, error).
# TYPE kaudit_source_api_calls counter
API_CALLS# HELP kaudit_source_throttled Source API calls refused as throttling.
# TYPE kaudit_source_throttled counter
kaudit_source_throttled_total 0
# HELP kaudit_source_duplicates_dropped Events dropped as already read (overlap re-reads).
# TYPE kaudit_source_duplicates_dropped counter
kaudit_source_duplicates_dropped_total DUPLICATES
# HELP kaudit_source_gaps Source gaps (intervals skipped on purpose).
# TYPE kaudit_source_gaps counter
kaudit_source_gaps_total 0
# EOF
"#;

/// [`FORTY_EVENTS_METRICS`] with its placeholders filled in; `api_calls` are
/// `(operation, outcome, calls)` (none: the family is absent).
pub(crate) fn forty_events_metrics(
    url: &str,
    failures: u64,
    api_calls: &[(&str, &str, u64)],
    duplicates: u64,
) -> String {
    let calls: String = api_calls
        .iter()
        .map(|(op, outcome, n)| {
            format!(
                "kaudit_source_api_calls_total{{operation=\"{op}\",outcome=\"{outcome}\"}} {n}\n"
            )
        })
        .collect();
    // A family without series (a source that calls no API) is not exposed at all.
    let text: String = FORTY_EVENTS_METRICS
        .lines()
        .filter(|l| !(api_calls.is_empty() && l.contains(" kaudit_source_api_calls ")))
        .map(|l| format!("{l}\n"))
        .collect();
    text.replace("URL", url)
        .replace("FAILURES", &failures.to_string())
        .replace("API_CALLS", &calls)
        .replace("DUPLICATES", &duplicates.to_string())
}

/// Creates `group` and its stream `stream` in the emulator.
pub(crate) async fn create_stream(client: &Client, group: &str, stream: &str) {
    client
        .create_log_group()
        .log_group_name(group)
        .send()
        .await
        .unwrap();
    client
        .create_log_stream()
        .log_group_name(group)
        .log_stream_name(stream)
        .send()
        .await
        .unwrap();
}

/// Puts `lines` into `group`/`stream` with timestamps increasing by 1 ms from `first_ms`.
pub(crate) async fn put(client: &Client, group: &str, stream: &str, lines: &[&str], first_ms: i64) {
    for (chunk_no, chunk) in lines.chunks(100).enumerate() {
        let mut req = client
            .put_log_events()
            .log_group_name(group)
            .log_stream_name(stream);
        for (i, line) in chunk.iter().enumerate() {
            let ts = first_ms + i64::try_from(chunk_no * 100 + i).unwrap();
            req = req.log_events(
                InputLogEvent::builder()
                    .timestamp(ts)
                    .message(*line)
                    .build()
                    .unwrap(),
            );
        }
        req.send().await.unwrap();
    }
}
