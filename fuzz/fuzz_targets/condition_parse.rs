#![no_main]
//! The `condition_parse` target: [`kaudit_fuzz_targets::condition_parse`] (its invariants are documented there).

libfuzzer_sys::fuzz_target!(|data: &[u8]| kaudit_fuzz_targets::condition_parse::run(data));
