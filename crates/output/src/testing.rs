//! A scriptable HTTP/1.1 (and HTTPS) receiver on 127.0.0.1 for tests (feature `test-util`).
//!
//! [`Receiver::start`] binds port 0 on 127.0.0.1 and answers every request according to a
//! [`Behaviour`], recording every request (method, path, headers, body, status). It can be
//! stopped and restarted **on the same port** ([`Receiver::stop`], [`Receiver::restart`]), so a
//! test can take a receiver down and bring it back. [`Behaviour::Falcosidekick`] applies
//! falcosidekick's acceptance rules to each request.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use kaudit_output::testing::{Behaviour, Receiver};
//!
//! let mut receiver = Receiver::start(Behaviour::Falcosidekick).await?;
//! let url = receiver.url(); // http://127.0.0.1:PORT/
//! // … send alerts to `url` …
//! receiver.stop().await; // connections refused from here on
//! receiver.restart().await?; // same port
//! assert_eq!(receiver.accepted().len(), 0);
//! # Ok(())
//! # }
//! ```
//!
//! The receiver never panics on what it receives.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue, LOCATION, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

/// falcosidekick's answer to a request that is not a `POST`.
pub const NOT_POST: &str = "Please send with post http method";
/// falcosidekick's answer to a body that does not decode or fails its check.
pub const INVALID_BODY: &str = "Please send a valid request body";

/// How the receiver answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// 200 with an empty body for every request.
    AcceptAll,
    /// 503 (with `Retry-After: <retry_after>` when given) for the first `count` requests since
    /// the receiver was started or the behaviour set, then 200.
    RefuseFirst {
        /// How many requests are refused.
        count: usize,
        /// The `Retry-After` value sent with each refusal (`"2"`, an HTTP-date).
        retry_after: Option<String>,
    },
    /// 400 `rejected` for every request.
    RejectAll,
    /// `status` with `body` (and `Retry-After` when given) for every request.
    Respond {
        /// The status code.
        status: u16,
        /// The response body.
        body: String,
        /// The `Retry-After` value, if any.
        retry_after: Option<String>,
    },
    /// Waits `delay` before answering 200 (for timeouts).
    Stall {
        /// How long to wait.
        delay: Duration,
    },
    /// falcosidekick's HTTP input (docs/falcosidekick.md): `/ping` (`pong`) and `/healthz`; a
    /// path that is not clean (`//x`) is redirected (301); any other path is the alert
    /// handler: not `POST` → 400 [`NOT_POST`]; the first JSON value of the body must be an alert
    /// that passes falcosidekick's check, else 400 [`INVALID_BODY`]; otherwise 200 with an empty
    /// body. Anything after the first JSON value is ignored (like falcosidekick). When
    /// `output_fields["k8s.ns.name"]` or `["k8s.pod.name"]` is present, not null and not a
    /// string, the connection is dropped without a response (falcosidekick panics). `/test` and
    /// `/metrics` are not emulated (they are alert paths here).
    Falcosidekick,
}

/// One request the receiver got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// `POST`, `GET`, …
    pub method: String,
    /// The path and query (`/`, `/x?y=1`).
    pub path: String,
    /// The headers in order, names lower-case, values as text (lossy).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The status answered, `None` when the connection was dropped without a response.
    pub status: Option<u16>,
    /// The client's address: requests on one keep-alive connection share it.
    pub peer: SocketAddr,
}

impl Request {
    /// The first value of header `name` (case-insensitive).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    #[must_use]
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The whole body as one JSON value, `None` when it is not exactly one JSON value (test
    /// support: a `serde_json::Value`, so tests compare alerts as JSON).
    #[must_use]
    pub fn body_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    fn accepted(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Server certificate and key (PEM) of a TLS receiver, and optionally the CA (PEM) that client
/// certificates must chain to: with it, the receiver requires a client certificate (mTLS).
#[derive(Clone)]
pub struct ReceiverTls {
    /// The server certificate chain, PEM.
    pub cert_pem: String,
    /// The server's private key, PEM.
    pub key_pem: String,
    /// When set, clients must present a certificate issued by this CA (PEM).
    pub client_ca_pem: Option<String>,
}

impl fmt::Debug for ReceiverTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiverTls")
            .field("mtls", &self.client_ca_pem.is_some())
            .finish_non_exhaustive()
    }
}

fn invalid(what: &str, e: impl fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {e}"))
}

fn server_config(tls: &ReceiverTls) -> io::Result<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let certs = CertificateDer::pem_slice_iter(tls.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid("server certificate", e))?;
    let key = PrivateKeyDer::from_pem_slice(tls.key_pem.as_bytes())
        .map_err(|e| invalid("server key", e))?;
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("TLS versions", e))?;
    let builder = match &tls.client_ca_pem {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                let cert = cert.map_err(|e| invalid("client CA", e))?;
                roots.add(cert).map_err(|e| invalid("client CA", e))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| invalid("client verifier", e))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| invalid("server certificate/key", e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[derive(Debug)]
struct State {
    behaviour: Mutex<Behaviour>,
    /// Requests seen since the behaviour was set (for [`Behaviour::RefuseFirst`]).
    seen: Mutex<usize>,
    requests: Mutex<Vec<Request>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running (or stopped) test receiver. Dropping it stops the server.
pub struct Receiver {
    addr: SocketAddr,
    state: Arc<State>,
    tls: Option<TlsAcceptor>,
    server: Option<JoinHandle<()>>,
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("addr", &self.addr)
            .field("tls", &self.tls.is_some())
            .field("running", &self.server.is_some())
            .finish_non_exhaustive()
    }
}

impl Receiver {
    /// Starts a plain HTTP/1.1 receiver on 127.0.0.1 (a free port).
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn start(behaviour: Behaviour) -> io::Result<Receiver> {
        Receiver::start_with(behaviour, None).await
    }

    /// Starts an HTTPS receiver on 127.0.0.1 (a free port) with `tls`'s certificate (it should
    /// name the IP address 127.0.0.1), requiring client certificates when `tls` has a client CA.
    ///
    /// # Errors
    /// Unusable certificates or keys, or no port can be bound.
    pub async fn start_tls(behaviour: Behaviour, tls: ReceiverTls) -> io::Result<Receiver> {
        let acceptor = TlsAcceptor::from(Arc::new(server_config(&tls)?));
        Receiver::start_with(behaviour, Some(acceptor)).await
    }

    async fn start_with(behaviour: Behaviour, tls: Option<TlsAcceptor>) -> io::Result<Receiver> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            behaviour: Mutex::new(behaviour),
            seen: Mutex::new(0),
            requests: Mutex::new(Vec::new()),
        });
        let server = tokio::spawn(serve(listener, Arc::clone(&state), tls.clone()));
        Ok(Receiver {
            addr,
            state,
            tls,
            server: Some(server),
        })
    }

    /// The address it listens on (kept across [`Receiver::stop`] and [`Receiver::restart`]).
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/` (`https://` for a TLS receiver).
    #[must_use]
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}/", self.addr)
    }

    /// Whether it is serving.
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.server.is_some()
    }

    /// Stops serving: closes the listener and every open connection (pooled keep-alive
    /// connections included), so connections are refused until [`Receiver::restart`]. The
    /// recorded requests stay.
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            // The task is gone (with its listener and connections) once its handle resolves.
            let _ = server.await;
        }
    }

    /// Serves again on the same port, with the same behaviour and recorded requests.
    ///
    /// # Errors
    /// When the port cannot be bound again (another process took it).
    pub async fn restart(&mut self) -> io::Result<()> {
        self.stop().await;
        let listener = TcpListener::bind(self.addr).await?;
        self.server = Some(tokio::spawn(serve(
            listener,
            Arc::clone(&self.state),
            self.tls.clone(),
        )));
        Ok(())
    }

    /// Answers from now on according to `behaviour` (the [`Behaviour::RefuseFirst`] count starts
    /// again).
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *lock(&self.state.behaviour) = behaviour;
        *lock(&self.state.seen) = 0;
    }

    /// Every request received so far, in order.
    #[must_use]
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.state.requests).clone()
    }

    /// How many requests were received.
    #[must_use]
    pub fn request_count(&self) -> usize {
        lock(&self.state.requests).len()
    }

    /// The alerts of the requests answered 2xx, in order: the first JSON value of each body (a
    /// JSON array counts as its elements); bodies that are not JSON are left out
    /// (`serde_json::Value`s, as [`Request::body_json`]).
    #[must_use]
    pub fn accepted(&self) -> Vec<Value> {
        let mut alerts = Vec::new();
        for request in lock(&self.state.requests).iter().filter(|r| r.accepted()) {
            match first_value(&request.body) {
                Some(Value::Array(items)) => alerts.extend(items),
                Some(value) => alerts.push(value),
                None => {}
            }
        }
        alerts
    }

    /// Waits until at least `n` requests were received, up to `timeout` (for tests that feed a
    /// separate process). Returns whether they were.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.request_count() >= n {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until at least `n` alerts were accepted ([`Receiver::accepted`]), up to `timeout`.
    /// Returns whether they were.
    pub async fn wait_for_accepted(&self, n: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.accepted().len() >= n {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Forgets the recorded requests.
    pub fn clear(&self) {
        lock(&self.state.requests).clear();
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// The accept loop. Connections are tasks of a `JoinSet` owned here, so aborting this task closes
/// them all.
async fn serve(listener: TcpListener, state: Arc<State>, tls: Option<TlsAcceptor>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let state = Arc::clone(&state);
                    let tls = tls.clone();
                    connections.spawn(async move {
                        match tls {
                            Some(acceptor) => {
                                if let Ok(stream) = acceptor.accept(stream).await {
                                    serve_connection(stream, peer, state).await;
                                }
                            }
                            None => serve_connection(stream, peer, state).await,
                        }
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection<I>(io: I, peer: SocketAddr, state: Arc<State>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| handle(Arc::clone(&state), peer, request));
    let _ = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service)
        .await;
}

type Response = hyper::Response<Full<Bytes>>;

/// What to do with one request.
enum Answer {
    Respond {
        status: StatusCode,
        body: String,
        headers: Vec<(hyper::header::HeaderName, String)>,
    },
    /// Drop the connection without a response.
    Drop,
}

impl Answer {
    fn status(status: StatusCode, body: impl Into<String>) -> Answer {
        Answer::Respond {
            status,
            body: body.into(),
            headers: Vec::new(),
        }
    }
}

async fn handle(
    state: Arc<State>,
    peer: SocketAddr,
    request: hyper::Request<Incoming>,
) -> Result<Response, io::Error> {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(e) => return Err(io::Error::other(e)),
    };
    let behaviour = lock(&state.behaviour).clone();
    let seen = {
        let mut seen = lock(&state.seen);
        *seen += 1;
        *seen
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    let mut stall = None;
    let answer = match &behaviour {
        Behaviour::AcceptAll => Answer::status(StatusCode::OK, ""),
        Behaviour::RefuseFirst { count, retry_after } => {
            if seen <= *count {
                Answer::Respond {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    body: String::new(),
                    headers: retry_after
                        .iter()
                        .map(|v| (RETRY_AFTER, v.clone()))
                        .collect(),
                }
            } else {
                Answer::status(StatusCode::OK, "")
            }
        }
        Behaviour::RejectAll => Answer::status(StatusCode::BAD_REQUEST, "rejected"),
        Behaviour::Respond {
            status,
            body,
            retry_after,
        } => Answer::Respond {
            status: StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body: body.clone(),
            headers: retry_after
                .iter()
                .map(|v| (RETRY_AFTER, v.clone()))
                .collect(),
        },
        Behaviour::Stall { delay } => {
            stall = Some(*delay);
            Answer::status(StatusCode::OK, "")
        }
        Behaviour::Falcosidekick => falcosidekick(&parts.method, parts.uri.path(), &body),
    };
    let mut record = Request {
        method: parts.method.as_str().to_owned(),
        path,
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
        status: None,
        peer,
    };
    match answer {
        Answer::Drop => {
            lock(&state.requests).push(record);
            Err(io::Error::other("dropped without a response"))
        }
        Answer::Respond {
            status,
            body,
            headers,
        } => {
            record.status = Some(status.as_u16());
            lock(&state.requests).push(record);
            if let Some(delay) = stall {
                tokio::time::sleep(delay).await;
            }
            let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
            *response.status_mut() = status;
            for (name, value) in headers {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    response.headers_mut().append(name, value);
                }
            }
            Ok(response)
        }
    }
}

/// The first JSON value of `body` (what a Go `json.Decoder` reads); the rest is ignored.
fn first_value(body: &[u8]) -> Option<Value> {
    serde_json::Deserializer::from_slice(body)
        .into_iter::<Value>()
        .next()
        .and_then(Result::ok)
}

/// falcosidekick's routes and alert handler.
fn falcosidekick(method: &Method, path: &str, body: &[u8]) -> Answer {
    if path.contains("//") || path.split('/').any(|s| s == "." || s == "..") {
        let mut clean = String::new();
        let mut segments: Vec<&str> = Vec::new();
        for segment in path.split('/') {
            match segment {
                "" | "." => {}
                ".." => {
                    segments.pop();
                }
                s => segments.push(s),
            }
        }
        for s in &segments {
            clean.push('/');
            clean.push_str(s);
        }
        if clean.is_empty() || path.ends_with('/') {
            clean.push('/');
        }
        return Answer::Respond {
            status: StatusCode::MOVED_PERMANENTLY,
            body: String::new(),
            headers: vec![(LOCATION, clean)],
        };
    }
    match path {
        "/ping" => return Answer::status(StatusCode::OK, "pong\n"),
        "/healthz" => {
            return Answer::Respond {
                status: StatusCode::OK,
                body: "{\"status\": \"ok\"}\n".to_owned(),
                headers: vec![(CONTENT_TYPE, "application/json".to_owned())],
            };
        }
        _ => {}
    }
    if method != Method::POST {
        return Answer::status(StatusCode::BAD_REQUEST, format!("{NOT_POST}\n"));
    }
    match check_alert(body) {
        Verdict::Accept => Answer::status(StatusCode::OK, ""),
        Verdict::Invalid => Answer::status(StatusCode::BAD_REQUEST, format!("{INVALID_BODY}\n")),
        Verdict::Panic => Answer::Drop,
    }
}

/// What falcosidekick does with a body.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Accept,
    Invalid,
    /// The handler panics: no response.
    Panic,
}

const PRIORITIES: [&str; 9] = [
    "emergency",
    "alert",
    "critical",
    "error",
    "warning",
    "notice",
    "informational",
    "info",
    "debug",
];

/// The decoded fields falcosidekick checks.
#[derive(Default)]
struct Decoded {
    priority: Option<String>,
    rule: String,
    /// `None`: missing or null (the zero time).
    time: Option<String>,
    output_fields: Option<serde_json::Map<String, Value>>,
}

/// falcosidekick's decoding (one JSON value into its alert type: keys case-insensitive,
/// unknown keys ignored, type mismatches fail) and check.
fn check_alert(body: &[u8]) -> Verdict {
    let Some(value) = first_value(body) else {
        return Verdict::Invalid;
    };
    let object = match value {
        Value::Object(object) => object,
        // Decoding null into a struct leaves it empty: the check then fails.
        Value::Null => return Verdict::Invalid,
        _ => return Verdict::Invalid,
    };
    let mut decoded = Decoded::default();
    for (key, value) in &object {
        let ok = match key.to_ascii_lowercase().as_str() {
            "uuid" | "output" | "source" | "hostname" => {
                matches!(value, Value::String(_) | Value::Null)
            }
            "rule" => match value {
                Value::String(s) => {
                    decoded.rule.clone_from(s);
                    true
                }
                Value::Null => true,
                _ => false,
            },
            "priority" => match value {
                Value::String(s) => {
                    decoded.priority = Some(s.clone());
                    true
                }
                Value::Null => true,
                _ => false,
            },
            "time" => match value {
                Value::String(s) => {
                    if !is_rfc3339(s) {
                        return Verdict::Invalid;
                    }
                    decoded.time = Some(s.clone());
                    true
                }
                Value::Null => true,
                _ => false,
            },
            "output_fields" => match value {
                Value::Object(fields) => {
                    decoded.output_fields = Some(fields.clone());
                    true
                }
                Value::Null => true,
                _ => false,
            },
            "tags" => match value {
                Value::Array(items) => items.iter().all(Value::is_string),
                Value::Null => true,
                _ => false,
            },
            _ => true,
        };
        if !ok {
            return Verdict::Invalid;
        }
    }
    if let Some(fields) = &decoded.output_fields {
        for key in ["k8s.ns.name", "k8s.pod.name"] {
            if let Some(v) = fields.get(key)
                && !matches!(v, Value::Null | Value::String(_))
            {
                return Verdict::Panic;
            }
        }
    }
    let known = decoded
        .priority
        .as_deref()
        .is_some_and(|p| PRIORITIES.iter().any(|k| k.eq_ignore_ascii_case(p)));
    let time_set = decoded.time.as_deref().is_some_and(|t| !is_zero_time(t));
    let fields_set = decoded
        .output_fields
        .as_ref()
        .is_some_and(|f| !f.is_empty());
    if known && !decoded.rule.is_empty() && time_set && fields_set {
        Verdict::Accept
    } else {
        Verdict::Invalid
    }
}

/// The parts of an RFC 3339 time: local date and time, nanoseconds-nonzero flag, offset in
/// minutes east of UTC.
struct Rfc3339 {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    fraction_nonzero: bool,
    offset_minutes: i64,
}

fn digits(s: &[u8], n: usize) -> Option<i64> {
    if s.len() < n || !s[..n].iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        s[..n]
            .iter()
            .fold(0, |acc, d| acc * 10 + i64::from(d - b'0')),
    )
}

/// `YYYY-MM-DDTHH:MM:SS[.f+](Z|±hh:mm)`, with valid ranges.
fn parse_rfc3339(s: &str) -> Option<Rfc3339> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let year = digits(b, 4)?;
    let month = digits(b.get(5..)?, 2)?;
    let day = digits(b.get(8..)?, 2)?;
    let hour = digits(b.get(11..)?, 2)?;
    let minute = digits(b.get(14..)?, 2)?;
    let second = digits(b.get(17..)?, 2)?;
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let mut rest = &b[19..];
    let mut fraction_nonzero = false;
    if let Some((&b'.', tail)) = rest.split_first() {
        let n = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        fraction_nonzero = tail[..n].iter().any(|&c| c != b'0');
        rest = &tail[n..];
    }
    let offset_minutes = match rest {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let h = digits(&[*h1, *h2], 2)?;
            let m = digits(&[*m1, *m2], 2)?;
            if h > 23 || m > 59 {
                return None;
            }
            let total = h * 60 + m;
            if *sign == b'-' { -total } else { total }
        }
        _ => return None,
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some(Rfc3339 {
        year,
        month,
        day,
        hour,
        minute,
        second,
        fraction_nonzero,
        offset_minutes,
    })
}

fn is_rfc3339(s: &str) -> bool {
    parse_rfc3339(s).is_some()
}

/// Days from 0001-01-01 (proleptic Gregorian) to the date.
fn days_since_year_one(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    // Days since 0000-03-01, shifted to 0001-01-01 (306 days later).
    era * 146_097 + doe - 306
}

/// Whether an RFC 3339 time is Go's zero time (0001-01-01T00:00:00Z as an instant).
fn is_zero_time(s: &str) -> bool {
    let Some(t) = parse_rfc3339(s) else {
        return false;
    };
    let seconds = days_since_year_one(t.year, t.month, t.day) * 86_400
        + t.hour * 3600
        + t.minute * 60
        + t.second
        - t.offset_minutes * 60;
    seconds == 0 && !t.fraction_nonzero
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"hostname":"h","output":"x","output_fields":{"evt.time":1},"priority":"Warning","rule":"R","source":"k8s_audit","tags":["k8s"],"time":"2024-01-01T00:00:00.000000001Z"}"#;

    fn with(key: &str, value: &str) -> String {
        let mut v: serde_json::Map<String, Value> = serde_json::from_str(GOOD).unwrap_or_default();
        match serde_json::from_str::<Value>(value) {
            Ok(value) => {
                v.insert(key.to_owned(), value);
            }
            Err(_) => {
                v.remove(key);
            }
        }
        Value::Object(v).to_string()
    }

    #[test]
    fn accepts_falco_alerts() {
        assert_eq!(check_alert(GOOD.as_bytes()), Verdict::Accept);
        // Only the first value counts.
        assert_eq!(
            check_alert(format!("{GOOD}\n{{\"garbage").as_bytes()),
            Verdict::Accept
        );
        for p in [
            "\"INFO\"",
            "\"informational\"",
            "\"Emergency\"",
            "\"debug\"",
        ] {
            assert_eq!(
                check_alert(with("priority", p).as_bytes()),
                Verdict::Accept,
                "{p}"
            );
        }
        for t in [
            "\"2024-01-01T00:00:00Z\"",
            "\"2024-02-29T23:59:59.5+05:30\"",
            "\"0001-01-01T00:00:01Z\"",
        ] {
            assert_eq!(
                check_alert(with("time", t).as_bytes()),
                Verdict::Accept,
                "{t}"
            );
        }
        // Keys are case-insensitive; unknown keys are ignored; null tags are fine.
        let upper = GOOD
            .replace("\"rule\"", "\"RULE\"")
            .replace("\"tags\":[\"k8s\"]", "\"tags\":null,\"extra\":[1]");
        assert_eq!(check_alert(upper.as_bytes()), Verdict::Accept);
    }

    #[test]
    fn rejects_what_falcosidekick_rejects() {
        let cases = [
            ("priority", "-"),
            ("priority", "null"),
            ("priority", "\"Loud\""),
            ("priority", "4"),
            ("rule", "\"\""),
            ("rule", "-"),
            ("time", "-"),
            ("time", "null"),
            ("time", "\"0001-01-01T00:00:00Z\""),
            ("time", "\"0001-01-01T01:00:00+01:00\""),
            ("time", "\"2024-01-01T00:00:00+0000\""),
            ("time", "\"2024-01-01T00:00:00\""),
            ("time", "\"2024-01-01 00:00:00Z\""),
            ("time", "\"2024-02-30T00:00:00Z\""),
            ("time", "1704067200"),
            ("output_fields", "-"),
            ("output_fields", "null"),
            ("output_fields", "{}"),
            ("output_fields", "[]"),
            ("tags", "\"k8s\""),
            ("tags", "[1]"),
            ("hostname", "5"),
        ];
        for (key, value) in cases {
            assert_eq!(
                check_alert(with(key, value).as_bytes()),
                Verdict::Invalid,
                "{key} = {value}"
            );
        }
        assert_eq!(check_alert(b""), Verdict::Invalid);
        assert_eq!(check_alert(b"null"), Verdict::Invalid);
        assert_eq!(
            check_alert(format!("[{GOOD}]").as_bytes()),
            Verdict::Invalid
        );
        assert_eq!(check_alert(b"{\"priority\":"), Verdict::Invalid);
    }

    #[test]
    fn non_string_pod_names_drop_the_connection() {
        let body = with("output_fields", r#"{"k8s.pod.name":3,"evt.time":1}"#);
        assert_eq!(check_alert(body.as_bytes()), Verdict::Panic);
        let body = with("output_fields", r#"{"k8s.ns.name":null,"evt.time":1}"#);
        assert_eq!(check_alert(body.as_bytes()), Verdict::Accept);
    }

    #[test]
    fn routes() {
        assert!(matches!(
            falcosidekick(&Method::GET, "/", b""),
            Answer::Respond { status: StatusCode::BAD_REQUEST, ref body, .. } if body == "Please send with post http method\n"
        ));
        assert!(matches!(
            falcosidekick(&Method::GET, "/ping", b""),
            Answer::Respond { status: StatusCode::OK, ref body, .. } if body == "pong\n"
        ));
        assert!(matches!(
            falcosidekick(&Method::POST, "//x", GOOD.as_bytes()),
            Answer::Respond { status: StatusCode::MOVED_PERMANENTLY, ref headers, .. } if headers[0].1 == "/x"
        ));
        assert!(matches!(
            falcosidekick(&Method::POST, "/anything", GOOD.as_bytes()),
            Answer::Respond {
                status: StatusCode::OK,
                ..
            }
        ));
    }
}
