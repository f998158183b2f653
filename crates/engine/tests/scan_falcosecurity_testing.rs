//! Cross-check against falcosecurity/testing `tests/k8saudit`: the 66 tests run Falco with the
//! k8saudit plugin on one trace each, with a given list of rules files, and assert how many
//! alerts each rule produced. `tests/data/falcosecurity_testing_k8saudit.tsv` restates their
//! expectations; this test loads the same rules files (the k8saudit-rules 0.9.0 ruleset the
//! suite was written for, the overlays, Falco's default lists) and checks every expectation.
//! What fired for every test (including those that only assert a clean run) is pinned in
//! `tests/golden/falcosecurity_testing_k8saudit.txt` (bless with `UPDATE_EXPECT=1`).

use std::collections::BTreeMap;
use std::path::Path;

use kaudit_engine::ruleset::{Rule, RuleSet, Selection};
use kaudit_event::{Compat, DecodeOptions, FALCO_MAX_EVENT_SIZE, K8sAuditSchema, decode_document};
use kaudit_rules::{LoadOptions, RuleFile, load};

const CASES: &str = include_str!("data/falcosecurity_testing_k8saudit.tsv");

fn rules_file(key: &str) -> String {
    let shared = kaudit_testdata::upstream_path();
    match key {
        "L" => format!(
            "{shared}/falco-k8s-audit-tests/falco-rules-1.0.1-lists-only/falco_rules_lists.yaml"
        ),
        "K" => format!(
            "{shared}/falcosecurity-testing-k8saudit/k8saudit-rules-0.9.0/k8s_audit_rules.yaml"
        ),
        "V4" => format!(
            "{shared}/falcosecurity-testing-k8saudit/rules/k8s_audit/engine_v4_k8s_audit_rules.yaml"
        ),
        other => format!("{shared}/falcosecurity-testing-k8saudit/rules/k8s_audit/{other}.yaml"),
    }
}

/// Runs one test: returns the alerts per rule, the number of undecodable inputs, or the load
/// errors.
fn run(trace: &str, keys: &str) -> Result<(BTreeMap<String, usize>, usize), String> {
    let shared = kaudit_testdata::upstream_path();
    let mut files = Vec::new();
    for key in keys.split(',') {
        let path = rules_file(key);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        files.push(RuleFile::new(key, text));
    }
    let schema = K8sAuditSchema::with_compat(Compat::Falco);
    let result = load(&files, &schema, &LoadOptions::k8s_audit());
    if !result.successful() {
        return Err(format!("{:#?}", result.errors().collect::<Vec<_>>()));
    }
    let rules: Vec<Rule<_>> = result.rules.into_iter().map(Rule::from).collect();
    let set = RuleSet::new(rules, &schema, &Selection::default());
    let path = format!("{shared}/falco-k8s-audit-tests/trace_files/k8s_audit/{trace}.json");
    let buf = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
    let opts = DecodeOptions {
        max_event_size: FALCO_MAX_EVENT_SIZE,
    };
    let mut fired = BTreeMap::new();
    let mut bad = 0;
    let mut matches = Vec::new();
    match decode_document(&buf, &opts) {
        Err(_) => bad += 1,
        Ok(doc) => {
            for item in doc.events {
                match item {
                    Ok((_, ev)) => {
                        set.evaluate(&ev, &mut matches);
                        for &i in &matches {
                            let name = set.rule(i).map(|r| r.name.clone()).unwrap_or_default();
                            *fired.entry(name).or_insert(0) += 1;
                        }
                    }
                    Err(_) => bad += 1,
                }
            }
        }
    }
    Ok((fired, bad))
}

#[test]
fn falcosecurity_testing_k8saudit_expectations_hold() {
    kaudit_testdata::require_shared!("upstream");
    let mut failures = Vec::new();
    let mut report = String::new();
    let mut count = 0;
    for line in CASES
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let cols: Vec<&str> = line.split('\t').collect();
        let [test, trace, keys, expect] = cols[..] else {
            panic!("bad line: {line}");
        };
        count += 1;
        let (fired, bad) = match run(trace, keys) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{test}: {e}"));
                continue;
            }
        };
        let fired_text: Vec<String> = fired.iter().map(|(k, v)| format!("{k}={v}")).collect();
        report.push_str(&format!(
            "{test}\t{}\t{}\n",
            if fired_text.is_empty() {
                "none".to_owned()
            } else {
                fired_text.join("; ")
            },
            if bad > 0 {
                format!("{bad} not an audit event")
            } else {
                String::new()
            },
        ));
        let ok = match expect {
            "-" => bad == 0,
            "none" => bad == 0 && fired.is_empty(),
            "not-audit" => bad == 1 && fired.is_empty(),
            _ => {
                let (rule, n) = expect.rsplit_once('=').unwrap_or((expect, "?"));
                bad == 0 && fired.get(rule).map(ToString::to_string).as_deref() == Some(n)
            }
        };
        if !ok {
            failures.push(format!(
                "{test}: expected {expect}, fired {fired_text:?}, bad {bad}"
            ));
        }
    }
    assert_eq!(count, 66);
    let golden = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/falcosecurity_testing_k8saudit.txt");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&golden, &report).unwrap();
    } else {
        assert_eq!(std::fs::read_to_string(&golden).unwrap(), report);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
