//! `scan --threads N` gives byte-identical output to `--threads 1`: the alerts (text, JSON,
//! all matches), the bad-event reports with their positions, in order, and the summary (but
//! for its events/s figure), over generated logs larger than one parallel batch with bad lines
//! mixed in, read from two files one after the other.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure is a test failure"
)]

use std::process::ExitCode;

mod common;
use common::kaudit;

/// `events` generated events (from `seed`) with damaged lines, non-audit JSON and blank lines
/// mixed in; and how many bad events it holds.
fn log_with_bad_lines(seed: u64, events: usize) -> (String, usize) {
    let sample = kaudit_event::sample::generate(seed, events);
    let mut text = String::new();
    let mut bad = 0;
    for (i, line) in sample.lines().enumerate() {
        text.push_str(line);
        text.push('\n');
        match i % 311 {
            3 => text.push_str("not json at all\n"),
            50 => {
                text.push_str(&line[..line.len() / 3]);
                text.push('\n');
            }
            120 => text.push_str("{\"kind\":\"Pod\",\"apiVersion\":\"v1\"}\n"),
            200 => text.push_str("\n   \n"),
            _ => {}
        }
        bad += usize::from(matches!(i % 311, 3 | 50 | 120));
    }
    (text, bad)
}

/// The summary's events/s depends on the run; everything else must be identical.
fn without_rate(stderr: &str) -> String {
    stderr
        .lines()
        .map(|l| match l.find(", events/s: ") {
            Some(i) if l.starts_with("Events read: ") => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn threads_give_byte_identical_alerts_reports_and_summaries() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.jsonl");
    let b = dir.path().join("b.jsonl");
    let (text_a, bad_a) = log_with_bad_lines(kaudit_event::sample::SAMPLE_SEED, 6_000);
    let (text_b, bad_b) = log_with_bad_lines(7, 1_500);
    std::fs::write(&a, text_a).unwrap();
    std::fs::write(&b, text_b).unwrap();
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let modes: [&[&str]; 3] = [
        &["--format", "text"],
        &["--format", "json"],
        &["--format", "json", "--all-matches"],
    ];
    for mode in modes {
        let run = |threads: &str| {
            let mut args = vec!["scan", "--threads", threads, "--time-zone", "utc"];
            args.extend_from_slice(mode);
            args.extend_from_slice(&[a, b]);
            kaudit(&args)
        };
        let (code, out, err) = run("1");
        // Bad lines make the scan succeed with reports (exit 0): they are skipped and counted.
        assert_eq!(code, ExitCode::SUCCESS, "{mode:?}: {err}");
        assert!(
            out.lines().count() > 1_000,
            "{mode:?}: {} alerts",
            out.lines().count()
        );
        let bad = err.lines().filter(|l| l.contains(".jsonl:")).count();
        assert_eq!(bad, bad_a + bad_b, "{mode:?}: {err}");
        for threads in ["2", "4"] {
            let (code_n, out_n, err_n) = run(threads);
            assert_eq!(code_n, code, "{mode:?} --threads {threads}");
            assert!(
                out_n == out,
                "{mode:?} --threads {threads}: the alerts differ"
            );
            assert_eq!(
                without_rate(&err_n),
                without_rate(&err),
                "{mode:?} --threads {threads}"
            );
        }
    }
}
