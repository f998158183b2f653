//! kaudit-rules: Falco rules files. The loader runs Falco's three steps, read → collect → compile;
//! [`format`](mod@format) compiles output templates; [`Priority`] is Falco's priority scale.
//!
//! The crate is generic over the condition language's [`Schema`]: it knows no event model and
//! has no async, AWS, HTTP or CLI dependency.
//!
//! - `read` walks the YAML (several documents per file, each a sequence of maps)
//!   and checks every item's shape. Scalars stay literal text (`010` is `"010"`).
//! - `collect` applies definitions, `append` and `override` per name, across
//!   files, keeping each item's original position.
//! - `compile` expands lists (one level), substitutes lists into conditions **as text**, turns
//!   exceptions into text, parses every macro, expands macros on the AST with Falco's visibility
//!   rules, and compiles each rule's condition and output against the [`Schema`].
//!
//! Every problem becomes a [`Diagnostic`] with Falco's code (`LOAD_ERR_…` / `LOAD_…`), the file,
//! line and column, and the item. [`check`] renders them like `falco -V`.
//!
//! The engine claims Falco 0.44's engine version, **0.62.0** ([`ENGINE_VERSION`]): rules that
//! say `required_engine_version: 15` (= 0.15.0) load; anything above 0.62.0 or with another
//! major version is rejected like Falco does.
//!
//! What the loader does **not** do, compared with Falco 0.44:
//! - no JSON-schema validation (Falco only reports its status; it never fails a load);
//! - no syscall event-type analysis, so no `LOAD_NO_EVTTYPE` and no `unknown event type`;
//! - YAML is parsed by saphyr-parser, which is stricter than yaml-cpp. The one leniency Falco's
//!   own rules rely on (flow collections whose lines are not indented past the enclosing
//!   block) is accepted; other yaml-cpp quirks are not, and messages other than
//!   `illegal map value` use saphyr's wording;
//! - a condition problem points at its exact file column only for one-line plain conditions;
//!   otherwise at the condition's YAML value, with the caret rendering inside the condition.
//!
//! # Quick start
//!
//! Load a rules file against a schema (here the `ka.*` table of `kaudit-event`); the rules come
//! back compiled, or the diagnostics render as Falco prints them:
//!
//! ```
//! use kaudit_rules::{LoadOptions, RuleFile, diag, load};
//!
//! let text = "\
//! - list: sensitive
//!   items: [secrets, configmaps]
//! - macro: reads
//!   condition: ka.verb in (get, list)
//! - rule: Sensitive Read
//!   desc: a sensitive resource was read
//!   condition: reads and ka.target.resource in (sensitive)
//!   output: read by %ka.user.name
//!   priority: NOTICE
//!   source: k8s_audit
//! ";
//! let files = [RuleFile::new("rules.yaml", text)];
//! let schema = kaudit_event::K8sAuditSchema::new();
//! let result = load(&files, &schema, &LoadOptions::k8s_audit());
//! assert!(result.successful());
//! assert_eq!(result.rules[0].name, "Sensitive Read");
//!
//! let bad = [RuleFile::new("bad.yaml", "- rule: x\n  condition: ka.verb =\n")];
//! let result = load(&bad, &schema, &LoadOptions::k8s_audit());
//! let errors: Vec<_> = result.errors().cloned().collect();
//! let rendered = diag::render(&errors, &[("bad.yaml", bad[0].text.as_str())]);
//! assert!(rendered.contains("bad.yaml"));
//! ```
//!
//! # Features
//!
//! None: the crate has no optional parts.

mod collect;
mod compile;
pub mod diag;
pub mod format;
mod priority;
mod read;
mod text;
pub mod version;
// The YAML tree the loader reads (saphyr-parser events with spans); public only for the
// loader's conformance tests, not part of the API.
#[doc(hidden)]
pub mod yaml;

/// Helpers shared with kaudit-engine; not part of the API (no semver promise, hidden from the
/// docs): the JSON string escaper of output templates, which the engine's JSON alert writer
/// shares.
#[doc(hidden)]
pub mod internal {
    /// Appends `s` as a JSON string literal, escaped as nlohmann::json does (`"`, `\`, and control
    /// characters; `/` and non-ASCII are kept). serde_json escapes exactly the same set the same
    /// way, so kaudit-engine's JSON alert writer uses it too.
    pub fn write_json_str(out: &mut String, s: &str) {
        out.push('"');
        let b = s.as_bytes();
        let mut start = 0;
        let mut i = 0;
        loop {
            i = kaudit_condition::internal::json_plain_end(b, i);
            let Some(&c) = b.get(i) else { break };
            let esc: &str = match c {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0x08 => "\\b",
                0x0c => "\\f",
                _ => "",
            };
            out.push_str(&s[start..i]);
            if esc.is_empty() {
                let _ = std::fmt::Write::write_fmt(out, format_args!("\\u{c:04x}"));
            } else {
                out.push_str(esc);
            }
            i += 1;
            start = i;
        }
        out.push_str(&s[start..]);
        out.push('"');
    }
}

use std::collections::BTreeSet;

use kaudit_condition::{FieldError, Schema};

pub use collect::PluginRequirement;
pub use diag::{Code, Diagnostic, Frame, ItemKind, Location};
pub use priority::{InvalidPriority, Priority};
pub use version::Version;

/// Falco 0.44.0's engine version (`falco_engine_version.h`), which kaudit claims.
pub const ENGINE_VERSION: Version = Version::new(0, 62, 0);

/// One rules file: its name (the path as given, used in diagnostics) and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleFile {
    /// The path as given on the command line.
    pub name: String,
    /// The file's content.
    pub text: String,
}

impl RuleFile {
    /// A rules file from a name and its text.
    #[must_use]
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> RuleFile {
        RuleFile {
            name: name.into(),
            text: text.into(),
        }
    }
}

/// What the loader knows about the engine it loads for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// Event sources the schema serves. Rules for other sources are skipped with
    /// `LOAD_UNKNOWN_SOURCE`.
    pub sources: Vec<String>,
    /// The engine version that `required_engine_version` is checked against.
    pub engine_version: Version,
    /// Loaded plugins and their versions, for `required_plugin_versions`; `None` skips the
    /// check (as when no plugin is loaded in Falco's unit tests).
    pub plugins: Option<Vec<(String, Version)>>,
    /// Nesting limit for condition parsing (Falco sets 1000).
    pub max_depth: usize,
}

impl LoadOptions {
    /// Options for Kubernetes audit rules: source `k8s_audit`, engine 0.62.0, plugins
    /// k8saudit 0.18.0 and json 0.7.4.
    #[must_use]
    pub fn k8s_audit() -> LoadOptions {
        LoadOptions {
            sources: vec!["k8s_audit".to_owned()],
            engine_version: ENGINE_VERSION,
            plugins: Some(vec![
                ("k8saudit".to_owned(), Version::new(0, 18, 0)),
                ("json".to_owned(), Version::new(0, 7, 4)),
            ]),
            max_depth: 1000,
        }
    }

    /// Options for a single source (no plugin check), as Falco's loader unit tests use.
    #[must_use]
    pub fn for_source(source: &str) -> LoadOptions {
        LoadOptions {
            sources: vec![source.to_owned()],
            plugins: None,
            ..LoadOptions::k8s_audit()
        }
    }
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions::k8s_audit()
    }
}

/// What the collector and reader need from the schema, without its type.
pub(crate) struct Env<'a> {
    pub(crate) opts: &'a LoadOptions,
    pub(crate) field_defined: &'a dyn Fn(&str) -> bool,
    /// `rules check`: an item's error is recorded and the next item is read and compiled.
    pub(crate) keep_going: bool,
}

impl Env<'_> {
    pub(crate) fn knows_source(&self, source: &str) -> bool {
        self.opts.sources.iter().any(|s| s == source)
    }
}

/// A rule as loaded: everything Falco keeps about it, plus the compiled condition and output.
#[derive(Clone, Debug)]
pub struct CompiledRule<F> {
    /// The rule's name.
    pub name: String,
    /// `desc` (appends joined with a space).
    pub desc: String,
    /// `priority`.
    pub priority: Priority,
    /// `source` (`syscall` when absent, as in Falco).
    pub source: String,
    /// `tags`.
    pub tags: BTreeSet<String>,
    /// `enabled` after every override and standalone `enabled` item.
    pub enabled: bool,
    /// The condition as written (appends joined with a space), before exceptions and lists.
    pub condition_text: String,
    /// The compiled condition.
    pub condition: kaudit_condition::Program<F>,
    /// The condition after exceptions, list substitution and macro expansion (Falco's
    /// `condition_compiled` is its [`kaudit_condition::Ast::falco_string`]).
    pub expanded: kaudit_condition::Ast,
    /// The compiled output template.
    pub output: crate::format::OutputTemplate<F>,
    /// The output text (trimmed, appends joined with a space).
    pub output_text: String,
    /// `capture`.
    pub capture: bool,
    /// `capture_duration` (milliseconds).
    pub capture_duration: u64,
    /// Where the rule was first defined (`- rule:` item); redefinitions keep this position.
    pub location: Location,
}

/// A list as loaded (for `describe`-style introspection).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListSummary {
    /// The list's name.
    pub name: String,
    /// Items as written (after appends).
    pub items: Vec<String>,
    /// Items after one level of expansion of earlier lists.
    pub items_compiled: Vec<String>,
    /// Names of the lists whose items were spliced in.
    pub lists: Vec<String>,
    /// Whether any list, macro or rule used it.
    pub used: bool,
}

/// A macro as loaded (for `describe`-style introspection).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MacroSummary {
    /// The macro's name.
    pub name: String,
    /// The condition as written (appends joined with a space).
    pub condition: String,
    /// Whether any rule or macro used it.
    pub used: bool,
}

/// How one file of a load went (Falco loads and compiles after each file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileReport {
    /// The file's name.
    pub name: String,
    /// Whether this file loaded (and everything up to it compiled) without errors.
    pub successful: bool,
    /// The errors and warnings of this file's load.
    pub diagnostics: Vec<Diagnostic>,
}

/// The result of [`load`].
#[derive(Clone, Debug)]
pub struct LoadResult<F> {
    /// Compiled rules in Falco's order (first definition), disabled rules included. Empty when
    /// the load failed.
    pub rules: Vec<CompiledRule<F>>,
    /// Every error and warning, deduplicated across files, in order.
    pub diagnostics: Vec<Diagnostic>,
    /// Per-file outcome, in load order; files after a failed one are not loaded.
    pub files: Vec<FileReport>,
    /// Lists, in definition order.
    pub lists: Vec<ListSummary>,
    /// Macros, in definition order.
    pub macros: Vec<MacroSummary>,
    /// The highest `required_engine_version`.
    pub required_engine_version: Option<Version>,
    /// Every `required_plugin_versions` entry.
    pub required_plugin_versions: Vec<PluginRequirement>,
}

impl<F> LoadResult<F> {
    /// Whether the load had no errors.
    #[must_use]
    pub fn successful(&self) -> bool {
        !self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| !d.is_error())
    }

    /// The rule named `name`.
    #[must_use]
    pub fn rule(&self, name: &str) -> Option<&CompiledRule<F>> {
        self.rules.iter().find(|r| r.name == name)
    }
}

/// Whether `schema` defines the field written as `name` or `name[arg]` (an argument problem
/// still means the field exists).
pub(crate) fn field_defined<S: Schema>(schema: &S, text: &str) -> bool {
    let text = text.trim();
    // A transformer over a field (`tolower(proc.name)`) is a valid left-hand side too.
    if let Some((func, rest)) = text.split_once('(')
        && let Some(inner) = rest.strip_suffix(')')
        && ["tolower", "toupper", "b64", "basename", "len"].contains(&func.trim())
    {
        return field_defined(schema, inner);
    }
    let (name, arg) = match text.split_once('[') {
        Some((name, rest)) => (name, Some(rest.strip_suffix(']').unwrap_or(rest))),
        None => (text, None),
    };
    !matches!(schema.resolve(name, arg), Err(FieldError::Unknown))
}

/// Loads rules files in order (Falco's `-r a.yaml -r b.yaml`): each file is read and collected
/// on top of the previous ones, then everything collected so far is compiled. The first error
/// stops the file, and no later file is loaded.
pub fn load<S: Schema>(files: &[RuleFile], schema: &S, opts: &LoadOptions) -> LoadResult<S::Field> {
    load_files(files, schema, opts, false)
}

/// [`load`], or (`keep_going`, for [`check`]) reading and compiling on past an item's error,
/// so that every independent error of the file is reported; the first error is still the one
/// Falco reports. A file that fails ends the load in both modes.
fn load_files<S: Schema>(
    files: &[RuleFile],
    schema: &S,
    opts: &LoadOptions,
    keep_going: bool,
) -> LoadResult<S::Field> {
    let defined = |name: &str| field_defined(schema, name);
    let env = Env {
        opts,
        field_defined: &defined,
        keep_going,
    };
    let mut collector = collect::Collector::default();
    let mut reports: Vec<FileReport> = Vec::new();
    let mut last = compile::Output::default();
    for file in files {
        let mut diagnostics = Vec::new();
        let mut reader = read::Reader {
            env: &env,
            text: &file.text,
            collector: &mut collector,
            warnings: &mut diagnostics,
            keep_going,
        };
        let read = reader.read(&file.name, &file.text);
        let ok = match read {
            Err(fail) => {
                diagnostics.push(fail.into_diagnostic());
                false
            }
            Ok(()) => {
                let read_ok = !diagnostics.iter().any(Diagnostic::is_error);
                let out = compile::compile(&collector, schema, &env);
                diagnostics.extend(out.diagnostics.iter().cloned());
                let ok = read_ok && !out.diagnostics.iter().any(Diagnostic::is_error);
                last = out;
                ok
            }
        };
        reports.push(FileReport {
            name: file.name.clone(),
            successful: ok,
            diagnostics,
        });
        // Later files build on this one (appends, overrides): what they would report after a
        // failed file is mostly a consequence of it, so loading stops here in both modes.
        if !ok {
            break;
        }
    }
    let all_ok = reports.iter().all(|r| r.successful);
    if all_ok
        && let Some(err) = check_plugins(&collector, opts)
        && let Some(report) = reports.last_mut()
    {
        report.successful = false;
        report.diagnostics.push(err);
    }
    let mut diagnostics: Vec<Diagnostic> = Vec::new();
    for report in &reports {
        for d in &report.diagnostics {
            if !diagnostics.contains(d) {
                diagnostics.push(d.clone());
            }
        }
    }
    let ok = !diagnostics.iter().any(Diagnostic::is_error);
    LoadResult {
        rules: if ok { last.rules } else { Vec::new() },
        diagnostics,
        files: reports,
        lists: last.lists,
        macros: last.macros,
        required_engine_version: collector.required_engine_version,
        required_plugin_versions: collector
            .required_plugins
            .iter()
            .map(|(r, _)| r.clone())
            .collect(),
    }
}

/// Falco's `check_plugin_requirements`: every requirement needs one loaded alternative with a
/// compatible version.
fn check_plugins(collector: &collect::Collector, opts: &LoadOptions) -> Option<Diagnostic> {
    let plugins = opts.plugins.as_ref()?;
    for (req, ctx) in &collector.required_plugins {
        let mut message = None;
        for (name, version) in &req.alternatives {
            let Some((_, loaded)) = plugins.iter().find(|(n, _)| n == name) else {
                continue;
            };
            let required = Version::parse(version)?;
            if loaded.compatible_with(&required) {
                message = None;
                break;
            }
            message = Some(format!(
                "Plugin '{name}' version '{loaded}' is not compatible with required plugin version '{version}'"
            ));
        }
        let satisfied = req.alternatives.iter().any(|(name, version)| {
            plugins.iter().any(|(n, loaded)| {
                n == name && Version::parse(version).is_some_and(|v| loaded.compatible_with(&v))
            })
        });
        if !satisfied {
            let first = req.alternatives.first().map_or("", |(n, _)| n.as_str());
            let message =
                message.unwrap_or_else(|| format!("Plugin '{first}' is required but not loaded"));
            return Some(
                read::Fail::new(Code::ErrValidate, message, ctx.clone()).into_diagnostic(),
            );
        }
    }
    None
}

/// The outcome of [`check`]: like `falco -V`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    /// Whether every file loaded without errors.
    pub ok: bool,
    /// Every error and warning Falco reports (`falco -V` stops at the first error).
    pub diagnostics: Vec<Diagnostic>,
    /// The errors and warnings found by reading on past the first error (items and files
    /// Falco does not get to), not already in `diagnostics`.
    pub further: Vec<Diagnostic>,
    /// The text report: per file `name: Ok` or `name: Invalid`, then all its diagnostics
    /// (Falco's and the further ones, in file order).
    pub rendered: String,
}

/// Validates rules files like `falco -V`: loads them in order and renders the per-file outcome
/// with every diagnostic.
///
/// Unlike [`load`], which stops at the first error as Falco does, `check` reads on past an
/// item that fails (the item is left out, and items using it are not compiled), so one run
/// lists every independent error and warning of the file, each with its code and position;
/// files after a failed one are not loaded. The first error listed is
/// the one Falco reports; later errors may follow from an earlier one (a rule using a macro
/// that failed to load).
pub fn check<S: Schema>(files: &[RuleFile], schema: &S, opts: &LoadOptions) -> CheckReport {
    let falco = load_files(files, schema, opts, false);
    let result = load_files(files, schema, opts, true);
    let texts: Vec<(&str, &str)> = files
        .iter()
        .map(|f| (f.name.as_str(), f.text.as_str()))
        .collect();
    let mut rendered = String::new();
    for report in &result.files {
        let status = if report.successful { "Ok" } else { "Invalid" };
        rendered.push_str(&format!("{}: {status}\n", report.name));
        rendered.push_str(&diag::render(&report.diagnostics, &texts));
    }
    for file in files.iter().skip(result.files.len()) {
        rendered.push_str(&format!(
            "{}: Not loaded (an earlier file failed)\n",
            file.name
        ));
    }
    let further = result
        .diagnostics
        .into_iter()
        .filter(|d| !falco.diagnostics.contains(d))
        .collect();
    CheckReport {
        ok: falco.successful() && falco.files.len() == files.len(),
        diagnostics: falco.diagnostics,
        further,
        rendered,
    }
}
