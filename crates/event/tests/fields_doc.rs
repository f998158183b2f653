//! `docs/fields.md` is generated from the field table and must not be stale.

#[test]
fn fields_md_is_fresh() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/fields.md");
    let want = kaudit_event::fields_markdown();
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(path, &want).unwrap();
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        have == want,
        "docs/fields.md is stale; rerun with UPDATE_EXPECT=1"
    );
}
