"""``tribes members``: watch the multicast membership of a Tomcat cluster.

By default it only listens (it announces nothing, so no Tomcat node ever sees it); ``--join``
makes it a member: it first listens on the receiver port (a minimal acceptor that takes
Tomcat's TcpFailureDetector probe and answers a starting DeltaManager's GET_ALL_SESSIONS with
"no context manager") and then announces itself. A joined node announces alive 0
unless ``--announce-uptime`` is given, so it never sorts first and a starting Tomcat never asks it
for session state.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import sys
from typing import Any

import click

from tribes.cli.common import (
    EXIT_CONFIG, EXIT_INTERRUPTED, EXIT_NETWORK, EXIT_OK, NetworkOptions, StopSignal, b64, emit_json, hex_id,
    iso_time, network_options,
)

from tribes.cli.cloud import check_flags, cloud_options  # issue 16: --membership dns|kubernetes
from tribes.io.member import Member

log = logging.getLogger("tribes.cli.members")


def _member_fields(member: Member) -> dict[str, Any]:
    return {
        "name": member.name,
        "host": member.host_str,
        "port": member.port,
        "securePort": member.secure_port,
        "udpPort": member.udp_port,
        "uniqueId": hex_id(member.unique_id),
        "domain": member.domain.decode("latin-1"),
        "payload": b64(member.payload),
        "command": member.command.decode("latin-1"),
        "alive": member.alive,
    }


def _default_address() -> str:
    """The first non-loopback IPv4 address (the OS's choice when --bind is not given)."""
    import netifaces

    for name in netifaces.interfaces():
        for a in netifaces.ifaddresses(name).get(netifaces.AF_INET, []):
            addr = str(a.get("addr", ""))
            if addr and not addr.startswith("127."):
                return addr
    return "127.0.0.1"


def _human(kind: str, ev_time: int | None, member: Member, reason: str = "") -> str:
    dom = member.domain.decode("latin-1")
    extra = f" domain={dom}" if dom else ""
    why = f" ({reason})" if reason else ""
    return (f"{iso_time(ev_time)}  {kind:<11} {member.name}  id={hex_id(member.unique_id)} "
            f"alive={member.alive}{extra}{why}")


async def _run(net: NetworkOptions, join: bool, as_json: bool, frequency: int, drop_time: int,
               ttl: int | None, announce_uptime: bool, auto_bind: int) -> int:
    from tribes.cli.acceptor import ProbeAcceptor
    from tribes.membership.mcast import McastConfigError, McastService, resolve_bind
    from tribes.membership.service import MBR_ALL, MBR_RX, MembershipError, epoch_ms

    try:
        address = resolve_bind(net.bind)[0] if net.bind else _default_address()
        service = McastService(address=net.mcast_address, port=net.mcast_port, frequency=frequency,
                               drop_time=drop_time, bind=net.bind, ttl=ttl, domain=net.domain,
                               filter_domain=join or bool(net.domain), announce_uptime=announce_uptime,
                               wait_for_members=False)
    except (McastConfigError, ValueError) as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_CONFIG

    # signals first: a SIGTERM right after start must still send the shutdown heartbeat
    stop = StopSignal(net.duration)

    acceptor: ProbeAcceptor | None = None
    port = net.receiver_port
    try:
        if join:
            acceptor = ProbeAcceptor(address, net.receiver_port, auto_bind,
                                     local_member=lambda: service._local)
            port = await acceptor.start()  # listen before announcing
        service.set_local_member(socket.inet_pton(socket.AF_INET6 if ":" in address else socket.AF_INET,
                                                  address), port, domain=service.domain)
        events = service.events()
        announced_at = epoch_ms()  # start() sends the first heartbeat right away
        await service.start(MBR_ALL if join else MBR_RX)
    except (OSError, MembershipError) as exc:
        click.echo(f"error: {exc}", err=True)
        if acceptor is not None:
            await acceptor.stop()
        return EXIT_NETWORK

    local = service.local_member
    if as_json:
        emit_json("local", mode="join" if join else "listen", time=iso_time(epoch_ms()),
                  startedAt=iso_time(announced_at),
                  mcastAddress=net.mcast_address, mcastPort=net.mcast_port,
                  **(_member_fields(local) if join else {"host": local.host_str}))
    elif join:
        click.echo(f"{iso_time(epoch_ms())}  joined      {local.name}  id={hex_id(local.unique_id)}")
    else:
        click.echo(f"{iso_time(epoch_ms())}  listening   {net.mcast_address}:{net.mcast_port}"
                   f" on {service.bind_address or 'the default interface'} (not announcing)", err=True)

    async def printer() -> None:
        async for ev in events:
            if as_json:
                emit_json("member", event=ev.kind.value, time=iso_time(ev.time), reason=ev.reason,
                          **_member_fields(ev.member))
            else:
                click.echo(_human(ev.kind.value, ev.time, ev.member, ev.reason))

    printing = asyncio.ensure_future(printer())
    try:
        await stop.wait()
    finally:
        members = service.members()
        stats: dict[str, Any] = dict(service.stats)
        await service.stop(MBR_ALL if join else MBR_RX)  # sends the shutdown heartbeat when joined
        try:
            await asyncio.wait_for(printing, 2)
        except asyncio.TimeoutError:  # pragma: no cover
            printing.cancel()
        if acceptor is not None:
            stats["probes"] = acceptor.probes
            stats["no_context_manager_replies"] = len(acceptor.no_context_replies)
            stats["acks"] = acceptor.acks
            await acceptor.stop()
    if as_json:
        emit_json("summary", time=iso_time(epoch_ms()), members=[_member_fields(m) for m in members],
                  **stats)
    else:
        click.echo(f"{len(members)} member(s) at exit; packets: {stats['member_packets']} member, "
                   f"{stats['malformed']} malformed, {stats['foreign_domain']} other domain", err=True)
    return EXIT_INTERRUPTED if stop.interrupted else EXIT_OK


MEMBERS_EXAMPLES = """\b
Examples:
  tribes members --bind eth0                          # listen only: no Tomcat node sees this one
  tribes members --bind 10.0.0.5 --json --duration 10
  tribes members --bind 10.0.0.5 --join --receiver-port 4100   # be a (non-session) member
  tribes members --bind 10.0.0.5 --membership dns --dns-name tomcat.shop.svc.cluster.local
  tribes members --bind 10.0.0.5 --membership kubernetes      # env KUBERNETES_NAMESPACE, ... as Tomcat

Exit status: 0 stopped by --duration or SIGTERM, 130 Ctrl-C, 3 bad flags, 4 could not bind."""


@click.command("members", epilog=MEMBERS_EXAMPLES)
@network_options
@click.option("--join", is_flag=True, help="Be a member: listen on --receiver-port, then announce this node.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line (kind=member per event).")
@click.option("--frequency", type=click.IntRange(min=1), default=500, show_default=True, metavar="MS",
              help="Heartbeat period (McastService frequency).")
@click.option("--drop-time", type=click.IntRange(min=1), default=3000, show_default=True, metavar="MS",
              help="A member silent this long is dropped (McastService dropTime).")
@click.option("--ttl", type=click.IntRange(0, 255), default=None, help="Multicast TTL (default: the OS's, 1).")
@click.option("--announce-uptime", is_flag=True,
              help="With --join: announce the real alive time (this node may then sort first and be "
                   "asked for session state, which it cannot answer).")
@click.option("--auto-bind", type=click.IntRange(min=1), default=100, show_default=True,
              help="With --join: ports tried upwards from --receiver-port.")
@cloud_options  # --membership dns|kubernetes, --dns-name (tribes/cli/cloud.py, issue 16)
def members(net: NetworkOptions, join: bool, as_json: bool, frequency: int, drop_time: int,
            ttl: int | None, announce_uptime: bool, auto_bind: int, membership: str | None = None,
            dns_name: str | None = None) -> None:
    """Print cluster members as they come and go (listens only, unless --join)."""
    check_flags(membership, dns_name)
    try:
        if membership in ("dns", "kubernetes"):
            from tribes.cli.cloud import run_members
            code = asyncio.run(run_members(net, membership, dns_name, join, as_json, auto_bind))
        else:
            code = asyncio.run(_run(net, join, as_json, frequency, drop_time, ttl, announce_uptime, auto_bind))
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    sys.exit(code)
