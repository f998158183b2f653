//! The contract between the pipeline and the places alerts go.
//!
//! An [`Output`] makes *one attempt* at delivering a batch of alerts and says, per alert, what
//! happened ([`Attempt`]). Everything around the attempt (the bounded queue per output, retries
//! with backoff, dead letters, acknowledgements) is the pipeline's job
//! ([`crate::pipeline`]), so every output gets the same delivery guarantees. Implementations
//! (stdout, files, falcosidekick-compatible HTTP, webhooks) live in the `kaudit-output` crate;
//! a library user can write their own.
//!
//! # Contract
//!
//! * `send(batch)` returns exactly one [`Attempt`] per alert, in the batch's order. A shorter
//!   result is a bug; the pipeline treats missing entries as [`Attempt::Retry`].
//! * [`Attempt::Delivered`] means the receiver has the alert, or (for buffered outputs) will
//!   have it once [`Output::flush`] returns `Ok`. The pipeline calls `flush` after every `send`
//!   that delivered something and acknowledges those alerts only when it succeeds.
//! * [`Attempt::Retry`] is a fault that may pass (connection refused, timeout, 5xx, 408, 429);
//!   `after` carries the receiver's `Retry-After` when it gave one.
//! * [`Attempt::Rejected`] is a refusal that will not change on retry (another 4xx): the
//!   pipeline dead-letters the alert (or counts it as failed) without retrying.
//! * **Order.** An output that sends alerts one by one stops at the first [`Attempt::Retry`]
//!   and answers [`Attempt::NotAttempted`] for the rest of the batch, so a receiver never sees
//!   an alert before an older one that is still being retried.
//! * Outputs never panic on what a receiver says, and never block the thread: they are async.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::alert::Alert;

/// The attribute [`Output`] and [`DeadLetterSink`] are declared with (the `async-trait`
/// crate's), re-exported so an implementation needs no dependency of its own:
/// `#[kaudit_engine::output::async_trait]` on the `impl` block.
pub use async_trait::async_trait;

/// What one delivery attempt of one alert gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver accepted the alert.
    Delivered,
    /// A fault that may pass: try again after a backoff.
    Retry {
        /// What went wrong, for logs and dead letters (`HTTP 503`, `connection refused`).
        reason: String,
        /// The receiver's `Retry-After`, when it sent one.
        after: Option<Duration>,
    },
    /// The receiver refused the alert for good: do not retry.
    Rejected {
        /// Why (`HTTP 400: Please send a valid request body`).
        reason: String,
    },
    /// The output did not try this alert (an earlier one in the batch failed); it is sent
    /// again without counting an attempt.
    NotAttempted,
}

impl Attempt {
    /// A retryable fault without a `Retry-After`.
    pub fn retry(reason: impl Into<String>) -> Attempt {
        Attempt::Retry {
            reason: reason.into(),
            after: None,
        }
    }

    /// A permanent refusal.
    pub fn rejected(reason: impl Into<String>) -> Attempt {
        Attempt::Rejected {
            reason: reason.into(),
        }
    }
}

/// Why flushing an output failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OutputError(pub String);

/// A place alerts go. See the [module docs](self) for the contract.
///
/// Declared with [`async_trait`](macro@async_trait) on purpose, so `Box<dyn Output>` works
/// (the outputs are picked from the command line); `async fn` in traits is not object safe on
/// stable Rust.
/// Implement it with `#[kaudit_engine::output::async_trait]` on the `impl` block.
#[async_trait::async_trait]
pub trait Output: Send + Sync + fmt::Debug {
    /// The output's name in logs, summaries and dead letters (`stdout`, `file:/x.json`,
    /// `http://falcosidekick:2801/`).
    fn name(&self) -> &str;

    /// One attempt at delivering every alert of `batch`, in order. Returns one [`Attempt`] per
    /// alert, in the same order.
    async fn send(&self, batch: &[Arc<Alert>]) -> Vec<Attempt>;

    /// Makes every alert reported [`Attempt::Delivered`] so far durable (flushes buffers).
    ///
    /// # Errors
    /// When the buffered alerts could not be written; the pipeline then retries them.
    async fn flush(&self) -> Result<(), OutputError> {
        Ok(())
    }

    /// `true` once the receiver is gone for good: standard output whose reader exited
    /// (`kaudit scan … | head -1`), a closed pipe. The pipeline then stops reading, as on a stop
    /// signal; what this output had not delivered is counted as
    /// [`closed`](crate::pipeline::DeliveryStats::closed) and never acknowledged.
    fn is_closed(&self) -> bool {
        false
    }
}

/// Where alerts go that an output refused for good or that exhausted the retry budget.
///
/// A dead-lettered alert counts as acknowledged: the checkpoint may pass it.
///
/// Declared with [`async_trait`](macro@async_trait), as [`Output`] is.
#[async_trait::async_trait]
pub trait DeadLetterSink: Send + Sync + fmt::Debug {
    /// Keeps `alert`, which output `output` could not deliver because of `reason` after
    /// `attempts` attempts. Returns only once the record is durable.
    ///
    /// # Errors
    /// When it cannot be kept; the pipeline then retries the write (the alert stays
    /// unacknowledged).
    async fn write(
        &self,
        alert: &Alert,
        output: &str,
        reason: &str,
        attempts: u32,
    ) -> Result<(), OutputError>;
}
