//! Golden tests for `kaudit scan`: Falco's k8s audit ruleset (`falco-k8s_audit_rules.yaml`,
//! unmodified) over every trace of Falco's k8s audit regression suite, with Falco's JSON alerts.
//! Each trace's stdout (and stderr, when not empty) is pinned in `tests/golden/k8s_audit/`.
//! Bless new outputs with `UPDATE_EXPECT=1 cargo test -p kaudit-engine --test scan_golden`.
//!
//! The index equivalence test lives here too: on every trace and on the generated sample
//! corpus, the indexed evaluation gives exactly the rules that evaluating every rule gives, in
//! first-match and all-matches mode.

use std::path::{Path, PathBuf};

use kaudit_engine::ruleset::{Matching, Rule, RuleSet, Selection};
use kaudit_event::{Compat, DecodeOptions, K8sAuditSchema, decode_document, json_lines};
use kaudit_rules::{LoadOptions, RuleFile, load};

fn rules_path() -> String {
    let shared = kaudit_testdata::upstream_path();
    format!("{shared}/falco-k8s_audit_rules.yaml")
}

#[expect(
    clippy::unwrap_used,
    reason = "test helper: a failure is a test failure"
)]
fn traces() -> Vec<PathBuf> {
    let shared = kaudit_testdata::upstream_path();
    let dir = format!("{shared}/falco-k8s-audit-tests/trace_files/k8s_audit");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/k8s_audit")
}

/// Runs the CLI in-process; returns (exit code is success, stdout, stderr).
#[expect(
    clippy::unwrap_used,
    reason = "test helper: a failure is a test failure"
)]
fn kaudit(args: &[&str]) -> (bool, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut argv = vec!["kaudit"];
    argv.extend_from_slice(args);
    let code = kaudit_cli::run_with(argv, &mut out, &mut err);
    (
        code == std::process::ExitCode::SUCCESS,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[expect(
    clippy::unwrap_used,
    reason = "test helper: a failure is a test failure"
)]
fn check_golden(path: &Path, actual: &str, failures: &mut Vec<String>) {
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        if actual.is_empty() && path.extension().is_none_or(|e| e != "jsonl") {
            let _ = std::fs::remove_file(path);
        } else {
            std::fs::write(path, actual).unwrap();
        }
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected != actual {
        failures.push(format!(
            "{}:\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        ));
    }
}

#[test]
fn falco_k8s_audit_rules_over_every_upstream_trace_match_the_goldens() {
    kaudit_testdata::require_shared!("upstream");
    let rules = rules_path();
    let dir = golden_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    let traces = traces();
    assert_eq!(traces.len(), 47);
    for trace in &traces {
        let stem = trace.file_stem().unwrap().to_str().unwrap();
        let trace_str = trace.to_str().unwrap();
        let (ok, out, err) = kaudit(&[
            "scan",
            "--rules",
            &rules,
            "--format",
            "json",
            "--compat",
            "falco",
            "--time-zone",
            "utc",
            "--hostname",
            "kaudit-golden",
            "--quiet",
            trace_str,
        ]);
        assert!(ok, "{stem}: scan failed: {err}");
        let err = err.replace(trace_str, &format!("{stem}.json"));
        check_golden(&dir.join(format!("{stem}.jsonl")), &out, &mut failures);
        check_golden(&dir.join(format!("{stem}.stderr")), &err, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn text_format_uses_falcos_prefix_and_priority_names() {
    kaudit_testdata::require_shared!("upstream");
    let shared = kaudit_testdata::upstream_path();
    let trace = format!(
        "{shared}/falco-k8s-audit-tests/trace_files/k8s_audit/create_nginx_pod_privileged.json"
    );
    let (ok, out, err) = kaudit(&[
        "scan",
        "--rules",
        &rules_path(),
        "--time-zone",
        "utc",
        &trace,
    ]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "14:09:12.581541000: Warning Pod started with privileged container \
         (user=system:serviceaccount:kube-system:replicaset-controller \
         pod=nginx-deployment-5cdcc99dbf-rgw6z resource=pods ns=default images=(nginx) \
         init_images=<NA> ephemeral_images=<NA>)\n"
    );
    assert!(err.starts_with("Events read: 1, bad events skipped: 0, alerts: 1, events/s: "));
    assert!(err.ends_with("   Create Privileged Pod: 1\n"));
}

fn ruleset(files: &[RuleFile], matching: Matching) -> RuleSet<kaudit_event::Field> {
    let schema = K8sAuditSchema::with_compat(Compat::Falco);
    let result = load(files, &schema, &LoadOptions::k8s_audit());
    assert!(result.successful(), "{:#?}", result.diagnostics);
    let rules: Vec<Rule<_>> = result.rules.into_iter().map(Rule::from).collect();
    RuleSet::new(
        rules,
        &schema,
        &Selection {
            matching,
            ..Selection::default()
        },
    )
}

#[test]
fn index_gives_the_same_matches_as_evaluating_every_rule() {
    kaudit_testdata::require_shared!("upstream");
    let text = std::fs::read_to_string(rules_path()).unwrap();
    let files = [RuleFile::new("falco-k8s_audit_rules.yaml", text)];
    let sample = kaudit_event::sample::generate(kaudit_event::sample::SAMPLE_SEED, 3000);
    let mut compared = 0;
    let mut matched = 0;
    for matching in [Matching::First, Matching::All] {
        let set = ruleset(&files, matching);
        assert!(
            set.index_stats().gated_by_verb > 20,
            "{:?}",
            set.index_stats()
        );
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for trace in traces() {
            let buf = std::fs::read(&trace).unwrap();
            let Ok(doc) = decode_document(&buf, &DecodeOptions::default()) else {
                continue;
            };
            for (_, ev) in doc.events.into_iter().flatten() {
                set.evaluate(&ev, &mut a);
                set.evaluate_unindexed(&ev, &mut b);
                assert_eq!(a, b, "{}", trace.display());
                compared += 1;
                matched += usize::from(!a.is_empty());
            }
        }
        for item in json_lines(sample.as_bytes(), DecodeOptions::default()) {
            let (_, ev) = item.unwrap();
            set.evaluate(&ev, &mut a);
            set.evaluate_unindexed(&ev, &mut b);
            assert_eq!(a, b, "{}", ev.raw_json());
            compared += 1;
            matched += usize::from(!a.is_empty());
        }
    }
    // 51 events in 46 decodable traces (fal_01_003 is not an audit event).
    assert_eq!(compared, 2 * (51 + 3000));
    assert!(matched > 100, "only {matched} events matched a rule");
}
