"""``tribes join``: run a full cluster member (membership, receiver, ACKs, default interceptors).

No configuration file needed: the stock ``SimpleTcpCluster`` channel (McastService, NioReceiver with
autoBind, PooledParallelSender, MessageDispatchInterceptor + TcpFailureDetector). It prints one line
per membership event and per received message (sender, options, size; ``--json``: one JSON object
per line), and a summary with the message count and rate when it stops (``--duration`` or Ctrl-C).
"""
from __future__ import annotations

import asyncio
import logging
import signal
import time
from typing import Any

import click

from tribes.cli.common import (EXIT_CONFIG, EXIT_INTERRUPTED, EXIT_NETWORK, EXIT_OK, NetworkOptions, emit_json,
                               hex_id, iso_time, network_options)
from tribes.cli.node import config_options, explicit_flags  # issue 8: --config

log = logging.getLogger("tribes.cli.join")


def _member_fields(m: Any) -> dict[str, Any]:
    return {"name": m.name, "host": m.host_str, "port": m.port, "uniqueId": hex_id(m.unique_id),
            "domain": m.domain.decode("latin-1"), "alive": m.alive}


def _value_json(value: Any) -> Any:
    try:
        from tribes.javaser import to_json  # type: ignore[attr-defined]
        return to_json(value)
    except Exception:
        if isinstance(value, str):
            return {"class": "java.lang.String", "value": value[:200]}
        return {"class": type(value).__name__}


class _Printer:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.count = 0
        self.bytes = 0
        self.first: float | None = None
        self.last: float | None = None
        self.current: Any = None

    def accept(self, msg: Any, sender: Any) -> bool:
        return True

    def message_received(self, msg: Any, sender: Any) -> None:
        from tribes.group import ByteMessage
        now = time.monotonic()
        self.first = self.first or now
        self.last = now
        self.count += 1
        raw = self.current
        size = len(raw.message) if raw is not None else (len(msg) if isinstance(msg, ByteMessage) else -1)
        options = raw.options if raw is not None else -1
        self.bytes += max(size, 0)
        ts = iso_time(time.time() * 1000)
        if self.as_json:
            fields: dict[str, Any] = {"time": ts, "sender": _member_fields(sender), "options": options, "size": size}
            if raw is not None:
                fields["uniqueId"] = hex_id(raw.unique_id)
            if not isinstance(msg, ByteMessage):
                fields["value"] = _value_json(msg)
            emit_json("message", **fields)
        else:
            kind = "bytes" if isinstance(msg, ByteMessage) else type(msg).__name__
            click.echo(f"{ts}  message     from {sender.name}  options={options} size={size} ({kind})")

    def member_added(self, m: Any) -> None:
        self._member("added", m)

    def member_disappeared(self, m: Any) -> None:
        self._member("disappeared", m)

    def _member(self, event: str, m: Any) -> None:
        ts = iso_time(time.time() * 1000)
        if self.as_json:
            emit_json("member", time=ts, event=event, **_member_fields(m))
        else:
            click.echo(f"{ts}  {event:<11} {m.name}  id={hex_id(m.unique_id)} alive={m.alive}")


async def _run(net: NetworkOptions, as_json: bool, frequency: int, drop_time: int) -> int:
    from tribes.group import ChannelInterceptor, GroupChannel
    from tribes.interceptors import MessageDispatchInterceptor, TcpFailureDetector
    from tribes.membership.mcast import McastConfigError, McastService, resolve_bind
    from tribes.transport import NioReceiver

    try:
        if net.bind:
            address, _iface = resolve_bind(net.bind)
        else:
            address = "auto"
        membership = McastService(address=net.mcast_address, port=net.mcast_port, frequency=frequency,
                                  drop_time=drop_time, bind=address if net.bind else None, domain=net.domain)
    except (McastConfigError, ValueError) as exc:
        click.echo(f"tribes join: {exc}", err=True)
        return EXIT_CONFIG
    printer = _Printer(as_json)

    class Tap(ChannelInterceptor):
        def message_received(self, msg: Any) -> Any:
            printer.current = msg
            try:
                return super().message_received(msg)
            finally:
                printer.current = None

    channel = GroupChannel(NioReceiver(address=address, port=net.receiver_port), membership=membership)
    channel.add_interceptor(Tap())
    channel.add_interceptor(MessageDispatchInterceptor())
    channel.add_interceptor(TcpFailureDetector())
    channel.add_channel_listener(printer)
    channel.add_membership_listener(printer)
    try:
        await channel.start()
    except Exception as exc:
        click.echo(f"tribes join: could not start the channel: {exc}", err=True)
        try:
            await channel.stop()
        except Exception:
            pass
        return EXIT_NETWORK
    local = channel.local_member
    if as_json:
        emit_json("ready", time=iso_time(time.time() * 1000), **_member_fields(local))
    else:
        click.echo(f"joined as {local.name if local else '?'} (multicast {net.mcast_address}:{net.mcast_port})")
    stop = asyncio.Event()
    interrupted = False
    loop = asyncio.get_running_loop()

    def on_signal(sig: int) -> None:
        nonlocal interrupted
        interrupted = sig == signal.SIGINT
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal, sig)
        except (NotImplementedError, RuntimeError):  # pragma: no cover
            pass
    started = time.monotonic()
    try:
        if net.duration is not None:
            try:
                await asyncio.wait_for(stop.wait(), net.duration)
            except asyncio.TimeoutError:
                pass
        else:
            await stop.wait()
    finally:
        await channel.stop()
    elapsed = time.monotonic() - started
    rate = printer.count / elapsed if elapsed > 0 else 0.0
    if as_json:
        emit_json("summary", messages=printer.count, bytes=printer.bytes, seconds=round(elapsed, 3),
                  msgs_per_s=round(rate, 1), members=len(channel.members()))
    else:
        click.echo(f"received {printer.count} messages ({printer.bytes} bytes) in {elapsed:.1f} s: "
                   f"{rate:.1f} msgs/s")
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


JOIN_EXAMPLES = """\b
Examples:
  tribes join --bind 10.0.0.5 --duration 60            # stock channel, event lines / live view
  tribes join --config server.xml --bind 10.0.0.5 --jvm-route py1 --context /app
  tribes join --config server.xml -D cluster.port=4001 --receiver-port 4100 --json

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
def join(net: NetworkOptions, as_json: bool, frequency: int, drop_time: int, config_path: str | None = None,
         properties: tuple[str, ...] = (), jvm_route: str | None = None, contexts: tuple[str, ...] = (),
         live: bool | None = None) -> None:
    """Join a Tribes cluster as a full member and print membership events and received messages."""
    from tribes.cli.liveview import live_wanted, run_join  # --config and the live view (tribes/cli/liveview.py)
    if config_path is not None or jvm_route is not None or contexts or live_wanted(live, as_json):
        raise SystemExit(asyncio.run(run_join(
            net, as_json=as_json, live=live_wanted(live, as_json), frequency=frequency, drop_time=drop_time,
            config_path=config_path, properties=properties, jvm_route=jvm_route, contexts=contexts,
            explicit=explicit_flags())))
    code = asyncio.run(_run(net, as_json, frequency, drop_time))
    raise SystemExit(code)
