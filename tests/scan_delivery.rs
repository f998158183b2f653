//! `kaudit scan` delivering alerts to real receivers on 127.0.0.1 (`kaudit_output::testing`):
//! a falcosidekick receiver gets exactly the alerts `kaudit scan` prints, in order, one JSON
//! object per request; refusals are retried until the receiver recovers; rejections go to the
//! dead-letter file (or fail the run without one); several outputs each get every alert; and
//! `kaudit scan -` streams alerts while stdin is still open.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test harness: a failure to start a receiver or the child fails the test with a message"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{OnceLock, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kaudit_output::testing::{Behaviour, Receiver};
use serde_json::Value;

const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/data/sample-audit.jsonl"
);
/// Every run of the binary must end within this.
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// What `kaudit scan --format json --hostname e2e -q` prints for the sample: the alerts every
/// output must get, in this order.
fn reference() -> &'static [String] {
    static REFERENCE: OnceLock<Vec<String>> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let run = kaudit(&[
            "scan",
            "--format",
            "json",
            "--hostname",
            "e2e",
            "-q",
            SAMPLE,
        ]);
        assert!(
            run.status.success(),
            "reference scan failed: {}",
            run.stderr
        );
        assert!(run.stderr.is_empty(), "reference scan: {}", run.stderr);
        let alerts: Vec<String> = run.stdout.lines().map(str::to_owned).collect();
        assert!(alerts.len() > 10, "the sample alerts: {}", run.stdout);
        alerts
    })
}

fn reference_json() -> Vec<Value> {
    reference()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A finished run of the binary.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Reads a child's pipe to the end on a thread.
fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// Waits for `child` to exit, at most `limit` (killed and failing the test after that).
fn wait_bounded(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kaudit did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `kaudit args…` with no stdin, bounded by [`RUN_LIMIT`].
fn kaudit(args: &[&str]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kaudit"))
        .args(args)
        .env_remove("FALCO_HOSTNAME")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let status = wait_bounded(&mut child, RUN_LIMIT);
    Run {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// `kaudit scan --format json --hostname e2e <extra…> SAMPLE`.
fn scan_sample(extra: &[&str]) -> Run {
    let mut args = vec!["scan", "--format", "json", "--hostname", "e2e"];
    args.extend_from_slice(extra);
    args.push(SAMPLE);
    let run = kaudit(&args);
    eprintln!("kaudit scan {extra:?} stderr:\n{}", run.stderr);
    run
}

/// The runtime the receivers run on while the test thread waits for the child.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn receiver(rt: &tokio::runtime::Runtime, behaviour: Behaviour) -> Receiver {
    rt.block_on(Receiver::start(behaviour)).unwrap()
}

/// A fresh directory for one test's files.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kaudit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The lines of stderr that follow `Alerts delivered:`.
fn delivery_lines(stderr: &str) -> Vec<&str> {
    let Some((_, rest)) = stderr.split_once("Alerts delivered:\n") else {
        panic!("no `Alerts delivered:` on stderr:\n{stderr}");
    };
    rest.lines().take_while(|l| l.starts_with("   ")).collect()
}

/// Every request is a falcosidekick alert POST: one JSON object, `application/json`, to `/`.
fn assert_alert_requests(receiver: &Receiver) {
    for (i, r) in receiver.requests().iter().enumerate() {
        assert_eq!(r.method, "POST", "request {i}");
        assert_eq!(r.path, "/", "request {i}");
        assert_eq!(
            r.header("content-type"),
            Some("application/json"),
            "request {i}"
        );
        assert!(
            r.header("user-agent")
                .is_some_and(|u| u.starts_with("kaudit/")),
            "request {i}: {:?}",
            r.header("user-agent")
        );
        assert!(
            matches!(r.body_json(), Some(Value::Object(_))),
            "request {i}: the body is one JSON object: {}",
            r.body_text()
        );
    }
}

/// The bodies of the requests answered 2xx, as text.
fn accepted_bodies(receiver: &Receiver) -> Vec<String> {
    receiver
        .requests()
        .iter()
        .filter(|r| r.status.is_some_and(|s| (200..300).contains(&s)))
        .map(|r| r.body_text())
        .collect()
}

#[test]
fn falcosidekick_receives_exactly_the_alerts_scan_prints() {
    let rt = runtime();
    let receiver = receiver(&rt, Behaviour::Falcosidekick);
    let url = receiver.url();
    let run = scan_sample(&["--output", &url]);
    assert!(run.status.success(), "exit: {}", run.status);
    assert_eq!(run.stdout, "", "no stdout output was asked for");

    let expected = reference();
    assert_alert_requests(&receiver);
    let requests = receiver.requests();
    assert_eq!(requests.len(), expected.len(), "one request per alert");
    assert!(requests.iter().all(|r| r.status == Some(200)));
    // Byte for byte the JSON lines scan prints, in the same order.
    assert_eq!(accepted_bodies(&receiver), expected);
    assert_eq!(receiver.accepted(), reference_json());
    assert_eq!(
        delivery_lines(&run.stderr),
        [format!("   {url}: {} delivered", expected.len())]
    );
}

#[test]
fn refusals_are_retried_until_the_receiver_recovers_without_loss_or_repeat() {
    let rt = runtime();
    let receiver = receiver(
        &rt,
        Behaviour::RefuseFirst {
            count: 3,
            retry_after: None,
        },
    );
    let url = receiver.url();
    let run = scan_sample(&["--output", &url]);
    assert!(run.status.success(), "exit: {}", run.status);

    let expected = reference();
    assert_alert_requests(&receiver);
    let requests = receiver.requests();
    // The first alert is refused three times (a 503 leaves the rest of a batch untried), then
    // every alert goes through once.
    assert_eq!(requests.len(), expected.len() + 3);
    for r in &requests[..3] {
        assert_eq!(r.status, Some(503));
        assert_eq!(r.body_text(), expected[0]);
    }
    assert!(requests[3..].iter().all(|r| r.status == Some(200)));
    assert_eq!(accepted_bodies(&receiver), expected);
    assert_eq!(
        run.stderr
            .lines()
            .filter(|l| l.starts_with(&format!("kaudit: output {url}: HTTP 503 (attempt ")))
            .count(),
        3,
        "one retry notice per refusal"
    );
    assert_eq!(
        delivery_lines(&run.stderr),
        [format!(
            "   {url}: {} delivered (3 failed attempts)",
            expected.len()
        )]
    );
}

#[test]
fn rejected_alerts_go_to_the_dead_letter_file() {
    let rt = runtime();
    let receiver = receiver(&rt, Behaviour::RejectAll);
    let url = receiver.url();
    let dir = temp_dir("dead-letters");
    let dead = dir.join("dead.jsonl");
    let run = scan_sample(&["--output", &url, "--dead-letter", dead.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1), "exit: {}", run.status);

    let expected = reference_json();
    // A 400 is final: one attempt per alert.
    assert_eq!(receiver.request_count(), expected.len());
    assert!(receiver.accepted().is_empty());
    let text = std::fs::read_to_string(&dead).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), expected.len(), "one dead letter per alert");
    for (i, (record, alert)) in records.iter().zip(&expected).enumerate() {
        assert_eq!(&record["alert"], alert, "dead letter {i}");
        assert_eq!(
            record["output"],
            Value::from(url.as_str()),
            "dead letter {i}"
        );
        assert_eq!(
            record["reason"],
            Value::from("HTTP 400: rejected"),
            "dead letter {i}"
        );
        assert_eq!(record["attempts"], Value::from(1), "dead letter {i}");
        assert!(record["time"].is_string(), "dead letter {i}");
    }
    assert_eq!(
        delivery_lines(&run.stderr),
        [format!(
            "   {url}: 0 delivered, {n} dead-lettered ({n} failed attempts)",
            n = expected.len()
        )]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rejected_alerts_without_a_dead_letter_file_fail_the_scan() {
    let rt = runtime();
    let receiver = receiver(&rt, Behaviour::RejectAll);
    let url = receiver.url();
    let run = scan_sample(&["--output", &url]);
    assert_eq!(run.status.code(), Some(1), "exit: {}", run.status);

    let expected = reference_json();
    assert_eq!(receiver.request_count(), expected.len());
    let not_delivered: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with(&format!("kaudit: output {url}: alert `")))
        .collect();
    assert_eq!(not_delivered.len(), expected.len(), "one notice per alert");
    for (line, alert) in not_delivered.iter().zip(&expected) {
        let rule = alert["rule"].as_str().unwrap();
        assert_eq!(
            *line,
            format!("kaudit: output {url}: alert `{rule}` not delivered: HTTP 400: rejected")
        );
    }
    assert_eq!(
        delivery_lines(&run.stderr),
        [format!(
            "   {url}: 0 delivered, {n} failed ({n} failed attempts)",
            n = expected.len()
        )]
    );
}

#[test]
fn every_output_gets_every_alert() {
    let rt = runtime();
    let receiver = receiver(&rt, Behaviour::Falcosidekick);
    let url = receiver.url();
    let dir = temp_dir("two-outputs");
    let file = dir.join("alerts.jsonl");
    let file_target = format!("file:{}", file.display());
    let run = scan_sample(&["--output", &url, "--output", &file_target]);
    assert!(run.status.success(), "exit: {}", run.status);
    assert_eq!(run.stdout, "");

    let expected = reference();
    assert_alert_requests(&receiver);
    assert_eq!(accepted_bodies(&receiver), expected);
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(written, expected.join("\n") + "\n");
    let n = expected.len();
    assert_eq!(
        delivery_lines(&run.stderr),
        [
            format!("   {url}: {n} delivered"),
            format!("   {file_target}: {n} delivered"),
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Forwards a child's stdout lines to a channel.
fn lines_of(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// `kaudit scan` over `lines` written to a file: the alerts `scan -` must stream for them.
fn scan_file(lines: &[&str], dir: &Path) -> Vec<String> {
    let path = dir.join("batch.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let run = kaudit(&[
        "scan",
        "--format",
        "json",
        "--hostname",
        "e2e",
        "-q",
        path.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", run.stderr);
    run.stdout.lines().map(str::to_owned).collect()
}

#[test]
fn scan_of_stdin_streams_alerts_before_stdin_closes() {
    let dir = temp_dir("stdin-stream");
    let sample = std::fs::read_to_string(SAMPLE).unwrap();
    let lines: Vec<&str> = sample.lines().take(10).collect();
    let expected = scan_file(&lines, &dir);
    assert!(!expected.is_empty(), "the first lines of the sample alert");

    let mut child = Command::new(env!("CARGO_BIN_EXE_kaudit"))
        .args(["scan", "--format", "json", "--hostname", "e2e", "-q", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = drain(child.stderr.take().unwrap());
    let alerts = lines_of(child.stdout.take().unwrap());
    let mut stdin = child.stdin.take().unwrap();
    for line in &lines {
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
    }
    stdin.flush().unwrap();

    // stdin stays open: every alert must come out now.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut got = Vec::new();
    while got.len() < expected.len() {
        match alerts.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(alert) => got.push(alert),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "with stdin open, {} of {} alerts after 15 s ({e}); stderr:\n{}",
                    got.len(),
                    expected.len(),
                    stderr.join().unwrap()
                );
            }
        }
    }
    assert_eq!(got, expected);
    assert!(
        child.try_wait().unwrap().is_none(),
        "scan - must keep reading while stdin is open"
    );

    drop(stdin);
    let status = wait_bounded(&mut child, RUN_LIMIT);
    let stderr = stderr.join().unwrap();
    assert!(status.success(), "exit {status}; stderr:\n{stderr}");
    assert_eq!(stderr, "");
    // Nothing more once stdin is closed.
    assert_eq!(alerts.iter().collect::<Vec<_>>(), Vec::<String>::new());
    let _ = std::fs::remove_dir_all(&dir);
}
