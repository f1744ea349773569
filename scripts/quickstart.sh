#!/usr/bin/env bash
# Set everything up and run the quickstart on the embedded default store (local files).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh" ""
cd "$ROOT"
exec python examples/quickstart.py "$@"
