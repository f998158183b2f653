//! Stage 1, syntax: condition text → [`Ast`].
//!
//! [`parse`] follows libsinsp's parser (libs 0.25 plus the `\xHH` escape of libs master) token
//! for token: the same accepted language, the same node positions and the same error messages.
//! See [`parse`] for the grammar.

pub mod ast;
pub mod error;
pub mod escape;
mod lex;
mod parse;
pub mod token;

pub use ast::{
    Ast, Check, CheckRef, Expr, ExprKind, FieldRef, Ident, ListLit, Literal, Modifier, Operand,
    OperandKind, Operator, Origin, Rhs, Span, Transform, Transformer,
};
pub use error::{ParseError, ParseErrorKind};
pub use parse::{ParseOptions, falco_line_col, parse, parse_with};
