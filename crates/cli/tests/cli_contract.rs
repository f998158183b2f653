//! The command-line contract and the input formats, run in-process through `cli::run_with`:
//! usage errors exit 2 from the argument parser, selection values that match nothing are
//! named, `-V` is not the version, non-audit JSON is a reported bad event, line-oriented input
//! stays line-oriented, and the formats CloudWatch exports (`aws logs filter-log-events` JSON,
//! export-to-S3 lines, gzipped) are read as they are, with the same alerts as JSON lines.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure is a test failure"
)]

use std::io::Write as _;
use std::process::ExitCode;

const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/data/sample-audit.jsonl"
);

mod common;
use common::kaudit;

/// A file in a fresh temporary directory (kept alive by the returned guard).
fn temp_file(name: &str, bytes: &[u8]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    (dir, path.to_str().unwrap().to_owned())
}

fn sample_lines() -> Vec<String> {
    std::fs::read_to_string(SAMPLE)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bad_option_values_are_usage_errors_exiting_2() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["scan", "--min-priority", "loud", SAMPLE],
            "unknown priority `loud`",
        ),
        (&["scan", "-o", "nope=1", SAMPLE], "unknown key `nope`"),
        (&["scan", "-o", "json_output", SAMPLE], "expected key=value"),
        (
            &["scan", "-o", "json_output=maybe", SAMPLE],
            "json_output is `true` or `false`",
        ),
        (
            &["scan", "-o", "rule_matching=some", SAMPLE],
            "rule_matching is `first` or `all`",
        ),
        (
            &["scan", "-o", "priority=loud", SAMPLE],
            "unknown priority `loud`",
        ),
        (
            &["scan", "--time-zone", "mars", SAMPLE],
            "expected local, utc, +HH:MM or -HH:MM",
        ),
        (
            &["scan", "--time-zone", "+25:00", SAMPLE],
            "expected local, utc, +HH:MM or -HH:MM",
        ),
        (&["scan", "--output-timeout", "10", SAMPLE], "missing unit"),
        (
            &["scan", "--threads", "0", SAMPLE],
            "invalid value '0' for '--threads <N>': `0`: at least 1 thread is needed",
        ),
        (
            &["scan", "--threads", "two", SAMPLE],
            "invalid value 'two' for '--threads <N>': `two` is not a number of threads",
        ),
        (
            &["scan", "--threads=-1", SAMPLE],
            "`-1` is not a number of threads",
        ),
        (&["scan", "--drain-timeout", "5x", SAMPLE], "unknown unit"),
        (
            &[
                "watch",
                "cloudwatch",
                "--log-group",
                "g",
                "--start",
                "2026-02-30T00:00:00Z",
            ],
            "invalid start position `2026-02-30T00:00:00Z`",
        ),
        (
            &[
                "watch",
                "cloudwatch",
                "--log-group",
                "g",
                "--start",
                "yesterday",
            ],
            "invalid start position `yesterday`",
        ),
        (
            &[
                "watch",
                "cloudwatch",
                "--log-group",
                "g",
                "--poll-interval",
                "5",
            ],
            "missing unit",
        ),
        (
            &[
                "watch",
                "cloudwatch",
                "--log-group",
                "g",
                "--settle-lag",
                "1y",
            ],
            "unknown unit",
        ),
        (
            &["watch", "cloudwatch", "--log-group", "g", "--start", "-48h"],
            "lookback 172800s exceeds max backfill 86400s",
        ),
    ];
    for (args, message) in cases {
        let (code, out, err) = kaudit(args);
        assert_eq!(code, ExitCode::from(2), "{args:?}: {err}");
        assert_eq!(out, "", "{args:?}");
        assert!(err.contains(message), "{args:?}: {err}");
    }
}

#[test]
fn a_negative_time_zone_is_a_separate_argument() {
    let (code, utc, _) = kaudit(&["scan", "--time-zone", "utc", SAMPLE]);
    assert_eq!(code, ExitCode::SUCCESS);
    let (code, west, err) = kaudit(&["scan", "--time-zone", "-08:00", SAMPLE]);
    assert_eq!(code, ExitCode::SUCCESS, "{err}");
    let (code, joined, _) = kaudit(&["scan", "--time-zone=-08:00", SAMPLE]);
    assert_eq!(code, ExitCode::SUCCESS);
    assert_eq!(west, joined);
    // The sample's first alert is at 00:00:00.513014000 UTC, so 16:00 the day before at -08:00.
    assert!(utc.starts_with("00:00:00.513014000: Notice"), "{utc}");
    assert!(west.starts_with("16:00:00.513014000: Notice"), "{west}");
    assert_eq!(utc.lines().count(), west.lines().count());
}

#[test]
fn selection_values_that_match_nothing_are_named() {
    let (code, out, err) = kaudit(&[
        "scan",
        "--disable-rule",
        "No Such Rule",
        "--enable-rule",
        "Nope*",
        "--disable-tag",
        "no-such-tag",
        "--enable-tag",
        "k8s",
        "--disable-rule",
        "Exec Or Attach*",
        SAMPLE,
    ]);
    assert_eq!(code, ExitCode::SUCCESS, "{err}");
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("kaudit: warning:"))
        .collect();
    assert_eq!(
        warnings,
        [
            "kaudit: warning: --disable-rule `No Such Rule` matches no rule",
            "kaudit: warning: --enable-rule `Nope*` matches no rule",
            "kaudit: warning: --disable-tag `no-such-tag` matches no rule's tags",
        ]
    );
    assert!(
        !out.contains("Session into pod"),
        "the exec rule is disabled"
    );
}

#[test]
fn dash_capital_v_is_not_the_version() {
    let (code, out, _) = kaudit(&["--version"]);
    assert_eq!(code, ExitCode::SUCCESS);
    assert_eq!(out, format!("kaudit {}\n", env!("CARGO_PKG_VERSION")));
    let (code, out, err) = kaudit(&["-V"]);
    assert_eq!(code, ExitCode::from(2));
    assert_eq!(out, "");
    assert!(err.contains("unexpected argument '-V'"), "{err}");
}

#[test]
fn an_unwritable_checkpoint_is_refused_at_start_up() {
    let (code, _, err) = kaudit(&[
        "watch",
        "cloudwatch",
        "--log-group",
        "g",
        "--region",
        "us-east-1",
        "--endpoint-url",
        "http://127.0.0.1:9",
        "--checkpoint",
        "/nonexistent-dir/kaudit/checkpoint.json",
    ]);
    assert_eq!(code, ExitCode::FAILURE);
    assert!(
        err.starts_with("kaudit: cannot use --checkpoint: ")
            && err.contains("/nonexistent-dir/kaudit/checkpoint.json"),
        "{err}"
    );
    // Nothing was tried against the endpoint.
    assert!(!err.contains("CloudWatch"), "{err}");
}

#[test]
fn json_that_is_not_an_audit_event_is_a_reported_bad_event() {
    let lines = sample_lines();
    let text = format!(
        "{{\"a\":1}}\n{}\n{{\"kind\":\"Pod\",\"apiVersion\":\"v1\"}}\n{{\"kind\":\"Event\",\"apiVersion\":\"v1\",\"auditID\":\"x\"}}\n",
        lines[3]
    );
    let (_dir, path) = temp_file("mixed.jsonl", text.as_bytes());
    let (code, out, err) = kaudit(&["scan", &path]);
    assert_eq!(code, ExitCode::SUCCESS, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    let skipped: Vec<&str> = err.lines().filter(|l| l.contains(": skipped: ")).collect();
    assert_eq!(
        skipped,
        [
            format!(
                "kaudit: {path}: skipped: line 1, byte offset 0: not a Kubernetes audit event: it has no key of an audit event (`kind`, `apiVersion`, `auditID`, `verb`, …)"
            ),
            format!(
                "kaudit: {path}: skipped: line 3, byte offset {}: not a Kubernetes audit event: `kind` is \"Pod\", expected \"Event\"",
                8 + lines[3].len() + 1
            ),
            format!(
                "kaudit: {path}: skipped: line 4, byte offset {}: not a Kubernetes audit event: `apiVersion` is \"v1\", expected \"audit.k8s.io/v1\" [auditID x]",
                8 + lines[3].len() + 1 + 33
            ),
        ]
    );
    assert!(
        err.contains("Events read: 1, bad events skipped: 3, alerts: 1"),
        "{err}"
    );
}

#[test]
fn truncated_lines_at_the_top_do_not_swallow_the_file() {
    let lines = sample_lines();
    let cut = |l: &str| format!("{}[Truncated...]", &l[..200]);
    let mut text = format!("{}\n{}\n", cut(&lines[0]), cut(&lines[1]));
    for l in &lines[..100] {
        text.push_str(l);
        text.push('\n');
    }
    let (_dir, path) = temp_file("cut.jsonl", text.as_bytes());
    let (code, out, err) = kaudit(&["scan", &path]);
    assert_eq!(code, ExitCode::SUCCESS, "{err}");
    let (_d2, plain) = temp_file(
        "plain.jsonl",
        text.lines()
            .skip(2)
            .collect::<Vec<_>>()
            .join("\n")
            .as_bytes(),
    );
    let (_, expected, _) = kaudit(&["scan", &plain]);
    assert!(!expected.is_empty());
    assert_eq!(out, expected);
    let skipped: Vec<&str> = err.lines().filter(|l| l.contains(": skipped: ")).collect();
    assert_eq!(skipped.len(), 2, "{err}");
    assert!(
        skipped[0].starts_with(&format!("kaudit: {path}: skipped: line 1, byte offset ")),
        "{err}"
    );
    assert!(
        skipped[0].ends_with(
            "[message truncated by the log backend; auditID 6389a06e-a997-4e44-a81b-50509a1f1e33]"
        ),
        "{err}"
    );
    assert!(
        skipped[1].starts_with(&format!("kaudit: {path}: skipped: line 2, byte offset ")),
        "{err}"
    );
    assert!(
        err.contains("Events read: 100, bad events skipped: 2"),
        "{err}"
    );
}

/// A CloudWatch-like event id (56 digits).
fn event_id(i: usize) -> String {
    format!("3861{i:052}")
}

/// `aws logs filter-log-events` output: pretty-printed pages, the CLI's 4-space indent.
fn filter_log_events_page(events: &[(usize, &str)], next: bool) -> String {
    let items: Vec<serde_json::Value> = events
        .iter()
        .map(|(i, msg)| {
            serde_json::json!({
                "logStreamName": "kube-apiserver-audit-0123456789abcdef",
                "timestamp": 1_764_547_200_000_i64 + *i as i64,
                "message": msg,
                "ingestionTime": 1_764_547_201_000_i64 + *i as i64,
                "eventId": event_id(*i),
            })
        })
        .collect();
    let mut page = serde_json::json!({
        "events": items,
        "searchedLogStreams": [],
    });
    if next {
        page["nextToken"] = serde_json::json!("Bxkq6kVGFtq2y_MoigeqscPOdhXVbhiVtLoAmXb5jCrI7");
    }
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(&page, &mut ser).unwrap();
    String::from_utf8(out).unwrap() + "\n"
}

#[test]
fn filter_log_events_json_is_read_as_its_messages() {
    let lines = sample_lines();
    let first: Vec<(usize, &str)> = lines[..150]
        .iter()
        .map(String::as_str)
        .enumerate()
        .collect();
    let second: Vec<(usize, &str)> = lines[150..]
        .iter()
        .map(String::as_str)
        .enumerate()
        .map(|(i, l)| (i + 150, l))
        .collect();
    let text = filter_log_events_page(&first, true) + &filter_log_events_page(&second, false);
    let (_dir, path) = temp_file("events.json", text.as_bytes());
    let (code, out, err) = kaudit(&["scan", &path]);
    assert_eq!(code, ExitCode::SUCCESS, "{err}");
    let (_, expected, expected_err) = kaudit(&["scan", SAMPLE]);
    assert_eq!(out, expected);
    let summary = |e: &str| {
        e.lines()
            .find(|l| l.starts_with("Events read"))
            .map(|l| l.split(", events/s").next().unwrap_or("").to_owned())
    };
    assert_eq!(summary(&err), summary(&expected_err));
    assert!(
        err.contains("Events read: 400, bad events skipped: 0, alerts: 100"),
        "{err}"
    );

    // The same pages one per line (`jq -c`) read the same.
    let compact: String = text
        .split("\n}\n")
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let v: serde_json::Value = serde_json::from_str(&format!("{p}\n}}")).unwrap();
            v.to_string() + "\n"
        })
        .collect();
    let (_d2, path2) = temp_file("events.jsonl", compact.as_bytes());
    let (code, out2, err2) = kaudit(&["scan", &path2]);
    assert_eq!(code, ExitCode::SUCCESS, "{err2}");
    assert_eq!(out2, expected);
}

#[test]
fn a_truncated_message_names_its_stream_event_id_and_audit_id() {
    let lines = sample_lines();
    let cut = format!("{}[Truncated...]", &lines[3][..300]);
    let text = filter_log_events_page(&[(7, &cut), (8, &lines[3])], false);
    let (_dir, path) = temp_file("cut.json", text.as_bytes());
    let (code, out, err) = kaudit(&["scan", &path]);
    assert_eq!(code, ExitCode::SUCCESS, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    let skipped: Vec<&str> = err.lines().filter(|l| l.contains(": skipped: ")).collect();
    assert_eq!(skipped.len(), 1, "{err}");
    assert!(
        skipped[0].starts_with(&format!("kaudit: {path}: skipped: line 3, byte offset ")),
        "{err}"
    );
    let context = format!(
        "[message truncated by the log backend; stream kube-apiserver-audit-0123456789abcdef; eventId {}; auditID edc88196-01be-4449-817e-eee908d46355]",
        event_id(7)
    );
    assert!(skipped[0].ends_with(&context), "{err}");
}

#[test]
fn s3_export_lines_gzipped_are_read_as_their_messages() {
    let lines = sample_lines();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for (i, l) in lines.iter().enumerate() {
        writeln!(
            gz,
            "2026-12-01T00:00:{:02}.{:03}Z {l}",
            i / 1000 % 60,
            i % 1000
        )
        .unwrap();
    }
    let bytes = gz.finish().unwrap();
    let (_dir, path) = temp_file("000000.gz", &bytes);
    let (code, out, err) = kaudit(&["scan", &path]);
    assert_eq!(code, ExitCode::SUCCESS, "{err}");
    let (_, expected, _) = kaudit(&["scan", SAMPLE]);
    assert_eq!(out, expected);
    assert!(
        err.contains("Events read: 400, bad events skipped: 0, alerts: 100"),
        "{err}"
    );
}

#[test]
fn built_in_rules_name_the_resources_the_event_names() {
    let (code, out, _) = kaudit(&["scan", SAMPLE]);
    assert_eq!(code, ExitCode::SUCCESS);
    for (key, at_least) in [
        ("service=", 9),
        ("role=", 5),
        ("binding=", 9),
        ("pod=", 20),
        ("configmap=", 1),
    ] {
        let named = out.matches(key).count();
        assert!(named >= at_least, "{key}: {named} alerts");
        assert!(!out.contains(&format!("{key}<NA>")), "{key}<NA> in\n{out}");
    }
}

#[test]
fn compat_falco_reads_the_events_falco_reads() {
    // A lone UTF-16 surrogate escape in the user agent: serde refuses the string, Falco's
    // parser keeps it as it is.
    let line = sample_lines()[3].replacen("\"userAgent\":\"", "\"userAgent\":\"\\ud800 ", 1);
    let (_dir, path) = temp_file("surrogate.jsonl", format!("{line}\n").as_bytes());
    let (code, out, err) = kaudit(&["scan", &path]);
    assert_eq!(code, ExitCode::SUCCESS, "{err}");
    assert_eq!(out, "");
    assert!(
        err.contains("Events read: 0, bad events skipped: 1, alerts: 0"),
        "{err}"
    );
    let (code, out, err) = kaudit(&["scan", "--compat", "falco", &path]);
    assert_eq!(code, ExitCode::SUCCESS, "{err}");
    assert!(
        out.starts_with("00:00:00.513014000: Notice Session into pod (user=bob@example.com"),
        "{out}"
    );
    assert!(
        err.contains("Events read: 1, bad events skipped: 0, alerts: 1"),
        "{err}"
    );
}

#[test]
fn rules_check_reports_every_independent_error() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/independent_errors.yaml"
    );
    let (code, out, _) = kaudit(&["rules", "check", path]);
    assert_eq!(code, ExitCode::FAILURE);
    let summary: Vec<&str> = out
        .lines()
        .filter(|l| {
            l.starts_with("LOAD_")
                || l.ends_with("Errors:")
                || l.ends_with("Warnings:")
                || l.starts_with("    In ")
        })
        .collect();
    let at = |l: u32, c: u32| format!("({path}:{l}:{c})");
    assert_eq!(
        summary,
        [
            "4 Errors:".to_owned(),
            format!("    In rule 'r1': {}", at(4, 3)),
            "LOAD_ERR_YAML_VALIDATE (Error validating internal structure of YAML file): Item has no mapping for key 'output'".to_owned(),
            format!("    In rule 'r3': {}", at(17, 3)),
            "LOAD_ERR_YAML_VALIDATE (Error validating internal structure of YAML file): Invalid priority".to_owned(),
            format!("    In macro 'm1': {}", at(1, 3)),
            "LOAD_ERR_COMPILE_CONDITION (Error compiling condition): expected a ')' token".to_owned(),
            format!("    In rule 'r2': {}", at(10, 3)),
            "LOAD_ERR_COMPILE_CONDITION (Error compiling condition): filter_check called with nonexistent field ka.nosuch".to_owned(),
            "2 Warnings:".to_owned(),
            format!("    In rule 'r4': {}", at(24, 3)),
            "LOAD_UNKNOWN_KEY (Unknown key in item definition): Unknown key 'foo'. The key will be ignored.".to_owned(),
            format!("    In macro 'm1': {}", at(1, 3)),
            "LOAD_UNUSED_MACRO (Unused macro): Macro not referred to by any other rule/macro".to_owned(),
        ]
    );
    // What Falco reports is the first of them: loading stops there.
    let text = std::fs::read_to_string(path).unwrap();
    let files = [kaudit_rules::RuleFile::new(path, text)];
    let schema = kaudit_event::K8sAuditSchema::new();
    let report = kaudit_rules::check(&files, &schema, &kaudit_rules::LoadOptions::k8s_audit());
    let falco: Vec<String> = report
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.clone())
        .collect();
    assert_eq!(falco, ["Item has no mapping for key 'output'"]);
    assert_eq!(report.further.iter().filter(|d| d.is_error()).count(), 3);
}

#[test]
fn debug_prints_readable_trees_and_programs() {
    let (code, out, _) = kaudit(&[
        "debug",
        "ast",
        "ka.verb in (create, update) and not ka.user.name startswith \"system:\"",
    ]);
    assert_eq!(code, ExitCode::SUCCESS);
    assert_eq!(
        out,
        "and\n  ka.verb in (create, update)\n  not\n    ka.user.name startswith system:\n"
    );
    let (code, out, _) = kaudit(&[
        "debug",
        "program",
        "ka.verb in (update, create) and ka.uri.param[command] exists",
    ]);
    assert_eq!(code, ExitCode::SUCCESS);
    assert_eq!(
        out,
        "program: 3 nodes, 2 checks, root n2\n  n0 = check c0\n  n1 = check c1\n  n2 = and n0 n1\n  c0 = ka.verb in (\"create\", \"update\")\n  c1 = ka.uri.param[command] exists\n"
    );
}

#[test]
fn debug_expanded_uses_the_macros_and_lists_of_rules_files() {
    let rules = temp_file(
        "rules.yaml",
        b"- list: writers\n  items: [create, update]\n- macro: kwrite\n  condition: ka.verb in (writers)\n- macro: pod\n  condition: ka.target.resource = pods\n",
    );
    let (code, out, err) = kaudit(&["debug", "expanded", "-r", &rules.1, "kwrite and pod"]);
    assert_eq!(code, ExitCode::SUCCESS, "{err}");
    assert_eq!(
        out,
        "and\n  ka.verb in (create, update)\n  ka.target.resource = pods\n"
    );
    let (code, out, _) = kaudit(&["debug", "program", "-r", &rules.1, "kwrite"]);
    assert_eq!(code, ExitCode::SUCCESS);
    assert!(
        out.ends_with("  c0 = ka.verb in (\"create\", \"update\")\n"),
        "{out}"
    );
    // Without the file the macro is unknown.
    let (code, _, err) = kaudit(&["debug", "expanded", "-r", &rules.1, "kwrite and nosuch"]);
    assert_eq!(code, ExitCode::FAILURE);
    assert!(
        err.contains("Undefined macro 'nosuch' used in filter."),
        "{err}"
    );
}

#[test]
fn an_unreadable_file_among_several_is_reported_and_the_others_are_scanned() {
    let lines = sample_lines();
    let (_d1, a) = temp_file("a.jsonl", format!("{}\n", lines[3]).as_bytes());
    let (_d2, c) = temp_file("c.jsonl", format!("{}\n", lines[3]).as_bytes());
    let (code, out, err) = kaudit(&["scan", &a, "/nonexistent/b.jsonl", &c]);
    assert_eq!(code, ExitCode::FAILURE, "{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(
        err.contains("kaudit: cannot read /nonexistent/b.jsonl: No such file or directory"),
        "{err}"
    );
    assert!(
        err.contains("Events read: 2, bad events skipped: 0, alerts: 2"),
        "{err}"
    );
}
