//! RFC 3339 timestamps to nanoseconds since the Unix epoch, and back to Falco's text forms.
//!
//! A small exact parser instead of a date crate: the audit log only ever carries
//! `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (Go's `time.RFC3339Nano`), and the engine needs
//! the exact nanosecond count on the hot path.

/// Parses an RFC 3339 timestamp (Go `time.RFC3339Nano` layout) into ns since the epoch.
///
/// Accepts 1 to 9 fraction digits, `Z` or a `±HH:MM` offset. Returns `None` for anything else,
/// including dates before 1970 (an event time is unsigned, as in Falco).
#[must_use]
pub fn parse_rfc3339_ns(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(part.iter().fold(0u32, |a, &d| a * 10 + u32::from(d - b'0')))
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || min > 59
        || sec > 59
    {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0u64;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = i - start;
        if digits == 0 || digits > 9 {
            return None;
        }
        nanos = b[start..i]
            .iter()
            .fold(0u64, |a, &d| a * 10 + u64::from(d - b'0'));
        nanos *= 10u64.pow(u32::try_from(9 - digits).ok()?);
    }
    let offset_s: i64 = match b.get(i..)? {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digs = [*h1, *h2, *m1, *m2];
            if !digs.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let h = i64::from((h1 - b'0') * 10 + (h2 - b'0'));
            let m = i64::from((m1 - b'0') * 10 + (m2 - b'0'));
            if h > 23 || m > 59 {
                return None;
            }
            let off = h * 3600 + m * 60;
            if *sign == b'+' { off } else { -off }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(year), month, day);
    let secs =
        days * 86_400 + i64::from(hour) * 3600 + i64::from(min) * 60 + i64::from(sec) - offset_s;
    let secs = u64::try_from(secs).ok()?;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

fn is_leap(y: u32) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The UTC broken-down time of `ns`: `(year, month, day, hour, minute, second, nanos)`.
#[must_use]
pub fn utc_parts(ns: u64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let secs = ns / 1_000_000_000;
    let nanos = u32::try_from(ns % 1_000_000_000).unwrap_or(0);
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = u32::try_from(secs % 86_400).unwrap_or(0);
    let (y, mo, d) = civil_from_days(days);
    (y, mo, d, rem / 3600, rem % 3600 / 60, rem % 60, nanos)
}

/// `evt.time`: `HH:MM:SS.nnnnnnnnn` (UTC; see the crate docs on time zones).
#[must_use]
pub(crate) fn format_time(ns: u64) -> String {
    let (_, _, _, h, m, s, n) = utc_parts(ns);
    format!("{h:02}:{m:02}:{s:02}.{n:09}")
}

/// `evt.time.s`: `HH:MM:SS` (UTC).
#[must_use]
pub(crate) fn format_time_s(ns: u64) -> String {
    let (_, _, _, h, m, s, _) = utc_parts(ns);
    format!("{h:02}:{m:02}:{s:02}")
}

/// `evt.time.iso8601`: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnn+0000`.
#[must_use]
pub(crate) fn format_iso8601(ns: u64) -> String {
    let (y, mo, d, h, m, s, n) = utc_parts(ns);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}.{n:09}+0000")
}

/// `evt.datetime`: `YYYY-MM-DD HH:MM:SS.nnnnnnnnn` (UTC).
#[must_use]
pub(crate) fn format_datetime(ns: u64) -> String {
    let (y, mo, d, h, m, s, n) = utc_parts(ns);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02}:{s:02}.{n:09}")
}

/// `evt.datetime.s`: `YYYY-MM-DD HH:MM:SS` (UTC).
#[must_use]
pub(crate) fn format_datetime_s(ns: u64) -> String {
    let (y, mo, d, h, m, s, _) = utc_parts(ns);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02}:{s:02}")
}

/// RFC 3339 with microseconds, as kube-apiserver writes `stageTimestamp` (used by the sample).
#[cfg(any(test, feature = "sample"))]
#[must_use]
pub(crate) fn format_rfc3339_micros(ns: u64) -> String {
    let (y, mo, d, h, m, s, n) = utc_parts(ns);
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}.{:06}Z",
        n / 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_nanoseconds() {
        assert_eq!(parse_rfc3339_ns("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ns("2018-10-25T13:58:49.736141Z"),
            Some(1_540_475_929_736_141_000)
        );
        assert_eq!(
            parse_rfc3339_ns("2018-10-25T15:58:49.736141+02:00"),
            Some(1_540_475_929_736_141_000)
        );
        assert_eq!(
            parse_rfc3339_ns("2024-02-29T23:59:59.123456789Z"),
            Some(1_709_251_199_123_456_789)
        );
        assert_eq!(
            parse_rfc3339_ns("2000-03-01T00:00:00.5-01:30"),
            Some(951_874_200_500_000_000)
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "2018-10-25 13:58:49Z",
            "2018-10-25T13:58:49",
            "2018-13-25T13:58:49Z",
            "2023-02-29T00:00:00Z",
            "2018-10-25T13:58:49.Z",
            "2018-10-25T13:58:49.1234567890Z",
            "1969-12-31T23:59:59Z",
            "2018-10-25T13:58:49+0200",
            "２018-10-25T13:58:49Z",
        ] {
            assert_eq!(parse_rfc3339_ns(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats() {
        let ns = 1_709_251_199_123_456_789;
        assert_eq!(format_time(ns), "23:59:59.123456789");
        assert_eq!(format_time_s(ns), "23:59:59");
        assert_eq!(format_iso8601(ns), "2024-02-29T23:59:59.123456789+0000");
        assert_eq!(format_datetime(ns), "2024-02-29 23:59:59.123456789");
        assert_eq!(format_datetime_s(ns), "2024-02-29 23:59:59");
        assert_eq!(format_rfc3339_micros(ns), "2024-02-29T23:59:59.123456Z");
        for ns in [0, 951_782_400_000_000_000, 4_102_444_800_999_999_999] {
            assert_eq!(
                parse_rfc3339_ns(&format_iso8601(ns).replace("+0000", "Z")),
                Some(ns)
            );
        }
    }
}
