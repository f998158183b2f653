//! Stage 3, compilation: an expanded [`Ast`] bound to a [`Schema`] → a flat [`Program`].
//!
//! Each field name is resolved once to the schema's handle; operators are checked against the
//! field's type and list-ness with libsinsp's rules (`flt_is_comparable`); right-hand sides are
//! pre-built (hash sets for `in` / `intersects`, compiled globs and regexes, case-folded
//! needles, a component tree for `pmatch`). The program is a table of nodes addressed by index
//! and never sees a field name again.

use std::collections::HashSet;

/// The literal sets of `in` and `intersects`, hashed with foldhash (fast, with a per-process
/// random seed) rather than SipHash: only the rules' literals are inserted, events only look up.
pub(crate) type Set<T> = HashSet<T, foldhash::fast::RandomState>;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use aho_corasick::AhoCorasick;
use memchr::memmem;

use crate::glob::Glob;
use crate::render;
use crate::schema::{FieldError, Schema, ValueType};
use crate::syntax::{
    Ast, Check, Expr, ExprKind, Literal, Modifier, Operand, OperandKind, Operator, Origin, Rhs,
    Span, Transformer,
};

/// A compile error, at the span of the offending check or operand.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{kind}")]
pub struct CompileError {
    /// What went wrong.
    pub kind: CompileErrorKind,
    /// Where (in the condition, or in the macro named by `origin`).
    pub span: Span,
    /// The macro the node was expanded from, if any.
    pub origin: Option<Arc<Origin>>,
}

impl PartialEq for CompileError {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.span == other.span
    }
}

impl CompileError {
    /// Renders with a caret under the span (in the macro's text when it came from one).
    #[must_use]
    pub fn render(&self, source: &str) -> String {
        render::render(&self.to_string(), source, self.span, self.origin.as_deref())
    }
}

/// Why compilation failed. `Display` is libsinsp's / Falco's message where one exists.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CompileErrorKind {
    /// The schema has no such field.
    #[error("filter_check called with nonexistent field {0}")]
    UnknownField(String),
    /// The field needs `[arg]`.
    #[error("filter '{0}': {0} requires an argument but none provided")]
    ArgumentRequired(String),
    /// The field takes no `[arg]`.
    #[error("filter '{0}': {0} does not allow nor require an argument but one is provided: {1}")]
    ArgumentNotAllowed(String, String),
    /// The index argument is not digits (or has a leading zero).
    #[error("filter {0} {0} has an invalid index argument not composed only by digits: {1}")]
    InvalidIndex(String, String),
    /// Another argument problem, with the schema's message.
    #[error("filter '{0}': {1}")]
    InvalidArgument(String, String),
    /// A list field with an operator other than `in`, `intersects`, `exists`.
    #[error("'{0}' operator not supported list filters")]
    ListOperator(Operator),
    /// An operator the field's type does not support.
    #[error("'{0}' operator not supported for {1} filters")]
    OperatorType(Operator, &'static str),
    /// A right-hand value that does not fit the field's type.
    #[error("filter value '{0}' is not valid for a {1} field")]
    InvalidValue(String, &'static str),
    /// A NUL byte in a value compared with a string field.
    #[error("string values cannot contain a NUL byte")]
    NulInString,
    /// `bcontains` / `bstartswith` with a non-hex value.
    #[error("bcontains and bstartswith operator support hex strings only")]
    HexOnly,
    /// A regex that does not compile.
    #[error("invalid regex pattern: {0}")]
    Regex(String),
    /// `[arg]` after a transformer other than `getopt`.
    #[error("filter error: transformer '{0}' does not support field arguments")]
    TransformerArgument(&'static str),
    /// A transformer applied to a type it does not support.
    #[error("can't add field transformer: type '{1}' is not supported by '{0}' transformer")]
    TransformerType(&'static str, &'static str),
    /// Wrong number or kind of transformer arguments.
    #[error("transformer '{0}': {1}")]
    TransformerArity(&'static str, &'static str),
    /// `val()` / a right-hand transformer whose type or list-ness differs from the left side.
    #[error("left and right side of '{0}' have different types: {1} and {2}")]
    TypeMismatch(Operator, String, String),
    /// `val()` / a right-hand transformer with an operator that does not allow it.
    #[error("'{0}' operator does not support a field or transformer on the right-hand side")]
    RhsFieldNotAllowed(Operator),
    /// A macro reference that was not expanded.
    #[error("Undefined macro '{0}' used in filter.")]
    UndefinedMacro(String),
}

fn type_name(ty: ValueType) -> &'static str {
    match ty {
        ValueType::Str => "string",
        ValueType::Bytes => "bytebuf",
        ValueType::Int => "int64",
        ValueType::Uint => "uint64",
        ValueType::Bool => "bool",
        ValueType::IpAddr => "ipaddr",
        ValueType::IpNet => "ipnet",
    }
}

fn type_desc(ty: ValueType, list: bool) -> String {
    if list {
        format!("list of {}", type_name(ty))
    } else {
        type_name(ty).to_owned()
    }
}

/// Whether libsinsp allows `op` on a scalar of type `ty`.
#[must_use]
pub fn operator_allowed(op: Operator, ty: ValueType) -> bool {
    use Operator as O;
    match ty {
        ValueType::Str => !matches!(op, O::BContains | O::BStartsWith),
        ValueType::Bytes => matches!(
            op,
            O::Exists
                | O::Eq
                | O::EqEq
                | O::Ne
                | O::Contains
                | O::In
                | O::Intersects
                | O::StartsWith
                | O::EndsWith
                | O::BContains
                | O::BStartsWith
        ),
        ValueType::Int | ValueType::Uint => matches!(
            op,
            O::Exists
                | O::Eq
                | O::EqEq
                | O::Ne
                | O::Lt
                | O::Le
                | O::Gt
                | O::Ge
                | O::In
                | O::Intersects
        ),
        ValueType::Bool | ValueType::IpAddr | ValueType::IpNet => {
            matches!(
                op,
                O::Exists | O::Eq | O::EqEq | O::Ne | O::In | O::Intersects
            )
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The program

/// A node index in a [`Program`].
pub type NodeId = u32;

#[derive(Clone, Debug)]
pub(crate) enum Node {
    And(Box<[NodeId]>),
    Or(Box<[NodeId]>),
    Not(NodeId),
    Check(u32),
}

/// A compiled condition: a flat table of boolean nodes over pre-built checks, holding only the
/// schema's field handles. Evaluate it with [`Program::matches`].
#[derive(Clone, Debug)]
pub struct Program<F> {
    pub(crate) nodes: Vec<Node>,
    pub(crate) checks: Vec<CompiledCheck<F>>,
    pub(crate) root: NodeId,
}

/// A left-hand or right-hand value source.
#[derive(Clone, Debug)]
pub(crate) enum Src<F> {
    Field(F),
    Lit(Vec<u8>),
    List(Vec<Src<F>>),
    Apply {
        func: Transformer,
        args: Vec<Src<F>>,
        arg: Option<String>,
    },
}

#[derive(Clone, Debug)]
pub(crate) struct CompiledCheck<F> {
    pub(crate) lhs: Src<F>,
    pub(crate) list: bool,
    pub(crate) test: Test<F>,
}

#[derive(Clone, Debug)]
pub(crate) enum Test<F> {
    Exists,
    Pred(Box<Pred>),
    Set {
        all: bool,
        set: ValueSet,
    },
    PMatch(Vec<Vec<Component>>),
    Modifier {
        modifier: Modifier,
        preds: Vec<Pred>,
    },
    Dynamic {
        op: Operator,
        ty: ValueType,
        rhs: Src<F>,
    },
}

#[derive(Clone, Debug)]
pub(crate) enum Component {
    Lit(Vec<u8>),
    Glob(Glob),
}

#[derive(Clone, Debug)]
pub(crate) enum ValueSet {
    Bytes(Set<Vec<u8>>),
    Num(Set<i128>),
    Ip(Vec<IpAddr>),
    Net(Vec<(IpAddr, u8)>),
}

/// One pre-built comparison against a single value; `negate` turns `=` into `!=`.
#[derive(Clone, Debug)]
pub(crate) struct Pred {
    pub(crate) kind: PredKind,
    pub(crate) negate: bool,
}

#[derive(Clone, Debug)]
pub(crate) enum PredKind {
    BytesEq(Vec<u8>),
    BytesOrd(Operator, Vec<u8>),
    NumCmp(Operator, i128),
    IpEq(IpAddr),
    NetEq(IpAddr, u8),
    Contains(Box<memmem::Finder<'static>>),
    IContains(Box<AhoCorasick>),
    StartsWith(Vec<u8>),
    EndsWith(Vec<u8>),
    Glob(Glob),
    Regex(regex::bytes::Regex),
}

// ---------------------------------------------------------------------------------------------
// Compiling

/// Compiles an expanded tree against `schema`.
///
/// # Errors
/// The first [`CompileError`] in pre-order: unknown fields, bad arguments, operator/type
/// mismatches, bad values, regexes, or a macro reference left unexpanded.
pub fn compile<S: Schema>(ast: &Ast, schema: &S) -> Result<Program<S::Field>, CompileError> {
    let mut c = Compiler {
        schema,
        nodes: Vec::new(),
        checks: Vec::new(),
    };
    let root = c.expr(&ast.expr)?;
    Ok(Program {
        nodes: c.nodes,
        checks: c.checks,
        root,
    })
}

struct Compiler<'s, S: Schema> {
    schema: &'s S,
    nodes: Vec<Node>,
    checks: Vec<CompiledCheck<S::Field>>,
}

type R<T> = Result<T, CompileError>;

struct Ctx<'e> {
    origin: &'e Option<Arc<Origin>>,
}

impl Ctx<'_> {
    fn err(&self, kind: CompileErrorKind, span: Span) -> CompileError {
        CompileError {
            kind,
            span,
            origin: self.origin.clone(),
        }
    }
}

impl<S: Schema> Compiler<'_, S> {
    fn push(&mut self, n: Node) -> NodeId {
        self.nodes.push(n);
        u32::try_from(self.nodes.len() - 1).unwrap_or(u32::MAX)
    }

    fn expr(&mut self, e: &Expr) -> R<NodeId> {
        let ctx = Ctx { origin: &e.origin };
        match &e.kind {
            ExprKind::And(c) | ExprKind::Or(c) => {
                let ids = c.iter().map(|c| self.expr(c)).collect::<R<Vec<_>>>()?;
                let node = if matches!(e.kind, ExprKind::And(_)) {
                    Node::And(ids.into())
                } else {
                    Node::Or(ids.into())
                };
                Ok(self.push(node))
            }
            ExprKind::Not(c) => {
                let id = self.expr(c)?;
                Ok(self.push(Node::Not(id)))
            }
            ExprKind::Macro(id) => {
                Err(ctx.err(CompileErrorKind::UndefinedMacro(id.name.clone()), id.span))
            }
            ExprKind::Check(check) => {
                let compiled = self.check(check, e.span, &ctx)?;
                self.checks.push(compiled);
                let idx = u32::try_from(self.checks.len() - 1).unwrap_or(u32::MAX);
                Ok(self.push(Node::Check(idx)))
            }
        }
    }

    fn field(
        &self,
        name: &str,
        arg: Option<&str>,
        span: Span,
        ctx: &Ctx<'_>,
    ) -> R<(S::Field, ValueType, bool)> {
        match self.schema.resolve(name, arg) {
            Ok(info) => Ok((info.field, info.ty, info.list)),
            Err(e) => {
                let kind = match e {
                    FieldError::Unknown => CompileErrorKind::UnknownField(name.to_owned()),
                    FieldError::ArgumentRequired => {
                        CompileErrorKind::ArgumentRequired(name.to_owned())
                    }
                    FieldError::ArgumentNotAllowed => CompileErrorKind::ArgumentNotAllowed(
                        name.to_owned(),
                        arg.unwrap_or_default().to_owned(),
                    ),
                    FieldError::InvalidIndex => CompileErrorKind::InvalidIndex(
                        name.to_owned(),
                        arg.unwrap_or_default().to_owned(),
                    ),
                    FieldError::InvalidArgument(m) => {
                        CompileErrorKind::InvalidArgument(name.to_owned(), m)
                    }
                };
                Err(ctx.err(kind, span))
            }
        }
    }

    /// Compiles an operand to a value source with its type and list-ness.
    fn operand(&self, o: &Operand, ctx: &Ctx<'_>) -> R<(Src<S::Field>, ValueType, bool)> {
        match &o.kind {
            OperandKind::Field(f) => {
                let (h, ty, list) = self.field(&f.name, f.arg.as_deref(), o.span, ctx)?;
                Ok((Src::Field(h), ty, list))
            }
            OperandKind::Literal(l) => Ok((Src::Lit(l.value.clone()), ValueType::Str, false)),
            OperandKind::List(items) => {
                let mut srcs = Vec::new();
                for i in items {
                    srcs.push(self.operand(i, ctx)?.0);
                }
                Ok((Src::List(srcs), ValueType::Str, true))
            }
            OperandKind::Transform(t) => {
                let name = t.func.name();
                if t.arg.is_some() && t.func != Transformer::Getopt {
                    return Err(ctx.err(CompileErrorKind::TransformerArgument(name), o.span));
                }
                let args = t
                    .args
                    .iter()
                    .map(|a| self.operand(a, ctx))
                    .collect::<R<Vec<_>>>()?;
                let bad_type = |ty| {
                    ctx.err(
                        CompileErrorKind::TransformerType(name, type_name(ty)),
                        o.span,
                    )
                };
                let arity = |m| ctx.err(CompileErrorKind::TransformerArity(name, m), o.span);
                let (ty, list) = match t.func {
                    Transformer::Val => {
                        let [(_, ty, list)] = args.as_slice() else {
                            return Err(arity("expects one field"));
                        };
                        (*ty, *list)
                    }
                    Transformer::ToLower | Transformer::ToUpper | Transformer::Basename => {
                        let [(_, ty, list)] = args.as_slice() else {
                            return Err(arity("expects one argument"));
                        };
                        if *ty != ValueType::Str {
                            return Err(bad_type(*ty));
                        }
                        (ValueType::Str, *list)
                    }
                    Transformer::B64 => {
                        let [(_, ty, list)] = args.as_slice() else {
                            return Err(arity("expects one argument"));
                        };
                        if !matches!(ty, ValueType::Str | ValueType::Bytes) {
                            return Err(bad_type(*ty));
                        }
                        (*ty, *list)
                    }
                    Transformer::Len => {
                        let [(_, ty, list)] = args.as_slice() else {
                            return Err(arity("expects one argument"));
                        };
                        if !*list && !matches!(ty, ValueType::Str | ValueType::Bytes) {
                            return Err(bad_type(*ty));
                        }
                        (ValueType::Uint, false)
                    }
                    Transformer::Join => {
                        if args.len() != 2 || !matches!(args[0].0, Src::Lit(_)) {
                            return Err(arity("expects a separator string and a list"));
                        }
                        (ValueType::Str, false)
                    }
                    Transformer::Concat => {
                        if args.is_empty() {
                            return Err(arity("expects at least one argument"));
                        }
                        (ValueType::Str, false)
                    }
                    Transformer::Getopt => {
                        if args.len() != 2 || !matches!(args[1].0, Src::Lit(_)) {
                            return Err(arity("expects an argument list and an option string"));
                        }
                        if t.arg.is_none() {
                            return Err(arity("requires an option argument such as [c]"));
                        }
                        (ValueType::Str, false)
                    }
                };
                let src = if t.func == Transformer::Val {
                    args.into_iter()
                        .next()
                        .map_or(Src::List(Vec::new()), |a| a.0)
                } else {
                    Src::Apply {
                        func: t.func,
                        args: args.into_iter().map(|a| a.0).collect(),
                        arg: t.arg.clone(),
                    }
                };
                Ok((src, ty, list))
            }
        }
    }

    fn check(&self, c: &Check, span: Span, ctx: &Ctx<'_>) -> R<CompiledCheck<S::Field>> {
        let (lhs, ty, list) = self.operand(&c.lhs, ctx)?;
        let op = c.op;
        if op == Operator::Exists {
            return Ok(CompiledCheck {
                lhs,
                list,
                test: Test::Exists,
            });
        }
        if list && !matches!(op, Operator::In | Operator::Intersects) {
            return Err(ctx.err(CompileErrorKind::ListOperator(op), span));
        }
        if !operator_allowed(op, ty) {
            return Err(ctx.err(CompileErrorKind::OperatorType(op, type_name(ty)), span));
        }
        if list && c.modifier.is_some() {
            return Err(ctx.err(CompileErrorKind::ListOperator(op), span));
        }
        let test = match (&c.rhs, c.modifier) {
            (Rhs::None, _) => Test::Exists,
            (Rhs::Operand(o), _) => {
                if matches!(op, Operator::Regex | Operator::PMatch) || c.modifier.is_some() {
                    return Err(ctx.err(CompileErrorKind::RhsFieldNotAllowed(op), o.span));
                }
                let (rhs, rty, rlist) = self.operand(o, ctx)?;
                let list_ok = rlist == list || matches!(op, Operator::In | Operator::Intersects);
                if rty != ty || !list_ok {
                    return Err(ctx.err(
                        CompileErrorKind::TypeMismatch(
                            op,
                            type_desc(ty, list),
                            type_desc(rty, rlist),
                        ),
                        o.span,
                    ));
                }
                Test::Dynamic { op, ty, rhs }
            }
            (Rhs::Value(v), Some(m)) => Test::Modifier {
                modifier: m,
                preds: vec![pred(op, ty, v, ctx)?],
            },
            (Rhs::List(l), Some(m)) => Test::Modifier {
                modifier: m,
                preds: l
                    .items
                    .iter()
                    .map(|v| pred(op, ty, v, ctx))
                    .collect::<R<_>>()?,
            },
            (Rhs::Value(v), None) if op.is_list_op() => {
                list_test(op, ty, std::slice::from_ref(v), ctx)?
            }
            (Rhs::List(l), None) if op.is_list_op() => list_test(op, ty, &l.items, ctx)?,
            (Rhs::Value(v), None) => Test::Pred(Box::new(pred(op, ty, v, ctx)?)),
            (Rhs::List(l), None) => {
                // The parser only puts a bare list after a list operator.
                return Err(ctx.err(CompileErrorKind::ListOperator(op), l.span));
            }
        };
        Ok(CompiledCheck { lhs, list, test })
    }
}

fn invalid(v: &Literal, ty: ValueType, ctx: &Ctx<'_>) -> CompileError {
    ctx.err(
        CompileErrorKind::InvalidValue(v.text().into_owned(), type_name(ty)),
        v.span,
    )
}

/// Parses a decimal or `0x` integer literal.
fn parse_int(text: &str) -> Option<i128> {
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let v = if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i128::from_str_radix(hex, 16).ok()?
    } else {
        if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        body.parse::<i128>().ok()?
    };
    Some(if neg { -v } else { v })
}

fn num_literal(v: &Literal, ty: ValueType, ctx: &Ctx<'_>) -> R<i128> {
    let text = v.as_str().ok_or_else(|| invalid(v, ty, ctx))?;
    let n = match ty {
        ValueType::Bool => match text {
            "true" => Some(1),
            "false" => Some(0),
            _ => parse_int(text).filter(|n| *n == 0 || *n == 1),
        },
        _ => parse_int(text),
    }
    .ok_or_else(|| invalid(v, ty, ctx))?;
    let fits = match ty {
        ValueType::Int => i64::try_from(n).is_ok(),
        ValueType::Uint => u64::try_from(n).is_ok(),
        _ => true,
    };
    if fits {
        Ok(n)
    } else {
        Err(invalid(v, ty, ctx))
    }
}

pub(crate) fn parse_net(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = text.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    let bits: u8 = bits.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((addr, bits))
}

fn string_bytes(v: &Literal, ctx: &Ctx<'_>) -> R<Vec<u8>> {
    if v.value.contains(&0) {
        return Err(ctx.err(CompileErrorKind::NulInString, v.span));
    }
    Ok(v.value.clone())
}

fn hex_bytes(v: &Literal, ctx: &Ctx<'_>) -> R<Vec<u8>> {
    let t = &v.value;
    if t.is_empty() || !t.len().is_multiple_of(2) || !t.iter().all(u8::is_ascii_hexdigit) {
        return Err(ctx.err(CompileErrorKind::HexOnly, v.span));
    }
    let digit = |c: u8| {
        (c as char)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
            .unwrap_or(0)
    };
    Ok(t.chunks(2)
        .map(|p| digit(p[0]) * 16 + digit(p[1]))
        .collect())
}

/// Builds the single-value predicate for `op` on a field of type `ty`.
fn pred(op: Operator, ty: ValueType, v: &Literal, ctx: &Ctx<'_>) -> R<Pred> {
    use Operator as O;
    let negate = op == O::Ne;
    let kind = match ty {
        ValueType::Int | ValueType::Uint | ValueType::Bool => match op {
            O::Eq | O::EqEq | O::Ne => PredKind::NumCmp(O::Eq, num_literal(v, ty, ctx)?),
            _ => PredKind::NumCmp(op, num_literal(v, ty, ctx)?),
        },
        ValueType::IpAddr => {
            let ip = v
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| invalid(v, ty, ctx))?;
            PredKind::IpEq(ip)
        }
        ValueType::IpNet => {
            let (a, b) = v
                .as_str()
                .and_then(parse_net)
                .ok_or_else(|| invalid(v, ty, ctx))?;
            PredKind::NetEq(a, b)
        }
        ValueType::Str | ValueType::Bytes => {
            let raw = |ctx: &Ctx<'_>| {
                if ty == ValueType::Str {
                    string_bytes(v, ctx)
                } else {
                    Ok(v.value.clone())
                }
            };
            match op {
                O::Eq | O::EqEq | O::Ne => PredKind::BytesEq(raw(ctx)?),
                O::Lt | O::Le | O::Gt | O::Ge => PredKind::BytesOrd(op, raw(ctx)?),
                O::Contains => {
                    PredKind::Contains(Box::new(memmem::Finder::new(&raw(ctx)?).into_owned()))
                }
                O::BContains => PredKind::Contains(Box::new(
                    memmem::Finder::new(&hex_bytes(v, ctx)?).into_owned(),
                )),
                O::IContains => {
                    let needle = raw(ctx)?;
                    let ac = AhoCorasick::builder()
                        .ascii_case_insensitive(true)
                        .build([needle.as_slice()])
                        .map_err(|e| ctx.err(CompileErrorKind::Regex(e.to_string()), v.span))?;
                    PredKind::IContains(Box::new(ac))
                }
                O::StartsWith => PredKind::StartsWith(raw(ctx)?),
                O::BStartsWith => PredKind::StartsWith(hex_bytes(v, ctx)?),
                O::EndsWith => PredKind::EndsWith(raw(ctx)?),
                O::Glob => PredKind::Glob(Glob::new(&raw(ctx)?, false)),
                O::IGlob => PredKind::Glob(Glob::new(&raw(ctx)?, true)),
                O::Regex => PredKind::Regex(compile_regex(&raw(ctx)?, v.span, ctx)?),
                O::Exists | O::In | O::Intersects | O::PMatch => {
                    return Err(ctx.err(CompileErrorKind::OperatorType(op, type_name(ty)), v.span));
                }
            }
        }
    };
    Ok(Pred { kind, negate })
}

fn compile_regex(pat: &[u8], span: Span, ctx: &Ctx<'_>) -> R<regex::bytes::Regex> {
    let text = std::str::from_utf8(pat)
        .map_err(|e| ctx.err(CompileErrorKind::Regex(e.to_string()), span))?;
    regex::bytes::Regex::new(&format!("^(?:{text})$"))
        .map_err(|e| ctx.err(CompileErrorKind::Regex(first_line(&e.to_string())), span))
}

fn first_line(s: &str) -> String {
    let last = s.lines().last().unwrap_or(s).trim();
    last.strip_prefix("error: ").unwrap_or(last).to_owned()
}

fn list_test<F>(op: Operator, ty: ValueType, items: &[Literal], ctx: &Ctx<'_>) -> R<Test<F>> {
    if op == Operator::PMatch {
        let mut paths = Vec::new();
        for v in items {
            let bytes = string_bytes(v, ctx)?;
            let comps = bytes
                .split(|&b| b == b'/')
                .filter(|c| !c.is_empty())
                .map(|c| {
                    let g = Glob::new(c, false);
                    if g.has_wildcard() {
                        Component::Glob(g)
                    } else {
                        Component::Lit(c.to_vec())
                    }
                })
                .collect();
            paths.push(comps);
        }
        return Ok(Test::PMatch(paths));
    }
    let set = match ty {
        ValueType::Str => ValueSet::Bytes(
            items
                .iter()
                .map(|v| string_bytes(v, ctx))
                .collect::<R<_>>()?,
        ),
        ValueType::Bytes => ValueSet::Bytes(items.iter().map(|v| v.value.clone()).collect()),
        ValueType::Int | ValueType::Uint | ValueType::Bool => ValueSet::Num(
            items
                .iter()
                .map(|v| num_literal(v, ty, ctx))
                .collect::<R<_>>()?,
        ),
        ValueType::IpAddr => ValueSet::Ip(
            items
                .iter()
                .map(|v| {
                    v.as_str()
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| invalid(v, ty, ctx))
                })
                .collect::<R<_>>()?,
        ),
        ValueType::IpNet => ValueSet::Net(
            items
                .iter()
                .map(|v| {
                    v.as_str()
                        .and_then(parse_net)
                        .ok_or_else(|| invalid(v, ty, ctx))
                })
                .collect::<R<_>>()?,
        ),
    };
    Ok(Test::Set {
        all: op == Operator::In,
        set,
    })
}

// ---------------------------------------------------------------------------------------------
// Listing

impl<F: fmt::Debug> fmt::Display for Program<F> {
    /// A stable listing: one line per node, then one per check.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "program: {} nodes, {} checks, root n{}",
            self.nodes.len(),
            self.checks.len(),
            self.root
        )?;
        let ids = |ids: &[NodeId]| {
            ids.iter()
                .map(|i| format!("n{i}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        for (i, n) in self.nodes.iter().enumerate() {
            match n {
                Node::And(c) => writeln!(f, "  n{i} = and {}", ids(c))?,
                Node::Or(c) => writeln!(f, "  n{i} = or {}", ids(c))?,
                Node::Not(c) => writeln!(f, "  n{i} = not n{c}")?,
                Node::Check(c) => writeln!(f, "  n{i} = check c{c}")?,
            }
        }
        for (i, c) in self.checks.iter().enumerate() {
            write!(f, "  c{i} = ")?;
            write_src(f, &c.lhs)?;
            if c.list {
                f.write_str(" (list)")?;
            }
            f.write_str(" ")?;
            write_test(f, &c.test)?;
            writeln!(f)?;
        }
        Ok(())
    }
}

fn write_src<F: fmt::Debug>(f: &mut fmt::Formatter<'_>, s: &Src<F>) -> fmt::Result {
    match s {
        Src::Field(h) => write!(f, "{h:?}"),
        Src::Lit(v) => write!(f, "{:?}", String::from_utf8_lossy(v)),
        Src::List(items) => {
            f.write_str("(")?;
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write_src(f, it)?;
            }
            f.write_str(")")
        }
        Src::Apply { func, args, arg } => {
            write!(f, "{}(", func.name())?;
            for (i, it) in args.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write_src(f, it)?;
            }
            f.write_str(")")?;
            if let Some(a) = arg {
                write!(f, "[{a}]")?;
            }
            Ok(())
        }
    }
}

fn write_pred(f: &mut fmt::Formatter<'_>, p: &Pred) -> fmt::Result {
    let not = if p.negate { "!" } else { "" };
    let lossy = |v: &[u8]| format!("{:?}", String::from_utf8_lossy(v));
    match &p.kind {
        PredKind::BytesEq(v) => write!(f, "{not}bytes= {}", lossy(v)),
        PredKind::BytesOrd(op, v) => write!(f, "strcmp{op} {}", lossy(v)),
        PredKind::NumCmp(op, n) => write!(f, "{not}num{op} {n}"),
        PredKind::IpEq(ip) => write!(f, "{not}ip= {ip}"),
        PredKind::NetEq(ip, b) => write!(f, "{not}net= {ip}/{b}"),
        PredKind::Contains(fi) => write!(f, "contains {}", lossy(fi.needle())),
        PredKind::IContains(_) => f.write_str("icontains <ascii-folded needle>"),
        PredKind::StartsWith(v) => write!(f, "startswith {}", lossy(v)),
        PredKind::EndsWith(v) => write!(f, "endswith {}", lossy(v)),
        PredKind::Glob(g) => write!(f, "glob {g:?}"),
        PredKind::Regex(r) => write!(f, "regex {:?}", r.as_str()),
    }
}

fn write_test<F: fmt::Debug>(f: &mut fmt::Formatter<'_>, t: &Test<F>) -> fmt::Result {
    match t {
        Test::Exists => f.write_str("exists"),
        Test::Pred(p) => write_pred(f, p),
        Test::Set { all, set } => {
            let op = if *all { "in" } else { "intersects" };
            let n = match set {
                ValueSet::Bytes(s) => {
                    // Sorted, so the listing is stable.
                    let mut items: Vec<String> = s
                        .iter()
                        .map(|v| format!("{:?}", String::from_utf8_lossy(v)))
                        .collect();
                    items.sort();
                    return write!(f, "{op} ({})", items.join(", "));
                }
                ValueSet::Num(s) => s.len(),
                ValueSet::Ip(s) => s.len(),
                ValueSet::Net(s) => s.len(),
            };
            write!(f, "{op} set of {n}")
        }
        Test::PMatch(p) => write!(f, "pmatch {} paths", p.len()),
        Test::Modifier { modifier, preds } => {
            write!(f, "{} [", modifier.name())?;
            for (i, p) in preds.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write_pred(f, p)?;
            }
            f.write_str("]")
        }
        Test::Dynamic { op, rhs, .. } => {
            write!(f, "{op} ")?;
            write_src(f, rhs)
        }
    }
}
