//! The [`Source`] trait, the [`Record`] it yields and the [`SourceError`] it may report.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;

use crate::checkpoint::{Checkpoint, CheckpointError, SourceIdentity};
use crate::metrics::MetricsSnapshot;

/// A stream of records from one source, started at an optional checkpoint.
///
/// # Contract
///
/// Every implementation in this crate, and every future one, keeps these rules. The shared
/// `testing::conformance` (feature `test-util`) suite checks the first three.
///
/// * **Resume is strictly after the checkpoint.** `stream(Some(cp))` where `cp` is the
///   [`Record::checkpoint`] of record *k* yields record *k + 1* first: never record *k* again and
///   never a record after a gap. `stream(None)` starts where the source's configuration says
///   (a file from its start, CloudWatch from its start position).
/// * **Delivery is at-least-once, and duplicates are avoided.** A source never skips a record
///   silently. If it must skip (a CloudWatch restart gap larger than the configured limit), it
///   says so with a non-terminal [`SourceError`] naming the skipped interval. Within a run a
///   source does not yield the same record twice; across a crash the caller sees again at most
///   the records after the last checkpoint it *committed*.
/// * **Order.** Records come in the order their checkpoints advance: committing the checkpoint
///   of record *k* covers records *0..=k*. File sources yield lines in file order. CloudWatch
///   yields each settled poll window sorted by `(timestamp, ingestion time, stream, event id)`;
///   an event ingested late (inside the overlap window) comes in a later window and may carry an
///   older timestamp than records already yielded.
/// * **Errors.** An `Err` item is either *retryable* ([`SourceError::is_terminal`] is `false`):
///   the source is already retrying by itself and reports a condition the operator should see
///   (degraded credentials, a reported gap, a throttling storm), and the stream goes on; or
///   *terminal*: the source cannot go on without a change (bad configuration, a checkpoint for a
///   different source, a missing log group), and the stream ends right after it.
/// * **Cancellation.** Dropping the stream stops the source. Sources spawn no background task
///   that outlives the stream; every wait (poll interval, backoff, rate limit) is a future owned
///   by the stream, so a drop cancels it at once. There is no separate shutdown call.
/// * **Persistence is the caller's job.** A source never writes checkpoints. The engine commits a
///   record's checkpoint to a [`CheckpointStore`](crate::CheckpointStore) only once the alerts
///   for that record and all before it have been delivered.
///
/// # Why a boxed stream
///
/// `stream` returns a [`BoxStream`] (the `futures` crate's, the runtime-neutral stream type) so
/// that `Box<dyn Source>` works when the source is picked
/// from the command line. `async fn` in traits is not object safe on stable Rust, and one box
/// per stream costs nothing next to network IO and JSON decoding.
pub trait Source: Send + Sync + fmt::Debug {
    /// The identity checkpoints of this source carry; the engine loads checkpoints by it.
    fn identity(&self) -> &SourceIdentity;

    /// Starts reading, strictly after `resume` when it is given.
    ///
    /// A checkpoint whose identity differs from [`Source::identity`] yields one terminal
    /// [`SourceErrorKind::Checkpoint`] error.
    fn stream(&self, resume: Option<Checkpoint>)
    -> BoxStream<'static, Result<Record, SourceError>>;

    /// A snapshot of the source's counters (all zero for sources that count nothing).
    fn metrics(&self) -> MetricsSnapshot {
        MetricsSnapshot::default()
    }
}

impl<S: Source + ?Sized> Source for Box<S> {
    fn identity(&self) -> &SourceIdentity {
        (**self).identity()
    }

    fn stream(
        &self,
        resume: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<Record, SourceError>> {
        (**self).stream(resume)
    }

    fn metrics(&self) -> MetricsSnapshot {
        (**self).metrics()
    }
}

impl<S: Source + ?Sized> Source for Arc<S> {
    fn identity(&self) -> &SourceIdentity {
        (**self).identity()
    }

    fn stream(
        &self,
        resume: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<Record, SourceError>> {
        (**self).stream(resume)
    }

    fn metrics(&self) -> MetricsSnapshot {
        (**self).metrics()
    }
}

/// One record: an opaque payload (for kaudit, one audit event as JSON) and where it came from.
#[derive(Clone, Debug)]
pub struct Record {
    /// The raw bytes, undecoded. Decoding is the engine's job.
    ///
    /// A [`Bytes`] (re-exported as `kaudit_source::Bytes`) on purpose: the webhook and the
    /// CloudWatch source slice one buffer into many records without copying, and the type is
    /// tokio's ecosystem standard with a stable 1.x API.
    pub payload: Bytes,
    /// Resumes strictly after this record (see the [`Source`] contract).
    pub checkpoint: Checkpoint,
    /// Where and when the record was read.
    pub meta: RecordMeta,
}

/// Metadata of a [`Record`]: none of it is needed to decode the payload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordMeta {
    /// The source's name (`file:/var/log/audit.log`, `cloudwatch:/aws/eks/prod/cluster`).
    pub source: Arc<str>,
    /// The sub-stream: a CloudWatch log stream name, or the file path for file sources.
    pub stream: Option<Arc<str>>,
    /// The event's own timestamp in milliseconds since the Unix epoch, when the source has one.
    pub timestamp_ms: Option<i64>,
    /// When the source's backend ingested the event (CloudWatch `ingestionTime`), in ms.
    pub ingestion_time_ms: Option<i64>,
    /// The backend's event id (CloudWatch `eventId`), an opaque string.
    pub event_id: Option<String>,
    /// The byte offset of the start of the record's first line in its file (decompressed
    /// bytes; file sources only).
    pub offset: Option<u64>,
    /// The 1-based number of the record's first line in its file (file sources only; `None`
    /// elsewhere). With [`Framing::Document`](crate::Framing::Document) it is the line where
    /// the document starts, so line *k* of the payload is line `line + k - 1` of the file.
    pub line: Option<u64>,
    /// Set when the payload is known to be damaged; the record is still delivered.
    pub anomaly: Option<Anomaly>,
}

/// Why a record's payload is known to be incomplete or suspicious. Such records are delivered and
/// counted, never dropped silently (requirement R8).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Anomaly {
    /// The backend cut the message and appended a marker such as `[Truncated...]`.
    Truncated,
    /// The message was longer than the configured maximum; the payload holds its first `limit`
    /// bytes.
    Oversize {
        /// The original length in bytes.
        len: usize,
        /// The configured maximum in bytes.
        limit: usize,
    },
    /// The message does not start with `{`: it cannot be a JSON object (for example a klog line
    /// from a non-audit stream).
    NotJson,
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Anomaly::Truncated => f.write_str("message truncated by the log backend"),
            Anomaly::Oversize { len, limit } => {
                write!(
                    f,
                    "message of {len} bytes exceeds the {limit}-byte limit and was cut"
                )
            }
            Anomaly::NotJson => f.write_str("message is not a JSON object"),
        }
    }
}

/// What went wrong in a source (see the [`Source`] contract for what an error item means).
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {kind}")]
pub struct SourceError {
    source_name: Arc<str>,
    kind: SourceErrorKind,
    terminal: bool,
}

/// The kinds of [`SourceError`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceErrorKind {
    /// Reading a file or stdin failed.
    #[error("cannot read `{path}`: {error}")]
    Io {
        /// The file (`-` for stdin).
        path: String,
        /// The underlying error.
        error: std::io::Error,
    },
    /// The resume checkpoint is unusable.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A backend API call failed.
    #[error("{operation} failed ({class}): {message}")]
    Api {
        /// The API operation, for example `FilterLogEvents`.
        operation: &'static str,
        /// How the failure was classified.
        class: ErrorClass,
        /// The backend's error code and message, with advice when there is any.
        message: String,
    },
    /// The source skipped an interval it could not read; nothing in it was delivered.
    #[error(
        "source gap: events with timestamps from {from_ms} to {to_ms} (ms since epoch) were skipped: {reason}"
    )]
    Gap {
        /// First skipped millisecond (inclusive).
        from_ms: i64,
        /// Last skipped millisecond (inclusive).
        to_ms: i64,
        /// Why the interval was skipped.
        reason: String,
    },
    /// The source's configuration cannot work.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An input read as one JSON document ([`Framing::Document`](crate::Framing::Document)) is
    /// larger than the configured limit. Nothing of it was delivered; the error is terminal.
    #[error(
        "cannot read `{path}` as one JSON document: it is {}{size} bytes, over the {limit}-byte document limit; convert it to JSON lines (one object per line) or raise the limit",
        if *exact { "" } else { "at least " }
    )]
    DocumentTooLarge {
        /// The file (`-` for stdin).
        path: String,
        /// The input's size in decompressed bytes, or (`exact` false) how many were read before
        /// the limit was crossed.
        size: u64,
        /// `true` when `size` is the whole input's size (a plain file), `false` when the input
        /// was read until it crossed the limit (stdin, readers, gzip).
        exact: bool,
        /// The limit (`FileSourceConfig::max_document_bytes`).
        limit: u64,
    },
}

/// How a failed backend call was classified (requirement R6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The backend asked us to slow down: back off exponentially with jitter.
    Throttling,
    /// A network fault, timeout or 5xx: retry with backoff.
    Transient,
    /// Credentials are missing, expired or denied: retry slowly (they rotate) and report.
    Auth,
    /// The request can never succeed as configured: stop with an actionable message.
    Config,
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorClass::Throttling => "throttled",
            ErrorClass::Transient => "transient",
            ErrorClass::Auth => "credentials",
            ErrorClass::Config => "configuration",
        })
    }
}

impl SourceError {
    /// A new error from source `source_name`; `terminal` says the stream ends after it.
    pub fn new(source_name: impl Into<Arc<str>>, kind: SourceErrorKind, terminal: bool) -> Self {
        SourceError {
            source_name: source_name.into(),
            kind,
            terminal,
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> &SourceErrorKind {
        &self.kind
    }

    /// The name of the source that failed.
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// `true` when the stream ends after this error; `false` when the source is retrying by
    /// itself and the error only reports a condition.
    pub fn is_terminal(&self) -> bool {
        self.terminal
    }
}
