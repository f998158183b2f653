//! Parse errors. `Display` of [`ParseErrorKind`] is libsinsp's message, verbatim.

use std::fmt;

use super::ast::{Operator, Span, Transformer};
use super::escape::UnescapeError;
use crate::render;

/// A parse error: what was expected, and where (a byte span in the condition text).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct ParseError {
    /// What went wrong.
    pub kind: ParseErrorKind,
    /// Where: the cursor position when the parser gave up (often zero-width).
    pub span: Span,
}

impl ParseError {
    /// Renders like a compiler: the message, then the line of `source` with a caret under the
    /// span.
    #[must_use]
    pub fn render(&self, source: &str) -> String {
        render::render(&self.to_string(), source, self.span, None)
    }
}

/// Every way parsing fails. Each variant documents an input that triggers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// `""`.
    Empty,
    /// 100 000 `(` (the limit is [`crate::ParseOptions::max_depth`]).
    DepthExceeded(u32),
    /// `a b`: text left after a complete expression; carries the last token read.
    TrailingInput(String),
    /// `a andb`, `a or-b`: `and` / `or` not followed by a blank or `(`.
    ExpectedBlankOrParen(&'static str),
    /// `and a`, `a and`: no check where one must start.
    ExpectedCheck,
    /// `(a.b = 1`, `x in (a b)`: a missing `)`.
    ExpectedCloseParen,
    /// `f[] = 1`: an empty or invalid field argument.
    ExpectedFieldArg,
    /// `f["x" = 1`: a missing `]`.
    ExpectedCloseBracket,
    /// `a.b invalidop x`.
    ExpectedOperator,
    /// `a.b > x`: a numeric operator needs a number.
    ExpectedNumber,
    /// `a.b = ,`.
    ExpectedString,
    /// `a.b in (x,)`: a list item after a comma.
    ExpectedListValue,
    /// `a.b in 1`.
    ExpectedList,
    /// `a.b = val(x)`: `val` needs a field.
    ExpectedFieldInVal,
    /// `tolower(x)`: a transformer needs a field or a nested transformer.
    ExpectedTransformerArg,
    /// `join("-", (x.y, abc))`: a transformer list item must be a field, a transformer, a quoted
    /// string or a number.
    ExpectedTransformerListItem,
    /// `tolower(a.b c)`.
    ExpectedTransformerClose,
    /// `a.b = "\q"`: a bad escape in a quoted string.
    Escape(UnescapeError),
}

fn quoted_list(items: impl Iterator<Item = &'static str>) -> String {
    items
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn transformers_with_val() -> String {
    quoted_list(std::iter::once("val").chain(Transformer::ALL.iter().map(|t| t.name())))
}

fn transformers_without_val() -> String {
    quoted_list(Transformer::ALL.iter().map(|t| t.name()))
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseErrorKind::Empty => f.write_str("filter input string is empty"),
            ParseErrorKind::DepthExceeded(n) => write!(f, "exceeded max depth limit of {n}"),
            ParseErrorKind::TrailingInput(last) => {
                write!(f, "unexpected token after '{last}', expecting 'or', 'and'")
            }
            ParseErrorKind::ExpectedBlankOrParen(kw) => {
                write!(f, "expected blank or '(' after '{kw}'")
            }
            ParseErrorKind::ExpectedCheck => {
                f.write_str("expected a '(' token, a field check, or an identifier")
            }
            ParseErrorKind::ExpectedCloseParen => f.write_str("expected a ')' token"),
            ParseErrorKind::ExpectedFieldArg => {
                f.write_str("expected a valid field argument: a quoted string or a bare string")
            }
            ParseErrorKind::ExpectedCloseBracket => f.write_str("expected a ']' token"),
            ParseErrorKind::ExpectedOperator => write!(
                f,
                "expected a valid check operator: one of {}",
                quoted_list(Operator::ALL.iter().map(|o| o.as_str()))
            ),
            ParseErrorKind::ExpectedNumber => write!(
                f,
                "expected a number value or a field with a valid transformer: {}",
                transformers_with_val()
            ),
            ParseErrorKind::ExpectedString => write!(
                f,
                "expected a string value or a field with a valid transformer: {}",
                transformers_with_val()
            ),
            ParseErrorKind::ExpectedListValue => f.write_str("expected a string value"),
            ParseErrorKind::ExpectedList => write!(
                f,
                "expected a list, an identifier, or a field with a valid transformer: {}",
                transformers_with_val()
            ),
            ParseErrorKind::ExpectedFieldInVal => {
                f.write_str("expected a field within 'val' transformer")
            }
            ParseErrorKind::ExpectedTransformerArg => write!(
                f,
                "expected a field or a nested valid transformer: {}",
                transformers_without_val()
            ),
            ParseErrorKind::ExpectedTransformerListItem => f.write_str(
                "expected a field, a transformer, a quoted string or a number in the transformer list",
            ),
            ParseErrorKind::ExpectedTransformerClose => {
                f.write_str("expected a ')' token closing the transformer")
            }
            ParseErrorKind::Escape(e) => write!(f, "{e}"),
        }
    }
}
