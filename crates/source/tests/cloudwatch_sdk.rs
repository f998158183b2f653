//! SDK-level tests with `aws-smithy-mocks`: wire errors are classified as R6 requires, pages are
//! mapped field by field, and the whole source runs over mocked SDK pages.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers and fakes: a broken invariant fails the test"
)]

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::operation::filter_log_events::{
    FilterLogEventsError, FilterLogEventsOutput,
};
use aws_sdk_cloudwatchlogs::types::FilteredLogEvent;
use aws_sdk_cloudwatchlogs::types::error::ResourceNotFoundException;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
use aws_smithy_types::body::SdkBody;
use futures::StreamExt;
use kaudit_source::ErrorClass;
use kaudit_source::Source;
use kaudit_source::cloudwatch::{
    CloudWatchConfig, CloudWatchSource, FilterRequest, LogEvent, LogsClient, Page, SdkLogsClient,
    StartPosition, TokioClock,
};

const T0: i64 = 1_795_773_600_000;

fn json_error(status: u16, body: &'static str) -> HttpResponse {
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

fn request(token: Option<&str>) -> FilterRequest {
    FilterRequest {
        log_group: "/aws/eks/test/cluster".into(),
        stream_prefix: Some("kube-apiserver-audit".into()),
        start_ms: T0,
        end_ms: T0 + 10_000,
        next_token: token.map(str::to_owned),
        limit: None,
    }
}

fn event(stream: &str, ts: i64, id: &str) -> FilteredLogEvent {
    FilteredLogEvent::builder()
        .log_stream_name(stream)
        .timestamp(ts)
        .ingestion_time(ts + 7)
        .event_id(id)
        .message(format!("{{\"auditID\":\"{id}\"}}"))
        .build()
}

#[tokio::test]
async fn r6_sdk_errors_are_classified() {
    let throttle = mock!(Client::filter_log_events).then_http_response(|| {
        json_error(
            400,
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
        )
    });
    let not_found = mock!(Client::filter_log_events).then_error(|| {
        FilterLogEventsError::ResourceNotFoundException(
            ResourceNotFoundException::builder()
                .message("The specified log group does not exist.")
                .build(),
        )
    });
    let denied = mock!(Client::filter_log_events).then_http_response(|| {
        json_error(
            400,
            r#"{"__type":"AccessDeniedException","message":"User is not authorized to perform: logs:FilterLogEvents"}"#,
        )
    });
    let infrequent = mock!(Client::filter_log_events).then_http_response(|| {
        json_error(
            400,
            r#"{"__type":"InvalidOperationException","message":"FilterLogEvents is not supported for this log class"}"#,
        )
    });
    let unavailable = mock!(Client::filter_log_events).then_http_response(|| {
        json_error(
            503,
            r#"{"__type":"ServiceUnavailableException","message":"try again"}"#,
        )
    });
    let expired = mock!(Client::filter_log_events).then_http_response(|| {
        json_error(400, r#"{"__type":"ExpiredTokenException","message":"The security token included in the request is expired"}"#)
    });
    let client = mock_client!(
        aws_sdk_cloudwatchlogs,
        RuleMode::Sequential,
        [
            &throttle,
            &not_found,
            &denied,
            &infrequent,
            &unavailable,
            &expired
        ],
        |c| c.retry_config(RetryConfig::disabled())
    );
    let logs = SdkLogsClient::new(client);
    let mut got = Vec::new();
    for _ in 0..6 {
        let e = logs.filter_log_events(&request(None)).await.unwrap_err();
        got.push((e.class, e.code.clone(), e.message.clone()));
    }
    assert_eq!(
        got,
        vec![
            (ErrorClass::Throttling, "ThrottlingException".into(), "Rate exceeded".into()),
            (
                ErrorClass::Config,
                "ResourceNotFoundException".into(),
                "The specified log group does not exist. (check the log group name and the region; for EKS enable the `audit` control-plane log type)".into()
            ),
            (
                ErrorClass::Auth,
                "AccessDeniedException".into(),
                "User is not authorized to perform: logs:FilterLogEvents (grant logs:FilterLogEvents and logs:DescribeLogStreams on the log group, see docs/cloudwatch.md)".into()
            ),
            (
                ErrorClass::Config,
                "InvalidOperationException".into(),
                "FilterLogEvents is not supported for this log class (FilterLogEvents does not work on INFREQUENT_ACCESS log groups: use a STANDARD log group)".into()
            ),
            (ErrorClass::Transient, "ServiceUnavailableException".into(), "try again".into()),
            (
                ErrorClass::Auth,
                "ExpiredTokenException".into(),
                "The security token included in the request is expired (credentials are expired or unknown: check AWS_PROFILE / IRSA / Pod Identity)".into()
            ),
        ]
    );
}

#[tokio::test]
async fn r2_sdk_pages_are_mapped_with_tokens() {
    let page = mock!(Client::filter_log_events)
        .match_requests(|r| {
            r.start_time() == Some(T0)
                && r.end_time() == Some(T0 + 10_000)
                && r.next_token().is_none()
        })
        .then_output(|| {
            FilterLogEventsOutput::builder()
                .events(event("kube-apiserver-audit-a", T0 + 5, "e1"))
                .next_token("tok-2")
                .build()
        });
    let client = mock_client!(aws_sdk_cloudwatchlogs, [&page]);
    let logs = SdkLogsClient::new(client);
    assert_eq!(
        logs.filter_log_events(&request(None)).await.unwrap(),
        Page {
            events: vec![LogEvent {
                stream: "kube-apiserver-audit-a".into(),
                timestamp_ms: T0 + 5,
                ingestion_time_ms: T0 + 12,
                event_id: "e1".into(),
                message: r#"{"auditID":"e1"}"#.into(),
            }],
            next_token: Some("tok-2".into()),
        }
    );
}

#[tokio::test(start_paused = true)]
async fn r3_source_over_sdk_pages_repeated_timestamp_across_page_boundary() {
    // Page 1 ends and page 2 starts in the same millisecond; page 2 is reached through an
    // empty page with a token. Every later poll returns the same events again (overlap).
    let p1 = mock!(Client::filter_log_events)
        .match_requests(|r| r.next_token().is_none())
        .then_output(|| {
            FilterLogEventsOutput::builder()
                .events(event("kube-apiserver-audit-a", T0 + 5, "e1"))
                .events(event("kube-apiserver-audit-a", T0 + 9, "e2"))
                .next_token("empty")
                .build()
        });
    let p_empty = mock!(Client::filter_log_events)
        .match_requests(|r| r.next_token() == Some("empty"))
        .then_output(|| FilterLogEventsOutput::builder().next_token("p2").build());
    let p2 = mock!(Client::filter_log_events)
        .match_requests(|r| r.next_token() == Some("p2"))
        .then_output(|| {
            FilterLogEventsOutput::builder()
                .events(event("kube-apiserver-audit-b", T0 + 9, "e3"))
                .events(event("kube-apiserver-audit-a", T0 + 9, "e2"))
                .build()
        });
    let client = mock_client!(
        aws_sdk_cloudwatchlogs,
        RuleMode::MatchAny,
        [&p1, &p_empty, &p2]
    );
    let clock = TokioClock::starting_at(T0 + 60_000);
    let mut cfg = CloudWatchConfig::new("/aws/eks/test/cluster");
    cfg.start = StartPosition::At(T0);
    cfg.settle_lag = Duration::from_secs(2);
    cfg.overlap = Duration::from_secs(4);
    cfg.poll_interval = Duration::from_secs(1);
    cfg.max_calls_per_second = 5.0;
    let src = CloudWatchSource::with_client(
        cfg,
        "eu-west-1",
        Arc::new(SdkLogsClient::new(client)),
        Arc::new(clock),
    );
    let mut s = src.stream(None);
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(s.next().await.unwrap().unwrap().meta.event_id.unwrap());
    }
    assert_eq!(ids, vec!["e1", "e2", "e3"]);
    // Ten more polls bring nothing new.
    if let Ok(item) = tokio::time::timeout(Duration::from_secs(10), s.next()).await {
        panic!("unexpected item {:?}", item.map(|r| r.map(|r| r.payload)));
    }
    let m = src.metrics();
    assert_eq!(m.events_emitted, 3);
    // e2 came twice in the first window (page boundary); later polls' windows no longer
    // contain T0, so the service's out-of-window answers are filtered, not re-emitted.
    assert_eq!(m.duplicates_dropped, 1, "{m:?}");
    assert!(m.filtered_out > 0, "{m:?}");
    assert_eq!(m.events_read, 3 + 1 + m.filtered_out, "{m:?}");
}
