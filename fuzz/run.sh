#!/usr/bin/env bash
# Runs fuzz targets for SECONDS each (default 60), one after the other, one process at a time,
# seeding each corpus from fuzz/seeds/<target> when that directory exists. Appends one line per
# target to fuzz/RUNS.md: target, date, seconds (wall time of the fuzzing, build excluded),
# executions, result.
#
#   fuzz/run.sh 600                        # ten minutes per target, recorded in RUNS.md
#   fuzz/run.sh 10 decode_event checkpoint # some targets only
#   fuzz/run.sh --smoke 5                  # CI: every target briefly, nothing recorded
#
# --smoke: a brief check (the seeds and a few seconds of fuzzing per target) that does not
# append to RUNS.md. The exit status is 1 when a target fails (its input is then in
# fuzz/artifacts/<target>).
#
# Works on a stable toolchain: cargo-fuzz needs nightly-only flags (-Z sanitizer), which
# RUSTC_BOOTSTRAP=1 allows. Needs cargo-fuzz (`cargo install cargo-fuzz --locked`).
# The build goes to $CARGO_TARGET_DIR/fuzz when CARGO_TARGET_DIR is set, else fuzz/target.
# The `config` target drives the CLI's config parser and so needs the `cli` feature (the CLI
# brings the AWS SDK); the script enables it for that target only, building it beside the others
# (fuzz/target-cli).
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1

smoke=false
if [[ ${1:-} == --smoke ]]; then
    smoke=true
    shift
fi
secs=${1:-60}
shift || true
targets=("$@")

# The cargo features a target needs.
features() {
    case $1 in
    config) echo --features=cli ;;
    esac
}
# Where a target builds: $CARGO_TARGET_DIR/fuzz when CARGO_TARGET_DIR is set, else fuzz/target;
# the targets that need features in a directory of their own ("-cli"), so that the long AWS SDK
# build never holds the other targets' build lock and features never flip between builds.
base=${CARGO_TARGET_DIR:+$CARGO_TARGET_DIR/fuzz}
base=${base:-target}
target_dir() {
    if [[ -n $(features "$1") ]]; then
        echo "--target-dir=$base-cli"
    else
        echo "--target-dir=$base"
    fi
}

if [[ ${#targets[@]} -eq 0 ]]; then
    mapfile -t targets < <(cargo fuzz list)
fi

# Build first, so that the time recorded is fuzzing time: the light targets together, then each
# target that needs features.
light=()
heavy=()
for t in "${targets[@]}"; do
    if [[ -z $(features "$t") ]]; then light+=("$t"); else heavy+=("$t"); fi
done
if [[ ${#light[@]} -gt 1 ]]; then
    # One cargo invocation builds them all (the bins that need features are left out).
    cargo fuzz build "--target-dir=$base"
elif [[ ${#light[@]} -eq 1 ]]; then
    cargo fuzz build "--target-dir=$base" "${light[0]}"
fi
for t in "${heavy[@]}"; do
    cargo fuzz build "$(target_dir "$t")" "$(features "$t")" "$t"
done

status=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    seeds=()
    [[ -d "seeds/$t" ]] && seeds=("seeds/$t")
    f=$(features "$t")
    log=$(mktemp)
    start=$SECONDS
    # shellcheck disable=SC2086 # $f is one word or none
    if cargo fuzz run "$(target_dir "$t")" $f "$t" "corpus/$t" "${seeds[@]}" -- \
        -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1; then
        result=ok
    else
        result="FAILED (see fuzz/artifacts/$t)"
        status=1
    fi
    took=$((SECONDS - start))
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
    if [[ -z $runs ]]; then
        # No final stats (a crash): the last status line's count.
        runs=$(grep -o '^#[0-9]*' "$log" | tr -d '#' | tail -1 || true)
    fi
    line=$(printf '| %s | %s | %s | %s | %s |' "$t" "$(date -u +%F)" "$took" "${runs:-?}" "$result")
    if $smoke; then
        echo "smoke: $line"
    else
        echo "$line" | tee -a RUNS.md
    fi
    [[ $result == ok ]] || tail -40 "$log" >&2
    rm -f "$log"
done
exit $status
