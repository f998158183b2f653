#![no_main]
//! The `rules_load` target: [`kaudit_fuzz_targets::rules_load`] (its invariants are documented there).

libfuzzer_sys::fuzz_target!(|data: &[u8]| kaudit_fuzz_targets::rules_load::run(data));
