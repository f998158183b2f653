#![no_main]
//! The `output_template` target: [`kaudit_fuzz_targets::output_template`] (its invariants are documented there).

libfuzzer_sys::fuzz_target!(|data: &[u8]| kaudit_fuzz_targets::output_template::run(data));
