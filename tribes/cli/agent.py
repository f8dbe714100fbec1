"""``tribes agent``: the one cluster member of a host, serving sessions to web workers.

    tribes agent --config server.xml --socket /run/tribes/agent.sock [--context /app]
    tribes agent --bind 10.0.0.5 --jvm-route py1 --context /app --socket /run/tribes/agent.sock

Gunicorn/uvicorn workers reach it through tribes.web (TRIBES_AGENT_SOCKET); however many workers
run, the host counts as one member, and restarting workers changes nothing in the cluster.
The socket appears once the member has joined and received the sessions (state transfer).
Exit status: 0 on SIGTERM/SIGINT or --duration, 3 bad configuration, 4 could not join or serve.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import click

from tribes.cli.common import (EXIT_CONFIG, EXIT_NETWORK, EXIT_OK, NetworkOptions, StopSignal, emit_json,
                               network_options)
from tribes.cli.node import NodeError, build_node, config_options, explicit_flags, load_node_config
from tribes.cli.observe import ObserveOptions, observe_options  # issue 18: --metrics, --http

log = logging.getLogger("tribes.cli.agent")

AGENT_EXAMPLES = """\b
Examples:
  tribes agent --config conf/server.xml --socket /run/tribes/agent.sock --context /app
  tribes agent --bind 10.77.15.60 --jvm-route py1 --context /app --socket /tmp/tribes.sock --socket-mode 600
"""


async def _run(net: NetworkOptions, config_path: str | None, properties: tuple[str, ...], jvm_route: str | None,
               contexts: tuple[str, ...], socket_path: str, socket_mode: int, socket_group: str | None,
               max_write: int, tomcat_version: str | None, explicit: set[str],
               observe: ObserveOptions | None = None, as_json: bool = False) -> int:
    from tribes.web.agent import AgentServer, SocketInUse
    from tribes.web.service import SessionService

    observing = None
    if observe is not None and observe.wanted:
        from tribes.cli.observe import Observing
        observing = Observing(observe, "agent")
    try:
        cfg = load_node_config(net, config_path, properties, jvm_route, explicit=explicit)
        _channel, cluster = build_node(cfg, sessions=True, contexts=contexts or ("/app",),
                                       top=observing.interceptors if observing is not None else ())
    except NodeError as exc:
        click.echo(f"tribes agent: {exc}", err=True)
        return exc.exit_code
    if cluster is None:
        click.echo("tribes agent: the configuration has no session manager (<Manager className=...DeltaManager> "
                   "or ...BackupManager)",
                   err=True)
        return EXIT_CONFIG
    if tomcat_version:
        cluster.tomcat_version = tomcat_version
        for dm in cluster.managers.values():
            dm.tomcat_version = tomcat_version
        for bm in cluster.backup_managers.values():
            bm.tomcat_version = tomcat_version
    if observing is not None:
        observing.attach(_channel, cluster)
    try:
        await cluster.start()
    except Exception as exc:  # noqa: BLE001
        click.echo(f"tribes agent: could not join the cluster: {type(exc).__name__}: {exc}", err=True)
        return EXIT_NETWORK
    if observing is not None:
        try:
            await observing.start()
        except OSError as exc:
            click.echo(f"tribes agent: {exc}", err=True)
            await cluster.stop()
            return EXIT_NETWORK
    transfers = {n: dm.state_transfer_result for n, dm in cluster.managers.items()}
    transfers.update((n, f"map {bm.map.state}" if bm.map is not None else "map not started")
                     for n, bm in cluster.backup_managers.items())
    log.info("joined as %s (jvmRoute %s); session state: %s", cluster.channel.local_member, cluster.jvm_route,
             transfers)
    service = SessionService(cluster, max_write=max_write)
    server = AgentServer(service, socket_path, mode=socket_mode, group=socket_group)
    try:
        await server.start()
    except (SocketInUse, OSError, KeyError) as exc:
        click.echo(f"tribes agent: cannot serve {socket_path}: {exc}", err=True)
        await cluster.stop()
        return EXIT_NETWORK
    stop = StopSignal(net.duration)
    if as_json:
        emit_json("ready", socket=socket_path, jvm_route=cluster.jvm_route,
                  members=[str(m) for m in cluster.channel.members()], state_transfer=transfers)
    else:
        click.echo(f"tribes agent: ready on {socket_path} (jvmRoute {cluster.jvm_route}, "
                   f"{len(cluster.channel.members())} other members)", err=True)
    await stop.wait()
    log.info("stopping: closing %s and leaving the cluster", socket_path)
    await server.stop()
    if observing is not None:
        await observing.stop()
    await cluster.stop()
    if as_json:
        emit_json("stopped", socket=socket_path, requests=service.requests, refused=server.refused)
    return EXIT_OK


@click.command("agent", epilog=AGENT_EXAMPLES)
@network_options
@config_options  # --config, -D, --jvm-route
@click.option("--context", "contexts", multiple=True, metavar="PATH",
              help="Context whose sessions the workers use (/app; repeatable). Default /app.")
@click.option("--socket", "socket_path", default=None, metavar="PATH",
              help="Unix socket for the workers (default $TRIBES_AGENT_SOCKET or /run/tribes/agent.sock).")
@click.option("--socket-mode", default="660", show_default=True, metavar="OCTAL",
              help="File mode of the socket: who may connect (600: this user only; 660: and --socket-group).")
@click.option("--socket-group", default=None, metavar="GROUP", help="Group of the socket file (the workers' group).")
@click.option("--max-write-bytes", "max_write", type=click.IntRange(min=1), default=1024 * 1024, show_default=True,
              help="Largest session write of one request; larger ones are refused, the session unchanged.")
@click.option("--tomcat-version", type=click.Choice(["9.0", "10.1"]), default=None,
              help="Layout of the principals/session streams written (default 10.1).")
@click.option("--json", "as_json", is_flag=True, help="Print ready/stopped as JSON lines on stdout.")
@observe_options
def agent(net: NetworkOptions, config_path: str | None = None, properties: tuple[str, ...] = (),
          jvm_route: str | None = None, contexts: tuple[str, ...] = (), socket_path: str | None = None,
          socket_mode: str = "660", socket_group: str | None = None, max_write: int = 1024 * 1024,
          tomcat_version: str | None = None, observe: ObserveOptions | None = None, as_json: bool = False) -> None:
    """Run the host's cluster member and serve its sessions to web workers over a Unix socket."""
    from tribes.web.client import default_socket
    try:
        mode = int(socket_mode, 8)
    except ValueError:
        raise click.BadParameter(f"{socket_mode!r}: give an octal mode such as 660", param_hint="--socket-mode")
    if mode & 0o007:
        raise click.BadParameter("the socket must not be open to other users (no o+rwx bits)",
                                 param_hint="--socket-mode")
    kw: dict[str, Any] = dict(socket_path=socket_path or default_socket(), socket_mode=mode,
                              socket_group=socket_group, max_write=max_write, tomcat_version=tomcat_version,
                              observe=observe, as_json=as_json)
    raise SystemExit(asyncio.run(_run(net, config_path, properties, jvm_route, contexts, explicit=explicit_flags(),
                                      **kw)))
