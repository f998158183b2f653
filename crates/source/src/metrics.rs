//! Source counters (requirement R12): shared atomics written by a running source, read as a
//! [`MetricsSnapshot`] that the engine prints or exports.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

/// A point-in-time copy of a source's counters. Counters a source does not use stay zero.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Events received from the backend (before de-duplication and filtering).
    pub events_read: u64,
    /// Records yielded to the caller.
    pub events_emitted: u64,
    /// Events dropped because they had already been yielded (overlap re-reads, R3).
    pub duplicates_dropped: u64,
    /// Events dropped because their stream does not match the stream prefix (R7).
    pub filtered_out: u64,
    /// Records yielded with [`Anomaly::Truncated`](crate::Anomaly::Truncated).
    pub truncated: u64,
    /// Records yielded with [`Anomaly::Oversize`](crate::Anomaly::Oversize).
    pub oversize: u64,
    /// Records yielded with [`Anomaly::NotJson`](crate::Anomaly::NotJson).
    pub not_json: u64,
    /// Backend API calls made (all operations).
    pub api_calls: u64,
    /// Backend API calls that failed.
    pub api_errors: u64,
    /// Failed calls classified as throttling.
    pub throttles: u64,
    /// Source gaps reported (intervals skipped on purpose, R5).
    pub gaps: u64,
    /// Milliseconds skipped in total by reported gaps.
    pub gap_ms: u64,
    /// Timestamp (ms since epoch) of the last yielded record, or 0.
    pub last_event_ms: i64,
    /// Lag of the source: now minus `last_event_ms` at snapshot time, in ms (0 before any record).
    pub lag_ms: i64,
    /// The largest `ingestionTime - timestamp` seen, in ms.
    pub max_ingestion_delay_ms: i64,
    /// The effective start instant (ms since epoch) of the current stream, or 0.
    pub effective_start_ms: i64,
    /// The current low watermark (ms since epoch): the start of the next query window.
    pub watermark_ms: i64,
    /// The current backoff delay in ms (0 when healthy).
    pub backoff_ms: u64,
    /// `true` while the source keeps failing for credential reasons and retries slowly.
    pub degraded: bool,
}

/// The live counters behind [`MetricsSnapshot`].
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub events_read: AtomicU64,
    pub events_emitted: AtomicU64,
    pub duplicates_dropped: AtomicU64,
    pub filtered_out: AtomicU64,
    pub truncated: AtomicU64,
    pub oversize: AtomicU64,
    pub not_json: AtomicU64,
    pub api_calls: AtomicU64,
    pub api_errors: AtomicU64,
    pub throttles: AtomicU64,
    pub gaps: AtomicU64,
    pub gap_ms: AtomicU64,
    pub last_event_ms: AtomicI64,
    pub max_ingestion_delay_ms: AtomicI64,
    pub effective_start_ms: AtomicI64,
    pub watermark_ms: AtomicI64,
    pub backoff_ms: AtomicU64,
    pub degraded: AtomicBool,
}

impl Metrics {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Takes back `n` counted too early (a container that turned out to hold several records).
    pub(crate) fn sub(counter: &AtomicU64, n: u64) {
        counter.fetch_sub(n, Ordering::Relaxed);
    }

    #[cfg_attr(
        not(feature = "cloudwatch"),
        expect(dead_code, reason = "only the CloudWatch source uses it")
    )]
    pub(crate) fn set(v: &AtomicI64, n: i64) {
        v.store(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self, now_ms: i64) -> MetricsSnapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let geti = |a: &AtomicI64| a.load(Ordering::Relaxed);
        let last = geti(&self.last_event_ms);
        MetricsSnapshot {
            events_read: get(&self.events_read),
            events_emitted: get(&self.events_emitted),
            duplicates_dropped: get(&self.duplicates_dropped),
            filtered_out: get(&self.filtered_out),
            truncated: get(&self.truncated),
            oversize: get(&self.oversize),
            not_json: get(&self.not_json),
            api_calls: get(&self.api_calls),
            api_errors: get(&self.api_errors),
            throttles: get(&self.throttles),
            gaps: get(&self.gaps),
            gap_ms: get(&self.gap_ms),
            last_event_ms: last,
            lag_ms: if last > 0 { (now_ms - last).max(0) } else { 0 },
            max_ingestion_delay_ms: geti(&self.max_ingestion_delay_ms),
            effective_start_ms: geti(&self.effective_start_ms),
            watermark_ms: geti(&self.watermark_ms),
            backoff_ms: get(&self.backoff_ms),
            degraded: self.degraded.load(Ordering::Relaxed),
        }
    }
}
