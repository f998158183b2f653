//! Falco's condition language, generic over the event type.
//!
//! The pipeline (each stage its own type and its own verb) is:
//!
//! ```text
//! text --parse--> Ast --expand--> Ast (no macro refs) --compile(Schema)--> Program --matches(Event)--> bool
//! ```
//!
//! - [`parse`] (module [`syntax`]) reads libsinsp's filter syntax into an [`Ast`] with byte spans;
//!   `Display` prints canonical text that re-parses to an equal tree, and
//!   [`Ast::falco_string`] prints Falco's `condition_compiled` form.
//! - [`expand()`] replaces macro references by the macros' trees (loops, unknown names and depth
//!   are errors), keeping each node's provenance.
//! - [`compile()`] binds field names through a [`Schema`], checks operators against field types
//!   and pre-builds the right-hand sides into a flat [`Program`].
//! - [`Program::matches`] evaluates it on any [`Event`]; it cannot fail.
//!
//! Every error type has a `render(source)` that prints the message with a caret under the span.
//!
//! The crate knows nothing of Kubernetes, YAML, AWS or async, and does no IO. Embedders implement
//! two traits: [`Schema`] resolves a field name (and optional argument) to a name-free handle at
//! compile time, and [`Event`] answers the values of such a handle at evaluation time.
//!
//! # Conformance, fuzzing, speed
//!
//! `tests/libs_conformance.rs` runs the 1,206 rows of `shared/conformance/libs-parser-cases.tsv`
//! (`cargo test -p kaudit-condition --test libs_conformance -- --nocapture` prints the table);
//! `tests/k8s_rules.rs` parses and compiles Falco's `k8s_audit_rules.yaml`.
//! Fuzz targets live in the workspace's `fuzz/` crate (own workspace, nightly features through
//! `RUSTC_BOOTSTRAP`):
//!
//! ```text
//! cargo install cargo-fuzz
//! cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run condition_parse -- -max_total_time=60
//! cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run condition_roundtrip -- -max_total_time=60
//! ```
//!
//! `condition_parse` feeds arbitrary text to the parser; `condition_roundtrip` checks that the
//! canonical `Display` text re-parses to an equal tree, then compiles and evaluates it. The
//! criterion bench is the workspace's `benches/condition.rs` (`cargo bench --bench condition`).
//!
//! # Features
//!
//! None: the crate has no optional parts and no async or IO dependency.
//!
//! # Deliberate choices
//!
//! - Spans are excluded from `PartialEq` (cedar style); so is macro provenance.
//! - The `\xHH` escape of libs master is accepted (the conformance rows require it).
//! - `ValueType::IpAddr` / `IpNet` exist for libsinsp's IP field types; their values arrive as
//!   text. libsinsp's DOUBLE, ABSTIME and RELTIME types map onto `Int` / `Uint`.
//! - Error messages are libsinsp's where it has one; the others are ours and say so in
//!   [`CompileErrorKind`] / [`ExpandErrorKind`].
//!
//! ```
//! use std::borrow::Cow;
//! use kaudit_condition::{compile, parse, Event, FieldError, FieldInfo, Schema, Value, ValueType, Values};
//!
//! struct Req { verb: &'static str, resource: &'static str }
//! #[derive(Clone, Debug)]
//! enum F { Verb, Resource }
//! struct S;
//! impl Schema for S {
//!     type Field = F;
//!     fn resolve(&self, name: &str, _arg: Option<&str>) -> Result<FieldInfo<F>, FieldError> {
//!         let field = match name { "ka.verb" => F::Verb, "ka.target.resource" => F::Resource, _ => return Err(FieldError::Unknown) };
//!         Ok(FieldInfo { field, ty: ValueType::Str, list: false })
//!     }
//! }
//! impl Event<F> for Req {
//!     fn extract<'a>(&'a self, f: &F, out: &mut Values<'a>) {
//!         let v = match f { F::Verb => self.verb, F::Resource => self.resource };
//!         out.push(Value::Str(Cow::Borrowed(v)));
//!     }
//! }
//! let ast = parse("ka.verb = create and ka.target.resource in (secrets, configmaps)").unwrap();
//! let program = compile(&ast, &S).unwrap();
//! assert!(program.matches(&Req { verb: "create", resource: "secrets" }));
//! assert!(!program.matches(&Req { verb: "get", resource: "secrets" }));
//! ```

pub mod compile;
pub mod eval;
pub mod expand;
mod glob;
pub mod render;
pub mod schema;
pub mod syntax;

/// Helpers shared with the crates above; not part of the API (no semver promise, hidden from
/// the docs).
#[doc(hidden)]
pub mod internal {
    /// The index of the first byte at or after `i` that cannot stand as it is inside a JSON
    /// string (`"`, `\`, below 0x20), or `b.len()`. kaudit-event's decoder scans string
    /// literals with it and kaudit-rules' escaper finds what to escape.
    ///
    /// Eight bytes at a time while none of them is such a byte (the "has a byte less than n"
    /// word trick); its false alarms only ever come after a real hit (a borrow runs upward
    /// from it), so the lowest flagged byte of a word is the first one.
    #[inline]
    #[must_use]
    pub fn json_plain_end(b: &[u8], mut i: usize) -> usize {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        while let Some(chunk) = b.get(i..i + 8) {
            let Ok(word) = <[u8; 8]>::try_from(chunk) else {
                break;
            };
            let x = u64::from_le_bytes(word);
            let q = x ^ (ONES * u64::from(b'"'));
            let bs = x ^ (ONES * u64::from(b'\\'));
            let hit = ((q.wrapping_sub(ONES) & !q)
                | (bs.wrapping_sub(ONES) & !bs)
                | (x.wrapping_sub(ONES * 0x20) & !x))
                & HIGH;
            if hit != 0 {
                return i + (hit.trailing_zeros() / 8) as usize;
            }
            i += 8;
        }
        // The last bytes (fewer than eight).
        while let Some(&c) = b.get(i) {
            if c < 0x20 || c == b'"' || c == b'\\' {
                break;
            }
            i += 1;
        }
        i
    }
}

pub use compile::{CompileError, CompileErrorKind, Program, compile, operator_allowed};
pub use eval::apply_transformer;
pub use expand::{
    ExpandError, ExpandErrorKind, ExpandOptions, MacroLookup, NoMacros, expand, expand_with,
};
pub use glob::Glob;
pub use schema::{Event, FieldError, FieldInfo, Schema, Value, ValueType, Values};
pub use syntax::{
    Ast, Check, CheckRef, Expr, ExprKind, FieldRef, Ident, Literal, Modifier, Operand, OperandKind,
    Operator, Origin, ParseError, ParseErrorKind, ParseOptions, Rhs, Span, Transform, Transformer,
    falco_line_col, parse, parse_with,
};

/// Any error of the pipeline, for callers that run several stages.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Error {
    /// From [`parse`].
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// From [`expand()`].
    #[error(transparent)]
    Expand(#[from] ExpandError),
    /// From [`compile()`].
    #[error(transparent)]
    Compile(#[from] CompileError),
}

impl Error {
    /// Renders the error with a caret under its span in `source` (the condition text).
    #[must_use]
    pub fn render(&self, source: &str) -> String {
        match self {
            Error::Parse(e) => e.render(source),
            Error::Expand(e) => e.render(source),
            Error::Compile(e) => e.render(source),
        }
    }
}

/// Parses, expands and compiles in one call, with the same nesting limit as [`parse`]
/// ([`ParseOptions::default`], libsinsp's 100); [`build_with`] takes the options, e.g.
/// [`ParseOptions::falco_rules`] for the limit Falco applies to rules-file conditions.
///
/// # Errors
/// The first [`Error`] of any stage.
pub fn build<S: Schema>(
    text: &str,
    macros: &impl MacroLookup,
    schema: &S,
) -> Result<Program<S::Field>, Error> {
    build_with(text, macros, schema, &ParseOptions::default())
}

/// [`build`] with explicit parse options (the nesting limit).
///
/// # Errors
/// The first [`Error`] of any stage.
pub fn build_with<S: Schema>(
    text: &str,
    macros: &impl MacroLookup,
    schema: &S,
    options: &ParseOptions,
) -> Result<Program<S::Field>, Error> {
    let ast = parse_with(text, options)?;
    let expanded = expand(&ast, macros)?;
    Ok(compile(&expanded, schema)?)
}
