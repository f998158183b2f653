//! `run::run_source`: records from a `Source` are decoded, evaluated and written, and the
//! checkpoint is committed only after the alerts are flushed; a restart resumes after it.

use std::io::{self, Write};

use kaudit_engine::alert::{AlertFormat, AlertRenderer};
use kaudit_engine::ruleset::{Rule, RuleSet, Selection};
use kaudit_engine::run::{Engine, Stats, run_source};
use kaudit_event::{DecodeOptions, K8sAuditSchema};
use kaudit_rules::{LoadOptions, RuleFile, load};
use kaudit_source::testing::ReplaySource;
use kaudit_source::{CheckpointStore, MemoryCheckpointStore, Source};

const DEFAULT_RULES: &str = include_str!("../../cli/rules/default.yaml");
const DEFAULT_RULES_NAME: &str = "<built-in rules/default.yaml>";
const SAMPLE: &str = include_str!("../../../examples/data/sample-audit.jsonl");

fn engine() -> Engine {
    let schema = K8sAuditSchema::new();
    let result = load(
        &[RuleFile::new(DEFAULT_RULES_NAME, DEFAULT_RULES)],
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
    }
}

/// A writer that records how many bytes had been flushed when each checkpoint was saved.
#[derive(Default)]
struct Recorder {
    written: Vec<u8>,
    flushed: usize,
}

impl Write for Recorder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.flushed = self.written.len();
        Ok(())
    }
}

/// One `run_source` to the end (or until `shutdown`) on a fresh recorder and fresh counters;
/// decode errors are collected as text.
#[expect(
    clippy::unwrap_used,
    reason = "test helper: a failed run fails the calling test"
)]
fn run(
    engine: &Engine,
    source: &ReplaySource,
    store: Option<&MemoryCheckpointStore>,
    shutdown: impl std::future::Future<Output = ()>,
) -> (Recorder, Stats, Vec<String>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut out = Recorder::default();
    let mut stats = engine.new_stats();
    let mut bad = Vec::new();
    runtime
        .block_on(run_source(
            engine,
            source,
            store.map(|s| s as &dyn CheckpointStore),
            &mut out,
            &mut stats,
            &mut |e| bad.push(e.to_string()),
            &mut |_| {},
            shutdown,
        ))
        .unwrap();
    (out, stats, bad)
}

#[test]
fn alerts_are_flushed_before_the_checkpoint_and_a_restart_resumes_after_it() {
    let engine = engine();
    let mut payloads: Vec<String> = SAMPLE.lines().map(str::to_owned).collect();
    payloads.insert(10, "not json".to_owned());
    let source = ReplaySource::new("replay", payloads);
    let store = MemoryCheckpointStore::new();

    let (out, stats, bad) = run(&engine, &source, Some(&store), std::future::pending());
    assert_eq!(stats.events, 400);
    assert_eq!(stats.bad_events, 1);
    assert_eq!(bad.len(), 1);
    assert_eq!(stats.alerts(), 100);
    assert_eq!(out.flushed, out.written.len());
    assert_eq!(
        String::from_utf8(out.written.clone())
            .unwrap()
            .lines()
            .count(),
        100
    );
    let saved = store.load(source.identity()).unwrap();
    assert!(saved.is_some());

    // A restart from the saved checkpoint reads nothing more.
    let (again, stats2, _) = run(&engine, &source, Some(&store), std::future::pending());
    assert_eq!(stats2.events, 0);
    assert!(again.written.is_empty());
}

#[test]
fn shutdown_commits_right_after_the_last_record_and_a_restart_delivers_the_rest_once() {
    let engine = engine();
    let payloads: Vec<String> = SAMPLE.lines().map(str::to_owned).collect();
    let source = ReplaySource::new("replay", payloads);
    let store = MemoryCheckpointStore::new();

    // A shutdown that has already happened stops the run after the first record.
    let (first, stats1, _) = run(&engine, &source, Some(&store), std::future::ready(()));
    assert_eq!(stats1.events, 1);
    assert_eq!(first.flushed, first.written.len());

    // The restart resumes strictly after that record: together the two runs saw every event
    // once and wrote exactly the alerts of one uninterrupted run.
    let (rest, stats2, _) = run(&engine, &source, Some(&store), std::future::pending());
    assert_eq!(stats1.events + stats2.events, 400);
    assert_eq!(stats1.alerts() + stats2.alerts(), 100);
    let mut both = first.written;
    both.extend_from_slice(&rest.written);

    let (whole, _, _) = run(&engine, &source, None, std::future::pending());
    assert_eq!(
        String::from_utf8(both).unwrap(),
        String::from_utf8(whole.written).unwrap()
    );
}
