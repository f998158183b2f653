//! Configuration of the CloudWatch Logs source, and the `--start` parser.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::time::{TimeParseError, format_rfc3339, parse_duration, parse_rfc3339};

/// The stream prefix of EKS API-server audit logs.
pub const EKS_AUDIT_STREAM_PREFIX: &str = "kube-apiserver-audit";

/// Where reading starts (requirement R1).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum StartPosition {
    /// Resume from the stored checkpoint; without one, look back
    /// [`CloudWatchConfig::default_lookback`]. The default.
    #[default]
    Checkpoint,
    /// Only events from now on.
    Now,
    /// Events from this long ago on.
    Lookback(Duration),
    /// Events from this instant (ms since the Unix epoch) on.
    At(i64),
}

/// Why a `--start` value is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid start position `{input}`: expected `checkpoint`, `now`, a lookback like `-15m` / `-2h` / `-30s`, or an RFC 3339 instant like `2026-11-27T10:00:00Z`{detail}"
)]
pub struct StartParseError {
    input: String,
    detail: String,
}

impl FromStr for StartPosition {
    type Err = StartParseError;

    /// Parses `checkpoint`, `now`, `-<duration>` (`-15m`, `-2h`, `-1h30m`, `-30s`) or an RFC 3339
    /// instant.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let fail = |e: Option<TimeParseError>| StartParseError {
            input: s.to_owned(),
            detail: e.map(|e| format!(" ({e})")).unwrap_or_default(),
        };
        match t {
            "checkpoint" => Ok(StartPosition::Checkpoint),
            "now" => Ok(StartPosition::Now),
            _ => {
                if let Some(d) = t.strip_prefix('-') {
                    parse_duration(d)
                        .map(StartPosition::Lookback)
                        .map_err(|e| fail(Some(e)))
                } else if t.as_bytes().first().is_some_and(u8::is_ascii_digit) && t.len() >= 19 {
                    parse_rfc3339(t)
                        .map(StartPosition::At)
                        .map_err(|e| fail(Some(e)))
                } else {
                    Err(fail(None))
                }
            }
        }
    }
}

impl fmt::Display for StartPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartPosition::Checkpoint => f.write_str("checkpoint"),
            StartPosition::Now => f.write_str("now"),
            StartPosition::Lookback(d) => write!(f, "-{}ms", d.as_millis()),
            StartPosition::At(ms) => f.write_str(&format_rfc3339(*ms)),
        }
    }
}

/// What to do when a checkpoint is older than [`CloudWatchConfig::max_resume_gap`] (R5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GapPolicy {
    /// Jump to `now - settle_lag`, report the skipped interval as a [`Gap`] error item and in
    /// the `gaps` counter. The default.
    ///
    /// [`Gap`]: crate::SourceErrorKind::Gap
    #[default]
    Skip,
    /// Read the whole interval, rate-limited (logged as a backfill).
    Backfill,
}

/// Everything the CloudWatch Logs source needs. Build it with [`CloudWatchConfig::new`] and set
/// the public fields; [`CloudWatchConfig::validate`] runs when the source starts.
///
/// Its `Debug` output never shows the secret access key of
/// [`static_credentials`](CloudWatchConfig::static_credentials).
#[derive(Clone)]
pub struct CloudWatchConfig {
    /// The log group (for EKS: `/aws/eks/<cluster>/cluster`).
    pub log_group: String,
    /// Only streams whose names start with this are read (filtered server-side *and*
    /// client-side). `None` reads every stream. Default [`EKS_AUDIT_STREAM_PREFIX`].
    pub stream_prefix: Option<String>,
    /// AWS region; default from the environment / profile.
    pub region: Option<String>,
    /// Shared-config profile name.
    pub profile: Option<String>,
    /// A role to assume (through STS) on top of the default credentials.
    pub role_arn: Option<String>,
    /// Endpoint URL override (tests, VPC endpoints, emulators).
    pub endpoint_url: Option<String>,
    /// Static `(access key id, secret access key)` instead of the default credential chain
    /// (emulators and tests only).
    pub static_credentials: Option<(String, String)>,
    /// Where reading starts.
    pub start: StartPosition,
    /// How far back [`StartPosition::Checkpoint`] looks when there is no checkpoint (60 s).
    pub default_lookback: Duration,
    /// The oldest start a lookback or an instant may ask for (24 h); older is refused, so the
    /// whole history is never read by accident.
    pub max_backfill: Duration,
    /// A checkpoint older than this triggers [`CloudWatchConfig::gap_policy`] (24 h).
    pub max_resume_gap: Duration,
    /// What to do with a checkpoint older than `max_resume_gap`.
    pub gap_policy: GapPolicy,
    /// Pause between polls once caught up (5 s).
    pub poll_interval: Duration,
    /// Only windows ending at least this long ago are read (30 s): CloudWatch results for the
    /// last seconds still change.
    pub settle_lag: Duration,
    /// Each poll re-reads this much before the previous window's end to catch late events
    /// (60 s, twice the settle lag). Events ingested later than that are not seen.
    pub overlap: Duration,
    /// The longest window one poll covers (5 min); a backfill advances window by window.
    pub max_window: Duration,
    /// `limit` of each FilterLogEvents page (`None`: the service default, 10,000).
    pub page_limit: Option<i32>,
    /// Client-side cap on FilterLogEvents calls per second (1.0). The service allows 5 per
    /// account and region, shared with every other caller.
    pub max_calls_per_second: f64,
    /// First retry delay after a throttling or transient error (500 ms); doubles per attempt,
    /// with full jitter.
    pub backoff_base: Duration,
    /// Longest retry delay (60 s).
    pub backoff_max: Duration,
    /// Retry delay after a credentials error (30 s): credentials rotate, so keep trying.
    pub auth_retry: Duration,
    /// Consecutive throttling/transient failures after which an error item is reported (5).
    pub report_after_failures: u32,
    /// Messages longer than this are cut and flagged [`Oversize`](crate::Anomaly::Oversize)
    /// (1 MiB, the CloudWatch event limit).
    pub max_event_bytes: usize,
    /// Run the start-up self-test (`DescribeLogStreams`) when connecting (true).
    pub self_test: bool,
}

impl fmt::Debug for CloudWatchConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let credentials = self
            .static_credentials
            .as_ref()
            .map(|(id, _)| (id.as_str(), "<redacted>"));
        f.debug_struct("CloudWatchConfig")
            .field("log_group", &self.log_group)
            .field("stream_prefix", &self.stream_prefix)
            .field("region", &self.region)
            .field("profile", &self.profile)
            .field("role_arn", &self.role_arn)
            .field("endpoint_url", &self.endpoint_url)
            .field("static_credentials", &credentials)
            .field("start", &self.start)
            .field("default_lookback", &self.default_lookback)
            .field("max_backfill", &self.max_backfill)
            .field("max_resume_gap", &self.max_resume_gap)
            .field("gap_policy", &self.gap_policy)
            .field("poll_interval", &self.poll_interval)
            .field("settle_lag", &self.settle_lag)
            .field("overlap", &self.overlap)
            .field("max_window", &self.max_window)
            .field("page_limit", &self.page_limit)
            .field("max_calls_per_second", &self.max_calls_per_second)
            .field("backoff_base", &self.backoff_base)
            .field("backoff_max", &self.backoff_max)
            .field("auth_retry", &self.auth_retry)
            .field("report_after_failures", &self.report_after_failures)
            .field("max_event_bytes", &self.max_event_bytes)
            .field("self_test", &self.self_test)
            .finish()
    }
}

impl CloudWatchConfig {
    /// The defaults for `log_group`.
    pub fn new(log_group: impl Into<String>) -> Self {
        CloudWatchConfig {
            log_group: log_group.into(),
            stream_prefix: Some(EKS_AUDIT_STREAM_PREFIX.to_owned()),
            region: None,
            profile: None,
            role_arn: None,
            endpoint_url: None,
            static_credentials: None,
            start: StartPosition::Checkpoint,
            default_lookback: Duration::from_secs(60),
            max_backfill: Duration::from_secs(24 * 3600),
            max_resume_gap: Duration::from_secs(24 * 3600),
            gap_policy: GapPolicy::Skip,
            poll_interval: Duration::from_secs(5),
            settle_lag: Duration::from_secs(30),
            overlap: Duration::from_secs(60),
            max_window: Duration::from_secs(300),
            page_limit: None,
            max_calls_per_second: 1.0,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            auth_retry: Duration::from_secs(30),
            report_after_failures: 5,
            max_event_bytes: 1 << 20,
            self_test: true,
        }
    }

    /// The options of `kaudit watch cloudwatch`: log group, region, profile, endpoint URL and the
    /// raw `--start` value.
    pub fn from_cli(
        log_group: &str,
        region: Option<&str>,
        profile: Option<&str>,
        endpoint_url: Option<&str>,
        start: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let mut c = CloudWatchConfig::new(log_group);
        c.region = region.map(str::to_owned);
        c.profile = profile.map(str::to_owned);
        c.endpoint_url = endpoint_url.map(str::to_owned);
        if let Some(s) = start {
            c.start = s.parse().map_err(ConfigError::Start)?;
        }
        c.validate()?;
        Ok(c)
    }

    /// Checks the values can work together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.log_group.trim().is_empty() {
            return bad("the log group is empty".into());
        }
        if !(self.max_calls_per_second > 0.0 && self.max_calls_per_second <= 5.0) {
            return bad(format!(
                "max calls per second {} must be in (0, 5]: FilterLogEvents allows 5 per account and region",
                self.max_calls_per_second
            ));
        }
        if self.max_window < Duration::from_millis(1) {
            return bad("max window must be at least 1 ms".into());
        }
        if self.poll_interval.is_zero() {
            return bad("poll interval must be positive".into());
        }
        if matches!(self.page_limit, Some(l) if !(1..=10_000).contains(&l)) {
            return bad("page limit must be in 1..=10000".into());
        }
        if self.default_lookback > self.max_backfill {
            return bad(format!(
                "default lookback {}s exceeds max backfill {}s",
                self.default_lookback.as_secs(),
                self.max_backfill.as_secs()
            ));
        }
        if let StartPosition::Lookback(d) = self.start
            && d > self.max_backfill
        {
            return bad(format!(
                "lookback {}s exceeds max backfill {}s: raise the max backfill to read that far back",
                d.as_secs(),
                self.max_backfill.as_secs()
            ));
        }
        Ok(())
    }
}

/// An invalid [`CloudWatchConfig`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The `--start` value does not parse.
    #[error(transparent)]
    Start(StartParseError),
    /// A value is out of range or inconsistent.
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_secret_key() {
        let mut c = CloudWatchConfig::new("/aws/eks/prod/cluster");
        c.static_credentials = Some(("AKIDEXAMPLE".into(), "wJalrXUtnFEMI-secret".into()));
        let text = format!("{c:?}");
        assert!(
            text.contains(r#"static_credentials: Some(("AKIDEXAMPLE", "<redacted>"))"#),
            "{text}"
        );
        assert!(!text.contains("wJalrXUtnFEMI"), "{text}");
        assert!(
            text.contains(r#"log_group: "/aws/eks/prod/cluster""#),
            "{text}"
        );
    }

    #[test]
    fn r1_start_position_parser() {
        assert_eq!("checkpoint".parse(), Ok(StartPosition::Checkpoint));
        assert_eq!("now".parse(), Ok(StartPosition::Now));
        assert_eq!(
            "-15m".parse(),
            Ok(StartPosition::Lookback(Duration::from_secs(900)))
        );
        assert_eq!(
            "-2h".parse(),
            Ok(StartPosition::Lookback(Duration::from_secs(7200)))
        );
        assert_eq!(
            "-30s".parse(),
            Ok(StartPosition::Lookback(Duration::from_secs(30)))
        );
        assert_eq!(
            "2026-11-27T10:00:00Z".parse(),
            Ok(StartPosition::At(1_795_773_600_000))
        );
        assert_eq!(
            "15m".parse::<StartPosition>().unwrap_err().to_string(),
            "invalid start position `15m`: expected `checkpoint`, `now`, a lookback like `-15m` / `-2h` / `-30s`, or an RFC 3339 instant like `2026-11-27T10:00:00Z`"
        );
        assert_eq!(
            "-15".parse::<StartPosition>().unwrap_err().to_string(),
            "invalid start position `-15`: expected `checkpoint`, `now`, a lookback like `-15m` / `-2h` / `-30s`, or an RFC 3339 instant like `2026-11-27T10:00:00Z` (invalid duration `15`: missing unit (use ms, s, m, h or d))"
        );
    }

    #[test]
    fn r1_lookback_beyond_max_backfill_is_refused() {
        let err = CloudWatchConfig::from_cli("/aws/eks/x/cluster", None, None, None, Some("-48h"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "lookback 172800s exceeds max backfill 86400s: raise the max backfill to read that far back"
        );
        let ok = CloudWatchConfig::from_cli(
            "/aws/eks/x/cluster",
            Some("eu-west-1"),
            Some("prod"),
            Some("http://127.0.0.1:5000"),
            Some("-2h"),
        )
        .unwrap();
        assert_eq!(ok.region.as_deref(), Some("eu-west-1"));
        assert_eq!(ok.profile.as_deref(), Some("prod"));
        assert_eq!(ok.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(ok.start, StartPosition::Lookback(Duration::from_secs(7200)));
        assert_eq!(ok.stream_prefix.as_deref(), Some("kube-apiserver-audit"));
    }
}
