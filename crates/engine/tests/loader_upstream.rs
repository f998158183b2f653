//! Every k8s audit rules file under `../shared/upstream/` that Falco accepts loads here with zero
//! errors against the real k8s audit schema (kaudit-event), in the combinations Falco's own
//! tests load them (base ruleset first, then the overlay).

use kaudit_event::{Field, K8sAuditSchema};
use kaudit_rules::{LoadOptions, LoadResult, RuleFile, load};

fn file(path: &str) -> RuleFile {
    let full = shared(&format!("upstream/{path}"));
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    RuleFile::new(path, text)
}

fn load_ok(paths: &[&str]) -> LoadResult<Field> {
    let files: Vec<RuleFile> = paths.iter().map(|p| file(p)).collect();
    let result = load(&files, &K8sAuditSchema::new(), &LoadOptions::k8s_audit());
    let errors: Vec<String> = result
        .errors()
        .map(|d| format!("{} {} {:?}", d.code, d.message, d.item()))
        .collect();
    assert!(errors.is_empty(), "{paths:?}: {errors:#?}");
    assert!(result.files.iter().all(|f| f.successful), "{paths:?}");
    result
}

#[test]
fn current_k8s_audit_rules_load_cleanly() {
    kaudit_testdata::require_shared!("upstream");
    let result = load_ok(&["falco-k8s_audit_rules.yaml"]);
    assert_eq!(result.rules.len(), 48);
    assert_eq!(result.macros.len(), 45);
    assert_eq!(result.lists.len(), 18);
    assert!(result.rules.iter().all(|r| r.source == "k8s_audit"));
    let warnings: Vec<String> = result
        .warnings()
        .map(|d| format!("{}: {}", d.code, d.message))
        .collect();
    // Falco 0.44 with the k8saudit plugin reports the same unused items.
    for w in &warnings {
        assert!(
            w.starts_with("LOAD_UNUSED_MACRO") || w.starts_with("LOAD_UNUSED_LIST"),
            "unexpected warning {w}"
        );
    }
    assert_eq!(
        result
            .required_engine_version
            .map(|v| v.to_string())
            .as_deref(),
        Some("0.15.0")
    );
    let first = &result.rules[0];
    assert_eq!(first.location.file, "falco-k8s_audit_rules.yaml");
    assert!(first.location.line > 0);
}

#[test]
fn older_k8s_audit_rules_load_cleanly() {
    kaudit_testdata::require_shared!("upstream");
    load_ok(&[
        "falco-k8s-audit-tests/falco-rules-1.0.1-lists-only/falco_rules_lists.yaml",
        "falco-k8s-audit-tests/k8saudit-rules-0.6.0/k8s_audit_rules.yaml",
    ]);
    load_ok(&["falcosecurity-testing-k8saudit/k8saudit-rules-0.9.0/k8s_audit_rules.yaml"]);
}

#[test]
fn falco_test_overlays_load_cleanly() {
    kaudit_testdata::require_shared!("upstream");
    let overlays = [
        "allow_namespace_foo.yaml",
        "allow_nginx_container.yaml",
        "allow_only_apache_container.yaml",
        "allow_user_some-user.yaml",
        "disallow_kactivity.yaml",
        "single_rule_with_json_pointer.yaml",
        "trust_nginx_container.yaml",
    ];
    for overlay in overlays {
        load_ok(&[
            "falco-k8s-audit-tests/falco-rules-1.0.1-lists-only/falco_rules_lists.yaml",
            "falco-k8s-audit-tests/k8saudit-rules-0.6.0/k8s_audit_rules.yaml",
            &format!("falco-k8s-audit-tests/rules/k8s_audit/{overlay}"),
        ]);
        load_ok(&[
            "falcosecurity-testing-k8saudit/k8saudit-rules-0.9.0/k8s_audit_rules.yaml",
            &format!("falcosecurity-testing-k8saudit/rules/k8s_audit/{overlay}"),
        ]);
    }
}

/// The testing repository's copy of the "engine v4" ruleset was fixed for newer Falco; it and
/// its overlays load.
#[test]
fn fixed_engine_v4_ruleset_loads_cleanly() {
    kaudit_testdata::require_shared!("upstream");
    let base = "falcosecurity-testing-k8saudit/rules/k8s_audit/engine_v4_k8s_audit_rules.yaml";
    load_ok(&[base]);
    for overlay in [
        "allow_nginx_container.yaml",
        "allow_only_apache_container.yaml",
    ] {
        load_ok(&[
            base,
            &format!("falcosecurity-testing-k8saudit/rules/k8s_audit/engine_v4/{overlay}"),
        ]);
    }
}

/// Falco's own copy of the "engine v4" ruleset predates libs 0.17's load-time operator checks: it uses `contains`
/// on list fields, which Falco 0.38+ rejects at load. So do we, with the same code and message.
#[test]
fn engine_v4_ruleset_is_rejected_like_falco_does() {
    kaudit_testdata::require_shared!("upstream");
    {
        let base = "falco-k8s-audit-tests/rules/k8s_audit/engine_v4_k8s_audit_rules.yaml";
        let files = [file(base)];
        let result = load(&files, &K8sAuditSchema::new(), &LoadOptions::k8s_audit());
        let errors: Vec<_> = result.errors().collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        let e = errors[0];
        assert_eq!(e.code.as_str(), "LOAD_ERR_COMPILE_CONDITION");
        assert_eq!(e.message, "'contains' operator not supported list filters");
        let item = e.item().unwrap();
        assert_eq!(item.kind.as_str(), "rule");
        assert_eq!(item.name, "ClusterRole With Pod Exec Created");
        assert_eq!(item.location.line, 282);
        assert!(result.rules.is_empty());
    }
}

#[test]
fn every_upstream_rule_compiles_to_a_condition_that_prints() {
    kaudit_testdata::require_shared!("upstream");
    let result = load_ok(&["falco-k8s_audit_rules.yaml"]);
    let rule = result.rule("Create Privileged Pod").unwrap();
    let printed = rule.expanded.falco_string();
    assert!(printed.contains("ka.target.resource = pods"), "{printed}");
    assert!(!rule.output_text.is_empty());
}

/// A path under `../shared`, read at run time.
fn shared(path: &str) -> String {
    let upstream = kaudit_testdata::upstream_path();
    let root = upstream.strip_suffix("upstream").unwrap_or(&upstream);
    format!("{root}{path}")
}
