//! kaudit-cli: the `kaudit` command line.
//!
//! ```text
//! kaudit scan [--rules FILE]... [--format text|json] [--all-matches] [--min-priority P]
//!             [--compat falco] [--disable-rule NAME]... [--disable-tag TAG]...
//!             [--enable-tag TAG]... [--enable-rule NAME]... [-o key=value]... [--threads N]
//!             [PATH|-]...
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
//!
//! # Quick start
//!
//! The `kaudit` binary is [`main`]; [`run_with`] runs a command line with your own streams:
//!
//! ```
//! use std::process::ExitCode;
//!
//! let (mut out, mut err) = (Vec::new(), Vec::new());
//! let code = kaudit_cli::run_with(["kaudit", "rules", "list"], &mut out, &mut err);
//! assert_eq!(code, ExitCode::SUCCESS);
//! assert!(String::from_utf8(out)?.contains("Exec Or Attach Into Pod"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design
//!
//! Every command builds its engine with [`kaudit_engine::EngineBuilder`] (the same path a
//! library user takes) and runs sources through [`kaudit_engine::pipeline::Pipeline`]; this
//! crate only maps flags to those APIs, installs the signal handling (first SIGINT/SIGTERM:
//! stop, drain, commit; second: exit at once) and renders reports.
//!
//! # Features
//!
//! None: the command line always has every source and output.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, CommandFactory as _, Parser, Subcommand, ValueEnum};
use kaudit_condition::NoMacros;
use kaudit_event::{Compat, FIELDS, K8sAuditSchema};

use kaudit_engine::alert::{AlertFormat, AlertRenderer, TimeFormat, TimeZone};
use kaudit_engine::builder::SelectionKind;
use kaudit_engine::output::Output;
use kaudit_engine::pipeline::{Notice, Pipeline, PipelineOptions, RetryPolicy, RunReport};
use kaudit_engine::ruleset::{Matching, RuleSet, Selection};
use kaudit_engine::run::{Engine, Stats};
use kaudit_engine::{EngineBuilder, LoadError};
use kaudit_rules::Priority;
use kaudit_rules::{LoadOptions, RuleFile};

mod config;
#[doc(hidden)]
pub use config::check_config;
mod metrics;
mod webhook;

/// The built-in ruleset (`crates/engine/rules/default.yaml`, [`kaudit_engine::BUILTIN_RULES`]),
/// used when no `--rules` is given.
pub const DEFAULT_RULES: &str = kaudit_engine::BUILTIN_RULES;

/// The name the built-in ruleset is reported under.
pub const DEFAULT_RULES_NAME: &str = kaudit_engine::BUILTIN_RULES_NAME;

#[derive(Debug, Parser)]
#[command(
    name = "kaudit",
    version,
    disable_version_flag = true,
    about = "Falco's Kubernetes-audit rules over Kubernetes audit logs"
)]
struct Cli {
    /// Print the version. (Only the long form: `-V` is Falco's "validate rules" flag.)
    #[arg(long, action = clap::ArgAction::Version)]
    version: Option<bool>,
    /// Diagnostics on stderr from this level up: error, warn (the default), info, debug or
    /// trace. Without it, `RUST_LOG` (e.g. `kaudit_source=debug`) is used when set.
    #[arg(long, global = true, value_name = "LEVEL", value_parser = ["error", "warn", "info", "debug", "trace"])]
    log_level: Option<String>,
    /// Diagnostics as human text (the default) or as JSON lines for log shippers.
    #[arg(long, global = true, value_name = "FORMAT", value_enum)]
    log_format: Option<LogFormat>,
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
        /// Rules files whose lists and macros the condition may use (`kevt and …`), loaded
        /// in order. Default: none (the built-in ruleset's are not assumed).
        #[arg(long = "rules", short = 'r', value_name = "FILE")]
        rules: Vec<String>,
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
    #[arg(long, allow_hyphen_values = true, value_name = "START", value_parser = parse_start_arg)]
    start: Option<kaudit_source::cloudwatch::StartPosition>,
    /// Checkpoint file: resume from it, and commit to it after alerts are written.
    #[arg(long)]
    checkpoint: Option<String>,
    /// Only read log streams whose name starts with this (default: kube-apiserver-audit, the
    /// EKS audit streams); `--stream-prefix ''` reads every stream of the group.
    #[arg(long, value_name = "PREFIX")]
    stream_prefix: Option<String>,
    /// Role to assume on top of the default credential chain.
    #[arg(long)]
    role_arn: Option<String>,
    /// How often to poll for new events (e.g. 5s, 500ms).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    poll_interval: Option<std::time::Duration>,
    /// How far behind "now" a window must end, so late-ingested events are not missed (e.g. 10s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    settle_lag: Option<std::time::Duration>,
    /// The most history a start position or checkpoint may replay (e.g. 24h).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    max_backfill: Option<std::time::Duration>,
    #[command(flatten)]
    service: ServiceArgs,
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
    /// The tree after list substitution and macro expansion (macros and lists from --rules).
    Expanded,
    /// The compiled program against the k8s audit field table.
    Program,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// One human-readable line per diagnostic.
    Text,
    /// One JSON object per diagnostic (timestamp, level, target, fields).
    Json,
}

/// The options every long-running `watch` command shares: the config file and the metrics and
/// health endpoints.
#[derive(Debug, Args)]
struct ServiceArgs {
    /// A YAML file of options: the keys are the long flag names with `_` for `-`
    /// (docs/configuration.md); flags given on the command line override it.
    #[arg(long, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// Serve GET /metrics (Prometheus text), /healthz and /readyz on this address, e.g.
    /// 0.0.0.0:9090 (port 0 picks a free port). Default: no metrics server.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// /readyz answers 503 once an output has failed continuously for this long.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration_arg)]
    ready_output_failure: std::time::Duration,
    /// /readyz answers 503 while the source lags more than this behind now (e.g. 5m).
    /// Default: the lag does not affect readiness.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    ready_max_lag: Option<std::time::Duration>,
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
    #[arg(long, value_name = "PRIORITY", value_parser = parse_priority)]
    min_priority: Option<Priority>,
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
    #[arg(
        long,
        value_name = "ZONE",
        default_value = "local",
        allow_hyphen_values = true,
        value_parser = parse_time_zone
    )]
    time_zone: TimeZone,
    /// The JSON alerts' `hostname` (default: `FALCO_HOSTNAME`, else the system host name).
    #[arg(long, value_name = "NAME")]
    hostname: Option<String>,
    /// Falco-style overrides: json_output=true|false, time_format_iso_8601=true|false,
    /// rule_matching=first|all, priority=P.
    #[arg(short = 'o', value_name = "KEY=VALUE", value_parser = parse_override)]
    options: Vec<Override>,
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
    /// The config file's `output` entries (used when no --output is given).
    #[arg(skip)]
    configured: Vec<config::ConfiguredOutput>,
}

fn parse_target_arg(s: &str) -> Result<kaudit_output::Target, String> {
    kaudit_output::parse_target(s).map_err(|e| e.to_string())
}

fn parse_duration_arg(s: &str) -> Result<std::time::Duration, String> {
    kaudit_source::internal::parse_duration(s).map_err(|e| format!("invalid duration `{s}`: {e}"))
}

fn parse_start_arg(s: &str) -> Result<kaudit_source::cloudwatch::StartPosition, String> {
    s.parse()
        .map_err(|e: kaudit_source::cloudwatch::StartParseError| e.to_string())
}

/// One Falco-style `-o key=value` override.
#[derive(Clone, Copy, Debug)]
enum Override {
    /// `json_output`.
    JsonOutput(bool),
    /// `time_format_iso_8601`.
    IsoTime(bool),
    /// `rule_matching`.
    Matching(Matching),
    /// `priority`.
    Priority(Priority),
}

fn parse_override(opt: &str) -> Result<Override, String> {
    let (key, value) = opt
        .split_once('=')
        .ok_or_else(|| format!("`{opt}`: expected key=value"))?;
    let boolean = || match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("`{opt}`: {key} is `true` or `false`")),
    };
    match key {
        "json_output" => boolean().map(Override::JsonOutput),
        "time_format_iso_8601" => boolean().map(Override::IsoTime),
        "rule_matching" => match value {
            "first" => Ok(Override::Matching(Matching::First)),
            "all" => Ok(Override::Matching(Matching::All)),
            _ => Err(format!("`{opt}`: rule_matching is `first` or `all`")),
        },
        "priority" => parse_priority(value).map(Override::Priority),
        _ => Err(format!(
            "`{opt}`: unknown key `{key}` (known: json_output, time_format_iso_8601, rule_matching, priority)"
        )),
    }
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
    /// Threads that decode and evaluate events (default: the available cores; 1 evaluates
    /// each event as it is read). Alerts come out in input order whatever the number.
    #[arg(long, value_name = "N", value_parser = parse_threads)]
    threads: Option<usize>,
    /// Input files; `-` is stdin (the default when none).
    paths: Vec<String>,
}

/// Runs the `kaudit` command line and returns the process exit code.
#[must_use]
pub fn main() -> ExitCode {
    let mut out = std::io::BufWriter::new(std::io::stdout());
    let mut err = std::io::stderr();
    let code = run_with(std::env::args_os(), &mut out, &mut err);
    match out.flush() {
        // The reader of stdout went away (`kaudit … | head`): not an error.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => ExitCode::FAILURE,
        _ => code,
    }
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
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let merged = match config::merge(&Cli::command(), args) {
        Ok(m) => m,
        Err(msg) => {
            let _ = writeln!(err, "kaudit: {msg}");
            return ExitCode::from(2);
        }
    };
    let cli = match Cli::try_parse_from(merged.args) {
        Ok(mut c) => {
            match &mut c.command {
                Command::Watch(WatchCommand::Cloudwatch(a)) => {
                    a.outputs.configured = merged.outputs
                }
                Command::Watch(WatchCommand::Webhook(a)) => a.outputs.configured = merged.outputs,
                _ => {}
            }
            c
        }
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
    let format = cli.log_format.unwrap_or(LogFormat::Text);
    init_logging(cli.log_level.as_deref(), format);
    let mut json_lines;
    let err: &mut (dyn Write + Send) = match format {
        LogFormat::Text => err,
        LogFormat::Json => {
            json_lines = JsonLines::default();
            &mut json_lines
        }
    };
    let (code, msg) = match run(cli, out, err) {
        Ok(code) => return code,
        Err(Fail::Run(msg)) => (ExitCode::FAILURE, msg),
        Err(Fail::Usage(msg)) => (ExitCode::from(2), msg),
    };
    match format {
        LogFormat::Text => {
            let _ = writeln!(err, "kaudit: {msg}");
        }
        LogFormat::Json => tracing::error!(target: "kaudit::cli", "{msg}"),
    }
    code
}

/// `--log-format json`: the lines the command writes to stderr itself (start-up, skipped
/// events, source errors, delivery retries, the summary) become log events of target
/// `kaudit::cli`, so the JSON subscriber writes them like every other diagnostic:
/// `{"timestamp":…,"level":…,"fields":{"message":…},"target":"kaudit::cli"}`. The `kaudit: `
/// prefix is dropped. Start-up announcements (`listening on`, `metrics on`, `reading`) and the
/// summary are `INFO`; every other line is a `WARN`; a failure that ends the command is an
/// `ERROR`.
#[derive(Debug, Default)]
struct JsonLines {
    /// The start of a line not yet ended.
    pending: Vec<u8>,
}

impl JsonLines {
    fn emit(line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end();
        if text.trim().is_empty() {
            return;
        }
        match text.strip_prefix("kaudit: ") {
            Some(msg)
                if !["listening on ", "metrics on ", "reading "]
                    .iter()
                    .any(|p| msg.starts_with(p)) =>
            {
                tracing::warn!(target: "kaudit::cli", "{msg}");
            }
            Some(msg) => tracing::info!(target: "kaudit::cli", "{msg}"),
            None => tracing::info!(target: "kaudit::cli", "{text}"),
        }
    }
}

impl Write for JsonLines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            Self::emit(&line);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for JsonLines {
    fn drop(&mut self) {
        Self::emit(&std::mem::take(&mut self.pending));
    }
}

/// Installs the log subscriber (human text on stderr) once per process: `level` when given,
/// else `RUST_LOG`, else `warn`.
fn init_logging(level: Option<&str>, format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = match level {
        Some(l) => EnvFilter::new(l),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
    };
    // The command's own stderr lines (see `JsonLines`) are never filtered out, as in text.
    let filter = match "kaudit::cli=info".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
}

/// Why a command failed: a usage error exits 2, anything else 1.
#[derive(Debug)]
enum Fail {
    /// The command line cannot work as given (exit 2).
    Usage(String),
    /// The command ran and failed (exit 1).
    Run(String),
}

impl From<String> for Fail {
    fn from(msg: String) -> Self {
        Fail::Run(msg)
    }
}

fn run(
    cli: Cli,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<ExitCode, Fail> {
    match cli.command {
        Command::Scan(args) => scan(&args, out, err),
        Command::Watch(WatchCommand::Cloudwatch(args)) => watch_cloudwatch(&args, out, err),
        Command::Watch(WatchCommand::Webhook(args)) => Ok(webhook::watch_webhook(&args, out, err)?),
        Command::Rules(RulesCommand::Check { files }) => Ok(rules_check(&files, out)?),
        Command::Rules(RulesCommand::List { files }) => Ok(rules_list(&files, out, err)?),
        Command::Fields => {
            write_out(out, &fields_text())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Debug {
            stage,
            condition,
            rules,
        } => Ok(debug(stage, &condition, &rules, out)?),
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

fn settings(args: &RuleArgs) -> Settings {
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
    let mut min_priority = args.min_priority;
    for opt in &args.options {
        match *opt {
            Override::JsonOutput(true) => format = AlertFormat::Json,
            Override::JsonOutput(false) => format = AlertFormat::Text,
            Override::IsoTime(true) => time_format = TimeFormat::Iso8601,
            Override::IsoTime(false) => time_format = TimeFormat::Time,
            Override::Matching(m) => matching = m,
            Override::Priority(p) => min_priority = Some(p),
        }
    }
    let time_zone = args.time_zone.clone();
    Settings {
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
    }
}

fn parse_priority(p: &str) -> Result<Priority, String> {
    p.parse()
        .map_err(|_| format!("unknown priority `{p}` (emergency, alert, critical, error, warning, notice, informational, debug)"))
}

fn parse_threads(n: &str) -> Result<usize, String> {
    match n.parse::<usize>() {
        Ok(0) => Err("`0`: at least 1 thread is needed".to_owned()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{n}` is not a number of threads")),
    }
}

fn parse_time_zone(z: &str) -> Result<TimeZone, String> {
    match z {
        "local" => Ok(TimeZone::local()),
        "utc" | "UTC" => Ok(TimeZone::Utc),
        _ => {
            let bad = || format!("`{z}`: expected local, utc, +HH:MM or -HH:MM");
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

/// Builds the engine from `paths` (the built-in rules when empty) with `builder`'s options;
/// the load warnings go to `err`, the errors into the message.
fn build_engine(
    paths: &[String],
    builder: EngineBuilder,
    err: &mut dyn Write,
) -> Result<Engine, String> {
    let builder = paths.iter().fold(builder, |b, p| b.rules_file(p));
    let report = |err: &mut dyn Write, w: &kaudit_engine::Warnings| {
        let _ = err.write_all(w.rendered.as_bytes());
        for u in &w.unmatched {
            let _ = match u.kind {
                SelectionKind::DisableRule | SelectionKind::EnableRule => writeln!(
                    err,
                    "kaudit: warning: --{} `{}` matches no rule",
                    u.kind, u.value
                ),
                _ => writeln!(
                    err,
                    "kaudit: warning: --{} `{}` matches no rule's tags",
                    u.kind, u.value
                ),
            };
        }
    };
    match builder.build_with_warnings() {
        Ok((engine, warnings)) => {
            report(err, &warnings);
            Ok(engine)
        }
        Err(e) => {
            if let LoadError::Rules { warnings, .. } = &e {
                report(err, warnings);
            }
            Err(e.to_string())
        }
    }
}

fn engine_for(args: &RuleArgs, err: &mut dyn Write) -> Result<Engine, String> {
    let s = settings(args);
    let builder = Engine::builder()
        .compat(s.compat)
        .selection(s.selection)
        .renderer(s.renderer);
    build_engine(&args.rules, builder, err)
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
    let targets: Vec<(kaudit_output::Target, kaudit_output::OutputOptions)> =
        if !args.outputs.is_empty() {
            args.outputs
                .iter()
                .map(|t| (t.clone(), options.clone()))
                .collect()
        } else if !args.configured.is_empty() {
            args.configured
                .iter()
                .filter_map(|c| Some((c.target.clone()?, c.options(&options))))
                .collect()
        } else {
            vec![(kaudit_output::Target::Stdout, options.clone())]
        };
    let mut outputs: Vec<Box<dyn Output + 'a>> = Vec::new();
    let mut out = Some(out);
    for (target, options) in &targets {
        if *target == kaudit_output::Target::Stdout {
            let Some(w) = out.take() else {
                return Err("--output stdout is given twice".to_owned());
            };
            outputs.push(Box::new(kaudit_output::WriterOutput::new(
                "stdout", format, w,
            )));
        } else {
            outputs.push(
                kaudit_output::build_output(target, options, format).map_err(|e| e.to_string())?,
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
            audit_id,
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
            if let Some(id) = audit_id {
                context.push(format!("auditID {id}"));
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
    mut options: PipelineOptions,
    sources: &[&dyn kaudit_source::Source],
    store: Option<&dyn kaudit_source::CheckpointStore>,
    served: Option<Served>,
    names: &[String],
    runtime: &tokio::runtime::Runtime,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<(RunReport, bool), String> {
    let dead = dead_letters(args)?;
    if let Some(t) = args.drain_timeout {
        options.drain_timeout = Some(t);
    }
    let outputs = build_outputs(args, engine.renderer.format, out)?;
    let stdout_used = outputs.iter().any(|o| o.name() == "stdout");
    let metrics = served.as_ref().map(|s| &s.metrics);
    let outputs = metered(outputs, metrics);
    let refs: Vec<&dyn Output> = outputs.iter().map(|o| &**o as &dyn Output).collect();
    let mut pipeline = Pipeline::new(engine, refs).options(options);
    if let Some(d) = &dead {
        pipeline = pipeline.dead_letters(d);
    }
    if let Some(s) = store {
        pipeline = pipeline.checkpoints(s);
    }
    let (stop, abort) = signals(runtime);
    let mut notice = |n: Notice<'_>| {
        if let Some(m) = metrics {
            m.observe(&n);
        }
        report_notice(err, names, &n);
    };
    let run = pipeline.run(sources, stop, abort, &mut notice);
    let report = match (&served, sources.first()) {
        (Some(s), Some(source)) => runtime.block_on(s.beside(*source, run)),
        _ => runtime.block_on(run),
    }
    .map_err(|e| e.to_string())?;
    Ok((report, stdout_used))
}

/// The metrics server of a `watch` command: its counters and its bound listener.
struct Served {
    metrics: metrics::Metrics,
    listener: std::sync::Mutex<Option<tokio::net::TcpListener>>,
}

impl Served {
    /// Binds `--metrics-listen` (when given) and announces the URL on `err`.
    fn start(
        args: &ServiceArgs,
        runtime: &tokio::runtime::Runtime,
        err: &mut (dyn Write + Send),
    ) -> Result<Option<Served>, String> {
        let Some(addr) = args.metrics_listen else {
            return Ok(None);
        };
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(addr))
            .map_err(|e| format!("cannot listen on --metrics-listen {addr}: {e}"))?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        let _ = writeln!(err, "kaudit: metrics on http://{bound}/metrics");
        let _ = err.flush();
        Ok(Some(Served {
            metrics: metrics::Metrics::new(metrics::Thresholds {
                output_failure: args.ready_output_failure,
                max_lag: args.ready_max_lag,
            }),
            listener: std::sync::Mutex::new(Some(listener)),
        }))
    }

    /// Runs `run` with the metrics server beside it (stopped when `run` completes).
    async fn beside<T>(
        &self,
        source: &dyn kaudit_source::Source,
        run: impl Future<Output = T>,
    ) -> T {
        let listener = self
            .listener
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some(listener) = listener else {
            return run.await;
        };
        let (done_tx, done) = tokio::sync::oneshot::channel::<()>();
        let run = async {
            let r = run.await;
            let _ = done_tx.send(());
            r
        };
        let serve = metrics::serve(listener, &self.metrics, source, async {
            let _ = done.await;
        });
        let (r, ()) = tokio::join!(run, serve);
        r
    }
}

/// `outputs`, each counted into `metrics` when there is a metrics server.
fn metered<'m, 'a: 'm>(
    outputs: Vec<Box<dyn Output + 'a>>,
    metrics: Option<&'m metrics::Metrics>,
) -> Vec<Box<dyn Output + 'm>> {
    match metrics {
        None => outputs
            .into_iter()
            .map(|o| o as Box<dyn Output + 'm>)
            .collect(),
        Some(m) => {
            let names: Vec<&str> = outputs.iter().map(|o| o.name()).collect();
            m.outputs(&names);
            outputs
                .into_iter()
                .map(|o| Box::new(metrics::Metered::new(o, m)) as Box<dyn Output + 'm>)
                .collect()
        }
    }
}

fn scan(
    args: &ScanArgs,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<ExitCode, Fail> {
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
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let (report, stdout_used) = deliver(
        &engine,
        &args.outputs,
        PipelineOptions {
            retry: RetryPolicy::scan(),
            threads,
            ..PipelineOptions::default()
        },
        &source_refs,
        None,
        None,
        &names,
        &runtime,
        out,
        err,
    )?;
    // `kaudit scan … | head -1`: the reader of stdout is gone, so the scan stopped; that is
    // what the user asked for, not an error.
    let stdout_closed = report
        .delivery
        .iter()
        .any(|d| d.output == "stdout" && d.closed > 0);
    if stdout_closed {
        if !args.quiet {
            let _ = err.write_all(summary(&report.stats, &engine.rules).as_bytes());
        }
        return Ok(if report.source_errors == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
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

/// The source configuration `args` describe; inconsistent values are usage errors.
fn cloudwatch_config(
    args: &CloudWatchArgs,
) -> Result<kaudit_source::cloudwatch::CloudWatchConfig, Fail> {
    let mut config = kaudit_source::cloudwatch::CloudWatchConfig::new(&args.log_group);
    config.region.clone_from(&args.region);
    config.profile.clone_from(&args.profile);
    config.endpoint_url.clone_from(&args.endpoint_url);
    config.role_arn.clone_from(&args.role_arn);
    if let Some(start) = &args.start {
        config.start = start.clone();
    }
    // The library default (the EKS audit streams) stays unless a prefix is given; an empty
    // one asks for every stream.
    if let Some(prefix) = &args.stream_prefix {
        config.stream_prefix = (!prefix.is_empty()).then(|| prefix.clone());
    }
    if let Some(d) = args.poll_interval {
        config.poll_interval = d;
    }
    if let Some(d) = args.settle_lag {
        config.settle_lag = d;
    }
    if let Some(d) = args.max_backfill {
        config.max_backfill = d;
    }
    config
        .validate()
        .map_err(|e| Fail::Usage(format!("invalid CloudWatch options: {e}")))?;
    Ok(config)
}

fn watch_cloudwatch(
    args: &CloudWatchArgs,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<ExitCode, Fail> {
    use kaudit_source::CheckpointStore as _;
    let engine = engine_for(&args.rules, err)?;
    let config = cloudwatch_config(args)?;
    let store = args
        .checkpoint
        .as_ref()
        .map(kaudit_source::FileCheckpointStore::new);
    if let Some(s) = &store {
        s.check_writable()
            .map_err(|e| format!("cannot use --checkpoint: {e}"))?;
    }
    let runtime = runtime()?;
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
    let served = Served::start(&args.service, &runtime, err)?;
    let _ = writeln!(err, "kaudit: reading {} {start}", args.log_group);
    let _ = err.flush();
    let sources: [&dyn kaudit_source::Source; 1] = [&source];
    let (report, _) = deliver(
        &engine,
        &args.outputs,
        // One thread: a live source's records are evaluated as they come, in strict order.
        PipelineOptions {
            retry: RetryPolicy::watch(),
            ..PipelineOptions::default()
        },
        &sources,
        store
            .as_ref()
            .map(|s| s as &dyn kaudit_source::CheckpointStore),
        served,
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
    let engine = build_engine(files, Engine::builder(), err)?;
    let rules = &engine.rules;
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

fn debug(
    stage: DebugStage,
    condition: &str,
    rules: &[String],
    out: &mut dyn Write,
) -> Result<ExitCode, String> {
    let ast = kaudit_condition::parse(condition).map_err(|e| e.render(condition))?;
    let text = match stage {
        DebugStage::Ast => tree(&ast.expr),
        DebugStage::Expanded if rules.is_empty() => {
            let expanded =
                kaudit_condition::expand(&ast, &NoMacros).map_err(|e| e.render(condition))?;
            tree(&expanded.expr)
        }
        DebugStage::Program if rules.is_empty() => {
            let expanded =
                kaudit_condition::expand(&ast, &NoMacros).map_err(|e| e.render(condition))?;
            let schema = K8sAuditSchema::new();
            let program =
                kaudit_condition::compile(&expanded, &schema).map_err(|e| e.render(condition))?;
            program.to_string()
        }
        DebugStage::Expanded | DebugStage::Program => {
            let rule = debug_rule(condition, rules)?;
            if stage == DebugStage::Expanded {
                tree(&rule.expanded.expr)
            } else {
                rule.condition.to_string()
            }
        }
    };
    write_out(out, &text)?;
    Ok(ExitCode::SUCCESS)
}

/// The name of the rule `debug --rules` compiles the condition as.
const DEBUG_RULE: &str = "kaudit debug";

/// Compiles `condition` as a rule loaded after `rules`, so it sees their lists and macros
/// exactly as a rule of theirs would.
fn debug_rule(
    condition: &str,
    rules: &[String],
) -> Result<kaudit_rules::CompiledRule<kaudit_event::Field>, String> {
    let mut files = read_rule_files(rules)?;
    let indented: String = condition.lines().map(|l| format!("    {l}\n")).collect();
    files.push(RuleFile::new(
        "<condition>",
        format!(
            "- rule: {DEBUG_RULE}\n  desc: the condition given to kaudit debug\n  condition: |-\n{indented}  output: debug\n  priority: DEBUG\n  source: k8s_audit\n"
        ),
    ));
    let schema = K8sAuditSchema::new();
    let result = kaudit_rules::load(&files, &schema, &LoadOptions::k8s_audit());
    if !result.successful() {
        let texts: Vec<(&str, &str)> = files
            .iter()
            .map(|f| (f.name.as_str(), f.text.as_str()))
            .collect();
        let errors: Vec<_> = result.errors().cloned().collect();
        return Err(format!(
            "cannot compile the condition:\n{}",
            kaudit_rules::diag::render(&errors, &texts)
        ));
    }
    result
        .rules
        .into_iter()
        .rev()
        .find(|r| r.name == DEBUG_RULE)
        .ok_or_else(|| "the condition did not compile into a rule".to_owned())
}

/// A condition tree, one node per line, children indented under their parent:
///
/// ```text
/// and
///   ka.verb in (create, update)
///   not
///     ka.user.name startswith "system:"
/// ```
///
/// Iterative, so a deeply nested expanded tree cannot overflow the stack.
fn tree(root: &kaudit_condition::Expr) -> String {
    use kaudit_condition::ExprKind;
    let mut out = String::new();
    let mut stack = vec![(root, 0usize)];
    while let Some((e, depth)) = stack.pop() {
        out.push_str(&"  ".repeat(depth));
        match &e.kind {
            ExprKind::And(c) | ExprKind::Or(c) => {
                out.push_str(if matches!(e.kind, ExprKind::And(_)) {
                    "and"
                } else {
                    "or"
                });
                stack.extend(c.iter().rev().map(|child| (child, depth + 1)));
            }
            ExprKind::Not(c) => {
                out.push_str("not");
                stack.push((c, depth + 1));
            }
            ExprKind::Check(c) => out.push_str(&c.to_string()),
            ExprKind::Macro(m) => {
                out.push_str("macro ");
                out.push_str(&m.name);
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cloudwatch(args: &[&str]) -> kaudit_source::cloudwatch::CloudWatchConfig {
        let mut argv = vec!["kaudit", "watch", "cloudwatch", "--log-group", "g"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).unwrap();
        let Command::Watch(WatchCommand::Cloudwatch(a)) = cli.command else {
            panic!("not watch cloudwatch");
        };
        cloudwatch_config(&a).unwrap()
    }

    #[test]
    fn watch_reads_the_eks_audit_streams_unless_told_otherwise() {
        assert_eq!(
            cloudwatch(&[]).stream_prefix.as_deref(),
            Some("kube-apiserver-audit")
        );
        assert_eq!(
            cloudwatch(&["--stream-prefix", "kube-apiserver"])
                .stream_prefix
                .as_deref(),
            Some("kube-apiserver")
        );
        assert_eq!(cloudwatch(&["--stream-prefix", ""]).stream_prefix, None);
    }

    #[test]
    fn watch_durations_and_start_come_from_the_flags() {
        let c = cloudwatch(&[
            "--poll-interval",
            "500ms",
            "--settle-lag",
            "10s",
            "--max-backfill",
            "2d",
            "--start",
            "-36h",
        ]);
        assert_eq!(c.poll_interval, std::time::Duration::from_millis(500));
        assert_eq!(c.settle_lag, std::time::Duration::from_secs(10));
        assert_eq!(c.max_backfill, std::time::Duration::from_secs(172_800));
        assert_eq!(
            c.start,
            kaudit_source::cloudwatch::StartPosition::Lookback(std::time::Duration::from_secs(
                129_600
            ))
        );
    }
}
