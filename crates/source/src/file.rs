//! The file / stdin source: JSON lines (one record per line) or one JSON document (one record
//! for the whole input), with byte-offset checkpoints.
//!
//! * Plain files, stdin and any [`AsyncRead`] ([`FileInput::Reader`]) are read as they are; a
//!   path ending in `.gz` is decompressed (multi-member gzip is fine). Offsets count
//!   *decompressed* bytes.
//! * [`Framing`] says how the input is cut into records: [`Framing::Lines`] (JSON lines),
//!   [`Framing::Document`] (the whole input is one record, e.g. a pretty-printed JSON array, up
//!   to [`FileSourceConfig::max_document_bytes`]) or [`Framing::Auto`], which looks at the
//!   first non-whitespace bytes (JSON punctuation only: the source knows nothing of what the
//!   JSON means).
//! * In follow mode the source behaves like `tail -F`: at end of file it waits and polls; when
//!   the path is replaced by a new file (rotation by rename) it finishes the old one and starts
//!   the new one at offset 0; when the file shrinks below the read position (copy-truncate) it
//!   starts again at offset 0. A partial last line is only yielded once its newline arrives.
//!   Without follow mode the stream ends at end of file, and a final line without a newline is
//!   yielded.
//! * The checkpoint is `{"offset": <end of the record>, "lines": <line ends before offset>,
//!   "file": {"dev": .., "ino": ..}}`. On resume, a file with another inode (rotated while
//!   kaudit was down) or shorter than the offset (truncated) is read from its start, with a
//!   warning.
//! * Blank lines are skipped. A line longer than `max_line_bytes` is cut to that size (the rest
//!   is skipped without being buffered) and yielded with [`Anomaly::Oversize`]. In lines
//!   framing the read buffer stays under 2 × (`max_line_bytes` + 64 KiB) whatever the input
//!   size (gzip included: the decoder is fed piecemeal, at most 32 KiB of output per step, so a
//!   highly compressible chunk cannot inflate into one huge buffer).

use std::collections::VecDeque;
use std::fmt;
use std::io::{SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
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

/// Default largest input read as one document ([`Framing::Document`]): 256 MiB.
pub const DEFAULT_MAX_DOCUMENT_BYTES: usize = 256 << 20;

/// Where a [`FileSource`] reads from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileInput {
    /// A file path (`.gz` is decompressed).
    Path(PathBuf),
    /// Standard input.
    Stdin,
    /// Any async reader (a pipe, a socket, a child's stdout, an in-memory buffer), read like
    /// stdin: as a stream that cannot seek, never followed. A reader can be read once: the
    /// first [`Source::stream`] takes it and a later one gets a terminal error. Resuming from
    /// a checkpoint skips the bytes before its offset.
    Reader(InputReader),
}

impl FileInput {
    /// A [`FileInput::Reader`] named `name` (the name goes into the source's name and
    /// identity: give each stream its own).
    ///
    /// The bound is tokio's `AsyncRead` on purpose: the sources run on tokio (the crate's one
    /// runtime), and any tokio reader (a pipe, a socket, a child's stdout, `&[u8]`) fits as it
    /// is.
    pub fn reader(name: &str, reader: impl AsyncRead + Send + Unpin + 'static) -> Self {
        FileInput::Reader(InputReader::new(name, reader))
    }
}

type BoxReader = Box<dyn AsyncRead + Send + Unpin>;

/// An async reader for [`FileInput::Reader`], taken by the first stream that reads it.
///
/// Clones share the one reader; equality is identity (clones of one `InputReader` are equal).
#[derive(Clone)]
pub struct InputReader {
    name: Arc<str>,
    reader: Arc<Mutex<Option<BoxReader>>>,
}

impl InputReader {
    /// Wraps `reader`; `name` identifies it in the source's name, identity and errors. Any
    /// tokio `AsyncRead` (see [`FileInput::reader`] for why tokio's).
    pub fn new(name: &str, reader: impl AsyncRead + Send + Unpin + 'static) -> Self {
        InputReader {
            name: name.into(),
            reader: Arc::new(Mutex::new(Some(Box::new(reader)))),
        }
    }

    /// The name given to [`InputReader::new`].
    pub fn name(&self) -> &str {
        &self.name
    }

    fn take(&self) -> Option<BoxReader> {
        self.reader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

impl fmt::Debug for InputReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InputReader")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl PartialEq for InputReader {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.reader, &other.reader)
    }
}

impl Eq for InputReader {}

/// How a [`FileSource`] cuts its input into records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Framing {
    /// One record per non-blank line (JSON lines). Works on endless inputs: each line is
    /// yielded as soon as its newline arrives.
    Lines,
    /// The whole (decompressed) input is one record, for example a pretty-printed JSON array or
    /// object. Its checkpoint is the end of the input, so resuming from it yields nothing. The
    /// input is held in memory: one larger than
    /// [`max_document_bytes`](FileSourceConfig::max_document_bytes) gives a terminal
    /// [`SourceErrorKind::DocumentTooLarge`]. Follow mode does not apply: the stream ends after
    /// the document.
    Document,
    /// Decides from the first non-whitespace bytes of the decompressed input (a leading UTF-8
    /// byte-order mark counts as whitespace): [`Framing::Document`] when the first
    /// non-whitespace byte is `[`, or when the first non-blank line, trimmed, is exactly `{` (a
    /// pretty-printed object); otherwise [`Framing::Lines`] (also for an input that is empty
    /// when follow mode reaches its end). Nothing is parsed: a line of broken JSON, such as one
    /// cut by CloudWatch with `[Truncated...]`, is still a line. Only as much is read as the
    /// decision needs (at most the first non-blank line, up to `max_line_bytes`), and what was
    /// read is kept, so this works on stdin and pipes.
    Auto,
}

impl Framing {
    /// The name [`FromStr`](std::str::FromStr) accepts: `lines`, `document` or `auto`.
    pub fn as_str(self) -> &'static str {
        match self {
            Framing::Lines => "lines",
            Framing::Document => "document",
            Framing::Auto => "auto",
        }
    }
}

impl fmt::Display for Framing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Framing {
    type Err = String;

    /// Parses `lines`, `document` or `auto` (for a command-line option).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "lines" => Ok(Framing::Lines),
            "document" => Ok(Framing::Document),
            "auto" => Ok(Framing::Auto),
            other => Err(format!(
                "unknown framing `{other}`: expected `lines`, `document` or `auto`"
            )),
        }
    }
}

/// Options of a [`FileSource`].
#[derive(Clone, Debug)]
pub struct FileSourceConfig {
    /// What to read.
    pub input: FileInput,
    /// Keep reading at end of file, like `tail -F` (ignored for `.gz` files, stdin, readers and
    /// [`Framing::Document`]).
    pub follow: bool,
    /// How often to look for new data, rotation and truncation in follow mode.
    pub poll_interval: Duration,
    /// Longest line kept whole; longer lines are cut and flagged.
    pub max_line_bytes: usize,
    /// How the input is cut into records.
    pub framing: Framing,
    /// Largest input (decompressed bytes, whitespace included) read as one document.
    pub max_document_bytes: usize,
}

impl FileSourceConfig {
    /// Reads `input` once, to its end, as JSON lines ([`Framing::Lines`]).
    pub fn new(input: FileInput) -> Self {
        FileSourceConfig {
            input,
            follow: false,
            poll_interval: Duration::from_millis(250),
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            framing: Framing::Lines,
            max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
        }
    }

    /// Reads the file at `path`; `-` means stdin. The framing is [`Framing::Auto`].
    pub fn from_arg(path: &str) -> Self {
        let input = if path == "-" {
            FileInput::Stdin
        } else {
            FileInput::Path(PathBuf::from(path))
        };
        Self::new(input).framing(Framing::Auto)
    }

    /// Sets follow mode.
    #[must_use]
    pub fn follow(mut self, follow: bool) -> Self {
        self.follow = follow;
        self
    }

    /// Sets the framing.
    #[must_use]
    pub fn framing(mut self, framing: Framing) -> Self {
        self.framing = framing;
        self
    }
}

/// The file / stdin source: JSON lines or one JSON document, byte-offset checkpoints.
///
/// * Plain files, stdin and readers are read as they are; a path ending in `.gz` is
///   decompressed (multi-member gzip is fine). Offsets count *decompressed* bytes.
/// * The [`Framing`] is lines, one document, or decided from the first bytes
///   ([`Framing::Auto`], the default of [`FileSourceConfig::from_arg`]).
/// * Each record's [`RecordMeta::offset`] is the byte offset of the start of its first line
///   and [`RecordMeta::line`] that line's 1-based number; [`RecordMeta::stream`] is the path
///   (`-` for stdin, the name for a reader).
/// * Lines are yielded as soon as their newline arrives, also from stdin and pipes, so
///   `kubectl logs -f … | kaudit scan -` reports live.
/// * In follow mode the source behaves like `tail -F`: at end of file it waits and polls; when
///   the path is replaced by a new file (rotation by rename) it finishes the old one and starts
///   the new one at offset 0; when the file shrinks below the read position (copy-truncate) it
///   starts again at offset 0. A partial last line is only yielded once its newline arrives.
///   Without follow mode the stream ends at end of file, and a final line without a newline is
///   yielded.
/// * The checkpoint is `{"offset": <end of the record>, "lines": <line ends before offset>,
///   "file": {"dev": .., "ino": ..}}`. On resume, a file with another inode (rotated while
///   kaudit was down) or shorter than the offset (truncated) is read from its start, with a
///   warning. A document's checkpoint is the end of the input; if the input has grown since,
///   the document is read again, with a warning (at-least-once).
/// * Blank lines are skipped. A line longer than `max_line_bytes` is cut to that size (the rest
///   is skipped without being buffered) and yielded with [`Anomaly::Oversize`]. A leading UTF-8
///   byte-order mark is dropped from the first record.
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
            FileInput::Reader(r) => (
                SourceIdentity::new("reader").with("name", r.name()),
                format!("reader:{}", r.name()),
            ),
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
        let mut state = Reader {
            config: self.config.clone(),
            identity: self.identity.clone(),
            name: self.name.clone(),
            metrics: self.metrics.clone(),
            resume,
            input: None,
            framing: Framing::Lines,
            buf: Vec::new(),
            pos: 0,
            offset: 0,
            lines: 0,
            raw_pos: 0,
            file_id: None,
            doc_resume: None,
            rotated: false,
            finished: false,
            done: false,
            pending: VecDeque::new(),
            skip_items: 0,
            stream_name: Arc::from(""),
        };
        state.stream_name = state.path_str().into();
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

/// A record's resume position: `{"offset", "lines"[, "file": {"dev", "ino"}]}` (the JSON
/// [`parse_resume`] reads), kept as numbers until a checkpoint is saved.
#[derive(Debug)]
struct LinePosition {
    offset: u64,
    lines: u64,
    file: Option<FileId>,
}

impl crate::checkpoint::LazyPosition for LinePosition {
    fn to_value(&self) -> serde_json::Value {
        let mut pos = json!({ "offset": self.offset, "lines": self.lines });
        if let (Some(id), Some(obj)) = (self.file, pos.as_object_mut()) {
            obj.insert("file".into(), json!({"dev": id.dev, "ino": id.ino}));
        }
        pos
    }
}

#[derive(Debug)]
struct Resume {
    offset: u64,
    /// Line ends before `offset`; absent in checkpoints of older versions.
    lines: Option<u64>,
    file: Option<FileId>,
    /// Messages of the `filter-log-events` container at `offset` already yielded.
    skip_items: u64,
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
    let lines = pos.get("lines").and_then(serde_json::Value::as_u64);
    let file = pos.get("file").and_then(|f| {
        Some(FileId {
            dev: f.get("dev")?.as_u64()?,
            ino: f.get("ino")?.as_u64()?,
        })
    });
    let skip_items = pos
        .get("skip_items")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    Ok(Resume {
        offset,
        lines,
        file,
        skip_items,
    })
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
    /// A plain file: it can seek.
    File(tokio::fs::File),
    /// Stdin or a reader: it cannot seek.
    Stream(BoxReader),
    /// A gzip file. The decoder is fed at most one `write` (whose output is bounded by the
    /// decoder's 32 KiB buffer) per [`Reader::fill`], so memory stays bounded however well the
    /// data compresses.
    Gz {
        raw: tokio::fs::File,
        decoder: Box<flate2::write::MultiGzDecoder<Vec<u8>>>,
        /// Compressed bytes read; `chunk[lo..hi]` are not yet fed to the decoder.
        chunk: Box<[u8]>,
        lo: usize,
        hi: usize,
        finished: bool,
    },
}

/// An oversize line whose tail is being skipped as it streams in.
struct Oversize {
    start: u64,
    line: u64,
    /// Length so far.
    len: usize,
    head: Vec<u8>,
}

struct Reader {
    config: FileSourceConfig,
    identity: Arc<SourceIdentity>,
    name: Arc<str>,
    metrics: Arc<Metrics>,
    resume: Option<Resume>,
    input: Option<Input>,
    /// Lines or Document, resolved by [`Reader::open`].
    framing: Framing,
    /// Decompressed bytes read; `buf[pos..]` are not consumed yet.
    buf: Vec<u8>,
    pos: usize,
    /// Decompressed offset of `buf[pos]`.
    offset: u64,
    /// Line ends before `buf[pos]`: `buf[pos]` is on line `lines + 1`.
    lines: u64,
    /// Raw (on-disk) read position, for truncation checks.
    raw_pos: u64,
    file_id: Option<FileId>,
    /// The offset of a resume checkpoint in document framing, compared with the input's end.
    doc_resume: Option<u64>,
    /// The path now names another file; switch once the old one is drained.
    rotated: bool,
    /// Nothing more to yield (document framing: the document was yielded or resumed past).
    finished: bool,
    /// A terminal error was yielded.
    done: bool,
    /// Messages of a `filter-log-events` container not yielded yet.
    pending: VecDeque<Record>,
    /// Messages of the first container to skip (resuming inside it).
    skip_items: u64,
    /// [`Reader::path_str`] once, shared by every record's [`RecordMeta::stream`].
    stream_name: Arc<str>,
}

const CHUNK: usize = 64 * 1024;

/// The UTF-8 byte-order mark, dropped at the start of the input.
const BOM: &[u8] = b"\xEF\xBB\xBF";

impl Reader {
    fn path_str(&self) -> String {
        match &self.config.input {
            FileInput::Path(p) => p.display().to_string(),
            FileInput::Stdin => "-".to_owned(),
            FileInput::Reader(r) => r.name().to_owned(),
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

    fn too_large(&self, size: u64, exact: bool) -> SourceError {
        SourceError::new(
            self.name.clone(),
            SourceErrorKind::DocumentTooLarge {
                path: self.path_str(),
                size,
                exact,
                limit: self.config.max_document_bytes as u64,
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

    /// Bytes read but not consumed.
    fn avail(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Consumes the next `n` buffered bytes, counting their line ends.
    fn consume(&mut self, n: usize) {
        let nls = count_newlines(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        self.offset += n as u64;
        self.lines += nls;
    }

    /// Opens the input, resolves the framing and positions the input after the resume
    /// checkpoint.
    async fn open(&mut self) -> Result<(), SourceError> {
        let resume = self.resume.take();
        self.skip_items = resume.as_ref().map_or(0, |r| r.skip_items);
        let mut skip_to = resume.as_ref().map_or(0, |r| r.offset);
        let known_lines = resume.as_ref().and_then(|r| r.lines);
        // The length of a plain (seekable, uncompressed) file.
        let mut plain_len = None;
        match self.config.input.clone() {
            FileInput::Stdin => {
                self.input = Some(Input::Stream(Box::new(tokio::io::stdin())));
            }
            FileInput::Reader(r) => {
                let Some(reader) = r.take() else {
                    return Err(SourceError::new(
                        self.name.clone(),
                        SourceErrorKind::Config(format!(
                            "the reader `{}` was already read by an earlier stream (a reader can be read once)",
                            r.name()
                        )),
                        true,
                    ));
                };
                self.input = Some(Input::Stream(reader));
            }
            FileInput::Path(path) => {
                let file = tokio::fs::File::open(&path)
                    .await
                    .map_err(|e| self.io_err(e))?;
                let meta = file.metadata().await.map_err(|e| self.io_err(e))?;
                self.file_id = file_id(&meta);
                if let Some(r) = &resume {
                    if r.file.is_some() && self.file_id.is_some() && r.file != self.file_id {
                        tracing::warn!(path = %path.display(), "checkpoint was taken on another file (rotated while stopped); reading the current file from its start");
                        skip_to = 0;
                        self.skip_items = 0;
                    } else if !self.is_gz() && meta.len() < r.offset {
                        tracing::warn!(path = %path.display(), offset = r.offset, len = meta.len(), "file is shorter than the checkpoint offset (truncated); reading from its start");
                        skip_to = 0;
                        self.skip_items = 0;
                    }
                }
                if self.is_gz() {
                    self.input = Some(Input::Gz {
                        raw: file,
                        decoder: Box::new(flate2::write::MultiGzDecoder::new(Vec::new())),
                        chunk: vec![0; CHUNK].into_boxed_slice(),
                        lo: 0,
                        hi: 0,
                        finished: false,
                    });
                } else {
                    plain_len = Some(meta.len());
                    self.input = Some(Input::File(file));
                }
            }
        }
        self.framing = match self.config.framing {
            Framing::Auto => self.detect().await?,
            f => f,
        };
        if self.framing == Framing::Document {
            if skip_to > 0 {
                if plain_len.is_some_and(|len| len <= skip_to) {
                    // The checkpoint is at the end of this file's document: nothing is left.
                    self.finished = true;
                    return Ok(());
                }
                self.doc_resume = Some(skip_to);
            }
            if let Some(len) = plain_len
                && len > self.config.max_document_bytes as u64
            {
                return Err(self.too_large(len, true));
            }
            return Ok(());
        }
        // Lines: position the input after the checkpoint.
        if skip_to <= self.offset {
            return Ok(());
        }
        let buffered_end = self.offset + self.avail().len() as u64;
        if skip_to > buffered_end
            && let (Some(Input::File(file)), Some(lines)) = (self.input.as_mut(), known_lines)
        {
            if let Err(e) = file.seek(SeekFrom::Start(skip_to)).await {
                return Err(self.io_err(e));
            }
            self.buf.clear();
            self.pos = 0;
            self.offset = skip_to;
            self.raw_pos = skip_to;
            self.lines = lines;
            return Ok(());
        }
        // Inputs that cannot seek (stdin, readers, gzip), and checkpoints without a line count,
        // skip decompressed bytes, counting line ends.
        loop {
            let n = usize::try_from(skip_to - self.offset)
                .unwrap_or(usize::MAX)
                .min(self.avail().len());
            self.consume(n);
            if self.offset >= skip_to || !self.fill().await? {
                return Ok(());
            }
        }
    }

    /// Resolves [`Framing::Auto`], reading only as much as the decision needs; what was read
    /// stays buffered (blank lines at the front are consumed, as lines framing skips them).
    async fn detect(&mut self) -> Result<Framing, SourceError> {
        let max = self.config.max_line_bytes;
        loop {
            self.skip_blank_lines();
            if let Some(f) = sniff(self.avail(), self.offset == 0, false, max) {
                return Ok(f);
            }
            if !self.fill().await? {
                if self.following() {
                    // A followed file that is empty so far (or whose first line is not
                    // finished) is a log being written: lines.
                    return Ok(Framing::Lines);
                }
                return Ok(
                    sniff(self.avail(), self.offset == 0, true, max).unwrap_or(Framing::Lines)
                );
            }
        }
    }

    /// Consumes the whitespace at the front of the buffer up to its last line end.
    fn skip_blank_lines(&mut self) {
        let avail = self.avail();
        let ws = leading_ws(avail, self.offset == 0);
        if let Some(nl) = avail[..ws].iter().rposition(|&b| b == b'\n') {
            self.consume(nl + 1);
        }
    }

    /// Reads more decompressed bytes onto the end of `buf` (dropping the consumed ones first).
    /// Returns `false` at end of input.
    async fn fill(&mut self) -> Result<bool, SourceError> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
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
            Input::File(f) => {
                let n = read_more(f, &mut self.buf).await.map_err(&io)?;
                self.raw_pos += n as u64;
                Ok(n > 0)
            }
            Input::Stream(r) => {
                let n = read_more(r, &mut self.buf).await.map_err(&io)?;
                self.raw_pos += n as u64;
                Ok(n > 0)
            }
            Input::Gz {
                raw,
                decoder,
                chunk,
                lo,
                hi,
                finished,
            } => loop {
                if *finished {
                    return Ok(false);
                }
                if lo == hi {
                    let n = raw.read(chunk).await.map_err(&io)?;
                    (*lo, *hi) = (0, n);
                    if n == 0 {
                        *finished = true;
                        decoder.try_finish().map_err(&io)?;
                    }
                } else {
                    let n = decoder.write(&chunk[*lo..*hi]).map_err(&io)?;
                    if n == 0 {
                        return Err(io(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            "the gzip decoder accepts no more data",
                        )));
                    }
                    *lo += n;
                }
                let out = decoder.get_mut();
                if !out.is_empty() {
                    self.buf.extend_from_slice(out);
                    out.clear();
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
    /// writer has moved on) is returned as a record, as `tail -F` prints it; so is an oversize
    /// line whose tail was being skipped.
    async fn switch_after_rotation(
        &mut self,
        oversize: Option<Oversize>,
    ) -> Result<Option<Record>, SourceError> {
        self.rotated = false;
        let FileInput::Path(path) = self.config.input.clone() else {
            return Ok(None);
        };
        tracing::info!(path = %path.display(), "file rotated; reading the new file from its start");
        let limit = self.config.max_line_bytes;
        let rest = self.avail().len();
        let (start, line) = (self.offset, self.lines + 1);
        let partial = if let Some(o) = oversize {
            self.consume(rest);
            let anomaly = Anomaly::Oversize {
                len: o.len + rest,
                limit,
            };
            Some(self.make_record(o.start, o.line, Bytes::from(o.head), Some(anomaly)))
        } else {
            let body = trim_record(self.avail(), start == 0);
            let (payload, anomaly) = cut(body, limit);
            self.consume(rest);
            (!payload.is_empty()).then(|| self.line_record(start, line, payload, anomaly))
        };
        self.reopen_at_zero(&path).await?;
        Ok(partial)
    }

    async fn reopen_at_zero(&mut self, path: &Path) -> Result<(), SourceError> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| self.io_err(e))?;
        let meta = file.metadata().await.map_err(|e| self.io_err(e))?;
        self.file_id = file_id(&meta);
        self.input = Some(Input::File(file));
        self.buf.clear();
        self.pos = 0;
        self.offset = 0;
        self.lines = 0;
        self.raw_pos = 0;
        Ok(())
    }

    async fn next_record(&mut self) -> Result<Option<Record>, SourceError> {
        loop {
            if let Some(r) = self.pending.pop_front() {
                return Ok(Some(r));
            }
            if self.input.is_none() {
                self.open().await?;
            }
            if self.finished {
                return Ok(None);
            }
            let record = match self.framing {
                Framing::Document => self.next_document().await?,
                Framing::Lines | Framing::Auto => self.next_line().await?,
            };
            let Some(record) = record else {
                return Ok(None);
            };
            if record.meta.anomaly.is_none()
                && crate::export::looks_like_pages(&record.payload)
                && let Some(items) = crate::export::page_items(&record.payload)
            {
                // Uncounted: each message is counted as a record instead.
                Metrics::sub(&self.metrics.events_read, 1);
                Metrics::sub(&self.metrics.events_emitted, 1);
                self.expand_pages(&record, items);
                continue;
            }
            self.skip_items = 0;
            return Ok(Some(record));
        }
    }

    /// Queues the messages of a `filter-log-events` container (a page, or several) as records.
    /// The last one carries the container's checkpoint; the others resume inside it (the
    /// container's start plus how many of its messages were yielded).
    fn expand_pages(&mut self, container: &Record, items: Vec<crate::export::PageItem>) {
        let start = container.meta.offset.unwrap_or(0);
        let first_line = container.meta.line.unwrap_or(1);
        let skip = std::mem::take(&mut self.skip_items);
        let n = items.len() as u64;
        for (i, item) in (0u64..).zip(items) {
            if i < skip {
                continue;
            }
            let checkpoint = if i + 1 == n {
                container.checkpoint.clone()
            } else {
                let mut pos = container.checkpoint.position();
                if let Some(obj) = pos.as_object_mut() {
                    obj.insert("offset".into(), json!(start));
                    obj.insert("lines".into(), json!(first_line - 1));
                    obj.insert("skip_items".into(), json!(i + 1));
                }
                Checkpoint::new(self.identity.clone(), pos)
            };
            let anomaly = classify_payload(&item.payload);
            count_anomaly(&self.metrics, anomaly.as_ref());
            Metrics::add(&self.metrics.events_read, 1);
            Metrics::add(&self.metrics.events_emitted, 1);
            self.pending.push_back(Record {
                payload: item.payload,
                checkpoint,
                meta: RecordMeta {
                    source: self.name.clone(),
                    stream: item.stream.map(Into::into),
                    timestamp_ms: item.timestamp_ms,
                    ingestion_time_ms: item.ingestion_time_ms,
                    event_id: item.event_id,
                    offset: Some(start + item.rel_offset as u64),
                    line: Some(first_line + item.rel_lines),
                    anomaly,
                },
            });
        }
    }

    /// Document framing: reads the whole input (up to `max_document_bytes`) as one record.
    async fn next_document(&mut self) -> Result<Option<Record>, SourceError> {
        self.finished = true;
        let limit = self.config.max_document_bytes as u64;
        loop {
            let read = self.offset + self.avail().len() as u64;
            if read > limit {
                return Err(self.too_large(read, false));
            }
            if !self.fill().await? {
                break;
            }
        }
        let end = self.offset + self.avail().len() as u64;
        if let Some(at) = self.doc_resume.take() {
            if at >= end {
                // Resumed from the checkpoint at the end of this document.
                return Ok(None);
            }
            if self.skip_items == 0 {
                tracing::warn!(path = %self.path_str(), offset = at, len = end, "the input grew after the checkpoint taken at the end of its document; reading the whole document again");
            }
        }
        let data = self.avail();
        let ws = leading_ws(data, self.offset == 0);
        if ws == data.len() {
            let n = data.len();
            self.consume(n);
            return Ok(None);
        }
        let line_start = data[..ws]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let body_end = data
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(0, |i| i + 1);
        let first_line = self.lines + 1 + count_newlines(&data[..line_start]);
        let start = self.offset + line_start as u64;
        let all_lines = count_newlines(data);
        let body = self.pos + ws..self.pos + body_end;
        self.offset = end;
        self.lines += all_lines;
        self.pos = 0;
        let payload = Bytes::from(std::mem::take(&mut self.buf)).slice(body);
        let anomaly = classify_document(&payload);
        Ok(Some(self.make_record(start, first_line, payload, anomaly)))
    }

    /// Lines framing: the next non-blank line.
    async fn next_line(&mut self) -> Result<Option<Record>, SourceError> {
        let limit = self.config.max_line_bytes;
        let mut oversize: Option<Oversize> = None;
        loop {
            if let Some(nl) = memchr_newline(self.avail()) {
                let (start, line) = (self.offset, self.lines + 1);
                let body = self.pos..self.pos + nl;
                self.pos += nl + 1;
                self.offset += nl as u64 + 1;
                self.lines += 1;
                if let Some(o) = oversize.take() {
                    let anomaly = Anomaly::Oversize {
                        len: o.len + nl,
                        limit,
                    };
                    return Ok(Some(self.make_record(
                        o.start,
                        o.line,
                        Bytes::from(o.head),
                        Some(anomaly),
                    )));
                }
                let body = trim_record(&self.buf[body], start == 0);
                if body.is_empty() {
                    continue;
                }
                let (payload, anomaly) = cut(body, limit);
                return Ok(Some(self.line_record(start, line, payload, anomaly)));
            }
            let n = self.avail().len();
            if n > limit {
                // Keep the head, drop the tail as it streams in: memory stays bounded.
                match &mut oversize {
                    Some(o) => o.len += n,
                    None => {
                        oversize = Some(Oversize {
                            start: self.offset,
                            line: self.lines + 1,
                            len: n,
                            head: self.avail()[..limit].to_vec(),
                        });
                    }
                }
                // No line end in these bytes: the line count stays.
                self.offset += n as u64;
                self.pos = self.buf.len();
            }
            if self.fill().await? {
                continue;
            }
            if self.following() {
                if self.rotated {
                    // The old file is drained (this read hit its end): switch.
                    if let Some(partial) = self.switch_after_rotation(oversize.take()).await? {
                        return Ok(Some(partial));
                    }
                    continue;
                }
                self.wait_for_more().await?;
                continue;
            }
            // End of input: yield a final unterminated line, then stop.
            let rest = self.avail().len();
            if let Some(o) = oversize.take() {
                self.consume(rest);
                let anomaly = Anomaly::Oversize {
                    len: o.len + rest,
                    limit,
                };
                return Ok(Some(self.make_record(
                    o.start,
                    o.line,
                    Bytes::from(o.head),
                    Some(anomaly),
                )));
            }
            let (start, line) = (self.offset, self.lines + 1);
            let (payload, anomaly) = cut(trim_record(self.avail(), start == 0), limit);
            self.consume(rest);
            if payload.is_empty() {
                return Ok(None);
            }
            return Ok(Some(self.line_record(start, line, payload, anomaly)));
        }
    }

    /// A record of lines framing: the payload is classified unless already flagged.
    fn line_record(
        &self,
        start: u64,
        line: u64,
        payload: Bytes,
        anomaly: Option<Anomaly>,
    ) -> Record {
        // An export-to-S3 line: `<RFC 3339 timestamp> <message>`.
        if anomaly.is_none()
            && let Some((prefix, ms)) = crate::export::s3_prefix(&payload)
        {
            let payload = payload.slice(prefix..);
            let anomaly = classify_payload(&payload);
            let mut record = self.make_record(start, line, payload, anomaly);
            record.meta.timestamp_ms = Some(ms);
            return record;
        }
        let anomaly = anomaly.or_else(|| classify_payload(&payload));
        self.make_record(start, line, payload, anomaly)
    }

    /// A record starting at `start` on line `line`, whose checkpoint is the current position.
    fn make_record(
        &self,
        start: u64,
        line: u64,
        payload: Bytes,
        anomaly: Option<Anomaly>,
    ) -> Record {
        count_anomaly(&self.metrics, anomaly.as_ref());
        Metrics::add(&self.metrics.events_read, 1);
        Metrics::add(&self.metrics.events_emitted, 1);
        // Built as JSON only when a checkpoint is saved or compared, not per record.
        let pos = LinePosition {
            offset: self.offset,
            lines: self.lines,
            file: self.file_id,
        };
        Record {
            payload,
            checkpoint: Checkpoint::lazy(self.identity.clone(), Arc::new(pos)),
            meta: RecordMeta {
                source: self.name.clone(),
                stream: Some(self.stream_name.clone()),
                offset: Some(start),
                line: Some(line),
                anomaly,
                ..RecordMeta::default()
            },
        }
    }
}

/// Reads what is available (at least one byte, or none at end of input) onto the end of `buf`.
async fn read_more(r: &mut (impl AsyncRead + Unpin), buf: &mut Vec<u8>) -> std::io::Result<usize> {
    buf.reserve(CHUNK);
    r.read_buf(buf).await
}

/// Decides [`Framing::Auto`] from the unconsumed bytes `b` (`at_start`: `b` starts the input;
/// `eof`: nothing follows `b`). `None`: more bytes are needed.
fn sniff(b: &[u8], at_start: bool, eof: bool, max_line: usize) -> Option<Framing> {
    if at_start && !eof && !b.is_empty() && b.len() < BOM.len() && BOM.starts_with(b) {
        return None;
    }
    let ws = leading_ws(b, at_start);
    match b.get(ws) {
        None if eof || b.len() > max_line => Some(Framing::Lines),
        None => None,
        Some(b'[') => Some(Framing::Document),
        Some(b'{') => {
            let rest = &b[ws + 1..];
            match rest
                .iter()
                .position(|&c| c == b'\n' || !c.is_ascii_whitespace())
            {
                // `{` alone on its line: a pretty-printed object.
                Some(j) if rest[j] == b'\n' => Some(Framing::Document),
                Some(_) => Some(Framing::Lines),
                None if eof => Some(Framing::Document),
                None if rest.len() > max_line => Some(Framing::Lines),
                None => None,
            }
        }
        Some(_) => Some(Framing::Lines),
    }
}

/// The length of the whitespace at the front of `b` (a byte-order mark counts `at_start`).
fn leading_ws(b: &[u8], at_start: bool) -> usize {
    let skip = if at_start && b.starts_with(BOM) {
        BOM.len()
    } else {
        0
    };
    skip + b[skip..]
        .iter()
        .take_while(|c| c.is_ascii_whitespace())
        .count()
}

fn count_newlines(b: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', b).count() as u64
}

fn memchr_newline(buf: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', buf)
}

/// A line without its surrounding whitespace (and without a byte-order mark `at_start`).
fn trim_record(line: &[u8], at_start: bool) -> &[u8] {
    let line = line.trim_ascii();
    match line.strip_prefix(BOM) {
        Some(rest) if at_start => rest.trim_ascii_start(),
        _ => line,
    }
}

/// A line's payload, cut to `limit` bytes (and flagged) when longer.
fn cut(body: &[u8], limit: usize) -> (Bytes, Option<Anomaly>) {
    if body.len() > limit {
        (
            Bytes::copy_from_slice(&body[..limit]),
            Some(Anomaly::Oversize {
                len: body.len(),
                limit,
            }),
        )
    } else {
        (Bytes::copy_from_slice(body), None)
    }
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

/// Flags documents that cannot be a whole JSON array or object.
fn classify_document(payload: &[u8]) -> Option<Anomaly> {
    if payload.ends_with(TRUNCATED_MARKER) {
        Some(Anomaly::Truncated)
    } else if !matches!(payload.first(), Some(b'[' | b'{')) {
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
