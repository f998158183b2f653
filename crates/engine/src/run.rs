//! The [`Engine`] (rules, alert renderer, decoding options) and the [`Stats`] of a run.
//!
//! [`Engine::evaluate`] decodes and evaluates a payload, [`Engine::evaluate_event`] one decoded
//! event; [`Engine::alerts`] is the allocation-free form the pipeline drives over a source's
//! records before it delivers the alerts.

use std::time::Duration;

use kaudit_event::{AuditEvent, Compat, DecodeError, DecodeOptions, Field};

use crate::alert::{Alert, AlertRenderer};
use crate::decode::decode_record;
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

/// A rule set with its alert renderer and decoding options. Build one with
/// [`Engine::builder`].
#[derive(Debug)]
pub struct Engine {
    /// The rules.
    pub rules: RuleSet<Field>,
    /// How alerts are printed.
    pub renderer: AlertRenderer,
    /// Event decoding options.
    pub decode: DecodeOptions,
    /// How events are read: [`Compat::Falco`] also reads the events Falco's k8saudit accepts
    /// that the default refuses (known keys of an unexpected type, lone surrogate escapes).
    /// Give the rule set's schema the same mode.
    pub compat: Compat,
}

/// What [`Engine::evaluate`] found in one payload.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Evaluation {
    /// The alerts, in event order and, per event, in rule load order.
    pub alerts: Vec<Alert>,
    /// How many events were decoded and evaluated.
    pub events: usize,
    /// The events that did not decode (skipped), with their position in the payload.
    pub errors: Vec<DecodeError>,
}

impl Engine {
    /// Decodes every event in `payload` (one JSON event, JSON lines, an `EventList`, a JSON
    /// array of events) and evaluates each; events that do not decode are reported in
    /// [`Evaluation::errors`] and skipped.
    #[must_use]
    pub fn evaluate(&self, payload: &[u8]) -> Evaluation {
        let mut eval = Evaluation::default();
        let mut matches = Vec::new();
        for item in decode_record(payload, &self.decode, self.compat) {
            match item {
                Ok(event) => {
                    eval.events += 1;
                    self.push_alerts(&event, &mut matches, &mut eval.alerts);
                }
                Err(e) => eval.errors.push(e),
            }
        }
        eval
    }

    /// Evaluates one decoded event: its alerts in rule load order (at most one with
    /// [`Matching::First`](crate::ruleset::Matching)).
    ///
    /// Decode it with this engine's options, `kaudit_event::decode_event_with(text,
    /// Position { line: 1, offset: 0 }, &engine.decode, engine.compat)`, so that events are read
    /// as [`Engine::compat`] says.
    #[must_use]
    pub fn evaluate_event(&self, event: &AuditEvent<'_>) -> Vec<Alert> {
        let mut out = Vec::new();
        self.push_alerts(event, &mut Vec::new(), &mut out);
        out
    }

    fn push_alerts(&self, event: &AuditEvent<'_>, matches: &mut Vec<usize>, out: &mut Vec<Alert>) {
        self.rules.evaluate(event, matches);
        for &i in matches.iter() {
            if let Some(rule) = self.rules.rule(i) {
                out.push(self.renderer.alert(rule, event, event.timestamp_ns()));
            }
        }
    }

    /// New counters sized for this engine's rules.
    #[must_use]
    pub fn new_stats(&self) -> Stats {
        Stats {
            alerts_per_rule: vec![0; self.rules.rules().len()],
            ..Stats::default()
        }
    }

    /// Evaluates one decoded event and appends its [`Alert`]s to `out`
    /// (in rule load order; only the first with [`Matching::First`](crate::ruleset::Matching)).
    pub fn alerts(
        &self,
        event: &AuditEvent<'_>,
        matches: &mut Vec<usize>,
        stats: &mut Stats,
        out: &mut Vec<crate::alert::Alert>,
    ) {
        stats.events += 1;
        self.rules.evaluate(event, matches);
        for &i in matches.iter() {
            if let Some(rule) = self.rules.rule(i) {
                if let Some(n) = stats.alerts_per_rule.get_mut(i) {
                    *n += 1;
                }
                out.push(self.renderer.alert(rule, event, event.timestamp_ns()));
            }
        }
    }
}
