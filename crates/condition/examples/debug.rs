//! Prints every stage for a condition given on the command line, against a permissive schema
//! (every dotted name is a string field; names ending in `.list` are list fields; `.num` are
//! integers):
//!
//! ```text
//! cargo run -p kaudit-condition --example debug -- 'ka.verb = create and not ka.uri startswith /api'
//! ```

use kaudit_condition::{
    FieldError, FieldInfo, NoMacros, ParseOptions, Schema, ValueType, compile, expand, parse_with,
};

/// Accepts every field name.
struct Permissive;

impl Schema for Permissive {
    type Field = String;

    fn resolve(&self, name: &str, arg: Option<&str>) -> Result<FieldInfo<String>, FieldError> {
        let ty = if name.ends_with(".num") {
            ValueType::Int
        } else {
            ValueType::Str
        };
        let field = match arg {
            Some(a) => format!("{name}[{a}]"),
            None => name.to_owned(),
        };
        Ok(FieldInfo {
            field,
            ty,
            list: name.ends_with(".list"),
        })
    }
}

fn main() {
    let text = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let ast = match parse_with(&text, &ParseOptions::falco_rules()) {
        Ok(a) => a,
        Err(e) => {
            eprint!("{}", e.render(&text));
            std::process::exit(1);
        }
    };
    println!("== ast\n{}", ast.dump());
    println!("== canonical\n{ast}");
    println!("== falco as_string\n{}", ast.falco_string());
    let expanded = match expand(&ast, &NoMacros) {
        Ok(a) => a,
        Err(e) => {
            eprint!("{}", e.render(&text));
            std::process::exit(1);
        }
    };
    println!("== expanded\n{expanded}");
    match compile(&expanded, &Permissive) {
        Ok(p) => println!("== program\n{p}"),
        Err(e) => {
            eprint!("{}", e.render(&text));
            std::process::exit(1);
        }
    }
}
