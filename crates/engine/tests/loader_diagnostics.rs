//! Diagnostics as users see them (`kaudit rules check`, like `falco -V`), and loader behaviour
//! that the Falco case files do not pin: load order across files, redefinition positions, rules
//! for other sources.

use kaudit_event::K8sAuditSchema;
use kaudit_rules::{Code, LoadOptions, RuleFile, check, load};

const BASE: &str = "\
- list: sensitive_resources
  items: [secrets, configmaps]

- macro: kcreate
  condition: ka.verb = create

- rule: Create Sensitive Object
  desc: a sensitive object was created
  condition: kcreate and ka.target.resource in (sensitive_resources)
  output: created %ka.target.resource by %ka.user.name
  priority: WARNING
  source: k8s_audit
";

fn opts() -> LoadOptions {
    LoadOptions::k8s_audit()
}

#[test]
fn condition_error_renders_with_context_and_caret() {
    let typo = "\
- rule: Typo
  desc: d
  condition: ka.verb = get and kcreat
  output: o
  priority: INFO
  source: k8s_audit
";
    let files = [
        RuleFile::new("base.yaml", BASE),
        RuleFile::new("typo.yaml", typo),
    ];
    let report = check(&files, &K8sAuditSchema::new(), &opts());
    assert!(!report.ok);
    assert_eq!(
        report.rendered,
        "base.yaml: Ok\n\
         typo.yaml: Invalid\n\
         1 Errors:\n\
         In rules content: (typo.yaml:0:0)\n    \
         In rule 'Typo': (typo.yaml:1:3)\n        \
         In condition expression: (typo.yaml:3:32)\n\
         ------\n  condition: ka.verb = get and kcreat\n                               ^\n------\n\
         error: Undefined macro 'kcreat' used in filter.\n\
         \x20--> 1:19\n\
         \x20 |\n\
         1 | ka.verb = get and kcreat\n\
         \x20 |                   ^^^^^^\n\
         LOAD_ERR_VALIDATE (Error validating rule/macro/list/exception objects): \
         Undefined macro 'kcreat' used in filter.\n"
    );
}

#[test]
fn yaml_errors_stop_the_load_and_later_files_are_not_loaded() {
    let files = [
        RuleFile::new("base.yaml", BASE),
        RuleFile::new("bad.yaml", "- rule: x\n  desc: [\n"),
        RuleFile::new("never.yaml", BASE),
    ];
    let result = load(&files, &K8sAuditSchema::new(), &opts());
    assert_eq!(result.files.len(), 2);
    assert!(result.files[0].successful);
    assert!(!result.files[1].successful);
    let errors: Vec<_> = result.errors().collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, Code::ErrYamlParse);
    assert!(result.rules.is_empty());
    let report = check(&files, &K8sAuditSchema::new(), &opts());
    assert!(
        report
            .rendered
            .ends_with("never.yaml: Not loaded (an earlier file failed)\n")
    );
}

#[test]
fn redefinition_keeps_the_original_position() {
    let second = "\
- rule: Other
  desc: d
  condition: ka.verb = delete
  output: o
  priority: INFO
  source: k8s_audit
- rule: Create Sensitive Object
  desc: redefined
  condition: ka.verb = patch
  output: o2
  priority: ERROR
  source: k8s_audit
";
    let files = [
        RuleFile::new("base.yaml", BASE),
        RuleFile::new("second.yaml", second),
    ];
    let result = load(&files, &K8sAuditSchema::new(), &opts());
    assert!(result.successful(), "{:?}", result.diagnostics);
    let names: Vec<&str> = result.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["Create Sensitive Object", "Other"]);
    let first = &result.rules[0];
    assert_eq!(first.desc, "redefined");
    assert_eq!(first.priority.to_string(), "Error");
    assert_eq!(first.expanded.falco_string(), "ka.verb = patch");
    // The location is the one the rule was redefined at (Falco replaces the whole info).
    assert_eq!(
        (first.location.file.as_str(), first.location.line),
        ("second.yaml", 7)
    );
    // The macro and the list are now unused.
    let unused: Vec<(Code, &str)> = result
        .warnings()
        .map(|d| (d.code, d.item().map_or("", |f| f.name.as_str())))
        .collect();
    assert_eq!(
        unused,
        [
            (Code::UnusedMacro, "kcreate"),
            (Code::UnusedList, "sensitive_resources")
        ]
    );
}

#[test]
fn rules_for_other_sources_are_skipped_with_a_warning() {
    let text = format!(
        "{BASE}\n- rule: Shell\n  desc: d\n  condition: proc.name = bash\n  output: o\n  priority: INFO\n"
    );
    let result = load(
        &[RuleFile::new("r.yaml", text)],
        &K8sAuditSchema::new(),
        &opts(),
    );
    assert!(result.successful());
    assert_eq!(result.rules.len(), 1);
    let w: Vec<(Code, &str)> = result
        .warnings()
        .map(|d| (d.code, d.message.as_str()))
        .collect();
    assert_eq!(
        w,
        [(Code::UnknownSource, "Unknown source syscall, skipping")]
    );
    let rule = &result.rules[0];
    assert_eq!(
        rule.expanded.falco_string(),
        "(ka.verb = create and ka.target.resource in (secrets, configmaps))"
    );
}

#[test]
fn required_versions_are_checked() {
    let too_new = "- required_engine_version: 0.63.0\n";
    let result = load(
        &[RuleFile::new("v.yaml", too_new)],
        &K8sAuditSchema::new(),
        &opts(),
    );
    let e: Vec<(Code, &str)> = result
        .errors()
        .map(|d| (d.code, d.message.as_str()))
        .collect();
    assert_eq!(
        e,
        [(
            Code::ErrValidate,
            "Rules require engine version 0.63.0, but engine version is 0.62.0"
        )]
    );
    let plugin = "- required_plugin_versions:\n  - name: k8saudit\n    version: 0.19.0\n    alternatives:\n    - name: k8saudit-eks\n      version: 0.12.0\n";
    let result = load(
        &[RuleFile::new("p.yaml", plugin)],
        &K8sAuditSchema::new(),
        &opts(),
    );
    let e: Vec<(Code, &str)> = result
        .errors()
        .map(|d| (d.code, d.message.as_str()))
        .collect();
    assert_eq!(
        e,
        [(
            Code::ErrValidate,
            "Plugin 'k8saudit' version '0.18.0' is not compatible with required plugin version '0.19.0'"
        )]
    );
    let ok = "- required_engine_version: 15\n- required_plugin_versions:\n  - name: json\n    version: 0.7.0\n";
    let result = load(
        &[RuleFile::new("ok.yaml", ok)],
        &K8sAuditSchema::new(),
        &opts(),
    );
    assert!(result.successful(), "{:?}", result.diagnostics);
}

#[test]
fn garbage_never_panics_and_always_explains_itself() {
    let inputs = [
        "",
        "---\n...\n",
        "- 1\n",
        "- [a, b]\n",
        "{a: b}\n",
        "- rule: \n",
        "- macro: m\n  condition: ((\n",
        "- list: l\n  items: [~]\n",
        "- rule: r\n  enabled: maybe\n",
        "- rule: r\n  desc: d\n  condition: ka.verb = x\n  output: o\n  priority: LOUD\n  source: k8s_audit\n",
        "- &a [*a]\n",
        "\u{feff}- list: l\n  items: []\n",
    ];
    let expected_ok = [
        true, true, false, false, false, false, false, false, false, false, false, true,
    ];
    for (text, ok) in inputs.iter().zip(expected_ok) {
        let result = load(
            &[RuleFile::new("g.yaml", *text)],
            &K8sAuditSchema::new(),
            &opts(),
        );
        assert_eq!(
            result.successful(),
            ok,
            "{text:?}: {:?}",
            result.diagnostics
        );
        assert_eq!(result.files[0].successful, ok, "{text:?}");
    }
}

#[test]
fn condition_warnings_have_falco_codes() {
    let text = "\
- rule: NA
  desc: d
  condition: ka.user.name = <NA> or ka.verb in (get, <NA>) or ka.verb = ka.user.name
  output: o
  priority: INFO
  source: k8s_audit
  typo: 1
";
    let result = load(
        &[RuleFile::new("w.yaml", text)],
        &K8sAuditSchema::new(),
        &opts(),
    );
    assert!(result.successful());
    let w: Vec<(Code, String)> = result
        .warnings()
        .map(|d| (d.code, d.message.clone()))
        .collect();
    assert_eq!(
        w,
        [
            (
                Code::UnknownKey,
                "Unknown key 'typo'. The key will be ignored.".to_owned()
            ),
            (
                Code::CompileCondition,
                "'ka.user.name' may be a valid field misused as a const string value".to_owned()
            ),
            (
                Code::UnsafeNaCheck,
                "comparing a field value with <NA> is unsafe and can lead to unpredictable \
                 behavior of the rule condition. If you need to  check for the existence of a \
                 field, consider using the 'exists' operator instead."
                    .to_owned()
            ),
        ]
    );
}
