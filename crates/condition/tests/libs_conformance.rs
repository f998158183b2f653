//! libsinsp parser / compiler / evaluator conformance, driven by
//! `shared/conformance/libs-parser-cases.tsv` (1,206 cases restated from falcosecurity/libs unit
//! tests). Every row runs; rows listed in [`SKIPS`] are counted as skipped with the reason.
//! Run with `--nocapture` to see the per-kind / per-feature table.
//!
//! The mock schema below registers the syscall-style fields the rows use with libsinsp's types
//! mapped onto [`ValueType`]: CHARBUF → Str, BYTEBUF → Bytes, INT16/32/64 → Int,
//! UINT32/64, PORT, ABSTIME, RELTIME → Uint, BOOL → Bool, IPADDR → IpAddr, IPNET → IpNet, and
//! DOUBLE → Int (libsinsp rejects `1.0` for `thread.cpu` at compile time, as an integer parse
//! does).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use kaudit_condition::syntax::escape::{escape_str, unescape_str};
use kaudit_condition::{
    Ast, Event, Expr, ExprKind, FieldError, FieldInfo, NoMacros, Operand, OperandKind, Operator,
    ParseOptions, Rhs, Schema, Transformer, Value, ValueType, Values, compile, expand,
    falco_line_col, parse, parse_with,
};

/// The case table, read at run time from `../shared` (absent on a fresh clone without it).
static CASES: std::sync::LazyLock<Option<String>> = std::sync::LazyLock::new(|| {
    let path = kaudit_testdata::shared(
        "conformance/libs-parser-cases.tsv",
        "the libs conformance cases",
    )?;
    std::fs::read_to_string(path).ok()
});

/// Deliberately skipped rows: (id, reason).
const SKIPS: &[(u32, &str)] = &[];

// ---------------------------------------------------------------------------------------------
// Mock schema and events

#[derive(Clone, Debug, PartialEq, Eq)]
struct Field {
    name: String,
    arg: Option<String>,
}

struct MockSchema;

fn field_type(name: &str) -> Option<(ValueType, bool)> {
    use ValueType::*;
    Some(match name {
        "evt.rawtime" | "fd.port" | "proc.pid.ts" | "evt.count" | "evt.num" | "evt.buflen.in" => {
            (Uint, false)
        }
        "evt.is_io" | "evt.is_open_write" | "evt.is_wait" => (Bool, false),
        "evt.buffer" | "c.buffer" => (Bytes, false),
        "thread.cpu" | "evt.cpu" | "fd.dev" | "proc.pid" | "fd.num" | "evt.rawarg.res"
        | "evt.rawres" | "test.num" => (Int, false),
        "fd.ip" => (IpAddr, false),
        "fd.net" => (IpNet, false),
        "test.list" | "proc.args" => (Str, true),
        "fd.name" | "c.true" | "c.false" | "c.singlequote" | "c.doublequote" | "evt.type"
        | "evt.source" | "evt.plugininfo" | "proc.name" | "proc.exepath" | "proc.cmdline"
        | "proc.pname" | "fd.filename" | "fd.directory" | "fd.typechar" | "syscall.type"
        | "evt.arg.flags" | "evt.arg.res" | "evt.arg.ret" | "evt.arg.reaper_tid" | "evt.args"
        | "evt.dir" | "test.str" | "test.field" | "test.op" | "some.field" | "other.field"
        | "anoter.field" | "evt.name" | "proc.aname" | "evt.arg" | "evt.around" => (Str, false),
        _ => return None,
    })
}

impl Schema for MockSchema {
    type Field = Field;

    fn resolve(&self, name: &str, arg: Option<&str>) -> Result<FieldInfo<Field>, FieldError> {
        let (ty, list) = field_type(name).ok_or(FieldError::Unknown)?;
        match (name, arg) {
            ("evt.arg", None) => return Err(FieldError::ArgumentRequired),
            ("proc.aname" | "evt.around", Some(a)) => {
                let ok = !a.is_empty()
                    && a.bytes().all(|b| b.is_ascii_digit())
                    && (a == "0" || !a.starts_with('0'));
                if !ok || a.parse::<u32>().is_err() {
                    return Err(FieldError::InvalidIndex);
                }
            }
            ("evt.arg" | "test.str" | "proc.aname" | "evt.around", _) => {}
            (_, Some(_)) => return Err(FieldError::ArgumentNotAllowed),
            (_, None) => {}
        }
        Ok(FieldInfo {
            field: Field {
                name: name.to_owned(),
                arg: arg.map(str::to_owned),
            },
            ty,
            list,
        })
    }
}

#[derive(Default)]
struct MockEvent {
    values: BTreeMap<&'static str, Vec<Value<'static>>>,
}

impl MockEvent {
    fn s(mut self, k: &'static str, v: &'static str) -> Self {
        self.values.insert(k, vec![Value::Str(Cow::Borrowed(v))]);
        self
    }
    fn i(mut self, k: &'static str, v: i64) -> Self {
        self.values.insert(k, vec![Value::Int(v)]);
        self
    }
    fn b(mut self, k: &'static str, v: &'static [u8]) -> Self {
        self.values.insert(k, vec![Value::Bytes(Cow::Borrowed(v))]);
        self
    }
}

impl Event<Field> for MockEvent {
    fn extract<'a>(&'a self, field: &Field, out: &mut Values<'a>) {
        if let Some(v) = self.values.get(field.name.as_str()) {
            out.extend(v.iter().cloned());
        }
    }
}

/// The event an eval row describes (by the wording of its `detail`).
fn event_for(detail: &str) -> Option<MockEvent> {
    let e = MockEvent::default();
    Some(if detail.contains("c.true always evaluates true") {
        e.s("c.true", "1").s("c.false", "0")
    } else if detail.contains("c.singlequote") {
        e.s("c.singlequote", "hello 'quoted'")
            .s("c.doublequote", "hello \"quoted\"")
    } else if detail.contains("getcwd") {
        e.s("evt.type", "getcwd")
            .s("evt.source", "syscall")
            .s("syscall.type", "getcwd")
            .s("evt.arg.res", "ENOENT")
            .s("evt.args", "res=ENOENT")
            .s("evt.plugininfo", "")
            .s("proc.name", "init")
    } else if detail.contains("proc exit event") {
        e.s("evt.arg.ret", "0")
    } else if detail.contains("evt.arg.flags renders as") {
        e.s("fd.name", "/opt/dir/SUBDIR/file.txt")
            .s("evt.arg.flags", "O_RDWR|O_CREAT")
    } else if detail.contains("fd.name=/opt/dir/subdir/file.txt") {
        e.s("fd.name", "/opt/dir/subdir/file.txt")
    } else if detail.contains("epoll_create exit") {
        e.i("evt.cpu", 1).i("evt.rawarg.res", -22).i("fd.num", -1)
    } else if detail.contains("data bytes \"hello\"") {
        e.b("evt.buffer", b"hello")
    } else if detail.contains("data bytes a,NUL,b") {
        e.b("evt.buffer", b"a\0b")
    } else if detail.contains("execve of /myexe") {
        e.s("proc.name", "myexe")
    } else {
        return None;
    })
}

// ---------------------------------------------------------------------------------------------
// Row decoding

struct Row<'a> {
    id: u32,
    kind: &'a str,
    cond: Vec<u8>,
    expected: &'a str,
    detail: &'a str,
    features: &'a str,
}

/// Decodes a JSON string literal to bytes (plus the TSV's `<NUL>` / `<0xff>` notations).
fn json_str(s: &str) -> Result<Vec<u8>, String> {
    let inner = s
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .ok_or_else(|| format!("not a JSON string: {s}"))?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some('/') => out.push('/'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let cp = u32::from_str_radix(&hex, 16).map_err(|e| e.to_string())?;
                out.push(char::from_u32(cp).ok_or("bad \\u")?);
            }
            other => return Err(format!("bad escape {other:?}")),
        }
    }
    let out = out.replace("<NUL>", "\0");
    let mut bytes = Vec::new();
    let mut rest = out.as_str();
    while let Some(i) = rest.find("<0x") {
        bytes.extend_from_slice(&rest.as_bytes()[..i]);
        let hex = &rest[i + 3..i + 5];
        bytes.push(u8::from_str_radix(hex, 16).map_err(|e| e.to_string())?);
        rest = &rest[i + 6..];
    }
    bytes.extend_from_slice(rest.as_bytes());
    Ok(bytes)
}

fn rows() -> Vec<Row<'static>> {
    let mut rows = Vec::new();
    let Some(cases) = CASES.as_deref() else {
        return rows;
    };
    for line in cases.lines() {
        if line.starts_with('#') || line.starts_with("id\t") || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(cols.len() >= 8, "bad row: {line}");
        let id: u32 = cols[0]
            .parse()
            .unwrap_or_else(|_| panic!("bad id in {line}"));
        let cond = if cols[4].contains("repeated 100000 times") {
            vec![b'('; 100_000]
        } else if cols[4].is_empty() {
            Vec::new()
        } else {
            json_str(cols[4]).unwrap_or_else(|e| panic!("row {id}: {e}"))
        };
        rows.push(Row {
            id,
            kind: cols[3],
            cond,
            expected: cols[5],
            detail: cols[6],
            features: cols[7],
        });
    }
    rows
}

// ---------------------------------------------------------------------------------------------
// Renderers in the TSV's notation

fn operand_s(o: &Operand) -> String {
    match &o.kind {
        OperandKind::Field(f) => match &f.arg {
            Some(a) => format!("{}[{a}]", f.name),
            None => f.name.clone(),
        },
        OperandKind::Transform(t) => {
            format!(
                "{}({})",
                t.func.name(),
                t.args.iter().map(operand_s).collect::<Vec<_>>().join(",")
            )
        }
        OperandKind::Literal(l) => l.text().into_owned(),
        OperandKind::List(items) => format!(
            "({})",
            items.iter().map(operand_s).collect::<Vec<_>>().join(",")
        ),
    }
}

fn ast_s(e: &Expr) -> String {
    match &e.kind {
        ExprKind::And(c) => format!("AND[{}]", c.iter().map(ast_s).collect::<Vec<_>>().join(",")),
        ExprKind::Or(c) => format!("OR[{}]", c.iter().map(ast_s).collect::<Vec<_>>().join(",")),
        ExprKind::Not(c) => format!("NOT({})", ast_s(c)),
        ExprKind::Macro(id) => format!("ID({})", id.name),
        ExprKind::Check(c) => {
            if c.op == Operator::Exists {
                return format!("U({} exists)", operand_s(&c.lhs));
            }
            let op = match c.modifier {
                Some(m) => format!("\"{} {}\"", c.op, m.name()),
                None => c.op.to_string(),
            };
            let rhs = match &c.rhs {
                Rhs::None => String::new(),
                Rhs::Value(v) => format!("VAL({})", v.text()),
                Rhs::List(l) => format!(
                    "LIST({})",
                    l.items
                        .iter()
                        .map(|v| v.text().into_owned())
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                Rhs::Operand(o) => operand_s(o),
            };
            format!("B({} {op} {rhs})", operand_s(&c.lhs))
        }
    }
}

fn positions(src: &str, e: &Expr, out: &mut Vec<String>) {
    let mut push = |kind: &str, start: u32| {
        let (l, c) = falco_line_col(src, start as usize);
        out.push(format!("{kind}@{start}:{l}:{c}"));
    };
    match &e.kind {
        ExprKind::And(c) | ExprKind::Or(c) => {
            push(
                if matches!(e.kind, ExprKind::And(_)) {
                    "and"
                } else {
                    "or"
                },
                e.span.start,
            );
            c.iter().for_each(|c| positions(src, c, out));
        }
        ExprKind::Not(c) => {
            push("not", e.span.start);
            positions(src, c, out);
        }
        ExprKind::Macro(_) => push("identifier", e.span.start),
        ExprKind::Check(c) => {
            push(
                if c.op == Operator::Exists {
                    "unary"
                } else {
                    "binary"
                },
                e.span.start,
            );
            operand_positions(src, &c.lhs, out);
            match &c.rhs {
                Rhs::None => {}
                Rhs::Value(v) => push_pos(src, "value", v.span.start, out),
                Rhs::List(l) => push_pos(src, "list", l.span.start, out),
                Rhs::Operand(o) => operand_positions(src, o, out),
            }
        }
    }
}

fn push_pos(src: &str, kind: &str, start: u32, out: &mut Vec<String>) {
    let (l, c) = falco_line_col(src, start as usize);
    out.push(format!("{kind}@{start}:{l}:{c}"));
}

fn operand_positions(src: &str, o: &Operand, out: &mut Vec<String>) {
    match &o.kind {
        OperandKind::Field(_) => push_pos(src, "field", o.span.start, out),
        OperandKind::Literal(_) => push_pos(src, "value", o.span.start, out),
        OperandKind::Transform(t) => {
            push_pos(src, "transformer", o.span.start, out);
            t.args.iter().for_each(|a| operand_positions(src, a, out));
        }
        OperandKind::List(items) => {
            push_pos(src, "transformer_list", o.span.start, out);
            items.iter().for_each(|a| operand_positions(src, a, out));
        }
    }
}

fn strip_ws(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The expected error message of a detail "error message must equal: X (…)".
fn expected_message(detail: &str) -> Option<&str> {
    let rest = detail.split("error message must equal: ").nth(1)?;
    let rest = rest.split("; compile only").next().unwrap_or(rest);
    Some(rest.split(" (recursion").next().unwrap_or(rest).trim())
}

fn describe(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Per-kind runners: Ok(()) = pass, Err(reason) = fail

fn text(row: &Row<'_>) -> Result<String, String> {
    String::from_utf8(row.cond.clone()).map_err(|e| format!("condition is not UTF-8: {e}"))
}

fn run_parse(row: &Row<'_>) -> Result<(), String> {
    let t = text(row)?;
    let r = parse(&t);
    match row.expected {
        "accept" => {
            r.map_err(|e| format!("rejected: {e}"))?;
            if row.detail.contains("harness also requires") {
                for variant in [format!(" {t} "), t.replace(' ', "\n"), t.replace(' ', "\t")] {
                    parse(&variant).map_err(|e| format!("variant {variant:?} rejected: {e}"))?;
                }
            }
            Ok(())
        }
        "reject" => match r {
            Ok(a) => Err(format!("accepted as {a}")),
            Err(e) => match expected_message(row.detail) {
                Some(m) if e.to_string() != m => {
                    Err(format!("message {:?}, expected {m:?}", e.to_string()))
                }
                _ => Ok(()),
            },
        },
        other => Err(format!("unknown expectation {other}")),
    }
}

fn run_endpos(row: &Row<'_>) -> Result<(), String> {
    let t = text(row)?;
    parse(&t).map_err(|e| format!("rejected: {e}"))?;
    let mut idx = None;
    let mut line = None;
    let mut col = None;
    for part in row.detail.split(';') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("after parse pos.idx == ") {
            idx = v.parse::<usize>().ok();
        } else if let Some(v) = part.strip_prefix("after parse pos.line == ") {
            line = v.parse::<u32>().ok();
        } else if let Some(v) = part.strip_prefix("after parse pos.col == ") {
            col = if v == "pos.idx + 1" {
                idx.map(|i| u32::try_from(i + 1).unwrap_or(0))
            } else {
                v.parse::<u32>().ok()
            };
        }
    }
    let idx = idx.ok_or("no idx")?;
    if idx != t.len() {
        return Err(format!("end index {} != {idx}", t.len()));
    }
    let (l, c) = falco_line_col(&t, t.len());
    if Some(l) != line || Some(c) != col {
        return Err(format!("end pos {l}:{c}, expected {line:?}:{col:?}"));
    }
    Ok(())
}

fn run_ast(row: &Row<'_>) -> Result<(), String> {
    let t = text(row)?;
    let a = parse(&t).map_err(|e| format!("rejected: {e}"))?;
    let check_lhs = || match &a.expr.kind {
        ExprKind::Check(c) => Ok(c.lhs.clone()),
        _ => Err("not a check".to_owned()),
    };
    match row.id {
        1128 | 1129 => {
            let lhs = check_lhs()?;
            let arg = match &lhs.kind {
                OperandKind::Field(f) => f.arg.clone(),
                _ => return Err("not a field".into()),
            };
            let want = if row.id == 1128 {
                None
            } else {
                Some(String::new())
            };
            if arg != want {
                return Err(format!("arg {arg:?}"));
            }
            if row.id == 1129 && a == parse("test.str = value").map_err(|e| e.to_string())? {
                return Err("equal to the no-argument form".into());
            }
            Ok(())
        }
        1130 | 1131 => {
            let lhs = check_lhs()?;
            let arg = match &lhs.kind {
                OperandKind::Transform(t) if t.func == Transformer::Getopt => t.arg.clone(),
                _ => return Err("not a getopt transformer".into()),
            };
            let want = if row.id == 1130 {
                None
            } else {
                Some(String::new())
            };
            if arg != want {
                return Err(format!("arg {arg:?}"));
            }
            if row.id == 1131
                && a == parse("getopt(proc.args, \"nt:\") = value").map_err(|e| e.to_string())?
            {
                return Err("equal to the no-argument form".into());
            }
            Ok(())
        }
        _ => {
            let want = row
                .detail
                .split("AST equals ")
                .nth(1)
                .ok_or("no 'AST equals'")?;
            let want = want.split("  (").next().unwrap_or(want);
            let want = want.split(": ").next().unwrap_or(want);
            let got = ast_s(&a.expr);
            if strip_ws(&got) == strip_ws(want) {
                Ok(())
            } else {
                Err(format!("AST {got}, expected {want}"))
            }
        }
    }
}

fn roundtrip(a: &Ast) -> Result<(), String> {
    let printed = a.to_string();
    let b = parse(&printed).map_err(|e| format!("canonical {printed:?} does not re-parse: {e}"))?;
    if &b != a {
        return Err(format!(
            "canonical {printed:?} re-parses to a different AST"
        ));
    }
    Ok(())
}

fn run_as_string(row: &Row<'_>) -> Result<(), String> {
    let t = text(row)?;
    let a = parse(&t).map_err(|e| format!("rejected: {e}"))?;
    roundtrip(&a)?;
    let want = match row
        .detail
        .split("canonical re-printed form must be exactly: ")
        .nth(1)
    {
        Some(w) => w.to_owned(),
        None => t.clone(),
    };
    let got = a.falco_string();
    if got != want {
        return Err(format!("as_string {got:?}, expected {want:?}"));
    }
    Ok(())
}

fn run_positions(row: &Row<'_>) -> Result<(), String> {
    let t = text(row)?;
    let a = parse(&t).map_err(|e| format!("rejected: {e}"))?;
    let mut got = Vec::new();
    positions(&t, &a.expr, &mut got);
    let spec = row.detail.split("): ").nth(1).ok_or("no positions")?;
    if let Some(partial) = spec.strip_prefix("(partial) contains ") {
        for item in partial.split([',', ' ']).filter(|w| w.contains('@')) {
            let item = item.trim();
            if item.contains(':') && !got.iter().any(|g| g == item) {
                return Err(format!("missing {item} in {got:?}"));
            }
        }
        if partial.contains("transformer_list")
            && !got.iter().any(|g| g.starts_with("transformer_list@"))
        {
            return Err(format!("no transformer_list node in {got:?}"));
        }
        return Ok(());
    }
    let want: Vec<&str> = spec.split_whitespace().collect();
    if got != want {
        Err(format!("positions {got:?}, expected {want:?}"))
    } else {
        Ok(())
    }
}

fn run_ast_equal(row: &Row<'_>) -> Result<(), String> {
    let t = text(row)?;
    let other = row
        .detail
        .strip_prefix("compared with: ")
        .ok_or("no comparison")?;
    let a = parse(&t).map_err(|e| e.to_string())?;
    let b = parse(other).map_err(|e| e.to_string())?;
    let equal = a == b;
    match (row.expected, equal) {
        ("equal", true) | ("not_equal", false) => Ok(()),
        _ => Err(format!("equality was {equal}")),
    }
}

fn build(t: &str) -> Result<kaudit_condition::Program<Field>, String> {
    let a = parse_with(t, &ParseOptions::falco_rules()).map_err(|e| e.to_string())?;
    let a = expand(&a, &NoMacros).map_err(|e| e.to_string())?;
    compile(&a, &MockSchema).map_err(|e| e.to_string())
}

fn run_compile(row: &Row<'_>) -> Result<(), String> {
    let t = text(row)?;
    let r = build(&t);
    match (row.expected, r) {
        ("compile_ok", Ok(_)) => Ok(()),
        ("compile_ok", Err(e)) => Err(format!("error: {e}")),
        ("compile_error", Ok(p)) => Err(format!("compiled:\n{p}")),
        ("compile_error", Err(e)) => match expected_message(row.detail) {
            Some(m) if e != m => Err(format!("message {e:?}, expected {m:?}")),
            _ => Ok(()),
        },
        (other, _) => Err(format!("unknown expectation {other}")),
    }
}

fn run_eval(row: &Row<'_>) -> Result<(), String> {
    let t = text(row)?;
    let ev = event_for(row.detail).ok_or("no mock event for this detail")?;
    let r = build(&t);
    match (row.expected, r) {
        ("error", Err(_)) => Ok(()),
        ("error", Ok(p)) => Err(format!("compiled:\n{p}")),
        (_, Err(e)) => Err(format!("error: {e}")),
        ("no_error", Ok(p)) => {
            let _ = p.matches(&ev);
            Ok(())
        }
        (want, Ok(p)) => {
            let got = p.matches(&ev);
            if got.to_string() == want {
                Ok(())
            } else {
                Err(format!("evaluated {got}\n{p}"))
            }
        }
    }
}

fn run_escape(row: &Row<'_>) -> Result<(), String> {
    let want = json_str(row.expected)?;
    let got = escape_str(&row.cond);
    if got != want {
        return Err(format!(
            "escape {:?}, expected {:?}",
            describe(&got),
            describe(&want)
        ));
    }
    if got.first() == Some(&b'"') {
        let back = unescape_str(&got).map_err(|e| e.to_string())?;
        if back != row.cond {
            return Err(format!("round trip gave {:?}", describe(&back)));
        }
    }
    Ok(())
}

fn run_unescape(row: &Row<'_>) -> Result<(), String> {
    let r = unescape_str(&row.cond);
    let want: Option<Vec<u8>> = match row.expected {
        "error" => None,
        "byte 0x7f" => Some(vec![0x7f]),
        "byte 0x01" => Some(vec![0x01]),
        "byte 0xff" => Some(vec![0xff]),
        "byte 0x80" => Some(vec![0x80]),
        "byte 0xab" => Some(vec![0xab]),
        "bytes ff fe" => Some(vec![0xff, 0xfe]),
        "a, byte 0xff, b" => Some(vec![b'a', 0xff, b'b']),
        "one NUL byte" => Some(vec![0]),
        "a, NUL, b" => Some(vec![b'a', 0, b'b']),
        json => Some(json_str(json)?),
    };
    match (want, r) {
        (None, Err(_)) => Ok(()),
        (None, Ok(v)) => Err(format!("accepted as {:?}", describe(&v))),
        (Some(_), Err(e)) => Err(format!("error: {e}")),
        (Some(w), Ok(v)) => {
            if v == w {
                Ok(())
            } else {
                Err(format!("{:?}, expected {:?}", describe(&v), describe(&w)))
            }
        }
    }
}

fn run_info(row: &Row<'_>) -> Result<(), String> {
    let want: Vec<&str> = if row.id == 1121 {
        row.detail
            .split("exactly these operators: ")
            .nth(1)
            .ok_or("no list")?
            .split(';')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect()
    } else {
        row.detail
            .split("left-hand transformers: ")
            .nth(1)
            .ok_or("no list")?
            .split(';')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect()
    };
    let mut want: Vec<String> = want.into_iter().map(str::to_owned).collect();
    let mut got: Vec<String> = if row.id == 1121 {
        Operator::ALL
            .iter()
            .map(|o| o.as_str().to_owned())
            .collect()
    } else {
        Transformer::ALL
            .iter()
            .map(|t| t.name().to_owned())
            .collect()
    };
    want.sort();
    got.sort();
    if got == want {
        Ok(())
    } else {
        Err(format!("{got:?} != {want:?}"))
    }
}

fn run(row: &Row<'_>) -> Result<(), String> {
    match row.kind {
        "parse" => run_parse(row),
        "parse+endpos" => run_endpos(row),
        "ast" => run_ast(row),
        "as_string" => run_as_string(row),
        "positions" => run_positions(row),
        "ast_equal" => run_ast_equal(row),
        "compile" => run_compile(row),
        "eval" => run_eval(row),
        "escape" => run_escape(row),
        "unescape" => run_unescape(row),
        "info" => run_info(row),
        other => Err(format!("unknown kind {other}")),
    }
}

#[test]
fn libs_conformance() {
    if CASES.is_none() {
        return;
    }
    let rows = rows();
    assert_eq!(rows.len(), 1206, "row count");
    // (pass, fail, skip) per kind and per feature.
    let mut by_kind: BTreeMap<String, (u32, u32, u32)> = BTreeMap::new();
    let mut by_feature: BTreeMap<String, (u32, u32, u32)> = BTreeMap::new();
    let mut failures = Vec::new();
    for row in &rows {
        let skip = SKIPS.iter().find(|(id, _)| *id == row.id);
        let outcome = if skip.is_some() {
            2
        } else {
            match std::panic::catch_unwind(|| run(row)) {
                Ok(Ok(())) => 0,
                Ok(Err(e)) => {
                    failures.push(format!(
                        "#{} [{}] {:?}: {e}",
                        row.id,
                        row.kind,
                        describe(&row.cond)
                    ));
                    1
                }
                Err(_) => {
                    failures.push(format!("#{} [{}]: PANIC", row.id, row.kind));
                    1
                }
            }
        };
        let bump = |m: &mut BTreeMap<String, (u32, u32, u32)>, k: &str| {
            let e = m.entry(k.to_owned()).or_default();
            match outcome {
                0 => e.0 += 1,
                1 => e.1 += 1,
                _ => e.2 += 1,
            }
        };
        bump(&mut by_kind, row.kind);
        for f in row.features.split(',') {
            bump(&mut by_feature, f);
        }
    }
    let mut table = String::from("kind / feature          pass  fail  skip\n");
    for (title, m) in [("kind", &by_kind), ("feature", &by_feature)] {
        for (k, (p, f, s)) in m {
            let _ = writeln!(table, "{title:8}{k:16}{p:5} {f:5} {s:5}");
        }
    }
    println!("{table}");
    for (id, why) in SKIPS {
        println!("skipped #{id}: {why}");
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
