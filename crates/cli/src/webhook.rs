//! `kaudit watch webhook`: the kube-apiserver audit webhook (`--audit-webhook-config-file`).
//!
//! The server ([`kaudit_source::webhook::WebhookServer`]) runs beside the pipeline: its source
//! feeds the pipeline, and its [`WebhookAcks`](kaudit_source::webhook::WebhookAcks) is the
//! pipeline's checkpoint store, so a request is answered 200 once its alerts are delivered. On
//! SIGINT/SIGTERM it stops accepting, the pipeline reads what was accepted, delivers it (up to
//! `--drain-timeout`), the last commit answers those requests, and the rest get 503.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use futures::FutureExt as _;
use kaudit_engine::output::Output;
use kaudit_engine::pipeline::{Notice, Pipeline, PipelineOptions, RetryPolicy};
use kaudit_source::webhook::{TlsFiles, WebhookConfig, WebhookServer};

use crate::{
    OutputArgs, RuleArgs, Served, ServiceArgs, build_outputs, dead_letters, engine_for, metered,
    parse_duration_arg, report_notice, runtime, signals, summary,
};

/// `kaudit watch webhook` options.
#[derive(Debug, Args)]
pub(crate) struct WebhookArgs {
    /// The address to listen on, e.g. 0.0.0.0:9765 (port 0 picks a free port). Without
    /// --token-file or --client-ca it must be a loopback address unless --insecure is given.
    #[arg(long, value_name = "ADDR")]
    listen: SocketAddr,
    /// The request path the apiserver posts to.
    #[arg(long, value_name = "PATH", default_value = kaudit_source::webhook::DEFAULT_PATH)]
    path: String,
    /// A file holding the bearer token clients must send (`Authorization: Bearer …`); re-read
    /// when it changes, so a rotated Secret takes effect without a restart.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require client certificates issued by this PEM CA (mutual TLS; needs --tls-cert).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    client_ca: Option<PathBuf>,
    /// Allow listening on a non-loopback address without any authentication.
    #[arg(long)]
    insecure: bool,
    /// The largest request body, before and after gzip decoding (413 above it).
    #[arg(long, value_name = "BYTES", default_value_t = kaudit_source::webhook::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Events accepted but not yet delivered, over all requests; more are answered 503.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_pending_events: usize,
    /// Open connections at most; more are closed at once.
    #[arg(long, value_name = "N", default_value_t = 64)]
    max_connections: usize,
    /// Time a client has to send a request's headers (and the keep-alive idle limit).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    header_timeout: Option<Duration>,
    /// Time a client has to send a request's body (408 after it).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    body_timeout: Option<Duration>,
    /// How long a request waits for its alerts to be delivered before it is answered 503
    /// (keep it under the apiserver's 30 s request timeout).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    ack_timeout: Option<Duration>,
    #[command(flatten)]
    pub(crate) service: ServiceArgs,
    #[command(flatten)]
    rules: RuleArgs,
    #[command(flatten)]
    pub(crate) outputs: OutputArgs,
}

impl WebhookArgs {
    fn config(&self) -> WebhookConfig {
        let mut config = WebhookConfig::new(self.listen);
        config.path.clone_from(&self.path);
        config.token_file.clone_from(&self.token_file);
        config.tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: self.client_ca.clone(),
            }),
            _ => None,
        };
        config.insecure = self.insecure;
        config.max_body_bytes = self.max_body_bytes;
        config.max_pending_events = self.max_pending_events;
        config.max_connections = self.max_connections;
        if let Some(t) = self.header_timeout {
            config.header_timeout = t;
        }
        if let Some(t) = self.body_timeout {
            config.body_timeout = t;
        }
        if let Some(t) = self.ack_timeout {
            config.ack_timeout = t;
        }
        config
    }
}

/// Runs `kaudit watch webhook` until SIGINT/SIGTERM.
pub(crate) fn watch_webhook(
    args: &WebhookArgs,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<ExitCode, String> {
    let engine = engine_for(&args.rules, err)?;
    let config = args.config();
    let authenticated = config.authenticated();
    let authentication = config.authentication();
    let runtime = runtime()?;
    let server = runtime
        .block_on(WebhookServer::bind(config))
        .map_err(|e| format!("cannot start the webhook: {e}"))?;
    let source = server.source();
    let acks = server.acks();
    let url = server.url();
    let _ = writeln!(
        err,
        "kaudit: listening on {url} (authentication: {authentication})"
    );
    if !authenticated {
        let _ = writeln!(
            err,
            "kaudit: warning: the webhook is unauthenticated: anyone who can reach {url} can post audit events (use --token-file and/or --client-ca)"
        );
    }
    let served = Served::start(&args.service, &runtime, err)?;
    let _ = err.flush();

    let dead = dead_letters(&args.outputs)?;
    let mut options = PipelineOptions {
        retry: RetryPolicy::watch(),
        // The apiserver waits for the answer: commit (answer) as soon as a batch is delivered.
        commit_when_settled: true,
        ..PipelineOptions::default()
    };
    if let Some(t) = args.outputs.drain_timeout {
        options.drain_timeout = Some(t);
    }
    let outputs = build_outputs(&args.outputs, engine.renderer.format, out)?;
    let metrics = served.as_ref().map(|s| &s.metrics);
    let outputs = metered(outputs, metrics);
    let refs: Vec<&dyn Output> = outputs.iter().map(|o| &**o as &dyn Output).collect();
    let mut pipeline = Pipeline::new(&engine, refs)
        .options(options)
        .checkpoints(&acks);
    if let Some(d) = &dead {
        pipeline = pipeline.dead_letters(d);
    }
    let (stop, abort) = signals(&runtime);
    let stop = stop.shared();
    let abort = abort.shared();
    let names = vec![url];
    let mut notice = |n: Notice<'_>| {
        if let Some(m) = metrics {
            m.observe(&n);
        }
        report_notice(err, &names, &n);
    };
    let report = runtime.block_on(async {
        let (ran_tx, ran) = tokio::sync::oneshot::channel::<()>();
        // Stop accepting on the first signal (or when the pipeline ended by itself).
        let serve_shutdown = {
            let stop = stop.clone();
            async move {
                tokio::select! {
                    () = stop => {}
                    _ = ran => {}
                }
            }
        };
        let serve = {
            let abort = abort.clone();
            async move {
                tokio::select! {
                    () = server.serve(serve_shutdown) => {}
                    () = abort => {}
                }
            }
        };
        // The pipeline stops once the source has yielded everything accepted before the
        // signal; the drain timeout then bounds the delivery.
        let pipeline_stop = {
            let source = source.clone();
            async move {
                stop.await;
                source.finished().await;
            }
        };
        let run = async {
            let sources: [&dyn kaudit_source::Source; 1] = [&source];
            let report = pipeline
                .run(&sources, pipeline_stop, abort, &mut notice)
                .await;
            // What the last commit did not acknowledge is answered 503: the apiserver resends.
            acks.abandon();
            let _ = ran_tx.send(());
            report
        };
        let both = async {
            let ((), report) = tokio::join!(serve, run);
            report
        };
        match &served {
            Some(s) => s.beside(&source, both).await,
            None => both.await,
        }
    });
    let report = report.map_err(|e| e.to_string())?;
    let _ = err.write_all(summary(&report.stats, &engine.rules).as_bytes());
    let _ = err.write_all(format!("Alerts delivered:\n{}", report.delivery_summary()).as_bytes());
    Ok(if report.source_errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
