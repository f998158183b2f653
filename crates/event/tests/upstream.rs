//! Every upstream trace file decodes (except the one deliberately broken input).

use kaudit_event::{DecodeErrorKind, DecodeOptions, decode_document};

#[test]
fn every_upstream_trace_decodes() {
    kaudit_testdata::require_shared!("upstream");
    let files = kaudit_testdata::upstream_traces();
    assert_eq!(files.len(), 79, "trace file count changed");
    let mut events = 0;
    let mut framings = std::collections::BTreeMap::new();
    for f in &files {
        let buf = std::fs::read(f).unwrap();
        let doc = decode_document(&buf, &DecodeOptions::default()).unwrap();
        *framings.entry(format!("{:?}", doc.framing)).or_insert(0) += 1;
        let name = f.file_name().unwrap().to_string_lossy();
        if name == "fal_01_003.json" {
            // `{"kind": 0}`: a deliberately broken input (kind has the wrong type).
            assert_eq!(doc.events.len(), 1);
            let err = doc.events[0].as_ref().unwrap_err();
            assert_eq!((err.line, err.offset), (1, 9), "{err}");
            assert!(
                matches!(&err.kind, DecodeErrorKind::Json(m) if m.contains("invalid type: integer `0`")),
                "{err}"
            );
            continue;
        }
        assert!(!doc.events.is_empty(), "{}", f.display());
        for ev in &doc.events {
            let (_, ev) = ev
                .as_ref()
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            assert!(ev.audit_id.is_some(), "{}", f.display());
            assert!(
                ev.timestamp_ns() > 1_500_000_000_000_000_000,
                "{}",
                f.display()
            );
            events += 1;
        }
    }
    assert_eq!(events, 83);
    assert_eq!(format!("{framings:?}"), r#"{"Event": 78, "JsonLines": 1}"#);
}
