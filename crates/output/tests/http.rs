//! The falcosidekick-compatible HTTP output and webhooks against the real test receiver on
//! 127.0.0.1: one JSON object per request, every classification, falcosidekick's acceptance
//! rules, stop/restart on the same port, webhook batching.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]
#![allow(clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::time::Duration;

use common::{exec_alert, exec_alerts};
use kaudit_engine::alert::{AlertFormat, FieldValue};
use kaudit_engine::output::{Attempt, Output};
use kaudit_output::testing::{Behaviour, INVALID_BODY, Receiver};
use kaudit_output::{
    BuildError, HttpMode, HttpOutput, OutputOptions, Target, USER_AGENT, build_output,
};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn falcosidekick(receiver: &Receiver) -> HttpOutput {
    HttpOutput::new(
        &receiver.url(),
        HttpMode::Falcosidekick,
        &OutputOptions::default(),
    )
    .unwrap()
}

fn retry(reason: &str, after: Option<Duration>) -> Attempt {
    Attempt::Retry {
        reason: reason.to_owned(),
        after,
    }
}

#[tokio::test]
async fn posts_one_json_object_per_alert_on_a_kept_alive_connection() {
    let receiver = Receiver::start(Behaviour::AcceptAll).await.unwrap();
    let output = falcosidekick(&receiver);
    assert_eq!(output.name(), receiver.url());
    let alerts = exec_alerts(3);
    assert_eq!(output.send(&alerts).await, vec![Attempt::Delivered; 3]);
    output.flush().await.unwrap();

    let requests = receiver.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(
        requests[0].body_text(),
        r#"{"hostname":"kaudit-test","output":"20:53:20.000000000: Notice Attach/Exec to pod (user=kubernetes-admin pod=web-0 resource=pods ns=default action=exec command=sh)","output_fields":{"evt.time":1733000000000000000,"ka.target.name":"web-0","ka.target.namespace":"default","ka.target.resource":"pods","ka.target.subresource":"exec","ka.uri.param[command]":"sh","ka.user.name":"kubernetes-admin"},"priority":"Notice","rule":"Attach/Exec Pod","source":"k8s_audit","tags":["k8s"],"time":"2024-11-30T20:53:20.000000000Z"}"#
    );
    for (request, alert) in requests.iter().zip(&alerts) {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/");
        assert_eq!(request.body_text(), alert.to_json());
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(request.header("user-agent"), Some(USER_AGENT));
        assert!(USER_AGENT.starts_with("kaudit/"));
        assert_eq!(request.status, Some(200));
        // The pool keeps one connection alive for all three.
        assert_eq!(request.peer, requests[0].peer);
    }
    let expected: Vec<serde_json::Value> = alerts
        .iter()
        .map(|a| serde_json::to_value(&**a).unwrap())
        .collect();
    assert_eq!(receiver.accepted(), expected);
    assert_eq!(receiver.request_count(), 3);
}

#[tokio::test]
async fn classifies_every_status() {
    let receiver = Receiver::start(Behaviour::AcceptAll).await.unwrap();
    let output = falcosidekick(&receiver);
    let cases: Vec<(u16, &str, Option<&str>, Attempt)> = vec![
        (200, "", None, Attempt::Delivered),
        (202, "queued", None, Attempt::Delivered),
        (204, "", None, Attempt::Delivered),
        (
            503,
            "",
            Some("7"),
            retry("HTTP 503", Some(Duration::from_secs(7))),
        ),
        (500, "boom\n", None, retry("HTTP 500: boom", None)),
        (502, "", Some("soon"), retry("HTTP 502", None)),
        (
            429,
            "slow down",
            Some("1"),
            retry("HTTP 429: slow down", Some(Duration::from_secs(1))),
        ),
        (408, "", None, retry("HTTP 408", None)),
        (
            400,
            "Please send a valid request body\n",
            None,
            Attempt::rejected("HTTP 400: Please send a valid request body"),
        ),
        (
            404,
            "404 page not found",
            None,
            Attempt::rejected("HTTP 404: 404 page not found"),
        ),
        (401, "", None, Attempt::rejected("HTTP 401")),
        (413, "", Some("5"), Attempt::rejected("HTTP 413")),
        (301, "", None, Attempt::rejected("HTTP 301")),
    ];
    let alert = exec_alerts(1);
    for (status, body, retry_after, expected) in cases {
        receiver.set_behaviour(Behaviour::Respond {
            status,
            body: body.to_owned(),
            retry_after: retry_after.map(str::to_owned),
        });
        assert_eq!(output.send(&alert).await, vec![expected], "HTTP {status}");
    }

    // A body longer than 200 bytes is cut.
    receiver.set_behaviour(Behaviour::Respond {
        status: 422,
        body: "e".repeat(1000),
        retry_after: None,
    });
    assert_eq!(
        output.send(&alert).await,
        vec![Attempt::rejected(format!("HTTP 422: {}", "e".repeat(200)))]
    );

    // Retry-After as an HTTP-date, an hour from now.
    let in_an_hour = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3600);
    let date = jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&in_an_hour)
        .unwrap();
    assert!(date.ends_with(" GMT"), "{date}");
    receiver.set_behaviour(Behaviour::Respond {
        status: 503,
        body: String::new(),
        retry_after: Some(date),
    });
    match output.send(&alert).await.as_slice() {
        [
            Attempt::Retry {
                reason,
                after: Some(after),
            },
        ] => {
            assert_eq!(reason, "HTTP 503");
            assert!(
                (Duration::from_secs(3590)..=Duration::from_secs(3600)).contains(after),
                "{after:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn refusals_stop_the_batch_and_the_receiver_recovers() {
    let receiver = Receiver::start(Behaviour::RefuseFirst {
        count: 2,
        retry_after: Some("3".into()),
    })
    .await
    .unwrap();
    let output = falcosidekick(&receiver);
    let alerts = exec_alerts(3);
    let refused = vec![
        retry("HTTP 503", Some(Duration::from_secs(3))),
        Attempt::NotAttempted,
        Attempt::NotAttempted,
    ];
    // A 503 leaves the rest of the batch unsent.
    assert_eq!(output.send(&alerts).await, refused);
    assert_eq!(receiver.request_count(), 1);
    assert_eq!(output.send(&alerts).await, refused);
    assert_eq!(receiver.request_count(), 2);
    assert_eq!(output.send(&alerts).await, vec![Attempt::Delivered; 3]);
    assert_eq!(receiver.request_count(), 5);
    let expected: Vec<serde_json::Value> = alerts
        .iter()
        .map(|a| serde_json::to_value(&**a).unwrap())
        .collect();
    assert_eq!(receiver.accepted(), expected);
}

#[tokio::test]
async fn rejections_do_not_stop_the_batch() {
    let receiver = Receiver::start(Behaviour::RejectAll).await.unwrap();
    let output = falcosidekick(&receiver);
    assert_eq!(
        output.send(&exec_alerts(2)).await,
        vec![Attempt::rejected("HTTP 400: rejected"); 2]
    );
    assert_eq!(receiver.request_count(), 2);
    assert!(receiver.accepted().is_empty());
}

#[tokio::test]
async fn connection_refused_while_down_then_delivered_on_the_same_port() {
    let mut receiver = Receiver::start(Behaviour::AcceptAll).await.unwrap();
    let url = receiver.url();
    let output = falcosidekick(&receiver);
    let alerts = exec_alerts(2);
    assert_eq!(output.send(&alerts[..1]).await, vec![Attempt::Delivered]);

    receiver.stop().await;
    assert!(!receiver.is_running());
    let attempts = output.send(&alerts).await;
    assert_eq!(attempts.len(), 2);
    match &attempts[0] {
        Attempt::Retry {
            reason,
            after: None,
        } => {
            assert!(reason.starts_with("connection failed: "), "{reason}");
            assert!(reason.to_lowercase().contains("refused"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // The second alert is not tried against a receiver that is down.
    assert_eq!(attempts[1], Attempt::NotAttempted);
    assert_eq!(receiver.request_count(), 1);

    receiver.restart().await.unwrap();
    assert_eq!(receiver.url(), url);
    assert_eq!(output.send(&alerts).await, vec![Attempt::Delivered; 2]);
    assert_eq!(receiver.request_count(), 3);
}

#[tokio::test]
async fn a_slow_receiver_times_out() {
    let receiver = Receiver::start(Behaviour::Stall {
        delay: Duration::from_secs(5),
    })
    .await
    .unwrap();
    let options = OutputOptions {
        timeout: Duration::from_millis(200),
        ..OutputOptions::default()
    };
    let output = HttpOutput::new(&receiver.url(), HttpMode::Falcosidekick, &options).unwrap();
    let started = std::time::Instant::now();
    assert_eq!(
        output.send(&exec_alerts(2)).await,
        vec![retry("timeout after 200ms", None), Attempt::NotAttempted]
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(receiver.request_count(), 1);
}

#[tokio::test]
async fn falcosidekick_accepts_kaudits_alerts_and_refuses_broken_ones() {
    let receiver = Receiver::start(Behaviour::Falcosidekick).await.unwrap();
    let output = falcosidekick(&receiver);

    let mut info = exec_alert(7);
    info.priority = kaudit_engine::Priority::Informational;
    let good = vec![Arc::new(exec_alert(1)), Arc::new(info)];
    assert_eq!(output.send(&good).await, vec![Attempt::Delivered; 2]);
    let expected: Vec<serde_json::Value> = good
        .iter()
        .map(|a| serde_json::to_value(&**a).unwrap())
        .collect();
    assert_eq!(receiver.accepted(), expected);
    assert_eq!(receiver.accepted()[1]["priority"], "Informational");

    let mut no_rule = exec_alert(2);
    no_rule.rule = String::new();
    let mut no_fields = exec_alert(3);
    no_fields.output_fields.clear();
    let refused = Attempt::rejected(format!("HTTP 400: {INVALID_BODY}"));
    assert_eq!(
        output.send(&[Arc::new(no_rule), Arc::new(no_fields)]).await,
        vec![refused.clone(), refused]
    );
    assert_eq!(receiver.accepted().len(), 2);

    // A non-string pod name makes falcosidekick panic and drop the connection: a retry.
    let mut panics = exec_alert(4);
    panics
        .output_fields
        .insert("k8s.pod.name".into(), FieldValue::Uint(3));
    match output.send(&[Arc::new(panics)]).await.as_slice() {
        [
            Attempt::Retry {
                reason,
                after: None,
            },
        ] => {
            assert!(reason.starts_with("request failed: "), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let requests = receiver.requests();
    assert_eq!(requests.len(), 5);
    assert_eq!(requests[4].status, None);

    // Everything after the first JSON value is ignored; a GET is refused.
    let ndjson = format!("{}\n{}\n", exec_alert(5).to_json(), exec_alert(6).to_json());
    let answer = raw_request(&receiver, "POST", &ndjson).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert_eq!(receiver.accepted().len(), 3);
    assert_eq!(
        receiver.accepted()[2]["output_fields"]["ka.target.name"],
        "web-5"
    );
    let answer = raw_request(&receiver, "GET", "").await;
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(
        answer.ends_with("\r\n\r\nPlease send with post http method\n"),
        "{answer}"
    );
    let array = format!("[{}]", exec_alert(8).to_json());
    let answer = raw_request(&receiver, "POST", &array).await;
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(
        answer.ends_with("\r\n\r\nPlease send a valid request body\n"),
        "{answer}"
    );
}

/// One request on its own connection; the whole response as text.
async fn raw_request(receiver: &Receiver, method: &str, body: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(receiver.addr())
        .await
        .unwrap();
    let request = format!(
        "{method} /alerts HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        receiver.addr(),
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test]
async fn webhooks_batch_alerts_into_json_arrays_with_auth_headers() {
    let receiver = Receiver::start(Behaviour::AcceptAll).await.unwrap();
    let options = OutputOptions {
        batch: Some(2),
        bearer_token: Some("s3cret".into()),
        headers: vec![("X-Team".into(), "security".into())],
        ..OutputOptions::default()
    };
    let target: Target = format!("webhook:{}", receiver.url()).parse().unwrap();
    let output = build_output(&target, &options, AlertFormat::Text).unwrap();
    assert_eq!(output.name(), format!("webhook:{}", receiver.url()));
    let alerts = exec_alerts(3);
    assert_eq!(output.send(&alerts).await, vec![Attempt::Delivered; 3]);

    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].body_text(),
        format!("[{},{}]", alerts[0].to_json(), alerts[1].to_json())
    );
    assert_eq!(
        requests[1].body_text(),
        format!("[{}]", alerts[2].to_json())
    );
    for request in &requests {
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(request.header("authorization"), Some("Bearer s3cret"));
        assert_eq!(request.header("x-team"), Some("security"));
        assert_eq!(request.header("user-agent"), Some(USER_AGENT));
    }
    assert_eq!(receiver.accepted().len(), 3);

    // The whole batch shares one result.
    receiver.set_behaviour(Behaviour::RejectAll);
    assert_eq!(
        output.send(&alerts).await,
        vec![Attempt::rejected("HTTP 400: rejected"); 3]
    );
    assert_eq!(receiver.request_count(), 4);
}

#[tokio::test]
async fn webhooks_without_batch_post_single_objects() {
    let receiver = Receiver::start(Behaviour::AcceptAll).await.unwrap();
    let output = HttpOutput::new(
        &receiver.url(),
        HttpMode::Webhook { batch: None },
        &OutputOptions::default(),
    )
    .unwrap();
    let alerts = exec_alerts(2);
    assert_eq!(output.send(&alerts).await, vec![Attempt::Delivered; 2]);
    let bodies: Vec<String> = receiver.requests().iter().map(|r| r.body_text()).collect();
    assert_eq!(bodies, vec![alerts[0].to_json(), alerts[1].to_json()]);
    assert_eq!(receiver.requests()[0].header("authorization"), None);
}

#[tokio::test]
async fn build_output_refuses_batching_falcosidekick_and_bad_options() {
    let target = Target::Http("http://127.0.0.1:2801/".into());
    let batched = OutputOptions {
        batch: Some(10),
        ..OutputOptions::default()
    };
    let err = build_output(&target, &batched, AlertFormat::Json).unwrap_err();
    assert!(matches!(err, BuildError::Options(_)));
    assert!(err.to_string().contains("http://127.0.0.1:2801/"), "{err}");

    let output = build_output(&target, &OutputOptions::default(), AlertFormat::Json).unwrap();
    assert_eq!(output.name(), "http://127.0.0.1:2801/");

    let zero = OutputOptions {
        batch: Some(0),
        ..OutputOptions::default()
    };
    let webhook = Target::Webhook("http://127.0.0.1:2801/".into());
    let err = build_output(&webhook, &zero, AlertFormat::Json).unwrap_err();
    assert_eq!(err.to_string(), "batch must be at least 1");

    let bad_header = OutputOptions {
        headers: vec![("Bad Header".into(), "x".into())],
        ..OutputOptions::default()
    };
    let err = build_output(&webhook, &bad_header, AlertFormat::Json).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid header name `Bad Header`"),
        "{err}"
    );

    let with_password = HttpOutput::new(
        "https://kaudit:hunter2@sidekick.example:2801",
        HttpMode::Falcosidekick,
        &OutputOptions::default(),
    )
    .unwrap();
    assert_eq!(
        with_password.name(),
        "https://kaudit:***@sidekick.example:2801/"
    );
    let debug = format!(
        "{:?}",
        OutputOptions {
            bearer_token: Some("s3cret".into()),
            ..OutputOptions::default()
        }
    );
    assert!(!debug.contains("s3cret"), "{debug}");
}

#[tokio::test]
async fn the_receiver_can_be_waited_on() {
    let receiver = Receiver::start(Behaviour::AcceptAll).await.unwrap();
    let output = falcosidekick(&receiver);
    let sender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        output.send(&exec_alerts(2)).await
    });
    assert!(receiver.wait_for_accepted(2, Duration::from_secs(5)).await);
    assert!(receiver.wait_for_requests(2, Duration::ZERO).await);
    assert_eq!(sender.await.unwrap(), vec![Attempt::Delivered; 2]);
    assert!(
        !receiver
            .wait_for_requests(3, Duration::from_millis(30))
            .await
    );
    receiver.clear();
    assert_eq!(receiver.request_count(), 0);
}
