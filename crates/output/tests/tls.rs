//! HTTPS against the test receiver with certificates generated at test time: a custom CA,
//! mutual TLS, and the errors that name unreadable or unusable files.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]
#![allow(clippy::expect_used, reason = "tests fail loudly")]

mod common;

use common::{Pki, exec_alerts};
use kaudit_engine::output::{Attempt, Output};
use kaudit_output::testing::{Behaviour, Receiver};
use kaudit_output::{BuildError, HttpMode, HttpOutput, OutputOptions};

fn output(receiver: &Receiver, options: &OutputOptions) -> HttpOutput {
    HttpOutput::new(&receiver.url(), HttpMode::Falcosidekick, options).unwrap()
}

#[tokio::test]
async fn trusts_a_custom_ca() {
    let pki = Pki::new();
    let receiver = Receiver::start_tls(Behaviour::Falcosidekick, pki.receiver(false))
        .await
        .unwrap();
    assert!(receiver.url().starts_with("https://127.0.0.1:"));
    let alerts = exec_alerts(2);

    let trusting = output(
        &receiver,
        &OutputOptions {
            ca_file: Some(pki.ca_file()),
            ..OutputOptions::default()
        },
    );
    assert_eq!(trusting.send(&alerts).await, vec![Attempt::Delivered; 2]);
    let expected: Vec<serde_json::Value> = alerts
        .iter()
        .map(|a| serde_json::to_value(&**a).unwrap())
        .collect();
    assert_eq!(receiver.accepted(), expected);

    // Without the CA the server is not trusted: a connection fault, nothing sent.
    let untrusting = output(&receiver, &OutputOptions::default());
    match untrusting.send(&alerts).await.as_slice() {
        [
            Attempt::Retry {
                reason,
                after: None,
            },
            second,
        ] => {
            assert!(reason.starts_with("connection failed: "), "{reason}");
            assert!(reason.contains("certificate"), "{reason}");
            assert_eq!(second, &Attempt::NotAttempted);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(receiver.request_count(), 2);
}

#[tokio::test]
async fn presents_a_client_certificate_for_mutual_tls() {
    let pki = Pki::new();
    let receiver = Receiver::start_tls(Behaviour::AcceptAll, pki.receiver(true))
        .await
        .unwrap();
    let alerts = exec_alerts(1);

    let with_cert = output(
        &receiver,
        &OutputOptions {
            ca_file: Some(pki.ca_file()),
            client_cert: Some(pki.client_cert_file()),
            client_key: Some(pki.client_key_file()),
            ..OutputOptions::default()
        },
    );
    assert_eq!(with_cert.send(&alerts).await, vec![Attempt::Delivered]);
    assert_eq!(receiver.requests()[0].body_text(), alerts[0].to_json());

    // The server refuses a client without a certificate: a retry, no request recorded.
    let without_cert = output(
        &receiver,
        &OutputOptions {
            ca_file: Some(pki.ca_file()),
            ..OutputOptions::default()
        },
    );
    match without_cert.send(&alerts).await.as_slice() {
        [Attempt::Retry { after: None, .. }] => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(receiver.request_count(), 1);
}

#[test]
fn unreadable_and_unusable_files_are_named() {
    let pki = Pki::new();
    let url = "https://127.0.0.1:2801/";
    let missing = pki.dir().join("missing-ca.pem");
    let err = HttpOutput::new(
        url,
        HttpMode::Falcosidekick,
        &OutputOptions {
            ca_file: Some(missing.clone()),
            ..OutputOptions::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, BuildError::Open { ref path, .. } if *path == missing));
    assert!(
        err.to_string()
            .starts_with(&format!("cannot open `{}`: ", missing.display())),
        "{err}"
    );

    let garbage = pki.dir().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let err = HttpOutput::new(
        url,
        HttpMode::Falcosidekick,
        &OutputOptions {
            ca_file: Some(garbage.clone()),
            ..OutputOptions::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("`{}`: no CERTIFICATE in the PEM file", garbage.display())
    );

    // A key file that holds a certificate, not a key.
    let err = HttpOutput::new(
        url,
        HttpMode::Falcosidekick,
        &OutputOptions {
            client_cert: Some(pki.client_cert_file()),
            client_key: Some(pki.client_cert_file()),
            ..OutputOptions::default()
        },
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "`{}`: no usable private key",
            pki.client_cert_file().display()
        )),
        "{err}"
    );

    let err = HttpOutput::new(
        url,
        HttpMode::Falcosidekick,
        &OutputOptions {
            client_cert: Some(pki.client_cert_file()),
            ..OutputOptions::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "a client certificate needs its key (client_key)"
    );
}
