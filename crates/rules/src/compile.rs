//! Step 3 of loading: the compiler (Falco `rule_loader_compiler.cpp`).
//!
//! 1. Lists: each item naming a list defined *earlier* (index below this list's visibility) is
//!    replaced by that list's raw items, one level only.
//! 2. Macros: every macro condition gets textual list substitution and is parsed, used or not.
//!    Then each macro is expanded with the macros first defined before its last define/append.
//! 3. Rules (in first-definition order, unknown sources skipped): exceptions are appended as
//!    text, the output is compiled, then the condition gets list substitution, parsing, macro
//!    expansion (every macro visible), warning checks and compilation against the schema.
//!
//! The first error stops compilation. Unused macros and lists are reported only after a
//! successful compile.

use std::collections::HashMap;

use kaudit_condition::{
    Ast, CompileErrorKind, ExpandOptions, MacroLookup, OperandKind, Operator, ParseOptions, Rhs,
    Schema, compile as compile_ast, expand_with, parse_with,
};

use crate::format::{FormatError, OutputTemplate};

use super::collect::{Collector, ListInfo, MacroInfo, RuleInfo};
use super::diag::{Code, Diagnostic, ItemKind};
use super::read::{Ctx, Fail, warning};
use super::text::{apply_exceptions, substitute_list};
use super::{CompiledRule, Env, ListSummary, Location, MacroSummary, field_defined};

/// What one compile produced.
pub(crate) struct Output<F> {
    pub(crate) rules: Vec<CompiledRule<F>>,
    pub(crate) lists: Vec<ListSummary>,
    pub(crate) macros: Vec<MacroSummary>,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

impl<F> Default for Output<F> {
    fn default() -> Self {
        Output {
            rules: Vec::new(),
            lists: Vec::new(),
            macros: Vec::new(),
            diagnostics: Vec::new(),
        }
    }
}

/// A compiled list: its expanded items and whether anything used it.
struct List {
    name: String,
    items: Vec<String>,
    used: bool,
}

/// Substitutes every list (in definition order) into `cond`, marking the lists used.
fn substitute_lists(cond: &str, lists: &mut [List]) -> String {
    let mut out = cond.to_owned();
    for list in lists.iter_mut() {
        if substitute_list(&mut out, &list.name, &list.items) {
            list.used = true;
        }
    }
    out
}

fn compile_lists(
    infos: &[ListInfo],
    by_name: &HashMap<&str, &ListInfo>,
) -> (Vec<List>, Vec<ListSummary>) {
    let mut lists = Vec::with_capacity(infos.len());
    let mut summaries = Vec::with_capacity(infos.len());
    let mut used_names: Vec<String> = Vec::new();
    for info in infos {
        let mut items = Vec::new();
        let mut spliced = Vec::new();
        for item in &info.items {
            match by_name.get(item.as_str()) {
                Some(inner) if inner.index < info.visibility => {
                    used_names.push(inner.name.clone());
                    spliced.push(inner.name.clone());
                    items.extend(inner.items.iter().cloned());
                }
                _ => items.push(item.clone()),
            }
        }
        summaries.push(ListSummary {
            name: info.name.clone(),
            items: info.items.clone(),
            items_compiled: items.clone(),
            lists: spliced,
            used: false,
        });
        lists.push(List {
            name: info.name.clone(),
            items,
            used: false,
        });
    }
    for name in used_names {
        if let Some(l) = lists.iter_mut().find(|l| l.name == name) {
            l.used = true;
        }
    }
    (lists, summaries)
}

/// Compiles everything collected so far.
pub(crate) fn compile<S: Schema>(col: &Collector, schema: &S, env: &Env<'_>) -> Output<S::Field> {
    let mut out = Output::default();
    let by_name: HashMap<&str, &ListInfo> = col
        .lists
        .items
        .iter()
        .map(|l| (l.name.as_str(), l))
        .collect();
    let (mut lists, list_summaries) = compile_lists(&col.lists.items, &by_name);
    out.lists = list_summaries;

    let result = compile_all(col, schema, env, &mut lists, &mut out);
    match result {
        Err(fail) => out.diagnostics.push(fail.into_diagnostic()),
        Ok(used_macros) => {
            for (m, used) in col.macros.items.iter().zip(&used_macros) {
                if !used {
                    out.diagnostics.push(warning(
                        Code::UnusedMacro,
                        "Macro not referred to by any other rule/macro",
                        &m.ctx,
                    ));
                }
            }
            for (l, info) in lists.iter().zip(&col.lists.items) {
                if !l.used {
                    out.diagnostics.push(warning(
                        Code::UnusedList,
                        "List not referred to by any other rule/macro",
                        &info.ctx,
                    ));
                }
            }
            for (summary, m) in out.macros.iter_mut().zip(&used_macros) {
                summary.used = *m;
            }
        }
    }
    for (summary, l) in out.lists.iter_mut().zip(&lists) {
        summary.used = l.used;
    }
    out
}

/// Lists, macros, then rules. Returns which macros were used.
fn compile_all<S: Schema>(
    col: &Collector,
    schema: &S,
    env: &Env<'_>,
    lists: &mut [List],
    out: &mut Output<S::Field>,
) -> Result<Vec<bool>, Fail> {
    let parse_opts = ParseOptions {
        max_depth: u32::try_from(env.opts.max_depth).unwrap_or(u32::MAX),
    };
    let infos = &col.macros.items;
    let names: HashMap<&str, usize> = infos
        .iter()
        .enumerate()
        .map(|(i, m)| (m.name.as_str(), i))
        .collect();

    // With `keep_going` (rules check), an item that fails is reported and left out: a macro
    // that failed (or uses one that did) is `failed`, and rules using it are skipped without a
    // second, dependent error.
    let keep_going = env.keep_going;
    let mut failed = vec![false; infos.len()];
    let report = |fail: Fail, out: &mut Output<S::Field>| -> Result<(), Fail> {
        if keep_going {
            out.diagnostics.push(fail.into_diagnostic());
            Ok(())
        } else {
            Err(fail)
        }
    };

    // Every macro is parsed, used or not.
    let mut parsed = Vec::with_capacity(infos.len());
    for (i, m) in infos.iter().enumerate() {
        out.macros.push(MacroSummary {
            name: m.name.clone(),
            condition: m.cond.clone(),
            used: false,
        });
        let text = substitute_lists(&m.cond, lists);
        match parse(&text, &parse_opts, &m.cond_ctx, m.cond_inline.as_deref()) {
            Ok(ast) => parsed.push(ast),
            Err(fail) => {
                report(fail, out)?;
                failed[i] = true;
                // A stand-in that parses; nothing using it is compiled.
                parsed.push(parse(
                    "failed.macro exists",
                    &parse_opts,
                    &m.cond_ctx,
                    None,
                )?);
            }
        }
    }
    let uses_failed = |ast: &Ast, failed: &[bool]| {
        let mut refs = vec![false; failed.len()];
        mark_used(ast, &names, &mut refs);
        refs.iter().zip(failed).any(|(r, f)| *r && *f)
    };

    // Each macro sees the macros first defined before its last define / append.
    let mut used = vec![false; infos.len()];
    let mut expanded: Vec<Ast> = Vec::with_capacity(infos.len());
    for (i, m) in infos.iter().enumerate() {
        if !failed[i] && uses_failed(&parsed[i], &failed) {
            failed[i] = true;
        }
        let visible = Visible {
            names: &names,
            infos,
            asts: &parsed,
            visibility: Some(m.visibility),
        };
        let ast = if failed[i] {
            parsed[i].clone()
        } else {
            match expand(
                &parsed[i],
                &visible,
                &m.ctx,
                &m.cond_ctx,
                m.cond_inline.as_deref(),
            ) {
                Ok(ast) => ast,
                Err(fail) => {
                    report(fail, out)?;
                    failed[i] = true;
                    parsed[i].clone()
                }
            }
        };
        mark_used(&parsed[i], &names, &mut used);
        expanded.push(ast);
    }

    // Rules see every macro.
    for r in &col.rules.items {
        if r.unknown_source {
            continue;
        }
        let condition = match rule_condition(r) {
            Ok(c) => c,
            Err(fail) => {
                report(fail, out)?;
                continue;
            }
        };
        let output = match OutputTemplate::compile(&r.output, schema) {
            Ok(t) => t,
            Err(e) => {
                let message = output_message(&e);
                if r.skip_if_unknown_filter && e.is_invalid_token() {
                    out.diagnostics
                        .push(warning(Code::UnknownFilter, message, &r.output_ctx));
                    continue;
                }
                report(
                    Fail::new(Code::ErrCompileOutput, message, r.output_ctx.clone()),
                    out,
                )?;
                continue;
            }
        };
        for field in DEPRECATED_FIELDS {
            if r.output.contains(field) {
                out.diagnostics.push(warning(
                    Code::DeprecatedItem,
                    format!(
                        "usage of deprecated field '{field}' has been detected in the rule output"
                    ),
                    &r.output_ctx,
                ));
            }
        }
        let text = substitute_lists(&condition, lists);
        let ast = match parse(&text, &parse_opts, &r.cond_ctx, r.cond_inline.as_deref()) {
            Ok(ast) => ast,
            Err(fail) => {
                report(fail, out)?;
                continue;
            }
        };
        mark_used(&ast, &names, &mut used);
        if uses_failed(&ast, &failed) {
            continue;
        }
        let visible = Visible {
            names: &names,
            infos,
            asts: &expanded,
            visibility: None,
        };
        let full = match expand(
            &ast,
            &visible,
            &r.ctx,
            &r.cond_ctx,
            r.cond_inline.as_deref(),
        ) {
            Ok(full) => full,
            Err(fail) => {
                report(fail, out)?;
                continue;
            }
        };
        condition_warnings(&full, schema, &r.cond_ctx, &mut out.diagnostics);
        let program = match compile_ast(&full, schema) {
            Ok(p) => p,
            Err(e) => {
                let message = e.to_string();
                let offset = if e.origin.is_none() {
                    map_offset(&text, r.cond_inline.as_deref(), e.span.start as usize)
                } else {
                    None
                };
                let ctx = expression_ctx_at(&r.cond_ctx, &r.cond_ctx, offset);
                if r.skip_if_unknown_filter && matches!(e.kind, CompileErrorKind::UnknownField(_)) {
                    out.diagnostics
                        .push(warning(Code::UnknownFilter, message, &ctx));
                    continue;
                }
                let mut fail = Fail::new(Code::ErrCompileCondition, message, ctx);
                fail.snippet = Some(e.render(&text));
                report(fail, out)?;
                continue;
            }
        };
        let location = r
            .ctx
            .0
            .last()
            .map_or_else(Location::default, |f| f.location.clone());
        out.rules.push(CompiledRule {
            name: r.name.clone(),
            desc: r.desc.clone(),
            priority: r.priority,
            source: r.source.clone(),
            tags: r.tags.clone(),
            enabled: r.enabled,
            condition_text: r.cond.clone(),
            condition: program,
            expanded: full,
            output,
            output_text: r.output.clone(),
            capture: r.capture,
            capture_duration: r.capture_duration,
            location,
        });
    }
    Ok(used)
}

/// The macros a compile may use: by name, filtered by visibility (`None` = all).
struct Visible<'a> {
    names: &'a HashMap<&'a str, usize>,
    infos: &'a [MacroInfo],
    asts: &'a [Ast],
    visibility: Option<usize>,
}

impl MacroLookup for Visible<'_> {
    fn lookup(&self, name: &str) -> Option<&Ast> {
        let &i = self.names.get(name)?;
        let info = self.infos.get(i)?;
        if self.visibility.is_some_and(|v| info.index >= v) {
            return None;
        }
        self.asts.get(i)
    }
}

/// Marks the macros `ast` refers to directly (nested ones are marked when their referencing
/// macro is expanded, as every macro is).
fn mark_used(ast: &Ast, names: &HashMap<&str, usize>, used: &mut [bool]) {
    for id in ast.macro_refs() {
        if let Some(&i) = names.get(id.name.as_str())
            && let Some(u) = used.get_mut(i)
        {
            *u = true;
        }
    }
}

/// A "condition expression" frame under `ctx`, at the position of `ctx`'s innermost frame.
fn expression_ctx(ctx: &Ctx) -> Ctx {
    expression_ctx_at(ctx, ctx, None)
}

/// A "condition expression" frame under `parent`, at the position of `at`'s innermost frame
/// (the condition's YAML value), moved right by `column_offset` characters when the problem's
/// place in the file is known.
fn expression_ctx_at(parent: &Ctx, at: &Ctx, column_offset: Option<usize>) -> Ctx {
    let pos = at.0.last().map(|f| super::yaml::Pos {
        line: f.location.line,
        column: f.location.column.saturating_add(
            column_offset
                .and_then(|o| u32::try_from(o).ok())
                .unwrap_or(0),
        ),
    });
    parent.child(ItemKind::ConditionExpression, "", pos.unwrap_or_default())
}

/// Maps a byte offset in the text that was parsed (after exceptions and list substitution) to
/// a character offset in the condition as written, when the text up to it is unchanged.
fn map_offset(parsed: &str, inline: Option<&str>, offset: usize) -> Option<usize> {
    let original = inline?;
    let same = |a: Option<&str>, b: Option<&str>| a.is_some() && a == b;
    let o = if same(parsed.get(..offset), original.get(..offset)) {
        offset
    } else if parsed.starts_with('(')
        && offset >= 1
        && same(parsed.get(1..offset), original.get(..offset - 1))
    {
        offset - 1
    } else {
        return None;
    };
    if o > original.len() {
        return None;
    }
    Some(original.get(..o)?.chars().count())
}

fn parse(text: &str, opts: &ParseOptions, ctx: &Ctx, inline: Option<&str>) -> Result<Ast, Fail> {
    parse_with(text, opts).map_err(|e| {
        let offset = map_offset(text, inline, e.span.start as usize);
        let mut fail = Fail::new(
            Code::ErrCompileCondition,
            e.to_string(),
            expression_ctx_at(ctx, ctx, offset),
        );
        fail.snippet = Some(e.render(text));
        fail
    })
}

/// Expands macros; errors are reported on the item (`ctx`) at its condition (`cond_ctx`).
fn expand(
    ast: &Ast,
    macros: &Visible<'_>,
    ctx: &Ctx,
    cond_ctx: &Ctx,
    inline: Option<&str>,
) -> Result<Ast, Fail> {
    expand_with(ast, macros, &ExpandOptions::default()).map_err(|e| {
        let offset = if e.origin.is_none() {
            map_offset(&ast.source, inline, e.span.start as usize)
        } else {
            None
        };
        let mut fail = Fail::new(
            Code::ErrValidate,
            e.to_string(),
            expression_ctx_at(ctx, cond_ctx, offset),
        );
        fail.snippet = Some(e.render(&ast.source));
        fail
    })
}

/// libsinsp's formatter message: `invalid formatting token <token>` for unknown fields.
fn output_message(e: &FormatError) -> String {
    match e {
        FormatError::UnknownField { name, .. } => format!("invalid formatting token {name}"),
        FormatError::InvalidToken { text, .. } => {
            let token: String = text.chars().take_while(|c| !c.is_whitespace()).collect();
            format!("invalid formatting token {token}")
        }
        other => other.to_string(),
    }
}

/// Fields Falco 0.44 reports as deprecated (`falco_load_result.cpp`): syscall fields made
/// meaningless by the drop of enter events.
const DEPRECATED_FIELDS: [&str; 6] = [
    "evt.dir",
    "evt.latency",
    "evt.latency.s",
    "evt.latency.ns",
    "evt.latency.human",
    "evt.wait_latency",
];

const UNSAFE_NA: &str = "comparing a field value with <NA> is unsafe and can lead to unpredictable \
behavior of the rule condition. If you need to  check for the existence of a field, consider using \
the 'exists' operator instead.";

/// Falco's `filter_warning_resolver` (`<NA>` compared by an equality operator on `ka.*` /
/// `jevt.*`) and libsinsp's "field misused as a const string" compiler warnings.
fn condition_warnings<S: Schema>(ast: &Ast, schema: &S, ctx: &Ctx, out: &mut Vec<Diagnostic>) {
    let ctx = expression_ctx(ctx);
    let mut deprecated: Vec<&str> = Vec::new();
    for f in ast.fields() {
        if let Some(d) = DEPRECATED_FIELDS.iter().find(|d| **d == f.name)
            && !deprecated.contains(d)
        {
            deprecated.push(d);
        }
    }
    for field in deprecated {
        let mut d = warning(
            Code::DeprecatedItem,
            format!("usage of deprecated field '{field}' has been detected in the rule condition"),
            &ctx,
        );
        d.snippet = Some(ast.source.to_string());
        out.push(d);
    }
    let mut na = false;
    for c in ast.checks() {
        let check = c.check;
        let values: Vec<String> = match &check.rhs {
            Rhs::Value(v) => vec![v.text().into_owned()],
            Rhs::List(l) => l.items.iter().map(|v| v.text().into_owned()).collect(),
            Rhs::None | Rhs::Operand(_) => Vec::new(),
        };
        if let OperandKind::Field(f) = &check.lhs.kind
            && (f.name.starts_with("ka.") || f.name.starts_with("jevt."))
            && matches!(
                check.op,
                Operator::Eq
                    | Operator::EqEq
                    | Operator::Ne
                    | Operator::In
                    | Operator::Intersects
                    | Operator::PMatch
            )
            && values.iter().any(|v| v == "<NA>")
        {
            na = true;
        }
        for v in &values {
            if let Some(message) = misuse_warning(v, schema) {
                let d = warning(Code::CompileCondition, message, &ctx);
                if !out.contains(&d) {
                    out.push(d);
                }
            }
        }
    }
    if na {
        out.push(warning(Code::UnsafeNaCheck, UNSAFE_NA, &ctx));
    }
}

/// `'x.y' may be a valid field misused as a const string value` when a right-hand string is a
/// field name, and the transformer variant when it reads like `tolower(x.y)`.
fn misuse_warning<S: Schema>(value: &str, schema: &S) -> Option<String> {
    let trimmed = value.trim();
    if looks_like_field(trimmed) && field_defined(schema, trimmed) {
        return Some(format!(
            "'{value}' may be a valid field misused as a const string value"
        ));
    }
    let open = trimmed.find('(')?;
    let func = &trimmed[..open];
    let inner = trimmed[open + 1..].strip_suffix(')')?.trim();
    let known = ["tolower", "toupper", "b64", "basename", "len", "val"];
    if known.contains(&func) && looks_like_field(inner) && field_defined(schema, inner) {
        return Some(format!(
            "'{value}' may be a valid field transformer misused as a const string value"
        ));
    }
    None
}

/// libsinsp's FieldName token, optionally followed by `[arg]`.
fn looks_like_field(s: &str) -> bool {
    let name = s
        .split_once('[')
        .map_or(s, |(n, rest)| if rest.ends_with(']') { n } else { "" });
    let mut parts = name.split('.');
    let Some(first) = parts.next() else {
        return false;
    };
    let ok = |p: &str| {
        let mut cs = p.chars();
        matches!(cs.next(), Some(c) if c.is_ascii_alphabetic())
            && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    ok(first) && name.contains('.') && parts.all(ok)
}

/// The rule's condition with its exceptions appended as text.
fn rule_condition(r: &RuleInfo) -> Result<String, Fail> {
    if r.exceptions.is_empty() {
        return Ok(r.cond.clone());
    }
    apply_exceptions(&r.cond, &r.exceptions).map_err(|e| {
        let ctx = r.exceptions.get(e.index).map_or(&r.ctx, |x| &x.ctx);
        Fail::new(Code::ErrValidate, e.message, ctx.clone())
    })
}
