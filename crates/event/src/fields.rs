//! The field table: every field kaudit can extract, with its type, list-ness, argument kind,
//! description and extractor. [`K8sAuditSchema`] resolves names against it at compile time.

use kaudit_condition::{FieldError, FieldInfo, Schema, ValueType};
use std::fmt;

/// Which behaviour to use for the fields where Falco's k8saudit 0.18.0 has an acknowledged
/// extraction bug.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compat {
    /// Extract the correct value (the default). See [`FieldDef::falco_differs`] for the fields
    /// concerned and docs/fields.md for what each extracts.
    #[default]
    Correct,
    /// Reproduce Falco k8saudit 0.18.0 exactly, bugs included.
    Falco,
}

/// The argument a field accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArgKind {
    /// No argument.
    None,
    /// An optional numeric index `[N]` (digits, no leading zero).
    Index,
    /// A required key `[text]`.
    RequiredKey,
}

/// Which container list of a pod spec a per-container field reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContainerList {
    /// `spec.containers`.
    Containers,
    /// `spec.initContainers`.
    InitContainers,
    /// `spec.ephemeralContainers`.
    EphemeralContainers,
}

impl ContainerList {
    /// The pod spec key.
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            ContainerList::Containers => "containers",
            ContainerList::InitContainers => "initContainers",
            ContainerList::EphemeralContainers => "ephemeralContainers",
        }
    }
}

/// A per-container extraction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PodField {
    /// `name` (Strict).
    Name,
    /// `image` (Strict).
    Image,
    /// The repository part of `image`.
    ImageRepository,
    /// `command` joined with spaces.
    Command,
    /// `args` joined with spaces.
    Args,
    /// A `securityContext` key, SkipNil.
    SecurityContext(&'static str),
    /// `securityContext.capabilities.add`.
    AddCapabilities,
    /// The effective `runAsUser` (`eff_run_as_user`).
    EffRunAsUser,
    /// The effective `runAsGroup` (`eff_run_as_group`).
    EffRunAsGroup,
    /// `ports[].hostPort`.
    HostPort,
}

/// What a field extracts. Resolved once at compile time; never looked up by name per event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Extractor {
    /// `auditID`.
    AuditId,
    /// `stage`.
    Stage,
    /// `annotations.<key>`.
    Annotation(&'static str),
    /// `user.username`.
    UserName,
    /// `user.groups`.
    UserGroups,
    /// `impersonatedUser.username`.
    ImpUserName,
    /// `verb`.
    Verb,
    /// `requestURI`.
    Uri,
    /// One query parameter of `requestURI`.
    UriParam,
    /// `userAgent`.
    UserAgent,
    /// `sourceIPs` (compat: `requestObject.rules[*].sourceIPs`).
    SourceIps,
    /// `objectRef.name`.
    TargetName,
    /// `objectRef.namespace`.
    TargetNamespace,
    /// `objectRef.resource`.
    TargetResource,
    /// `objectRef.subresource`.
    TargetSubresource,
    /// `responseObject.metadata.name` for pods without subresource.
    TargetPodName,
    /// `responseObject.metadata.name`.
    RespName,
    /// `responseStatus.code`.
    ResponseCode,
    /// `responseStatus.reason`.
    ResponseReason,
    /// `requestObject.subjects`, one JSON text per subject.
    BindingSubjects,
    /// Names of the subjects of a kind (`User`, `Group`, `ServiceAccount`).
    SubjectNames(&'static str),
    /// `namespace:name` of the `ServiceAccount` subjects.
    SubjectServiceAccountNsNames,
    /// `requestObject.roleRef.name`.
    BindingRole,
    /// Always `"true"` (deprecated field).
    SubjectHasName,
    /// `requestObject.data` as JSON text.
    ConfigMapObj,
    /// `requestObject.rules`, one JSON text per rule.
    RoleRules,
    /// A key of every `requestObject.rules[]` entry, flattened.
    RoleRulesKey(&'static str),
    /// `K(requestObject.<path>)`, a single value.
    Request(&'static [&'static str]),
    /// `K(requestObject.<path>)`, an array giving one value per element.
    RequestList(&'static [&'static str]),
    /// `requestObject.spec.ports`.
    ServicePorts,
    /// `R(requestObject.<path>)` (a path under `spec.volumes`), SkipNil.
    Volumes(&'static [&'static str]),
    /// The keys of each volume except `name`.
    VolumeType,
    /// Whether a hostPath volume uses the path in the argument.
    VolumeHostPath,
    /// Image of the first container.
    FirstContainerImage,
    /// Repository of the first container's image.
    FirstContainerRepository,
    /// Whether any container is privileged.
    AnyContainerPrivileged,
    /// A per-container field.
    Pod(ContainerList, PodField),
    /// `json.value[ptr]`.
    JsonValue,
    /// `json.obj`.
    JsonObj,
    /// `json.rawtime`.
    JsonRawTime,
    /// `evt.time`.
    EvtTime,
    /// `evt.time.s`.
    EvtTimeS,
    /// `evt.time.iso8601`.
    EvtTimeIso8601,
    /// `evt.datetime`.
    EvtDatetime,
    /// `evt.datetime.s`.
    EvtDatetimeS,
    /// `evt.rawtime`.
    EvtRawTime,
    /// `evt.rawtime.s`.
    EvtRawTimeS,
    /// `evt.rawtime.ns`.
    EvtRawTimeNs,
    /// `evt.source`.
    EvtSource,
    /// `evt.pluginname`.
    EvtPluginName,
    /// `evt.plugininfo`.
    EvtPluginInfo,
}

/// One row of the field table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldDef {
    /// The field name, e.g. `ka.user.name`.
    pub name: &'static str,
    /// The value type (every `ka.*`/`json.*` field is a string).
    pub ty: ValueType,
    /// Whether it is a list field.
    pub list: bool,
    /// The argument it takes.
    pub arg: ArgKind,
    /// What it extracts, in our words.
    pub desc: &'static str,
    /// How it is extracted.
    pub extractor: Extractor,
    /// When `Some`, the field extracts something else under [`Compat::Falco`]: this text says
    /// what (the upstream bug).
    pub falco_differs: Option<&'static str>,
}

const fn f(
    name: &'static str,
    list: bool,
    arg: ArgKind,
    desc: &'static str,
    extractor: Extractor,
) -> FieldDef {
    FieldDef {
        name,
        ty: ValueType::Str,
        list,
        arg,
        desc,
        extractor,
        falco_differs: None,
    }
}

const fn bug(def: FieldDef, falco: &'static str) -> FieldDef {
    FieldDef {
        falco_differs: Some(falco),
        ..def
    }
}

const fn uint(def: FieldDef) -> FieldDef {
    FieldDef {
        ty: ValueType::Uint,
        ..def
    }
}

use ArgKind::{Index, None as NoArg, RequiredKey};
use Extractor as E;

const SOURCEIPS_BUG: &str = "reads `requestObject.rules[*].sourceIPs` (falcosecurity/plugins#236), so it is missing on real events";
const ADDCAPS_BUG: &str = "one value per container: the whole `add` array as JSON text, e.g. `[\"NET_ADMIN\",\"SYS_TIME\"]`";
const EFFUSER_BUG: &str = "reads `spec.runAsUser` and `<list>[*].runAsUser` without `securityContext`, so it is \"0\" for every container; with an index `[N]` it is missing unless container N itself has a top-level `runAsUser` key";
const EFFGROUP_BUG: &str = "reads `spec.runAsGroup` and `<list>[*].runAsGroup` without `securityContext`, so it is \"0\" for every container; with an index `[N]` it is missing unless container N itself has a top-level `runAsGroup` key";
const CMD_BUG: &str = "also reads the key when the list is an object rather than an array (upstream's walk reads a key of any object it reaches)";
const VOLTYPE_BUG: &str =
    "a volume that is not an object is skipped, not a reason for the whole field to be missing";
const JSONVALUE_BUG: &str = "one leading `/` is dropped and the rest split on every `/`, so a lone `/` looks up the key `\"\"` (missing) instead of the whole event; an array index is read like Go's `strconv.Atoi`, so `+0`, `-0` and `00` select element 0";
const JSONOBJ_BUG: &str = "the event as Falco stores it: `kind` (except in an `EventList` item) and `stageTimestamp` with their escapes undone, e.g. `\"\\u0045vent\"` shows as `\"Event\"`; missing when a string holds a raw control character or an unknown escape (Go's `json.Indent` refuses it)";
const HOSTPORT_BUG: &str = "per port: `hostPort`, or `containerPort` when there is no `hostPort`";
const REPO_BUG: &str = "cuts at the first `:` then the first `@`, so `reg:5000/app:v1` gives `reg`";
const PORTS_BUG: &str = "one value: the whole `ports` array as JSON text; the index is ignored";

macro_rules! pod_fields {
    ($l:literal, $cl:expr, $what:literal) => {
        [
            f(concat!("ka.req.pod.", $l, ".name"), true, Index, concat!("Names of the pod's ", $what, " (missing if one lacks a name)."), E::Pod($cl, PodField::Name)),
            f(concat!("ka.req.pod.", $l, ".image"), true, Index, concat!("Images of the pod's ", $what, " (missing if one lacks an image)."), E::Pod($cl, PodField::Image)),
            bug(f(concat!("ka.req.pod.", $l, ".image.repository"), true, Index, concat!("Repository part of each image of the pod's ", $what, ": the image without its `:tag` and `@digest` (a registry port is kept: `reg:5000/app:v1` gives `reg:5000/app`)."), E::Pod($cl, PodField::ImageRepository)), REPO_BUG),
            bug(f(concat!("ka.req.pod.", $l, ".command"), true, Index, concat!("For each of the ", $what, " with a `command`, its elements joined with single spaces."), E::Pod($cl, PodField::Command)), CMD_BUG),
            bug(f(concat!("ka.req.pod.", $l, ".args"), true, Index, concat!("For each of the ", $what, " with `args`, its elements joined with single spaces."), E::Pod($cl, PodField::Args)), CMD_BUG),
            f(concat!("ka.req.pod.", $l, ".privileged"), true, Index, concat!("`securityContext.privileged` of the ", $what, " that set it."), E::Pod($cl, PodField::SecurityContext("privileged"))),
            f(concat!("ka.req.pod.", $l, ".allow_privilege_escalation"), true, Index, concat!("`securityContext.allowPrivilegeEscalation` of the ", $what, " that set it."), E::Pod($cl, PodField::SecurityContext("allowPrivilegeEscalation"))),
            f(concat!("ka.req.pod.", $l, ".read_only_fs"), true, Index, concat!("`securityContext.readOnlyRootFilesystem` of the ", $what, " that set it."), E::Pod($cl, PodField::SecurityContext("readOnlyRootFilesystem"))),
            f(concat!("ka.req.pod.", $l, ".run_as_user"), true, Index, concat!("`securityContext.runAsUser` of the ", $what, " that set it."), E::Pod($cl, PodField::SecurityContext("runAsUser"))),
            bug(f(concat!("ka.req.pod.", $l, ".eff_run_as_user"), true, Index, concat!("Effective uid of each of the ", $what, ": its `securityContext.runAsUser`, else the pod's `spec.securityContext.runAsUser`, else \"0\"."), E::Pod($cl, PodField::EffRunAsUser)), EFFUSER_BUG),
            f(concat!("ka.req.pod.", $l, ".run_as_group"), true, Index, concat!("`securityContext.runAsGroup` of the ", $what, " that set it."), E::Pod($cl, PodField::SecurityContext("runAsGroup"))),
            bug(f(concat!("ka.req.pod.", $l, ".eff_run_as_group"), true, Index, concat!("Effective gid of each of the ", $what, ": its `securityContext.runAsGroup`, else the pod's `spec.securityContext.runAsGroup`, else \"0\"."), E::Pod($cl, PodField::EffRunAsGroup)), EFFGROUP_BUG),
            f(concat!("ka.req.pod.", $l, ".proc_mount"), true, Index, concat!("`securityContext.procMount` of the ", $what, " that set it."), E::Pod($cl, PodField::SecurityContext("procMount"))),
            bug(f(concat!("ka.req.pod.", $l, ".add_capabilities"), true, Index, concat!("Capabilities added by the ", $what, " (`securityContext.capabilities.add`), one value per capability."), E::Pod($cl, PodField::AddCapabilities)), ADDCAPS_BUG),
        ]
    };
}

const BASE: [FieldDef; 56] = [
    f(
        "ka.auditid",
        false,
        NoArg,
        "The unique id of the audit event (`auditID`).",
        E::AuditId,
    ),
    f(
        "ka.stage",
        false,
        NoArg,
        "The stage of the request (`RequestReceived`, `ResponseComplete`, ...).",
        E::Stage,
    ),
    f(
        "ka.auth.decision",
        false,
        NoArg,
        "The authorization decision (annotation `authorization.k8s.io/decision`).",
        E::Annotation("authorization.k8s.io/decision"),
    ),
    f(
        "ka.auth.reason",
        false,
        NoArg,
        "The authorization reason (annotation `authorization.k8s.io/reason`).",
        E::Annotation("authorization.k8s.io/reason"),
    ),
    f(
        "ka.auth.openshift.decision",
        false,
        NoArg,
        "OpenShift's authentication decision (annotation `authentication.openshift.io/decision`).",
        E::Annotation("authentication.openshift.io/decision"),
    ),
    f(
        "ka.auth.openshift.username",
        false,
        NoArg,
        "OpenShift's authenticated user name (annotation `authentication.openshift.io/username`).",
        E::Annotation("authentication.openshift.io/username"),
    ),
    f(
        "ka.validations.admission.policy.failure",
        false,
        NoArg,
        "Validating admission policy failures (annotation `validation.policy.admission.k8s.io/validation_failure`).",
        E::Annotation("validation.policy.admission.k8s.io/validation_failure"),
    ),
    f(
        "ka.security.pod.violations",
        false,
        NoArg,
        "Pod Security audit violations (annotation `pod-security.kubernetes.io/audit-violations`).",
        E::Annotation("pod-security.kubernetes.io/audit-violations"),
    ),
    f(
        "ka.cluster.name",
        false,
        NoArg,
        "The cluster name (the non-standard annotation `cluster_name`).",
        E::Annotation("cluster_name"),
    ),
    f(
        "ka.user.name",
        false,
        NoArg,
        "The name of the user making the request (`user.username`).",
        E::UserName,
    ),
    f(
        "ka.user.groups",
        true,
        NoArg,
        "The groups of the user making the request (`user.groups`).",
        E::UserGroups,
    ),
    f(
        "ka.impuser.name",
        false,
        NoArg,
        "The impersonated user name (`impersonatedUser.username`).",
        E::ImpUserName,
    ),
    f(
        "ka.verb",
        false,
        NoArg,
        "The verb of the request (`get`, `create`, ...).",
        E::Verb,
    ),
    f(
        "ka.uri",
        false,
        NoArg,
        "The request URI as sent by the client.",
        E::Uri,
    ),
    f(
        "ka.uri.param",
        false,
        RequiredKey,
        "The first value of the query parameter named by the argument, decoded like Go's `url.ParseQuery` (missing if the URI does not parse).",
        E::UriParam,
    ),
    f(
        "ka.useragent",
        false,
        NoArg,
        "The user agent of the client.",
        E::UserAgent,
    ),
    bug(
        f(
            "ka.sourceips",
            true,
            Index,
            "The client IP addresses (`sourceIPs`); `[N]` selects one.",
            E::SourceIps,
        ),
        SOURCEIPS_BUG,
    ),
    f(
        "ka.target.name",
        false,
        NoArg,
        "The target object name (`objectRef.name`).",
        E::TargetName,
    ),
    f(
        "ka.target.namespace",
        false,
        NoArg,
        "The target object namespace (`objectRef.namespace`).",
        E::TargetNamespace,
    ),
    f(
        "ka.target.resource",
        false,
        NoArg,
        "The target resource (`objectRef.resource`).",
        E::TargetResource,
    ),
    f(
        "ka.target.subresource",
        false,
        NoArg,
        "The target subresource (`objectRef.subresource`).",
        E::TargetSubresource,
    ),
    f(
        "ka.target.pod.name",
        false,
        NoArg,
        "For pod requests without a subresource, the pod name from `responseObject.metadata.name`.",
        E::TargetPodName,
    ),
    f(
        "ka.resp.name",
        false,
        NoArg,
        "The response object name (`responseObject.metadata.name`).",
        E::RespName,
    ),
    f(
        "ka.response.code",
        false,
        NoArg,
        "The response code (`responseStatus.code`, its number text).",
        E::ResponseCode,
    ),
    f(
        "ka.response.reason",
        false,
        NoArg,
        "The response reason (`responseStatus.reason`, usually only on failures).",
        E::ResponseReason,
    ),
    f(
        "ka.req.binding.subjects",
        true,
        NoArg,
        "For a (cluster) role binding, each subject as JSON text.",
        E::BindingSubjects,
    ),
    f(
        "ka.req.binding.subjects.user_names",
        true,
        NoArg,
        "For a (cluster) role binding, the names of the `User` subjects.",
        E::SubjectNames("User"),
    ),
    f(
        "ka.req.binding.subjects.group_names",
        true,
        NoArg,
        "For a (cluster) role binding, the names of the `Group` subjects.",
        E::SubjectNames("Group"),
    ),
    f(
        "ka.req.binding.subjects.serviceaccount_names",
        true,
        NoArg,
        "For a (cluster) role binding, the names of the `ServiceAccount` subjects.",
        E::SubjectNames("ServiceAccount"),
    ),
    f(
        "ka.req.binding.subjects.serviceaccount_ns_names",
        true,
        NoArg,
        "For a (cluster) role binding, `namespace:name` of the `ServiceAccount` subjects that have a namespace.",
        E::SubjectServiceAccountNsNames,
    ),
    f(
        "ka.req.binding.role",
        false,
        NoArg,
        "For a (cluster) role binding, the bound role (`requestObject.roleRef.name`).",
        E::BindingRole,
    ),
    f(
        "ka.req.binding.subject.has_name",
        false,
        RequiredKey,
        "Deprecated; always \"true\".",
        E::SubjectHasName,
    ),
    f(
        "ka.req.configmap.name",
        false,
        NoArg,
        "For a configmap request, its name (`objectRef.name`).",
        E::TargetName,
    ),
    f(
        "ka.req.configmap.obj",
        false,
        NoArg,
        "For a configmap request, its whole `data` object as JSON text.",
        E::ConfigMapObj,
    ),
    f(
        "ka.req.role.rules",
        true,
        NoArg,
        "For a (cluster) role, each rule as JSON text.",
        E::RoleRules,
    ),
    f(
        "ka.req.role.rules.apiGroups",
        true,
        Index,
        "For a (cluster) role, the `apiGroups` of its rules, flattened; `[N]` selects rule N.",
        E::RoleRulesKey("apiGroups"),
    ),
    f(
        "ka.req.role.rules.nonResourceURLs",
        true,
        Index,
        "For a (cluster) role, the `nonResourceURLs` of its rules, flattened; `[N]` selects rule N.",
        E::RoleRulesKey("nonResourceURLs"),
    ),
    f(
        "ka.req.role.rules.verbs",
        true,
        Index,
        "For a (cluster) role, the `verbs` of its rules, flattened; `[N]` selects rule N.",
        E::RoleRulesKey("verbs"),
    ),
    f(
        "ka.req.role.rules.resources",
        true,
        Index,
        "For a (cluster) role, the `resources` of its rules, flattened; `[N]` selects rule N.",
        E::RoleRulesKey("resources"),
    ),
    f(
        "ka.req.pod.host_ipc",
        false,
        NoArg,
        "For a pod, `spec.hostIPC`.",
        E::Request(&["spec", "hostIPC"]),
    ),
    f(
        "ka.req.pod.host_network",
        false,
        NoArg,
        "For a pod, `spec.hostNetwork`.",
        E::Request(&["spec", "hostNetwork"]),
    ),
    f(
        "ka.req.container.host_network",
        false,
        NoArg,
        "Deprecated alias of `ka.req.pod.host_network`.",
        E::Request(&["spec", "hostNetwork"]),
    ),
    f(
        "ka.req.pod.host_pid",
        false,
        NoArg,
        "For a pod, `spec.hostPID`.",
        E::Request(&["spec", "hostPID"]),
    ),
    f(
        "ka.req.pod.run_as_user",
        false,
        NoArg,
        "For a pod, `spec.securityContext.runAsUser`.",
        E::Request(&["spec", "securityContext", "runAsUser"]),
    ),
    f(
        "ka.req.pod.run_as_group",
        false,
        NoArg,
        "For a pod, `spec.securityContext.runAsGroup`.",
        E::Request(&["spec", "securityContext", "runAsGroup"]),
    ),
    f(
        "ka.req.pod.fs_group",
        false,
        NoArg,
        "For a pod, `spec.securityContext.fsGroup`.",
        E::Request(&["spec", "securityContext", "fsGroup"]),
    ),
    f(
        "ka.req.pod.supplemental_groups",
        true,
        NoArg,
        "For a pod, `spec.securityContext.supplementalGroups`.",
        E::RequestList(&["spec", "securityContext", "supplementalGroups"]),
    ),
    f(
        "ka.req.service.type",
        false,
        NoArg,
        "For a service, `spec.type`.",
        E::Request(&["spec", "type"]),
    ),
    bug(
        f(
            "ka.req.service.ports",
            true,
            Index,
            "For a service, each entry of `spec.ports` as JSON text; `[N]` selects one.",
            E::ServicePorts,
        ),
        PORTS_BUG,
    ),
    f(
        "ka.req.pod.volumes.hostpath",
        true,
        Index,
        "For a pod, the path of every hostPath volume; `[N]` selects volume N.",
        E::Volumes(&["spec", "volumes", "hostPath", "path"]),
    ),
    f(
        "ka.req.pod.volumes.flexvolume_driver",
        true,
        Index,
        "For a pod, the driver of every flexVolume; `[N]` selects volume N.",
        E::Volumes(&["spec", "volumes", "flexVolume", "driver"]),
    ),
    bug(
        f(
            "ka.req.pod.volumes.volume_type",
            true,
            Index,
            "For a pod, for each volume, every key other than `name` (`hostPath`, `configMap`, ...); missing if a volume is not an object.",
            E::VolumeType,
        ),
        VOLTYPE_BUG,
    ),
    f(
        "ka.req.volume.hostpath",
        false,
        RequiredKey,
        "Deprecated: \"true\" if a hostPath volume uses the path in the argument (a trailing `*` makes it a prefix), else \"false\".",
        E::VolumeHostPath,
    ),
    f(
        "ka.req.container.image",
        false,
        NoArg,
        "Deprecated: the image of the first container.",
        E::FirstContainerImage,
    ),
    bug(
        f(
            "ka.req.container.image.repository",
            false,
            NoArg,
            "Deprecated: the repository of the first container's image.",
            E::FirstContainerRepository,
        ),
        REPO_BUG,
    ),
    f(
        "ka.req.container.privileged",
        false,
        NoArg,
        "Deprecated: \"true\" if some container has `securityContext.privileged: true`, else \"false\".",
        E::AnyContainerPrivileged,
    ),
];

const HOST_PORT_DESC: &str = "The `hostPort` of every port of the pod's containers that sets one.";

const TAIL: [FieldDef; 19] = [
    bug(
        f(
            "ka.req.pod.containers.host_port",
            true,
            Index,
            HOST_PORT_DESC,
            E::Pod(ContainerList::Containers, PodField::HostPort),
        ),
        HOSTPORT_BUG,
    ),
    bug(
        f(
            "ka.req.pod.initContainers.host_port",
            true,
            Index,
            "The `hostPort` of every port of the pod's init containers that sets one.",
            E::Pod(ContainerList::InitContainers, PodField::HostPort),
        ),
        HOSTPORT_BUG,
    ),
    bug(
        f(
            "json.value",
            false,
            RequiredKey,
            "The value at a JSON pointer in the event (leading `/` optional, `~1` and `~0` escapes, decimal array indices; an empty pointer or a lone `/` is the whole event): a string gives its text, anything else compact JSON.",
            E::JsonValue,
        ),
        JSONVALUE_BUG,
    ),
    bug(
        f(
            "json.obj",
            false,
            NoArg,
            "The whole event JSON as it appears in the input, pretty-printed with two-space indentation.",
            E::JsonObj,
        ),
        JSONOBJ_BUG,
    ),
    f(
        "json.rawtime",
        false,
        NoArg,
        "The event time in nanoseconds since the epoch, as decimal text.",
        E::JsonRawTime,
    ),
    bug(
        f(
            "jevt.value",
            false,
            RequiredKey,
            "Alias of `json.value`.",
            E::JsonValue,
        ),
        JSONVALUE_BUG,
    ),
    bug(
        f("jevt.obj", false, NoArg, "Alias of `json.obj`.", E::JsonObj),
        JSONOBJ_BUG,
    ),
    f(
        "jevt.rawtime",
        false,
        NoArg,
        "Alias of `json.rawtime`.",
        E::JsonRawTime,
    ),
    f(
        "evt.time",
        false,
        NoArg,
        "The event time as `HH:MM:SS.nnnnnnnnn` (UTC).",
        E::EvtTime,
    ),
    f(
        "evt.time.s",
        false,
        NoArg,
        "The event time as `HH:MM:SS` (UTC).",
        E::EvtTimeS,
    ),
    f(
        "evt.time.iso8601",
        false,
        NoArg,
        "The event time as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnn+0000`.",
        E::EvtTimeIso8601,
    ),
    f(
        "evt.datetime",
        false,
        NoArg,
        "The event date and time as `YYYY-MM-DD HH:MM:SS.nnnnnnnnn` (UTC).",
        E::EvtDatetime,
    ),
    f(
        "evt.datetime.s",
        false,
        NoArg,
        "The event date and time as `YYYY-MM-DD HH:MM:SS` (UTC).",
        E::EvtDatetimeS,
    ),
    uint(f(
        "evt.rawtime",
        false,
        NoArg,
        "The event time in nanoseconds since the epoch (a number).",
        E::EvtRawTime,
    )),
    uint(f(
        "evt.rawtime.s",
        false,
        NoArg,
        "The whole seconds of the event time since the epoch (a number).",
        E::EvtRawTimeS,
    )),
    uint(f(
        "evt.rawtime.ns",
        false,
        NoArg,
        "The nanoseconds part of the event time (a number).",
        E::EvtRawTimeNs,
    )),
    f(
        "evt.source",
        false,
        NoArg,
        "The event source name, `k8s_audit`.",
        E::EvtSource,
    ),
    f(
        "evt.pluginname",
        false,
        NoArg,
        "The name of the plugin that produced the event, `k8saudit`.",
        E::EvtPluginName,
    ),
    f(
        "evt.plugininfo",
        false,
        NoArg,
        "The raw JSON text of the event.",
        E::EvtPluginInfo,
    ),
];

const fn concat_tables() -> [FieldDef; 56 + 14 * 3 + 19] {
    let c = pod_fields!("containers", ContainerList::Containers, "containers");
    let i = pod_fields!(
        "initContainers",
        ContainerList::InitContainers,
        "init containers"
    );
    let e = pod_fields!(
        "ephemeralContainers",
        ContainerList::EphemeralContainers,
        "ephemeral containers"
    );
    let mut out = [BASE[0]; 56 + 14 * 3 + 19];
    let mut n = 0;
    while n < 56 {
        out[n] = BASE[n];
        n += 1;
    }
    let mut k = 0;
    while k < 14 {
        out[56 + k] = c[k];
        out[70 + k] = i[k];
        out[84 + k] = e[k];
        k += 1;
    }
    let mut t = 0;
    while t < 19 {
        out[98 + t] = TAIL[t];
        t += 1;
    }
    out
}

/// Every field, in documentation order: the `ka.*` fields of k8saudit 0.18.0, the json
/// plugin's `json.*` / `jevt.*`, then the generic `evt.*` fields.
pub static FIELDS: [FieldDef; 117] = concat_tables();

/// The event source name of every field in [`FIELDS`].
pub const SOURCE: &str = "k8s_audit";

/// A parsed field argument.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FieldArg {
    /// No argument.
    None,
    /// `[N]`.
    Index(u32),
    /// `[key]`.
    Key(Box<str>),
    /// A JSON pointer, split and unescaped.
    Pointer(Box<[Box<str>]>),
}

/// A compiled field: the extractor, its parsed argument and the compat mode.
///
/// Its `Debug` form is the field as written in a condition (`ka.uri.param[command]`,
/// `jevt.value[/spec/hostPID]`), with ` (falco)` under [`Compat::Falco`]: compiled-program
/// listings (`kaudit debug program`) stay readable.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Field {
    pub(crate) def: u16,
    pub(crate) extractor: Extractor,
    pub(crate) arg: FieldArg,
    pub(crate) compat: Compat,
}

impl fmt::Debug for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.def().name)?;
        match &self.arg {
            FieldArg::None => {}
            FieldArg::Index(i) => write!(f, "[{i}]")?,
            FieldArg::Key(k) => write!(f, "[{k}]")?,
            FieldArg::Pointer(parts) => {
                f.write_str("[")?;
                for p in parts {
                    write!(f, "/{}", p.replace('~', "~0").replace('/', "~1"))?;
                }
                f.write_str("]")?;
            }
        }
        if self.compat == Compat::Falco {
            f.write_str(" (falco)")?;
        }
        Ok(())
    }
}

impl Field {
    /// The table row of this field.
    #[must_use]
    pub fn def(&self) -> &'static FieldDef {
        &FIELDS[usize::from(self.def)]
    }

    /// The field name (without argument).
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.def().name
    }

    /// The parsed argument.
    #[must_use]
    pub fn arg(&self) -> &FieldArg {
        &self.arg
    }

    /// The compat mode it was compiled with.
    #[must_use]
    pub fn compat(&self) -> Compat {
        self.compat
    }

    /// The extractor.
    #[must_use]
    pub fn extractor(&self) -> Extractor {
        self.extractor
    }
}

/// The [`Schema`] of Kubernetes audit events: resolves names against [`FIELDS`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct K8sAuditSchema {
    compat: Compat,
}

impl K8sAuditSchema {
    /// A schema extracting correct values for the fields with upstream bugs.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A schema with the given compat mode.
    #[must_use]
    pub fn with_compat(compat: Compat) -> Self {
        K8sAuditSchema { compat }
    }

    /// The compat mode.
    #[must_use]
    pub fn compat(&self) -> Compat {
        self.compat
    }

    /// The table row of a field name.
    #[must_use]
    pub fn lookup(name: &str) -> Option<(usize, &'static FieldDef)> {
        FIELDS.iter().enumerate().find(|(_, d)| d.name == name)
    }
}

/// Parses an index argument: digits only, no leading zero (`0` itself is fine).
fn parse_index(arg: &str) -> Option<u32> {
    let ok = !arg.is_empty()
        && arg.bytes().all(|b| b.is_ascii_digit())
        && (arg == "0" || !arg.starts_with('0'));
    if ok { arg.parse().ok() } else { None }
}

impl Schema for K8sAuditSchema {
    type Field = Field;

    fn resolve(&self, name: &str, arg: Option<&str>) -> Result<FieldInfo<Field>, FieldError> {
        let (idx, def) = Self::lookup(name).ok_or(FieldError::Unknown)?;
        let parsed = match (def.arg, arg) {
            (ArgKind::None, None) | (ArgKind::Index, None) => FieldArg::None,
            (ArgKind::None, Some(_)) => return Err(FieldError::ArgumentNotAllowed),
            (ArgKind::Index, Some(a)) => {
                FieldArg::Index(parse_index(a).ok_or(FieldError::InvalidIndex)?)
            }
            (ArgKind::RequiredKey, None) => return Err(FieldError::ArgumentRequired),
            (ArgKind::RequiredKey, Some(a)) if def.extractor == Extractor::JsonValue => {
                let tokens = if self.compat == Compat::Falco {
                    crate::json::split_pointer_falco(a)
                } else {
                    crate::json::split_pointer(a)
                };
                FieldArg::Pointer(tokens.into_boxed_slice())
            }
            (ArgKind::RequiredKey, Some(a)) => FieldArg::Key(a.into()),
        };
        let def_idx = u16::try_from(idx).map_err(|_| FieldError::Unknown)?;
        Ok(FieldInfo {
            field: Field {
                def: def_idx,
                extractor: def.extractor,
                arg: parsed,
                compat: self.compat,
            },
            ty: def.ty,
            list: def.list,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(name: &str, arg: Option<&str>) -> Result<FieldInfo<Field>, FieldError> {
        K8sAuditSchema::new().resolve(name, arg)
    }

    #[test]
    fn resolve_errors_like_falco() {
        assert_eq!(resolve("ka.nope", None).unwrap_err(), FieldError::Unknown);
        assert_eq!(
            resolve("ka.uri.param", None).unwrap_err(),
            FieldError::ArgumentRequired
        );
        assert_eq!(
            resolve("jevt.value", None).unwrap_err(),
            FieldError::ArgumentRequired
        );
        assert_eq!(
            resolve("ka.verb", Some("x")).unwrap_err(),
            FieldError::ArgumentNotAllowed
        );
        for bad in ["01", "-1", "a", "", "1.0", " 1"] {
            assert_eq!(
                resolve("ka.req.pod.containers.image", Some(bad)).unwrap_err(),
                FieldError::InvalidIndex,
                "{bad}"
            );
        }
    }

    #[test]
    fn resolve_handles() {
        let f = resolve("ka.req.pod.containers.image", Some("0")).unwrap();
        assert_eq!((f.ty, f.list), (ValueType::Str, true));
        assert_eq!(f.field.arg(), &FieldArg::Index(0));
        assert_eq!(f.field.name(), "ka.req.pod.containers.image");
        let f = resolve("ka.req.pod.containers.image", None).unwrap();
        assert_eq!(f.field.arg(), &FieldArg::None);
        let f = resolve("jevt.value", Some("/a~1b/c~0d/0")).unwrap();
        assert_eq!(
            f.field.arg(),
            &FieldArg::Pointer(vec!["a/b".into(), "c~d".into(), "0".into()].into_boxed_slice())
        );
        let f = resolve("ka.uri.param", Some("watch")).unwrap();
        assert_eq!(
            (f.field.arg(), f.list),
            (&FieldArg::Key("watch".into()), false)
        );
        let f = K8sAuditSchema::with_compat(Compat::Falco)
            .resolve("ka.sourceips", Some("4294967295"))
            .unwrap();
        assert_eq!(
            (f.field.compat(), f.field.arg()),
            (Compat::Falco, &FieldArg::Index(u32::MAX))
        );
        assert_eq!(
            resolve("ka.sourceips", Some("4294967296")).unwrap_err(),
            FieldError::InvalidIndex
        );
        assert_eq!(resolve("evt.rawtime", None).unwrap().ty, ValueType::Uint);
    }

    #[test]
    fn table_is_consistent() {
        let names: std::collections::BTreeSet<&str> = FIELDS.iter().map(|d| d.name).collect();
        assert_eq!(names.len(), FIELDS.len(), "duplicate field names");
        assert_eq!(
            FIELDS.iter().filter(|d| d.name.starts_with("ka.")).count(),
            100
        );
        assert_eq!(
            FIELDS.iter().filter(|d| d.falco_differs.is_some()).count(),
            28
        );
        for d in &FIELDS {
            assert!(d.desc.ends_with('.'), "{}", d.name);
            // Index arguments only make sense on list fields.
            assert!(d.arg != ArgKind::Index || d.list, "{}", d.name);
        }
    }
}
