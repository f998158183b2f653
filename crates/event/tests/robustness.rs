//! What the fuzz target does, on fixed inputs, in every CI run: decode in every framing and
//! extract every field with several arguments, in both compat modes; nothing panics.

use kaudit_condition::{Event, Schema, Values};
use kaudit_event::{
    ArgKind, AuditEvent, Compat, DecodeOptions, FIELDS, Framing, K8sAuditSchema,
    decode_document_as, decode_document_as_with, json_lines, json_lines_with,
};

/// Extracts every field; returns how many (field, argument, mode) triples had a value.
fn extract_all(ev: &AuditEvent<'_>) -> usize {
    let mut present = 0;
    for compat in [Compat::Correct, Compat::Falco] {
        let schema = K8sAuditSchema::with_compat(compat);
        for def in &FIELDS {
            let args: &[Option<&str>] = match def.arg {
                ArgKind::None => &[None],
                ArgKind::Index => &[None, Some("0"), Some("1"), Some("4294967295")],
                ArgKind::RequiredKey => &[
                    Some("/requestObject/spec/containers/0"),
                    Some("a"),
                    Some(""),
                    Some("*"),
                ],
            };
            for arg in args {
                let Ok(info) = schema.resolve(def.name, *arg) else {
                    continue;
                };
                let mut out = Values::new();
                ev.extract(&info.field, &mut out);
                present += usize::from(!out.is_empty());
            }
        }
    }
    present
}

fn run(data: &[u8]) -> usize {
    let opts = DecodeOptions {
        max_event_size: 1 << 20,
    };
    let mut present = 0;
    for (_, ev) in json_lines(data, opts).flatten() {
        present += extract_all(&ev);
    }
    for framing in [Framing::Event, Framing::EventList, Framing::Array] {
        if let Ok(doc) = decode_document_as(data, framing, &opts) {
            for (_, ev) in doc.events.iter().flatten() {
                present += extract_all(ev);
            }
        }
    }
    // The Falco-compat decoding, with its fallback for events the strict decoding refuses.
    for (_, ev) in json_lines_with(data, opts, Compat::Falco).flatten() {
        present += extract_all(&ev);
    }
    for framing in [Framing::Event, Framing::EventList, Framing::Array] {
        if let Ok(doc) = decode_document_as_with(data, framing, &opts, Compat::Falco) {
            for (_, ev) in doc.events.iter().flatten() {
                present += extract_all(ev);
            }
        }
    }
    present
}

#[test]
fn nasty_inputs_do_not_panic() {
    let nasty: &[&[u8]] = &[
        b"",
        b"{",
        b"[",
        b"[{}]",
        b"{\"items\":[{}, 1, \"x\", null]}",
        b"{\"items\":5}",
        b"{\"auditID\":null,\"verb\":null,\"user\":null}",
        b"{\"auditID\":\"a\",\"requestObject\":null,\"responseObject\":[1,2]}",
        b"{\"auditID\":\"a\",\"requestObject\":{\"spec\":{\"containers\":{\"0\":{\"image\":\"x\"}},\"volumes\":[1,null,{\"hostPath\":[]}]}}}",
        b"{\"auditID\":\"a\",\"requestObject\":{\"spec\":{\"containers\":[null,1,\"s\",[],{\"ports\":[1,{}],\"command\":[],\"securityContext\":[]}]}}}",
        b"{\"auditID\":\"a\",\"requestObject\":{\"rules\":[1,{\"verbs\":\"x\"},{\"verbs\":[[]]}],\"subjects\":[1,{\"kind\":1,\"name\":{}}]}}",
        b"{\"auditID\":\"a\",\"requestURI\":\"%\",\"stageTimestamp\":\"2024-01-01T00:00:00Z\"}",
        b"{\"auditID\":\"a\",\"requestURI\":\"/?a=%ff%fe&a\"}",
        b"{\"auditID\":\"\\ud800\",\"requestObject\":{\"s\":\"\\udc00\\ud800x\"}}",
        b"\xef\xbb\xbf{\"auditID\":\"bom\"}",
        b"{\"auditID\":\"a\"}\n\xff\n{\"auditID\":\"b\"}",
        b"{\"stageTimestamp\":\"9999-12-31T23:59:59.999999999Z\",\"auditID\":\"a\"}",
        b"{\"stageTimestamp\":\"2024-01-01T00:00:00-23:59\",\"auditID\":\"a\"}",
        b"{\"auditID\":{},\"user\":[],\"objectRef\":\"x\",\"responseStatus\":{\"code\":[]},\"annotations\":[1]}",
        b"{\"auditID\":\"a\",\"\\ud800\":\"\\x\\u12\\ud800\\u\\ud800\\uzzzz\\\xc3\xa9\",\"verb\":\"\\\xc3\xa9\"}",
        b"{\"auditID\":\"a\",\"verb\":\"\\",
        b"{\"auditID\":\"a\",\"requestObject\":[{\"spec\":{\"volumes\":[[1],null]}},2,[[]]],\"verb\":7}",
        b"{\"auditID\":\"a\",\"kind\":\"\\u0045vent\",\"stageTimestamp\":\"2024-01-01T00:00:00\\u005a\",\"user\":{\"username\":5}}",
    ];
    for data in nasty {
        run(data);
    }
}

#[test]
fn every_field_runs_on_the_sample_and_upstream() {
    let sample = kaudit_event::sample::generate(kaudit_event::sample::SAMPLE_SEED, 64);
    let present = run(sample.as_bytes());
    assert!(present > 64 * 30, "{present}");
    kaudit_testdata::require_shared!(
        "upstream/falco-k8s-audit-tests/trace_files/k8s_audit/create_nginx_pod_privileged.json"
    );
    let pod = std::fs::read(format!(
        "{}/falco-k8s-audit-tests/trace_files/k8s_audit/create_nginx_pod_privileged.json",
        kaudit_testdata::upstream_path()
    ))
    .unwrap_or_default();
    assert!(run(&pod) > 0);
}
