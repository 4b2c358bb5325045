#!/usr/bin/env bash
# Set up gridgis on a fresh Debian 12 / Ubuntu machine (root, or a user with sudo):
# system packages, the virtualenv, the package, and the embedded PostGIS cluster.
# With --serve it then migrates, loads the Zhangzhou demo and serves the API on 127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."

SERVE=0
for arg in "$@"; do
  case "$arg" in
    --serve) SERVE=1 ;;
    *) echo "usage: bash scripts/setup.sh [--serve]" >&2; exit 2 ;;
  esac
done

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# -- system packages -----------------------------------------------------------------------------
# chromium renders the offline maps and runs the console's browser tests (driven by Playwright,
# which never downloads a browser of its own here); fonts-noto-cjk lets it draw Chinese names;
# npm fetches the pinned Leaflet packages. postgresql-pgrouting lets pgRouting run on stored road
# networks (optional for gridgis itself; its tests compare it with the in-process engine).
APT_PACKAGES=(postgresql postgis postgresql-postgis postgresql-pgrouting python3-venv chromium fonts-noto-cjk)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# npm may come from elsewhere than Debian (e.g. a NodeSource nodejs); only add it when absent.
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing system packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts a system-wide cluster on install; gridgis runs its own private one instead,
# so that one may stay as it is.

# -- Python --------------------------------------------------------------------------------------
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), sys.version' \
  || { echo "gridgis needs Python >= 3.11 (found $("$PYTHON" --version 2>&1))" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.gridgis-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "==> installing gridgis and its dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test,dev]'
  echo "$want" > "$stamp"
fi

# Offline maps inline Leaflet: fetch the pinned npm packages once (never committed).
.venv/bin/gridgis map assets

# -- database ------------------------------------------------------------------------------------
if [ -z "${GRIDGIS_DATABASE_URL:-}" ]; then
  echo "==> starting the embedded PostGIS cluster (.gridgis/)"
fi
.venv/bin/gridgis db start
.venv/bin/gridgis db migrate

if [ "$SERVE" -eq 1 ]; then
  echo "==> loading the Zhangzhou demo and serving the API"
  exec .venv/bin/gridgis up --host 127.0.0.1 --port 8000
fi
