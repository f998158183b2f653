//! Parse; if it parses, the canonical `Display` text must re-parse to an equal AST (and print
//! the same again); then compile against a permissive schema and evaluate on an empty event.
use kaudit_condition::{
    Event, FieldError, FieldInfo, NoMacros, ParseOptions, Schema, ValueType, Values, compile,
    expand, parse_with,
};

struct Permissive;

impl Schema for Permissive {
    type Field = u8;
    fn resolve(&self, name: &str, _arg: Option<&str>) -> Result<FieldInfo<u8>, FieldError> {
        let (ty, list) = match name.len() % 5 {
            0 => (ValueType::Str, true),
            1 => (ValueType::Int, false),
            2 => (ValueType::Bytes, false),
            _ => (ValueType::Str, false),
        };
        Ok(FieldInfo { field: 0, ty, list })
    }
}

struct Empty;

impl Event<u8> for Empty {
    fn extract<'a>(&'a self, _field: &u8, _out: &mut Values<'a>) {}
}

/// Runs the target over `data`.
///
/// # Panics
/// When an invariant of the module documentation breaks.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let opts = ParseOptions::falco_rules();
    let Ok(ast) = parse_with(text, &opts) else {
        return;
    };
    let printed = ast.to_string();
    // Printing adds parentheses around nested and/or nodes, so allow more depth on re-parse.
    let again = match parse_with(&printed, &ParseOptions { max_depth: 5000 }) {
        Ok(a) => a,
        Err(e) => panic!("canonical text {printed:?} of {text:?} does not re-parse: {e}"),
    };
    assert_eq!(
        again, ast,
        "canonical text {printed:?} of {text:?} re-parses differently"
    );
    assert_eq!(again.to_string(), printed);
    let Ok(expanded) = expand(&ast, &NoMacros) else {
        return;
    };
    if let Ok(program) = compile(&expanded, &Permissive) {
        let _ = program.matches(&Empty);
    }
}
