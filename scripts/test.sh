#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs what the tests need first.
# This is the README's test command; .ci/run calls it too.
set -euo pipefail
cd "$(dirname "$0")/.."

# The CloudWatch end-to-end tests run against moto_server (PyPI `moto[server]`) on loopback.
if ! python3 -c 'import moto.server' >/dev/null 2>&1; then
    echo "installing moto[server] for the CloudWatch emulator tests" >&2
    python3 -m pip install --quiet 'moto[server]>=5,<6'
fi
# tests/deploy_manifests.rs validates deploy/kubernetes offline with PyPI `kubernetes-validate`.
if ! command -v kubernetes-validate >/dev/null 2>&1; then
    echo "installing kubernetes-validate for the manifest tests" >&2
    python3 -m pip install --quiet 'kubernetes-validate>=1.30'
fi
export KAUDIT_MOTO_PYTHON="${KAUDIT_MOTO_PYTHON:-$(command -v python3)}"

# The statically linked binary of docs/eks.md ("Static binary"), for tests/static_chroot.rs, which
# runs it in an empty root directory. (Its own target dir: RUSTFLAGS would rebuild everything.)
if [[ "$(uname -s)-$(uname -m)" == Linux-x86_64 ]]; then
    static_dir="${CARGO_TARGET_DIR:-$PWD/target}/static"
    RUSTFLAGS="-C target-feature=+crt-static" cargo build --locked --bin kaudit \
        --target x86_64-unknown-linux-gnu --target-dir "$static_dir"
    export KAUDIT_STATIC_BIN="$static_dir/x86_64-unknown-linux-gnu/debug/kaudit"
fi

cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked

# The fuzz targets. Their seeds and regression inputs already ran through every target above, as
# kaudit-fuzz-targets' tests. Here each target also fuzzes for a few seconds under libFuzzer
# (cargo-fuzz's sanitizer build of fuzz/, its own workspace), except `config`, whose sanitizer
# build would add the AWS SDK's (minutes on a cold target dir): see fuzz/RUNS.md for its runs.
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "installing cargo-fuzz for the fuzz smoke run" >&2
    cargo install cargo-fuzz --locked --version '^0.13'
fi
mapfile -t fuzz_targets < <(cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz list | grep -vx config)
fuzz/run.sh --smoke 5 "${fuzz_targets[@]}"

# Evaluating rules on bytes needs neither the AWS SDK nor tokio: the engine without its
# `pipeline` feature (and the root crate without its defaults) builds, and its normal
# dependency tree has no aws-* or tokio crate.
cargo check -p kaudit-engine --no-default-features --locked
cargo check -p kaudit --no-default-features --lib --locked
for pkg in kaudit-engine kaudit; do
    tree=$(cargo tree -p "$pkg" --no-default-features -e normal --locked --prefix none)
    if grep -E '^(aws-|tokio)' <<<"$tree"; then
        echo "error: $pkg --no-default-features depends on the crates above" >&2
        exit 1
    fi
done

# Every top-level example runs and prints what its header promises. (The output is captured
# before grep reads it: `grep -q` on a pipe would close it under a still-printing example.)
expect_example() {
    local name=$1 pattern=$2
    shift 2
    echo "== cargo run --example $name $*" >&2
    local out
    out=$(cargo run --quiet --locked --example "$name" -- "$@")
    if ! grep -Eq "$pattern" <<<"$out"; then
        printf '%s\n' "$out" >&2
        echo "error: example $name did not print /$pattern/" >&2
        exit 1
    fi
}
expect_example embed_condition "Admin Write Without Token"
expect_example scan_file "400 events read from .*, 0 skipped"
expect_example custom_source "run 2: 2 events evaluated"
expect_example forward_to_sidekick "the receiver accepted [1-9][0-9]* alerts"
# Without an endpoint, cloudwatch_tail explains what it needs and exits 0 ...
(unset KAUDIT_CLOUDWATCH_ENDPOINT; expect_example cloudwatch_tail "needs a CloudWatch Logs endpoint")
# ... and against moto_server it tails the log group it seeded.
moto_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$KAUDIT_MOTO_PYTHON" -m moto.server -H 127.0.0.1 -p "$moto_port" >/dev/null 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$moto_port") 2>/dev/null && break
    sleep 0.1
done
KAUDIT_CLOUDWATCH_ENDPOINT="http://127.0.0.1:$moto_port" KAUDIT_TAIL_SECONDS=8 \
    expect_example cloudwatch_tail "after [0-9]+s: [1-9][0-9]* events, [0-9]+ alerts, 0 source errors" --seed
kill $moto_pid 2>/dev/null || true

# The API docs build without a warning (broken links, missing docs).
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

# Packaging: every crate's file list, and a full dry-run publish of the crates whose
# dependencies are all on crates.io already (the others depend on unpublished kaudit-* crates).
./scripts/package.sh
