//! falcosidekick-compatible HTTP output and webhooks.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kaudit_engine::alert::Alert;
use kaudit_engine::output::{Attempt, Output};
use reqwest::header::{
    AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER,
};
use reqwest::{StatusCode, Url};

use crate::target::{BuildError, OutputOptions};

/// The `User-Agent` of every request: `kaudit/<version>`.
pub const USER_AGENT: &str = concat!("kaudit/", env!("CARGO_PKG_VERSION"));

/// How much of a refusal's body goes into [`Attempt::Rejected`]'s reason.
const REASON_BODY_BYTES: usize = 200;

/// At most this much of a response body is read (the rest is dropped with the connection).
const MAX_DRAIN_BYTES: usize = 1024 * 1024;

/// How idle pooled connections are kept: below falcosidekick's 60 s server timeouts, so the
/// client does not reuse a connection the server is closing.
const POOL_IDLE: Duration = Duration::from_secs(30);

/// What one request carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpMode {
    /// falcosidekick (and Falco's `http_output`): one `POST` per alert, one JSON object.
    Falcosidekick,
    /// A webhook: one `POST` per alert, or with `batch: Some(n)` one `POST` of a JSON array of
    /// up to `n` alerts (the whole array shares one result).
    Webhook {
        /// Alerts per request as a JSON array; `None` posts single objects.
        batch: Option<usize>,
    },
}

/// POSTs Falco's JSON alerts over HTTP(S) with a keep-alive connection pool. See the
/// [crate docs](crate) for the classification of results.
pub struct HttpOutput {
    name: String,
    url: Url,
    mode: HttpMode,
    timeout: Duration,
    client: reqwest::Client,
}

impl fmt::Debug for HttpOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpOutput")
            .field("name", &self.name)
            .field("mode", &self.mode)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// `url` with its password (if any) replaced by `***`, for names and logs.
fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

impl HttpOutput {
    /// An output posting to `url` (`http://` or `https://`) in `mode`, with the timeout, TLS
    /// files, headers and bearer token of `options` (its `batch` is ignored: `mode` says).
    ///
    /// The name is the URL (password redacted), prefixed with `webhook:` for webhooks.
    ///
    /// # Errors
    /// An invalid URL or header, a batch of 0, a CA or client certificate/key file that cannot be
    /// read or used (the error names the file).
    pub fn new(
        url: &str,
        mode: HttpMode,
        options: &OutputOptions,
    ) -> Result<HttpOutput, BuildError> {
        let url = crate::target::http_url(url).map_err(BuildError::Target)?;
        if let HttpMode::Webhook { batch: Some(0) } = mode {
            return Err(BuildError::Options("batch must be at least 1".into()));
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &options.headers {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| BuildError::Options(format!("invalid header name `{name}`: {e}")))?;
            let value = HeaderValue::from_str(value).map_err(|e| {
                BuildError::Options(format!("invalid value for header `{name}`: {e}"))
            })?;
            headers.append(header, value);
        }
        if let Some(token) = &options.bearer_token {
            let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|e| BuildError::Options(format!("invalid bearer token: {e}")))?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let tls = crate::tls::client_config(options, url.scheme() == "https")?;
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .default_headers(headers)
            .timeout(options.timeout)
            .connect_timeout(options.timeout)
            .pool_idle_timeout(POOL_IDLE)
            .redirect(reqwest::redirect::Policy::none())
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(|e| BuildError::Options(format!("HTTP client: {}", error_chain(&e))))?;
        let name = match mode {
            HttpMode::Falcosidekick => redacted(&url),
            HttpMode::Webhook { .. } => format!("webhook:{}", redacted(&url)),
        };
        Ok(HttpOutput {
            name,
            url,
            mode,
            timeout: options.timeout,
            client,
        })
    }

    /// The URL requests go to.
    #[must_use]
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// What one request carries.
    #[must_use]
    pub fn mode(&self) -> HttpMode {
        self.mode
    }

    /// One POST of `body`; the attempt, and whether the rest of the batch should not be tried
    /// (connection-level faults, 429, 503).
    async fn post(&self, body: String) -> (Attempt, bool) {
        let response = match self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
        {
            Ok(response) => response,
            Err(e) => return (Attempt::retry(self.transport_reason(&e)), true),
        };
        let status = response.status();
        let after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let body = read_body(response).await;
        if status.is_success() {
            return (Attempt::Delivered, false);
        }
        let reason = status_reason(status, &body);
        if status.is_server_error()
            || status == StatusCode::REQUEST_TIMEOUT
            || status == StatusCode::TOO_MANY_REQUESTS
        {
            let stop = status == StatusCode::TOO_MANY_REQUESTS
                || status == StatusCode::SERVICE_UNAVAILABLE;
            (Attempt::Retry { reason, after }, stop)
        } else {
            (Attempt::rejected(reason), false)
        }
    }

    fn transport_reason(&self, e: &reqwest::Error) -> String {
        if e.is_timeout() {
            format!("timeout after {:?}", self.timeout)
        } else if e.is_connect() {
            format!("connection failed: {}", error_chain(e))
        } else {
            format!("request failed: {}", error_chain(e))
        }
    }
}

/// The error's sources joined by `: ` (reqwest's own message names the URL; its sources say
/// what happened).
fn error_chain(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        parts.push(e.to_string());
    }
    parts.join(": ")
}

/// Up to [`MAX_DRAIN_BYTES`] of the body (reading it lets the connection be reused); what was
/// read before an error.
async fn read_body(mut response: reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() >= MAX_DRAIN_BYTES {
            break;
        }
    }
    body
}

/// `HTTP <code>` or `HTTP <code>: <first 200 bytes of the body, trimmed>`.
fn status_reason(status: StatusCode, body: &[u8]) -> String {
    let head = &body[..body.len().min(REASON_BODY_BYTES)];
    let text = String::from_utf8_lossy(head);
    let text = text.trim_end_matches('\u{FFFD}').trim();
    if text.is_empty() {
        format!("HTTP {}", status.as_u16())
    } else {
        format!("HTTP {}: {text}", status.as_u16())
    }
}

/// A `Retry-After` value: delay seconds (`120`) or an HTTP-date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`, as a delay from `now`, zero when it is past). `None` when
/// it is neither.
#[must_use]
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let date = jiff::fmt::rfc2822::parse(value).ok()?;
    let at = SystemTime::from(date.timestamp());
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[async_trait::async_trait]
impl Output for HttpOutput {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, batch: &[Arc<Alert>]) -> Vec<Attempt> {
        let (per_request, array) = match self.mode {
            HttpMode::Webhook { batch: Some(n) } => (n.max(1), true),
            _ => (1, false),
        };
        let mut results = Vec::with_capacity(batch.len());
        // After a retryable failure the rest is not tried (the Output contract's order rule).
        let mut stopped = false;
        for group in batch.chunks(per_request) {
            if stopped {
                results.extend(std::iter::repeat_n(Attempt::NotAttempted, group.len()));
                continue;
            }
            let mut body = String::new();
            if array {
                body.push('[');
                for (i, alert) in group.iter().enumerate() {
                    if i > 0 {
                        body.push(',');
                    }
                    alert.write_json(&mut body);
                }
                body.push(']');
            } else {
                for alert in group {
                    alert.write_json(&mut body);
                }
            }
            let (attempt, _) = self.post(body).await;
            stopped = matches!(attempt, Attempt::Retry { .. });
            results.extend(std::iter::repeat_n(attempt, group.len()));
        }
        results
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480); // 2015-10-21T07:28:00Z
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:29:30 GMT", now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("", now), None);
    }

    #[test]
    fn reasons_carry_the_body_head() {
        assert_eq!(status_reason(StatusCode::BAD_GATEWAY, b""), "HTTP 502");
        assert_eq!(
            status_reason(
                StatusCode::BAD_REQUEST,
                b"Please send a valid request body\n"
            ),
            "HTTP 400: Please send a valid request body"
        );
        let long = "x".repeat(500);
        assert_eq!(
            status_reason(StatusCode::NOT_FOUND, long.as_bytes()),
            format!("HTTP 404: {}", "x".repeat(200))
        );
        // A multi-byte character cut at byte 200 is dropped, not shown as U+FFFD.
        let mut cut = "a".repeat(199);
        cut.push('é');
        assert_eq!(
            status_reason(StatusCode::NOT_FOUND, cut.as_bytes()),
            format!("HTTP 404: {}", "a".repeat(199))
        );
    }

    #[test]
    fn passwords_are_not_shown() {
        let url = Url::parse("https://user:secret@example.com:2801/").unwrap();
        assert_eq!(redacted(&url), "https://user:***@example.com:2801/");
    }
}
