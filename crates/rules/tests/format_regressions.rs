//! Output templates the `output_template` fuzz target found mishandled, kept as regression tests
//! (`fuzz/regressions/output_template` holds the inputs for the target itself).

use kaudit_condition::{FieldError, FieldInfo, Schema, ValueType};
use kaudit_rules::format::{FormatError, MAX_WIDTH, OutputTemplate};

/// Every `a.b`-shaped name is a string field.
struct Strings;

impl Schema for Strings {
    type Field = ();
    fn resolve(&self, _name: &str, _arg: Option<&str>) -> Result<FieldInfo<()>, FieldError> {
        Ok(FieldInfo {
            field: (),
            ty: ValueType::Str,
            list: false,
        })
    }
}

/// `%999999999979999ka.auth.decision` padded every alert to ~1 PB: the fuzz target ran out of
/// memory rendering it. A width above MAX_WIDTH is now a compile error naming it.
#[test]
fn a_width_above_the_maximum_is_refused_when_compiled() {
    let err =
        OutputTemplate::compile("rume %999999999979999ka.auth.decision", &Strings).unwrap_err();
    assert_eq!(
        err,
        FormatError::WidthTooLarge {
            offset: 5,
            width: "999999999979999".to_owned()
        }
    );
    assert_eq!(
        err.to_string(),
        "invalid formatting token at offset 5: width 999999999979999 is above the maximum of 65536"
    );
    assert!(OutputTemplate::compile(&format!("%{MAX_WIDTH}a.b"), &Strings).is_ok());
    assert_eq!(
        OutputTemplate::compile(&format!("%{}a.b", MAX_WIDTH + 1), &Strings)
            .unwrap_err()
            .offset(),
        0
    );
}
