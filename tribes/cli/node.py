"""A cluster node for the commands that need one (``join --config``, ``send``, ``bench``).

The node's channel comes from a Tomcat ``server.xml`` (``--config``) or, without one, from Tomcat's
default cluster (``<Cluster className="...SimpleTcpCluster"/>``) configured by the network flags.
With ``--config`` the network flags given **on the command line** override the file (``--bind``,
``--receiver-port``, ``--mcast-address``, ``--mcast-port``, ``--domain``, ``--jvm-route``); flags
left at their defaults do not.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import TYPE_CHECKING, Any, Callable, Sequence, TypeVar

import click
from click.core import ParameterSource

from tribes.cli.common import NetworkOptions
from tribes.io.member import Member

if TYPE_CHECKING:  # pragma: no cover
    from tribes.channel import ChannelInterceptor
    from tribes.group.channel import GroupChannel
    from tribes.managers.cluster import SimpleTcpCluster

log = logging.getLogger("tribes.cli.node")

F = TypeVar("F", bound=Callable[..., Any])

# click parameter name -> ClusterConfig.with_overrides keyword
_NET_OVERRIDES = {"bind": "bind", "receiver_port": "receiver_port", "mcast_address": "mcast_address",
                  "mcast_port": "mcast_port", "domain": "domain"}


class NodeError(Exception):
    """The node cannot be configured or started; ``exit_code`` follows docs/cli.md."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def config_options(func: F) -> F:
    """``--config server.xml``, ``-D NAME=VALUE`` and ``--jvm-route``."""
    opts = [
        click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None, metavar="SERVER_XML",
                     help="Configure the node from the <Cluster> of a Tomcat server.xml; the network flags given "
                          "on the command line override the file."),
        click.option("-D", "--property", "properties", multiple=True, metavar="NAME=VALUE",
                     help="Value for ${NAME} in the server.xml (Tomcat: -DNAME=VALUE). Repeatable."),
        click.option("--jvm-route", default=None, metavar="ROUTE",
                     help="This node's jvmRoute (overrides the Engine's jvmRoute of the file)."),
    ]
    for o in reversed(opts):
        func = o(func)
    return func


def parse_properties(values: Sequence[str]) -> dict[str, str]:
    props: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r}: use NAME=VALUE", param_hint="-D/--property")
        props[name] = value
    return props


def explicit_flags(ctx: click.Context | None = None) -> set[str]:
    """Names of the parameters given on the command line (or in the environment), not defaulted."""
    ctx = ctx or click.get_current_context(silent=True)
    if ctx is None:
        return set()
    given = set()
    for name in ctx.params:
        src = ctx.get_parameter_source(name)
        if src in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
            given.add(name)
    return given


def load_node_config(net: NetworkOptions, config_path: str | None = None, properties: Sequence[str] = (),
                     jvm_route: str | None = None, *, explicit: set[str] | None = None,
                     frequency: int | None = None, drop_time: int | None = None,
                     membership: str | None = None, dns_name: str | None = None) -> Any:
    """The node's :class:`tribes.config.ClusterConfig` (raises :class:`NodeError`, exit code 3)."""
    from tribes.cli.common import EXIT_CONFIG
    from tribes.config import ClusterConfig, ConfigError, load
    from tribes.membership.mcast import McastConfigError, resolve_bind

    if explicit is None:
        explicit = explicit_flags()
    props = parse_properties(properties)
    bind = None
    if net.bind:
        try:
            bind = resolve_bind(net.bind)[0]
        except (McastConfigError, ValueError, OSError) as exc:
            raise NodeError(f"--bind {net.bind}: {exc}", EXIT_CONFIG) from exc
    values: dict[str, Any] = {"bind": bind, "receiver_port": net.receiver_port, "mcast_address": net.mcast_address,
              "mcast_port": net.mcast_port, "domain": net.domain or None}
    if config_path is not None and not os.path.isfile(config_path):
        raise NodeError(f"--config {config_path}: no such file", EXIT_CONFIG)
    try:
        if config_path is None:
            cfg = ClusterConfig.default()
            overrides = {k: v for k, v in values.items() if v is not None}
        else:
            cfg = load(config_path, properties=props)
            overrides = {k: v for k, v in values.items() if v is not None and k in explicit}
            if bind is not None:
                overrides["bind"] = bind
        cfg = cfg.with_overrides(jvm_route=jvm_route, **overrides)
        if membership not in (None, "multicast"):  # --membership dns|kubernetes (issue 16)
            from tribes.cli.cloud import use_cloud_membership
            cfg = use_cloud_membership(cfg, membership, dns_name)
        mem = cfg.channel.membership
        if mem.short_name == "McastService":
            if frequency is not None and (config_path is None or "frequency" in explicit):
                mem.set("frequency", frequency)
            if drop_time is not None and (config_path is None or "drop_time" in explicit):
                mem.set("dropTime", drop_time)
        cfg.validate()
    except FileNotFoundError as exc:
        raise NodeError(f"--config {config_path}: no such file", EXIT_CONFIG) from exc
    except ConfigError as exc:
        hint = f"\n(check it with: tribes config check {config_path})" if config_path else ""
        raise NodeError(f"{exc}{hint}", EXIT_CONFIG) from exc
    return cfg


def build_node(cfg: Any, *, sessions: bool = False, contexts: Sequence[str] = (),
               top: Sequence[ChannelInterceptor] = (), cluster_factory: Callable[..., Any] | None = None
               ) -> tuple[GroupChannel, Any]:
    """(channel, cluster): the node of ``cfg`` made by the one assembler (``tribes.config.build.build_node``),
    not started; the cluster (with ``sessions`` and a session manager configured) follows every context
    it hears of, plus ``contexts``. ``top``: interceptors above the configured ones. Errors are
    :class:`NodeError` with exit code 3."""
    from tribes.cli.common import EXIT_CONFIG
    from tribes.config import ConfigError
    from tribes.config.build import build_node as assemble

    try:
        node = assemble(cfg, sessions=sessions, contexts=contexts, top=top, cluster_factory=cluster_factory)
    except ConfigError as exc:
        raise NodeError(str(exc), EXIT_CONFIG) from exc
    except NotImplementedError as exc:
        raise NodeError(f"this configuration cannot run here: {exc}", EXIT_CONFIG) from exc
    return node.channel, node.cluster


async def start_node(channel: GroupChannel, cluster: SimpleTcpCluster | None = None) -> None:
    """Start (raises :class:`NodeError` with exit code 4, after stopping what started)."""
    from tribes.cli.common import EXIT_NETWORK
    try:
        if cluster is not None:
            await cluster.start()
        else:
            await channel.start()
    except Exception as exc:
        try:
            if cluster is not None:
                await cluster.stop()
            else:
                await channel.stop()
        except Exception:  # noqa: BLE001 - best effort
            pass
        raise NodeError(f"could not start the node: {type(exc).__name__}: {exc}", EXIT_NETWORK) from exc


async def wait_members(channel: GroupChannel, *, timeout: float, minimum: int = 1,
                       predicate: Callable[[list[Any]], bool] | None = None, settle: float = 0.6) -> list[Any]:
    """Poll the membership until ``predicate(members)`` (or ``minimum`` members) holds, then wait
    ``settle`` seconds more for the rest of the cluster's heartbeats; returns the members."""
    deadline = time.monotonic() + timeout
    while True:
        members = list(channel.members())
        ok = predicate(members) if predicate is not None else len(members) >= minimum
        if ok:
            if settle > 0:
                await asyncio.sleep(min(settle, max(0.0, deadline - time.monotonic())))
            return list(channel.members())
        if time.monotonic() >= deadline:
            return members
        await asyncio.sleep(0.1)


def parse_target(value: str) -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"{value!r}: use HOST:PORT (e.g. 10.0.0.5:4000) or 'all'", param_hint="--to")
    return host, int(port)


def find_member(members: Sequence[Member], host: str, port: int) -> Member | None:
    for m in members:
        if m.host_str == host and m.port == port:
            return m
    return None


def direct_member(host: str, port: int) -> Member:
    """A Member for ``host:port`` that the membership has not announced (a direct send)."""
    import ipaddress
    import os

    from tribes.membership.member import Member
    return Member(host=ipaddress.ip_address(host).packed, port=port, unique_id=os.urandom(16))


def parse_destination(to: str, direct: bool) -> tuple[str, int] | None:
    """``--to``/``--direct`` of send and bench: (host, port), or None for every member."""
    from tribes.cli.common import EXIT_USAGE

    target = parse_target(to) if to != "all" else None
    if direct and target is None:
        raise NodeError("--direct needs --to HOST:PORT", EXIT_USAGE)
    return target


async def resolve_destinations(channel: GroupChannel, target: tuple[str, int] | None, *, direct: bool, wait: float,
                               min_members: int) -> list[Any]:
    """The members to send to: the one ``target`` (announced, or built directly with ``direct``), or
    every member once at least ``min_members`` are there. Raises NodeError (exit 4) when not found."""
    from tribes.cli.common import EXIT_NETWORK

    if target is not None:
        host, port = target
        members = [] if direct else await wait_members(
            channel, timeout=wait, predicate=lambda ms: find_member(ms, host, port) is not None, settle=0)
        dest = find_member(members, host, port)
        if dest is not None:
            return [dest]
        if direct:
            return [direct_member(host, port)]
        seen = ", ".join(f"{m.host_str}:{m.port}" for m in members) or "none"
        raise NodeError(f"{host}:{port} was not seen in the membership within {wait:g} s (members seen: {seen}); "
                        "use --direct to connect without membership, or check --bind, "
                        "--mcast-address/--mcast-port and --domain", EXIT_NETWORK)
    dests = await wait_members(channel, timeout=wait, minimum=min_members)
    if len(dests) < min_members:
        raise NodeError(f"{len(dests)} member(s) found within {wait:g} s, {min_members} wanted: check --bind "
                        "(the interface on the cluster's network), --mcast-address/--mcast-port and --domain, "
                        "or raise --wait", EXIT_NETWORK)
    return dests
