//! The pipeline's record decoding (`kaudit_engine::pipeline::decode_record`: one object, an
//! `EventList`, an array, or a whole document) over arbitrary bytes, then evaluation of every
//! decoded event through the built-in rules. Nothing may panic, and an event is only ever decoded
//! from text that is valid JSON.

use std::sync::OnceLock;

use kaudit_engine::alert::AlertRenderer;
use kaudit_engine::pipeline::decode_record;
use kaudit_engine::ruleset::{Rule, RuleSet, Selection};
use kaudit_engine::run::Engine;
use kaudit_event::{DecodeOptions, K8sAuditSchema};
use kaudit_rules::{LoadOptions, RuleFile, load};

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let schema = K8sAuditSchema::new();
        let text = include_str!("../../engine/rules/default.yaml");
        let result = load(
            &[RuleFile::new("default.yaml", text)],
            &schema,
            &LoadOptions::k8s_audit(),
        );
        let rules: Vec<Rule<_>> = result.rules.into_iter().map(Rule::from).collect();
        Engine {
            rules: RuleSet::new(rules, &schema, &Selection::default()),
            renderer: AlertRenderer::default(),
            decode: DecodeOptions {
                max_event_size: 1 << 20,
            },
            compat: kaudit_event::Compat::Correct,
        }
    })
}

/// Runs the target over `data`.
///
/// # Panics
/// When an invariant of the module documentation breaks.
pub fn run(data: &[u8]) {
    let engine = engine();
    let items = decode_record(data, &engine.decode, engine.compat);
    let mut stats = engine.new_stats();
    let mut matches = Vec::new();
    let mut alerts = Vec::new();
    for ev in items.iter().flatten() {
        // Each event's own text (a line, an item) is valid JSON, whatever surrounds it (syntax
        // only: `1e400` and lone surrogate escapes are valid JSON `serde_json::Value` refuses).
        assert!(
            serde_json::from_str::<serde::de::IgnoredAny>(ev.raw_json()).is_ok(),
            "an event decoded from text that is not JSON: {:?}",
            ev.raw_json()
        );
        engine.alerts(ev, &mut matches, &mut stats, &mut alerts);
    }
    for a in &alerts {
        let _ = a.to_json();
    }
}
