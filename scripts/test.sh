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

cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked
