//! Field extraction: `impl Event<Field> for AuditEvent`.

use std::borrow::Cow;

use kaudit_condition::{Event, Value, Values};

use crate::fields::{Compat, ContainerList, Extractor, Field, FieldArg, PodField};
use crate::json::{self, Node};
use crate::model::{AuditEvent, Text};
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

fn recursive<'n, 'a>(
    root: Option<&'n Node<'a>>,
    path: &[&str],
    idx: Option<usize>,
) -> Vec<Option<&'n Node<'a>>> {
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
            if let (Some(doc), FieldArg::Pointer(p)) = (ev.document_tree(), &field.arg)
                && let Some(n) = json::pointer(doc, p)
            {
                push(out, n.to_falco_string());
            }
            return;
        }
        E::JsonObj => return push(out, Cow::Owned(json::indent(ev.raw_json()))),
        E::JsonRawTime => return push(out, Cow::Owned(ns.to_string())),
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
    let obj = ev.object_ref.as_ref();
    match field.extractor {
        E::AuditId => push_text(out, ev.audit_id.as_ref()),
        E::Stage => push_text(out, ev.stage.as_ref()),
        E::Annotation(k) => {
            if let Some(v) = ev.annotations.as_ref().and_then(|a| a.get(k)) {
                push(out, Cow::Borrowed(v));
            }
        }
        E::UserName => push_text(out, ev.user.as_ref().and_then(|u| u.username.as_ref())),
        E::UserGroups => {
            for g in ev.user.iter().flat_map(|u| u.groups.iter().flatten()) {
                push(out, Cow::Borrowed(g.as_str()));
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
        E::SourceIps if falco => rules_key(req(), "sourceIPs", idx, out),
        E::SourceIps => {
            let ips = ev.source_ips.iter().flatten();
            match idx {
                Some(i) => push_text(out, ev.source_ips.as_ref().and_then(|v| v.get(i))),
                None => ips.for_each(|ip| push(out, Cow::Borrowed(ip.as_str()))),
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
            if let Some(c) = ev.response_status.as_ref().and_then(|r| r.code) {
                push(out, Cow::Borrowed(c.0));
            }
        }
        E::ResponseReason => push_text(
            out,
            ev.response_status.as_ref().and_then(|r| r.reason.as_ref()),
        ),
        E::BindingSubjects => list(req_path(&["subjects"]), out),
        E::SubjectNames(kind) => subjects(req_path(&["subjects"]), kind, false, out),
        E::SubjectServiceAccountNsNames => {
            subjects(req_path(&["subjects"]), "ServiceAccount", true, out)
        }
        E::BindingRole => scalar(req_path(&["roleRef", "name"]), out),
        E::SubjectHasName => push(out, Cow::Borrowed("true")),
        E::ConfigMapObj => scalar(req_path(&["data"]), out),
        E::RoleRules => list(req_path(&["rules"]), out),
        E::RoleRulesKey(k) => rules_key(req(), k, idx, out),
        E::Request(p) => scalar(req_path(p), out),
        E::RequestList(p) => list(req_path(p), out),
        E::ServicePorts if falco => {
            for v in skip_nil(recursive(req(), &["spec", "ports"], idx)) {
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
            for v in skip_nil(recursive(req(), path, idx)) {
                push(out, v.to_falco_string());
            }
        }
        E::VolumeType => volume_types(req_path(&["spec", "volumes"]), idx, out),
        E::VolumeHostPath => {
            if req_path(&["spec", "volumes"])
                .and_then(Node::as_array)
                .is_none()
            {
                return;
            }
            let arg = key(&field.arg);
            let hit = skip_nil(recursive(
                req(),
                &["spec", "volumes", "hostPath", "path"],
                None,
            ))
            .any(|v| {
                let v = v.to_falco_string();
                match arg.strip_suffix('*') {
                    Some(prefix) => v.starts_with(prefix),
                    None => v == arg,
                }
            });
            push(out, Cow::Borrowed(if hit { "true" } else { "false" }));
        }
        E::FirstContainerImage | E::FirstContainerRepository => {
            let images = strict(recursive(req(), &["spec", "containers", "image"], Some(0)));
            if let Some(first) = images.as_ref().and_then(|v| v.first()) {
                let img = first.to_falco_string();
                if field.extractor == E::FirstContainerImage {
                    push(out, img);
                } else {
                    push(out, repo_of(img, falco));
                }
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

fn resp_name<'a>(ev: &'a AuditEvent<'_>, out: &mut Values<'a>) {
    scalar(
        ev.response_tree()
            .and_then(|r| r.path(&["metadata", "name"])),
        out,
    );
}

/// `K` of a single value.
fn scalar<'a>(n: Option<&'a Node<'_>>, out: &mut Values<'a>) {
    if let Some(n) = n {
        push(out, n.to_falco_string());
    }
}

/// `K` of a list field: the value must be an array, one value per element.
fn list<'a>(n: Option<&'a Node<'_>>, out: &mut Values<'a>) {
    if let Some(items) = n.and_then(Node::as_array) {
        items.iter().for_each(|e| push(out, e.to_falco_string()));
    }
}

/// `R(requestObject.rules.<key>)`: array results flattened, other values ignored.
fn rules_key<'a>(req: Option<&'a Node<'_>>, k: &str, idx: Option<usize>, out: &mut Values<'a>) {
    for v in skip_nil(recursive(req, &["rules", k], idx)) {
        if let Some(items) = v.as_array() {
            items.iter().for_each(|e| push(out, e.to_falco_string()));
        }
    }
}

fn subjects<'a>(n: Option<&'a Node<'_>>, kind: &str, with_ns: bool, out: &mut Values<'a>) {
    let Some(items) = n.and_then(Node::as_array) else {
        return;
    };
    for s in items {
        let (Some(k), Some(name)) = (s.member("kind"), s.member("name")) else {
            continue;
        };
        if k.to_falco_string() != kind {
            continue;
        }
        if with_ns {
            if let Some(ns) = s.member("namespace") {
                push(
                    out,
                    Cow::Owned(format!(
                        "{}:{}",
                        ns.to_falco_string(),
                        name.to_falco_string()
                    )),
                );
            }
        } else {
            push(out, name.to_falco_string());
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
            if let Some(vals) = strict(recursive(req, &["spec", key, leaf], idx)) {
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
            for v in skip_nil(recursive(req, &["spec", key, "securityContext", k], idx)) {
                push(out, v.to_falco_string());
            }
        }
        PodField::AddCapabilities => {
            for v in skip_nil(recursive(
                req,
                &["spec", key, "securityContext", "capabilities", "add"],
                idx,
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
            let Some(cs) = containers(req, cl, idx) else {
                return;
            };
            let pod_level = if falco {
                req.and_then(|r| r.path(&["spec", k]))
            } else {
                req.and_then(|r| r.path(&["spec", "securityContext", k]))
            };
            for c in cs {
                let own = if falco {
                    c.member(k)
                } else {
                    c.path(&["securityContext", k])
                };
                match own.or(pod_level) {
                    Some(v) => push(out, v.to_falco_string()),
                    None => push(out, Cow::Borrowed("0")),
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
                    let v = if falco {
                        p.member("hostPort").or_else(|| p.member("containerPort"))
                    } else {
                        p.member("hostPort")
                    };
                    if let Some(v) = v {
                        push(out, v.to_falco_string());
                    }
                }
            }
        }
    }
}
