//! The `kaudit` command-line tool; all logic lives in [`kaudit_cli`].

// mimalloc rather than glibc's malloc: alerts are built on the evaluation threads and freed on
// the output's, which glibc pays for (benches/README.md has the figures).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    kaudit_cli::main()
}
