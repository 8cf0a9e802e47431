#!/usr/bin/env bash
# Installs PACKAGE from the private index alone (--index-url), with pip, into a virtualenv.
#
#   INDEX_URL=https://pypi.example.com/ghcr.io/my-org/ USERNAME=... PASSWORD=... ./run.sh
#
# INDEX_URL  the index: https://<oci-pypi host>/<registry>/<namespace>/
# USERNAME   registry username (default __token__)
# PASSWORD   registry password or token allowed to pull (or TOKEN)
# PACKAGE    what to install (default acme-greeting); any pip requirement
# VENV       the virtualenv to create or reuse (default .venv)
set -euo pipefail

: "${INDEX_URL:?set INDEX_URL to the index, e.g. https://pypi.example.com/ghcr.io/my-org/}"
password="${PASSWORD:-${TOKEN:?set PASSWORD (or TOKEN) to a registry credential allowed to pull}}"
username="${USERNAME:-__token__}"
package="${PACKAGE:-acme-greeting}"
venv="${VENV:-.venv}"

# Credentials go into the URL, percent-encoded: https://USER:PASSWORD@host/...
quote() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
index_url="${INDEX_URL%%://*}://$(quote "$username"):$(quote "$password")@${INDEX_URL#*://}"

[[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
# PIP_INDEX_URL rather than --index-url keeps the credentials out of the process list; the
# effect is the same.
PIP_INDEX_URL="$index_url" "$venv/bin/python" -m pip install "$package"
