#!/usr/bin/env bash
# Sourced by quickstart.sh and test.sh: a virtualenv in .venv with xptrack installed.
# Usage: source scripts/setup.sh EXTRAS   (EXTRAS: "" for the library, "test" for the suite)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${XPTRACK_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
EXTRAS="${1:-}"

as_root_apt() {  # install Debian packages when we can, else say exactly what is missing
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "xptrack setup: installing $* with apt-get" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "xptrack setup: missing system packages; install them with: sudo apt-get install $*" >&2
    exit 1
  fi
}

command -v "$PYTHON" >/dev/null 2>&1 || as_root_apt python3
"$PYTHON" - <<'PY' || { echo "xptrack needs Python >= 3.10 (set PYTHON=python3.11)" >&2; exit 1; }
import sys; sys.exit(sys.version_info < (3, 10))
PY

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV" 2>/dev/null || {
    rm -rf "$VENV"
    as_root_apt "python3-venv"
    "$PYTHON" -m venv "$VENV"
  }
fi

spec="."; [ -n "$EXTRAS" ] && spec=".[$EXTRAS]"
stamp="$VENV/.xptrack-installed-$(echo "$EXTRAS" | tr -c 'a-z' '_')"
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
  echo "xptrack setup: installing xptrack$([ -n "$EXTRAS" ] && echo "[$EXTRAS]") into $VENV" >&2
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  (cd "$ROOT" && "$VENV/bin/python" -m pip install -q -e "$spec" 2>&1 | grep -v "^WARNING: Location" >&2 || true)
  "$VENV/bin/python" -c "import xptrack" || { echo "xptrack setup: install failed" >&2; exit 1; }
  touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
