//! Alerts posted to a falcosidekick-compatible URL, with the pipeline's acknowledged delivery.
//!
//! Evaluates `examples/data/sample-audit.jsonl` with the built-in rules and posts each alert, as
//! Falco's JSON alert, to falcosidekick (`POST /`, one JSON object per request). With no URL it
//! starts a local receiver on 127.0.0.1 that answers 503 to its first request (to show the
//! retry) and then 200, and prints what it received.
//!
//! ```text
//! cargo run --example forward_to_sidekick                         # a local receiver
//! cargo run --example forward_to_sidekick -- http://localhost:2801/  # a real falcosidekick
//! ```
//!
//! Prints the URL, one line per retry, the delivery summary and (local receiver) the rule
//! and priority of every alert the receiver accepted.

use std::time::Duration;

use kaudit::Engine;
use kaudit::engine::alert::AlertFormat;
use kaudit::engine::output::Output;
use kaudit::engine::pipeline::{Notice, Pipeline, PipelineOptions, RetryPolicy};
use kaudit::output::testing::{Behaviour, Receiver};
use kaudit::output::{OutputOptions, Target, build_output};
use kaudit::source::{FileSource, FileSourceConfig, Source};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::builder().builtin_rules().build()?;
    let given = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("FALCOSIDEKICK_URL").ok());
    let receiver = match given {
        Some(_) => None,
        None => Some(
            Receiver::start(Behaviour::RefuseFirst {
                count: 1,
                retry_after: None,
            })
            .await?,
        ),
    };
    let url = given.unwrap_or_else(|| receiver.as_ref().map_or_else(String::new, Receiver::url));
    println!("posting alerts to {url}");

    // The same target syntax as `kaudit scan -o http://…`.
    let target: Target = url.parse()?;
    let output = build_output(&target, &OutputOptions::default(), AlertFormat::Json)?;
    let outputs: Vec<&dyn Output> = vec![&*output];
    let options = PipelineOptions {
        retry: RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            ..RetryPolicy::scan()
        },
        ..PipelineOptions::default()
    };
    let pipeline = Pipeline::new(&engine, outputs).options(options);

    let log = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/data/sample-audit.jsonl"
    );
    let source = FileSource::new(FileSourceConfig::from_arg(log));
    let sources: [&dyn Source; 1] = [&source];
    let mut notice = |n: Notice<'_>| match n {
        Notice::Retrying {
            output,
            reason,
            attempt,
            ..
        } => {
            println!("{output}: {reason} (attempt {attempt}), retrying");
        }
        Notice::Failed {
            output,
            rule,
            reason,
        } => println!("{output}: `{rule}` failed: {reason}"),
        _ => {}
    };
    let report = pipeline
        .run(
            &sources,
            std::future::pending(),
            std::future::pending(),
            &mut notice,
        )
        .await?;
    print!(
        "{} events, {} alerts\ndelivered:\n{}",
        report.stats.events,
        report.stats.alerts(),
        report.delivery_summary()
    );
    if let Some(r) = &receiver {
        println!("the receiver accepted {} alerts:", r.accepted().len());
        for alert in r.accepted() {
            println!(
                "  {} {}",
                alert["priority"].as_str().unwrap_or("?"),
                alert["rule"].as_str().unwrap_or("?")
            );
        }
    }
    if report.all_delivered() {
        Ok(())
    } else {
        Err("some alerts were not delivered".into())
    }
}
