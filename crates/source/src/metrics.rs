//! Source counters (requirement R12): shared atomics written by a running source, read as a
//! [`MetricsSnapshot`] that the engine prints or exports.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

/// A backend API operation a source calls, counted per [`ApiOutcome`] in
/// [`MetricsSnapshot::api_calls_by`]. The names are the service's own operation names, stable
/// for dashboards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ApiOperation {
    /// CloudWatch Logs `FilterLogEvents`: every read of a window page.
    FilterLogEvents,
    /// CloudWatch Logs `DescribeLogStreams`: the start-up self-test.
    DescribeLogStreams,
}

impl ApiOperation {
    /// Every operation, in the order [`MetricsSnapshot::api_calls_by`] lists them.
    pub const ALL: [ApiOperation; 2] = [
        ApiOperation::FilterLogEvents,
        ApiOperation::DescribeLogStreams,
    ];

    /// The operation's name as the service spells it (`FilterLogEvents`).
    pub fn as_str(self) -> &'static str {
        match self {
            ApiOperation::FilterLogEvents => "FilterLogEvents",
            ApiOperation::DescribeLogStreams => "DescribeLogStreams",
        }
    }
}

impl fmt::Display for ApiOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one backend API call ended. Every call counts under exactly one outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ApiOutcome {
    /// The call succeeded (`ok`).
    Ok,
    /// The service refused the call as throttling (`throttled`); retried with backoff.
    Throttled,
    /// Any other failure (`error`): credentials, permissions, configuration, transport,
    /// service faults.
    Error,
}

impl ApiOutcome {
    /// Every outcome, in the order [`MetricsSnapshot::api_calls_by`] lists them.
    pub const ALL: [ApiOutcome; 3] = [ApiOutcome::Ok, ApiOutcome::Throttled, ApiOutcome::Error];

    /// The outcome's label value: `ok`, `throttled` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiOutcome::Ok => "ok",
            ApiOutcome::Throttled => "throttled",
            ApiOutcome::Error => "error",
        }
    }
}

impl fmt::Display for ApiOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Calls of one operation that ended with one outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiCalls {
    /// The operation.
    pub operation: ApiOperation,
    /// How the calls ended.
    pub outcome: ApiOutcome,
    /// How many calls.
    pub calls: u64,
}

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
    /// Backend API calls that failed (throttled or not).
    pub api_errors: u64,
    /// Failed calls classified as throttling.
    pub throttles: u64,
    /// The calls per operation and outcome: every outcome of every operation the source uses
    /// (zeros included), in [`ApiOperation::ALL`] then [`ApiOutcome::ALL`] order. Empty for
    /// sources that call no backend API (files, the webhook).
    pub api_calls_by: Vec<ApiCalls>,
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
    /// Per [`ApiOperation::ALL`] × [`ApiOutcome::ALL`].
    api_by: [[AtomicU64; 3]; 2],
    /// Which operations the source uses (listed in snapshots even before their first call).
    api_used: [AtomicBool; 2],
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

    /// Declares that the source calls `op`: its series are listed (at 0) before the first call.
    /// (Without the `cloudwatch` feature only [`call`](Self::call), itself expected dead, uses it,
    /// which keeps it live for the lint.)
    pub(crate) fn uses(&self, op: ApiOperation) {
        self.api_used[op_index(op)].store(true, Ordering::Relaxed);
    }

    /// Counts one call of `op` that ended with `outcome` (the totals too).
    #[cfg_attr(
        not(feature = "cloudwatch"),
        expect(dead_code, reason = "only the CloudWatch source calls an API")
    )]
    pub(crate) fn call(&self, op: ApiOperation, outcome: ApiOutcome) {
        self.uses(op);
        Self::add(&self.api_by[op_index(op)][outcome_index(outcome)], 1);
        Self::add(&self.api_calls, 1);
        match outcome {
            ApiOutcome::Ok => {}
            ApiOutcome::Throttled => {
                Self::add(&self.api_errors, 1);
                Self::add(&self.throttles, 1);
            }
            ApiOutcome::Error => Self::add(&self.api_errors, 1),
        }
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
            api_calls_by: ApiOperation::ALL
                .into_iter()
                .filter(|op| self.api_used[op_index(*op)].load(Ordering::Relaxed))
                .flat_map(|operation| {
                    ApiOutcome::ALL.into_iter().map(move |outcome| ApiCalls {
                        operation,
                        outcome,
                        calls: get(&self.api_by[op_index(operation)][outcome_index(outcome)]),
                    })
                })
                .collect(),
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

fn op_index(op: ApiOperation) -> usize {
    match op {
        ApiOperation::FilterLogEvents => 0,
        ApiOperation::DescribeLogStreams => 1,
    }
}

fn outcome_index(outcome: ApiOutcome) -> usize {
    match outcome {
        ApiOutcome::Ok => 0,
        ApiOutcome::Throttled => 1,
        ApiOutcome::Error => 2,
    }
}
