//! Framings and bad input: typed errors with line and byte offset, never a panic.

use kaudit_event::{
    DecodeError, DecodeErrorKind, DecodeOptions, Framing, Position, decode_document, decode_event,
    detect_framing, json_lines,
};

const GOOD: &str = r#"{"auditID":"a","verb":"get","stageTimestamp":"2024-01-01T00:00:00Z"}"#;

/// `Ok(line, offset, auditID)` or `Err(line, offset, kind)` for each item.
type Summary = Result<(usize, usize, String), (usize, usize, DecodeErrorKind)>;

fn summary(buf: &[u8]) -> Vec<Summary> {
    json_lines(buf, DecodeOptions::default())
        .map(|r| match r {
            Ok((p, ev)) => Ok((
                p.line,
                p.offset,
                ev.audit_id.as_deref().unwrap_or("").to_owned(),
            )),
            Err(DecodeError { line, offset, kind }) => Err((line, offset, kind)),
        })
        .collect()
}

fn json_msg(kind: &DecodeErrorKind) -> &str {
    match kind {
        DecodeErrorKind::Json(m) => m,
        other => panic!("not a JSON error: {other:?}"),
    }
}

#[test]
fn a_bad_line_does_not_stop_the_next_ones() {
    let mut buf = Vec::new();
    buf.extend_from_slice(GOOD.as_bytes()); // line 1, offset 0
    buf.extend_from_slice(b"\n{\"auditID\":\"b\",\"verb\":\"li\n"); // line 2: truncated (offset 71)
    buf.extend_from_slice(b"\r\n  \n"); // lines 3 (CR only) and 4: blank
    buf.extend_from_slice(b"{\"auditID\":\"\xff\"}\n"); // line 5: not UTF-8
    buf.extend_from_slice(b"{\"auditID\":7}\r\n"); // line 6: wrong type
    buf.extend_from_slice(b"[1,2]\n"); // line 7: not an object
    buf.extend_from_slice(b"{\"auditID\":\"c\",\"stageTimestamp\":\"yesterday\"}\n"); // line 8
    buf.extend_from_slice(GOOD.replace("\"a\"", "\"z\"").as_bytes()); // line 9, no newline
    let s = summary(&buf);
    assert_eq!(s.len(), 7, "{s:?}");
    assert_eq!(s[0], Ok((1, 0, "a".to_owned())));
    let (line, off, kind) = s[1].clone().unwrap_err();
    // serde_json's column is that of the last byte it read.
    assert_eq!((line, off), (2, 69 + 24));
    assert_eq!(
        json_msg(&kind),
        "EOF while parsing a string at line 1 column 25"
    );
    assert_eq!(s[2], Err((5, 100 + 12, DecodeErrorKind::NotUtf8)));
    let (line, off, kind) = s[3].clone().unwrap_err();
    assert_eq!((line, off), (6, 116 + 11));
    assert_eq!(
        json_msg(&kind),
        "invalid type: integer `7`, expected a string or null at line 1 column 12"
    );
    assert_eq!(s[4], Err((7, 131, DecodeErrorKind::NotAnObject)));
    assert_eq!(
        s[5],
        Err((
            8,
            137,
            DecodeErrorKind::BadTimestamp {
                field: "stageTimestamp",
                value: "yesterday".to_owned()
            }
        ))
    );
    assert_eq!(s[6], Ok((9, 182, "z".to_owned())));
    assert_eq!(detect_framing(&buf), Framing::JsonLines);
}

#[test]
fn oversized_event_is_an_error_not_a_drop() {
    let big = format!(
        r#"{{"auditID":"big","requestObject":{{"data":{{"blob":"{}"}}}},"stageTimestamp":"2024-01-01T00:00:00Z"}}"#,
        "x".repeat(5 * 1024 * 1024)
    );
    let buf = format!("{GOOD}\n{big}\n{GOOD}\n");
    let s = summary(buf.as_bytes());
    assert_eq!(s.len(), 3);
    assert_eq!(
        s[1],
        Err((
            2,
            GOOD.len() + 1,
            DecodeErrorKind::TooLarge {
                size: big.len(),
                max: 4 * 1024 * 1024
            }
        ))
    );
    assert!(s[2].is_ok());
    // A larger limit accepts it.
    let opts = DecodeOptions {
        max_event_size: 8 * 1024 * 1024,
    };
    let ev = decode_event(&big, &opts).unwrap();
    assert_eq!(ev.audit_id.as_deref(), Some("big"));
    // Falco's own limit.
    let err = decode_event(GOOD, &DecodeOptions { max_event_size: 10 }).unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 1, byte offset 0: event of 68 bytes exceeds the maximum of 10 bytes"
    );
}

#[test]
fn deep_nesting_is_an_error() {
    let deep = format!(
        r#"{{"auditID":"d","requestObject":{}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let err = decode_event(&deep, &DecodeOptions::default()).unwrap_err();
    // The first bracket past the limit of 128 levels (the event object itself is level 1).
    assert_eq!(
        err,
        DecodeError {
            line: 1,
            offset: 31 + 127,
            kind: DecodeErrorKind::TooDeep { max: 128 }
        }
    );
    // Typed parts hit serde_json's own limit.
    let deep_user = format!(
        r#"{{"user":{{"extra":{}{}}}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    let err = decode_event(&deep_user, &DecodeOptions::default()).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::TooDeep { max: 128 });
    // Deep but within the limit is fine.
    let ok = format!(
        r#"{{"auditID":"d","requestObject":{}{}}}"#,
        "[".repeat(120),
        "]".repeat(120)
    );
    assert!(decode_event(&ok, &DecodeOptions::default()).is_ok());
}

#[test]
fn wrong_types_for_known_keys() {
    let cases = [
        (
            r#"{"user":{"groups":"dev"}}"#,
            "invalid type: string \"dev\", expected a sequence at line 1 column 23",
        ),
        (
            r#"{"responseStatus":{"code":"200"}}"#,
            "invalid type: \"200\", expected a JSON number at line 1 column 32",
        ),
        (
            r#"{"annotations":{"a":1}}"#,
            "invalid type: integer `1`, expected a string at line 1 column 21",
        ),
        (
            r#"{"objectRef":[]}"#,
            "invalid type: sequence, expected struct ObjectReference at line 1 column 13",
        ),
        (
            r#"{"sourceIPs":[1]}"#,
            "invalid type: integer `1`, expected a string at line 1 column 15",
        ),
    ];
    for (text, msg) in cases {
        let err = decode_event(text, &DecodeOptions::default()).unwrap_err();
        assert_eq!(json_msg(&err.kind), msg, "{text}");
    }
}

#[test]
fn strings_borrow_unless_escaped() {
    let ev = decode_event(
        r#"{"auditID":"a","verb":"g\u0065t","user":{"username":"x\"y"},"stageTimestamp":"2024-01-01T00:00:00Z"}"#,
        &DecodeOptions::default(),
    )
    .unwrap();
    assert!(ev.audit_id.as_ref().unwrap().is_borrowed());
    assert!(!ev.verb.as_ref().unwrap().is_borrowed());
    assert_eq!(ev.verb.as_deref(), Some("get"));
    assert_eq!(ev.user.as_ref().unwrap().username.as_deref(), Some("x\"y"));
}

#[test]
fn timestamps_and_raw_text() {
    let text = "  {\"auditID\":\"t\",\"requestReceivedTimestamp\":\"2024-01-01T00:00:00.5Z\",\"stageTimestamp\":\"2024-01-01T00:00:01.000000001Z\"}\n";
    let ev = decode_event(text, &DecodeOptions::default()).unwrap();
    assert_eq!(ev.timestamp_ns(), 1_704_067_201_000_000_001);
    assert_eq!(ev.raw_json(), text.trim());
    // No stageTimestamp: requestReceivedTimestamp; v1beta1 `timestamp` before that; else 0.
    let ev = decode_event(
        r#"{"requestReceivedTimestamp":"2024-01-01T00:00:00.5Z"}"#,
        &DecodeOptions::default(),
    )
    .unwrap();
    assert_eq!(ev.timestamp_ns(), 1_704_067_200_500_000_000);
    let ev = decode_event(
        r#"{"timestamp":"2018-10-25T14:09:12Z"}"#,
        &DecodeOptions::default(),
    )
    .unwrap();
    assert_eq!(ev.timestamp_ns(), 1_540_476_552_000_000_000);
    assert_eq!(
        decode_event(r#"{"auditID":"x"}"#, &DecodeOptions::default())
            .unwrap()
            .timestamp_ns(),
        0
    );
    // An object with no key of an audit event is not an event at all.
    assert!(matches!(
        decode_event("{}", &DecodeOptions::default()).map_err(|e| e.kind),
        Err(DecodeErrorKind::NotAuditEvent(_))
    ));
}

#[test]
fn single_event_pretty_printed() {
    let text = "{\n  \"auditID\": \"p\",\n  \"verb\": \"list\"\n}\n";
    assert_eq!(detect_framing(text.as_bytes()), Framing::Event);
    let doc = decode_document(text.as_bytes(), &DecodeOptions::default()).unwrap();
    assert_eq!(doc.framing, Framing::Event);
    let (pos, ev) = doc.events[0].as_ref().unwrap();
    assert_eq!(*pos, Position { line: 1, offset: 0 });
    assert_eq!(ev.verb.as_deref(), Some("list"));
}

#[test]
fn event_list_and_array() {
    let list = format!(
        "{{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"items\":[\n{GOOD},\n{{\"auditID\":5}},\n{GOOD}]}}"
    );
    assert_eq!(detect_framing(list.as_bytes()), Framing::EventList);
    let doc = decode_document(list.as_bytes(), &DecodeOptions::default()).unwrap();
    assert_eq!(doc.framing, Framing::EventList);
    assert_eq!(doc.events.len(), 3);
    assert_eq!(
        doc.events[0].as_ref().unwrap().0,
        Position {
            line: 2,
            offset: 61
        }
    );
    assert_eq!(doc.events[0].as_ref().unwrap().1.raw_json(), GOOD);
    let err = doc.events[1].as_ref().unwrap_err();
    assert_eq!((err.line, err.offset), (3, 131 + 11));
    assert_eq!(
        doc.events[2].as_ref().unwrap().0,
        Position {
            line: 4,
            offset: 146
        }
    );

    let arr = format!("[{GOOD}, {GOOD}]");
    assert_eq!(detect_framing(arr.as_bytes()), Framing::Array);
    let doc = decode_document(arr.as_bytes(), &DecodeOptions::default()).unwrap();
    assert_eq!(doc.framing, Framing::Array);
    assert_eq!(doc.events.len(), 2);
    assert_eq!(
        doc.events[1].as_ref().unwrap().0,
        Position {
            line: 1,
            offset: 71
        }
    );

    // A truncated array is one error for the whole document.
    let err = decode_document(&arr.as_bytes()[..100], &DecodeOptions::default()).unwrap_err();
    assert_eq!((err.line, err.offset), (1, 99));
    assert_eq!(
        json_msg(&err.kind),
        "EOF while parsing a string at line 1 column 100"
    );
    // Non-UTF-8 in a whole document.
    let err = decode_document(b"[{\"auditID\":\"\xc3\"}]", &DecodeOptions::default()).unwrap_err();
    assert_eq!(
        err,
        DecodeError {
            line: 1,
            offset: 13,
            kind: DecodeErrorKind::NotUtf8
        }
    );
}

#[test]
fn framing_detection_edge_cases() {
    assert_eq!(detect_framing(b""), Framing::JsonLines);
    assert_eq!(detect_framing(b"  \n "), Framing::JsonLines);
    assert_eq!(detect_framing(GOOD.as_bytes()), Framing::Event);
    // JSON lines whose first line is broken.
    let buf = format!("{{\"auditID\":\n{GOOD}\n");
    assert_eq!(detect_framing(buf.as_bytes()), Framing::JsonLines);
    assert_eq!(
        decode_document(b"", &DecodeOptions::default())
            .unwrap()
            .events
            .len(),
        0
    );
}

#[test]
fn first_duplicate_key_wins_in_typed_parts() {
    let ev = decode_event(
        r#"{"auditID":"a","verb":"get","verb":"delete","user":{"username":"u1","username":"u2","groups":["g"],"groups":"x"},"annotations":{"k":"1","k":"2"}}"#,
        &DecodeOptions::default(),
    )
    .unwrap();
    assert_eq!(ev.verb.as_deref(), Some("get"));
    let user = ev.user.as_ref().unwrap();
    assert_eq!(user.username.as_deref(), Some("u1"));
    assert_eq!(user.groups.as_ref().unwrap().len(), 1);
    assert_eq!(
        ev.annotations.as_ref().unwrap().get("k").as_deref(),
        Some("1")
    );
    assert!(ev.audit_id.as_ref().unwrap().is_borrowed());
}

#[test]
fn json_null_in_extracted_string_fields_is_the_text_null() {
    let ev = decode_event(
        r#"{"auditID":"n","verb":null,"user":{"username":null,"groups":["g"]},"objectRef":{"namespace":null},"impersonatedUser":null}"#,
        &DecodeOptions::default(),
    )
    .unwrap();
    assert_eq!(ev.verb.as_deref(), Some("null"));
    assert_eq!(ev.user.as_ref().unwrap().username.as_deref(), Some("null"));
    assert_eq!(
        ev.object_ref.as_ref().unwrap().namespace.as_deref(),
        Some("null")
    );
    assert_eq!(ev.object_ref.as_ref().unwrap().name.as_deref(), None);
    assert!(ev.impersonated_user.is_none());
    assert!(ev.stage.is_none());
}

/// The decoder's string scan (eight bytes at a time, then the first stop byte of the word)
/// reads what serde_json reads, and refuses what it refuses, with each escape and raw control
/// byte at every position of strings up to 20 bytes long, beside multi-byte characters.
#[test]
fn string_scan_agrees_with_serde_at_every_position() {
    let pieces = [
        r#"\""#,
        r"\\",
        r"\/",
        r"\n",
        r"\t",
        r"\u00e9",
        r"\ud83d\ude00",
        "\u{1}",
        "\u{1f}",
        "\u{7f}",
        "é",
        "\u{80}",
        "'",
    ];
    let opts = kaudit_event::DecodeOptions::default();
    let mut checked = 0;
    for len in 0..20 {
        for pos in 0..=len {
            for piece in pieces {
                for filler in ["a", "😀"] {
                    let mut s = String::new();
                    for i in 0..len {
                        s.push_str(if i == pos { piece } else { filler });
                    }
                    let line = format!(
                        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"{s}","stage":"ResponseComplete","verb":"get"}}"#
                    );
                    let want: Option<String> = serde_json::from_str::<serde_json::Value>(&line)
                        .ok()
                        .and_then(|v| v["auditID"].as_str().map(str::to_owned));
                    let got = kaudit_event::decode_event(&line, &opts)
                        .ok()
                        .map(|ev| ev.audit_id.as_ref().map(|t| t.as_str().to_owned()));
                    assert_eq!(got, want.map(Some), "{line}");
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 5_460);
}
