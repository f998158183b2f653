//! Output templates: a rule's `output` string compiled once into literal segments and field
//! tokens bound to schema handles (falco-compat.md §5.1).
//!
//! [`OutputTemplate::compile`] lexes every `%` token the way libsinsp's event formatter does:
//!
//! - `%field` and `%field[arg]`, lexed by the condition lexer
//!   ([`kaudit_condition::syntax::token`]: field-name rule
//!   `[a-zA-Z]+[a-zA-Z0-9_]*(\.[a-zA-Z]+[a-zA-Z0-9_]*)+`, bare or quoted argument, the
//!   condition's escapes);
//! - the **longest prefix that compiles** is the field: `%ka.verbX` is `ka.verb` then the
//!   literal `X`;
//! - `%<digits>field` pads (with spaces) or truncates the rendered value to that many bytes, at
//!   most [`MAX_WIDTH`];
//! - transformer tokens such as `%toupper(ka.user.name)`, applied by the condition's transformer
//!   table ([`kaudit_condition::apply_transformer`]);
//! - a `%` at the very end is an error, and there is no escape for a literal `%`.
//!
//! Rendering never looks a name up: each token holds the handle the schema returned.
//! [`OutputTemplate::render_text`] writes Falco's text (`<NA>` for a missing value, `(a,b)` for
//! a list, lists capped at 1023 bytes), and [`OutputTemplate::render_fields`] gives the values for
//! the JSON alert's `output_fields` (arrays for lists, `null` for missing, nothing truncated).

use std::fmt::Write as _;

use crate::internal::write_json_str;
use kaudit_condition::syntax::token::{field_arg, field_name_len, identifier_len};
use kaudit_condition::{
    Event, FieldError, FieldInfo, Schema, Transformer, Value, Values, apply_transformer,
};

/// The largest `%<digits>` width a template may ask for (64 KiB): a wider one would pad every
/// alert with that many spaces (a typo of a few digits could exhaust memory).
pub const MAX_WIDTH: usize = 65_536;

/// What a missing value renders as in text (Falco formats always allow missing values).
pub const MISSING: &str = "<NA>";

/// A rendered list is copied into a 1024-byte C buffer by libsinsp, so text keeps at most
/// this many bytes of it (`STRPROPERTY_STORAGE_SIZE - 1`).
pub const LIST_TEXT_LIMIT: usize = 1023;

/// An output string compiled against a schema. `F` is the schema's field handle.
#[derive(Clone, Debug)]
pub struct OutputTemplate<F> {
    text: String,
    segments: Vec<Segment<F>>,
    /// The segment index of each distinct token key, sorted by key (the JSON `output_fields`
    /// order), computed once at compile time.
    json_order: Vec<usize>,
}

/// One piece of a compiled template.
#[derive(Clone, Debug)]
pub enum Segment<F> {
    /// Text copied as is.
    Literal(String),
    /// A `%` token.
    Token(Token<F>),
}

/// A compiled `%` token.
#[derive(Clone, Debug)]
pub struct Token<F> {
    key: String,
    expr: Expr<F>,
    list: bool,
    width: Option<usize>,
}

/// The transformers an output token accepts (falco-compat.md §1.4): condition's single-value
/// ones, `toupper`, `tolower`, `b64`, `basename` and `len` (not `join`, `concat`, `getopt`,
/// `val`). They are applied by [`kaudit_condition::apply_transformer`], the table conditions use.
fn output_transformer(name: &str) -> Option<Transformer> {
    Transformer::from_name(name).filter(|t| !t.is_multi_arg())
}

#[derive(Clone, Debug)]
enum Expr<F> {
    Field(F),
    Transform(Transformer, Box<Expr<F>>),
}

/// Why an output string does not compile. Offsets are byte offsets into the output string.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The string ends with a `%`.
    #[error("invalid formatting syntax: formatting cannot end with a %")]
    TrailingPercent {
        /// Offset of the final `%`.
        offset: usize,
    },
    /// The text after a `%` is neither a field nor a transformer.
    #[error("invalid formatting token at offset {offset}: '%{text}' is not a field")]
    InvalidToken {
        /// Offset of the `%`.
        offset: usize,
        /// Up to 32 characters following the `%`.
        text: String,
    },
    /// A field-shaped token names no field (no prefix of it compiles).
    #[error("invalid formatting token %{name}: nonexistent field {name}")]
    UnknownField {
        /// Offset of the `%`.
        offset: usize,
        /// The field name as lexed.
        name: String,
    },
    /// The field exists but its argument does not fit.
    #[error("invalid formatting token %{token}: {reason}")]
    BadField {
        /// Offset of the `%`.
        offset: usize,
        /// The token text (field and argument).
        token: String,
        /// The schema's reason.
        reason: String,
    },
    /// A `%<digits>` width above [`MAX_WIDTH`].
    #[error(
        "invalid formatting token at offset {offset}: width {width} is above the maximum of {MAX_WIDTH}"
    )]
    WidthTooLarge {
        /// Offset of the `%`.
        offset: usize,
        /// The width as written.
        width: String,
    },
    /// A transformer token is malformed (missing `)`, or no field inside).
    #[error("invalid formatting token at offset {offset}: {reason}")]
    BadTransformer {
        /// Offset of the `%`.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
}

impl FormatError {
    /// Byte offset of the `%` that starts the faulty token.
    #[must_use]
    pub fn offset(&self) -> usize {
        match self {
            FormatError::TrailingPercent { offset }
            | FormatError::InvalidToken { offset, .. }
            | FormatError::UnknownField { offset, .. }
            | FormatError::BadField { offset, .. }
            | FormatError::WidthTooLarge { offset, .. }
            | FormatError::BadTransformer { offset, .. } => *offset,
        }
    }

    /// Whether the error is an unknown field ([`FormatError::UnknownField`]).
    #[must_use]
    pub fn is_unknown_field(&self) -> bool {
        matches!(self, FormatError::UnknownField { .. })
    }

    /// Whether the message says `invalid formatting token` (every error but
    /// [`FormatError::TrailingPercent`]). That is what Falco's `err_is_unknown_type_or_field`
    /// looks for in an output error, so these are the errors `skip-if-unknown-filter` skips.
    #[must_use]
    pub fn is_invalid_token(&self) -> bool {
        !matches!(self, FormatError::TrailingPercent { .. })
    }
}

/// The value of one token for the JSON alert's `output_fields`.
///
/// It serializes as the plain JSON value (`null`, a string, a number, a boolean, an array of
/// strings), which is what Falco writes and falcosidekick reads.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum FieldValue {
    /// The field is missing: JSON `null`.
    Missing,
    /// A boolean.
    Bool(bool),
    /// An unsigned number (a numeric field, `len()`, `evt.time`).
    Uint(u64),
    /// A signed number.
    Int(i64),
    /// A scalar string.
    Str(String),
    /// A list field: a JSON array of strings.
    List(Vec<String>),
}

impl FieldValue {
    /// Appends the value as JSON text.
    pub fn write_json(&self, out: &mut String) {
        match self {
            FieldValue::Missing => out.push_str("null"),
            FieldValue::Str(s) => write_json_str(out, s),
            FieldValue::Uint(n) => {
                let _ = write!(out, "{n}");
            }
            FieldValue::Int(n) => {
                let _ = write!(out, "{n}");
            }
            FieldValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            FieldValue::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json_str(out, item);
                }
                out.push(']');
            }
        }
    }
}

impl<F: Clone> OutputTemplate<F> {
    /// Compiles an output string against `schema`.
    ///
    /// # Errors
    /// A [`FormatError`] naming the offending `%` token.
    pub fn compile<S: Schema<Field = F>>(text: &str, schema: &S) -> Result<Self, FormatError> {
        let bytes = text.as_bytes();
        let mut segments = Vec::new();
        let mut literal_start = 0;
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] != b'%' {
                i += 1;
                continue;
            }
            let offset = i;
            if i + 1 == bytes.len() {
                return Err(FormatError::TrailingPercent { offset });
            }
            if literal_start < i {
                segments.push(Segment::Literal(text[literal_start..i].to_owned()));
            }
            let mut pos = i + 1;
            let digits = bytes[pos..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            let width = if digits > 0 {
                let w = text[pos..pos + digits].parse::<usize>().map_err(|_| {
                    FormatError::InvalidToken {
                        offset,
                        text: snippet(&text[pos..]),
                    }
                })?;
                if w > MAX_WIDTH {
                    return Err(FormatError::WidthTooLarge {
                        offset,
                        width: text[pos..pos + digits].to_owned(),
                    });
                }
                pos += digits;
                Some(w)
            } else {
                None
            };
            let (expr, info_list, end) = lex_expr(text, pos, offset, schema)?;
            let key = text[pos..end].to_owned();
            segments.push(Segment::Token(Token {
                key,
                expr,
                list: info_list,
                width,
            }));
            i = end;
            literal_start = end;
        }
        if literal_start < bytes.len() {
            segments.push(Segment::Literal(text[literal_start..].to_owned()));
        }
        let mut json_order: Vec<usize> = Vec::new();
        for (i, seg) in segments.iter().enumerate() {
            if let Segment::Token(t) = seg {
                let seen = json_order.iter().any(|&j| match &segments[j] {
                    Segment::Token(u) => u.key == t.key,
                    Segment::Literal(_) => false,
                });
                if !seen {
                    json_order.push(i);
                }
            }
        }
        json_order.sort_by(|&a, &b| match (&segments[a], &segments[b]) {
            (Segment::Token(x), Segment::Token(y)) => x.key.cmp(&y.key),
            _ => std::cmp::Ordering::Equal,
        });
        Ok(OutputTemplate {
            text: text.to_owned(),
            segments,
            json_order,
        })
    }
}

impl<F> OutputTemplate<F> {
    /// The output string as written.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The compiled segments, in order.
    #[must_use]
    pub fn segments(&self) -> &[Segment<F>] {
        &self.segments
    }

    /// The `%` tokens, in order.
    pub fn tokens(&self) -> impl Iterator<Item = &Token<F>> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Token(t) => Some(t),
            Segment::Literal(_) => None,
        })
    }

    /// Appends the message (Falco's text rendering, without the time/priority prefix).
    pub fn render_text<E: Event<F>>(&self, event: &E, out: &mut String) {
        let mut values = Values::new();
        for seg in &self.segments {
            match seg {
                Segment::Literal(s) => out.push_str(s),
                Segment::Token(tok) => {
                    values.clear();
                    // Widths and the list cap count from where the token starts in `out`.
                    tok.render_text_into(event, &mut values, out);
                }
            }
        }
    }

    /// Appends the JSON alert's `output_fields` object: every distinct token's value keyed by
    /// the token text, sorted by key, plus `extra` (a key and an integer, such as `evt.time`)
    /// unless a token has that key. The same bytes as serializing
    /// [`OutputTemplate::render_fields`] into a sorted map, written straight into `out`.
    pub fn write_json_fields<E: Event<F>>(&self, event: &E, extra: (&str, u64), out: &mut String) {
        let (extra_key, extra_value) = extra;
        let mut extra_done = self.tokens().any(|t| t.key == extra_key);
        let write_extra = |out: &mut String| {
            write_json_str(out, extra_key);
            let _ = write!(out, ":{extra_value}");
        };
        let mut values = Values::new();
        out.push('{');
        let mut first = true;
        for &i in &self.json_order {
            let Some(Segment::Token(t)) = self.segments.get(i) else {
                continue;
            };
            if !extra_done && extra_key < t.key.as_str() {
                write_extra(out);
                out.push(',');
                extra_done = true;
            }
            if !first {
                out.push(',');
            }
            first = false;
            write_json_str(out, &t.key);
            out.push(':');
            values.clear();
            eval_expr(&t.expr, event, &mut values);
            t.write_value_json(&values, out);
        }
        if !extra_done {
            if !first {
                out.push(',');
            }
            write_extra(out);
        }
        out.push('}');
    }

    /// The values of every token for the JSON `output_fields`, keyed by the token text as
    /// written (width digits excluded), in template order; a repeated token appears once.
    pub fn render_fields<E: Event<F>>(&self, event: &E) -> Vec<(&str, FieldValue)> {
        let mut out: Vec<(&str, FieldValue)> = Vec::with_capacity(self.tokens().count());
        for tok in self.tokens() {
            if out.iter().any(|(k, _)| *k == tok.key) {
                continue;
            }
            out.push((tok.key.as_str(), tok.value(event)));
        }
        out
    }
}

impl<F> Token<F> {
    /// The token text as written (`ka.uri.param[command]`), without `%` and width.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether the token renders a list.
    #[must_use]
    pub fn is_list(&self) -> bool {
        self.list
    }

    /// The `%<digits>` width, if any.
    #[must_use]
    pub fn width(&self) -> Option<usize> {
        self.width
    }

    /// The field handle of a plain field token (`None` for a transformer token).
    #[must_use]
    pub fn field(&self) -> Option<&F> {
        match &self.expr {
            Expr::Field(f) => Some(f),
            Expr::Transform(..) => None,
        }
    }

    fn render_text_into<'a, E: Event<F>>(
        &self,
        event: &'a E,
        values: &mut Values<'a>,
        out: &mut String,
    ) {
        let start = out.len();
        eval_expr(&self.expr, event, values);
        if values.is_empty() {
            out.push_str(MISSING);
        } else if self.list {
            out.push('(');
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_value(out, v);
            }
            out.push(')');
            truncate_at_boundary(out, start + LIST_TEXT_LIMIT);
        } else {
            push_value(out, &values[0]);
        }
        if let Some(w) = self.width {
            truncate_at_boundary(out, start + w);
            while out.len() < start + w {
                out.push(' ');
            }
        }
    }

    /// Writes the JSON of [`Token::value`] for the extracted `values`.
    fn write_value_json(&self, values: &Values<'_>, out: &mut String) {
        let Some(first) = values.first() else {
            out.push_str("null");
            return;
        };
        if self.list {
            out.push('[');
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value_str(out, v);
            }
            out.push(']');
            return;
        }
        match first {
            Value::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Value::Uint(n) => {
                let _ = write!(out, "{n}");
            }
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            v => write_value_str(out, v),
        }
    }

    fn value<E: Event<F>>(&self, event: &E) -> FieldValue {
        let mut values = Values::new();
        eval_expr(&self.expr, event, &mut values);
        if values.is_empty() {
            return FieldValue::Missing;
        }
        if self.list {
            return FieldValue::List(
                values
                    .iter()
                    .map(|v| {
                        let mut s = String::new();
                        push_value(&mut s, v);
                        s
                    })
                    .collect(),
            );
        }
        match &values[0] {
            Value::Int(n) => FieldValue::Int(*n),
            Value::Uint(n) => FieldValue::Uint(*n),
            Value::Bool(b) => FieldValue::Bool(*b),
            v => {
                let mut s = String::new();
                push_value(&mut s, v);
                FieldValue::Str(s)
            }
        }
    }
}

fn snippet(s: &str) -> String {
    s.chars().take(32).collect()
}

fn truncate_at_boundary(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

/// [`push_value`]'s text as a JSON string.
fn write_value_str(out: &mut String, v: &Value<'_>) {
    match v {
        Value::Str(s) => write_json_str(out, s.split('\0').next().unwrap_or_default()),
        Value::Bytes(_) => {
            let mut s = String::new();
            push_value(&mut s, v);
            write_json_str(out, &s);
        }
        Value::Int(n) => {
            let _ = write!(out, "\"{n}\"");
        }
        Value::Uint(n) => {
            let _ = write!(out, "\"{n}\"");
        }
        Value::Bool(b) => out.push_str(if *b { "\"true\"" } else { "\"false\"" }),
    }
}

/// Values are C strings in libsinsp: an embedded NUL ends them.
fn push_value(out: &mut String, v: &Value<'_>) {
    match v {
        Value::Str(s) => out.push_str(s.split('\0').next().unwrap_or_default()),
        Value::Bytes(b) => {
            let b = b.split(|&c| c == 0).next().unwrap_or_default();
            out.push_str(&String::from_utf8_lossy(b));
        }
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Uint(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
    }
}

fn eval_expr<'a, F, E: Event<F>>(expr: &Expr<F>, event: &'a E, out: &mut Values<'a>) {
    match expr {
        Expr::Field(f) => event.extract(f, out),
        Expr::Transform(t, inner) => {
            let mut tmp = [Values::new()];
            eval_expr(inner, event, &mut tmp[0]);
            apply_transformer(*t, &mut tmp, None, out);
        }
    }
}

/// Lexes and compiles one token expression starting at `pos`. Returns the expression, whether
/// it is a list, and the end offset.
fn lex_expr<F: Clone, S: Schema<Field = F>>(
    text: &str,
    pos: usize,
    offset: usize,
    schema: &S,
) -> Result<(Expr<F>, bool, usize), FormatError> {
    let rest = &text[pos..];
    // A transformer: identifier (no dots) directly followed by `(`.
    let id = identifier_len(rest);
    if id > 0
        && rest.as_bytes().get(id) == Some(&b'(')
        && let Some(t) = output_transformer(&text[pos..pos + id])
    {
        let inner_pos = pos + id + 1;
        let (inner, list, end) =
            lex_expr(text, inner_pos, offset, schema).map_err(|e| match e {
                FormatError::InvalidToken { .. } => FormatError::BadTransformer {
                    offset,
                    reason: format!(
                        "expected a field within '{}' transformer",
                        &text[pos..pos + id]
                    ),
                },
                e => e,
            })?;
        if text.as_bytes().get(end) != Some(&b')') {
            return Err(FormatError::BadTransformer {
                offset,
                reason: "expected a ')' token closing the transformer".to_owned(),
            });
        }
        let list = list && t != Transformer::Len;
        return Ok((Expr::Transform(t, Box::new(inner)), list, end + 1));
    }
    let name_len = field_name_len(rest);
    if name_len == 0 {
        return Err(FormatError::InvalidToken {
            offset,
            text: snippet(&text[pos..]),
        });
    }
    // Longest prefix that compiles.
    let full = &text[pos..pos + name_len];
    for len in (1..=name_len).rev() {
        let name = &text[pos..pos + len];
        let (arg, arg_len) = if len == name_len {
            match field_arg(&text[pos + len..]) {
                Some((a, l)) => (Some(a), l),
                None => (None, 0),
            }
        } else {
            (None, 0)
        };
        match schema.resolve(name, arg.as_deref()) {
            Ok(FieldInfo { field, list, .. }) => {
                return Ok((Expr::Field(field), list, pos + len + arg_len));
            }
            Err(FieldError::Unknown) => {}
            Err(e) => {
                return Err(FormatError::BadField {
                    offset,
                    token: text[pos..pos + len + arg_len].to_owned(),
                    reason: field_error_text(name, arg.as_deref(), &e),
                });
            }
        }
    }
    Err(FormatError::UnknownField {
        offset,
        name: full.to_owned(),
    })
}

fn field_error_text(name: &str, arg: Option<&str>, e: &FieldError) -> String {
    match e {
        FieldError::Unknown => format!("nonexistent field {name}"),
        FieldError::ArgumentRequired => {
            format!("{name} requires an argument but none provided")
        }
        FieldError::ArgumentNotAllowed => format!(
            "{name} does not allow nor require an argument but one is provided: {}",
            arg.unwrap_or_default()
        ),
        FieldError::InvalidIndex => format!(
            "{name} has an invalid index argument not composed only by digits: {}",
            arg.unwrap_or_default()
        ),
        FieldError::InvalidArgument(m) => m.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaudit_condition::ValueType;
    use std::borrow::Cow;
    use std::collections::HashMap;

    /// A test schema: `t.s` (str), `t.l` (list), `t.arg[x]` (str, arg required), `t.n` (str),
    /// `t.missing` (str, never present).
    struct TestSchema;

    #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    enum F {
        S,
        L,
        Arg(String),
        N,
        Missing,
        Verb,
    }

    impl Schema for TestSchema {
        type Field = F;
        fn resolve(&self, name: &str, arg: Option<&str>) -> Result<FieldInfo<F>, FieldError> {
            let (field, list) = match (name, arg) {
                ("t.s", None) => (F::S, false),
                ("t.l", None) => (F::L, true),
                ("t.n", None) => (F::N, false),
                ("t.missing", None) => (F::Missing, false),
                ("ka.verb", None) => (F::Verb, false),
                ("t.arg", Some(a)) => (F::Arg(a.to_owned()), false),
                ("t.arg", None) => return Err(FieldError::ArgumentRequired),
                ("t.s" | "t.l" | "t.n" | "ka.verb", Some(_)) => {
                    return Err(FieldError::ArgumentNotAllowed);
                }
                _ => return Err(FieldError::Unknown),
            };
            Ok(FieldInfo {
                field,
                ty: ValueType::Str,
                list,
            })
        }
    }

    struct Ev(HashMap<F, Vec<String>>);

    impl Event<F> for Ev {
        fn extract<'a>(&'a self, field: &F, out: &mut Values<'a>) {
            if let F::Arg(a) = field {
                out.push(Value::Str(Cow::Owned(format!("arg={a}"))));
                return;
            }
            if let Some(v) = self.0.get(field) {
                out.extend(v.iter().map(|s| Value::Str(Cow::Borrowed(s.as_str()))));
            }
        }
    }

    fn ev() -> Ev {
        let mut m = HashMap::new();
        m.insert(F::S, vec!["alice".to_owned()]);
        m.insert(F::L, vec!["a".to_owned(), "b".to_owned()]);
        m.insert(F::N, vec!["Nginx/Proxy".to_owned()]);
        m.insert(F::Verb, vec!["create".to_owned()]);
        Ev(m)
    }

    fn render(t: &str) -> String {
        let tpl = OutputTemplate::compile(t, &TestSchema).unwrap();
        let mut s = String::new();
        tpl.render_text(&ev(), &mut s);
        s
    }

    fn err(t: &str) -> FormatError {
        OutputTemplate::compile(t, &TestSchema).unwrap_err()
    }

    #[test]
    fn renders_fields_lists_and_missing() {
        assert_eq!(
            render("user=%t.s l=%t.l m=%t.missing a=%t.arg[x] q=%t.arg['a b']"),
            "user=alice l=(a,b) m=<NA> a=arg=x q=arg=a b"
        );
    }

    #[test]
    fn longest_compilable_prefix_leaves_the_rest_literal() {
        assert_eq!(render("%ka.verbX/%t.s)"), "createX/alice)");
        assert_eq!(render("(%t.s=%t.n)"), "(alice=Nginx/Proxy)");
    }

    #[test]
    fn width_pads_and_truncates() {
        assert_eq!(render("[%8t.s]"), "[alice   ]");
        assert_eq!(render("[%3t.s]"), "[ali]");
        assert_eq!(render("[%6t.missing]"), "[<NA>  ]");
    }

    #[test]
    fn transformers_apply_per_value() {
        assert_eq!(
            render("%toupper(t.s) %tolower(t.n) %basename(t.n) %len(t.l) %len(t.s)"),
            "ALICE nginx/proxy Proxy 2 5"
        );
        let tpl = OutputTemplate::compile("%len(t.l)", &TestSchema).unwrap();
        assert_eq!(
            tpl.render_fields(&ev()),
            vec![("len(t.l)", FieldValue::Uint(2))]
        );
    }

    #[test]
    fn list_text_is_capped_at_1023_bytes() {
        let mut m = HashMap::new();
        m.insert(F::L, vec!["x".repeat(600), "y".repeat(600)]);
        let tpl = OutputTemplate::compile("%t.l!", &TestSchema).unwrap();
        let mut s = String::new();
        tpl.render_text(&Ev(m.clone()), &mut s);
        assert_eq!(s.len(), 1024);
        assert!(s.ends_with("yy!"));
        assert_eq!(&s[..2], "(x");
        // JSON values are not truncated.
        let fields = tpl.render_fields(&Ev(m));
        assert_eq!(
            fields,
            vec![(
                "t.l",
                FieldValue::List(vec!["x".repeat(600), "y".repeat(600)])
            )]
        );
    }

    #[test]
    fn json_fields_use_token_text_and_dedupe() {
        let tpl =
            OutputTemplate::compile("%t.s %t.l %t.missing %5t.s %t.arg[k]", &TestSchema).unwrap();
        let fields = tpl.render_fields(&ev());
        assert_eq!(
            fields,
            vec![
                ("t.s", FieldValue::Str("alice".to_owned())),
                (
                    "t.l",
                    FieldValue::List(vec!["a".to_owned(), "b".to_owned()])
                ),
                ("t.missing", FieldValue::Missing),
                ("t.arg[k]", FieldValue::Str("arg=k".to_owned())),
            ]
        );
        let mut json = String::new();
        fields[1].1.write_json(&mut json);
        fields[2].1.write_json(&mut json);
        assert_eq!(json, r#"["a","b"]null"#);
    }

    #[test]
    fn errors_name_the_token() {
        assert_eq!(err("abc %"), FormatError::TrailingPercent { offset: 4 });
        assert_eq!(
            err("x %nope.field y"),
            FormatError::UnknownField {
                offset: 2,
                name: "nope.field".to_owned()
            }
        );
        assert_eq!(
            err("x % y"),
            FormatError::InvalidToken {
                offset: 2,
                text: " y".to_owned()
            }
        );
        assert_eq!(
            err("100%s"),
            FormatError::InvalidToken {
                offset: 3,
                text: "s".to_owned()
            }
        );
        assert!(matches!(
            err("%t.arg"),
            FormatError::BadField { offset: 0, .. }
        ));
        assert!(matches!(
            err("%toupper(t.s"),
            FormatError::BadTransformer { offset: 0, .. }
        ));
        assert_eq!(
            err("%t.s[x]").to_string(),
            "invalid formatting token %t.s[x]: t.s does not allow nor require an argument but one is provided: x"
        );
    }

    /// `b64` is condition's transformer: a result that is not UTF-8 is kept as bytes (as
    /// libsinsp keeps them), rendered lossily, and `len` counts its bytes.
    #[test]
    fn b64_keeps_non_utf8_results() {
        let mut m = HashMap::new();
        m.insert(F::S, vec!["/w==".to_owned()]);
        m.insert(F::N, vec!["aGVsbG8".to_owned()]);
        m.insert(F::L, vec!["!".to_owned()]);
        let tpl =
            OutputTemplate::compile("%b64(t.s) %len(b64(t.s)) %b64(t.n) %b64(t.l)", &TestSchema)
                .unwrap();
        let mut s = String::new();
        tpl.render_text(&Ev(m.clone()), &mut s);
        assert_eq!(s, "\u{fffd} 1 hello <NA>");
        assert_eq!(
            tpl.render_fields(&Ev(m))[0],
            ("b64(t.s)", FieldValue::Str("\u{fffd}".to_owned()))
        );
    }

    #[test]
    fn json_strings_escape_like_nlohmann() {
        let mut s = String::new();
        write_json_str(&mut s, "a\"b\\c/\u{1}\n\u{e9}");
        assert_eq!(s, "\"a\\\"b\\\\c/\\u0001\\n\u{e9}\"");
    }
}
