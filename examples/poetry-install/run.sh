#!/usr/bin/env bash
# Locks and installs a project whose private dependency comes from an explicit poetry source.
#
#   INDEX_URL=https://pypi.example.com/ghcr.io/my-org/ USERNAME=... PASSWORD=... ./run.sh
#
# INDEX_URL    the index: https://<oci-pypi host>/<registry>/<namespace>/
# USERNAME     registry username (default __token__)
# PASSWORD     registry password or token allowed to pull (or TOKEN)
# PROJECT_DIR  where to put the project copy (default: a new temporary directory)
#
# `poetry config` writes to poetry's user configuration (POETRY_CONFIG_DIR), as it would for you.
set -euo pipefail

: "${INDEX_URL:?set INDEX_URL to the index, e.g. https://pypi.example.com/ghcr.io/my-org/}"
password="${PASSWORD:-${TOKEN:?set PASSWORD (or TOKEN) to a registry credential allowed to pull}}"
username="${USERNAME:-__token__}"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
project="${PROJECT_DIR:-$(mktemp -d)}"
mkdir -p "$project"
cp "$here/pyproject.toml" "$project/"
cd "$project"

# Points the source `private` at INDEX_URL (it exists in pyproject.toml: this updates it).
poetry source add --priority=explicit private "$INDEX_URL"
poetry config http-basic.private "$username" "$password"
# The virtualenv in the project (.venv), as `poetry config virtualenvs.in-project true` would.
poetry config --local virtualenvs.in-project true

poetry lock --no-interaction       # writes poetry.lock: names and hashes, never credentials
poetry install --no-interaction    # creates .venv and installs the locked versions
poetry run python -c 'import acme_greeting; print("acme-greeting", acme_greeting.__version__)'
