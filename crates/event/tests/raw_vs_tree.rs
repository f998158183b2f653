//! Every field of the table, under both compat modes and with a spread of arguments, extracts
//! the same values when `requestObject` (and the whole event, for `jevt.value`) is read as
//! validated text ([`extract`], what a well-formed event gets) as when it is read through the
//! parsed trees ([`extract_via_trees`], what a tolerantly decoded event gets). Events: the
//! generated sample, the hand-written ones of tests/data, a few made here to stress the text
//! reading (duplicate and escaped keys, whitespace, nested arrays, odd types), and the
//! upstream trace files when ../shared is present.

use std::path::Path;

use kaudit_condition::{Schema, Values};
use kaudit_event::internal::extract_via_trees;
use kaudit_event::{
    ArgKind, AuditEvent, Compat, DecodeOptions, Extractor, FIELDS, K8sAuditSchema,
    decode_document_with, extract,
};

/// Sample events generated.
const SAMPLE: usize = 2000;

/// Arguments tried for `jevt.value`-like fields (JSON pointers).
const POINTERS: &[&str] = &[
    "/requestObject",
    "/requestObject/spec",
    "/requestObject/spec/containers",
    "/requestObject/spec/containers/0",
    "/requestObject/spec/containers/0/image",
    "/requestObject/spec/containers/1/securityContext/privileged",
    "/requestObject/spec/volumes/0/hostPath/path",
    "/requestObject/rules/0/verbs",
    "/requestObject/im~1age",
    "/objectRef/resource",
    "/user/groups/0",
    "/user/groups/+0",
    "/verb",
    "/stage",
    "/annotations",
    "/responseStatus/code",
    "",
    "/",
];

/// Arguments tried for the other fields that need a key.
const KEYS: &[&str] = &[
    "/var/run/docker.sock",
    "/var/*",
    "/*",
    "/etc",
    "authorization.k8s.io/decision",
    "command",
    "dryRun",
    "a",
];

/// Events made for this test: the corners of the text reading.
const MADE: &[&str] = &[
    // Duplicate keys (first wins), escaped keys and values, pretty whitespace.
    r#"{"kind":"Event","auditID":"m1","stage":"ResponseComplete","verb":"create",
      "objectRef":{"resource":"pods","namespace":"n","name":"p"},
      "requestObject" : { "spec" : { "containers" : [ { "image" : "a:1" , "image":"b:2",
        "name":"c\u0031", "securityContext":{"privileged":true, "privileged":false,
        "runAsUser": 7, "capabilities":{"add":["NET_ADMIN", "SYS\u005fADMIN"]}},
        "command":["sh","-c","echo \"hi\""], "args":[], "ports":[{"containerPort":80},
        {"hostPort":8080,"containerPort":81}] },
        {"im\u0061ge":"docker.io/x/y@sha256:00", "securityContext":{"privileged":"true"},
         "command":["only"], "args":["a", 1]} ],
        "volumes":[{"name":"v","hostPath":{"path":"/var/run/docker.sock","type":""}},
          {"name":"w","emptyDir":{}, "n\u0061me":"x"}, {"name":"z","hostPath":{"path":"/etc"}}],
        "hostNetwork" : true, "runAsUser": 3, "securityContext":{"runAsGroup":5},
        "ports":[{"port":80,"targetPort":8080},{"port":443}] } } }"#,
    // Nested arrays, non-object elements, numbers in odd forms.
    r#"{"kind":"Event","auditID":"m2","stage":"ResponseComplete","verb":"create",
      "objectRef":{"resource":"pods"},
      "requestObject":{"spec":{"containers":[[{"image":"n:1"}], "str", 3, null,
        {"image": 1e3, "securityContext": {"privileged": true, "runAsGroup": -0.5}},
        {"image": {"a" : [1, 2]}, "ports": {"hostPort": 1}}],
        "initContainers":{"0":{"image":"obj"}},
        "volumes":["v", {"hostPath":{"path":"/var/lib"}}, [ ]],
        "ports":"none"},
        "rules":[{"verbs":["get", "list"],"resources":"pods"},{"apiGroups":[""]}, 5]}}"#,
    // requestObject an array; empty containers; role rules with escapes.
    r#"{"kind":"Event","auditID":"m3","stage":"ResponseComplete","verb":"create",
      "requestObject":[{"spec":{"containers":[{"image":"x"}]}},{"spec":{}},
        {"rules":[{"verbs":["\u002a"]}]}, "s"]}"#,
    r#"{"kind":"Event","auditID":"m4","verb":"create",
      "requestObject":{"spec":{"containers":[],"volumes":[],"ephemeralContainers":[
        {"image":"e","command":"notarray","securityContext":{"capabilities":{"add":"ALL"}}}]},
        "rules":[{"verbs":[],"resources":["*"],"nonResourceURLs":["/x\/y"]}],
        "sourceIPs":["1.1.1.1"]}}"#,
    r#"{"kind":"Event","auditID":"m5","verb":"update","requestObject":null}"#,
    r#"{"kind":"Event","auditID":"m6","verb":"update","requestObject":"text"}"#,
];

/// The documents to read: sample lines, tests/data, [`MADE`], and upstream traces if present.
fn documents() -> Vec<String> {
    let mut docs: Vec<String> =
        kaudit_event::sample::generate(kaudit_event::sample::SAMPLE_SEED, SAMPLE)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
    let mut files = Vec::new();
    kaudit_testdata::json_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data"),
        &mut files,
    );
    files.sort();
    if kaudit_testdata::shared("upstream", module_path!()).is_some() {
        files.extend(kaudit_testdata::upstream_traces());
    }
    for f in files {
        let text =
            std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("reading {}: {e}", f.display()));
        docs.push(text);
    }
    docs.extend(MADE.iter().map(|s| s.replace('\n', " ")));
    docs
}

/// Every field of the table with each argument that applies, for `compat`.
fn fields(compat: Compat) -> Vec<kaudit_event::Field> {
    let schema = K8sAuditSchema::with_compat(compat);
    let mut out = Vec::new();
    for def in &FIELDS {
        let args: Vec<Option<&str>> = match def.arg {
            ArgKind::None => vec![None],
            ArgKind::Index => vec![None, Some("0"), Some("1"), Some("2"), Some("4")],
            ArgKind::RequiredKey if def.extractor == Extractor::JsonValue => {
                POINTERS.iter().copied().map(Some).collect()
            }
            ArgKind::RequiredKey => KEYS.iter().copied().map(Some).collect(),
        };
        for a in args {
            if let Ok(info) = schema.resolve(def.name, a) {
                out.push(info.field);
            }
        }
    }
    out
}

/// Compares the two readings of every field on `ev`; `well_formed`: the event is valid JSON,
/// so the text reading must not have parsed `requestObject` at all.
fn compare(
    ev: &AuditEvent<'_>,
    fields: &[kaudit_event::Field],
    well_formed: bool,
    what: &str,
) -> usize {
    let texts: Vec<Values<'_>> = fields
        .iter()
        .map(|f| {
            let mut text = Values::new();
            extract(ev, f, &mut text);
            text
        })
        .collect();
    if well_formed {
        assert!(!ev.request_tree_parsed(), "requestObject parsed on {what}");
    }
    for (f, text) in fields.iter().zip(&texts) {
        let mut tree = Values::new();
        extract_via_trees(ev, f, &mut tree);
        assert_eq!(*text, tree, "{f:?} on {what}");
    }
    fields.len()
}

#[test]
fn text_and_tree_readings_agree_on_every_field() {
    let docs = documents();
    let opts = DecodeOptions::default();
    let mut compared = 0;
    let mut events = 0;
    for compat in [Compat::Correct, Compat::Falco] {
        let fields = fields(compat);
        assert!(fields.len() > FIELDS.len(), "{}", fields.len());
        for (n, doc) in docs.iter().enumerate() {
            let made = n >= docs.len() - MADE.len();
            let d = match decode_document_with(doc.as_bytes(), &opts, compat) {
                Ok(d) => d,
                Err(e) => {
                    assert!(!made, "made event {n}: {e}");
                    continue;
                }
            };
            if made {
                assert!(d.events.iter().all(Result::is_ok), "made event {n}");
            }
            for ev in d.events.iter().flatten() {
                let (_, ev) = ev;
                events += 1;
                // The sample lines and the made events are valid JSON.
                let well_formed = n < SAMPLE || made;
                let what = format!("document {n} ({compat:?})");
                compared += compare(ev, &fields, well_formed, &what);
            }
        }
    }
    // Sample (2000) + tests/data + made events, twice; more with the upstream traces.
    assert!(events >= 2 * (SAMPLE + MADE.len()), "{events} events");
    eprintln!("{events} events, {compared} extractions compared");
}
