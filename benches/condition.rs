//! kaudit-condition speed: parse+compile time of representative conditions, and evaluation
//! time per check for each operator kind against a small in-memory event.
//!
//! ```text
//! cargo bench --bench condition
//! ```
//!
//! Compare each `eval/<op>` with `eval/eq_baseline` (a plain string `=`).

use std::borrow::Cow;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use kaudit_condition::{
    Event, FieldError, FieldInfo, NoMacros, Program, Schema, Value, ValueType, Values, build,
};

#[derive(Clone, Copy, Debug)]
enum F {
    Verb,
    Uri,
    User,
    Groups,
    Code,
    Image,
}

struct S;

impl Schema for S {
    type Field = F;
    fn resolve(&self, name: &str, _arg: Option<&str>) -> Result<FieldInfo<F>, FieldError> {
        let (field, ty, list) = match name {
            "ka.verb" => (F::Verb, ValueType::Str, false),
            "ka.uri" => (F::Uri, ValueType::Str, false),
            "ka.user.name" => (F::User, ValueType::Str, false),
            "ka.user.groups" => (F::Groups, ValueType::Str, true),
            "ka.response.code" => (F::Code, ValueType::Int, false),
            "ka.req.pod.containers.image" => (F::Image, ValueType::Str, true),
            _ => return Err(FieldError::Unknown),
        };
        Ok(FieldInfo { field, ty, list })
    }
}

struct Ev {
    groups: Vec<&'static str>,
    images: Vec<&'static str>,
}

impl Event<F> for Ev {
    fn extract<'a>(&'a self, field: &F, out: &mut Values<'a>) {
        let s = |v: &'a str| Value::Str(Cow::Borrowed(v));
        match field {
            F::Verb => out.push(s("create")),
            F::Uri => out.push(s(
                "/api/v1/namespaces/kube-system/pods/nginx-7c5ddbdf54-8bqx2/exec?command=sh",
            )),
            F::User => out.push(s("system:serviceaccount:kube-system:replicaset-controller")),
            F::Groups => out.extend(self.groups.iter().map(|g| s(g))),
            F::Code => out.push(Value::Int(201)),
            F::Image => out.extend(self.images.iter().map(|g| s(g))),
        }
    }
}

const CONDITIONS: &[&str] = &[
    "ka.verb = create and ka.uri startswith /api and not ka.user.name in (admin, kubelet, kube-proxy)",
    "(ka.verb in (create, update, patch) and ka.uri contains exec) or ka.response.code >= 400",
    "ka.user.groups intersects (system:masters, system:nodes) and not ka.req.pod.containers.image in (nginx, redis)",
    "ka.uri glob '/api/v1/namespaces/*/pods/*/exec*' and ka.user.name regex 'system:serviceaccount:[a-z-]+:.*'",
    "ka.uri pmatch (/api/v1/namespaces, /apis/apps/v1) and tolower(ka.verb) = oneof (create, delete)",
    "not (ka.verb = get or ka.verb = list or ka.verb = watch) and ka.uri icontains SECRET",
];

fn compile_bench(c: &mut Criterion) {
    c.bench_function("parse_compile/6_conditions", |b| {
        b.iter(|| {
            for cond in CONDITIONS {
                let p = build(black_box(cond), &NoMacros, &S);
                black_box(p.is_ok());
            }
        });
    });
}

fn program(cond: &str) -> Program<F> {
    match build(cond, &NoMacros, &S) {
        Ok(p) => p,
        Err(e) => panic!("{}", e.render(cond)),
    }
}

fn eval_bench(c: &mut Criterion) {
    let ev = Ev {
        groups: vec![
            "system:serviceaccounts",
            "system:serviceaccounts:kube-system",
            "system:authenticated",
        ],
        images: vec!["docker.io/library/nginx:1.25", "docker.io/library/busybox"],
    };
    let big_set = (0..100)
        .map(|i| format!("user-{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let cases: Vec<(&str, String)> = vec![
        ("eq_baseline", "ka.verb = create".into()),
        ("ne", "ka.verb != delete".into()),
        ("exists", "ka.verb exists".into()),
        ("num_ge", "ka.response.code >= 400".into()),
        ("contains", "ka.uri contains exec".into()),
        ("icontains", "ka.uri icontains EXEC".into()),
        ("startswith", "ka.uri startswith /api/v1".into()),
        ("endswith", "ka.uri endswith 'command=sh'".into()),
        ("glob", "ka.uri glob '/api/v1/namespaces/*/pods/*/exec*'".into()),
        ("iglob", "ka.uri iglob '/API/V1/NAMESPACES/*/EXEC*'".into()),
        ("regex", "ka.user.name regex 'system:serviceaccount:[a-z-]+:.*'".into()),
        ("in_3", "ka.verb in (update, patch, create)".into()),
        ("in_100", format!("ka.user.name in ({big_set})")),
        ("list_in", "ka.user.groups in (system:serviceaccounts, system:serviceaccounts:kube-system, system:authenticated)".into()),
        ("list_intersects", "ka.user.groups intersects (system:masters, system:authenticated)".into()),
        ("pmatch", "ka.uri pmatch (/apis/apps, /api/v1/namespaces)".into()),
        ("modifier_anyof", "ka.uri startswith anyof (/apis, /healthz, /api/v1)".into()),
        ("transform_tolower", "tolower(ka.verb) = create".into()),
        ("val", "ka.verb = val(ka.verb)".into()),
    ];
    let mut group = c.benchmark_group("eval");
    for (name, cond) in &cases {
        let p = program(cond);
        assert_eq!(p.check_count(), 1);
        group.bench_function(*name, |b| b.iter(|| black_box(p.matches(black_box(&ev)))));
    }
    group.finish();
}

criterion_group!(benches, compile_bench, eval_bench);
criterion_main!(benches);
