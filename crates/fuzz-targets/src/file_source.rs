//! The file source over arbitrary bytes (read as from a pipe, `Framing::Auto`): line framing,
//! documents, `aws logs filter-log-events` pages and export-to-S3 lines. Nothing may panic, the
//! stream ends, and records come in input order: each record's offset is past the previous
//! one's unless both are messages of the same `filter-log-events` container (same line).

use futures::StreamExt;
use kaudit_source::{FileInput, FileSource, FileSourceConfig, InputReader, Source};

/// Runs the target over `data`.
///
/// # Panics
/// When an invariant of the module documentation breaks.
pub fn run(data: &[u8]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let reader = InputReader::new("fuzz", std::io::Cursor::new(data.to_vec()));
    let mut config = FileSourceConfig::new(FileInput::Reader(reader));
    config.max_line_bytes = 4096;
    config.max_document_bytes = 1 << 20;
    let source = FileSource::new(config);
    runtime.block_on(async {
        let mut stream = source.stream(None);
        let mut last: Option<u64> = None;
        while let Some(item) = stream.next().await {
            let Ok(record) = item else { break };
            let offset = record.meta.offset.expect("file records have offsets");
            assert!(
                offset as usize <= data.len(),
                "offset {offset} past the input"
            );
            if let Some(prev) = last {
                assert!(offset >= prev, "records out of order: {prev} then {offset}");
            }
            last = Some(offset);
        }
    });
}
