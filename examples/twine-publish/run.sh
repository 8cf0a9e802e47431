#!/usr/bin/env bash
# Publishes every wheel and sdist in DIST_DIR with twine, through oci-pypi.
#
#   INDEX_URL=https://pypi.example.com/ghcr.io/my-org/ TOKEN=... ./run.sh
#
# INDEX_URL  the index: https://<oci-pypi host>/<registry>/<namespace>/ (it is also the upload URL)
# TOKEN      a registry token allowed to push (or PASSWORD, with USERNAME)
# USERNAME   defaults to __token__; some registries want a real user name (see docs/registries/)
# DIST_DIR   where the files are (default: dist)
set -euo pipefail

: "${INDEX_URL:?set INDEX_URL to the index, e.g. https://pypi.example.com/ghcr.io/my-org/}"
password="${PASSWORD:-${TOKEN:?set TOKEN (or PASSWORD) to a registry credential allowed to push}}"
username="${USERNAME:-__token__}"
dist_dir="${DIST_DIR:-dist}"

# twine reads the password from TWINE_PASSWORD, so it never shows in the process list.
TWINE_USERNAME="$username" TWINE_PASSWORD="$password" \
    twine upload --non-interactive --repository-url "$INDEX_URL" "$dist_dir"/*
