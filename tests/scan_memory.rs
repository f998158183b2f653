//! `kaudit scan` streams: its peak RSS stays under 64 MiB on a large input with Falco's full
//! Kubernetes-audit ruleset. The figure is measured, not inferred: the child's `ru_maxrss`
//! from `getrusage(RUSAGE_CHILDREN)` after it has been waited for.
//!
//! Keep this the only test in this file: `RUSAGE_CHILDREN` reports the largest of *all* the
//! waited-for children of the test process, so another test spawning a child here could
//! pollute the figure.

#![cfg(target_os = "linux")] // ru_maxrss is in KiB on Linux (bytes on macOS).
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test harness: a failure to set up the input or run the child fails the test with a message"
)]

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use nix::sys::resource::{UsageWho, getrusage};

/// Events in the generated log (~1.1 KB each, so ~220 MB: far more than the RSS budget).
/// In the debug test profile on the project's 2-core machine 200k events take about 15 s
/// (generating ~2 s, scanning ~13 s), well within reason, so the size is not reduced.
const EVENTS: usize = 200_000;

/// Events per call to the generator: `generate` returns one `String`, so the test writes the
/// log in chunks (each with its own seed) to keep its own memory small.
const CHUNK: usize = 10_000;

/// The peak RSS budget of `kaudit scan`, in bytes.
const BUDGET: u64 = 64 * 1024 * 1024;

/// Falco's own Kubernetes-audit rules, from the shared checkout beside the workspace.
const FALCO_RULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/upstream/falco-k8s_audit_rules.yaml"
);

/// A scratch directory under cargo's per-target temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes `events` generated events to `path` as JSON lines, chunk by chunk; returns the size.
fn write_log(path: &Path, events: usize) -> u64 {
    let mut file = BufWriter::new(std::fs::File::create(path).unwrap());
    let mut written = 0;
    let mut seed = kaudit_event::sample::SAMPLE_SEED;
    while written < events {
        let n = CHUNK.min(events - written);
        file.write_all(kaudit_event::sample::generate(seed, n).as_bytes())
            .unwrap();
        written += n;
        seed = seed.wrapping_add(1);
    }
    file.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

#[test]
fn scan_peak_rss_stays_under_64_mib_on_a_large_log() {
    let scratch = Scratch::new("scan-memory");
    let log = scratch.0.join("audit.jsonl");
    let started = Instant::now();
    let bytes = write_log(&log, EVENTS);
    let generated = started.elapsed();

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kaudit"));
    cmd.arg("scan");
    if Path::new(FALCO_RULES).is_file() {
        cmd.args(["--rules", FALCO_RULES]);
    } else {
        eprintln!(
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
             !!! scan_memory: {FALCO_RULES} is absent (no ../shared beside the workspace):\n\
             !!! measuring with the BUILT-IN rules instead of Falco's full ruleset.\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
        );
    }
    cmd.args(["--format", "json", "--compat", "falco", "-q"])
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());

    let scan_started = Instant::now();
    let mut child = cmd.spawn().unwrap();
    // stderr on a thread so neither pipe can fill and stall the child.
    let mut stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    // stdout is the null sink: alerts are counted line by line, never kept.
    let mut alerts = 0_u64;
    let mut line = Vec::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    while out.read_until(b'\n', &mut line).unwrap() > 0 {
        if line.first() == Some(&b'{') {
            alerts += 1;
        }
        line.clear();
    }
    let status = child.wait().unwrap();
    let scanned = scan_started.elapsed();
    let stderr = stderr.join().unwrap();

    // Linux reports ru_maxrss in KiB.
    let peak_kib = u64::try_from(getrusage(UsageWho::RUSAGE_CHILDREN).unwrap().max_rss()).unwrap();
    let peak = peak_kib * 1024;
    #[allow(
        clippy::cast_precision_loss,
        reason = "a human-readable figure; bytes and counts are far below 2^52"
    )]
    let (peak_mib, mb, secs) = (
        peak as f64 / (1024.0 * 1024.0),
        bytes as f64 / 1e6,
        scanned.as_secs_f64(),
    );
    eprintln!(
        "scan_memory: {EVENTS} events ({mb:.1} MB, generated in {:.1} s) scanned in {secs:.1} s \
         ({:.0} events/s), {alerts} alerts, peak RSS {peak_mib:.1} MiB ({peak_kib} KiB) of a \
         {} MiB budget",
        generated.as_secs_f64(),
        EVENTS as f64 / secs,
        BUDGET / (1024 * 1024),
    );

    assert!(status.success(), "kaudit scan failed ({status}):\n{stderr}");
    assert!(alerts > 0, "no alerts on stdout; stderr:\n{stderr}");
    assert!(
        peak < BUDGET,
        "kaudit scan peaked at {peak_mib:.1} MiB RSS on {EVENTS} events: over the {} MiB budget",
        BUDGET / (1024 * 1024)
    );
}
