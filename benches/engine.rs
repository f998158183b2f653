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
//! `serde_json` into `IgnoredAny` (validate and skip: the floor), and kaudit-event decode only.
//! Divide an `engine/*` time by a `baseline/*` time for the ratio the report quotes. Every
//! engine bench renders the alerts it produces (Falco JSON) with kaudit-engine's `hot::Pass`,
//! the loop `crates/engine/tests/alloc.rs` counts allocations of.
//!
//! `scan/*`: `kaudit scan` end to end over a W1 file, `--threads 1` and `--threads 2`.
//!
//! See `benches/README.md` for how to run them and the latest figures.

use std::hint::black_box;

// The allocator the `kaudit` binary uses (src/main.rs), so that `scan/*` measures what users
// run; the floor (`IgnoredAny`) does not allocate.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kaudit_engine::alert::{AlertFormat, AlertRenderer};
use kaudit_engine::hot::{Pass, decode_only, ruleset, serde_json_value};
use kaudit_engine::ruleset::Matching;

/// Events per workload under `cargo bench`; `cargo test --all-targets` runs each benchmark
/// once in test mode, on a smaller log.
const EVENTS: usize = 20_000;
const TEST_MODE_EVENTS: usize = 500;

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
        b.iter(|| black_box(serde_json_value(&w1)));
    });
    g.bench_function("w1_ignored_any", |b| {
        b.iter(|| black_box(kaudit_engine::hot::ignored_any(&w1)));
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
        b.iter(|| black_box(decode_only(&w1)));
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
        if let Some(set) = load(&upstream, matching, no_index) {
            let mut pass = Pass::new();
            let counts = pass.run(&set, &renderer, &w1);
            eprintln!("{name}: {} alerts", counts.alerts);
            g.bench_function(name, |b| {
                b.iter(|| black_box(pass.run(&set, &renderer, &w1)))
            });
        }
    }
    if let Some(set) = load(kaudit_cli::DEFAULT_RULES, Matching::First, false) {
        let mut pass = Pass::new();
        g.bench_function("w1_default_rules_first", |b| {
            b.iter(|| black_box(pass.run(&set, &renderer, &w1)));
        });
    }
    g.finish();

    let mut g = c.benchmark_group("w3");
    g.throughput(Throughput::Elements(w3.len() as u64));
    g.bench_function("w3_decode_only", |b| {
        b.iter(|| black_box(decode_only(&w3)));
    });
    if let Some(set) = load(&upstream, Matching::First, false) {
        let mut pass = Pass::new();
        g.bench_function("w3_upstream_first", |b| {
            b.iter(|| black_box(pass.run(&set, &renderer, &w3)));
        });
    }
    g.finish();

    scan_threads(c, &sample, upstream_path, events);
}

/// The rules, or `None` (reported) when they do not load (e.g. `../shared` is absent).
fn load(
    text: &str,
    matching: Matching,
    no_index: bool,
) -> Option<kaudit_engine::ruleset::RuleSet<kaudit_event::Field>> {
    match ruleset("rules.yaml", text, matching, no_index) {
        Ok(set) => Some(set),
        Err(e) => {
            eprintln!("rules do not load: {e}");
            None
        }
    }
}

/// `kaudit scan` end to end over a file (read, decode, evaluate, render, write the alerts to a
/// sink) with `--threads 1` and `--threads 2` in the same run: divide the two times for the
/// speed-up. Falco's rules when `../shared` is there, else the built-in rules.
fn scan_threads(c: &mut Criterion, sample: &str, upstream: &str, events: usize) {
    let Ok(dir) = tempfile::tempdir() else {
        eprintln!("scan/*: no temporary directory");
        return;
    };
    let path = dir.path().join("w1.jsonl");
    if std::fs::write(&path, sample).is_err() {
        eprintln!("scan/*: cannot write {}", path.display());
        return;
    }
    let path = path.to_string_lossy().into_owned();
    let mut rules = Vec::new();
    if std::path::Path::new(upstream).exists() {
        rules.extend(["--rules", upstream]);
    }
    let mut g = c.benchmark_group("scan");
    g.throughput(Throughput::Elements(events as u64));
    for threads in ["1", "2"] {
        let mut args = vec![
            "kaudit",
            "scan",
            "-q",
            "--format",
            "json",
            "--threads",
            threads,
        ];
        args.extend_from_slice(&rules);
        args.push(&path);
        g.bench_function(format!("w1_file_json_threads_{threads}"), |b| {
            b.iter(|| {
                let code = kaudit_cli::run_with(
                    args.iter().copied(),
                    &mut std::io::sink(),
                    &mut std::io::sink(),
                );
                black_box(code)
            });
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
