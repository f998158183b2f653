//! An exact expected value for every field of the table, in both compat modes where they
//! differ, over small hand-written events (tests/data/*.json).

use std::collections::BTreeSet;

use kaudit_condition::{Event, Schema, Value, Values};
use kaudit_event::{AuditEvent, Compat, DecodeOptions, FIELDS, K8sAuditSchema, decode_event};

/// Which compat mode(s) a case applies to.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Both,
    Correct,
    Falco,
}
use Mode::{Both, Correct, Falco};

/// (event file, field with optional `[arg]`, mode, expected values; `None` = missing)
type Case = (
    &'static str,
    &'static str,
    Mode,
    Option<&'static [&'static str]>,
);

const POD_REASON: &str =
    r#"RBAC: allowed by ClusterRoleBinding "admins" of ClusterRole "cluster-admin" to Group "dev""#;

#[rustfmt::skip]
const CASES: &[Case] = &[
    ("pod", "ka.auditid", Both, Some(&["pod-1"])),
    ("pod", "ka.stage", Both, Some(&["ResponseComplete"])),
    ("pod", "ka.auth.decision", Both, Some(&["allow"])),
    ("pod", "ka.auth.reason", Both, Some(&[POD_REASON])),
    ("pod", "ka.auth.openshift.decision", Both, Some(&["allow"])),
    ("pod", "ka.auth.openshift.username", Both, Some(&["alice"])),
    ("pod", "ka.validations.admission.policy.failure", Both, Some(&[r#"[{"message":"no"}]"#])),
    ("pod", "ka.security.pod.violations", Both, Some(&[r#"privileged (container "app" must not set securityContext.privileged=true)"#])),
    ("pod", "ka.cluster.name", Both, Some(&["prod-eks"])),
    ("role", "ka.cluster.name", Both, None),
    ("pod", "ka.user.name", Both, Some(&["alice@example.com"])),
    ("pod", "ka.user.groups", Both, Some(&["dev", "system:authenticated"])),
    ("role", "ka.user.groups", Both, None),
    ("pod", "ka.impuser.name", Both, Some(&["bob"])),
    ("role", "ka.impuser.name", Both, None),
    ("pod", "ka.verb", Both, Some(&["create"])),
    ("pod", "ka.uri", Both, Some(&["/api/v1/namespaces/prod/pods?fieldManager=kubectl-client-side-apply&dryRun=All&dryRun=None"])),
    ("pod", "ka.uri.param[dryRun]", Both, Some(&["All"])),
    ("pod", "ka.uri.param[fieldManager]", Both, Some(&["kubectl-client-side-apply"])),
    ("pod", "ka.uri.param[watch]", Both, None),
    ("exec", "ka.uri.param[command]", Both, Some(&["sh"])),
    ("exec", "ka.uri.param[stdin]", Both, Some(&["true"])),
    ("odd", "ka.uri.param[a]", Both, None),
    ("pod", "ka.useragent", Both, Some(&["kubectl/v1.29.0 (linux/amd64)"])),
    ("pod", "ka.sourceips", Correct, Some(&["10.0.0.1", "192.168.1.9"])),
    ("pod", "ka.sourceips[1]", Correct, Some(&["192.168.1.9"])),
    ("pod", "ka.sourceips[2]", Correct, None),
    ("pod", "ka.sourceips", Falco, None),
    ("role", "ka.sourceips", Falco, Some(&["1.2.3.4"])),
    ("role", "ka.sourceips", Correct, None),
    ("pod", "ka.target.name", Both, Some(&["web"])),
    ("pod", "ka.target.namespace", Both, Some(&["prod"])),
    ("role", "ka.target.namespace", Both, None),
    ("pod", "ka.target.resource", Both, Some(&["pods"])),
    ("pod", "ka.target.subresource", Both, None),
    ("exec", "ka.target.subresource", Both, Some(&["exec"])),
    ("pod", "ka.target.pod.name", Both, Some(&["web"])),
    ("exec", "ka.target.pod.name", Both, None),
    ("role", "ka.target.pod.name", Both, None),
    ("pod", "ka.resp.name", Both, Some(&["web"])),
    ("exec", "ka.resp.name", Both, Some(&["web"])),
    ("role", "ka.resp.name", Both, None),
    ("pod", "ka.response.code", Both, Some(&["201"])),
    ("pod", "ka.response.reason", Both, None),
    ("exec", "ka.response.reason", Both, Some(&[""])),
    ("odd", "ka.response.reason", Both, Some(&["Forbidden"])),
    ("binding", "ka.req.binding.subjects", Both, Some(&[
        r#"{"kind":"User","name":"mallory"}"#, r#"{"kind":"Group","name":"devs"}"#,
        r#"{"kind":"ServiceAccount","name":"ci","namespace":"build"}"#,
        r#"{"kind":"ServiceAccount","name":"orphan"}"#, r#"{"kind":"User"}"#])),
    ("pod", "ka.req.binding.subjects", Both, None),
    ("binding", "ka.req.binding.subjects.user_names", Both, Some(&["mallory"])),
    ("binding", "ka.req.binding.subjects.group_names", Both, Some(&["devs"])),
    ("binding", "ka.req.binding.subjects.serviceaccount_names", Both, Some(&["ci", "orphan"])),
    ("binding", "ka.req.binding.subjects.serviceaccount_ns_names", Both, Some(&["build:ci"])),
    ("role", "ka.req.binding.subjects.user_names", Both, None),
    ("binding", "ka.req.binding.role", Both, Some(&["cluster-admin"])),
    ("binding", "ka.req.binding.subject.has_name[nobody]", Both, Some(&["true"])),
    ("configmap", "ka.req.configmap.name", Both, Some(&["creds"])),
    ("configmap", "ka.req.configmap.obj", Both, Some(&[r#"{"aws_access_key_id":"AKIAEXAMPLE","b":"x"}"#])),
    ("pod", "ka.req.configmap.obj", Both, None),
    ("role", "ka.req.role.rules", Both, Some(&[
        r#"{"apiGroups":["*"],"resources":["*"],"verbs":["*"]}"#,
        r#"{"nonResourceURLs":["/metrics","/healthz"],"verbs":["get"]}"#,
        r#"{"apiGroups":[""],"resources":"pods","verbs":["get","list"],"sourceIPs":["1.2.3.4"]}"#])),
    ("role", "ka.req.role.rules.apiGroups", Both, Some(&["*", ""])),
    ("role", "ka.req.role.rules.apiGroups[2]", Both, Some(&[""])),
    ("role", "ka.req.role.rules.apiGroups[1]", Both, None),
    ("role", "ka.req.role.rules.nonResourceURLs", Both, Some(&["/metrics", "/healthz"])),
    ("role", "ka.req.role.rules.verbs", Both, Some(&["*", "get", "get", "list"])),
    ("role", "ka.req.role.rules.verbs[1]", Both, Some(&["get"])),
    ("role", "ka.req.role.rules.resources", Both, Some(&["*"])),
    ("role", "ka.req.role.rules.resources[2]", Both, None),
    ("pod", "ka.req.pod.host_ipc", Both, Some(&["null"])),
    ("pod", "ka.req.pod.host_network", Both, Some(&["true"])),
    ("pod", "ka.req.container.host_network", Both, Some(&["true"])),
    ("pod", "ka.req.pod.host_pid", Both, Some(&["false"])),
    ("role", "ka.req.pod.host_pid", Both, None),
    ("pod", "ka.req.pod.run_as_user", Both, Some(&["1000"])),
    ("pod", "ka.req.pod.run_as_group", Both, Some(&["3000"])),
    ("pod", "ka.req.pod.fs_group", Both, Some(&["2000"])),
    ("pod", "ka.req.pod.supplemental_groups", Both, Some(&["10", "20"])),
    ("service", "ka.req.service.type", Both, Some(&["NodePort"])),
    ("pod", "ka.req.service.type", Both, None),
    ("service", "ka.req.service.ports", Correct, Some(&[r#"{"port":80,"targetPort":8080,"nodePort":30080}"#, r#"{"name":"tls","port":443}"#])),
    ("service", "ka.req.service.ports[1]", Correct, Some(&[r#"{"name":"tls","port":443}"#])),
    ("service", "ka.req.service.ports", Falco, Some(&[r#"[{"port":80,"targetPort":8080,"nodePort":30080},{"name":"tls","port":443}]"#])),
    ("service", "ka.req.service.ports[1]", Falco, Some(&[r#"[{"port":80,"targetPort":8080,"nodePort":30080},{"name":"tls","port":443}]"#])),
    ("pod", "ka.req.pod.volumes.hostpath", Both, Some(&["/etc", "/var/run/docker.sock"])),
    ("pod", "ka.req.pod.volumes.hostpath[3]", Both, Some(&["/var/run/docker.sock"])),
    ("pod", "ka.req.pod.volumes.hostpath[1]", Both, None),
    ("odd", "ka.req.pod.volumes.hostpath", Both, None),
    ("pod", "ka.req.pod.volumes.flexvolume_driver", Both, Some(&["acme/fuse"])),
    ("pod", "ka.req.pod.volumes.volume_type", Correct, Some(&["hostPath", "configMap", "flexVolume", "hostPath"])),
    ("pod", "ka.req.pod.volumes.volume_type", Falco, Some(&["hostPath", "configMap", "flexVolume", "hostPath"])),
    ("pod", "ka.req.pod.volumes.volume_type[1]", Both, Some(&["configMap"])),
    ("pod", "ka.req.volume.hostpath[/etc]", Both, Some(&["true"])),
    ("pod", "ka.req.volume.hostpath[/var/run/*]", Both, Some(&["true"])),
    ("pod", "ka.req.volume.hostpath[/var/run]", Both, Some(&["false"])),
    ("odd", "ka.req.volume.hostpath[/etc]", Both, Some(&["false"])),
    ("role", "ka.req.volume.hostpath[/etc]", Both, None),
    ("pod", "ka.req.container.image", Both, Some(&["reg.example.com:5000/team/app:v1"])),
    ("odd", "ka.req.container.image", Both, Some(&["x"])),
    ("pod", "ka.req.container.image.repository", Correct, Some(&["reg.example.com:5000/team/app"])),
    ("pod", "ka.req.container.image.repository", Falco, Some(&["reg.example.com"])),
    ("pod", "ka.req.container.privileged", Both, Some(&["true"])),
    ("odd", "ka.req.container.privileged", Both, Some(&["false"])),
    ("role", "ka.req.container.privileged", Both, None),
    // containers
    ("pod", "ka.req.pod.containers.name", Both, Some(&["app", "sidecar", "logger"])),
    ("pod", "ka.req.pod.containers.name[2]", Both, Some(&["logger"])),
    ("pod", "ka.req.pod.containers.name[3]", Both, None),
    ("odd", "ka.req.pod.containers.name", Both, None),
    ("odd", "ka.req.pod.containers.name[0]", Both, Some(&["a"])),
    ("pod", "ka.req.pod.containers.image", Both, Some(&["reg.example.com:5000/team/app:v1", "nginx", "busybox@sha256:0123"])),
    ("odd", "ka.req.pod.containers.image", Both, Some(&["x", "y"])),
    ("pod", "ka.req.pod.containers.image.repository", Correct, Some(&["reg.example.com:5000/team/app", "nginx", "busybox"])),
    ("pod", "ka.req.pod.containers.image.repository", Falco, Some(&["reg.example.com", "nginx", "busybox"])),
    ("pod", "ka.req.pod.containers.command", Correct, Some(&["nginx -g daemon off;"])),
    ("pod", "ka.req.pod.containers.command", Falco, Some(&["nginx -g daemon off;"])),
    ("pod", "ka.req.pod.containers.command[0]", Both, None),
    ("odd", "ka.req.pod.containers.command", Both, None),
    ("pod", "ka.req.pod.containers.args", Correct, Some(&["--port 8080"])),
    ("pod", "ka.req.pod.containers.args", Falco, Some(&["--port 8080"])),
    ("pod", "ka.req.pod.containers.privileged", Both, Some(&["true"])),
    ("pod", "ka.req.pod.containers.allow_privilege_escalation", Both, Some(&["false"])),
    ("pod", "ka.req.pod.containers.read_only_fs", Both, Some(&["true"])),
    ("pod", "ka.req.pod.containers.run_as_user", Both, Some(&["0"])),
    ("pod", "ka.req.pod.containers.run_as_group", Both, Some(&["0"])),
    ("pod", "ka.req.pod.containers.run_as_group[0]", Both, None),
    ("pod", "ka.req.pod.containers.proc_mount", Both, Some(&["Unmasked"])),
    ("pod", "ka.req.pod.containers.add_capabilities", Correct, Some(&["NET_ADMIN", "SYS_TIME", "SYS_PTRACE"])),
    ("pod", "ka.req.pod.containers.add_capabilities[1]", Correct, Some(&["SYS_PTRACE"])),
    ("pod", "ka.req.pod.containers.add_capabilities", Falco, Some(&[r#"["NET_ADMIN","SYS_TIME"]"#, r#"["SYS_PTRACE"]"#])),
    ("pod", "ka.req.pod.containers.eff_run_as_user", Correct, Some(&["0", "1000", "1000"])),
    ("pod", "ka.req.pod.containers.eff_run_as_user[1]", Correct, Some(&["1000"])),
    ("pod", "ka.req.pod.containers.eff_run_as_user", Falco, Some(&["0", "0", "0"])),
    ("pod", "ka.req.pod.containers.eff_run_as_group", Correct, Some(&["3000", "0", "3000"])),
    ("pod", "ka.req.pod.containers.eff_run_as_group", Falco, Some(&["0", "0", "0"])),
    ("odd", "ka.req.pod.containers.eff_run_as_group", Correct, Some(&["0", "0"])),
    ("role", "ka.req.pod.containers.eff_run_as_user", Both, None),
    ("pod", "ka.req.pod.containers.host_port", Correct, Some(&["80"])),
    ("pod", "ka.req.pod.containers.host_port", Falco, Some(&["80", "8443"])),
    ("pod", "ka.req.pod.containers.host_port[1]", Both, None),
    // initContainers
    ("pod", "ka.req.pod.initContainers.name", Both, Some(&["init"])),
    ("pod", "ka.req.pod.initContainers.image", Both, Some(&["reg.example.com:5000/tools/init:1.2@sha256:abcd"])),
    ("pod", "ka.req.pod.initContainers.image.repository", Correct, Some(&["reg.example.com:5000/tools/init"])),
    ("pod", "ka.req.pod.initContainers.image.repository", Falco, Some(&["reg.example.com"])),
    ("pod", "ka.req.pod.initContainers.command", Correct, Some(&["sh -c echo hi"])),
    ("pod", "ka.req.pod.initContainers.command", Falco, Some(&["sh -c echo hi"])),
    ("pod", "ka.req.pod.initContainers.args", Both, None),
    ("pod", "ka.req.pod.initContainers.privileged", Both, Some(&["true"])),
    ("pod", "ka.req.pod.initContainers.allow_privilege_escalation", Both, None),
    ("pod", "ka.req.pod.initContainers.read_only_fs", Both, None),
    ("pod", "ka.req.pod.initContainers.run_as_user", Both, Some(&["0"])),
    ("pod", "ka.req.pod.initContainers.run_as_group", Both, None),
    ("pod", "ka.req.pod.initContainers.proc_mount", Both, None),
    ("pod", "ka.req.pod.initContainers.add_capabilities", Both, None),
    ("pod", "ka.req.pod.initContainers.eff_run_as_user", Correct, Some(&["0"])),
    ("pod", "ka.req.pod.initContainers.eff_run_as_user", Falco, Some(&["0"])),
    ("pod", "ka.req.pod.initContainers.eff_run_as_group", Correct, Some(&["3000"])),
    ("pod", "ka.req.pod.initContainers.eff_run_as_group", Falco, Some(&["0"])),
    ("pod", "ka.req.pod.initContainers.host_port", Correct, None),
    ("pod", "ka.req.pod.initContainers.host_port", Falco, Some(&["9000"])),
    // ephemeralContainers
    ("pod", "ka.req.pod.ephemeralContainers.name", Both, Some(&["debugger"])),
    ("pod", "ka.req.pod.ephemeralContainers.image", Both, Some(&["busybox:1.36"])),
    ("pod", "ka.req.pod.ephemeralContainers.image.repository", Both, Some(&["busybox"])),
    ("pod", "ka.req.pod.ephemeralContainers.command", Both, None),
    ("pod", "ka.req.pod.ephemeralContainers.args", Both, None),
    ("pod", "ka.req.pod.ephemeralContainers.privileged", Both, Some(&["false"])),
    ("pod", "ka.req.pod.ephemeralContainers.allow_privilege_escalation", Both, None),
    ("pod", "ka.req.pod.ephemeralContainers.read_only_fs", Both, None),
    ("pod", "ka.req.pod.ephemeralContainers.run_as_user", Both, None),
    ("pod", "ka.req.pod.ephemeralContainers.run_as_group", Both, None),
    ("pod", "ka.req.pod.ephemeralContainers.proc_mount", Both, None),
    ("pod", "ka.req.pod.ephemeralContainers.add_capabilities", Both, None),
    ("pod", "ka.req.pod.ephemeralContainers.eff_run_as_user", Correct, Some(&["1000"])),
    ("pod", "ka.req.pod.ephemeralContainers.eff_run_as_user", Falco, Some(&["0"])),
    ("pod", "ka.req.pod.ephemeralContainers.eff_run_as_group", Correct, Some(&["3000"])),
    ("pod", "ka.req.pod.ephemeralContainers.eff_run_as_group", Falco, Some(&["0"])),
    // init and ephemeral containers with every securityContext key
    ("pod2", "ka.req.pod.initContainers.args", Correct, Some(&["-x /setup.sh"])),
    ("pod2", "ka.req.pod.initContainers.args", Falco, Some(&["-x /setup.sh"])),
    ("pod2", "ka.req.pod.initContainers.allow_privilege_escalation", Both, Some(&["true"])),
    ("pod2", "ka.req.pod.initContainers.read_only_fs", Both, Some(&["false"])),
    ("pod2", "ka.req.pod.initContainers.run_as_group", Both, Some(&["50"])),
    ("pod2", "ka.req.pod.initContainers.proc_mount", Both, Some(&["Default"])),
    ("pod2", "ka.req.pod.initContainers.add_capabilities", Correct, Some(&["CHOWN"])),
    ("pod2", "ka.req.pod.initContainers.add_capabilities", Falco, Some(&[r#"["CHOWN"]"#])),
    ("pod2", "ka.req.pod.initContainers.host_port", Correct, Some(&["53"])),
    ("pod2", "ka.req.pod.initContainers.host_port", Falco, Some(&["53", "9090"])),
    ("pod2", "ka.req.pod.initContainers.eff_run_as_group", Correct, Some(&["50"])),
    ("pod2", "ka.req.pod.containers.name", Both, None),
    ("pod2", "ka.req.pod.ephemeralContainers.image.repository", Correct, Some(&["localhost:5000/acme/debug"])),
    ("pod2", "ka.req.pod.ephemeralContainers.image.repository", Falco, Some(&["localhost"])),
    ("pod2", "ka.req.pod.ephemeralContainers.command", Correct, Some(&["/bin/sh"])),
    ("pod2", "ka.req.pod.ephemeralContainers.command", Falco, Some(&["/bin/sh"])),
    ("pod2", "ka.req.pod.ephemeralContainers.args", Correct, Some(&["-c sleep 3600"])),
    ("pod2", "ka.req.pod.ephemeralContainers.args", Falco, Some(&["-c sleep 3600"])),
    ("pod2", "ka.req.pod.ephemeralContainers.allow_privilege_escalation", Both, Some(&["true"])),
    ("pod2", "ka.req.pod.ephemeralContainers.read_only_fs", Both, Some(&["false"])),
    ("pod2", "ka.req.pod.ephemeralContainers.run_as_user", Both, Some(&["65534"])),
    ("pod2", "ka.req.pod.ephemeralContainers.run_as_group", Both, Some(&["65534"])),
    ("pod2", "ka.req.pod.ephemeralContainers.proc_mount", Both, Some(&["Unmasked"])),
    ("pod2", "ka.req.pod.ephemeralContainers.add_capabilities", Correct, Some(&["SYS_ADMIN", "NET_RAW"])),
    ("pod2", "ka.req.pod.ephemeralContainers.add_capabilities", Falco, Some(&[r#"["SYS_ADMIN","NET_RAW"]"#])),
    ("pod2", "ka.req.pod.ephemeralContainers.eff_run_as_user", Correct, Some(&["65534"])),
    ("pod2", "ka.req.pod.ephemeralContainers.eff_run_as_user", Falco, Some(&["0"])),
    ("pod2", "ka.target.pod.name", Both, None),
    // json plugin
    ("pod", "jevt.value[/user/username]", Correct, Some(&["alice@example.com"])),
    ("pod", "jevt.value[/user/username]", Falco, Some(&["alice@example.com"])),
    ("pod", "jevt.value[user/groups]", Both, Some(&[r#"["dev","system:authenticated"]"#])),
    ("pod", "jevt.value[/requestObject/spec/containers/0/securityContext/capabilities]", Both, Some(&[r#"{"add":["NET_ADMIN","SYS_TIME"]}"#])),
    ("pod", "jevt.value[/requestObject/spec/hostIPC]", Both, Some(&["null"])),
    ("pod", "jevt.value[/annotations/authorization.k8s.io~1decision]", Both, Some(&["allow"])),
    ("pod", "jevt.value[/nope]", Both, None),
    ("pod", "json.value[/responseStatus/code]", Correct, Some(&["201"])),
    ("pod", "json.value[/responseStatus/code]", Falco, Some(&["201"])),
    ("no_audit_id", "json.value[/user/username]", Both, Some(&["carol"])),
    ("service", "jevt.obj", Correct, Some(&["{\n  \"auditID\": \"svc-1\",\n  \"verb\": \"create\",\n  \"objectRef\": {\n    \"resource\": \"services\",\n    \"namespace\": \"default\",\n    \"name\": \"web\"\n  },\n  \"requestObject\": {\n    \"kind\": \"Service\",\n    \"spec\": {\n      \"type\": \"NodePort\",\n      \"ports\": [\n        {\n          \"port\": 80,\n          \"targetPort\": 8080,\n          \"nodePort\": 30080\n        },\n        {\n          \"name\": \"tls\",\n          \"port\": 443\n        }\n      ]\n    }\n  },\n  \"stageTimestamp\": \"2024-05-01T10:00:02Z\"\n}"])),
    ("service", "jevt.obj", Falco, Some(&["{\n  \"auditID\": \"svc-1\",\n  \"verb\": \"create\",\n  \"objectRef\": {\n    \"resource\": \"services\",\n    \"namespace\": \"default\",\n    \"name\": \"web\"\n  },\n  \"requestObject\": {\n    \"kind\": \"Service\",\n    \"spec\": {\n      \"type\": \"NodePort\",\n      \"ports\": [\n        {\n          \"port\": 80,\n          \"targetPort\": 8080,\n          \"nodePort\": 30080\n        },\n        {\n          \"name\": \"tls\",\n          \"port\": 443\n        }\n      ]\n    }\n  },\n  \"stageTimestamp\": \"2024-05-01T10:00:02Z\"\n}"])),
    ("no_audit_id", "json.obj", Correct, Some(&["{\n  \"verb\": \"get\",\n  \"user\": {\n    \"username\": \"carol\"\n  },\n  \"stageTimestamp\": \"2024-05-01T10:00:02Z\"\n}"])),
    ("no_audit_id", "json.obj", Falco, Some(&["{\n  \"verb\": \"get\",\n  \"user\": {\n    \"username\": \"carol\"\n  },\n  \"stageTimestamp\": \"2024-05-01T10:00:02Z\"\n}"])),
    ("pod", "jevt.rawtime", Both, Some(&["1714557600123456000"])),
    ("pod", "json.rawtime", Both, Some(&["1714557600123456000"])),
    // generic
    ("pod", "evt.time", Both, Some(&["10:00:00.123456000"])),
    ("pod", "evt.time.s", Both, Some(&["10:00:00"])),
    ("pod", "evt.time.iso8601", Both, Some(&["2024-05-01T10:00:00.123456000+0000"])),
    ("pod", "evt.datetime", Both, Some(&["2024-05-01 10:00:00.123456000"])),
    ("pod", "evt.datetime.s", Both, Some(&["2024-05-01 10:00:00"])),
    ("pod", "evt.rawtime", Both, Some(&["1714557600123456000"])),
    ("pod", "evt.rawtime.s", Both, Some(&["1714557600"])),
    ("pod", "evt.rawtime.ns", Both, Some(&["123456000"])),
    ("pod", "evt.source", Both, Some(&["k8s_audit"])),
    ("pod", "evt.pluginname", Both, Some(&["k8saudit"])),
    ("no_audit_id", "evt.plugininfo", Both, Some(&[r#"{"verb":"get","user":{"username":"carol"},"stageTimestamp":"2024-05-01T10:00:02Z"}"#])),
    // no auditID: every ka.* is missing
    ("no_audit_id", "ka.verb", Both, None),
    ("no_audit_id", "ka.user.name", Both, None),
    ("no_audit_id", "ka.req.binding.subject.has_name[x]", Both, None),
];

#[expect(
    clippy::unwrap_used,
    reason = "test helper: a missing data file is a test bug"
)]
fn load(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/data/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[expect(clippy::unwrap_used, reason = "test helper: the case table is ours")]
fn split(field: &str) -> (&str, Option<&str>) {
    match field.split_once('[') {
        Some((n, rest)) => (n, Some(rest.strip_suffix(']').unwrap())),
        None => (field, None),
    }
}

fn render(v: &Value<'_>) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        Value::Uint(n) => n.to_string(),
        other => panic!("unexpected value {other:?}"),
    }
}

/// Extracts `field` from `ev` with the given schema: `None` when missing.
pub fn values(schema: &K8sAuditSchema, ev: &AuditEvent<'_>, field: &str) -> Option<Vec<String>> {
    let (name, arg) = split(field);
    let f = schema
        .resolve(name, arg)
        .unwrap_or_else(|e| panic!("{field}: {e:?}"))
        .field;
    let mut out = Values::new();
    ev.extract(&f, &mut out);
    (!out.is_empty()).then(|| out.iter().map(render).collect())
}

#[test]
fn every_case_has_its_exact_value() {
    let mut failures = Vec::new();
    for &(file, field, mode, want) in CASES {
        let text = load(file);
        let ev = decode_event(text.trim_end(), &DecodeOptions::default()).unwrap();
        let modes: &[Compat] = match mode {
            Both => &[Compat::Correct, Compat::Falco],
            Correct => &[Compat::Correct],
            Falco => &[Compat::Falco],
        };
        for &m in modes {
            let got = values(&K8sAuditSchema::with_compat(m), &ev, field);
            let want: Option<Vec<String>> =
                want.map(|w| w.iter().map(|s| (*s).to_owned()).collect());
            if got != want {
                failures.push(format!("{file} {field} {m:?}: got {got:?}, want {want:?}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_field_of_the_table_has_a_case_with_a_value() {
    let with_value: BTreeSet<&str> = CASES
        .iter()
        .filter(|c| c.3.is_some())
        .map(|c| split(c.1).0)
        .collect();
    let missing: Vec<&str> = FIELDS
        .iter()
        .map(|d| d.name)
        .filter(|n| !with_value.contains(n))
        .collect();
    assert_eq!(missing, Vec::<&str>::new());
}

#[test]
fn every_falco_bug_field_has_cases_in_both_modes() {
    for d in FIELDS.iter().filter(|d| d.falco_differs.is_some()) {
        for mode in [Correct, Falco] {
            assert!(
                CASES
                    .iter()
                    .any(|c| split(c.1).0 == d.name && c.2 == mode && c.3.is_some()),
                "{} has no {} case",
                d.name,
                if mode == Correct { "Correct" } else { "Falco" }
            );
        }
    }
}

#[test]
fn request_object_is_parsed_lazily_and_once() {
    let text = load("pod");
    let ev = decode_event(text.trim_end(), &DecodeOptions::default()).unwrap();
    let schema = K8sAuditSchema::new();
    assert_eq!(
        values(&schema, &ev, "ka.verb"),
        Some(vec!["create".to_owned()])
    );
    assert!(!ev.request_tree_parsed());
    let first = ev.request_tree().map(std::ptr::from_ref);
    assert!(ev.request_tree_parsed());
    assert_eq!(
        values(&schema, &ev, "ka.req.pod.host_pid"),
        Some(vec!["false".to_owned()])
    );
    assert_eq!(ev.request_tree().map(std::ptr::from_ref), first);
}
