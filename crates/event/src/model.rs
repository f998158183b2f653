//! The typed, borrowed `audit.k8s.io/v1` (and `v1beta1`) audit event model.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::json::Node;

/// A JSON string borrowed from the input when it has no escapes, owned otherwise.
///
/// A newtype, because `#[serde(borrow)] Option<Cow<str>>` silently never borrows
/// (serde-rs/serde#2016); this type's own `Deserialize` takes `visit_borrowed_str` as a borrow.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

impl Text<'_> {
    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the text borrows from the input (no escapes were decoded).
    #[must_use]
    pub fn is_borrowed(&self) -> bool {
        matches!(self.0, Cow::Borrowed(_))
    }
}

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// `Option<Text>` where a JSON `null` is the present text `"null"` (as Falco renders it), not
/// absence. Used on the string fields k8saudit extracts.
fn nullable<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Option<Text<'a>>, D::Error> {
    struct V<'a>(std::marker::PhantomData<&'a ()>);
    impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
        type Value = Option<Text<'a>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or null")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Some(Text(Cow::Borrowed("null"))))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            self.visit_unit()
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Text(Cow::Borrowed(v))))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Text(Cow::Owned(v.to_owned()))))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(Text(Cow::Owned(v))))
        }
    }
    d.deserialize_any(V(std::marker::PhantomData))
}

/// A JSON number kept as its original text (`201`, `2.50`, `1e3`), as Falco renders it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Number<'a>(pub &'a str);

impl fmt::Debug for Number<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Number<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: &'de RawValue = Deserialize::deserialize(d)?;
        let t = raw.get();
        if t.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            Ok(Number(t))
        } else {
            Err(de::Error::invalid_type(
                de::Unexpected::Other(t),
                &"a JSON number",
            ))
        }
    }
}

/// A string-to-string map (`annotations`); on a duplicate key the first entry wins.
///
/// Decoded lazily: the fast decoding keeps the object's (validated) text and unescapes a value
/// only when it is asked for, so an event whose annotations no rule reads costs no allocation.
#[derive(Clone, PartialEq, Eq)]
pub struct StrMap<'a>(MapRepr<'a>);

#[derive(Clone, PartialEq, Eq)]
enum MapRepr<'a> {
    /// The object's text: validated JSON, every value a string, no surrogate escapes.
    Raw(&'a str),
    /// Decoded entries, duplicates already dropped.
    Owned(Vec<(Text<'a>, Text<'a>)>),
}

impl Default for StrMap<'_> {
    fn default() -> Self {
        StrMap(MapRepr::Owned(Vec::new()))
    }
}

impl<'a> StrMap<'a> {
    /// A map of these entries (on a duplicate key the first entry wins).
    #[must_use]
    pub fn from_entries(entries: Vec<(Text<'a>, Text<'a>)>) -> Self {
        let mut out: Vec<(Text<'a>, Text<'a>)> = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            if out.iter().all(|(e, _)| e.as_str() != k.as_str()) {
                out.push((k, v));
            }
        }
        StrMap(MapRepr::Owned(out))
    }

    /// The map of a validated JSON object of strings without surrogate escapes.
    pub(crate) fn raw(text: &'a str) -> Self {
        StrMap(MapRepr::Raw(text))
    }

    /// The value of `key` (first occurrence), unescaped (borrowed when it has no escapes).
    #[must_use]
    pub fn get(&self, key: &str) -> Option<Cow<'_, str>> {
        match &self.0 {
            MapRepr::Raw(text) => {
                crate::raw::member(text, key, false).map(|v| crate::raw::to_falco_string(v, false))
            }
            MapRepr::Owned(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == key)
                .map(|(_, v)| Cow::Borrowed(v.as_str())),
        }
    }

    /// The entries in source order, without duplicates (the first of a key wins).
    #[must_use]
    pub fn entries(&self) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
        match &self.0 {
            MapRepr::Raw(text) => {
                let mut out: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::new();
                for (k, v) in crate::raw::members(text).into_iter().flatten() {
                    let k = crate::raw::to_falco_string(k, false);
                    if out.iter().all(|(e, _)| *e != k) {
                        out.push((k, crate::raw::to_falco_string(v, false)));
                    }
                }
                out
            }
            MapRepr::Owned(entries) => entries
                .iter()
                .map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str())))
                .collect(),
        }
    }
}

impl fmt::Debug for StrMap<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.entries()).finish()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for StrMap<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = StrMap<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of strings")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<StrMap<'a>, M::Error> {
                let mut out: Vec<(Text<'a>, Text<'a>)> = Vec::new();
                while let Some((k, v)) = m.next_entry::<Text<'a>, Text<'a>>()? {
                    if out.iter().all(|(e, _)| e.as_str() != k.as_str()) {
                        out.push((k, v));
                    }
                }
                Ok(StrMap(MapRepr::Owned(out)))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// A list of strings (`user.groups`, `sourceIPs`), decoded lazily like [`StrMap`].
#[derive(Clone, PartialEq, Eq)]
pub struct TextList<'a>(ListRepr<'a>);

#[derive(Clone, PartialEq, Eq)]
enum ListRepr<'a> {
    /// The array's text: validated JSON, every element a string without surrogate escapes,
    /// and the element count.
    Raw(&'a str, usize),
    /// Decoded elements.
    Owned(Vec<Text<'a>>),
}

impl Default for TextList<'_> {
    fn default() -> Self {
        TextList(ListRepr::Owned(Vec::new()))
    }
}

impl<'a> From<Vec<Text<'a>>> for TextList<'a> {
    fn from(v: Vec<Text<'a>>) -> Self {
        TextList(ListRepr::Owned(v))
    }
}

enum ListIter<'s, 'a> {
    Raw(crate::raw::Elements<'a>),
    Owned(std::slice::Iter<'s, Text<'a>>),
}

impl<'s, 'a: 's> Iterator for ListIter<'s, 'a> {
    type Item = Cow<'s, str>;
    fn next(&mut self) -> Option<Cow<'s, str>> {
        match self {
            ListIter::Raw(e) => e.next().map(|v| crate::raw::to_falco_string(v, false)),
            ListIter::Owned(i) => i.next().map(|t| Cow::Borrowed(t.as_str())),
        }
    }
}

impl<'a> TextList<'a> {
    /// The array of a validated JSON array of `len` strings without surrogate escapes.
    pub(crate) fn raw(text: &'a str, len: usize) -> Self {
        TextList(ListRepr::Raw(text, len))
    }

    /// How many strings.
    #[must_use]
    pub fn len(&self) -> usize {
        match &self.0 {
            ListRepr::Raw(_, n) => *n,
            ListRepr::Owned(v) => v.len(),
        }
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The strings in order, unescaped (borrowed when they have no escapes).
    pub fn iter(&self) -> impl Iterator<Item = Cow<'_, str>> {
        match &self.0 {
            ListRepr::Raw(text, _) => ListIter::Raw(
                crate::raw::elements(text).unwrap_or_else(crate::raw::Elements::empty),
            ),
            ListRepr::Owned(v) => ListIter::Owned(v.iter()),
        }
    }

    /// The string at `index`.
    #[must_use]
    pub fn get(&self, index: usize) -> Option<Cow<'_, str>> {
        self.iter().nth(index)
    }
}

impl fmt::Debug for TextList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for TextList<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<Text<'a>>::deserialize(d).map(TextList::from)
    }
}

/// A JSON value kept as its text (`requestObject`, `responseObject`, `user.extra`): valid JSON,
/// read through on demand.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RawJson<'a>(&'a str);

impl<'a> RawJson<'a> {
    /// The JSON text.
    #[must_use]
    pub fn get(&self) -> &'a str {
        self.0
    }

    /// Wraps a text already known to be one valid JSON value.
    pub(crate) fn new(text: &'a str) -> Self {
        RawJson(text)
    }
}

impl fmt::Debug for RawJson<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawJson<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: &'de RawValue = Deserialize::deserialize(d)?;
        Ok(RawJson(raw.get()))
    }
}

/// The audit level (`None`, `Metadata`, `Request`, `RequestResponse`), kept as text.
pub type Level<'a> = Text<'a>;

/// Authenticated user information (`authentication/v1.UserInfo`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo<'a> {
    /// The name that uniquely identifies this user among all active users (`ka.user.name`).
    #[serde(borrow, default, deserialize_with = "nullable")]
    pub username: Option<Text<'a>>,
    /// A unique value that identifies this user across time.
    #[serde(borrow, default)]
    pub uid: Option<Text<'a>>,
    /// The groups this user is a part of (`ka.user.groups`).
    #[serde(borrow, default)]
    pub groups: Option<TextList<'a>>,
    /// Any additional information provided by the authenticator, kept as raw JSON.
    #[serde(borrow, default)]
    pub extra: Option<RawJson<'a>>,
}

/// The object a request is about (`audit.k8s.io/v1.ObjectReference`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference<'a> {
    /// The resource, e.g. `pods` (`ka.target.resource`).
    #[serde(borrow, default, deserialize_with = "nullable")]
    pub resource: Option<Text<'a>>,
    /// The namespace, absent for cluster-scoped objects (`ka.target.namespace`).
    #[serde(borrow, default, deserialize_with = "nullable")]
    pub namespace: Option<Text<'a>>,
    /// The object name (`ka.target.name`).
    #[serde(borrow, default, deserialize_with = "nullable")]
    pub name: Option<Text<'a>>,
    /// The object UID.
    #[serde(borrow, default)]
    pub uid: Option<Text<'a>>,
    /// The API group of the resource, empty for the core group.
    #[serde(borrow, default)]
    pub api_group: Option<Text<'a>>,
    /// The API version of the resource.
    #[serde(borrow, default)]
    pub api_version: Option<Text<'a>>,
    /// The resource version of the object.
    #[serde(borrow, default)]
    pub resource_version: Option<Text<'a>>,
    /// The subresource, e.g. `exec` or `status` (`ka.target.subresource`).
    #[serde(borrow, default, deserialize_with = "nullable")]
    pub subresource: Option<Text<'a>>,
}

/// The response status (a subset of `meta/v1.Status`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseStatus<'a> {
    /// The HTTP status code, as its original number text (`ka.response.code`).
    #[serde(borrow, default)]
    pub code: Option<Number<'a>>,
    /// `Success` or `Failure`.
    #[serde(borrow, default)]
    pub status: Option<Text<'a>>,
    /// A human-readable description of the status.
    #[serde(borrow, default)]
    pub message: Option<Text<'a>>,
    /// A machine-readable reason, e.g. `Forbidden` (`ka.response.reason`).
    #[serde(borrow, default, deserialize_with = "nullable")]
    pub reason: Option<Text<'a>>,
    /// A `code` that is not a number, as Falco renders it (its text, or compact JSON); only set
    /// by the Falco-compat decoding of an event the strict decoding refuses.
    #[serde(skip)]
    pub(crate) code_text: Option<Text<'a>>,
}

/// One Kubernetes audit event (`audit.k8s.io/v1` `Event`, also accepting the `v1beta1` shape).
///
/// All strings borrow from the input when they contain no escapes; `requestObject` and
/// `responseObject` stay raw JSON, read as text by field extraction; they are parsed into a
/// tree on first use (extraction does so only for a tolerantly decoded event), at most once.
/// The event also keeps its own raw JSON text ([`AuditEvent::raw_json`]).
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent<'a> {
    /// `Event` (absent on some webhook payload items).
    #[serde(borrow, default)]
    pub kind: Option<Text<'a>>,
    /// `audit.k8s.io/v1` or `audit.k8s.io/v1beta1`.
    #[serde(borrow, default)]
    pub api_version: Option<Text<'a>>,
    /// The audit level at which the event was generated.
    #[serde(borrow, default)]
    pub level: Option<Level<'a>>,
    /// Unique audit ID, generated for each request (`ka.auditid`). Without it Falco's k8saudit
    /// extracts nothing, so every `ka.*` field is missing.
    #[serde(borrow, default, deserialize_with = "nullable", rename = "auditID")]
    pub audit_id: Option<Text<'a>>,
    /// The request handling stage when this event was generated (`ka.stage`).
    #[serde(borrow, default, deserialize_with = "nullable")]
    pub stage: Option<Text<'a>>,
    /// The request URI as sent by the client (`ka.uri`, `ka.uri.param[..]`).
    #[serde(borrow, default, deserialize_with = "nullable", rename = "requestURI")]
    pub request_uri: Option<Text<'a>>,
    /// The Kubernetes verb, or the lowercase HTTP method for non-resource requests (`ka.verb`).
    #[serde(borrow, default, deserialize_with = "nullable")]
    pub verb: Option<Text<'a>>,
    /// The authenticated user (`ka.user.*`).
    #[serde(borrow, default)]
    pub user: Option<UserInfo<'a>>,
    /// The impersonated user, if any (`ka.impuser.name`).
    #[serde(borrow, default)]
    pub impersonated_user: Option<UserInfo<'a>>,
    /// Source IPs of the request, originating client first (`ka.sourceips`, corrected).
    #[serde(borrow, default, rename = "sourceIPs")]
    pub source_ips: Option<TextList<'a>>,
    /// The user agent reported by the client (`ka.useragent`).
    #[serde(borrow, default, deserialize_with = "nullable")]
    pub user_agent: Option<Text<'a>>,
    /// The object the request targets (`ka.target.*`).
    #[serde(borrow, default)]
    pub object_ref: Option<ObjectReference<'a>>,
    /// The response status (`ka.response.*`).
    #[serde(borrow, default)]
    pub response_status: Option<ResponseStatus<'a>>,
    /// The request body, raw (levels `Request` and `RequestResponse` only).
    #[serde(borrow, default)]
    pub request_object: Option<RawJson<'a>>,
    /// The response body, raw (level `RequestResponse` only).
    #[serde(borrow, default)]
    pub response_object: Option<RawJson<'a>>,
    /// When the request reached the apiserver (RFC 3339, microseconds).
    #[serde(borrow, default)]
    pub request_received_timestamp: Option<Text<'a>>,
    /// When the request reached the current stage; the event time (RFC 3339).
    #[serde(borrow, default)]
    pub stage_timestamp: Option<Text<'a>>,
    /// `v1beta1` only: the time the event was generated.
    #[serde(borrow, default)]
    pub timestamp: Option<Text<'a>>,
    /// Unstructured key-value annotations (`ka.auth.*`, `ka.cluster.name`, ...).
    #[serde(borrow, default)]
    pub annotations: Option<StrMap<'a>>,

    /// The event's own JSON text.
    #[serde(skip)]
    pub(crate) raw: &'a str,
    /// The event time in ns since the epoch (see [`AuditEvent::timestamp_ns`]).
    #[serde(skip)]
    pub(crate) time_ns: u64,
    /// Lazily parsed `requestObject` tree (`None` inside: absent or unparsable).
    #[serde(skip)]
    pub(crate) request_tree: OnceCell<Option<Node<'a>>>,
    /// Where the value of `requestObject.spec` starts in the `requestObject` text (a byte
    /// offset; `raw::member_open`), found on first use: nearly every `requestObject` walk goes
    /// through it, and this spares each the skip over `metadata`.
    #[serde(skip)]
    pub(crate) request_spec: OnceCell<Option<usize>>,
    /// Lazily parsed `responseObject` tree.
    #[serde(skip)]
    pub(crate) response_tree: OnceCell<Option<Node<'a>>>,
    /// Lazily parsed tree of the whole event (for `jevt.value`).
    #[serde(skip)]
    pub(crate) doc_tree: OnceCell<Option<Node<'a>>>,
    /// [`AuditEvent::timestamp_ns`] as decimal text, formatted on first use (`jevt.rawtime`,
    /// which Falco's `k8s_audit_always_true` macro reads on most events): no allocation.
    #[serde(skip)]
    pub(crate) raw_time: OnceCell<Decimal>,
    /// Decoded for Falco compat: the trees read strings the way Falco's parser does
    /// ([`Node::parse_falco`]).
    #[serde(skip)]
    pub(crate) falco: bool,
    /// An item of an `EventList` (Falco then never reads the item's own `kind`).
    #[serde(skip)]
    pub(crate) list_item: bool,
    /// Decoded by the tolerant Falco-compat reading (the text is not valid JSON to serde), so
    /// lookups go through the trees, never [`crate::raw`]'s validated-text reading.
    #[serde(skip)]
    pub(crate) loose: bool,
}

/// A `u64` in decimal, held inline: `digits[start..]`.
#[derive(Default)]
pub(crate) struct Decimal {
    digits: [u8; 20],
    start: usize,
}

impl Decimal {
    fn new(mut v: u64) -> Decimal {
        let mut d = Decimal {
            digits: [b'0'; 20],
            start: 20,
        };
        loop {
            d.start -= 1;
            d.digits[d.start] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                return d;
            }
        }
    }

    fn as_str(&self) -> &str {
        // ASCII digits: always UTF-8.
        std::str::from_utf8(self.digits.get(self.start..).unwrap_or_default()).unwrap_or_default()
    }
}

impl fmt::Debug for AuditEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditEvent")
            .field("audit_id", &self.audit_id)
            .field("stage", &self.stage)
            .field("verb", &self.verb)
            .field("request_uri", &self.request_uri)
            .field("user", &self.user)
            .field("object_ref", &self.object_ref)
            .field("response_status", &self.response_status)
            .field("time_ns", &self.time_ns)
            .finish_non_exhaustive()
    }
}

impl<'a> AuditEvent<'a> {
    /// The event's own JSON text, exactly as it appeared in the input (for an `EventList` or
    /// array item: the item's text). This is what `evt.plugininfo` shows.
    #[must_use]
    pub fn raw_json(&self) -> &'a str {
        self.raw
    }

    /// The event time in nanoseconds since the Unix epoch: `stageTimestamp`, falling back to
    /// `requestReceivedTimestamp`, then the `v1beta1` `timestamp`, then 0 when none is present.
    #[must_use]
    pub fn timestamp_ns(&self) -> u64 {
        self.time_ns
    }

    /// [`AuditEvent::timestamp_ns`] in decimal (`jevt.rawtime`), kept in the event.
    pub(crate) fn raw_time_text(&self) -> &str {
        self.raw_time
            .get_or_init(|| Decimal::new(self.time_ns))
            .as_str()
    }

    /// Parses a part of the event with the string rules it was decoded for.
    fn tree(&self, text: &'a str) -> Option<Node<'a>> {
        if self.falco {
            Node::parse_falco(text)
        } else {
            Node::parse(text)
        }
    }

    /// The parsed `requestObject` (parsed on first call, cached).
    #[must_use]
    pub fn request_tree(&self) -> Option<&Node<'a>> {
        self.request_tree
            .get_or_init(|| self.request_object.and_then(|r| self.tree(r.get())))
            .as_ref()
    }

    /// The parsed `responseObject` (parsed on first call, cached).
    #[must_use]
    pub fn response_tree(&self) -> Option<&Node<'a>> {
        self.response_tree
            .get_or_init(|| self.response_object.and_then(|r| self.tree(r.get())))
            .as_ref()
    }

    /// The whole event as a tree (parsed on first call, cached); used by `jevt.value`.
    #[must_use]
    pub fn document_tree(&self) -> Option<&Node<'a>> {
        self.doc_tree.get_or_init(|| self.tree(self.raw)).as_ref()
    }

    /// Whether the event was decoded for Falco compat (see [`crate::decode_event_with`]).
    #[must_use]
    pub fn decoded_for_falco(&self) -> bool {
        self.falco
    }

    /// Whether `requestObject` has been parsed already (for tests and benchmarks).
    #[must_use]
    pub fn request_tree_parsed(&self) -> bool {
        self.request_tree.get().is_some()
    }
}

/// `audit.k8s.io/v1` `EventList`, as the webhook backend posts it; items kept raw.
#[derive(Debug, Deserialize)]
pub struct EventList<'a> {
    /// `EventList`.
    #[serde(borrow, default)]
    pub kind: Option<Text<'a>>,
    /// `audit.k8s.io/v1`.
    #[serde(borrow, default, rename = "apiVersion")]
    pub api_version: Option<Text<'a>>,
    /// The events, each kept as its raw JSON text (`serde_json`'s borrowed `RawValue`, so each
    /// is decoded on its own, with its own error).
    #[serde(borrow, default)]
    pub items: Vec<&'a RawValue>,
}

#[cfg(test)]
mod decimal_tests {
    use super::Decimal;

    #[test]
    fn decimal_text_is_to_string() {
        for v in [0, 1, 9, 10, 1_540_561_114_000_000_001, u64::MAX] {
            assert_eq!(Decimal::new(v).as_str(), v.to_string());
        }
    }
}
