//! Load diagnostics: Falco's error and warning codes, where they happened, and a text renderer
//! shaped like `falco -V`.

use std::fmt::{self, Write as _};

use super::yaml::Pos;

/// Falco's load-result codes (`falco_load_result.h`): seven errors and fifteen warnings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// The file could not be read.
    ErrFileRead,
    /// The text is not valid YAML.
    ErrYamlParse,
    /// The YAML does not have the shape of a rules file (missing keys, wrong types, ...).
    ErrYamlValidate,
    /// A condition did not parse or compile.
    ErrCompileCondition,
    /// An output did not compile.
    ErrCompileOutput,
    /// An item is wrong (undefined macro, version mismatch, append with nothing to append to, ...).
    ErrValidate,
    /// An extension item is wrong.
    ErrExtension,
    /// A rule names a source this engine does not know; the rule is skipped.
    UnknownSource,
    /// A field is compared with `<NA>` by an equality or list operator.
    UnsafeNaCheck,
    /// A syscall rule matches too many event types.
    NoEvttype,
    /// An unknown field in a rule with `skip-if-unknown-filter: true`; the rule is skipped.
    UnknownFilter,
    /// A macro that no rule or macro uses.
    UnusedMacro,
    /// A list that no list, macro or rule uses.
    UnusedList,
    /// A top-level item of unknown kind.
    UnknownItem,
    /// A deprecated construct (`append: true`, a standalone `enabled`, deprecated fields).
    DeprecatedItem,
    /// A warning in an extension item.
    WarningExtension,
    /// An exception override or append without values.
    AppendNoValues,
    /// Two exceptions of one rule share a name.
    ExceptionNameNotUnique,
    /// A macro name that is not an identifier.
    InvalidMacroName,
    /// A list name that is not a bare string.
    InvalidListName,
    /// A warning from the condition compiler.
    CompileCondition,
    /// A key that the item kind does not know; it is ignored.
    UnknownKey,
}

impl Code {
    /// Falco's spelling, e.g. `LOAD_ERR_COMPILE_CONDITION` or `LOAD_UNUSED_MACRO`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Code::ErrFileRead => "LOAD_ERR_FILE_READ",
            Code::ErrYamlParse => "LOAD_ERR_YAML_PARSE",
            Code::ErrYamlValidate => "LOAD_ERR_YAML_VALIDATE",
            Code::ErrCompileCondition => "LOAD_ERR_COMPILE_CONDITION",
            Code::ErrCompileOutput => "LOAD_ERR_COMPILE_OUTPUT",
            Code::ErrValidate => "LOAD_ERR_VALIDATE",
            Code::ErrExtension => "LOAD_ERR_EXTENSION",
            Code::UnknownSource => "LOAD_UNKNOWN_SOURCE",
            Code::UnsafeNaCheck => "LOAD_UNSAFE_NA_CHECK",
            Code::NoEvttype => "LOAD_NO_EVTTYPE",
            Code::UnknownFilter => "LOAD_UNKNOWN_FILTER",
            Code::UnusedMacro => "LOAD_UNUSED_MACRO",
            Code::UnusedList => "LOAD_UNUSED_LIST",
            Code::UnknownItem => "LOAD_UNKNOWN_ITEM",
            Code::DeprecatedItem => "LOAD_DEPRECATED_ITEM",
            Code::WarningExtension => "LOAD_WARNING_EXTENSION",
            Code::AppendNoValues => "LOAD_APPEND_NO_VALUES",
            Code::ExceptionNameNotUnique => "LOAD_EXCEPTION_NAME_NOT_UNIQUE",
            Code::InvalidMacroName => "LOAD_INVALID_MACRO_NAME",
            Code::InvalidListName => "LOAD_INVALID_LIST_NAME",
            Code::CompileCondition => "LOAD_COMPILE_CONDITION",
            Code::UnknownKey => "LOAD_UNKNOWN_KEY",
        }
    }

    /// Falco's short description of the code (`codedesc` in `falco -V` JSON).
    #[must_use]
    pub fn description(self) -> &'static str {
        match self {
            Code::ErrFileRead => "File read error",
            Code::ErrYamlParse => "YAML parse error",
            Code::ErrYamlValidate => "Error validating internal structure of YAML file",
            Code::ErrCompileCondition => "Error compiling condition",
            Code::ErrCompileOutput => "Error compiling output",
            Code::ErrValidate => "Error validating rule/macro/list/exception objects",
            Code::ErrExtension => "Error in extension item",
            Code::UnknownSource => "Unknown event source",
            Code::UnsafeNaCheck => "Unsafe <NA> comparison in condition",
            Code::NoEvttype => "Condition has no event-type restriction",
            Code::UnknownFilter => "Unknown field or event-type in condition or output",
            Code::UnusedMacro => "Unused macro",
            Code::UnusedList => "Unused list",
            Code::UnknownItem => "Unknown rules file item",
            Code::DeprecatedItem => "Used deprecated item",
            Code::WarningExtension => "Warning in extension item",
            Code::AppendNoValues => "Overriding/appending with no values",
            Code::ExceptionNameNotUnique => "Multiple exceptions defined with the same name",
            Code::InvalidMacroName => "Invalid macro name",
            Code::InvalidListName => "Invalid list name",
            Code::CompileCondition => "Warning in rule condition",
            Code::UnknownKey => "Unknown key in item definition",
        }
    }

    /// Whether the code is an error (the load fails) rather than a warning.
    #[must_use]
    pub fn is_error(self) -> bool {
        matches!(
            self,
            Code::ErrFileRead
                | Code::ErrYamlParse
                | Code::ErrYamlValidate
                | Code::ErrCompileCondition
                | Code::ErrCompileOutput
                | Code::ErrValidate
                | Code::ErrExtension
        )
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of place a diagnostic points at, spelled as Falco's `item_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ItemKind {
    /// The whole file.
    RulesContent,
    /// One top-level item whose kind is not known (yet).
    RulesContentItem,
    /// `required_engine_version`.
    RequiredEngineVersion,
    /// `required_plugin_versions`.
    RequiredPluginVersions,
    /// One entry of `required_plugin_versions`.
    RequiredPluginVersionsEntry,
    /// A list.
    List,
    /// An item of a list.
    ListItem,
    /// A macro.
    Macro,
    /// A macro's condition.
    MacroCondition,
    /// A rule.
    Rule,
    /// A rule's condition.
    RuleCondition,
    /// A rule's output.
    RuleOutput,
    /// A rule's priority.
    RulePriority,
    /// The value of a key.
    ValueFor,
    /// A rule's `exceptions`.
    Exceptions,
    /// One exception.
    Exception,
    /// A rule or item's `override`.
    Override,
    /// A condition expression (inside a condition).
    ConditionExpression,
}

impl ItemKind {
    /// Falco's spelling (`rule`, `macro`, `rules content`, ...).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::RulesContent => "rules content",
            ItemKind::RulesContentItem => "rules content item",
            ItemKind::RequiredEngineVersion => "required_engine_version",
            ItemKind::RequiredPluginVersions => "required_plugin_versions",
            ItemKind::RequiredPluginVersionsEntry => "required_plugin_versions entry",
            ItemKind::List => "list",
            ItemKind::ListItem => "list item",
            ItemKind::Macro => "macro",
            ItemKind::MacroCondition => "macro condition",
            ItemKind::Rule => "rule",
            ItemKind::RuleCondition => "rule condition",
            ItemKind::RuleOutput => "rule output",
            ItemKind::RulePriority => "rule priority",
            ItemKind::ValueFor => "value for",
            ItemKind::Exceptions => "exceptions",
            ItemKind::Exception => "exception",
            ItemKind::Override => "override",
            ItemKind::ConditionExpression => "condition expression",
        }
    }
}

impl fmt::Display for ItemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where something is: a file and a 1-based line and column (0:0 = the file as a whole).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file name as it was given to the loader.
    pub file: String,
    /// 1-based line; 0 when the diagnostic is about the whole file.
    pub line: u32,
    /// 1-based column; 0 when the diagnostic is about the whole file.
    pub column: u32,
}

impl Location {
    pub(crate) fn at(file: &str, pos: Pos) -> Location {
        Location {
            file: file.to_owned(),
            line: pos.line,
            column: pos.column,
        }
    }

    pub(crate) fn file(file: &str) -> Location {
        Location {
            file: file.to_owned(),
            line: 0,
            column: 0,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// One step of a diagnostic's context, outermost first: "in rule 'x' at file:3:3".
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    /// What kind of place.
    pub kind: ItemKind,
    /// The item's name (may be empty, as in Falco).
    pub name: String,
    /// Where it starts.
    pub location: Location,
}

/// One error or warning of a load.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    /// Falco's code; [`Code::is_error`] tells errors from warnings.
    pub code: Code,
    /// Falco's message.
    pub message: String,
    /// The context, outermost first (the file, then the item, then the key...).
    pub context: Vec<Frame>,
    /// For condition errors: the condition with a caret under the problem, as kaudit-condition
    /// renders it.
    pub snippet: Option<String>,
}

impl Diagnostic {
    /// Whether this is an error (the load fails).
    #[must_use]
    pub fn is_error(&self) -> bool {
        self.code.is_error()
    }

    /// The innermost item frame that names a rule, macro, list, exception or other item:
    /// what `falco -V` reports as `itemtype` / `itemname`.
    #[must_use]
    pub fn item(&self) -> Option<&Frame> {
        self.context.iter().rev().find(|f| {
            !matches!(
                f.kind,
                ItemKind::ValueFor
                    | ItemKind::ConditionExpression
                    | ItemKind::RuleCondition
                    | ItemKind::MacroCondition
                    | ItemKind::RuleOutput
                    | ItemKind::RulePriority
                    | ItemKind::Override
                    | ItemKind::Exceptions
                    | ItemKind::ListItem
            )
        })
    }

    /// Where the diagnostic points: the innermost frame's location.
    #[must_use]
    pub fn location(&self) -> Option<&Location> {
        self.context.last().map(|f| &f.location)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code,
            self.code.description(),
            self.message
        )
    }
}

/// Renders diagnostics like `falco -V` does in text mode: each with its context chain, the
/// source line with a caret (from `texts`, looked up by file name), the condition snippet when
/// there is one, then `CODE (description): message`.
#[must_use]
pub fn render(diagnostics: &[Diagnostic], texts: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let errors: Vec<&Diagnostic> = diagnostics.iter().filter(|d| d.is_error()).collect();
    let warnings: Vec<&Diagnostic> = diagnostics.iter().filter(|d| !d.is_error()).collect();
    for (title, group) in [("Errors", errors), ("Warnings", warnings)] {
        if group.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{} {title}:", group.len());
        for d in group {
            render_one(&mut out, d, texts);
        }
    }
    out
}

fn render_one(out: &mut String, d: &Diagnostic, texts: &[(&str, &str)]) {
    for (depth, frame) in d.context.iter().enumerate() {
        let indent = "    ".repeat(depth);
        let name = if frame.name.is_empty() {
            String::new()
        } else {
            format!(" '{}'", frame.name)
        };
        let _ = writeln!(out, "{indent}In {}{name}: ({})", frame.kind, frame.location);
    }
    if let Some(loc) = d.location()
        && loc.line > 0
        && let Some((_, text)) = texts.iter().find(|(name, _)| *name == loc.file)
        && let Some(line) = text.lines().nth(loc.line as usize - 1)
    {
        let caret = " ".repeat((loc.column as usize).saturating_sub(1));
        let _ = writeln!(out, "------\n{line}\n{caret}^\n------");
    }
    if let Some(snippet) = &d.snippet {
        let _ = writeln!(out, "{}", snippet.trim_end());
    }
    let _ = writeln!(out, "{d}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_context_caret_and_code() {
        let d = Diagnostic {
            code: Code::ErrValidate,
            message: "Undefined macro 'bar' used in filter.".to_owned(),
            context: vec![
                Frame {
                    kind: ItemKind::RulesContent,
                    name: String::new(),
                    location: Location::file("r.yaml"),
                },
                Frame {
                    kind: ItemKind::Rule,
                    name: "some rule".to_owned(),
                    location: Location {
                        file: "r.yaml".to_owned(),
                        line: 2,
                        column: 3,
                    },
                },
            ],
            snippet: None,
        };
        let text = "# c\n- rule: some rule\n";
        let got = render(std::slice::from_ref(&d), &[("r.yaml", text)]);
        assert_eq!(
            got,
            "1 Errors:\nIn rules content: (r.yaml:0:0)\n    In rule 'some rule': (r.yaml:2:3)\n\
             ------\n- rule: some rule\n  ^\n------\n\
             LOAD_ERR_VALIDATE (Error validating rule/macro/list/exception objects): \
             Undefined macro 'bar' used in filter.\n"
        );
        assert_eq!(d.item().map(|f| f.name.as_str()), Some("some rule"));
    }
}
