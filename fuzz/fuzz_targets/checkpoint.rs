#![no_main]
//! The `checkpoint` target: [`kaudit_fuzz_targets::checkpoint`] (its invariants are documented there).

libfuzzer_sys::fuzz_target!(|data: &[u8]| kaudit_fuzz_targets::checkpoint::run(data));
