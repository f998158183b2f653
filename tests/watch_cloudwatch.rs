//! `kaudit watch cloudwatch` end to end against moto_server (a CloudWatch Logs emulator on
//! loopback): the alerts are exactly those `kaudit scan` prints for the same events, SIGTERM
//! stops it cleanly with a checkpoint, and a restart alerts on the new events only — nothing
//! lost, nothing repeated.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test harness: a failure to set up the emulator or the child fails the test with a message"
)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use kaudit_source::testing::MotoServer;

const GROUP: &str = "/aws/eks/watch-e2e/cluster";
const STREAM: &str = "kube-apiserver-audit-0123456789";
const REGION: &str = "us-east-1";
const SAMPLE: &str = include_str!("../examples/data/sample-audit.jsonl");

fn now_ms() -> i64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(d.as_millis()).unwrap()
}

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

/// Puts `lines` into the stream with increasing timestamps from `first_ms`.
async fn put(client: &Client, lines: &[&str], first_ms: i64) {
    for (chunk_no, chunk) in lines.chunks(100).enumerate() {
        let mut req = client
            .put_log_events()
            .log_group_name(GROUP)
            .log_stream_name(STREAM);
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

struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
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
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watch { child, lines }
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

    /// SIGTERM, then the exit status (it must exit by itself, cleanly).
    fn terminate(&mut self) {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "watch exited with {status}");
                return;
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
        client
            .create_log_group()
            .log_group_name(GROUP)
            .send()
            .await
            .unwrap();
        client
            .create_log_stream()
            .log_group_name(GROUP)
            .log_stream_name(STREAM)
            .send()
            .await
            .unwrap();
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

    // New events arrive while kaudit is down; the restart alerts on exactly those.
    runtime.block_on(put(&client, second, now_ms()));
    let mut watch = Watch::start(&url, &checkpoint, None);
    assert_eq!(watch.take(expect_second.len()), expect_second);
    watch.terminate();

    let _ = std::io::stderr().flush();
    let _ = std::fs::remove_dir_all(&dir);
}
