//! Compiles arbitrary text as a rule's output template against the real k8s audit schema, then
//! renders it (text and fields) over a fixed event. Nothing may panic; a compiled template keeps
//! its source text; rendering is deterministic; every field value renders as valid JSON.

use std::sync::OnceLock;

use kaudit_event::{DecodeOptions, K8sAuditSchema, json_lines};
use kaudit_rules::format::OutputTemplate;

const EVENT: &[u8] = br#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods?x=1","verb":"create","user":{"username":"admin","groups":["system:masters"]},"sourceIPs":["10.0.0.1"],"objectRef":{"resource":"pods","namespace":"default","name":"p"},"responseStatus":{"code":201},"requestObject":{"spec":{"containers":[{"image":"nginx","securityContext":{"privileged":true}}]}},"requestReceivedTimestamp":"2024-01-01T00:00:00.000000Z","stageTimestamp":"2024-01-01T00:00:00.100000Z"}"#;

fn event_line() -> &'static [u8] {
    static LINE: OnceLock<Vec<u8>> = OnceLock::new();
    LINE.get_or_init(|| EVENT.to_vec())
}

/// Runs the target over `data`.
///
/// # Panics
/// When an invariant of the module documentation breaks.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let schema = K8sAuditSchema::new();
    let template = match OutputTemplate::compile(text, &schema) {
        Ok(t) => t,
        Err(e) => {
            assert!(e.offset() <= text.len(), "error offset past the text: {e}");
            let _ = e.to_string();
            return;
        }
    };
    assert_eq!(template.text(), text);
    let opts = DecodeOptions {
        max_event_size: 1 << 20,
    };
    for item in json_lines(event_line(), opts).flatten() {
        let ev = &item.1;
        let mut a = String::new();
        let mut b = String::new();
        template.render_text(ev, &mut a);
        template.render_text(ev, &mut b);
        assert_eq!(a, b, "rendering is not deterministic");
        for (_, value) in template.render_fields(ev) {
            let mut json = String::new();
            value.write_json(&mut json);
            assert!(
                serde_json::from_str::<serde_json::Value>(&json).is_ok(),
                "field value renders as invalid JSON: {json}"
            );
        }
    }
}
