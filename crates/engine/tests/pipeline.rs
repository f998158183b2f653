//! The pipeline over a `ReplaySource` of the bundled sample with the built-in rules: alerts are
//! acknowledged before their checkpoint is committed, a restart resumes strictly after it, an
//! output that fails and recovers gets every alert once and in order, refused alerts are
//! dead-lettered (or failed), an output that stays down never lets the checkpoint pass its first
//! undelivered alert, and a record holding an `EventList` alerts on each of its events.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test harness: a failed set-up fails the test"
)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kaudit_engine::alert::{Alert, AlertFormat, AlertRenderer};
use kaudit_engine::output::{Attempt, DeadLetterSink, Output, OutputError};
use kaudit_engine::pipeline::{Notice, Pipeline, PipelineOptions, RetryPolicy, RunReport};
use kaudit_engine::ruleset::{Rule, RuleSet, Selection};
use kaudit_engine::run::Engine;
use kaudit_event::{DecodeOptions, K8sAuditSchema};
use kaudit_rules::{LoadOptions, RuleFile, load};
use kaudit_source::SourceIdentity;
use kaudit_source::testing::ReplaySource;
use kaudit_source::{Checkpoint, CheckpointError, CheckpointStore, MemoryCheckpointStore, Source};

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

/// What an output does on each attempt.
#[derive(Clone, Copy, Debug)]
enum Mode {
    Accept,
    /// The first `n` attempts fail with a retryable error, then it accepts.
    FailFirst(usize),
    /// Every attempt fails with a retryable error.
    Down,
    /// Every alert is refused for good.
    Reject,
}

#[derive(Debug)]
struct TestOutput {
    mode: Mutex<Mode>,
    attempts: AtomicUsize,
    delivered: Mutex<Vec<String>>,
}

impl TestOutput {
    fn new(mode: Mode) -> TestOutput {
        TestOutput {
            mode: Mutex::new(mode),
            attempts: AtomicUsize::new(0),
            delivered: Mutex::new(Vec::new()),
        }
    }

    fn delivered(&self) -> Vec<String> {
        self.delivered.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl Output for TestOutput {
    fn name(&self) -> &str {
        "test"
    }

    async fn send(&self, batch: &[Arc<Alert>]) -> Vec<Attempt> {
        let mode = *self.mode.lock().unwrap();
        let mut failed = false;
        batch
            .iter()
            .map(|a| {
                // Like a real one-by-one output: nothing after the first failure is tried.
                if failed {
                    return Attempt::NotAttempted;
                }
                let n = self.attempts.fetch_add(1, Ordering::SeqCst);
                let ok = match mode {
                    Mode::Accept => true,
                    Mode::FailFirst(k) => n >= k,
                    Mode::Down => false,
                    Mode::Reject => return Attempt::rejected("HTTP 400"),
                };
                if ok {
                    self.delivered.lock().unwrap().push(a.output.clone());
                    Attempt::Delivered
                } else {
                    failed = true;
                    Attempt::retry("connection refused")
                }
            })
            .collect()
    }
}

#[derive(Debug, Default)]
struct TestDeadLetters(Mutex<Vec<(String, String)>>);

#[async_trait::async_trait]
impl DeadLetterSink for TestDeadLetters {
    async fn write(
        &self,
        alert: &Alert,
        _output: &str,
        reason: &str,
        _attempts: u32,
    ) -> Result<(), OutputError> {
        self.0
            .lock()
            .unwrap()
            .push((alert.rule.clone(), reason.to_owned()));
        Ok(())
    }
}

/// A store that checks, at every save, that the output already holds every alert of the
/// records the checkpoint covers (ReplaySource's checkpoint is the index of the next record).
#[derive(Debug)]
struct CheckingStore<'a> {
    inner: MemoryCheckpointStore,
    output: &'a TestOutput,
    /// Alerts per record of an uninterrupted run.
    per_record: Vec<usize>,
    saves: AtomicUsize,
}

impl CheckpointStore for CheckingStore<'_> {
    fn load(&self, identity: &SourceIdentity) -> Result<Option<Checkpoint>, CheckpointError> {
        self.inner.load(identity)
    }

    fn save(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        let next = usize::try_from(next_index(checkpoint)).unwrap();
        let covered: usize = self.per_record[..next].iter().sum();
        let delivered = self.output.delivered().len();
        assert!(
            delivered >= covered,
            "checkpoint before record {next} committed with {delivered} of {covered} alerts delivered"
        );
        self.saves.fetch_add(1, Ordering::SeqCst);
        self.inner.save(checkpoint)
    }
}

fn next_index(cp: &Checkpoint) -> u64 {
    let pos = cp.position();
    pos.get("next")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or_else(|| panic!("unexpected ReplaySource checkpoint {pos}"))
}

fn fast(retry: RetryPolicy) -> PipelineOptions {
    PipelineOptions {
        retry: RetryPolicy {
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            ..retry
        },
        commit_interval: Duration::from_millis(20),
        drain_timeout: Some(Duration::from_millis(300)),
        ..PipelineOptions::default()
    }
}

fn run_with(
    pipeline: &Pipeline<'_>,
    source: &dyn Source,
    stop: impl std::future::Future<Output = ()>,
) -> (RunReport, Vec<String>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut bad = Vec::new();
    let mut notice = |n: Notice<'_>| {
        if let Notice::BadEvent { error, .. } = n {
            bad.push(error.to_string());
        }
    };
    let report = runtime
        .block_on(pipeline.run(&[source], stop, std::future::pending(), &mut notice))
        .unwrap();
    (report, bad)
}

fn sample_source(extra_bad_at: Option<usize>) -> ReplaySource {
    let mut payloads: Vec<String> = SAMPLE.lines().map(str::to_owned).collect();
    if let Some(i) = extra_bad_at {
        payloads.insert(i, "not json".to_owned());
    }
    ReplaySource::new("replay", payloads)
}

/// Alerts per record of the sample, from one run of the engine over each record alone.
fn alerts_per_record(engine: &Engine, extra_bad_at: Option<usize>) -> Vec<usize> {
    let all: Vec<String> = SAMPLE.lines().map(str::to_owned).collect();
    let mut counts = Vec::new();
    let mut stats = engine.new_stats();
    let mut matches = Vec::new();
    let mut payloads = all.clone();
    if let Some(i) = extra_bad_at {
        payloads.insert(i, "not json".to_owned());
    }
    for p in &payloads {
        let mut alerts = Vec::new();
        if let Ok(ev) = kaudit_event::decode_event(p, &engine.decode) {
            engine.alerts(&ev, &mut matches, &mut stats, &mut alerts);
        }
        counts.push(alerts.len());
    }
    counts
}

#[test]
fn alerts_are_acknowledged_before_their_checkpoint_and_a_restart_resumes_after_it() {
    let engine = engine();
    let source = sample_source(Some(10));
    let output = TestOutput::new(Mode::Accept);
    let store = CheckingStore {
        inner: MemoryCheckpointStore::new(),
        output: &output,
        per_record: alerts_per_record(&engine, Some(10)),
        saves: AtomicUsize::new(0),
    };
    let pipeline = Pipeline::new(&engine, vec![&output])
        .checkpoints(&store)
        .options(fast(RetryPolicy::watch()));
    let (report, bad) = run_with(&pipeline, &source, std::future::pending());
    assert_eq!(report.stats.events, 400);
    assert_eq!(report.stats.bad_events, 1);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(report.stats.alerts(), 100);
    assert_eq!(output.delivered().len(), 100);
    assert_eq!(report.delivery[0].delivered, 100);
    assert!(report.all_delivered());
    assert!(store.saves.load(Ordering::SeqCst) >= 1);
    assert_eq!(
        next_index(&store.load(source.identity()).unwrap().unwrap()),
        401
    );

    // A restart from the saved checkpoint reads nothing more.
    let again = TestOutput::new(Mode::Accept);
    let pipeline = Pipeline::new(&engine, vec![&again]).checkpoints(&store);
    let (report, _) = run_with(&pipeline, &source, std::future::pending());
    assert_eq!(report.stats.events, 0);
    assert!(again.delivered().is_empty());
}

#[test]
fn stop_commits_after_the_last_record_read_and_a_restart_delivers_the_rest_once() {
    let engine = engine();
    let source = sample_source(None);
    let store = MemoryCheckpointStore::new();
    let first = TestOutput::new(Mode::Accept);
    let pipeline = Pipeline::new(&engine, vec![&first])
        .checkpoints(&store)
        .options(fast(RetryPolicy::watch()));
    // A stop that has already happened ends the run after the first record.
    let (r1, _) = run_with(&pipeline, &source, std::future::ready(()));
    assert_eq!(r1.stats.events, 1);
    assert!(r1.interrupted);

    let rest = TestOutput::new(Mode::Accept);
    let pipeline = Pipeline::new(&engine, vec![&rest])
        .checkpoints(&store)
        .options(fast(RetryPolicy::watch()));
    let (r2, _) = run_with(&pipeline, &source, std::future::pending());
    assert_eq!(r1.stats.events + r2.stats.events, 400);

    let whole = TestOutput::new(Mode::Accept);
    let pipeline = Pipeline::new(&engine, vec![&whole]);
    run_with(&pipeline, &source, std::future::pending());
    let mut both = first.delivered();
    both.extend(rest.delivered());
    assert_eq!(both, whole.delivered());
}

#[test]
fn an_output_that_fails_then_recovers_gets_every_alert_once_and_in_order() {
    let engine = engine();
    let source = sample_source(None);
    let reference = TestOutput::new(Mode::Accept);
    run_with(
        &Pipeline::new(&engine, vec![&reference]),
        &source,
        std::future::pending(),
    );

    let flaky = TestOutput::new(Mode::FailFirst(4));
    let steady = TestOutput::new(Mode::Accept);
    let pipeline = Pipeline::new(&engine, vec![&flaky, &steady]).options(fast(RetryPolicy::scan()));
    let (report, _) = run_with(&pipeline, &source, std::future::pending());
    assert_eq!(flaky.delivered(), reference.delivered());
    assert_eq!(steady.delivered(), reference.delivered());
    assert_eq!(report.delivery[0].delivered, 100);
    assert_eq!(
        report.delivery[0].failed_attempts, 4,
        "under scan's budget of 5"
    );
    assert_eq!(report.delivery[1].failed_attempts, 0);
    assert!(report.all_delivered());
}

#[test]
fn refused_alerts_are_dead_lettered_and_then_count_as_acknowledged() {
    let engine = engine();
    let source = sample_source(None);
    let output = TestOutput::new(Mode::Reject);
    let dead = TestDeadLetters::default();
    let store = MemoryCheckpointStore::new();
    let pipeline = Pipeline::new(&engine, vec![&output])
        .dead_letters(&dead)
        .checkpoints(&store)
        .options(fast(RetryPolicy::watch()));
    let (report, _) = run_with(&pipeline, &source, std::future::pending());
    assert_eq!(report.delivery[0].delivered, 0);
    assert_eq!(report.delivery[0].dead_lettered, 100);
    assert_eq!(dead.0.lock().unwrap().len(), 100);
    assert!(dead.0.lock().unwrap().iter().all(|(_, r)| r == "HTTP 400"));
    assert!(!report.all_delivered());
    // No retry for a permanent refusal: one attempt per alert.
    assert_eq!(output.attempts.load(Ordering::SeqCst), 100);
    assert_eq!(
        next_index(&store.load(source.identity()).unwrap().unwrap()),
        400
    );
}

#[test]
fn without_dead_letters_scan_fails_refused_alerts_and_never_commits_past_them() {
    let engine = engine();
    let source = sample_source(None);
    let output = TestOutput::new(Mode::Reject);
    let store = MemoryCheckpointStore::new();
    let pipeline = Pipeline::new(&engine, vec![&output])
        .checkpoints(&store)
        .options(fast(RetryPolicy::scan()));
    let (report, _) = run_with(&pipeline, &source, std::future::pending());
    assert_eq!(report.delivery[0].failed, 100);
    assert!(!report.all_delivered());
    let first_alert = alerts_per_record(&engine, None)
        .iter()
        .position(|&n| n > 0)
        .unwrap();
    let committed = store
        .load(source.identity())
        .unwrap()
        .map(|c| next_index(&c));
    assert!(
        committed.is_none_or(|n| n <= u64::try_from(first_alert).unwrap()),
        "committed {committed:?} past the first refused alert (record {first_alert})"
    );
}

#[test]
fn an_output_that_stays_down_holds_the_checkpoint_and_a_restart_delivers_everything_once() {
    let engine = engine();
    let source = sample_source(None);
    let store = MemoryCheckpointStore::new();
    let down = TestOutput::new(Mode::Down);
    let pipeline = Pipeline::new(&engine, vec![&down])
        .checkpoints(&store)
        .options(fast(RetryPolicy::watch()));
    // Stop once everything is read (the output is still failing); the drain times out.
    let stop = async { tokio::time::sleep(Duration::from_millis(200)).await };
    let (report, _) = run_with(&pipeline, &source, stop);
    assert!(report.interrupted);
    assert!(report.undelivered > 0);
    assert!(down.delivered().is_empty());
    let first_alert = alerts_per_record(&engine, None)
        .iter()
        .position(|&n| n > 0)
        .unwrap();
    let committed = store
        .load(source.identity())
        .unwrap()
        .map(|c| next_index(&c));
    assert!(committed.is_none_or(|n| n <= u64::try_from(first_alert).unwrap()));

    // The receiver is back: the restart delivers every alert, each exactly once.
    let up = TestOutput::new(Mode::Accept);
    let pipeline = Pipeline::new(&engine, vec![&up])
        .checkpoints(&store)
        .options(fast(RetryPolicy::watch()));
    let (report, _) = run_with(&pipeline, &source, std::future::pending());
    assert_eq!(up.delivered().len(), 100);
    assert!(report.all_delivered());
}

#[test]
fn a_record_holding_an_event_list_alerts_on_each_event() {
    let engine = engine();
    let lines: Vec<&str> = SAMPLE.lines().collect();
    let reference = TestOutput::new(Mode::Accept);
    run_with(
        &Pipeline::new(&engine, vec![&reference]),
        &ReplaySource::new(
            "r",
            lines
                .iter()
                .map(|l| (*l).to_owned())
                .collect::<Vec<String>>(),
        ),
        std::future::pending(),
    );
    let list = format!(
        r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{{}},"items":[{}]}}"#,
        lines.join(",")
    );
    let output = TestOutput::new(Mode::Accept);
    let (report, _) = run_with(
        &Pipeline::new(&engine, vec![&output]),
        &ReplaySource::new("list", vec![list]),
        std::future::pending(),
    );
    assert_eq!(report.stats.events, 400);
    assert_eq!(output.delivered(), reference.delivered());
}

/// Generated events with bad lines mixed in: more records than one parallel batch holds.
fn generated_payloads(events: usize) -> Vec<String> {
    let sample = kaudit_event::sample::generate(kaudit_event::sample::SAMPLE_SEED, events);
    let mut payloads = Vec::new();
    for (i, line) in sample.lines().enumerate() {
        payloads.push(line.to_owned());
        match i % 397 {
            5 => payloads.push("not json".to_owned()),
            77 => payloads.push(line[..line.len() / 2].to_owned()),
            201 => payloads.push(r#"{"kind":"Pod","apiVersion":"v1"}"#.to_owned()),
            _ => {}
        }
    }
    payloads
}

/// Alerts per payload, from the engine over each payload alone.
fn alerts_per_payload(engine: &Engine, payloads: &[String]) -> Vec<usize> {
    payloads
        .iter()
        .map(|p| engine.evaluate(p.as_bytes()).alerts.len())
        .collect()
}

/// Everything a run tells and delivers, to compare runs with different thread counts.
#[derive(Debug, PartialEq)]
struct Trace {
    delivered: Vec<String>,
    /// Bad events (position and reason) and evaluated records (events, alerts), in order.
    notices: Vec<String>,
    events: u64,
    bad_events: u64,
    alerts_per_rule: Vec<u64>,
    committed: Option<u64>,
}

fn traced_run(engine: &Engine, payloads: &[String], threads: usize, output: Mode) -> Trace {
    let source = ReplaySource::new("generated", payloads.to_vec());
    let out = TestOutput::new(output);
    let store = CheckingStore {
        inner: MemoryCheckpointStore::new(),
        output: &out,
        per_record: alerts_per_payload(engine, payloads),
        saves: AtomicUsize::new(0),
    };
    let pipeline = Pipeline::new(engine, vec![&out])
        .checkpoints(&store)
        .options(PipelineOptions {
            threads,
            // Commit as often as possible: every save is checked against what was delivered.
            commit_interval: Duration::ZERO,
            ..fast(RetryPolicy::scan())
        });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut notices = Vec::new();
    let mut notice = |n: Notice<'_>| match n {
        Notice::BadEvent { error, .. } => notices.push(format!("bad {error}")),
        Notice::Evaluated { events, alerts, .. } => {
            notices.push(format!("evaluated {events} {}", alerts.len()));
        }
        _ => {}
    };
    let report = runtime
        .block_on(pipeline.run(
            &[&source],
            std::future::pending(),
            std::future::pending(),
            &mut notice,
        ))
        .unwrap();
    if matches!(output, Mode::Accept) {
        assert!(store.saves.load(Ordering::SeqCst) > 1);
    }
    Trace {
        delivered: out.delivered(),
        notices,
        events: report.stats.events,
        bad_events: report.stats.bad_events,
        alerts_per_rule: report.stats.alerts_per_rule,
        committed: store
            .load(source.identity())
            .unwrap()
            .map(|c| next_index(&c)),
    }
}

#[test]
fn parallel_evaluation_delivers_tells_and_commits_exactly_as_one_thread() {
    let engine = engine();
    let payloads = generated_payloads(5_000);
    let one = traced_run(&engine, &payloads, 1, Mode::Accept);
    assert_eq!(one.events, 5_000);
    assert_eq!(one.bad_events, 3 * 13);
    assert!(one.delivered.len() > 500, "{}", one.delivered.len());
    assert_eq!(one.committed, Some(payloads.len() as u64));
    for threads in [2, 4] {
        // The CheckingStore asserts at every save that the output holds every alert the
        // checkpoint covers.
        let many = traced_run(&engine, &payloads, threads, Mode::Accept);
        assert_eq!(many, one, "{threads} threads");
    }
}

#[test]
fn parallel_evaluation_never_commits_past_an_alert_that_was_not_delivered() {
    let engine = engine();
    let payloads = generated_payloads(3_000);
    let per_payload = alerts_per_payload(&engine, &payloads);
    let first_alert = per_payload.iter().position(|&n| n > 0).unwrap();
    for threads in [1, 2, 4] {
        let refused = traced_run(&engine, &payloads, threads, Mode::Reject);
        assert!(refused.delivered.is_empty());
        assert!(
            refused
                .committed
                .is_none_or(|n| n <= u64::try_from(first_alert).unwrap()),
            "{threads} threads: committed {:?} past the first refused alert (record {first_alert})",
            refused.committed
        );
    }
    let flaky = traced_run(&engine, &payloads, 4, Mode::FailFirst(3));
    let steady = traced_run(&engine, &payloads, 1, Mode::Accept);
    assert_eq!(flaky, steady);
}

#[test]
fn with_threads_a_stop_ends_the_run_after_the_record_and_a_restart_delivers_the_rest_once() {
    let engine = engine();
    let source = sample_source(Some(10));
    let store = MemoryCheckpointStore::new();
    let options = PipelineOptions {
        threads: 2,
        ..fast(RetryPolicy::watch())
    };
    let first = TestOutput::new(Mode::Accept);
    let pipeline = Pipeline::new(&engine, vec![&first])
        .checkpoints(&store)
        .options(options.clone());
    let (r1, _) = run_with(&pipeline, &source, std::future::ready(()));
    assert_eq!(r1.stats.events, 1);
    assert!(r1.interrupted);

    let rest = TestOutput::new(Mode::Accept);
    let pipeline = Pipeline::new(&engine, vec![&rest])
        .checkpoints(&store)
        .options(options);
    let (r2, bad) = run_with(&pipeline, &source, std::future::pending());
    assert_eq!(r1.stats.events + r2.stats.events, 400);
    assert_eq!(bad.len(), 1);

    let whole = TestOutput::new(Mode::Accept);
    run_with(
        &Pipeline::new(&engine, vec![&whole]),
        &source,
        std::future::pending(),
    );
    let mut both = first.delivered();
    both.extend(rest.delivered());
    assert_eq!(both, whole.delivered());
}
