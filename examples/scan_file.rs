//! Load rules, stream an audit log through the engine, and handle the `Alert` values in code.
//!
//! No async runtime and no AWS SDK are involved: this is what
//! `kaudit = { version = "0.1", default-features = false }` gives. The log is read line by
//! line (JSON lines, as `kube-apiserver --audit-log-path` writes them), each line evaluated with
//! [`Engine::evaluate`], and the alerts counted per rule and priority.
//!
//! ```text
//! cargo run --example scan_file                              # the built-in rules, examples/data/sample-audit.jsonl
//! cargo run --example scan_file -- AUDIT.jsonl [RULES.yaml]...
//! ```
//!
//! Prints the first alert of each rule (priority, rule, Falco's output line), then a count per
//! rule and the number of events read.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::ExitCode;

use kaudit::{Engine, Matching, Priority};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let log = args.next().unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/data/sample-audit.jsonl"
        )
        .to_owned()
    });
    let rules: Vec<String> = args.collect();

    // Rules files in order, or the built-in rules; every matching rule, not only the first.
    let mut builder = Engine::builder().matching(Matching::All);
    if rules.is_empty() {
        builder = builder.builtin_rules();
    }
    for r in &rules {
        builder = builder.rules_file(r);
    }
    let engine = match builder.build() {
        Ok(e) => e,
        Err(e) => {
            // Falco-style diagnostics: file, line, column, the offending text, a caret.
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };

    let file = match std::fs::File::open(&log) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("cannot open {log}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut per_rule: BTreeMap<String, (Priority, usize)> = BTreeMap::new();
    let (mut events, mut bad) = (0, 0);
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("{log}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let found = engine.evaluate(line.as_bytes());
        events += found.events;
        for e in &found.errors {
            bad += 1;
            eprintln!("{log}:{}: skipped: {e}", n + 1);
        }
        for alert in found.alerts {
            let entry = per_rule
                .entry(alert.rule.clone())
                .or_insert((alert.priority, 0));
            if entry.1 == 0 {
                println!(
                    "{:<13} {}: {}",
                    alert.priority.to_string(),
                    alert.rule,
                    alert.output
                );
            }
            entry.1 += 1;
        }
    }
    println!("\n{events} events read from {log}, {bad} skipped");
    for (rule, (priority, count)) in &per_rule {
        println!(
            "{count:>6}  {priority:<13} {rule}",
            priority = priority.to_string()
        );
    }
    ExitCode::SUCCESS
}
