//! Falco's 39 `falco -V` cases (`../shared/upstream/falcosecurity-testing-legacy/
//! validation_expected.tsv`, with the rules files beside it), run through [`check`] with a stub
//! `syscall` schema.
//!
//! Expectations: `error{…}` / `warning{…}` = some diagnostic with all the given attributes
//! (`code`, `itemtype`, `itemname`, `message`; `itemtype`/`itemname` match any frame of the
//! diagnostic's context, as Falco's JSON lists every location); `errors_count` /
//! `warnings_count`; `file[i].successful`; `exit_code` (1 = validation failed).
//!
//! Messages are compared after turning ". " into "." because the upstream Go assertions spell
//! Falco's two-sentence messages without the space (`semver string.Expected "x.y.z"`).

mod loader_common;

use kaudit_rules::{Diagnostic, LoadOptions, RuleFile, check, load};
use loader_common::{SyscallStub, shared};

/// Whole cases skipped, with the reason.
const SKIPPED: &[(&str, &str)] = &[
    (
        "TestFalco_Legacy_TestWarnings",
        "LOAD_NO_EVTTYPE warnings come from libsinsp's syscall event-type table, which kaudit does not have",
    ),
    (
        "TestFalco_Legacy_ValidateSkipUnknownNoevt",
        "'unknown event type' needs libsinsp's syscall event-type table, which kaudit does not have",
    ),
];

fn norm(s: &str) -> String {
    s.replace(". ", ".")
}

/// Parses `key="value", key="value"` (values may contain escaped quotes).
fn attrs(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(eq) = rest.find("=\"") {
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_owned();
        let mut value = String::new();
        let mut chars = rest[eq + 2..].char_indices();
        let mut end = rest.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        value.push(n);
                    }
                }
                '"' => {
                    end = eq + 2 + i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        out.push((key, value));
        rest = &rest[end.min(rest.len())..];
    }
    out
}

fn matches(d: &Diagnostic, want: &[(String, String)]) -> bool {
    want.iter().all(|(k, v)| match k.as_str() {
        "code" => d.code.as_str() == v,
        "message" => norm(&d.message) == norm(v),
        "itemtype" => d.context.iter().any(|f| f.kind.as_str() == v),
        "itemname" => d.context.iter().any(|f| f.name == *v),
        _ => false,
    })
}

#[test]
fn falco_validation_cases() {
    kaudit_testdata::require_shared!("upstream/falcosecurity-testing-legacy");
    let dir = shared("upstream/falcosecurity-testing-legacy");
    let tsv = std::fs::read_to_string(format!("{dir}/validation_expected.tsv")).unwrap();
    let mut rows = 0;
    let mut passed = 0;
    let mut skipped = 0;
    let mut failures = Vec::new();
    for line in tsv.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let [name, files, expectations] = cols.as_slice() else {
            panic!("bad row {line}");
        };
        rows += 1;
        if let Some((_, reason)) = SKIPPED.iter().find(|(n, _)| n == name) {
            println!("skip {name}: {reason}");
            skipped += 1;
            continue;
        }
        let files: Vec<RuleFile> = files
            .split(';')
            .map(|f| {
                let text = std::fs::read_to_string(format!("{dir}/{f}")).unwrap();
                RuleFile::new(f, text)
            })
            .collect();
        let opts = LoadOptions::for_source("syscall");
        let report = check(&files, &SyscallStub, &opts);
        let result = load(&files, &SyscallStub, &opts);
        let mut bad = Vec::new();
        for exp in expectations.split(" ; ").map(str::trim) {
            let ok =
                if let Some(body) = exp.strip_prefix("error{").and_then(|s| s.strip_suffix('}')) {
                    let want = attrs(body);
                    report
                        .diagnostics
                        .iter()
                        .filter(|d| d.is_error())
                        .any(|d| matches(d, &want))
                } else if let Some(body) = exp
                    .strip_prefix("warning{")
                    .and_then(|s| s.strip_suffix('}'))
                {
                    let want = attrs(body);
                    report
                        .diagnostics
                        .iter()
                        .filter(|d| !d.is_error())
                        .any(|d| matches(d, &want))
                } else if let Some(n) = exp.strip_prefix("errors_count==") {
                    report
                        .diagnostics
                        .iter()
                        .filter(|d| d.is_error())
                        .count()
                        .to_string()
                        == n
                } else if let Some(n) = exp.strip_prefix("warnings_count==") {
                    report
                        .diagnostics
                        .iter()
                        .filter(|d| !d.is_error())
                        .count()
                        .to_string()
                        == n
                } else if let Some(code) = exp.strip_prefix("exit_code==") {
                    (code == "0") == report.ok
                } else if let Some(rest) = exp.strip_prefix("file[") {
                    let (idx, want) = rest.split_once("].successful==").unwrap();
                    let idx: usize = idx.parse().unwrap();
                    result
                        .files
                        .get(idx)
                        .map(|f| f.successful.to_string())
                        .as_deref()
                        == Some(want)
                } else {
                    panic!("unknown expectation {exp}");
                };
            if !ok {
                bad.push(exp.to_owned());
            }
        }
        if bad.is_empty() {
            passed += 1;
        } else {
            let got: Vec<String> = report
                .diagnostics
                .iter()
                .map(|d| {
                    let frames: Vec<String> = d
                        .context
                        .iter()
                        .map(|f| format!("{}:{}", f.kind, f.name))
                        .collect();
                    format!("{} {:?} [{}]", d.code, d.message, frames.join(" > "))
                })
                .collect();
            failures.push(format!("{name}: unmet {bad:?}; got {got:?}"));
        }
    }
    println!("falco -V cases: {passed}/{rows} passed, {skipped} skipped");
    assert_eq!(rows, 39);
    assert!(
        failures.is_empty(),
        "{} failing:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(passed + skipped, 39);
}
