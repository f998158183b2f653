//! The abstract syntax tree of a condition, with byte spans.
//!
//! Spans are **excluded from equality** (as cedar's `Node<T>` does): two trees are equal when they
//! have the same shape and the same text, wherever that text was written. The macro provenance
//! ([`Expr::origin`]) is excluded too.
//!
//! [`Display`](fmt::Display) prints *canonical* text that re-parses to an equal tree.
//! [`Ast::falco_string`] prints libsinsp's `as_string` form (what Falco's `describe_rule` shows as
//! `condition_compiled`), which is not always re-parsable (values are quoted by Falco's
//! `escape_str`, which does not quote `(`, `,` or `=`).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use super::escape;

/// A half-open byte range `start..end` in the text a node was parsed from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// A span from two byte offsets (saturating at `u32::MAX`).
    #[must_use]
    pub fn new(start: usize, end: usize) -> Self {
        let clamp = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        Self {
            start: clamp(start),
            end: clamp(end.max(start)),
        }
    }

    /// The span as a `usize` range.
    #[must_use]
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// Where an expanded node came from: the macro whose text it was parsed from.
#[derive(Clone, Debug)]
pub struct Origin {
    /// The macro's name.
    pub macro_name: String,
    /// The macro's condition text (the spans of nodes with this origin point into it).
    pub source: Arc<str>,
    /// The span of the identifier that referenced the macro, in the parent text.
    pub used_at: Span,
    /// The origin of the referencing identifier (`None` when it was in the condition itself).
    pub parent: Option<Arc<Origin>>,
}

/// A parsed condition: the root expression and the text it was parsed from.
#[derive(Clone, Debug)]
pub struct Ast {
    /// The root expression.
    pub expr: Expr,
    /// The text the spans of the root's own nodes point into.
    pub source: Arc<str>,
}

impl PartialEq for Ast {
    fn eq(&self, other: &Self) -> bool {
        self.expr == other.expr
    }
}

impl Eq for Ast {}

/// A boolean expression node.
#[derive(Clone, Debug)]
pub struct Expr {
    /// What the node is.
    pub kind: ExprKind,
    /// Where it is (libsinsp's node position as `start`).
    pub span: Span,
    /// The macro this node was expanded from, if any (see [`crate::expand()`]).
    pub origin: Option<Arc<Origin>>,
}

impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}

impl Eq for Expr {}

/// The kinds of boolean expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExprKind {
    /// `a and b and …` (n-ary, at least two children).
    And(Vec<Expr>),
    /// `a or b or …` (n-ary, at least two children).
    Or(Vec<Expr>),
    /// `not a`.
    Not(Box<Expr>),
    /// A field check such as `ka.verb = create` or `ka.uri exists`.
    Check(Box<Check>),
    /// A bare identifier: a macro reference (replaced by [`crate::expand()`]).
    Macro(Ident),
}

/// An identifier (macro name) with its span.
#[derive(Clone, Debug)]
pub struct Ident {
    /// The name.
    pub name: String,
    /// Where it is.
    pub span: Span,
}

impl PartialEq for Ident {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Ident {}

/// One check: a left-hand operand, an operator, and the right-hand side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// The field or transformer being tested.
    pub lhs: Operand,
    /// The operator.
    pub op: Operator,
    /// `oneof` / `anyof` / `allof` after a string operator (libs ≥ 0.25).
    pub modifier: Option<Modifier>,
    /// The right-hand side ([`Rhs::None`] for `exists`).
    pub rhs: Rhs,
}

/// The right-hand side of a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rhs {
    /// No right-hand side (`exists`).
    None,
    /// One value: a number, a quoted or bare string, or an identifier after a list operator
    /// (which is a one-element list when compiled).
    Value(Literal),
    /// A parenthesised list of values.
    List(ListLit),
    /// A field compared through `val(…)` or a transformer.
    Operand(Operand),
}

/// A literal list `(a, "b", 'c')`.
#[derive(Clone, Debug)]
pub struct ListLit {
    /// The items.
    pub items: Vec<Literal>,
    /// Where the list is (from its `(`).
    pub span: Span,
}

impl PartialEq for ListLit {
    fn eq(&self, other: &Self) -> bool {
        self.items == other.items
    }
}

impl Eq for ListLit {}

/// A literal value, already unescaped. It is bytes because Falco's `\xHH` escapes can produce
/// any byte.
#[derive(Clone, Debug)]
pub struct Literal {
    /// The unescaped bytes.
    pub value: Vec<u8>,
    /// Where it is.
    pub span: Span,
}

impl PartialEq for Literal {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl Eq for Literal {}

impl Literal {
    /// The value as text, when it is valid UTF-8.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.value).ok()
    }

    /// The value as text, replacing invalid UTF-8.
    #[must_use]
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.value)
    }
}

/// A left-hand operand (or a right-hand one inside `val()` / a transformer).
#[derive(Clone, Debug)]
pub struct Operand {
    /// What it is.
    pub kind: OperandKind,
    /// Where it is.
    pub span: Span,
}

impl PartialEq for Operand {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}

impl Eq for Operand {}

/// The kinds of operand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperandKind {
    /// A field, such as `ka.uri.param[command]`.
    Field(FieldRef),
    /// A transformer applied to operands, such as `tolower(ka.verb)` or `val(ka.user.name)`.
    Transform(Transform),
    /// A literal argument of a multi-argument transformer (`join("-", …)`).
    Literal(Literal),
    /// A parenthesised operand list argument of a multi-argument transformer.
    List(Vec<Operand>),
}

/// A field name with its optional `[argument]` (unescaped, quotes removed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldRef {
    /// The dotted field name.
    pub name: String,
    /// The argument; `Some("")` for `f[""]`, which differs from no argument.
    pub arg: Option<String>,
}

/// A transformer application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transform {
    /// Which transformer.
    pub func: Transformer,
    /// Its arguments (one for the single-value transformers and `val`).
    pub args: Vec<Operand>,
    /// A trailing `[argument]` (only `getopt` accepts one at compile time).
    pub arg: Option<String>,
}

/// The field transformers of libs 0.25, plus `val`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transformer {
    /// `tolower(f)`.
    ToLower,
    /// `toupper(f)`.
    ToUpper,
    /// `b64(f)`: base64-decode (standard alphabet, `=` padding optional); a value that does not
    /// decode is dropped, one that decodes to invalid UTF-8 is kept as bytes, as libsinsp does.
    B64,
    /// `basename(f)`.
    Basename,
    /// `len(f)`.
    Len,
    /// `join(sep, list)`.
    Join,
    /// `concat(a, b, …)`.
    Concat,
    /// `getopt(args, optstring)[c]`.
    Getopt,
    /// `val(f)`: the value of another field (right-hand side only).
    Val,
}

impl Transformer {
    /// Every transformer but `val`, in libsinsp's order.
    pub const ALL: [Transformer; 8] = [
        Transformer::ToLower,
        Transformer::ToUpper,
        Transformer::B64,
        Transformer::Basename,
        Transformer::Len,
        Transformer::Join,
        Transformer::Concat,
        Transformer::Getopt,
    ];

    /// The transformer spelled `name` (one of [`Transformer::ALL`]; `val` is not looked up,
    /// it is only valid on a right-hand side).
    ///
    /// ```
    /// use kaudit_condition::Transformer;
    /// assert_eq!(Transformer::from_name("toupper"), Some(Transformer::ToUpper));
    /// assert_eq!(Transformer::from_name("val"), None);
    /// ```
    #[must_use]
    pub fn from_name(name: &str) -> Option<Transformer> {
        Transformer::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The spelling.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Transformer::ToLower => "tolower",
            Transformer::ToUpper => "toupper",
            Transformer::B64 => "b64",
            Transformer::Basename => "basename",
            Transformer::Len => "len",
            Transformer::Join => "join",
            Transformer::Concat => "concat",
            Transformer::Getopt => "getopt",
            Transformer::Val => "val",
        }
    }

    /// Whether it takes several arguments (literals and lists allowed).
    #[must_use]
    pub fn is_multi_arg(self) -> bool {
        matches!(
            self,
            Transformer::Join | Transformer::Concat | Transformer::Getopt
        )
    }
}

/// `oneof` / `anyof` / `allof`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Modifier {
    /// Exactly one right-hand element matches.
    OneOf,
    /// At least one right-hand element matches.
    AnyOf,
    /// Every right-hand element matches (and there is at least one).
    AllOf,
}

impl Modifier {
    /// Every modifier.
    pub const ALL: [Modifier; 3] = [Modifier::OneOf, Modifier::AnyOf, Modifier::AllOf];

    /// The modifier spelled `name`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Modifier> {
        Modifier::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The spelling.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Modifier::OneOf => "oneof",
            Modifier::AnyOf => "anyof",
            Modifier::AllOf => "allof",
        }
    }
}

/// Every check operator. `=` and `==` are kept apart so printing preserves the spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `exists`.
    Exists,
    /// `=`.
    Eq,
    /// `==`.
    EqEq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `contains`.
    Contains,
    /// `icontains`.
    IContains,
    /// `bcontains`.
    BContains,
    /// `startswith`.
    StartsWith,
    /// `bstartswith`.
    BStartsWith,
    /// `endswith`.
    EndsWith,
    /// `glob`.
    Glob,
    /// `iglob`.
    IGlob,
    /// `regex`.
    Regex,
    /// `in`.
    In,
    /// `intersects`.
    Intersects,
    /// `pmatch`.
    PMatch,
}

impl Operator {
    /// Every operator in libsinsp's `supported_operators()` order.
    pub const ALL: [Operator; 20] = [
        Operator::Exists,
        Operator::Le,
        Operator::Lt,
        Operator::Ge,
        Operator::Gt,
        Operator::EqEq,
        Operator::Eq,
        Operator::Ne,
        Operator::Glob,
        Operator::IGlob,
        Operator::Contains,
        Operator::IContains,
        Operator::BContains,
        Operator::StartsWith,
        Operator::BStartsWith,
        Operator::EndsWith,
        Operator::Regex,
        Operator::Intersects,
        Operator::In,
        Operator::PMatch,
    ];

    /// The spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Exists => "exists",
            Operator::Eq => "=",
            Operator::EqEq => "==",
            Operator::Ne => "!=",
            Operator::Lt => "<",
            Operator::Le => "<=",
            Operator::Gt => ">",
            Operator::Ge => ">=",
            Operator::Contains => "contains",
            Operator::IContains => "icontains",
            Operator::BContains => "bcontains",
            Operator::StartsWith => "startswith",
            Operator::BStartsWith => "bstartswith",
            Operator::EndsWith => "endswith",
            Operator::Glob => "glob",
            Operator::IGlob => "iglob",
            Operator::Regex => "regex",
            Operator::In => "in",
            Operator::Intersects => "intersects",
            Operator::PMatch => "pmatch",
        }
    }

    /// The operator spelled `s` (one of [`Operator::ALL`]), without modifier.
    ///
    /// ```
    /// use kaudit_condition::Operator;
    /// assert_eq!(Operator::from_name("startswith"), Some(Operator::StartsWith));
    /// assert_eq!(Operator::from_name("="), Some(Operator::Eq));
    /// assert_eq!(Operator::from_name("= oneof"), None);
    /// ```
    #[must_use]
    pub fn from_name(s: &str) -> Option<Operator> {
        Operator::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// Whether the operator is a string operator that accepts a [`Modifier`] (`oneof`, `anyof`,
    /// `allof`): `=`, `==`, `!=`, `glob`, `iglob`, `contains`, `icontains`, `bcontains`,
    /// `startswith`, `bstartswith`, `endswith`, `regex` (libs 0.25).
    #[must_use]
    pub fn takes_modifier(self) -> bool {
        !(self.is_list_op() || self.is_num_op() || self == Operator::Exists)
    }

    /// Whether the operator takes a list (`in`, `intersects`, `pmatch`).
    #[must_use]
    pub fn is_list_op(self) -> bool {
        matches!(self, Operator::In | Operator::Intersects | Operator::PMatch)
    }

    /// Whether the operator is numeric-only in syntax (`<`, `<=`, `>`, `>=`).
    #[must_use]
    pub fn is_num_op(self) -> bool {
        matches!(
            self,
            Operator::Lt | Operator::Le | Operator::Gt | Operator::Ge
        )
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------------------------
// Walking

/// One check as seen by [`Ast::checks`]: the check and the macro it came from.
#[derive(Clone, Copy, Debug)]
pub struct CheckRef<'a> {
    /// The check.
    pub check: &'a Check,
    /// The enclosing node (its span and origin).
    pub node: &'a Expr,
}

impl Ast {
    /// Every node in pre-order (iterative, so deep trees do not overflow the stack).
    pub fn nodes(&self) -> impl Iterator<Item = &Expr> {
        let mut stack = vec![&self.expr];
        std::iter::from_fn(move || {
            let e = stack.pop()?;
            match &e.kind {
                ExprKind::And(c) | ExprKind::Or(c) => stack.extend(c.iter().rev()),
                ExprKind::Not(c) => stack.push(c),
                ExprKind::Check(_) | ExprKind::Macro(_) => {}
            }
            Some(e)
        })
    }

    /// Every check in pre-order.
    pub fn checks(&self) -> impl Iterator<Item = CheckRef<'_>> {
        self.nodes().filter_map(|node| match &node.kind {
            ExprKind::Check(check) => Some(CheckRef { check, node }),
            _ => None,
        })
    }

    /// Every macro reference (identifier) in pre-order.
    pub fn macro_refs(&self) -> impl Iterator<Item = &Ident> {
        self.nodes().filter_map(|node| match &node.kind {
            ExprKind::Macro(id) => Some(id),
            _ => None,
        })
    }

    /// Every field reference (left-hand sides, `val()` and transformer arguments) in pre-order.
    #[must_use]
    pub fn fields(&self) -> Vec<&FieldRef> {
        let mut out = Vec::new();
        for c in self.checks() {
            c.check.lhs.collect_fields(&mut out);
            if let Rhs::Operand(o) = &c.check.rhs {
                o.collect_fields(&mut out);
            }
        }
        out
    }

    /// A stable, indented dump of the tree for `kaudit debug ast|expanded`: one node per line with
    /// its byte span and, for expanded nodes, the macro it came from.
    ///
    /// ```text
    /// and 0..28
    ///   check 0..12 ka.verb = get
    ///   not 17..28 [from macro 'm']
    /// ```
    #[must_use]
    pub fn dump(&self) -> String {
        let mut out = String::new();
        let mut stack = vec![(&self.expr, 0usize)];
        while let Some((e, depth)) = stack.pop() {
            out.push_str(&"  ".repeat(depth));
            let label = match &e.kind {
                ExprKind::And(c) | ExprKind::Or(c) => {
                    stack.extend(c.iter().rev().map(|c| (c, depth + 1)));
                    if matches!(e.kind, ExprKind::And(_)) {
                        "and".to_owned()
                    } else {
                        "or".to_owned()
                    }
                }
                ExprKind::Not(c) => {
                    stack.push((c, depth + 1));
                    "not".to_owned()
                }
                ExprKind::Check(c) => format!("check {c}"),
                ExprKind::Macro(id) => format!("macro {}", id.name),
            };
            let (head, rest) = label.split_once(' ').unwrap_or((&label, ""));
            out.push_str(&format!("{head} {}..{}", e.span.start, e.span.end));
            if !rest.is_empty() {
                out.push(' ');
                out.push_str(rest);
            }
            if let Some(o) = &e.origin {
                out.push_str(&format!(" [from macro '{}']", o.macro_name));
            }
            out.push('\n');
        }
        out
    }

    /// libsinsp's `as_string` text (Falco's `condition_compiled`).
    #[must_use]
    pub fn falco_string(&self) -> String {
        let mut s = String::new();
        write_expr(&mut s, &self.expr, Style::Falco);
        s
    }
}

impl Operand {
    fn collect_fields<'a>(&'a self, out: &mut Vec<&'a FieldRef>) {
        match &self.kind {
            OperandKind::Field(f) => out.push(f),
            OperandKind::Transform(t) => t.args.iter().for_each(|a| a.collect_fields(out)),
            OperandKind::List(items) => items.iter().for_each(|a| a.collect_fields(out)),
            OperandKind::Literal(_) => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Printing

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    /// Re-parsable canonical text.
    Canonical,
    /// libsinsp `as_string`.
    Falco,
}

impl fmt::Display for Ast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.expr, f)
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        write_expr(&mut s, self, Style::Canonical);
        f.write_str(&s)
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        write_check(&mut s, self, Style::Canonical);
        f.write_str(&s)
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        write_operand(&mut s, self, Style::Canonical);
        f.write_str(&s)
    }
}

/// Prints without recursion on the boolean structure (an explicit stack of work items), so a
/// deeply nested expanded tree cannot overflow the stack.
fn write_expr(out: &mut String, root: &Expr, style: Style) {
    enum Work<'a> {
        Expr(&'a Expr),
        Str(&'static str),
    }
    let mut stack = vec![Work::Expr(root)];
    while let Some(w) = stack.pop() {
        let e = match w {
            Work::Str(s) => {
                out.push_str(s);
                continue;
            }
            Work::Expr(e) => e,
        };
        match &e.kind {
            ExprKind::And(c) | ExprKind::Or(c) => {
                let sep = if matches!(e.kind, ExprKind::And(_)) {
                    " and "
                } else {
                    " or "
                };
                out.push('(');
                stack.push(Work::Str(")"));
                for (i, child) in c.iter().enumerate().rev() {
                    stack.push(Work::Expr(child));
                    if i > 0 {
                        stack.push(Work::Str(sep));
                    }
                }
            }
            ExprKind::Not(c) => {
                out.push_str("not ");
                // `not not x` would re-parse as `x`: keep the structure with parentheses.
                if style == Style::Canonical && matches!(c.kind, ExprKind::Not(_)) {
                    out.push('(');
                    stack.push(Work::Str(")"));
                }
                stack.push(Work::Expr(c));
            }
            ExprKind::Check(c) => write_check(out, c, style),
            ExprKind::Macro(id) => out.push_str(&id.name),
        }
    }
}

fn write_check(out: &mut String, c: &Check, style: Style) {
    write_operand(out, &c.lhs, style);
    out.push(' ');
    out.push_str(c.op.as_str());
    if let Some(m) = c.modifier {
        out.push(' ');
        out.push_str(m.name());
    }
    match &c.rhs {
        Rhs::None => {}
        Rhs::Value(v) => {
            out.push(' ');
            write_value(out, &v.value, style);
        }
        Rhs::List(l) => {
            out.push(' ');
            write_list(out, &l.items, style);
        }
        Rhs::Operand(o) => {
            out.push(' ');
            write_operand(out, o, style);
        }
    }
}

fn write_list(out: &mut String, items: &[Literal], style: Style) {
    out.push('(');
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_value(out, &v.value, style);
    }
    out.push(')');
}

fn write_value(out: &mut String, v: &[u8], style: Style) {
    match style {
        Style::Falco => out.push_str(&String::from_utf8_lossy(&escape::escape_str(v))),
        Style::Canonical => escape::write_canonical_value(out, v),
    }
}

fn write_operand(out: &mut String, o: &Operand, style: Style) {
    match &o.kind {
        OperandKind::Field(f) => {
            out.push_str(&f.name);
            write_arg(out, f.arg.as_deref(), style);
        }
        OperandKind::Transform(t) => {
            out.push_str(t.func.name());
            out.push('(');
            let sep = if style == Style::Falco { "," } else { ", " };
            for (i, a) in t.args.iter().enumerate() {
                if i > 0 {
                    out.push_str(sep);
                }
                write_operand(out, a, style);
            }
            out.push(')');
            write_arg(out, t.arg.as_deref(), style);
        }
        OperandKind::Literal(l) => match style {
            Style::Falco => write_value(out, &l.value, style),
            Style::Canonical => escape::write_canonical_arg_literal(out, &l.value),
        },
        OperandKind::List(items) => {
            let sep = if style == Style::Falco { "," } else { ", " };
            out.push('(');
            for (i, a) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(sep);
                }
                write_operand(out, a, style);
            }
            out.push(')');
        }
    }
}

fn write_arg(out: &mut String, arg: Option<&str>, style: Style) {
    match (arg, style) {
        (None, _) => {}
        (Some(""), Style::Falco) => {}
        (Some(a), Style::Falco) => {
            out.push('[');
            out.push_str(&String::from_utf8_lossy(&escape::escape_str(a.as_bytes())));
            out.push(']');
        }
        (Some(a), Style::Canonical) => {
            out.push('[');
            escape::write_canonical_field_arg(out, a);
            out.push(']');
        }
    }
}
