#!/usr/bin/env bash
# Fuzzes the HL7 v2 wire format for CI: builds the targets once, runs each for FUZZ_SECONDS
# (default 60) from the seeds and the dictionary, and exits non-zero if any target crashed or
# broke an invariant. Works from a clean clone; writes only under fuzz/ (target/, corpus/,
# artifacts/) and the cargo caches.
#
#   fuzz/run.sh                                      # every target, 60 s each
#   FUZZ_SECONDS=600 fuzz/run.sh roundtrip           # one target, longer
#   FUZZ_EXTRA_CORPUS=../shared/corpus fuzz/run.sh   # also start from these files (read only)
#
# A crash is saved in fuzz/artifacts/<target>/ and the command to reproduce it is printed in
# fuzz/logs/<target>.log (the last lines of each log are printed as its target ends).
# Minimise it (`cargo +nightly fuzz tmin -s none <target> <file>`), save it in fixtures/fuzz/
# under a name that says what broke, and list it in tests/fuzz_regressions.rs.
set -euo pipefail

cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-60}"
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    targets=(parse roundtrip notify writeback ack query)
fi

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# No sanitizer: the crate forbids unsafe code, so AddressSanitizer has nothing to find and
# would only slow the run down. Without -O, cargo-fuzz builds with optimisations plus debug
# assertions and overflow checks, which is what catches arithmetic on offsets going wrong.
# Every command below passes the same flags so that `run` reuses this build.
fuzz=(cargo +nightly fuzz)
flags=(--sanitizer none)

"${fuzz[@]}" build "${flags[@]}"

extra=()
if [ -n "${FUZZ_EXTRA_CORPUS:-}" ]; then
    # Read-only: libFuzzer writes new inputs only to the first corpus directory.
    read -r -a extra <<<"$FUZZ_EXTRA_CORPUS"
fi

# One target at a time per core: libFuzzer runs single-threaded, so on N cores N targets
# fuzz side by side and CI waits for seconds x targets / N. Each target's output goes to
# fuzz/logs/<target>.log and is printed when it ends.
parallel="${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}"
mkdir -p fuzz/logs
fuzz_one() {
    local target=$1 seeds
    mkdir -p "fuzz/corpus/$target"
    # Seeds: the handwritten messages, and for the translation targets the golden inputs.
    case "$target" in
        notify) seeds=(fuzz/seeds fixtures/v2-to-fhir) ;;
        writeback) seeds=(fixtures/fhir-to-v2) ;;
        ack) seeds=(fixtures/ack) ;;
        query) seeds=(fixtures/query/search fixtures/query/response) ;;
        *) seeds=(fuzz/seeds) ;;
    esac
    "${fuzz[@]}" run "${flags[@]}" "$target" \
        "fuzz/corpus/$target" "${seeds[@]}" "${extra[@]}" -- \
        -max_total_time="$seconds" \
        -dict=fuzz/hl7.dict \
        -max_len=8192 \
        -timeout=10 \
        -print_final_stats=1
}

failed=()
pids=()
names=()
finish() {
    local i=$1
    if wait "${pids[$i]}"; then status=passed; else status=FAILED; failed+=("${names[$i]}"); fi
    echo "== ${names[$i]}: $status"
    if [ "$status" = passed ]; then
        tail -n 7 "fuzz/logs/${names[$i]}.log"
    else
        tail -n 60 "fuzz/logs/${names[$i]}.log"
    fi
}
for target in "${targets[@]}"; do
    echo "== fuzzing $target for ${seconds}s"
    fuzz_one "$target" >"fuzz/logs/$target.log" 2>&1 &
    pids+=($!)
    names+=("$target")
    if [ "${#pids[@]}" -ge "$parallel" ]; then
        finish 0
        pids=("${pids[@]:1}")
        names=("${names[@]:1}")
    fi
done
while [ "${#pids[@]}" -gt 0 ]; do
    finish 0
    pids=("${pids[@]:1}")
    names=("${names[@]:1}")
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzzing failed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzzing passed: ${targets[*]}"
