//! Compiler-style rendering of an error: the message, the offending line, and a caret line.
//!
//! ```text
//! error: expected a ')' token
//!  --> 1:10
//!   |
//! 1 | (a.b = 1 or
//!   |          ^
//! ```
//!
//! For a node that came from a macro, the snippet is the macro's text and a note names the macro
//! and where the condition used it.

use crate::syntax::{Origin, Span};

/// Renders `message` with a caret under `span` of `source`; `origin` (if any) says the span is
/// in a macro's text instead, and that text is shown.
#[must_use]
pub fn render(message: &str, source: &str, span: Span, origin: Option<&Origin>) -> String {
    let mut out = format!("error: {message}\n");
    match origin {
        None => snippet(&mut out, source, span, None),
        Some(o) => {
            snippet(&mut out, &o.source, span, Some(&o.macro_name));
            let mut cur = Some(o);
            while let Some(o) = cur {
                let (text, where_) = match &o.parent {
                    Some(p) => (&*p.source, format!("macro '{}'", p.macro_name)),
                    None => (source, "the condition".to_owned()),
                };
                let (line, col) = line_col(text, o.used_at.start as usize);
                out.push_str(&format!(
                    "  = note: expanded from macro '{}', used at {line}:{col} of {where_}\n",
                    o.macro_name
                ));
                cur = o.parent.as_deref();
            }
        }
    }
    out
}

/// 1-based line and column (in characters) of a byte offset; lines end at `\n`.
#[must_use]
pub fn line_col(text: &str, idx: usize) -> (usize, usize) {
    let idx = floor_char_boundary(text, idx.min(text.len()));
    let before = &text[..idx];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |p| p + 1);
    (line, text[line_start..idx].chars().count() + 1)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn snippet(out: &mut String, text: &str, span: Span, macro_name: Option<&str>) {
    let start = floor_char_boundary(text, (span.start as usize).min(text.len()));
    let (line, col) = line_col(text, start);
    let line_start = text[..start].rfind('\n').map_or(0, |p| p + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |p| start + p);
    let line_text = text[line_start..line_end].trim_end_matches('\r');
    let span_end = floor_char_boundary(text, (span.end as usize).clamp(start, line_end));
    let width = text[start..span_end].chars().count().max(1);
    let gutter = line.to_string().len();
    let pad = " ".repeat(gutter);
    match macro_name {
        Some(m) => out.push_str(&format!("{pad}--> macro '{m}' {line}:{col}\n")),
        None => out.push_str(&format!("{pad}--> {line}:{col}\n")),
    }
    out.push_str(&format!("{pad} |\n{line} | {line_text}\n"));
    out.push_str(&format!(
        "{pad} | {}{}\n",
        " ".repeat(col - 1),
        "^".repeat(width)
    ));
}
