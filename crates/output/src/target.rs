//! Output targets from the command line, their options, and building the outputs.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use kaudit_engine::alert::AlertFormat;
use kaudit_engine::output::Output;
use reqwest::Url;

use crate::http::{HttpMode, HttpOutput};
use crate::writer::{FileOutput, WriterOutput};

/// Where an output sends alerts, as written on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `stdout`: one line per alert, text or JSON.
    Stdout,
    /// `file:PATH`: Falco JSON alerts appended as JSON lines.
    File(PathBuf),
    /// `http://…` or `https://…`: falcosidekick (or Falco's `http_output` form): one JSON object
    /// per `POST`. Holds the normalized URL (`http://host:2801` becomes `http://host:2801/`).
    Http(String),
    /// `webhook:URL`: a webhook (headers, bearer token, optional JSON-array batching). Holds the
    /// normalized URL.
    Webhook(String),
}

/// Why a target does not parse. Every variant names the bad value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    /// `file:` without a path.
    #[error("output `{0}`: `file:` needs a path (file:PATH)")]
    EmptyPath(String),
    /// A URL that does not parse or has no host.
    #[error("output `{value}`: invalid URL: {reason}")]
    Url {
        /// The target as given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A URL whose scheme is not `http` or `https`.
    #[error("output `{0}`: only http:// and https:// URLs are supported")]
    Scheme(String),
    /// None of the known forms.
    #[error("unknown output `{0}`: expected stdout, file:PATH, http(s)://URL or webhook:URL")]
    Unknown(String),
}

/// Why an output cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The target itself is invalid.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// A file (output file, dead-letter file, CA, certificate or key) cannot be opened or read.
    #[error("cannot open `{}`: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// A CA, certificate or key file that is read but cannot be used.
    #[error("`{}`: {reason}", path.display())]
    Tls {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Options that do not fit together or are invalid (a header, a batch of 0, …).
    #[error("{0}")]
    Options(String),
}

/// The URL of an `http(s)://` target.
pub(crate) fn http_url(value: &str) -> Result<Url, TargetError> {
    let url = Url::parse(value).map_err(|e| TargetError::Url {
        value: value.to_owned(),
        reason: e.to_string(),
    })?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(TargetError::Scheme(value.to_owned()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(TargetError::Url {
            value: value.to_owned(),
            reason: "no host".to_owned(),
        });
    }
    Ok(url)
}

fn has_prefix_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Parses an output target: `stdout` (or `-`), `file:PATH`, `http://…`, `https://…` (falcosidekick) or
/// `webhook:URL` (`webhook:https://hooks.example.com/x`).
///
/// ```
/// use kaudit_output::{parse_target, Target};
///
/// assert_eq!(parse_target("stdout"), Ok(Target::Stdout));
/// assert_eq!(
///     parse_target("http://falcosidekick:2801"),
///     Ok(Target::Http("http://falcosidekick:2801/".into()))
/// );
/// assert!(parse_target("ftp://x").unwrap_err().to_string().contains("`ftp://x`"));
/// ```
///
/// # Errors
/// A [`TargetError`] naming the value when it is none of these, or its path or URL is invalid.
pub fn parse_target(s: &str) -> Result<Target, TargetError> {
    if s == "stdout" || s == "-" {
        return Ok(Target::Stdout);
    }
    if let Some(path) = s.strip_prefix("file:") {
        if path.is_empty() {
            return Err(TargetError::EmptyPath(s.to_owned()));
        }
        return Ok(Target::File(PathBuf::from(path)));
    }
    if let Some(url) = s.strip_prefix("webhook:") {
        let parsed = http_url(url).map_err(|e| match e {
            TargetError::Url { reason, .. } => TargetError::Url {
                value: s.to_owned(),
                reason,
            },
            _ => TargetError::Scheme(s.to_owned()),
        })?;
        return Ok(Target::Webhook(parsed.to_string()));
    }
    if has_prefix_ignore_case(s, "http://") || has_prefix_ignore_case(s, "https://") {
        return Ok(Target::Http(http_url(s)?.to_string()));
    }
    Err(TargetError::Unknown(s.to_owned()))
}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Target, TargetError> {
        parse_target(s)
    }
}

impl fmt::Display for Target {
    /// The target as [`parse_target`] reads it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Stdout => f.write_str("stdout"),
            Target::File(path) => write!(f, "file:{}", path.display()),
            Target::Http(url) => f.write_str(url),
            Target::Webhook(url) => write!(f, "webhook:{url}"),
        }
    }
}

/// Options of the HTTP outputs. `Default` gives a 10 s timeout and nothing else.
#[derive(Clone)]
pub struct OutputOptions {
    /// Per-request timeout (connecting, sending, receiving the response). Default 10 s.
    pub timeout: Duration,
    /// A PEM file of CA certificates trusted in addition to the system's.
    pub ca_file: Option<PathBuf>,
    /// A PEM client certificate (chain) for mutual TLS; needs [`OutputOptions::client_key`].
    pub client_cert: Option<PathBuf>,
    /// The PEM private key of [`OutputOptions::client_cert`].
    pub client_key: Option<PathBuf>,
    /// Extra request headers (`name`, `value`), sent on every request.
    pub headers: Vec<(String, String)>,
    /// Sent as `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
    /// Webhooks only: post JSON arrays of up to this many alerts. Refused for falcosidekick
    /// targets (falcosidekick reads one JSON object per request: an array is a 400); ignored by
    /// `stdout` and `file:`.
    pub batch: Option<usize>,
}

impl Default for OutputOptions {
    fn default() -> OutputOptions {
        OutputOptions {
            timeout: Duration::from_secs(10),
            ca_file: None,
            client_cert: None,
            client_key: None,
            headers: Vec::new(),
            bearer_token: None,
            batch: None,
        }
    }
}

impl fmt::Debug for OutputOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutputOptions")
            .field("timeout", &self.timeout)
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("bearer_token", &self.bearer_token.as_ref().map(|_| "***"))
            .field("batch", &self.batch)
            .finish()
    }
}

/// The output for `target`: `format` is the line format of `stdout` (files and HTTP always
/// carry Falco's JSON alert); `options` configure the HTTP outputs.
///
/// # Errors
/// A file that cannot be opened or read (output file, CA, client certificate or key; the error
/// names it), an invalid header, `batch` on a falcosidekick target or a batch of 0.
pub fn build_output(
    target: &Target,
    options: &OutputOptions,
    format: AlertFormat,
) -> Result<Box<dyn Output>, BuildError> {
    match target {
        Target::Stdout => Ok(Box::new(WriterOutput::stdout(format))),
        Target::File(path) => Ok(Box::new(FileOutput::open(path)?)),
        Target::Http(url) => {
            if options.batch.is_some() {
                return Err(BuildError::Options(format!(
                    "output `{url}`: batching is for webhook: targets only (falcosidekick reads one \
                     JSON object per request and refuses arrays)"
                )));
            }
            Ok(Box::new(HttpOutput::new(
                url,
                HttpMode::Falcosidekick,
                options,
            )?))
        }
        Target::Webhook(url) => Ok(Box::new(HttpOutput::new(
            url,
            HttpMode::Webhook {
                batch: options.batch,
            },
            options,
        )?)),
    }
}
