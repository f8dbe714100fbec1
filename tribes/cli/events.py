"""The event lines of ``tribes join`` (one per membership event and per received message; ``--json``:
one object per line with a ``kind``), shared by the plain and the live runs (tribes/cli/liveview.py).
"""
from __future__ import annotations

import time
from typing import Any

import click

from tribes.channel import ByteMessage
from tribes.cli.common import emit_json, hex_id, iso_time
from tribes.io.channel_data import ChannelData
from tribes.io.member import Member

__all__ = ["member_fields", "EventPrinter"]


def member_fields(m: Member) -> dict[str, Any]:
    return {"name": m.name, "host": m.host_str, "port": m.port, "uniqueId": hex_id(m.unique_id),
            "domain": m.domain.decode("latin-1"), "alive": m.alive}


def _value_json(value: Any) -> Any:
    try:
        from tribes.javaser import to_json
        return to_json(value)
    except Exception:
        if isinstance(value, str):
            return {"class": "java.lang.String", "value": value[:200]}
        return {"class": type(value).__name__}


class EventPrinter:
    """A channel and membership listener printing one line per event (``current``: the raw ChannelData)."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.count = 0
        self.bytes = 0
        self.first: float | None = None
        self.last: float | None = None
        self.current: ChannelData | None = None

    def accept(self, msg: Any, sender: Member) -> bool:
        return True

    def message_received(self, msg: Any, sender: Member) -> None:
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
            fields: dict[str, Any] = {"time": ts, "sender": member_fields(sender), "options": options, "size": size}
            if raw is not None:
                fields["uniqueId"] = hex_id(raw.unique_id)
            if not isinstance(msg, ByteMessage):
                fields["value"] = _value_json(msg)
            emit_json("message", **fields)
        else:
            kind = "bytes" if isinstance(msg, ByteMessage) else type(msg).__name__
            click.echo(f"{ts}  message     from {sender.name}  options={options} size={size} ({kind})")

    def member_added(self, m: Member) -> None:
        self._member("added", m)

    def member_disappeared(self, m: Member) -> None:
        self._member("disappeared", m)

    def _member(self, event: str, m: Member) -> None:
        ts = iso_time(time.time() * 1000)
        if self.as_json:
            emit_json("member", time=ts, event=event, **member_fields(m))
        else:
            click.echo(f"{ts}  {event:<11} {m.name}  id={hex_id(m.unique_id)} alive={m.alive}")
