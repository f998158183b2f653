//! The `kaudit` binary as a process, where the behaviour depends on the process around it: a
//! closed stdout (`kaudit scan … | head -1`) ends quietly with exit 0, and AWS failures are one
//! readable line naming the likely cause (a refused connection, an undefined `--profile`).

#![allow(
    clippy::unwrap_used,
    reason = "test harness: a failure to set up or run the child fails the test"
)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KAUDIT: &str = env!("CARGO_BIN_EXE_kaudit");
const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/data/sample-audit.jsonl"
);

/// Waits for `child` up to `limit`; kills it and fails the test when it is still running.
fn wait(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kaudit still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_closed_stdout_ends_quietly_with_exit_0() {
    // 40 copies of the sample: 16,000 events and 4,000 alerts, far more than a pipe buffers.
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.jsonl");
    let sample = std::fs::read(SAMPLE).unwrap();
    std::fs::write(&big, sample.repeat(40)).unwrap();
    let mut child = Command::new(KAUDIT)
        .args(["scan", big.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.contains(": Notice "), "{first}");
    drop(stdout); // `head -1` exits
    let status = wait(&mut child, Duration::from_secs(60));
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    // No retries, no delivery report, no error: only the summary.
    assert!(!err.contains("kaudit:"), "{err}");
    assert!(err.starts_with("Events read: "), "{err}");
}

/// `watch cloudwatch` with credentials from the environment and nothing else from it.
fn watch(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "").unwrap();
    let mut cmd = Command::new(KAUDIT);
    cmd.args(["watch", "cloudwatch", "--log-group", "/aws/eks/c/cluster"])
        .args(args)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_CONFIG_FILE", &empty)
        .env("AWS_SHARED_CREDENTIALS_FILE", &empty)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let status = wait(&mut child, Duration::from_secs(60));
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code(), err)
}

#[test]
fn a_refused_connection_is_one_readable_line() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let (code, err) = watch(
        &["--region", "us-east-1", "--endpoint-url", &url],
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDTEST"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("kaudit: cannot connect to CloudWatch Logs: cloudwatch:/aws/eks/c/cluster: DescribeLogStreams (start-up self-test) failed (transient): io: connection refused: check --endpoint-url and that the endpoint is reachable ("),
        "{err}"
    );
    assert!(!err.contains("DispatchFailure"), "{err}");
    assert!(!err.contains("ConnectorError"), "{err}");
}

#[test]
fn an_undefined_profile_is_named() {
    let (code, err) = watch(&["--region", "us-east-1", "--profile", "nosuch"], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("the AWS profile `nosuch` is not defined in "),
        "{err}"
    );
}

#[test]
fn missing_credentials_say_where_credentials_come_from() {
    let (code, err) = watch(
        &[
            "--region",
            "us-east-1",
            "--endpoint-url",
            "http://127.0.0.1:9",
        ],
        &[],
    );
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("failed (credentials): dispatch: no AWS credentials were found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run with IRSA / EKS Pod Identity / an instance role ("),
        "{err}"
    );
    assert!(!err.contains("DispatchFailure"), "{err}");
}
