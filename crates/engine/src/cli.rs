//! The `kaudit` command line.

/// Runs the `kaudit` command line and returns the process exit code.
#[must_use]
pub fn main() -> std::process::ExitCode {
    eprintln!("kaudit: not implemented yet");
    std::process::ExitCode::FAILURE
}
