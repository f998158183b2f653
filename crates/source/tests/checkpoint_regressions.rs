//! Checkpoint files the `checkpoint` fuzz target found mishandled, kept as regression tests
//! (`fuzz/regressions/checkpoint` holds the same inputs for the target itself).

use kaudit_source::Checkpoint;

/// A position holding a number past u64 is a float: it must save and load back exactly (it was
/// one ULP off after a save, so a checkpoint changed each time it was written back).
#[test]
fn a_float_in_a_position_saves_and_loads_back_exactly() {
    let text = r#"{"identity":{"kind":"file","es":{"pth":"/var/log/a"}},"position":{"offset":1144444444444444444444441}}"#;
    let cp = Checkpoint::from_json(text).unwrap();
    let printed = cp.to_json();
    assert_eq!(
        printed,
        r#"{"identity":{"kind":"file","attributes":{}},"position":{"offset":1.1444444444444445e+24}}"#
    );
    let again = Checkpoint::from_json(&printed).unwrap();
    assert!(again == cp, "{printed} loads back differently");
    assert_eq!(again.to_json(), printed);
}
