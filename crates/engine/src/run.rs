//! The run loop: input → decode → evaluate → alerts → outputs → checkpoint.
//!
//! Two entry points share one [`Engine`]:
//!
//! - [`Engine::scan_document`] evaluates a whole input document (any framing kaudit-event
//!   detects: JSON lines, one `Event`, an `EventList`, a JSON array), as `kaudit scan` does for
//!   each file (gzip already inflated by [`read_input`]).
//! - [`run_source`] drains a [`Source`] record by record, and commits the record's checkpoint to
//!   the [`CheckpointStore`] only after the alerts up to that record have been written and
//!   flushed (at-least-once delivery: a crash replays, never skips).
//!
//! Bad events never stop the loop: they are counted ([`Stats::bad_events`]) and reported to
//! the caller's error callback with their position.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use kaudit_event::{AuditEvent, DecodeError, DecodeOptions, Field, decode_document, decode_event};
use kaudit_source::{CheckpointStore, Source, SourceError};

use crate::alert::AlertRenderer;
use crate::ruleset::RuleSet;

/// Counters of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events decoded and evaluated.
    pub events: u64,
    /// Lines or items that did not decode (skipped).
    pub bad_events: u64,
    /// Alerts per rule, indexed like [`RuleSet::rules`].
    pub alerts_per_rule: Vec<u64>,
    /// Time spent, for the events/s figure.
    pub elapsed: Duration,
}

impl Stats {
    /// Total alerts.
    #[must_use]
    pub fn alerts(&self) -> u64 {
        self.alerts_per_rule.iter().sum()
    }

    /// Events per second over [`Stats::elapsed`].
    #[must_use]
    pub fn events_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.events as f64 / secs
        } else {
            0.0
        }
    }

    /// The summary printed on stderr: totals, then one line per rule that fired.
    #[must_use]
    pub fn summary<F>(&self, rules: &RuleSet<F>) -> String {
        let mut s = format!(
            "Events read: {}, bad events skipped: {}, alerts: {}, events/s: {:.0}\n",
            self.events,
            self.bad_events,
            self.alerts(),
            self.events_per_sec()
        );
        for (i, n) in self.alerts_per_rule.iter().enumerate() {
            if *n > 0
                && let Some(r) = rules.rule(i)
            {
                s.push_str(&format!("   {}: {n}\n", r.name));
            }
        }
        s
    }
}

/// A rule set with its alert renderer and decoding options.
#[derive(Debug)]
pub struct Engine {
    /// The rules.
    pub rules: RuleSet<Field>,
    /// How alerts are printed.
    pub renderer: AlertRenderer,
    /// Event decoding options.
    pub decode: DecodeOptions,
}

impl Engine {
    /// New counters sized for this engine's rules.
    #[must_use]
    pub fn new_stats(&self) -> Stats {
        Stats {
            alerts_per_rule: vec![0; self.rules.rules().len()],
            ..Stats::default()
        }
    }

    /// Evaluates one decoded event and appends its alerts (lines) to `out`.
    pub fn process(
        &self,
        event: &AuditEvent<'_>,
        matches: &mut Vec<usize>,
        stats: &mut Stats,
        out: &mut String,
    ) {
        stats.events += 1;
        self.rules.evaluate(event, matches);
        for &i in matches.iter() {
            if let Some(rule) = self.rules.rule(i) {
                if let Some(n) = stats.alerts_per_rule.get_mut(i) {
                    *n += 1;
                }
                self.renderer.render(rule, event, event.timestamp_ns(), out);
            }
        }
    }

    /// Decodes and evaluates a whole document, writing alerts to `out`. Per-event decoding
    /// errors go to `on_error` and are counted; a document that is unusable as a whole is one
    /// bad event.
    ///
    /// # Errors
    /// Only write errors of `out`.
    pub fn scan_document<W: Write + ?Sized>(
        &self,
        buf: &[u8],
        out: &mut W,
        stats: &mut Stats,
        on_error: &mut dyn FnMut(&DecodeError),
    ) -> io::Result<()> {
        let start = Instant::now();
        let mut matches = Vec::new();
        let mut text = String::new();
        match decode_document(buf, &self.decode) {
            Err(e) => {
                stats.bad_events += 1;
                on_error(&e);
            }
            Ok(doc) => {
                for item in doc.events {
                    match item {
                        Ok((_, event)) => {
                            self.process(&event, &mut matches, stats, &mut text);
                            if text.len() >= 64 * 1024 {
                                out.write_all(text.as_bytes())?;
                                text.clear();
                            }
                        }
                        Err(e) => {
                            stats.bad_events += 1;
                            on_error(&e);
                        }
                    }
                }
            }
        }
        out.write_all(text.as_bytes())?;
        stats.elapsed += start.elapsed();
        Ok(())
    }
}

/// Reads a whole input: a path, or `-` for stdin; gzip is inflated when the name ends in
/// `.gz` or the data starts with the gzip magic bytes.
///
/// # Errors
/// The IO error, for the caller to report with the path.
pub fn read_input(path: &str) -> io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    if path == "-" {
        io::stdin().lock().read_to_end(&mut raw)?;
    } else {
        std::fs::File::open(path)?.read_to_end(&mut raw)?;
    }
    if path.ends_with(".gz") || raw.starts_with(&[0x1f, 0x8b]) {
        let mut inflated = Vec::new();
        flate2::read::MultiGzDecoder::new(raw.as_slice()).read_to_end(&mut inflated)?;
        return Ok(inflated);
    }
    Ok(raw)
}

/// Why [`run_source`] stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The source reported a terminal error.
    #[error("source error: {0}")]
    Source(#[from] SourceError),
    /// Writing alerts failed.
    #[error("cannot write alerts: {0}")]
    Output(#[from] io::Error),
    /// Saving a checkpoint failed.
    #[error("cannot save checkpoint: {0}")]
    Checkpoint(#[from] kaudit_source::CheckpointError),
}

/// How often [`run_source`] flushes outputs and commits a checkpoint.
pub const COMMIT_EVERY: u64 = 1000;

/// Drains `source` (resuming from `store`'s checkpoint when given), evaluating each record and
/// writing alerts to `out`, until the source ends or `shutdown` completes.
///
/// Alerts are written and `out` is flushed, and only then is the last record's checkpoint saved:
/// after every [`COMMIT_EVERY`] records, whenever the source has nothing ready (so a live source
/// such as CloudWatch never holds alerts back while it waits for new events), when the source
/// ends, and when `shutdown` completes (so a restart resumes right after the last record
/// processed: nothing is lost and nothing repeated). Non-terminal source errors go to
/// `on_source_error` as they happen; terminal ones stop the run (after a last commit).
///
/// # Errors
/// A terminal source error, an output error or a checkpoint error.
#[expect(
    clippy::too_many_arguments,
    reason = "the run loop's collaborators are all distinct; a struct would only rename them"
)]
pub async fn run_source<W: Write + ?Sized>(
    engine: &Engine,
    source: &dyn Source,
    store: Option<&dyn CheckpointStore>,
    out: &mut W,
    stats: &mut Stats,
    on_decode_error: &mut dyn FnMut(&DecodeError),
    on_source_error: &mut dyn FnMut(&SourceError),
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let resume = match store {
        Some(s) => s.load(source.identity())?,
        None => None,
    };
    let mut stream = source.stream(resume);
    let mut shutdown = std::pin::pin!(shutdown.fuse());
    let mut matches = Vec::new();
    let mut text = String::new();
    let mut pending = None;
    let mut since_commit = 0u64;
    loop {
        let item = match stream.next().now_or_never() {
            Some(item) => item,
            None => {
                // Nothing ready: deliver what we have before waiting.
                if pending.is_some() {
                    commit(out, &mut text, store, pending.take())?;
                    since_commit = 0;
                }
                futures::select_biased! {
                    () = shutdown => break,
                    item = stream.next().fuse() => item,
                }
            }
        };
        let Some(item) = item else { break };
        let record = match item {
            Ok(r) => r,
            Err(e) if e.is_terminal() => {
                commit(out, &mut text, store, pending.take())?;
                return Err(RunError::Source(e));
            }
            Err(e) => {
                on_source_error(&e);
                continue;
            }
        };
        let start = Instant::now();
        match std::str::from_utf8(&record.payload) {
            Ok(s) => match decode_event(s, &engine.decode) {
                Ok(event) => engine.process(&event, &mut matches, stats, &mut text),
                Err(e) => {
                    stats.bad_events += 1;
                    on_decode_error(&e);
                }
            },
            Err(e) => {
                stats.bad_events += 1;
                on_decode_error(&DecodeError {
                    line: 1,
                    offset: e.valid_up_to(),
                    kind: kaudit_event::DecodeErrorKind::NotUtf8,
                });
            }
        }
        stats.elapsed += start.elapsed();
        pending = Some(record.checkpoint);
        since_commit += 1;
        if since_commit >= COMMIT_EVERY {
            commit(out, &mut text, store, pending.take())?;
            since_commit = 0;
        }
        if (&mut shutdown).now_or_never().is_some() {
            break;
        }
    }
    commit(out, &mut text, store, pending.take())
}

fn commit<W: Write + ?Sized>(
    out: &mut W,
    text: &mut String,
    store: Option<&dyn CheckpointStore>,
    checkpoint: Option<kaudit_source::Checkpoint>,
) -> Result<(), RunError> {
    out.write_all(text.as_bytes())?;
    out.flush()?;
    text.clear();
    if let (Some(store), Some(cp)) = (store, checkpoint) {
        store.save(&cp)?;
    }
    Ok(())
}
