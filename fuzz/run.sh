#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), one after the other, one process at a
# time, seeding each corpus from fuzz/seeds/<target> when that directory exists. Appends one line
# per target to fuzz/RUNS.md: target, date, seconds, executions, result.
#
#   fuzz/run.sh 600            # ten minutes per target
#   fuzz/run.sh 10 decode_event checkpoint
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`).
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
shift || true
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
status=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    seeds=()
    [[ -d "seeds/$t" ]] && seeds=("seeds/$t")
    log=$(mktemp)
    if cargo +nightly fuzz run "$t" "corpus/$t" "${seeds[@]}" -- \
        -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1; then
        result=ok
    else
        result="FAILED (see fuzz/artifacts/$t)"
        status=1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    printf '| %s | %s | %s | %s | %s |\n' "$t" "$(date -u +%F)" "$secs" "${runs:-?}" "$result" \
        | tee -a RUNS.md
    [[ $result == ok ]] || tail -40 "$log" >&2
    rm -f "$log"
done
exit $status
