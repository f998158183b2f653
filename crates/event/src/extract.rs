//! Field extraction: `impl Event<Field> for AuditEvent`.

use std::borrow::Cow;

use kaudit_condition::{Event, Value, Values};

use crate::fields::{Compat, ContainerList, Extractor, Field, FieldArg, PodField};
use crate::json;
use crate::model::{AuditEvent, Text};
use crate::raw;
use crate::time;
use crate::view::{JsonView, Raw};

fn push<'a>(out: &mut Values<'a>, s: Cow<'a, str>) {
    out.push(Value::Str(s));
}

fn push_text<'a>(out: &mut Values<'a>, t: Option<&'a Text<'_>>) {
    if let Some(t) = t {
        push(out, Cow::Borrowed(t.as_str()));
    }
}

/// k8saudit's recursive walk (`R`): fans out over arrays met before a key is consumed (or takes
/// element `idx` of every such array), gives `None` for a branch lacking the path, and does
/// not expand an array reached as the final value. Calls `f` with every value, in order.
fn walk<'n, V: JsonView<'n>, F: FnMut(Option<V>)>(
    v: V,
    path: &[&str],
    idx: Option<usize>,
    f: &mut F,
) {
    let Some((k, rest)) = path.split_first() else {
        return f(Some(v));
    };
    if let Some(mut items) = v.elements() {
        match idx {
            Some(i) => match items.nth(i) {
                Some(e) => walk(e, path, idx, f),
                None => f(None),
            },
            None => items.for_each(|e| walk(e, path, idx, f)),
        }
        return;
    }
    match v.member(k) {
        Some(c) => walk(c, rest, idx, f),
        None => f(None),
    }
}

/// k8saudit's own walk (`getValuesRecursive`), for [`Compat::Falco`]. Before each key, an
/// array is fanned out (each element walks the rest of the path, one lacking it gives a `None`
/// placeholder) or, with an index, replaced by its element N, and the key is then read from
/// that element directly, arrays or not (fastjson's `Get`: an array takes the key as a Go
/// `Atoi` index, so a nested array has no `image`). An empty key reads the value itself.
///
/// Calls `f` with every value in order and returns `true`; returns `false` (upstream's "not
/// available": the path is missing where no fan-out happened, or there is no root) having
/// called `f` not at all, so callers need no buffer to discard a failed walk.
fn gvr<'n, V: JsonView<'n>, F: FnMut(Option<V>)>(
    root: Option<V>,
    path: &[&str],
    idx: Option<usize>,
    f: &mut F,
) -> bool {
    root.is_some_and(|r| gvr_each(r, path, idx, f))
}

fn gvr_each<'n, V: JsonView<'n>, F: FnMut(Option<V>)>(
    mut v: V,
    path: &[&str],
    idx: Option<usize>,
    f: &mut F,
) -> bool {
    for (i, k) in path.iter().enumerate() {
        if let Some(mut items) = v.elements() {
            match idx {
                None => {
                    for e in items {
                        // A failing element calls nothing before failing (it fails only
                        // before it fans out), so its placeholder goes in its place.
                        if !gvr_each(e, &path[i..], None, f) {
                            f(None);
                        }
                    }
                    return true;
                }
                Some(n) => match items.nth(n) {
                    Some(e) => v = e,
                    None => return false,
                },
            }
        }
        if !k.is_empty() {
            match v.get_falco(k) {
                Some(c) => v = c,
                None => return false,
            }
        }
    }
    f(Some(v));
    true
}

/// `R(path)`: our walk ([`walk`]) by default, k8saudit's ([`gvr`]) under compat, where
/// "not available" is one `None` (Strict and SkipNil treat both alike).
fn recursive<'n, V: JsonView<'n>, F: FnMut(Option<V>)>(
    root: Option<V>,
    path: &[&str],
    idx: Option<usize>,
    falco: bool,
    f: &mut F,
) {
    match root {
        Some(r) if falco => {
            if !gvr_each(r, path, idx, f) {
                f(None);
            }
        }
        Some(r) => walk(r, path, idx, f),
        None => f(None),
    }
}

/// `SkipNil`: calls `f` with the values of `R(path)`, gaps dropped.
fn skip_nil<'n, V: JsonView<'n>>(
    root: Option<V>,
    path: &[&str],
    idx: Option<usize>,
    falco: bool,
    mut f: impl FnMut(V),
) {
    recursive(root, path, idx, falco, &mut |v: Option<V>| {
        if let Some(v) = v {
            f(v);
        }
    });
}

/// `Strict`: pushes `render` of every value of `R(path)`; any gap makes the whole field
/// missing (what was pushed is taken back).
fn strict<'a, V: JsonView<'a>>(
    root: Option<V>,
    path: &[&str],
    idx: Option<usize>,
    falco: bool,
    out: &mut Values<'a>,
    render: impl Fn(V) -> Cow<'a, str>,
) {
    let start = out.len();
    let mut gap = false;
    recursive(root, path, idx, falco, &mut |v: Option<V>| match v {
        Some(v) if !gap => push(out, render(v)),
        Some(_) => {}
        None => gap = true,
    });
    if gap {
        out.truncate(start);
    }
}

/// Falco's repository cut: before the first `:`, then before the first `@`.
fn repository_falco(image: &str) -> &str {
    let s = image.split(':').next().unwrap_or(image);
    s.split('@').next().unwrap_or(s)
}

/// The repository of an image reference: without `@digest` and without a `:tag` after the
/// last `/` (so a registry port stays).
#[must_use]
pub fn repository(image: &str) -> &str {
    let s = image.split('@').next().unwrap_or(image);
    let last_slash = s.rfind('/').map_or(0, |p| p + 1);
    match s[last_slash..].find(':') {
        Some(p) => &s[..last_slash + p],
        None => s,
    }
}

fn index(arg: &FieldArg) -> Option<usize> {
    match arg {
        FieldArg::Index(i) => usize::try_from(*i).ok(),
        _ => None,
    }
}

fn key(arg: &FieldArg) -> &str {
    match arg {
        FieldArg::Key(k) => k,
        _ => "",
    }
}

impl<'e> Event<Field> for AuditEvent<'e> {
    fn extract<'a>(&'a self, field: &Field, out: &mut Values<'a>) {
        extract(self, field, out);
    }
}

/// Pushes the values of `field` for `ev` onto `out` (see [`Event::extract`]).
pub fn extract<'a>(ev: &'a AuditEvent<'_>, field: &Field, out: &mut Values<'a>) {
    extract_with(ev, field, out, ev.loose);
}

/// [`extract`] reading the event through parsed trees wherever it would read validated text
/// directly (what it does for a tolerantly decoded event), for tests that compare the two
/// readings; not part of the API.
#[doc(hidden)]
pub fn extract_via_trees<'a>(ev: &'a AuditEvent<'_>, field: &Field, out: &mut Values<'a>) {
    extract_with(ev, field, out, true);
}

/// [`extract`]; `trees`: read `jevt.value` and the `requestObject` walks through the parsed
/// trees ([`AuditEvent::document_tree`], [`AuditEvent::request_tree`]) instead of the text.
fn extract_with<'a>(ev: &'a AuditEvent<'_>, field: &Field, out: &mut Values<'a>, trees: bool) {
    use Extractor as E;
    let ns = ev.timestamp_ns();
    match field.extractor {
        E::JsonValue => {
            let falco = field.compat == Compat::Falco;
            let FieldArg::Pointer(p) = &field.arg else {
                return;
            };
            if !trees {
                // A top-level string key the model decodes (`kevt` reads `/stage` on every
                // event): the decoded text is the value the pointer reads (first duplicate,
                // `null` as "null"; any other type would not have decoded).
                if let [tok] = &**p
                    && let Some(t) = top_level_text(ev, tok)
                {
                    if let Some(t) = t {
                        push(out, Cow::Borrowed(t.as_str()));
                    }
                    return;
                }
                // Validated text: follow the pointer through the text, no tree.
                let v = if falco {
                    raw::pointer_falco(ev.raw_json(), p, ev.falco)
                } else {
                    raw::pointer(ev.raw_json(), p, ev.falco)
                };
                if let Some(v) = v {
                    push(out, raw::to_falco_string(v, ev.falco));
                }
                return;
            }
            if let Some(doc) = ev.document_tree()
                && let Some(n) = if falco {
                    json::pointer_falco(doc, p)
                } else {
                    json::pointer(doc, p)
                }
            {
                push(out, n.to_falco_string());
            }
            return;
        }
        E::JsonObj if field.compat == Compat::Falco => {
            if let Some(text) = crate::falco::stored_payload(ev) {
                push(out, Cow::Owned(json::indent(&text)));
            }
            return;
        }
        E::JsonObj => return push(out, Cow::Owned(json::indent(ev.raw_json()))),
        E::JsonRawTime => return push(out, Cow::Borrowed(ev.raw_time_text())),
        E::EvtTime => return push(out, Cow::Owned(time::format_time(ns))),
        E::EvtTimeS => return push(out, Cow::Owned(time::format_time_s(ns))),
        E::EvtTimeIso8601 => return push(out, Cow::Owned(time::format_iso8601(ns))),
        E::EvtDatetime => return push(out, Cow::Owned(time::format_datetime(ns))),
        E::EvtDatetimeS => return push(out, Cow::Owned(time::format_datetime_s(ns))),
        E::EvtRawTime => return out.push(Value::Uint(ns)),
        E::EvtRawTimeS => return out.push(Value::Uint(ns / 1_000_000_000)),
        E::EvtRawTimeNs => return out.push(Value::Uint(ns % 1_000_000_000)),
        E::EvtSource => return push(out, Cow::Borrowed(crate::fields::SOURCE)),
        E::EvtPluginName => return push(out, Cow::Borrowed("k8saudit")),
        E::EvtPluginInfo => return push(out, Cow::Borrowed(ev.raw_json())),
        _ => {}
    }
    // k8saudit extracts nothing from an event without a top-level auditID.
    if ev.audit_id.is_none() {
        return;
    }
    let falco = field.compat == Compat::Falco;
    let idx = index(&field.arg);
    // The walks over `requestObject`: through its text when it is validated JSON (no tree, no
    // allocation), through its tree for a tolerantly decoded event.
    let walked = if trees {
        request_walk(|| ev.request_tree(), field, idx, falco, out)
    } else {
        let text = ev
            .request_object
            .map(|r| Raw::root(r.get(), ev.falco, &ev.request_spec));
        request_walk(|| text, field, idx, falco, out)
    };
    if walked {
        return;
    }
    // String reading of the event's trees; `requestObject` / `responseObject` texts are
    // validated JSON (serde checked them even for a tolerantly decoded event), so paths into
    // them are followed through the text, with no tree.
    let sf = ev.falco;
    let req_raw = |p: &[&str]| ev.request_object.and_then(|r| raw::path(r.get(), p, sf));
    let obj = ev.object_ref.as_ref();
    match field.extractor {
        E::AuditId => push_text(out, ev.audit_id.as_ref()),
        E::Stage => push_text(out, ev.stage.as_ref()),
        E::Annotation(k) => {
            if let Some(v) = ev.annotations.as_ref().and_then(|a| a.get(k)) {
                push(out, v);
            }
        }
        E::UserName => push_text(out, ev.user.as_ref().and_then(|u| u.username.as_ref())),
        E::UserGroups => {
            for g in ev.user.iter().flat_map(|u| u.groups.iter()) {
                g.iter().for_each(|g| push(out, g));
            }
        }
        E::ImpUserName => push_text(
            out,
            ev.impersonated_user
                .as_ref()
                .and_then(|u| u.username.as_ref()),
        ),
        E::Verb => push_text(out, ev.verb.as_ref()),
        E::Uri => push_text(out, ev.request_uri.as_ref()),
        E::UriParam => {
            if let Some(uri) = ev.request_uri.as_ref()
                && let Some(v) = crate::url::query_param(uri.as_str(), key(&field.arg))
            {
                push(out, v);
            }
        }
        E::UserAgent => push_text(out, ev.user_agent.as_ref()),
        E::SourceIps => {
            if let Some(ips) = ev.source_ips.as_ref() {
                match idx {
                    Some(i) => {
                        if let Some(ip) = ips.get(i) {
                            push(out, ip);
                        }
                    }
                    None => ips.iter().for_each(|ip| push(out, ip)),
                }
            }
        }
        E::TargetName => push_text(out, obj.and_then(|o| o.name.as_ref())),
        E::TargetNamespace => push_text(out, obj.and_then(|o| o.namespace.as_ref())),
        E::TargetResource => push_text(out, obj.and_then(|o| o.resource.as_ref())),
        E::TargetSubresource => push_text(out, obj.and_then(|o| o.subresource.as_ref())),
        E::TargetPodName => {
            let is_pod = obj
                .and_then(|o| o.resource.as_ref())
                .is_some_and(|r| r.as_str() == "pods");
            let no_sub = obj
                .and_then(|o| o.subresource.as_ref())
                .is_none_or(|s| s.is_empty());
            if is_pod && no_sub {
                resp_name(ev, out);
            }
        }
        E::RespName => resp_name(ev, out),
        E::ResponseCode => {
            if let Some(r) = ev.response_status.as_ref() {
                match (r.code, r.code_text.as_ref()) {
                    (Some(c), _) => push(out, Cow::Borrowed(c.0)),
                    (None, t) => push_text(out, t),
                }
            }
        }
        E::ResponseReason => push_text(
            out,
            ev.response_status.as_ref().and_then(|r| r.reason.as_ref()),
        ),
        E::BindingSubjects => raw_list(req_raw(&["subjects"]), sf, out),
        E::SubjectNames(kind) => raw_subjects(req_raw(&["subjects"]), kind, false, sf, out),
        E::SubjectServiceAccountNsNames => {
            raw_subjects(req_raw(&["subjects"]), "ServiceAccount", true, sf, out)
        }
        E::BindingRole => raw_scalar(req_raw(&["roleRef", "name"]), sf, out),
        E::SubjectHasName => push(out, Cow::Borrowed("true")),
        E::ConfigMapObj => raw_scalar(req_raw(&["data"]), sf, out),
        E::RoleRules => raw_list(req_raw(&["rules"]), sf, out),
        E::Request(p) => raw_scalar(req_raw(p), sf, out),
        E::RequestList(p) => raw_list(req_raw(p), sf, out),
        _ => {}
    }
}

/// The fields that walk `requestObject` (`req` gives its root, asked for once): pushes their
/// values and returns `true`, or returns `false` for any other field.
fn request_walk<'a, V: JsonView<'a>>(
    req: impl FnOnce() -> Option<V>,
    field: &Field,
    idx: Option<usize>,
    falco: bool,
    out: &mut Values<'a>,
) -> bool {
    use Extractor as E;
    let at = |r: Option<V>, p: &[&str]| r.and_then(|r| r.path(p));
    match field.extractor {
        E::SourceIps if falco => rules_key(req(), "sourceIPs", idx, falco, out),
        E::RoleRulesKey(k) => rules_key(req(), k, idx, falco, out),
        E::ServicePorts if falco => skip_nil(req(), &["spec", "ports"], idx, falco, |v| {
            push(out, v.to_falco_string());
        }),
        E::ServicePorts => {
            if let Some(mut ports) = at(req(), &["spec", "ports"]).and_then(V::elements) {
                match idx {
                    Some(i) => {
                        if let Some(p) = ports.nth(i) {
                            push(out, p.to_falco_string());
                        }
                    }
                    None => ports.for_each(|p| push(out, p.to_falco_string())),
                }
            }
        }
        E::Volumes(path) => skip_nil(req(), path, idx, falco, |v| push(out, v.to_falco_string())),
        E::VolumeType if falco => {
            // Upstream visits the keys of every walked volume that is an object and skips the
            // others; where it would meet a placeholder (a `requestObject` array whose element
            // lacks `spec.volumes`) it panics, and we skip that too.
            gvr(req(), &["spec", "volumes", ""], idx, &mut |v: Option<V>| {
                if let Some(v) = v {
                    v.for_each_key(|k| {
                        if k != "name" {
                            push(out, k);
                        }
                    });
                }
            });
        }
        E::VolumeType => volume_types(at(req(), &["spec", "volumes"]), idx, out),
        E::VolumeHostPath if falco => {
            let arg = key(&field.arg);
            let mut hit = false;
            let path = ["spec", "volumes", "hostPath", "path"];
            if gvr(req(), &path, None, &mut |v: Option<V>| {
                hit = hit || v.is_some_and(|v| host_path_hit(v, arg));
            }) {
                push(out, Cow::Borrowed(if hit { "true" } else { "false" }));
            }
        }
        E::VolumeHostPath => {
            let req = req();
            if at(req, &["spec", "volumes"])
                .and_then(V::elements)
                .is_none()
            {
                return true;
            }
            let arg = key(&field.arg);
            let mut hit = false;
            let path = ["spec", "volumes", "hostPath", "path"];
            skip_nil(req, &path, None, false, |v| {
                hit = hit || host_path_hit(v, arg);
            });
            push(out, Cow::Borrowed(if hit { "true" } else { "false" }));
        }
        E::FirstContainerImage | E::FirstContainerRepository => {
            // `Strict` of the walk with index 0, which never fans out: one value or a gap.
            let mut first = None;
            let mut gap = false;
            let path = ["spec", "containers", "image"];
            recursive(req(), &path, Some(0), falco, &mut |v: Option<V>| match v {
                Some(v) => {
                    first = first.or(Some(v));
                }
                None => gap = true,
            });
            if let Some(first) = first.filter(|_| !gap) {
                let img = first.to_falco_string();
                if field.extractor == E::FirstContainerImage {
                    push(out, img);
                } else {
                    push(out, repo_of(img, falco));
                }
            }
        }
        E::AnyContainerPrivileged if falco => {
            let path = ["spec", "containers", "securityContext", "privileged"];
            let mut any = false;
            if gvr(req(), &path, None, &mut |v: Option<V>| {
                any = any || v.is_some_and(V::is_true);
            }) {
                push(out, Cow::Borrowed(if any { "true" } else { "false" }));
            }
        }
        E::AnyContainerPrivileged => {
            if let Some(mut cs) = at(req(), &["spec", "containers"]).and_then(V::elements) {
                let any = cs.any(|c| {
                    c.path(&["securityContext", "privileged"])
                        .is_some_and(V::is_true)
                });
                push(out, Cow::Borrowed(if any { "true" } else { "false" }));
            }
        }
        E::Pod(cl, pf) => pod(req(), cl, pf, idx, falco, out),
        _ => return false,
    }
    true
}

/// The decoded value of a top-level key the model reads as a nullable string (`Some(None)`:
/// the key is absent); `None` for any other key.
fn top_level_text<'e, 'a>(ev: &'e AuditEvent<'a>, key: &str) -> Option<Option<&'e Text<'a>>> {
    Some(match key {
        "stage" => ev.stage.as_ref(),
        "verb" => ev.verb.as_ref(),
        "auditID" => ev.audit_id.as_ref(),
        "requestURI" => ev.request_uri.as_ref(),
        "userAgent" => ev.user_agent.as_ref(),
        _ => return None,
    })
}

/// `ka.req.volume.hostpath`: a path equal to the argument, or starting with it when the
/// argument ends with `*`.
fn host_path_hit<'n, V: JsonView<'n>>(path: V, arg: &str) -> bool {
    let v = path.to_falco_string();
    match arg.strip_suffix('*') {
        Some(prefix) => v.starts_with(prefix),
        None => v == arg,
    }
}

fn resp_name<'a>(ev: &'a AuditEvent<'_>, out: &mut Values<'a>) {
    let v = ev
        .response_object
        .and_then(|r| raw::path(r.get(), &["metadata", "name"], ev.falco));
    raw_scalar(v, ev.falco, out);
}

/// `K` of a single value, read from validated JSON text.
fn raw_scalar<'a>(v: Option<&'a str>, falco: bool, out: &mut Values<'a>) {
    if let Some(v) = v {
        push(out, raw::to_falco_string(v, falco));
    }
}

/// `K` of a list field read from validated JSON text: an array, one value per element.
fn raw_list<'a>(v: Option<&'a str>, falco: bool, out: &mut Values<'a>) {
    if let Some(items) = v.and_then(raw::as_array) {
        items.for_each(|e| push(out, raw::to_falco_string(e, falco)));
    }
}

/// [`subjects`] over validated JSON text.
fn raw_subjects<'a>(
    v: Option<&'a str>,
    kind: &str,
    with_ns: bool,
    falco: bool,
    out: &mut Values<'a>,
) {
    let Some(items) = v.and_then(raw::as_array) else {
        return;
    };
    for s in items {
        let (Some(k), Some(name)) = (raw::member(s, "kind", falco), raw::member(s, "name", falco))
        else {
            continue;
        };
        if raw::to_falco_string(k, falco) != kind {
            continue;
        }
        let name = raw::to_falco_string(name, falco);
        if with_ns {
            if let Some(ns) = raw::member(s, "namespace", falco) {
                let ns = raw::to_falco_string(ns, falco);
                push(out, Cow::Owned(format!("{ns}:{name}")));
            }
        } else {
            push(out, name);
        }
    }
}

/// `R(requestObject.rules.<key>)`: array results flattened, other values ignored.
fn rules_key<'a, V: JsonView<'a>>(
    req: Option<V>,
    k: &str,
    idx: Option<usize>,
    falco: bool,
    out: &mut Values<'a>,
) {
    skip_nil(req, &["rules", k], idx, falco, |v| {
        if let Some(items) = v.elements() {
            items.for_each(|e| push(out, e.to_falco_string()));
        }
    });
}

/// `ka.req.pod.volumes.volume_type` (default compat): the keys but `name` of the selected
/// volumes; missing when one of them is not an object.
fn volume_types<'a, V: JsonView<'a>>(n: Option<V>, idx: Option<usize>, out: &mut Values<'a>) {
    let Some(mut vols) = n.and_then(V::elements) else {
        return;
    };
    let start = out.len();
    let keys = |v: V, out: &mut Values<'a>| {
        v.for_each_key(|k| {
            if k != "name" {
                push(out, k);
            }
        })
    };
    let all_objects = match idx {
        Some(i) => match vols.nth(i) {
            Some(v) => keys(v, out),
            None => return,
        },
        None => vols.all(|v| keys(v, out)),
    };
    if !all_objects {
        out.truncate(start);
    }
}

fn repo_of(img: Cow<'_, str>, falco: bool) -> Cow<'_, str> {
    let cut = |s: &str| {
        if falco {
            repository_falco(s).len()
        } else {
            repository(s).len()
        }
    };
    match img {
        Cow::Borrowed(s) => Cow::Borrowed(&s[..cut(s)]),
        Cow::Owned(mut s) => {
            let n = cut(&s);
            s.truncate(n);
            Cow::Owned(s)
        }
    }
}

/// The containers of a list, or the one selected by the index (`None` when it is absent).
fn containers<'n, V: JsonView<'n>>(
    req: Option<V>,
    cl: ContainerList,
    idx: Option<usize>,
) -> Option<impl Iterator<Item = V>> {
    let all = req?.path(&["spec", cl.key()])?.elements()?;
    let (skip, take) = match idx {
        Some(i) => (i, 1),
        None => (0, usize::MAX),
    };
    let mut selected = all.skip(skip).take(take).peekable();
    if idx.is_some() && selected.peek().is_none() {
        return None;
    }
    Some(selected)
}

/// An array of strings joined with spaces (`command` / `args`); `None` when `v` is not an
/// array or an element is not a string. Borrowed for zero or one element.
fn joined<'a, V: JsonView<'a>>(v: V) -> Option<Cow<'a, str>> {
    let mut items = v.elements()?;
    let Some(first) = items.next() else {
        return Some(Cow::Borrowed(""));
    };
    let first = first.as_str()?;
    let mut joined: Option<String> = None;
    for it in items {
        let s = it.as_str()?;
        let j = joined.get_or_insert_with(|| first.to_string());
        j.push(' ');
        j.push_str(&s);
    }
    Some(joined.map_or(first, Cow::Owned))
}

/// Upstream's `command` / `args`: every walked value that is present must be an array of
/// strings (joined with spaces), else the field is missing; placeholders are skipped.
fn joined_falco<'a, V: JsonView<'a>>(
    req: Option<V>,
    path: &[&str],
    idx: Option<usize>,
    out: &mut Values<'a>,
) {
    let start = out.len();
    let mut ok = true;
    gvr(req, path, idx, &mut |v: Option<V>| {
        if let Some(v) = v.filter(|_| ok) {
            match joined(v) {
                Some(s) => push(out, s),
                None => ok = false,
            }
        }
    });
    if !ok {
        out.truncate(start);
    }
}

fn pod<'a, V: JsonView<'a>>(
    req: Option<V>,
    cl: ContainerList,
    pf: PodField,
    idx: Option<usize>,
    falco: bool,
    out: &mut Values<'a>,
) {
    let key = cl.key();
    match pf {
        PodField::Name | PodField::Image | PodField::ImageRepository => {
            let leaf = if pf == PodField::Name {
                "name"
            } else {
                "image"
            };
            strict(req, &["spec", key, leaf], idx, falco, out, |v| {
                let s = v.to_falco_string();
                if pf == PodField::ImageRepository {
                    repo_of(s, falco)
                } else {
                    s
                }
            });
        }
        PodField::Command | PodField::Args => {
            let leaf = if pf == PodField::Command {
                "command"
            } else {
                "args"
            };
            if falco {
                return joined_falco(req, &["spec", key, leaf], idx, out);
            }
            let Some(cs) = containers(req, cl, idx) else {
                return;
            };
            let start = out.len();
            for c in cs {
                let Some(v) = c.member(leaf) else {
                    continue;
                };
                let Some(s) = joined(v) else {
                    out.truncate(start);
                    return;
                };
                push(out, s);
            }
        }
        PodField::SecurityContext(k) => {
            let path = ["spec", key, "securityContext", k];
            skip_nil(req, &path, idx, falco, |v| push(out, v.to_falco_string()));
        }
        PodField::AddCapabilities => {
            let path = ["spec", key, "securityContext", "capabilities", "add"];
            skip_nil(req, &path, idx, falco, |v| match v.elements() {
                Some(items) if !falco => items.for_each(|c| push(out, c.to_falco_string())),
                _ => push(out, v.to_falco_string()),
            });
        }
        PodField::EffRunAsUser | PodField::EffRunAsGroup => {
            let k = if pf == PodField::EffRunAsUser {
                "runAsUser"
            } else {
                "runAsGroup"
            };
            if falco {
                // Upstream reads `<list>[*].<k>` with its walk: with an index, a container
                // without a top-level `<k>` makes the walk fail (missing); without one, it is a
                // placeholder that takes the pod value `spec.<k>`, else "0".
                let pod_level = req.and_then(|r| r.path(&["spec", k]));
                gvr(
                    req,
                    &["spec", key, k],
                    idx,
                    &mut |v: Option<V>| match v.or(pod_level) {
                        Some(v) => push(out, v.to_falco_string()),
                        None => push(out, Cow::Borrowed("0")),
                    },
                );
                return;
            }
            let Some(cs) = containers(req, cl, idx) else {
                return;
            };
            let pod_level = req.and_then(|r| r.path(&["spec", "securityContext", k]));
            for c in cs {
                match c.path(&["securityContext", k]).or(pod_level) {
                    Some(v) => push(out, v.to_falco_string()),
                    None => push(out, Cow::Borrowed("0")),
                }
            }
        }
        PodField::HostPort if falco => {
            gvr(req, &["spec", key, "ports"], idx, &mut |v: Option<V>| {
                let Some(ports) = v.and_then(V::elements) else {
                    return;
                };
                for p in ports {
                    if let Some(v) = p.member("hostPort").or_else(|| p.member("containerPort")) {
                        push(out, v.to_falco_string());
                    }
                }
            });
        }
        PodField::HostPort => {
            let Some(cs) = containers(req, cl, idx) else {
                return;
            };
            for c in cs {
                let Some(ports) = c.member("ports").and_then(V::elements) else {
                    continue;
                };
                for p in ports {
                    if let Some(v) = p.member("hostPort") {
                        push(out, v.to_falco_string());
                    }
                }
            }
        }
    }
}
