#![no_main]
//! The `webhook_body` target: [`kaudit_fuzz_targets::webhook_body`] (its invariants are documented there).

libfuzzer_sys::fuzz_target!(|data: &[u8]| kaudit_fuzz_targets::webhook_body::run(data));
