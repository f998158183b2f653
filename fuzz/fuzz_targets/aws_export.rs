#![no_main]
//! The `aws_export` target: [`kaudit_fuzz_targets::aws_export`] (its invariants are documented there).

libfuzzer_sys::fuzz_target!(|data: &[u8]| kaudit_fuzz_targets::aws_export::run(data));
