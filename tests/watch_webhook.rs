//! `kaudit watch webhook` end to end: the binary listens on 127.0.0.1, real HTTP requests post
//! `EventList` and `Event` bodies, and a falcosidekick receiver (`kaudit_output::testing`) gets
//! exactly the alerts `kaudit scan` gives for the same events, in order. Each request is
//! answered 200 only once the receiver has accepted its alerts (even while the receiver refuses
//! at first); refusals (401, 405, 400) leave the server serving; without authentication it
//! warns, and refuses a non-loopback address; SIGTERM stops accepting, delivers and answers the
//! requests already accepted, and exits cleanly.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test harness: a failure to start a receiver or the child fails the test with a message"
)]

mod common;

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::SAMPLE;
use kaudit_output::testing::{Behaviour, Receiver};
use serde_json::Value;

fn event_list(lines: &[&str]) -> String {
    format!(
        r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{{}},"items":[{}]}}"#,
        lines.join(",")
    )
}

/// `kaudit scan --format json --hostname e2e -q` over `lines`, as JSON values.
fn scan_alerts(lines: &[&str], dir: &Path) -> Vec<Value> {
    let path = dir.join("scan.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kaudit"))
        .args(["scan", "--format", "json", "--hostname", "e2e", "-q"])
        .arg(&path)
        .env_remove("FALCO_HOSTNAME")
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
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A fresh directory for one test's files.
fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kaudit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running `kaudit watch webhook`.
struct Hook {
    child: Child,
    errors: mpsc::Receiver<String>,
    /// Stderr lines up to and including the `listening on` line.
    banner: Vec<String>,
    addr: SocketAddr,
}

impl Drop for Hook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Hook {
    fn start(extra: &[&str]) -> Hook {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kaudit"))
            .args([
                "watch",
                "webhook",
                "--listen",
                "127.0.0.1:0",
                "--format",
                "json",
                "--hostname",
                "e2e",
            ])
            .args(extra)
            .env_remove("FALCO_HOSTNAME")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let errors = common::forward_lines(child.stderr.take().unwrap(), true);
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut banner = Vec::new();
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = errors
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("no `listening on` line ({e}): {banner:?}"));
            banner.push(line.clone());
            if let Some(rest) = line.strip_prefix("kaudit: listening on http://") {
                let addr = rest.split('/').next().unwrap();
                break addr.parse().unwrap();
            }
        };
        // The warning, when there is one, comes right after.
        if let Ok(line) = errors.recv_timeout(Duration::from_millis(300)) {
            banner.push(line);
        }
        Hook {
            child,
            errors,
            banner,
            addr,
        }
    }

    /// Sends SIGTERM (once: a second one aborts).
    fn sigterm(&self) {
        common::sigterm(&self.child);
    }

    /// SIGTERM; waits for a clean exit and returns the rest of stderr.
    fn terminate(&mut self) -> Vec<String> {
        self.sigterm();
        self.wait_exit()
    }

    /// Waits for a clean exit (30 s at most) and returns the rest of stderr.
    fn wait_exit(&mut self) -> Vec<String> {
        common::wait_clean_exit(&mut self.child, "watch webhook");
        let mut rest = Vec::new();
        while let Ok(line) = self.errors.recv_timeout(Duration::from_secs(5)) {
            rest.push(line);
        }
        rest
    }
}

/// One `Connection: close` exchange with the webhook path; returns the status and the body.
fn http(addr: SocketAddr, method: &str, headers: &[&str], body: &str) -> (u16, String) {
    common::http_with_headers(addr, method, "/k8s-audit", headers, body)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn batches_alert_like_scan_and_are_answered_only_after_the_receiver_accepted() {
    let dir = temp_dir("webhook-like-scan");
    let rt = runtime();
    // The receiver refuses the first alerts: the first answer must wait for the retries.
    let receiver = rt
        .block_on(Receiver::start(Behaviour::RefuseFirst {
            count: 3,
            retry_after: None,
        }))
        .unwrap();
    let token = dir.join("token");
    std::fs::write(&token, "e2e-token\n").unwrap();
    let mut hook = Hook::start(&[
        "--output",
        &receiver.url(),
        "--token-file",
        token.to_str().unwrap(),
    ]);
    assert!(
        hook.banner
            .iter()
            .any(|l| l.ends_with("(authentication: bearer token)")),
        "{:?}",
        hook.banner
    );
    assert!(!hook.banner.iter().any(|l| l.contains("unauthenticated")));
    let auth = "Authorization: Bearer e2e-token";

    let lines: Vec<&str> = SAMPLE.lines().collect();
    // Three EventList batches, then the rest one Event per request.
    let mut bodies: Vec<(String, Vec<&str>)> = lines[..300]
        .chunks(100)
        .map(|c| (event_list(c), c.to_vec()))
        .collect();
    bodies.extend(lines[300..340].iter().map(|l| ((*l).to_owned(), vec![*l])));
    let mut expected = Vec::new();
    for (i, (body, events)) in bodies.iter().enumerate() {
        expected.extend(scan_alerts(events, &dir));
        let (status, text) = http(hook.addr, "POST", &[auth], body);
        assert_eq!(status, 200, "request {i}: {text}");
        // Answered only once the receiver holds every alert so far.
        assert_eq!(
            receiver.accepted(),
            expected,
            "request {i} was answered before its alerts were accepted"
        );
        if i == 1 {
            // Refusals in between do not stop the server.
            assert_eq!(http(hook.addr, "POST", &[], body).0, 401);
            assert_eq!(http(hook.addr, "GET", &[auth], "").0, 405);
            let (status, text) = http(hook.addr, "POST", &[auth], "{\"kind\":");
            assert_eq!(status, 400);
            assert_eq!(
                text,
                "invalid JSON: EOF while parsing a value at line 1 column 8\n"
            );
        }
    }
    assert!(expected.len() > 10, "the sample alerts: {expected:?}");
    // The same events scanned at once give the same alerts.
    assert_eq!(expected, scan_alerts(&lines[..340], &dir));
    let refused = receiver
        .requests()
        .iter()
        .filter(|r| r.status == Some(503))
        .count();
    assert_eq!(refused, 3);
    let rest = hook.terminate();
    let summary = format!(
        "Events read: 340, bad events skipped: 0, alerts: {},",
        expected.len()
    );
    assert!(rest.iter().any(|l| l.starts_with(&summary)), "{rest:?}");
}

#[test]
fn sigterm_stops_accepting_and_answers_the_requests_it_accepted() {
    let dir = temp_dir("webhook-drain");
    let rt = runtime();
    let receiver = rt
        .block_on(Receiver::start(Behaviour::Stall {
            delay: Duration::from_millis(400),
        }))
        .unwrap();
    let mut hook = Hook::start(&["--output", &receiver.url()]);
    assert!(
        hook.banner.iter().any(|l| l.starts_with(
            "kaudit: warning: the webhook is unauthenticated: anyone who can reach http://127.0.0.1:"
        )),
        "{:?}",
        hook.banner
    );
    let lines: Vec<&str> = SAMPLE.lines().take(20).collect();
    let expected = scan_alerts(&lines, &dir);
    assert!(expected.len() >= 3);
    let addr = hook.addr;
    let body = event_list(&lines);
    let answer = std::thread::spawn(move || http(addr, "POST", &[], &body));
    // The batch is being delivered (slowly) when the signal comes.
    assert!(rt.block_on(receiver.wait_for_requests(1, Duration::from_secs(20))));
    hook.sigterm();
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        TcpStream::connect(addr).is_err(),
        "new connections are refused after SIGTERM"
    );
    let (status, text) = answer.join().unwrap();
    assert_eq!(status, 200, "{text}");
    assert_eq!(receiver.accepted(), expected);
    let rest = hook.wait_exit();
    assert!(
        rest.iter().any(|l| l.starts_with("Events read: 20,")),
        "{rest:?}"
    );
}

#[test]
fn without_authentication_a_non_loopback_address_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_kaudit"))
        .args(["watch", "webhook", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "kaudit: cannot start the webhook: refusing to listen on 0.0.0.0:0 without authentication: give --token-file and/or --tls-cert/--tls-key with --client-ca, listen on a loopback address, or pass --insecure\n"
    );
}
