//! kaudit's fuzz targets as plain functions, one module per target: each `run` takes arbitrary
//! bytes and panics when an invariant (written in the module's documentation) breaks.
//!
//! The cargo-fuzz crate in `fuzz/` (its own workspace) makes each `run` a libFuzzer target;
//! `fuzz/run.sh SECONDS` fuzzes them and records the runs in `fuzz/RUNS.md`. This crate's tests
//! replay the committed seeds (`fuzz/seeds/<target>`) and regression inputs
//! (`fuzz/regressions/<target>`: inputs that once failed) through them, so CI checks every target
//! on every run without a sanitizer build. A failing input found by fuzzing is fixed in the crate
//! it concerns, with a regression test there, and its file is added under `fuzz/regressions`.
//!
//! Every parser of untrusted input has a target: event decoding in every framing
//! ([`decode_event`], [`decode_record`], [`file_source`], [`aws_export`]), conditions
//! ([`condition_parse`], [`condition_roundtrip`]), rules files ([`rules_load`]), output templates
//! ([`output_template`]), checkpoint files ([`checkpoint`]), webhook bodies ([`webhook_body`]) and
//! the `--config` file (`config`, with the default `cli` feature).
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a fuzz target reports a broken invariant by panicking"
)]

pub mod aws_export;
pub mod checkpoint;
pub mod condition_parse;
pub mod condition_roundtrip;
#[cfg(feature = "cli")]
pub mod config;
pub mod decode_event;
pub mod decode_record;
pub mod file_source;
pub mod output_template;
pub mod rules_load;
pub mod webhook_body;

/// A target: its name and its function.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, in the order `cargo fuzz list` gives.
pub const TARGETS: &[Target] = &[
    ("aws_export", aws_export::run),
    ("checkpoint", checkpoint::run),
    ("condition_parse", condition_parse::run),
    ("condition_roundtrip", condition_roundtrip::run),
    #[cfg(feature = "cli")]
    ("config", config::run),
    ("decode_event", decode_event::run),
    ("decode_record", decode_record::run),
    ("file_source", file_source::run),
    ("output_template", output_template::run),
    ("rules_load", rules_load::run),
    ("webhook_body", webhook_body::run),
];
