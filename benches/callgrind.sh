#!/usr/bin/env bash
# Instructions per event under callgrind (stable on a noisy machine): builds the `callgrind`
# bench binary (bench profile: release + line tables) and, for each mode, counts only its
# `measured` pass (the second over the same lines) and divides by the events.
#
#   benches/callgrind.sh [EVENTS] [MODES...]     # default: 10000 events, every mode
#
# Modes: ignored_any (serde_json IgnoredAny, the floor), decode (kaudit-event decode only),
# full (Falco's k8s_audit_rules.yaml, first match, JSON alerts), full_all (all matches),
# builtin (kaudit's built-in rules). `full` and `full_all` need ../shared (the upstream rules).
# RUSTFLAGS is passed through (performance.md pins -C target-cpu=x86-64-v3 for comparisons).
set -euo pipefail
cd "$(dirname "$0")/.."
events="${1:-10000}"
shift || true
modes=("$@")
if [ ${#modes[@]} -eq 0 ]; then
    modes=(ignored_any decode full full_all builtin)
fi
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
exe=$(cargo bench --bench callgrind --no-run --message-format=json 2>/dev/null \
    | sed -n 's/.*"executable":"\([^"]*callgrind[^"]*\)".*/\1/p' | tail -1)
[ -x "$exe" ] || { echo "could not build the callgrind bench" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '%-12s %10s %14s %12s\n' mode events instructions 'Ir/event'
floor=""
for mode in "${modes[@]}"; do
    log="$out/$mode.log"
    if ! valgrind --tool=callgrind --callgrind-out-file="$out/$mode.out" \
        --collect-atstart=no --toggle-collect='*callgrind::measured*' \
        "$exe" "$mode" "$events" >"$out/$mode.stdout" 2>"$log"; then
        echo "$mode: failed" >&2
        cat "$log" >&2
        continue
    fi
    ir=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$log" | tail -1)
    n=$(sed -n 's/^[a-z_]*: \([0-9]*\) events$/\1/p' "$out/$mode.stdout")
    per=$(( ir / n ))
    [ "$mode" = ignored_any ] && floor="$per"
    ratio=""
    [ -n "$floor" ] && ratio=$(awk -v a="$per" -v b="$floor" 'BEGIN { printf "%.2fx the floor", a / b }')
    printf '%-12s %10s %14s %12s  %s\n' "$mode" "$n" "$ir" "$per" "$ratio"
done
