#!/usr/bin/env bash
# Set everything up and run the whole test suite. The tests start their own redis-server
# and MongoDB-wire server (SecantusDB) on free loopback ports; nothing else is touched.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh" "test"
command -v redis-server >/dev/null 2>&1 || as_root_apt redis-server
command -v git >/dev/null 2>&1 || as_root_apt git
[ -x "${XPTRACK_CHROMIUM:-/usr/bin/chromium}" ] || as_root_apt chromium  # the dashboard's browser tests
cd "$ROOT"
exec python -m pytest tests "$@"
