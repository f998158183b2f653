//! kaudit-cli: the `kaudit` command line.
//!
//! ```text
//! kaudit scan [--rules FILE]... [--format text|json] [--all-matches] [--min-priority P]
//!             [--compat falco] [--disable-rule NAME]... [--disable-tag TAG]...
//!             [--enable-tag TAG]... [--enable-rule NAME]... [-o key=value]... [PATH|-]...
//! kaudit watch cloudwatch --log-group G [--region R] [--profile P] [--endpoint-url U]
//!             [--start S] [--checkpoint FILE] [the rule and output options of scan]
//! kaudit rules check FILE...
//! kaudit rules list [FILE...]
//! kaudit fields
//! kaudit debug ast|expanded|program '<condition>'
//! ```
//!
//! With no `--rules`, the built-in ruleset ([`DEFAULT_RULES`]) is used. Alerts go to stdout,
//! the summary and every diagnostic to stderr. Exit codes: 0 success, 1 a rules file or an
//! input could not be used, 2 bad command-line usage.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use kaudit_condition::NoMacros;
use kaudit_event::{Compat, DecodeOptions, FALCO_MAX_EVENT_SIZE, FIELDS, K8sAuditSchema};

use kaudit_engine::alert::{AlertFormat, AlertRenderer, TimeFormat, TimeZone};
use kaudit_engine::output::Output;
use kaudit_engine::pipeline::{Notice, Pipeline, PipelineOptions, RetryPolicy, RunReport};
use kaudit_engine::ruleset::{Matching, Rule, RuleSet, Selection};
use kaudit_engine::run::{Engine, Stats};
use kaudit_rules::Priority;
use kaudit_rules::{LoadOptions, RuleFile};

mod webhook;

/// The built-in ruleset (`crates/cli/rules/default.yaml`), used when no `--rules` is given.
pub const DEFAULT_RULES: &str = include_str!("../rules/default.yaml");

/// The name the built-in ruleset is reported under.
pub const DEFAULT_RULES_NAME: &str = "<built-in rules/default.yaml>";

#[derive(Debug, Parser)]
#[command(
    name = "kaudit",
    version,
    about = "Falco's Kubernetes-audit rules over Kubernetes audit logs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Evaluate rules on audit log files (JSON lines, Event, EventList or arrays; .gz too).
    Scan(Box<ScanArgs>),
    /// Follow a live source and evaluate rules on every event.
    #[command(subcommand)]
    Watch(WatchCommand),
    /// Validate or list rules files.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// List the fields conditions and outputs can use.
    Fields,
    /// Show how a condition parses, expands and compiles.
    Debug {
        /// Which stage to print.
        #[arg(value_enum)]
        stage: DebugStage,
        /// The condition text.
        condition: String,
    },
}

#[derive(Debug, Subcommand)]
enum WatchCommand {
    /// Poll an EKS control-plane log group in CloudWatch Logs.
    Cloudwatch(Box<CloudWatchArgs>),
    /// Serve the kube-apiserver audit webhook (`--audit-webhook-config-file`).
    Webhook(Box<webhook::WebhookArgs>),
}

#[derive(Debug, Args)]
struct CloudWatchArgs {
    /// The log group, e.g. /aws/eks/<cluster>/cluster.
    #[arg(long)]
    log_group: String,
    /// AWS region (default from the environment or profile).
    #[arg(long)]
    region: Option<String>,
    /// Shared-config profile.
    #[arg(long)]
    profile: Option<String>,
    /// Endpoint URL override (VPC endpoints, emulators).
    #[arg(long)]
    endpoint_url: Option<String>,
    /// Where to start: `checkpoint` (default: resume, else look back 60s), `now`, a look-back
    /// such as `-15m`, or an RFC 3339 instant.
    #[arg(long, allow_hyphen_values = true, value_name = "START")]
    start: Option<String>,
    /// Checkpoint file: resume from it, and commit to it after alerts are written.
    #[arg(long)]
    checkpoint: Option<String>,
    /// Only read log streams whose name starts with this (e.g. kube-apiserver-audit).
    #[arg(long)]
    stream_prefix: Option<String>,
    /// Role to assume on top of the default credential chain.
    #[arg(long)]
    role_arn: Option<String>,
    /// How often to poll for new events (e.g. 5s, 500ms).
    #[arg(long, value_name = "DURATION")]
    poll_interval: Option<String>,
    /// How far behind "now" a window must end, so late-ingested events are not missed (e.g. 10s).
    #[arg(long, value_name = "DURATION")]
    settle_lag: Option<String>,
    /// The most history a start position or checkpoint may replay (e.g. 24h).
    #[arg(long, value_name = "DURATION")]
    max_backfill: Option<String>,
    #[command(flatten)]
    rules: RuleArgs,
    #[command(flatten)]
    outputs: OutputArgs,
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// Validate rules files like `falco -V` (every error and warning, with its code).
    Check {
        /// Rules files, loaded in order.
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// List the rules of the given files (the built-in ruleset when none).
    List {
        /// Rules files, loaded in order.
        files: Vec<String>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum DebugStage {
    /// The parsed tree.
    Ast,
    /// The tree after macro expansion (no macros are defined here).
    Expanded,
    /// The compiled program against the k8s audit field table.
    Program,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum CompatArg {
    /// Reproduce Falco's k8saudit extraction quirks and its 256 KiB event size limit.
    Falco,
    /// Extract the correct values where Falco has known bugs (the default).
    Correct,
}

#[derive(Debug, Args)]
struct RuleArgs {
    /// A rules file; repeat to load several in order. Default: the built-in ruleset.
    #[arg(long = "rules", short = 'r', value_name = "FILE")]
    rules: Vec<String>,
    /// Alert format.
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Emit every matching rule, not only the first (Falco `rule_matching: all`).
    #[arg(long)]
    all_matches: bool,
    /// Skip rules less severe than this priority.
    #[arg(long, value_name = "PRIORITY")]
    min_priority: Option<String>,
    /// Field extraction compatibility.
    #[arg(long, value_enum)]
    compat: Option<CompatArg>,
    /// Disable the rule with this name (`*` wildcards allowed).
    #[arg(long, value_name = "NAME")]
    disable_rule: Vec<String>,
    /// Enable the rule with this name even if the file disables it.
    #[arg(long, value_name = "NAME")]
    enable_rule: Vec<String>,
    /// Disable every rule with this tag.
    #[arg(long, value_name = "TAG")]
    disable_tag: Vec<String>,
    /// Only enable rules with this tag (repeatable).
    #[arg(long, value_name = "TAG")]
    enable_tag: Vec<String>,
    /// Time zone of the text prefix: `local` (default, as Falco), `utc`, or `+HH:MM`/`-HH:MM`.
    #[arg(long, value_name = "ZONE", default_value = "local")]
    time_zone: String,
    /// The JSON alerts' `hostname` (default: `FALCO_HOSTNAME`, else the system host name).
    #[arg(long, value_name = "NAME")]
    hostname: Option<String>,
    /// Falco-style overrides: json_output=true|false, time_format_iso_8601=true|false,
    /// rule_matching=first|all, priority=P.
    #[arg(short = 'o', value_name = "KEY=VALUE")]
    options: Vec<String>,
}

/// Where alerts go, and what happens to those that cannot be delivered.
#[derive(Debug, Args)]
struct OutputArgs {
    /// Where alerts go; repeat for several: `stdout` (the default), `file:PATH` (JSON lines),
    /// `http://…` / `https://…` (falcosidekick: one JSON alert per POST), `webhook:URL`.
    #[arg(long = "output", value_name = "TARGET", value_parser = parse_target_arg)]
    outputs: Vec<kaudit_output::Target>,
    /// Append alerts that cannot be delivered (refused, or out of retries) to this file as JSON
    /// lines, with the reason; they then count as delivered.
    #[arg(long, value_name = "PATH")]
    dead_letter: Option<String>,
    /// HTTP outputs: per-request timeout (e.g. 10s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    output_timeout: Option<std::time::Duration>,
    /// HTTP outputs: a PEM file of CA certificates to trust besides the system roots.
    #[arg(long, value_name = "FILE")]
    output_ca_file: Option<std::path::PathBuf>,
    /// HTTP outputs: a PEM client certificate for mutual TLS (with --output-client-key).
    #[arg(long, value_name = "FILE", requires = "output_client_key")]
    output_client_cert: Option<std::path::PathBuf>,
    /// HTTP outputs: the PEM private key of --output-client-cert.
    #[arg(long, value_name = "FILE", requires = "output_client_cert")]
    output_client_key: Option<std::path::PathBuf>,
    /// HTTP outputs: an extra request header `Name: value` (repeatable).
    #[arg(long, value_name = "NAME:VALUE", value_parser = parse_header_arg)]
    output_header: Vec<(String, String)>,
    /// Webhook outputs: `Authorization: Bearer` token.
    #[arg(long, value_name = "TOKEN")]
    output_bearer_token: Option<String>,
    /// Webhook outputs: post JSON arrays of up to N alerts instead of one alert per request.
    #[arg(long, value_name = "N")]
    output_batch: Option<usize>,
    /// On SIGINT/SIGTERM, how long outputs may take to deliver what is queued before kaudit
    /// exits anyway (undelivered alerts are read again on the next start).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    drain_timeout: Option<std::time::Duration>,
}

fn parse_target_arg(s: &str) -> Result<kaudit_output::Target, String> {
    kaudit_output::parse_target(s).map_err(|e| e.to_string())
}

fn parse_duration_arg(s: &str) -> Result<std::time::Duration, String> {
    kaudit_source::time::parse_duration(s).map_err(|e| format!("invalid duration `{s}`: {e}"))
}

fn parse_header_arg(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}`: expected NAME:VALUE"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("`{s}`: empty header name"));
    }
    Ok((name.to_owned(), value.trim().to_owned()))
}

#[derive(Debug, Args)]
struct ScanArgs {
    #[command(flatten)]
    rules: RuleArgs,
    #[command(flatten)]
    outputs: OutputArgs,
    /// Do not print the summary on stderr.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Input files; `-` is stdin (the default when none).
    paths: Vec<String>,
}

/// Runs the `kaudit` command line and returns the process exit code.
#[must_use]
pub fn main() -> ExitCode {
    let mut out = std::io::BufWriter::new(std::io::stdout());
    let mut err = std::io::stderr();
    let code = run_with(std::env::args_os(), &mut out, &mut err);
    if out.flush().is_err() {
        return ExitCode::FAILURE;
    }
    code
}

/// Runs the command line `args` (the first item is the program name), writing alerts and
/// reports to `out` and the summary and diagnostics to `err`. [`main`] calls it with the
/// process's arguments and streams; tests call it directly.
pub fn run_with<I, T>(
    args: I,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let text = e.render().to_string();
            return if e.use_stderr() {
                let _ = err.write_all(text.as_bytes());
                ExitCode::from(2)
            } else {
                let _ = out.write_all(text.as_bytes());
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli, out, err) {
        Ok(code) => code,
        Err(msg) => {
            let _ = writeln!(err, "kaudit: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run(
    cli: Cli,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<ExitCode, String> {
    match cli.command {
        Command::Scan(args) => scan(&args, out, err),
        Command::Watch(WatchCommand::Cloudwatch(args)) => watch_cloudwatch(&args, out, err),
        Command::Watch(WatchCommand::Webhook(args)) => webhook::watch_webhook(&args, out, err),
        Command::Rules(RulesCommand::Check { files }) => rules_check(&files, out),
        Command::Rules(RulesCommand::List { files }) => rules_list(&files, out, err),
        Command::Fields => {
            write_out(out, &fields_text())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Debug { stage, condition } => debug(stage, &condition, out),
    }
}

fn write_out(out: &mut dyn Write, text: &str) -> Result<(), String> {
    out.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write output: {e}"))
}

/// Everything the rule options decide.
struct Settings {
    selection: Selection,
    renderer: AlertRenderer,
    compat: Compat,
}

fn settings(args: &RuleArgs) -> Result<Settings, String> {
    let hostname = args.hostname.clone().unwrap_or_else(hostname);
    let mut format = match args.format {
        Some(FormatArg::Json) => AlertFormat::Json,
        Some(FormatArg::Text) | None => AlertFormat::Text,
    };
    let mut time_format = TimeFormat::Time;
    let mut matching = if args.all_matches {
        Matching::All
    } else {
        Matching::First
    };
    let mut min_priority = match &args.min_priority {
        Some(p) => Some(parse_priority(p)?),
        None => None,
    };
    for opt in &args.options {
        let (key, value) = opt
            .split_once('=')
            .ok_or_else(|| format!("-o {opt}: expected key=value"))?;
        match key {
            "json_output" => {
                format = if parse_bool(key, value)? {
                    AlertFormat::Json
                } else {
                    AlertFormat::Text
                };
            }
            "time_format_iso_8601" => {
                time_format = if parse_bool(key, value)? {
                    TimeFormat::Iso8601
                } else {
                    TimeFormat::Time
                };
            }
            "rule_matching" => {
                matching = match value {
                    "first" => Matching::First,
                    "all" => Matching::All,
                    _ => return Err(format!("-o {opt}: rule_matching is `first` or `all`")),
                };
            }
            "priority" => min_priority = Some(parse_priority(value)?),
            _ => {
                return Err(format!(
                    "-o {opt}: unknown key `{key}` (known: json_output, time_format_iso_8601, rule_matching, priority)"
                ));
            }
        }
    }
    let time_zone = parse_time_zone(&args.time_zone)?;
    Ok(Settings {
        selection: Selection {
            min_priority,
            enable_tags: args.enable_tag.clone(),
            disable_tags: args.disable_tag.clone(),
            disable_rules: args.disable_rule.clone(),
            enable_rules: args.enable_rule.clone(),
            matching,
            no_index: false,
        },
        renderer: AlertRenderer {
            format,
            time_format,
            time_zone,
            hostname,
        },
        compat: match args.compat {
            Some(CompatArg::Falco) => Compat::Falco,
            Some(CompatArg::Correct) | None => Compat::Correct,
        },
    })
}

fn parse_priority(p: &str) -> Result<Priority, String> {
    p.parse()
        .map_err(|_| format!("unknown priority `{p}` (emergency, alert, critical, error, warning, notice, informational, debug)"))
}

fn parse_bool(key: &str, v: &str) -> Result<bool, String> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("-o {key}={v}: expected true or false")),
    }
}

fn parse_time_zone(z: &str) -> Result<TimeZone, String> {
    match z {
        "local" => Ok(TimeZone::local()),
        "utc" | "UTC" => Ok(TimeZone::Utc),
        _ => {
            let bad = || format!("--time-zone {z}: expected local, utc, +HH:MM or -HH:MM");
            let (sign, rest) = match z.as_bytes().first() {
                Some(b'+') => (1, &z[1..]),
                Some(b'-') => (-1, &z[1..]),
                _ => return Err(bad()),
            };
            let (h, m) = rest.split_once(':').ok_or_else(bad)?;
            let h: i32 = h.parse().map_err(|_| bad())?;
            let m: i32 = m.parse().map_err(|_| bad())?;
            if h > 23 || m > 59 {
                return Err(bad());
            }
            Ok(TimeZone::Fixed(sign * (h * 3600 + m * 60)))
        }
    }
}

/// Falco's `hostname`: the `FALCO_HOSTNAME` environment variable, else the system host name.
fn hostname() -> String {
    if let Ok(h) = std::env::var("FALCO_HOSTNAME")
        && !h.is_empty()
    {
        return h;
    }
    for path in ["/proc/sys/kernel/hostname", "/etc/hostname"] {
        if let Ok(h) = std::fs::read_to_string(path) {
            let h = h.trim();
            if !h.is_empty() {
                return h.to_owned();
            }
        }
    }
    "localhost".to_owned()
}

fn read_rule_files(paths: &[String]) -> Result<Vec<RuleFile>, String> {
    if paths.is_empty() {
        return Ok(vec![RuleFile::new(DEFAULT_RULES_NAME, DEFAULT_RULES)]);
    }
    paths
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .map(|text| RuleFile::new(p.clone(), text))
                .map_err(|e| format!("cannot read rules file {p}: {e}"))
        })
        .collect()
}

/// Loads rules files into a rule set, or renders the load errors.
fn build_ruleset(
    paths: &[String],
    schema: &K8sAuditSchema,
    selection: &Selection,
    err: &mut dyn Write,
) -> Result<RuleSet<kaudit_event::Field>, String> {
    let files = read_rule_files(paths)?;
    let result = kaudit_rules::load(&files, schema, &LoadOptions::k8s_audit());
    let texts: Vec<(&str, &str)> = files
        .iter()
        .map(|f| (f.name.as_str(), f.text.as_str()))
        .collect();
    let warnings: Vec<_> = result.warnings().cloned().collect();
    if !warnings.is_empty() {
        let _ = err.write_all(kaudit_rules::diag::render(&warnings, &texts).as_bytes());
    }
    if !result.successful() {
        let errors: Vec<_> = result.errors().cloned().collect();
        return Err(format!(
            "cannot load rules:\n{}",
            kaudit_rules::diag::render(&errors, &texts)
        ));
    }
    let rules: Vec<Rule<_>> = result.rules.into_iter().map(Rule::from).collect();
    Ok(RuleSet::new(rules, schema, selection))
}

fn engine_for(args: &RuleArgs, err: &mut dyn Write) -> Result<Engine, String> {
    let s = settings(args)?;
    let schema = K8sAuditSchema::with_compat(s.compat);
    let rules = build_ruleset(&args.rules, &schema, &s.selection, err)?;
    let decode = if s.compat == Compat::Falco {
        DecodeOptions {
            max_event_size: FALCO_MAX_EVENT_SIZE,
        }
    } else {
        DecodeOptions::default()
    };
    Ok(Engine {
        rules,
        renderer: s.renderer,
        decode,
    })
}

/// The outputs `args` name (stdout when none), the stdout one writing to `out`.
fn build_outputs<'a>(
    args: &OutputArgs,
    format: AlertFormat,
    out: &'a mut (dyn Write + Send),
) -> Result<Vec<Box<dyn Output + 'a>>, String> {
    let mut options = kaudit_output::OutputOptions::default();
    if let Some(t) = args.output_timeout {
        options.timeout = t;
    }
    options.ca_file.clone_from(&args.output_ca_file);
    options.client_cert.clone_from(&args.output_client_cert);
    options.client_key.clone_from(&args.output_client_key);
    options.headers.clone_from(&args.output_header);
    options.bearer_token.clone_from(&args.output_bearer_token);
    options.batch = args.output_batch;
    let targets = if args.outputs.is_empty() {
        vec![kaudit_output::Target::Stdout]
    } else {
        args.outputs.clone()
    };
    let mut outputs: Vec<Box<dyn Output + 'a>> = Vec::new();
    let mut out = Some(out);
    for target in &targets {
        if *target == kaudit_output::Target::Stdout {
            let Some(w) = out.take() else {
                return Err("--output stdout is given twice".to_owned());
            };
            outputs.push(Box::new(kaudit_output::WriterOutput::new(
                "stdout", format, w,
            )));
        } else {
            outputs.push(
                kaudit_output::build_output(target, &options, format).map_err(|e| e.to_string())?,
            );
        }
    }
    Ok(outputs)
}

fn dead_letters(args: &OutputArgs) -> Result<Option<kaudit_output::DeadLetterFile>, String> {
    args.dead_letter
        .as_ref()
        .map(|p| kaudit_output::DeadLetterFile::open(p).map_err(|e| e.to_string()))
        .transpose()
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// Writes a notice on stderr as it happens.
fn report_notice(err: &mut (dyn Write + Send), names: &[String], n: &Notice<'_>) {
    let _ = match n {
        Notice::BadEvent {
            source,
            meta,
            error,
        } => {
            let name = names.get(*source).map_or("input", String::as_str);
            let mut context = Vec::new();
            if let Some(a) = meta
                .anomaly
                .as_ref()
                .filter(|a| !matches!(a, kaudit_source::Anomaly::NotJson))
            {
                context.push(a.to_string());
            }
            if meta.event_id.is_some()
                && let Some(stream) = &meta.stream
            {
                context.push(format!("stream {stream}"));
            }
            if let Some(id) = &meta.event_id {
                context.push(format!("eventId {id}"));
            }
            if context.is_empty() {
                writeln!(err, "kaudit: {name}: skipped: {error}")
            } else {
                writeln!(
                    err,
                    "kaudit: {name}: skipped: {error} [{}]",
                    context.join("; ")
                )
            }
        }
        Notice::Source { source, error } => match error.kind() {
            kaudit_source::SourceErrorKind::Io { error: io, .. } => {
                let name = names.get(*source).map_or("input", String::as_str);
                writeln!(err, "kaudit: cannot read {name}: {io}")
            }
            _ => writeln!(err, "kaudit: source: {error}"),
        },
        Notice::Retrying {
            output,
            reason,
            attempt,
            backoff,
        } => writeln!(
            err,
            "kaudit: output {output}: {reason} (attempt {attempt}); retrying in {} ms",
            backoff.as_millis()
        ),
        Notice::DeadLettered {
            output,
            rule,
            reason,
        } => writeln!(
            err,
            "kaudit: output {output}: alert `{rule}` dead-lettered: {reason}"
        ),
        Notice::Failed {
            output,
            rule,
            reason,
        } => writeln!(
            err,
            "kaudit: output {output}: alert `{rule}` not delivered: {reason}"
        ),
        Notice::DeadLetterError { reason } => {
            writeln!(
                err,
                "kaudit: cannot write a dead letter (retrying): {reason}"
            )
        }
        Notice::Committed(_) => Ok(()),
        _ => Ok(()),
    };
    let _ = err.flush();
}

/// Runs `sources` through the pipeline to the outputs `args` name, with signal handling;
/// returns the report and whether stdout was one of the outputs.
#[expect(
    clippy::too_many_arguments,
    reason = "scan and watch differ in exactly these collaborators"
)]
fn deliver(
    engine: &Engine,
    args: &OutputArgs,
    retry: RetryPolicy,
    sources: &[&dyn kaudit_source::Source],
    store: Option<&dyn kaudit_source::CheckpointStore>,
    names: &[String],
    runtime: &tokio::runtime::Runtime,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<(RunReport, bool), String> {
    let dead = dead_letters(args)?;
    let mut options = PipelineOptions {
        retry,
        ..PipelineOptions::default()
    };
    if let Some(t) = args.drain_timeout {
        options.drain_timeout = Some(t);
    }
    let outputs = build_outputs(args, engine.renderer.format, out)?;
    let stdout_used = outputs.iter().any(|o| o.name() == "stdout");
    let refs: Vec<&dyn Output> = outputs.iter().map(|o| &**o as &dyn Output).collect();
    let mut pipeline = Pipeline::new(engine, refs).options(options);
    if let Some(d) = &dead {
        pipeline = pipeline.dead_letters(d);
    }
    if let Some(s) = store {
        pipeline = pipeline.checkpoints(s);
    }
    let (stop, abort) = signals(runtime);
    let mut notice = |n: Notice<'_>| report_notice(err, names, &n);
    let report = runtime
        .block_on(pipeline.run(sources, stop, abort, &mut notice))
        .map_err(|e| e.to_string())?;
    Ok((report, stdout_used))
}

fn scan(
    args: &ScanArgs,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<ExitCode, String> {
    let engine = engine_for(&args.rules, err)?;
    let default_paths = ["-".to_owned()];
    let paths: &[String] = if args.paths.is_empty() {
        &default_paths
    } else {
        &args.paths
    };
    let names: Vec<String> = paths
        .iter()
        .map(|p| {
            if p == "-" {
                "<stdin>".to_owned()
            } else {
                p.clone()
            }
        })
        .collect();
    let sources: Vec<kaudit_source::FileSource> = paths
        .iter()
        .map(|p| kaudit_source::FileSource::new(kaudit_source::FileSourceConfig::from_arg(p)))
        .collect();
    let source_refs: Vec<&dyn kaudit_source::Source> = sources
        .iter()
        .map(|s| s as &dyn kaudit_source::Source)
        .collect();
    let runtime = runtime()?;
    let (report, stdout_used) = deliver(
        &engine,
        &args.outputs,
        RetryPolicy::scan(),
        &source_refs,
        None,
        &names,
        &runtime,
        out,
        err,
    )?;
    if !args.quiet {
        let _ = err.write_all(summary(&report.stats, &engine.rules).as_bytes());
        if !stdout_used || !report.all_delivered() || report.delivery.len() > 1 {
            let _ = err
                .write_all(format!("Alerts delivered:\n{}", report.delivery_summary()).as_bytes());
        }
    } else if !report.all_delivered() {
        let _ =
            err.write_all(format!("Alerts delivered:\n{}", report.delivery_summary()).as_bytes());
    }
    Ok(if report.all_delivered() && report.source_errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn summary(stats: &Stats, rules: &RuleSet<kaudit_event::Field>) -> String {
    stats.summary(rules)
}

fn watch_cloudwatch(
    args: &CloudWatchArgs,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<ExitCode, String> {
    use kaudit_source::CheckpointStore as _;
    let engine = engine_for(&args.rules, err)?;
    let mut config = kaudit_source::cloudwatch::CloudWatchConfig::from_cli(
        &args.log_group,
        args.region.as_deref(),
        args.profile.as_deref(),
        args.endpoint_url.as_deref(),
        args.start.as_deref(),
    )
    .map_err(|e| format!("invalid CloudWatch options: {e}"))?;
    config.stream_prefix.clone_from(&args.stream_prefix);
    config.role_arn.clone_from(&args.role_arn);
    let duration =
        |flag: &str, v: &Option<String>| -> Result<Option<std::time::Duration>, String> {
            v.as_deref()
                .map(|t| {
                    kaudit_source::time::parse_duration(t)
                        .map_err(|e| format!("invalid --{flag} `{t}`: {e}"))
                })
                .transpose()
        };
    if let Some(d) = duration("poll-interval", &args.poll_interval)? {
        config.poll_interval = d;
    }
    if let Some(d) = duration("settle-lag", &args.settle_lag)? {
        config.settle_lag = d;
    }
    if let Some(d) = duration("max-backfill", &args.max_backfill)? {
        config.max_backfill = d;
    }
    config
        .validate()
        .map_err(|e| format!("invalid CloudWatch options: {e}"))?;
    let runtime = runtime()?;
    let store = args
        .checkpoint
        .as_ref()
        .map(kaudit_source::FileCheckpointStore::new);
    let names = vec![args.log_group.clone()];
    let source = runtime.block_on(async {
        kaudit_source::cloudwatch::CloudWatchSource::connect(config)
            .await
            .map_err(|e| format!("cannot connect to CloudWatch Logs: {e}"))
    })?;
    let resume = match &store {
        Some(s) => s
            .load(kaudit_source::Source::identity(&source))
            .map_err(|e| format!("cannot use the checkpoint: {e}"))?,
        None => None,
    };
    let start = source
        .effective_start(resume.as_ref())
        .map_err(|e| format!("cannot start reading: {e}"))?;
    let _ = writeln!(err, "kaudit: reading {} {start}", args.log_group);
    let _ = err.flush();
    let sources: [&dyn kaudit_source::Source; 1] = [&source];
    let (report, _) = deliver(
        &engine,
        &args.outputs,
        RetryPolicy::watch(),
        &sources,
        store
            .as_ref()
            .map(|s| s as &dyn kaudit_source::CheckpointStore),
        &names,
        &runtime,
        out,
        err,
    )?;
    let _ = err.write_all(summary(&report.stats, &engine.rules).as_bytes());
    let _ = err.write_all(format!("Alerts delivered:\n{}", report.delivery_summary()).as_bytes());
    Ok(if report.source_errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Two futures: the first completes on the first SIGINT/SIGTERM (stop reading, drain, commit),
/// the second on the second one (exit at once). The signal handlers are installed on `runtime`.
fn signals(
    runtime: &tokio::runtime::Runtime,
) -> (
    impl Future<Output = ()> + Send + 'static,
    impl Future<Output = ()> + Send + 'static,
) {
    let (tx, rx) = tokio::sync::watch::channel(0u32);
    runtime.spawn(async move {
        for n in 1..=2 {
            shutdown_signal().await;
            if tx.send(n).is_err() {
                return;
            }
        }
    });
    let wait_for = |level: u32| {
        let mut rx = rx.clone();
        async move {
            let _ = rx.wait_for(|n| *n >= level).await;
        }
    };
    (wait_for(1), wait_for(2))
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn rules_check(files: &[String], out: &mut dyn Write) -> Result<ExitCode, String> {
    let files = read_rule_files(files)?;
    let schema = K8sAuditSchema::new();
    let report = kaudit_rules::check(&files, &schema, &LoadOptions::k8s_audit());
    write_out(out, &report.rendered)?;
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn rules_list(
    files: &[String],
    w: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<ExitCode, String> {
    let schema = K8sAuditSchema::new();
    let rules = build_ruleset(files, &schema, &Selection::default(), err)?;
    let mut out = String::new();
    for (i, r) in rules.rules().iter().enumerate() {
        let tags: Vec<&str> = r.tags.iter().map(String::as_str).collect();
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t[{}]\n",
            r.name,
            r.priority,
            r.source,
            if rules.is_active(i) {
                "enabled"
            } else {
                "disabled"
            },
            tags.join(",")
        ));
    }
    write_out(w, &out)?;
    Ok(ExitCode::SUCCESS)
}

fn fields_text() -> String {
    let mut out = String::new();
    for f in FIELDS.iter() {
        let ty = if f.list { "list" } else { "string" };
        out.push_str(&format!("{:<50} {:<6} {}\n", f.name, ty, f.desc));
    }
    out
}

fn debug(stage: DebugStage, condition: &str, out: &mut dyn Write) -> Result<ExitCode, String> {
    let ast = kaudit_condition::parse(condition).map_err(|e| e.render(condition))?;
    match stage {
        DebugStage::Ast => write_out(out, &format!("{ast:#?}\n"))?,
        DebugStage::Expanded => {
            let expanded =
                kaudit_condition::expand(&ast, &NoMacros).map_err(|e| e.render(condition))?;
            write_out(out, &format!("{expanded:#?}\n"))?;
        }
        DebugStage::Program => {
            let expanded =
                kaudit_condition::expand(&ast, &NoMacros).map_err(|e| e.render(condition))?;
            let schema = K8sAuditSchema::new();
            let program =
                kaudit_condition::compile(&expanded, &schema).map_err(|e| e.render(condition))?;
            write_out(out, &format!("{program:#?}\n"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
