//! Replays every committed seed (`fuzz/seeds/<target>`) and regression input
//! (`fuzz/regressions/<target>`) through its target: what CI checks of the fuzz targets on every
//! run, without cargo-fuzz or a sanitizer build.

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut files = Vec::new();
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_seed_and_regression_input_passes_its_target() {
    let mut counts = Vec::new();
    for &(target, run) in kaudit_fuzz_targets::TARGETS {
        let files = inputs(target);
        for path in &files {
            let data = std::fs::read(path).expect("a readable input");
            if std::panic::catch_unwind(|| run(&data)).is_err() {
                panic!("{target} fails on {}", path.display());
            }
        }
        counts.push(format!("{target} {}", files.len()));
    }
    eprintln!("replayed: {}", counts.join(", "));
}

#[test]
fn every_target_has_seeds() {
    for &(target, _) in kaudit_fuzz_targets::TARGETS {
        let seeds = inputs(target)
            .into_iter()
            .filter(|p| p.components().any(|c| c.as_os_str() == "seeds"))
            .count();
        assert!(seeds > 0, "fuzz/seeds/{target} has no seed");
    }
}
