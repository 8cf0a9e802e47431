#!/usr/bin/env bash
# Publishes with `poetry publish --repository private`.
#
#   INDEX_URL=https://pypi.example.com/ghcr.io/my-org/ USERNAME=... PASSWORD=... ./run.sh
#
# INDEX_URL    the index: https://<oci-pypi host>/<registry>/<namespace>/
# USERNAME     registry username (default __token__)
# PASSWORD     registry password or token allowed to push (or TOKEN)
# DIST_DIR     files to publish (named after the project's name and version); without it the
#              project is built first (`poetry publish --build`)
# PROJECT_DIR  where to put the project copy (default: a new temporary directory)
#
# `poetry config` writes to poetry's user configuration (POETRY_CONFIG_DIR), as it would for you.
set -euo pipefail

: "${INDEX_URL:?set INDEX_URL to the index, e.g. https://pypi.example.com/ghcr.io/my-org/}"
password="${PASSWORD:-${TOKEN:?set PASSWORD (or TOKEN) to a registry credential allowed to push}}"
username="${USERNAME:-__token__}"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
project="${PROJECT_DIR:-$(mktemp -d)}"
mkdir -p "$project"
cp -R "$here/pyproject.toml" "$here/src" "$project/"
cd "$project"

# The private index as an explicit source, for private dependencies (this updates the URL of
# the source `private` already declared in pyproject.toml).
poetry source add --priority=explicit private "$INDEX_URL"
# ... and as the repository to publish to: oci-pypi takes uploads at the index URL itself.
poetry config repositories.private "$INDEX_URL"
# One set of credentials for both (the registry's; see docs/registries/).
poetry config http-basic.private "$username" "$password"

if [[ -n "${DIST_DIR:-}" ]]; then
    poetry publish --no-interaction --repository private --dist-dir "$DIST_DIR"
else
    poetry publish --no-interaction --repository private --build
fi
