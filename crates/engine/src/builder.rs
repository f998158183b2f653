//! [`EngineBuilder`]: rules files (or the built-in rules) and options in, an [`Engine`] out.
//!
//! ```
//! use kaudit_engine::{Compat, Engine, Matching};
//!
//! let engine = Engine::builder()
//!     .builtin_rules()
//!     .compat(Compat::Correct)
//!     .matching(Matching::All)
//!     .build()?;
//! let line = concat!(
//!     r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"1","stage":"ResponseComplete","#,
//!     r#""verb":"create","requestURI":"/api/v1/namespaces/shop/pods/web/exec?command=sh","#,
//!     r#""user":{"username":"alice"},"objectRef":{"resource":"pods","subresource":"exec","#,
//!     r#""namespace":"shop","name":"web"},"responseStatus":{"code":101}}"#,
//! )
//! .as_bytes();
//! let alerts = engine.evaluate(line).alerts;
//! assert_eq!(alerts.len(), 1);
//! assert_eq!(alerts[0].rule, "Exec Or Attach Into Pod");
//! assert!(alerts[0].output.contains("user=alice pod=web ns=shop"));
//! # Ok::<(), kaudit_engine::LoadError>(())
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use kaudit_event::{Compat, DecodeOptions, FALCO_MAX_EVENT_SIZE, Field, K8sAuditSchema};
use kaudit_rules::{Diagnostic, LoadOptions, Priority, RuleFile};

use crate::alert::{AlertFormat, AlertRenderer};
use crate::ruleset::{Matching, Rule, RuleSet, Selection, wildcard_match};
use crate::run::Engine;

/// The built-in rules (`rules/default.yaml` of this crate): the rules `kaudit` uses when no
/// rules file is given, [`EngineBuilder::builtin_rules`].
pub const BUILTIN_RULES: &str = include_str!("../rules/default.yaml");

/// The name diagnostics report the built-in rules under.
pub const BUILTIN_RULES_NAME: &str = "<built-in rules/default.yaml>";

/// Where one rules file comes from.
#[derive(Clone, Debug)]
enum RulesInput {
    Path(PathBuf),
    Text(RuleFile),
}

/// Builds an [`Engine`]: which rules files, which rules of them, how events are read and how
/// alerts are rendered. Start with [`Engine::builder`].
///
/// Rules files are loaded in the order they are added (later files append to or override
/// earlier ones, as in Falco). Without any, [`EngineBuilder::build`] loads the built-in rules.
#[derive(Clone, Debug, Default)]
#[must_use = "an EngineBuilder does nothing until `build` is called"]
pub struct EngineBuilder {
    inputs: Vec<RulesInput>,
    selection: Selection,
    renderer: AlertRenderer,
    compat: Compat,
}

impl Engine {
    /// A builder with no rules file yet, [`Compat::Correct`], [`Matching::First`] and text
    /// alerts.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }
}

impl EngineBuilder {
    /// Adds the rules file at `path` (read by [`EngineBuilder::build`]).
    pub fn rules_file(mut self, path: impl AsRef<Path>) -> Self {
        self.inputs
            .push(RulesInput::Path(path.as_ref().to_path_buf()));
        self
    }

    /// Adds a rules file given as text; `name` is what diagnostics call it.
    pub fn rules_text(mut self, name: impl Into<String>, text: impl Into<String>) -> Self {
        self.inputs
            .push(RulesInput::Text(RuleFile::new(name, text)));
        self
    }

    /// Adds the built-in rules ([`BUILTIN_RULES`]).
    pub fn builtin_rules(self) -> Self {
        self.rules_text(BUILTIN_RULES_NAME, BUILTIN_RULES)
    }

    /// How events are read and fields extracted. [`Compat::Falco`] reproduces Falco's
    /// k8saudit (its extraction quirks, the events it accepts, its 256 KiB event limit).
    pub fn compat(mut self, compat: Compat) -> Self {
        self.compat = compat;
        self
    }

    /// First match only (Falco's default) or every matching rule.
    pub fn matching(mut self, matching: Matching) -> Self {
        self.selection.matching = matching;
        self
    }

    /// Disables the rules named `pattern` (`*` matches any run of characters).
    pub fn disable_rule(mut self, pattern: impl Into<String>) -> Self {
        self.selection.disable_rules.push(pattern.into());
        self
    }

    /// Enables the rules named `pattern` even when their file disables them.
    pub fn enable_rule(mut self, pattern: impl Into<String>) -> Self {
        self.selection.enable_rules.push(pattern.into());
        self
    }

    /// Disables every rule with this tag (Falco `-T`).
    pub fn disable_tag(mut self, tag: impl Into<String>) -> Self {
        self.selection.disable_tags.push(tag.into());
        self
    }

    /// Only rules with one of the tags given this way stay enabled (Falco `-t`).
    pub fn enable_tag(mut self, tag: impl Into<String>) -> Self {
        self.selection.enable_tags.push(tag.into());
        self
    }

    /// Skips rules less severe than `priority`.
    pub fn min_priority(mut self, priority: Priority) -> Self {
        self.selection.min_priority = Some(priority);
        self
    }

    /// Replaces the whole rule selection (what the setters above build up).
    pub fn selection(mut self, selection: Selection) -> Self {
        self.selection = selection;
        self
    }

    /// Text or JSON for [`Alert::output`](crate::alert::Alert) lines written by outputs.
    pub fn format(mut self, format: AlertFormat) -> Self {
        self.renderer.format = format;
        self
    }

    /// Replaces the alert renderer (format, time form and zone, hostname).
    pub fn renderer(mut self, renderer: AlertRenderer) -> Self {
        self.renderer = renderer;
        self
    }

    /// Loads the rules and builds the engine. Load warnings are dropped; use
    /// [`EngineBuilder::build_with_warnings`] to see them.
    ///
    /// # Errors
    ///
    /// A rules file that cannot be read, or rules that do not load (every error rendered as
    /// Falco does, with the file, line and column).
    pub fn build(self) -> Result<Engine, LoadError> {
        self.build_with_warnings().map(|(engine, _)| engine)
    }

    /// Like [`EngineBuilder::build`], also returning the load warnings and the rule selection
    /// patterns that match no rule.
    ///
    /// # Errors
    ///
    /// As [`EngineBuilder::build`].
    pub fn build_with_warnings(self) -> Result<(Engine, Warnings), LoadError> {
        let schema = K8sAuditSchema::with_compat(self.compat);
        let (rules, warnings) = load_rules(self.inputs, &schema, &self.selection)?;
        let decode = if self.compat == Compat::Falco {
            DecodeOptions {
                max_event_size: FALCO_MAX_EVENT_SIZE,
            }
        } else {
            DecodeOptions::default()
        };
        let engine = Engine {
            rules,
            renderer: self.renderer,
            decode,
            compat: self.compat,
        };
        Ok((engine, warnings))
    }
}

/// Reads and loads rules files into a rule set (the built-in rules when `inputs` is empty).
fn load_rules(
    inputs: Vec<RulesInput>,
    schema: &K8sAuditSchema,
    selection: &Selection,
) -> Result<(RuleSet<Field>, Warnings), LoadError> {
    let mut files = Vec::with_capacity(inputs.len().max(1));
    for input in inputs {
        files.push(match input {
            RulesInput::Text(f) => f,
            RulesInput::Path(p) => match std::fs::read_to_string(&p) {
                Ok(text) => RuleFile::new(p.display().to_string(), text),
                Err(source) => return Err(LoadError::Read { path: p, source }),
            },
        });
    }
    if files.is_empty() {
        files.push(RuleFile::new(BUILTIN_RULES_NAME, BUILTIN_RULES));
    }
    let result = kaudit_rules::load(&files, schema, &LoadOptions::k8s_audit());
    let texts: Vec<(&str, &str)> = files
        .iter()
        .map(|f| (f.name.as_str(), f.text.as_str()))
        .collect();
    let diagnostics: Vec<Diagnostic> = result.warnings().cloned().collect();
    let rendered = if diagnostics.is_empty() {
        String::new()
    } else {
        kaudit_rules::diag::render(&diagnostics, &texts)
    };
    if !result.successful() {
        let errors: Vec<Diagnostic> = result.errors().cloned().collect();
        return Err(LoadError::Rules {
            rendered: kaudit_rules::diag::render(&errors, &texts),
            errors,
            warnings: Warnings {
                diagnostics,
                rendered,
                unmatched: Vec::new(),
            },
        });
    }
    let rules: Vec<Rule<Field>> = result.rules.into_iter().map(Rule::from).collect();
    let unmatched = unmatched_selection(&rules, selection);
    Ok((
        RuleSet::new(rules, schema, selection),
        Warnings {
            diagnostics,
            rendered,
            unmatched,
        },
    ))
}

/// The disable/enable rule and tag values that match no loaded rule: most likely typos.
fn unmatched_selection(rules: &[Rule<Field>], sel: &Selection) -> Vec<Unmatched> {
    let mut out = Vec::new();
    for (kind, patterns) in [
        (SelectionKind::DisableRule, &sel.disable_rules),
        (SelectionKind::EnableRule, &sel.enable_rules),
    ] {
        for p in patterns {
            if !rules.iter().any(|r| wildcard_match(p, &r.name)) {
                out.push(Unmatched {
                    kind,
                    value: p.clone(),
                });
            }
        }
    }
    for (kind, tags) in [
        (SelectionKind::DisableTag, &sel.disable_tags),
        (SelectionKind::EnableTag, &sel.enable_tags),
    ] {
        for t in tags {
            if !rules.iter().any(|r| r.tags.contains(t)) {
                out.push(Unmatched {
                    kind,
                    value: t.clone(),
                });
            }
        }
    }
    out
}

/// Which selection list an [`Unmatched`] value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SelectionKind {
    /// [`EngineBuilder::disable_rule`].
    DisableRule,
    /// [`EngineBuilder::enable_rule`].
    EnableRule,
    /// [`EngineBuilder::disable_tag`].
    DisableTag,
    /// [`EngineBuilder::enable_tag`].
    EnableTag,
}

/// A rule-selection value that matches no loaded rule (or no rule's tags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unmatched {
    /// The list it was given in.
    pub kind: SelectionKind,
    /// The pattern or tag.
    pub value: String,
}

/// What loading the rules warned about; the engine was built anyway.
#[derive(Clone, Debug, Default)]
pub struct Warnings {
    /// The loader's warnings.
    pub diagnostics: Vec<Diagnostic>,
    /// [`Warnings::diagnostics`] rendered as Falco does (empty when there are none).
    pub rendered: String,
    /// Selection values that match nothing.
    pub unmatched: Vec<Unmatched>,
}

impl Warnings {
    /// Whether there is nothing to report.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.diagnostics.is_empty() && self.unmatched.is_empty()
    }
}

/// Why [`EngineBuilder::build`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadError {
    /// A rules file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The rules did not load.
    Rules {
        /// The errors, in the loader's order.
        errors: Vec<Diagnostic>,
        /// [`LoadError::Rules::errors`] rendered as Falco does: file, line, column, the
        /// offending text and a caret.
        rendered: String,
        /// The warnings of the same load.
        warnings: Warnings,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Read { path, source } => {
                write!(f, "cannot read rules file {}: {source}", path.display())
            }
            LoadError::Rules { rendered, .. } => write!(f, "cannot load rules:\n{rendered}"),
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Read { source, .. } => Some(source),
            LoadError::Rules { .. } => None,
        }
    }
}

impl fmt::Display for SelectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SelectionKind::DisableRule => "disable-rule",
            SelectionKind::EnableRule => "enable-rule",
            SelectionKind::DisableTag => "disable-tag",
            SelectionKind::EnableTag => "enable-tag",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_rules_load_and_unknown_patterns_are_reported() {
        let (engine, warnings) = Engine::builder()
            .builtin_rules()
            .disable_rule("No Such Rule")
            .build_with_warnings()
            .unwrap();
        assert!(!engine.rules.active().is_empty());
        assert_eq!(
            warnings.unmatched,
            vec![Unmatched {
                kind: SelectionKind::DisableRule,
                value: "No Such Rule".into()
            }]
        );
    }

    #[test]
    fn load_errors_render_like_falco() {
        let err = Engine::builder()
            .rules_text("bad.yaml", "- rule: r\n  condition: ka.verb =\n")
            .build()
            .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("cannot load rules:\n"), "{text}");
        assert!(text.contains("bad.yaml"), "{text}");
        let err = Engine::builder()
            .rules_file("/nonexistent/rules.yaml")
            .build()
            .unwrap_err();
        assert!(matches!(err, LoadError::Read { .. }), "{err}");
    }
}
