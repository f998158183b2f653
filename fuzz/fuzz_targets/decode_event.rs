#![no_main]
//! The `decode_event` target: [`kaudit_fuzz_targets::decode_event`] (its invariants are documented there).

libfuzzer_sys::fuzz_target!(|data: &[u8]| kaudit_fuzz_targets::decode_event::run(data));
