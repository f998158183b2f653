//! The CloudWatch source's cursor, de-duplication, checkpoint and error handling against an
//! in-process fake of `FilterLogEvents`, on tokio's paused clock (hours of polling take
//! milliseconds). Test names carry the requirement they cover (cloudwatch-source.md §8).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers and fakes: a broken invariant fails the test"
)]

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use kaudit_source::cloudwatch::{
    ClientError, Clock, CloudWatchConfig, CloudWatchSource, FilterRequest, GapPolicy, LogEvent,
    LogsClient, Page, StartPosition, TokioClock,
};
use kaudit_source::testing::{Conformance, conformance};
use kaudit_source::{
    Anomaly, ApiOperation, ApiOutcome, Checkpoint, CheckpointStore, ErrorClass,
    FileCheckpointStore, Record, Source, SourceError, SourceErrorKind,
};

/// Wall-clock origin of every test: 2026-11-27T10:00:00Z.
const T0: i64 = 1_795_773_600_000;
const PREFIX: &str = "kube-apiserver-audit";

#[derive(Debug)]
struct Stored {
    event: LogEvent,
    /// The event shows up in query results from this wall-clock instant on.
    visible_at: i64,
}

#[derive(Debug, Default)]
struct FakeState {
    events: Vec<Stored>,
    page_size: usize,
    /// Every page is preceded by an empty page carrying a token.
    empty_pages: bool,
    errors: VecDeque<ClientError>,
    /// Keep failing with this error forever.
    always_fail: Option<ClientError>,
    calls: Vec<(i64, FilterRequest)>,
}

/// `FilterLogEvents` over a list, like moto: results grouped by stream (not interleaved), the
/// stream prefix ignored, pages of `page_size`.
#[derive(Debug)]
struct FakeLogs {
    clock: TokioClock,
    state: Mutex<FakeState>,
}

impl FakeLogs {
    fn new(clock: TokioClock) -> Arc<Self> {
        Arc::new(FakeLogs {
            clock,
            state: Mutex::new(FakeState {
                page_size: 3,
                ..FakeState::default()
            }),
        })
    }

    fn put(&self, stream: &str, ts: i64, visible_at: i64) -> String {
        let mut st = self.state.lock().unwrap();
        let id = format!("{:06}", st.events.len());
        st.events.push(Stored {
            event: LogEvent {
                stream: stream.into(),
                timestamp_ms: ts,
                ingestion_time_ms: visible_at,
                event_id: id.clone(),
                message: format!("{{\"auditID\":\"{id}\",\"ts\":{ts}}}"),
            },
            visible_at,
        });
        id
    }

    fn put_message(&self, stream: &str, ts: i64, message: String) {
        let mut st = self.state.lock().unwrap();
        let id = format!("{:06}", st.events.len());
        st.events.push(Stored {
            event: LogEvent {
                stream: stream.into(),
                timestamp_ms: ts,
                ingestion_time_ms: ts,
                event_id: id,
                message,
            },
            visible_at: ts,
        });
    }

    fn calls(&self) -> Vec<(i64, FilterRequest)> {
        self.state.lock().unwrap().calls.clone()
    }
}

#[async_trait]
impl LogsClient for FakeLogs {
    async fn filter_log_events(&self, r: &FilterRequest) -> Result<Page, ClientError> {
        let now = self.clock.now_ms();
        let mut st = self.state.lock().unwrap();
        st.calls.push((now, r.clone()));
        if let Some(e) = st.errors.pop_front() {
            return Err(e);
        }
        if let Some(e) = &st.always_fail {
            return Err(e.clone());
        }
        let mut hits: Vec<&LogEvent> = st
            .events
            .iter()
            .filter(|s| s.visible_at <= now)
            .map(|s| &s.event)
            .filter(|e| e.timestamp_ms >= r.start_ms && e.timestamp_ms <= r.end_ms)
            .collect();
        hits.sort_by(|a, b| (&a.stream, a.timestamp_ms).cmp(&(&b.stream, b.timestamp_ms)));
        let (offset, empty_done) = match r.next_token.as_deref() {
            None => (0, false),
            Some(t) => {
                let (kind, n) = t.split_once(':').unwrap();
                (n.parse::<usize>().unwrap(), kind == "full")
            }
        };
        if st.empty_pages && !empty_done {
            return Ok(Page {
                events: vec![],
                next_token: Some(format!("full:{offset}")),
            });
        }
        let page: Vec<LogEvent> = hits
            .iter()
            .skip(offset)
            .take(st.page_size)
            .map(|e| (*e).clone())
            .collect();
        let next = offset + page.len();
        Ok(Page {
            events: page,
            next_token: (next < hits.len()).then(|| format!("empty:{next}")),
        })
    }

    async fn describe_first_stream(
        &self,
        _log_group: &str,
        _prefix: Option<&str>,
    ) -> Result<Option<String>, ClientError> {
        Ok(Some("kube-apiserver-audit-a".into()))
    }
}

/// Short, test-sized timings: settle 2 s, overlap 4 s, poll 1 s, windows of 10 s, 5 calls/s.
fn config(start: StartPosition) -> CloudWatchConfig {
    let mut c = CloudWatchConfig::new("/aws/eks/test/cluster");
    c.start = start;
    c.settle_lag = Duration::from_secs(2);
    c.overlap = Duration::from_secs(4);
    c.poll_interval = Duration::from_secs(1);
    c.max_window = Duration::from_secs(10);
    c.max_calls_per_second = 5.0;
    c.backoff_base = Duration::from_millis(100);
    c.backoff_max = Duration::from_secs(5);
    c.auth_retry = Duration::from_secs(10);
    c
}

fn source(fake: &Arc<FakeLogs>, clock: TokioClock, cfg: CloudWatchConfig) -> CloudWatchSource {
    CloudWatchSource::with_client(cfg, "eu-west-1", fake.clone(), Arc::new(clock))
}

type Items = BoxStream<'static, Result<Record, SourceError>>;

/// The next `n` records (error items fail the test).
async fn take(s: &mut Items, n: usize) -> Vec<Record> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(3600), s.next()).await {
            Ok(Some(Ok(r))) => out.push(r),
            other => panic!(
                "after {} records: {:?}",
                out.len(),
                other.map(|o| o.map(|r| r.map(|r| r.payload)))
            ),
        }
    }
    out
}

/// Nothing more arrives within `secs` (simulated) seconds.
async fn quiet(s: &mut Items, secs: u64) {
    if let Ok(item) = tokio::time::timeout(Duration::from_secs(secs), s.next()).await {
        panic!("unexpected item: {:?}", item.map(|r| r.map(|r| r.payload)));
    }
}

fn ids(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| r.meta.event_id.clone().unwrap())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn r2_windowed_polling_explicit_end_time_and_pagination_across_empty_pages() {
    let clock = TokioClock::starting_at(T0 + 20_000);
    let fake = FakeLogs::new(clock);
    fake.state.lock().unwrap().empty_pages = true;
    let mut want = Vec::new();
    for i in 0..10 {
        want.push(fake.put("kube-apiserver-audit-a", T0 + 100 * i, T0 + 100 * i));
    }
    let src = source(&fake, clock, config(StartPosition::At(T0)));
    let mut s = src.stream(None);
    let got = take(&mut s, 10).await;
    assert_eq!(ids(&got), want);
    quiet(&mut s, 20).await;
    let calls = fake.calls();
    // Every call has an explicit, settled end time and an inclusive window.
    for (at, r) in &calls {
        assert!(
            r.end_ms <= at - 2_000,
            "window end {} not settled at {at}",
            r.end_ms
        );
        assert!(r.start_ms <= r.end_ms);
        assert_eq!(r.stream_prefix.as_deref(), Some(PREFIX));
    }
    // The first window went through empty pages: 10 events in pages of 3, each after an empty
    // page, is 8 calls; later windows re-read the overlap.
    let first_window: Vec<&FilterRequest> = calls
        .iter()
        .map(|(_, r)| r)
        .enumerate()
        .take_while(|(i, r)| *i == 0 || r.next_token.is_some())
        .map(|(_, r)| r)
        .collect();
    assert_eq!(first_window.len(), 8);
    assert_eq!(
        (first_window[0].start_ms, first_window[0].end_ms),
        (T0, T0 + 9_999)
    );
    assert_eq!(first_window[0].next_token, None);
    assert_eq!(first_window[1].next_token.as_deref(), Some("full:0"));
    assert_eq!(first_window[2].next_token.as_deref(), Some("empty:3"));
    // Later windows overlap the previous one by 4 s.
    let second = &calls[8].1;
    assert_eq!(second.next_token, None);
    assert_eq!(second.start_ms, T0 + 10_000 - 4_000);
}

#[tokio::test(start_paused = true)]
async fn r3_dedup_same_millisecond_across_pages() {
    let clock = TokioClock::starting_at(T0);
    let fake = FakeLogs::new(clock);
    let mut want = HashSet::new();
    // 20 events in one millisecond over two streams, pages of 3: the burst spans 7 pages, and
    // every later window re-reads it through the overlap.
    for i in 0..20 {
        let stream = if i % 2 == 0 {
            "kube-apiserver-audit-a"
        } else {
            "kube-apiserver-audit-b"
        };
        want.insert(fake.put(stream, T0 + 500, T0 + 500));
    }
    let src = source(&fake, clock, config(StartPosition::At(T0)));
    let mut s = src.stream(None);
    let got = take(&mut s, 20).await;
    quiet(&mut s, 30).await;
    let got_ids: HashSet<String> = ids(&got).into_iter().collect();
    assert_eq!(got_ids, want);
    assert_eq!(got.len(), 20);
    let m = src.metrics();
    assert_eq!(m.events_emitted, 20);
    assert!(
        m.duplicates_dropped >= 20,
        "overlap re-reads dropped {} duplicates",
        m.duplicates_dropped
    );
    assert_eq!(m.events_read, m.events_emitted + m.duplicates_dropped);
}

#[tokio::test(start_paused = true)]
async fn r7_late_event_from_lagging_second_stream_and_client_side_prefix_filter() {
    let clock = TokioClock::starting_at(T0);
    let fake = FakeLogs::new(clock);
    let a1 = fake.put("kube-apiserver-audit-a", T0 + 1_000, T0 + 1_000);
    let a2 = fake.put("kube-apiserver-audit-a", T0 + 3_000, T0 + 3_000);
    // Stream b lags: its event at T0+2000 is only visible 5 s later, after the first window
    // [T0, T0+3000+] was read; the overlap re-read (4 s) still catches it.
    let b1 = fake.put("kube-apiserver-audit-b", T0 + 2_000, T0 + 7_000);
    // A non-audit stream in the same group (the fake ignores the server-side prefix, like moto).
    fake.put("authenticator-x", T0 + 1_500, T0 + 1_500);
    let src = source(&fake, clock, config(StartPosition::At(T0)));
    let mut s = src.stream(None);
    let got = take(&mut s, 3).await;
    quiet(&mut s, 30).await;
    assert_eq!(ids(&got), vec![a1, a2, b1.clone()]);
    // The late one came in a later window, with an older timestamp.
    assert_eq!(
        got[2].meta.stream.as_deref(),
        Some("kube-apiserver-audit-b")
    );
    assert_eq!(got[2].meta.timestamp_ms, Some(T0 + 2_000));
    let m = src.metrics();
    assert!(m.filtered_out >= 1);
    assert_eq!(m.max_ingestion_delay_ms, 5_000);
}

#[tokio::test(start_paused = true)]
async fn r7_window_sorted_by_timestamp_across_streams() {
    let clock = TokioClock::starting_at(T0 + 60_000);
    let fake = FakeLogs::new(clock);
    // The fake returns stream a's events first, then b's; the source must interleave.
    let mut by_ts = Vec::new();
    for (stream, ts) in [("a", 5), ("b", 1), ("a", 2), ("b", 4), ("a", 3), ("b", 3)] {
        let id = fake.put(&format!("{PREFIX}-{stream}"), T0 + ts, T0 + ts);
        by_ts.push((ts, format!("{PREFIX}-{stream}"), id));
    }
    by_ts.sort();
    let src = source(&fake, clock, config(StartPosition::At(T0)));
    let mut s = src.stream(None);
    let got = take(&mut s, 6).await;
    assert_eq!(
        ids(&got),
        by_ts.into_iter().map(|(_, _, id)| id).collect::<Vec<_>>()
    );
}

#[tokio::test(start_paused = true)]
async fn r2_results_that_change_on_requery_are_caught_by_the_overlap() {
    let clock = TokioClock::starting_at(T0);
    let fake = FakeLogs::new(clock);
    // Three events in the same millisecond; one of them is only visible 3 s after the window
    // holding it settled (issue #893: two queries of one millisecond disagree).
    let want = vec![
        fake.put("kube-apiserver-audit-a", T0 + 4_000, T0 + 4_000),
        fake.put("kube-apiserver-audit-a", T0 + 4_000, T0 + 9_500),
        fake.put("kube-apiserver-audit-b", T0 + 4_000, T0 + 4_000),
    ];
    let src = source(&fake, clock, config(StartPosition::At(T0)));
    let mut s = src.stream(None);
    let got = take(&mut s, 3).await;
    quiet(&mut s, 30).await;
    let mut got_ids = ids(&got);
    got_ids.sort();
    assert_eq!(got_ids, want);
}

#[tokio::test(start_paused = true)]
async fn r4_restart_mid_window_conformance() {
    let clock = TokioClock::starting_at(T0 + 20_000);
    let fake = FakeLogs::new(clock);
    // Same-millisecond bursts straddling page boundaries, two streams.
    for i in 0..24 {
        let stream = if i % 3 == 0 {
            "kube-apiserver-audit-b"
        } else {
            "kube-apiserver-audit-a"
        };
        fake.put(stream, T0 + 1_000 * (i / 5), T0 + 1_000 * (i / 5));
    }
    let cfg = config(StartPosition::Checkpoint);
    let mut first = cfg.clone();
    first.start = StartPosition::At(T0);
    // Conformance: a fresh read (from T0) and a resume from every record's checkpoint.
    let fresh = std::cell::Cell::new(true);
    conformance(
        || {
            // The first source starts at T0; the resumed ones use the checkpoint.
            let c = if fresh.replace(false) {
                first.clone()
            } else {
                cfg.clone()
            };
            source(&fake, clock, c)
        },
        Conformance::endless(24, Duration::from_secs(20)),
    )
    .await
    .unwrap();
}

#[tokio::test(start_paused = true)]
async fn r4_checkpoint_through_file_store_while_events_keep_arriving() {
    let clock = TokioClock::starting_at(T0);
    let fake = FakeLogs::new(clock);
    let dir = tempfile::tempdir().unwrap();
    let store = FileCheckpointStore::new(dir.path().join("cw.json"));
    let mut delivered = Vec::new();
    let mut all = Vec::new();
    for i in 0..10 {
        all.push(fake.put("kube-apiserver-audit-a", T0 + 300 * i, T0 + 300 * i));
    }
    let src = source(&fake, clock, config(StartPosition::At(T0)));
    let mut s = src.stream(None);
    for r in take(&mut s, 6).await {
        delivered.push(r.meta.event_id.clone().unwrap());
        store.save(&r.checkpoint).unwrap();
    }
    drop(s);
    // While stopped: more events, one of them late for the window already read.
    tokio::time::sleep(Duration::from_secs(3)).await;
    all.push(fake.put("kube-apiserver-audit-b", T0 + 1_000, clock.now_ms()));
    for i in 0..5 {
        all.push(fake.put(
            "kube-apiserver-audit-a",
            clock.now_ms() + i,
            clock.now_ms() + i,
        ));
    }
    let src2 = source(&fake, clock, config(StartPosition::Checkpoint));
    let cp = store.load(src2.identity()).unwrap().unwrap();
    let mut s2 = src2.stream(Some(cp));
    let n = all.len() - delivered.len();
    for r in take(&mut s2, n).await {
        delivered.push(r.meta.event_id.clone().unwrap());
    }
    quiet(&mut s2, 30).await;
    let mut sorted = delivered.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), delivered.len(), "duplicates: {delivered:?}");
    all.sort();
    assert_eq!(sorted, all);
}

#[tokio::test(start_paused = true)]
async fn r4_checkpoint_of_another_log_group_is_rejected() {
    let clock = TokioClock::starting_at(T0);
    let fake = FakeLogs::new(clock);
    fake.put("kube-apiserver-audit-a", T0 - 5_000, T0 - 5_000);
    let mut other = config(StartPosition::Lookback(Duration::from_secs(10)));
    other.log_group = "/aws/eks/other/cluster".into();
    let r = take(&mut source(&fake, clock, other).stream(None), 1).await;
    let mine = source(&fake, clock, config(StartPosition::Checkpoint));
    let items: Vec<Result<Record, SourceError>> =
        mine.stream(Some(r[0].checkpoint.clone())).collect().await;
    assert_eq!(items.len(), 1);
    let err = items.into_iter().next().unwrap().unwrap_err();
    assert!(err.is_terminal());
    assert_eq!(
        err.to_string(),
        "cloudwatch:/aws/eks/test/cluster: checkpoint belongs to `cloudwatch(log_group=/aws/eks/other/cluster, region=eu-west-1, stream_prefix=kube-apiserver-audit)`, not to `cloudwatch(log_group=/aws/eks/test/cluster, region=eu-west-1, stream_prefix=kube-apiserver-audit)`: use another checkpoint file or start with `--start now`"
    );
}

#[tokio::test(start_paused = true)]
async fn r1_start_positions_now_lookback_at_and_checkpoint_fallback() {
    let now = T0 + 3_600_000;
    let clock = TokioClock::starting_at(now);
    let fake = FakeLogs::new(clock);
    let old = fake.put("kube-apiserver-audit-a", now - 1_800_000, now - 1_800_000); // 30 min ago
    let recent = fake.put("kube-apiserver-audit-a", now - 30_000, now - 30_000); // 30 s ago
    let future = fake.put("kube-apiserver-audit-a", now + 5_000, now + 5_000);
    let run = |start: StartPosition, n: usize| {
        let src = source(&fake, clock, config(start));
        async move {
            let mut s = src.stream(None);
            let got = ids(&take(&mut s, n).await);
            quiet(&mut s, 20).await;
            (got, src.metrics().effective_start_ms)
        }
    };
    // The caller can print the effective start before reading.
    let info = source(
        &fake,
        clock,
        config(StartPosition::Lookback(Duration::from_secs(90))),
    )
    .effective_start(None)
    .unwrap();
    assert_eq!(
        info.to_string(),
        "from 2026-11-27T10:58:30.000Z (start position lookback 90s)"
    );
    // `now`: only what happens from now on.
    assert_eq!(
        run(StartPosition::Now, 1).await,
        (vec![future.clone()], now)
    );
    // Lookback 1 min: the recent one too, not the history.
    let t = clock.now_ms();
    let (got, start) = run(StartPosition::Lookback(Duration::from_secs(60)), 2).await;
    assert_eq!(
        (got, start),
        (vec![recent.clone(), future.clone()], t - 60_000)
    );
    // At an instant 40 min ago: everything since.
    let (got, _) = run(StartPosition::At(now - 2_400_000), 3).await;
    assert_eq!(got, vec![old.clone(), recent.clone(), future.clone()]);
    // Checkpoint without a stored one: the default 60 s lookback, never the whole history.
    let t = clock.now_ms();
    let (got, start) = run(StartPosition::Checkpoint, 0).await;
    assert_eq!((got, start), (vec![], t - 60_000));
    // An instant beyond max_backfill is refused with advice.
    let src = source(
        &fake,
        clock,
        config(StartPosition::At(now - 3 * 86_400_000)),
    );
    let items: Vec<Result<Record, SourceError>> = src.stream(None).collect().await;
    assert_eq!(items.len(), 1);
    let err = items.into_iter().next().unwrap().unwrap_err();
    assert!(err.is_terminal());
    assert_eq!(
        err.to_string(),
        "cloudwatch:/aws/eks/test/cluster: invalid configuration: start instant 2026-11-24T11:00:00.000Z is more than max_backfill 86400s ago: raise max_backfill to read that far back"
    );
}

#[tokio::test(start_paused = true)]
async fn r5_restart_gap_is_reported_never_silent() {
    let clock = TokioClock::starting_at(T0);
    let fake = FakeLogs::new(clock);
    let first = fake.put("kube-apiserver-audit-a", T0 - 10_000, T0 - 10_000);
    let mut cfg = config(StartPosition::Lookback(Duration::from_secs(20)));
    cfg.max_resume_gap = Duration::from_secs(60);
    let r = take(&mut source(&fake, clock, cfg.clone()).stream(None), 1).await;
    assert_eq!(ids(&r), vec![first]);
    // Down for 10 minutes, events kept coming.
    let skipped = fake.put("kube-apiserver-audit-a", T0 + 60_000, T0 + 60_000);
    tokio::time::sleep(Duration::from_secs(600)).await;
    let after = fake.put(
        "kube-apiserver-audit-a",
        clock.now_ms() + 1,
        clock.now_ms() + 1,
    );
    cfg.start = StartPosition::Checkpoint;
    let resumed_at = clock.now_ms();
    let src = source(&fake, clock, cfg.clone());
    let mut s = src.stream(Some(r[0].checkpoint.clone()));
    let gap = s.next().await.unwrap().unwrap_err();
    assert!(!gap.is_terminal());
    let SourceErrorKind::Gap { from_ms, to_ms, .. } = gap.kind() else {
        panic!("expected a gap, got {gap}");
    };
    assert_eq!(*from_ms, T0 - 10_000 - 4_000);
    assert_eq!(*to_ms, resumed_at - 2_000 - 1);
    assert_eq!(ids(&take(&mut s, 1).await), vec![after.clone()]);
    let m = src.metrics();
    assert_eq!((m.gaps, m.gap_ms), (1, (to_ms - from_ms + 1) as u64));
    // The backfill policy reads the interval instead.
    cfg.gap_policy = GapPolicy::Backfill;
    let src = source(&fake, clock, cfg);
    let mut s = src.stream(Some(r[0].checkpoint.clone()));
    assert_eq!(ids(&take(&mut s, 2).await), vec![skipped, after]);
    assert_eq!(src.metrics().gaps, 0);
}

fn throttled() -> ClientError {
    ClientError::new(
        ErrorClass::Throttling,
        "ThrottlingException",
        "Rate exceeded",
    )
}

#[tokio::test(start_paused = true)]
async fn r6_throttling_storm_backs_off_with_jitter_reports_once_and_recovers() {
    let clock = TokioClock::starting_at(T0 + 20_000);
    let fake = FakeLogs::new(clock);
    let want: Vec<String> = (0..4)
        .map(|i| fake.put("kube-apiserver-audit-a", T0 + i, T0 + i))
        .collect();
    fake.state.lock().unwrap().errors = (0..12).map(|_| throttled()).collect();
    let src = source(&fake, clock, config(StartPosition::At(T0)));
    let mut s = src.stream(None);
    // One non-terminal report after 5 failures in a row, then the records.
    let report = s.next().await.unwrap().unwrap_err();
    assert!(!report.is_terminal());
    assert_eq!(
        report.to_string(),
        "cloudwatch:/aws/eks/test/cluster: FilterLogEvents failed (throttled): ThrottlingException: Rate exceeded; 5 failures in a row, still retrying; FilterLogEvents allows 5 calls/s per account and region, shared by every caller: lower max_calls_per_second or find the other callers"
    );
    assert_eq!(ids(&take(&mut s, 4).await), want);
    let m = src.metrics();
    assert_eq!((m.throttles, m.api_errors), (12, 12));
    let ok = m.api_calls - 12;
    assert!(ok >= 1, "{m:?}");
    assert_eq!(
        calls_by(&m),
        [
            ("FilterLogEvents", "ok", ok),
            ("FilterLogEvents", "throttled", 12),
            ("FilterLogEvents", "error", 0),
            ("DescribeLogStreams", "ok", 0),
            ("DescribeLogStreams", "throttled", 0),
            ("DescribeLogStreams", "error", 0),
        ]
    );
    assert_eq!(m.backoff_ms, 0);
    // Backoff: the gaps between the failed calls grow (base 100 ms doubling, capped at 5 s,
    // full jitter), and never go below the 200 ms rate-limit spacing.
    let calls = fake.calls();
    let times: Vec<i64> = calls.iter().map(|(t, _)| *t).collect();
    for w in times.windows(2) {
        assert!(
            w[1] - w[0] >= 200,
            "calls {times:?} closer than the rate limit"
        );
    }
    let span = times[12] - times[0];
    assert!(span > 5_000, "12 backoffs took only {span} ms");
}

#[tokio::test(start_paused = true)]
async fn r6_rate_limit_spaces_calls() {
    let clock = TokioClock::starting_at(T0 + 20_000);
    let fake = FakeLogs::new(clock);
    fake.state.lock().unwrap().page_size = 1;
    for i in 0..15 {
        fake.put("kube-apiserver-audit-a", T0 + i, T0 + i);
    }
    let mut cfg = config(StartPosition::At(T0));
    cfg.max_calls_per_second = 2.0;
    let src = source(&fake, clock, cfg);
    let mut s = src.stream(None);
    take(&mut s, 15).await;
    let times: Vec<i64> = fake.calls().iter().map(|(t, _)| *t).collect();
    assert!(times.len() >= 15);
    for w in times.windows(2) {
        assert!(w[1] - w[0] >= 500, "calls {times:?} faster than 2/s");
    }
}

#[tokio::test(start_paused = true)]
async fn r6_configuration_error_is_terminal_with_advice() {
    let clock = TokioClock::starting_at(T0);
    let fake = FakeLogs::new(clock);
    fake.state
        .lock()
        .unwrap()
        .errors
        .push_back(ClientError::new(
            ErrorClass::Config,
            "ResourceNotFoundException",
            "The specified log group does not exist.",
        ));
    let src = source(
        &fake,
        clock,
        config(StartPosition::Lookback(Duration::from_secs(10))),
    );
    let items: Vec<Result<Record, SourceError>> = src.stream(None).collect().await;
    assert_eq!(items.len(), 1);
    let err = items.into_iter().next().unwrap().unwrap_err();
    assert!(err.is_terminal());
    assert!(matches!(
        err.kind(),
        SourceErrorKind::Api {
            class: ErrorClass::Config,
            ..
        }
    ));
}

#[tokio::test(start_paused = true)]
async fn r6_auth_errors_retry_slowly_degraded_then_recover() {
    let clock = TokioClock::starting_at(T0 + 20_000);
    let fake = FakeLogs::new(clock);
    let want = fake.put("kube-apiserver-audit-a", T0 + 1, T0 + 1);
    let denied = ClientError::new(
        ErrorClass::Auth,
        "ExpiredTokenException",
        "The security token included in the request is expired",
    );
    fake.state.lock().unwrap().errors = vec![denied.clone(), denied.clone(), denied].into();
    let src = source(&fake, clock, config(StartPosition::At(T0)));
    let mut s = src.stream(None);
    let report = s.next().await.unwrap().unwrap_err();
    assert!(!report.is_terminal());
    assert!(matches!(
        report.kind(),
        SourceErrorKind::Api {
            class: ErrorClass::Auth,
            ..
        }
    ));
    assert!(src.metrics().degraded);
    assert_eq!(ids(&take(&mut s, 1).await), vec![want]);
    assert!(!src.metrics().degraded);
    // Slow retries: 3 failures at >= auth_retry/2 = 5 s apart.
    let times: Vec<i64> = fake.calls().iter().map(|(t, _)| *t).collect();
    assert!(times[3] - times[0] >= 15_000, "{times:?}");
}

#[tokio::test(start_paused = true)]
async fn r6_dropping_the_stream_cancels_backoff_sleeps() {
    let clock = TokioClock::starting_at(T0);
    let fake = FakeLogs::new(clock);
    fake.state.lock().unwrap().always_fail = Some(throttled());
    let src = source(&fake, clock, config(StartPosition::Now));
    let mut s = src.stream(None);
    // Runs until the 5th failure is reported, then is dropped mid-backoff.
    assert!(s.next().await.unwrap().is_err());
    let calls = fake.calls().len();
    drop(s);
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(fake.calls().len(), calls);
    assert_eq!(calls, 5);
}

#[tokio::test(start_paused = true)]
async fn r8_truncated_invalid_and_oversize_events_are_counted_and_delivered() {
    let clock = TokioClock::starting_at(T0 + 20_000);
    let fake = FakeLogs::new(clock);
    fake.put_message(PREFIX, T0 + 1, r#"{"auditID":"ok-1","verb":"get"}"#.into());
    fake.put_message(
        PREFIX,
        T0 + 2,
        r#"{"auditID":"cut-1","verb":"upd[Truncated...]"#.into(),
    );
    fake.put_message(PREFIX, T0 + 3, "I0612 10:00:00 klog line".into());
    fake.put_message(
        PREFIX,
        T0 + 4,
        format!("{{\"auditID\":\"big-1\",\"x\":\"{}\"}}", "y".repeat(300)),
    );
    let mut cfg = config(StartPosition::At(T0));
    cfg.max_event_bytes = 200;
    let src = source(&fake, clock, cfg);
    let got = take(&mut src.stream(None), 4).await;
    let anomalies: Vec<Option<Anomaly>> = got.iter().map(|r| r.meta.anomaly.clone()).collect();
    assert_eq!(
        anomalies,
        vec![
            None,
            Some(Anomaly::Truncated),
            Some(Anomaly::NotJson),
            Some(Anomaly::Oversize {
                len: 326,
                limit: 200
            }),
        ]
    );
    assert_eq!(got[3].payload.len(), 200);
    assert_eq!(
        &got[1].payload[..],
        br#"{"auditID":"cut-1","verb":"upd[Truncated...]"#
    );
    let m = src.metrics();
    assert_eq!(
        (m.truncated, m.not_json, m.oversize, m.events_emitted),
        (1, 1, 1, 4)
    );
}

#[tokio::test(start_paused = true)]
async fn r12_metrics_snapshot_counts_lag_calls_and_watermark() {
    let clock = TokioClock::starting_at(T0 + 10_000);
    let fake = FakeLogs::new(clock);
    for i in 0..5 {
        fake.put("kube-apiserver-audit-a", T0 + 1_000 * i, T0 + 1_000 * i);
    }
    let src = source(&fake, clock, config(StartPosition::At(T0)));
    let mut s = src.stream(None);
    take(&mut s, 5).await;
    let m = src.metrics();
    assert_eq!(m.events_emitted, 5);
    assert_eq!(m.events_read, 5);
    assert_eq!(m.effective_start_ms, T0);
    assert_eq!(m.last_event_ms, T0 + 4_000);
    assert_eq!(m.lag_ms, clock.now_ms() - (T0 + 4_000));
    assert_eq!(m.api_calls, fake.calls().len() as u64);
    assert_eq!(m.api_calls, 2, "one window of 5 events in pages of 3");
    assert_eq!(
        calls_by(&m)[..3],
        [
            ("FilterLogEvents", "ok", 2),
            ("FilterLogEvents", "throttled", 0),
            ("FilterLogEvents", "error", 0),
        ]
    );
    assert_eq!(m.watermark_ms, T0 + 10_000 - 2_000 + 1);
    assert_eq!(
        (m.throttles, m.gaps, m.duplicates_dropped, m.degraded),
        (0, 0, 0, false)
    );
}

#[tokio::test]
async fn r11_self_test_reports_first_stream() {
    let clock = TokioClock::starting_at(T0);
    let fake = FakeLogs::new(clock);
    let src = source(&fake, clock, config(StartPosition::Now));
    assert_eq!(
        src.self_test().await.unwrap().as_deref(),
        Some("kube-apiserver-audit-a")
    );
    assert_eq!(src.metrics().api_calls, 1);
    assert_eq!(
        calls_by(&src.metrics())[3..],
        [
            ("DescribeLogStreams", "ok", 1),
            ("DescribeLogStreams", "throttled", 0),
            ("DescribeLogStreams", "error", 0),
        ]
    );
}

/// `api_calls_by` as `(operation, outcome, calls)` label triples.
fn calls_by(m: &kaudit_source::MetricsSnapshot) -> Vec<(&'static str, &'static str, u64)> {
    m.api_calls_by
        .iter()
        .map(|c| (c.operation.as_str(), c.outcome.as_str(), c.calls))
        .collect()
}

#[test]
fn api_label_values_are_stable() {
    let ops: Vec<&str> = ApiOperation::ALL.iter().map(|o| o.as_str()).collect();
    assert_eq!(ops, ["FilterLogEvents", "DescribeLogStreams"]);
    let outcomes: Vec<String> = ApiOutcome::ALL.iter().map(ToString::to_string).collect();
    assert_eq!(outcomes, ["ok", "throttled", "error"]);
}

#[test]
fn checkpoint_is_opaque_json() {
    // The engine only ever moves checkpoints through serde; make sure that is enough.
    let cp = Checkpoint::from_json(
        r#"{"identity":{"kind":"cloudwatch","attributes":{}},"position":{"v":1,"from_ms":5,"seen":[]}}"#,
    )
    .unwrap();
    assert_eq!(cp.identity().kind(), "cloudwatch");
}
