//! One reading interface ([`JsonView`]) over the two forms a JSON value of an event takes: a
//! parsed [`Node`] (for events decoded by the tolerant Falco-compat reading, whose text is not
//! valid JSON) and a slice of validated JSON text ([`Raw`], read with [`crate::raw`] without
//! building a tree or allocating). The field walks in `extract` are written once against it,
//! so both forms give the same values by construction; the two implementations agree value
//! for value (the `raw` module's contract, checked by `tests/raw_vs_tree.rs` over every field).

use std::borrow::Cow;
use std::cell::OnceCell;

use crate::json::{self, Node};
use crate::raw;

/// A JSON value that the field walks can read; `'n` is how long the values it renders live.
pub(crate) trait JsonView<'n>: Copy {
    /// The elements of an array.
    type Elems: Iterator<Item = Self>;

    /// An object member (first duplicate wins); `None` on anything but an object.
    fn member(self, key: &str) -> Option<Self>;

    /// [`Node::get`]: an object member, or on an array a decimal index.
    fn get(self, key: &str) -> Option<Self>;

    /// [`json::get_falco`]: an object member, or on an array a Go `Atoi` index.
    fn get_falco(self, key: &str) -> Option<Self>;

    /// The elements, if this is an array.
    fn elements(self) -> Option<Self::Elems>;

    /// [`Node::to_falco_string`]: a string's text, anything else its compact JSON.
    fn to_falco_string(self) -> Cow<'n, str>;

    /// The text of a string; `None` for any other value.
    fn as_str(self) -> Option<Cow<'n, str>>;

    /// Whether this is the boolean `true`.
    fn is_true(self) -> bool;

    /// Calls `f` with every key of an object in source order (duplicates included, unescaped);
    /// `false` (and no call) when this is not an object.
    fn for_each_key(self, f: impl FnMut(Cow<'n, str>)) -> bool;

    /// [`Node::path`]: [`JsonView::get`] for every key.
    fn path(self, keys: &[&str]) -> Option<Self> {
        keys.iter().try_fold(self, |v, k| v.get(k))
    }
}

impl<'n, 'e: 'n> JsonView<'n> for &'n Node<'e> {
    type Elems = std::slice::Iter<'n, Node<'e>>;

    fn member(self, key: &str) -> Option<Self> {
        Node::member(self, key)
    }

    fn get(self, key: &str) -> Option<Self> {
        Node::get(self, key)
    }

    fn get_falco(self, key: &str) -> Option<Self> {
        json::get_falco(self, key)
    }

    fn elements(self) -> Option<Self::Elems> {
        self.as_array().map(<[Node<'e>]>::iter)
    }

    fn to_falco_string(self) -> Cow<'n, str> {
        Node::to_falco_string(self)
    }

    fn as_str(self) -> Option<Cow<'n, str>> {
        Node::as_str(self).map(Cow::Borrowed)
    }

    fn is_true(self) -> bool {
        *self == Node::Bool(true)
    }

    fn for_each_key(self, mut f: impl FnMut(Cow<'n, str>)) -> bool {
        let Node::Obj { entries, .. } = self else {
            return false;
        };
        entries.iter().for_each(|(k, _)| f(Cow::Borrowed(k)));
        true
    }
}

/// A value of validated JSON text, read with [`crate::raw`]; `falco`: strings unescape the
/// way [`Node::parse_falco`] reads them. The text starts with the value and may run on past
/// its end (lookups are open-ended, [`raw::member_open`]: a walk does not skip over the value
/// it goes into); rendering cuts it ([`raw::exact`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Raw<'n> {
    text: &'n str,
    falco: bool,
    /// For a root: the cached answer of `member("spec")` (see [`Raw::root`]).
    spec: Option<&'n OnceCell<Option<usize>>>,
}

impl<'n> Raw<'n> {
    /// The root value `text` (validated JSON) whose `spec` member, once looked up, is kept in
    /// `spec` (the event's cache): the walks of a pod's fields all start there.
    pub(crate) fn root(text: &'n str, falco: bool, spec: &'n OnceCell<Option<usize>>) -> Self {
        Raw {
            text,
            falco,
            spec: Some(spec),
        }
    }

    fn wrap(self, text: &'n str) -> Self {
        Raw {
            text,
            falco: self.falco,
            spec: None,
        }
    }

    /// `member_open(key)`, through the cache for a root's `spec`.
    fn member_text(self, key: &str) -> Option<&'n str> {
        match self.spec {
            Some(cell) if key == "spec" => {
                let at = cell.get_or_init(|| {
                    raw::member_open(self.text, key, self.falco).map(|v| self.text.len() - v.len())
                });
                at.and_then(|at| self.text.get(at..))
            }
            _ => raw::member_open(self.text, key, self.falco),
        }
    }
}

/// The elements of a [`Raw`] array.
#[derive(Clone, Debug)]
pub(crate) struct RawElems<'n> {
    items: raw::Elements<'n>,
    falco: bool,
}

impl<'n> Iterator for RawElems<'n> {
    type Item = Raw<'n>;

    fn next(&mut self) -> Option<Raw<'n>> {
        self.items.next().map(|text| Raw {
            text,
            falco: self.falco,
            spec: None,
        })
    }
}

impl<'n> JsonView<'n> for Raw<'n> {
    type Elems = RawElems<'n>;

    fn member(self, key: &str) -> Option<Self> {
        self.member_text(key).map(|t| self.wrap(t))
    }

    fn get(self, key: &str) -> Option<Self> {
        match raw::first_byte(self.text)? {
            b'{' => self.member(key),
            _ => raw::get_open(self.text, key, self.falco).map(|t| self.wrap(t)),
        }
    }

    fn get_falco(self, key: &str) -> Option<Self> {
        match raw::first_byte(self.text)? {
            b'{' => self.member(key),
            _ => raw::get_falco_open(self.text, key, self.falco).map(|t| self.wrap(t)),
        }
    }

    fn elements(self) -> Option<Self::Elems> {
        raw::elements(self.text).map(|items| RawElems {
            items,
            falco: self.falco,
        })
    }

    fn to_falco_string(self) -> Cow<'n, str> {
        raw::to_falco_string(raw::exact(self.text), self.falco)
    }

    fn as_str(self) -> Option<Cow<'n, str>> {
        let v = raw::exact(self.text);
        v.starts_with('"')
            .then(|| raw::to_falco_string(v, self.falco))
    }

    fn is_true(self) -> bool {
        raw::exact(self.text) == "true"
    }

    fn for_each_key(self, mut f: impl FnMut(Cow<'n, str>)) -> bool {
        let Some(members) = raw::members(self.text) else {
            return false;
        };
        for (k, _) in members {
            f(json::unescape(k, self.falco).unwrap_or_default());
        }
        true
    }
}
