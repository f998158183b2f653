//! kaudit-engine speed, per event, on generated audit logs (performance.md §4).
//!
//! ```text
//! cargo bench --bench engine
//! ```
//!
//! Workloads (seeded, generated at start, nothing committed):
//! - **W1** realistic mix: kaudit-event's sample generator (EKS-shaped events);
//! - **W3** no-match reads: the W1 events that are `get`/`list`/`watch` or lease updates.
//!
//! Rules: Falco's `k8s_audit_rules.yaml` as shipped (first-match and all-matches, and
//! first-match without the index), and kaudit's built-in ruleset.
//!
//! Baselines in the same process, on the same lines: `serde_json::Value` parse of each line,
//! and kaudit-event decode only. Divide an `engine/*` time by a `baseline/*` time for the ratio
//! the report quotes. Every engine bench renders the alerts it produces (Falco JSON).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kaudit_engine::alert::{AlertFormat, AlertRenderer};
use kaudit_engine::ruleset::{Matching, Rule, RuleSet, Selection};
use kaudit_event::{Compat, DecodeOptions, Field, K8sAuditSchema, decode_event};
use kaudit_rules::{LoadOptions, RuleFile, load};

/// Events per workload under `cargo bench`; `cargo test --all-targets` runs each benchmark
/// once in test mode, on a smaller log.
const EVENTS: usize = 20_000;
const TEST_MODE_EVENTS: usize = 500;

fn ruleset(text: &str, matching: Matching, no_index: bool) -> Option<RuleSet<Field>> {
    let schema = K8sAuditSchema::with_compat(Compat::Falco);
    let result = load(
        &[RuleFile::new("rules.yaml", text)],
        &schema,
        &LoadOptions::k8s_audit(),
    );
    if !result.successful() {
        eprintln!("rules do not load: {:?}", result.diagnostics);
        return None;
    }
    let rules: Vec<Rule<_>> = result.rules.into_iter().map(Rule::from).collect();
    let sel = Selection {
        matching,
        no_index,
        ..Selection::default()
    };
    Some(RuleSet::new(rules, &schema, &sel))
}

fn run_engine(set: &RuleSet<Field>, renderer: &AlertRenderer, lines: &[&str]) -> usize {
    let opts = DecodeOptions::default();
    let mut matches = Vec::new();
    let mut out = String::new();
    let mut alerts = 0;
    for line in lines {
        if let Ok(ev) = decode_event(line, &opts) {
            set.evaluate(&ev, &mut matches);
            for &i in &matches {
                if let Some(rule) = set.rule(i) {
                    out.clear();
                    renderer.render(rule, &ev, ev.timestamp_ns(), &mut out);
                    alerts += 1;
                }
            }
        }
    }
    alerts
}

fn is_read(line: &str) -> bool {
    [
        "\"verb\":\"get\"",
        "\"verb\":\"list\"",
        "\"verb\":\"watch\"",
    ]
    .iter()
    .any(|v| line.contains(v))
        || (line.contains("\"verb\":\"update\"") && line.contains("\"resource\":\"leases\""))
}

fn bench(c: &mut Criterion) {
    let events = if std::env::args().any(|a| a == "--bench") {
        EVENTS
    } else {
        TEST_MODE_EVENTS
    };
    let sample = kaudit_event::sample::generate(kaudit_event::sample::SAMPLE_SEED, events);
    let w1: Vec<&str> = sample.lines().filter(|l| !l.is_empty()).collect();
    let w3: Vec<&str> = w1.iter().copied().filter(|l| is_read(l)).collect();
    let bytes: usize = w1.iter().map(|l| l.len() + 1).sum();
    eprintln!(
        "W1: {} events, {} bytes (mean {} B); W3: {} events",
        w1.len(),
        bytes,
        bytes / w1.len().max(1),
        w3.len()
    );

    let upstream_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/upstream/falco-k8s_audit_rules.yaml"
    );
    let upstream = std::fs::read_to_string(upstream_path).unwrap_or_default();
    let renderer = AlertRenderer {
        format: AlertFormat::Json,
        hostname: "bench".to_owned(),
        ..AlertRenderer::default()
    };

    let mut g = c.benchmark_group("baseline");
    g.throughput(Throughput::Elements(w1.len() as u64));
    g.bench_function("w1_serde_json_value", |b| {
        b.iter(|| {
            let mut n = 0;
            for line in &w1 {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                    n += usize::from(v.is_object());
                }
            }
            black_box(n)
        });
    });
    g.bench_function("w1_serde_ignored_any", |b| {
        b.iter(|| {
            let mut n = 0;
            for line in &w1 {
                n += usize::from(serde_json::from_str::<serde::de::IgnoredAny>(line).is_ok());
            }
            black_box(n)
        });
    });
    g.bench_function("w1_decode_only", |b| {
        let opts = DecodeOptions::default();
        b.iter(|| {
            let mut n = 0;
            for line in &w1 {
                n += usize::from(decode_event(line, &opts).is_ok());
            }
            black_box(n)
        });
    });
    g.finish();

    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(w1.len() as u64));
    let variants = [
        ("w1_upstream_first", Matching::First, false),
        ("w1_upstream_all", Matching::All, false),
        ("w1_upstream_first_no_index", Matching::First, true),
    ];
    for (name, matching, no_index) in variants {
        if let Some(set) = ruleset(&upstream, matching, no_index) {
            let alerts = run_engine(&set, &renderer, &w1);
            eprintln!("{name}: {alerts} alerts");
            g.bench_function(name, |b| {
                b.iter(|| black_box(run_engine(&set, &renderer, &w1)))
            });
        }
    }
    if let Some(set) = ruleset(kaudit_cli::DEFAULT_RULES, Matching::First, false) {
        g.bench_function("w1_default_rules_first", |b| {
            b.iter(|| black_box(run_engine(&set, &renderer, &w1)));
        });
    }
    g.finish();

    let mut g = c.benchmark_group("w3");
    g.throughput(Throughput::Elements(w3.len() as u64));
    g.bench_function("w3_decode_only", |b| {
        let opts = DecodeOptions::default();
        b.iter(|| {
            let mut n = 0;
            for line in &w3 {
                n += usize::from(decode_event(line, &opts).is_ok());
            }
            black_box(n)
        });
    });
    if let Some(set) = ruleset(&upstream, Matching::First, false) {
        g.bench_function("w3_upstream_first", |b| {
            b.iter(|| black_box(run_engine(&set, &renderer, &w3)));
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
