//! kaudit-engine: the rule set, the owned [`Alert`](alert), and the run loop from a source's
//! records through decoding and evaluation to outputs and checkpoints.
//!
//! - [`ruleset`]: compiled rules in load order with the (verb, resource) index;
//! - [`alert`]: the owned [`Alert`](alert::Alert), Falco's text and JSON alerts;
//! - [`output`]: the [`Output`](output::Output) contract outputs implement;
//! - [`pipeline`]: source → decode → evaluate → outputs → acknowledgements → checkpoint;
//! - [`run`]: the [`Engine`](run::Engine) (rules, renderer, decoding options) and counters.
//!
//! Rules files are loaded by [`kaudit_rules`]; this crate has no CLI, AWS or HTTP dependency.

pub mod alert;
pub mod output;
pub mod pipeline;
pub mod ruleset;
pub mod run;

pub use kaudit_rules::Priority;
