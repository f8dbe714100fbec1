"""Bring up a real Tomcat cluster in a lab by hand; everything is torn down on Enter / Ctrl-C / EOF.

    sudo python3 -m interop.tomcat up 2 [--version 10|9] [--lab tbh] [--subnet 10.77.10] [--heap 256m]
                                        [--send-options 8] [--mcast-port 45564] [--fine] [--keep-bases]
    sudo python3 -m interop.tomcat cleanup [--lab tbh]     # leftovers of a killed session

While it runs: `ip netns exec <lab>-hub curl http://<subnet>.1:8080/app/ping`, logs under the
printed CATALINA_BASE directories.
"""
from __future__ import annotations

import argparse
import logging
import sys

from interop.lab import Lab, cleanup_stale
from interop.tomcat.node import ClusterConfig, TomcatCluster


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m interop.tomcat")
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start N nodes and wait")
    up.add_argument("n", type=int)
    up.add_argument("--version", default="10", choices=["10", "9"])
    up.add_argument("--lab", default="tbh")
    up.add_argument("--subnet", default="10.77.10")
    up.add_argument("--heap", default="256m")
    up.add_argument("--send-options", default="8")
    up.add_argument("--mcast-port", type=int, default=45564)
    up.add_argument("--fine", action="store_true", help="org.apache.catalina.ha and tribes at FINE")
    up.add_argument("--keep-bases", action="store_true")
    cl = sub.add_parser("cleanup", help="remove a lab left by a killed run")
    cl.add_argument("--lab", default="tbh")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.cmd == "cleanup":
        print("\n".join(cleanup_stale(args.lab)) or "nothing to clean")
        return 0
    with Lab(args.lab, args.subnet) as lab:
        cfg = ClusterConfig(channel_send_options=args.send_options, mcast_port=args.mcast_port)
        cluster = TomcatCluster(lab, version=args.version, heap=args.heap, cluster=cfg,
                                fine_logging=args.fine, keep_bases=args.keep_bases)
        try:
            cluster.start(args.n)
            for n in cluster.nodes:
                print(f"{n.jvm_route}: {n.url}/app/  ns={n.host.ns}  base={n.base}  "
                      f"ready in {n.ready_after:.1f} s")
            print(f"clients: ip netns exec {lab.hub} curl -s {cluster.nodes[0].url}/app/ping")
            print("press Enter (or Ctrl-C) to stop everything")
            try:
                sys.stdin.readline()
            except KeyboardInterrupt:
                pass
        finally:
            cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
