#!/usr/bin/env bash
# Regenerate the hash-checked lock files from pyproject.toml (needs uv).
# requirements.lock: the app (with the PostgreSQL driver); requirements-dev.lock: the app plus tests;
# bench/requirements.lock: the benchmark's peers (smolagents).
set -euo pipefail
cd "$(dirname "$0")"
common=(--python-version 3.11 --generate-hashes --no-header)
uv pip compile pyproject.toml --extra setup --extra postgres "${common[@]}" -o requirements.lock
uv pip compile pyproject.toml --extra setup --extra dev "${common[@]}" -o requirements-dev.lock
# The benchmark's peer (smolagents), constrained to the dev lock so it changes nothing envloop uses.
echo "smolagents==1.26.0" | uv pip compile - -c requirements-dev.lock "${common[@]}" -o bench/requirements.lock
