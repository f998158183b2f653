//! Step 2 of loading: the collector. It keeps one entry per list, macro and rule name and applies
//! definitions, appends, overrides and `enabled` updates in load order, across files (Falco
//! `rule_loader_collector.cpp`).
//!
//! Every entry has an `index` (its position: set by the first definition and kept by
//! redefinitions) and a `visibility` (the load counter of its last define / append / override),
//! which the compiler uses for list expansion and macro visibility.

use std::collections::{BTreeSet, HashMap};

use kaudit_condition::{Modifier, Operator};

use super::Env;
use super::diag::Code;
use super::read::{Ctx, Fail};
use super::version::Version;
use crate::Priority;

/// One exception value, field list or comps list: a scalar or a (nested) sequence (Falco's
/// `rule_exception_info::entry`). The default is the empty scalar, which is what a YAML null or
/// map decodes to: defined, but neither a valid scalar nor a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// A scalar.
    Scalar(String),
    /// A sequence.
    List(Vec<Entry>),
}

impl Default for Entry {
    fn default() -> Self {
        Entry::Scalar(String::new())
    }
}

impl Entry {
    pub(crate) fn scalar(s: &str) -> Entry {
        Entry::Scalar(s.to_owned())
    }

    pub(crate) fn is_list(&self) -> bool {
        matches!(self, Entry::List(_))
    }

    /// The scalar's text; empty for a sequence.
    pub(crate) fn item(&self) -> &str {
        match self {
            Entry::Scalar(s) => s,
            Entry::List(_) => "",
        }
    }

    /// The sequence's entries; none for a scalar.
    pub(crate) fn items(&self) -> &[Entry] {
        match self {
            Entry::Scalar(_) => &[],
            Entry::List(items) => items,
        }
    }

    /// Falco's `is_valid`: a non-empty scalar or a non-empty sequence.
    pub(crate) fn is_valid(&self) -> bool {
        match self {
            Entry::Scalar(s) => !s.is_empty(),
            Entry::List(items) => !items.is_empty(),
        }
    }
}

/// One exception of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ExceptionInfo {
    pub(crate) name: String,
    pub(crate) fields: Entry,
    pub(crate) comps: Entry,
    pub(crate) values: Vec<Entry>,
    pub(crate) ctx: Ctx,
}

/// A list as collected (items raw, not yet expanded).
#[derive(Clone, Debug)]
pub(crate) struct ListInfo {
    pub(crate) name: String,
    pub(crate) items: Vec<String>,
    pub(crate) ctx: Ctx,
    pub(crate) index: usize,
    pub(crate) visibility: usize,
}

/// A macro as collected.
#[derive(Clone, Debug)]
pub(crate) struct MacroInfo {
    pub(crate) name: String,
    pub(crate) cond: String,
    pub(crate) ctx: Ctx,
    pub(crate) cond_ctx: Ctx,
    /// The condition as written when it is a plain one-line scalar on its key's line, so
    /// offsets in it map to file columns.
    pub(crate) cond_inline: Option<String>,
    pub(crate) index: usize,
    pub(crate) visibility: usize,
}

/// A rule as collected.
#[derive(Clone, Debug)]
pub(crate) struct RuleInfo {
    pub(crate) name: String,
    pub(crate) ctx: Ctx,
    pub(crate) cond_ctx: Ctx,
    /// As [`MacroInfo::cond_inline`].
    pub(crate) cond_inline: Option<String>,
    pub(crate) output_ctx: Ctx,
    pub(crate) index: usize,
    pub(crate) visibility: usize,
    pub(crate) cond: String,
    pub(crate) output: String,
    pub(crate) desc: String,
    pub(crate) priority: Priority,
    pub(crate) source: String,
    pub(crate) tags: BTreeSet<String>,
    pub(crate) exceptions: Vec<ExceptionInfo>,
    pub(crate) enabled: bool,
    pub(crate) warn_evttypes: bool,
    pub(crate) skip_if_unknown_filter: bool,
    pub(crate) capture: bool,
    pub(crate) capture_duration: u64,
    pub(crate) unknown_source: bool,
}

/// The keys of a rule that an append or a selective replace carries.
#[derive(Clone, Debug, Default)]
pub(crate) struct RuleUpdate {
    pub(crate) name: String,
    pub(crate) ctx: Ctx,
    /// An explicit `source`, which must match the rule's.
    pub(crate) source: Option<String>,
    pub(crate) cond: Option<String>,
    pub(crate) output: Option<String>,
    pub(crate) desc: Option<String>,
    pub(crate) tags: Option<BTreeSet<String>>,
    pub(crate) exceptions: Option<Vec<ExceptionInfo>>,
    pub(crate) priority: Option<Priority>,
    pub(crate) enabled: Option<bool>,
    pub(crate) warn_evttypes: Option<bool>,
    pub(crate) skip_if_unknown_filter: Option<bool>,
    pub(crate) capture: Option<bool>,
    pub(crate) capture_duration: Option<u64>,
}

impl RuleUpdate {
    fn has_any_value(&self) -> bool {
        self.cond.is_some()
            || self.output.is_some()
            || self.desc.is_some()
            || self.tags.is_some()
            || self.exceptions.is_some()
            || self.priority.is_some()
            || self.enabled.is_some()
            || self.warn_evttypes.is_some()
            || self.skip_if_unknown_filter.is_some()
            || self.capture.is_some()
            || self.capture_duration.is_some()
    }
}

/// A named table that keeps first-definition order.
#[derive(Clone, Debug)]
pub(crate) struct Table<T> {
    pub(crate) items: Vec<T>,
    by_name: HashMap<String, usize>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            items: Vec::new(),
            by_name: HashMap::new(),
        }
    }
}

impl<T> Table<T> {
    pub(crate) fn get(&self, name: &str) -> Option<&T> {
        self.by_name.get(name).and_then(|&i| self.items.get(i))
    }

    fn get_mut(&mut self, name: &str) -> Option<&mut T> {
        self.by_name.get(name).and_then(|&i| self.items.get_mut(i))
    }

    fn insert(&mut self, name: &str, item: T) {
        self.by_name.insert(name.to_owned(), self.items.len());
        self.items.push(item);
    }
}

/// A collected list, macro or rule: a name, and the position and visibility the collector
/// keeps for it.
pub(crate) trait Named {
    fn name(&self) -> &str;
    /// `(index, visibility)`.
    fn slots(&mut self) -> (&mut usize, &mut usize);
}

macro_rules! named {
    ($($t:ty),*) => {$(
        impl Named for $t {
            fn name(&self) -> &str {
                &self.name
            }
            fn slots(&mut self) -> (&mut usize, &mut usize) {
                (&mut self.index, &mut self.visibility)
            }
        }
    )*};
}
named!(ListInfo, MacroInfo, RuleInfo);

impl<T: Named> Table<T> {
    /// Defines `info` at load counter `id`, or redefines it: a redefinition replaces the entry
    /// but keeps its first-definition index.
    fn define(&mut self, id: usize, mut info: T) {
        let (index, visibility) = info.slots();
        *visibility = id;
        *index = id;
        if let Some(prev) = self.get_mut(info.name()) {
            *info.slots().0 = *prev.slots().0;
            *prev = info;
        } else {
            let name = info.name().to_owned();
            self.insert(&name, info);
        }
    }
}

/// A plugin requirement: the plugin and its acceptable alternatives, each with a version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginRequirement {
    /// `(name, version)` pairs; the first is the main requirement, the others alternatives.
    pub alternatives: Vec<(String, String)>,
}

/// Everything collected so far, across files.
#[derive(Clone, Debug, Default)]
pub(crate) struct Collector {
    counter: usize,
    pub(crate) lists: Table<ListInfo>,
    pub(crate) macros: Table<MacroInfo>,
    pub(crate) rules: Table<RuleInfo>,
    pub(crate) required_engine_version: Option<Version>,
    pub(crate) required_plugins: Vec<(PluginRequirement, Ctx)>,
}

fn fail(message: impl Into<String>, ctx: &Ctx) -> Fail {
    Fail::new(Code::ErrValidate, message, ctx.clone())
}

/// The operators `supported_operators()` lists: the plain ones ([`Operator::ALL`]) plus each
/// string operator with a modifier (`oneof`, `anyof`, `allof`).
pub(crate) fn is_operator(op: &str) -> bool {
    Operator::from_name(op).is_some() || is_modifier_operator(op)
}

/// `<string op> oneof|anyof|allof` (libs 0.25).
pub(crate) fn is_modifier_operator(op: &str) -> bool {
    let Some((base, modifier)) = op.split_once(' ') else {
        return false;
    };
    Operator::from_name(base).is_some_and(Operator::takes_modifier)
        && Modifier::from_name(modifier).is_some()
}

/// The operators whose right-hand side is a list (`supported_operators(true)`).
pub(crate) fn is_list_operator(op: &str) -> bool {
    Operator::from_name(op).is_some_and(Operator::is_list_op) || is_modifier_operator(op)
}

impl Collector {
    fn next(&mut self) -> usize {
        let id = self.counter;
        self.counter += 1;
        id
    }

    pub(crate) fn define_engine_version(
        &mut self,
        env: &Env<'_>,
        required: Version,
        ctx: &Ctx,
    ) -> Result<(), Fail> {
        let engine = env.opts.engine_version;
        if !engine.compatible_with(&required) {
            return Err(fail(
                format!("Rules require engine version {required}, but engine version is {engine}"),
                ctx,
            ));
        }
        if self.required_engine_version.is_none_or(|v| v < required) {
            self.required_engine_version = Some(required);
        }
        Ok(())
    }

    pub(crate) fn define_plugin_versions(
        &mut self,
        req: PluginRequirement,
        ctx: &Ctx,
    ) -> Result<(), Fail> {
        let mut names: Vec<&str> = Vec::new();
        for (name, version) in &req.alternatives {
            if Version::parse(version).is_none() {
                return Err(fail(
                    format!("Invalid required version '{version}' for plugin '{name}'"),
                    ctx,
                ));
            }
            if names.contains(&name.as_str()) {
                return Err(fail(
                    format!(
                        "Defined multiple alternative version requirements for plugin '{name}'"
                    ),
                    ctx,
                ));
            }
            names.push(name);
        }
        self.required_plugins.push((req, ctx.clone()));
        Ok(())
    }

    pub(crate) fn define_list(&mut self, info: ListInfo) {
        let id = self.next();
        self.lists.define(id, info);
    }

    pub(crate) fn append_list(&mut self, info: ListInfo) -> Result<(), Fail> {
        let id = self.next();
        let Some(prev) = self.lists.get_mut(&info.name) else {
            return Err(fail(
                "List uses 'append' or 'override.items: append' but no list by that name already exists",
                &info.ctx,
            ));
        };
        prev.items.extend(info.items);
        prev.visibility = id;
        Ok(())
    }

    pub(crate) fn define_macro(&mut self, info: MacroInfo) {
        let id = self.next();
        self.macros.define(id, info);
    }

    pub(crate) fn append_macro(&mut self, info: MacroInfo) -> Result<(), Fail> {
        let id = self.next();
        let Some(prev) = self.macros.get_mut(&info.name) else {
            return Err(fail(
                "Macro uses 'append' or 'override.condition: append' but no macro by that name already exists",
                &info.ctx,
            ));
        };
        prev.cond.push(' ');
        prev.cond.push_str(&info.cond);
        prev.visibility = id;
        Ok(())
    }

    pub(crate) fn define_rule(
        &mut self,
        env: &Env<'_>,
        mut info: RuleInfo,
        warn: &mut dyn FnMut(Code, String, &Ctx),
    ) -> Result<(), Fail> {
        if let Some(prev) = self.rules.get(&info.name)
            && prev.source != info.source
        {
            return Err(fail(
                "Rule has been re-defined with a different source",
                &info.ctx,
            ));
        }
        let known = env.knows_source(&info.source);
        if !known {
            info.unknown_source = true;
            warn(
                Code::UnknownSource,
                format!("Unknown source {}, skipping", info.source),
                &info.ctx,
            );
        }
        for ex in &mut info.exceptions {
            if !ex.fields.is_valid() {
                return Err(fail(
                    "Rule exception item must have fields property with a list of fields",
                    &ex.ctx,
                ));
            }
            validate_exception(known.then_some(env), ex)?;
        }
        let id = self.next();
        self.rules.define(id, info);
        Ok(())
    }

    /// The checks an append and a selective replace share: the rule exists (else `missing`),
    /// an explicit source matches its source, and the update carries a value (else `empty`).
    fn rule_to_update(
        &mut self,
        info: &RuleUpdate,
        missing: &str,
        empty: &str,
    ) -> Result<&mut RuleInfo, Fail> {
        let Some(prev) = self.rules.get_mut(&info.name) else {
            return Err(fail(missing, &info.ctx));
        };
        if info.source.as_ref().is_some_and(|s| *s != prev.source) {
            return Err(fail(
                "Rule has been re-defined with a different source",
                &info.ctx,
            ));
        }
        if !info.has_any_value() {
            return Err(fail(empty, &info.ctx));
        }
        Ok(prev)
    }

    pub(crate) fn append_rule(&mut self, env: &Env<'_>, info: RuleUpdate) -> Result<(), Fail> {
        let id = self.next();
        let prev = self.rule_to_update(
            &info,
            "Rule uses 'append' or 'override.<key>: append' but no rule by that name already exists",
            "Appended rule must have exceptions or condition property",
        )?;
        let source = (!prev.unknown_source).then_some(env);
        if let Some(cond) = info.cond.filter(|c| !c.is_empty()) {
            prev.cond.push(' ');
            prev.cond.push_str(&cond);
        }
        if let Some(output) = info.output.filter(|c| !c.is_empty()) {
            prev.output.push(' ');
            prev.output.push_str(&output);
        }
        if let Some(desc) = info.desc.filter(|c| !c.is_empty()) {
            prev.desc.push(' ');
            prev.desc.push_str(&desc);
        }
        if let Some(tags) = info.tags {
            prev.tags.extend(tags);
        }
        if let Some(exceptions) = info.exceptions {
            for mut ex in exceptions {
                match prev.exceptions.iter_mut().find(|p| p.name == ex.name) {
                    None => {
                        if !ex.fields.is_valid() {
                            return Err(fail(
                                "Rule exception must have fields property with a list of fields",
                                &ex.ctx,
                            ));
                        }
                        if ex.values.is_empty() {
                            return Err(fail(
                                "Rule exception must have values property with a list of values",
                                &ex.ctx,
                            ));
                        }
                        validate_exception(source, &mut ex)?;
                        prev.exceptions.push(ex);
                    }
                    Some(existing) => {
                        if ex.fields.is_valid() {
                            return Err(fail(
                                "Can not append exception fields to existing exception, only values",
                                &ex.ctx,
                            ));
                        }
                        if ex.comps.is_valid() {
                            return Err(fail(
                                "Can not append exception comps to existing exception, only values",
                                &ex.ctx,
                            ));
                        }
                        existing.values.extend(ex.values);
                    }
                }
            }
        }
        prev.visibility = id;
        Ok(())
    }

    pub(crate) fn replace_rule(&mut self, env: &Env<'_>, info: RuleUpdate) -> Result<(), Fail> {
        let id = self.next();
        let prev = self.rule_to_update(
            &info,
            "An 'override.<key>: replace' to a rule was requested but no rule by that name already exists",
            "The rule must have at least one field that can be replaced",
        )?;
        let source = (!prev.unknown_source).then_some(env);
        if let Some(v) = info.cond {
            prev.cond = v;
        }
        if let Some(v) = info.output {
            prev.output = v;
        }
        if let Some(v) = info.desc {
            prev.desc = v;
        }
        if let Some(v) = info.tags {
            prev.tags = v;
        }
        if let Some(mut v) = info.exceptions {
            for ex in &mut v {
                validate_exception(source, ex)?;
            }
            prev.exceptions = v;
        }
        if let Some(v) = info.priority {
            prev.priority = v;
        }
        if let Some(v) = info.enabled {
            prev.enabled = v;
        }
        if let Some(v) = info.warn_evttypes {
            prev.warn_evttypes = v;
        }
        if let Some(v) = info.skip_if_unknown_filter {
            prev.skip_if_unknown_filter = v;
        }
        if let Some(v) = info.capture {
            prev.capture = v;
        }
        if let Some(v) = info.capture_duration {
            prev.capture_duration = v;
        }
        prev.visibility = id;
        Ok(())
    }

    pub(crate) fn enable_rule(&mut self, name: &str, enabled: bool, ctx: &Ctx) -> Result<(), Fail> {
        let Some(prev) = self.rules.get_mut(name) else {
            return Err(fail(
                "Rule has 'enabled' key but no rule by that name already exists",
                ctx,
            ));
        };
        prev.enabled = enabled;
        Ok(())
    }
}

/// Falco's `validate_exception_info`: default comps, equal lengths, known operators and (when
/// the rule's source is known) known fields.
fn validate_exception(env: Option<&Env<'_>>, ex: &mut ExceptionInfo) -> Result<(), Fail> {
    if ex.fields.is_list() {
        if !ex.comps.is_valid() {
            ex.comps = Entry::List(
                ex.fields
                    .items()
                    .iter()
                    .map(|_| Entry::scalar("="))
                    .collect(),
            );
        }
        if ex.fields.items().len() != ex.comps.items().len() {
            return Err(fail(
                "Fields and comps lists must have equal length",
                &ex.ctx,
            ));
        }
        for comp in ex.comps.items() {
            if !is_operator(comp.item()) {
                return Err(fail(
                    format!("'{}' is not a supported comparison operator", comp.item()),
                    &ex.ctx,
                ));
            }
        }
        if let Some(env) = env {
            for field in ex.fields.items() {
                if !(env.field_defined)(field.item()) {
                    return Err(fail(
                        format!("'{}' is not a supported filter field", field.item()),
                        &ex.ctx,
                    ));
                }
            }
        }
    } else {
        if !ex.comps.is_valid() {
            ex.comps = Entry::scalar("in");
        }
        if ex.comps.is_list() {
            return Err(fail("Fields and comps must both be strings", &ex.ctx));
        }
        if !is_list_operator(ex.comps.item()) {
            return Err(fail(
                "When fields is a single value, comps must be one of (in, pmatch, intersects) \
                 or a string operator with a modifier (oneof, anyof, allof)",
                &ex.ctx,
            ));
        }
        if let Some(env) = env
            && !(env.field_defined)(ex.fields.item())
        {
            return Err(fail(
                format!("'{}' is not a supported filter field", ex.fields.item()),
                &ex.ctx,
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{is_list_operator, is_modifier_operator, is_operator};

    /// The exception operators are libsinsp's `supported_operators()`, as the tables this
    /// module kept before it used [`kaudit_condition::Operator`].
    #[test]
    fn exception_operators() {
        let plain = [
            "=",
            "==",
            "!=",
            "<=",
            ">=",
            "<",
            ">",
            "contains",
            "bcontains",
            "icontains",
            "startswith",
            "bstartswith",
            "endswith",
            "glob",
            "iglob",
            "pmatch",
            "exists",
            "in",
            "intersects",
            "regex",
        ];
        let string_ops = [
            "==",
            "=",
            "!=",
            "glob",
            "iglob",
            "contains",
            "icontains",
            "bcontains",
            "startswith",
            "bstartswith",
            "endswith",
            "regex",
        ];
        for op in plain {
            assert!(is_operator(op), "{op}");
            assert_eq!(
                is_list_operator(op),
                matches!(op, "in" | "intersects" | "pmatch"),
                "{op}"
            );
        }
        for op in string_ops {
            for m in ["oneof", "anyof", "allof"] {
                let full = format!("{op} {m}");
                assert!(is_operator(&full) && is_modifier_operator(&full), "{full}");
                assert!(is_list_operator(&full), "{full}");
            }
        }
        for op in [
            "in oneof",
            "< anyof",
            "exists allof",
            "pmatch oneof",
            "= someof",
            "=  oneof",
            "= oneof ",
            "",
            "IN",
            "===",
            "oneof",
        ] {
            assert!(!is_operator(op), "{op:?}");
            assert!(!is_list_operator(op), "{op:?}");
        }
    }
}
