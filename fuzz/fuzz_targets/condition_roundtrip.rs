#![no_main]
//! The `condition_roundtrip` target: [`kaudit_fuzz_targets::condition_roundtrip`] (its invariants are documented there).

libfuzzer_sys::fuzz_target!(|data: &[u8]| kaudit_fuzz_targets::condition_roundtrip::run(data));
