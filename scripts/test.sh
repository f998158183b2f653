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
export KAUDIT_MOTO_PYTHON="${KAUDIT_MOTO_PYTHON:-$(command -v python3)}"

cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked

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

# Every top-level example runs and prints what its header promises.
run_example() {
    local name=$1
    shift
    echo "== cargo run --example $name $*" >&2
    cargo run --quiet --locked --example "$name" -- "$@"
}
run_example embed_condition | grep -q "Admin Write Without Token"
run_example scan_file | grep -q "events read from"
run_example custom_source | grep -q "run 2: 2 events evaluated"
run_example forward_to_sidekick | grep -q "the receiver accepted"
# Without an endpoint, cloudwatch_tail explains what it needs and exits 0 ...
env -u KAUDIT_CLOUDWATCH_ENDPOINT cargo run --quiet --locked --example cloudwatch_tail | grep -q "needs a CloudWatch Logs endpoint"
# ... and against moto_server it tails the seeded log group.
moto_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$KAUDIT_MOTO_PYTHON" -m moto.server -H 127.0.0.1 -p "$moto_port" >/dev/null 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$moto_port") 2>/dev/null && break
    sleep 0.1
done
KAUDIT_CLOUDWATCH_ENDPOINT="http://127.0.0.1:$moto_port" KAUDIT_TAIL_SECONDS=8 \
    cargo run --quiet --locked --example cloudwatch_tail -- --seed | tee /dev/stderr | grep -Eq "after [0-9]+s: [1-9][0-9]* events, [0-9]+ alerts, 0 source errors"
kill $moto_pid 2>/dev/null || true

# The API docs build without a warning (broken links, missing docs).
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

# Packaging: every crate's file list, and a full dry-run publish of the crates whose
# dependencies are all on crates.io already (the others depend on unpublished kaudit-* crates).
./scripts/package.sh
