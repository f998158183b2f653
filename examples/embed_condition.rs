//! Falco conditions over your own, non-Kubernetes event type: an HTTP request.
//!
//! Shows the two traits an embedder implements ([`Schema`] names fields at compile time,
//! [`Event`] answers their values at evaluation time), a macro, an inline list, a compile error
//! rendered with a caret under the offending text, and a Falco rules file with `list:` and
//! `macro:` items loaded against the same schema.
//!
//! ```text
//! cargo run --example embed_condition
//! ```
//!
//! Prints each request with whether the condition matches, the rendered error, and the rules
//! that fire on each request.

use std::collections::HashMap;

use kaudit::condition::{
    Ast, Event, FieldError, FieldInfo, Schema, Value, ValueType, Values, build, parse,
};
use kaudit::rules::{LoadOptions, RuleFile};

/// The event type: an HTTP request.
struct Request {
    method: &'static str,
    path: &'static str,
    status: u64,
    headers: Vec<(&'static str, &'static str)>,
}

/// Name-free field handles the compiled program stores.
#[derive(Clone, Debug)]
enum Field {
    Method,
    Path,
    Status,
    /// `http.header[name]`, the name lower-cased at compile time.
    Header(String),
    /// `http.header.names`, a list field.
    HeaderNames,
}

struct HttpSchema;

impl Schema for HttpSchema {
    type Field = Field;

    fn resolve(&self, name: &str, arg: Option<&str>) -> Result<FieldInfo<Field>, FieldError> {
        let scalar = |field, ty| {
            Ok(FieldInfo {
                field,
                ty,
                list: false,
            })
        };
        match (name, arg) {
            ("http.method", None) => scalar(Field::Method, ValueType::Str),
            ("http.path", None) => scalar(Field::Path, ValueType::Str),
            ("http.status", None) => scalar(Field::Status, ValueType::Uint),
            ("http.header", Some(h)) => {
                scalar(Field::Header(h.to_ascii_lowercase()), ValueType::Str)
            }
            ("http.header", None) => Err(FieldError::ArgumentRequired),
            ("http.header.names", None) => Ok(FieldInfo {
                field: Field::HeaderNames,
                ty: ValueType::Str,
                list: true,
            }),
            ("http.method" | "http.path" | "http.status" | "http.header.names", Some(_)) => {
                Err(FieldError::ArgumentNotAllowed)
            }
            _ => Err(FieldError::Unknown),
        }
    }
}

impl Event<Field> for Request {
    fn extract<'a>(&'a self, field: &Field, out: &mut Values<'a>) {
        match field {
            Field::Method => out.push(self.method.into()),
            Field::Path => out.push(self.path.into()),
            Field::Status => out.push(self.status.into()),
            Field::Header(h) => {
                if let Some((_, v)) = self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(h)) {
                    out.push((*v).into());
                }
            }
            Field::HeaderNames => {
                out.extend(self.headers.iter().map(|(k, _)| Value::from(*k)));
            }
        }
    }
}

/// A small rules file for the HTTP schema: a list, a macro using it, two rules.
const RULES: &str = r#"
- list: write_methods
  items: [POST, PUT, PATCH, DELETE]

- macro: writes
  condition: http.method in (write_methods)

- rule: Admin Write Without Token
  desc: a write to an admin path without the admin token
  condition: writes and http.path startswith /admin and not http.header[X-Admin-Token] exists
  output: admin write (method=%http.method path=%http.path)
  priority: WARNING
  source: http

- rule: Server Error
  desc: the server failed
  condition: http.status >= 500
  output: server error (status=%http.status path=%http.path)
  priority: ERROR
  source: http
"#;

fn main() {
    let mut macros: HashMap<String, Ast> = HashMap::new();
    macros.insert(
        "admin_path".to_owned(),
        parse("http.path pmatch (/admin, /internal/*/debug)").unwrap_or_else(|e| panic!("{e}")),
    );
    let condition = "admin_path and http.method in (POST, PUT, DELETE) \
                     and not http.header[X-Admin-Token] exists and http.status < 400";
    let program = match build(condition, &macros, &HttpSchema) {
        Ok(p) => p,
        Err(e) => {
            eprint!("{}", e.render(condition));
            std::process::exit(1);
        }
    };
    let requests = [
        Request {
            method: "POST",
            path: "/admin/users",
            status: 201,
            headers: vec![("Host", "a")],
        },
        Request {
            method: "POST",
            path: "/admin/users",
            status: 201,
            headers: vec![("X-Admin-Token", "t")],
        },
        Request {
            method: "GET",
            path: "/internal/x/debug/vars",
            status: 200,
            headers: vec![],
        },
        Request {
            method: "DELETE",
            path: "/internal/x/debug",
            status: 204,
            headers: vec![],
        },
        Request {
            method: "DELETE",
            path: "/administrator",
            status: 204,
            headers: vec![],
        },
    ];
    println!("condition: {condition}");
    for r in &requests {
        println!(
            "{:6} {:24} {} -> {}",
            r.method,
            r.path,
            r.status,
            program.matches(r)
        );
    }

    // A mistake is reported with its position: `http.status` is a number.
    let bad = "http.method = POST and http.status contains 4";
    match build(bad, &macros, &HttpSchema) {
        Ok(_) => println!("unexpectedly compiled: {bad}"),
        Err(e) => print!("\ncompile error, as rendered:\n{}", e.render(bad)),
    }

    // The same schema behind a Falco rules file: lists, macros, rules, output templates.
    let files = [RuleFile::new("http_rules.yaml", RULES)];
    let loaded = kaudit::rules::load(&files, &HttpSchema, &LoadOptions::for_source("http"));
    if !loaded.successful() {
        let errors: Vec<_> = loaded.errors().cloned().collect();
        eprint!(
            "{}",
            kaudit::rules::diag::render(&errors, &[("http_rules.yaml", RULES)])
        );
        std::process::exit(1);
    }
    println!("\nrules from http_rules.yaml:");
    let extra = Request {
        method: "GET",
        path: "/healthz",
        status: 503,
        headers: vec![],
    };
    for r in requests.iter().chain([&extra]) {
        for rule in loaded.rules.iter().filter(|rule| rule.condition.matches(r)) {
            let mut output = String::new();
            rule.output.render_text(r, &mut output);
            println!(
                "{:6} {:24} -> {} ({}): {output}",
                r.method, r.path, rule.name, rule.priority
            );
        }
    }
}
