#![no_main]
//! The `file_source` target: [`kaudit_fuzz_targets::file_source`] (its invariants are documented there).

libfuzzer_sys::fuzz_target!(|data: &[u8]| kaudit_fuzz_targets::file_source::run(data));
