//! Falco's condition language, generic over the event type.
//!
//! The pipeline (each stage its own type and its own verb) is:
//!
//! ```text
//! text --parse--> Ast --expand--> Ast (no macro refs) --compile(Schema)--> Program --matches(Event)--> bool
//! ```
//!
//! The crate knows nothing of Kubernetes, YAML, AWS or async. Embedders implement two traits:
//! [`Schema`] resolves a field name (and optional argument) to a name-free handle at compile time,
//! and [`Event`] answers the values of such a handle at evaluation time.

pub mod schema;

pub use schema::{Event, FieldError, FieldInfo, Schema, Value, ValueType, Values};
