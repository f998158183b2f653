#![no_main]
//! The pipeline's record decoding (`kaudit_engine::pipeline::decode_record`: one object, an
//! `EventList`, an array, or a whole document) over arbitrary bytes, then evaluation of every
//! decoded event through the built-in rules. Nothing may panic, and a payload that is not valid
//! JSON never yields an event.

use std::sync::OnceLock;

use kaudit_engine::alert::AlertRenderer;
use kaudit_engine::pipeline::decode_record;
use kaudit_engine::ruleset::{Rule, RuleSet, Selection};
use kaudit_engine::run::Engine;
use kaudit_event::{DecodeOptions, K8sAuditSchema};
use kaudit_rules::{LoadOptions, RuleFile, load};
use libfuzzer_sys::fuzz_target;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let schema = K8sAuditSchema::new();
        let text = include_str!("../../crates/cli/rules/default.yaml");
        let result = load(&[RuleFile::new("default.yaml", text)], &schema, &LoadOptions::k8s_audit());
        let rules: Vec<Rule<_>> = result.rules.into_iter().map(Rule::from).collect();
        Engine {
            rules: RuleSet::new(rules, &schema, &Selection::default()),
            renderer: AlertRenderer::default(),
            decode: DecodeOptions { max_event_size: 1 << 20 },
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let engine = engine();
    let items = decode_record(data, &engine.decode);
    let valid_json = serde_json::from_slice::<serde_json::Value>(data).is_ok();
    let mut stats = engine.new_stats();
    let mut matches = Vec::new();
    let mut alerts = Vec::new();
    for item in &items {
        if let Ok(ev) = item {
            assert!(
                valid_json || std::str::from_utf8(data).is_ok_and(|t| t.lines().count() > 1),
                "an event decoded from a payload that is not JSON"
            );
            engine.alerts(ev, &mut matches, &mut stats, &mut alerts);
        }
    }
    for a in &alerts {
        let _ = a.to_json();
    }
});
