//! The pipeline every command runs: source → records → decode → rules → alerts → outputs →
//! acknowledgements → checkpoint.
//!
//! ```text
//!  Source::stream ──► Record ──► decode (1..n events) ──► RuleSet ──► Alert
//!                                                                     │ one bounded queue per output
//!                      ┌──────────────────────────────────────────────┼──────────────┐
//!                      ▼                                              ▼              ▼
//!                 worker(stdout)                                 worker(http)   worker(file)
//!                      │  send → retry with backoff → dead letter     │              │
//!                      └──────────── settlements (seq, outcome) ──────┴──────────────┘
//!                                             ▼
//!                            AckTracker: lowest settled prefix ──► CheckpointStore::save
//! ```
//!
//! # Guarantees
//!
//! * **Acknowledged delivery.** A record's checkpoint is committed only when every alert from
//!   it, and from every record before it, has been accepted by every output or dead-lettered.
//!   An alert an output refused without a dead-letter sink is *failed*: it blocks the checkpoint
//!   for good (the next run reads it again).
//! * **Commits** happen every [`PipelineOptions::commit_interval`], whenever the source has
//!   nothing ready (so a live source never holds a commit back while it waits), when the
//!   sources end, and on shutdown; with [`PipelineOptions::commit_when_settled`] also as soon
//!   as the settled checkpoint advances (the webhook source answers its client then).
//! * **Shutdown.** When the `stop` future completes the pipeline stops reading, lets the
//!   outputs drain (up to [`PipelineOptions::drain_timeout`]), commits and returns. When the
//!   `abort` future completes it returns at once, after committing what is settled.
//! * **Bounded memory.** Each output has a queue of [`PipelineOptions::queue_capacity`]
//!   alerts; when it is full, reading waits (one slow output stalls the others only once its
//!   queue is full). Records without alerts are folded into the tracker entry before them, so
//!   the tracker holds at most one entry per queued alert.
//! * **Order.** Records are evaluated in source order and each output receives alerts in that
//!   order. After a failed attempt an output's worker retries its oldest alert alone before
//!   sending newer ones, so a receiver sees alerts in order.
//!
//! * **Threads.** With [`PipelineOptions::threads`] above 1, records that are ready are taken
//!   in batches and decoded and evaluated on that many threads (the calling thread and a pool
//!   kept for the run); the results are then delivered one record after the other exactly as
//!   with one thread, so outputs, notices, acknowledgements and checkpoints see the same
//!   sequence whatever the number of threads. While a batch is evaluated the calling thread
//!   also reads the next records from the source.
//!
//! Everything runs inside the future returned by [`Pipeline::run`]: no task is spawned, so
//! outputs may borrow (the CLI's stdout output writes to a borrowed writer). The evaluation
//! threads only ever borrow a batch inside a blocking scope that ends before the run goes on.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::StreamExt;
use kaudit_event::{DecodeError, Position};

pub use crate::decode::decode_record;
use kaudit_source::{
    Checkpoint, CheckpointError, CheckpointStore, Record, RecordMeta, Source, SourceError,
};
use tokio::sync::mpsc;

use crate::alert::Alert;
use crate::output::{Attempt, DeadLetterSink, Output};
use crate::run::{Engine, Stats};

/// How long to wait and how often to try before an alert is given up on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Backoff before the first retry; it doubles on every attempt (full jitter).
    pub initial_backoff: Duration,
    /// Backoff cap; also caps a receiver's `Retry-After`.
    pub max_backoff: Duration,
    /// Attempts before an alert that keeps failing is given up on (dead-lettered, or failed);
    /// `None` retries for ever.
    pub max_attempts: Option<u32>,
    /// When an alert is given up on and there is no dead-letter sink: `true` counts it as
    /// failed and moves on (what `scan` does); `false` keeps retrying it with the capped
    /// backoff, so the checkpoint never passes it (what `watch` does).
    pub fail_without_dead_letters: bool,
}

impl RetryPolicy {
    /// `scan`'s policy: 5 attempts from 200 ms, then dead letter or fail.
    #[must_use]
    pub fn scan() -> RetryPolicy {
        RetryPolicy {
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            max_attempts: Some(5),
            fail_without_dead_letters: true,
        }
    }

    /// `watch`'s policy: 10 attempts from 500 ms (capped at 30 s) before a dead letter;
    /// without a dead-letter sink, retry for ever.
    #[must_use]
    pub fn watch() -> RetryPolicy {
        RetryPolicy {
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_attempts: Some(10),
            fail_without_dead_letters: false,
        }
    }

    /// The wait before attempt `attempt + 1` (1-based `attempt` failed): full jitter over
    /// `min(max, initial · 2^(attempt-1))`, or the receiver's `Retry-After` when larger.
    #[must_use]
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let ceiling = self
            .initial_backoff
            .saturating_mul(1u32 << exp)
            .min(self.max_backoff);
        let jittered = ceiling.mul_f64(fastrand::f64());
        match retry_after {
            Some(after) => after.min(self.max_backoff).max(jittered),
            None => jittered,
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::watch()
    }
}

/// Tuning of a [`Pipeline`].
#[derive(Clone, Debug)]
pub struct PipelineOptions {
    /// How often settled checkpoints are committed while records keep coming.
    pub commit_interval: Duration,
    /// Alerts each output may have queued before reading waits.
    pub queue_capacity: usize,
    /// Most alerts handed to one [`Output::send`].
    pub batch_size: usize,
    /// Retries and giving up.
    pub retry: RetryPolicy,
    /// After `stop`, how long outputs may take to drain before the pipeline returns anyway
    /// (undelivered alerts are then read again by the next run); `None` waits for ever.
    pub drain_timeout: Option<Duration>,
    /// Also commit as soon as the settled checkpoint advances, not only every
    /// `commit_interval` or when the source is idle: for sources whose client waits for the
    /// commit (the webhook answers a batch once its checkpoint is committed). Default `false`.
    pub commit_when_settled: bool,
    /// Threads that decode and evaluate records (the calling thread counts as one): 1 (the
    /// default, and what 0 means) evaluates each record on the calling thread as soon as it is
    /// read; more take the records that are ready in batches and evaluate them in parallel,
    /// delivering the results in source order (see the [module docs](self)).
    pub threads: usize,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            commit_interval: Duration::from_secs(5),
            queue_capacity: 1024,
            batch_size: 64,
            retry: RetryPolicy::default(),
            drain_timeout: Some(Duration::from_secs(10)),
            commit_when_settled: false,
            threads: 1,
        }
    }
}

/// What the pipeline tells its caller while it runs (for logs; nothing needs an answer).
#[derive(Debug)]
#[non_exhaustive]
pub enum Notice<'a> {
    /// An event in a record did not decode; it was skipped and counted.
    BadEvent {
        /// The index of the record's source in the slice given to [`Pipeline::run`].
        source: usize,
        /// Where the record came from.
        meta: &'a RecordMeta,
        /// What was wrong, with the line and byte offset in the record's input.
        error: &'a DecodeError,
        /// The event's `auditID`, when it could be salvaged from the damaged text
        /// ([`kaudit_event::salvage_audit_id`]).
        audit_id: Option<&'a str>,
    },
    /// A source reported a condition (non-terminal: it goes on) or stopped (terminal).
    Source {
        /// The index of the source in the slice given to [`Pipeline::run`].
        source: usize,
        /// What it reported.
        error: &'a SourceError,
    },
    /// An output attempt failed and will be retried.
    Retrying {
        /// The output's name.
        output: &'a str,
        /// What went wrong.
        reason: &'a str,
        /// Attempts so far for the oldest pending alert.
        attempt: u32,
        /// The wait before the next attempt.
        backoff: Duration,
    },
    /// An alert was given up on and written to the dead-letter sink.
    DeadLettered {
        /// The output that could not deliver it.
        output: &'a str,
        /// The alert's rule.
        rule: &'a str,
        /// Why.
        reason: &'a str,
    },
    /// An alert was given up on without a dead-letter sink.
    Failed {
        /// The output that could not deliver it.
        output: &'a str,
        /// The alert's rule.
        rule: &'a str,
        /// Why.
        reason: &'a str,
    },
    /// Writing a dead letter failed; it is retried.
    DeadLetterError {
        /// Why.
        reason: &'a str,
    },
    /// A checkpoint was committed.
    Committed(&'a Checkpoint),
    /// A record was evaluated: how many of its events decoded, and the alerts they raised
    /// (before delivery). For live counters such as `kaudit_events_total`.
    Evaluated {
        /// The index of the record's source in the slice given to [`Pipeline::run`].
        source: usize,
        /// Events decoded and evaluated in this record.
        events: u64,
        /// The alerts raised, in order.
        alerts: &'a [Alert],
    },
}

/// Per-output delivery counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryStats {
    /// The output's name.
    pub output: String,
    /// Alerts the output accepted.
    pub delivered: u64,
    /// Alerts written to the dead-letter sink instead.
    pub dead_lettered: u64,
    /// Alerts given up on without a dead-letter sink.
    pub failed: u64,
    /// Failed attempts (each retry counts once).
    pub failed_attempts: u64,
    /// Alerts not delivered because the output closed ([`Output::is_closed`]); they are never
    /// acknowledged.
    pub closed: u64,
}

/// What a [`Pipeline::run`] did.
#[derive(Clone, Debug, Default)]
pub struct RunReport {
    /// Events, bad events and alerts per rule.
    pub stats: Stats,
    /// One entry per output, in the order outputs were given.
    pub delivery: Vec<DeliveryStats>,
    /// Alerts (per output) still undelivered when the run returned (drain timeout or abort).
    pub undelivered: u64,
    /// Sources that ended with a terminal error.
    pub source_errors: u64,
    /// The last checkpoint committed, if any.
    pub committed: Option<Checkpoint>,
    /// `true` when the run stopped because `stop` or `abort` completed.
    pub interrupted: bool,
}

impl RunReport {
    /// `true` when every alert reached every output (nothing dead-lettered, failed or left
    /// undelivered).
    #[must_use]
    pub fn all_delivered(&self) -> bool {
        self.undelivered == 0
            && self
                .delivery
                .iter()
                .all(|d| d.dead_lettered == 0 && d.failed == 0 && d.closed == 0)
    }

    /// One line per output: `stdout: 100 delivered` / `http://x/: 3 delivered, 2 dead-lettered`.
    #[must_use]
    pub fn delivery_summary(&self) -> String {
        let mut s = String::new();
        for d in &self.delivery {
            s.push_str(&format!("   {}: {} delivered", d.output, d.delivered));
            if d.dead_lettered > 0 {
                s.push_str(&format!(", {} dead-lettered", d.dead_lettered));
            }
            if d.failed > 0 {
                s.push_str(&format!(", {} failed", d.failed));
            }
            if d.closed > 0 {
                s.push_str(&format!(", {} not delivered (output closed)", d.closed));
            }
            if d.failed_attempts > 0 {
                s.push_str(&format!(" ({} failed attempts)", d.failed_attempts));
            }
            s.push('\n');
        }
        if self.undelivered > 0 {
            s.push_str(&format!(
                "   {} alert deliveries still pending at exit (the checkpoint was not advanced past them)\n",
                self.undelivered
            ));
        }
        s
    }
}

/// Why a [`Pipeline::run`] failed as a whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// Loading or saving a checkpoint failed.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// A checkpoint store was given with more than one source.
    #[error("a checkpoint store can only be used with a single source")]
    StoreWithSeveralSources,
    /// No output was given.
    #[error("no output")]
    NoOutputs,
}

/// A rule engine wired to its outputs, dead letters and checkpoint store.
#[derive(Debug)]
pub struct Pipeline<'a> {
    engine: &'a Engine,
    outputs: Vec<&'a dyn Output>,
    dead_letters: Option<&'a dyn DeadLetterSink>,
    store: Option<&'a dyn CheckpointStore>,
    options: PipelineOptions,
    /// Woken when the settled checkpoint advances (used with
    /// [`PipelineOptions::commit_when_settled`]).
    settled: tokio::sync::Notify,
}

/// How an alert's delivery to one output ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Delivered,
    DeadLettered,
    Failed,
    Closed,
}

struct Job {
    seq: u64,
    alert: Arc<Alert>,
    attempts: u32,
}

/// Shared state between the reading loop and the output workers (never locked across an await).
struct Shared {
    tracker: AckTracker,
    delivery: Vec<DeliveryStats>,
    /// Set when an output closed: reading stops as on `stop`.
    closed: Option<tokio::sync::watch::Sender<bool>>,
}

impl Engine {
    /// A [`Pipeline`] evaluating with this engine and delivering to `outputs`: the same as
    /// [`Pipeline::new`]`(&engine, outputs)`, reachable from the value an embedder already
    /// holds. Add checkpoints, dead letters and options, then [`run`](Pipeline::run) sources
    /// through it (the `kaudit` facade's crate docs show the whole loop).
    #[must_use]
    pub fn pipeline<'a>(&'a self, outputs: Vec<&'a dyn Output>) -> Pipeline<'a> {
        Pipeline::new(self, outputs)
    }
}

impl<'a> Pipeline<'a> {
    /// A pipeline evaluating with `engine` and delivering to `outputs`.
    #[must_use]
    pub fn new(engine: &'a Engine, outputs: Vec<&'a dyn Output>) -> Pipeline<'a> {
        Pipeline {
            engine,
            outputs,
            dead_letters: None,
            store: None,
            options: PipelineOptions::default(),
            settled: tokio::sync::Notify::new(),
        }
    }

    /// Alerts given up on go to `sink` (and count as acknowledged).
    #[must_use]
    pub fn dead_letters(mut self, sink: &'a dyn DeadLetterSink) -> Self {
        self.dead_letters = Some(sink);
        self
    }

    /// Resume from and commit to `store` (single-source runs only).
    #[must_use]
    pub fn checkpoints(mut self, store: &'a dyn CheckpointStore) -> Self {
        self.store = Some(store);
        self
    }

    /// Sets the tuning.
    #[must_use]
    pub fn options(mut self, options: PipelineOptions) -> Self {
        self.options = options;
        self
    }

    /// Runs `sources` one after the other through the rules and the outputs until they end or
    /// `stop` / `abort` complete (see the [module docs](self)). `notice` hears about bad events,
    /// source conditions, retries, dead letters and commits as they happen.
    ///
    /// A source that fails with a terminal error is reported, counted in
    /// [`RunReport::source_errors`], and the next source is read.
    ///
    /// # Errors
    /// A checkpoint that cannot be loaded or saved, or a misconfiguration.
    pub async fn run(
        &self,
        sources: &[&dyn Source],
        stop: impl Future<Output = ()>,
        abort: impl Future<Output = ()>,
        notice: &mut (dyn FnMut(Notice<'_>) + Send),
    ) -> Result<RunReport, PipelineError> {
        if self.outputs.is_empty() {
            return Err(PipelineError::NoOutputs);
        }
        if self.store.is_some() && sources.len() > 1 {
            return Err(PipelineError::StoreWithSeveralSources);
        }
        let (closed_tx, mut closed_rx) = tokio::sync::watch::channel(false);
        let shared = Mutex::new(Shared {
            closed: Some(closed_tx),
            tracker: AckTracker::default(),
            delivery: self
                .outputs
                .iter()
                .map(|o| DeliveryStats {
                    output: o.name().to_owned(),
                    ..DeliveryStats::default()
                })
                .collect(),
        });
        let notice = Mutex::new(notice);
        let mut report = RunReport {
            stats: self.engine.new_stats(),
            ..RunReport::default()
        };
        let mut senders = Vec::new();
        let mut workers = Vec::new();
        for (index, output) in self.outputs.iter().enumerate() {
            let (tx, rx) = mpsc::channel::<Job>(self.options.queue_capacity.max(1));
            senders.push(tx);
            workers.push(self.worker(index, *output, rx, &shared, &notice).boxed());
        }
        let workers = futures::future::join_all(workers);

        // An output that closed stops reading like `stop` does.
        let stop = async move {
            futures::select_biased! {
                () = stop.fuse() => {}
                _ = closed_rx.wait_for(|c| *c).fuse() => {}
            }
        };
        let mut stop = std::pin::pin!(stop.fuse());
        let mut abort = std::pin::pin!(abort.fuse());
        let mut committer = Committer {
            store: self.store,
            last: None,
        };

        let mut workers = std::pin::pin!(workers.fuse());
        // Read until the sources end or `stop`; the workers deliver meanwhile.
        let read_result = {
            let read = self.read(
                sources,
                senders,
                &shared,
                &notice,
                &mut committer,
                &mut report,
                stop.as_mut(),
            );
            let mut read = std::pin::pin!(read.fuse());
            futures::select_biased! {
                () = abort.as_mut() => None,
                r = read => Some(r),
                _ = workers.as_mut() => None,
            }
        };
        match read_result {
            None => report.interrupted = true,
            Some(r) => {
                r?;
                // The senders are dropped: the workers drain their queues and end. A `stop`
                // during the drain starts the drain timeout.
                let drain_timeout = self.options.drain_timeout;
                let interrupted = &mut report.interrupted;
                let drain = async {
                    if !*interrupted {
                        futures::select_biased! {
                            _ = workers.as_mut() => return,
                            () = stop.as_mut() => *interrupted = true,
                        }
                    }
                    match drain_timeout {
                        Some(t) => {
                            let _ = tokio::time::timeout(t, workers.as_mut()).await;
                        }
                        None => {
                            workers.as_mut().await;
                        }
                    }
                };
                let mut aborted = false;
                futures::select_biased! {
                    () = abort.as_mut() => aborted = true,
                    () = drain.fuse() => {}
                }
                report.interrupted |= aborted;
            }
        }
        let (committable, undelivered, delivery) = {
            let s = lock(&shared);
            (
                s.tracker.committable.clone(),
                s.tracker.pending_deliveries(),
                s.delivery.clone(),
            )
        };
        {
            let mut n = lock(&notice);
            committer.commit(committable, &mut **n)?;
        }
        report.undelivered = undelivered;
        report.delivery = delivery;
        report.committed = committer.last.filter(|_| self.store.is_some());
        Ok(report)
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the reading loop's collaborators are all distinct borrows of run()'s frame"
    )]
    async fn read(
        &self,
        sources: &[&dyn Source],
        senders: Vec<mpsc::Sender<Job>>,
        shared: &Mutex<Shared>,
        notice: &Mutex<&mut (dyn FnMut(Notice<'_>) + Send)>,
        committer: &mut Committer<'_>,
        report: &mut RunReport,
        mut stop: std::pin::Pin<&mut futures::future::Fuse<impl Future<Output = ()>>>,
    ) -> Result<(), PipelineError> {
        let pool = self.evaluation_pool();
        let mut scratch = Scratch::new(self.engine);
        let mut last_commit = Instant::now();
        let mut batch: Vec<Record> = Vec::new();
        let mut results: Vec<Evaluated> = Vec::new();
        'sources: for (index, source) in sources.iter().enumerate() {
            let resume = match self.store {
                Some(s) => s.load(source.identity())?,
                None => None,
            };
            let mut stream = source.stream(resume);
            // Items read ahead of the batch being evaluated (only with several threads).
            let mut ahead = Ahead::default();
            loop {
                if ahead.items.is_empty() {
                    if ahead.ended {
                        break;
                    }
                    let item = match stream.next().now_or_never() {
                        Some(item) => item,
                        None => {
                            // Nothing ready: commit what is settled before waiting.
                            self.commit_settled(shared, committer, notice)?;
                            last_commit = Instant::now();
                            let tick = tokio::time::sleep(self.options.commit_interval);
                            let settled = async {
                                if self.options.commit_when_settled {
                                    self.settled.notified().await;
                                } else {
                                    std::future::pending::<()>().await;
                                }
                            };
                            futures::select_biased! {
                                () = stop.as_mut() => { report.interrupted = true; break 'sources; }
                                item = stream.next().fuse() => item,
                                () = tick.fuse() => continue,
                                () = settled.fuse() => continue,
                            }
                        }
                    };
                    let Some(item) = item else { break };
                    ahead.items.push_back(item);
                    if pool.is_some() {
                        ahead.gather(&mut stream);
                    }
                }
                let record = match ahead.pop() {
                    Some(Ok(r)) => r,
                    Some(Err(e)) => {
                        tell(
                            notice,
                            Notice::Source {
                                source: index,
                                error: &e,
                            },
                        );
                        if e.is_terminal() {
                            report.source_errors += 1;
                            break;
                        }
                        continue;
                    }
                    None => continue,
                };
                batch.clear();
                batch.push(record);
                let start = Instant::now();
                match &pool {
                    None => {
                        results.push(Evaluated::default());
                        self.evaluate_record(&batch[0], &mut scratch, &mut results[0]);
                    }
                    Some(pool) => {
                        ahead.take_batch(&mut batch);
                        results = self.evaluate_batch(pool, &batch, &mut scratch, || {
                            ahead.gather(&mut stream);
                        });
                    }
                }
                report.stats.elapsed += start.elapsed();
                for (record, mut evaluated) in batch.drain(..).zip(results.drain(..)) {
                    let delivered = self
                        .deliver_record(
                            index,
                            record,
                            &mut evaluated,
                            &senders,
                            shared,
                            notice,
                            report,
                            stop.as_mut(),
                        )
                        .await;
                    if !delivered {
                        report.interrupted = true;
                        break 'sources;
                    }
                    let advanced = self.options.commit_when_settled
                        && self.settled.notified().now_or_never().is_some();
                    if advanced || last_commit.elapsed() >= self.options.commit_interval {
                        self.commit_settled(shared, committer, notice)?;
                        last_commit = Instant::now();
                    }
                    if stop.as_mut().now_or_never().is_some() {
                        report.interrupted = true;
                        break 'sources;
                    }
                }
            }
        }
        drop(senders);
        Ok(())
    }

    /// The pool of [`PipelineOptions::threads`] − 1 threads that evaluates batches beside the
    /// calling thread; `None` with one thread (or when the pool cannot be started: the run then
    /// evaluates on the calling thread alone, which gives the same results).
    fn evaluation_pool(&self) -> Option<rayon_core::ThreadPool> {
        let helpers = self.options.threads.saturating_sub(1);
        if helpers == 0 {
            return None;
        }
        rayon_core::ThreadPoolBuilder::new()
            .num_threads(helpers)
            .thread_name(|i| format!("kaudit-eval-{i}"))
            .build()
            .ok()
    }

    /// Hands one evaluated record to the pipeline: its bad-event and evaluation notices, its
    /// counters, its tracker entry and its alerts to every output's queue. `false` when `stop`
    /// completed while an output's queue was full.
    #[expect(
        clippy::too_many_arguments,
        reason = "the record, its outputs and run()'s counters are distinct borrows"
    )]
    async fn deliver_record(
        &self,
        index: usize,
        record: Record,
        evaluated: &mut Evaluated,
        senders: &[mpsc::Sender<Job>],
        shared: &Mutex<Shared>,
        notice: &Mutex<&mut (dyn FnMut(Notice<'_>) + Send)>,
        report: &mut RunReport,
        mut stop: std::pin::Pin<&mut futures::future::Fuse<impl Future<Output = ()>>>,
    ) -> bool {
        let stats = &mut report.stats;
        for error in &evaluated.bad {
            stats.bad_events += 1;
            tell(
                notice,
                Notice::BadEvent {
                    source: index,
                    meta: &record.meta,
                    error,
                    audit_id: kaudit_event::salvage_audit_id(&record.payload),
                },
            );
        }
        stats.events += evaluated.events;
        for &(rule, n) in &evaluated.fired {
            if let Some(count) = stats.alerts_per_rule.get_mut(rule) {
                *count += n;
            }
        }
        tell(
            notice,
            Notice::Evaluated {
                source: index,
                events: evaluated.events,
                alerts: &evaluated.alerts,
            },
        );
        if evaluated.alerts.is_empty() {
            lock(shared).tracker.push(record.checkpoint, 0);
            return true;
        }
        let seq = lock(shared)
            .tracker
            .push(record.checkpoint, evaluated.alerts.len() * senders.len());
        for alert in evaluated.alerts.drain(..) {
            let alert = Arc::new(alert);
            for tx in senders {
                let job = Job {
                    seq,
                    alert: alert.clone(),
                    attempts: 0,
                };
                futures::select_biased! {
                    () = stop.as_mut() => return false,
                    r = tx.send(job).fuse() => { let _ = r; }
                }
            }
        }
        true
    }

    fn commit_settled(
        &self,
        shared: &Mutex<Shared>,
        committer: &mut Committer<'_>,
        notice: &Mutex<&mut (dyn FnMut(Notice<'_>) + Send)>,
    ) -> Result<(), PipelineError> {
        let cp = lock(shared).tracker.committable.clone();
        let mut n = lock(notice);
        committer.commit(cp, &mut **n)
    }

    /// Evaluates `batch` on the pool's threads and the calling thread, which calls `read_ahead`
    /// between the records it takes; the results are in `batch`'s order.
    fn evaluate_batch(
        &self,
        pool: &rayon_core::ThreadPool,
        batch: &[Record],
        scratch: &mut Scratch,
        mut read_ahead: impl FnMut(),
    ) -> Vec<Evaluated> {
        /// Records a thread takes at a time.
        const TAKE: usize = 4;
        let next = AtomicUsize::new(0);
        let done: Mutex<Vec<(usize, Evaluated)>> = Mutex::new(Vec::with_capacity(batch.len()));
        let work = |scratch: &mut Scratch, between: &mut dyn FnMut()| {
            let mut mine = Vec::new();
            loop {
                let first = next.fetch_add(TAKE, Ordering::Relaxed);
                if first >= batch.len() {
                    break;
                }
                for (i, record) in batch.iter().enumerate().skip(first).take(TAKE) {
                    let mut evaluated = Evaluated::default();
                    self.evaluate_record(record, scratch, &mut evaluated);
                    mine.push((i, evaluated));
                }
                between();
            }
            lock(&done).append(&mut mine);
        };
        pool.in_place_scope(|scope| {
            for _ in 0..pool.current_num_threads() {
                scope.spawn(|_| work(&mut Scratch::new(self.engine), &mut || {}));
            }
            work(scratch, &mut read_ahead);
        });
        let mut done = done.into_inner().unwrap_or_else(PoisonError::into_inner);
        done.sort_unstable_by_key(|(i, _)| *i);
        done.into_iter().map(|(_, evaluated)| evaluated).collect()
    }

    /// Decodes every event of a record and evaluates it into `out`: bad events (with their
    /// position in the source), events, alerts and the rules that raised them.
    fn evaluate_record(&self, record: &Record, scratch: &mut Scratch, out: &mut Evaluated) {
        let meta = &record.meta;
        let base = Position {
            line: meta
                .line
                .map_or(1, |l| usize::try_from(l).unwrap_or(usize::MAX)),
            offset: meta
                .offset
                .map_or(0, |o| usize::try_from(o).unwrap_or(usize::MAX)),
        };
        let stats = &mut scratch.stats;
        for item in decode_record(&record.payload, &self.engine.decode, self.engine.compat) {
            match item {
                Ok(event) => {
                    self.engine
                        .alerts(&event, &mut scratch.matches, stats, &mut out.alerts);
                }
                Err(e) => out.bad.push(DecodeError {
                    line: base.line.saturating_add(e.line.saturating_sub(1)),
                    offset: base.offset.saturating_add(e.offset),
                    kind: e.kind,
                }),
            }
        }
        // Move the record's counts out of the scratch counters (left at zero for the next).
        out.events = std::mem::take(&mut stats.events);
        if !out.alerts.is_empty() {
            for (rule, n) in stats.alerts_per_rule.iter_mut().enumerate() {
                if *n > 0 {
                    out.fired.push((rule, std::mem::take(n)));
                }
            }
        }
    }

    /// One output's worker: takes jobs from its queue, attempts delivery, retries with backoff,
    /// dead-letters or fails what it gives up on, and settles each job in the tracker.
    async fn worker(
        &self,
        index: usize,
        output: &dyn Output,
        mut rx: mpsc::Receiver<Job>,
        shared: &Mutex<Shared>,
        notice: &Mutex<&mut (dyn FnMut(Notice<'_>) + Send)>,
    ) {
        let policy = &self.options.retry;
        let batch_size = self.options.batch_size.max(1);
        let mut pending: VecDeque<Job> = VecDeque::new();
        loop {
            if pending.is_empty() {
                match rx.recv().await {
                    Some(job) => pending.push_back(job),
                    None => return,
                }
            }
            // After a failure, retry the oldest alert alone: the receiver sees alerts in order.
            let degraded = pending.front().is_some_and(|j| j.attempts > 0);
            let want = if degraded { 1 } else { batch_size };
            while pending.len() < want {
                match rx.try_recv() {
                    Ok(job) => pending.push_back(job),
                    Err(_) => break,
                }
            }
            let n = want.min(pending.len());
            let batch: Vec<Arc<Alert>> = pending.iter().take(n).map(|j| j.alert.clone()).collect();
            let mut results = output.send(&batch).await;
            results.resize(n, Attempt::retry("the output returned no result"));
            if results.contains(&Attempt::Delivered)
                && let Err(e) = output.flush().await
            {
                for r in &mut results {
                    if *r == Attempt::Delivered {
                        *r = Attempt::retry(format!("flush failed: {e}"));
                    }
                }
            }
            if output.is_closed() {
                // The receiver is gone: nothing queued here can be delivered. Stop reading and
                // settle every job (this batch's too: its flush cannot be trusted) unacknowledged.
                if let Some(tx) = lock(shared).closed.as_ref() {
                    let _ = tx.send(true);
                }
                for job in pending.drain(..) {
                    self.settle(shared, index, job.seq, Outcome::Closed);
                }
                while let Some(job) = rx.recv().await {
                    self.settle(shared, index, job.seq, Outcome::Closed);
                }
                return;
            }
            let mut kept: VecDeque<Job> = VecDeque::new();
            let mut wait: Option<(Duration, String, u32)> = None;
            for (mut job, result) in pending.drain(..n).zip(results) {
                match result {
                    Attempt::Delivered => self.settle(shared, index, job.seq, Outcome::Delivered),
                    Attempt::NotAttempted => kept.push_back(job),
                    Attempt::Retry { .. } | Attempt::Rejected { .. } => {
                        let (reason, after, permanent) = match result {
                            Attempt::Retry { reason, after } => (reason, after, false),
                            Attempt::Rejected { reason } => (reason, None, true),
                            _ => continue,
                        };
                        job.attempts += 1;
                        lock(shared).delivery[index].failed_attempts += 1;
                        let exhausted =
                            permanent || policy.max_attempts.is_some_and(|m| job.attempts >= m);
                        let may_give_up =
                            self.dead_letters.is_some() || policy.fail_without_dead_letters;
                        if exhausted && may_give_up {
                            self.give_up(output, index, &job, &reason, shared, notice)
                                .await;
                        } else {
                            let backoff = policy.backoff(job.attempts, after);
                            if wait.as_ref().is_none_or(|(w, _, _)| backoff > *w) {
                                wait = Some((backoff, reason, job.attempts));
                            }
                            kept.push_back(job);
                        }
                    }
                }
            }
            // Kept jobs go back to the front, oldest first.
            while let Some(job) = kept.pop_back() {
                pending.push_front(job);
            }
            if let Some((backoff, reason, attempt)) = wait {
                tell(
                    notice,
                    Notice::Retrying {
                        output: output.name(),
                        reason: &reason,
                        attempt,
                        backoff,
                    },
                );
                tokio::time::sleep(backoff).await;
            }
        }
    }

    async fn give_up(
        &self,
        output: &dyn Output,
        index: usize,
        job: &Job,
        reason: &str,
        shared: &Mutex<Shared>,
        notice: &Mutex<&mut (dyn FnMut(Notice<'_>) + Send)>,
    ) {
        let Some(sink) = self.dead_letters else {
            tell(
                notice,
                Notice::Failed {
                    output: output.name(),
                    rule: &job.alert.rule,
                    reason,
                },
            );
            self.settle(shared, index, job.seq, Outcome::Failed);
            return;
        };
        let mut attempt = 0u32;
        loop {
            match sink
                .write(&job.alert, output.name(), reason, job.attempts)
                .await
            {
                Ok(()) => break,
                Err(e) => {
                    attempt += 1;
                    tell(
                        notice,
                        Notice::DeadLetterError {
                            reason: &e.to_string(),
                        },
                    );
                    let backoff = self.options.retry.backoff(attempt, None);
                    tokio::time::sleep(backoff).await;
                }
            }
        }
        tell(
            notice,
            Notice::DeadLettered {
                output: output.name(),
                rule: &job.alert.rule,
                reason,
            },
        );
        self.settle(shared, index, job.seq, Outcome::DeadLettered);
    }

    fn settle(&self, shared: &Mutex<Shared>, index: usize, seq: u64, outcome: Outcome) {
        let mut s = lock(shared);
        let d = &mut s.delivery[index];
        match outcome {
            Outcome::Delivered => d.delivered += 1,
            Outcome::DeadLettered => d.dead_lettered += 1,
            Outcome::Failed => d.failed += 1,
            Outcome::Closed => d.closed += 1,
        }
        if s.tracker
            .settle(seq, matches!(outcome, Outcome::Failed | Outcome::Closed))
        {
            self.settled.notify_one();
        }
    }
}

/// Most records evaluated in one batch, and most payload bytes (the batch also stops at the
/// record that passes it).
const BATCH_RECORDS: usize = 2048;
const BATCH_BYTES: usize = 8 << 20;

/// One evaluating thread's reusable buffers and counters.
struct Scratch {
    matches: Vec<usize>,
    /// Counts of the record being evaluated; moved into its [`Evaluated`] at its end.
    stats: Stats,
}

impl Scratch {
    fn new(engine: &Engine) -> Scratch {
        Scratch {
            matches: Vec::new(),
            stats: engine.new_stats(),
        }
    }
}

/// What evaluating one record gave, before it is delivered.
#[derive(Default)]
struct Evaluated {
    /// Events decoded and evaluated.
    events: u64,
    /// The events that did not decode, positioned in the source.
    bad: Vec<DecodeError>,
    /// The alerts, in order.
    alerts: Vec<Alert>,
    /// (rule index, alerts) for each rule that fired.
    fired: Vec<(usize, u64)>,
}

/// Items a source had ready, read ahead of the batch being evaluated.
#[derive(Default)]
struct Ahead {
    items: VecDeque<Result<Record, SourceError>>,
    /// Payload bytes in `items`.
    bytes: usize,
    /// The stream ended (it must not be polled again).
    ended: bool,
}

impl Ahead {
    /// Takes what `stream` has ready, without waiting, up to a batch's worth.
    fn gather(
        &mut self,
        stream: &mut futures::stream::BoxStream<'static, Result<Record, SourceError>>,
    ) {
        while !self.ended && self.items.len() < BATCH_RECORDS && self.bytes < BATCH_BYTES {
            match stream.next().now_or_never() {
                Some(Some(item)) => {
                    if let Ok(r) = &item {
                        self.bytes += r.payload.len();
                    }
                    self.items.push_back(item);
                }
                Some(None) => self.ended = true,
                None => break,
            }
        }
    }

    /// The first item read ahead.
    fn pop(&mut self) -> Option<Result<Record, SourceError>> {
        let item = self.items.pop_front()?;
        if let Ok(r) = &item {
            self.bytes = self.bytes.saturating_sub(r.payload.len());
        }
        Some(item)
    }

    /// Moves the records at the front (up to the first source error, or a batch's worth) to
    /// `batch`.
    fn take_batch(&mut self, batch: &mut Vec<Record>) {
        let mut bytes: usize = batch.iter().map(|r| r.payload.len()).sum();
        while batch.len() < BATCH_RECORDS && bytes < BATCH_BYTES {
            if !matches!(self.items.front(), Some(Ok(_))) {
                break;
            }
            if let Some(Ok(r)) = self.pop() {
                bytes += r.payload.len();
                batch.push(r);
            }
        }
    }
}

fn tell(notice: &Mutex<&mut (dyn FnMut(Notice<'_>) + Send)>, n: Notice<'_>) {
    let mut guard = lock(notice);
    (*guard)(n);
}

fn lock<T: ?Sized>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Committer<'a> {
    store: Option<&'a dyn CheckpointStore>,
    last: Option<Checkpoint>,
}

impl Committer<'_> {
    fn commit(
        &mut self,
        cp: Option<Checkpoint>,
        notice: &mut (dyn FnMut(Notice<'_>) + Send),
    ) -> Result<(), PipelineError> {
        let Some(cp) = cp else { return Ok(()) };
        let Some(store) = self.store else {
            self.last = Some(cp);
            return Ok(());
        };
        if self
            .last
            .as_ref()
            .is_some_and(|l| l.to_json() == cp.to_json())
        {
            return Ok(());
        }
        store.save(&cp)?;
        notice(Notice::Committed(&cp));
        self.last = Some(cp);
        Ok(())
    }
}

/// Tracks which records' alerts are settled and the checkpoint that may be committed.
///
/// Each record with alerts is an entry with a count of pending deliveries (alerts × outputs);
/// a record without alerts only moves the checkpoint of the entry before it (or the committable
/// checkpoint, when nothing is pending). The committable checkpoint is that of the longest
/// prefix of entries whose deliveries are all settled and none failed.
#[derive(Debug, Default)]
pub(crate) struct AckTracker {
    entries: VecDeque<Entry>,
    /// Sequence number of `entries[0]`.
    front_seq: u64,
    /// The next entry's sequence number.
    next_seq: u64,
    /// The checkpoint that may be committed now.
    pub(crate) committable: Option<Checkpoint>,
}

#[derive(Debug)]
struct Entry {
    /// Checkpoint after this record and after the alert-free records that followed it.
    checkpoint: Checkpoint,
    pending: usize,
    failed: bool,
}

impl AckTracker {
    /// Adds a record with `deliveries` pending deliveries; returns its sequence number.
    pub(crate) fn push(&mut self, checkpoint: Checkpoint, deliveries: usize) -> u64 {
        if deliveries == 0 {
            match self.entries.back_mut() {
                Some(last) => last.checkpoint = checkpoint,
                None => self.committable = Some(checkpoint),
            }
            return self.next_seq.saturating_sub(1);
        }
        if self.entries.is_empty() {
            self.front_seq = self.next_seq;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.push_back(Entry {
            checkpoint,
            pending: deliveries,
            failed: false,
        });
        seq
    }

    /// One delivery of record `seq` is settled (`failed`: given up without a dead letter).
    /// Returns whether the committable checkpoint advanced.
    pub(crate) fn settle(&mut self, seq: u64, failed: bool) -> bool {
        let Some(i) = seq.checked_sub(self.front_seq) else {
            return false;
        };
        let Some(entry) = usize::try_from(i)
            .ok()
            .and_then(|i| self.entries.get_mut(i))
        else {
            return false;
        };
        let mut advanced = false;
        entry.pending = entry.pending.saturating_sub(1);
        entry.failed |= failed;
        while let Some(front) = self.entries.front() {
            if front.pending > 0 || front.failed {
                break;
            }
            if let Some(done) = self.entries.pop_front() {
                self.committable = Some(done.checkpoint);
                self.front_seq += 1;
                advanced = true;
            }
        }
        advanced
    }

    /// Deliveries not yet settled.
    pub(crate) fn pending_deliveries(&self) -> u64 {
        self.entries.iter().map(|e| e.pending as u64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaudit_event::Compat;
    use kaudit_source::SourceIdentity;
    use serde_json::json;

    fn cp(n: u64) -> Checkpoint {
        Checkpoint::new(Arc::new(SourceIdentity::new("t")), json!({ "n": n }))
    }

    fn committed(t: &AckTracker) -> Option<u64> {
        t.committable
            .as_ref()
            .and_then(|c| c.position().get("n").and_then(serde_json::Value::as_u64))
    }

    #[test]
    fn the_checkpoint_advances_over_the_settled_prefix_only() {
        let mut t = AckTracker::default();
        t.push(cp(1), 0);
        assert_eq!(committed(&t), Some(1));
        let a = t.push(cp(2), 2);
        t.push(cp(3), 0);
        let b = t.push(cp(4), 1);
        t.push(cp(5), 0);
        assert_eq!(committed(&t), Some(1));
        t.settle(b, false);
        assert_eq!(committed(&t), Some(1), "b is settled but a is not");
        t.settle(a, false);
        assert_eq!(committed(&t), Some(1), "a has one delivery left");
        t.settle(a, false);
        assert_eq!(
            committed(&t),
            Some(5),
            "a, the alert-free 3, b and 5 are all settled"
        );
        assert_eq!(t.pending_deliveries(), 0);
        t.push(cp(6), 0);
        assert_eq!(committed(&t), Some(6));
    }

    #[test]
    fn a_failed_delivery_blocks_the_checkpoint_for_good() {
        let mut t = AckTracker::default();
        let a = t.push(cp(1), 1);
        let b = t.push(cp(2), 1);
        t.settle(a, true);
        t.settle(b, false);
        assert_eq!(committed(&t), None);
        t.push(cp(3), 0);
        assert_eq!(committed(&t), None);
    }

    #[test]
    fn backoff_is_jittered_under_the_cap_and_honours_retry_after() {
        let p = RetryPolicy::watch();
        for attempt in 1..20 {
            let b = p.backoff(attempt, None);
            let cap = p
                .initial_backoff
                .saturating_mul(1 << (attempt - 1).min(30))
                .min(p.max_backoff);
            assert!(b <= cap, "attempt {attempt}: {b:?} > {cap:?}");
        }
        assert_eq!(
            p.backoff(1, Some(Duration::from_secs(20))),
            Duration::from_secs(20)
        );
        assert_eq!(
            p.backoff(1, Some(Duration::from_secs(3600))),
            p.max_backoff,
            "Retry-After is capped"
        );
    }

    #[test]
    fn records_decode_to_every_event_they_hold() {
        let opts = kaudit_event::DecodeOptions::default();
        let ev = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a","verb":"get","stageTimestamp":"2024-01-01T00:00:00Z"}"#;
        let list =
            format!(r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{ev},{ev}]}}"#);
        assert_eq!(
            decode_record(list.as_bytes(), &opts, Compat::Correct).len(),
            2
        );
        let array = format!("[{ev},\n{ev},\n{ev}]");
        assert_eq!(
            decode_record(array.as_bytes(), &opts, Compat::Correct).len(),
            3
        );
        assert_eq!(
            decode_record(ev.as_bytes(), &opts, Compat::Correct).len(),
            1
        );
        assert!(decode_record(b"  \n", &opts, Compat::Correct).is_empty());
        let bad = decode_record(b"{\"kind\":", &opts, Compat::Correct);
        assert!(matches!(bad.as_slice(), [Err(_)]));
    }
}
