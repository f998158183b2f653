//! kaudit: Falco's Kubernetes-audit rules, unmodified, over Kubernetes audit events.
//!
//! This facade re-exports the workspace crates under short names:
//!
//! - [`event`]: the `audit.k8s.io/v1` event model and the `ka.*` / `jevt.*` field table;
//! - [`condition`]: Falco's condition language (parse, expand, compile, evaluate), generic over
//!   any event type;
//! - [`source`]: where events come from (files, stdin, CloudWatch Logs) and checkpoints;
//! - [`engine`]: rules files, the rule set, alert outputs, the run loop and the CLI.
//!
//! See `ARCHITECTURE.md` for the bird's-eye view.

pub use kaudit_condition as condition;
pub use kaudit_engine as engine;
pub use kaudit_event as event;
pub use kaudit_source as source;
