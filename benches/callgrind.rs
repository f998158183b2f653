//! Instructions per event under callgrind: stable on a noisy machine where wall-clock times
//! move by tens of percent. `benches/callgrind.sh` builds this binary and runs it under
//! `valgrind --tool=callgrind`, counting only the function `measured` (the second pass over
//! the lines, so one-time set-up and first-use growth are left out), and divides by the events.
//!
//! ```text
//! benches/callgrind.sh [EVENTS]            # every mode, 10,000 events by default
//! callgrind MODE EVENTS                    # the binary alone (what the script runs)
//! ```
//!
//! Modes, over kaudit-event's sample generator (W1, the EKS-shaped mix):
//! - `ignored_any`: `serde_json` validating each line into `IgnoredAny` (the floor);
//! - `decode`: kaudit-event's decode only;
//! - `full`: Falco's `k8s_audit_rules.yaml` (from `../shared`), first match, JSON alerts
//!   rendered into a reused buffer (kaudit-engine's `hot::Pass`, the loop the criterion bench
//!   and the allocation test run);
//! - `full_all`: the same with all matches;
//! - `builtin`: kaudit's built-in rules, first match.
//!
//! Without a mode (as `cargo bench` runs every bench target) it prints this usage and exits.

use std::hint::black_box;

use kaudit_engine::alert::{AlertFormat, AlertRenderer};
use kaudit_engine::hot::{Pass, decode_only, ignored_any, ruleset};
use kaudit_engine::ruleset::{Matching, RuleSet};
use kaudit_event::Field;

enum Work {
    IgnoredAny,
    Decode,
    Rules(RuleSet<Field>, AlertRenderer),
}

fn pass(work: &Work, lines: &[&str], rules_pass: &mut Pass) -> usize {
    match work {
        Work::IgnoredAny => ignored_any(lines),
        Work::Decode => decode_only(lines),
        Work::Rules(set, renderer) => rules_pass.run(set, renderer, lines).events,
    }
}

/// The pass callgrind counts (`--toggle-collect=*callgrind::measured*`).
#[inline(never)]
fn measured(work: &Work, lines: &[&str], rules_pass: &mut Pass) -> usize {
    // The two wrappers must not compile to the same code: the linker folds identical
    // functions, and callgrind would then count (or miss) both passes.
    std::hint::black_box(2_u8);
    pass(work, lines, rules_pass)
}

/// The same pass, run first and not counted.
#[inline(never)]
fn warm_up(work: &Work, lines: &[&str], rules_pass: &mut Pass) -> usize {
    std::hint::black_box(1_u8);
    pass(work, lines, rules_pass)
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (Some(mode), Some(events)) = (args.first(), args.get(1)) else {
        eprintln!(
            "callgrind bench: run `benches/callgrind.sh` (usage: callgrind ignored_any|decode|full|full_all|builtin EVENTS)"
        );
        return Ok(());
    };
    let events: usize = events
        .parse()
        .map_err(|_| format!("EVENTS: `{events}` is not a number"))?;
    let renderer = AlertRenderer {
        format: AlertFormat::Json,
        hostname: "bench".to_owned(),
        ..AlertRenderer::default()
    };
    let upstream = || {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/upstream/falco-k8s_audit_rules.yaml"
        );
        std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
    };
    let work = match mode.as_str() {
        "ignored_any" => Work::IgnoredAny,
        "decode" => Work::Decode,
        "full" => Work::Rules(
            ruleset("k8s_audit_rules.yaml", &upstream()?, Matching::First, false)?,
            renderer,
        ),
        "full_all" => Work::Rules(
            ruleset("k8s_audit_rules.yaml", &upstream()?, Matching::All, false)?,
            renderer,
        ),
        "builtin" => Work::Rules(
            ruleset(
                "default.yaml",
                kaudit_engine::BUILTIN_RULES,
                Matching::First,
                false,
            )?,
            renderer,
        ),
        other => return Err(format!("unknown mode `{other}`")),
    };
    let sample = kaudit_event::sample::generate(kaudit_event::sample::SAMPLE_SEED, events);
    let lines: Vec<&str> = sample.lines().filter(|l| !l.is_empty()).collect();
    let mut rules_pass = Pass::new();
    let first = warm_up(&work, &lines, &mut rules_pass);
    let second = black_box(measured(&work, black_box(&lines), &mut rules_pass));
    if first != second || second != lines.len() {
        return Err(format!(
            "{mode}: {first} then {second} of {} lines passed",
            lines.len()
        ));
    }
    println!("{mode}: {} events", lines.len());
    Ok(())
}
