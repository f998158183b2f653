//! Test helpers: [`ReplaySource`] over in-memory records, and [`conformance`], the suite every
//! [`Source`] implementation runs (like `regex-test`: one suite, many engines).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use serde_json::json;

use crate::checkpoint::{Checkpoint, SourceIdentity};
use crate::source::{Record, RecordMeta, Source, SourceError, SourceErrorKind};

/// Replays a fixed list of payloads; the checkpoint is the index of the next record.
#[derive(Debug, Clone)]
pub struct ReplaySource {
    identity: Arc<SourceIdentity>,
    name: Arc<str>,
    payloads: Arc<[Bytes]>,
}

impl ReplaySource {
    /// A source named `name` yielding `payloads` in order, then ending.
    pub fn new(name: &str, payloads: impl IntoIterator<Item = impl Into<Bytes>>) -> Self {
        ReplaySource {
            identity: Arc::new(SourceIdentity::new("replay").with("name", name)),
            name: format!("replay:{name}").into(),
            payloads: payloads.into_iter().map(Into::into).collect(),
        }
    }

    /// A source yielding each non-blank line of `ndjson`.
    pub fn from_ndjson(name: &str, ndjson: &str) -> Self {
        Self::new(
            name,
            ndjson
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| Bytes::copy_from_slice(l.as_bytes()))
                .collect::<Vec<_>>(),
        )
    }
}

impl Source for ReplaySource {
    fn identity(&self) -> &SourceIdentity {
        &self.identity
    }

    fn stream(
        &self,
        resume: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<Record, SourceError>> {
        let start = match resume {
            None => 0,
            Some(cp) => {
                let pos = cp.check_identity(&self.identity).map(|()| {
                    cp.position()
                        .get("next")
                        .and_then(serde_json::Value::as_u64)
                });
                match pos {
                    Ok(Some(n)) => usize::try_from(n).unwrap_or(usize::MAX),
                    Ok(None) => {
                        let err = SourceError::new(
                            self.name.clone(),
                            SourceErrorKind::Checkpoint(
                                crate::checkpoint::CheckpointError::Position {
                                    identity: self.identity.to_string(),
                                    message: "missing `next`".into(),
                                },
                            ),
                            true,
                        );
                        return stream::once(async move { Err(err) }).boxed();
                    }
                    Err(e) => {
                        let err = SourceError::new(self.name.clone(), e.into(), true);
                        return stream::once(async move { Err(err) }).boxed();
                    }
                }
            }
        };
        let identity = self.identity.clone();
        let name = self.name.clone();
        let payloads = self.payloads.clone();
        stream::iter(start..payloads.len())
            .map(move |i| {
                let payload = payloads[i].clone();
                let anomaly = crate::file::classify_payload(&payload);
                Ok(Record {
                    payload,
                    checkpoint: Checkpoint::new(identity.clone(), json!({ "next": i + 1 })),
                    meta: RecordMeta {
                        source: name.clone(),
                        offset: Some(i as u64),
                        anomaly,
                        ..RecordMeta::default()
                    },
                })
            })
            .boxed()
    }
}

/// How [`conformance`] reads a source.
#[derive(Debug, Clone)]
pub struct Conformance {
    /// How many records a full read yields.
    pub expected: usize,
    /// `true` when the stream ends after the last record (files, replay); `false` for sources
    /// that keep polling (file follow mode, CloudWatch): those are read for exactly the expected
    /// number of records and then must stay silent for `quiet_period`.
    pub finite: bool,
    /// How long an endless source must yield nothing once all records are read.
    pub quiet_period: Duration,
    /// Resume from at most this many checkpoints, spread over the run (first and last
    /// included). Every checkpoint when `None`.
    pub max_resumes: Option<usize>,
}

impl Conformance {
    /// A finite source that yields `expected` records.
    pub fn finite(expected: usize) -> Self {
        Conformance {
            expected,
            finite: true,
            quiet_period: Duration::ZERO,
            max_resumes: None,
        }
    }

    /// An endless source that yields `expected` records and then nothing for `quiet_period`.
    pub fn endless(expected: usize, quiet_period: Duration) -> Self {
        Conformance {
            expected,
            finite: false,
            quiet_period,
            max_resumes: None,
        }
    }
}

/// A conformance failure, with the step that failed.
#[derive(Debug, thiserror::Error)]
#[error("source conformance: {0}")]
pub struct ConformanceError(String);

async fn read_all(
    s: &mut BoxStream<'static, Result<Record, SourceError>>,
    opts: &Conformance,
    want: usize,
) -> Result<Vec<Record>, ConformanceError> {
    let mut out = Vec::new();
    while opts.finite || out.len() < want {
        match s.next().await {
            Some(Ok(r)) => out.push(r),
            Some(Err(e)) => return Err(ConformanceError(format!("error item: {e}"))),
            None => {
                if opts.finite {
                    break;
                }
                return Err(ConformanceError(format!(
                    "endless source ended after {} records",
                    out.len()
                )));
            }
        }
    }
    if !opts.finite
        && let Ok(extra) = tokio::time::timeout(opts.quiet_period, s.next()).await
    {
        return Err(ConformanceError(format!(
            "unexpected item after the expected records: {:?}",
            extra.map(|r| r.map(|r| r.payload))
        )));
    }
    Ok(out)
}

/// The shared source conformance suite.
///
/// 1. `make()` a source, read it from the start: exactly `opts.expected` records, no error
///    item, every checkpoint of the source's identity.
/// 2. For each checkpoint *k* (or a spread of them, see [`Conformance::max_resumes`]): send it
///    through JSON (as a checkpoint store would), `make()` a fresh source, resume from it, and
///    check the records are exactly *k + 1 ..= n* of step 1 (same payloads, same order): nothing
///    lost, nothing repeated.
/// 3. A checkpoint of another identity gives one terminal error and the stream ends.
///
/// `make` may be called several times and must give sources over the same data.
pub async fn conformance<S, F>(mut make: F, opts: Conformance) -> Result<(), ConformanceError>
where
    S: Source,
    F: FnMut() -> S,
{
    let source = make();
    let identity = source.identity().clone();
    let mut s = source.stream(None);
    let all = read_all(&mut s, &opts, opts.expected).await?;
    drop(s);
    if all.len() != opts.expected {
        return Err(ConformanceError(format!(
            "full read gave {} records, expected {}",
            all.len(),
            opts.expected
        )));
    }
    for (i, r) in all.iter().enumerate() {
        if *r.checkpoint.identity() != identity {
            return Err(ConformanceError(format!(
                "record {i}: checkpoint identity `{}` is not the source's `{identity}`",
                r.checkpoint.identity()
            )));
        }
    }
    let n = all.len();
    let ks: Vec<usize> = match opts.max_resumes {
        Some(m) if m >= 2 && n > m => {
            let mut ks: Vec<usize> = (0..m).map(|j| j * (n - 1) / (m - 1)).collect();
            ks.dedup();
            ks
        }
        _ => (0..n).collect(),
    };
    for k in ks {
        let persisted = Checkpoint::from_json(&all[k].checkpoint.to_json())
            .map_err(|e| ConformanceError(format!("checkpoint {k} does not round-trip: {e}")))?;
        let source = make();
        let mut s = source.stream(Some(persisted));
        let rest = read_all(&mut s, &opts, n - k - 1).await?;
        let got: Vec<&Bytes> = rest.iter().map(|r| &r.payload).collect();
        let want: Vec<&Bytes> = all[k + 1..].iter().map(|r| &r.payload).collect();
        if got != want {
            return Err(ConformanceError(format!(
                "resume after record {k} of {n}: got {} records {:?}, expected {} records {:?}",
                got.len(),
                got.iter().take(5).collect::<Vec<_>>(),
                want.len(),
                want.iter().take(5).collect::<Vec<_>>()
            )));
        }
    }
    let alien = Checkpoint::new(
        Arc::new(SourceIdentity::new("conformance").with("other", "identity")),
        json!({}),
    );
    let source = make();
    let mut s = source.stream(Some(alien));
    match s.next().await {
        Some(Err(e)) if e.is_terminal() => {}
        other => {
            return Err(ConformanceError(format!(
                "a foreign checkpoint must give a terminal error, got {:?}",
                other.map(|r| r.map(|r| r.payload))
            )));
        }
    }
    if let Ok(Some(extra)) = tokio::time::timeout(Duration::from_millis(50), s.next()).await {
        return Err(ConformanceError(format!(
            "stream went on after a terminal error: {:?}",
            extra.map(|r| r.payload)
        )));
    }
    Ok(())
}

#[cfg(feature = "cloudwatch")]
pub use moto::MotoServer;

#[cfg(feature = "cloudwatch")]
mod moto {
    use std::time::Duration;

    /// A `moto_server` (PyPI `moto[server]` 5.x) child process on a free loopback port: a CloudWatch
    /// Logs emulator for end-to-end tests of this crate and of the programs built on it. The process
    /// is killed when the value is dropped.
    ///
    /// The Python interpreter is `$KAUDIT_MOTO_PYTHON`, else `python3`; `scripts/test.sh` installs moto
    /// when it is missing.
    #[derive(Debug)]
    pub struct MotoServer {
        child: std::process::Child,
        port: u16,
    }

    impl MotoServer {
        /// Starts the emulator and waits (up to 20 s) until it accepts connections.
        ///
        /// # Errors
        /// A message saying what to install or what failed, when moto is missing or does not start.
        pub fn start() -> Result<MotoServer, String> {
            use std::net::{TcpListener, TcpStream};
            use std::process::{Command, Stdio};

            let python = std::env::var("KAUDIT_MOTO_PYTHON").unwrap_or_else(|_| "python3".into());
            let importable = Command::new(&python)
                .args(["-c", "import moto.server"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !importable {
                return Err(format!(
                    "moto is not importable with `{python}`: the CloudWatch end-to-end tests need moto_server. Run ./scripts/test.sh (it installs it) or `{python} -m pip install 'moto[server]>=5,<6'`, or point KAUDIT_MOTO_PYTHON at a Python that has it"
                ));
            }
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .map_err(|e| format!("no free loopback port: {e}"))?;
            let child = Command::new(&python)
                .args([
                    "-m",
                    "moto.server",
                    "-H",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("moto_server does not start: {e}"))?;
            let server = MotoServer { child, port };
            for _ in 0..400 {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Ok(server);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(format!(
                "moto_server did not listen on port {port} within 20 s"
            ))
        }

        /// The endpoint URL to give the SDK (`http://127.0.0.1:<port>`).
        #[must_use]
        pub fn url(&self) -> String {
            format!("http://127.0.0.1:{}", self.port)
        }

        /// An SDK client for the emulator with test credentials in `region` (test support: the
        /// AWS SDK's type, for tests that put events into the emulator).
        pub async fn client(&self, region: &str) -> aws_sdk_cloudwatchlogs::Client {
            let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .endpoint_url(self.url())
                .region(aws_config::Region::new(region.to_owned()))
                .test_credentials()
                .load()
                .await;
            aws_sdk_cloudwatchlogs::Client::new(&conf)
        }
    }

    impl Drop for MotoServer {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
