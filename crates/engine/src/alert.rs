//! Alerts in Falco's two formats (falco-compat.md §5.2–5.4).
//!
//! - **Text**: `<evt.time>: <Priority> <message>`, where `evt.time` is `HH:MM:SS.nnnnnnnnn` in
//!   the configured time zone (Falco uses local time), or with [`TimeFormat::Iso8601`]
//!   `YYYY-MM-DDTHH:MM:SS.nnnnnnnnn+0000` in UTC (`time_format_iso_8601: true`).
//! - **JSON**: one object per line with sorted keys `hostname`, `output` (the text line),
//!   `output_fields` (every token's value keyed by the token text, arrays for lists, `null` for
//!   missing, plus `evt.time` as integer nanoseconds), `priority`, `rule`, `source`, `tags`
//!   (sorted) and `time` (UTC RFC 3339 with nanoseconds, from `stageTimestamp`). That is what
//!   falcosidekick accepts: a known priority, a non-empty rule, an RFC 3339 time and a non-empty
//!   `output_fields` (it always holds `evt.time`).
//!
//! The clock is the event's own timestamp; the time zone is injected ([`TimeZone`]), so tests
//! are deterministic.

use kaudit_condition::Event;
use kaudit_event::time::utc_parts;

use crate::ruleset::Rule;
use kaudit_rules::format::{FieldValue, write_json_str};

/// How alerts are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AlertFormat {
    /// Falco's text line.
    #[default]
    Text,
    /// Falco's JSON alert, one object per line.
    Json,
}

/// The time zone of the text prefix.
#[derive(Clone, Debug, Default)]
pub enum TimeZone {
    /// UTC.
    #[default]
    Utc,
    /// A fixed offset east of UTC, in seconds.
    Fixed(i32),
    /// A time zone with rules (the system's local zone).
    Zone(jiff::tz::TimeZone),
}

impl TimeZone {
    /// The system's local time zone (what Falco prints), UTC when it cannot be determined.
    #[must_use]
    pub fn local() -> TimeZone {
        TimeZone::Zone(jiff::tz::TimeZone::system())
    }

    /// Offset from UTC in seconds at `ns` since the epoch.
    fn offset_secs(&self, ns: u64) -> i64 {
        match self {
            TimeZone::Utc => 0,
            TimeZone::Fixed(s) => i64::from(*s),
            TimeZone::Zone(tz) => {
                let secs = i64::try_from(ns / 1_000_000_000).unwrap_or(0);
                jiff::Timestamp::from_second(secs)
                    .map(|ts| i64::from(tz.to_offset(ts).seconds()))
                    .unwrap_or(0)
            }
        }
    }
}

/// The form of the time in the text prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TimeFormat {
    /// `HH:MM:SS.nnnnnnnnn` in the configured zone (Falco's default).
    #[default]
    Time,
    /// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnn+0000`, always UTC (`time_format_iso_8601: true`).
    Iso8601,
}

/// Renders alerts.
#[derive(Clone, Debug, Default)]
pub struct AlertRenderer {
    /// Text or JSON.
    pub format: AlertFormat,
    /// The text prefix's time form.
    pub time_format: TimeFormat,
    /// The text prefix's time zone.
    pub time_zone: TimeZone,
    /// The JSON `hostname`.
    pub hostname: String,
}

impl AlertRenderer {
    /// Appends the alert for `rule` on `event` (time `time_ns`, ns since the epoch) as one line
    /// (with its `\n`).
    pub fn render<F, E: Event<F>>(
        &self,
        rule: &Rule<F>,
        event: &E,
        time_ns: u64,
        out: &mut String,
    ) {
        match self.format {
            AlertFormat::Text => {
                self.text_line(rule, event, time_ns, out);
            }
            AlertFormat::Json => self.json(rule, event, time_ns, out),
        }
        out.push('\n');
    }

    /// Appends the text line (without `\n`).
    pub fn text_line<F, E: Event<F>>(
        &self,
        rule: &Rule<F>,
        event: &E,
        time_ns: u64,
        out: &mut String,
    ) {
        match self.time_format {
            TimeFormat::Time => {
                let off = self.time_zone.offset_secs(time_ns);
                let shifted = shift(time_ns, off);
                let (_, _, _, h, m, s, n) = utc_parts(shifted);
                push_fmt(out, format_args!("{h:02}:{m:02}:{s:02}.{n:09}"));
            }
            TimeFormat::Iso8601 => {
                let (y, mo, d, h, m, s, n) = utc_parts(time_ns);
                push_fmt(
                    out,
                    format_args!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}.{n:09}+0000"),
                );
            }
        }
        out.push_str(": ");
        out.push_str(rule.priority.as_str());
        out.push(' ');
        rule.output.render_text(event, out);
    }

    fn json<F, E: Event<F>>(&self, rule: &Rule<F>, event: &E, time_ns: u64, out: &mut String) {
        let mut line = String::new();
        self.text_line(rule, event, time_ns, &mut line);
        let time_key = match self.time_format {
            TimeFormat::Time => "evt.time",
            TimeFormat::Iso8601 => "evt.time.iso8601",
        };
        let mut fields = rule.output.render_fields(event);
        if !fields.iter().any(|(k, _)| *k == time_key) {
            fields.push((time_key, FieldValue::Number(time_ns.to_string())));
        }
        fields.sort_by(|a, b| a.0.cmp(b.0));

        out.push_str("{\"hostname\":");
        write_json_str(out, &self.hostname);
        out.push_str(",\"output\":");
        write_json_str(out, &line);
        out.push_str(",\"output_fields\":{");
        for (i, (k, v)) in fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_json_str(out, k);
            out.push(':');
            v.write_json(out);
        }
        out.push_str("},\"priority\":");
        write_json_str(out, rule.priority.as_str());
        out.push_str(",\"rule\":");
        write_json_str(out, &rule.name);
        out.push_str(",\"source\":");
        write_json_str(out, &rule.source);
        out.push_str(",\"tags\":[");
        for (i, t) in rule.tags.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_json_str(out, t);
        }
        out.push_str("],\"time\":\"");
        let (y, mo, d, h, m, s, n) = utc_parts(time_ns);
        push_fmt(
            out,
            format_args!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}.{n:09}Z"),
        );
        out.push_str("\"}");
    }
}

fn shift(ns: u64, offset_secs: i64) -> u64 {
    let delta = offset_secs.unsigned_abs().saturating_mul(1_000_000_000);
    if offset_secs >= 0 {
        ns.saturating_add(delta)
    } else {
        ns.saturating_sub(delta)
    }
}

fn push_fmt(out: &mut String, args: std::fmt::Arguments<'_>) {
    use std::fmt::Write as _;
    let _ = out.write_fmt(args);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts_by_offsets() {
        assert_eq!(shift(10_000_000_000, -3), 7_000_000_000);
        assert_eq!(shift(10_000_000_000, 3600), 3_610_000_000_000);
        assert_eq!(shift(1, -3), 0);
    }

    #[test]
    fn fixed_and_named_zones_give_offsets() {
        let ns = 1_540_561_114_000_000_000;
        assert_eq!(TimeZone::Utc.offset_secs(ns), 0);
        assert_eq!(TimeZone::Fixed(-18_000).offset_secs(ns), -18_000);
        let plus_two = jiff::tz::TimeZone::fixed(jiff::tz::offset(2));
        assert_eq!(TimeZone::Zone(plus_two).offset_secs(ns), 7200);
    }
}
