//! Arbitrary text → `parse` (both depth settings) must not panic; errors must render.
use kaudit_condition::{ParseOptions, parse, parse_with};

/// Runs the target over `data`.
///
/// # Panics
/// When an invariant of the module documentation breaks.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = parse(text) {
        let _ = e.render(text);
    }
    if let Ok(ast) = parse_with(text, &ParseOptions::falco_rules()) {
        let _ = ast.falco_string();
        let _ = ast.fields();
    }
}
