#!/usr/bin/env bash
# Publishes with `uv publish --index private`, the index named in pyproject.toml.
#
#   INDEX_URL=https://pypi.example.com/ghcr.io/my-org/ USERNAME=... PASSWORD=... ./run.sh
#
# INDEX_URL    the index: https://<oci-pypi host>/<registry>/<namespace>/
# USERNAME     registry username (default __token__)
# PASSWORD     registry password or token allowed to push (or TOKEN)
# DIST_DIR     files to publish; without it the project is built first with `uv build`
# PROJECT_DIR  where to put the project copy (default: a new temporary directory)
#
# To try the example against your server, this script copies the project next to it and writes
# INDEX_URL into the copy's pyproject.toml. In your own project, the URL is written there once.
set -euo pipefail

: "${INDEX_URL:?set INDEX_URL to the index, e.g. https://pypi.example.com/ghcr.io/my-org/}"
password="${PASSWORD:-${TOKEN:?set PASSWORD (or TOKEN) to a registry credential allowed to push}}"
username="${USERNAME:-__token__}"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
project="${PROJECT_DIR:-$(mktemp -d)}"
mkdir -p "$project"
cp -R "$here/pyproject.toml" "$here/src" "$project/"
sed -i.orig "s#https://pypi.example.com/ghcr.io/my-org/#${INDEX_URL}#g" "$project/pyproject.toml"
rm -f "$project/pyproject.toml.orig"
cd "$project"

if [[ -n "${DIST_DIR:-}" ]]; then
    dist_dir="$DIST_DIR"
else
    uv build
    dist_dir=dist
fi

# Credentials of the index named `private`: uv uses them to upload and to check, before each
# upload, whether the file is already there (the index `url` is the check URL).
export UV_INDEX_PRIVATE_USERNAME="$username"
export UV_INDEX_PRIVATE_PASSWORD="$password"
uv publish --index private --trusted-publishing never "$dist_dir"/*
