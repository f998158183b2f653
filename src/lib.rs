//! kaudit: Falco's Kubernetes-audit rules, unmodified, over Kubernetes audit events.
//!
//! This facade re-exports the workspace crates under short names:
//!
//! - [`event`]: the `audit.k8s.io/v1` event model and the `ka.*` / `jevt.*` field table;
//! - [`condition`]: Falco's condition language (parse, expand, compile, evaluate), generic over
//!   any event type;
//! - [`rules`]: rules files (loader with Falco's diagnostics), output templates, priorities;
//! - [`source`]: where events come from (files, stdin, CloudWatch Logs) and checkpoints;
//! - [`engine`]: the rule set, the owned `Alert`, and the acknowledged pipeline;
//! - [`output`]: stdout, files, falcosidekick-compatible HTTP, webhooks, dead letters.
//!
//! See `ARCHITECTURE.md` for the bird's-eye view.

pub use kaudit_condition as condition;
pub use kaudit_engine as engine;
pub use kaudit_event as event;
pub use kaudit_output as output;
pub use kaudit_rules as rules;
pub use kaudit_source as source;
