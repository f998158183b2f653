//! The `kaudit` command-line tool; all logic lives in [`kaudit_engine::cli`].

fn main() -> std::process::ExitCode {
    kaudit_engine::cli::main()
}
