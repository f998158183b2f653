//! Small time helpers: the wall clock in ms, human durations (`30s`, `15m`, `2h`, `1d`) and
//! RFC 3339 instants, so no unit bug like k8saudit-eks's `shift` can happen.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
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
    reason: &'static str,
}

fn err(what: &'static str, input: &str, reason: &'static str) -> TimeParseError {
    TimeParseError {
        what,
        input: input.to_owned(),
        reason,
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

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parses an RFC 3339 instant (`2026-11-27T10:00:00Z`, `2026-11-27T12:00:00.5+02:00`) into
/// milliseconds since the Unix epoch. Fractions below a millisecond are cut.
pub fn parse_rfc3339(input: &str) -> Result<i64, TimeParseError> {
    const WHAT: &str = "RFC 3339 instant";
    let b = input.trim().as_bytes();
    let bad = |reason| err(WHAT, input, reason);
    let num = |from: usize, len: usize| -> Result<i64, TimeParseError> {
        let part = b.get(from..from + len).ok_or_else(|| bad("too short"))?;
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(bad(
                "expected `YYYY-MM-DDTHH:MM:SS` followed by `Z` or an offset",
            ));
        }
        Ok(part.iter().fold(0, |a, &c| a * 10 + i64::from(c - b'0')))
    };
    let sep = |at: usize, allowed: &[u8]| -> Result<(), TimeParseError> {
        match b.get(at) {
            Some(c) if allowed.contains(c) => Ok(()),
            _ => Err(bad(
                "expected `YYYY-MM-DDTHH:MM:SS` followed by `Z` or an offset",
            )),
        }
    };
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    sep(4, b"-")?;
    sep(7, b"-")?;
    sep(10, b"Tt ")?;
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    sep(13, b":")?;
    sep(16, b":")?;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(bad("field out of range"));
    }
    let mut i = 19;
    let mut millis = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(bad("empty fraction"));
        }
        for k in 0..3 {
            millis = millis * 10
                + b.get(i + k)
                    .filter(|_| k < digits)
                    .map_or(0, |c| i64::from(c - b'0'));
        }
        i += digits;
    }
    let offset_min = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() => {
            sep(i + 3, b":")?;
            let off = num(i + 1, 2)? * 60 + num(i + 4, 2)?;
            if *sign == b'+' { off } else { -off }
        }
        _ => return Err(bad("missing or malformed `Z` / `+HH:MM` offset")),
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_min * 60;
    Ok(secs * 1_000 + millis)
}

/// Formats milliseconds since the epoch as RFC 3339 UTC with milliseconds.
pub fn format_rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
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
        assert_eq!(
            parse_rfc3339("2026-11-27 10:00").unwrap_err().to_string(),
            "invalid RFC 3339 instant `2026-11-27 10:00`: too short"
        );
        assert_eq!(
            parse_rfc3339("2026-11-27T10:00:00")
                .unwrap_err()
                .to_string(),
            "invalid RFC 3339 instant `2026-11-27T10:00:00`: missing or malformed `Z` / `+HH:MM` offset"
        );
        assert!(parse_rfc3339("2026-13-27T10:00:00Z").is_err());
    }
}
