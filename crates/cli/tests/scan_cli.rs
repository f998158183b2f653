//! The `kaudit` command line, run in-process through `cli::run_with`: exit codes and messages,
//! the built-in ruleset on the bundled sample (pinned in `tests/golden/sample_default_rules.txt`,
//! bless with `UPDATE_EXPECT=1`), the JSON alert shape falcosidekick requires, and the
//! `rules`, `fields` and `debug` subcommands.

use std::path::Path;
use std::process::ExitCode;

const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/data/sample-audit.jsonl"
);

mod common;
use common::kaudit;

#[test]
fn default_rules_on_the_bundled_sample_match_the_golden() {
    let (code, out, err) = kaudit(&["scan", "--time-zone", "utc", SAMPLE]);
    assert_eq!(code, ExitCode::SUCCESS, "{err}");
    let summary: String = err
        .lines()
        .map(|l| {
            if l.starts_with("Events read:") {
                // events/s varies from run to run.
                l.rsplit_once(", events/s").map_or(l, |(a, _)| a).to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let actual = format!("{out}--- stderr\n{summary}\n");
    let golden =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/sample_default_rules.txt");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&golden, &actual).unwrap();
    }
    assert_eq!(std::fs::read_to_string(&golden).unwrap(), actual);
    assert!(summary.starts_with("Events read: 400, bad events skipped: 0, alerts: "));
}

#[test]
fn json_alerts_have_falcos_sorted_keys_and_what_falcosidekick_requires() {
    let (code, out, err) = kaudit(&[
        "scan",
        "--format",
        "json",
        "--hostname",
        "h1",
        "--quiet",
        SAMPLE,
    ]);
    assert_eq!(code, ExitCode::SUCCESS, "{err}");
    let mut n = 0;
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let obj = v.as_object().unwrap();
        let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "hostname",
                "output",
                "output_fields",
                "priority",
                "rule",
                "source",
                "tags",
                "time"
            ]
        );
        // The raw text keeps that order too (no map reordering on our side).
        assert!(line.starts_with("{\"hostname\":\"h1\",\"output\":"));
        let fields = obj["output_fields"].as_object().unwrap();
        assert!(fields["evt.time"].is_u64());
        assert!(!obj["rule"].as_str().unwrap().is_empty());
        let p = obj["priority"].as_str().unwrap();
        assert!(p.parse::<kaudit_rules::Priority>().is_ok(), "{p}");
        let t = obj["time"].as_str().unwrap();
        assert_eq!(t.len(), "2024-05-01T00:00:00.000000000Z".len(), "{t}");
        assert!(t.starts_with("2024-05-01T") && t.ends_with('Z'));
        assert_eq!(obj["source"], "k8s_audit");
        let tags: Vec<&str> = obj["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        let mut sorted = tags.clone();
        sorted.sort_unstable();
        assert_eq!(tags, sorted);
        n += 1;
    }
    assert!(n > 50, "{n} alerts");
}

#[test]
fn all_matches_reports_more_than_first_match() {
    kaudit_testdata::require_shared!("upstream");
    let shared = kaudit_testdata::upstream_path();
    let count = |extra: &[&str]| {
        let mut args = vec!["scan", "--quiet", "--rules"];
        let rules = format!("{shared}/falco-k8s_audit_rules.yaml");
        args.push(&rules);
        args.extend_from_slice(extra);
        args.push(SAMPLE);
        let (code, out, err) = kaudit(&args);
        assert_eq!(code, ExitCode::SUCCESS, "{err}");
        out.lines().count()
    };
    let first = count(&[]);
    let all = count(&["--all-matches"]);
    let all_o = count(&["-o", "rule_matching=all"]);
    assert!(all > first, "{all} vs {first}");
    assert_eq!(all, all_o);
    let warnings_up = count(&["--min-priority", "warning"]);
    assert!(warnings_up < first);
    let no_k8s = count(&["--disable-tag", "k8s"]);
    assert_eq!(no_k8s, 0);
}

#[test]
fn disabling_rules_and_priorities_filter_the_default_rules() {
    let (_, all, _) = kaudit(&["scan", "--quiet", SAMPLE]);
    let (_, no_exec, _) = kaudit(&["scan", "--quiet", "--disable-rule", "Exec Or *", SAMPLE]);
    assert!(all.contains("Session into pod"));
    assert!(!no_exec.contains("Session into pod"));
    let (_, only_rbac, _) = kaudit(&["scan", "--quiet", "--enable-tag", "rbac", SAMPLE]);
    assert!(only_rbac.lines().count() > 0);
    assert!(
        only_rbac
            .lines()
            .all(|l| l.contains("cluster-admin granted")
                || l.contains("wildcard")
                || l.contains("catch-all"))
    );
}

#[test]
fn errors_exit_non_zero_with_a_clear_message() {
    let (code, out, err) = kaudit(&["scan", "/nonexistent/audit.log"]);
    assert_eq!(code, ExitCode::FAILURE);
    assert_eq!(out, "");
    assert!(
        err.starts_with("kaudit: cannot read /nonexistent/audit.log: No such file"),
        "{err}"
    );

    let (code, _, err) = kaudit(&["scan", "--rules", "/nonexistent/rules.yaml", SAMPLE]);
    assert_eq!(code, ExitCode::FAILURE);
    assert!(
        err.starts_with("kaudit: cannot read rules file /nonexistent/rules.yaml"),
        "{err}"
    );

    let bad_rules = std::env::temp_dir().join(format!("kaudit-bad-{}.yaml", std::process::id()));
    std::fs::write(
        &bad_rules,
        "- rule: r\n  desc: d\n  condition: ka.verb = create and\n  output: o\n  priority: INFO\n  source: k8s_audit\n",
    )
    .unwrap();
    let (code, _, err) = kaudit(&["scan", "--rules", bad_rules.to_str().unwrap(), SAMPLE]);
    let _ = std::fs::remove_file(&bad_rules);
    assert_eq!(code, ExitCode::FAILURE);
    assert!(err.starts_with("kaudit: cannot load rules:\n"), "{err}");
    assert!(err.contains("LOAD_ERR_COMPILE_CONDITION"), "{err}");

    // Bad option values are usage errors (exit 2), reported by the argument parser.
    let (code, _, err) = kaudit(&["scan", "-o", "nope=1", SAMPLE]);
    assert_eq!(code, ExitCode::from(2));
    assert!(err.contains("unknown key `nope`"), "{err}");

    let (code, _, err) = kaudit(&["scan", "--min-priority", "loud", SAMPLE]);
    assert_eq!(code, ExitCode::from(2));
    assert!(err.contains("unknown priority `loud`"), "{err}");

    let (code, _, err) = kaudit(&["scan", "--format", "xml", SAMPLE]);
    assert_eq!(code, ExitCode::from(2));
    assert!(err.contains("invalid value 'xml'"), "{err}");
}

#[test]
fn undecodable_events_are_skipped_and_counted() {
    let path = std::env::temp_dir().join(format!("kaudit-mixed-{}.jsonl", std::process::id()));
    let good = std::fs::read_to_string(SAMPLE).unwrap();
    let first = good.lines().next().unwrap();
    std::fs::write(&path, format!("{first}\nnot json\n{first}\n")).unwrap();
    let (code, _, err) = kaudit(&["scan", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(code, ExitCode::SUCCESS);
    assert!(err.contains(": skipped: line 2, byte offset "), "{err}");
    assert!(
        err.contains("Events read: 2, bad events skipped: 1, alerts: 0"),
        "{err}"
    );
}

#[test]
fn rules_list_check_fields_and_debug() {
    kaudit_testdata::require_shared!("upstream");
    let shared = kaudit_testdata::upstream_path();
    let (code, out, _) = kaudit(&["rules", "list"]);
    assert_eq!(code, ExitCode::SUCCESS);
    assert_eq!(out.lines().count(), 20);
    assert_eq!(
        out.lines().next().unwrap(),
        "Anonymous Request Allowed\tWarning\tk8s_audit\tenabled\t[authentication,k8s,kaudit]"
    );

    let upstream = format!("{shared}/falco-k8s_audit_rules.yaml");
    let (code, out, _) = kaudit(&["rules", "check", &upstream]);
    assert_eq!(code, ExitCode::SUCCESS, "{out}");
    assert!(out.starts_with(&format!("{upstream}: Ok\n")), "{out}");

    let (code, out, _) = kaudit(&["fields"]);
    assert_eq!(code, ExitCode::SUCCESS);
    assert!(out.lines().any(|l| l.starts_with("ka.verb ")));
    assert!(
        out.lines()
            .any(|l| l.starts_with("ka.user.groups") && l.contains(" list "))
    );

    let (code, out, _) = kaudit(&["debug", "ast", "ka.verb = create"]);
    assert_eq!(code, ExitCode::SUCCESS);
    assert!(out.contains("ka.verb"), "{out}");
    let (code, out, _) = kaudit(&["debug", "program", "ka.verb in (create, update)"]);
    assert_eq!(code, ExitCode::SUCCESS);
    assert!(out.starts_with("program: "), "{out}");
    let (code, _, err) = kaudit(&["debug", "program", "ka.nope = 1"]);
    assert_eq!(code, ExitCode::FAILURE);
    assert!(err.contains("ka.nope"), "{err}");
}
