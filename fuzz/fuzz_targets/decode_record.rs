#![no_main]
//! The `decode_record` target: [`kaudit_fuzz_targets::decode_record`] (its invariants are documented there).

libfuzzer_sys::fuzz_target!(|data: &[u8]| kaudit_fuzz_targets::decode_record::run(data));
