//! kaudit-event: the Kubernetes audit event model, its input framings, and the field table
//! Falco's k8s-audit rules are evaluated against.
//!
//! # The model
//!
//! [`AuditEvent`] is a typed serde model of `audit.k8s.io/v1` `Event` (the `v1beta1` shape is
//! accepted too). It borrows from the input: strings are [`Text`] (a `Cow` newtype, so serde
//! really borrows when there are no escapes), numbers keep their original text ([`Number`]),
//! lists and annotations ([`TextList`], [`StrMap`]) keep their validated text and unescape on
//! demand, and `requestObject` / `responseObject` stay [`RawJson`] text: every field follows its
//! path through that text without a tree (a value is copied only when it has escapes or is
//! built, like a joined command line); only an event decoded by the tolerant
//! Falco-compat reading (not valid JSON) is read through a [`json::Node`] tree, parsed once and
//! cached inside the event. A line is decoded by a one-pass validating reader that allocates nothing,
//! and by serde (the exact result or error) whenever it is not the common well-formed shape. The event keeps its raw
//! JSON text ([`AuditEvent::raw_json`]) and its time ([`AuditEvent::timestamp_ns`],
//! `stageTimestamp` in ns since the epoch).
//!
//! # Framings
//!
//! [`decode_document`] auto-detects the [`Framing`] (JSON lines, one `Event`, an `EventList`, a
//! JSON array) and returns every event or per-event [`DecodeError`] (with line and byte offset).
//! [`json_lines`] iterates a JSON-lines buffer lazily; a bad line does not stop the next ones.
//! Events larger than [`DecodeOptions::max_event_size`] (default [`DEFAULT_MAX_EVENT_SIZE`],
//! 4 MiB) are errors, never dropped silently.
//!
//! Nesting deeper than [`MAX_DEPTH`] is an error too ([`DecodeErrorKind::TooDeep`]), and on a
//! duplicate key the first value wins, in the typed parts as in the raw objects.
//!
//! # The field table
//!
//! [`FIELDS`] lists every field: the `ka.*` fields of Falco's k8saudit plugin 0.18.0, the json
//! plugin's `json.*` / `jevt.*`, and generic `evt.*` fields. [`K8sAuditSchema`] implements
//! [`kaudit_condition::Schema`]: it resolves a name and argument once into a [`Field`] handle
//! (extractor enum plus parsed argument). [`AuditEvent`] implements [`kaudit_condition::Event`]:
//! `extract` pushes string values (an empty result means *missing*), following Falco's rules:
//! everything is a string, numbers keep their text, objects and arrays are compact JSON in
//! source order, JSON `null` is the string `"null"`, the first duplicate key wins, and an event
//! without a top-level `auditID` has no `ka.*` values at all.
//!
//! # The compat switch
//!
//! For six fields Falco's k8saudit has acknowledged extraction bugs (`ka.sourceips`,
//! `eff_run_as_user` / `eff_run_as_group`, `add_capabilities`, `ka.req.service.ports`,
//! `image.repository`, `host_port`), and on malformed shapes its walk and the json plugin's
//! pointers read differently from ours. By default ([`Compat::Correct`]) fields extract the
//! correct (documented) value; [`K8sAuditSchema::with_compat`]`(`[`Compat::Falco`]`)`
//! reproduces upstream exactly. The generated reference `docs/fields.md` ([`fields_markdown`])
//! says what each does. Decoding has the same switch ([`decode_event_with`],
//! [`json_lines_with`], [`decode_document_with`]): under [`Compat::Falco`] an event Falco
//! accepts but the strict decoding refuses (a known key of an unexpected type, a lone UTF-16
//! surrogate escape) is decoded the way Falco reads it, through a slower fallback taken only
//! when the strict decoding fails.
//!
//! # Sample data
//!
//! `sample::generate` (feature `sample`) makes a realistic EKS-shaped JSON-lines audit log from a
//! seed; the bundled `examples/data/sample-audit.jsonl` is its output for `sample::SAMPLE_SEED`.
//! It is public (behind the feature) for benchmarks and load tests of one's own rules, including
//! kaudit's benches and end-to-end tests; the default build does not have it.
//!
//! # Example
//!
//! ```
//! use kaudit_condition::{Event, Schema, Values};
//! use kaudit_event::{DecodeOptions, K8sAuditSchema, json_lines};
//!
//! let log = br#"{"auditID":"a1","verb":"get","user":{"username":"alice"},"stageTimestamp":"2024-01-02T03:04:05.123456Z"}"#;
//! let schema = K8sAuditSchema::new();
//! let user = schema.resolve("ka.user.name", None).unwrap().field;
//! for item in json_lines(log, DecodeOptions::default()) {
//!     let (pos, event) = item.unwrap();
//!     let mut out = Values::new();
//!     event.extract(&user, &mut out);
//!     assert_eq!(format!("{:?}", out.as_slice()), r#"[Str("alice")]"#);
//!     assert_eq!(event.timestamp_ns(), 1_704_164_645_123_456_000);
//!     assert_eq!(pos.line, 1);
//! }
//! ```
//!
//! # Features
//!
//! - `sample`: the `sample` module, the deterministic EKS-shaped audit-log generator (benchmarks, tests).

pub mod decode;
mod docs;
mod extract;
mod falco;
mod fast;
pub mod fields;
mod firstwins;
pub mod json;
pub mod model;
mod raw;
mod salvage;
#[cfg(feature = "sample")]
pub mod sample;
mod time;
mod url;
mod view;

/// Helpers shared with sibling crates and the fuzz targets; not part of the API (no semver
/// promise, hidden from the docs).
///
/// kaudit-engine's alert renderer formats event times with [`utc_parts`](internal::utc_parts);
/// `fuzz/fuzz_targets/decode_event.rs` drives the timestamp and query parsers directly;
/// `tests/raw_vs_tree.rs` compares [`extract`](crate::extract) with
/// [`extract_via_trees`](internal::extract_via_trees).
#[doc(hidden)]
pub mod internal {
    pub use crate::extract::extract_via_trees;
    pub use crate::time::{parse_rfc3339_ns, utc_parts};
    pub use crate::url::query_param;
}

pub use decode::{
    DEFAULT_MAX_EVENT_SIZE, DecodeError, DecodeErrorKind, DecodeOptions, Decoded, Document,
    FALCO_MAX_EVENT_SIZE, Framing, JsonLines, MAX_DEPTH, Position, decode_document,
    decode_document_as, decode_document_as_with, decode_document_with, decode_event,
    decode_event_at, decode_event_with, detect_framing, json_lines, json_lines_with,
};
pub use docs::fields_markdown;
pub use extract::{extract, repository};
pub use fields::{
    ArgKind, Compat, ContainerList, Extractor, FIELDS, Field, FieldArg, FieldDef, K8sAuditSchema,
    PodField,
};
pub use model::{
    AuditEvent, EventList, Number, ObjectReference, RawJson, ResponseStatus, StrMap, Text,
    TextList, UserInfo,
};
pub use salvage::salvage_audit_id;
