//! kaudit-engine: rules files, the rule set, alert outputs, the run loop and the CLI.
//!
//! Module ownership while the crate is being built (remove this note when it settles):
//! `rules/` (loader: read → collect → compile, diagnostics), `format` (output templates and
//! alert rendering), `ruleset` (compiled rules, index, evaluation), `run` (source → decode →
//! evaluate → outputs → checkpoint), `cli` (clap).

pub mod alert;
pub mod cli;
pub mod format;
pub mod priority;
pub mod rules;
pub mod ruleset;
pub mod run;

pub use priority::Priority;
