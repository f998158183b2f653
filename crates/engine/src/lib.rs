//! kaudit-engine: Falco's Kubernetes-audit rules evaluated on audit events, as a library.
//!
//! Load rules files (or the built-in rules), build an [`Engine`], evaluate bytes or a decoded
//! [`AuditEvent`] and get owned [`Alert`] values back:
//!
//! ```
//! use kaudit_engine::{Engine, Matching};
//!
//! let engine = Engine::builder().builtin_rules().matching(Matching::All).build()?;
//! let event = concat!(
//!     r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"1","stage":"ResponseComplete","#,
//!     r#""verb":"create","requestURI":"/api/v1/namespaces/shop/pods/web/exec?command=sh","#,
//!     r#""user":{"username":"alice"},"objectRef":{"resource":"pods","subresource":"exec","#,
//!     r#""namespace":"shop","name":"web"},"responseStatus":{"code":101}}"#,
//! )
//! .as_bytes();
//! let found = engine.evaluate(event);
//! assert_eq!(found.events, 1);
//! assert_eq!(found.alerts[0].rule, "Exec Or Attach Into Pod");
//! for alert in &found.alerts {
//!     println!("{} {}: {}", alert.priority, alert.rule, alert.output);
//! }
//! # Ok::<(), kaudit_engine::LoadError>(())
//! ```
//!
//! # Design
//!
//! Rules go through [`kaudit_rules`] (read, collect, compile against the `ka.*` field table of
//! [`kaudit_event`], with Falco's diagnostics on failure) into a [`RuleSet`](ruleset::RuleSet):
//! the compiled rules in load order, which of them are active, and an index by verb and
//! resource that skips rules that cannot match. Evaluation cannot fail once compiled: an event
//! yields the matching rules in load order (only the first with [`Matching::First`], Falco's
//! default), and [`AlertRenderer`](alert::AlertRenderer) turns each into an owned [`Alert`]
//! (Falco's text line, its JSON form, the output fields).
//!
//! For the long-running case (feature `pipeline`), [`pipeline::Pipeline`] (made with
//! `engine.pipeline(outputs)` or `Pipeline::new(&engine, outputs)`) reads records from
//! `kaudit_source::Source`s, decodes and evaluates them, and hands the alerts to
//! [`output::Output`]s; a record's checkpoint is committed only once every alert from it is
//! accepted by every output (or dead-lettered).
//!
//! - [`ruleset`]: compiled rules in load order with the (verb, resource) index;
//! - [`alert`]: the owned [`Alert`], Falco's text and JSON alerts;
//! - [`builder`]: [`EngineBuilder`], the built-in rules, [`LoadError`];
//! - [`run`]: the [`Engine`] (rules, renderer, decoding options) and counters;
//! - [`output`] (feature `pipeline`): the [`Output`](output::Output) contract outputs implement;
//! - [`pipeline`] (feature `pipeline`): source → decode → evaluate → outputs →
//!   acknowledgements → checkpoint.
//!
//! # Features
//!
//! - `pipeline` (default): [`pipeline`] and [`output`], with `kaudit-source`, tokio and
//!   futures. Without it, the crate evaluates rules on bytes and events with no async runtime
//!   and no AWS SDK: `kaudit-engine = { version = "0.1", default-features = false }`.
//!
//! This crate has no CLI, AWS or HTTP dependency of its own.

pub mod alert;
pub mod builder;
mod decode;
#[doc(hidden)]
pub mod hot;
#[cfg(feature = "pipeline")]
pub mod output;
#[cfg(feature = "pipeline")]
pub mod pipeline;
pub mod ruleset;
pub mod run;

pub use alert::Alert;
pub use builder::{BUILTIN_RULES, BUILTIN_RULES_NAME, EngineBuilder, LoadError, Warnings};
pub use decode::decode_record;
pub use kaudit_event::{AuditEvent, Compat};
pub use kaudit_rules::Priority;
pub use ruleset::Matching;
pub use run::{Engine, Evaluation};
