#!/usr/bin/env bash
# Locks and installs a project whose private dependency is pinned to an explicit uv index.
#
#   INDEX_URL=https://pypi.example.com/ghcr.io/my-org/ USERNAME=... PASSWORD=... ./run.sh
#
# INDEX_URL    the index: https://<oci-pypi host>/<registry>/<namespace>/
# USERNAME     registry username (default __token__)
# PASSWORD     registry password or token allowed to pull (or TOKEN)
# PROJECT_DIR  where to put the project copy (default: a new temporary directory)
#
# To try the example against your server, this script copies pyproject.toml and writes
# INDEX_URL into the copy. In your own project, the URL is written there once.
set -euo pipefail

: "${INDEX_URL:?set INDEX_URL to the index, e.g. https://pypi.example.com/ghcr.io/my-org/}"
password="${PASSWORD:-${TOKEN:?set PASSWORD (or TOKEN) to a registry credential allowed to pull}}"
username="${USERNAME:-__token__}"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
project="${PROJECT_DIR:-$(mktemp -d)}"
mkdir -p "$project"
cp "$here/pyproject.toml" "$project/"
sed -i.orig "s#https://pypi.example.com/ghcr.io/my-org/#${INDEX_URL}#g" "$project/pyproject.toml"
rm -f "$project/pyproject.toml.orig"
cd "$project"

export UV_INDEX_PRIVATE_USERNAME="$username"
export UV_INDEX_PRIVATE_PASSWORD="$password"
uv lock      # writes uv.lock: file URLs and hashes, never credentials
uv sync      # creates .venv and installs the locked versions
uv run python -c 'import acme_greeting; print("acme-greeting", acme_greeting.__version__)'
