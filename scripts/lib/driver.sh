# Shared by scripts/bench.sh and scripts/soak.sh (sourced, not run): build the server and a
# driver example in release mode, give the driver a scratch directory, run it, and stop
# everything it started when the script exits.
#
#   driver_name=soak; driver_keep=${SOAK_KEEP:-0}
#   source scripts/lib/driver.sh
#   apt_get install -y PACKAGE   # apt-get as root (sudo unless root)
#   driver_build                 # cargo build --release: the server, then examples/$driver_name
#   driver_workdir [BASE]        # sets $work (under BASE, default $TMPDIR or /tmp) and the traps
#   driver_run ARGS...           # target/release/examples/$driver_name --server-bin ... ARGS
#
# The driver appends the pid of every process it starts to $work/pids; on exit those are
# killed, and $work is deleted unless $driver_keep is 1.

log() { printf '%s: %s\n' "$driver_name" "$*" >&2; }

# apt-get ARGS..., as root (through sudo unless already root), non-interactive.
apt_get() {
    local sudo=()
    if [ "$(id -u)" != 0 ]; then sudo=(sudo); fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "$@"
}

driver_build() {
    # Two separate builds: the server exactly as it ships (no dev-dependency features), then the
    # driver.
    log "building the server (release)"
    cargo build --release --locked --bin oci-pypi
    log "building the $driver_name driver (release example)"
    cargo build --release --locked --example "$driver_name"
}

driver_pid=""

driver_cleanup() {
    local status=$?
    if [ -n "$driver_pid" ] && kill -0 "$driver_pid" 2>/dev/null; then
        kill "$driver_pid" 2>/dev/null || true
        wait "$driver_pid" 2>/dev/null || true
    fi
    if [ -f "$work/pids" ]; then
        while read -r pid; do
            kill "$pid" 2>/dev/null || true
        done <"$work/pids"
    fi
    if [ "${driver_keep:-0}" = 1 ]; then
        log "kept $work"
    else
        rm -rf "$work"
    fi
    exit "$status"
}

driver_workdir() {
    work="$(mktemp -d "${1:-${TMPDIR:-/tmp}}/oci-pypi-$driver_name.XXXXXX")"
    trap driver_cleanup EXIT
    trap 'exit 130' INT TERM
}

driver_run() {
    log "running (work directory $work)"
    "target/release/examples/$driver_name" \
        --server-bin target/release/oci-pypi \
        --registry-bin "$registry_bin" \
        --work-dir "$work" \
        "$@" &
    driver_pid=$!
    wait "$driver_pid"
    driver_pid=""
}
