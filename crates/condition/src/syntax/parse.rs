//! The recursive-descent parser: one function per production of libsinsp's grammar
//! (`userspace/libsinsp/filter/parser.h`), tokens from [`super::lex`].
//!
//! ```text
//! Expr        ::= Or
//! Or          ::= And ( 'or' (Blank And | '(' Embedded) )*
//! And         ::= Not ( 'and' (Blank Not | '(' Embedded) )*
//! Not         ::= ( 'not' Space+ )* ( 'not(' Embedded | Check )
//! Embedded    ::= Expr ')'
//! Check       ::= '(' Embedded | Field Condition | Transformer Condition | Identifier
//! Field       ::= FieldName ( '[' (QuotedStr | FieldArgBareStr) ']' )?
//! Transformer ::= ('tolower'|'toupper'|'b64'|'basename'|'len') '(' (Field | Transformer) ')' Arg?
//!               | ('join'|'concat'|'getopt') '(' TArg (',' TArg)* ')' Arg?
//! TArg        ::= Field | Transformer | QuotedStr | Number | '(' (TItem (',' TItem)*)? ')'
//! Condition   ::= 'exists'
//!               | NumOp (HexNumber | Number | RhsTransformer)
//!               | StrOp Modifier ( List | Identifier )
//!               | StrOp (RhsTransformer | QuotedStr | BareStr)
//!               | ListOp (List | RhsTransformer | Identifier)
//! RhsTransformer ::= 'val(' Field ')' Arg? | Transformer
//! List        ::= '(' ( Value (',' Value)* )? ')'     Value ::= QuotedStr | BareStr
//! NumOp       ::= '<=' | '<' | '>=' | '>'
//! StrOp       ::= '==' | '=' | '!=' | ('glob' | 'iglob' | 'contains' | 'icontains' | 'bcontains'
//!                 | 'startswith' | 'bstartswith' | 'endswith' | 'regex') Blank
//! ListOp      ::= 'intersects' | 'in' | 'pmatch'
//! Modifier    ::= Blank ('oneof' | 'anyof' | 'allof') Blank      (not before 'and' / 'or')
//! ```
//!
//! Blanks are allowed between all tokens except inside a field name and its `[`, and between a
//! transformer name and its `(`. Every production counts one level of depth, as libsinsp's
//! `depth_guard` does, so the nesting limit triggers on the same inputs.

use super::ast::{
    Ast, Check, Expr, ExprKind, FieldRef, Ident, ListLit, Literal, Modifier, Operand, OperandKind,
    Operator, Rhs, Span, Transform, Transformer,
};
use super::error::{ParseError, ParseErrorKind};
use super::escape::unescape_str;
use super::lex;
use nom::IResult;
use std::sync::Arc;

/// Parser settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseOptions {
    /// The nesting limit (libsinsp counts one level per grammar production). libsinsp's default
    /// is 100; Falco uses [`ParseOptions::FALCO_RULES_MAX_DEPTH`] for rule conditions.
    pub max_depth: u32,
}

impl ParseOptions {
    /// The depth limit Falco sets for rules-file conditions.
    pub const FALCO_RULES_MAX_DEPTH: u32 = 1000;

    /// Falco's settings for rules-file conditions.
    #[must_use]
    pub fn falco_rules() -> Self {
        Self {
            max_depth: Self::FALCO_RULES_MAX_DEPTH,
        }
    }
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self { max_depth: 100 }
    }
}

/// Parses a condition with libsinsp's default depth limit (100).
///
/// # Errors
/// A [`ParseError`] with libsinsp's message and the byte position.
pub fn parse(text: &str) -> Result<Ast, ParseError> {
    parse_with(text, &ParseOptions::default())
}

/// Parses a condition with explicit options.
///
/// # Errors
/// A [`ParseError`] with libsinsp's message and the byte position.
pub fn parse_with(text: &str, options: &ParseOptions) -> Result<Ast, ParseError> {
    if text.is_empty() {
        return Err(ParseError {
            kind: ParseErrorKind::Empty,
            span: Span::default(),
        });
    }
    let mut p = Parser {
        src: text,
        pos: 0,
        depth: 0,
        max_depth: options.max_depth,
        last: String::new(),
    };
    let expr = p.parse_or()?;
    if p.pos != text.len() {
        return Err(ParseError {
            kind: ParseErrorKind::TrailingInput(p.last.clone()),
            span: Span::new(p.pos, text.len()),
        });
    }
    Ok(Ast {
        expr,
        source: Arc::from(text),
    })
}

/// libsinsp's `pos_info` for a byte offset: 1-based line and column, where both `\r` and `\n`
/// start a new line and columns count bytes.
#[must_use]
pub fn falco_line_col(text: &str, idx: usize) -> (u32, u32) {
    let (mut line, mut col) = (1u32, 1u32);
    for &c in text.as_bytes().iter().take(idx) {
        col += 1;
        if c == b'\r' || c == b'\n' {
            col = 1;
            line += 1;
        }
    }
    (line, col)
}

type R<T> = Result<T, ParseError>;

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: u32,
    max_depth: u32,
    last: String,
}

const STR_WORD_OPS: [(&str, Operator); 9] = [
    ("glob", Operator::Glob),
    ("iglob", Operator::IGlob),
    ("contains", Operator::Contains),
    ("icontains", Operator::IContains),
    ("bcontains", Operator::BContains),
    ("startswith", Operator::StartsWith),
    ("bstartswith", Operator::BStartsWith),
    ("endswith", Operator::EndsWith),
    ("regex", Operator::Regex),
];

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn err(&self, kind: ParseErrorKind) -> ParseError {
        ParseError {
            kind,
            span: Span::new(self.pos, self.pos),
        }
    }

    fn guarded<T>(&mut self, f: impl FnOnce(&mut Self) -> R<T>) -> R<T> {
        self.depth += 1;
        let r = if self.depth >= self.max_depth {
            Err(self.err(ParseErrorKind::DepthExceeded(self.max_depth)))
        } else {
            f(self)
        };
        self.depth -= 1;
        r
    }

    fn lex_blank(&mut self) -> bool {
        let n = lex::blank(self.rest()).map_or(0, |(_, b)| b.len());
        self.pos += n;
        n > 0
    }

    fn lex_str(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            s.clone_into(&mut self.last);
            true
        } else {
            false
        }
    }

    fn lex_with(&mut self, f: fn(&str) -> IResult<&str, &str>) -> Option<&'a str> {
        let rest = self.rest();
        match f(rest) {
            Ok((_, tok)) => {
                self.pos += tok.len();
                tok.clone_into(&mut self.last);
                Some(tok)
            }
            Err(_) => None,
        }
    }

    /// A quoted string: `Ok(None)` when there is none here; an unescape error leaves the cursor
    /// after the string, as libsinsp does.
    fn lex_quoted(&mut self) -> R<Option<Vec<u8>>> {
        let Some((_, tok)) = lex::quoted(self.rest()) else {
            return Ok(None);
        };
        let start = self.pos;
        self.pos += tok.len();
        match unescape_str(tok.as_bytes()) {
            Ok(v) => {
                self.last = String::from_utf8_lossy(&v).into_owned();
                Ok(Some(v))
            }
            Err(e) => Err(ParseError {
                kind: ParseErrorKind::Escape(e),
                span: Span::new(start, self.pos),
            }),
        }
    }

    /// `tolower(` etc. (not `val(`).
    fn lex_transformer_open(&mut self) -> Option<Transformer> {
        let rest = self.rest();
        for t in Transformer::ALL {
            let name = t.name();
            if rest.starts_with(name) && rest[name.len()..].starts_with('(') {
                self.pos += name.len() + 1;
                self.last = format!("{name}(");
                return Some(t);
            }
        }
        None
    }

    fn parse_or(&mut self) -> R<Expr> {
        self.guarded(|p| p.parse_binary_chain("or"))
    }

    fn parse_and(&mut self) -> R<Expr> {
        self.guarded(|p| p.parse_binary_chain("and"))
    }

    fn parse_binary_chain(&mut self, kw: &'static str) -> R<Expr> {
        let start = self.pos;
        let next = |p: &mut Self| {
            if kw == "or" {
                p.parse_and()
            } else {
                p.parse_not()
            }
        };
        self.lex_blank();
        let mut children = vec![next(self)?];
        self.lex_blank();
        while self.lex_str(kw) {
            let child = if self.lex_blank() {
                next(self)?
            } else if self.lex_str("(") {
                self.parse_embedded_remainder()?
            } else {
                return Err(self.err(ParseErrorKind::ExpectedBlankOrParen(kw)));
            };
            children.push(child);
            self.lex_blank();
        }
        if children.len() == 1 {
            return Ok(children.pop().unwrap_or_else(unreachable_expr));
        }
        let end = children.last().map_or(self.pos, |c| c.span.end as usize);
        let kind = if kw == "or" {
            ExprKind::Or(children)
        } else {
            ExprKind::And(children)
        };
        Ok(Expr {
            kind,
            span: Span::new(start, end),
            origin: None,
        })
    }

    fn parse_not(&mut self) -> R<Expr> {
        self.guarded(|p| {
            let start = p.pos;
            p.lex_blank();
            let mut is_not = false;
            while p.lex_with(lex::not_blank).is_some() {
                is_not = !is_not;
            }
            let child = if p.lex_str("not(") {
                is_not = !is_not;
                p.parse_embedded_remainder()?
            } else {
                p.parse_check()?
            };
            if is_not {
                let span = Span::new(start, child.span.end as usize);
                Ok(Expr {
                    kind: ExprKind::Not(Box::new(child)),
                    span,
                    origin: None,
                })
            } else {
                Ok(child)
            }
        })
    }

    fn parse_embedded_remainder(&mut self) -> R<Expr> {
        self.guarded(|p| {
            p.lex_blank();
            let child = p.parse_or()?;
            p.lex_blank();
            if !p.lex_str(")") {
                return Err(p.err(ParseErrorKind::ExpectedCloseParen));
            }
            Ok(child)
        })
    }

    fn parse_check(&mut self) -> R<Expr> {
        self.guarded(|p| {
            let start = p.pos;
            p.lex_blank();
            if p.lex_str("(") {
                return p.parse_embedded_remainder();
            }
            if let Some(name) = p.lex_with(lex::field_name) {
                let lhs = p.parse_field_remainder(name, start)?;
                return p.parse_condition(lhs, start);
            }
            if let Some(t) = p.lex_transformer_open() {
                p.lex_blank();
                let lhs = p.parse_transformer_remainder(t, start)?;
                return p.parse_condition(lhs, start);
            }
            if let Some(id) = p.lex_with(lex::identifier) {
                let span = Span::new(start, p.pos);
                return Ok(Expr {
                    kind: ExprKind::Macro(Ident {
                        name: id.to_owned(),
                        span,
                    }),
                    span,
                    origin: None,
                });
            }
            Err(p.err(ParseErrorKind::ExpectedCheck))
        })
    }

    /// The optional `[arg]` right after a field name or a transformer's `)`.
    fn parse_opt_arg(&mut self) -> R<Option<String>> {
        if !self.lex_str("[") {
            return Ok(None);
        }
        let arg = if let Some(q) = self.lex_quoted()? {
            String::from_utf8_lossy(&q).into_owned()
        } else if let Some(b) = self.lex_with(lex::field_arg_bare) {
            b.to_owned()
        } else {
            return Err(self.err(ParseErrorKind::ExpectedFieldArg));
        };
        if !self.lex_str("]") {
            return Err(self.err(ParseErrorKind::ExpectedCloseBracket));
        }
        Ok(Some(arg))
    }

    fn parse_field_remainder(&mut self, name: &str, start: usize) -> R<Operand> {
        self.guarded(|p| {
            let arg = p.parse_opt_arg()?;
            Ok(Operand {
                kind: OperandKind::Field(FieldRef {
                    name: name.to_owned(),
                    arg,
                }),
                span: Span::new(start, p.pos),
            })
        })
    }

    /// After `name(` and blanks.
    fn parse_transformer_remainder(&mut self, func: Transformer, start: usize) -> R<Operand> {
        self.guarded(|p| {
            p.lex_blank();
            let args = if func.is_multi_arg() {
                let mut args = Vec::new();
                loop {
                    p.lex_blank();
                    args.push(p.parse_transformer_arg()?);
                    p.lex_blank();
                    if !p.lex_str(",") {
                        break;
                    }
                }
                args
            } else {
                let arg_pos = p.pos;
                let child = if let Some(t) = p.lex_transformer_open() {
                    p.lex_blank();
                    p.parse_transformer_remainder(t, arg_pos)?
                } else if let Some(name) = p.lex_with(lex::field_name) {
                    p.parse_field_remainder(name, arg_pos)?
                } else {
                    return Err(p.err(ParseErrorKind::ExpectedTransformerArg));
                };
                vec![child]
            };
            p.lex_blank();
            if !p.lex_str(")") {
                return Err(p.err(ParseErrorKind::ExpectedTransformerClose));
            }
            let arg = p.parse_opt_arg()?;
            Ok(Operand {
                kind: OperandKind::Transform(Transform { func, args, arg }),
                span: Span::new(start, p.pos),
            })
        })
    }

    /// One argument of `join` / `concat` / `getopt`.
    fn parse_transformer_arg(&mut self) -> R<Operand> {
        let start = self.pos;
        if self.lex_str("(") {
            let mut items = Vec::new();
            self.lex_blank();
            if !self.lex_str(")") {
                loop {
                    self.lex_blank();
                    items.push(self.parse_transformer_item(false)?);
                    self.lex_blank();
                    if !self.lex_str(",") {
                        break;
                    }
                }
                if !self.lex_str(")") {
                    return Err(self.err(ParseErrorKind::ExpectedCloseParen));
                }
            }
            return Ok(Operand {
                kind: OperandKind::List(items),
                span: Span::new(start, self.pos),
            });
        }
        self.parse_transformer_item(true)
    }

    fn parse_transformer_item(&mut self, top: bool) -> R<Operand> {
        let start = self.pos;
        if let Some(t) = self.lex_transformer_open() {
            self.lex_blank();
            return self.parse_transformer_remainder(t, start);
        }
        if let Some(name) = self.lex_with(lex::field_name) {
            return self.parse_field_remainder(name, start);
        }
        let lit = if let Some(q) = self.lex_quoted()? {
            q
        } else if let Some(n) = self
            .lex_with(lex::hex_number)
            .or_else(|| self.lex_with(lex::number))
        {
            n.as_bytes().to_vec()
        } else {
            return Err(self.err(if top {
                ParseErrorKind::ExpectedTransformerArg
            } else {
                ParseErrorKind::ExpectedTransformerListItem
            }));
        };
        let span = Span::new(start, self.pos);
        Ok(Operand {
            kind: OperandKind::Literal(Literal { value: lit, span }),
            span,
        })
    }

    fn parse_condition(&mut self, lhs: Operand, start: usize) -> R<Expr> {
        self.guarded(|p| {
            p.lex_blank();
            let check = if p.lex_str("exists") {
                Check {
                    lhs,
                    op: Operator::Exists,
                    modifier: None,
                    rhs: Rhs::None,
                }
            } else {
                p.lex_blank();
                if let Some(op) = p.lex_num_op() {
                    let rhs = p.parse_num_value_or_transformer()?;
                    Check {
                        lhs,
                        op,
                        modifier: None,
                        rhs,
                    }
                } else if let Some((op, blank_after)) = p.lex_str_op() {
                    let blank_after = blank_after || p.lex_blank();
                    if blank_after && let Some((modifier, rhs)) = p.try_parse_modifier()? {
                        Check {
                            lhs,
                            op,
                            modifier: Some(modifier),
                            rhs,
                        }
                    } else {
                        let rhs = p.parse_str_value_or_transformer(false)?;
                        Check {
                            lhs,
                            op,
                            modifier: None,
                            rhs,
                        }
                    }
                } else if let Some(op) = p.lex_list_op() {
                    let rhs = p.parse_list_value_or_transformer()?;
                    Check {
                        lhs,
                        op,
                        modifier: None,
                        rhs,
                    }
                } else {
                    return Err(p.err(ParseErrorKind::ExpectedOperator));
                }
            };
            Ok(Expr {
                kind: ExprKind::Check(Box::new(check)),
                span: Span::new(start, p.pos),
                origin: None,
            })
        })
    }

    fn lex_num_op(&mut self) -> Option<Operator> {
        for (s, op) in [
            ("<=", Operator::Le),
            ("<", Operator::Lt),
            (">=", Operator::Ge),
            (">", Operator::Gt),
        ] {
            if self.lex_str(s) {
                return Some(op);
            }
        }
        None
    }

    /// A string operator, and whether it already consumed a trailing blank (word operators).
    fn lex_str_op(&mut self) -> Option<(Operator, bool)> {
        for (s, op) in [
            ("==", Operator::EqEq),
            ("=", Operator::Eq),
            ("!=", Operator::Ne),
        ] {
            if self.lex_str(s) {
                return Some((op, false));
            }
        }
        let rest = self.rest();
        for (s, op) in STR_WORD_OPS {
            if let Some(after) = rest.strip_prefix(s)
                && after.starts_with(lex::is_blank)
            {
                self.pos += s.len();
                s.clone_into(&mut self.last);
                self.lex_blank();
                return Some((op, true));
            }
        }
        None
    }

    fn lex_list_op(&mut self) -> Option<Operator> {
        for (s, op) in [
            ("intersects", Operator::Intersects),
            ("in", Operator::In),
            ("pmatch", Operator::PMatch),
        ] {
            if self.lex_str(s) {
                return Some(op);
            }
        }
        None
    }

    /// `oneof|anyof|allof` + blanks + (list | identifier other than `and`/`or`); backtracks
    /// (returns `None`) otherwise, so the keyword is then read as a plain value.
    fn try_parse_modifier(&mut self) -> R<Option<(Modifier, Rhs)>> {
        let save = (self.pos, self.last.clone());
        let rest = self.rest();
        let Some(m) = [Modifier::OneOf, Modifier::AnyOf, Modifier::AllOf]
            .into_iter()
            .find(|m| {
                rest.strip_prefix(m.name())
                    .is_some_and(|a| a.starts_with(lex::is_blank))
            })
        else {
            return Ok(None);
        };
        self.pos += m.name().len();
        self.lex_blank();
        let start = self.pos;
        if self.lex_str("(") {
            let items = self.parse_list_items()?;
            return Ok(Some((
                m,
                Rhs::List(ListLit {
                    items,
                    span: Span::new(start, self.pos),
                }),
            )));
        }
        if let Some(id) = self.lex_with(lex::identifier)
            && id != "and"
            && id != "or"
        {
            let span = Span::new(start, self.pos);
            return Ok(Some((
                m,
                Rhs::Value(Literal {
                    value: id.as_bytes().to_vec(),
                    span,
                }),
            )));
        }
        (self.pos, self.last) = save;
        Ok(None)
    }

    fn parse_num_value_or_transformer(&mut self) -> R<Rhs> {
        self.guarded(|p| {
            p.lex_blank();
            let start = p.pos;
            if let Some(o) = p.try_parse_transformer_or_val()? {
                return Ok(Rhs::Operand(o));
            }
            if let Some(n) = p
                .lex_with(lex::hex_number)
                .or_else(|| p.lex_with(lex::number))
            {
                return Ok(Rhs::Value(Literal {
                    value: n.as_bytes().to_vec(),
                    span: Span::new(start, p.pos),
                }));
            }
            Err(p.err(ParseErrorKind::ExpectedNumber))
        })
    }

    fn parse_str_value_or_transformer(&mut self, no_transformer: bool) -> R<Rhs> {
        self.guarded(|p| {
            p.lex_blank();
            let start = p.pos;
            if !no_transformer && let Some(o) = p.try_parse_transformer_or_val()? {
                return Ok(Rhs::Operand(o));
            }
            let v = if let Some(q) = p.lex_quoted()? {
                q
            } else if let Some(b) = p.lex_with(lex::bare_str) {
                b.as_bytes().to_vec()
            } else if no_transformer {
                return Err(p.err(ParseErrorKind::ExpectedListValue));
            } else {
                return Err(p.err(ParseErrorKind::ExpectedString));
            };
            Ok(Rhs::Value(Literal {
                value: v,
                span: Span::new(start, p.pos),
            }))
        })
    }

    /// After `(`: `( v, v, … )`, empty allowed. As libsinsp does, any error while reading the
    /// first value means "empty list" and the `)` is then required.
    fn parse_list_items(&mut self) -> R<Vec<Literal>> {
        let mut items = Vec::new();
        self.lex_blank();
        let save = self.pos;
        match self.parse_str_value_or_transformer(true) {
            Ok(Rhs::Value(v)) => {
                items.push(v);
                self.lex_blank();
                while self.lex_str(",") {
                    if let Rhs::Value(v) = self.parse_str_value_or_transformer(true)? {
                        items.push(v);
                    }
                    self.lex_blank();
                }
            }
            Ok(_) => {}
            Err(e) => {
                // Escape errors leave the cursor after the bad string, like libsinsp.
                if !matches!(e.kind, ParseErrorKind::Escape(_)) {
                    self.pos = save;
                }
            }
        }
        if !self.lex_str(")") {
            return Err(self.err(ParseErrorKind::ExpectedCloseParen));
        }
        Ok(items)
    }

    fn parse_list_value_or_transformer(&mut self) -> R<Rhs> {
        self.guarded(|p| {
            p.lex_blank();
            let start = p.pos;
            if p.lex_str("(") {
                let items = p.parse_list_items()?;
                return Ok(Rhs::List(ListLit {
                    items,
                    span: Span::new(start, p.pos),
                }));
            }
            if let Some(o) = p.try_parse_transformer_or_val()? {
                return Ok(Rhs::Operand(o));
            }
            if let Some(id) = p.lex_with(lex::identifier) {
                return Ok(Rhs::Value(Literal {
                    value: id.as_bytes().to_vec(),
                    span: Span::new(start, p.pos),
                }));
            }
            Err(p.err(ParseErrorKind::ExpectedList))
        })
    }

    fn try_parse_transformer_or_val(&mut self) -> R<Option<Operand>> {
        self.guarded(|p| {
            p.lex_blank();
            let start = p.pos;
            if p.lex_str("val(") {
                p.lex_blank();
                let field_pos = p.pos;
                let Some(name) = p.lex_with(lex::field_name) else {
                    return Err(p.err(ParseErrorKind::ExpectedFieldInVal));
                };
                let child = p.parse_field_remainder(name, field_pos)?;
                p.lex_blank();
                if !p.lex_str(")") {
                    return Err(p.err(ParseErrorKind::ExpectedTransformerClose));
                }
                let arg = p.parse_opt_arg()?;
                return Ok(Some(Operand {
                    kind: OperandKind::Transform(Transform {
                        func: Transformer::Val,
                        args: vec![child],
                        arg,
                    }),
                    span: Span::new(start, p.pos),
                }));
            }
            if let Some(t) = p.lex_transformer_open() {
                p.lex_blank();
                return p.parse_transformer_remainder(t, start).map(Some);
            }
            Ok(None)
        })
    }
}

fn unreachable_expr() -> Expr {
    Expr {
        kind: ExprKind::Or(Vec::new()),
        span: Span::default(),
        origin: None,
    }
}
