//! The JSON alert written straight into a buffer (`AlertRenderer::render` / `write_json`) is
//! byte for byte the serialized owned `Alert` (`AlertRenderer::alert` + `Alert::to_json`), on
//! every alert of Falco's rules (all rules enabled, every match) over the sample corpus; and
//! `Alert::write_json` (a direct writer) is byte for byte what serde gives for the same alert.

use kaudit_engine::alert::{AlertFormat, AlertRenderer, TimeFormat, TimeZone};
use kaudit_engine::ruleset::{Matching, Rule, RuleSet, Selection};
use kaudit_event::{Compat, DecodeOptions, Field, K8sAuditSchema, decode_event};
use kaudit_rules::{LoadOptions, RuleFile, load};

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
        matching: Matching::All,
        enable_rules: vec!["*".to_owned()],
        ..Selection::default()
    };
    RuleSet::new(rules, &schema, &sel)
}

#[test]
fn written_json_alerts_are_the_serialized_alerts() {
    let Some(path) = kaudit_testdata::shared("upstream/falco-k8s_audit_rules.yaml", "json_alert")
    else {
        return;
    };
    let text = std::fs::read_to_string(path).expect("read the upstream rules");
    let sets = [ruleset(&text), ruleset(kaudit_engine::BUILTIN_RULES)];
    let renderers = [
        AlertRenderer {
            format: AlertFormat::Json,
            hostname: "host \"1\"\t\\".to_owned(),
            ..AlertRenderer::default()
        },
        AlertRenderer {
            format: AlertFormat::Json,
            time_format: TimeFormat::Iso8601,
            time_zone: TimeZone::Fixed(3600),
            hostname: String::new(),
        },
    ];
    let sample = kaudit_event::sample::generate(kaudit_event::sample::SAMPLE_SEED, 2_000);
    let opts = DecodeOptions::default();
    let mut matches = Vec::new();
    let mut out = String::new();
    let mut compared = 0;
    for line in sample.lines().filter(|l| !l.is_empty()) {
        let ev = decode_event(line, &opts).expect("sample lines decode");
        for set in &sets {
            set.evaluate(&ev, &mut matches);
            for &i in &matches {
                let rule = set.rule(i).expect("a matched rule exists");
                for r in &renderers {
                    out.clear();
                    r.render(rule, &ev, ev.timestamp_ns(), &mut out);
                    let alert = r.alert(rule, &ev, ev.timestamp_ns());
                    let mut want = String::new();
                    alert.write_line(AlertFormat::Json, &mut want);
                    assert_eq!(out, want, "rule {:?} on {line}", rule.name);
                    let serde = serde_json::to_string(&alert).expect("an alert serializes");
                    assert_eq!(want, serde + "\n", "rule {:?} on {line}", rule.name);
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > 1000, "only {compared} alerts compared");
}

#[test]
fn an_alert_with_every_kind_of_value_writes_what_serde_gives() {
    use kaudit_engine::Priority;
    use kaudit_engine::alert::{Alert, FieldValue};
    let odd = "q\"b\\s/ \u{0} \u{1f} \t\n\r\u{8}\u{c} \u{7f} \u{2028} é 😀";
    let alert = Alert {
        hostname: odd.to_owned(),
        output: format!("00:00:00.000000000: Critical {odd}"),
        output_fields: [
            ("a.missing".to_owned(), FieldValue::Missing),
            ("b.bool".to_owned(), FieldValue::Bool(false)),
            ("c.uint".to_owned(), FieldValue::Uint(u64::MAX)),
            ("d.int".to_owned(), FieldValue::Int(i64::MIN)),
            (odd.to_owned(), FieldValue::Str(odd.to_owned())),
            (
                "f.list".to_owned(),
                FieldValue::List(vec![odd.to_owned(), String::new()]),
            ),
            ("g.empty".to_owned(), FieldValue::List(Vec::new())),
        ]
        .into(),
        priority: Priority::Critical,
        rule: odd.to_owned(),
        source: "k8s_audit".to_owned(),
        tags: vec![odd.to_owned(), "k8s".to_owned()],
        time_ns: u64::MAX,
    };
    let want = serde_json::to_string(&alert).expect("an alert serializes");
    assert_eq!(alert.to_json(), want);
    assert!(want.contains(r#""d.int":-9223372036854775808"#), "{want}");
    let back: Alert = serde_json::from_str(&alert.to_json()).expect("the JSON reads back");
    assert_eq!(back, alert);
}
