//! Line outputs: any writer (stdout) and append-only JSON-lines files.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Stdout, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use kaudit_engine::alert::{Alert, AlertFormat};
use kaudit_engine::output::{Attempt, Output, OutputError};

use crate::target::BuildError;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Writes each alert as one line (Falco's text line or JSON alert, per an [`AlertFormat`]) to
/// a writer; [`Output::flush`] flushes it.
///
/// Writes happen on the calling task while a mutex is held: meant for standard output and
/// in-memory writers, whose writes do not block for long.
///
/// A write or flush failing with [`io::ErrorKind::BrokenPipe`] (the reader of a pipe exited,
/// as in `kaudit scan … | head -1`) closes the output for good ([`Output::is_closed`]): the
/// pipeline stops instead of retrying a pipe nobody reads.
pub struct WriterOutput<W: Write + Send> {
    name: String,
    format: AlertFormat,
    writer: Mutex<W>,
    closed: AtomicBool,
}

impl WriterOutput<BufWriter<Stdout>> {
    /// Standard output (name `stdout`), buffered: alerts reach the terminal or pipe on
    /// [`Output::flush`] (or when the buffer fills).
    #[must_use]
    pub fn stdout(format: AlertFormat) -> Self {
        WriterOutput::new(
            "stdout",
            format,
            BufWriter::with_capacity(64 * 1024, io::stdout()),
        )
    }
}

impl<W: Write + Send> WriterOutput<W> {
    /// An output named `name` writing `format` lines to `writer`.
    pub fn new(name: impl Into<String>, format: AlertFormat, writer: W) -> Self {
        WriterOutput {
            name: name.into(),
            format,
            writer: Mutex::new(writer),
            closed: AtomicBool::new(false),
        }
    }

    /// Runs `f` on the writer (to look at what an in-memory writer holds).
    pub fn with_writer<R>(&self, f: impl FnOnce(&mut W) -> R) -> R {
        f(&mut lock(&self.writer))
    }

    /// The writer.
    pub fn into_inner(self) -> W {
        self.writer
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<W: Write + Send> fmt::Debug for WriterOutput<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriterOutput")
            .field("name", &self.name)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// Writes the lines of `batch` one by one: `Delivered` for each line written, `Retry` from the
/// first error on (the rest are not attempted). A broken pipe sets `closed`.
fn write_lines<W: Write>(
    writer: &mut W,
    format: AlertFormat,
    batch: &[Arc<Alert>],
    closed: Option<&AtomicBool>,
) -> Vec<Attempt> {
    let mut results = Vec::with_capacity(batch.len());
    let mut line = String::new();
    let mut failed: Option<String> = None;
    for alert in batch {
        if let Some(reason) = &failed {
            results.push(Attempt::retry(reason.clone()));
            continue;
        }
        line.clear();
        alert.write_line(format, &mut line);
        match writer.write_all(line.as_bytes()) {
            Ok(()) => results.push(Attempt::Delivered),
            Err(e) => {
                if e.kind() == io::ErrorKind::BrokenPipe
                    && let Some(c) = closed
                {
                    c.store(true, Ordering::Relaxed);
                }
                let reason = format!("write failed: {e}");
                results.push(Attempt::retry(reason.clone()));
                failed = Some(reason);
            }
        }
    }
    results
}

#[async_trait::async_trait]
impl<W: Write + Send> Output for WriterOutput<W> {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, batch: &[Arc<Alert>]) -> Vec<Attempt> {
        write_lines(
            &mut *lock(&self.writer),
            self.format,
            batch,
            Some(&self.closed),
        )
    }

    async fn flush(&self) -> Result<(), OutputError> {
        lock(&self.writer).flush().map_err(|e| {
            if e.kind() == io::ErrorKind::BrokenPipe {
                self.closed.store(true, Ordering::Relaxed);
            }
            OutputError(format!("{}: flush failed: {e}", self.name))
        })
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }
}

/// `file:PATH`: appends Falco's JSON alerts, one per line, to a file (created if missing,
/// opened in append mode), buffered. [`Output::flush`] flushes the buffer and `fdatasync`s the
/// file before returning `Ok`. File IO runs on tokio's blocking pool.
pub struct FileOutput {
    name: String,
    path: PathBuf,
    file: Arc<Mutex<BufWriter<File>>>,
}

/// Opens (creates) `path` for appending; the error names the file.
pub(crate) fn open_append(path: &Path) -> Result<File, BuildError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| BuildError::Open {
            path: path.to_path_buf(),
            source,
        })
}

impl FileOutput {
    /// Opens (creates) `path` for appending. The output is named `file:PATH`.
    ///
    /// # Errors
    /// When the file cannot be opened or created; the error names the file.
    pub fn open(path: impl AsRef<Path>) -> Result<FileOutput, BuildError> {
        let path = path.as_ref().to_path_buf();
        let file = open_append(&path)?;
        Ok(FileOutput {
            name: format!("file:{}", path.display()),
            path,
            file: Arc::new(Mutex::new(BufWriter::with_capacity(64 * 1024, file))),
        })
    }

    /// The file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl fmt::Debug for FileOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileOutput")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl Output for FileOutput {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, batch: &[Arc<Alert>]) -> Vec<Attempt> {
        let file = Arc::clone(&self.file);
        let alerts: Vec<Arc<Alert>> = batch.to_vec();
        let n = batch.len();
        match tokio::task::spawn_blocking(move || {
            write_lines(&mut *lock(&file), AlertFormat::Json, &alerts, None)
        })
        .await
        {
            Ok(results) => results,
            Err(e) => vec![Attempt::retry(format!("write task failed: {e}")); n],
        }
    }

    async fn flush(&self) -> Result<(), OutputError> {
        let file = Arc::clone(&self.file);
        let name = self.name.clone();
        tokio::task::spawn_blocking(move || {
            let mut file = lock(&file);
            file.flush()
                .and_then(|()| file.get_ref().sync_data())
                .map_err(|e| OutputError(format!("{name}: flush failed: {e}")))
        })
        .await
        .map_err(|e| OutputError(format!("{}: flush task failed: {e}", self.name)))?
    }
}
