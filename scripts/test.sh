#!/usr/bin/env bash
# Sets up (Debian packages + pip) and runs the default test tier: unit, property, integration and
# interop tests against real Tomcat 10.1 / 9.0. The `slow` tier: scripts/test.sh -m slow
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "$#" -eq 0 ]; then
  set -- -m "not slow"
fi
exec python3 -m pytest -p no:cacheprovider --timeout=900 "$@"
