#![no_main]
//! The `config` target: [`kaudit_fuzz_targets::config`] (its invariants are documented there).

libfuzzer_sys::fuzz_target!(|data: &[u8]| kaudit_fuzz_targets::config::run(data));
