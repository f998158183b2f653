//! The accept loop, the connections (HTTP/1.1 over TCP or TLS) and the request handler.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{
    ALLOW, AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, RETRY_AFTER,
    WWW_AUTHENTICATE,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::auth::TokenFile;
use super::body::{self, BodyError};
use super::{Batch, Shared, WebhookConfig, lock};

/// What every connection needs.
pub(super) struct Settings {
    pub(super) config: WebhookConfig,
    pub(super) tls: Option<TlsAcceptor>,
    pub(super) token: Option<TokenFile>,
}

/// Accepts until `shutdown`, then drains (see [`super::WebhookServer::serve`]).
pub(super) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    settings: Arc<Settings>,
    shutdown: impl Future<Output = ()>,
) {
    let connections_limit = Arc::new(Semaphore::new(
        settings.config.max_connections.min(Semaphore::MAX_PERMITS),
    ));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let Ok(permit) = Arc::clone(&connections_limit).try_acquire_owned() else {
                        tracing::warn!(%peer, limit = settings.config.max_connections, "webhook: too many connections; closing the new one");
                        drop(tcp);
                        continue;
                    };
                    let _ = tcp.set_nodelay(true);
                    let shared = Arc::clone(&shared);
                    let settings = Arc::clone(&settings);
                    let stop = stop_rx.clone();
                    connections.spawn(async move {
                        connection(tcp, peer, shared, settings, stop).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "webhook: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    // Requests already started hold their own sender: the stream ends once they have queued.
    lock(&shared.intake).take();
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
}

async fn connection(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    settings: Arc<Settings>,
    stop: watch::Receiver<bool>,
) {
    match &settings.tls {
        Some(acceptor) => {
            let handshake = acceptor.accept(tcp);
            match tokio::time::timeout(settings.config.header_timeout, handshake).await {
                Ok(Ok(tls)) => http(tls, peer, shared, Arc::clone(&settings), stop).await,
                Ok(Err(e)) => tracing::info!(%peer, error = %e, "webhook: TLS handshake failed"),
                Err(_) => tracing::info!(%peer, "webhook: TLS handshake timed out"),
            }
        }
        None => http(tcp, peer, shared, Arc::clone(&settings), stop).await,
    }
}

async fn http<I>(
    io: I,
    peer: SocketAddr,
    shared: Arc<Shared>,
    settings: Arc<Settings>,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let header_timeout = settings.config.header_timeout;
    let service = service_fn(move |request| {
        let shared = Arc::clone(&shared);
        let settings = Arc::clone(&settings);
        async move { Ok::<_, Infallible>(handle(&shared, &settings, peer, request).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true)
        .max_buf_size(64 * 1024);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        () = async { let _ = stop.wait_for(|stopping| *stopping).await; } => {
            // Finish the request in flight (it is answered when its batch is committed), then
            // close; an idle keep-alive connection closes at once.
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

type Response = hyper::Response<Full<Bytes>>;

fn answer(status: StatusCode, text: impl Into<String>) -> Response {
    let mut text = text.into();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    let mut response = hyper::Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn unavailable(settings: &Settings, text: impl Into<String>) -> Response {
    let mut response = answer(StatusCode::SERVICE_UNAVAILABLE, text);
    let seconds = settings.config.retry_after.as_secs().max(1);
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(seconds));
    response
}

fn too_large(limit: usize) -> Response {
    answer(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the body is over the {limit}-byte limit"),
    )
}

async fn handle(
    shared: &Shared,
    settings: &Settings,
    peer: SocketAddr,
    request: hyper::Request<Incoming>,
) -> Response {
    // Taken first, so that a shutdown waits for this request to queue its batch.
    let intake = lock(&shared.intake).clone();
    let config = &settings.config;
    let (parts, body) = request.into_parts();
    if let Some(token) = &settings.token
        && !token.accepts(parts.headers.get(AUTHORIZATION).map(HeaderValue::as_bytes))
    {
        tracing::info!(%peer, "webhook: request without a valid bearer token");
        let mut response = answer(StatusCode::UNAUTHORIZED, "a valid bearer token is required");
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"kaudit\""),
        );
        return response;
    }
    if parts.uri.path() != config.path {
        return answer(
            StatusCode::NOT_FOUND,
            format!("audit events are accepted on {}", config.path),
        );
    }
    if parts.method != Method::POST {
        let mut response = answer(
            StatusCode::METHOD_NOT_ALLOWED,
            "audit events must be sent with POST",
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let gzip = match parts
        .headers
        .get(CONTENT_ENCODING)
        .map(HeaderValue::as_bytes)
    {
        None => false,
        Some(v) if v.eq_ignore_ascii_case(b"identity") => false,
        Some(v) if v.eq_ignore_ascii_case(b"gzip") => true,
        Some(v) => {
            return answer(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "unsupported Content-Encoding `{}` (gzip or none)",
                    String::from_utf8_lossy(v)
                ),
            );
        }
    };
    let limit = config.max_body_bytes;
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large(limit);
    }
    let read = Limited::new(body, limit).collect();
    let raw = match tokio::time::timeout(config.body_timeout, read).await {
        Err(_) => {
            return answer(
                StatusCode::REQUEST_TIMEOUT,
                format!("the body did not arrive within {:?}", config.body_timeout),
            );
        }
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => return too_large(limit),
        Ok(Err(e)) => {
            return answer(
                StatusCode::BAD_REQUEST,
                format!("cannot read the body: {e}"),
            );
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    let decoded = if gzip {
        body::gunzip(&raw, limit)
    } else {
        Ok(raw)
    };
    let payloads = match decoded.and_then(|b| body::split_body(&b)) {
        Ok(p) => p,
        Err(BodyError::TooLarge { limit }) => return too_large(limit),
        Err(e) => return answer(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let n = payloads.len();
    if n == 0 {
        return answer(StatusCode::OK, "");
    }
    let Some(intake) = intake else {
        return unavailable(settings, "kaudit is shutting down");
    };
    let wanted = u32::try_from(n.min(config.max_pending_events)).unwrap_or(u32::MAX);
    let Ok(permits) = Arc::clone(&shared.capacity).try_acquire_many_owned(wanted) else {
        tracing::warn!(%peer, events = n, "webhook: too many events waiting for delivery; answering 503");
        return unavailable(
            settings,
            format!("overloaded: {n} events do not fit, too many are waiting for delivery"),
        );
    };
    let (done, acknowledged) = oneshot::channel();
    let batch = Batch {
        payloads,
        peer,
        done,
        permits,
    };
    if intake.send(batch).is_err() {
        return unavailable(settings, "kaudit is shutting down");
    }
    drop(intake);
    shared
        .metrics
        .events_read
        .fetch_add(n as u64, Ordering::Relaxed);
    match tokio::time::timeout(config.ack_timeout, acknowledged).await {
        Ok(Ok(())) => answer(StatusCode::OK, ""),
        Ok(Err(_)) => unavailable(
            settings,
            "kaudit stopped before the alerts of this batch were delivered",
        ),
        Err(_) => {
            tracing::warn!(%peer, events = n, "webhook: batch not delivered within the ack timeout; answering 503");
            unavailable(
                settings,
                format!(
                    "the alerts of this batch were not delivered within {:?}",
                    config.ack_timeout
                ),
            )
        }
    }
}
