//! The CloudWatch Logs source: EKS audit logs read with `FilterLogEvents`, without losing,
//! repeating, or over-reading events.
//!
//! How it reads (the requirement numbers are those of `shared/docs/cloudwatch-source.md` §8):
//!
//! * **Start (R1).** [`StartPosition`]: the stored checkpoint (default; without one, the last
//!   60 s), `now`, a lookback or an instant, the last two bounded by `max_backfill`. The effective
//!   start is logged (`tracing`, target `kaudit_source::cloudwatch`) and kept in
//!   [`MetricsSnapshot::effective_start_ms`](crate::MetricsSnapshot).
//! * **Windows (R2).** Each poll reads `[next - overlap, now - settle_lag]` (at most
//!   `max_window` of new time) with an explicit `endTime`, and follows `nextToken` until it is
//!   absent, through empty pages. `nextToken`s are never stored.
//! * **De-duplication (R3).** By `(logStreamName, eventId)`; keys older than the current window
//!   start are forgotten.
//! * **Checkpoint (R4).** `{"v":1, "from_ms": W, "seen": [[ts, stream, eventId], ...]}`: a low
//!   watermark plus the keys already yielded at or after it.
//! * **Restart gap (R5).** A checkpoint older than `max_resume_gap` is either backfilled or
//!   skipped; a skip yields a non-terminal [`Gap`](crate::SourceErrorKind::Gap) error and counts in
//!   `gaps`.
//! * **Errors (R6).** [`ErrorClass`]: throttling and transient faults are retried with
//!   exponential backoff and full jitter; credential errors are retried slowly and reported;
//!   configuration errors end the stream. Calls go through a client-side rate limiter (default
//!   1 call/s; the service allows 5 per account and region, shared). All waits are futures owned
//!   by the stream: dropping it cancels them.
//! * **Order (R7).** Each window is sorted by `(timestamp, ingestionTime, stream, eventId)`;
//!   stream names are also filtered client-side by the prefix.
//! * **Anomalies (R8).** Truncated (`[Truncated...]`), non-JSON and oversize messages are
//!   yielded with an [`Anomaly`], counted and logged, never dropped.

mod client;
mod config;
mod connect;
mod cursor;

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use tokio::time::Instant;

pub use client::{ClientError, FilterRequest, LogEvent, LogsClient, Page, SdkLogsClient};
pub use config::{
    CloudWatchConfig, ConfigError, EKS_AUDIT_STREAM_PREFIX, GapPolicy, StartParseError,
    StartPosition,
};
pub use connect::{TlsRoots, tls_roots};

use self::config::ms;
use self::cursor::{Cursor, Key, WindowPosition};
use crate::checkpoint::{Checkpoint, SourceIdentity};
use crate::metrics::{ApiOperation, ApiOutcome, Metrics, MetricsSnapshot};
use crate::source::{
    Anomaly, ErrorClass, Record, RecordMeta, Source, SourceError, SourceErrorKind,
};
use crate::time::format_rfc3339;

/// Wall-clock time for the source's windows, injectable for tests.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        crate::time::now_ms()
    }
}

/// A clock that follows tokio's (pausable) time from a fixed epoch instant: with
/// `tokio::time::pause()` tests run hours of polling in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    epoch_ms: i64,
    origin: Instant,
}

impl TokioClock {
    /// A clock reading `epoch_ms` now.
    pub fn starting_at(epoch_ms: i64) -> Self {
        TokioClock {
            epoch_ms,
            origin: Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now_ms(&self) -> i64 {
        self.epoch_ms + ms(self.origin.elapsed())
    }
}

/// Reads a CloudWatch Logs group (see the [module docs](self)).
#[derive(Debug)]
pub struct CloudWatchSource {
    config: Arc<CloudWatchConfig>,
    client: Arc<dyn LogsClient>,
    clock: Arc<dyn Clock>,
    identity: Arc<SourceIdentity>,
    name: Arc<str>,
    metrics: Arc<Metrics>,
}

/// The identity of a CloudWatch source: region, log group, stream prefix.
pub fn identity(region: &str, log_group: &str, stream_prefix: Option<&str>) -> SourceIdentity {
    SourceIdentity::new("cloudwatch")
        .with("region", region)
        .with("log_group", log_group)
        .with("stream_prefix", stream_prefix.unwrap_or(""))
}

impl CloudWatchSource {
    /// Connects with the AWS SDK: credentials (default chain, profile, role), region, endpoint,
    /// TLS roots, then the start-up self-test (`DescribeLogStreams`) when
    /// [`CloudWatchConfig::self_test`] is set. Every failure is a terminal error with advice.
    pub async fn connect(config: CloudWatchConfig) -> Result<Self, SourceError> {
        connect::connect(config).await
    }

    /// A source over any [`LogsClient`] (a fake in tests). `region` is used for the identity.
    pub fn with_client(
        config: CloudWatchConfig,
        region: &str,
        client: Arc<dyn LogsClient>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let identity = identity(region, &config.log_group, config.stream_prefix.as_deref());
        let name: Arc<str> = format!("cloudwatch:{}", config.log_group).into();
        let metrics = Arc::new(Metrics::default());
        metrics.uses(ApiOperation::FilterLogEvents);
        metrics.uses(ApiOperation::DescribeLogStreams);
        CloudWatchSource {
            config: Arc::new(config),
            client,
            clock,
            identity: Arc::new(identity),
            name,
            metrics,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CloudWatchConfig {
        &self.config
    }

    /// The start-up self-test: one `DescribeLogStreams(limit=1)` on the group and prefix. It
    /// checks region, credentials, permission and that the group exists, and returns the first
    /// matching stream, if any.
    pub async fn self_test(&self) -> Result<Option<String>, SourceError> {
        let result = self
            .client
            .describe_first_stream(&self.config.log_group, self.config.stream_prefix.as_deref())
            .await;
        let outcome = match &result {
            Ok(_) => ApiOutcome::Ok,
            Err(e) => outcome(e.class),
        };
        self.metrics.call(ApiOperation::DescribeLogStreams, outcome);
        result.map_err(|e| {
            SourceError::new(
                self.name.clone(),
                SourceErrorKind::Api {
                    operation: "DescribeLogStreams (start-up self-test)",
                    class: e.class,
                    message: e.to_string(),
                },
                true,
            )
        })
    }

    /// Where [`Source::stream`] would start now with `resume`, and why (R1, R5), so the caller
    /// can print it before reading. The stream itself also logs it and records it in
    /// [`MetricsSnapshot::effective_start_ms`].
    pub fn effective_start(&self, resume: Option<&Checkpoint>) -> Result<StartInfo, SourceError> {
        let plan = self.plan(resume.cloned())?;
        Ok(StartInfo {
            start_ms: plan.cursor.floor_ms,
            reason: plan.why,
            gap: plan.gap,
        })
    }

    /// Where a stream started now with `resume` would begin, and why (R1, R5).
    fn plan(&self, resume: Option<Checkpoint>) -> Result<Plan, SourceError> {
        let cfg = &self.config;
        let now = self.clock.now_ms();
        let err = |kind| SourceError::new(self.name.clone(), kind, true);
        cfg.validate()
            .map_err(|e| err(SourceErrorKind::Config(e.to_string())))?;
        let fresh = |start: i64, why: String| Plan {
            cursor: Cursor::fresh(start),
            why,
            gap: None,
        };
        if resume.is_some() && cfg.start != StartPosition::Checkpoint {
            tracing::info!(target: "kaudit_source::cloudwatch", start = %cfg.start, "explicit start position: the stored checkpoint is not used");
        }
        let plan = match (&cfg.start, resume) {
            (StartPosition::Checkpoint, Some(cp)) => {
                cp.check_identity(&self.identity)
                    .map_err(|e| err(e.into()))?;
                let cursor = Cursor::from_position(&cp.position(), &self.identity)
                    .map_err(|e| err(e.into()))?;
                let behind = now - cursor.floor_ms;
                if behind > ms(cfg.max_resume_gap) {
                    match cfg.gap_policy {
                        GapPolicy::Skip => {
                            let to = now - ms(cfg.settle_lag);
                            Plan {
                                gap: Some((cursor.floor_ms, to - 1)),
                                cursor: Cursor::fresh(to),
                                why: format!(
                                    "checkpoint is {}s old, beyond max_resume_gap {}s: skipping to now - settle_lag",
                                    behind / 1000,
                                    cfg.max_resume_gap.as_secs()
                                ),
                            }
                        }
                        GapPolicy::Backfill => Plan {
                            cursor,
                            why: format!(
                                "checkpoint is {}s old, beyond max_resume_gap: backfilling (rate-limited)",
                                behind / 1000
                            ),
                            gap: None,
                        },
                    }
                } else {
                    Plan {
                        cursor,
                        why: "resuming from the checkpoint".into(),
                        gap: None,
                    }
                }
            }
            (StartPosition::Checkpoint, None) => fresh(
                now - ms(cfg.default_lookback),
                format!(
                    "no checkpoint: looking back {}s",
                    cfg.default_lookback.as_secs()
                ),
            ),
            (StartPosition::Now, _) => fresh(now, "start position `now`".into()),
            (StartPosition::Lookback(d), _) => fresh(
                now - ms(*d),
                format!("start position lookback {}s", d.as_secs()),
            ),
            (StartPosition::At(t), _) => {
                if now - t > ms(cfg.max_backfill) {
                    return Err(err(SourceErrorKind::Config(format!(
                        "start instant {} is more than max_backfill {}s ago: raise max_backfill to read that far back",
                        format_rfc3339(*t),
                        cfg.max_backfill.as_secs()
                    ))));
                }
                fresh(*t, format!("start position {}", format_rfc3339(*t)))
            }
        };
        Ok(plan)
    }
}

/// Where a CloudWatch stream starts (see [`CloudWatchSource::effective_start`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartInfo {
    /// The first millisecond read (ms since the Unix epoch).
    pub start_ms: i64,
    /// Why: `resuming from the checkpoint`, `no checkpoint: looking back 60s`, ...
    pub reason: String,
    /// The interval skipped because the checkpoint was too old, if any (inclusive ms).
    pub gap: Option<(i64, i64)>,
}

impl fmt::Display for StartInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "from {} ({})",
            format_rfc3339(self.start_ms),
            self.reason
        )?;
        if let Some((from, to)) = self.gap {
            write!(
                f,
                "; events from {} to {} are skipped",
                format_rfc3339(from),
                format_rfc3339(to)
            )?;
        }
        Ok(())
    }
}

struct Plan {
    cursor: Cursor,
    why: String,
    gap: Option<(i64, i64)>,
}

impl Source for CloudWatchSource {
    fn identity(&self) -> &SourceIdentity {
        &self.identity
    }

    fn stream(
        &self,
        resume: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<Record, SourceError>> {
        let mut queue = VecDeque::new();
        let cursor = match self.plan(resume) {
            Ok(plan) => {
                let start = plan.cursor.floor_ms;
                tracing::info!(
                    target: "kaudit_source::cloudwatch",
                    log_group = %self.config.log_group,
                    start = %format_rfc3339(start),
                    "effective start: {}", plan.why
                );
                Metrics::set(&self.metrics.effective_start_ms, start);
                Metrics::set(&self.metrics.watermark_ms, start);
                if let Some((from, to)) = plan.gap {
                    Metrics::add(&self.metrics.gaps, 1);
                    Metrics::add(
                        &self.metrics.gap_ms,
                        u64::try_from(to - from + 1).unwrap_or(0),
                    );
                    tracing::warn!(
                        target: "kaudit_source::cloudwatch",
                        from = %format_rfc3339(from),
                        to = %format_rfc3339(to),
                        "source gap: events in this interval are skipped"
                    );
                    queue.push_back(Err(SourceError::new(
                        self.name.clone(),
                        SourceErrorKind::Gap {
                            from_ms: from,
                            to_ms: to,
                            reason: plan.why,
                        },
                        false,
                    )));
                }
                Some(plan.cursor)
            }
            Err(e) => {
                queue.push_back(Err(e));
                None
            }
        };
        let seed = self.clock.now_ms().unsigned_abs() ^ (Arc::as_ptr(&self.metrics) as u64);
        let poller = Poller {
            config: self.config.clone(),
            client: self.client.clone(),
            clock: self.clock.clone(),
            identity: self.identity.clone(),
            name: self.name.clone(),
            metrics: self.metrics.clone(),
            done: cursor.is_none(),
            cursor: cursor.unwrap_or_else(|| Cursor::fresh(0)),
            queue,
            phase: Phase::Idle,
            next_poll: None,
            retry_at: None,
            next_call: None,
            failures: 0,
            rng: seed | 1,
        };
        stream::unfold(poller, |mut p| async move {
            let item = p.next_item().await?;
            Some((item, p))
        })
        .boxed()
    }

    fn metrics(&self) -> MetricsSnapshot {
        self.metrics.snapshot(self.clock.now_ms())
    }
}

enum Phase {
    Idle,
    Fetching {
        start: i64,
        end: i64,
        token: Option<String>,
        events: Vec<LogEvent>,
    },
}

struct Poller {
    config: Arc<CloudWatchConfig>,
    client: Arc<dyn LogsClient>,
    clock: Arc<dyn Clock>,
    identity: Arc<SourceIdentity>,
    name: Arc<str>,
    metrics: Arc<Metrics>,
    cursor: Cursor,
    queue: VecDeque<Result<Record, SourceError>>,
    done: bool,
    phase: Phase,
    /// When the next window may be read (after the poll interval once caught up).
    next_poll: Option<Instant>,
    /// When a failed page may be retried.
    retry_at: Option<Instant>,
    /// Client-side rate limit: when the next call may go out.
    next_call: Option<Instant>,
    failures: u32,
    rng: u64,
}

impl Poller {
    async fn next_item(&mut self) -> Option<Result<Record, SourceError>> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                match &item {
                    Err(e) if e.is_terminal() => {
                        self.done = true;
                        self.queue.clear();
                    }
                    Ok(r) => {
                        Metrics::add(&self.metrics.events_emitted, 1);
                        if let Some(ts) = r.meta.timestamp_ms {
                            Metrics::set(&self.metrics.last_event_ms, ts);
                        }
                    }
                    Err(_) => {}
                }
                return Some(item);
            }
            if self.done {
                return None;
            }
            self.step().await;
        }
    }

    fn jitter(&mut self, max_ms: u64) -> u64 {
        // xorshift64: good enough for spreading retries.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        if max_ms == 0 {
            0
        } else {
            self.rng % (max_ms + 1)
        }
    }

    async fn step(&mut self) {
        let cfg = self.config.clone();
        if let Phase::Idle = self.phase {
            if let Some(t) = self.next_poll.take() {
                tokio::time::sleep_until(t).await;
            }
            let now = self.clock.now_ms();
            match self
                .cursor
                .window(now, ms(cfg.settle_lag), ms(cfg.overlap), ms(cfg.max_window))
            {
                None => {
                    // Sleep until the next millisecond settles, at most a poll interval.
                    let wait = (self.cursor.next_ms + ms(cfg.settle_lag) - now)
                        .clamp(1, ms(cfg.poll_interval));
                    self.next_poll =
                        Some(Instant::now() + Duration::from_millis(wait.unsigned_abs()));
                }
                Some((start, end)) => {
                    self.cursor.begin(start);
                    self.phase = Phase::Fetching {
                        start,
                        end,
                        token: None,
                        events: Vec::new(),
                    };
                }
            }
            return;
        }
        if let Some(t) = self.retry_at.take() {
            tokio::time::sleep_until(t).await;
        }
        let (start, end, token) = match &self.phase {
            Phase::Fetching {
                start, end, token, ..
            } => (*start, *end, token.clone()),
            Phase::Idle => return,
        };
        let request = FilterRequest {
            log_group: cfg.log_group.clone(),
            stream_prefix: cfg.stream_prefix.clone(),
            start_ms: start,
            end_ms: end,
            next_token: token,
            limit: cfg.page_limit,
        };
        // Client-side rate limit.
        if let Some(t) = self.next_call {
            tokio::time::sleep_until(t).await;
        }
        let interval = Duration::from_secs_f64(1.0 / cfg.max_calls_per_second);
        self.next_call = Some(Instant::now() + interval);
        let result = self.client.filter_log_events(&request).await;
        let outcome = match &result {
            Ok(_) => ApiOutcome::Ok,
            Err(e) => outcome(e.class),
        };
        self.metrics.call(ApiOperation::FilterLogEvents, outcome);
        match result {
            Ok(page) => {
                if self.failures > 0 {
                    tracing::info!(target: "kaudit_source::cloudwatch", "FilterLogEvents recovered after {} failures", self.failures);
                }
                self.failures = 0;
                self.metrics.degraded.store(false, Ordering::Relaxed);
                self.metrics.backoff_ms.store(0, Ordering::Relaxed);
                Metrics::add(&self.metrics.events_read, page.events.len() as u64);
                let Phase::Fetching { token, events, .. } = &mut self.phase else {
                    return;
                };
                events.extend(page.events);
                match page.next_token {
                    // Empty and partial pages do not end pagination; only a missing token does.
                    Some(t) => *token = Some(t),
                    None => {
                        let events = std::mem::take(events);
                        self.finish_window(events, start, end);
                    }
                }
            }
            Err(e) => self.failed(e),
        }
    }

    fn failed(&mut self, e: ClientError) {
        let cfg = self.config.clone();
        self.failures += 1;
        let name = self.name.clone();
        let report = |terminal: bool, extra: String| {
            SourceError::new(
                name.clone(),
                SourceErrorKind::Api {
                    operation: "FilterLogEvents",
                    class: e.class,
                    message: format!("{e}{extra}"),
                },
                terminal,
            )
        };
        let delay_ms = match e.class {
            ErrorClass::Config => {
                let err = report(true, String::new());
                self.queue.push_back(Err(err));
                return;
            }
            ErrorClass::Auth => {
                let first = !self.metrics.degraded.swap(true, Ordering::Relaxed);
                let base = ms(cfg.auth_retry).unsigned_abs();
                let delay = base / 2 + self.jitter(base / 2);
                if first {
                    let err = report(false, format!("; retrying every ~{}s", base / 1000));
                    self.queue.push_back(Err(err));
                }
                delay
            }
            ErrorClass::Throttling | ErrorClass::Transient => {
                let exp = ms(cfg.backoff_base)
                    .unsigned_abs()
                    .saturating_mul(1u64 << (self.failures - 1).min(30));
                let cap = exp.min(ms(cfg.backoff_max).unsigned_abs());
                let delay = self.jitter(cap);
                if self.failures == cfg.report_after_failures {
                    let advice = if e.class == ErrorClass::Throttling {
                        "; FilterLogEvents allows 5 calls/s per account and region, shared by every caller: lower max_calls_per_second or find the other callers"
                    } else {
                        ""
                    };
                    let err = report(
                        false,
                        format!(
                            "; {} failures in a row, still retrying{advice}",
                            self.failures
                        ),
                    );
                    self.queue.push_back(Err(err));
                }
                delay
            }
        };
        tracing::warn!(target: "kaudit_source::cloudwatch", class = %e.class, delay_ms, "FilterLogEvents failed, retrying: {e}");
        self.metrics.backoff_ms.store(delay_ms, Ordering::Relaxed);
        self.retry_at = Some(Instant::now() + Duration::from_millis(delay_ms));
    }

    fn finish_window(&mut self, events: Vec<LogEvent>, start: i64, end: i64) {
        let cfg = self.config.clone();
        let (fresh, filtered, dups) =
            self.cursor
                .sift(events, cfg.stream_prefix.as_deref(), (start, end));
        Metrics::add(&self.metrics.filtered_out, filtered);
        Metrics::add(&self.metrics.duplicates_dropped, dups);
        let base = self.cursor.seen.clone();
        let batch: Arc<[(Key, i64)]> = fresh
            .iter()
            .map(|f| (f.key.clone(), f.event.timestamp_ms))
            .collect();
        let floor = self.cursor.floor_ms;
        let overlap = ms(cfg.overlap);
        for (i, f) in fresh.into_iter().enumerate() {
            let ev = f.event;
            let delay = ev.ingestion_time_ms - ev.timestamp_ms;
            self.metrics
                .max_ingestion_delay_ms
                .fetch_max(delay, Ordering::Relaxed);
            let position = WindowPosition {
                from_ms: (ev.timestamp_ms - overlap).max(floor),
                base: base.clone(),
                batch: batch.clone(),
                upto: i,
            };
            let len = ev.message.len();
            let mut payload = Bytes::from(ev.message);
            let mut anomaly = None;
            if len > cfg.max_event_bytes {
                payload.truncate(cfg.max_event_bytes);
                anomaly = Some(Anomaly::Oversize {
                    len,
                    limit: cfg.max_event_bytes,
                });
            }
            let anomaly = anomaly.or_else(|| crate::file::classify_payload(&payload));
            if let Some(a) = &anomaly {
                crate::file::count_anomaly(&self.metrics, Some(a));
                tracing::warn!(
                    target: "kaudit_source::cloudwatch",
                    stream = %ev.stream,
                    event_id = %ev.event_id,
                    audit_id = audit_id(&payload).unwrap_or("?"),
                    "{a}"
                );
            }
            self.queue.push_back(Ok(Record {
                payload,
                checkpoint: Checkpoint::lazy(self.identity.clone(), Arc::new(position)),
                meta: RecordMeta {
                    source: self.name.clone(),
                    stream: Some(ev.stream.into()),
                    timestamp_ms: Some(ev.timestamp_ms),
                    ingestion_time_ms: Some(ev.ingestion_time_ms),
                    event_id: Some(ev.event_id),
                    offset: None,
                    line: None,
                    anomaly,
                },
            }));
        }
        self.cursor.commit(&batch, end);
        Metrics::set(&self.metrics.watermark_ms, self.cursor.next_ms);
        self.phase = Phase::Idle;
        let now = self.clock.now_ms();
        // Caught up: wait a poll interval. Behind (backfill): read the next window at once.
        if self.cursor.next_ms + ms(cfg.settle_lag) >= now - ms(cfg.poll_interval) {
            self.next_poll = Some(Instant::now() + cfg.poll_interval);
        }
    }
}

/// The outcome label of a failed call of class `class`.
fn outcome(class: ErrorClass) -> ApiOutcome {
    match class {
        ErrorClass::Throttling => ApiOutcome::Throttled,
        _ => ApiOutcome::Error,
    }
}

/// The `auditID` near the start of an audit event, for logs about damaged messages.
fn audit_id(payload: &[u8]) -> Option<&str> {
    const KEY: &[u8] = b"\"auditID\":\"";
    let head = &payload[..payload.len().min(4096)];
    let at = head.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let rest = &head[at..];
    let end = rest.iter().position(|&b| b == b'"')?;
    std::str::from_utf8(&rest[..end]).ok()
}
