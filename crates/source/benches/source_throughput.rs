//! Throughput of the source paths that run per event: a settled CloudWatch window of 10,000
//! events from three streams (filter, de-duplicate, sort, build records with lazy checkpoints),
//! serializing the checkpoint at the end of that window, and a 10,000-line JSON-lines file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "benchmark harness"
)]

use std::hint::black_box;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use kaudit_source::cloudwatch::{
    ClientError, Clock, CloudWatchConfig, CloudWatchSource, FilterRequest, LogEvent, LogsClient,
    Page, StartPosition,
};
use kaudit_source::{FileInput, FileSource, FileSourceConfig, Source};

const T0: i64 = 1_795_773_600_000;
const N: usize = 10_000;

#[derive(Debug)]
struct FixedClock(i64);

impl Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        self.0
    }
}

#[derive(Debug)]
struct OnePage(Vec<LogEvent>);

#[async_trait]
impl LogsClient for OnePage {
    async fn filter_log_events(&self, r: &FilterRequest) -> Result<Page, ClientError> {
        let events = self
            .0
            .iter()
            .filter(|e| e.timestamp_ms >= r.start_ms && e.timestamp_ms <= r.end_ms)
            .cloned()
            .collect();
        Ok(Page {
            events,
            next_token: None,
        })
    }

    async fn describe_first_stream(
        &self,
        _: &str,
        _: Option<&str>,
    ) -> Result<Option<String>, ClientError> {
        Ok(None)
    }
}

fn message(i: usize) -> String {
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{i:08x}-0000-4000-8000-000000000000","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods?limit=500","verb":"list","user":{{"username":"system:serviceaccount:kube-system:replicaset-controller","groups":["system:serviceaccounts","system:authenticated"]}},"sourceIPs":["10.0.1.23"],"userAgent":"kube-controller-manager/v1.31.0","objectRef":{{"resource":"pods","namespace":"default","apiVersion":"v1"}},"responseStatus":{{"code":200}},"requestReceivedTimestamp":"2026-11-27T10:00:00.000000Z","stageTimestamp":"2026-11-27T10:00:00.002000Z"}}"#
    )
}

fn events() -> Vec<LogEvent> {
    (0..N)
        .map(|i| LogEvent {
            stream: format!("kube-apiserver-audit-{}", i % 3),
            // Ten events per millisecond: many same-millisecond ties to sort.
            timestamp_ms: T0 + (i / 10) as i64,
            ingestion_time_ms: T0 + (i / 10) as i64 + 800,
            event_id: format!("{:056}", i),
            message: message(i),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let client: Arc<dyn LogsClient> = Arc::new(OnePage(events()));
    let mut cfg = CloudWatchConfig::new("/aws/eks/bench/cluster");
    cfg.start = StartPosition::At(T0);
    cfg.max_window = Duration::from_secs(3_600);
    cfg.max_calls_per_second = 5.0;
    let mut g = c.benchmark_group("source");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("cloudwatch_window_10k", |b| {
        b.iter(|| {
            let src = CloudWatchSource::with_client(
                cfg.clone(),
                "eu-west-1",
                client.clone(),
                Arc::new(FixedClock(T0 + 3_600_000)),
            );
            rt.block_on(async {
                let mut s = src.stream(None);
                let mut n = 0;
                while n < N {
                    black_box(s.next().await.unwrap().unwrap());
                    n += 1;
                }
            });
        });
    });
    // The checkpoint of the window's last record holds the keys of the whole overlap.
    let last = {
        let src = CloudWatchSource::with_client(
            cfg.clone(),
            "eu-west-1",
            client.clone(),
            Arc::new(FixedClock(T0 + 3_600_000)),
        );
        rt.block_on(async {
            let recs: Vec<_> = src.stream(None).take(N).collect().await;
            recs.last().unwrap().as_ref().unwrap().checkpoint.clone()
        })
    };
    g.bench_function("cloudwatch_checkpoint_serialize", |b| {
        b.iter(|| black_box(last.to_json()));
    });
    g.bench_function("file_jsonl_10k", |b| {
        let dir = std::env::temp_dir().join(format!("kaudit-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit.jsonl");
        let mut f = std::fs::File::create(&path).unwrap();
        for i in 0..N {
            writeln!(f, "{}", message(i)).unwrap();
        }
        drop(f);
        let src = FileSource::new(FileSourceConfig::new(FileInput::Path(path)));
        b.iter(|| {
            rt.block_on(async {
                let n = src
                    .stream(None)
                    .map(|r| black_box(r.unwrap()))
                    .count()
                    .await;
                assert_eq!(n, N);
            });
        });
        std::fs::remove_dir_all(&dir).unwrap();
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
