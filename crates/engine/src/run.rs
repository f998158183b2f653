//! The [`Engine`] (rules, alert renderer, decoding options) and the [`Stats`] of a run.
//!
//! [`Engine::alerts`] evaluates one decoded event; the [`pipeline`](crate::pipeline) drives it
//! over a source's records and delivers the alerts.

use std::time::Duration;

use kaudit_event::{AuditEvent, Compat, DecodeOptions, Field};

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
    /// How events are read: [`Compat::Falco`] also reads the events Falco's k8saudit accepts
    /// that the default refuses (known keys of an unexpected type, lone surrogate escapes).
    /// Give the rule set's schema the same mode.
    pub compat: Compat,
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

    /// Evaluates one decoded event and appends its [`Alert`](crate::alert::Alert)s to `out`
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
