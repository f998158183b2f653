//! `--metrics-listen ADDR`: `GET /metrics` (Prometheus text through `prometheus-client`),
//! `GET /healthz` and `GET /readyz` beside a running `watch` pipeline.
//!
//! The counters are fed by the pipeline's notices ([`Metrics::observe`]), by the outputs (each
//! is wrapped in a [`Metered`] output that counts deliveries and failed attempts) and, at scrape
//! time, by the source's [`MetricsSnapshot`]. The server runs inside the same future as the
//! pipeline (no spawned task), so it borrows the source and the counters.
//!
//! `/readyz` is 200 `ready` unless one of these holds, each a line of the 503 body:
//! an output has failed every attempt for `--ready-output-failure` (30 s by default), the
//! source keeps failing for credential reasons, or the source lags more than `--ready-max-lag`.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use kaudit_engine::alert::Alert;
use kaudit_engine::output::{Attempt, Output, OutputError};
use kaudit_engine::pipeline::Notice;
use kaudit_source::{MetricsSnapshot, Source};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Label sets: `(name, value)` pairs.
type Labels = Vec<(&'static str, String)>;

/// Most metrics connections served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 16;

/// What readiness tolerates.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Thresholds {
    /// An output failing every attempt for this long makes the service not ready.
    pub output_failure: Duration,
    /// A source lag above this makes the service not ready (`None`: lag is ignored).
    pub max_lag: Option<Duration>,
}

/// The live state behind `/metrics` and `/readyz`.
pub(crate) struct Metrics {
    registry: Registry,
    events: Counter,
    bad_events: Counter,
    alerts: Family<Labels, Counter>,
    delivered: Family<Labels, Counter>,
    failures: Family<Labels, Counter>,
    dead_letters: Family<Labels, Counter>,
    lag: Gauge<f64, AtomicU64>,
    checkpoint_age: Gauge<f64, AtomicU64>,
    api_calls: Family<Labels, Counter>,
    throttled: Counter,
    duplicates: Counter,
    gaps: Counter,
    thresholds: Thresholds,
    state: Mutex<State>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("thresholds", &self.thresholds)
            .finish_non_exhaustive()
    }
}

/// What changes outside the counters.
#[derive(Debug)]
struct State {
    /// Per output (by name): since when every attempt has failed, and the last reason.
    failing: Vec<(String, Option<(Instant, String)>)>,
    /// The last checkpoint commit (or the start).
    committed: Instant,
    /// The source snapshot the source counters were last brought up to.
    last: MetricsSnapshot,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Metrics {
    /// Fresh counters, all metrics registered.
    pub(crate) fn new(thresholds: Thresholds) -> Metrics {
        let mut registry = Registry::default();
        let m = Metrics {
            events: Counter::default(),
            bad_events: Counter::default(),
            alerts: Family::default(),
            delivered: Family::default(),
            failures: Family::default(),
            dead_letters: Family::default(),
            lag: Gauge::default(),
            checkpoint_age: Gauge::default(),
            api_calls: Family::default(),
            throttled: Counter::default(),
            duplicates: Counter::default(),
            gaps: Counter::default(),
            thresholds,
            state: Mutex::new(State {
                failing: Vec::new(),
                committed: Instant::now(),
                last: MetricsSnapshot::default(),
            }),
            registry: Registry::default(),
        };
        // Counters are registered without `_total`: the encoder appends it.
        registry.register(
            "kaudit_events",
            "Audit events decoded and evaluated",
            m.events.clone(),
        );
        registry.register(
            "kaudit_events_bad",
            "Events that did not decode (skipped)",
            m.bad_events.clone(),
        );
        registry.register(
            "kaudit_alerts",
            "Alerts raised, per rule and priority",
            m.alerts.clone(),
        );
        registry.register(
            "kaudit_output_delivered",
            "Alerts an output accepted",
            m.delivered.clone(),
        );
        registry.register(
            "kaudit_output_failures",
            "Failed delivery attempts, per output",
            m.failures.clone(),
        );
        registry.register(
            "kaudit_output_dead_letters",
            "Alerts an output gave up on (dead-lettered)",
            m.dead_letters.clone(),
        );
        registry.register(
            "kaudit_source_lag_seconds",
            "How far the source's last event is behind now",
            m.lag.clone(),
        );
        registry.register(
            "kaudit_checkpoint_age_seconds",
            "Seconds since the last checkpoint commit (or the start)",
            m.checkpoint_age.clone(),
        );
        registry.register(
            "kaudit_source_api_calls",
            "Source backend API calls, by operation (FilterLogEvents, DescribeLogStreams) and outcome (ok, throttled, error)",
            m.api_calls.clone(),
        );
        registry.register(
            "kaudit_source_throttled",
            "Source API calls refused as throttling",
            m.throttled.clone(),
        );
        registry.register(
            "kaudit_source_duplicates_dropped",
            "Events dropped as already read (overlap re-reads)",
            m.duplicates.clone(),
        );
        registry.register(
            "kaudit_source_gaps",
            "Source gaps (intervals skipped on purpose)",
            m.gaps.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Declares the outputs, so each has its series (at 0) before its first alert.
    pub(crate) fn outputs(&self, names: &[&str]) {
        let mut state = lock(&self.state);
        for name in names {
            let labels = output_labels(name);
            drop(self.delivered.get_or_create(&labels));
            drop(self.failures.get_or_create(&labels));
            drop(self.dead_letters.get_or_create(&labels));
            if !state.failing.iter().any(|(n, _)| n == name) {
                state.failing.push(((*name).to_owned(), None));
            }
        }
    }

    /// Counts what a pipeline notice tells.
    pub(crate) fn observe(&self, n: &Notice<'_>) {
        match n {
            Notice::Evaluated { events, alerts, .. } => {
                self.events.inc_by(*events);
                for a in *alerts {
                    self.alerts
                        .get_or_create(&vec![
                            ("rule", a.rule.clone()),
                            ("priority", a.priority.to_string()),
                        ])
                        .inc();
                }
            }
            Notice::BadEvent { .. } => {
                self.bad_events.inc();
            }
            Notice::DeadLettered { output, .. } | Notice::Failed { output, .. } => {
                self.dead_letters
                    .get_or_create(&output_labels(output))
                    .inc();
            }
            Notice::Committed(_) => lock(&self.state).committed = Instant::now(),
            _ => {}
        }
    }

    /// Records the outcome of one `send` to output `name`.
    fn attempts(&self, name: &str, attempts: &[Attempt]) {
        let labels = output_labels(name);
        let mut delivered = 0u64;
        let mut failed = 0u64;
        let mut reason = None;
        for a in attempts {
            match a {
                Attempt::Delivered => delivered += 1,
                Attempt::Retry { reason: r, .. } | Attempt::Rejected { reason: r } => {
                    failed += 1;
                    reason = Some(r.clone());
                }
                Attempt::NotAttempted => {}
            }
        }
        self.delivered.get_or_create(&labels).inc_by(delivered);
        self.failures.get_or_create(&labels).inc_by(failed);
        let mut state = lock(&self.state);
        let pos = match state.failing.iter().position(|(n, _)| n == name) {
            Some(p) => p,
            None => {
                state.failing.push((name.to_owned(), None));
                state.failing.len() - 1
            }
        };
        let slot = &mut state.failing[pos].1;
        if delivered > 0 {
            *slot = None;
        } else if let Some(r) = reason {
            match slot {
                Some((_, last)) => *last = r,
                None => *slot = Some((Instant::now(), r)),
            }
        }
    }

    /// Brings the source counters and gauges up to `snap`.
    fn sync_source(&self, snap: &MetricsSnapshot) {
        let mut state = lock(&self.state);
        let last = &state.last;
        for now in &snap.api_calls_by {
            let before = last
                .api_calls_by
                .iter()
                .find(|b| b.operation == now.operation && b.outcome == now.outcome)
                .map_or(0, |b| b.calls);
            self.api_calls
                .get_or_create(&vec![
                    ("operation", now.operation.as_str().to_owned()),
                    ("outcome", now.outcome.as_str().to_owned()),
                ])
                .inc_by(now.calls.saturating_sub(before));
        }
        self.throttled
            .inc_by(snap.throttles.saturating_sub(last.throttles));
        self.duplicates.inc_by(
            snap.duplicates_dropped
                .saturating_sub(last.duplicates_dropped),
        );
        self.gaps.inc_by(snap.gaps.saturating_sub(last.gaps));
        #[expect(clippy::cast_precision_loss, reason = "lag in ms is far below 2^52")]
        self.lag.set(snap.lag_ms.max(0) as f64 / 1000.0);
        self.checkpoint_age
            .set(state.committed.elapsed().as_secs_f64());
        state.last = snap.clone();
    }

    /// The Prometheus text exposition.
    fn render(&self, snap: &MetricsSnapshot) -> String {
        self.sync_source(snap);
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Why the service is not ready (empty: ready).
    pub(crate) fn not_ready(&self, snap: &MetricsSnapshot) -> Vec<String> {
        let mut reasons = Vec::new();
        if snap.degraded {
            reasons.push("source: the credentials keep failing (see the log)".to_owned());
        }
        if let Some(max) = self.thresholds.max_lag {
            let lag = Duration::from_millis(u64::try_from(snap.lag_ms).unwrap_or(0));
            if lag > max {
                reasons.push(format!(
                    "source: lagging {} s behind (threshold {} s)",
                    lag.as_secs(),
                    max.as_secs()
                ));
            }
        }
        let state = lock(&self.state);
        for (name, failing) in &state.failing {
            if let Some((since, reason)) = failing
                && since.elapsed() >= self.thresholds.output_failure
            {
                reasons.push(format!(
                    "output {name}: failing for {} s: {reason}",
                    since.elapsed().as_secs()
                ));
            }
        }
        reasons
    }
}

fn output_labels(name: &str) -> Labels {
    vec![("output", name.to_owned())]
}

/// An output whose deliveries and failed attempts are counted.
#[derive(Debug)]
pub(crate) struct Metered<'m, 'a> {
    inner: Box<dyn Output + 'a>,
    metrics: &'m Metrics,
}

impl<'m, 'a> Metered<'m, 'a> {
    /// `inner`, counted into `metrics`.
    pub(crate) fn new(inner: Box<dyn Output + 'a>, metrics: &'m Metrics) -> Metered<'m, 'a> {
        Metered { inner, metrics }
    }
}

#[async_trait::async_trait]
impl Output for Metered<'_, '_> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn send(&self, batch: &[Arc<Alert>]) -> Vec<Attempt> {
        let attempts = self.inner.send(batch).await;
        self.metrics.attempts(self.inner.name(), &attempts);
        attempts
    }

    async fn flush(&self) -> Result<(), OutputError> {
        self.inner.flush().await
    }

    fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `listener` until `shutdown` completes.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    metrics: &Metrics,
    source: &dyn Source,
    shutdown: impl Future<Output = ()>,
) {
    let mut connections = futures::stream::FuturesUnordered::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                if connections.len() >= MAX_CONNECTIONS {
                    drop(stream);
                    continue;
                }
                connections.push(connection(stream, metrics, source));
            }
            Some(()) = connections.next(), if !connections.is_empty() => {}
        }
    }
}

/// One HTTP/1.1 connection.
async fn connection(stream: tokio::net::TcpStream, metrics: &Metrics, source: &dyn Source) {
    let service = hyper::service::service_fn(|req: Request<hyper::body::Incoming>| {
        let response = answer(&req, metrics, source);
        async move { Ok::<_, Infallible>(response) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    // A connection that stalls is dropped after a minute.
    let _ = tokio::time::timeout(Duration::from_secs(60), conn).await;
}

fn text(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn answer<B>(req: &Request<B>, metrics: &Metrics, source: &dyn Source) -> Response<Full<Bytes>> {
    const PLAIN: &str = "text/plain; charset=utf-8";
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            PLAIN,
            "only GET\n".to_owned(),
        );
    }
    match req.uri().path() {
        "/metrics" => text(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.render(&source.metrics()),
        ),
        "/healthz" => text(StatusCode::OK, PLAIN, "ok\n".to_owned()),
        "/readyz" => {
            let reasons = metrics.not_ready(&source.metrics());
            if reasons.is_empty() {
                text(StatusCode::OK, PLAIN, "ready\n".to_owned())
            } else {
                let mut body = String::from("not ready\n");
                for r in reasons {
                    let _ = writeln!(body, "{r}");
                }
                text(StatusCode::SERVICE_UNAVAILABLE, PLAIN, body)
            }
        }
        _ => text(
            StatusCode::NOT_FOUND,
            PLAIN,
            "not found (try /metrics, /healthz or /readyz)\n".to_owned(),
        ),
    }
}
