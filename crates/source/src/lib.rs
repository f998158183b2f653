//! kaudit's sources: where audit events come from, and how reading resumes after a restart.
//!
//! # Design overview
//!
//! ```text
//! Source::stream(resume) ──► Record { payload: Bytes, checkpoint, meta } ──► engine
//!                                            │
//!             engine, after the alerts are delivered: CheckpointStore::save(checkpoint)
//! ```
//!
//! * [`Source`] is one object with one job: given an optional resume [`Checkpoint`], yield a
//!   stream of [`Record`]s. Its docs state the contract (resume strictly after the checkpoint,
//!   at-least-once without duplicates, ordering, errors, cancellation by drop).
//! * [`Checkpoint`] is opaque to the engine: serializable JSON holding the [`SourceIdentity`]
//!   and a source-specific position. [`CheckpointStore`] persists it;
//!   [`FileCheckpointStore`] writes a versioned file atomically, [`MemoryCheckpointStore`] keeps
//!   it in memory.
//! * [`FileSource`] reads JSON lines, or one JSON document ([`Framing`]), from a file
//!   (optionally gzip), stdin or any async reader, and can follow a file like `tail -F`.
//!   [`cloudwatch::CloudWatchSource`] polls CloudWatch Logs (`FilterLogEvents`) in settled
//!   windows with de-duplication and a low-watermark checkpoint.
//!   [`webhook::WebhookServer`] (feature `webhook`) is the kube-apiserver's audit webhook: an
//!   authenticated HTTP(S) endpoint whose requests are answered once their events' alerts are
//!   committed ([`webhook::WebhookAcks`]).
//! * `testing` (feature `test-util`) holds `testing::ReplaySource` and `testing::conformance`, the suite every
//!   source runs.
//!
//! # Quick start
//!
//! Read records from any async reader (here an in-memory buffer) and resume after a
//! checkpoint:
//!
//! ```
//! use futures::StreamExt;
//! use kaudit_source::{FileInput, FileSource, FileSourceConfig, Source};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let input = FileInput::reader("example", &b"{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n"[..]);
//! let source = FileSource::new(FileSourceConfig::new(input));
//! let records: Vec<_> = source.stream(None).collect().await;
//! assert_eq!(records.len(), 3);
//! let first = records[0].as_ref().map_err(|e| e.to_string())?;
//! assert_eq!(&first.payload[..], b"{\"a\":1}");
//! // `first.checkpoint` is what a `CheckpointStore` keeps once the record is handled; a new
//! // stream of a file source started from it yields the second record first.
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! - `cloudwatch` (default): [`cloudwatch::CloudWatchSource`] (the AWS SDK, rustls).
//! - `bundled-roots` (default, implies `cloudwatch`): Mozilla's roots compiled in, used when
//!   the system trust store is empty (scratch images).
//! - `webhook`: [`webhook::WebhookServer`], the kube-apiserver audit webhook (hyper, rustls).
//! - `test-util`: `testing::ReplaySource`, the `testing::conformance` suite and (with
//!   `cloudwatch`) a moto_server harness.
//!
//! Without features the crate is the [`Source`] trait, checkpoints and the file/stdin/reader
//! source: tokio, no AWS SDK.
//!
//! What this crate does *not* do: it knows nothing of the Kubernetes audit model or of Falco's
//! condition language (payloads are opaque bytes), it never writes checkpoints on its own, and it
//! does not print: it logs through `tracing` and counts in [`MetricsSnapshot`], and reports what
//! the operator must see as error items.

mod checkpoint;
#[cfg(feature = "cloudwatch")]
pub mod cloudwatch;
mod export;
mod file;
mod metrics;
mod source;
#[cfg(feature = "test-util")]
pub mod testing;
mod time;
#[cfg(feature = "webhook")]
pub mod webhook;

/// Helpers shared with kaudit-cli; not part of the API (no semver promise, hidden from the
/// docs). The CLI parses its duration options with the same syntax as
/// [`cloudwatch::StartPosition`]'s lookbacks (`30s`, `15m`, `1h30m`).
#[doc(hidden)]
pub mod internal {
    pub use crate::time::{TimeParseError, format_rfc3339, parse_duration};
}

/// The payload type of a [`Record`] (re-exported so a source needs no `bytes` dependency of
/// its own; see [`Record::payload`] for why it is kept).
pub use bytes::Bytes;
pub use checkpoint::{
    Checkpoint, CheckpointError, CheckpointStore, FILE_FORMAT, FILE_VERSION, FileCheckpointStore,
    MemoryCheckpointStore, SourceIdentity,
};
pub use file::{
    DEFAULT_MAX_DOCUMENT_BYTES, DEFAULT_MAX_LINE_BYTES, FileInput, FileSource, FileSourceConfig,
    Framing, InputReader,
};
pub use metrics::{ApiCalls, ApiOperation, ApiOutcome, MetricsSnapshot};
pub use source::{Anomaly, ErrorClass, Record, RecordMeta, Source, SourceError, SourceErrorKind};
