//! The `kaudit` command-line tool; all logic lives in [`kaudit_cli`].

fn main() -> std::process::ExitCode {
    kaudit_cli::main()
}
