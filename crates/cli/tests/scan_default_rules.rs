//! The built-in ruleset (`rules/default.yaml`): it loads cleanly, and every rule has a case in
//! `tests/data/default_rules_cases.json` with an event that fires it and one that does not.

use kaudit_cli::{DEFAULT_RULES, DEFAULT_RULES_NAME};
use kaudit_engine::ruleset::{Matching, Rule, RuleSet, Selection};
use kaudit_event::{DecodeOptions, K8sAuditSchema, decode_event};
use kaudit_rules::{LoadOptions, RuleFile, load};
use serde_json::Value;

const CASES: &str = include_str!("data/default_rules_cases.json");

/// `base` with `patch` merged in: objects merge key by key, `null` deletes a key.
fn merge(base: &Value, patch: &Value) -> Value {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            let mut out = b.clone();
            for (k, v) in p {
                if v.is_null() {
                    out.remove(k);
                } else {
                    let merged = match out.get(k) {
                        Some(old) => merge(old, v),
                        None => v.clone(),
                    };
                    out.insert(k.clone(), merged);
                }
            }
            Value::Object(out)
        }
        (_, p) => p.clone(),
    }
}

fn default_ruleset() -> RuleSet<kaudit_event::Field> {
    let schema = K8sAuditSchema::new();
    let result = load(
        &[RuleFile::new(DEFAULT_RULES_NAME, DEFAULT_RULES)],
        &schema,
        &LoadOptions::k8s_audit(),
    );
    assert!(
        result.diagnostics.is_empty(),
        "the built-in rules must load without errors or warnings: {:#?}",
        result.diagnostics
    );
    let rules: Vec<Rule<_>> = result.rules.into_iter().map(Rule::from).collect();
    let sel = Selection {
        matching: Matching::All,
        ..Selection::default()
    };
    RuleSet::new(rules, &schema, &sel)
}

#[expect(
    clippy::unwrap_used,
    reason = "test helper: a failure is a test failure"
)]
fn matching_rules(set: &RuleSet<kaudit_event::Field>, event: &Value) -> Vec<String> {
    let text = event.to_string();
    let ev = decode_event(&text, &DecodeOptions::default()).unwrap();
    let mut out = Vec::new();
    set.evaluate(&ev, &mut out);
    let mut unindexed = Vec::new();
    set.evaluate_unindexed(&ev, &mut unindexed);
    assert_eq!(out, unindexed, "index changed the result for {text}");
    out.iter()
        .map(|&i| set.rule(i).unwrap().name.clone())
        .collect()
}

#[test]
fn every_default_rule_fires_on_its_case_and_not_on_its_quiet_twin() {
    let set = default_ruleset();
    let doc: Value = serde_json::from_str(CASES).unwrap();
    let base = &doc["base"];
    let cases = doc["cases"].as_array().unwrap();
    let mut failures = Vec::new();
    for case in cases {
        let rule = case["rule"].as_str().unwrap();
        let fires = matching_rules(&set, &merge(base, &case["fires"]));
        if !fires.iter().any(|r| r == rule) {
            failures.push(format!("{rule}: `fires` event matched {fires:?}"));
        }
        let quiet = matching_rules(&set, &merge(base, &case["quiet"]));
        if quiet.iter().any(|r| r == rule) {
            failures.push(format!("{rule}: `quiet` event matched {quiet:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let mut covered: Vec<&str> = cases.iter().map(|c| c["rule"].as_str().unwrap()).collect();
    covered.sort_unstable();
    let mut names: Vec<&str> = set.rules().iter().map(|r| r.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        covered, names,
        "one case per rule, no case for a missing rule"
    );
    assert_eq!(names.len(), 20);
}

#[test]
fn the_base_event_alone_fires_nothing() {
    let set = default_ruleset();
    let doc: Value = serde_json::from_str(CASES).unwrap();
    assert_eq!(matching_rules(&set, &doc["base"]), Vec::<String>::new());
}

#[test]
fn default_rules_are_all_enabled_k8s_audit_rules_gated_by_the_index() {
    let set = default_ruleset();
    assert!(
        set.rules()
            .iter()
            .all(|r| r.source == "k8s_audit" && r.enabled)
    );
    let stats = set.index_stats();
    assert_eq!(stats.active, 20);
    // Every rule but the two identity/response-code rules gates on a resource.
    assert_eq!(stats.gated_by_resource, 17);
}
