#!/usr/bin/env bash
# Installs PACKAGE with pip from a public index plus the private one (--extra-index-url).
# Read README.md first: pip merges the two indexes, which is what dependency confusion exploits.
#
#   INDEX_URL=https://pypi.example.com/ghcr.io/my-org/ USERNAME=... PASSWORD=... ./run.sh
#
# INDEX_URL         the private index: https://<oci-pypi host>/<registry>/<namespace>/
# USERNAME          registry username (default __token__)
# PASSWORD          registry password or token allowed to pull (or TOKEN)
# PUBLIC_INDEX_URL  the main index (default https://pypi.org/simple/)
# PACKAGE           what to install (default acme-greeting)
# VENV              the virtualenv to create or reuse (default .venv)
set -euo pipefail

: "${INDEX_URL:?set INDEX_URL to the index, e.g. https://pypi.example.com/ghcr.io/my-org/}"
password="${PASSWORD:-${TOKEN:?set PASSWORD (or TOKEN) to a registry credential allowed to pull}}"
username="${USERNAME:-__token__}"
public_index_url="${PUBLIC_INDEX_URL:-https://pypi.org/simple/}"
package="${PACKAGE:-acme-greeting}"
venv="${VENV:-.venv}"

quote() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
private_url="${INDEX_URL%%://*}://$(quote "$username"):$(quote "$password")@${INDEX_URL#*://}"

[[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
PIP_INDEX_URL="$public_index_url" PIP_EXTRA_INDEX_URL="$private_url" \
    "$venv/bin/python" -m pip install "$package"
