//! `kaudit watch cloudwatch` end to end against moto_server (a CloudWatch Logs emulator on
//! loopback): the alerts are exactly those `kaudit scan` prints for the same events, SIGTERM
//! stops it cleanly with a checkpoint, and a restart alerts on the new events only — nothing
//! lost, nothing repeated. With an HTTP output that is down, SIGTERM exits after the drain
//! timeout without committing past the undelivered alerts, and a restart once the receiver is
//! back delivers each of them exactly once.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test harness: a failure to set up the emulator or the child fails the test with a message"
)]

mod common;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{SAMPLE, forward_lines, now_ms};
use kaudit_output::testing::{Behaviour, Receiver};
use kaudit_source::testing::MotoServer;
use serde_json::Value;

const GROUP: &str = "/aws/eks/watch-e2e/cluster";
const STREAM: &str = "kube-apiserver-audit-0123456789";
const REGION: &str = "us-east-1";

/// `kaudit scan --format json` over `lines`: the alerts `watch` must print for them.
fn scan_alerts(lines: &[&str], dir: &std::path::Path) -> Vec<String> {
    let path = dir.join("batch.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kaudit"))
        .args(["scan", "--format", "json", "--hostname", "e2e", "-q"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Creates the log group and its stream.
async fn create_stream(client: &aws_sdk_cloudwatchlogs::Client) {
    common::create_stream(client, GROUP, STREAM).await;
}

/// Puts `lines` into the stream with increasing timestamps from `first_ms`.
async fn put(client: &aws_sdk_cloudwatchlogs::Client, lines: &[&str], first_ms: i64) {
    common::put(client, GROUP, STREAM, lines, first_ms).await;
}

struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// stderr, line by line (also echoed to the test's stderr).
    errors: mpsc::Receiver<String>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        // Only matters when an assertion failed before `terminate`.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Watch {
    /// Starts `kaudit watch cloudwatch` with `--start <start>` (no `--start`: resume from the
    /// checkpoint, the default).
    fn start(url: &str, checkpoint: &std::path::Path, start: Option<&str>) -> Watch {
        Watch::start_with(url, checkpoint, start, &[])
    }

    /// [`Watch::start`] with more arguments (outputs, timeouts).
    fn start_with(
        url: &str,
        checkpoint: &std::path::Path,
        start: Option<&str>,
        extra: &[&str],
    ) -> Watch {
        let start_args = start.map(|s| vec!["--start", s]).unwrap_or_default();
        let mut child = Command::new(env!("CARGO_BIN_EXE_kaudit"))
            .args([
                "watch",
                "cloudwatch",
                "--log-group",
                GROUP,
                "--region",
                REGION,
                "--endpoint-url",
                url,
                "--poll-interval",
                "200ms",
                "--settle-lag",
                "1s",
                "--format",
                "json",
                "--hostname",
                "e2e",
                "--checkpoint",
            ])
            .arg(checkpoint)
            .args(start_args)
            .args(extra)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = forward_lines(child.stdout.take().unwrap(), false);
        let errors = forward_lines(child.stderr.take().unwrap(), true);
        Watch {
            child,
            lines,
            errors,
        }
    }

    /// Reads stderr until a line satisfies `want` (20 s at most); returns the lines read.
    fn wait_for_stderr(&self, what: &str, want: impl Fn(&str) -> bool) -> Vec<String> {
        common::wait_for_line(
            &self.errors,
            &format!("{what} on stderr"),
            Duration::from_secs(20),
            want,
        )
    }

    /// The rest of stderr, up to its end (call after the process exited).
    fn rest_of_stderr(&self) -> Vec<String> {
        let mut read = Vec::new();
        loop {
            match self.errors.recv_timeout(Duration::from_secs(10)) {
                Ok(line) => read.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => return read,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("stderr did not end"),
            }
        }
    }

    /// Collects `n` alert lines (60 s at most), then checks nothing more arrives for a while.
    fn take(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut got = Vec::new();
        while got.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => got.push(l),
                Err(e) => panic!("after {} of {n} alerts: {e}", got.len()),
            }
        }
        if let Ok(extra) = self.lines.recv_timeout(Duration::from_secs(3)) {
            panic!("an alert more than expected: {extra}");
        }
        got
    }

    /// SIGTERM, then the exit status (it must exit by itself, cleanly); returns how long it
    /// took to exit.
    fn terminate(&mut self) -> Duration {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        let sent = Instant::now();
        let deadline = sent + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "watch exited with {status}");
                return sent.elapsed();
            }
            assert!(Instant::now() < deadline, "watch did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn watch_alerts_like_scan_and_resumes_after_sigterm_without_loss_or_repeat() {
    let moto = MotoServer::start().unwrap_or_else(|e| panic!("{e}"));
    let url = moto.url();
    let dir = std::env::temp_dir().join(format!("kaudit-watch-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let checkpoint = dir.join("checkpoint.json");
    let _ = std::fs::remove_file(&checkpoint);

    let lines: Vec<&str> = SAMPLE.lines().collect();
    let (first, second) = lines.split_at(200);
    let expect_first = scan_alerts(first, &dir);
    let expect_second = scan_alerts(second, &dir);
    assert!(!expect_first.is_empty() && !expect_second.is_empty());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = runtime.block_on(moto.client(REGION));
    let base = now_ms() - 120_000;
    runtime.block_on(async {
        create_stream(&client).await;
        put(&client, first, base).await;
    });

    let mut watch = Watch::start(&url, &checkpoint, Some("-10m"));
    assert_eq!(watch.take(expect_first.len()), expect_first);
    watch.terminate();
    let saved = std::fs::read_to_string(&checkpoint).unwrap();
    assert!(
        saved.contains(GROUP),
        "checkpoint names its log group: {saved}"
    );
    // By default only the EKS audit streams are read.
    assert!(
        saved.contains(r#""stream_prefix":"kube-apiserver-audit""#),
        "{saved}"
    );

    // New events arrive while kaudit is down; the restart alerts on exactly those. With
    // --log-level info, the source's start-up log is on stderr.
    runtime.block_on(put(&client, second, now_ms()));
    let mut watch = Watch::start_with(&url, &checkpoint, None, &["--log-level", "info"]);
    watch.wait_for_stderr("the self-test log line", |l| {
        l.contains(" INFO ") && l.contains("self-test passed")
    });
    assert_eq!(watch.take(expect_second.len()), expect_second);
    watch.terminate();

    let _ = std::io::stderr().flush();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The CloudWatch timestamps of the events a checkpoint file says were read (`position.seen`).
fn seen_timestamps(checkpoint: &std::path::Path) -> Vec<i64> {
    let text = std::fs::read_to_string(checkpoint)
        .unwrap_or_else(|e| panic!("checkpoint {}: {e}", checkpoint.display()));
    let saved: Value = serde_json::from_str(&text).unwrap();
    let Some(seen) = saved["position"]["seen"].as_array() else {
        panic!("no position.seen in the checkpoint: {text}");
    };
    seen.iter()
        .map(|entry| entry[0].as_i64().unwrap_or_else(|| panic!("{text}")))
        .collect()
}

/// The index of the first line that alerts (searching the first 50).
fn first_alerting(lines: &[&str], dir: &std::path::Path) -> usize {
    (1..=lines.len().min(50))
        .find(|&n| !scan_alerts(&lines[..n], dir).is_empty())
        .unwrap_or_else(|| panic!("none of the first 50 lines alerts"))
        - 1
}

#[test]
fn watch_with_its_receiver_down_keeps_the_alerts_for_the_next_run() {
    let moto = MotoServer::start().unwrap_or_else(|e| panic!("{e}"));
    let url = moto.url();
    let dir = std::env::temp_dir().join(format!("kaudit-watch-down-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let checkpoint = dir.join("checkpoint.json");
    let _ = std::fs::remove_file(&checkpoint);

    let lines: Vec<&str> = SAMPLE.lines().take(100).collect();
    let expected: Vec<Value> = scan_alerts(&lines, &dir)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // A quiet prefix, so a checkpoint is committed before the first alert.
    let first = first_alerting(&lines, &dir);
    assert!(
        first > 0 && expected.len() > 5,
        "{first} {}",
        expected.len()
    );

    // Multi-threaded: the receiver serves while the test thread waits on the child.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut receiver = runtime
        .block_on(Receiver::start(Behaviour::Falcosidekick))
        .unwrap();
    let output = receiver.url();
    // Down, on a known port.
    runtime.block_on(receiver.stop());
    let client = runtime.block_on(moto.client(REGION));
    let base = now_ms() - 120_000;
    runtime.block_on(async {
        create_stream(&client).await;
        put(&client, &lines, base).await;
    });

    let args = ["--output", output.as_str(), "--drain-timeout", "2s"];
    let mut watch = Watch::start_with(&url, &checkpoint, Some("-10m"), &args);
    // The output keeps failing; by its third attempt every event has long been read.
    let retrying = format!("kaudit: output {output}: connection failed");
    watch.wait_for_stderr("a third attempt", |l| {
        l.starts_with(&retrying) && l.contains("(attempt 3); retrying in ")
    });
    let took = watch.terminate();
    // It drains (the output cannot deliver, so for the whole 2 s), then exits.
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(5),
        "SIGTERM with a 2 s drain timeout took {took:?}"
    );
    let stderr = watch.rest_of_stderr().join("\n");
    assert!(
        stderr.contains(&format!("Events read: {}, ", lines.len())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "Alerts delivered:\n   {output}: 0 delivered (" // then the failed attempts
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "\n   {} alert deliveries still pending at exit (the checkpoint was not advanced past them)",
            expected.len()
        )),
        "{stderr}"
    );
    // The quiet prefix is committed, nothing from the first alerting event on.
    let seen = seen_timestamps(&checkpoint);
    let first_ts = base + i64::try_from(first).unwrap();
    assert_eq!(
        seen.iter().max(),
        Some(&(first_ts - 1)),
        "the checkpoint ends just before the first alerting event: {seen:?}"
    );
    assert_eq!(receiver.request_count(), 0);

    // The receiver is back: the next run delivers every alert once, in order.
    runtime.block_on(receiver.restart()).unwrap();
    let mut watch = Watch::start_with(&url, &checkpoint, None, &args);
    assert!(
        runtime.block_on(receiver.wait_for_accepted(expected.len(), Duration::from_secs(20))),
        "{} of {} alerts accepted",
        receiver.accepted().len(),
        expected.len()
    );
    // Nothing more arrives (a repeat would).
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(receiver.accepted(), expected);
    assert_eq!(
        receiver.request_count(),
        expected.len(),
        "no retry was needed"
    );
    watch.terminate();
    let stderr = watch.rest_of_stderr().join("\n");
    assert!(
        stderr.contains(&format!("Events read: {}, ", lines.len() - first)),
        "the restart reads from the first undelivered event on: {stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "Alerts delivered:\n   {output}: {} delivered\n",
            expected.len()
        )) || stderr.ends_with(&format!(
            "Alerts delivered:\n   {output}: {} delivered",
            expected.len()
        )),
        "{stderr}"
    );
    let last_ts = base + i64::try_from(lines.len() - 1).unwrap();
    assert_eq!(
        seen_timestamps(&checkpoint).iter().max(),
        Some(&last_ts),
        "everything is delivered: the checkpoint covers the last event"
    );
    assert_eq!(
        watch.lines.try_iter().count(),
        0,
        "no stdout output was asked for"
    );

    drop(receiver);
    let _ = std::fs::remove_dir_all(&dir);
}
