//! `--config FILE`: a YAML file of `watch` options.
//!
//! The keys are the long flag names with `_` for `-` (`log_group`, `poll_interval`, …). Each
//! value goes through the flag's own clap value parser, so the file and the command line accept
//! exactly the same values; a value that fails, an unknown key (with a "did you mean" for near
//! misses) or a value of the wrong shape is a usage error naming the file, line and key.
//!
//! The file's options become extra `--key=value` arguments appended after the command line;
//! an option the command line gives is not taken from the file, so flags override the file
//! (a list flag such as `--rules` replaces the file's whole list). `output` entries may be
//! mappings with per-output options ([`ConfiguredOutput`]); those cannot travel as arguments
//! and are handed back beside them.

use std::ffi::OsString;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};
use kaudit_rules::yaml::{Node, NodeKind};

/// One `output` entry of a config file: a target and the options that differ from the flags'.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConfiguredOutput {
    /// Where the alerts go.
    pub target: Option<kaudit_output::Target>,
    /// `timeout`.
    pub timeout: Option<std::time::Duration>,
    /// `ca_file`.
    pub ca_file: Option<std::path::PathBuf>,
    /// `client_cert`.
    pub client_cert: Option<std::path::PathBuf>,
    /// `client_key`.
    pub client_key: Option<std::path::PathBuf>,
    /// `headers`, added to the `--output-header` ones.
    pub headers: Vec<(String, String)>,
    /// `bearer_token`.
    pub bearer_token: Option<String>,
    /// `batch`.
    pub batch: Option<usize>,
}

impl ConfiguredOutput {
    /// `base` (the flags' output options) with this entry's options on top.
    pub(crate) fn options(
        &self,
        base: &kaudit_output::OutputOptions,
    ) -> kaudit_output::OutputOptions {
        let mut o = base.clone();
        if let Some(t) = self.timeout {
            o.timeout = t;
        }
        if self.ca_file.is_some() {
            o.ca_file.clone_from(&self.ca_file);
        }
        if self.client_cert.is_some() {
            o.client_cert.clone_from(&self.client_cert);
            o.client_key.clone_from(&self.client_key);
        }
        o.headers.extend(self.headers.iter().cloned());
        if self.bearer_token.is_some() {
            o.bearer_token.clone_from(&self.bearer_token);
        }
        if self.batch.is_some() {
            o.batch = self.batch;
        }
        o
    }
}

/// The options of an output mapping, with what each holds (docs/configuration.md lists them).
pub(crate) const OUTPUT_OPTIONS: &[&str] = &[
    "target",
    "timeout",
    "ca_file",
    "client_cert",
    "client_key",
    "headers",
    "bearer_token",
    "batch",
];

/// The command line with a config file's options merged in.
#[derive(Debug)]
pub(crate) struct Merged {
    /// The arguments: the command line's, then the file's.
    pub args: Vec<OsString>,
    /// The file's `output` entries, when it has some and no `--output` flag is given.
    pub outputs: Vec<ConfiguredOutput>,
}

/// A usage error in a config file: `FILE:LINE: KEY: message`.
fn at(file: &str, node: &Node, key: &str, msg: impl std::fmt::Display) -> String {
    format!("{file}:{}: {key}: {msg}", node.pos.line)
}

/// Whether `args` may name a config file (a `--config` argument before any `--`).
pub(crate) fn mentions_config(args: &[OsString]) -> bool {
    args.iter()
        .skip(1)
        .map(|a| a.to_string_lossy())
        .take_while(|a| a != "--")
        .any(|a| a == "--config" || a.starts_with("--config="))
}

/// The arguments that have a config key: every long flag of `leaf` and the global ones of
/// `root`, except `--config` and `--help`. Each with its key.
pub(crate) fn keyed_args<'a>(root: &'a Command, leaf: &'a Command) -> Vec<(String, &'a Arg)> {
    let globals = root.get_arguments().filter(|a| a.is_global_set());
    leaf.get_arguments()
        .chain(globals)
        .filter_map(|a| {
            let long = a.get_long()?;
            (long != "config" && long != "help" && long != "version")
                .then(|| (long.replace('-', "_"), a))
        })
        .collect()
}

/// Merges the config file `args` name (if any) into them. `cli` is the whole command.
///
/// # Errors
/// A usage error: the file cannot be read or is not valid YAML, or a key or value is refused.
pub(crate) fn merge(cli: &Command, args: Vec<OsString>) -> Result<Merged, String> {
    let unchanged = |args| Merged {
        args,
        outputs: Vec::new(),
    };
    if !mentions_config(&args) {
        return Ok(unchanged(args));
    }
    // A first parse that tolerates what the file will supply (a missing --log-group, …).
    let Ok(matches) = cli.clone().ignore_errors(true).try_get_matches_from(&args) else {
        return Ok(unchanged(args));
    };
    let Some(("watch", watch)) = matches.subcommand() else {
        return Ok(unchanged(args));
    };
    let Some((name, leaf_matches)) = watch.subcommand() else {
        return Ok(unchanged(args));
    };
    let Some(path) = leaf_matches
        .try_get_one::<std::path::PathBuf>("config")
        .ok()
        .flatten()
    else {
        return Ok(unchanged(args));
    };
    let Some(leaf) = cli
        .find_subcommand("watch")
        .and_then(|w| w.find_subcommand(name))
    else {
        return Ok(unchanged(args));
    };
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the config file {file}: {e}"))?;
    let (items, outputs) = items(cli, leaf, leaf_matches, &file, &text)?;
    let mut args = args;
    args.extend(items);
    Ok(Merged { args, outputs })
}

/// Lowers every line of `node` and its children past `last` to `last`.
fn clamp_lines(node: &mut Node, last: u32) {
    node.pos.line = node.pos.line.min(last);
    match &mut node.kind {
        NodeKind::Seq(items) => items.iter_mut().for_each(|n| clamp_lines(n, last)),
        NodeKind::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            clamp_lines(k, last);
            clamp_lines(v, last);
        }),
        NodeKind::Null | NodeKind::Scalar(_) => {}
    }
}

/// The lines of `text` as YAML counts them (a line ends at `\n`, `\r\n` or a lone `\r`), at
/// least 1.
fn yaml_lines(text: &str) -> u32 {
    let b = text.as_bytes();
    let mut breaks: u32 = 0;
    for (i, &c) in b.iter().enumerate() {
        if c == b'\n' || (c == b'\r' && b.get(i + 1) != Some(&b'\n')) {
            breaks = breaks.saturating_add(1);
        }
    }
    let unterminated = !matches!(b.last(), None | Some(b'\n' | b'\r'));
    breaks.saturating_add(u32::from(unterminated)).max(1)
}

/// Not part of kaudit's API: what `kaudit watch COMMAND --config FILE` makes of a config file
/// holding `text`, without reading a file or running anything (for the `config` fuzz target).
///
/// The outer error is the file's usage error (`FILE:LINE: …`, as `kaudit` prints it after
/// `kaudit: `); otherwise the inner result is the parse of the merged command line (clap's
/// message, e.g. for a required option that neither gives). An unknown `command` is an outer
/// error without a place.
///
/// # Errors
/// As above.
#[doc(hidden)]
pub fn check_config(command: &str, file: &str, text: &str) -> Result<Result<(), String>, String> {
    use clap::{CommandFactory as _, Parser as _};
    let root = crate::Cli::command();
    let leaf = root
        .find_subcommand("watch")
        .and_then(|w| w.find_subcommand(command))
        .ok_or_else(|| format!("no command `watch {command}`"))?;
    let mut args: Vec<OsString> = ["kaudit", "watch", command, "--config", file]
        .map(OsString::from)
        .to_vec();
    let given = root
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(&args)
        .map_err(|e| clap_message(&e))?;
    let given = given
        .subcommand_matches("watch")
        .and_then(|w| w.subcommand_matches(command))
        .ok_or_else(|| format!("no command `watch {command}`"))?;
    let (items, outputs) = items(&root, leaf, given, file, text)?;
    let base = kaudit_output::OutputOptions::default();
    for o in &outputs {
        let _ = o.options(&base);
    }
    args.extend(items);
    Ok(crate::Cli::try_parse_from(args)
        .map(|_| ())
        .map_err(|e| clap_message(&e)))
}

/// The extra arguments and the configured outputs of config `text` for subcommand `leaf`.
fn items(
    root: &Command,
    leaf: &Command,
    given: &ArgMatches,
    file: &str,
    text: &str,
) -> Result<(Vec<OsString>, Vec<ConfiguredOutput>), String> {
    // The parser places an error, or an empty node, at the end of the text on the line after
    // the last one; errors name the last line instead, the one a reader can open.
    let last = yaml_lines(text);
    let mut docs = kaudit_rules::yaml::parse_documents(text).map_err(|e| {
        let line = e.pos.line.min(last);
        format!("{file}:{line}: {}", e.message)
    })?;
    docs.iter_mut().for_each(|d| clamp_lines(d, last));
    let mut docs = docs.into_iter();
    let doc = docs.next();
    if let Some(extra) = docs.next() {
        return Err(format!(
            "{file}:{}: a config file is one YAML document",
            extra.pos.line
        ));
    }
    let entries = match doc.map(|d| (d.kind, d.pos)) {
        None | Some((NodeKind::Null, _)) => return Ok((Vec::new(), Vec::new())),
        Some((NodeKind::Map(entries), _)) => entries,
        Some((_, pos)) => {
            return Err(format!(
                "{file}:{}: expected a mapping of options (key: value)",
                pos.line
            ));
        }
    };
    let known = keyed_args(root, leaf);
    let mut out = Vec::new();
    let mut outputs = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for (k, v) in &entries {
        let Some(key) = k.as_str() else {
            return Err(format!("{file}:{}: a key must be a name", k.pos.line));
        };
        if seen.iter().any(|s| s == key) {
            return Err(at(file, k, key, "given twice"));
        }
        seen.push(key.to_owned());
        let Some((_, arg)) = known.iter().find(|(name, _)| name == key) else {
            let names: Vec<&str> = known.iter().map(|(n, _)| n.as_str()).collect();
            return Err(at(file, k, key, unknown(key, &names, leaf)));
        };
        let flag = format!("--{}", arg.get_long().unwrap_or(key));
        let id = arg.get_id().as_str();
        let on_command_line = given
            .value_source(id)
            .is_some_and(|s| s == ValueSource::CommandLine);
        match arg.get_action() {
            ArgAction::SetTrue => {
                let value = scalar(file, key, v)?;
                let on = match value {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(at(
                            file,
                            v,
                            key,
                            format!("expected true or false, found `{value}`"),
                        ));
                    }
                };
                if on && !on_command_line {
                    out.push(OsString::from(flag));
                }
            }
            ArgAction::Append => {
                let NodeKind::Seq(list) = &v.kind else {
                    return Err(at(
                        file,
                        v,
                        key,
                        format!("expected a list, found {}", shape(v)),
                    ));
                };
                if key == "output" {
                    for item in list {
                        let o = output(file, item)?;
                        if !on_command_line {
                            outputs.push(o);
                        }
                    }
                    continue;
                }
                for item in list {
                    let value = scalar(file, key, item)?;
                    check(file, key, item, arg, value)?;
                    if !on_command_line {
                        out.push(OsString::from(format!("{flag}={value}")));
                    }
                }
            }
            _ => {
                let value = scalar(file, key, v)?;
                check(file, key, v, arg, value)?;
                if !on_command_line {
                    out.push(OsString::from(format!("{flag}={value}")));
                }
            }
        }
    }
    Ok((out, outputs))
}

/// The "unknown key" message, with the nearest known key when it is close.
fn unknown(key: &str, names: &[&str], leaf: &Command) -> String {
    let command = leaf.get_name();
    if key == "config" {
        return "a config file cannot name another config file".to_owned();
    }
    match did_you_mean(key, names) {
        Some(near) => format!("unknown key for watch {command} (did you mean `{near}`?)"),
        None => format!("unknown key for watch {command} (see docs/configuration.md)"),
    }
}

/// The closest of `names` to `key`, if it is a plausible typo.
pub(crate) fn did_you_mean<'a>(key: &str, names: &[&'a str]) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    for &n in names {
        let d = distance(key, n);
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, n));
        }
    }
    let limit = (key.chars().count() / 3).max(2);
    best.filter(|&(d, _)| d <= limit).map(|(_, n)| n)
}

/// Optimal string alignment distance (Levenshtein with adjacent transpositions).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

fn shape(v: &Node) -> &'static str {
    match v.kind {
        NodeKind::Null => "nothing",
        NodeKind::Scalar(_) => "a single value",
        NodeKind::Seq(_) => "a list",
        NodeKind::Map(_) => "a mapping",
    }
}

/// The scalar text of `v`, or a wrong-type error.
fn scalar<'a>(file: &str, key: &str, v: &'a Node) -> Result<&'a str, String> {
    match &v.kind {
        NodeKind::Scalar(s) => Ok(s),
        _ => Err(at(
            file,
            v,
            key,
            format!("expected a single value, found {}", shape(v)),
        )),
    }
}

/// Runs `value` through `arg`'s value parser, as the command line would.
fn check(file: &str, key: &str, v: &Node, arg: &Arg, value: &str) -> Result<(), String> {
    // A one-argument command with the flag's parser (and none of its relations to others).
    let mut probe_arg = Arg::new(arg.get_id().clone())
        .index(1)
        .required(true)
        .value_parser(arg.get_value_parser().clone())
        .action(ArgAction::Set)
        .allow_hyphen_values(true);
    if let Some(names) = arg.get_value_names() {
        probe_arg = probe_arg.value_names(names.iter().cloned());
    }
    Command::new("kaudit")
        .no_binary_name(true)
        .disable_help_flag(true)
        .arg(probe_arg)
        .try_get_matches_from([value])
        .map(|_| ())
        .map_err(|e| at(file, v, key, clap_message(&e)))
}

/// A clap error as one line, without its `error: ` prefix and help tip.
fn clap_message(e: &clap::Error) -> String {
    let text = e.to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
        .collect();
    let joined = lines.join(" ");
    joined.strip_prefix("error: ").unwrap_or(&joined).to_owned()
}

/// One `output` list entry: a target string, or a mapping of `target` and options.
fn output(file: &str, item: &Node) -> Result<ConfiguredOutput, String> {
    let key = "output";
    let target = |v: &Node| {
        let s = scalar(file, key, v)?;
        crate::parse_target_arg(s).map_err(|e| at(file, v, key, e))
    };
    let entries = match &item.kind {
        NodeKind::Scalar(_) => {
            return Ok(ConfiguredOutput {
                target: Some(target(item)?),
                ..ConfiguredOutput::default()
            });
        }
        NodeKind::Map(entries) => entries,
        _ => {
            return Err(at(
                file,
                item,
                key,
                format!("expected a target or a mapping, found {}", shape(item)),
            ));
        }
    };
    let mut o = ConfiguredOutput::default();
    for (k, v) in entries {
        let Some(name) = k.as_str() else {
            return Err(at(file, k, key, "an option must be a name"));
        };
        let full = format!("output.{name}");
        let path = |v: &Node| scalar(file, &full, v).map(std::path::PathBuf::from);
        match name {
            "target" => o.target = Some(target(v)?),
            "timeout" => {
                let s = scalar(file, &full, v)?;
                o.timeout = Some(crate::parse_duration_arg(s).map_err(|e| at(file, v, &full, e))?);
            }
            "ca_file" => o.ca_file = Some(path(v)?),
            "client_cert" => o.client_cert = Some(path(v)?),
            "client_key" => o.client_key = Some(path(v)?),
            "bearer_token" => o.bearer_token = Some(scalar(file, &full, v)?.to_owned()),
            "batch" => {
                let s = scalar(file, &full, v)?;
                let n = s.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    at(
                        file,
                        v,
                        &full,
                        format!("expected a positive number, found `{s}`"),
                    )
                })?;
                o.batch = Some(n);
            }
            "headers" => {
                let NodeKind::Map(headers) = &v.kind else {
                    return Err(at(
                        file,
                        v,
                        &full,
                        format!(
                            "expected a mapping of header names to values, found {}",
                            shape(v)
                        ),
                    ));
                };
                for (hk, hv) in headers {
                    let Some(h) = hk.as_str() else {
                        return Err(at(file, hk, &full, "a header name must be text"));
                    };
                    o.headers
                        .push((h.to_owned(), scalar(file, &full, hv)?.to_owned()));
                }
            }
            _ => {
                let msg = match did_you_mean(name, OUTPUT_OPTIONS) {
                    Some(near) => format!("unknown output option (did you mean `{near}`?)"),
                    None => format!(
                        "unknown output option (known: {})",
                        OUTPUT_OPTIONS.join(", ")
                    ),
                };
                return Err(at(file, k, &full, msg));
            }
        }
    }
    if o.target.is_none() {
        return Err(at(file, item, key, "an output mapping needs a `target`"));
    }
    if o.client_cert.is_some() != o.client_key.is_some() {
        return Err(at(
            file,
            item,
            key,
            "client_cert and client_key go together",
        ));
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::collections::BTreeMap;

    use clap::CommandFactory as _;

    use super::*;
    use crate::Cli;

    /// The doc's tables: section heading → key → default cell.
    fn doc_tables() -> BTreeMap<String, BTreeMap<String, String>> {
        let doc = include_str!("../../../docs/configuration.md");
        let mut tables: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut section = String::new();
        for line in doc.lines() {
            if let Some(h) = line.strip_prefix("## ") {
                section = h.to_owned();
            } else if let Some(row) = line.strip_prefix("| `") {
                let (key, rest) = row.split_once('`').unwrap();
                let default = rest.split('|').nth(1).unwrap().trim().to_owned();
                let old = tables
                    .entry(section.clone())
                    .or_default()
                    .insert(key.to_owned(), default);
                assert!(old.is_none(), "{key} documented twice in {section}");
            }
        }
        tables
    }

    #[test]
    fn config_doc_lists_every_key() {
        let tables = doc_tables();
        let common = &tables["Keys of every `watch` command"];
        let root = Cli::command();
        let watch = root.find_subcommand("watch").unwrap();
        for name in ["cloudwatch", "webhook"] {
            let leaf = watch.find_subcommand(name).unwrap();
            let own = &tables[&format!("Keys of `watch {name}`")];
            let mut documented: Vec<&String> = common.keys().chain(own.keys()).collect();
            documented.sort();
            let args = keyed_args(&root, leaf);
            let mut code: Vec<&String> = args.iter().map(|(k, _)| k).collect();
            code.sort();
            assert_eq!(documented, code, "docs/configuration.md vs watch {name}");
            for (key, arg) in &args {
                let doc_default = common.get(key).or_else(|| own.get(key)).unwrap();
                let defaults: Vec<String> = arg
                    .get_default_values()
                    .iter()
                    .map(|v| format!("`{}`", v.to_string_lossy()))
                    .collect();
                if !defaults.is_empty() {
                    assert_eq!(doc_default, &defaults.join(", "), "default of {key}");
                } else if arg.is_required_set() {
                    assert_eq!(doc_default, "required", "{key}");
                } else if arg.get_action().takes_values() {
                    assert!(!doc_default.is_empty(), "{key} has no documented default");
                } else {
                    assert_eq!(doc_default, "`false`", "{key}");
                }
            }
        }
        let mut mapping: Vec<&str> = tables["Output mappings"]
            .keys()
            .map(String::as_str)
            .collect();
        mapping.sort_unstable();
        let mut code = OUTPUT_OPTIONS.to_vec();
        code.sort_unstable();
        assert_eq!(mapping, code);
    }

    fn write(text: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kaudit.yaml");
        std::fs::write(&path, text).unwrap();
        (dir, path.display().to_string())
    }

    /// Runs `kaudit watch <args>`, expecting a usage error; returns stderr.
    fn refused(args: &[&str]) -> String {
        let mut argv = vec!["kaudit", "watch"];
        argv.extend_from_slice(args);
        let mut out = Vec::new();
        let mut err = Vec::new();
        let code = crate::run_with(argv, &mut out, &mut err);
        assert_eq!(code, std::process::ExitCode::from(2));
        String::from_utf8(err).unwrap()
    }

    #[test]
    fn a_typo_is_refused_with_its_file_line_and_a_suggestion() {
        let (_d, f) = write("region: eu-west-1\nlog_gruop: /aws/eks/prod/cluster\n");
        assert_eq!(
            refused(&["cloudwatch", "--config", &f]),
            format!(
                "kaudit: {f}:2: log_gruop: unknown key for watch cloudwatch (did you mean `log_group`?)\n"
            )
        );
        let (_d, f) = write("listen: 127.0.0.1:0\nfrobnicate: 1\n");
        assert_eq!(
            refused(&["webhook", "--config", &f]),
            format!(
                "kaudit: {f}:2: frobnicate: unknown key for watch webhook (see docs/configuration.md)\n"
            )
        );
        // A cloudwatch key is not a webhook key.
        let (_d, f) = write("listen: 127.0.0.1:0\n\nlog_group: g\n");
        assert_eq!(
            refused(&["webhook", "--config", &f]),
            format!(
                "kaudit: {f}:3: log_group: unknown key for watch webhook (see docs/configuration.md)\n"
            )
        );
    }

    #[test]
    fn bad_values_and_shapes_are_refused_like_the_flags() {
        let (_d, f) = write("log_group: g\npoll_interval: 5 parsecs\n");
        assert_eq!(
            refused(&["cloudwatch", "--config", &f]),
            format!(
                "kaudit: {f}:2: poll_interval: invalid value '5 parsecs' for '<DURATION>': invalid duration `5 parsecs`: {}\n",
                kaudit_source::internal::parse_duration("5 parsecs").unwrap_err()
            )
        );
        let (_d, f) = write("log_group: g\nrules: /etc/rules.yaml\n");
        assert_eq!(
            refused(&["cloudwatch", "--config", &f]),
            format!("kaudit: {f}:2: rules: expected a list, found a single value\n")
        );
        let (_d, f) = write("log_group:\n  - a\n  - b\n");
        assert_eq!(
            refused(&["cloudwatch", "--config", &f]),
            format!("kaudit: {f}:2: log_group: expected a single value, found a list\n")
        );
        let (_d, f) = write("log_group: g\nall_matches: yes please\n");
        assert_eq!(
            refused(&["cloudwatch", "--config", &f]),
            format!("kaudit: {f}:2: all_matches: expected true or false, found `yes please`\n")
        );
        let (_d, f) = write("log_group: g\nmin_priority: urgent\n");
        assert_eq!(
            refused(&["cloudwatch", "--config", &f]),
            format!(
                "kaudit: {f}:2: min_priority: invalid value 'urgent' for '<PRIORITY>': unknown priority `urgent` (emergency, alert, critical, error, warning, notice, informational, debug)\n"
            )
        );
        let (_d, f) =
            write("log_group: g\noutput:\n  - target: http://127.0.0.1:1/\n    timout: 5s\n");
        assert_eq!(
            refused(&["cloudwatch", "--config", &f]),
            format!(
                "kaudit: {f}:4: output.timout: unknown output option (did you mean `timeout`?)\n"
            )
        );
        let (_d, f) = write("log_group: g\nlog_level: loud\n");
        assert!(
            refused(&["cloudwatch", "--config", &f]).starts_with(&format!(
                "kaudit: {f}:2: log_level: invalid value 'loud' for '<LEVEL>'"
            ))
        );
        let (_d, f) = write("- log_group\n");
        assert_eq!(
            refused(&["cloudwatch", "--config", &f]),
            format!("kaudit: {f}:1: expected a mapping of options (key: value)\n")
        );
        assert!(
            refused(&["cloudwatch", "--config", "/nonexistent/kaudit.yaml"])
                .starts_with("kaudit: cannot read the config file /nonexistent/kaudit.yaml: ")
        );
    }

    /// A syntax error at the end of the text names the last line, counted as YAML counts lines
    /// (the `config` fuzz target found `FILE:5` for a four-line file ending in a lone `\r`).
    #[test]
    fn an_error_at_the_end_names_the_last_line() {
        let msg = |text: &str| check_config("cloudwatch", "k.yaml", text).unwrap_err();
        assert_eq!(
            msg("b: ["),
            "k.yaml:1: while parsing a node, did not find expected node content"
        );
        assert_eq!(
            msg("a: 1\nb: [\n"),
            "k.yaml:2: while parsing a node, did not find expected node content"
        );
        assert_eq!(msg("- a\n---\nb: \r["), "k.yaml:4: simple key expected");
        // An empty second document sits at the end (the second input the target found).
        assert_eq!(
            msg("-2a\n---"),
            "k.yaml:2: a config file is one YAML document"
        );
        assert_eq!(
            msg("log_group: g\npoll_interval:"),
            "k.yaml:2: poll_interval: expected a single value, found nothing"
        );
        assert_eq!(yaml_lines(""), 1);
        assert_eq!(yaml_lines("a\r\nb\rc\n"), 3);
        assert_eq!(yaml_lines("a\n\nb"), 3);
    }

    fn cloudwatch_args(args: &[&str]) -> (crate::CloudWatchArgs, Vec<ConfiguredOutput>) {
        let mut argv: Vec<OsString> = ["kaudit", "watch", "cloudwatch"]
            .map(OsString::from)
            .to_vec();
        argv.extend(args.iter().map(OsString::from));
        let merged = merge(&Cli::command(), argv).unwrap();
        let cli = Cli::try_parse_from(merged.args).unwrap();
        let crate::Command::Watch(crate::WatchCommand::Cloudwatch(a)) = cli.command else {
            panic!("not watch cloudwatch");
        };
        (*a, merged.outputs)
    }

    use clap::Parser as _;

    #[test]
    fn the_file_supplies_options_and_flags_override_it() {
        let (_d, f) = write(
            "log_group: /aws/eks/prod/cluster\nregion: eu-west-1\npoll_interval: 2s\nrules: [a.yaml, b.yaml]\nall_matches: true\nstart: -15m\noutput:\n  - stdout\n  - target: http://127.0.0.1:2801/\n    headers: {X-Team: platform}\n    timeout: 3s\n",
        );
        let (a, outputs) = cloudwatch_args(&["--config", &f]);
        assert_eq!(a.log_group, "/aws/eks/prod/cluster");
        assert_eq!(a.region.as_deref(), Some("eu-west-1"));
        assert_eq!(a.poll_interval, Some(std::time::Duration::from_secs(2)));
        assert_eq!(a.rules.rules, ["a.yaml", "b.yaml"]);
        assert!(a.rules.all_matches);
        assert_eq!(
            a.start,
            Some(kaudit_source::cloudwatch::StartPosition::Lookback(
                std::time::Duration::from_secs(900)
            ))
        );
        assert_eq!(outputs.len(), 2);
        assert_eq!(outputs[0].target, Some(kaudit_output::Target::Stdout));
        let o = outputs[1].options(&kaudit_output::OutputOptions::default());
        assert_eq!(o.headers, [("X-Team".to_owned(), "platform".to_owned())]);
        assert_eq!(o.timeout, std::time::Duration::from_secs(3));

        let (a, outputs) = cloudwatch_args(&[
            "--region",
            "us-east-1",
            "--config",
            &f,
            "--rules",
            "c.yaml",
            "--output",
            "stdout",
        ]);
        assert_eq!(a.log_group, "/aws/eks/prod/cluster");
        assert_eq!(a.region.as_deref(), Some("us-east-1"));
        assert_eq!(a.rules.rules, ["c.yaml"]);
        assert!(outputs.is_empty());
        assert_eq!(a.outputs.outputs, [kaudit_output::Target::Stdout]);
    }

    #[test]
    fn did_you_mean_only_suggests_near_misses() {
        let names = ["log_group", "log_level", "region", "settle_lag"];
        assert_eq!(did_you_mean("log_gruop", &names), Some("log_group"));
        assert_eq!(did_you_mean("regoin", &names), Some("region"));
        assert_eq!(did_you_mean("settlelag", &names), Some("settle_lag"));
        assert_eq!(did_you_mean("colour", &names), None);
    }
}
