"""``tribes join``: run a full cluster member (membership, receiver, ACKs, default interceptors).

No configuration file needed: Tomcat's default cluster (McastService, NioReceiver with autoBind,
PooledParallelSender, MessageDispatchInterceptor + TcpFailureDetector), or the ``<Cluster>`` of a
server.xml (``--config``), made by the one assembler (``tribes.config.build``). It prints one line
per membership event and per received message (sender, options, size; ``--json``: one JSON object
per line), and a summary with the message count and rate when it stops (``--duration`` or Ctrl-C).
"""
from __future__ import annotations

import asyncio
import logging

import click

from tribes.cli.common import NetworkOptions, network_options
from tribes.cli.cloud import check_flags, cloud_options  # issue 16: --membership dns|kubernetes
from tribes.cli.node import config_options, explicit_flags
from tribes.cli.observe import ObserveOptions, observe_options  # issue 18: --metrics, --http

log = logging.getLogger("tribes.cli.join")


JOIN_EXAMPLES = """\b
Examples:
  tribes join --bind 10.0.0.5 --duration 60            # stock channel, event lines / live view
  tribes join --config server.xml --bind 10.0.0.5 --jvm-route py1 --context /app
  tribes join --config server.xml -D cluster.port=4001 --receiver-port 4100 --json
  tribes join --bind 10.0.0.5 --membership dns --dns-name tomcat.shop.svc.cluster.local --receiver-port 4000

\b
With --config the node is configured from the server.xml's <Cluster> (a DeltaManager there makes it a
session-replicating member); --bind, --receiver-port, --jvm-route (and the other network flags given)
override the file. On a terminal it shows a live view (members, sessions per context, msgs/s);
piped or with --json it prints event lines. Exit status: 0 stopped by --duration or SIGTERM,
130 Ctrl-C, 3 bad configuration, 4 could not bind or join.
"""


@click.command("join", epilog=JOIN_EXAMPLES)
@network_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--frequency", type=click.IntRange(min=1), default=500, show_default=True,
              help="Membership heartbeat period (ms).")
@click.option("--drop-time", type=click.IntRange(min=1), default=3000, show_default=True,
              help="Members silent this long (ms) are dropped.")
@config_options  # --config, -D, --jvm-route (tribes/cli/node.py)
@click.option("--context", "contexts", multiple=True, metavar="PATH",
              help="With a DeltaManager: fetch this context's sessions at start (/app; others are followed as heard).")
@click.option("--live/--no-live", default=None, help="Live view (default: when stdout is a terminal and not --json).")
@cloud_options
@observe_options
def join(net: NetworkOptions, as_json: bool, frequency: int, drop_time: int, config_path: str | None = None,
         properties: tuple[str, ...] = (), jvm_route: str | None = None, contexts: tuple[str, ...] = (),
         live: bool | None = None, membership: str | None = None, dns_name: str | None = None,
         observe: ObserveOptions | None = None) -> None:
    """Join a Tribes cluster as a full member and print membership events and received messages."""
    check_flags(membership, dns_name)
    from tribes.cli.liveview import live_wanted, run_join  # the node, event lines or the live view
    raise SystemExit(asyncio.run(run_join(
        net, as_json=as_json, live=live_wanted(live, as_json), frequency=frequency, drop_time=drop_time,
        config_path=config_path, properties=properties, jvm_route=jvm_route, contexts=contexts,
        explicit=explicit_flags(), membership=membership, dns_name=dns_name, observe=observe)))
