//! The CloudWatch Logs calls the source makes, behind a trait so the cursor logic is tested
//! against an in-process fake, and the AWS SDK implementation of it.

use std::fmt;

use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::error::{ProvideErrorMetadata, SdkError};

use crate::source::ErrorClass;

/// One `FilterLogEvents` page request. The window is inclusive at both ends, as in the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterRequest {
    /// The log group name.
    pub log_group: String,
    /// `logStreamNamePrefix`, if any.
    pub stream_prefix: Option<String>,
    /// `startTime` in ms (inclusive).
    pub start_ms: i64,
    /// `endTime` in ms (inclusive); always set.
    pub end_ms: i64,
    /// `nextToken` of the previous page of the same window.
    pub next_token: Option<String>,
    /// `limit`.
    pub limit: Option<i32>,
}

/// One log event as `FilterLogEvents` returns it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct LogEvent {
    /// `logStreamName`.
    pub stream: String,
    /// `timestamp` (ms).
    pub timestamp_ms: i64,
    /// `ingestionTime` (ms).
    pub ingestion_time_ms: i64,
    /// `eventId` (opaque).
    pub event_id: String,
    /// `message`.
    pub message: String,
}

/// One page of results.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Page {
    /// The events (possibly none, even when more follow).
    pub events: Vec<LogEvent>,
    /// Present when more pages may follow.
    pub next_token: Option<String>,
}

/// A failed call, classified (requirement R6).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ClientError {
    /// How to react.
    pub class: ErrorClass,
    /// The service error code (`ThrottlingException`) or a transport label (`dispatch`).
    pub code: String,
    /// The message, with the full error chain.
    pub message: String,
}

impl ClientError {
    /// A new error.
    pub fn new(class: ErrorClass, code: impl Into<String>, message: impl Into<String>) -> Self {
        ClientError {
            class,
            code: code.into(),
            message: message.into(),
        }
    }
}

/// The CloudWatch Logs operations the source uses.
///
/// Declared with the `async-trait` crate's attribute (so `Arc<dyn LogsClient>` works);
/// implement it with `#[async_trait::async_trait]`. The request and page types are this
/// crate's own, not the SDK's, so a fake client for tests needs no AWS types.
#[async_trait]
pub trait LogsClient: Send + Sync + fmt::Debug {
    /// One `FilterLogEvents` page.
    async fn filter_log_events(&self, request: &FilterRequest) -> Result<Page, ClientError>;

    /// `DescribeLogStreams(limit=1)` on the group and prefix: the start-up self-test. Returns the
    /// first stream name, if any.
    async fn describe_first_stream(
        &self,
        log_group: &str,
        stream_prefix: Option<&str>,
    ) -> Result<Option<String>, ClientError>;
}

/// Error codes that mean "slow down" (the SDK's own throttling list).
const THROTTLING: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

const AUTH: &[&str] = &[
    "AccessDeniedException",
    "AccessDenied",
    "ExpiredTokenException",
    "ExpiredToken",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "NotAuthorized",
];

const CONFIG: &[&str] = &[
    "ResourceNotFoundException",
    "InvalidParameterException",
    "InvalidOperationException",
    "ValidationException",
    "MalformedQueryException",
];

/// Classifies a service error code and HTTP status.
pub(crate) fn classify_code(code: &str, status: Option<u16>) -> ErrorClass {
    if THROTTLING.contains(&code) || status == Some(429) {
        ErrorClass::Throttling
    } else if AUTH.contains(&code) || matches!(status, Some(401 | 403)) {
        ErrorClass::Auth
    } else if CONFIG.contains(&code) {
        ErrorClass::Config
    } else {
        // ServiceUnavailableException, InternalFailure, 5xx, and anything unknown: retry.
        ErrorClass::Transient
    }
}

/// Advice added to configuration and credential errors.
pub(crate) fn advice(code: &str) -> &'static str {
    match code {
        "ResourceNotFoundException" => {
            " (check the log group name and the region; for EKS enable the `audit` control-plane log type)"
        }
        "InvalidOperationException" => {
            " (FilterLogEvents does not work on INFREQUENT_ACCESS log groups: use a STANDARD log group)"
        }
        "AccessDeniedException" | "AccessDenied" => {
            " (grant logs:FilterLogEvents and logs:DescribeLogStreams on the log group, see docs/cloudwatch.md)"
        }
        "ExpiredTokenException" | "ExpiredToken" | "UnrecognizedClientException" => {
            " (credentials are expired or unknown: check AWS_PROFILE / IRSA / Pod Identity)"
        }
        _ => "",
    }
}

/// The messages of `err` and its sources, joined with `: `, each once (a message that repeats
/// the one before it is dropped): one readable line instead of the SDK's nested `Debug` dump.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        // One line: some SDK messages list what they tried on lines of their own.
        let msg = e
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if !msg.is_empty() && !parts.iter().any(|p| p.contains(&msg)) {
            parts.push(msg);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// The likely cause of a failure whose message chain is `chain`, as advice for the operator.
pub(crate) fn likely_cause(chain: &str) -> Option<&'static str> {
    let c = chain.to_ascii_lowercase();
    let cause = if c.contains("profile") && (c.contains("not defined") || c.contains("not found")) {
        "the profile is not defined in ~/.aws/config or ~/.aws/credentials (check --profile / AWS_PROFILE)"
    } else if c.contains("credential") {
        "no AWS credentials were found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run with IRSA / EKS Pod Identity / an instance role"
    } else if c.contains("connection refused") {
        "connection refused: check --endpoint-url and that the endpoint is reachable"
    } else if c.contains("dns error") || c.contains("failed to lookup address") {
        "the endpoint's host name does not resolve: check --region / --endpoint-url and DNS"
    } else if c.contains("certificate") || c.contains("tls") {
        "TLS failed: the endpoint's certificate is not trusted (see the TLS section of docs/cloudwatch.md)"
    } else if c.contains("timed out") || c.contains("timeout") {
        "the request timed out: check network access to the CloudWatch Logs endpoint (VPC endpoint, proxy, security groups)"
    } else if c.contains("region") {
        "no region is set: pass --region or set AWS_REGION"
    } else {
        return None;
    };
    Some(cause)
}

/// `chain`, with its likely cause first when one is known.
fn readable(chain: String) -> String {
    match likely_cause(&chain) {
        Some(cause) => format!("{cause} ({chain})"),
        None => chain,
    }
}

/// Maps an SDK error to a [`ClientError`].
pub(crate) fn map_sdk_error<E>(
    err: &SdkError<E, aws_sdk_cloudwatchlogs::config::http::HttpResponse>,
) -> ClientError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let chain = readable(error_chain(err));
    match err {
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            // Responses always carry the code; a modeled error built in-process may not, so
            // fall back to its Display form (`Code: message`); a response the JSON protocol
            // could not read (an XML error from a proxy or an emulator) to its `<Code>` and
            // body, else the HTTP status.
            let shown = se.err().to_string();
            let body = se
                .raw()
                .body()
                .bytes()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            let (code, message) = match (se.err().code(), shown.split_once(": ")) {
                (Some(code), shown_parts) => (
                    code.to_owned(),
                    se.err()
                        .message()
                        .or(shown_parts.map(|(_, m)| m))
                        .unwrap_or_default()
                        .to_owned(),
                ),
                (None, Some((code, message))) => (code.to_owned(), message.to_owned()),
                (None, None) => (
                    xml_code(&body).map_or_else(|| format!("HTTP {status}"), str::to_owned),
                    xml_message(&body).unwrap_or(&shown).to_owned(),
                ),
            };
            let class = classify_code(&code, Some(status));
            ClientError::new(class, code.clone(), format!("{message}{}", advice(&code)))
        }
        SdkError::TimeoutError(_) => ClientError::new(ErrorClass::Transient, "timeout", chain),
        SdkError::DispatchFailure(d) => {
            // No credentials at all surfaces here ("failed to load credentials"), as do TLS,
            // DNS and connection failures.
            let class = if chain.contains("credential") {
                ErrorClass::Auth
            } else {
                ErrorClass::Transient
            };
            let code = if d.is_io() { "io" } else { "dispatch" };
            ClientError::new(class, code, chain)
        }
        SdkError::ResponseError(_) => ClientError::new(ErrorClass::Transient, "response", chain),
        SdkError::ConstructionFailure(_) => {
            let class = if chain.contains("credential") {
                ErrorClass::Auth
            } else {
                ErrorClass::Config
            };
            ClientError::new(class, "construction", chain)
        }
        _ => ClientError::new(ErrorClass::Transient, "unknown", chain),
    }
}

/// The text of the first `<tag>…</tag>` in `body`.
fn xml_element<'a>(body: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = body.find(&open)? + open.len();
    let len = body[start..].find(&format!("</{tag}>"))?;
    Some(body[start..start + len].trim()).filter(|t| !t.is_empty())
}

/// The error code of an XML error body (`<Code>InvalidClientTokenId</Code>`).
fn xml_code(body: &str) -> Option<&str> {
    xml_element(body, "Code")
}

/// The message of an XML error body.
fn xml_message(body: &str) -> Option<&str> {
    xml_element(body, "Message")
}

/// [`LogsClient`] over the AWS SDK.
#[derive(Debug, Clone)]
pub struct SdkLogsClient {
    client: aws_sdk_cloudwatchlogs::Client,
}

impl SdkLogsClient {
    /// Wraps an SDK client.
    ///
    /// Takes the AWS SDK's own client on purpose: this is the seam for an SDK client built in
    /// code (its own credentials provider, endpoint, retry or HTTP settings) that
    /// [`CloudWatchConfig`](super::CloudWatchConfig) does not cover. The SDK (1.x) is the
    /// `cloudwatch` feature's dependency anyway; everything else in the source speaks
    /// [`LogsClient`]'s own types.
    pub fn new(client: aws_sdk_cloudwatchlogs::Client) -> Self {
        SdkLogsClient { client }
    }
}

#[async_trait]
impl LogsClient for SdkLogsClient {
    async fn filter_log_events(&self, r: &FilterRequest) -> Result<Page, ClientError> {
        let out = self
            .client
            .filter_log_events()
            .log_group_name(&r.log_group)
            .set_log_stream_name_prefix(r.stream_prefix.clone())
            .start_time(r.start_ms)
            .end_time(r.end_ms)
            .set_next_token(r.next_token.clone())
            .set_limit(r.limit)
            .send()
            .await
            .map_err(|e| map_sdk_error(&e))?;
        let events = out
            .events()
            .iter()
            .map(|e| LogEvent {
                stream: e.log_stream_name().unwrap_or_default().to_owned(),
                timestamp_ms: e.timestamp().unwrap_or_default(),
                ingestion_time_ms: e.ingestion_time().unwrap_or_default(),
                event_id: e.event_id().unwrap_or_default().to_owned(),
                message: e.message().unwrap_or_default().to_owned(),
            })
            .collect();
        Ok(Page {
            events,
            next_token: out.next_token().map(str::to_owned),
        })
    }

    async fn describe_first_stream(
        &self,
        log_group: &str,
        stream_prefix: Option<&str>,
    ) -> Result<Option<String>, ClientError> {
        let out = self
            .client
            .describe_log_streams()
            .log_group_name(log_group)
            .set_log_stream_name_prefix(stream_prefix.map(str::to_owned))
            .limit(1)
            .send()
            .await
            .map_err(|e| map_sdk_error(&e))?;
        Ok(out
            .log_streams()
            .first()
            .and_then(|s| s.log_stream_name())
            .map(str::to_owned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_error_bodies_give_their_code_and_message() {
        let body = r#"<?xml version="1.0" encoding="utf-8"?>
<ErrorResponse><Errors><Error><Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message><Type>Sender</Type></Error></Errors></ErrorResponse>"#;
        assert_eq!(xml_code(body), Some("InvalidClientTokenId"));
        assert_eq!(
            xml_message(body),
            Some("The security token included in the request is invalid.")
        );
        assert_eq!(xml_code("<html>503</html>"), None);
        assert_eq!(xml_code("<Code></Code>"), None);
        assert_eq!(classify_code("HTTP 403", Some(403)), ErrorClass::Auth);
        assert_eq!(
            classify_code("InvalidClientTokenId", None),
            ErrorClass::Auth
        );
    }
}
