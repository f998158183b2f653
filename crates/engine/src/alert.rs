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

    /// Appends Falco's JSON alert (one object, no newline) to `out`.
    pub fn write_json(&self, out: &mut String) {
        // Serializing owned strings, maps and integers into a String cannot fail.
        if let Ok(text) = serde_json::to_string(self) {
            out.push_str(&text);
        }
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
    let (y, mo, d, h, m, s, n) = utc_parts(ns);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}.{n:09}Z")
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
        let mut output = String::new();
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
        out.push_str(",\"priority\":");
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
