#!/usr/bin/env bash
# Packaging checks (scripts/test.sh runs this): `cargo package --list` for every crate, and
# `cargo publish --dry-run` (which packages, then builds the package against crates.io) for the
# crates that depend on no unpublished kaudit-* crate. The others cannot be verified that way
# until their kaudit-* dependencies are on crates.io; publish them in dependency order:
# condition, event, rules, source, engine, output, cli, kaudit.
set -euo pipefail
cd "$(dirname "$0")/.."

# Crates with no kaudit-* dependency: a real dry-run.
standalone=(kaudit-condition)
# Everything else: the file list (checks the manifest and what would be uploaded).
dependent=(kaudit-event kaudit-rules kaudit-source kaudit-engine kaudit-output kaudit-cli kaudit)

for pkg in "${standalone[@]}"; do
    echo "== cargo publish --dry-run -p $pkg" >&2
    cargo publish --dry-run --locked -p "$pkg"
done
for pkg in "${dependent[@]}"; do
    echo "== cargo package --list -p $pkg" >&2
    list=$(cargo package --list --locked -p "$pkg" --allow-dirty)
    for f in Cargo.toml README.md; do
        grep -qx "$f" <<<"$list" || { echo "error: $pkg's package has no $f" >&2; exit 1; }
    done
done
