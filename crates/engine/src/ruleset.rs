//! The rule set: compiled rules in load order, which of them are active, and an index that
//! skips rules that provably cannot match an event (falco-compat.md §2.8, design.md).
//!
//! # Evaluation
//!
//! [`RuleSet::evaluate`] walks the active rules in load order and calls each rule's
//! [`Program::matches`]. With [`Matching::First`] (Falco's default `rule_matching: first`) it
//! stops after the first match, so an event yields at most one alert; with [`Matching::All`] it
//! reports every match. Disabled rules, and rules below the minimum priority, are never
//! evaluated.
//!
//! # The index
//!
//! Most rules gate on the verb and the resource (`ka.verb in (create, update)`,
//! `ka.target.resource = pods`). At build time each rule's expanded condition is analysed: a
//! conjunction at the top (through `and`, and through `or` when every branch is gated) that
//! requires `ka.verb` or `ka.target.resource` to equal one of a set of strings gives that rule a
//! key set. Since every comparison on a missing field is false (§3.1), a rule with a key set can
//! only match when the event's value is in that set. Per distinct value the index holds a
//! bitset of the rules that may match; an event is checked only against
//! `active & verb_bits[verb] & resource_bits[resource]`, still in load order. The result is
//! identical to evaluating every active rule ([`RuleSet::evaluate_unindexed`]), which the tests
//! check on the upstream traces and the sample corpus.

use std::collections::{BTreeSet, HashMap};

use kaudit_condition::{
    Ast, Event, Expr, ExprKind, OperandKind, Operator, Program, Rhs, Schema, Value, ValueType,
    Values,
};

use crate::Priority;
use kaudit_rules::format::OutputTemplate;

/// One rule as the rule set evaluates and reports it.
#[derive(Debug)]
pub struct Rule<F> {
    /// The rule name.
    pub name: String,
    /// Its priority.
    pub priority: Priority,
    /// Its event source (`k8s_audit`).
    pub source: String,
    /// Its tags, sorted.
    pub tags: BTreeSet<String>,
    /// Whether the rules file enables it.
    pub enabled: bool,
    /// The compiled condition.
    pub condition: Program<F>,
    /// The condition after list substitution and macro expansion (used to build the index).
    pub expanded: Option<Ast>,
    /// The compiled output template.
    pub output: OutputTemplate<F>,
}

impl<F> From<kaudit_rules::CompiledRule<F>> for Rule<F> {
    fn from(r: kaudit_rules::CompiledRule<F>) -> Self {
        Rule {
            name: r.name,
            priority: r.priority,
            source: r.source,
            tags: r.tags,
            enabled: r.enabled,
            condition: r.condition,
            expanded: Some(r.expanded),
            output: r.output,
        }
    }
}

/// Falco's `rule_matching` setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Matching {
    /// Stop at the first matching rule (Falco's default): at most one alert per event.
    #[default]
    First,
    /// Report every matching rule.
    All,
}

/// Which rules are active, and how matching works.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Rules below this priority are not evaluated (Falco's `priority` setting).
    pub min_priority: Option<Priority>,
    /// When non-empty, only rules with at least one of these tags are enabled (Falco `-t`).
    pub enable_tags: Vec<String>,
    /// Rules with any of these tags are disabled (Falco `-T`).
    pub disable_tags: Vec<String>,
    /// Rules with these names are disabled; `*` matches any run of characters.
    pub disable_rules: Vec<String>,
    /// Rules with these names are enabled even when the file disables them; `*` as above.
    pub enable_rules: Vec<String>,
    /// First or all matches.
    pub matching: Matching,
    /// Turns the index off (every active rule is evaluated); for tests and benchmarks.
    pub no_index: bool,
}

/// A fixed-size set of rule indices.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn get(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
}

/// The values one index key (a scalar string field) may take per rule.
#[derive(Debug)]
struct KeyIndex<F> {
    field: F,
    /// Value → the rules that may match an event with that value.
    by_value: HashMap<Box<[u8]>, Bits, foldhash::fast::RandomState>,
    /// The rules that may match any other value, or a missing one: the ungated rules.
    other: Bits,
}

impl<F> KeyIndex<F> {
    fn lookup<'a, E: Event<F>>(&'a self, event: &E) -> &'a Bits {
        let mut values = Values::new();
        event.extract(&self.field, &mut values);
        let key: Option<&[u8]> = match values.first() {
            Some(Value::Str(s)) => Some(s.as_bytes()),
            Some(Value::Bytes(b)) => Some(b),
            _ => None,
        };
        match key {
            Some(k) => {
                // Values are C strings in libsinsp: an embedded NUL ends them.
                let k = k.split(|&b| b == 0).next().unwrap_or_default();
                self.by_value.get(k).unwrap_or(&self.other)
            }
            None => &self.other,
        }
    }
}

/// Statistics about the index, for `rules list` and the benchmarks.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct IndexStats {
    /// Active rules.
    pub active: usize,
    /// Active rules gated by `ka.verb`.
    pub gated_by_verb: usize,
    /// Active rules gated by `ka.target.resource`.
    pub gated_by_resource: usize,
}

/// The compiled rules and everything needed to evaluate them.
#[derive(Debug)]
pub struct RuleSet<F> {
    rules: Vec<Rule<F>>,
    active: Bits,
    active_list: Vec<usize>,
    keys: Vec<KeyIndex<F>>,
    matching: Matching,
    no_index: bool,
    stats: IndexStats,
}

/// The index keys: scalar string fields most rules gate on.
pub(crate) const INDEX_FIELDS: [&str; 2] = ["ka.verb", "ka.target.resource"];

impl<F: Clone> RuleSet<F> {
    /// Builds the rule set: decides which rules are active and builds the index.
    pub fn new<S: Schema<Field = F>>(rules: Vec<Rule<F>>, schema: &S, sel: &Selection) -> Self {
        let n = rules.len();
        let mut active = Bits::new(n);
        let mut active_list = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            if is_active(r, sel) {
                active.set(i);
                active_list.push(i);
            }
        }
        let mut stats = IndexStats {
            active: active_list.len(),
            ..IndexStats::default()
        };
        let mut keys = Vec::new();
        for (k, name) in INDEX_FIELDS.iter().enumerate() {
            let Ok(info) = schema.resolve(name, None) else {
                continue;
            };
            if info.list || info.ty != ValueType::Str {
                continue;
            }
            let gates: Vec<Option<BTreeSet<Vec<u8>>>> = rules
                .iter()
                .map(|r| r.expanded.as_ref().and_then(|a| gate(&a.expr, name)))
                .collect();
            let mut other = Bits::new(n);
            let mut values: BTreeSet<&[u8]> = BTreeSet::new();
            for (i, g) in gates.iter().enumerate() {
                match g {
                    None => other.set(i),
                    Some(set) => {
                        if active.get(i) {
                            if k == 0 {
                                stats.gated_by_verb += 1;
                            } else {
                                stats.gated_by_resource += 1;
                            }
                        }
                        values.extend(set.iter().map(Vec::as_slice));
                    }
                }
            }
            let mut by_value = HashMap::default();
            for v in values {
                let mut bits = other.clone();
                for (i, g) in gates.iter().enumerate() {
                    if g.as_ref().is_some_and(|s| s.contains(v)) {
                        bits.set(i);
                    }
                }
                by_value.insert(Box::from(v), bits);
            }
            keys.push(KeyIndex {
                field: info.field,
                by_value,
                other,
            });
        }
        RuleSet {
            rules,
            active,
            active_list,
            keys,
            matching: sel.matching,
            no_index: sel.no_index,
            stats,
        }
    }
}

impl<F> RuleSet<F> {
    /// Every rule in load order, active or not.
    #[must_use]
    pub fn rules(&self) -> &[Rule<F>] {
        &self.rules
    }

    /// The rule at `index` (as reported by [`RuleSet::evaluate`]).
    #[must_use]
    pub fn rule(&self, index: usize) -> Option<&Rule<F>> {
        self.rules.get(index)
    }

    /// Whether the rule at `index` is evaluated.
    #[must_use]
    pub fn is_active(&self, index: usize) -> bool {
        index < self.rules.len() && self.active.get(index)
    }

    /// The indices of the active rules, in load order.
    #[must_use]
    pub fn active(&self) -> &[usize] {
        &self.active_list
    }

    /// First or all matches.
    #[must_use]
    pub fn matching(&self) -> Matching {
        self.matching
    }

    /// How many active rules the index can skip by verb or resource.
    #[must_use]
    pub fn index_stats(&self) -> &IndexStats {
        &self.stats
    }

    /// Evaluates `event`: pushes the indices of the matching rules onto `out` (cleared first),
    /// in load order; at most one with [`Matching::First`].
    pub fn evaluate<E: Event<F>>(&self, event: &E, out: &mut Vec<usize>) {
        out.clear();
        if self.no_index || self.keys.is_empty() {
            self.evaluate_unindexed(event, out);
            return;
        }
        let mut looked: [Option<&Bits>; INDEX_FIELDS.len()] = [None; INDEX_FIELDS.len()];
        for (slot, key) in looked.iter_mut().zip(&self.keys) {
            *slot = Some(key.lookup(event));
        }
        for (wi, &active) in self.active.0.iter().enumerate() {
            let mut w = active;
            for bits in looked.iter().flatten() {
                w &= bits.0[wi];
            }
            while w != 0 {
                let bit = w.trailing_zeros() as usize;
                w &= w - 1;
                let i = wi * 64 + bit;
                if self.rules[i].condition.matches(event) {
                    out.push(i);
                    if self.matching == Matching::First {
                        return;
                    }
                }
            }
        }
    }

    /// Evaluates `event` against every active rule in order, without the index. Same result as
    /// [`RuleSet::evaluate`].
    pub fn evaluate_unindexed<E: Event<F>>(&self, event: &E, out: &mut Vec<usize>) {
        out.clear();
        for &i in &self.active_list {
            if self.rules[i].condition.matches(event) {
                out.push(i);
                if self.matching == Matching::First {
                    return;
                }
            }
        }
    }
}

fn is_active<F>(r: &Rule<F>, sel: &Selection) -> bool {
    let mut on = r.enabled;
    if !sel.enable_tags.is_empty() {
        on = on && sel.enable_tags.iter().any(|t| r.tags.contains(t));
    }
    if sel.disable_tags.iter().any(|t| r.tags.contains(t)) {
        on = false;
    }
    if sel.disable_rules.iter().any(|p| wildcard_match(p, &r.name)) {
        on = false;
    }
    if sel.enable_rules.iter().any(|p| wildcard_match(p, &r.name)) {
        on = true;
    }
    if let Some(min) = sel.min_priority {
        on = on && r.priority.at_least(min);
    }
    on
}

/// Matches `name` against `pattern`, where `*` matches any run of characters.
#[must_use]
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let mut rest = name;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(p) => rest = &rest[p + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// The set of values `field` must equal for `expr` to be true, when the expression forces it;
/// `None` when it does not (conservative).
fn gate(expr: &Expr, field: &str) -> Option<BTreeSet<Vec<u8>>> {
    match &expr.kind {
        ExprKind::And(children) => {
            let mut acc: Option<BTreeSet<Vec<u8>>> = None;
            for c in children {
                if let Some(s) = gate(c, field) {
                    acc = Some(match acc {
                        None => s,
                        Some(a) => a.intersection(&s).cloned().collect(),
                    });
                }
            }
            acc
        }
        ExprKind::Or(children) => {
            let mut acc = BTreeSet::new();
            for c in children {
                acc.extend(gate(c, field)?);
            }
            Some(acc)
        }
        ExprKind::Check(check) => {
            if check.modifier.is_some() {
                return None;
            }
            let OperandKind::Field(f) = &check.lhs.kind else {
                return None;
            };
            if f.name != field || f.arg.is_some() {
                return None;
            }
            match (&check.op, &check.rhs) {
                (Operator::Eq | Operator::EqEq, Rhs::Value(lit)) => {
                    Some(BTreeSet::from([c_str(&lit.value)]))
                }
                (Operator::In | Operator::Intersects, Rhs::List(list)) => {
                    Some(list.items.iter().map(|l| c_str(&l.value)).collect())
                }
                _ => None,
            }
        }
        ExprKind::Not(_) | ExprKind::Macro(_) => None,
    }
}

fn c_str(v: &[u8]) -> Vec<u8> {
    v.split(|&b| b == 0).next().unwrap_or_default().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate_of(cond: &str) -> Option<Vec<String>> {
        let ast = kaudit_condition::parse(cond).unwrap();
        gate(&ast.expr, "ka.verb").map(|s| {
            s.into_iter()
                .map(|v| String::from_utf8(v).unwrap())
                .collect()
        })
    }

    #[test]
    fn gates_follow_conjunctions_and_gated_disjunctions() {
        assert_eq!(gate_of("ka.verb = create"), Some(vec!["create".into()]));
        assert_eq!(
            gate_of("ka.verb in (create, update) and ka.target.resource = pods"),
            Some(vec!["create".into(), "update".into()])
        );
        assert_eq!(
            gate_of("(ka.verb = create or ka.verb = patch) and x.y exists"),
            Some(vec!["create".into(), "patch".into()])
        );
        assert_eq!(
            gate_of("ka.verb in (create, update) and ka.verb in (update, delete)"),
            Some(vec!["update".into()])
        );
        assert_eq!(gate_of("ka.verb in ()"), Some(vec![]));
        assert_eq!(gate_of("ka.verb = create or x.y exists"), None);
        assert_eq!(gate_of("not ka.verb = create"), None);
        assert_eq!(gate_of("ka.verb != create"), None);
        assert_eq!(gate_of("ka.verb startswith cr"), None);
        assert_eq!(gate_of("ka.verb[x] = create"), None);
    }

    #[test]
    fn wildcards_match_names() {
        assert!(wildcard_match("K8s *", "K8s Secret Created"));
        assert!(wildcard_match("*Created", "K8s Secret Created"));
        assert!(wildcard_match("K8s*Sec*ed", "K8s Secret Created"));
        assert!(!wildcard_match("K8s*Pod", "K8s Secret Created"));
        assert!(wildcard_match("Exact", "Exact"));
        assert!(!wildcard_match("Exact", "Exactly"));
    }
}
