//! Field extraction: `impl Event<Field> for AuditEvent`.

use std::borrow::Cow;

use kaudit_condition::{Event, Value, Values};

use crate::fields::{Compat, ContainerList, Extractor, Field, FieldArg, PodField};
use crate::json::{self, Node};
use crate::model::{AuditEvent, Text};
use crate::raw;
use crate::time;

fn push<'a>(out: &mut Values<'a>, s: Cow<'a, str>) {
    out.push(Value::Str(s));
}

fn push_text<'a>(out: &mut Values<'a>, t: Option<&'a Text<'_>>) {
    if let Some(t) = t {
        push(out, Cow::Borrowed(t.as_str()));
    }
}

/// k8saudit's recursive walk (`R`): fans out over arrays met before a key is consumed (or takes
/// element `idx` of every such array), pushes `None` for a branch lacking the path, and does
/// not expand an array reached as the final value.
fn walk<'n, 'a>(
    v: &'n Node<'a>,
    path: &[&str],
    idx: Option<usize>,
    out: &mut Vec<Option<&'n Node<'a>>>,
) {
    match (path.split_first(), v) {
        (None, _) => out.push(Some(v)),
        (Some(_), Node::Arr { items, .. }) => match idx {
            Some(i) => match items.get(i) {
                Some(e) => walk(e, path, idx, out),
                None => out.push(None),
            },
            None => items.iter().for_each(|e| walk(e, path, idx, out)),
        },
        (Some((k, rest)), Node::Obj { .. }) => match v.member(k) {
            Some(c) => walk(c, rest, idx, out),
            None => out.push(None),
        },
        _ => out.push(None),
    }
}

/// k8saudit's own walk (`getValuesRecursive`), for [`Compat::Falco`]. Before each key, an
/// array is fanned out (each element walks the rest of the path, one lacking it gives a `None`
/// placeholder) or, with an index, replaced by its element N, and the key is then read from
/// that element directly, arrays or not (fastjson's `Get`: an array takes the key as a Go
/// `Atoi` index, so a nested array has no `image`). An empty key reads the value itself.
/// `None` is upstream's "not available": the path is missing where no fan-out happened.
fn gvr<'n, 'a>(
    root: Option<&'n Node<'a>>,
    path: &[&str],
    idx: Option<usize>,
) -> Option<Vec<Option<&'n Node<'a>>>> {
    let mut out = Vec::new();
    gvr_into(root?, path, idx, &mut out).then_some(out)
}

fn gvr_into<'n, 'a>(
    mut v: &'n Node<'a>,
    path: &[&str],
    idx: Option<usize>,
    out: &mut Vec<Option<&'n Node<'a>>>,
) -> bool {
    for (i, k) in path.iter().enumerate() {
        if let Node::Arr { items, .. } = v {
            match idx {
                None => {
                    for e in items {
                        // A failing element pushes nothing before failing (it fails only
                        // before it fans out), so its placeholder goes in its place.
                        if !gvr_into(e, &path[i..], None, out) {
                            out.push(None);
                        }
                    }
                    return true;
                }
                Some(n) => match items.get(n) {
                    Some(e) => v = e,
                    None => return false,
                },
            }
        }
        if !k.is_empty() {
            match json::get_falco(v, k) {
                Some(c) => v = c,
                None => return false,
            }
        }
    }
    out.push(Some(v));
    true
}

/// `R(path)`: our walk ([`walk`]) by default, k8saudit's ([`gvr`]) under compat, where
/// "not available" is one `None` (Strict and SkipNil treat both alike).
fn recursive<'n, 'a>(
    root: Option<&'n Node<'a>>,
    path: &[&str],
    idx: Option<usize>,
    falco: bool,
) -> Vec<Option<&'n Node<'a>>> {
    if falco {
        return gvr(root, path, idx).unwrap_or_else(|| vec![None]);
    }
    let mut v = Vec::new();
    match root {
        Some(r) => walk(r, path, idx, &mut v),
        None => v.push(None),
    }
    v
}

/// `Strict`: any gap makes the whole field missing.
fn strict<'n, 'a>(vals: Vec<Option<&'n Node<'a>>>) -> Option<Vec<&'n Node<'a>>> {
    vals.into_iter().collect()
}

/// `SkipNil`: gaps are dropped.
fn skip_nil<'n, 'a>(vals: Vec<Option<&'n Node<'a>>>) -> impl Iterator<Item = &'n Node<'a>> {
    vals.into_iter().flatten()
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
    use Extractor as E;
    let ns = ev.timestamp_ns();
    match field.extractor {
        E::JsonValue => {
            let falco = field.compat == Compat::Falco;
            let FieldArg::Pointer(p) = &field.arg else {
                return;
            };
            if !ev.loose {
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
    let req = || ev.request_tree();
    let req_path = |p: &[&str]| req().and_then(|r| r.path(p));
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
        E::SourceIps if falco => rules_key(req(), "sourceIPs", idx, falco, out),
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
        E::RoleRulesKey(k) => rules_key(req(), k, idx, falco, out),
        E::Request(p) => raw_scalar(req_raw(p), sf, out),
        E::RequestList(p) => raw_list(req_raw(p), sf, out),
        E::ServicePorts if falco => {
            for v in skip_nil(recursive(req(), &["spec", "ports"], idx, falco)) {
                push(out, v.to_falco_string());
            }
        }
        E::ServicePorts => {
            if let Some(ports) = req_path(&["spec", "ports"]).and_then(Node::as_array) {
                match idx {
                    Some(i) => {
                        if let Some(p) = ports.get(i) {
                            push(out, p.to_falco_string());
                        }
                    }
                    None => ports.iter().for_each(|p| push(out, p.to_falco_string())),
                }
            }
        }
        E::Volumes(path) => {
            for v in skip_nil(recursive(req(), path, idx, falco)) {
                push(out, v.to_falco_string());
            }
        }
        E::VolumeType if falco => {
            // Upstream visits the keys of every walked volume that is an object and skips the
            // others; where it would meet a placeholder (a `requestObject` array whose element
            // lacks `spec.volumes`) it panics, and we skip that too.
            for v in gvr(req(), &["spec", "volumes", ""], idx)
                .into_iter()
                .flatten()
            {
                if let Some(Node::Obj { entries, .. }) = v {
                    for (k, _) in entries {
                        if k != "name" {
                            push(out, Cow::Borrowed(k.as_ref()));
                        }
                    }
                }
            }
        }
        E::VolumeType => volume_types(req_path(&["spec", "volumes"]), idx, out),
        E::VolumeHostPath if falco => {
            let Some(vals) = gvr(req(), &["spec", "volumes", "hostPath", "path"], None) else {
                return;
            };
            let hit = host_path_hit(skip_nil(vals), key(&field.arg));
            push(out, Cow::Borrowed(if hit { "true" } else { "false" }));
        }
        E::VolumeHostPath => {
            if req_path(&["spec", "volumes"])
                .and_then(Node::as_array)
                .is_none()
            {
                return;
            }
            let vals = recursive(req(), &["spec", "volumes", "hostPath", "path"], None, false);
            let hit = host_path_hit(skip_nil(vals), key(&field.arg));
            push(out, Cow::Borrowed(if hit { "true" } else { "false" }));
        }
        E::FirstContainerImage | E::FirstContainerRepository => {
            let images = strict(recursive(
                req(),
                &["spec", "containers", "image"],
                Some(0),
                falco,
            ));
            if let Some(first) = images.as_ref().and_then(|v| v.first()) {
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
            if let Some(vals) = gvr(req(), &path, None) {
                let any = vals.contains(&Some(&Node::Bool(true)));
                push(out, Cow::Borrowed(if any { "true" } else { "false" }));
            }
        }
        E::AnyContainerPrivileged => {
            if let Some(cs) = req_path(&["spec", "containers"]).and_then(Node::as_array) {
                let any = cs.iter().any(|c| {
                    c.path(&["securityContext", "privileged"])
                        .is_some_and(|p| *p == Node::Bool(true))
                });
                push(out, Cow::Borrowed(if any { "true" } else { "false" }));
            }
        }
        E::Pod(cl, pf) => pod(req(), cl, pf, idx, falco, out),
        _ => {}
    }
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
fn host_path_hit<'n, 'a: 'n>(mut paths: impl Iterator<Item = &'n Node<'a>>, arg: &str) -> bool {
    paths.any(|v| {
        let v = v.to_falco_string();
        match arg.strip_suffix('*') {
            Some(prefix) => v.starts_with(prefix),
            None => v == arg,
        }
    })
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
fn rules_key<'a>(
    req: Option<&'a Node<'_>>,
    k: &str,
    idx: Option<usize>,
    falco: bool,
    out: &mut Values<'a>,
) {
    for v in skip_nil(recursive(req, &["rules", k], idx, falco)) {
        if let Some(items) = v.as_array() {
            items.iter().for_each(|e| push(out, e.to_falco_string()));
        }
    }
}

fn volume_types<'a>(n: Option<&'a Node<'_>>, idx: Option<usize>, out: &mut Values<'a>) {
    let Some(vols) = n.and_then(Node::as_array) else {
        return;
    };
    let selected: &[Node<'_>] = match idx {
        Some(i) => match vols.get(i) {
            Some(v) => std::slice::from_ref(v),
            None => return,
        },
        None => vols,
    };
    let mut vals = Values::new();
    for v in selected {
        let Node::Obj { entries, .. } = v else {
            return;
        };
        for (k, _) in entries {
            if k != "name" {
                vals.push(Value::Str(Cow::Borrowed(k.as_ref())));
            }
        }
    }
    out.extend(vals);
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

/// The containers of a list, or the one selected by the index.
fn containers<'n, 'a>(
    req: Option<&'n Node<'a>>,
    cl: ContainerList,
    idx: Option<usize>,
) -> Option<&'n [Node<'a>]> {
    let all = req?.path(&["spec", cl.key()])?.as_array()?;
    match idx {
        Some(i) => all.get(i).map(std::slice::from_ref),
        None => Some(all),
    }
}

/// Upstream's `command` / `args`: every walked value that is present must be an array of
/// strings (joined with spaces), else the field is missing; placeholders are skipped.
fn joined_falco<'a>(vals: Option<Vec<Option<&'a Node<'_>>>>, out: &mut Values<'a>) {
    let mut res = Values::new();
    for v in vals.into_iter().flatten().flatten() {
        let Some(items) = v.as_array() else {
            return;
        };
        let mut joined = String::new();
        for (n, it) in items.iter().enumerate() {
            let Some(s) = it.as_str() else {
                return;
            };
            if n > 0 {
                joined.push(' ');
            }
            joined.push_str(s);
        }
        res.push(Value::Str(Cow::Owned(joined)));
    }
    out.extend(res);
}

fn pod<'a>(
    req: Option<&'a Node<'_>>,
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
            if let Some(vals) = strict(recursive(req, &["spec", key, leaf], idx, falco)) {
                for v in vals {
                    let s = v.to_falco_string();
                    push(
                        out,
                        if pf == PodField::ImageRepository {
                            repo_of(s, falco)
                        } else {
                            s
                        },
                    );
                }
            }
        }
        PodField::Command | PodField::Args => {
            let leaf = if pf == PodField::Command {
                "command"
            } else {
                "args"
            };
            if falco {
                return joined_falco(gvr(req, &["spec", key, leaf], idx), out);
            }
            let Some(cs) = containers(req, cl, idx) else {
                return;
            };
            let mut vals = Values::new();
            for c in cs {
                let Some(v) = c.member(leaf) else {
                    continue;
                };
                let Some(items) = v.as_array() else {
                    return;
                };
                let mut joined = String::new();
                for (n, it) in items.iter().enumerate() {
                    let Some(s) = it.as_str() else {
                        return;
                    };
                    if n > 0 {
                        joined.push(' ');
                    }
                    joined.push_str(s);
                }
                vals.push(Value::Str(Cow::Owned(joined)));
            }
            out.extend(vals);
        }
        PodField::SecurityContext(k) => {
            for v in skip_nil(recursive(
                req,
                &["spec", key, "securityContext", k],
                idx,
                falco,
            )) {
                push(out, v.to_falco_string());
            }
        }
        PodField::AddCapabilities => {
            for v in skip_nil(recursive(
                req,
                &["spec", key, "securityContext", "capabilities", "add"],
                idx,
                falco,
            )) {
                match v.as_array() {
                    Some(items) if !falco => {
                        items.iter().for_each(|c| push(out, c.to_falco_string()))
                    }
                    _ => push(out, v.to_falco_string()),
                }
            }
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
                let Some(vals) = gvr(req, &["spec", key, k], idx) else {
                    return;
                };
                let pod_level = req.and_then(|r| r.path(&["spec", k]));
                for v in vals {
                    match v.or(pod_level) {
                        Some(v) => push(out, v.to_falco_string()),
                        None => push(out, Cow::Borrowed("0")),
                    }
                }
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
            let Some(vals) = gvr(req, &["spec", key, "ports"], idx) else {
                return;
            };
            for ports in vals.into_iter().flatten() {
                let Some(ports) = ports.as_array() else {
                    continue;
                };
                for p in ports {
                    if let Some(v) = p.member("hostPort").or_else(|| p.member("containerPort")) {
                        push(out, v.to_falco_string());
                    }
                }
            }
        }
        PodField::HostPort => {
            let Some(cs) = containers(req, cl, idx) else {
                return;
            };
            for c in cs {
                let Some(ports) = c.member("ports").and_then(Node::as_array) else {
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
