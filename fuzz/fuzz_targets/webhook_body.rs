#![no_main]
//! Splits arbitrary bytes as a webhook request body (`split_body`). Nothing may panic; an
//! accepted body is valid JSON; every payload is a JSON object lying inside the body.

use kaudit_source::Bytes;
use kaudit_source::webhook::split_body;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let body = Bytes::copy_from_slice(data);
    let Ok(payloads) = split_body(&body) else {
        return;
    };
    assert!(
        serde_json::from_slice::<serde_json::Value>(data).is_ok(),
        "an invalid JSON body was accepted"
    );
    let range = body.as_ptr() as usize..body.as_ptr() as usize + body.len();
    for p in &payloads {
        let start = p.as_ptr() as usize;
        assert!(
            p.is_empty() || (range.contains(&start) && start + p.len() <= range.end),
            "a payload outside the body"
        );
        match serde_json::from_slice::<serde_json::Value>(p) {
            Ok(serde_json::Value::Object(_)) => {}
            other => panic!("payload {:?} is not a JSON object: {other:?}", String::from_utf8_lossy(p)),
        }
    }
});
