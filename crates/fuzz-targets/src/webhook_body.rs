//! Splits arbitrary bytes as a webhook request body (`split_body`). Nothing may panic; an
//! accepted body is valid JSON; every payload is a JSON object lying inside the body.

use kaudit_source::Bytes;
use kaudit_source::webhook::split_body;
use serde::de::IgnoredAny;

/// Runs the target over `data`.
///
/// # Panics
/// When an invariant of the module documentation breaks.
pub fn run(data: &[u8]) {
    let body = Bytes::copy_from_slice(data);
    let Ok(payloads) = split_body(&body) else {
        return;
    };
    // Syntax only: a number out of f64's range (`1e400`) is valid JSON that
    // `serde_json::Value` refuses, and the body splitter rightly accepts it.
    assert!(
        serde_json::from_slice::<IgnoredAny>(data).is_ok(),
        "an invalid JSON body was accepted"
    );
    let range = body.as_ptr() as usize..body.as_ptr() as usize + body.len();
    for p in &payloads {
        let start = p.as_ptr() as usize;
        assert!(
            p.is_empty() || (range.contains(&start) && start + p.len() <= range.end),
            "a payload outside the body"
        );
        let is_object = serde_json::from_slice::<IgnoredAny>(p).is_ok()
            && p.trim_ascii_start().first() == Some(&b'{');
        assert!(
            is_object,
            "payload {:?} is not a JSON object",
            String::from_utf8_lossy(p)
        );
    }
}
