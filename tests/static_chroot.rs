//! The statically linked binary in an empty root directory: no `/etc/ssl`, no `/etc/passwd`, no
//! shared libraries. `scan` works there, and the CloudWatch TLS set-up reports that it fell back
//! to the bundled Mozilla roots: the seed's `x509: certificate signed by unknown authority` cannot
//! happen in a scratch image.
//!
//! `scripts/test.sh` builds the static binary (`-C target-feature=+crt-static` on the GNU target,
//! see docs/eks.md) and names it in `KAUDIT_STATIC_BIN`. Without it, or without root (chroot
//! needs it), the test says so loudly and does nothing.

#![allow(
    clippy::unwrap_used,
    reason = "test harness: a failure to set up the root fails the test"
)]

use std::io::Write as _;
use std::process::Command;

const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/data/sample-audit.jsonl"
);

fn skip(why: &str) {
    let _ = writeln!(std::io::stderr(), "!!! SKIPPED: static_chroot: {why} !!!");
}

#[test]
fn the_static_binary_scans_and_falls_back_to_bundled_roots_in_an_empty_root() {
    let Some(bin) = std::env::var_os("KAUDIT_STATIC_BIN") else {
        skip("KAUDIT_STATIC_BIN is not set (scripts/test.sh builds and sets it)");
        return;
    };
    if !nix::unistd::geteuid().is_root() {
        skip("chroot needs root");
        return;
    }
    // Found here: the child's environment is cleared, so PATH lookup would fail.
    let Some(chroot) = [
        "/usr/sbin/chroot",
        "/usr/bin/chroot",
        "/sbin/chroot",
        "/bin/chroot",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists()) else {
        skip("no chroot command");
        return;
    };
    let root = tempfile::tempdir().unwrap();
    std::fs::copy(&bin, root.path().join("kaudit")).unwrap();
    std::fs::copy(SAMPLE, root.path().join("audit.jsonl")).unwrap();
    // Nothing else: no /etc, no /lib, no /usr.
    let entries: Vec<_> = std::fs::read_dir(root.path()).unwrap().collect();
    assert_eq!(entries.len(), 2);
    let chrooted = |args: &[&str], env: &[(&str, &str)]| {
        Command::new(chroot)
            .arg(root.path())
            .arg("/kaudit")
            .args(args)
            .env_clear()
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };

    // scan: the same alerts as the dynamically linked binary outside the root.
    let inside = chrooted(&["scan", "--time-zone", "utc", "/audit.jsonl"], &[]);
    let outside = Command::new(env!("CARGO_BIN_EXE_kaudit"))
        .args(["scan", "--time-zone", "utc", SAMPLE])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&inside.stderr);
    assert!(inside.status.success(), "{err}");
    assert!(!inside.stdout.is_empty());
    assert_eq!(inside.stdout, outside.stdout);
    assert!(
        err.contains("Events read: 400, bad events skipped: 0, alerts: 100"),
        "{err}"
    );

    // CloudWatch over HTTPS: no system roots here, so the bundled ones are used (the request
    // itself then fails: nothing listens on that port).
    let out = chrooted(
        &[
            "--log-level",
            "info",
            "watch",
            "cloudwatch",
            "--log-group",
            "/aws/eks/c/cluster",
            "--region",
            "us-east-1",
            "--endpoint-url",
            "https://127.0.0.1:9",
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDTEST"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("TLS: the system has no root certificates; using the bundled Mozilla roots"),
        "{err}"
    );
    assert!(!err.contains("unknown authority"), "{err}");
}
