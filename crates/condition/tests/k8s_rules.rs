//! Every condition of Falco's `k8s_audit_rules.yaml` (plugins @ 43ec9491) parses, and every rule
//! compiles after Falco's list substitution and macro expansion, against a stand-in for the
//! k8saudit field table (string fields; the list fields of the table are lists).
//!
//! The crate has no YAML dependency on purpose, so this test reads the file with a tiny
//! line-based reader that understands only what that file uses (top-level `- list/macro/rule`
//! items, `key: value`, folded `>` blocks and flow `[...]` lists). The full rules-file loader
//! with Falco's visibility rules is the engine's job and is tested there.

use std::collections::HashMap;

use kaudit_condition::{
    Ast, FieldError, FieldInfo, ParseOptions, Schema, ValueType, compile, expand, parse_with,
};

#[derive(Debug, Default)]
struct Item {
    kind: String,
    name: String,
    keys: HashMap<String, String>,
}

/// Splits the file into top-level items with their (unfolded) scalar keys.
fn items(text: &str) -> Vec<Item> {
    let mut out: Vec<Item> = Vec::new();
    let mut current_key: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("- ") {
            let (k, v) = rest.split_once(':').unwrap_or((rest, ""));
            out.push(Item {
                kind: k.trim().to_owned(),
                name: v.trim().to_owned(),
                ..Item::default()
            });
            current_key = None;
            continue;
        }
        let Some(item) = out.last_mut() else { continue };
        let indent = line.len() - trimmed.len();
        if indent == 2 && !trimmed.starts_with('-') && trimmed.contains(':') {
            let (k, v) = trimmed.split_once(':').unwrap_or((trimmed, ""));
            let v = v.trim();
            let v = if v == ">" || v == "|" || v == ">-" {
                ""
            } else {
                v
            };
            item.keys.insert(k.to_owned(), v.to_owned());
            current_key = Some(k.to_owned());
        } else if let Some(k) = &current_key {
            let entry = item.keys.entry(k.clone()).or_default();
            if !entry.is_empty() {
                entry.push(' ');
            }
            entry.push_str(trimmed);
        }
    }
    out
}

/// A flow sequence `[a, "b c", 'd']` to its item texts.
fn flow_items(v: &str) -> Vec<String> {
    let inner = v.trim().trim_start_matches('[').trim_end_matches(']');
    inner
        .split(',')
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            if (s.starts_with('"') && s.ends_with('"') && s.len() >= 2)
                || (s.starts_with('\'') && s.ends_with('\'') && s.len() >= 2)
            {
                s[1..s.len() - 1].to_owned()
            } else {
                s.to_owned()
            }
        })
        .collect()
}

/// Falco's textual list substitution (`rule_loader_compiler.cpp`), in list definition order:
/// a name bounded by the string ends, a blank or one of `( ) , =` is replaced by the items
/// joined with `", "`, swallowing surrounding blanks; an empty list also eats one neighbouring
/// comma.
fn substitute_lists(cond: &str, lists: &[(String, Vec<String>)]) -> String {
    const BLANKS: &[u8] = b" \t\n\r";
    let is_delim = |c: u8| BLANKS.contains(&c) || b"(),=".contains(&c);
    let mut cond = cond.to_owned();
    for (name, items) in lists {
        let sub = items
            .iter()
            .map(|i| {
                if i.contains(' ') && !i.starts_with('"') && !i.starts_with('\'') {
                    format!("\"{i}\"")
                } else {
                    i.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        let mut from = 0;
        while let Some(found) = cond[from..].find(name.as_str()).map(|p| p + from) {
            let b = cond.as_bytes();
            let (mut start, mut end) = (found, found + name.len());
            let bounded =
                (start == 0 || is_delim(b[start - 1])) && (end >= b.len() || is_delim(b[end]));
            if !bounded {
                from = found + 1;
                continue;
            }
            while start > 0 && BLANKS.contains(&b[start - 1]) {
                start -= 1;
            }
            while end < b.len() && BLANKS.contains(&b[end]) {
                end += 1;
            }
            if sub.is_empty() {
                if start > 0 && b[start - 1] == b',' {
                    start -= 1;
                } else if end < b.len() && b[end] == b',' {
                    end += 1;
                }
            }
            let mut next = String::new();
            if start > 0 {
                next.push_str(&cond[..start]);
                next.push(' ');
            }
            next.push_str(&sub);
            next.push(' ');
            next.push_str(&cond[end..]);
            from = start + sub.len() + 1;
            cond = next;
        }
    }
    cond
}

struct K8sSchema;

const LIST_FIELDS: &[&str] = &[
    "ka.user.groups",
    "ka.sourceips",
    "ka.req.binding.subjects",
    "ka.req.binding.subjects.user_names",
    "ka.req.binding.subjects.group_names",
    "ka.req.binding.subjects.serviceaccount_names",
    "ka.req.binding.subjects.serviceaccount_ns_names",
    "ka.req.role.rules",
    "ka.req.role.rules.apiGroups",
    "ka.req.role.rules.nonResourceURLs",
    "ka.req.role.rules.verbs",
    "ka.req.role.rules.resources",
    "ka.req.pod.supplemental_groups",
    "ka.req.service.ports",
    "ka.req.pod.volumes.hostpath",
    "ka.req.pod.volumes.flexvolume_driver",
    "ka.req.pod.volumes.volume_type",
];

impl Schema for K8sSchema {
    type Field = String;

    fn resolve(&self, name: &str, arg: Option<&str>) -> Result<FieldInfo<String>, FieldError> {
        if !(name.starts_with("ka.") || name.starts_with("jevt.") || name.starts_with("json.")) {
            return Err(FieldError::Unknown);
        }
        if name.ends_with(".value") && arg.is_none() {
            return Err(FieldError::ArgumentRequired);
        }
        let list = LIST_FIELDS.contains(&name)
            || (name.starts_with("ka.req.pod.")
                && ["containers.", "initContainers.", "ephemeralContainers."]
                    .iter()
                    .any(|l| name["ka.req.pod.".len()..].starts_with(l)));
        Ok(FieldInfo {
            field: name.to_owned(),
            ty: ValueType::Str,
            list,
        })
    }
}

#[test]
fn every_condition_parses_and_every_rule_compiles() {
    kaudit_testdata::require_shared!("upstream/falco-k8s_audit_rules.yaml");
    let rules = format!(
        "{}/falco-k8s_audit_rules.yaml",
        kaudit_testdata::upstream_path()
    );
    let Ok(text) = std::fs::read_to_string(&rules) else {
        panic!("{rules} cannot be read");
    };
    let items = items(&text);
    let count = |k: &str| items.iter().filter(|i| i.kind == k).count();
    assert_eq!((count("rule"), count("macro"), count("list")), (48, 45, 18));

    // Lists: items referring to an earlier list are replaced by its raw items (one level).
    let mut lists: Vec<(String, Vec<String>)> = Vec::new();
    for it in items.iter().filter(|i| i.kind == "list") {
        let raw = flow_items(it.keys.get("items").map_or("", String::as_str));
        let mut resolved = Vec::new();
        for r in raw {
            match lists.iter().find(|(n, _)| *n == r) {
                Some((_, inner)) => resolved.extend(inner.iter().cloned()),
                None => resolved.push(r),
            }
        }
        lists.push((it.name.clone(), resolved));
    }

    let options = ParseOptions::falco_rules();
    let mut macros: HashMap<String, Ast> = HashMap::new();
    let mut parsed = 0;
    for it in items.iter().filter(|i| i.kind == "macro") {
        let cond = substitute_lists(&it.keys["condition"], &lists);
        let ast = parse_with(&cond, &options)
            .unwrap_or_else(|e| panic!("macro {}: {}", it.name, e.render(&cond)));
        macros.insert(it.name.clone(), ast);
        parsed += 1;
    }
    let mut compiled = 0;
    let mut checks = 0;
    for it in items.iter().filter(|i| i.kind == "rule") {
        // The raw text parses as written too (list names are identifiers / one-element lists).
        parse_with(&it.keys["condition"], &options)
            .unwrap_or_else(|e| panic!("rule {} (raw): {e}", it.name));
        let cond = substitute_lists(&it.keys["condition"], &lists);
        let ast = parse_with(&cond, &options)
            .unwrap_or_else(|e| panic!("rule {}: {}", it.name, e.render(&cond)));
        parsed += 1;
        let expanded = expand(&ast, &macros)
            .unwrap_or_else(|e| panic!("rule {}: {}", it.name, e.render(&cond)));
        assert_eq!(expanded.macro_refs().count(), 0);
        let program = compile(&expanded, &K8sSchema)
            .unwrap_or_else(|e| panic!("rule {}: {}", it.name, e.render(&cond)));
        checks += program.check_count();
        compiled += 1;
    }
    assert_eq!((parsed, compiled), (93, 48));
    assert!(checks > 48, "{checks} checks");
}

#[test]
fn list_substitution_follows_falco_boundaries() {
    let lists = vec![("l".to_owned(), vec!["a".to_owned(), "b c".to_owned()])];
    assert_eq!(
        substitute_lists("x in (l) and y=l and lx in (l)", &lists),
        "x in ( a, \"b c\" ) and y= a, \"b c\" and lx in ( a, \"b c\" )"
    );
    let empty = vec![("e".to_owned(), Vec::new())];
    assert_eq!(substitute_lists("x in (a, e)", &empty), "x in (a  )");
    assert_eq!(substitute_lists("x in (e)", &empty), "x in (  )");
}
