//! Step 1 of loading: the reader. It walks the YAML documents of one file, checks the shape of
//! every item (Falco `rule_loader_reader.cpp`), and hands lists, macros and rules to the
//! collector. The first error stops the file.

use std::collections::BTreeSet;

use super::Env;
use super::collect::{
    Collector, Entry, ExceptionInfo, ListInfo, MacroInfo, PluginRequirement, RuleInfo, RuleUpdate,
};
use super::diag::{Code, Diagnostic, Frame, ItemKind, Location};
use super::version::Version;
use super::yaml::{self, Node, NodeKind, Pos};
use crate::Priority;

/// A context chain: where something is, outermost first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ctx(pub(crate) Vec<Frame>);

impl Ctx {
    /// The file as a whole.
    pub(crate) fn root(file: &str) -> Ctx {
        Ctx(vec![Frame {
            kind: ItemKind::RulesContent,
            name: String::new(),
            location: Location::file(file),
        }])
    }

    pub(crate) fn file(&self) -> &str {
        self.0.first().map_or("", |f| f.location.file.as_str())
    }

    /// A child context at `pos` of the same file.
    pub(crate) fn child(&self, kind: ItemKind, name: &str, pos: Pos) -> Ctx {
        let mut frames = self.0.clone();
        frames.push(Frame {
            kind,
            name: name.to_owned(),
            location: Location::at(self.file(), pos),
        });
        Ctx(frames)
    }
}

/// A load error on its way to becoming a [`Diagnostic`].
#[derive(Clone, Debug)]
pub(crate) struct Fail {
    pub(crate) code: Code,
    pub(crate) message: String,
    pub(crate) ctx: Ctx,
    pub(crate) snippet: Option<String>,
}

impl Fail {
    pub(crate) fn new(code: Code, message: impl Into<String>, ctx: Ctx) -> Fail {
        Fail {
            code,
            message: message.into(),
            ctx,
            snippet: None,
        }
    }

    pub(crate) fn into_diagnostic(self) -> Diagnostic {
        Diagnostic {
            code: self.code,
            message: self.message,
            context: self.ctx.0,
            snippet: self.snippet,
        }
    }
}

pub(crate) fn warning(code: Code, message: impl Into<String>, ctx: &Ctx) -> Diagnostic {
    Diagnostic {
        code,
        message: message.into(),
        context: ctx.0.clone(),
        snippet: None,
    }
}

fn invalid(message: impl Into<String>, ctx: &Ctx) -> Fail {
    Fail::new(Code::ErrYamlValidate, message, ctx.clone())
}

const WARNING_APPEND: &str = "'append' key is deprecated. Add an 'append' entry (e.g. 'condition: append') under 'override' instead.";
const WARNING_ENABLED: &str = "The standalone 'enabled' key usage is deprecated. The correct approach requires also a 'replace' entry under the 'override' key (i.e. 'enabled: replace').";
const ERROR_OVERRIDE_APPEND: &str = "Keys 'override' and 'append: true' cannot be used together. Add an 'append' entry (e.g. 'condition: append') under 'override' instead.";
const RGX_IDENTIFIER: &str = "([a-zA-Z]+[a-zA-Z0-9_]*)";
const RGX_BARESTR: &str = "([^()\"'[:space:]=,]+)";

const RULE_KEYS: [&str; 15] = [
    "rule",
    "desc",
    "condition",
    "output",
    "priority",
    "source",
    "enabled",
    "tags",
    "exceptions",
    "append",
    "override",
    "warn_evttypes",
    "skip-if-unknown-filter",
    "capture",
    "capture_duration",
];
/// The rule keys an override may append to, in the order they are read.
const RULE_APPENDABLE: [&str; 5] = ["condition", "exceptions", "output", "desc", "tags"];
/// The rule keys an override may replace, in the order they are read.
const RULE_REPLACEABLE: [&str; 11] = [
    "condition",
    "exceptions",
    "output",
    "desc",
    "tags",
    "priority",
    "enabled",
    "warn_evttypes",
    "skip-if-unknown-filter",
    "capture",
    "capture_duration",
];

/// The reader's state for one file.
pub(crate) struct Reader<'a, 'e> {
    pub(crate) env: &'a Env<'e>,
    /// The text of the file being read (to tell inline conditions from block scalars).
    pub(crate) text: &'a str,
    pub(crate) collector: &'a mut Collector,
    pub(crate) warnings: &'a mut Vec<Diagnostic>,
    /// `rules check`: an item's error is recorded (in `warnings`) and reading goes on with the
    /// next item, so every independent error is reported. Without it, reading stops at the
    /// first, as Falco does.
    pub(crate) keep_going: bool,
}

impl Reader<'_, '_> {
    /// Reads one file into the collector.
    pub(crate) fn read(&mut self, file: &str, text: &str) -> Result<(), Fail> {
        let root = Ctx::root(file);
        let docs = yaml::parse_documents(text).map_err(|e| {
            // Falco shows yaml-cpp's exception text; keep its shape so messages line up.
            Fail::new(
                Code::ErrYamlParse,
                format!(
                    "yaml-cpp: error at line {}, column {}: {}",
                    e.pos.line, e.pos.column, e.message
                ),
                root.child(ItemKind::RulesContent, "", e.pos),
            )
        })?;
        for doc in &docs {
            match &doc.kind {
                NodeKind::Null => {}
                NodeKind::Scalar(_) => return Err(invalid("Rules content is not yaml", &root)),
                NodeKind::Map(_) => {
                    return Err(invalid("Rules content is not yaml array of objects", &root));
                }
                NodeKind::Seq(items) => {
                    for item in items {
                        if item.is_null() {
                            continue;
                        }
                        match self.read_item(item, &root) {
                            Ok(()) => {}
                            Err(fail) if self.keep_going => {
                                self.warnings.push(fail.into_diagnostic());
                            }
                            Err(fail) => return Err(fail),
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// `Some(text)` when the scalar `node` is `text` written plainly on one line, so that byte
    /// offsets into `text` are column offsets from `node.pos`.
    fn inline(&self, node: &Node, text: &str) -> Option<String> {
        if text.contains('\n') {
            return None;
        }
        let line = self
            .text
            .lines()
            .nth(usize::try_from(node.pos.line).ok()?.checked_sub(1)?)?;
        let col = usize::try_from(node.pos.column).ok()?.checked_sub(1)?;
        let start = line.char_indices().nth(col).map(|(i, _)| i)?;
        line[start..].starts_with(text).then(|| text.to_owned())
    }

    fn warn(&mut self, code: Code, message: impl Into<String>, ctx: &Ctx) {
        self.warnings.push(warning(code, message, ctx));
    }

    fn warn_unknown_keys(&mut self, item: &Node, known: &[&str], ctx: &Ctx) {
        if let NodeKind::Map(entries) = &item.kind {
            for (k, _) in entries {
                let key = k.as_str().unwrap_or("");
                if !known.contains(&key) {
                    let kctx = ctx.child(ItemKind::ValueFor, key, k.pos);
                    self.warn(
                        Code::UnknownKey,
                        format!("Unknown key '{key}'. The key will be ignored."),
                        &kctx,
                    );
                }
            }
        }
    }

    fn read_item(&mut self, item: &Node, parent: &Ctx) -> Result<(), Fail> {
        if !matches!(item.kind, NodeKind::Map(_)) {
            let ctx = parent.child(ItemKind::RulesContentItem, "", item.pos);
            return Err(invalid(
                "Unexpected element type. Each element should be a yaml associative array.",
                &ctx,
            ));
        }
        if item.get("required_engine_version").is_some() {
            let ctx = parent.child(ItemKind::RequiredEngineVersion, "", item.pos);
            self.warn_unknown_keys(item, &["required_engine_version"], &ctx);
            let text = decode_val(item, "required_engine_version", &ctx)?;
            let version = match yaml::decode_u64(&text).filter(|v| u32::try_from(*v).is_ok()) {
                Some(n) => Version::new(0, n, 0),
                None => Version::parse(&text).ok_or_else(|| {
                    invalid(
                        format!(
                            "Unable to parse engine version '{text}' as a semver string. \
                             Expected \"x.y.z\" semver format."
                        ),
                        &ctx,
                    )
                })?,
            };
            return self
                .collector
                .define_engine_version(self.env, version, &ctx);
        }
        if let Some(reqs) = item.get("required_plugin_versions") {
            let ctx = parent.child(ItemKind::RequiredPluginVersions, "", reqs.pos);
            self.warn_unknown_keys(item, &["required_plugin_versions"], &ctx);
            let NodeKind::Seq(plugins) = &reqs.kind else {
                return Err(invalid(
                    "Value of required_plugin_versions must be a sequence",
                    &ctx,
                ));
            };
            for plugin in plugins {
                let tmp = ctx.child(ItemKind::RequiredPluginVersionsEntry, "", plugin.pos);
                if !matches!(plugin.kind, NodeKind::Map(_)) {
                    return Err(invalid("Plugin version must be a mapping", &tmp));
                }
                let name = decode_val(plugin, "name", &tmp)?;
                let pctx = ctx.child(ItemKind::RequiredPluginVersionsEntry, &name, plugin.pos);
                let version = decode_val(plugin, "version", &pctx)?;
                let mut req = PluginRequirement {
                    alternatives: vec![(name, version)],
                };
                if let Some(alts) = plugin.get("alternatives") {
                    let NodeKind::Seq(alts) = &alts.kind else {
                        return Err(invalid(
                            "Value of plugin version alternatives must be a sequence",
                            &pctx,
                        ));
                    };
                    for alt in alts {
                        let tmp = pctx.child(ItemKind::RequiredPluginVersionsEntry, "", alt.pos);
                        if !matches!(alt.kind, NodeKind::Map(_)) {
                            return Err(invalid(
                                "Plugin version alternative must be a mapping",
                                &tmp,
                            ));
                        }
                        let name = decode_val(alt, "name", &tmp)?;
                        let actx =
                            pctx.child(ItemKind::RequiredPluginVersionsEntry, &name, alt.pos);
                        let version = decode_val(alt, "version", &actx)?;
                        req.alternatives.push((name, version));
                    }
                }
                self.collector.define_plugin_versions(req, &pctx)?;
            }
            return Ok(());
        }
        if item.get("list").is_some() {
            return self.read_list(item, parent);
        }
        if item.get("macro").is_some() {
            return self.read_macro(item, parent);
        }
        if item.get("rule").is_some() {
            return self.read_rule(item, parent);
        }
        let ctx = parent.child(ItemKind::RulesContentItem, "", item.pos);
        self.warn(Code::UnknownItem, "Unknown top level item", &ctx);
        Ok(())
    }

    fn read_list(&mut self, item: &Node, parent: &Ctx) -> Result<(), Fail> {
        let tmp = parent.child(ItemKind::List, "", item.pos);
        let name = decode_val(item, "list", &tmp)?;
        let ctx = parent.child(ItemKind::List, &name, item.pos);
        if !is_bare_string(&name) {
            self.warn(
                Code::InvalidListName,
                format!("List has an invalid name. List names should match a regular expression: {RGX_BARESTR}"),
                &ctx,
            );
        }
        self.warn_unknown_keys(item, &["list", "items", "append", "override"], &ctx);
        let items = decode_seq(item, "items", &ctx)?.unwrap_or_default();
        let mut append = decode_opt_bool(item, "append", &ctx)?.unwrap_or(false);
        if append {
            self.warn(Code::DeprecatedItem, WARNING_APPEND, &ctx);
        }
        let (ov_append, ov_replace) = decode_overrides(item, &["items"], &["items"], &ctx)?;
        if append && (!ov_append.is_empty() || !ov_replace.is_empty()) {
            return Err(invalid(ERROR_OVERRIDE_APPEND, &ctx));
        }
        append |= ov_append.contains("items");
        let info = ListInfo {
            name,
            items,
            ctx,
            index: 0,
            visibility: 0,
        };
        if append {
            self.collector.append_list(info)
        } else {
            self.collector.define_list(info);
            Ok(())
        }
    }

    fn read_macro(&mut self, item: &Node, parent: &Ctx) -> Result<(), Fail> {
        let tmp = parent.child(ItemKind::Macro, "", item.pos);
        let name = decode_val(item, "macro", &tmp)?;
        let ctx = parent.child(ItemKind::Macro, &name, item.pos);
        if !is_identifier(&name) {
            self.warn(
                Code::InvalidMacroName,
                format!("Macro has an invalid name. Macro names should match a regular expression: {RGX_IDENTIFIER}"),
                &ctx,
            );
        }
        self.warn_unknown_keys(item, &["macro", "condition", "append", "override"], &ctx);
        let cond = decode_val(item, "condition", &ctx)?;
        let cond_text = cond.clone();
        let cond_pos = item.get("condition").map_or(item.pos, |n| n.pos);
        let cond_ctx = ctx.child(ItemKind::MacroCondition, "", cond_pos);
        let mut append = decode_opt_bool(item, "append", &ctx)?.unwrap_or(false);
        if append {
            self.warn(Code::DeprecatedItem, WARNING_APPEND, &ctx);
        }
        let (ov_append, ov_replace) = decode_overrides(item, &["condition"], &["condition"], &ctx)?;
        if append && (!ov_append.is_empty() || !ov_replace.is_empty()) {
            return Err(invalid(ERROR_OVERRIDE_APPEND, &ctx));
        }
        append |= ov_append.contains("condition");
        let info = MacroInfo {
            name,
            cond,
            ctx,
            cond_inline: item
                .get("condition")
                .and_then(|n| self.inline(n, &cond_text)),
            cond_ctx,
            index: 0,
            visibility: 0,
        };
        if append {
            self.collector.append_macro(info)
        } else {
            self.collector.define_macro(info);
            Ok(())
        }
    }

    fn read_rule(&mut self, item: &Node, parent: &Ctx) -> Result<(), Fail> {
        let tmp = parent.child(ItemKind::Rule, "", item.pos);
        let name = decode_val(item, "rule", &tmp)?;
        let ctx = parent.child(ItemKind::Rule, &name, item.pos);
        self.warn_unknown_keys(item, &RULE_KEYS, &ctx);
        let has_append_flag = decode_opt_bool(item, "append", &ctx)?.unwrap_or(false);
        if has_append_flag {
            self.warn(Code::DeprecatedItem, WARNING_APPEND, &ctx);
        }
        let (ov_append, ov_replace) =
            decode_overrides(item, &RULE_APPENDABLE, &RULE_REPLACEABLE, &ctx)?;
        let has_overrides = !ov_append.is_empty() || !ov_replace.is_empty();
        if has_append_flag && has_overrides {
            return Err(invalid(ERROR_OVERRIDE_APPEND, &ctx));
        }

        if has_overrides {
            let mut expected: BTreeSet<&str> = RULE_REPLACEABLE
                .iter()
                .chain(RULE_APPENDABLE.iter())
                .copied()
                .filter(|k| item.get(k).is_some())
                .collect();
            let mut check = |set: &BTreeSet<String>, kind: &str, key: &str| -> Result<bool, Fail> {
                if !set.contains(key) {
                    return Ok(false);
                }
                if !expected.remove(key) {
                    return Err(invalid(
                        format!(
                            "An {kind} override for '{key}' was specified but '{key}' is not defined"
                        ),
                        &ctx,
                    ));
                }
                Ok(true)
            };
            let mut app = self.rule_update(item, &name, &ctx);
            for key in RULE_APPENDABLE {
                if check(&ov_append, "append", key)? {
                    self.read_rule_key(item, key, true, &ctx, &mut app)?;
                }
            }
            let mut rep = self.rule_update(item, &name, &ctx);
            for key in RULE_REPLACEABLE {
                if check(&ov_replace, "replace", key)? {
                    self.read_rule_key(item, key, false, &ctx, &mut rep)?;
                }
            }
            if let Some(key) = expected.first() {
                let pos = item.get(key).map_or(item.pos, |n| n.pos);
                let kctx = ctx.child(ItemKind::Override, key, pos);
                return Err(invalid(
                    format!(
                        "Unexpected key '{key}': no corresponding entry under 'override' is defined."
                    ),
                    &kctx,
                ));
            }
            if !ov_append.is_empty() {
                self.collector.append_rule(self.env, app)?;
            }
            if !ov_replace.is_empty() {
                self.collector.replace_rule(self.env, rep)?;
            }
            return Ok(());
        }

        if has_append_flag {
            let mut app = self.rule_update(item, &name, &ctx);
            for key in ["condition", "exceptions"] {
                if item.get(key).is_some() {
                    self.read_rule_key(item, key, true, &ctx, &mut app)?;
                }
            }
            if app.cond.is_none() && app.exceptions.is_none() {
                return Err(Fail::new(
                    Code::ErrValidate,
                    "Appended rule must have exceptions or condition property",
                    ctx,
                ));
            }
            return self.collector.append_rule(self.env, app);
        }

        if ["condition", "output", "desc", "priority"]
            .iter()
            .all(|k| item.get(k).is_none())
        {
            let enabled = decode_bool(item, "enabled", &ctx)?;
            self.warn(Code::DeprecatedItem, WARNING_ENABLED, &ctx);
            return self.collector.enable_rule(&name, enabled, &ctx);
        }

        let cond = decode_val(item, "condition", &ctx)?;
        let cond_ctx = ctx.child(
            ItemKind::RuleCondition,
            "",
            item.get("condition").map_or(item.pos, |n| n.pos),
        );
        let output = decode_val(item, "output", &ctx)?;
        let output_ctx = ctx.child(
            ItemKind::RuleOutput,
            "",
            item.get("output").map_or(item.pos, |n| n.pos),
        );
        let desc = decode_val(item, "desc", &ctx)?;
        let priority = decode_priority(item, &ctx)?;
        let info = RuleInfo {
            name,
            cond_inline: item.get("condition").and_then(|n| self.inline(n, &cond)),
            cond_ctx,
            output_ctx,
            index: 0,
            visibility: 0,
            cond,
            output: output.trim_matches(is_trim_space).to_owned(),
            desc,
            priority,
            source: decode_opt_val(item, "source", &ctx)?.unwrap_or_else(|| "syscall".to_owned()),
            enabled: decode_opt_bool(item, "enabled", &ctx)?.unwrap_or(true),
            warn_evttypes: decode_opt_bool(item, "warn_evttypes", &ctx)?.unwrap_or(true),
            skip_if_unknown_filter: decode_opt_bool(item, "skip-if-unknown-filter", &ctx)?
                .unwrap_or(false),
            capture: decode_opt_bool(item, "capture", &ctx)?.unwrap_or(false),
            capture_duration: match item.get("capture_duration") {
                Some(_) => decode_uint(item, "capture_duration", &ctx)?,
                None => 0,
            },
            tags: decode_tags(item, &ctx)?,
            exceptions: self.read_exceptions(item, &ctx, false)?,
            unknown_source: false,
            ctx,
        };
        let mut warns = Vec::new();
        let res = self
            .collector
            .define_rule(self.env, info, &mut |code, msg, c| {
                warns.push(warning(code, msg, c))
            });
        self.warnings.extend(warns);
        res
    }

    /// An empty append / replace of rule `name`, with the item's explicit `source`.
    fn rule_update(&self, item: &Node, name: &str, ctx: &Ctx) -> RuleUpdate {
        RuleUpdate {
            name: name.to_owned(),
            ctx: ctx.clone(),
            source: update_source(item),
            ..RuleUpdate::default()
        }
    }

    /// Reads rule key `key` (one of [`RULE_REPLACEABLE`]) of `item` into `update`; `append`
    /// says how exceptions are read.
    fn read_rule_key(
        &mut self,
        item: &Node,
        key: &str,
        append: bool,
        ctx: &Ctx,
        update: &mut RuleUpdate,
    ) -> Result<(), Fail> {
        match key {
            "condition" => update.cond = Some(decode_val(item, key, ctx)?),
            "exceptions" => update.exceptions = Some(self.read_exceptions(item, ctx, append)?),
            "output" => update.output = Some(decode_val(item, key, ctx)?),
            "desc" => update.desc = Some(decode_val(item, key, ctx)?),
            "tags" => update.tags = Some(decode_tags(item, ctx)?),
            "priority" => update.priority = Some(decode_priority(item, ctx)?),
            "enabled" => update.enabled = Some(decode_bool(item, key, ctx)?),
            "warn_evttypes" => update.warn_evttypes = Some(decode_bool(item, key, ctx)?),
            "skip-if-unknown-filter" => {
                update.skip_if_unknown_filter = Some(decode_bool(item, key, ctx)?);
            }
            "capture" => update.capture = Some(decode_bool(item, key, ctx)?),
            "capture_duration" => update.capture_duration = Some(decode_uint(item, key, ctx)?),
            _ => {}
        }
        Ok(())
    }

    fn read_exceptions(
        &mut self,
        item: &Node,
        parent: &Ctx,
        append: bool,
    ) -> Result<Vec<ExceptionInfo>, Fail> {
        let mut out: Vec<ExceptionInfo> = Vec::new();
        let Some(exs) = item.get("exceptions") else {
            return Ok(out);
        };
        if exs.is_null() {
            return Ok(out);
        }
        let exes_ctx = parent.child(ItemKind::Exceptions, "", exs.pos);
        let NodeKind::Seq(list) = &exs.kind else {
            return Err(invalid("Rule exceptions must be a sequence", &exes_ctx));
        };
        for ex in list {
            let tmp = exes_ctx.child(ItemKind::Exception, "", ex.pos);
            if !matches!(ex.kind, NodeKind::Map(_)) {
                return Err(invalid("Rule exception must be a mapping", &tmp));
            }
            let name = decode_val(ex, "name", &tmp)?;
            let ex_ctx = parent.child(ItemKind::Exception, &name, ex.pos);
            if out.iter().any(|e| e.name == name) {
                self.warn(
                    Code::ExceptionNameNotUnique,
                    format!("Multiple definitions of exception '{name}' in the same rule"),
                    &ex_ctx,
                );
            }
            let fields = decode_entry(ex.get("fields"), "fields", &ex_ctx, append)?;
            let mut comps = decode_entry(ex.get("comps"), "comps", &ex_ctx, true)?;
            normalize_comps(&mut comps);
            let mut values = Vec::new();
            match ex.get("values") {
                Some(vals) => {
                    let vals_ctx = ex_ctx.child(ItemKind::ValueFor, "values", vals.pos);
                    let NodeKind::Seq(vs) = &vals.kind else {
                        return Err(invalid(
                            "Rule exception values must be a sequence",
                            &vals_ctx,
                        ));
                    };
                    for v in vs {
                        values.push(decode_entry(Some(v), "", &vals_ctx, false)?);
                    }
                }
                None => {
                    if append {
                        self.warn(
                            Code::AppendNoValues,
                            "Overriding/appending exception with no values",
                            &ex_ctx,
                        );
                    }
                }
            }
            out.push(ExceptionInfo {
                name,
                fields,
                comps,
                values,
                ctx: ex_ctx,
            });
        }
        Ok(out)
    }
}

/// Operators are compared and written with single spaces (`"  startswith oneof "` is
/// `startswith oneof`).
fn normalize_comps(comps: &mut Entry) {
    match comps {
        Entry::Scalar(s) => *s = s.split_whitespace().collect::<Vec<_>>().join(" "),
        Entry::List(items) => items.iter_mut().for_each(normalize_comps),
    }
}

fn is_trim_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

/// Full match of libsinsp's Identifier token.
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Full match of libsinsp's BareStr token.
pub(crate) fn is_bare_string(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| {
            !matches!(c, '(' | ')' | '"' | '\'' | '=' | ',')
                && !c.is_ascii_whitespace()
                && c != '\x0b'
        })
}

/// The `source` of an append / override item: only a non-empty scalar counts (an empty one is
/// ignored, as Falco does for additions).
fn update_source(item: &Node) -> Option<String> {
    item.get("source")
        .and_then(Node::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn decode_opt_val(item: &Node, key: &str, ctx: &Ctx) -> Result<Option<String>, Fail> {
    let Some(val) = item.get(key) else {
        return Ok(None);
    };
    if val.is_null() {
        return Err(invalid(format!("Mapping for key '{key}' is empty"), ctx));
    }
    let vctx = ctx.child(ItemKind::ValueFor, key, val.pos);
    let Some(s) = val.as_str() else {
        return Err(invalid("Value is not a scalar value", &vctx));
    };
    if s.is_empty() {
        return Err(invalid("Value must be non-empty", &vctx));
    }
    Ok(Some(s.to_owned()))
}

fn decode_val(item: &Node, key: &str, ctx: &Ctx) -> Result<String, Fail> {
    decode_opt_val(item, key, ctx)?
        .ok_or_else(|| invalid(format!("Item has no mapping for key '{key}'"), ctx))
}

fn decode_opt_bool(item: &Node, key: &str, ctx: &Ctx) -> Result<Option<bool>, Fail> {
    let Some(text) = decode_opt_val(item, key, ctx)? else {
        return Ok(None);
    };
    match yaml::decode_bool(&text) {
        Some(b) => Ok(Some(b)),
        None => {
            let pos = item.get(key).map_or(Pos::default(), |n| n.pos);
            Err(invalid(
                "Can't decode YAML scalar value",
                &ctx.child(ItemKind::ValueFor, key, pos),
            ))
        }
    }
}

fn decode_bool(item: &Node, key: &str, ctx: &Ctx) -> Result<bool, Fail> {
    decode_opt_bool(item, key, ctx)?
        .ok_or_else(|| invalid(format!("Item has no mapping for key '{key}'"), ctx))
}

fn decode_uint(item: &Node, key: &str, ctx: &Ctx) -> Result<u64, Fail> {
    let text = decode_val(item, key, ctx)?;
    yaml::decode_u64(&text).ok_or_else(|| {
        let pos = item.get(key).map_or(Pos::default(), |n| n.pos);
        invalid(
            "Can't decode YAML scalar value",
            &ctx.child(ItemKind::ValueFor, key, pos),
        )
    })
}

fn decode_priority(item: &Node, ctx: &Ctx) -> Result<Priority, Fail> {
    let text = decode_val(item, "priority", ctx)?;
    let pos = item.get("priority").map_or(item.pos, |n| n.pos);
    text.parse::<Priority>().map_err(|_| {
        invalid(
            "Invalid priority",
            &ctx.child(ItemKind::RulePriority, "", pos),
        )
    })
}

/// A required sequence of scalars (`items`). `Ok(None)` never happens for required keys.
fn decode_seq(item: &Node, key: &str, ctx: &Ctx) -> Result<Option<Vec<String>>, Fail> {
    let Some(val) = item.get(key) else {
        return Err(invalid(format!("Item has no mapping for key '{key}'"), ctx));
    };
    decode_seq_node(val, key, ctx).map(Some)
}

fn decode_seq_node(val: &Node, key: &str, ctx: &Ctx) -> Result<Vec<String>, Fail> {
    let vctx = ctx.child(ItemKind::ValueFor, key, val.pos);
    let NodeKind::Seq(values) = &val.kind else {
        return Err(invalid("Value is not a sequence", &vctx));
    };
    values
        .iter()
        .map(|v| {
            v.as_str().map(str::to_owned).ok_or_else(|| {
                invalid(
                    "sequence value is not scalar",
                    &vctx.child(ItemKind::ListItem, "", v.pos),
                )
            })
        })
        .collect()
}

fn decode_tags(item: &Node, ctx: &Ctx) -> Result<BTreeSet<String>, Fail> {
    match item.get("tags") {
        None => Ok(BTreeSet::new()),
        Some(val) => Ok(decode_seq_node(val, "tags", ctx)?.into_iter().collect()),
    }
}

/// `override:` — which keys are appended and which replaced.
fn decode_overrides(
    item: &Node,
    appendable: &[&str],
    replaceable: &[&str],
    ctx: &Ctx,
) -> Result<(BTreeSet<String>, BTreeSet<String>), Fail> {
    let mut append = BTreeSet::new();
    let mut replace = BTreeSet::new();
    let Some(val) = item.get("override") else {
        return Ok((append, replace));
    };
    let octx = ctx.child(ItemKind::Override, "", val.pos);
    let entries = match &val.kind {
        NodeKind::Map(entries) => entries.as_slice(),
        NodeKind::Null => &[],
        NodeKind::Scalar(_) | NodeKind::Seq(_) => {
            return Err(invalid("Value of override must be a map", &octx));
        }
    };
    for (k, v) in entries {
        let key = k.as_str().unwrap_or("").to_owned();
        let op = v.as_str().unwrap_or("");
        let can_append = appendable.contains(&key.as_str());
        let can_replace = replaceable.contains(&key.as_str());
        let kctx = octx.child(ItemKind::Override, &key, k.pos);
        match op {
            "append" => {
                if !can_append {
                    return Err(invalid(
                        format!("Key '{key}' cannot be appended to, use 'replace' instead"),
                        &kctx,
                    ));
                }
                append.insert(key);
            }
            "replace" => {
                if !can_replace {
                    return Err(invalid(format!("Key '{key}' cannot be replaced"), &kctx));
                }
                replace.insert(key);
            }
            _ => {
                let mut allowed = String::new();
                if can_append {
                    allowed.push_str("append ");
                }
                if can_replace {
                    allowed.push_str("replace ");
                }
                return Err(invalid(
                    format!(
                        "Invalid override operation for key '{key}': '{op}'. Allowed values are: {allowed}"
                    ),
                    &octx.child(ItemKind::ValueFor, &key, v.pos),
                ));
            }
        }
    }
    Ok((append, replace))
}

/// An exception's `fields` / `comps` / one value: a scalar or a nested sequence.
fn decode_entry(val: Option<&Node>, key: &str, ctx: &Ctx, optional: bool) -> Result<Entry, Fail> {
    let Some(val) = val else {
        if optional {
            return Ok(Entry::default());
        }
        return Err(invalid(format!("Item has no mapping for key '{key}'"), ctx));
    };
    let vctx = ctx.child(ItemKind::ValueFor, key, val.pos);
    match &val.kind {
        NodeKind::Scalar(s) => {
            if s.is_empty() {
                return Err(invalid("Value must be non-empty", &vctx));
            }
            Ok(Entry::scalar(s))
        }
        NodeKind::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            for v in items {
                let ictx = vctx.child(ItemKind::Exception, "", v.pos);
                out.push(decode_entry(Some(v), "", &ictx, false)?);
            }
            Ok(Entry::List(out))
        }
        // A null or a map is "defined" but neither scalar nor list (yaml-cpp).
        NodeKind::Null | NodeKind::Map(_) => Ok(Entry::default()),
    }
}
