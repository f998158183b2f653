#![no_main]
// Placeholder: filled in by the crate that owns this parser.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|_data: &[u8]| {});
