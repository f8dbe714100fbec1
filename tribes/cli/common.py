"""Shared conventions of every ``tribes`` command (documented in docs/cli.md).

- network flags: ``--bind ADDR|IFACE``, ``--mcast-address``, ``--mcast-port``,
  ``--receiver-port``, ``--domain``, ``--duration SECONDS``;
- ``--json``: one JSON object per line, each with a ``kind``;
- uniqueIds as lowercase hex, times as ISO 8601 UTC with milliseconds;
- exit codes below.
"""
from __future__ import annotations

import asyncio
import base64
import copy
import dataclasses
import functools
import json
import signal
import sys
from dataclasses import dataclass
from typing import Any, Callable, TextIO, TypeVar

import click
from click.core import ParameterSource

from tribes.isotime import iso_time as iso_time  # the one format of the event lines

# Exit codes scripts can rely on.
EXIT_OK = 0
EXIT_ERRORS = 1  # ran, but some input could not be decoded / some sends failed
EXIT_USAGE = 2  # bad command line (click's own code)
EXIT_CONFIG = 3  # bad configuration file or value
EXIT_NETWORK = 4  # could not bind / join / reach the cluster
EXIT_MISMATCH = 5  # a check found a difference (e.g. `javaser check`)
EXIT_INTERRUPTED = 130  # Ctrl-C

DEFAULT_MCAST_ADDRESS = "228.0.0.4"
DEFAULT_MCAST_PORT = 45564
DEFAULT_RECEIVER_PORT = 4000

F = TypeVar("F", bound=Callable[..., Any])


def hex_id(raw: bytes) -> str:
    """uniqueIds are printed as lowercase hex."""
    return bytes(raw).hex()


def b64(raw: bytes) -> str:
    return base64.b64encode(bytes(raw)).decode("ascii")


def emit_json(kind: str, out: TextIO | None = None, **fields: Any) -> None:
    """Print one JSON object on one line, ``kind`` first."""
    obj = {"kind": kind}
    obj.update(fields)
    stream = out if out is not None else sys.stdout
    stream.write(json.dumps(obj, separators=(",", ":"), default=_json_default) + "\n")
    stream.flush()


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return b64(bytes(value))
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return to_json()
    raise TypeError(f"not JSON-serializable: {type(value).__name__}")


@dataclass
class NetworkOptions:
    bind: str | None
    mcast_address: str
    mcast_port: int
    receiver_port: int
    domain: str
    duration: float | None


def network_options(func: F) -> F:
    """Add the standard network flags; the command receives ``net: NetworkOptions``."""
    options = [
        click.option("--bind", "bind", metavar="ADDR|IFACE", default=None,
                     help="Address or interface name for both the multicast interface and the receiver."),
        click.option("--mcast-address", default=DEFAULT_MCAST_ADDRESS, show_default=True,
                     help="Multicast group of the membership heartbeats."),
        click.option("--mcast-port", type=click.IntRange(1, 65535), default=DEFAULT_MCAST_PORT,
                     show_default=True, help="UDP port of the membership heartbeats."),
        click.option("--receiver-port", type=click.IntRange(1, 65535), default=DEFAULT_RECEIVER_PORT,
                     show_default=True, help="TCP port of this node's receiver (autoBind searches upwards)."),
        click.option("--domain", default="", help="Cluster domain announced in heartbeats (default: none)."),
        click.option("--duration", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
                     help="Stop by itself after this many seconds."),
    ]

    def wrapper(**kwargs: Any) -> Any:
        net = NetworkOptions(
            bind=kwargs.pop("bind"),
            mcast_address=kwargs.pop("mcast_address"),
            mcast_port=kwargs.pop("mcast_port"),
            receiver_port=kwargs.pop("receiver_port"),
            domain=kwargs.pop("domain"),
            duration=kwargs.pop("duration"),
        )
        return func(net=net, **kwargs)

    functools.update_wrapper(wrapper, func)  # keeps the options already attached to func
    del wrapper.__wrapped__  # type: ignore[attr-defined]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper  # type: ignore[return-value]


_NET_FIELDS = {f.name for f in dataclasses.fields(NetworkOptions)}


class SharedOptionsGroup(click.Group):
    """A command group whose options may also be given after the sub-command.

    ``tribes sessions --bind 10.0.0.5 create ...`` and ``tribes sessions create --bind 10.0.0.5 ...``
    mean the same: every option of the group that a sub-command does not have itself is added to
    it, and a value given there (on the command line or in the environment) replaces the group's in
    ``ctx.obj`` (the network flags in ``ctx.obj["net"]``, the others under their names). The group's
    callback must set ``ctx.obj`` to a dict before the sub-command runs.
    """

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        super().add_command(cmd, name)
        own = {p.name for p in cmd.params}
        shared = [p for p in self.params if isinstance(p, click.Option) and p.name not in own]
        if not shared or cmd.callback is None:
            return
        cmd.params.extend(copy.copy(p) for p in shared)
        names = [p.name for p in shared if p.name is not None]
        callback = cmd.callback

        @functools.wraps(callback)
        def with_late_options(*args: Any, **kwargs: Any) -> Any:
            ctx = click.get_current_context()
            late = {n: kwargs.pop(n) for n in names if n in kwargs}
            given = {n: v for n, v in late.items()
                     if ctx.get_parameter_source(n) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)}
            if given and isinstance(ctx.obj, dict):
                net = {k: v for k, v in given.items() if k in _NET_FIELDS}
                if net and isinstance(ctx.obj.get("net"), NetworkOptions):
                    ctx.obj["net"] = dataclasses.replace(ctx.obj["net"], **net)
                ctx.obj.update({k: v for k, v in given.items() if k not in _NET_FIELDS})
            return callback(*args, **kwargs)

        cmd.callback = with_late_options


class StopSignal:
    """SIGTERM, SIGINT (Ctrl-C) and ``--duration`` as one event, installed on the running loop.

    ``interrupted`` tells a Ctrl-C apart (exit code 130); ``await stop.wait()`` returns on any of them.
    Install it before starting a member, so a SIGTERM right after start still leaves gracefully."""

    def __init__(self, duration: float | None = None) -> None:
        self.event = asyncio.Event()
        self.interrupted = False
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - not on the main thread
                pass
        if duration is not None:
            loop.call_later(duration, self.event.set)

    def _on_signal(self, sig: int) -> None:
        self.interrupted = sig == signal.SIGINT
        self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()

    async def wait(self) -> None:
        await self.event.wait()

    def close(self) -> None:
        """Give SIGINT/SIGTERM back to their default handlers."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError):  # pragma: no cover
                pass
