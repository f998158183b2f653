//! `kaudit watch webhook --config FILE` as a service: the options come from a YAML file,
//! `--metrics-listen` serves `/metrics`, `/healthz` and `/readyz`. A known batch is posted and
//! `/metrics` is scraped for its exact values; `/readyz` turns 503 (naming the output) while the
//! falcosidekick-like receiver is stopped and 200 again once it is back; a typo in the file is
//! refused with exit 2, its line and a suggestion.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test harness: a failure to start a receiver or the child fails the test with a message"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kaudit_output::testing::{Behaviour, Receiver};

const SAMPLE: &str = include_str!("../examples/data/sample-audit.jsonl");

fn event_list(lines: &[&str]) -> String {
    format!(
        r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{{}},"items":[{}]}}"#,
        lines.join(",")
    )
}

fn forward_lines(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            eprintln!("{line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// One `Connection: close` HTTP/1.1 exchange; returns the status and the body.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: kaudit\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
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

/// Polls `GET path` until `done(status, body)` (60 s at most: a safety limit).
fn poll(addr: SocketAddr, path: &str, done: impl Fn(u16, &str) -> bool) -> (u16, String) {
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

struct Service {
    child: Child,
    hook: SocketAddr,
    metrics: SocketAddr,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(config: &std::path::Path) -> Service {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kaudit"))
        .args(["watch", "webhook", "--config"])
        .arg(config)
        .env_remove("FALCO_HOSTNAME")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let errors = forward_lines(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut hook, mut metrics) = (None, None);
    while hook.is_none() || metrics.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = errors.recv_timeout(left).unwrap();
        if let Some(rest) = line.strip_prefix("kaudit: listening on http://") {
            hook = Some(rest.split('/').next().unwrap().parse().unwrap());
        }
        if let Some(rest) = line.strip_prefix("kaudit: metrics on http://") {
            metrics = Some(rest.split('/').next().unwrap().parse().unwrap());
        }
    }
    Service {
        child,
        hook: hook.unwrap(),
        metrics: metrics.unwrap(),
    }
}

/// `/metrics` without the two gauges that depend on the clock (checked for presence only).
fn stable_metrics(text: &str) -> String {
    for gauge in [
        "kaudit_source_lag_seconds ",
        "kaudit_checkpoint_age_seconds ",
    ] {
        assert!(text.lines().any(|l| l.starts_with(gauge)), "{gauge}missing");
    }
    // The series of a family come in no particular order: compare sorted lines.
    let mut lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            !l.starts_with("kaudit_source_lag_seconds ")
                && !l.starts_with("kaudit_checkpoint_age_seconds ")
        })
        .collect();
    lines.sort_unstable();
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// `expected`'s lines, sorted like [`stable_metrics`] sorts.
fn sorted(expected: &str) -> String {
    let mut lines: Vec<&str> = expected.lines().collect();
    lines.sort_unstable();
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// `/metrics` after the known batch (`URL` is the receiver's).
const EXPECTED: &str = r#"# HELP kaudit_events Audit events decoded and evaluated.
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
kaudit_output_failures_total{output="URL"} 0
# HELP kaudit_output_dead_letters Alerts an output gave up on (dead-lettered).
# TYPE kaudit_output_dead_letters counter
kaudit_output_dead_letters_total{output="URL"} 0
# HELP kaudit_source_lag_seconds How far the source's last event is behind now.
# TYPE kaudit_source_lag_seconds gauge
# HELP kaudit_checkpoint_age_seconds Seconds since the last checkpoint commit (or the start).
# TYPE kaudit_checkpoint_age_seconds gauge
# HELP kaudit_source_api_calls Source backend API calls, by operation and outcome.
# TYPE kaudit_source_api_calls counter
kaudit_source_api_calls_total{operation="all",outcome="success"} 0
kaudit_source_api_calls_total{operation="all",outcome="error"} 0
# HELP kaudit_source_throttled Source API calls refused as throttling.
# TYPE kaudit_source_throttled counter
kaudit_source_throttled_total 0
# HELP kaudit_source_duplicates_dropped Events dropped as already read (overlap re-reads).
# TYPE kaudit_source_duplicates_dropped counter
kaudit_source_duplicates_dropped_total 0
# HELP kaudit_source_gaps Source gaps (intervals skipped on purpose).
# TYPE kaudit_source_gaps counter
kaudit_source_gaps_total 0
# EOF
"#;

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
    let service = start(&config);

    assert_eq!(
        http(service.metrics, "GET", "/healthz", ""),
        (200, "ok\n".to_owned())
    );
    assert_eq!(
        http(service.metrics, "GET", "/readyz", ""),
        (200, "ready\n".to_owned())
    );

    let lines: Vec<&str> = SAMPLE.lines().take(40).collect();
    let (status, _) = http(service.hook, "POST", "/k8s-audit", &event_list(&lines));
    assert_eq!(status, 200);

    let (_, text) = http(service.metrics, "GET", "/metrics", "");
    // 40 sample events raise 14 alerts.
    let expected = EXPECTED.replace("URL", &url);
    assert_eq!(stable_metrics(&text), sorted(&expected));

    // The output goes away: readiness names it, then recovers once it is back.
    rt.block_on(receiver.stop());
    let hook = service.hook;
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
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kaudit.yaml");
    std::fs::write(
        &config,
        "listen: 127.0.0.1:0\nmetrics_listne: 127.0.0.1:0\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kaudit"))
        .args(["watch", "webhook", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "kaudit: {}:2: metrics_listne: unknown key for watch webhook (did you mean `metrics_listen`?)\n",
            config.display()
        )
    );
    assert!(out.stdout.is_empty());
}
