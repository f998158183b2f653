//! Dead letters as JSON lines in a file.

use std::fmt;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use kaudit_engine::alert::Alert;
use kaudit_engine::output::{DeadLetterSink, OutputError};

use crate::target::BuildError;

/// Appends one JSON line per dead letter to a file:
///
/// ```text
/// {"alert":<Falco's JSON alert>,"output":"<output name>","reason":"…","attempts":N,"time":"<RFC 3339, UTC>"}
/// ```
///
/// `time` is when the alert was dead-lettered. Each record is written and `fdatasync`ed before
/// [`DeadLetterSink::write`] returns `Ok` (on tokio's blocking pool).
pub struct DeadLetterFile {
    path: PathBuf,
    file: Arc<Mutex<File>>,
    clock: fn() -> SystemTime,
}

#[derive(serde::Serialize)]
struct Record<'a> {
    alert: &'a Alert,
    output: &'a str,
    reason: &'a str,
    attempts: u32,
    time: String,
}

impl DeadLetterFile {
    /// Opens (creates) `path` for appending.
    ///
    /// # Errors
    /// When the file cannot be opened or created; the error names the file.
    pub fn open(path: impl AsRef<Path>) -> Result<DeadLetterFile, BuildError> {
        let path = path.as_ref().to_path_buf();
        let file = crate::writer::open_append(&path)?;
        Ok(DeadLetterFile {
            path,
            file: Arc::new(Mutex::new(file)),
            clock: SystemTime::now,
        })
    }

    /// Uses `clock` for the records' `time` instead of the system clock (for tests).
    #[must_use]
    pub fn with_clock(mut self, clock: fn() -> SystemTime) -> DeadLetterFile {
        self.clock = clock;
        self
    }

    /// The file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The record line (with its `\n`) for one dead letter at time `now`.
    fn line(alert: &Alert, output: &str, reason: &str, attempts: u32, now: SystemTime) -> String {
        let time = jiff::Timestamp::try_from(now)
            .map(|ts| ts.to_string())
            .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned());
        let record = Record {
            alert,
            output,
            reason,
            attempts,
            time,
        };
        // Owned strings, maps and integers: serializing into a String cannot fail.
        let mut line = serde_json::to_string(&record).unwrap_or_default();
        line.push('\n');
        line
    }
}

impl fmt::Debug for DeadLetterFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadLetterFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl DeadLetterSink for DeadLetterFile {
    async fn write(
        &self,
        alert: &Alert,
        output: &str,
        reason: &str,
        attempts: u32,
    ) -> Result<(), OutputError> {
        let line = DeadLetterFile::line(alert, output, reason, attempts, (self.clock)());
        let file = Arc::clone(&self.file);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut file = file.lock().unwrap_or_else(PoisonError::into_inner);
            file.write_all(line.as_bytes())
                .and_then(|()| file.sync_data())
                .map_err(|e| {
                    OutputError(format!(
                        "dead letters `{}`: write failed: {e}",
                        path.display()
                    ))
                })
        })
        .await
        .map_err(|e| OutputError(format!("dead letters: write task failed: {e}")))?
    }
}
