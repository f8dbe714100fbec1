"""``tribes bench``: a quick throughput test against a live cluster (like Tomcat's LoadTest demo).

The node joins the cluster, waits for the members, then sends ``--count`` byte messages of
``--size`` bytes to every member (or one, ``--to``), keeping ``--concurrency`` sends in flight, and
prints messages per second, MB/s (payload bytes delivered: size x members x messages) and, per
member, the sends that failed and why. With ``--ack`` (default) a send completes when every
destination acknowledged it, so the numbers are end to end.
"""
from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from tribes.cli.common import (EXIT_ERRORS, EXIT_OK, NetworkOptions, emit_json,
                               network_options)
from tribes.cli.node import (NodeError, build_node, config_options, explicit_flags, load_node_config,
                             parse_destination, parse_target, resolve_destinations, start_node)
from tribes.cli.send import member_json, send_options
from tribes.io.member import Member

if TYPE_CHECKING:  # pragma: no cover
    from tribes.group.channel import GroupChannel

log = logging.getLogger("tribes.cli.bench")

EXAMPLES = """\b
Examples:
  tribes bench --bind 10.0.0.5                                  # 1000 x 1 KiB to every member, acked
  tribes bench --count 10000 --size 100 --no-ack --bind eth0     # fire and forget
  tribes bench --to 10.0.0.7:4000 --size 65536 --concurrency 1 --json --bind 10.0.0.5
  tribes bench --config server.xml --bind 10.0.0.5 --members 2   # wait for two members first

\b
Exit status: 0 every send succeeded; 1 some sends failed (counted per member);
3 bad configuration; 4 could not start, or no member found.
"""


class Stats:
    """Counters of one run (per-member failures keyed by member)."""

    def __init__(self, dests: list[Any]) -> None:
        self.dests = dests
        self.ok = 0
        self.failed = 0
        self.per_member: dict[Any, dict[str, Any]] = {m: {"failed": 0, "error": None} for m in dests}
        self.latencies: list[float] = []

    def failure(self, exc: BaseException, members: list[Member]) -> None:
        self.failed += 1
        faulty = getattr(exc, "faulty_members", None) or []
        if faulty:
            for fm in faulty:
                entry = self.per_member.setdefault(fm.member, {"failed": 0, "error": None})
                entry["failed"] += 1
                if entry["error"] is None:
                    entry["error"] = f"{type(fm.cause).__name__}: {fm.cause}" if fm.cause else str(exc)
        else:
            for m in members:
                entry = self.per_member[m]
                entry["failed"] += 1
                entry["error"] = entry["error"] or f"{type(exc).__name__}: {exc}"


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))
    return ordered[idx]


async def run_bench(channel: GroupChannel, dests: list[Member], count: int, size: int, options: int, concurrency: int,
                    progress: Any = None) -> tuple[Stats, float]:
    """Send ``count`` messages of ``size`` bytes to ``dests`` with ``concurrency`` in flight."""
    from tribes.group import ByteMessage
    payload = bytes((i * 31 + 7) & 0xFF for i in range(size))
    msg = ByteMessage(payload)
    stats = Stats(dests)
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < count:
            next_index += 1
            t0 = time.perf_counter()
            try:
                await channel.send(dests, msg, options)
                stats.ok += 1
                stats.latencies.append((time.perf_counter() - t0) * 1000.0)
            except Exception as exc:  # noqa: BLE001 - counted per member
                stats.failure(exc, dests)
            if progress is not None:
                progress()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    return stats, time.perf_counter() - started


async def _run(net: NetworkOptions, count: int, size: int, to: str, options: int, concurrency: int, warmup: int,
               wait: float, min_members: int, direct: bool, as_json: bool, config_path: str | None,
               properties: tuple[str, ...], jvm_route: str | None, explicit: set[str]) -> int:
    try:
        cfg = load_node_config(net, config_path, properties, jvm_route, explicit=explicit)
        channel, _ = build_node(cfg)
    except NodeError as exc:
        click.echo(f"tribes bench: {exc}", err=True)
        return exc.exit_code
    try:
        target = parse_destination(to, direct)
    except NodeError as exc:
        click.echo(f"tribes bench: {exc}", err=True)
        return exc.exit_code
    try:
        await start_node(channel)
    except NodeError as exc:
        click.echo(f"tribes bench: {exc}", err=True)
        return exc.exit_code
    try:
        try:
            dests = await resolve_destinations(channel, target, direct=direct, wait=wait, min_members=min_members)
        except NodeError as exc:
            click.echo(f"tribes bench: {exc}", err=True)
            return exc.exit_code
        from tribes.channel import send_options_to_string
        header = (f"bench: {count} messages of {size} bytes to {len(dests)} member(s), options {options} "
                  f"({send_options_to_string(options)}), concurrency {concurrency}")
        if not as_json:
            click.echo(header)
        if warmup:
            await run_bench(channel, dests, warmup, size, options, concurrency)
        progress_cb, bar = _progress(count, as_json)
        try:
            stats, elapsed = await run_bench(channel, dests, count, size, options, concurrency, progress_cb)
        finally:
            if bar is not None:
                bar.stop()
    finally:
        await channel.stop()
    rate = stats.ok / elapsed if elapsed > 0 else 0.0
    mb_s = stats.ok * size * len(dests) / elapsed / 1e6 if elapsed > 0 else 0.0
    p50, p99 = percentile(stats.latencies, 0.5), percentile(stats.latencies, 0.99)
    failed_members = {m: e for m, e in stats.per_member.items() if e["failed"]}
    if as_json:
        emit_json("bench", messages=count, size=size, members=len(dests), options=options, concurrency=concurrency,
                  ok=stats.ok, failed=stats.failed, seconds=round(elapsed, 4), msgs_per_s=round(rate, 1),
                  mb_per_s=round(mb_s, 3), p50_ms=_r(p50), p99_ms=_r(p99),
                  perMember=[{"member": member_json(m), "failed": e["failed"], "error": e["error"]}
                             for m, e in stats.per_member.items()])
    else:
        click.echo(f"  {stats.ok}/{count} sent in {elapsed:.3f} s: {rate:,.1f} msgs/s, {mb_s:,.3f} MB/s "
                   f"(payload x members); latency p50 {_fmt(p50)}, p99 {_fmt(p99)}")
        for m, e in stats.per_member.items():
            status = f"{e['failed']} failed ({e['error']})" if e["failed"] else "no failures"
            click.echo(f"  {m.host_str}:{m.port:<6} {status}")
    return EXIT_ERRORS if stats.failed or failed_members else EXIT_OK


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f} ms"


def _progress(total: int, as_json: bool) -> tuple[Any, Any]:
    """A rich progress bar on stderr when it is a terminal (and not --json)."""
    if as_json or total < 200 or not sys.stderr.isatty():
        return None, None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
    bar = Progress("sending", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=Console(stderr=True), transient=True)
    task = bar.add_task("send", total=total)
    bar.start()
    return (lambda: bar.advance(task)), bar


@click.command("bench", epilog=EXAMPLES)
@click.option("--count", type=click.IntRange(min=1), default=1000, show_default=True, help="Messages to send.")
@click.option("--size", type=click.IntRange(min=0), default=1024, show_default=True, help="Payload bytes per message.")
@click.option("--to", default="all", show_default=True, metavar="HOST:PORT|all", help="One member or every member.")
@click.option("--ack/--no-ack", default=True, show_default=True, help="USE_ACK: a send completes when acknowledged.")
@click.option("--sync", is_flag=True, help="SYNCHRONIZED_ACK: ACK after the receiver's listeners ran.")
@click.option("--options", default=None, metavar="N|NAMES", help="Raw send options (BYTE_MESSAGE is always added).")
@click.option("--concurrency", type=click.IntRange(min=1), default=4, show_default=True,
              help="Sends in flight at once (1: one after the other, like LoadTest with one thread).")
@click.option("--warmup", type=click.IntRange(min=0), default=20, show_default=True,
              help="Messages sent (and not counted) before the measurement.")
@click.option("--wait", type=click.FloatRange(min=0), default=10.0, show_default=True, metavar="SECONDS",
              help="How long to wait for the members to appear.")
@click.option("--members", "min_members", type=click.IntRange(min=1), default=1, show_default=True,
              help="With --to all: wait until at least this many members are seen.")
@click.option("--direct", is_flag=True, help="With --to HOST:PORT: connect without waiting for the membership.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object (kind bench) with the results.")
@config_options
@network_options
def bench(net: NetworkOptions, count: int, size: int, to: str, ack: bool, sync: bool, options: str | None,
          concurrency: int, warmup: int, wait: float, min_members: int, direct: bool, as_json: bool,
          config_path: str | None, properties: tuple[str, ...], jvm_route: str | None) -> None:
    """Measure messages/s and MB/s to the members of a live cluster (and count failures per member)."""
    opts = send_options(ack, sync, options)
    if to != "all":
        parse_target(to)
    explicit = explicit_flags()
    try:
        code = asyncio.run(_run(net, count, size, to, opts, concurrency, warmup, wait, min_members, direct, as_json,
                                config_path, properties, jvm_route, explicit))
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
