//! `PipelineOptions::commit_when_settled`: with a source that stays open and a long commit
//! interval, the checkpoint of the last record is committed as soon as its alerts are
//! delivered (what the webhook source needs to answer its client), and not before then;
//! without the option it waits for the interval (here: for the stop).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test harness: a failed set-up fails the test"
)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::BoxStream;
use kaudit_engine::alert::{Alert, AlertFormat, AlertRenderer};
use kaudit_engine::output::{Attempt, Output};
use kaudit_engine::pipeline::{Notice, Pipeline, PipelineOptions};
use kaudit_engine::ruleset::{Rule, RuleSet, Selection};
use kaudit_engine::run::Engine;
use kaudit_event::{DecodeOptions, K8sAuditSchema};
use kaudit_rules::{LoadOptions, RuleFile, load};
use kaudit_source::testing::ReplaySource;
use kaudit_source::{
    Checkpoint, CheckpointError, CheckpointStore, Record, Source, SourceError, SourceIdentity,
};

const DEFAULT_RULES: &str = include_str!("../rules/default.yaml");
const SAMPLE: &str = include_str!("../../../examples/data/sample-audit.jsonl");

fn engine() -> Engine {
    let schema = K8sAuditSchema::new();
    let result = load(
        &[RuleFile::new("default.yaml", DEFAULT_RULES)],
        &schema,
        &LoadOptions::k8s_audit(),
    );
    let rules: Vec<Rule<_>> = result.rules.into_iter().map(Rule::from).collect();
    Engine {
        rules: RuleSet::new(rules, &schema, &Selection::default()),
        renderer: AlertRenderer {
            format: AlertFormat::Text,
            ..AlertRenderer::default()
        },
        decode: DecodeOptions::default(),
        compat: kaudit_event::Compat::Correct,
    }
}

/// The sample, then nothing for ever (a live source with nothing more to say).
#[derive(Debug)]
struct OpenSource(ReplaySource);

impl Source for OpenSource {
    fn identity(&self) -> &SourceIdentity {
        self.0.identity()
    }

    fn stream(
        &self,
        resume: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<Record, SourceError>> {
        self.0
            .stream(resume)
            .chain(futures::stream::pending())
            .boxed()
    }
}

/// Accepts every alert after a short delay, remembering when the last one was accepted.
#[derive(Debug, Default)]
struct SlowOutput {
    delivered: Mutex<(usize, Option<Instant>)>,
}

#[async_trait::async_trait]
impl Output for SlowOutput {
    fn name(&self) -> &str {
        "slow"
    }

    async fn send(&self, batch: &[Arc<Alert>]) -> Vec<Attempt> {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut d = self.delivered.lock().unwrap();
        d.0 += batch.len();
        d.1 = Some(Instant::now());
        vec![Attempt::Delivered; batch.len()]
    }
}

/// Remembers every save with its instant.
#[derive(Debug, Default)]
struct Saves(Mutex<Vec<(u64, Instant)>>);

impl Saves {
    fn last_next(&self) -> Option<u64> {
        self.0.lock().unwrap().last().map(|(n, _)| *n)
    }
}

impl CheckpointStore for Saves {
    fn load(&self, _: &SourceIdentity) -> Result<Option<Checkpoint>, CheckpointError> {
        Ok(None)
    }

    fn save(&self, cp: &Checkpoint) -> Result<(), CheckpointError> {
        let next = cp.position()["next"].as_u64().unwrap();
        self.0.lock().unwrap().push((next, Instant::now()));
        Ok(())
    }
}

/// Runs the sample through an open source; stops once the last record is committed or after
/// `patience`. Returns whether the last record was committed before the stop, and the output.
fn run(commit_when_settled: bool, patience: Duration) -> (bool, Saves, SlowOutput) {
    let engine = engine();
    let records = SAMPLE.lines().count() as u64;
    let source = OpenSource(ReplaySource::new(
        "open",
        SAMPLE.lines().map(str::to_owned).collect::<Vec<String>>(),
    ));
    let output = SlowOutput::default();
    let saves = Saves::default();
    let options = PipelineOptions {
        commit_interval: Duration::from_secs(3600),
        commit_when_settled,
        ..PipelineOptions::default()
    };
    let pipeline = Pipeline::new(&engine, vec![&output])
        .checkpoints(&saves)
        .options(options);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let committed_before_stop = Mutex::new(false);
    let stop = async {
        let started = Instant::now();
        while started.elapsed() < patience {
            if saves.last_next() == Some(records) {
                *committed_before_stop.lock().unwrap() = true;
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let mut notice = |_: Notice<'_>| {};
    let report = runtime
        .block_on(pipeline.run(&[&source], stop, std::future::pending(), &mut notice))
        .unwrap();
    assert!(report.all_delivered());
    let before = *committed_before_stop.lock().unwrap();
    (before, saves, output)
}

#[test]
fn the_last_checkpoint_is_committed_as_soon_as_its_alerts_are_delivered() {
    let (before_stop, saves, output) = run(true, Duration::from_secs(20));
    assert!(
        before_stop,
        "the last record was not committed while the source stayed open"
    );
    let (alerts, last_delivery) = *output.delivered.lock().unwrap();
    assert!(alerts > 10);
    let saves = saves.0.lock().unwrap();
    let (_, committed_at) = *saves.last().unwrap();
    let lag = committed_at.duration_since(last_delivery.unwrap());
    assert!(
        lag < Duration::from_millis(500),
        "committed {lag:?} after the last delivery"
    );
}

#[test]
fn without_the_option_the_commit_waits_for_the_interval() {
    let (before_stop, saves, _) = run(false, Duration::from_millis(1500));
    assert!(!before_stop, "committed the last record without waiting");
    // The stop commits it.
    assert_eq!(saves.last_next(), Some(SAMPLE.lines().count() as u64));
}
