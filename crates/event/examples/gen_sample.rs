//! Writes the bundled sample audit log `examples/data/sample-audit.jsonl` (at the workspace
//! root) from [`kaudit_event::sample::generate`].
//!
//! ```text
//! cargo run -p kaudit-event --example gen_sample            # writes the default file
//! cargo run -p kaudit-event --example gen_sample -- OUT N   # N events into OUT
//! ```

use kaudit_event::sample::{SAMPLE_COUNT, SAMPLE_SEED, generate};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = args.next().unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/data/sample-audit.jsonl"
        )
        .to_owned()
    });
    let count = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(SAMPLE_COUNT);
    let text = generate(SAMPLE_SEED, count);
    if let Some(dir) = std::path::Path::new(&out).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, text)?;
    println!("wrote {count} events to {out}");
    Ok(())
}
