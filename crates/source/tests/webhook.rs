//! The webhook source over real HTTP(S) on 127.0.0.1: one record per event of `EventList` and
//! `Event` bodies (gzip too), the answer only after the records are committed, every refusal
//! (401/404/405/408/413/415/400/503) with the server serving on afterwards, TLS with and without
//! a valid client certificate, token rotation, connection limits and slow clients, and a
//! graceful shutdown that answers the requests it accepted.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test harness: a failed set-up fails the test with a message"
)]

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kaudit_source::webhook::{TlsFiles, WebhookAcks, WebhookConfig, WebhookError, WebhookServer};
use kaudit_source::{CheckpointStore, Record, Source};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

const EVENT_A: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a","stage":"ResponseComplete","verb":"get","requestURI":"/api/v1/pods"}"#;
const EVENT_B: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"b","stage":"ResponseComplete","verb":"list","requestURI":"/api/v1/secrets"}"#;
const EVENT_C: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"c","stage":"ResponseComplete","verb":"create","requestURI":"/api/v1/namespaces"}"#;

fn event_list(items: &[&str]) -> String {
    format!(
        r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{{}},"items":[{}]}}"#,
        items.join(",")
    )
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A running webhook whose stream is read by a task that forwards every record here.
struct Hook {
    addr: SocketAddr,
    acks: WebhookAcks,
    records: mpsc::UnboundedReceiver<Record>,
    stream_ended: oneshot::Receiver<()>,
    shutdown: Option<oneshot::Sender<()>>,
    serve: JoinHandle<()>,
}

impl Hook {
    async fn start(config: WebhookConfig) -> Hook {
        let server = WebhookServer::bind(config).await.unwrap();
        let addr = server.local_addr();
        let acks = server.acks();
        let source = server.source();
        let (tx, records) = mpsc::unbounded_channel();
        let (ended_tx, stream_ended) = oneshot::channel();
        tokio::spawn(async move {
            let mut stream = source.stream(None);
            while let Some(item) = stream.next().await {
                let _ = tx.send(item.unwrap());
            }
            let _ = ended_tx.send(());
        });
        let (shutdown, stop) = oneshot::channel::<()>();
        let serve = tokio::spawn(server.serve(async {
            let _ = stop.await;
        }));
        Hook {
            addr,
            acks,
            records,
            stream_ended,
            shutdown: Some(shutdown),
            serve,
        }
    }

    /// The next `n` records (failing after 5 s).
    async fn take(&mut self, n: usize) -> Vec<Record> {
        let mut out = Vec::new();
        for _ in 0..n {
            let r = tokio::time::timeout(Duration::from_secs(5), self.records.recv())
                .await
                .expect("a record within 5 s")
                .expect("the stream is open");
            out.push(r);
        }
        out
    }

    /// Commits `record` (what the pipeline does once its alerts are delivered).
    fn commit(&self, record: &Record) {
        self.acks.save(&record.checkpoint).unwrap();
    }

    /// Takes the next `n` records and commits the last one.
    async fn take_and_commit(&mut self, n: usize) -> Vec<Record> {
        let records = self.take(n).await;
        self.commit(records.last().unwrap());
        records
    }
}

/// One HTTP response, read to the end of a `Connection: close` exchange.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn parse_response(raw: &[u8]) -> Option<Response> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Some(Response {
        status,
        headers,
        body: body.to_owned(),
    })
}

/// Writes `request` and reads until the server closes; `None` when no HTTP response came.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    request: &[u8],
) -> Option<Response> {
    io.write_all(request).await.ok()?;
    io.flush().await.ok()?;
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), io.read_to_end(&mut raw)).await;
    parse_response(&raw)
}

/// A `Connection: close` request with `headers` (each `Name: value`) and `body`.
fn request(method: &str, path: &str, headers: &[&str], body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "{method} {path} HTTP/1.1\r\nHost: kaudit\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for h in headers {
        r.push_str(h);
        r.push_str("\r\n");
    }
    r.push_str("\r\n");
    let mut r = r.into_bytes();
    r.extend_from_slice(body);
    r
}

fn post(body: &str) -> Vec<u8> {
    request(
        "POST",
        "/k8s-audit",
        &["Content-Type: application/json"],
        body.as_bytes(),
    )
}

fn post_with_token(body: &str, token: &str) -> Vec<u8> {
    let auth = format!("Authorization: Bearer {token}");
    request("POST", "/k8s-audit", &[&auth], body.as_bytes())
}

async fn send(addr: SocketAddr, request: Vec<u8>) -> Response {
    let tcp = TcpStream::connect(addr).await.unwrap();
    exchange(tcp, &request).await.expect("an HTTP response")
}

fn spawn_send(addr: SocketAddr, request: Vec<u8>) -> JoinHandle<Response> {
    tokio::spawn(send(addr, request))
}

fn payloads(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8(r.payload.to_vec()).unwrap())
        .collect()
}

/// Asserts that `task` is still waiting (its request is not answered) after a short while.
async fn assert_pending<T>(task: &JoinHandle<T>) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !task.is_finished(),
        "answered before its records were committed"
    );
}

#[tokio::test]
async fn an_event_list_is_answered_only_once_every_event_is_committed() {
    let mut hook = Hook::start(WebhookConfig::new(loopback())).await;
    let answer = spawn_send(hook.addr, post(&event_list(&[EVENT_A, EVENT_B, EVENT_C])));
    let records = hook.take(3).await;
    assert_eq!(payloads(&records), [EVENT_A, EVENT_B, EVENT_C]);
    assert_eq!(
        records[2].checkpoint.position(),
        serde_json::json!({"request": 0, "event": 2})
    );
    assert!(
        records[0]
            .meta
            .source
            .starts_with("webhook:http://127.0.0.1:"),
        "{}",
        records[0].meta.source
    );
    assert_pending(&answer).await;
    hook.commit(&records[1]);
    assert_pending(&answer).await;
    assert_eq!(hook.acks.waiting(), 1);
    hook.commit(&records[2]);
    let response = answer.await.unwrap();
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(hook.acks.waiting(), 0);

    // A single Event is one record; the next request gets the next sequence number.
    let answer = spawn_send(hook.addr, post(EVENT_B));
    let records = hook.take(1).await;
    assert_eq!(payloads(&records), [EVENT_B]);
    assert_eq!(
        records[0].checkpoint.position(),
        serde_json::json!({"request": 1, "event": 0})
    );
    assert_pending(&answer).await;
    hook.commit(&records[0]);
    assert_eq!(answer.await.unwrap().status, 200);

    // An empty batch is answered at once; nothing is yielded.
    assert_eq!(send(hook.addr, post(&event_list(&[]))).await.status, 200);
}

#[tokio::test]
async fn a_later_commit_answers_every_earlier_request() {
    let mut hook = Hook::start(WebhookConfig::new(loopback())).await;
    let first = spawn_send(hook.addr, post(&event_list(&[EVENT_A, EVENT_B])));
    let _ = hook.take(2).await;
    let second = spawn_send(hook.addr, post(EVENT_C));
    let records = hook.take(1).await;
    assert_pending(&first).await;
    hook.commit(&records[0]);
    assert_eq!(first.await.unwrap().status, 200);
    assert_eq!(second.await.unwrap().status, 200);
}

#[tokio::test]
async fn gzip_bodies_are_decoded() {
    let mut hook = Hook::start(WebhookConfig::new(loopback())).await;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(event_list(&[EVENT_A, EVENT_C]).as_bytes())
        .unwrap();
    let gz = enc.finish().unwrap();
    let answer = spawn_send(
        hook.addr,
        request("POST", "/k8s-audit", &["Content-Encoding: gzip"], &gz),
    );
    let records = hook.take_and_commit(2).await;
    assert_eq!(payloads(&records), [EVENT_A, EVENT_C]);
    assert_eq!(answer.await.unwrap().status, 200);
}

#[tokio::test]
async fn refusals_have_their_status_and_reason_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "t0ken\n").unwrap();
    let mut config = WebhookConfig::new(loopback());
    config.token_file = Some(token);
    config.max_body_bytes = 1024;
    let mut hook = Hook::start(config).await;
    let addr = hook.addr;

    // Credentials first: without them nothing else is revealed.
    let r = send(addr, post(EVENT_A)).await;
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"kaudit\"")
    );
    assert_eq!(
        send(addr, post_with_token(EVENT_A, "t0ke")).await.status,
        401
    );
    assert_eq!(
        send(addr, post_with_token(EVENT_A, "t0ken-")).await.status,
        401
    );
    let r = send(
        addr,
        request("GET", "/k8s-audit", &["Authorization: Basic dDBrZW4="], b""),
    )
    .await;
    assert_eq!(r.status, 401);

    let auth = "Authorization: Bearer t0ken";
    let r = send(addr, request("GET", "/k8s-audit", &[auth], b"")).await;
    assert_eq!(r.status, 405, "{r:?}");
    assert_eq!(r.header("allow"), Some("POST"));
    assert_eq!(r.body, "audit events must be sent with POST\n");
    let r = send(addr, request("POST", "/other", &[auth], EVENT_A.as_bytes())).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body, "audit events are accepted on /k8s-audit\n");

    // Over the limit: by Content-Length, or chunked without one, or once decompressed.
    let big = event_list(&[EVENT_A; 8]);
    assert!(big.len() > 1024);
    let r = send(addr, request("POST", "/k8s-audit", &[auth], big.as_bytes())).await;
    assert_eq!(r.status, 413, "{r:?}");
    assert_eq!(r.body, "the body is over the 1024-byte limit\n");
    let mut chunked = format!(
        "POST /k8s-audit HTTP/1.1\r\nHost: k\r\nConnection: close\r\n{auth}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    for piece in big.as_bytes().chunks(300) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(send(addr, chunked).await.status, 413);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(big.as_bytes()).unwrap();
    let gz = enc.finish().unwrap();
    assert!(gz.len() < 1024);
    let r = send(
        addr,
        request("POST", "/k8s-audit", &[auth, "Content-Encoding: gzip"], &gz),
    )
    .await;
    assert_eq!(r.status, 413, "{r:?}");

    // Malformed bodies say why.
    let r = send(
        addr,
        request(
            "POST",
            "/k8s-audit",
            &[auth],
            br#"{"kind":"EventList","items":[{},"#,
        ),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        "invalid JSON: EOF while parsing a value at line 1 column 32\n"
    );
    let r = send(addr, request("POST", "/k8s-audit", &[auth], b"[1]")).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        "the body must be a JSON object (an audit.k8s.io EventList or Event)\n"
    );
    let r = send(
        addr,
        request(
            "POST",
            "/k8s-audit",
            &[auth, "Content-Encoding: gzip"],
            b"nope",
        ),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.body.starts_with("invalid gzip body: "), "{r:?}");
    let r = send(
        addr,
        request("POST", "/k8s-audit", &[auth, "Content-Encoding: br"], b"{}"),
    )
    .await;
    assert_eq!(r.status, 415);

    // None of that reached the stream, and the server still serves.
    let answer = spawn_send(addr, post_with_token(EVENT_A, "t0ken"));
    let records = hook.take_and_commit(1).await;
    assert_eq!(payloads(&records), [EVENT_A]);
    assert_eq!(answer.await.unwrap().status, 200);
    assert!(hook.records.try_recv().is_err());
}

#[tokio::test]
async fn keep_alive_requests_share_a_connection() {
    let mut hook = Hook::start(WebhookConfig::new(loopback())).await;
    let mut tcp = TcpStream::connect(hook.addr).await.unwrap();
    let mut raw = Vec::new();
    for body in [EVENT_A, EVENT_B] {
        let req = format!(
            "POST /k8s-audit HTTP/1.1\r\nHost: k\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        tcp.write_all(req.as_bytes()).await.unwrap();
        let _ = hook.take_and_commit(1).await;
        let mut buf = [0u8; 1024];
        let n = tcp.read(&mut buf).await.unwrap();
        raw.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8(raw).unwrap();
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
}

#[tokio::test]
async fn too_many_waiting_events_are_answered_503_with_retry_after() {
    let mut config = WebhookConfig::new(loopback());
    config.max_pending_events = 2;
    let mut hook = Hook::start(config).await;
    let first = spawn_send(hook.addr, post(&event_list(&[EVENT_A, EVENT_B])));
    let records = hook.take(2).await;
    let r = send(hook.addr, post(EVENT_C)).await;
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(
        r.body,
        "overloaded: 1 events do not fit, too many are waiting for delivery\n"
    );
    hook.commit(&records[1]);
    assert_eq!(first.await.unwrap().status, 200);
    // Room again.
    let answer = spawn_send(hook.addr, post(EVENT_C));
    let _ = hook.take_and_commit(1).await;
    assert_eq!(answer.await.unwrap().status, 200);
}

#[tokio::test]
async fn a_batch_not_delivered_within_the_ack_timeout_is_answered_503() {
    let mut config = WebhookConfig::new(loopback());
    config.ack_timeout = Duration::from_millis(300);
    config.retry_after = Duration::from_secs(3);
    let mut hook = Hook::start(config).await;
    let answer = spawn_send(hook.addr, post(EVENT_A));
    let _ = hook.take(1).await;
    let r = answer.await.unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("3"));
    assert_eq!(
        r.body,
        "the alerts of this batch were not delivered within 300ms\n"
    );
}

#[tokio::test]
async fn a_rotated_token_takes_effect_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    // Like a mounted Secret: the file is a symlink swapped to a new target.
    let v1 = dir.path().join("v1");
    let v2 = dir.path().join("v2");
    std::fs::write(&v1, "first-token").unwrap();
    std::fs::write(&v2, "second-token\n").unwrap();
    let token = dir.path().join("token");
    std::os::unix::fs::symlink(&v1, &token).unwrap();
    let mut config = WebhookConfig::new(loopback());
    config.token_file = Some(token.clone());
    let mut hook = Hook::start(config).await;

    let answer = spawn_send(hook.addr, post_with_token(EVENT_A, "first-token"));
    let _ = hook.take_and_commit(1).await;
    assert_eq!(answer.await.unwrap().status, 200);

    let tmp = dir.path().join("token.new");
    std::os::unix::fs::symlink(&v2, &tmp).unwrap();
    std::fs::rename(&tmp, &token).unwrap();
    assert_eq!(
        send(hook.addr, post_with_token(EVENT_A, "first-token"))
            .await
            .status,
        401
    );
    let answer = spawn_send(hook.addr, post_with_token(EVENT_B, "second-token"));
    let records = hook.take_and_commit(1).await;
    assert_eq!(payloads(&records), [EVENT_B]);
    assert_eq!(answer.await.unwrap().status, 200);

    // Rewritten in place.
    std::fs::write(&v2, "third-token-now").unwrap();
    assert_eq!(
        send(hook.addr, post_with_token(EVENT_A, "second-token"))
            .await
            .status,
        401
    );
    let answer = spawn_send(hook.addr, post_with_token(EVENT_C, "third-token-now"));
    let _ = hook.take_and_commit(1).await;
    assert_eq!(answer.await.unwrap().status, 200);
}

/// A CA; a server certificate for 127.0.0.1 and a client certificate signed by it; and a client
/// certificate from another CA, all written to files.
struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
}

impl Pki {
    fn new() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        let ca = |cn: &str| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, cn);
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            let cert = params.self_signed(&key).unwrap();
            (cert.pem(), Issuer::new(params, key))
        };
        let (ca_pem, issuer) = ca("kaudit test CA");
        let (_, other) = ca("another CA");
        write("ca.pem", &ca_pem);
        fn leaf(
            dir: &std::path::Path,
            sans: Vec<String>,
            purpose: rcgen::ExtendedKeyUsagePurpose,
            issuer: &Issuer<'_, KeyPair>,
            name: &str,
        ) {
            let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(sans).unwrap();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, "kube-apiserver");
            params.extended_key_usages.push(purpose);
            let cert = params.signed_by(&key, issuer).unwrap();
            write(&format!("{name}.pem"), &cert.pem());
            write(&format!("{name}-key.pem"), &key.serialize_pem());
        }
        leaf(
            dir.path(),
            vec!["127.0.0.1".to_owned()],
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            &issuer,
            "server",
        );
        leaf(
            dir.path(),
            Vec::new(),
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
            &issuer,
            "client",
        );
        leaf(
            dir.path(),
            Vec::new(),
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
            &other,
            "stranger",
        );
        Pki { dir, ca_pem }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn tls(&self, mtls: bool) -> TlsFiles {
        TlsFiles {
            cert: self.path("server.pem"),
            key: self.path("server-key.pem"),
            client_ca: mtls.then(|| self.path("ca.pem")),
        }
    }

    /// A client trusting the CA, presenting `client` (`client` or `stranger`) when given.
    fn client(&self, client: Option<&str>) -> tokio_rustls::TlsConnector {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = match client {
            Some(name) => {
                let certs = CertificateDer::pem_file_iter(self.path(&format!("{name}.pem")))
                    .unwrap()
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap();
                let key =
                    PrivateKeyDer::from_pem_file(self.path(&format!("{name}-key.pem"))).unwrap();
                builder.with_client_auth_cert(certs, key).unwrap()
            }
            None => builder.with_no_client_auth(),
        };
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }
}

/// Sends `request` over TLS; `None` when the handshake or the exchange failed without an HTTP
/// response.
async fn send_tls(
    addr: SocketAddr,
    connector: &tokio_rustls::TlsConnector,
    request: Vec<u8>,
) -> Option<Response> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::IpAddress(addr.ip().into());
    let tls = connector.connect(name, tcp).await.ok()?;
    exchange(tls, &request).await
}

#[tokio::test]
async fn tls_serves_https_and_refuses_plain_http() {
    let pki = Pki::new();
    let mut config = WebhookConfig::new(loopback());
    config.tls = Some(pki.tls(false));
    let mut hook = Hook::start(config).await;
    let connector = pki.client(None);
    let addr = hook.addr;
    let answer = tokio::spawn(async move { send_tls(addr, &connector, post(EVENT_A)).await });
    let records = hook.take_and_commit(1).await;
    assert_eq!(
        records[0].meta.source.as_ref(),
        format!("webhook:https://{addr}/k8s-audit")
    );
    assert_eq!(answer.await.unwrap().unwrap().status, 200);
    let tcp = TcpStream::connect(addr).await.unwrap();
    assert!(exchange(tcp, &post(EVENT_A)).await.is_none());
}

#[tokio::test]
async fn mtls_requires_a_client_certificate_from_the_client_ca() {
    let pki = Pki::new();
    let mut config = WebhookConfig::new(loopback());
    config.tls = Some(pki.tls(true));
    let mut hook = Hook::start(config).await;
    let addr = hook.addr;
    assert!(
        send_tls(addr, &pki.client(None), post(EVENT_A))
            .await
            .is_none(),
        "no client certificate"
    );
    assert!(
        send_tls(addr, &pki.client(Some("stranger")), post(EVENT_A))
            .await
            .is_none(),
        "a certificate from another CA"
    );
    let connector = pki.client(Some("client"));
    let answer = tokio::spawn(async move { send_tls(addr, &connector, post(EVENT_B)).await });
    let records = hook.take_and_commit(1).await;
    assert_eq!(
        payloads(&records),
        [EVENT_B],
        "only the valid client got through"
    );
    assert_eq!(answer.await.unwrap().unwrap().status, 200);
}

#[tokio::test]
async fn without_authentication_only_loopback_is_allowed_unless_insecure() {
    let mut config = WebhookConfig::new("0.0.0.0:0".parse().unwrap());
    let err = WebhookServer::bind(config.clone()).await.unwrap_err();
    assert!(matches!(err, WebhookError::Unauthenticated { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "refusing to listen on 0.0.0.0:0 without authentication: give --token-file and/or --tls-cert/--tls-key with --client-ca, listen on a loopback address, or pass --insecure"
    );
    // TLS without a client CA encrypts but does not authenticate.
    let pki = Pki::new();
    config.tls = Some(pki.tls(false));
    assert!(matches!(
        WebhookServer::bind(config.clone()).await.unwrap_err(),
        WebhookError::Unauthenticated { .. }
    ));
    config.tls = Some(pki.tls(true));
    assert!(WebhookServer::bind(config.clone()).await.is_ok());
    config.tls = None;
    config.insecure = true;
    assert!(WebhookServer::bind(config).await.is_ok());
    assert_eq!(WebhookConfig::new(loopback()).authentication(), "none");
}

#[tokio::test]
async fn unusable_files_fail_at_start_up() {
    let mut config = WebhookConfig::new(loopback());
    config.token_file = Some(PathBuf::from("/nonexistent/token"));
    let err = WebhookServer::bind(config).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("token file `/nonexistent/token`: "),
        "{err}"
    );
    let pki = Pki::new();
    let mut config = WebhookConfig::new(loopback());
    config.tls = Some(TlsFiles {
        cert: pki.path("ca.pem"),
        key: pki.path("client-key.pem"),
        client_ca: None,
    });
    let err = WebhookServer::bind(config).await.unwrap_err();
    assert!(
        err.to_string().starts_with("TLS certificate and key `"),
        "{err}"
    );
}

async fn closed_without_answer(mut tcp: TcpStream, within: Duration) -> bool {
    let mut buf = Vec::new();
    match tokio::time::timeout(within, tcp.read_to_end(&mut buf)).await {
        Ok(_) => buf.is_empty(),
        Err(_) => false,
    }
}

#[tokio::test]
async fn slow_clients_are_cut_off() {
    let mut config = WebhookConfig::new(loopback());
    config.header_timeout = Duration::from_millis(300);
    config.body_timeout = Duration::from_millis(300);
    let mut hook = Hook::start(config).await;
    // Headers that never end: the connection is closed.
    let mut tcp = TcpStream::connect(hook.addr).await.unwrap();
    tcp.write_all(b"POST /k8s-audit HTTP/1.1\r\nHost: k\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    assert!(closed_without_answer(tcp, Duration::from_secs(5)).await);
    assert!(started.elapsed() < Duration::from_secs(3));
    // An idle connection too.
    let tcp = TcpStream::connect(hook.addr).await.unwrap();
    assert!(closed_without_answer(tcp, Duration::from_secs(5)).await);
    // A body that stops half-way: 408.
    let mut tcp = TcpStream::connect(hook.addr).await.unwrap();
    tcp.write_all(b"POST /k8s-audit HTTP/1.1\r\nHost: k\r\nContent-Length: 100\r\n\r\n{\"kind\"")
        .await
        .unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut raw)).await;
    let r = parse_response(&raw).expect("a response");
    assert_eq!(r.status, 408, "{r:?}");
    // Still serving.
    let answer = spawn_send(hook.addr, post(EVENT_A));
    let _ = hook.take_and_commit(1).await;
    assert_eq!(answer.await.unwrap().status, 200);
}

#[tokio::test]
async fn connections_over_the_limit_are_closed() {
    let mut config = WebhookConfig::new(loopback());
    config.max_connections = 1;
    let mut hook = Hook::start(config).await;
    let held = TcpStream::connect(hook.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let extra = TcpStream::connect(hook.addr).await.unwrap();
    assert!(closed_without_answer(extra, Duration::from_secs(5)).await);
    drop(held);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let answer = spawn_send(hook.addr, post(EVENT_A));
    let _ = hook.take_and_commit(1).await;
    assert_eq!(answer.await.unwrap().status, 200);
}

#[tokio::test]
async fn shutdown_stops_accepting_and_answers_what_was_accepted() {
    let mut hook = Hook::start(WebhookConfig::new(loopback())).await;
    let addr = hook.addr;
    let accepted = spawn_send(addr, post(&event_list(&[EVENT_A, EVENT_B])));
    let records = hook.take(2).await;
    // A request whose body is still arriving when the shutdown starts is accepted too.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let body = post(EVENT_C);
    let (head, tail) = body.split_at(body.len() - 10);
    slow.write_all(head).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    hook.shutdown.take().unwrap().send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "new connections are refused"
    );
    slow.write_all(tail).await.unwrap();
    let late = hook.take(1).await;
    assert_eq!(payloads(&late), [EVENT_C]);
    // The stream ends once every accepted request is queued.
    tokio::time::timeout(Duration::from_secs(5), &mut hook.stream_ended)
        .await
        .expect("the stream ends")
        .unwrap();
    assert_pending(&accepted).await;
    assert!(!hook.serve.is_finished(), "serve waits for the answers");
    hook.commit(&records[1]);
    assert_eq!(accepted.await.unwrap().status, 200);
    // What is never committed is answered 503 once abandoned.
    hook.acks.abandon();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut raw)).await;
    let r = parse_response(&raw).expect("a response");
    assert_eq!(r.status, 503);
    assert_eq!(
        r.body,
        "kaudit stopped before the alerts of this batch were delivered\n"
    );
    tokio::time::timeout(Duration::from_secs(5), hook.serve)
        .await
        .expect("serve returns")
        .unwrap();
}

#[test]
fn the_source_streams_once() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let server = WebhookServer::bind(WebhookConfig::new(loopback()))
            .await
            .unwrap();
        let source = server.source();
        let _first = source.stream(None);
        let second: Vec<_> = source.stream(None).collect().await;
        assert!(matches!(second.as_slice(), [Err(e)] if e.is_terminal()));
        assert_eq!(source.identity().kind(), "webhook");
    });
}
