//! The two traits between this crate and an embedder: [`Schema`] (compile time) and [`Event`]
//! (evaluation time).
//!
//! A compiled program stores only the [`Schema::Field`] handles the schema returned; it never
//! sees a field name again. Evaluation asks the event for the values of a handle, and the event
//! answers with zero or more [`Value`]s: zero values means the field is *missing*.

use std::borrow::Cow;
use std::fmt;

/// The type of the values a field produces, as libsinsp classifies them.
///
/// The compiler uses it to check operators (for example `bcontains` needs [`ValueType::Bytes`],
/// `<` needs a number or a string).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// Text (libsinsp `PT_CHARBUF`). Every k8saudit and json field is of this type.
    Str,
    /// Raw bytes (libsinsp `PT_BYTEBUF`).
    Bytes,
    /// A signed integer.
    Int,
    /// An unsigned integer (also the result of the `len()` transformer).
    Uint,
    /// A boolean.
    Bool,
    /// An IPv4 or IPv6 address (libsinsp `PT_IPADDR`), extracted as text. Allows only
    /// `exists = != in intersects`; the right-hand side must parse as an address.
    IpAddr,
    /// An IP network in CIDR notation (libsinsp `PT_IPNET`), extracted as text. Same operators
    /// as [`ValueType::IpAddr`].
    IpNet,
}

/// What a schema knows about a resolved field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldInfo<F> {
    /// The name-free handle the program stores and later hands back to [`Event::extract`].
    pub field: F,
    /// The type of every value the field produces.
    pub ty: ValueType,
    /// Whether the field is a list field (only `in`, `intersects` and `exists` apply to it).
    pub list: bool,
}

/// Why a schema could not resolve a field. The compiler turns these into Falco's messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldError {
    /// No field of that name (`filter_check called with nonexistent field X`).
    Unknown,
    /// The field needs an argument and none was given.
    ArgumentRequired,
    /// The field takes no argument, but one was given.
    ArgumentNotAllowed,
    /// The argument is not a valid index (digits only, no leading zero).
    InvalidIndex,
    /// Any other argument problem, with the schema's own message.
    InvalidArgument(String),
}

/// Compile-time resolution of field names.
pub trait Schema {
    /// The name-free handle of a resolved field, including its parsed argument.
    type Field: Clone + fmt::Debug + Send + Sync + 'static;

    /// Resolves `name` with its optional `[arg]` text (quotes already removed).
    ///
    /// # Errors
    /// A [`FieldError`] when the name is unknown or the argument does not fit.
    fn resolve(&self, name: &str, arg: Option<&str>) -> Result<FieldInfo<Self::Field>, FieldError>;
}

/// One extracted value, borrowed from the event where possible.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value<'a> {
    /// Text.
    Str(Cow<'a, str>),
    /// Raw bytes.
    Bytes(Cow<'a, [u8]>),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    Uint(u64),
    /// A boolean.
    Bool(bool),
}

impl<'a> From<&'a str> for Value<'a> {
    /// Borrowed text: `out.push(self.verb.as_str().into())`.
    fn from(s: &'a str) -> Self {
        Value::Str(Cow::Borrowed(s))
    }
}

impl From<String> for Value<'_> {
    fn from(s: String) -> Self {
        Value::Str(Cow::Owned(s))
    }
}

impl<'a> From<&'a [u8]> for Value<'a> {
    fn from(b: &'a [u8]) -> Self {
        Value::Bytes(Cow::Borrowed(b))
    }
}

impl From<Vec<u8>> for Value<'_> {
    fn from(b: Vec<u8>) -> Self {
        Value::Bytes(Cow::Owned(b))
    }
}

impl From<i64> for Value<'_> {
    fn from(n: i64) -> Self {
        Value::Int(n)
    }
}

impl From<u64> for Value<'_> {
    fn from(n: u64) -> Self {
        Value::Uint(n)
    }
}

impl From<bool> for Value<'_> {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

/// The values of one field on one event: empty means missing. Up to four live inline, so a
/// typical extraction does not allocate. (This is `smallvec`'s type in a public signature on
/// purpose: [`Event::extract`] is the hot path, and a `Vec` would allocate per extraction.)
pub type Values<'a> = smallvec::SmallVec<[Value<'a>; 4]>;

/// Evaluation-time access to an event's field values.
///
/// Implementations decode lazily and cache inside the event; `extract` cannot fail (an
/// extraction error is a missing value, as in Falco).
pub trait Event<F> {
    /// Pushes the values of `field` onto `out` (which the caller passes in empty).
    fn extract<'a>(&'a self, field: &F, out: &mut Values<'a>);
}
