#!/usr/bin/env bash
# Runs every test of oci-pypi on a fresh machine: installs what the tests need
# (Debian's docker-registry, i.e. CNCF distribution; a Python venv with pip, uv
# and twine from PyPI), checks formatting and lints, then runs `cargo test`.
#
#   scripts/test.sh [extra cargo test arguments]
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

log() { printf 'test: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
    log "installing Debian packages: $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

missing=()
command -v docker-registry >/dev/null 2>&1 || [ -x /usr/bin/docker-registry ] || missing+=(docker-registry)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
fi

scripts/test-venv.sh
export OCI_PYPI_TEST_VENV="$repo_root/target/test-venv"

log "lint the CI workflows and the Dockerfile"
scripts/lint-ci-files.sh

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy -D warnings"
cargo clippy --locked --all-targets -- -D warnings
log "cargo test"
cargo test --locked --all-targets "$@"
