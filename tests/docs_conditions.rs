//! Runs every example of docs/conditions.md: each ```example block's condition, as a rule, on
//! the page's base event with the block's fields replaced, must match or not as it says. The
//! page's rules-file block must load and fire on a pod creation.

use serde_json::Value;

const PAGE: &str = include_str!("../docs/conditions.md");

/// The text of every fenced block whose info string is `tag`.
fn blocks<'a>(tag: &str) -> Vec<&'a str> {
    let open = format!("```{tag}\n");
    let mut out = Vec::new();
    let mut rest = PAGE;
    while let Some(start) = rest.find(&open) {
        let body = &rest[start + open.len()..];
        let Some(end) = body.find("```") else {
            panic!("unclosed block in docs/conditions.md");
        };
        out.push(&body[..end]);
        rest = &body[end..];
    }
    out
}

fn fires(rules: &str, event: &Value) -> bool {
    let engine = kaudit::Engine::builder()
        .rules_text("conditions.md", rules)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let found = engine.evaluate(event.to_string().as_bytes());
    assert!(found.errors.is_empty(), "{:?}", found.errors);
    !found.alerts.is_empty()
}

#[test]
fn every_example_of_the_condition_reference_holds() {
    let base: Value = serde_json::from_str(blocks("json")[0]).unwrap();
    let examples = blocks("example");
    assert!(examples.len() >= 10, "{} examples", examples.len());
    for block in examples {
        let (mut condition, mut patch, mut expected) = (None, None, None);
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("condition: ") {
                condition = Some(v);
            } else if let Some(v) = line.strip_prefix("event: ") {
                patch = Some(serde_json::from_str::<Value>(v).unwrap());
            } else if let Some(v) = line.strip_prefix("matches: ") {
                expected = Some(v == "true");
            }
        }
        let condition = condition.expect("a condition line");
        let mut event = base.clone();
        if let Some(Value::Object(fields)) = patch {
            for (k, v) in fields {
                event[k] = v;
            }
        }
        let rules = format!(
            "- rule: example\n  desc: example\n  condition: >-\n    {condition}\n  output: matched\n  priority: NOTICE\n  source: k8s_audit\n"
        );
        assert_eq!(
            fires(&rules, &event),
            expected.expect("a matches line"),
            "{condition} on {event}"
        );
    }
}

#[test]
fn the_lists_and_macros_example_loads_and_fires() {
    let rules = blocks("yaml")[0];
    let mut event: Value = serde_json::from_str(blocks("json")[0]).unwrap();
    assert!(!fires(rules, &event));
    event["verb"] = "create".into();
    assert!(fires(rules, &event));
}
