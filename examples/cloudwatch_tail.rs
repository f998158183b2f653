//! The CloudWatch Logs source configured in code: tail an EKS audit log group for a while.
//!
//! Needs an endpoint: set `KAUDIT_CLOUDWATCH_ENDPOINT` (for example a moto_server,
//! `python3 -m moto.server -p 5000` and `KAUDIT_CLOUDWATCH_ENDPOINT=http://127.0.0.1:5000`), or
//! `KAUDIT_CLOUDWATCH_ENDPOINT=aws` for the real service with the default credential chain.
//! Without it the example says what it needs and exits 0. With `--seed` it first creates the
//! log group and puts the sample audit log into it (for emulators).
//!
//! ```text
//! cargo run --example cloudwatch_tail
//! KAUDIT_CLOUDWATCH_ENDPOINT=http://127.0.0.1:5000 cargo run --example cloudwatch_tail -- --seed
//! ```
//!
//! Other settings: `KAUDIT_LOG_GROUP` (default `/aws/eks/example/cluster`), `AWS_REGION`
//! (default `us-east-1`), `KAUDIT_TAIL_SECONDS` (default 10). Prints the effective start, the
//! alerts as Falco's text lines, and the totals when the time is up.

use std::time::Duration;

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use kaudit::Engine;
use kaudit::engine::alert::AlertFormat;
use kaudit::engine::output::Output;
use kaudit::engine::pipeline::{Notice, Pipeline};
use kaudit::source::Source;
use kaudit::source::cloudwatch::{CloudWatchConfig, CloudWatchSource, StartPosition};

const STREAM: &str = "kube-apiserver-audit-example";
const SAMPLE: &str = include_str!("data/sample-audit.jsonl");

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Ok(endpoint) = std::env::var("KAUDIT_CLOUDWATCH_ENDPOINT") else {
        println!(
            "cloudwatch_tail needs a CloudWatch Logs endpoint and nothing is configured:\n\
             - KAUDIT_CLOUDWATCH_ENDPOINT=http://127.0.0.1:5000 for an emulator such as moto_server\n\
               (pip install 'moto[server]'; python3 -m moto.server -p 5000), with --seed to fill it;\n\
             - KAUDIT_CLOUDWATCH_ENDPOINT=aws for the real service (credentials from the default\n\
               chain, KAUDIT_LOG_GROUP=/aws/eks/<cluster>/cluster, AWS_REGION).\n\
             Nothing to do; exiting."
        );
        return Ok(());
    };
    let group =
        std::env::var("KAUDIT_LOG_GROUP").unwrap_or_else(|_| "/aws/eks/example/cluster".into());
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let seconds: u64 = std::env::var("KAUDIT_TAIL_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let emulator = endpoint != "aws";

    if std::env::args().any(|a| a == "--seed") {
        seed(&endpoint, &region, &group).await?;
    }

    // The source, configured in code; every field of CloudWatchConfig has a documented default.
    let mut config = CloudWatchConfig::new(&group);
    config.region = Some(region);
    config.start = StartPosition::Lookback(Duration::from_secs(15 * 60));
    config.poll_interval = Duration::from_secs(1);
    if emulator {
        config.endpoint_url = Some(endpoint);
        // An emulator's answers do not change after the fact: no need to wait for them to settle.
        config.settle_lag = Duration::from_secs(1);
        config.overlap = Duration::from_secs(2);
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            config.static_credentials = Some(("test".into(), "test".into()));
        }
    }
    config.validate()?;
    let source = CloudWatchSource::connect(config).await?;
    println!("reading {group} {}", source.effective_start(None)?);

    let engine = Engine::builder().builtin_rules().build()?;
    let stdout = kaudit::output::WriterOutput::new("stdout", AlertFormat::Text, std::io::stdout());
    let outputs: Vec<&dyn Output> = vec![&stdout];
    let pipeline = Pipeline::new(&engine, outputs);
    let sources: [&dyn Source; 1] = [&source];
    let stop = tokio::time::sleep(Duration::from_secs(seconds));
    let mut notice = |n: Notice<'_>| match n {
        Notice::Source { error, .. } => eprintln!("source: {error}"),
        Notice::BadEvent { error, .. } => eprintln!("skipped: {error}"),
        _ => {}
    };
    let report = pipeline
        .run(&sources, stop, std::future::pending(), &mut notice)
        .await?;
    println!(
        "after {seconds}s: {} events, {} alerts, {} source errors",
        report.stats.events,
        report.stats.alerts(),
        report.source_errors
    );
    Ok(())
}

/// Creates the log group and an audit stream, and puts the sample log into it (timestamps a
/// minute ago, one millisecond apart).
async fn seed(endpoint: &str, region: &str, group: &str) -> Result<(), Box<dyn std::error::Error>> {
    use aws_sdk_cloudwatchlogs::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_cloudwatchlogs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new("test", "test", None, None, "example"))
        .build();
    let client = aws_sdk_cloudwatchlogs::Client::from_conf(conf);
    // Already there from an earlier run is fine.
    let _ = client.create_log_group().log_group_name(group).send().await;
    let _ = client
        .create_log_stream()
        .log_group_name(group)
        .log_stream_name(STREAM)
        .send()
        .await;
    let now_ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis(),
    )?;
    let lines: Vec<&str> = SAMPLE.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut ts = now_ms - 60_000;
    for chunk in lines.chunks(500) {
        let mut req = client
            .put_log_events()
            .log_group_name(group)
            .log_stream_name(STREAM);
        for line in chunk {
            req = req.log_events(
                InputLogEvent::builder()
                    .timestamp(ts)
                    .message(*line)
                    .build()?,
            );
            ts += 1;
        }
        req.send().await?;
    }
    println!("seeded {group} with {} events", lines.len());
    Ok(())
}
