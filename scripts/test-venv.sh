#!/usr/bin/env bash
# Creates (idempotently) the Python virtualenv holding the real package
# clients used by the integration tests: pip, twine, uv and poetry (plus
# cryptography and pypi-attestations, which build PEP 740 attestations offline).
#
#   scripts/test-venv.sh [DIR]
#
# DIR defaults to <repo root>/target/test-venv, which is where the tests look
# unless OCI_PYPI_TEST_VENV points elsewhere. A relative DIR is taken relative
# to the current directory.
#
# The venv is built from PyPI only: any machine-wide pip configuration
# (PIP_FIND_LINKS, pip.conf, ...) is ignored. PIP_CERT is kept, since it only
# tells pip which CA bundle to trust.
set -euo pipefail

# Exact pins. Bump together, deliberately.
PIP_VERSION="26.3"
TWINE_VERSION="7.0.0"
UV_VERSION="0.13.9"
POETRY_VERSION="2.5.1"
PYPISERVER_VERSION="2.4.2"
# Building PEP 740 attestations offline in the tests (tests/fixtures/make_attestation.py).
CRYPTOGRAPHY_VERSION="50.0.2"
PYPI_ATTESTATIONS_VERSION="0.0.31"
# Validating the Kubernetes manifests of deploy/ against the schemas (tests/deploy.rs).
KUBERNETES_VALIDATE_VERSION="1.37.0"

PYTHON="${PYTHON:-python3}"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv_dir="${1:-$repo_root/target/test-venv}"
marker="$venv_dir/.oci-pypi-test-venv"

log() { printf 'test-venv: %s\n' "$*" >&2; }
die() { printf 'test-venv: error: %s\n' "$*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null 2>&1 || die "'$PYTHON' not found on PATH (set PYTHON=/path/to/python3)"

# Isolate pip from this machine's global configuration.
unset PIP_FIND_LINKS PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_NO_INDEX PIP_REQUIRE_VIRTUALENV PIP_TARGET PIP_PREFIX PIP_USER
export PIP_CONFIG_FILE=/dev/null
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_NO_INPUT=1
unset VIRTUAL_ENV PYTHONHOME PYTHONPATH

py_version="$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')" \
    || die "cannot run '$PYTHON'"
wanted="python=$py_version pip=$PIP_VERSION twine=$TWINE_VERSION uv=$UV_VERSION poetry=$POETRY_VERSION pypiserver=$PYPISERVER_VERSION cryptography=$CRYPTOGRAPHY_VERSION pypi-attestations=$PYPI_ATTESTATIONS_VERSION kubernetes-validate=$KUBERNETES_VALIDATE_VERSION"

venv_python="$venv_dir/bin/python"

if [[ -f "$marker" ]] && [[ "$(cat "$marker")" == "$wanted" ]] \
    && "$venv_python" -c 'import sys' >/dev/null 2>&1 \
    && [[ -x "$venv_dir/bin/pip" && -x "$venv_dir/bin/twine" && -x "$venv_dir/bin/uv" && -x "$venv_dir/bin/poetry" ]]; then
    log "up to date: $venv_dir ($wanted)"
    exit 0
fi

# A venv whose interpreter no longer runs (e.g. the base Python changed) or
# that was made by another Python version is rebuilt from scratch.
if [[ -e "$venv_dir" ]]; then
    if ! "$venv_python" -c 'import sys' >/dev/null 2>&1; then
        log "removing broken venv at $venv_dir"
        rm -rf "$venv_dir"
    elif [[ "$("$venv_python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')" != "$py_version" ]]; then
        log "removing venv made by another Python version at $venv_dir"
        rm -rf "$venv_dir"
    fi
fi

rm -f "$marker"
if [[ ! -e "$venv_python" ]]; then
    log "creating venv at $venv_dir with $PYTHON ($py_version)"
    mkdir -p "$(dirname "$venv_dir")"
    "$PYTHON" -m venv "$venv_dir" || die "'$PYTHON -m venv' failed (on Debian: apt-get install python3-venv)"
fi

log "installing pip==$PIP_VERSION"
"$venv_python" -m pip install --no-cache-dir --quiet --upgrade "pip==$PIP_VERSION" \
    || die "could not install pip==$PIP_VERSION from PyPI"

log "installing twine==$TWINE_VERSION uv==$UV_VERSION poetry==$POETRY_VERSION pypiserver==$PYPISERVER_VERSION"
"$venv_python" -m pip install --no-cache-dir --quiet "twine==$TWINE_VERSION" "uv==$UV_VERSION" \
    "poetry==$POETRY_VERSION" "pypiserver==$PYPISERVER_VERSION" \
    || die "could not install twine/uv/poetry/pypiserver from PyPI"

log "installing cryptography==$CRYPTOGRAPHY_VERSION pypi-attestations==$PYPI_ATTESTATIONS_VERSION"
"$venv_python" -m pip install --no-cache-dir --quiet "cryptography==$CRYPTOGRAPHY_VERSION" \
    "pypi-attestations==$PYPI_ATTESTATIONS_VERSION" \
    || die "could not install cryptography/pypi-attestations from PyPI"

log "installing kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
"$venv_python" -m pip install --no-cache-dir --quiet "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" \
    || die "could not install kubernetes-validate from PyPI"

# Sanity check: every client runs.
"$venv_dir/bin/pip" --version >/dev/null || die "pip does not run"
"$venv_dir/bin/twine" --version >/dev/null || die "twine does not run"
"$venv_dir/bin/uv" --version >/dev/null || die "uv does not run"
"$venv_dir/bin/poetry" --version >/dev/null || die "poetry does not run"
"$venv_python" -c 'import cryptography, pypi_attestations' || die "pypi-attestations does not import"
"$venv_dir/bin/kubernetes-validate" --version >/dev/null || die "kubernetes-validate does not run"

printf '%s\n' "$wanted" > "$marker"
log "ready: $venv_dir ($wanted)"
