//! The bundled sample log equals the generator's output, decodes, and covers every case the
//! stock rules look for.

use std::collections::BTreeMap;

use kaudit_condition::{Event, Schema, Value, Values};
use kaudit_event::sample::{SAMPLE_COUNT, SAMPLE_SEED, generate};
use kaudit_event::{DecodeOptions, K8sAuditSchema, json_lines};

const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/data/sample-audit.jsonl"
);

#[test]
fn committed_sample_is_the_generator_output() {
    let want = generate(SAMPLE_SEED, SAMPLE_COUNT);
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(SAMPLE, &want).unwrap();
    }
    let have = std::fs::read_to_string(SAMPLE).unwrap_or_default();
    assert!(
        have == want,
        "examples/data/sample-audit.jsonl is stale; run `cargo run -p kaudit-event --example gen_sample`"
    );
}

#[test]
fn generator_is_deterministic_and_seeded() {
    assert_eq!(generate(7, 50), generate(7, 50));
    assert_ne!(generate(7, 50), generate(8, 50));
    assert_eq!(generate(7, 0), "");
    assert_eq!(generate(7, 50).lines().count(), 50);
    // A prefix of a longer log is the shorter log.
    assert!(generate(7, 60).starts_with(&generate(7, 50)));
}

#[expect(clippy::unwrap_used, reason = "test helper: field names are ours")]
fn one(
    schema: &K8sAuditSchema,
    ev: &kaudit_event::AuditEvent<'_>,
    name: &str,
    arg: Option<&str>,
) -> Vec<String> {
    let f = schema.resolve(name, arg).unwrap().field;
    let mut out = Values::new();
    ev.extract(&f, &mut out);
    out.iter()
        .map(|v| match v {
            Value::Str(s) => s.to_string(),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn sample_decodes_and_covers_the_interesting_cases() {
    let text = generate(SAMPLE_SEED, SAMPLE_COUNT);
    let schema = K8sAuditSchema::new();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut last_ns = 0;
    let mut n = 0;
    for item in json_lines(text.as_bytes(), DecodeOptions::default()) {
        let (_, ev) = item.unwrap();
        n += 1;
        assert!(ev.timestamp_ns() > last_ns, "times increase");
        last_ns = ev.timestamp_ns();
        let verb = one(&schema, &ev, "ka.verb", None).concat();
        let res = one(&schema, &ev, "ka.target.resource", None).concat();
        let sub = one(&schema, &ev, "ka.target.subresource", None).concat();
        let user = one(&schema, &ev, "ka.user.name", None).concat();
        let ns = one(&schema, &ev, "ka.target.namespace", None).concat();
        let mut mark = |k: &'static str, cond: bool| {
            if cond {
                *seen.entry(k).or_default() += 1;
            }
        };
        mark("read", matches!(verb.as_str(), "get" | "list" | "watch"));
        mark("lease update", verb == "update" && res == "leases");
        mark(
            "pod create",
            verb == "create" && res == "pods" && sub.is_empty(),
        );
        mark(
            "multi-container pod",
            one(&schema, &ev, "ka.req.pod.containers.name", None).len() >= 2,
        );
        mark(
            "privileged",
            one(&schema, &ev, "ka.req.pod.containers.privileged", None)
                .contains(&"true".to_owned()),
        );
        mark(
            "hostNetwork",
            one(&schema, &ev, "ka.req.pod.host_network", None) == ["true"],
        );
        mark(
            "hostPID",
            one(&schema, &ev, "ka.req.pod.host_pid", None) == ["true"],
        );
        mark(
            "sensitive mount",
            one(&schema, &ev, "ka.req.pod.volumes.hostpath", None)
                .iter()
                .any(|p| p == "/etc" || p == "/proc" || p == "/var/run/docker.sock"),
        );
        mark(
            "hostPort",
            !one(&schema, &ev, "ka.req.pod.containers.host_port", None).is_empty(),
        );
        mark("exec", sub == "exec");
        mark("attach", sub == "attach");
        mark("secrets", res == "secrets");
        mark(
            "kube-system secret create",
            res == "secrets" && verb == "create" && ns == "kube-system",
        );
        mark(
            "configmap creds",
            one(&schema, &ev, "ka.req.configmap.obj", None)
                .concat()
                .contains("aws_access_key_id"),
        );
        mark(
            "cluster-admin binding",
            one(&schema, &ev, "ka.req.binding.role", None) == ["cluster-admin"],
        );
        mark(
            "wildcard role",
            one(&schema, &ev, "ka.req.role.rules.verbs", None).contains(&"*".to_owned()),
        );
        mark("anonymous", user == "system:anonymous");
        mark(
            "unauthenticated group",
            one(&schema, &ev, "ka.user.groups", None)
                .contains(&"system:unauthenticated".to_owned()),
        );
        mark(
            "NodePort",
            one(&schema, &ev, "ka.req.service.type", None) == ["NodePort"],
        );
        mark(
            "kube-system change",
            ns == "kube-system" && verb == "create",
        );
        mark(
            "service account create",
            res == "serviceaccounts" && verb == "create",
        );
        mark(
            "service account delete",
            res == "serviceaccounts" && verb == "delete",
        );
        mark(
            "forbidden",
            one(&schema, &ev, "ka.response.code", None) == ["403"],
        );
    }
    assert_eq!(n, SAMPLE_COUNT);
    let missing: Vec<&str> = [
        "read",
        "lease update",
        "pod create",
        "multi-container pod",
        "privileged",
        "hostNetwork",
        "hostPID",
        "sensitive mount",
        "hostPort",
        "exec",
        "attach",
        "secrets",
        "kube-system secret create",
        "configmap creds",
        "cluster-admin binding",
        "wildcard role",
        "anonymous",
        "unauthenticated group",
        "NodePort",
        "kube-system change",
        "service account create",
        "service account delete",
        "forbidden",
    ]
    .into_iter()
    .filter(|k| !seen.contains_key(k))
    .collect();
    assert_eq!(missing, Vec::<&str>::new(), "{seen:?}");
    // Mostly routine traffic, as on a real cluster.
    assert!(
        seen["read"] + seen["lease update"] > SAMPLE_COUNT * 6 / 10,
        "{seen:?}"
    );
}
