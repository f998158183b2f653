//! kaudit: Falco's Kubernetes-audit rules, unmodified, over Kubernetes audit events.
//!
//! Evaluate rules on audit events in a few lines:
//!
//! ```
//! use kaudit::{Compat, Engine, Matching};
//!
//! let engine = Engine::builder()
//!     .builtin_rules() // or .rules_file("k8s_audit_rules.yaml")
//!     .compat(Compat::Correct)
//!     .matching(Matching::All)
//!     .disable_rule("Namespace Deleted")
//!     .build()?;
//! let event = concat!(
//!     r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"1","stage":"ResponseComplete","#,
//!     r#""verb":"create","requestURI":"/api/v1/namespaces/shop/pods/web/exec?command=sh","#,
//!     r#""user":{"username":"alice"},"objectRef":{"resource":"pods","subresource":"exec","#,
//!     r#""namespace":"shop","name":"web"},"responseStatus":{"code":101}}"#,
//! )
//! .as_bytes();
//! for alert in engine.evaluate(event).alerts {
//!     assert_eq!(alert.rule, "Exec Or Attach Into Pod");
//!     println!("{} {}", alert.priority, alert.output);
//! }
//! # Ok::<(), kaudit::LoadError>(())
//! ```
//!
//! The long-running case, a `Source` run through outputs with checkpoints, is
//! [`Engine::pipeline`] (features `pipeline` and `output`): the pipeline commits a record's
//! checkpoint only once every output has its alerts.
//!
//! ```
//! # #[cfg(feature = "output")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use kaudit::Engine;
//! use kaudit::engine::alert::AlertFormat;
//! use kaudit::output::WriterOutput;
//! use kaudit::source::{FileInput, FileSource, FileSourceConfig, MemoryCheckpointStore};
//!
//! # let log: &'static [u8] = include_bytes!("../examples/data/sample-audit.jsonl");
//! let engine = Engine::builder().builtin_rules().build()?;
//! // Any `Source`: files, stdin, CloudWatch Logs, the audit webhook, or your own.
//! let source = FileSource::new(FileSourceConfig::new(FileInput::reader("audit.log", log)));
//! let stdout = WriterOutput::stdout(AlertFormat::Text);
//! let store = MemoryCheckpointStore::new(); // or FileCheckpointStore::new("kaudit.checkpoint")
//! let pipeline = engine.pipeline(vec![&stdout]).checkpoints(&store);
//!
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! let report = runtime.block_on(pipeline.run(
//!     &[&source],
//!     std::future::pending(), // stop: a service passes its shutdown signal
//!     std::future::pending(), // abort: a second signal
//!     &mut |_notice| {},      // bad events, retries, commits, as they happen
//! ))?;
//! assert!(report.all_delivered());
//! assert!(report.stats.alerts() > 0);
//! assert!(report.committed.is_some()); // resumes after the last record next time
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "output"))]
//! # fn main() {}
//! ```
//!
//! The `custom_source`, `cloudwatch_tail` and `forward_to_sidekick` examples show more.
//!
//! This facade re-exports the workspace crates under short names:
//!
//! - [`event`]: the `audit.k8s.io/v1` event model and the `ka.*` / `jevt.*` field table;
//! - [`condition`]: Falco's condition language (parse, expand, compile, evaluate), generic over
//!   any event type;
//! - [`rules`]: rules files (loader with Falco's diagnostics), output templates, priorities;
//! - [`engine`]: the engine builder, the rule set, the owned `Alert`, and the acknowledged
//!   pipeline;
//! - `source` (feature `pipeline`): where events come from (files, stdin, CloudWatch Logs, the
//!   audit webhook) and checkpoints;
//! - `output` (feature `output`): stdout, files, falcosidekick-compatible HTTP, webhooks, dead
//!   letters;
//! - `cli` (feature `cli`): the `kaudit` command line.
//!
//! # Features
//!
//! | feature | what it adds | what it costs |
//! | --- | --- | --- |
//! | (none) | rules on bytes and events: [`Engine`], [`condition`], [`rules`], [`event`] | no async runtime, no AWS SDK, no HTTP |
//! | `pipeline` | [`engine::pipeline`], `source` (files, stdin, checkpoints) | tokio |
//! | `output` | `output`: stdout, files, HTTP(S) and falcosidekick | reqwest, rustls |
//! | `cloudwatch` | `source::cloudwatch` | the AWS SDK |
//! | `webhook` | `source::webhook`, the kube-apiserver audit webhook | hyper (server) |
//! | `cli` (default) | the `kaudit` binary and `cli`; all of the above | |
//! | `mimalloc` (default) | the `kaudit` binary allocates with mimalloc (a library user's allocator is never changed) | a C build |
//!
//! A library user who only evaluates rules writes
//! `kaudit = { version = "0.1", default-features = false }`.
//!
//! See `ARCHITECTURE.md` for the bird's-eye view.

pub use kaudit_condition as condition;
pub use kaudit_engine as engine;
pub use kaudit_event as event;
pub use kaudit_rules as rules;

#[cfg(feature = "cli")]
pub use kaudit_cli as cli;
#[cfg(feature = "output")]
pub use kaudit_output as output;
#[cfg(feature = "pipeline")]
pub use kaudit_source as source;

pub use kaudit_engine::{
    Alert, AuditEvent, Compat, Engine, EngineBuilder, Evaluation, LoadError, Matching, Priority,
};
