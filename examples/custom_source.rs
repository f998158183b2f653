//! Implement `Source` (events from a channel) and run it through the pipeline with checkpoints.
//!
//! The source reads `(sequence number, JSON line)` pairs from a tokio channel; its checkpoint
//! is the sequence number, and it resumes strictly after it (the `Source` contract). The
//! example runs twice against one checkpoint store: the second producer replays everything
//! and adds two events, as an at-least-once upstream would, and only the two new events are
//! evaluated, because the pipeline committed the first run's checkpoint once its alerts were
//! written.
//!
//! ```text
//! cargo run --example custom_source
//! ```
//!
//! Prints the alerts of each run (Falco's text lines on stdout), the events each run
//! evaluated and the committed checkpoint.

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use futures::stream::BoxStream;
use kaudit::Engine;
use kaudit::engine::alert::AlertFormat;
use kaudit::engine::output::Output;
use kaudit::engine::pipeline::{Notice, Pipeline};
use kaudit::source::{
    Bytes, Checkpoint, CheckpointStore, MemoryCheckpointStore, Record, RecordMeta, Source,
    SourceError, SourceIdentity,
};
use tokio::sync::mpsc;

/// Audit events as JSON lines, numbered by the producer.
#[derive(Debug)]
struct ChannelSource {
    identity: Arc<SourceIdentity>,
    name: Arc<str>,
    rx: Mutex<Option<mpsc::Receiver<(u64, String)>>>,
}

impl ChannelSource {
    fn new(rx: mpsc::Receiver<(u64, String)>) -> Self {
        ChannelSource {
            identity: Arc::new(SourceIdentity::new("channel").with("name", "example")),
            name: "channel:example".into(),
            rx: Mutex::new(Some(rx)),
        }
    }
}

impl Source for ChannelSource {
    fn identity(&self) -> &SourceIdentity {
        &self.identity
    }

    fn stream(
        &self,
        resume: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<Record, SourceError>> {
        // Resume strictly after the checkpoint's sequence number.
        let after = resume
            .and_then(|cp| cp.position().get("seq").and_then(serde_json::Value::as_u64))
            .unwrap_or(0);
        let rx = self.rx.lock().ok().and_then(|mut rx| rx.take());
        let Some(rx) = rx else {
            return futures::stream::empty().boxed();
        };
        let identity = self.identity.clone();
        let name = self.name.clone();
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) })
            .filter(move |(seq, _)| std::future::ready(*seq > after))
            .map(move |(seq, line)| {
                Ok(Record {
                    payload: Bytes::from(line),
                    checkpoint: Checkpoint::new(
                        identity.clone(),
                        serde_json::json!({ "seq": seq }),
                    ),
                    meta: RecordMeta {
                        source: name.clone(),
                        ..RecordMeta::default()
                    },
                })
            })
            .boxed()
    }
}

const SAMPLE: &str = include_str!("data/sample-audit.jsonl");

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::builder().builtin_rules().build()?;
    let store = MemoryCheckpointStore::default();
    let lines: Vec<&str> = SAMPLE.lines().filter(|l| !l.trim().is_empty()).collect();
    let first = lines.len().min(40);

    for (run, count) in [(1, first), (2, (first + 2).min(lines.len()))] {
        let (tx, rx) = mpsc::channel(16);
        let to_send: Vec<String> = lines[..count].iter().map(|l| (*l).to_owned()).collect();
        let producer = tokio::spawn(async move {
            for (i, line) in to_send.into_iter().enumerate() {
                if tx.send((i as u64 + 1, line)).await.is_err() {
                    break;
                }
            }
            // Dropping the sender ends the stream, so the run ends.
        });
        let source = ChannelSource::new(rx);
        let stdout =
            kaudit::output::WriterOutput::new("stdout", AlertFormat::Text, std::io::stdout());
        let outputs: Vec<&dyn Output> = vec![&stdout];
        let pipeline = Pipeline::new(&engine, outputs).checkpoints(&store);
        println!("run {run}: the producer sends events 1..={count}");
        let mut notice = |n: Notice<'_>| {
            if let Notice::BadEvent { error, .. } = n {
                eprintln!("skipped: {error}");
            }
        };
        let sources: [&dyn Source; 1] = [&source];
        let report = pipeline
            .run(
                &sources,
                std::future::pending(),
                std::future::pending(),
                &mut notice,
            )
            .await?;
        producer.await?;
        println!(
            "run {run}: {} events evaluated, {} alerts, committed checkpoint {}\n",
            report.stats.events,
            report.stats.alerts(),
            store
                .load(source.identity())?
                .map_or_else(|| "none".to_owned(), |cp| cp.position().to_string())
        );
    }
    Ok(())
}
