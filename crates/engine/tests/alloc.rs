//! Allocations per event on the evaluation hot path (issue 11), counted with the `dhat` crate's
//! testing mode (a counting global allocator; no `unsafe` here).
//!
//! Two workloads over kaudit-event's sample generator, Falco's `k8s_audit_rules.yaml` as
//! shipped, first match, JSON alerts rendered into a reused buffer:
//! - **no match**: the events on which no rule matches (decode + evaluate only);
//! - **realistic mix**: every event, rendering each alert.
//!
//! The pass that is counted is the second one over the same lines, so buffers that are reused
//! across events (the match list, the output string) are already grown. The ceilings below are
//! today's figures (1.64 and 2.87 per event, rounded up): a change that allocates more per event
//! fails here. The realistic mix meets issue 11's target (3); the no-match target (0) is not met
//! yet (what remains is mostly the `requestObject` tree of pod writes); the test prints the
//! measured figures next to the targets.

use kaudit_engine::alert::{AlertFormat, AlertRenderer};
use kaudit_engine::ruleset::{Matching, Rule, RuleSet, Selection};
use kaudit_event::{Compat, DecodeOptions, Field, K8sAuditSchema, decode_event};
use kaudit_rules::{LoadOptions, RuleFile, load};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Allocations per event allowed today (the measured figure, rounded up).
const CEILING_NO_MATCH: f64 = 1.75;
const CEILING_MIX: f64 = TARGET_MIX;
/// Issue 11's targets.
const TARGET_NO_MATCH: f64 = 0.0;
const TARGET_MIX: f64 = 3.0;

fn ruleset(text: &str) -> RuleSet<Field> {
    let schema = K8sAuditSchema::with_compat(Compat::Falco);
    let result = load(
        &[RuleFile::new("k8s_audit_rules.yaml", text)],
        &schema,
        &LoadOptions::k8s_audit(),
    );
    assert!(result.successful(), "{:?}", result.diagnostics);
    let rules: Vec<Rule<_>> = result.rules.into_iter().map(Rule::from).collect();
    let sel = Selection {
        matching: Matching::First,
        ..Selection::default()
    };
    RuleSet::new(rules, &schema, &sel)
}

/// One pass: decode, evaluate, render; returns (events decoded, alerts rendered).
fn pass(
    set: &RuleSet<Field>,
    renderer: &AlertRenderer,
    lines: &[&str],
    matches: &mut Vec<usize>,
    out: &mut String,
) -> (usize, usize) {
    let opts = DecodeOptions::default();
    let (mut events, mut alerts) = (0, 0);
    for line in lines {
        let Ok(ev) = decode_event(line, &opts) else {
            continue;
        };
        events += 1;
        set.evaluate(&ev, matches);
        for &i in matches.iter() {
            if let Some(rule) = set.rule(i) {
                out.clear();
                renderer.render(rule, &ev, ev.timestamp_ns(), out);
                alerts += 1;
            }
        }
    }
    (events, alerts)
}

/// Blocks allocated per event by the second of two passes over `lines`.
fn allocs_per_event(set: &RuleSet<Field>, renderer: &AlertRenderer, lines: &[&str]) -> f64 {
    let mut matches = Vec::new();
    let mut out = String::new();
    pass(set, renderer, lines, &mut matches, &mut out);
    let before = dhat::HeapStats::get().total_blocks;
    let (events, _) = pass(set, renderer, lines, &mut matches, &mut out);
    let after = dhat::HeapStats::get().total_blocks;
    assert_eq!(events, lines.len(), "every sample line decodes");
    (after - before) as f64 / events as f64
}

#[test]
fn allocations_per_event() {
    let Some(path) = kaudit_testdata::shared("upstream/falco-k8s_audit_rules.yaml", "alloc") else {
        return;
    };
    let text = std::fs::read_to_string(path).expect("read the upstream rules");
    let set = ruleset(&text);
    let renderer = AlertRenderer {
        format: AlertFormat::Json,
        hostname: "alloc-test".to_owned(),
        ..AlertRenderer::default()
    };
    let sample = kaudit_event::sample::generate(kaudit_event::sample::SAMPLE_SEED, 2_000);
    let mix: Vec<&str> = sample.lines().filter(|l| !l.is_empty()).collect();
    let opts = DecodeOptions::default();
    let mut matches = Vec::new();
    let no_match: Vec<&str> = mix
        .iter()
        .copied()
        .filter(|l| {
            let ev = decode_event(l, &opts).expect("sample lines decode");
            set.evaluate(&ev, &mut matches);
            matches.is_empty()
        })
        .collect();
    assert!(
        no_match.len() > mix.len() / 2,
        "most sample events match no rule"
    );

    let _profiler = dhat::Profiler::builder().testing().build();
    let per_no_match = allocs_per_event(&set, &renderer, &no_match);
    let per_mix = allocs_per_event(&set, &renderer, &mix);
    eprintln!(
        "allocations per event: no match {per_no_match:.2} (target {TARGET_NO_MATCH}), \
         realistic mix {per_mix:.2} (target {TARGET_MIX}); {} and {} events",
        no_match.len(),
        mix.len()
    );
    assert!(
        per_no_match <= CEILING_NO_MATCH,
        "no-match events allocate {per_no_match:.2} blocks each, more than {CEILING_NO_MATCH}"
    );
    assert!(
        per_mix <= CEILING_MIX,
        "the realistic mix allocates {per_mix:.2} blocks per event, more than {CEILING_MIX}"
    );
}
