"""Cloud membership on the command line: ``--membership dns --dns-name NAME`` / ``--membership kubernetes``.

Used by ``tribes members`` (watch the members DNS or the Kubernetes API list, optionally as a
member with ``--join``) and ``tribes join`` (a full node whose channel uses CloudMembershipService
instead of the file's or the default membership). Everything else the providers need comes from the
environment, as in Tomcat (``KUBERNETES_NAMESPACE``, ``KUBERNETES_SERVICE_HOST``, ...; see
``tribes.membership.cloud``).
"""
from __future__ import annotations

import asyncio
from typing import Any, Callable, TypeVar

import click

from tribes.cli.common import (EXIT_CONFIG, EXIT_INTERRUPTED, EXIT_NETWORK, EXIT_OK, NetworkOptions, StopSignal,
                               emit_json, hex_id)

F = TypeVar("F", bound=Callable[..., Any])

CLOUD_CLASS = "org.apache.catalina.tribes.membership.cloud.CloudMembershipService"
KINDS = ("multicast", "dns", "kubernetes")


def cloud_options(func: F) -> F:
    """``--membership`` and ``--dns-name`` (the command receives ``membership`` and ``dns_name``)."""
    func = click.option("--dns-name", default=None, metavar="NAME",
                        help="With --membership dns: the name whose A/AAAA records are the members "
                             "(default: env DNS_MEMBERSHIP_SERVICE_NAME, as Tomcat).")(func)
    func = click.option("--membership", type=click.Choice(KINDS), default=None,
                        help="How members are found: multicast (default, or the --config file's), dns "
                             "(CloudMembershipService, DNS provider) or kubernetes (pods of "
                             "KUBERNETES_NAMESPACE with KUBERNETES_LABELS). Every node must use one receiver port.")(func)
    return func


def check_flags(membership: str | None, dns_name: str | None) -> None:
    if dns_name is not None and membership != "dns":
        raise click.BadParameter("--dns-name needs --membership dns", param_hint="--dns-name")


def use_cloud_membership(cfg: Any, membership: str | None, dns_name: str | None) -> Any:
    """``cfg`` with its <Membership> replaced by CloudMembershipService (``membership`` dns/kubernetes)."""
    if membership in (None, "multicast"):
        return cfg
    from tribes.config.model import Membership

    element = Membership(class_name=CLOUD_CLASS)
    element.set("membershipProviderClassName", membership)
    if dns_name:
        element.set("dnsServiceName", dns_name)
    cfg.channel.membership = element
    return cfg


def describe(service: Any) -> str:
    provider = getattr(service, "provider", None)
    return provider.describe() if provider is not None else service.kind


async def run_members(net: NetworkOptions, membership: str, dns_name: str | None, join: bool, as_json: bool,
                      auto_bind: int) -> int:
    """``tribes members --membership dns|kubernetes``: print members as DNS / the API lists them."""
    from tribes.cli.members import _default_address, _human, _member_fields
    from tribes.io.member import host_bytes
    from tribes.isotime import iso_time
    from tribes.cli.acceptor import ProbeAcceptor
    from tribes.membership.cloud import CloudMembershipService
    from tribes.membership.mcast import McastConfigError, resolve_bind
    from tribes.membership.service import MembershipError, epoch_ms

    try:
        address = resolve_bind(net.bind)[0] if net.bind else _default_address()
        service = CloudMembershipService(membership, dns_service_name=dns_name)
    except (McastConfigError, MembershipError, ValueError) as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_CONFIG
    stop = StopSignal(net.duration)
    acceptor: ProbeAcceptor | None = None
    port = net.receiver_port
    try:
        if join:
            acceptor = ProbeAcceptor(address, net.receiver_port, auto_bind, local_member=lambda: service.local_member)
            port = await acceptor.start()
            if port != net.receiver_port:
                click.echo(f"warning: receiver port {net.receiver_port} was taken, using {port}: cloud members "
                           f"are found on {net.receiver_port} by the others, so they will not reach this one", err=True)
        service.set_local_member(host_bytes(address), port)
        events = service.events()
        await service.start()
    except MembershipError as exc:
        click.echo(f"error: {exc}", err=True)
        if acceptor is not None:
            await acceptor.stop()
        return EXIT_CONFIG
    except OSError as exc:
        click.echo(f"error: {exc}", err=True)
        if acceptor is not None:
            await acceptor.stop()
        return EXIT_NETWORK
    local = service.local_member
    if as_json:
        emit_json("local", mode="join" if join else "listen", time=iso_time(epoch_ms()), membership=membership,
                  source=describe(service), **_member_fields(local))
    else:
        click.echo(f"{iso_time(epoch_ms())}  {'joined     ' if join else 'watching   '} {describe(service)} as "
                   f"{local.name} id={hex_id(local.unique_id)}", err=not join)
    if service.last_error:
        click.echo(f"warning: {service.last_error}", err=True)

    async def printer() -> None:
        async for ev in events:
            if as_json:
                emit_json("member", event=ev.kind.value, time=iso_time(ev.time), reason=ev.reason,
                          **_member_fields(ev.member))
            else:
                click.echo(_human(ev.kind.value, ev.time, ev.member, ev.reason))

    printing = asyncio.ensure_future(printer())
    try:
        if net.duration is not None:
            try:
                await asyncio.wait_for(stop.wait(), net.duration)
            except asyncio.TimeoutError:
                pass
        else:
            await stop.wait()
    finally:
        members = service.members()
        stats: dict[str, Any] = dict(service.stats)
        last_error = service.last_error
        await service.stop()
        try:
            await asyncio.wait_for(printing, 2)
        except asyncio.TimeoutError:  # pragma: no cover
            printing.cancel()
        if acceptor is not None:
            stats["probes"] = acceptor.probes
            await acceptor.stop()
    if as_json:
        emit_json("summary", time=iso_time(epoch_ms()), members=[_member_fields(m) for m in members],
                  lastError=last_error, **stats)
    else:
        click.echo(f"{len(members)} member(s) at exit; polls: {stats['good']} good, {stats['failed']} failed"
                   + (f" (last error: {last_error})" if last_error else ""), err=True)
    return EXIT_INTERRUPTED if stop.interrupted else EXIT_OK
