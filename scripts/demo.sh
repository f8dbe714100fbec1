#!/usr/bin/env bash
# The main job: set up this machine (scripts/setup.sh), then run `tribes demo`: two real Tomcat 10.1
# nodes and a Python node in network namespaces (lab "demo", 10.77.200.0/24; nothing leaves them),
# sessions made over HTTP, a Tomcat node killed with -9, the sessions still there; then the web part:
# Apache httpd in front (sticky by jvmRoute), the Python web app on /app/py, and a headless Chromium
# that logs in on Tomcat, fills a cart on Tomcat and Python pages, survives a kill -9 of its node and
# logs out, with screenshots written to files (--screenshots DIR, --no-web to skip). Without root or
# Tomcat it says what to install and runs a Python-only cluster on loopback instead.
# Options go to `tribes demo` (--json, --mode auto|tomcat|python, --keep). Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# from the checkout: the Tomcat mode uses the repository's interop/ package (namespace lab, Tomcat launcher)
exec python3 -m tribes.cli.main demo "$@"
