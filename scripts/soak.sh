#!/usr/bin/env bash
# Soak test: the release build of oci-pypi in front of a real registry (Debian's
# docker-registry, CNCF distribution), 20,000 mixed requests from 32 concurrent clients, then a
# check that no stored file was lost. Prints a markdown report (statuses and latency
# percentiles per operation, throughput, the server's RSS at start and end) and exits non-zero
# on any 5xx, unexpected status, corrupt byte, lost file or server panic.
#
#   scripts/soak.sh                        20,000 requests, 32 clients, htpasswd registry
#   scripts/soak.sh --requests 2000        a shorter run
#   scripts/soak.sh --auth anonymous       a registry without authentication
#   scripts/soak.sh --replicas 2           two servers on the same registry, clients split
#   scripts/soak.sh --replicas 2 --store local   two servers sharing one local store directory
#   scripts/soak.sh --output FILE          also write the report to FILE
#
# Every option is passed to the driver (examples/soak/main.rs; `--help` lists them). Only
# 127.0.0.1 is contacted; everything started here is stopped on exit, and the temporary
# directory (registry storage, logs) is deleted unless SOAK_KEEP=1.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

driver_name=soak
driver_keep="${SOAK_KEEP:-0}"
# shellcheck source=scripts/lib/driver.sh
source scripts/lib/driver.sh

registry_bin="${OCI_PYPI_TEST_REGISTRY_BIN:-$(command -v docker-registry || echo /usr/bin/docker-registry)}"
if [ ! -x "$registry_bin" ]; then
    log "installing Debian's docker-registry"
    apt_get update -qq
    apt_get install -y -qq --no-install-recommends docker-registry >/dev/null
    registry_bin=/usr/bin/docker-registry
fi

driver_build
driver_workdir
driver_run "$@"
