//! Parses arbitrary bytes as a checkpoint file (`Checkpoint::from_json`). Nothing may panic; a
//! parsed checkpoint prints (`to_json`) as text that parses back to an equal checkpoint, which
//! prints the same again; text that is not JSON is never accepted.

use kaudit_source::Checkpoint;

/// Runs the target over `data`.
///
/// # Panics
/// When an invariant of the module documentation breaks.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cp) = Checkpoint::from_json(text) else {
        return;
    };
    // Syntax only: a lone surrogate escape (`"\udade"`) is valid JSON that `serde_json::Value`
    // refuses (a Rust string cannot hold it), and in a key the checkpoint ignores it is rightly
    // accepted.
    assert!(
        serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok(),
        "a checkpoint parsed from invalid JSON: {text:?}"
    );
    let _ = cp.identity().kind();
    let printed = cp.to_json();
    let again = match Checkpoint::from_json(&printed) {
        Ok(c) => c,
        Err(e) => panic!("printed checkpoint {printed:?} does not parse: {e}"),
    };
    assert!(
        again == cp,
        "checkpoint {printed:?} parses back differently"
    );
    assert_eq!(again.to_json(), printed);
}
