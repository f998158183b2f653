//! `deploy/kubernetes/`: every manifest validates offline against the Kubernetes schemas
//! (PyPI `kubernetes-validate --strict`; the test is skipped, loudly, when the tool is not
//! installed; scripts/test.sh installs it), and the rules file the kustomization ships loads.

#![allow(clippy::unwrap_used, reason = "test harness")]

use std::path::Path;
use std::process::Command;

const MANIFESTS: &[&str] = &[
    "namespace.yaml",
    "serviceaccount.yaml",
    "configmap.yaml",
    "statefulset.yaml",
    "service.yaml",
    "falcosidekick.yaml",
];

fn dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/kubernetes"))
}

#[test]
fn the_kustomization_lists_every_manifest() {
    let k = std::fs::read_to_string(dir().join("kustomization.yaml")).unwrap();
    for m in MANIFESTS {
        assert!(
            k.contains(&format!("  - {m}\n")),
            "{m} missing from kustomization.yaml"
        );
    }
    let mut on_disk: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml")
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = MANIFESTS.iter().map(|m| (*m).to_owned()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

#[test]
fn manifests_validate_against_the_kubernetes_schemas() {
    let version = Command::new("kubernetes-validate")
        .arg("--version")
        .output();
    if !version.is_ok_and(|o| o.status.success()) {
        eprintln!(
            "\n*** SKIPPED manifests_validate_against_the_kubernetes_schemas: `kubernetes-validate` is not installed (python3 -m pip install kubernetes-validate; scripts/test.sh does it) ***\n"
        );
        return;
    }
    let out = Command::new("kubernetes-validate")
        .arg("--strict")
        .args(MANIFESTS.iter().map(|m| dir().join(m)))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One line per document, each valid.
    let valid = stdout
        .lines()
        .filter(|l| l.starts_with("INFO") && l.contains(" passed"))
        .count();
    assert_eq!(valid, 11, "{stdout}");

    // --strict refuses a misspelt field (so a passing run means something).
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  selectr: {}\n",
    )
    .unwrap();
    let out = Command::new("kubernetes-validate")
        .arg("--strict")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("'selectr' was unexpected"));
}

#[test]
fn the_shipped_rules_file_loads() {
    let out = Command::new(env!("CARGO_BIN_EXE_kaudit"))
        .args(["rules", "check"])
        .arg(dir().join("rules/local.yaml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
