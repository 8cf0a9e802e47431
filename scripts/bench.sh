#!/usr/bin/env bash
# Benchmarks oci-pypi against the real registry it fronts (Debian's docker-registry, CNCF
# distribution 2.8), side by side in one run, and prints a markdown report:
#
#   1. upload and download of large wheels through oci-pypi vs. straight to the registry (curl
#      for both), as MB/s and the ratio proxy/direct; and 500 downloads of a small wheel over
#      one kept-alive connection, both ways;
#   2. the server's peak RSS (VmHWM) while it moves each file, one fresh process per phase;
#   3. cold and warm project-page latency for 10, 100 and 500 releases, and the registry
#      requests each page costs (a counting reverse proxy sits between oci-pypi and the
#      registry); warm pages also to a client accepting gzip, and the page's size both ways;
#   4. warm project-page throughput with 64 concurrent clients (wrk), at the largest size
#      also with `Accept-Encoding: gzip`;
#   5. the same registry 20 ms away (a proxy holds each request): a cold page, a small file
#      after its page and a small wheel's upload, against their straight equivalents;
#   and downloads straight from the registry through HAProxy, a reference proxy: what any
#   process in between costs on this machine; and downloads from the registry behind a
#   1 Gbit/s link (a relay in the driver), through oci-pypi and straight.
#
#   scripts/bench.sh            full run (256 MiB and 1 GiB files; about 5 minutes of work)
#   scripts/bench.sh --quick    smoke test (8 MiB and 32 MiB files, few samples; under a minute)
#   scripts/bench.sh --output FILE   also write the report to FILE
#   scripts/bench.sh --pyoci DIR     also measure PyOCI side by side (phase 6): DIR is a
#                                    checkout of PyOCI built with `cargo build --release`
#
# Only 127.0.0.1 is contacted. Everything is started here and stopped on exit; the temporary
# directory (wheels, registry storage, logs) is deleted unless BENCH_KEEP=1.
# BENCH_STORAGE=tmpfs puts the registry's storage and the wheels on /dev/shm instead of the disk.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

driver_name=bench
driver_keep="${BENCH_KEEP:-0}"
# shellcheck source=scripts/lib/driver.sh
source scripts/lib/driver.sh

quick=0
output=""
pyoci_dir=""
while [ "$#" -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --output) output="$2"; shift ;;
        --pyoci) pyoci_dir="$2"; shift ;;
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        *) log "unknown argument: $1"; exit 2 ;;
    esac
    shift
done

missing=()
command -v docker-registry >/dev/null 2>&1 || [ -x /usr/bin/docker-registry ] || missing+=(docker-registry)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
haproxy_bin="$(command -v haproxy || echo /usr/sbin/haproxy)"
[ -x "$haproxy_bin" ] || missing+=(haproxy)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    apt_get update -qq
    # wrk and haproxy are optional: without wrk the driver's own load generator is used,
    # without haproxy the reference-proxy downloads are left out.
    apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || log "could not install every package (${missing[*]}); continuing with what is there"
fi
registry_bin="$(command -v docker-registry || echo /usr/bin/docker-registry)"

driver_build

base="${TMPDIR:-/tmp}"
if [ "${BENCH_STORAGE:-disk}" = tmpfs ]; then base=/dev/shm; fi
driver_workdir "$base"

# A wheel that is a real zip: the payload (random bytes, stored uncompressed), then
# <name>-<version>.dist-info/METADATA, WHEEL and RECORD at the end of the archive.
make_wheel() { # name version payload_bytes directory
    python3 - "$@" <<'PY'
import base64, hashlib, os, sys, zipfile

name, version, size, directory = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
path = os.path.join(directory, f"{name}-{version}-py3-none-any.whl")
dist_info = f"{name}-{version}.dist-info"

def record_hash(data_hash):
    return "sha256=" + base64.urlsafe_b64encode(data_hash.digest()).rstrip(b"=").decode()

records = []
with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
    info = zipfile.ZipInfo(f"{name}/payload.bin", date_time=(2026, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    digest, left = hashlib.sha256(), size
    with archive.open(info, "w", force_zip64=size >= 2**31) as member:
        while left:
            block = os.urandom(min(left, 1 << 20))
            digest.update(block)
            member.write(block)
            left -= len(block)
    records.append(f"{name}/payload.bin,{record_hash(digest)},{size}")
    records.append(f"{name}/__init__.py,,0")
    archive.writestr(f"{name}/__init__.py", b"")
    texts = {
        "METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                    "Summary: oci-pypi benchmark payload\n",
        "WHEEL": "Wheel-Version: 1.0\nGenerator: oci-pypi-bench\nRoot-Is-Purelib: true\n"
                 "Tag: py3-none-any\n",
    }
    for filename, text in texts.items():
        data = text.encode()
        archive.writestr(f"{dist_info}/{filename}", data)
        records.append(f"{dist_info}/{filename},{record_hash(hashlib.sha256(data))},{len(data)}")
    records.append(f"{dist_info}/RECORD,,")
    archive.writestr(f"{dist_info}/RECORD", ("\n".join(records) + "\n").encode())
with zipfile.ZipFile(path) as archive:
    names = archive.namelist()
    assert names[-1] == f"{dist_info}/RECORD" and f"{dist_info}/METADATA" in names, names
print(path)
PY
}

if [ "$quick" = 1 ]; then
    sizes=("bench8mib:$((8 << 20))" "bench32mib:$((32 << 20))")
    driver_args=(--reps 1 --releases 10,50 --cold-samples 3 --warm-samples 50 --load-seconds 2
        --link-mbit 1000)
else
    sizes=("bench256mib:$((256 << 20))" "bench1gib:$((1 << 30))")
    driver_args=(--reps 3 --releases 10,100,500 --cold-samples 20 --warm-samples 200 --load-seconds 10
        --link-mbit 1000)
fi

wheel_args=(--small-wheel "$(make_wheel benchsmall 1.0.0 $((64 << 10)) "$work")")
for entry in "${sizes[@]}"; do
    name="${entry%%:*}"
    bytes="${entry#*:}"
    log "generating a wheel with a $bytes-byte payload"
    wheel_args+=(--wheel "$(make_wheel "$name" 1.0.0 "$bytes" "$work")")
done

if command -v wrk >/dev/null 2>&1; then
    driver_args+=(--wrk "$(command -v wrk)")
fi
if [ -x "$haproxy_bin" ]; then
    driver_args+=(--haproxy "$haproxy_bin")
fi
if [ -n "$output" ]; then
    driver_args+=(--output "$output")
fi
if [ -n "$pyoci_dir" ]; then
    [ -x "$pyoci_dir/target/release/pyoci" ] || { log "no release build in $pyoci_dir/target/release/pyoci"; exit 2; }
    driver_args+=(--pyoci-dir "$(cd "$pyoci_dir" && pwd)")
fi

driver_run "${wheel_args[@]}" "${driver_args[@]}"
