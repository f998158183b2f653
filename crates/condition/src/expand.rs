//! Stage 2, expansion: macro references replaced by deep copies of the macros' trees
//! (Falco's `filter_macro_resolver`), AST to AST.
//!
//! The caller decides which macros are visible (Falco: a macro sees only earlier macros, a rule
//! sees all) by what its [`MacroLookup`] answers. Every copied node records its [`Origin`], so a
//! later compile error can point into the macro's text and name the macro.
//!
//! List substitution is **not** done here: Falco substitutes lists textually before parsing,
//! which is the rules loader's job. An identifier left after a list operator is already a
//! one-element list value in the [`Ast`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::render;
use crate::syntax::{Ast, Expr, ExprKind, Origin, Span};

/// Where [`expand()`] finds macros: the parsed macro by name, or `None` when the name is not
/// visible.
pub trait MacroLookup {
    /// The macro called `name`.
    fn lookup(&self, name: &str) -> Option<&Ast>;
}

impl<S: std::hash::BuildHasher> MacroLookup for HashMap<String, Ast, S> {
    fn lookup(&self, name: &str) -> Option<&Ast> {
        self.get(name)
    }
}

impl MacroLookup for BTreeMap<String, Ast> {
    fn lookup(&self, name: &str) -> Option<&Ast> {
        self.get(name)
    }
}

impl<T: MacroLookup + ?Sized> MacroLookup for &T {
    fn lookup(&self, name: &str) -> Option<&Ast> {
        (**self).lookup(name)
    }
}

/// No macros at all.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoMacros;

impl MacroLookup for NoMacros {
    fn lookup(&self, _name: &str) -> Option<&Ast> {
        None
    }
}

/// Expansion settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpandOptions {
    /// How many macros may be nested inside each other.
    pub max_depth: u32,
    /// How deeply the expanded tree may nest (boolean nodes), so later recursive stages stay
    /// within the stack.
    pub max_nesting: u32,
}

impl Default for ExpandOptions {
    fn default() -> Self {
        Self {
            max_depth: 64,
            max_nesting: 256,
        }
    }
}

/// An expansion error, at the span of the offending identifier.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{kind}")]
pub struct ExpandError {
    /// What went wrong.
    pub kind: ExpandErrorKind,
    /// The identifier's span (in the condition, or in the macro named by `origin`).
    pub span: Span,
    /// The macro whose text holds the identifier, when it is not the condition itself.
    pub origin: Option<Arc<Origin>>,
}

impl PartialEq for ExpandError {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.span == other.span
    }
}

impl ExpandError {
    /// Renders with a caret under the identifier (in the macro's text when it came from one).
    #[must_use]
    pub fn render(&self, source: &str) -> String {
        render::render(&self.to_string(), source, self.span, self.origin.as_deref())
    }
}

/// Why expansion failed. `Display` is Falco's message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExpandErrorKind {
    /// `foo` where no macro `foo` is visible.
    #[error("Undefined macro '{0}' used in filter.")]
    Undefined(String),
    /// `a` whose text refers back to `a`, directly or not.
    #[error("reference loop in macro '{0}'")]
    Loop(String),
    /// More than [`ExpandOptions::max_depth`] macros nested.
    #[error("exceeded max macro expansion depth of {0}")]
    DepthExceeded(u32),
    /// The expanded tree nests deeper than [`ExpandOptions::max_nesting`].
    #[error("expanded condition nests deeper than {0} levels")]
    NestingExceeded(u32),
}

/// Replaces every macro reference in `ast` with the macro's tree, recursively.
///
/// # Errors
/// [`ExpandErrorKind::Undefined`], [`ExpandErrorKind::Loop`] or
/// [`ExpandErrorKind::DepthExceeded`], at the identifier's span.
pub fn expand(ast: &Ast, macros: &impl MacroLookup) -> Result<Ast, ExpandError> {
    expand_with(ast, macros, &ExpandOptions::default())
}

/// [`expand()`] with explicit options.
///
/// # Errors
/// As [`expand()`].
pub fn expand_with(
    ast: &Ast,
    macros: &impl MacroLookup,
    options: &ExpandOptions,
) -> Result<Ast, ExpandError> {
    let mut stack = Vec::new();
    let expr = expand_expr(&ast.expr, None, macros, options, &mut stack, 0)?;
    Ok(Ast {
        expr,
        source: ast.source.clone(),
    })
}

fn expand_expr(
    e: &Expr,
    origin: Option<&Arc<Origin>>,
    macros: &impl MacroLookup,
    options: &ExpandOptions,
    stack: &mut Vec<String>,
    nesting: u32,
) -> Result<Expr, ExpandError> {
    let node_origin = e.origin.clone().or_else(|| origin.cloned());
    if nesting >= options.max_nesting {
        return Err(ExpandError {
            kind: ExpandErrorKind::NestingExceeded(options.max_nesting),
            span: e.span,
            origin: node_origin,
        });
    }
    let n = nesting + 1;
    let kind = match &e.kind {
        ExprKind::And(c) => ExprKind::And(
            c.iter()
                .map(|c| expand_expr(c, origin, macros, options, stack, n))
                .collect::<Result<_, _>>()?,
        ),
        ExprKind::Or(c) => ExprKind::Or(
            c.iter()
                .map(|c| expand_expr(c, origin, macros, options, stack, n))
                .collect::<Result<_, _>>()?,
        ),
        ExprKind::Not(c) => {
            ExprKind::Not(Box::new(expand_expr(c, origin, macros, options, stack, n)?))
        }
        ExprKind::Check(c) => ExprKind::Check(c.clone()),
        ExprKind::Macro(id) => {
            let err = |kind| ExpandError {
                kind,
                span: id.span,
                origin: node_origin.clone(),
            };
            if stack.contains(&id.name) {
                return Err(err(ExpandErrorKind::Loop(id.name.clone())));
            }
            if stack.len() >= options.max_depth as usize {
                return Err(err(ExpandErrorKind::DepthExceeded(options.max_depth)));
            }
            let Some(m) = macros.lookup(&id.name) else {
                return Err(err(ExpandErrorKind::Undefined(id.name.clone())));
            };
            let child_origin = Arc::new(Origin {
                macro_name: id.name.clone(),
                source: m.source.clone(),
                used_at: id.span,
                parent: node_origin.clone(),
            });
            stack.push(id.name.clone());
            let r = expand_expr(
                &m.expr,
                Some(&child_origin),
                macros,
                options,
                stack,
                nesting,
            );
            stack.pop();
            return r;
        }
    };
    Ok(Expr {
        kind,
        span: e.span,
        origin: node_origin,
    })
}
