//! End-to-end tests against moto_server (PyPI `moto[server]` 5.x), a CloudWatch Logs emulator
//! started on 127.0.0.1 with a free port for each test and killed on drop. The SDK talks to it by
//! endpoint URL with static test credentials.
//!
//! moto must be importable by `$KAUDIT_MOTO_PYTHON` (default `python3`); `scripts/test.sh`
//! installs it. If it is missing the tests FAIL, they do not skip.
//!
//! moto ignores `logStreamNamePrefix` and does not interleave streams; the source filters
//! streams and sorts windows itself, so these tests do not depend on either.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test harness: a failure to start the emulator fails the test with a message"
)]

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use futures::StreamExt;
use kaudit_source::cloudwatch::{CloudWatchConfig, CloudWatchSource, StartPosition};
use kaudit_source::testing::MotoServer;
use kaudit_source::{
    CheckpointStore, ErrorClass, FileCheckpointStore, Record, Source, SourceError, SourceErrorKind,
};
use tokio::sync::Mutex;

/// Milliseconds since the Unix epoch, now (the emulator's clock is the wall clock).
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

const GROUP: &str = "/aws/eks/e2e/cluster";
const REGION: &str = "us-east-1";

/// The shared emulator harness plus this file's source options.
struct Moto {
    server: MotoServer,
    url: String,
}

impl Moto {
    fn start() -> Moto {
        let server = MotoServer::start().unwrap_or_else(|e| panic!("{e}"));
        let url = server.url();
        Moto { server, url }
    }

    async fn client(&self) -> Client {
        self.server.client(REGION).await
    }

    /// Source options for this emulator, with test-sized timings.
    fn config(&self, start: StartPosition) -> CloudWatchConfig {
        let mut c = CloudWatchConfig::new(GROUP);
        c.region = Some(REGION.into());
        c.endpoint_url = Some(self.url.clone());
        c.static_credentials = Some(("testing".into(), "testing".into()));
        c.start = start;
        c.settle_lag = Duration::from_millis(1_000);
        c.overlap = Duration::from_millis(2_500);
        c.poll_interval = Duration::from_millis(200);
        c.max_calls_per_second = 5.0;
        c.page_limit = Some(25);
        c
    }
}

async fn setup(client: &Client, streams: &[&str]) {
    client
        .create_log_group()
        .log_group_name(GROUP)
        .send()
        .await
        .unwrap();
    for s in streams {
        client
            .create_log_stream()
            .log_group_name(GROUP)
            .log_stream_name(*s)
            .send()
            .await
            .unwrap();
    }
}

/// Puts one event per `(timestamp, auditID)` into `stream` (sorted, as PutLogEvents wants).
async fn put(client: &Client, stream: &str, events: &[(i64, String)]) {
    let mut events = events.to_vec();
    events.sort();
    let mut req = client
        .put_log_events()
        .log_group_name(GROUP)
        .log_stream_name(stream);
    for (ts, id) in events {
        req = req.log_events(
            InputLogEvent::builder()
                .timestamp(ts)
                .message(format!(
                    r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"{id}","stage":"ResponseComplete","verb":"get"}}"#
                ))
                .build()
                .unwrap(),
        );
    }
    req.send().await.unwrap();
}

fn audit_id(r: &Record) -> String {
    let text = String::from_utf8_lossy(&r.payload);
    let at = text.find("\"auditID\":\"").unwrap() + 11;
    text[at..].split('"').next().unwrap().to_owned()
}

type Items = futures::stream::BoxStream<'static, Result<Record, SourceError>>;

async fn take(s: &mut Items, n: usize) -> Vec<Record> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(30), s.next()).await {
            Ok(Some(Ok(r))) => out.push(r),
            other => panic!(
                "after {} records: {:?}",
                out.len(),
                other.map(|o| o.map(|r| r.map(|r| r.payload)))
            ),
        }
    }
    out
}

async fn quiet(s: &mut Items, ms: u64) {
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(ms), s.next()).await {
        panic!("unexpected item: {:?}", item.map(|r| r.map(|r| r.payload)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_r11_self_test_and_r7_basic_delivery_filters_and_sorts_streams() {
    let moto = Moto::start();
    let client = moto.client().await;
    setup(
        &client,
        &[
            "kube-apiserver-audit-a",
            "kube-apiserver-audit-b",
            "authenticator-x",
        ],
    )
    .await;
    let t0 = now_ms() - 20_000;
    put(
        &client,
        "kube-apiserver-audit-a",
        &[(t0 + 10, "a1".into()), (t0 + 30, "a2".into())],
    )
    .await;
    put(
        &client,
        "kube-apiserver-audit-b",
        &[(t0 + 20, "b1".into()), (t0 + 30, "b2".into())],
    )
    .await;
    put(&client, "authenticator-x", &[(t0 + 15, "x1".into())]).await;

    let src = CloudWatchSource::connect(moto.config(StartPosition::At(t0)))
        .await
        .unwrap();
    assert_eq!(
        src.identity().to_string(),
        "cloudwatch(log_group=/aws/eks/e2e/cluster, region=us-east-1, stream_prefix=kube-apiserver-audit)"
    );
    let mut s = src.stream(None);
    let got = take(&mut s, 4).await;
    quiet(&mut s, 2_000).await;
    // Sorted by (timestamp, ingestion, stream, id) although moto returns stream a, then b;
    // the authenticator stream is filtered client-side although moto ignores the prefix.
    let ids: Vec<String> = got.iter().map(audit_id).collect();
    assert_eq!(ids, vec!["a1", "b1", "a2", "b2"]);
    let m = src.metrics();
    assert_eq!(m.events_emitted, 4);
    assert!(m.filtered_out >= 1, "{m:?}");
    assert!(
        m.api_calls >= 2,
        "self-test + at least one FilterLogEvents: {m:?}"
    );

    // The self-test turns a wrong log group into a terminal, actionable error.
    let mut wrong = moto.config(StartPosition::Now);
    wrong.log_group = "/aws/eks/nope/cluster".into();
    let err = CloudWatchSource::connect(wrong).await.unwrap_err();
    assert!(err.is_terminal());
    let SourceErrorKind::Api { class, message, .. } = err.kind() else {
        panic!("{err}");
    };
    assert_eq!(*class, ErrorClass::Config);
    assert!(
        message.starts_with("ResourceNotFoundException: ")
            && message.ends_with(
                "(check the log group name and the region; for EKS enable the `audit` control-plane log type)"
            ),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_r1_start_positions_now_and_lookback() {
    let moto = Moto::start();
    let client = moto.client().await;
    setup(&client, &["kube-apiserver-audit-a"]).await;
    let now = now_ms();
    put(
        &client,
        "kube-apiserver-audit-a",
        &[
            (now - 600_000, "old".into()),
            (now - 60_000, "recent".into()),
        ],
    )
    .await;

    // Lookback 2 min: the recent event, never the history.
    let src =
        CloudWatchSource::connect(moto.config(StartPosition::Lookback(Duration::from_secs(120))))
            .await
            .unwrap();
    let mut s = src.stream(None);
    assert_eq!(
        take(&mut s, 1)
            .await
            .iter()
            .map(audit_id)
            .collect::<Vec<_>>(),
        vec!["recent"]
    );
    quiet(&mut s, 1_500).await;
    drop(s);

    // Now: neither; only what is written afterwards.
    let src = CloudWatchSource::connect(moto.config(StartPosition::Now))
        .await
        .unwrap();
    let start = now_ms();
    let mut s = src.stream(None);
    quiet(&mut s, 1_500).await;
    put(
        &client,
        "kube-apiserver-audit-a",
        &[(now_ms(), "new".into())],
    )
    .await;
    assert_eq!(
        take(&mut s, 1)
            .await
            .iter()
            .map(audit_id)
            .collect::<Vec<_>>(),
        vec!["new"]
    );
    let effective = src.metrics().effective_start_ms;
    assert!(
        (start - 1_000..=start + 1_000).contains(&effective),
        "{effective} vs {start}"
    );
}

/// The restart test: a writer keeps putting events (two streams, same-millisecond pairs, and
/// late events whose timestamps fall into windows already read) while a reader commits each
/// record's checkpoint to a file after "delivering" it, is killed mid-stream, and a new reader
/// resumes from the stored checkpoint. Every event is delivered exactly once across both runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_restart_r4_r5_exactly_once_across_kill_while_events_keep_arriving() {
    let moto = Moto::start();
    let client = moto.client().await;
    setup(
        &client,
        &["kube-apiserver-audit-a", "kube-apiserver-audit-b"],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let store = FileCheckpointStore::new(dir.path().join("checkpoint.json"));

    let written = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let client = client.clone();
        let written = written.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let t = now_ms();
                // Two events in the same millisecond on stream a, one on stream b, and every
                // third round a late event on b, 1.5 s in the past (inside the overlap).
                let a = vec![(t, format!("a-{n}-0")), (t, format!("a-{n}-1"))];
                let mut b = vec![(t, format!("b-{n}"))];
                if n % 3 == 0 {
                    b.push((t - 1_500, format!("late-{n}")));
                }
                put(&client, "kube-apiserver-audit-a", &a).await;
                put(&client, "kube-apiserver-audit-b", &b).await;
                written
                    .lock()
                    .await
                    .extend(a.into_iter().chain(b).map(|(_, id)| id));
                n += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let mut delivered: Vec<String> = Vec::new();
    // Run 1: deliver ~40 records, committing after each, then die mid-stream.
    let src =
        CloudWatchSource::connect(moto.config(StartPosition::Lookback(Duration::from_secs(30))))
            .await
            .unwrap();
    let mut s = src.stream(None);
    for r in take(&mut s, 40).await {
        delivered.push(audit_id(&r));
        store.save(&r.checkpoint).unwrap();
    }
    drop(s);
    drop(src);
    // Down for a while; the writer goes on.
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    // Run 2: resume from the stored checkpoint.
    let src = CloudWatchSource::connect(moto.config(StartPosition::Checkpoint))
        .await
        .unwrap();
    let cp = store
        .load(src.identity())
        .unwrap()
        .expect("a stored checkpoint");
    let mut s = src.stream(Some(cp));
    for r in take(&mut s, 40).await {
        delivered.push(audit_id(&r));
        store.save(&r.checkpoint).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    let written: Vec<String> = written.lock().await.clone();
    // Drain everything written before the writer stopped.
    let missing = written
        .len()
        .checked_sub(delivered.len())
        .unwrap_or_else(|| panic!("more delivered than written: {delivered:?}"));
    for r in take(&mut s, missing).await {
        delivered.push(audit_id(&r));
    }
    quiet(&mut s, 4_000).await;

    let unique: HashSet<&String> = delivered.iter().collect();
    assert_eq!(
        unique.len(),
        delivered.len(),
        "duplicates downstream: {delivered:?}"
    );
    let want: HashSet<&String> = written.iter().collect();
    assert_eq!(unique, want);
    assert!(written.iter().any(|w| w.starts_with("late-")));
    assert_eq!(src.metrics().gaps, 0);
}
