//! What the CLI's test suites share: running `kaudit` in-process.

use std::process::ExitCode;

/// Runs `kaudit ARGS` in-process; returns the exit code, stdout and stderr.
#[expect(
    clippy::unwrap_used,
    reason = "test helper: output that is not UTF-8 is a test failure"
)]
pub(crate) fn kaudit(args: &[&str]) -> (ExitCode, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut argv = vec!["kaudit"];
    argv.extend_from_slice(args);
    let code = kaudit_cli::run_with(argv, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}
