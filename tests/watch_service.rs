//! `kaudit watch … --config FILE` as a service: the options come from a YAML file,
//! `--metrics-listen` serves `/metrics`, `/healthz` and `/readyz`.
//!
//! * `watch webhook`: a known batch is posted and `/metrics` is scraped for its exact values;
//!   `/readyz` turns 503 (naming the output) while the falcosidekick-like receiver is stopped
//!   and 200 again once it is back.
//! * `watch cloudwatch` against moto_server: a known set of events is read and `/metrics` is
//!   scraped for exact values (events, bad events, alerts by rule and priority, deliveries, API
//!   calls per operation and outcome, throttling, duplicates, gaps) and bounds on the lag and
//!   checkpoint-age gauges derived from the events' timestamps; a restart re-reads the overlap
//!   (exact duplicates) with the receiver down (`/readyz` 503 naming the output, then 200).
//!   `/readyz` also names failing credentials (moto starts refusing the keys, then accepts
//!   them again) and a lag above `--ready-max-lag` (old events, then fresh ones), and
//!   `--log-format json` writes every diagnostic as a JSON line.
//! * A typo in the file is refused with exit 2, its line and a suggestion.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test harness: a failure to start a receiver or the child fails the test with a message"
)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{
    SAMPLE, forty_events_metrics, forward_lines, http, now_ms, poll, sorted, stable_metrics,
};
use kaudit_output::testing::{Behaviour, Receiver};
use kaudit_source::testing::MotoServer;
use serde_json::Value;

fn event_list(lines: &[&str]) -> String {
    format!(
        r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{{}},"items":[{}]}}"#,
        lines.join(",")
    )
}

/// A running `kaudit watch <kind> --config FILE`.
struct Service {
    child: Child,
    /// The webhook listener (`watch webhook` only).
    hook: Option<SocketAddr>,
    metrics: SocketAddr,
    /// stderr after the start-up lines, line by line (also echoed).
    errors: mpsc::Receiver<String>,
}

impl Drop for Service {
    fn drop(&mut self) {
        // Only matters when an assertion failed before `terminate`.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Service {
    /// Starts `kaudit watch <kind> --config <config> <extra…>` and waits for its listeners.
    /// CloudWatch runs get moto's test credentials from the environment.
    fn start(kind: &str, config: &Path, extra: &[&str]) -> Service {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kaudit"))
            .args(["watch", kind, "--config"])
            .arg(config)
            .args(extra)
            .env_remove("FALCO_HOSTNAME")
            .env_remove("RUST_LOG")
            .env_remove("AWS_PROFILE")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let errors = forward_lines(child.stderr.take().unwrap(), true);
        let deadline = Instant::now() + Duration::from_secs(30);
        let (mut hook, mut metrics) = (None, None);
        while metrics.is_none() || (kind == "webhook" && hook.is_none()) {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = errors
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("kaudit watch {kind} did not start: {e}"));
            let text = message(&line);
            if let Some(rest) = text.strip_prefix("listening on http://") {
                hook = Some(rest.split('/').next().unwrap().parse().unwrap());
            }
            if let Some(rest) = text.strip_prefix("metrics on http://") {
                metrics = Some(rest.split('/').next().unwrap().parse().unwrap());
            }
        }
        Service {
            child,
            hook,
            metrics: metrics.unwrap(),
            errors,
        }
    }

    fn get(&self, path: &str) -> (u16, String) {
        http(self.metrics, "GET", path, "")
    }

    /// SIGTERM; it must exit by itself, successfully.
    fn terminate(&mut self) {
        common::sigterm(&self.child);
        common::wait_clean_exit(&mut self.child, "watch");
    }
}

/// The text of a diagnostic line without its `kaudit: ` prefix: the line itself, or a JSON
/// line's `fields.message` (which has no prefix).
fn message(line: &str) -> String {
    match serde_json::from_str::<Value>(line) {
        Ok(v) => v["fields"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        Err(_) => line.strip_prefix("kaudit: ").unwrap_or(line).to_owned(),
    }
}

#[test]
fn metrics_and_readiness_follow_a_known_batch_and_an_output_outage() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut receiver = rt.block_on(Receiver::start(Behaviour::AcceptAll)).unwrap();
    let url = receiver.url();
    let config = dir.path().join("kaudit.yaml");
    std::fs::write(
        &config,
        format!(
            "# kaudit as a service\nlisten: 127.0.0.1:0\nmetrics_listen: 127.0.0.1:0\nready_output_failure: 0s\nack_timeout: 50s\nformat: json\nhostname: e2e\noutput:\n  - {url}\nlog_format: json\n"
        ),
    )
    .unwrap();
    let service = Service::start("webhook", &config, &[]);
    let hook = service.hook.unwrap();

    assert_eq!(
        http(service.metrics, "GET", "/healthz", ""),
        (200, "ok\n".to_owned())
    );
    assert_eq!(
        http(service.metrics, "GET", "/readyz", ""),
        (200, "ready\n".to_owned())
    );

    let lines: Vec<&str> = SAMPLE.lines().take(40).collect();
    let (status, _) = http(hook, "POST", "/k8s-audit", &event_list(&lines));
    assert_eq!(status, 200);

    let (_, text) = http(service.metrics, "GET", "/metrics", "");
    // 40 sample events raise 14 alerts.
    // The webhook calls no backend API: the API-call family has no series.
    let expected = forty_events_metrics(&url, 0, &[], 0);
    assert_eq!(stable_metrics(&text), sorted(&expected));

    // The output goes away: readiness names it, then recovers once it is back.
    rt.block_on(receiver.stop());
    // The same batch again: its 14 alerts cannot be delivered until the receiver is back.
    let batch = event_list(&lines);
    let posted = std::thread::spawn(move || http(hook, "POST", "/k8s-audit", &batch));
    let (_, body) = poll(service.metrics, "/readyz", |s, _| s == 503);
    let prefix = format!("not ready\noutput {url}: failing for ");
    assert!(body.starts_with(&prefix), "{body}");
    rt.block_on(receiver.restart()).unwrap();
    poll(service.metrics, "/readyz", |s, _| s == 200);
    assert_eq!(
        http(service.metrics, "GET", "/readyz", ""),
        (200, "ready\n".to_owned())
    );
    assert_eq!(posted.join().unwrap().0, 200);
}

#[test]
fn a_config_typo_is_refused_with_its_line() {
    common::refused_config(
        "webhook",
        "listen: 127.0.0.1:0\nmetrics_listne: 127.0.0.1:0\n",
        "2: metrics_listne: unknown key for watch webhook (did you mean `metrics_listen`?)",
    );
}

const GROUP: &str = "/aws/eks/service-e2e/cluster";
const STREAM: &str = "kube-apiserver-audit-service";
const REGION: &str = "us-east-1";

/// moto_server with the EKS log group and its audit stream, a multi-threaded runtime (a
/// receiver serves while the test thread waits on the child) and a client.
struct Cloud {
    moto: MotoServer,
    rt: tokio::runtime::Runtime,
    client: aws_sdk_cloudwatchlogs::Client,
}

impl Cloud {
    fn start() -> Cloud {
        let moto = MotoServer::start().unwrap_or_else(|e| panic!("{e}"));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let client = rt.block_on(moto.client(REGION));
        rt.block_on(common::create_stream(&client, GROUP, STREAM));
        Cloud { moto, rt, client }
    }

    /// Puts `lines` with timestamps 1 ms apart from `first_ms`.
    fn put(&self, lines: &[&str], first_ms: i64) {
        self.rt
            .block_on(common::put(&self.client, GROUP, STREAM, lines, first_ms));
    }

    /// moto's `/moto-api/reset-auth`: from now on the first `count` requests (`inf`: all) are
    /// served without checking credentials, the rest must carry keys moto's IAM knows.
    fn require_credentials_after(&self, count: &str) {
        let addr: SocketAddr = self
            .moto
            .url()
            .trim_start_matches("http://")
            .parse()
            .unwrap();
        let (status, body) = http(addr, "POST", "/moto-api/reset-auth", count);
        assert_eq!(status, 200, "{body}");
    }

    /// A config file for `watch cloudwatch` against this emulator, with `extra` keys.
    fn config(&self, dir: &Path, extra: &str) -> PathBuf {
        let path = dir.join("kaudit.yaml");
        std::fs::write(
            &path,
            format!(
                "# kaudit watch cloudwatch as a service\nlog_group: {GROUP}\nregion: {REGION}\nendpoint_url: {}\ncheckpoint: {}\nsettle_lag: 1s\nmetrics_listen: 127.0.0.1:0\nformat: json\nhostname: e2e\n{extra}",
                self.moto.url(),
                dir.join("checkpoint.json").display()
            ),
        )
        .unwrap();
        path
    }
}

/// The value of the series `series` (name and labels) in a `/metrics` text.
fn value(text: &str, series: &str) -> u64 {
    let prefix = format!("{series} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
        .parse()
        .unwrap()
}

/// `api_calls_total` series: FilterLogEvents and DescribeLogStreams with these `ok` counts and
/// no failures.
fn ok_calls(filter: u64, describe: u64) -> [(&'static str, &'static str, u64); 6] {
    [
        ("FilterLogEvents", "ok", filter),
        ("FilterLogEvents", "throttled", 0),
        ("FilterLogEvents", "error", 0),
        ("DescribeLogStreams", "ok", describe),
        ("DescribeLogStreams", "throttled", 0),
        ("DescribeLogStreams", "error", 0),
    ]
}

/// `GET /metrics` with the wall-clock instants (ms) just before and after it.
fn scrape(service: &Service) -> (i64, String, i64) {
    let before = now_ms();
    let (status, text) = service.get("/metrics");
    let after = now_ms();
    assert_eq!(status, 200, "{text}");
    (before, text, after)
}

/// `kaudit_source_lag_seconds` is now minus the last event's timestamp, at the scrape.
fn assert_lag(text: &str, before: i64, after: i64, last_event_ms: i64) {
    let lag = common::sample(text, "kaudit_source_lag_seconds");
    #[expect(clippy::cast_precision_loss, reason = "ms differences far below 2^52")]
    let (lo, hi) = (
        (before - last_event_ms) as f64 / 1000.0,
        (after - last_event_ms) as f64 / 1000.0,
    );
    assert!(lo <= lag && lag <= hi, "lag {lag} s outside [{lo}, {hi}]");
}

#[test]
fn cloudwatch_service_metrics_are_exact_and_readiness_follows_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = Cloud::start();
    let mut receiver = cloud
        .rt
        .block_on(Receiver::start(Behaviour::Falcosidekick))
        .unwrap();
    let url = receiver.url();
    let lines: Vec<&str> = SAMPLE.lines().take(40).collect();
    let base = now_ms() - 60_000;
    let last = base + 39;
    cloud.put(&lines, base);
    // Polls once an hour: the one window read at start covers every event, so the API calls
    // are exact.
    let config = cloud.config(
        dir.path(),
        &format!("poll_interval: 1h\nready_output_failure: 0s\noutput:\n  - {url}\n"),
    );

    // First run: the flag overrides the file's (default) start position.
    let spawned = Instant::now();
    let mut service = Service::start("cloudwatch", &config, &["--start", "-4m"]);
    let delivered = format!("kaudit_output_delivered_total{{output=\"{url}\"}} 14\n");
    poll(service.metrics, "/metrics", |_, body| {
        body.contains(&delivered) && body.contains("kaudit_events_total 40\n")
    });
    let (before, text, after) = scrape(&service);
    // 40 sample events raise 14 alerts; one DescribeLogStreams (the self-test) and one
    // FilterLogEvents page; nothing re-read, skipped or throttled.
    assert_eq!(
        stable_metrics(&text),
        sorted(&forty_events_metrics(&url, 0, &ok_calls(1, 1), 0))
    );
    assert_lag(&text, before, after, last);
    let age = common::sample(&text, "kaudit_checkpoint_age_seconds");
    let up = spawned.elapsed().as_secs_f64();
    assert!(
        (0.0..=up).contains(&age),
        "checkpoint age {age} s, up {up} s"
    );
    assert_eq!(service.get("/healthz"), (200, "ok\n".to_owned()));
    assert_eq!(service.get("/readyz"), (200, "ready\n".to_owned()));
    assert_eq!(receiver.accepted().len(), 14);
    service.terminate();

    // Second run, resumed from the checkpoint, with the receiver down and the same 40 events
    // put again (new event ids, later timestamps): the 40 old ones come back in the overlap and
    // are dropped as duplicates, the new ones alert, and readiness names the output until it
    // is back.
    cloud.rt.block_on(receiver.stop());
    let second = (now_ms() - 30_000).max(base + 1_000);
    cloud.put(&lines, second);
    let mut service = Service::start("cloudwatch", &config, &[]);
    let (_, body) = poll(service.metrics, "/readyz", |s, _| s == 503);
    let prefix = format!("not ready\noutput {url}: failing for ");
    assert!(body.starts_with(&prefix), "{body}");
    cloud.rt.block_on(receiver.restart()).unwrap();
    poll(service.metrics, "/readyz", |s, _| s == 200);
    assert_eq!(service.get("/readyz"), (200, "ready\n".to_owned()));
    poll(service.metrics, "/metrics", |_, body| {
        body.contains(&delivered)
    });
    let (before, text, after) = scrape(&service);
    let failures = value(
        &text,
        &format!("kaudit_output_failures_total{{output=\"{url}\"}}"),
    );
    assert!(failures >= 1, "the receiver was down: {text}");
    assert_eq!(
        stable_metrics(&text),
        sorted(&forty_events_metrics(&url, failures, &ok_calls(1, 1), 40))
    );
    assert_lag(&text, before, after, second + 39);
    service.terminate();
    drop(receiver);
}

#[test]
fn readiness_names_failing_credentials_and_json_logs_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = Cloud::start();
    let lines: Vec<&str> = SAMPLE.lines().take(3).collect();
    cloud.put(&lines, now_ms() - 30_000);
    let config = cloud.config(
        dir.path(),
        &format!(
            "start: -2m\npoll_interval: 200ms\nlog_format: json\noutput:\n  - file:{}\n",
            dir.path().join("alerts.jsonl").display()
        ),
    );
    let service = Service::start("cloudwatch", &config, &[]);
    poll(service.metrics, "/metrics", |_, body| {
        body.contains("kaudit_events_total 3\n")
    });
    assert_eq!(service.get("/readyz"), (200, "ready\n".to_owned()));

    // From now on moto checks the keys, and `testing` is not one its IAM knows: every call
    // fails as the service does for a revoked or expired key (403 InvalidClientTokenId).
    cloud.require_credentials_after("0");
    let (_, body) = poll(service.metrics, "/readyz", |s, _| s == 503);
    assert_eq!(
        body,
        "not ready\nsource: the credentials keep failing (see the log)\n"
    );
    // The log says why, as JSON lines with the usual keys.
    let read = common::wait_for_line(
        &service.errors,
        "the failed call's log line",
        Duration::from_secs(20),
        |l| l.contains("FilterLogEvents failed, retrying"),
    );
    for line in &read {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        for key in ["timestamp", "level", "target", "fields"] {
            assert!(v.get(key).is_some(), "no {key}: {line}");
        }
        assert!(v["fields"]["message"].is_string(), "{line}");
    }
    let warning: Value = serde_json::from_str(read.last().unwrap()).unwrap();
    assert_eq!(warning["level"], "WARN");
    assert_eq!(warning["target"], "kaudit_source::cloudwatch");
    assert_eq!(warning["fields"]["class"], "credentials");
    let message = warning["fields"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("FilterLogEvents failed, retrying: InvalidClientTokenId: "),
        "{message}"
    );
    let (_, text) = service.get("/metrics");
    assert!(
        value(
            &text,
            r#"kaudit_source_api_calls_total{operation="FilterLogEvents",outcome="error"}"#
        ) >= 1,
        "{text}"
    );

    // The keys work again: the next slow retry (15-30 s) succeeds and readiness recovers.
    cloud.require_credentials_after("inf");
    poll(service.metrics, "/readyz", |s, _| s == 200);
    assert_eq!(service.get("/readyz"), (200, "ready\n".to_owned()));
}

#[test]
fn readiness_names_a_lag_above_ready_max_lag_until_fresh_events_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = Cloud::start();
    let lines: Vec<&str> = SAMPLE.lines().take(5).collect();
    // Ten minutes old: read (three 5-minute windows from the start), but far behind.
    let old = now_ms() - 600_000;
    cloud.put(&lines, old);
    let config = cloud.config(
        dir.path(),
        &format!(
            "start: -15m\npoll_interval: 200ms\nready_max_lag: 60s\noutput:\n  - file:{}\n",
            dir.path().join("alerts.jsonl").display()
        ),
    );
    let service = Service::start("cloudwatch", &config, &[]);
    let before = now_ms();
    let (_, body) = poll(service.metrics, "/readyz", |s, _| s == 503);
    let after = now_ms();
    let lag: i64 = body
        .strip_prefix("not ready\nsource: lagging ")
        .and_then(|rest| rest.strip_suffix(" s behind (threshold 60 s)\n"))
        .unwrap_or_else(|| panic!("{body:?}"))
        .parse()
        .unwrap();
    // Whole seconds since the last event read (the first to the fifth, 1 ms apart).
    let (lo, hi) = ((before - (old + 4)) / 1000, (after - old) / 1000);
    assert!(lo <= lag && lag <= hi, "lag {lag} s outside [{lo}, {hi}]");

    // A fresh event: the lag drops below the threshold and readiness recovers.
    cloud.put(&lines[..1], now_ms() - 2_000);
    poll(service.metrics, "/readyz", |s, _| s == 200);
    assert_eq!(service.get("/readyz"), (200, "ready\n".to_owned()));
}

#[test]
fn a_cloudwatch_config_typo_is_refused_with_its_line() {
    common::refused_config(
        "cloudwatch",
        "log_group: /aws/eks/x/cluster\nregion: us-east-1\npoll_intervall: 1s\n",
        "3: poll_intervall: unknown key for watch cloudwatch (did you mean `poll_interval`?)",
    );
}
