//! Test support for kaudit's suites: where the upstream reference data is.
//!
//! The conformance suites (libsinsp cases, Falco's rules files and traces) read data that is
//! not part of the repository: the `shared` checkout beside it (`../shared`, as CI has it), or
//! the directory named by `KAUDIT_UPSTREAM_DIR` (the one holding `upstream/` and
//! `conformance/`). On a fresh clone without it those suites skip with a loud notice instead of
//! failing, and everything else still runs.

use std::path::{Path, PathBuf};

/// The environment variable that names the reference data directory.
pub const ENV: &str = "KAUDIT_UPSTREAM_DIR";

/// The reference data directory, when it exists: `KAUDIT_UPSTREAM_DIR`, else `shared/` beside
/// the workspace root.
#[must_use]
pub fn shared_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os(ENV) {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    dir.is_dir().then_some(dir)
}

/// `rel` (e.g. `upstream/falco-k8s_audit_rules.yaml`) under the reference data directory, when
/// it exists; otherwise prints a loud `SKIPPED` notice naming `what` and returns `None`.
#[must_use]
pub fn shared(rel: &str, what: &str) -> Option<PathBuf> {
    let found = shared_dir().map(|d| d.join(rel)).filter(|p| p.exists());
    if found.is_none() {
        // Straight to the process's stderr: the test harness captures `eprintln!`, and a skip
        // must be seen.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "!!! SKIPPED: {what}: `{rel}` is not available (no ../shared beside the workspace and no {ENV}) !!!"
        );
    }
    found
}

/// [`shared`] as a string path.
#[must_use]
pub fn shared_str(rel: &str, what: &str) -> Option<String> {
    shared(rel, what).map(|p| p.display().to_string())
}

/// The `upstream/` directory of the reference data (where it would be when absent), as a
/// string for `format!` paths. Pair it with [`require_shared!`] in the test.
#[must_use]
pub fn upstream_path() -> String {
    let dir = shared_dir()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    dir.join("upstream").display().to_string()
}

/// Appends the `.json` files under `dir`, at any depth, to `out` (nothing when `dir` does not
/// exist).
pub fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

/// The upstream audit trace files (Falco's k8s-audit tests, the PSP traces and
/// falcosecurity/testing's k8saudit cases), sorted; empty without the reference data.
#[must_use]
pub fn upstream_traces() -> Vec<PathBuf> {
    let mut v = Vec::new();
    let up = PathBuf::from(upstream_path());
    for sub in [
        "falco-k8s-audit-tests/trace_files",
        "falco-psp-traces",
        "falcosecurity-testing-k8saudit",
    ] {
        json_files(&up.join(sub), &mut v);
    }
    v.sort();
    v
}

/// Returns from the calling test, after a loud `SKIPPED` notice, when `rel` is not in the
/// reference data directory (see [`shared`]).
#[macro_export]
macro_rules! require_shared {
    ($rel:expr) => {
        if $crate::shared($rel, module_path!()).is_none() {
            return;
        }
    };
}
