//! Small time helpers: the wall clock in ms, human durations (`30s`, `15m`, `2h`, `1d`) and
//! RFC 3339 instants, so no unit bug like k8saudit-eks's `shift` can happen.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Why a duration or an instant could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} `{input}`: {reason}")]
pub struct TimeParseError {
    what: &'static str,
    input: String,
    reason: std::borrow::Cow<'static, str>,
}

fn err(what: &'static str, input: &str, reason: &'static str) -> TimeParseError {
    TimeParseError {
        what,
        input: input.to_owned(),
        reason: reason.into(),
    }
}

/// Parses a duration made of `<integer><unit>` parts, units `ms`, `s`, `m`, `h`, `d`
/// (`30s`, `15m`, `1h30m`). A bare number is rejected: the unit is always explicit.
pub fn parse_duration(input: &str) -> Result<Duration, TimeParseError> {
    const WHAT: &str = "duration";
    let s = input.trim();
    if s.is_empty() {
        return Err(err(WHAT, input, "empty"));
    }
    let mut total: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(err(
                WHAT,
                input,
                "expected a number such as `30s`, `15m` or `2h`",
            ));
        }
        let (num, tail) = rest.split_at(digits);
        let n: u64 = num
            .parse()
            .map_err(|_| err(WHAT, input, "number too large"))?;
        let unit_len = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, tail) = tail.split_at(unit_len);
        let ms_per: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => return Err(err(WHAT, input, "missing unit (use ms, s, m, h or d)")),
            _ => return Err(err(WHAT, input, "unknown unit (use ms, s, m, h or d)")),
        };
        total = n
            .checked_mul(ms_per)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| err(WHAT, input, "too large"))?;
        rest = tail;
    }
    Ok(Duration::from_millis(total))
}

/// Parses an RFC 3339 instant (`2026-11-27T10:00:00Z`, `2026-11-27T12:00:00.5+02:00`) into
/// milliseconds since the Unix epoch. Fractions below a millisecond are cut (toward the past).
///
/// The calendar is jiff's: a day that does not exist in its month (`2026-02-30`, `2026-04-31`)
/// is refused. jiff reads Temporal's ISO 8601 grammar, a superset of RFC 3339, so a few more
/// spellings (`2026-11-27T10:00:00+02`, offsets up to ±25:59, a trailing `[UTC]` annotation) are
/// accepted too. A leap
/// second (`23:59:60`) is refused, as kaudit-event's parser does, where jiff alone would read it
/// as `:59`.
pub(crate) fn parse_rfc3339(input: &str) -> Result<i64, TimeParseError> {
    const WHAT: &str = "RFC 3339 instant";
    let s = input.trim();
    let b = s.as_bytes();
    if b.get(16) == Some(&b':') && b.get(17..19) == Some(b"60") {
        return Err(err(
            WHAT,
            input,
            "second 60 (leap seconds are not supported)",
        ));
    }
    let ts: jiff::Timestamp = s.parse().map_err(|e: jiff::Error| TimeParseError {
        what: WHAT,
        input: input.to_owned(),
        reason: e.to_string().into(),
    })?;
    let ms = ts.as_nanosecond().div_euclid(1_000_000);
    // jiff's range (years -9999..=9999) fits an i64 of milliseconds.
    Ok(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// Formats milliseconds since the epoch as RFC 3339 UTC with milliseconds
/// (`2026-11-27T10:00:00.123Z`). Instants beyond jiff's range (years -9999..=9999) are clamped
/// to its ends.
pub fn format_rfc3339(ms: i64) -> String {
    let ts = jiff::Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        jiff::Timestamp::MIN
    } else {
        jiff::Timestamp::MAX
    });
    format!("{ts:.3}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(172_800));
        assert_eq!(
            parse_duration("10").unwrap_err().to_string(),
            "invalid duration `10`: missing unit (use ms, s, m, h or d)"
        );
        assert_eq!(
            parse_duration("5x").unwrap_err().to_string(),
            "invalid duration `5x`: unknown unit (use ms, s, m, h or d)"
        );
        assert!(parse_duration("").is_err());
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(
            parse_rfc3339("2026-11-27T10:00:00Z").unwrap(),
            1_795_773_600_000
        );
        assert_eq!(
            parse_rfc3339("2026-11-27T12:00:00.5+02:00").unwrap(),
            1_795_773_600_500
        );
        assert_eq!(
            parse_rfc3339("2026-11-27T09:30:00.123456-00:30").unwrap(),
            1_795_773_600_123
        );
        assert_eq!(
            format_rfc3339(1_795_773_600_123),
            "2026-11-27T10:00:00.123Z"
        );
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.9995Z").unwrap(), -1);
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z").unwrap(),
            1_709_164_800_000
        );
        for bad in [
            "2026-11-27 10:00",
            "2026-11-27T10:00:00",
            "2026-13-27T10:00:00Z",
            "2026-11-27T24:00:00Z",
            "2026-11-27T10:60:00Z",
            "2026-11-27T10:00:00+26:00",
        ] {
            let e = parse_rfc3339(bad).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("invalid RFC 3339 instant `{bad}`: ")),
                "{e}"
            );
        }
        assert!(parse_rfc3339("2026-13-27T10:00:00Z").is_err());
    }

    /// Days that do not exist in their month, and leap seconds, are refused (the hand-written
    /// parser this replaced took day 31 in any month and second 60).
    #[test]
    fn rfc3339_calendar() {
        for bad in [
            "2026-02-30T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "1900-02-29T00:00:00Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad} was accepted");
        }
        assert_eq!(
            parse_rfc3339("2016-12-31T23:59:60Z")
                .unwrap_err()
                .to_string(),
            "invalid RFC 3339 instant `2016-12-31T23:59:60Z`: second 60 (leap seconds are not supported)"
        );
        assert!(parse_rfc3339("2000-02-29T00:00:00Z").is_ok());
        assert!(parse_rfc3339("2026-03-31T00:00:00Z").is_ok());
    }
}
