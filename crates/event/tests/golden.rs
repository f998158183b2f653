//! Golden field values on real upstream events (../shared/upstream), exact: missing (`None`),
//! empty string and `"null"` are all distinct.

use kaudit_condition::{Event, Schema, Value, Values};
use kaudit_event::{AuditEvent, Compat, DecodeOptions, K8sAuditSchema, decode_document};

fn get(schema: &K8sAuditSchema, ev: &AuditEvent<'_>, field: &str) -> Option<Vec<String>> {
    let (name, arg) = match field.split_once('[') {
        Some((n, rest)) => (n, rest.strip_suffix(']')),
        None => (field, None),
    };
    let f = schema.resolve(name, arg).ok()?.field;
    let mut out = Values::new();
    ev.extract(&f, &mut out);
    let vals: Vec<String> = out
        .iter()
        .map(|v| match v {
            Value::Str(s) => s.to_string(),
            Value::Uint(n) => n.to_string(),
            other => format!("{other:?}"),
        })
        .collect();
    (!vals.is_empty()).then_some(vals)
}

/// Checks `cases` on the `index`th event of `file` in both compat modes unless a case says
/// otherwise (`"falco:"` / `"correct:"` prefix).
#[expect(
    clippy::unwrap_used,
    reason = "test helper: unreadable upstream data is a test failure"
)]
fn check(file: &str, index: usize, cases: &[(&str, Option<&[&str]>)]) {
    let buf = std::fs::read(format!("{}/{file}", kaudit_testdata::upstream_path())).unwrap();
    let doc = decode_document(&buf, &DecodeOptions::default()).unwrap();
    let (_, ev) = doc.events[index].as_ref().unwrap();
    let mut failures = Vec::new();
    for &(field, want) in cases {
        let (modes, field): (&[Compat], &str) = if let Some(f) = field.strip_prefix("falco:") {
            (&[Compat::Falco], f)
        } else if let Some(f) = field.strip_prefix("correct:") {
            (&[Compat::Correct], f)
        } else {
            (&[Compat::Correct, Compat::Falco], field)
        };
        for &m in modes {
            let got = get(&K8sAuditSchema::with_compat(m), ev, field);
            let want: Option<Vec<String>> =
                want.map(|w| w.iter().map(|s| (*s).to_owned()).collect());
            if got != want {
                failures.push(format!("{field} ({m:?}): got {got:?}, want {want:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{file}:\n{}", failures.join("\n"));
}

const RS_REASON: &str = r#"RBAC: allowed by ClusterRoleBinding "system:controller:replicaset-controller" of ClusterRole "system:controller:replicaset-controller" to ServiceAccount "replicaset-controller/kube-system""#;

#[test]
fn privileged_second_container() {
    kaudit_testdata::require_shared!("upstream");
    check(
        "falco-k8s-audit-tests/trace_files/k8s_audit/create_nginx_pod_privileged_2nd_container.json",
        0,
        &[
            (
                "ka.auditid",
                Some(&["f83ecd50-5bf4-4fe7-a419-dea22852ca49"]),
            ),
            (
                "ka.user.name",
                Some(&["system:serviceaccount:kube-system:replicaset-controller"]),
            ),
            (
                "ka.user.groups",
                Some(&[
                    "system:serviceaccounts",
                    "system:serviceaccounts:kube-system",
                    "system:authenticated",
                ]),
            ),
            ("ka.auth.decision", Some(&["allow"])),
            ("ka.auth.reason", Some(&[RS_REASON])),
            ("ka.target.name", None),
            ("ka.target.namespace", Some(&["default"])),
            ("ka.target.resource", Some(&["pods"])),
            (
                "ka.target.pod.name",
                Some(&["nginx-deployment-544b59f8b8-ffkxm"]),
            ),
            ("ka.response.code", Some(&["201"])),
            ("ka.req.pod.containers.name", Some(&["nginx1", "mysql"])),
            (
                "ka.req.pod.containers.image",
                Some(&["nginx", "mysql:latest"]),
            ),
            (
                "ka.req.pod.containers.image.repository",
                Some(&["nginx", "mysql"]),
            ),
            ("ka.req.pod.containers.privileged", Some(&["false", "true"])),
            ("ka.req.pod.containers.privileged[1]", Some(&["true"])),
            ("ka.req.container.privileged", Some(&["true"])),
            ("ka.req.container.image", Some(&["nginx"])),
            ("ka.req.pod.host_network", None),
            ("ka.req.pod.volumes.hostpath", None),
            ("ka.req.pod.containers.host_port", None),
            (
                "correct:ka.req.pod.containers.eff_run_as_user",
                Some(&["0", "0"]),
            ),
            ("falco:ka.sourceips", None),
            ("correct:ka.sourceips", Some(&["::1"])),
            ("ka.req.pod.initContainers.name", None),
            (
                "jevt.value[/requestObject/metadata/creationTimestamp]",
                Some(&["null"]),
            ),
            (
                "jevt.value[/requestObject/spec/containers/0/resources]",
                Some(&["{}"]),
            ),
            ("jevt.rawtime", Some(&["1540489987006845000"])),
            (
                "evt.time.iso8601",
                Some(&["2018-10-25T17:53:07.006845000+0000"]),
            ),
        ],
    );
}

#[test]
fn attach_cluster_admin_binding() {
    kaudit_testdata::require_shared!("upstream");
    check(
        "falco-k8s-audit-tests/trace_files/k8s_audit/attach_cluster_admin_role.json",
        0,
        &[
            ("ka.user.name", Some(&["minikube-user"])),
            ("ka.auth.reason", Some(&[""])),
            ("ka.target.resource", Some(&["clusterrolebindings"])),
            ("ka.target.name", Some(&["some-reader-binding"])),
            ("ka.target.namespace", None),
            ("ka.req.binding.role", Some(&["cluster-admin"])),
            (
                "ka.req.binding.subjects",
                Some(&[
                    r#"{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"minikube"}"#,
                ]),
            ),
            ("ka.req.binding.subjects.user_names", Some(&["minikube"])),
            ("ka.req.binding.subjects.group_names", None),
            ("ka.req.binding.subject.has_name[minikube]", Some(&["true"])),
            (
                "ka.uri",
                Some(&["/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"]),
            ),
            ("ka.target.pod.name", None),
        ],
    );
}

#[test]
fn nodeport_service() {
    kaudit_testdata::require_shared!("upstream");
    check(
        "falco-k8s-audit-tests/trace_files/k8s_audit/create_nginx_service_nodeport.json",
        0,
        &[
            ("ka.req.service.type", Some(&["NodePort"])),
            (
                "correct:ka.req.service.ports",
                Some(&[r#"{"nodePort":30080,"port":80,"protocol":"TCP","targetPort":80}"#]),
            ),
            (
                "falco:ka.req.service.ports",
                Some(&[r#"[{"nodePort":30080,"port":80,"protocol":"TCP","targetPort":80}]"#]),
            ),
        ],
    );
}

#[test]
fn exec_into_pod() {
    kaudit_testdata::require_shared!("upstream");
    check(
        "falco-k8s-audit-tests/trace_files/k8s_audit/exec_pod.json",
        0,
        &[
            ("ka.target.subresource", Some(&["exec"])),
            (
                "ka.target.name",
                Some(&["nginx-deployment-7998647bdf-phvq7"]),
            ),
            ("ka.uri.param[command]", Some(&["bash"])),
            ("ka.uri.param[container]", Some(&["nginx1"])),
            ("ka.uri.param[tty]", Some(&["true"])),
            ("ka.response.code", Some(&["101"])),
            ("ka.req.pod.containers.name", None),
            ("ka.target.pod.name", None),
        ],
    );
}

#[test]
fn psp_capability_and_host_ports() {
    kaudit_testdata::require_shared!("upstream");
    check(
        "falco-psp-traces/trace_files/psp/capability_add_sys_time.json",
        0,
        &[
            (
                "correct:ka.req.pod.containers.add_capabilities",
                Some(&["SYS_TIME"]),
            ),
            (
                "falco:ka.req.pod.containers.add_capabilities",
                Some(&[r#"["SYS_TIME"]"#]),
            ),
            ("ka.req.pod.containers.proc_mount", Some(&["Default"])),
            ("ka.req.pod.containers.privileged", None),
        ],
    );
    check(
        "falco-psp-traces/trace_files/psp/host_network_ports.json",
        0,
        &[
            ("ka.req.pod.containers.host_port", Some(&["1234"])),
            ("ka.req.pod.host_network", Some(&["true"])),
        ],
    );
}

#[test]
fn anonymous_namespace_and_json_lines_file() {
    kaudit_testdata::require_shared!("upstream");
    check(
        "falco-k8s-audit-tests/trace_files/k8s_audit/anonymous_creates_namespace_foo.json",
        0,
        &[
            ("ka.user.name", Some(&["system:anonymous"])),
            ("ka.target.resource", Some(&["namespaces"])),
            ("ka.target.name", Some(&["foo"])),
            ("ka.req.pod.host_network", None),
            ("jevt.value[/requestObject/spec]", Some(&["{}"])),
            ("evt.time", Some(&["13:58:49.736141000"])),
        ],
    );
    // The one JSON-lines trace: six configmap events.
    let file = "falco-k8s-audit-tests/trace_files/k8s_audit/create_configmap_sensitive_values.json";
    check(file, 0, &[("ka.req.configmap.name", Some(&["my-config"]))]);
    // Compact JSON keeps the original escapes of strings (as fastjson re-marshals them).
    check(
        file,
        4,
        &[
            ("ka.req.configmap.name", Some(&["my-config"])),
            (
                "ka.req.configmap.obj",
                Some(&[
                    r#"{"access.properties":"password = MY-ID\naws_secret_access_key = MY-KEY\n","ui.properties":"color.good=purple\ncolor.bad=yellow\nallow.textmode=true\n"}"#,
                ]),
            ),
            (
                "jevt.value[/requestObject/data/access.properties]",
                Some(&["password = MY-ID\naws_secret_access_key = MY-KEY\n"]),
            ),
        ],
    );
}
