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
use kaudit_event::internal::utc_parts;
use kaudit_rules::internal::write_json_str;

use crate::ruleset::Rule;
use std::collections::BTreeMap;

use kaudit_rules::Priority;
pub use kaudit_rules::format::FieldValue;

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
    /// A time zone with rules (the system's local zone). This is jiff's type on purpose: a
    /// zone with daylight-saving rules needs a tz database, and jiff is the one the engine
    /// uses; [`TimeZone::local`] builds it without naming jiff.
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

/// One alert: everything Falco puts in its JSON alert, owned, so it can be queued, retried,
/// dead-lettered and handed to library users.
///
/// Serializing it with serde gives Falco's JSON alert byte for byte (the field order is the
/// key order Falco writes, `output_fields` is sorted); [`Alert::output`] is Falco's text line.
///
/// ```
/// use kaudit_engine::alert::{Alert, FieldValue};
/// use kaudit_engine::Priority;
///
/// let alert = Alert {
///     hostname: "node-1".into(),
///     output: "00:00:00.000000000: Warning x".into(),
///     output_fields: [("evt.time".to_owned(), FieldValue::Uint(0))].into(),
///     priority: Priority::Warning,
///     rule: "R".into(),
///     source: "k8s_audit".into(),
///     tags: vec!["k8s".into()],
///     time_ns: 1_000_000_001,
/// };
/// assert_eq!(
///     alert.to_json(),
///     r#"{"hostname":"node-1","output":"00:00:00.000000000: Warning x","output_fields":{"evt.time":0},"priority":"Warning","rule":"R","source":"k8s_audit","tags":["k8s"],"time":"1970-01-01T00:00:01.000000001Z"}"#
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Alert {
    /// The host that produced the alert (`--hostname`, `FALCO_HOSTNAME`, the host name).
    pub hostname: String,
    /// Falco's text line: time prefix, priority, rendered output template.
    pub output: String,
    /// Every output token's value keyed by the token text, plus `evt.time` (or
    /// `evt.time.iso8601`) in ns.
    pub output_fields: BTreeMap<String, FieldValue>,
    /// The rule's priority.
    #[serde(with = "priority_serde")]
    pub priority: Priority,
    /// The rule's name.
    pub rule: String,
    /// The rule's source (`k8s_audit`).
    pub source: String,
    /// The rule's tags, sorted.
    pub tags: Vec<String>,
    /// The event's time in ns since the Unix epoch; serialized as `time`, RFC 3339 in UTC with
    /// nanoseconds.
    #[serde(rename = "time", with = "time_serde")]
    pub time_ns: u64,
}

impl Alert {
    /// Falco's JSON alert (one object, no newline).
    #[must_use]
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    /// Appends Falco's JSON alert (one object, no newline) to `out`: the bytes serde gives,
    /// written directly (no intermediate string).
    pub fn write_json(&self, out: &mut String) {
        out.push_str("{\"hostname\":");
        write_json_str(out, &self.hostname);
        out.push_str(",\"output\":");
        write_json_str(out, &self.output);
        out.push_str(",\"output_fields\":{");
        for (i, (key, value)) in self.output_fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_json_str(out, key);
            out.push(':');
            value.write_json(out);
        }
        out.push('}');
        write_json_tail(
            out,
            self.priority,
            &self.rule,
            &self.source,
            self.tags.iter().map(String::as_str),
            self.time_ns,
        );
    }

    /// Appends the alert in `format` as one line, with its `\n`.
    pub fn write_line(&self, format: AlertFormat, out: &mut String) {
        match format {
            AlertFormat::Text => out.push_str(&self.output),
            AlertFormat::Json => self.write_json(out),
        }
        out.push('\n');
    }
}

mod priority_serde {
    use kaudit_rules::Priority;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(p: &Priority, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(p.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Priority, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|_| serde::de::Error::custom(format!("unknown priority `{text}`")))
    }
}

mod time_serde {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(ns: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::rfc3339_utc(*ns))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let text = String::deserialize(d)?;
        let ts: jiff::Timestamp = text
            .parse()
            .map_err(|e| serde::de::Error::custom(format!("invalid time `{text}`: {e}")))?;
        u64::try_from(ts.as_nanosecond())
            .map_err(|_| serde::de::Error::custom(format!("time `{text}` is before 1970")))
    }
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
fn rfc3339_utc(ns: u64) -> String {
    let mut out = String::with_capacity(30);
    push_datetime(&mut out, ns);
    out.push('Z');
    out
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
    /// The alert for `rule` on `event` (time `time_ns`, ns since the epoch).
    pub fn alert<F, E: Event<F>>(&self, rule: &Rule<F>, event: &E, time_ns: u64) -> Alert {
        // Most lines fit: one allocation instead of a doubling series.
        let mut output = String::with_capacity(256);
        self.text_line(rule, event, time_ns, &mut output);
        let time_key = match self.time_format {
            TimeFormat::Time => "evt.time",
            TimeFormat::Iso8601 => "evt.time.iso8601",
        };
        let mut output_fields: BTreeMap<String, FieldValue> = rule
            .output
            .render_fields(event)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        output_fields
            .entry(time_key.to_owned())
            .or_insert(FieldValue::Uint(time_ns));
        Alert {
            hostname: self.hostname.clone(),
            output,
            output_fields,
            priority: rule.priority,
            rule: rule.name.clone(),
            source: rule.source.clone(),
            tags: rule.tags.iter().cloned().collect(),
            time_ns,
        }
    }

    /// Appends the alert for `rule` on `event` (time `time_ns`, ns since the epoch) as one line
    /// (with its `\n`) in [`AlertRenderer::format`].
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
                out.push('\n');
            }
            AlertFormat::Json => {
                self.write_json(rule, event, time_ns, out);
                out.push('\n');
            }
        }
    }

    /// Appends Falco's JSON alert (the bytes of [`Alert::to_json`] for
    /// [`AlertRenderer::alert`]) straight into `out`: no [`Alert`] is built, and nothing is
    /// allocated once `out` has grown.
    pub fn write_json<F, E: Event<F>>(
        &self,
        rule: &Rule<F>,
        event: &E,
        time_ns: u64,
        out: &mut String,
    ) {
        out.push_str("{\"hostname\":");
        write_json_str(out, &self.hostname);
        out.push_str(",\"output\":\"");
        let start = out.len();
        self.text_line(rule, event, time_ns, out);
        if out.as_bytes()[start..]
            .iter()
            .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
        {
            let line = out.split_off(start);
            out.pop();
            write_json_str(out, &line);
        } else {
            out.push('"');
        }
        out.push_str(",\"output_fields\":");
        let time_key = match self.time_format {
            TimeFormat::Time => "evt.time",
            TimeFormat::Iso8601 => "evt.time.iso8601",
        };
        rule.output
            .write_json_fields(event, (time_key, time_ns), out);
        write_json_tail(
            out,
            rule.priority,
            &rule.name,
            &rule.source,
            rule.tags.iter().map(String::as_str),
            time_ns,
        );
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
                push_clock(out, h, m, s, n);
            }
            TimeFormat::Iso8601 => {
                push_datetime(out, time_ns);
                out.push_str("+0000");
            }
        }
        out.push_str(": ");
        out.push_str(rule.priority.as_str());
        out.push(' ');
        rule.output.render_text(event, out);
    }
}

/// The JSON alert's members after `output_fields`, and its closing brace.
fn write_json_tail<'t>(
    out: &mut String,
    priority: Priority,
    rule: &str,
    source: &str,
    tags: impl Iterator<Item = &'t str>,
    time_ns: u64,
) {
    out.push_str(",\"priority\":");
    write_json_str(out, priority.as_str());
    out.push_str(",\"rule\":");
    write_json_str(out, rule);
    out.push_str(",\"source\":");
    write_json_str(out, source);
    out.push_str(",\"tags\":[");
    for (i, t) in tags.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_str(out, t);
    }
    out.push_str("],\"time\":\"");
    push_datetime(out, time_ns);
    out.push_str("Z\"}");
}

fn shift(ns: u64, offset_secs: i64) -> u64 {
    let delta = offset_secs.unsigned_abs().saturating_mul(1_000_000_000);
    if offset_secs >= 0 {
        ns.saturating_add(delta)
    } else {
        ns.saturating_sub(delta)
    }
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnn` of `ns` in UTC (the zone suffix is the caller's).
fn push_datetime(out: &mut String, ns: u64) {
    let (y, mo, d, h, m, s, n) = utc_parts(ns);
    push_padded(out, u64::try_from(y).unwrap_or(0), 4);
    out.push('-');
    push_padded(out, u64::from(mo), 2);
    out.push('-');
    push_padded(out, u64::from(d), 2);
    out.push('T');
    push_clock(out, h, m, s, n);
}

/// `HH:MM:SS.nnnnnnnnn`.
fn push_clock(out: &mut String, h: u32, m: u32, s: u32, n: u32) {
    push_padded(out, u64::from(h), 2);
    out.push(':');
    push_padded(out, u64::from(m), 2);
    out.push(':');
    push_padded(out, u64::from(s), 2);
    out.push('.');
    push_padded(out, u64::from(n), 9);
}

/// `v` in decimal, zero-padded to at least `width` digits (what `{v:0width$}` gives, without
/// the formatting machinery: alerts print several of these each).
fn push_padded(out: &mut String, mut v: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &c in &digits[i.min(digits.len().saturating_sub(width))..] {
        out.push(char::from(c));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_numbers_as_format_does() {
        for (v, width) in [
            (0, 2),
            (7, 2),
            (59, 2),
            (123, 2),
            (5, 9),
            (999_999_999, 9),
            (2026, 4),
            (u64::MAX, 4),
        ] {
            let mut out = String::new();
            push_padded(&mut out, v, width);
            assert_eq!(out, format!("{v:0width$}"));
        }
        assert_eq!(
            rfc3339_utc(1_540_561_114_000_000_001),
            "2018-10-26T13:38:34.000000001Z"
        );
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00.000000000Z");
    }

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
