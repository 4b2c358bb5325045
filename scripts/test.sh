#!/usr/bin/env bash
# Run the whole test suite against a real PostGIS (sets everything up first when needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
