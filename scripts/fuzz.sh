#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ (cargo-fuzz, libFuzzer) for a bounded time, then prints a
# markdown table of executions, coverage and crashes per target. Exits non-zero when a target
# crashed (or hit a timeout or the memory limit), or when a known crash kept in
# fuzz/regressions/<target>/ still reproduces.
#
#   scripts/fuzz.sh                         every target, 60 s each
#   scripts/fuzz.sh 300                     every target, 300 s each
#   FUZZ_TARGETS="version route" scripts/fuzz.sh 30
#   FUZZ_SANITIZER=none scripts/fuzz.sh     without AddressSanitizer (faster, finds less)
#
# Toolchain: cargo-fuzz passes unstable `-Z` flags to rustc (sanitizer, coverage
# instrumentation). A nightly toolchain is used when rustup has one; otherwise the stable one
# with RUSTC_BOOTSTRAP=1, which works (checked with 1.95: AddressSanitizer included).
# cargo-fuzz is installed with `cargo install cargo-fuzz` when missing.
#
# Each target runs in libFuzzer's fork mode with -ignore_crashes=1, so a crash does not end the
# run: the time budget is spent whole, and every crash input is kept in
# fuzz/artifacts/<target>/ (with the run's log). Corpora grow in fuzz/corpus/<target>/
# (git-ignored) from the committed seeds in fuzz/seeds/<target>/. The fuzz crate builds in its
# own target directory, fuzz/target/.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

log() { printf 'fuzz: %s\n' "$*" >&2; }

seconds="${1:-60}"
case "$seconds" in
    ''|*[!0-9]*) log "usage: scripts/fuzz.sh [seconds-per-target]"; exit 2 ;;
esac
sanitizer="${FUZZ_SANITIZER:-address}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz"
    cargo install cargo-fuzz
fi

toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
    log "toolchain: nightly ($(rustc +nightly --version))"
else
    export RUSTC_BOOTSTRAP=1
    log "toolchain: $(rustc --version) with RUSTC_BOOTSTRAP=1 (no nightly installed)"
fi

# The fuzz crate resolves its dependencies like the server: start from the main lock file
# (cargo then adds libfuzzer-sys and arbitrary).
cp Cargo.lock fuzz/Cargo.lock
log "building every target (sanitizer: $sanitizer); the first build takes a while"
cargo "${toolchain[@]}" fuzz build --sanitizer "$sanitizer"

triple="$(rustc "${toolchain[@]}" -vV | sed -n 's/^host: //p')"
bin_dir="fuzz/target/$triple/release"
if [ -n "${FUZZ_TARGETS:-}" ]; then
    read -r -a targets <<<"$FUZZ_TARGETS"
else
    mapfile -t targets < <(cargo fuzz list)
fi

# The panic location of one input, or empty when it does not crash.
crash_site() { # target input
    local output
    if output="$(timeout 120 "$bin_dir/$1" -runs=1 "$2" 2>&1)"; then
        return 0
    fi
    printf '%s\n' "$output" | grep -m1 -o 'panicked at [^ ]*' || printf 'crash without a panic (see the log)\n'
}

failed=0
summary="fuzz/artifacts/summary.md"
mkdir -p fuzz/artifacts
{
    printf '| target | seconds | executions | exec/s | coverage (edges) | features | corpus | crashes | timeouts | ooms | known crashes still reproducing |\n'
    printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n'
} >"$summary"
notes=()
for target in "${targets[@]}"; do
    artifacts="fuzz/artifacts/$target"
    mkdir -p "fuzz/corpus/$target" "fuzz/seeds/$target" "$artifacts"

    known=()
    for input in fuzz/regressions/"$target"/*; do
        [ -f "$input" ] || continue
        site="$(crash_site "$target" "$input")"
        if [ -n "$site" ]; then
            known+=("$(basename "$input")")
            notes+=("$target: the known crash $input still reproduces (${site%:})")
        fi
    done

    log "$target: fuzzing for $seconds s"
    marker="$(mktemp)"
    run_log="$artifacts/run.log"
    status=0
    "$bin_dir/$target" "fuzz/corpus/$target" "fuzz/seeds/$target" \
        -fork=1 -ignore_crashes=1 -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$artifacts/" >"$run_log" 2>&1 || status=$?

    last="$(grep -E '^#[0-9]+: cov:' "$run_log" | tail -1 || true)"
    field() { printf '%s\n' "$last" | grep -o "$1 [0-9/]*" | head -1 | awk '{print $2}'; }
    executions="$(printf '%s\n' "$last" | sed -n 's/^#\([0-9]*\):.*/\1/p')"
    elapsed="$(field 'time:')"
    counts="$(field 'oom/timeout/crash:')"
    IFS=/ read -r ooms timeouts crashes <<<"${counts:-0/0/0}"
    new_inputs=()
    while IFS= read -r -d '' input; do
        new_inputs+=("$input")
    done < <(find "$artifacts" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' \) -newer "$marker" -print0)
    rm -f "$marker"
    # In fork mode libFuzzer exits with 77 (-error_exitcode) after ignored crashes.
    if [ -z "$last" ] || { [ "$status" -ne 0 ] && [ "${#new_inputs[@]}" -eq 0 ]; }; then
        notes+=("$target: libFuzzer exited with status $status; see $run_log")
        failed=1
    fi
    if [ "${#new_inputs[@]}" -gt 0 ]; then
        # Where they fail, each distinct place once (the first 20 inputs replayed).
        sites="$(for input in "${new_inputs[@]:0:20}"; do
            site="$(crash_site "$target" "$input")"
            printf '%s\n' "${site:-no crash on replay (timeout or oom)}"
        done | sed 's/:$//' | sort | uniq -c | awk '{count=$1; $1=""; printf "%s%s (%d)", sep, substr($0, 2), count; sep="; "}')"
        notes+=("$target: ${#new_inputs[@]} failing input(s) in $artifacts/ (e.g. ${new_inputs[0]}): $sites")
        failed=1
    fi
    if [ "${#known[@]}" -gt 0 ]; then
        failed=1
    fi
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
        "$target" "${elapsed:-?}" "${executions:-?}" \
        "$(( ${executions:-0} / (${elapsed:-1} > 0 ? ${elapsed:-1} : 1) ))" \
        "$(field 'cov:')" "$(field 'ft:')" "$(field 'corp:')" \
        "${crashes:-?}" "${timeouts:-?}" "${ooms:-?}" "${known[*]:-none}" >>"$summary"
done

cat "$summary"
if [ "${#notes[@]}" -gt 0 ]; then
    printf '\n'
    for note in "${notes[@]}"; do
        printf -- '- %s\n' "$note"
    done
fi
if [ "$failed" -ne 0 ]; then
    log "FAILED: see the notes above (crash inputs and logs in fuzz/artifacts/)"
    exit 1
fi
log "no crash in ${#targets[@]} targets"
