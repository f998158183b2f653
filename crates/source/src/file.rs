//! The file / stdin source: JSON lines, one record per line, byte-offset checkpoints.
//!
//! * Plain files and stdin are read as they are; a path ending in `.gz` is decompressed
//!   (multi-member gzip is fine). Offsets count *decompressed* bytes.
//! * In follow mode the source behaves like `tail -F`: at end of file it waits and polls; when
//!   the path is replaced by a new file (rotation by rename) it finishes the old one and starts
//!   the new one at offset 0; when the file shrinks below the read position (copy-truncate) it
//!   starts again at offset 0. A partial last line is only yielded once its newline arrives.
//!   Without follow mode the stream ends at end of file, and a final line without a newline is
//!   yielded.
//! * The checkpoint is `{"offset": <end of the line>, "file": {"dev": .., "ino": ..}}`. On
//!   resume, a file with another inode (rotated while kaudit was down) or shorter than the offset
//!   (truncated) is read from its start, with a warning.
//! * Blank lines are skipped. A line longer than `max_line_bytes` is cut to that size (the rest
//!   is skipped without being buffered) and yielded with [`Anomaly::Oversize`].

use std::io::{SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt};

use crate::checkpoint::{Checkpoint, CheckpointError, SourceIdentity};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::source::{Anomaly, Record, RecordMeta, Source, SourceError, SourceErrorKind};

/// Default longest line kept whole: 1 MiB, the CloudWatch event size limit.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

/// Where a [`FileSource`] reads from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileInput {
    /// A file path (`.gz` is decompressed).
    Path(PathBuf),
    /// Standard input.
    Stdin,
}

/// Options of a [`FileSource`].
#[derive(Clone, Debug)]
pub struct FileSourceConfig {
    /// What to read.
    pub input: FileInput,
    /// Keep reading at end of file, like `tail -F` (ignored for `.gz` files and stdin).
    pub follow: bool,
    /// How often to look for new data, rotation and truncation in follow mode.
    pub poll_interval: Duration,
    /// Longest line kept whole; longer lines are cut and flagged.
    pub max_line_bytes: usize,
}

impl FileSourceConfig {
    /// Reads `input` once, to its end.
    pub fn new(input: FileInput) -> Self {
        FileSourceConfig {
            input,
            follow: false,
            poll_interval: Duration::from_millis(250),
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        }
    }

    /// Reads the file at `path`; `-` means stdin.
    pub fn from_arg(path: &str) -> Self {
        if path == "-" {
            Self::new(FileInput::Stdin)
        } else {
            Self::new(FileInput::Path(PathBuf::from(path)))
        }
    }

    /// Sets follow mode.
    #[must_use]
    pub fn follow(mut self, follow: bool) -> Self {
        self.follow = follow;
        self
    }
}

/// The file / stdin source: JSON lines, one record per line, byte-offset checkpoints.
///
/// * Plain files and stdin are read as they are; a path ending in `.gz` is decompressed
///   (multi-member gzip is fine). Offsets count *decompressed* bytes.
/// * In follow mode the source behaves like `tail -F`: at end of file it waits and polls; when
///   the path is replaced by a new file (rotation by rename) it finishes the old one and starts
///   the new one at offset 0; when the file shrinks below the read position (copy-truncate) it
///   starts again at offset 0. A partial last line is only yielded once its newline arrives.
///   Without follow mode the stream ends at end of file, and a final line without a newline is
///   yielded.
/// * The checkpoint is `{"offset": <end of the line>, "file": {"dev": .., "ino": ..}}`. On
///   resume, a file with another inode (rotated while kaudit was down) or shorter than the offset
///   (truncated) is read from its start, with a warning.
/// * Blank lines are skipped. A line longer than `max_line_bytes` is cut to that size (the rest
///   is skipped without being buffered) and yielded with [`Anomaly::Oversize`].
#[derive(Debug)]
pub struct FileSource {
    config: FileSourceConfig,
    identity: Arc<SourceIdentity>,
    name: Arc<str>,
    metrics: Arc<Metrics>,
}

impl FileSource {
    /// A source reading what `config` says.
    pub fn new(config: FileSourceConfig) -> Self {
        let (identity, name) = match &config.input {
            FileInput::Path(p) => {
                let shown = std::path::absolute(p).unwrap_or_else(|_| p.clone());
                let shown = shown.display().to_string();
                (
                    SourceIdentity::new("file").with("path", shown.clone()),
                    format!("file:{shown}"),
                )
            }
            FileInput::Stdin => (SourceIdentity::new("stdin"), "stdin".to_owned()),
        };
        FileSource {
            config,
            identity: Arc::new(identity),
            name: name.into(),
            metrics: Arc::default(),
        }
    }
}

impl Source for FileSource {
    fn identity(&self) -> &SourceIdentity {
        &self.identity
    }

    fn stream(
        &self,
        resume: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<Record, SourceError>> {
        let resume = match resume
            .map(|cp| parse_resume(&cp, &self.identity))
            .transpose()
        {
            Ok(r) => r,
            Err(e) => {
                let err = SourceError::new(self.name.clone(), e.into(), true);
                return stream::once(async move { Err(err) }).boxed();
            }
        };
        let state = Reader {
            config: self.config.clone(),
            identity: self.identity.clone(),
            name: self.name.clone(),
            metrics: self.metrics.clone(),
            resume,
            input: None,
            buf: Vec::new(),
            offset: 0,
            raw_pos: 0,
            file_id: None,
            eof: false,
            rotated: false,
            done: false,
        };
        stream::unfold(state, |mut st| async move {
            if st.done {
                return None;
            }
            match st.next_record().await {
                Ok(Some(rec)) => Some((Ok(rec), st)),
                Ok(None) => None,
                Err(e) => {
                    st.done = true;
                    Some((Err(e), st))
                }
            }
        })
        .boxed()
    }

    fn metrics(&self) -> MetricsSnapshot {
        self.metrics.snapshot(crate::time::now_ms())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

#[derive(Debug)]
struct Resume {
    offset: u64,
    file: Option<FileId>,
}

fn parse_resume(cp: &Checkpoint, identity: &SourceIdentity) -> Result<Resume, CheckpointError> {
    cp.check_identity(identity)?;
    let pos = cp.position();
    let bad = |message: &str| CheckpointError::Position {
        identity: identity.to_string(),
        message: message.to_owned(),
    };
    let offset = pos
        .get("offset")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| bad("missing `offset`"))?;
    let file = pos.get("file").and_then(|f| {
        Some(FileId {
            dev: f.get("dev")?.as_u64()?,
            ino: f.get("ino")?.as_u64()?,
        })
    });
    Ok(Resume { offset, file })
}

#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    Some(FileId {
        dev: meta.dev(),
        ino: meta.ino(),
    })
}

#[cfg(not(unix))]
fn file_id(_meta: &std::fs::Metadata) -> Option<FileId> {
    None
}

enum Input {
    Plain(Box<dyn AsyncRead + Send + Unpin>),
    Gz {
        raw: tokio::fs::File,
        decoder: Box<flate2::write::MultiGzDecoder<Vec<u8>>>,
        finished: bool,
    },
}

struct Reader {
    config: FileSourceConfig,
    identity: Arc<SourceIdentity>,
    name: Arc<str>,
    metrics: Arc<Metrics>,
    resume: Option<Resume>,
    input: Option<Input>,
    /// Decompressed bytes read but not yet yielded; `buf[0]` is at `offset`.
    buf: Vec<u8>,
    /// Decompressed offset of `buf[0]`.
    offset: u64,
    /// Raw (on-disk) read position, for truncation checks.
    raw_pos: u64,
    file_id: Option<FileId>,
    eof: bool,
    /// The path now names another file; switch once the old one is drained.
    rotated: bool,
    done: bool,
}

const CHUNK: usize = 64 * 1024;

impl Reader {
    fn path_str(&self) -> String {
        match &self.config.input {
            FileInput::Path(p) => p.display().to_string(),
            FileInput::Stdin => "-".to_owned(),
        }
    }

    fn io_err(&self, error: std::io::Error) -> SourceError {
        SourceError::new(
            self.name.clone(),
            SourceErrorKind::Io {
                path: self.path_str(),
                error,
            },
            true,
        )
    }

    fn is_gz(&self) -> bool {
        matches!(&self.config.input, FileInput::Path(p) if p.extension().is_some_and(|e| e == "gz"))
    }

    fn following(&self) -> bool {
        self.config.follow && !self.is_gz() && matches!(self.config.input, FileInput::Path(_))
    }

    /// Opens the input and positions it after the resume checkpoint.
    async fn open(&mut self) -> Result<(), SourceError> {
        let resume = self.resume.take();
        let mut skip = resume.as_ref().map_or(0, |r| r.offset);
        match self.config.input.clone() {
            FileInput::Stdin => {
                self.input = Some(Input::Plain(Box::new(tokio::io::stdin())));
            }
            FileInput::Path(path) => {
                let mut file = tokio::fs::File::open(&path)
                    .await
                    .map_err(|e| self.io_err(e))?;
                let meta = file.metadata().await.map_err(|e| self.io_err(e))?;
                self.file_id = file_id(&meta);
                if let Some(r) = &resume {
                    if r.file.is_some() && self.file_id.is_some() && r.file != self.file_id {
                        tracing::warn!(path = %path.display(), "checkpoint was taken on another file (rotated while stopped); reading the current file from its start");
                        skip = 0;
                    } else if !self.is_gz() && meta.len() < r.offset {
                        tracing::warn!(path = %path.display(), offset = r.offset, len = meta.len(), "file is shorter than the checkpoint offset (truncated); reading from its start");
                        skip = 0;
                    }
                }
                if self.is_gz() {
                    self.input = Some(Input::Gz {
                        raw: file,
                        decoder: Box::new(flate2::write::MultiGzDecoder::new(Vec::new())),
                        finished: false,
                    });
                } else {
                    if skip > 0 {
                        file.seek(SeekFrom::Start(skip))
                            .await
                            .map_err(|e| self.io_err(e))?;
                        self.raw_pos = skip;
                        self.offset = skip;
                        skip = 0;
                    }
                    self.input = Some(Input::Plain(Box::new(file)));
                }
            }
        }
        // Inputs that cannot seek (stdin, gzip) skip decompressed bytes instead.
        while skip > 0 {
            if !self.fill().await? {
                break;
            }
            let n = usize::try_from(skip)
                .unwrap_or(usize::MAX)
                .min(self.buf.len());
            self.buf.drain(..n);
            self.offset += n as u64;
            skip -= n as u64;
        }
        Ok(())
    }

    /// Reads one more chunk into `buf`. Returns `false` at end of input.
    async fn fill(&mut self) -> Result<bool, SourceError> {
        let mut chunk = vec![0u8; CHUNK];
        let (name, path) = (self.name.clone(), self.path_str());
        let io = move |error| {
            SourceError::new(
                name.clone(),
                SourceErrorKind::Io {
                    path: path.clone(),
                    error,
                },
                true,
            )
        };
        let Some(input) = self.input.as_mut() else {
            return Ok(false);
        };
        match input {
            Input::Plain(r) => {
                let n = r.read(&mut chunk).await.map_err(&io)?;
                self.raw_pos += n as u64;
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(n > 0)
            }
            Input::Gz {
                raw,
                decoder,
                finished,
            } => loop {
                if *finished {
                    return Ok(false);
                }
                let n = raw.read(&mut chunk).await.map_err(&io)?;
                let res = if n == 0 {
                    *finished = true;
                    decoder.try_finish()
                } else {
                    decoder.write_all(&chunk[..n])
                };
                res.map_err(&io)?;
                let out = std::mem::take(decoder.get_mut());
                if !out.is_empty() {
                    self.buf.extend_from_slice(&out);
                    return Ok(true);
                }
            },
        }
    }

    /// In follow mode at end of file: waits, then looks for rotation and truncation. A rotation
    /// only sets `rotated`: the old file is drained to its end before the switch.
    async fn wait_for_more(&mut self) -> Result<(), SourceError> {
        tokio::time::sleep(self.config.poll_interval).await;
        let FileInput::Path(path) = self.config.input.clone() else {
            return Ok(());
        };
        let Ok(meta) = tokio::fs::metadata(&path).await else {
            // The path is gone for now (between rename and re-create); keep waiting.
            return Ok(());
        };
        let now_id = file_id(&meta);
        if now_id.is_some() && now_id != self.file_id {
            self.rotated = true;
        } else if meta.len() < self.raw_pos {
            tracing::warn!(path = %path.display(), "file truncated; reading from its start");
            self.reopen_at_zero(&path).await?;
        }
        Ok(())
    }

    /// Switches to the new file after a rotation. The old file's unterminated last line (its
    /// writer has moved on) is returned as a record when `take_partial` is set, as `tail -F`
    /// prints it.
    async fn switch_after_rotation(
        &mut self,
        take_partial: bool,
    ) -> Result<Option<Record>, SourceError> {
        self.rotated = false;
        let FileInput::Path(path) = self.config.input.clone() else {
            return Ok(None);
        };
        tracing::info!(path = %path.display(), "file rotated; reading the new file from its start");
        let mut partial = None;
        if take_partial && !self.buf.trim_ascii().is_empty() {
            let start = self.offset;
            let line = std::mem::take(&mut self.buf);
            self.offset += line.len() as u64;
            let body = trim_line(&line);
            let limit = self.config.max_line_bytes;
            let (payload, anomaly) = if body.len() > limit {
                let len = body.len();
                (
                    Bytes::copy_from_slice(&body[..limit]),
                    Some(Anomaly::Oversize { len, limit }),
                )
            } else {
                (Bytes::copy_from_slice(body), None)
            };
            partial = Some(self.make_record(start, payload, anomaly));
        }
        self.reopen_at_zero(&path).await?;
        Ok(partial)
    }

    async fn reopen_at_zero(&mut self, path: &Path) -> Result<(), SourceError> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| self.io_err(e))?;
        let meta = file.metadata().await.map_err(|e| self.io_err(e))?;
        self.file_id = file_id(&meta);
        self.input = Some(Input::Plain(Box::new(file)));
        self.buf.clear();
        self.offset = 0;
        self.raw_pos = 0;
        Ok(())
    }

    async fn next_record(&mut self) -> Result<Option<Record>, SourceError> {
        if self.input.is_none() {
            self.open().await?;
        }
        let limit = self.config.max_line_bytes;
        // Length of an oversize line seen so far while its tail is being skipped.
        let mut oversize: Option<(u64, usize, Vec<u8>)> = None;
        loop {
            if let Some(nl) = memchr_newline(&self.buf) {
                let start = self.offset;
                let line: Vec<u8> = self.buf.drain(..=nl).collect();
                self.offset += line.len() as u64;
                if let Some((ostart, olen, head)) = oversize.take() {
                    return Ok(Some(self.make_record(
                        ostart,
                        Bytes::from(head),
                        Some(Anomaly::Oversize {
                            len: olen + line.len() - 1,
                            limit,
                        }),
                    )));
                }
                let body = trim_line(&line[..line.len() - 1]);
                if body.is_empty() {
                    continue;
                }
                if body.len() > limit {
                    let len = body.len();
                    let head = Bytes::copy_from_slice(&body[..limit]);
                    return Ok(Some(self.make_record(
                        start,
                        head,
                        Some(Anomaly::Oversize { len, limit }),
                    )));
                }
                return Ok(Some(self.make_record(
                    start,
                    Bytes::copy_from_slice(body),
                    None,
                )));
            }
            if self.buf.len() > limit {
                // Keep the head, drop the tail as it streams in: memory stays bounded.
                let n = self.buf.len();
                match &mut oversize {
                    Some((_, olen, _)) => *olen += n,
                    None => oversize = Some((self.offset, n, self.buf[..limit].to_vec())),
                }
                self.offset += n as u64;
                self.buf.clear();
            }
            if self.fill().await? {
                self.eof = false;
                continue;
            }
            self.eof = true;
            if self.following() {
                if self.rotated {
                    // The old file is drained (this read hit its end): switch.
                    if let Some(partial) = self.switch_after_rotation(oversize.is_none()).await? {
                        return Ok(Some(partial));
                    }
                    continue;
                }
                self.wait_for_more().await?;
                continue;
            }
            // End of input: yield a final unterminated line, then stop.
            if let Some((ostart, olen, head)) = oversize.take() {
                let olen = olen + self.buf.len();
                self.offset += self.buf.len() as u64;
                self.buf.clear();
                return Ok(Some(self.make_record(
                    ostart,
                    Bytes::from(head),
                    Some(Anomaly::Oversize { len: olen, limit }),
                )));
            }
            if self.buf.is_empty() {
                return Ok(None);
            }
            let start = self.offset;
            let line = std::mem::take(&mut self.buf);
            self.offset += line.len() as u64;
            let body = trim_line(&line);
            if body.is_empty() {
                return Ok(None);
            }
            let (payload, anomaly) = if body.len() > limit {
                (
                    Bytes::copy_from_slice(&body[..limit]),
                    Some(Anomaly::Oversize {
                        len: body.len(),
                        limit,
                    }),
                )
            } else {
                (Bytes::copy_from_slice(body), None)
            };
            return Ok(Some(self.make_record(start, payload, anomaly)));
        }
    }

    fn make_record(&self, start: u64, payload: Bytes, anomaly: Option<Anomaly>) -> Record {
        let anomaly = anomaly.or_else(|| classify_payload(&payload));
        count_anomaly(&self.metrics, anomaly.as_ref());
        Metrics::add(&self.metrics.events_read, 1);
        Metrics::add(&self.metrics.events_emitted, 1);
        let mut pos = json!({ "offset": self.offset });
        if let (Some(id), Some(obj)) = (self.file_id, pos.as_object_mut()) {
            obj.insert("file".into(), json!({"dev": id.dev, "ino": id.ino}));
        }
        Record {
            payload,
            checkpoint: Checkpoint::new(self.identity.clone(), pos),
            meta: RecordMeta {
                source: self.name.clone(),
                stream: Some(self.path_str().into()),
                offset: Some(start),
                anomaly,
                ..RecordMeta::default()
            },
        }
    }
}

fn memchr_newline(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n')
}

fn trim_line(line: &[u8]) -> &[u8] {
    line.trim_ascii()
}

/// The suffix CloudWatch (and EKS) append to cut messages.
pub(crate) const TRUNCATED_MARKER: &[u8] = b"[Truncated...]";

/// Flags payloads that cannot be a whole JSON object (requirement R8).
pub(crate) fn classify_payload(payload: &[u8]) -> Option<Anomaly> {
    let t = payload.trim_ascii();
    if t.ends_with(TRUNCATED_MARKER) {
        Some(Anomaly::Truncated)
    } else if t.first() != Some(&b'{') {
        Some(Anomaly::NotJson)
    } else {
        None
    }
}

pub(crate) fn count_anomaly(metrics: &Metrics, anomaly: Option<&Anomaly>) {
    match anomaly {
        Some(Anomaly::Truncated) => Metrics::add(&metrics.truncated, 1),
        Some(Anomaly::Oversize { .. }) => Metrics::add(&metrics.oversize, 1),
        Some(Anomaly::NotJson) => Metrics::add(&metrics.not_json, 1),
        None => {}
    }
}
