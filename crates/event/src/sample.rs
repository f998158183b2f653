//! A deterministic generator of realistic, EKS-shaped audit logs (JSON lines).
//!
//! Used for the bundled `examples/data/sample-audit.jsonl` (seed [`SAMPLE_SEED`],
//! [`SAMPLE_COUNT`] events) and by benchmarks for large workloads. Pure: the same
//! `(seed, count)` always gives the same text. The mix follows a real cluster: mostly reads and
//! lease renewals by system users, with a tail of security-relevant writes (privileged pods,
//! host namespaces, sensitive mounts, exec/attach, secrets, credential-bearing configmaps, RBAC
//! escalations, anonymous access, NodePort services, kube-system changes, service accounts).

use std::fmt::Write as _;

use crate::json::push_quoted;
use crate::time::format_rfc3339_micros;

/// The seed of the bundled sample.
pub const SAMPLE_SEED: u64 = 0x6b61_7564_6974;

/// The number of events in the bundled sample.
pub const SAMPLE_COUNT: usize = 400;

/// First event time of every generated log: 2024-05-01T00:00:00Z.
const START_NS: u64 = 1_714_521_600_000_000_000;

/// splitmix64: small, fast, and good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap_or(0)
    }

    fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn uuid(&mut self) -> String {
        let a = self.next();
        let b = self.next();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }

    fn suffix(&mut self) -> String {
        const ALNUM: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..5).map(|_| char::from(*self.pick(ALNUM))).collect()
    }
}

const NODES: &[&str] = &[
    "ip-10-0-1-23.us-west-2.compute.internal",
    "ip-10-0-2-118.us-west-2.compute.internal",
    "ip-10-0-3-7.us-west-2.compute.internal",
];
const NAMESPACES: &[&str] = &["default", "payments", "web", "monitoring", "data"];
const HUMANS: &[&str] = &[
    "alice@example.com",
    "bob@example.com",
    "kubernetes-admin",
    "ci-deployer",
];
const READ_RESOURCES: &[(&str, &str)] = &[
    ("pods", ""),
    ("configmaps", ""),
    ("endpoints", ""),
    ("services", ""),
    ("nodes", ""),
    ("deployments", "apps"),
    ("replicasets", "apps"),
];
const IMAGES: &[&str] = &[
    "nginx:1.25.3",
    "123456789012.dkr.ecr.us-west-2.amazonaws.com/payments/api:v2.7.1",
    "public.ecr.aws/docker/library/redis:7.2",
    "registry.internal:5000/tools/debug:latest",
    "busybox@sha256:3fbc632167424a6d997e74f52b878d7cc478225cffac6bc977eedfe51c7f4e79",
    "quay.io/prometheus/node-exporter:v1.7.0",
    "docker.io/library/alpine:3.19",
];
const SENSITIVE_PATHS: &[&str] = &[
    "/etc",
    "/var/run/docker.sock",
    "/proc",
    "/root",
    "/var/lib/kubelet",
];
const PLAIN_PATHS: &[&str] = &["/var/log/app", "/tmp/cache", "/data/shared"];

/// What one generated event is about.
#[derive(Clone, Copy)]
enum Kind {
    SystemRead,
    LeaseUpdate,
    UserRead,
    CreatePod,
    Exec,
    Attach,
    SecretRead,
    SecretCreateKubeSystem,
    ConfigMapCreds,
    ConfigMapPlain,
    ClusterAdminBinding,
    WildcardRole,
    RoleBinding,
    Anonymous,
    NodePortService,
    ClusterIpService,
    KubeSystemDaemonSet,
    ServiceAccountCreate,
    ServiceAccountDelete,
    NamespaceCreate,
    DeletePod,
}

/// Weighted mix (weights sum to 100).
const MIX: &[(Kind, usize)] = &[
    (Kind::SystemRead, 46),
    (Kind::LeaseUpdate, 18),
    (Kind::UserRead, 8),
    (Kind::CreatePod, 6),
    (Kind::Exec, 2),
    (Kind::Attach, 1),
    (Kind::SecretRead, 3),
    (Kind::SecretCreateKubeSystem, 1),
    (Kind::ConfigMapCreds, 1),
    (Kind::ConfigMapPlain, 2),
    (Kind::ClusterAdminBinding, 1),
    (Kind::WildcardRole, 1),
    (Kind::RoleBinding, 1),
    (Kind::Anonymous, 2),
    (Kind::NodePortService, 1),
    (Kind::ClusterIpService, 1),
    (Kind::KubeSystemDaemonSet, 1),
    (Kind::ServiceAccountCreate, 1),
    (Kind::ServiceAccountDelete, 1),
    (Kind::NamespaceCreate, 1),
    (Kind::DeletePod, 1),
];

/// Every 8th event cycles through these, so even a short log holds each interesting case.
const SPECIAL: &[Kind] = &[
    Kind::CreatePod,
    Kind::Exec,
    Kind::SecretRead,
    Kind::ConfigMapCreds,
    Kind::ClusterAdminBinding,
    Kind::WildcardRole,
    Kind::Anonymous,
    Kind::NodePortService,
    Kind::KubeSystemDaemonSet,
    Kind::ServiceAccountCreate,
    Kind::Attach,
    Kind::SecretCreateKubeSystem,
    Kind::RoleBinding,
    Kind::ServiceAccountDelete,
];

/// The common parts of one event, filled per kind.
struct Ev {
    level: &'static str,
    verb: &'static str,
    uri: String,
    user: String,
    groups: Vec<String>,
    source_ip: String,
    user_agent: String,
    resource: &'static str,
    api_group: &'static str,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<&'static str>,
    code: u16,
    reason: Option<&'static str>,
    request: Option<String>,
    response: Option<String>,
    decision: &'static str,
    authz_reason: String,
}

impl Ev {
    fn new(verb: &'static str, resource: &'static str, user: String, groups: &[&str]) -> Ev {
        Ev {
            level: "Metadata",
            verb,
            uri: String::new(),
            user,
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            source_ip: "10.0.1.23".to_owned(),
            user_agent: "kubectl/v1.29.3 (linux/amd64) kubernetes/6813625".to_owned(),
            resource,
            api_group: "",
            namespace: None,
            name: None,
            subresource: None,
            code: 200,
            reason: None,
            request: None,
            response: None,
            decision: "allow",
            authz_reason: String::new(),
        }
    }

    fn path(&self) -> String {
        let mut p = if self.api_group.is_empty() {
            "/api/v1".to_owned()
        } else {
            format!("/apis/{}/v1", self.api_group)
        };
        if let Some(ns) = &self.namespace {
            let _ = write!(p, "/namespaces/{ns}");
        }
        let _ = write!(p, "/{}", self.resource);
        if let Some(n) = &self.name {
            let _ = write!(p, "/{n}");
        }
        if let Some(s) = self.subresource {
            let _ = write!(p, "/{s}");
        }
        p
    }

    fn write(&self, out: &mut String, rng: &mut Rng, ns: u64) {
        let received = ns.saturating_sub(1_000 * (200 + rng.below(5_000) as u64));
        out.push_str(r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"#);
        push_quoted(out, self.level);
        let _ = write!(
            out,
            r#","auditID":"{}","stage":"ResponseComplete","requestURI":"#,
            rng.uuid()
        );
        let uri = if self.uri.is_empty() {
            self.path()
        } else {
            self.uri.clone()
        };
        push_quoted(out, &uri);
        let _ = write!(out, r#","verb":"{}","user":{{"username":"#, self.verb);
        push_quoted(out, &self.user);
        if !self.user.starts_with("system:anonymous") {
            let _ = write!(out, r#","uid":"{}""#, rng.uuid());
        }
        out.push_str(r#","groups":["#);
        for (i, g) in self.groups.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_quoted(out, g);
        }
        out.push(']');
        if self.user.contains('@') || self.user == "kubernetes-admin" {
            out.push_str(r#","extra":{"accessKeyId":["ASIAEXAMPLEKEY"],"arn":["arn:aws:sts::123456789012:assumed-role/eks-admins/session"],"sessionName":["session"]}"#);
        }
        out.push_str(r#"},"sourceIPs":["#);
        push_quoted(out, &self.source_ip);
        out.push_str(r#"],"userAgent":"#);
        push_quoted(out, &self.user_agent);
        let _ = write!(out, r#","objectRef":{{"resource":"{}""#, self.resource);
        if let Some(n) = &self.namespace {
            out.push_str(r#","namespace":"#);
            push_quoted(out, n);
        }
        if let Some(n) = &self.name {
            out.push_str(r#","name":"#);
            push_quoted(out, n);
        }
        if !self.api_group.is_empty() {
            let _ = write!(out, r#","apiGroup":"{}""#, self.api_group);
        }
        out.push_str(r#","apiVersion":"v1""#);
        if let Some(s) = self.subresource {
            let _ = write!(out, r#","subresource":"{s}""#);
        }
        let _ = write!(
            out,
            r#"}},"responseStatus":{{"metadata":{{}},"code":{}"#,
            self.code
        );
        if let Some(r) = self.reason {
            let _ = write!(out, r#","status":"Failure","reason":"{r}""#);
        }
        out.push('}');
        if let Some(r) = &self.request {
            let _ = write!(out, r#","requestObject":{r}"#);
        }
        if let Some(r) = &self.response {
            let _ = write!(out, r#","responseObject":{r}"#);
        }
        let _ = write!(
            out,
            r#","requestReceivedTimestamp":"{}","stageTimestamp":"{}","annotations":{{"authorization.k8s.io/decision":"{}","authorization.k8s.io/reason":"#,
            format_rfc3339_micros(received),
            format_rfc3339_micros(ns),
            self.decision
        );
        push_quoted(out, &self.authz_reason);
        out.push_str("}}\n");
    }
}

fn rbac_reason(binding: &str, role: &str, subject: &str) -> String {
    format!(
        r#"RBAC: allowed by ClusterRoleBinding "{binding}" of ClusterRole "{role}" to {subject}"#
    )
}

fn human(rng: &mut Rng, verb: &'static str, resource: &'static str) -> Ev {
    let user = (*rng.pick(HUMANS)).to_owned();
    let admin = user == "kubernetes-admin" || user == "alice@example.com";
    let groups: &[&str] = if admin {
        &["system:masters", "system:authenticated"]
    } else {
        &["developers", "system:authenticated"]
    };
    let mut e = Ev::new(verb, resource, user, groups);
    e.source_ip = format!("203.0.113.{}", 10 + rng.below(40));
    e.authz_reason = if admin {
        rbac_reason(
            "cluster-admins",
            "cluster-admin",
            r#"Group "system:masters""#,
        )
    } else {
        r#"RBAC: allowed by RoleBinding "dev-edit/web" of ClusterRole "edit" to Group "developers""#
            .to_owned()
    };
    e
}

fn pod_spec(rng: &mut Rng, ns: &str, name: &str) -> String {
    let mut s = String::new();
    let containers = 1 + rng.below(3);
    let host_network = rng.chance(20);
    let host_pid = rng.chance(12);
    let _ = write!(
        s,
        r#"{{"kind":"Pod","apiVersion":"v1","metadata":{{"name":"{name}","namespace":"{ns}","labels":{{"app":"{}"}}}},"spec":{{"#,
        name.split('-').next().unwrap_or(name)
    );
    let mut volumes: Vec<(String, String)> = Vec::new();
    if rng.chance(35) {
        let path = if rng.chance(60) {
            *rng.pick(SENSITIVE_PATHS)
        } else {
            *rng.pick(PLAIN_PATHS)
        };
        volumes.push((
            "host".to_owned(),
            format!(r#"{{"name":"host","hostPath":{{"path":"{path}","type":""}}}}"#),
        ));
    }
    volumes.push((
        "config".to_owned(),
        format!(r#"{{"name":"config","configMap":{{"name":"{name}-config"}}}}"#),
    ));
    s.push_str(r#""volumes":["#);
    s.push_str(
        &volumes
            .iter()
            .map(|v| v.1.as_str())
            .collect::<Vec<_>>()
            .join(","),
    );
    s.push(']');
    if rng.chance(15) {
        let _ = write!(
            s,
            r#","initContainers":[{{"name":"init-perms","image":"{}","command":["sh","-c","chown -R 1000:1000 /data"],"securityContext":{{"runAsUser":0}}}}]"#,
            IMAGES[6]
        );
    }
    s.push_str(r#","containers":["#);
    for c in 0..containers {
        if c > 0 {
            s.push(',');
        }
        let image = *rng.pick(IMAGES);
        let cname = if c == 0 {
            "app".to_owned()
        } else {
            ["sidecar", "log-shipper", "metrics"][c % 3].to_owned()
        };
        let _ = write!(s, r#"{{"name":"{cname}","image":"{image}""#);
        if rng.chance(40) {
            s.push_str(r#","args":["--port=8080","--log-level=info"]"#);
        }
        if rng.chance(30) {
            let host_port = if rng.chance(40) {
                format!(r#","hostPort":{}"#, 8000 + rng.below(100))
            } else {
                String::new()
            };
            let _ = write!(
                s,
                r#","ports":[{{"containerPort":8080{host_port},"protocol":"TCP"}}]"#
            );
        }
        s.push_str(r#","resources":{"limits":{"cpu":"500m","memory":"256Mi"}}"#);
        if volumes.len() > 1 && c == 0 {
            s.push_str(r#","volumeMounts":[{"name":"host","mountPath":"/host"}]"#);
        }
        let mut sc: Vec<String> = Vec::new();
        if rng.chance(18) {
            sc.push(r#""privileged":true"#.to_owned());
        } else if rng.chance(30) {
            sc.push(r#""privileged":false"#.to_owned());
        }
        if rng.chance(25) {
            sc.push(format!(r#""allowPrivilegeEscalation":{}"#, rng.chance(50)));
        }
        if rng.chance(25) {
            sc.push(r#""readOnlyRootFilesystem":true"#.to_owned());
        }
        if rng.chance(25) {
            sc.push(format!(
                r#""runAsUser":{}"#,
                if rng.chance(40) { 0 } else { 1000 }
            ));
        }
        if rng.chance(12) {
            sc.push(
                r#""capabilities":{"add":["NET_ADMIN","SYS_TIME"],"drop":["MKNOD"]}"#.to_owned(),
            );
        }
        if !sc.is_empty() {
            let _ = write!(s, r#","securityContext":{{{}}}"#, sc.join(","));
        }
        s.push('}');
    }
    s.push(']');
    if host_network {
        s.push_str(r#","hostNetwork":true"#);
    }
    if host_pid {
        s.push_str(r#","hostPID":true"#);
    }
    if rng.chance(30) {
        s.push_str(r#","securityContext":{"runAsUser":1000,"runAsGroup":3000,"fsGroup":2000}"#);
    } else {
        s.push_str(r#","securityContext":{}"#);
    }
    let _ = write!(
        s,
        r#","serviceAccountName":"{}","restartPolicy":"Always","dnsPolicy":"ClusterFirst"}},"status":{{}}}}"#,
        if ns == "kube-system" {
            "aws-node"
        } else {
            "default"
        }
    );
    s
}

fn one(rng: &mut Rng, kind: Kind) -> Ev {
    match kind {
        Kind::SystemRead => {
            let (res, group) = *rng.pick(READ_RESOURCES);
            let who = rng.below(5);
            let (user, groups): (String, &[&str]) = match who {
                0 => (
                    format!("system:node:{}", rng.pick(NODES)),
                    &["system:nodes", "system:authenticated"],
                ),
                1 => (
                    "system:kube-controller-manager".to_owned(),
                    &["system:authenticated"],
                ),
                2 => (
                    "system:kube-scheduler".to_owned(),
                    &["system:authenticated"],
                ),
                3 => (
                    "system:serviceaccount:kube-system:coredns".to_owned(),
                    &[
                        "system:serviceaccounts",
                        "system:serviceaccounts:kube-system",
                        "system:authenticated",
                    ],
                ),
                _ => (
                    "eks:cloud-controller-manager".to_owned(),
                    &["system:authenticated"],
                ),
            };
            let verb = *rng.pick(&["get", "list", "watch", "list", "watch"]);
            let mut e = Ev::new(verb, res, user, groups);
            e.api_group = group;
            e.user_agent = format!(
                "{}/v1.29.3 (linux/amd64) kubernetes/6813625",
                if who == 0 {
                    "kubelet"
                } else {
                    "kube-controller-manager"
                }
            );
            e.source_ip = format!("10.0.{}.{}", 1 + rng.below(3), 5 + rng.below(200));
            if res != "nodes" && rng.chance(70) {
                e.namespace =
                    Some((*rng.pick(&["kube-system", "default", "web", "payments"])).to_owned());
            }
            if verb == "get" {
                e.name = Some(format!("{}-{}", res.trim_end_matches('s'), rng.suffix()));
            }
            if verb == "watch" {
                e.uri = format!(
                    "{}?allowWatchBookmarks=true&resourceVersion={}&timeout=8m{}s&timeoutSeconds={}&watch=true",
                    e.path(),
                    100_000 + rng.below(900_000),
                    rng.below(60),
                    300 + rng.below(300)
                );
            }
            e.authz_reason = rbac_reason(
                "system:public-info-viewer",
                "system:public-info-viewer",
                r#"Group "system:authenticated""#,
            );
            e
        }
        Kind::LeaseUpdate => {
            let node = *rng.pick(NODES);
            let by_node = rng.chance(70);
            let (user, groups): (String, &[&str]) = if by_node {
                (
                    format!("system:node:{node}"),
                    &["system:nodes", "system:authenticated"],
                )
            } else {
                (
                    "system:kube-controller-manager".to_owned(),
                    &["system:authenticated"],
                )
            };
            let mut e = Ev::new("update", "leases", user, groups);
            e.api_group = "coordination.k8s.io";
            e.namespace = Some(
                if by_node {
                    "kube-node-lease"
                } else {
                    "kube-system"
                }
                .to_owned(),
            );
            e.name = Some(if by_node {
                node.to_owned()
            } else {
                "kube-controller-manager".to_owned()
            });
            e.user_agent = "kubelet/v1.29.3 (linux/amd64) kubernetes/6813625".to_owned();
            e.source_ip = "10.0.2.118".to_owned();
            e
        }
        Kind::UserRead => {
            let (res, group) = *rng.pick(READ_RESOURCES);
            let verb = *rng.pick(&["get", "list"]);
            let mut e = human(rng, verb, res);
            e.api_group = group;
            e.namespace = Some((*rng.pick(NAMESPACES)).to_owned());
            e
        }
        Kind::CreatePod | Kind::KubeSystemDaemonSet => {
            let ds = matches!(kind, Kind::KubeSystemDaemonSet);
            let ns = if ds || rng.chance(10) {
                "kube-system".to_owned()
            } else {
                (*rng.pick(NAMESPACES)).to_owned()
            };
            let name = format!(
                "{}-{}-{}",
                rng.pick(&["web", "api", "worker", "node-agent", "debug"]),
                rng.suffix(),
                rng.suffix()
            );
            let mut e = if ds || rng.chance(60) {
                let mut e = Ev::new(
                    "create",
                    "pods",
                    format!(
                        "system:serviceaccount:kube-system:{}",
                        if ds {
                            "daemon-set-controller"
                        } else {
                            "replicaset-controller"
                        }
                    ),
                    &[
                        "system:serviceaccounts",
                        "system:serviceaccounts:kube-system",
                        "system:authenticated",
                    ],
                );
                e.user_agent = "kube-controller-manager/v1.29.3 (linux/amd64) kubernetes/6813625/system:serviceaccount:kube-system:replicaset-controller".to_owned();
                e.authz_reason = rbac_reason(
                    "system:controller:replicaset-controller",
                    "system:controller:replicaset-controller",
                    r#"ServiceAccount "replicaset-controller/kube-system""#,
                );
                e
            } else {
                human(rng, "create", "pods")
            };
            e.level = "RequestResponse";
            e.code = 201;
            e.namespace = Some(ns.clone());
            let spec = pod_spec(rng, &ns, &name);
            e.response = Some(format!(
                r#"{{"kind":"Pod","apiVersion":"v1","metadata":{{"name":"{name}","namespace":"{ns}","uid":"{}","resourceVersion":"{}"}}}}"#,
                rng.uuid(),
                100_000 + rng.below(900_000)
            ));
            e.request = Some(spec);
            e
        }
        Kind::Exec | Kind::Attach => {
            let exec = matches!(kind, Kind::Exec);
            let mut e = human(rng, "create", "pods");
            e.level = "Request";
            e.namespace = Some((*rng.pick(NAMESPACES)).to_owned());
            e.name = Some(format!("web-{}-{}", rng.suffix(), rng.suffix()));
            e.subresource = Some(if exec { "exec" } else { "attach" });
            e.code = 101;
            let cmd = if exec {
                *rng.pick(&[
                    "command=sh&command=-c&command=id",
                    "command=bash",
                    "command=cat&command=%2Fetc%2Fshadow",
                ])
            } else {
                ""
            };
            e.uri = format!(
                "{}?{cmd}{}container=app&stdin=true&stdout=true&tty=true",
                e.path(),
                if exec { "&" } else { "" }
            );
            e.request = Some(r#"{"kind":"PodExecOptions","apiVersion":"v1","stdin":true,"stdout":true,"tty":true,"container":"app"}"#.to_owned());
            e
        }
        Kind::SecretRead => {
            let verb = *rng.pick(&["get", "list"]);
            let mut e = human(rng, verb, "secrets");
            e.namespace = Some((*rng.pick(&["kube-system", "payments", "default"])).to_owned());
            if e.verb == "get" {
                e.name = Some((*rng.pick(&["db-credentials", "aws-creds", "tls-cert"])).to_owned());
            }
            if rng.chance(30) {
                e.code = 403;
                e.reason = Some("Forbidden");
                e.decision = "forbid";
                e.authz_reason = String::new();
            }
            e
        }
        Kind::SecretCreateKubeSystem => {
            let mut e = human(rng, "create", "secrets");
            e.level = "Metadata";
            e.namespace = Some("kube-system".to_owned());
            e.name = Some(format!("backup-token-{}", rng.suffix()));
            e.code = 201;
            e
        }
        Kind::ConfigMapCreds | Kind::ConfigMapPlain => {
            let creds = matches!(kind, Kind::ConfigMapCreds);
            let mut e = human(rng, "create", "configmaps");
            e.level = "Request";
            e.code = 201;
            let ns = (*rng.pick(NAMESPACES)).to_owned();
            let name = if creds { "app-settings" } else { "nginx-conf" };
            let data = if creds {
                r#"{"settings.ini":"[aws]\naws_access_key_id = AKIAEXAMPLEKEY123456\naws_secret_access_key = wJalrXUtnFEMIexampleKEY\n","log_level":"debug"}"#
            } else {
                r#"{"nginx.conf":"server {\n  listen 80;\n}\n","replicas":"3"}"#
            };
            e.request = Some(format!(
                r#"{{"kind":"ConfigMap","apiVersion":"v1","metadata":{{"name":"{name}","namespace":"{ns}"}},"data":{data}}}"#
            ));
            e.namespace = Some(ns);
            e.name = Some(name.to_owned());
            e
        }
        Kind::ClusterAdminBinding | Kind::RoleBinding => {
            let cluster = matches!(kind, Kind::ClusterAdminBinding);
            let mut e = human(
                rng,
                "create",
                if cluster {
                    "clusterrolebindings"
                } else {
                    "rolebindings"
                },
            );
            e.level = "RequestResponse";
            e.api_group = "rbac.authorization.k8s.io";
            e.code = 201;
            let name = format!(
                "{}-{}",
                if cluster { "ops-admin" } else { "dev-view" },
                rng.suffix()
            );
            let (role_kind, role) = if cluster {
                ("ClusterRole", "cluster-admin")
            } else {
                ("Role", "pod-reader")
            };
            let subjects = if cluster {
                r#"[{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"mallory@example.com"},{"kind":"Group","apiGroup":"rbac.authorization.k8s.io","name":"contractors"},{"kind":"ServiceAccount","name":"ci-runner","namespace":"build"}]"#
            } else {
                r#"[{"kind":"ServiceAccount","name":"default","namespace":"web"}]"#
            };
            let ns_meta = if cluster {
                String::new()
            } else {
                r#","namespace":"web""#.to_owned()
            };
            e.request = Some(format!(
                r#"{{"kind":"{}","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{{"name":"{name}"{ns_meta}}},"subjects":{subjects},"roleRef":{{"apiGroup":"rbac.authorization.k8s.io","kind":"{role_kind}","name":"{role}"}}}}"#,
                if cluster {
                    "ClusterRoleBinding"
                } else {
                    "RoleBinding"
                }
            ));
            e.response = e.request.clone();
            if !cluster {
                e.namespace = Some("web".to_owned());
            }
            e.name = None;
            e
        }
        Kind::WildcardRole => {
            let mut e = human(rng, "create", "clusterroles");
            e.level = "RequestResponse";
            e.api_group = "rbac.authorization.k8s.io";
            e.code = 201;
            let rules = *rng.pick(&[
                r#"[{"apiGroups":["*"],"resources":["*"],"verbs":["*"]}]"#,
                r#"[{"apiGroups":[""],"resources":["pods","pods/exec"],"verbs":["get","create"]},{"apiGroups":[""],"resources":["secrets"],"verbs":["*"]}]"#,
                r#"[{"apiGroups":["apps"],"resources":["*"],"verbs":["get","list","watch"]},{"nonResourceURLs":["/metrics"],"verbs":["get"]}]"#,
            ]);
            e.request = Some(format!(
                r#"{{"kind":"ClusterRole","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{{"name":"power-user-{}"}},"rules":{rules}}}"#,
                rng.suffix()
            ));
            e
        }
        Kind::Anonymous => {
            let mut e = Ev::new(
                "get",
                "namespaces",
                "system:anonymous".to_owned(),
                &["system:unauthenticated"],
            );
            e.source_ip = format!("198.51.100.{}", rng.below(250));
            e.user_agent = "curl/8.4.0".to_owned();
            e.uri = (*rng.pick(&[
                "/api/v1/namespaces",
                "/version",
                "/api/v1/namespaces/kube-system/secrets",
            ]))
            .to_owned();
            if rng.chance(70) {
                e.code = 403;
                e.reason = Some("Forbidden");
                e.decision = "forbid";
            } else {
                e.code = 200;
                e.authz_reason = rbac_reason(
                    "system:public-info-viewer",
                    "system:public-info-viewer",
                    r#"Group "system:unauthenticated""#,
                );
            }
            e
        }
        Kind::NodePortService | Kind::ClusterIpService => {
            let node_port = matches!(kind, Kind::NodePortService);
            let mut e = human(rng, "create", "services");
            e.level = "Request";
            e.code = 201;
            let ns = (*rng.pick(NAMESPACES)).to_owned();
            let port = if node_port {
                format!(r#","nodePort":{}"#, 30_000 + rng.below(2_000))
            } else {
                String::new()
            };
            e.request = Some(format!(
                r#"{{"kind":"Service","apiVersion":"v1","metadata":{{"name":"web","namespace":"{ns}"}},"spec":{{"type":"{}","selector":{{"app":"web"}},"ports":[{{"name":"http","protocol":"TCP","port":80,"targetPort":8080{port}}}]}}}}"#,
                if node_port { "NodePort" } else { "ClusterIP" }
            ));
            e.namespace = Some(ns);
            e
        }
        Kind::ServiceAccountCreate | Kind::ServiceAccountDelete => {
            let create = matches!(kind, Kind::ServiceAccountCreate);
            let mut e = human(
                rng,
                if create { "create" } else { "delete" },
                "serviceaccounts",
            );
            let ns = if rng.chance(40) {
                "kube-system".to_owned()
            } else {
                (*rng.pick(NAMESPACES)).to_owned()
            };
            let name = format!("deployer-{}", rng.suffix());
            if create {
                e.level = "Request";
                e.code = 201;
                e.request = Some(format!(
                    r#"{{"kind":"ServiceAccount","apiVersion":"v1","metadata":{{"name":"{name}","namespace":"{ns}"}}}}"#
                ));
            } else {
                e.name = Some(name);
            }
            e.namespace = Some(ns);
            e
        }
        Kind::NamespaceCreate => {
            let mut e = human(rng, "create", "namespaces");
            e.level = "Request";
            e.code = 201;
            e.request = Some(format!(
                r#"{{"kind":"Namespace","apiVersion":"v1","metadata":{{"name":"team-{}"}}}}"#,
                rng.suffix()
            ));
            e
        }
        Kind::DeletePod => {
            let mut e = human(rng, "delete", "pods");
            e.namespace = Some((*rng.pick(NAMESPACES)).to_owned());
            e.name = Some(format!("web-{}-{}", rng.suffix(), rng.suffix()));
            e
        }
    }
}

/// Generates `count` audit events as JSON lines (each line ends with `\n`), deterministic in
/// `seed`. Event times start at 2024-05-01T00:00:00Z and grow by 0 to 250 ms.
#[must_use]
pub fn generate(seed: u64, count: usize) -> String {
    let mut rng = Rng(seed);
    let mut out = String::with_capacity(count * 1_400);
    let mut ns = START_NS;
    let total: usize = MIX.iter().map(|m| m.1).sum();
    for i in 0..count {
        let kind = if i % 8 == 7 {
            SPECIAL[(i / 8) % SPECIAL.len()]
        } else {
            let mut r = rng.below(total);
            let mut k = MIX[0].0;
            for &(kind, w) in MIX {
                if r < w {
                    k = kind;
                    break;
                }
                r -= w;
            }
            k
        };
        ns += 1_000 * rng.below(250_000) as u64 + 1_000;
        let ev = one(&mut rng, kind);
        ev.write(&mut out, &mut rng, ns);
    }
    out
}
