//! The per-event loop the benchmarks and the allocation test measure, in one place (not a
//! stable API: hidden from the docs).
//!
//! `benches/engine.rs` (criterion), `benches/callgrind.rs` (instructions per event) and
//! `crates/engine/tests/alloc.rs` (allocations per event) all run this loop: decode a line,
//! evaluate the rule set, render each alert as Falco's line into a reused buffer.

use kaudit_event::{Compat, DecodeOptions, Field, K8sAuditSchema, decode_event};
use kaudit_rules::{LoadOptions, RuleFile, load};

use crate::alert::AlertRenderer;
use crate::ruleset::{Matching, Rule, RuleSet, Selection};

/// Loads one rules file into a rule set over the `ka.*` fields (read as Falco reads them:
/// [`Compat::Falco`]) with `matching`, indexed unless `no_index`. The error is the loader's
/// diagnostics.
///
/// # Errors
/// Rules that do not load.
pub fn ruleset(
    name: &str,
    text: &str,
    matching: Matching,
    no_index: bool,
) -> Result<RuleSet<Field>, String> {
    let schema = K8sAuditSchema::with_compat(Compat::Falco);
    let result = load(
        &[RuleFile::new(name, text)],
        &schema,
        &LoadOptions::k8s_audit(),
    );
    if !result.successful() {
        return Err(format!("{:?}", result.diagnostics));
    }
    let rules: Vec<Rule<_>> = result.rules.into_iter().map(Rule::from).collect();
    let sel = Selection {
        matching,
        no_index,
        ..Selection::default()
    };
    Ok(RuleSet::new(rules, &schema, &sel))
}

/// What one [`Pass::run`] saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Lines that decoded (the others are skipped).
    pub events: usize,
    /// Alerts rendered.
    pub alerts: usize,
}

/// The loop's reused buffers: the match list and the rendered alert.
#[derive(Debug, Default)]
pub struct Pass {
    matches: Vec<usize>,
    out: String,
}

impl Pass {
    /// Empty buffers (they grow on the first run and are reused after).
    #[must_use]
    pub fn new() -> Pass {
        Pass::default()
    }

    /// Decodes each line (default options), evaluates `set` and renders every alert with
    /// `renderer` into the reused buffer.
    pub fn run(
        &mut self,
        set: &RuleSet<Field>,
        renderer: &AlertRenderer,
        lines: &[&str],
    ) -> Counts {
        let opts = DecodeOptions::default();
        let mut counts = Counts::default();
        for line in lines {
            let Ok(ev) = decode_event(line, &opts) else {
                continue;
            };
            counts.events += 1;
            set.evaluate(&ev, &mut self.matches);
            for &i in &self.matches {
                if let Some(rule) = set.rule(i) {
                    self.out.clear();
                    renderer.render(rule, &ev, ev.timestamp_ns(), &mut self.out);
                    counts.alerts += 1;
                }
            }
        }
        counts
    }
}

/// The decode-only baseline: how many lines decode (default options).
#[must_use]
pub fn decode_only(lines: &[&str]) -> usize {
    let opts = DecodeOptions::default();
    lines
        .iter()
        .filter(|line| decode_event(line, &opts).is_ok())
        .count()
}

/// The floor: `serde_json` validating each line and skipping everything
/// (`serde::de::IgnoredAny`).
#[must_use]
pub fn ignored_any(lines: &[&str]) -> usize {
    lines
        .iter()
        .filter(|line| serde_json::from_str::<serde::de::IgnoredAny>(line).is_ok())
        .count()
}

/// A naive baseline: each line parsed into a `serde_json::Value` tree.
#[must_use]
pub fn serde_json_value(lines: &[&str]) -> usize {
    lines
        .iter()
        .filter(|line| serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| v.is_object()))
        .count()
}
