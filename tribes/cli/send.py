"""``tribes send``: send a text or a file as a byte message to one member or to all (a connectivity check).

The node joins the cluster (membership + receiver, from ``--config`` or the network flags), waits
for the members, sends the message to each destination separately and reports, per member, whether
it arrived: with ``--ack`` (the default) "ok" means the member's receiver acknowledged it
(``USE_ACK``; ``--sync``: after its listeners processed it); with ``--no-ack`` it only means the bytes
were written. The message goes with ``SEND_OPTIONS_BYTE_MESSAGE``: a Tomcat node's channel hands it
to its listeners as raw bytes (no session manager acts on it). Then the node leaves.
"""
from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from tribes.channel import SendOptions
from tribes.cli.common import (EXIT_ERRORS, EXIT_OK, NetworkOptions, emit_json,
                               hex_id, network_options)
from tribes.cli.node import (NodeError, build_node, config_options, explicit_flags, load_node_config,
                             parse_destination, parse_target, resolve_destinations, start_node)
from tribes.io.member import Member

if TYPE_CHECKING:  # pragma: no cover
    from tribes.group.channel import GroupChannel

log = logging.getLogger("tribes.cli.send")

EXAMPLES = """\b
Examples:
  tribes send "hello" --bind 10.0.0.5                       # to every member, acknowledged
  tribes send --file blob.bin --to 10.0.0.7:4000 --bind 10.0.0.5
  tribes send "ping" --config server.xml --bind 10.0.0.5 --json
  tribes send "x" --no-ack --count 100 --bind eth0          # fire and forget, 100 times
  tribes send "probe" --to 10.0.0.7:4000 --direct           # no membership needed: connect directly

\b
Exit status: 0 every destination got every message; 1 some sends failed (listed);
3 bad configuration; 4 could not start, or no member found (or --to not found).
"""


def member_json(m: Member) -> dict[str, Any]:
    return {"name": m.name, "host": m.host_str, "port": m.port, "uniqueId": hex_id(m.unique_id)}


def send_options(ack: bool, sync: bool, options: str | None) -> int:
    """The send options: --options wins; otherwise BYTE_MESSAGE + USE_ACK (+ SYNCHRONIZED_ACK)."""
    from tribes.channel import parse_send_options
    if options is not None:
        try:
            return parse_send_options(options) | int(SendOptions.BYTE_MESSAGE)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--options") from exc
    value = int(SendOptions.BYTE_MESSAGE)
    if ack or sync:
        value |= int(SendOptions.USE_ACK)
    if sync:
        value |= int(SendOptions.SYNCHRONIZED_ACK)
    return value


def cause_text(exc: BaseException) -> str:
    """The first faulty member's cause of a ChannelException, or the exception itself."""
    faulty = getattr(exc, "faulty_members", None) or []
    for fm in faulty:
        if fm.cause is not None:
            return f"{type(fm.cause).__name__}: {fm.cause}" if str(fm.cause) else type(fm.cause).__name__
    return f"{type(exc).__name__}: {exc}"


async def _send_one(channel: GroupChannel, member: Member, payload: bytes, options: int, count: int) -> dict[str, Any]:
    from tribes.group import ByteMessage
    ok = 0
    errors: list[str] = []
    times: list[float] = []
    for _ in range(count):
        t0 = time.perf_counter()
        try:
            await channel.send([member], ByteMessage(payload), options)
            ok += 1
            times.append((time.perf_counter() - t0) * 1000.0)
        except Exception as exc:  # noqa: BLE001 - reported per member
            errors.append(cause_text(exc))
    return {"member": member, "sent": ok, "failed": count - ok, "errors": errors,
            "ms": round(sum(times) / len(times), 3) if times else None}


async def _run(net: NetworkOptions, payload: bytes, to: str, count: int, options: int, wait: float,
               min_members: int, direct: bool, as_json: bool, config_path: str | None, properties: tuple[str, ...],
               jvm_route: str | None, explicit: set[str]) -> int:
    try:
        cfg = load_node_config(net, config_path, properties, jvm_route, explicit=explicit)
        channel, _ = build_node(cfg)
    except NodeError as exc:
        click.echo(f"tribes send: {exc}", err=True)
        return exc.exit_code
    try:
        target = parse_destination(to, direct)
    except NodeError as exc:
        click.echo(f"tribes send: {exc}", err=True)
        return exc.exit_code
    try:
        await start_node(channel)
    except NodeError as exc:
        click.echo(f"tribes send: {exc}", err=True)
        return exc.exit_code
    try:
        try:
            dests = await resolve_destinations(channel, target, direct=direct, wait=wait, min_members=min_members)
        except NodeError as exc:
            click.echo(f"tribes send: {exc}", err=True)
            return exc.exit_code
        from tribes.channel import send_options_to_string
        opt_names = send_options_to_string(options)
        if not as_json:
            click.echo(f"sending {len(payload)} byte(s) x {count} (options {options}: {opt_names}) "
                       f"to {len(dests)} member(s) from {local.name if (local := channel.local_member) else '?'}")
        results = await asyncio.gather(*(_send_one(channel, m, payload, options, count) for m in dests))
    finally:
        await channel.stop()
    failed_members = 0
    for r in results:
        m = r["member"]
        if r["failed"]:
            failed_members += 1
        if as_json:
            emit_json("send", member=member_json(m), ok=r["failed"] == 0, sent=r["sent"], failed=r["failed"],
                      ms=r["ms"], acked=bool(options & SendOptions.USE_ACK) and r["sent"] > 0, errors=r["errors"][:5])
        else:
            status = "ok" if not r["failed"] else "FAILED"
            timing = f"{r['ms']:.2f} ms avg" if r["ms"] is not None else ""
            what = "acknowledged" if options & SendOptions.USE_ACK else "written"
            line = f"  {m.host_str}:{m.port:<6} {status:<7} {r['sent']}/{count} {what} {timing}"
            if r["errors"]:
                line += f"  ({r['errors'][0]})"
            click.echo(line)
    if as_json:
        emit_json("summary", members=len(dests), failedMembers=failed_members, bytes=len(payload), count=count,
                  options=options)
    elif failed_members:
        click.echo(f"{failed_members} of {len(dests)} member(s) failed", err=True)
    return EXIT_ERRORS if failed_members else EXIT_OK


@click.command("send", epilog=EXAMPLES)
@click.argument("text", required=False)
@click.option("--file", "file", type=click.File("rb"), default=None, help="Send the contents of this file ('-': stdin).")
@click.option("--to", default="all", show_default=True, metavar="HOST:PORT|all",
              help="One member (its receiver address and port) or every member.")
@click.option("--ack/--no-ack", default=True, show_default=True,
              help="Ask the receiver for an ACK (USE_ACK), so 'ok' means it arrived.")
@click.option("--sync", is_flag=True, help="SYNCHRONIZED_ACK: ACK only after the receiver's listeners processed it.")
@click.option("--options", default=None, metavar="N|NAMES",
              help="Raw send options (a number or names like 'use_ack,sync'); BYTE_MESSAGE is always added.")
@click.option("--count", type=click.IntRange(min=1), default=1, show_default=True, help="Send it this many times.")
@click.option("--wait", type=click.FloatRange(min=0), default=10.0, show_default=True, metavar="SECONDS",
              help="How long to wait for the members to appear.")
@click.option("--members", "min_members", type=click.IntRange(min=1), default=1, show_default=True,
              help="With --to all: wait until at least this many members are seen.")
@click.option("--direct", is_flag=True, help="With --to HOST:PORT: connect without waiting for the membership.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line: send (per member), summary.")
@config_options
@network_options
def send(net: NetworkOptions, text: str | None, file: Any, to: str, ack: bool, sync: bool, options: str | None,
         count: int, wait: float, min_members: int, direct: bool, as_json: bool, config_path: str | None,
         properties: tuple[str, ...], jvm_route: str | None) -> None:
    """Send TEXT (or --file) as a byte message to one member or to all, and report who got it."""
    if (text is None) == (file is None):
        raise click.UsageError("give either TEXT or --file (not both)")
    payload = text.encode("utf-8") if text is not None else file.read()
    opts = send_options(ack, sync, options)
    if to != "all":
        parse_target(to)
    explicit = explicit_flags()
    try:
        code = asyncio.run(_run(net, payload, to, count, opts, wait, min_members, direct, as_json, config_path,
                                properties, jvm_route, explicit))
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


__all__ = ["send", "send_options", "cause_text", "member_json"]
