//! The kube-apiserver audit webhook source (feature `webhook`): an HTTP(S) endpoint the
//! apiserver posts `EventList` batches to (`--audit-webhook-config-file`).
//!
//! ```text
//!  apiserver ──POST EventList──► WebhookServer::serve ──Batch──► WebhookSource::stream
//!      ▲                          (auth, limits, 503)             one Record per event
//!      │                                                                │
//!      └──── 200 once every record is committed ◄── WebhookAcks::save ◄─┘ (the engine, after
//!                                                                         delivery)
//! ```
//!
//! [`WebhookServer::bind`] checks the configuration, loads the TLS material and the token, and
//! binds the listener. It hands out two views of one shared state:
//!
//! * [`WebhookSource`] is the [`Source`]: each accepted request gets a sequence number, and
//!   each event of its body becomes one [`Record`] whose checkpoint is
//!   `{"request": seq, "event": index}`.
//! * [`WebhookAcks`] is the [`CheckpointStore`] to give the pipeline: `save(cp)` answers `200`
//!   to every request whose last record is at or before `cp`. A webhook has nothing to resume
//!   from, so `load` returns `None`. A request is therefore answered `200` only once the alerts
//!   of all its events are accepted by every output (or dead-lettered): the apiserver never sees
//!   a success for a batch a crash could lose.
//!
//! [`WebhookServer::serve`] is the accept loop, a future the caller drives next to the pipeline
//! (it must outlive the stream, to answer the requests the final commit acknowledges). When its
//! shutdown future completes it stops accepting, lets every request already being read finish
//! and queue its batch, then the stream ends; requests still waiting are answered once the
//! pipeline commits them, or `503` after [`WebhookAcks::abandon`].
//!
//! # Answers
//!
//! | status | when |
//! | --- | --- |
//! | 200 | every event of the batch is delivered (or the batch held no event) |
//! | 400 | the body is not JSON, not an object, or an `EventList` whose `items` are not objects |
//! | 401 | a token is required and the `Authorization: Bearer` header is missing or wrong |
//! | 404 | another path |
//! | 405 | not `POST` |
//! | 408 | the body did not arrive within the body timeout |
//! | 413 | the body (or its gzip-decoded form) is over the limit |
//! | 415 | a `Content-Encoding` other than `gzip` or `identity` |
//! | 503 | overloaded (too many events waiting), shutting down, or not delivered within the ack timeout; always with `Retry-After` |
//!
//! Client certificates (mTLS) are checked during the TLS handshake: a client without a valid
//! certificate never gets an HTTP answer.

mod auth;
mod body;
mod http;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::{self, BoxStream};
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};

use crate::checkpoint::{Checkpoint, CheckpointError, CheckpointStore, SourceIdentity};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::source::{Record, RecordMeta, Source, SourceError, SourceErrorKind};

// The body splitter, public for `fuzz/fuzz_targets/webhook_body.rs` only: not part of the API.
#[doc(hidden)]
pub use body::{BodyError, split_body};

/// The default request path.
pub const DEFAULT_PATH: &str = "/k8s-audit";
/// The default body limit (8 MiB), before and after gzip decoding.
pub const DEFAULT_MAX_BODY_BYTES: usize = 8 << 20;

/// Where the server's TLS certificate and key are, and the CA client certificates must chain to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server certificate chain, PEM.
    pub cert: PathBuf,
    /// The server's private key, PEM.
    pub key: PathBuf,
    /// When set, clients must present a certificate issued by one of these CAs (PEM).
    pub client_ca: Option<PathBuf>,
}

/// How the webhook listens, authenticates and limits its clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookConfig {
    /// The address to bind (`127.0.0.1:9765`; port 0 picks a free one).
    pub listen: SocketAddr,
    /// The only path requests are accepted on (default [`DEFAULT_PATH`]).
    pub path: String,
    /// A file holding the bearer token clients must send; re-read when it changes.
    pub token_file: Option<PathBuf>,
    /// Serve HTTPS with this certificate (and verify client certificates when a CA is given).
    pub tls: Option<TlsFiles>,
    /// Allow a non-loopback address without any authentication (no token, no client CA).
    pub insecure: bool,
    /// The largest body accepted, compressed and decompressed (413 above it).
    pub max_body_bytes: usize,
    /// Events accepted but not yet acknowledged, over all requests; a request that does not fit
    /// is answered 503.
    pub max_pending_events: usize,
    /// Open connections at most; connections over it are closed at once (the apiserver retries
    /// a reset connection).
    pub max_connections: usize,
    /// Time for a client to send a request's headers (also the keep-alive idle limit) and to
    /// finish the TLS handshake.
    pub header_timeout: Duration,
    /// Time for a client to send a request's body (408 after it).
    pub body_timeout: Duration,
    /// How long a request waits for its alerts to be delivered before it is answered 503 (the
    /// apiserver gives up on a request after 30 s).
    pub ack_timeout: Duration,
    /// The `Retry-After` of 503 answers (whole seconds, at least 1).
    pub retry_after: Duration,
}

impl WebhookConfig {
    /// The defaults, listening on `listen`.
    #[must_use]
    pub fn new(listen: SocketAddr) -> WebhookConfig {
        WebhookConfig {
            listen,
            path: DEFAULT_PATH.to_owned(),
            token_file: None,
            tls: None,
            insecure: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_pending_events: 10_000,
            max_connections: 64,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            ack_timeout: Duration::from_secs(25),
            retry_after: Duration::from_secs(1),
        }
    }

    /// `true` when clients must authenticate (a token, or a client certificate).
    #[must_use]
    pub fn authenticated(&self) -> bool {
        self.token_file.is_some() || self.tls.as_ref().is_some_and(|t| t.client_ca.is_some())
    }

    /// How clients authenticate, for the start-up line: `bearer token`, `client certificate`,
    /// `bearer token and client certificate`, or `none`.
    #[must_use]
    pub fn authentication(&self) -> &'static str {
        let mtls = self.tls.as_ref().is_some_and(|t| t.client_ca.is_some());
        match (self.token_file.is_some(), mtls) {
            (true, true) => "bearer token and client certificate",
            (true, false) => "bearer token",
            (false, true) => "client certificate",
            (false, false) => "none",
        }
    }

    fn validate(&self) -> Result<(), WebhookError> {
        if !self.path.starts_with('/') {
            return Err(WebhookError::Config(format!(
                "the path `{}` must start with `/`",
                self.path
            )));
        }
        if self.max_body_bytes == 0 || self.max_pending_events == 0 || self.max_connections == 0 {
            return Err(WebhookError::Config(
                "the body, pending-event and connection limits must be at least 1".to_owned(),
            ));
        }
        if !self.authenticated() && !self.insecure && !self.listen.ip().is_loopback() {
            return Err(WebhookError::Unauthenticated {
                listen: self.listen,
            });
        }
        Ok(())
    }
}

/// Why the webhook could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// A configuration value cannot work (for example a path without a leading `/`).
    #[error("invalid webhook configuration: {0}")]
    Config(String),
    /// No authentication is configured and the address is not a loopback address.
    #[error(
        "refusing to listen on {listen} without authentication: give --token-file and/or --tls-cert/--tls-key with --client-ca, listen on a loopback address, or pass --insecure"
    )]
    Unauthenticated {
        /// The address asked for.
        listen: SocketAddr,
    },
    /// A certificate, key, CA or token file cannot be read or used.
    #[error("{what} `{}`: {message}", path.display())]
    File {
        /// What the file is for (`token file`, `TLS certificate`, …).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The TLS configuration was refused by rustls.
    #[error("TLS: {0}")]
    Tls(String),
    /// The address cannot be bound.
    #[error("cannot listen on {listen}: {error}")]
    Bind {
        /// The address asked for.
        listen: SocketAddr,
        /// The underlying error.
        error: std::io::Error,
    },
}

/// One accepted request on its way to the stream.
struct Batch {
    payloads: Vec<Bytes>,
    peer: SocketAddr,
    /// Completed (`send(())`) when every record is committed; dropped when abandoned.
    done: oneshot::Sender<()>,
    /// Held until the batch is acknowledged or abandoned.
    permits: OwnedSemaphorePermit,
}

/// A request whose records were yielded and that waits for their commit.
struct Waiting {
    /// Index of the batch's last event.
    last: u64,
    done: oneshot::Sender<()>,
    _permits: OwnedSemaphorePermit,
}

/// The state the server, the source and the acknowledgements share.
struct Shared {
    identity: Arc<SourceIdentity>,
    name: Arc<str>,
    /// The server's sender: every request clones it when it starts; dropped on shutdown, so
    /// the stream ends once the last in-flight request has queued its batch.
    intake: Mutex<Option<mpsc::UnboundedSender<Batch>>>,
    receiver: Mutex<Option<mpsc::UnboundedReceiver<Batch>>>,
    /// Requests yielded and not yet acknowledged, by sequence number.
    waiting: Mutex<BTreeMap<u64, Waiting>>,
    capacity: Arc<Semaphore>,
    metrics: Metrics,
    /// Set once the stream has yielded its last record (after shutdown).
    ended: watch::Sender<bool>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("name", &self.name)
            .field("waiting", &lock(&self.waiting).len())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Answers every waiting request whose last record is at or before `(request, event)`.
    fn acknowledge(&self, request: u64, event: u64) {
        let mut waiting = lock(&self.waiting);
        while let Some(entry) = waiting.first_entry() {
            let seq = *entry.key();
            if seq > request || (seq == request && entry.get().last > event) {
                break;
            }
            let w = entry.remove();
            let _ = w.done.send(());
        }
    }
}

/// A bound, not yet serving, webhook endpoint (see the [module docs](self)).
pub struct WebhookServer {
    shared: Arc<Shared>,
    listener: tokio::net::TcpListener,
    local_addr: SocketAddr,
    http: Arc<http::Settings>,
}

impl fmt::Debug for WebhookServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookServer")
            .field("local_addr", &self.local_addr)
            .field("tls", &self.http.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl WebhookServer {
    /// Checks `config`, loads the certificates and the token, and binds the address.
    ///
    /// # Errors
    /// An unusable configuration (a non-loopback address without authentication and without
    /// `insecure`), unreadable or invalid certificate, key, CA or token files, or a failed bind.
    pub async fn bind(config: WebhookConfig) -> Result<WebhookServer, WebhookError> {
        config.validate()?;
        let tls = config.tls.as_ref().map(auth::server_config).transpose()?;
        let token = config
            .token_file
            .as_ref()
            .map(|p| auth::TokenFile::load(p.clone()))
            .transpose()?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|error| WebhookError::Bind {
                listen: config.listen,
                error,
            })?;
        let local_addr = listener.local_addr().map_err(|error| WebhookError::Bind {
            listen: config.listen,
            error,
        })?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let identity = SourceIdentity::new("webhook")
            .with("listen", config.listen.to_string())
            .with("path", config.path.clone());
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            identity: Arc::new(identity),
            name: format!("webhook:{scheme}://{local_addr}{}", config.path).into(),
            intake: Mutex::new(Some(tx)),
            receiver: Mutex::new(Some(rx)),
            waiting: Mutex::new(BTreeMap::new()),
            capacity: Arc::new(Semaphore::new(
                config.max_pending_events.min(Semaphore::MAX_PERMITS),
            )),
            metrics: Metrics::default(),
            ended: watch::Sender::new(false),
        });
        let http = Arc::new(http::Settings {
            config,
            tls: tls.map(|c| tokio_rustls::TlsAcceptor::from(Arc::new(c))),
            token,
        });
        Ok(WebhookServer {
            shared,
            listener,
            local_addr,
            http,
        })
    }

    /// The address bound (with the real port when port 0 was asked for).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://ADDR/path` or `https://ADDR/path`.
    #[must_use]
    pub fn url(&self) -> String {
        self.shared
            .name
            .strip_prefix("webhook:")
            .unwrap_or(&self.shared.name)
            .to_owned()
    }

    /// The source yielding the events of accepted requests. Only the first `stream` of any of
    /// the sources returned gets the events; later ones yield a terminal error.
    #[must_use]
    pub fn source(&self) -> WebhookSource {
        WebhookSource {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The checkpoint store that answers requests when their records are committed.
    #[must_use]
    pub fn acks(&self) -> WebhookAcks {
        WebhookAcks {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight requests finish
    /// (each is answered when the pipeline commits its records, or 503 after
    /// [`WebhookAcks::abandon`] or the ack timeout), and returns once every connection closed.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        http::serve(self.listener, self.shared, self.http, shutdown).await;
    }
}

/// The [`Source`] of a [`WebhookServer`]: one record per event of each accepted request.
#[derive(Clone, Debug)]
pub struct WebhookSource {
    shared: Arc<Shared>,
}

/// Reads batches from the server and yields their events.
struct Reader {
    shared: Arc<Shared>,
    rx: mpsc::UnboundedReceiver<Batch>,
    next_seq: u64,
    /// The current batch: its sequence number, peer and remaining payloads.
    seq: u64,
    peer: Arc<str>,
    payloads: std::vec::IntoIter<Bytes>,
    index: u64,
}

impl Reader {
    async fn next_record(&mut self) -> Option<Record> {
        loop {
            if let Some(payload) = self.payloads.next() {
                let index = self.index;
                self.index += 1;
                self.shared
                    .metrics
                    .events_emitted
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Some(Record {
                    payload,
                    checkpoint: Checkpoint::new(
                        Arc::clone(&self.shared.identity),
                        json!({ "request": self.seq, "event": index }),
                    ),
                    meta: RecordMeta {
                        source: Arc::clone(&self.shared.name),
                        stream: Some(Arc::clone(&self.peer)),
                        ..RecordMeta::default()
                    },
                });
            }
            let Some(batch) = self.rx.recv().await else {
                self.shared.ended.send_replace(true);
                return None;
            };
            let seq = self.next_seq;
            self.next_seq += 1;
            let n = batch.payloads.len() as u64;
            if n == 0 {
                let _ = batch.done.send(());
                continue;
            }
            lock(&self.shared.waiting).insert(
                seq,
                Waiting {
                    last: n - 1,
                    done: batch.done,
                    _permits: batch.permits,
                },
            );
            self.seq = seq;
            self.peer = batch.peer.to_string().into();
            self.payloads = batch.payloads.into_iter();
            self.index = 0;
        }
    }
}

impl WebhookSource {
    /// Completes once the stream has ended: after [`WebhookServer::serve`]'s shutdown, when
    /// every request in flight has queued its batch and every queued event was yielded. A
    /// pipeline's `stop` should wait for it, so that shutting down delivers what was accepted.
    pub async fn finished(&self) {
        let mut ended = self.shared.ended.subscribe();
        let _ = ended.wait_for(|e| *e).await;
    }
}

impl Source for WebhookSource {
    fn identity(&self) -> &SourceIdentity {
        &self.shared.identity
    }

    /// The events of every request accepted from now on; `resume` is ignored (a webhook has
    /// nothing to replay: an unacknowledged batch is sent again by the apiserver). The stream
    /// ends after [`WebhookServer::serve`]'s shutdown, once the requests in flight are queued.
    fn stream(
        &self,
        _resume: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<Record, SourceError>> {
        let Some(rx) = lock(&self.shared.receiver).take() else {
            let err = SourceError::new(
                Arc::clone(&self.shared.name),
                SourceErrorKind::Config("the webhook source can only be streamed once".to_owned()),
                true,
            );
            return stream::once(async move { Err(err) }).boxed();
        };
        let reader = Reader {
            shared: Arc::clone(&self.shared),
            rx,
            next_seq: 0,
            seq: 0,
            peer: Arc::from(""),
            payloads: Vec::new().into_iter(),
            index: 0,
        };
        stream::unfold(reader, |mut r| async move {
            let record = r.next_record().await?;
            Some((Ok(record), r))
        })
        .boxed()
    }

    fn metrics(&self) -> MetricsSnapshot {
        self.shared.metrics.snapshot(crate::time::now_ms())
    }
}

/// The [`CheckpointStore`] of a [`WebhookServer`]: saving a record's checkpoint answers 200 to
/// every request whose records all are at or before it.
#[derive(Clone, Debug)]
pub struct WebhookAcks {
    shared: Arc<Shared>,
}

impl WebhookAcks {
    /// Answers 503 to every request still waiting for its commit (after the pipeline returned:
    /// their alerts were not all delivered, so the apiserver must send them again).
    pub fn abandon(&self) {
        let waiting = std::mem::take(&mut *lock(&self.shared.waiting));
        drop(waiting);
    }

    /// Requests whose records were yielded and are not yet acknowledged.
    #[must_use]
    pub fn waiting(&self) -> usize {
        lock(&self.shared.waiting).len()
    }
}

impl CheckpointStore for WebhookAcks {
    /// Always `None`: there is nothing to resume from.
    fn load(&self, _identity: &SourceIdentity) -> Result<Option<Checkpoint>, CheckpointError> {
        Ok(None)
    }

    fn save(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        checkpoint.check_identity(&self.shared.identity)?;
        let position = checkpoint.position();
        let field = |name: &str| position.get(name).and_then(serde_json::Value::as_u64);
        match (field("request"), field("event")) {
            (Some(request), Some(event)) => {
                self.shared.acknowledge(request, event);
                Ok(())
            }
            _ => Err(CheckpointError::Position {
                identity: self.shared.identity.to_string(),
                message: format!("expected {{\"request\": N, \"event\": N}}, got {position}"),
            }),
        }
    }
}
