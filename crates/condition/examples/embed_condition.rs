//! Embedding the condition language for a non-Kubernetes event: an HTTP request.
//!
//! ```text
//! cargo run -p kaudit-condition --example embed_condition
//! ```

use std::borrow::Cow;
use std::collections::HashMap;

use kaudit_condition::{
    Ast, Event, FieldError, FieldInfo, Schema, Value, ValueType, Values, build, parse,
};

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
            Field::Method => out.push(Value::Str(Cow::Borrowed(self.method))),
            Field::Path => out.push(Value::Str(Cow::Borrowed(self.path))),
            Field::Status => out.push(Value::Uint(self.status)),
            Field::Header(h) => {
                if let Some((_, v)) = self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(h)) {
                    out.push(Value::Str(Cow::Borrowed(v)));
                }
            }
            Field::HeaderNames => {
                out.extend(
                    self.headers
                        .iter()
                        .map(|(k, _)| Value::Str(Cow::Borrowed(*k))),
                );
            }
        }
    }
}

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
    for r in &requests {
        println!(
            "{:6} {:24} {} -> {}",
            r.method,
            r.path,
            r.status,
            program.matches(r)
        );
    }
}
