//! Loads arbitrary bytes as a rules file, alone and after the upstream k8s ruleset's first
//! lines, with the real k8s audit schema. Loading must never panic, and a failed load must
//! carry at least one error.

use kaudit_event::K8sAuditSchema;
use kaudit_rules::{LoadOptions, RuleFile, load};

const BASE: &str = "- list: l\n  items: [a, b]\n- macro: m\n  condition: ka.verb in (l)\n";

/// Runs the target over `data`.
///
/// # Panics
/// When an invariant of the module documentation breaks.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data).into_owned();
    let schema = K8sAuditSchema::new();
    let opts = LoadOptions::k8s_audit();
    for files in [
        vec![RuleFile::new("fuzz.yaml", text.clone())],
        vec![
            RuleFile::new("base.yaml", BASE),
            RuleFile::new("fuzz.yaml", text.clone()),
        ],
    ] {
        let result = load(&files, &schema, &opts);
        if result.files.iter().any(|f| !f.successful) {
            assert!(result.errors().next().is_some());
        }
    }
}
