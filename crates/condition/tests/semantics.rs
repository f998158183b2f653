//! Unit-level behaviour of the whole pipeline: precedence, every operator, missing values, list
//! fields, escapes, printing, macro expansion, limits, and rendered errors (exact text).

use std::borrow::Cow;
use std::collections::HashMap;

use kaudit_condition::{
    Ast, Error, Event, ExpandErrorKind, FieldError, FieldInfo, NoMacros, ParseOptions, Program,
    Schema, Value, ValueType, Values, build, compile, expand, parse, parse_with,
};

/// Field names choose their type by prefix: `s.` string, `l.` string list, `n.` int, `u.` uint,
/// `b.` bytes, `t.` bool. `s.arg` requires an argument.
struct TestSchema;

impl Schema for TestSchema {
    type Field = String;

    fn resolve(&self, name: &str, arg: Option<&str>) -> Result<FieldInfo<String>, FieldError> {
        let (ty, list) = match name.split('.').next() {
            Some("s") => (ValueType::Str, false),
            Some("l") => (ValueType::Str, true),
            Some("n") => (ValueType::Int, false),
            Some("u") => (ValueType::Uint, false),
            Some("b") => (ValueType::Bytes, false),
            Some("t") => (ValueType::Bool, false),
            _ => return Err(FieldError::Unknown),
        };
        if name == "s.arg" && arg.is_none() {
            return Err(FieldError::ArgumentRequired);
        }
        let field = match arg {
            Some(a) => format!("{name}[{a}]"),
            None => name.to_owned(),
        };
        Ok(FieldInfo { field, ty, list })
    }
}

#[derive(Default)]
struct Ev(HashMap<String, Vec<Value<'static>>>);

impl Ev {
    fn s(mut self, k: &str, v: &'static str) -> Self {
        self.0
            .entry(k.to_owned())
            .or_default()
            .push(Value::Str(Cow::Borrowed(v)));
        self
    }
    fn n(mut self, k: &str, v: i64) -> Self {
        self.0.entry(k.to_owned()).or_default().push(Value::Int(v));
        self
    }
    fn b(mut self, k: &str, v: &'static [u8]) -> Self {
        self.0
            .entry(k.to_owned())
            .or_default()
            .push(Value::Bytes(Cow::Borrowed(v)));
        self
    }
}

impl Event<String> for Ev {
    fn extract<'a>(&'a self, field: &String, out: &mut Values<'a>) {
        if let Some(v) = self.0.get(field) {
            out.extend(v.iter().cloned());
        }
    }
}

fn prog(cond: &str) -> Program<String> {
    build(cond, &NoMacros, &TestSchema).unwrap_or_else(|e| panic!("{}", e.render(cond)))
}

fn eval(cond: &str, ev: &Ev) -> bool {
    prog(cond).matches(ev)
}

fn err(cond: &str) -> String {
    match build(cond, &NoMacros, &TestSchema) {
        Ok(p) => panic!("compiled: {p}"),
        Err(e) => e.render(cond),
    }
}

#[test]
fn precedence_and_printing() {
    let a = parse("s.a exists or s.b exists and not s.c exists").unwrap();
    assert_eq!(
        a.to_string(),
        "(s.a exists or (s.b exists and not s.c exists))"
    );
    let a = parse("not s.a = 1 and s.b = 2").unwrap();
    assert_eq!(a.to_string(), "(not s.a = 1 and s.b = 2)");
    let a = parse("not not s.a exists").unwrap();
    assert_eq!(a.to_string(), "s.a exists");
    let a = parse("not (not s.a exists)").unwrap();
    assert_eq!(a.to_string(), "not (not s.a exists)");
    assert_eq!(a.falco_string(), "not not s.a exists");
    assert_eq!(parse(&a.to_string()).unwrap(), a);
    let a = parse("(a and b) and c").unwrap();
    assert_eq!(a.to_string(), "((a and b) and c)");
}

#[test]
fn canonical_text_quotes_what_would_not_reparse() {
    for (src, canonical, falco) in [
        (r#"s.a = "a b""#, r#"s.a = "a b""#, r#"s.a = "a b""#),
        (r#"s.a = "x,y""#, r#"s.a = "x,y""#, "s.a = x,y"),
        (r#"s.a = """#, r#"s.a = """#, "s.a = "),
        (
            r#"s.a in ("(x)", 'y', z)"#,
            r#"s.a in ("(x)", y, z)"#,
            "s.a in ((x), y, z)",
        ),
        (
            r#"s.a = "\x00\xff""#,
            r#"s.a = "\x00\xff""#,
            "s.a = \"\0\u{fffd}\"",
        ),
        (
            r#"s.arg["a b"] = 1"#,
            r#"s.arg["a b"] = 1"#,
            r#"s.arg["a b"] = 1"#,
        ),
        (r#"s.arg[""] = 1"#, r#"s.arg[""] = 1"#, "s.arg = 1"),
        (
            r#"join("-", (s.a, 12)) = x"#,
            r#"join("-", (s.a, 12)) = x"#,
            "join(-,(s.a,12)) = x",
        ),
    ] {
        let a = parse(src).unwrap();
        assert_eq!(a.to_string(), canonical, "{src}");
        assert_eq!(a.falco_string(), falco, "{src}");
        assert_eq!(parse(canonical).unwrap(), a, "{src}");
    }
}

#[test]
fn falco_string_matches_describe_rule_examples() {
    let mut macros = HashMap::new();
    macros.insert(
        "m".to_owned(),
        parse("proc.name in (ash, bash, pwsh)").unwrap(),
    );
    let a = expand(&parse("evt.type = open and m").unwrap(), &macros).unwrap();
    assert_eq!(
        a.falco_string(),
        "(evt.type = open and proc.name in (ash, bash, pwsh))"
    );
    let a = parse(r#"(proc.cmdline contains curl or proc.cmdline contains wget) and not (proc.cmdline contains "curl 127.0.0.1")"#).unwrap();
    assert_eq!(
        a.falco_string(),
        r#"((proc.cmdline contains curl or proc.cmdline contains wget) and not proc.cmdline contains "curl 127.0.0.1")"#
    );
    let a = parse("(evt.type = open) and not (proc.name startswith oneof (sshd, sudo) and fd.name startswith /etc/)").unwrap();
    assert_eq!(
        a.falco_string(),
        "(evt.type = open and not (proc.name startswith oneof (sshd, sudo) and fd.name startswith /etc/))"
    );
}

#[test]
fn string_operators() {
    let ev = Ev::default().s("s.a", "/var/Log/app.log");
    let cases = [
        ("s.a = /var/Log/app.log", true),
        ("s.a == /var/Log/app.log", true),
        ("s.a = /var/log/app.log", false),
        ("s.a != /var/log/app.log", true),
        ("s.a contains Log/", true),
        ("s.a contains log/", false),
        ("s.a icontains LOG/APP", true),
        ("s.a startswith /var", true),
        ("s.a endswith .log", true),
        ("s.a endswith .LOG", false),
        ("s.a glob /var/*.log", true),
        ("s.a glob /var/?/*", false),
        ("s.a glob '/var/[LM]og/*'", true),
        ("s.a glob '/var/[!L]og/*'", false),
        ("s.a iglob /VAR/LOG/*", true),
        ("s.a regex '/var/.*'", true),
        ("s.a regex 'var'", false),
        ("s.a in (a, /var/Log/app.log)", true),
        ("s.a intersects (a, b)", false),
        ("s.a pmatch (/var/Log)", true),
        ("s.a pmatch (/var/Lo)", false),
        ("s.a pmatch (/var/*/app.log)", true),
        ("s.a pmatch (//var//Log/)", true),
        ("s.a < 5", true),
        ("s.a > 5", false),
        ("s.a <= 0", true),
        ("s.a >= 400", false),
        ("tolower(s.a) = /var/log/app.log", true),
        ("toupper(s.a) contains LOG", true),
        ("basename(s.a) = app.log", true),
        ("len(s.a) = 16", true),
        ("len(s.a) > 20", false),
        ("s.a startswith anyof (/usr, /var)", true),
        ("s.a startswith oneof (/v, /var)", false),
        ("s.a contains allof (var, Log, app)", true),
        ("s.a in app", false),
        ("s.a = val(s.a)", true),
        ("s.a != val(s.b)", false),
        ("s.b != x", false),
        ("not s.b = x", true),
        ("s.b exists", false),
        ("not s.b exists", true),
    ];
    for (cond, want) in cases {
        assert_eq!(eval(cond, &ev), want, "{cond}");
    }
}

#[test]
fn numbers_bytes_bools() {
    let ev = Ev::default()
        .n("n.a", -22)
        .b("b.a", b"a\0bc")
        .s("t.a", "true")
        .s("s.code", "404");
    for (cond, want) in [
        ("n.a < 0", true),
        ("n.a = -22", true),
        ("n.a = 0x10", false),
        ("n.a in (1, -22)", true),
        ("n.a != -22", false),
        ("b.a = \"a\\x00bc\"", true),
        ("b.a bcontains 0062", true),
        ("b.a bstartswith 6100", true),
        ("b.a contains bc", true),
        ("t.a = true", true),
        ("t.a != false", true),
        ("s.code >= 400", true),
        ("s.code < 5", true),
        ("s.code = 404.0", false),
        ("s.code startswith 4", true),
    ] {
        assert_eq!(eval(cond, &ev), want, "{cond}");
    }
}

#[test]
fn list_fields_and_empty_lists() {
    let ev = Ev::default().s("l.a", "x").s("l.a", "y");
    for (cond, want) in [
        ("l.a in (x, y, z)", true),
        ("l.a in (x)", false),
        ("l.a intersects (y, q)", true),
        ("l.a intersects (q)", false),
        ("l.a exists", true),
        ("l.b in (x)", false),
        ("not l.b in (x)", true),
        ("l.b exists", false),
        ("l.a in ()", false),
        ("l.a intersects ( )", false),
        ("len(l.a) = 2", true),
        ("tolower(l.a) intersects (x)", true),
        ("join(',', l.a) = 'x,y'", true),
        ("concat(s.c, l.a) = xy", false),
        ("concat(\"p-\", l.a) = p-xy", true),
    ] {
        assert_eq!(eval(cond, &ev), want, "{cond}");
    }
}

#[test]
fn escapes_in_values() {
    let ev = Ev::default().s("s.a", "it's \"q\" \\ \t/");
    assert!(eval(r#"s.a = 'it\'s "q" \\ \t\/'"#, &ev));
    assert!(eval(r#"s.a = "it's \"q\" \  \t/""#, &ev));
    assert!(!eval(r#"s.a = "it's \"q\" \\\\ \t/""#, &ev));
    assert_eq!(
        parse(r#"s.a = "\q""#).unwrap_err().to_string(),
        "unsupported string escape sequence: \\q"
    );
    assert_eq!(
        parse(r#"s.a = 'a\"'"#).unwrap_err().to_string(),
        "invalid \\\" escape in '-quoted string"
    );
}

#[test]
fn rendered_parse_errors() {
    assert_eq!(
        err("s.a = x and (s.b = y"),
        "error: expected a ')' token\n --> 1:21\n  |\n1 | s.a = x and (s.b = y\n  |                     ^\n"
    );
    assert_eq!(
        err("s.a = x andb"),
        "error: expected blank or '(' after 'and'\n --> 1:12\n  |\n1 | s.a = x andb\n  |            ^\n"
    );
    assert_eq!(
        err("s.a = x y"),
        "error: unexpected token after 'x', expecting 'or', 'and'\n --> 1:9\n  |\n1 | s.a = x y\n  |         ^\n"
    );
    assert_eq!(
        err(""),
        "error: filter input string is empty\n --> 1:1\n  |\n1 | \n  | ^\n"
    );
}

#[test]
fn rendered_compile_errors() {
    assert_eq!(
        err("s.a = x and\n  q.nope in (a)"),
        "error: filter_check called with nonexistent field q.nope\n --> 2:3\n  |\n2 |   q.nope in (a)\n  |   ^^^^^^\n"
    );
    assert_eq!(
        err("l.a = x"),
        "error: '=' operator not supported list filters\n --> 1:1\n  |\n1 | l.a = x\n  | ^^^^^^^\n"
    );
    assert_eq!(
        err("s.a bcontains 00"),
        "error: 'bcontains' operator not supported for string filters\n --> 1:1\n  |\n1 | s.a bcontains 00\n  | ^^^^^^^^^^^^^^^^\n"
    );
    assert_eq!(
        err("s.a regex '('"),
        "error: invalid regex pattern: unclosed group\n --> 1:11\n  |\n1 | s.a regex '('\n  |           ^^^\n"
    );
    assert_eq!(
        err("s.arg exists"),
        "error: filter 's.arg': s.arg requires an argument but none provided\n --> 1:1\n  |\n1 | s.arg exists\n  | ^^^^^\n"
    );
    assert_eq!(
        err("b.a bcontains 0g"),
        "error: bcontains and bstartswith operator support hex strings only\n --> 1:15\n  |\n1 | b.a bcontains 0g\n  |               ^^\n"
    );
}

#[test]
fn macro_expansion_and_provenance() {
    let mut macros: HashMap<String, Ast> = HashMap::new();
    macros.insert("inner".into(), parse("s.x = 1 and l.y = 2").unwrap());
    macros.insert("outer".into(), parse("s.z exists or inner").unwrap());
    macros.insert("loop_a".into(), parse("loop_b").unwrap());
    macros.insert("loop_b".into(), parse("s.a exists and loop_a").unwrap());

    let cond = "s.w = 0 and outer";
    let a = expand(&parse(cond).unwrap(), &macros).unwrap();
    assert_eq!(
        a.to_string(),
        "(s.w = 0 and (s.z exists or (s.x = 1 and l.y = 2)))"
    );
    assert_eq!(
        a.dump(),
        "and 0..17\n  check 0..7 s.w = 0\n  or 0..19 [from macro 'outer']\n    check 0..10 s.z exists [from macro 'outer']\n    and 0..19 [from macro 'inner']\n      check 0..7 s.x = 1 [from macro 'inner']\n      check 12..19 l.y = 2 [from macro 'inner']\n"
    );
    assert_eq!(a.macro_refs().count(), 0);
    let fields: Vec<_> = a.fields().iter().map(|f| f.name.clone()).collect();
    assert_eq!(fields, ["s.w", "s.z", "s.x", "l.y"]);

    let e = compile(&a, &TestSchema).unwrap_err();
    assert_eq!(
        Error::from(e).render(cond),
        "error: '=' operator not supported list filters\n --> macro 'inner' 1:13\n  |\n1 | s.x = 1 and l.y = 2\n  |             ^^^^^^^\n  = note: expanded from macro 'inner', used at 1:15 of macro 'outer'\n  = note: expanded from macro 'outer', used at 1:13 of the condition\n"
    );

    let e = expand(&parse("loop_a").unwrap(), &macros).unwrap_err();
    assert_eq!(e.kind, ExpandErrorKind::Loop("loop_a".into()));
    assert_eq!(e.to_string(), "reference loop in macro 'loop_a'");

    let cond = "s.a = 1 or missing_macro";
    let e = expand(&parse(cond).unwrap(), &macros).unwrap_err();
    assert_eq!(
        e.render(cond),
        "error: Undefined macro 'missing_macro' used in filter.\n --> 1:12\n  |\n1 | s.a = 1 or missing_macro\n  |            ^^^^^^^^^^^^^\n"
    );
}

#[test]
fn identifier_after_list_operator_is_a_one_element_list() {
    let ev = Ev::default().s("s.a", "mylist");
    assert!(eval("s.a in mylist", &ev));
    assert!(eval("s.a intersects mylist", &ev));
    assert_eq!(parse("s.a in mylist").unwrap().to_string(), "s.a in mylist");
}

#[test]
fn limits_do_not_overflow_the_stack() {
    let deep = "(".repeat(100_000);
    assert_eq!(
        parse(&deep).unwrap_err().to_string(),
        "exceeded max depth limit of 100"
    );
    let e = parse_with(&deep, &ParseOptions::falco_rules()).unwrap_err();
    assert_eq!(e.to_string(), "exceeded max depth limit of 1000");
    let nots = format!("{}s.a exists", "not ".repeat(100_001));
    assert_eq!(parse(&nots).unwrap().to_string(), "not s.a exists");
    let chain = vec!["s.a exists"; 50_000].join(" and ");
    assert!(eval(&chain, &Ev::default().s("s.a", "x")));
    let ok = format!("{}s.a exists{}", "(".repeat(150), ")".repeat(150));
    assert!(parse_with(&ok, &ParseOptions::falco_rules()).is_ok());
    assert!(parse(&ok).is_err());

    let mut macros: HashMap<String, Ast> = HashMap::new();
    for i in 0..100 {
        macros.insert(format!("m{i}"), parse(&format!("m{}", i + 1)).unwrap());
    }
    macros.insert("m100".into(), parse("s.a exists").unwrap());
    let e = expand(&parse("m0").unwrap(), &macros).unwrap_err();
    assert_eq!(e.to_string(), "exceeded max macro expansion depth of 64");

    // 30 macros of 10 nested `and`s each: within the macro depth, beyond the nesting limit.
    let mut macros: HashMap<String, Ast> = HashMap::new();
    for i in 0..30 {
        let inner = if i == 29 {
            "s.a exists".to_owned()
        } else {
            format!("d{}", i + 1)
        };
        let text = format!("{}{inner}{}", "(s.a exists and ".repeat(10), ")".repeat(10));
        macros.insert(
            format!("d{i}"),
            parse_with(&text, &ParseOptions::falco_rules()).unwrap(),
        );
    }
    let e = expand(&parse("d0").unwrap(), &macros).unwrap_err();
    assert_eq!(
        e.to_string(),
        "expanded condition nests deeper than 256 levels"
    );
}

#[test]
fn checks_walker_sees_operators_and_values() {
    let a = parse("s.a = x and not l.b in (p, q) or s.c exists").unwrap();
    let seen: Vec<String> = a
        .checks()
        .map(|c| {
            let rhs = match &c.check.rhs {
                kaudit_condition::Rhs::None => String::new(),
                kaudit_condition::Rhs::Value(v) => v.text().into_owned(),
                kaudit_condition::Rhs::List(l) => l
                    .items
                    .iter()
                    .map(|v| v.text().into_owned())
                    .collect::<Vec<_>>()
                    .join("|"),
                kaudit_condition::Rhs::Operand(o) => o.to_string(),
            };
            format!("{} {} {rhs}", c.check.lhs, c.check.op)
        })
        .collect();
    assert_eq!(seen, ["s.a = x", "l.b in p|q", "s.c exists "]);
}

#[test]
fn program_listing_is_stable() {
    let p = prog("s.a = x and not l.b in (p, q)");
    assert_eq!(
        p.to_string(),
        "program: 4 nodes, 2 checks, root n3\n  n0 = check c0\n  n1 = check c1\n  n2 = not n1\n  n3 = and n0 n2\n  c0 = \"s.a\" bytes= \"x\"\n  c1 = \"l.b\" (list) in (\"p\", \"q\")\n"
    );
}

/// Found by `fuzz/condition_roundtrip` (crash-9552e3ca): a quoted value ending in a backslash
/// printed as `"…\\"` never terminates under libsinsp's lexing rule.
#[test]
fn fuzz_regression_trailing_backslash_roundtrip() {
    let crash = "jevt.value[\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0})/st\u{0}Aee] in (a\u{4}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\\\\\\\\\\\\\\\\\\\\\\L\\\\\\\\\\\\,\\\\\\\\\\\u{0}!\u{0}\u{0}\u{0}, \"\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{9}\u{9}\u{9}i c\")";
    for text in [crash, "s.a = \u{0}\\", "s.a in (\"a b\\ \", x)"] {
        let a = parse_with(text, &ParseOptions::falco_rules()).unwrap();
        let printed = a.to_string();
        assert_eq!(
            parse_with(&printed, &ParseOptions::falco_rules()).unwrap(),
            a,
            "{printed}"
        );
    }
    assert_eq!(
        parse("s.a = \u{0}\\").unwrap().to_string(),
        "s.a = \"\\x00\\x5c\""
    );
}
