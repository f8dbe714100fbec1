#!/usr/bin/env bash
# Installs everything tribes and its test bed need on a fresh Debian machine (run as root):
# Debian packages for the real-Tomcat bed, then the package itself (editable) with test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(tomcat10-common libtomcat9-java tcpdump curl iproute2 tshark)
# the web lab (issue 13): httpd, the browser and Redis are run by hand inside lab namespaces, never as services
APT_PACKAGES+=(apache2-bin chromium chromium-driver redis-server)
# cloud membership (issue 16): dnsmasq-base (no service; the lab runs dnsmasq by hand in its hub namespace)
APT_PACKAGES+=(dnsmasq-base)
# network faults in the lab (issue 19): nft loss/duplication/partition rules inside lab namespaces only
APT_PACKAGES+=(nftables)
# bench/bench_channel.py: the TCP limit between two lab namespaces (iperf3 -s runs by hand in a namespace, never as a service)
APT_PACKAGES+=(iperf3)
need_apt=0
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || need_apt=1
done
command -v javac >/dev/null 2>&1 || { APT_PACKAGES+=(openjdk-17-jdk-headless); need_apt=1; }
if [ "$need_apt" = 1 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages: ${APT_PACKAGES[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # never the `tomcat10` package: it brings a system service on port 8080
    # policy-rc.d 101 = no service may start on install (redis-server would listen on the machine)
    policy_rc=/usr/sbin/policy-rc.d; own_policy=0
    if [ ! -e "$policy_rc" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy_rc"; chmod 755 "$policy_rc"; own_policy=1; fi
    apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
    if [ "$own_policy" = 1 ]; then rm -f "$policy_rc"; fi
  else
    echo "setup: not root, skipping Debian packages (interop tests will be skipped)" >&2
  fi
fi

python3 -m pip install -q --upgrade pip >/dev/null 2>&1 || true
# setup.py build_ext by hand needs the setuptools that reads pyproject's SPDX license (pip builds isolated)
python3 -m pip install -q --upgrade "setuptools>=77" >/dev/null 2>&1 || true
python3 -m pip install -q -e ".[test]"
python3 -c "import tribes.fastpath as f; print('setup: fast path', 'enabled (Cython)' if f.ENABLED else 'DISABLED (pure Python)')" 2>/dev/null || true
