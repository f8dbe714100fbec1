"""Decode the Tribes traffic of a capture into events (sans-I/O: packets in, events out).

UDP datagrams that start with ``TRIBES-B`` are member heartbeats; those that start with ``FLT2002``
are multicast channel messages. Each TCP direction is reassembled and fed to a ``FrameDecoder``;
bodies equal to ACK_DATA/FAIL_ACK_DATA are acks, the others ChannelData messages. TCP streams that do
not start like Tribes (HTTP to the web app, ...) are ignored, unless their endpoint is a member's
receiver (then it is an error). A capture that starts in the middle of a connection is synced to the
first ``FLT2002`` of that direction.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from tribes.capture.javaclass import first_class_name, gunzip_prefix, is_java_serialized
from tribes.capture.tcp import TcpStream
from tribes.channel import send_options_to_string
from tribes.io.channel_data import ChannelData
from tribes.io.errors import FramingError, WireDecodeError
from tribes.io.framing import ACK_DATA, DEFAULT_MAX_MESSAGE_SIZE, FAIL_ACK_DATA, START_DATA, FrameDecoder
from tribes.io.member import TRIBES_MBR_BEGIN, Member, decode_member
from tribes.isotime import iso_time

log = logging.getLogger("tribes.capture")

SYNC_LIMIT = 4 * 1024 * 1024  # bytes searched for a first frame in a connection caught mid-stream
GZIP_FLAG = 0x100


def _iso(epoch_s: float) -> str | None:
    return iso_time(epoch_s * 1000.0)


@dataclass
class Event:
    kind: str
    time: float  # capture time, epoch seconds
    src: str
    dst: str
    transport: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "time": _iso(self.time), "src": self.src, "dst": self.dst,
                "transport": self.transport}


def member_json(m: Member) -> dict[str, Any]:
    return {"host": m.host_str, "port": m.port, "securePort": m.secure_port, "udpPort": m.udp_port,
            "uniqueId": m.unique_id.hex(), "domain": m.domain.decode("latin-1"),
            "command": m.command.decode("latin-1"), "shutdown": m.is_shutdown, "alive": m.alive,
            "payloadLength": len(m.payload)}


@dataclass
class MemberEvent(Event):
    member: Member = None  # type: ignore[assignment]

    def to_json(self) -> dict[str, Any]:
        d = super().to_json()
        d.update(member_json(self.member))
        return d


@dataclass
class MessageEvent(Event):
    data: ChannelData = None  # type: ignore[assignment]
    payload_class: str | None = None
    payload_encoding: str = "bytes"  # bytes | java | gzip+java | gzip
    value: Any = None
    value_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        d = super().to_json()
        cd = self.data
        d.update({
            "options": cd.options, "optionNames": send_options_to_string(cd.options),
            "timestamp": _iso(cd.timestamp / 1000.0) if -8.64e15 <= cd.timestamp <= 8.64e15 else str(cd.timestamp),
            "uniqueId": cd.unique_id.hex(), "sender": member_json(cd.address),
            "payloadLength": len(cd.message), "payloadEncoding": self.payload_encoding,
        })
        if self.payload_class is not None:
            d["payloadClass"] = self.payload_class
        if self.value is not None:
            d["value"] = self.value
        if self.value_error is not None:
            d["valueError"] = self.value_error
        return d


@dataclass
class AckEvent(Event):
    fail: bool = False

    def to_json(self) -> dict[str, Any]:
        d = super().to_json()
        d["result"] = "FAIL_ACK" if self.fail else "ACK"
        return d


@dataclass
class ErrorEvent(Event):
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        d = super().to_json()
        d["error"] = self.error
        return d


@dataclass
class NoteEvent(Event):
    """Not an error: e.g. a connection caught mid-stream, or cut by the end of the capture."""

    note: str = ""

    def to_json(self) -> dict[str, Any]:
        d = super().to_json()
        d["note"] = self.note
        return d


def _javaser() -> tuple[Any, Any]:
    try:
        from tribes import javaser
        from tribes.javaser.jsonview import to_json
    except Exception:  # noqa: BLE001 - optional layer
        return None, None
    return javaser, to_json


@dataclass
class _Direction:
    src: str
    dst: str
    stream: TcpStream = field(default_factory=TcpStream)
    decoder: FrameDecoder | None = None
    mode: str = "unknown"  # unknown | tribes | other | failed
    prebuf: bytearray = field(default_factory=bytearray)
    skipped: int = 0
    last_time: float = 0.0


class CaptureDecoder:
    """Feed packets with ``udp()`` / ``tcp()``; collect events; call ``finish()`` at the end."""

    def __init__(self, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE, decode_values: bool = True,
                 values_max_bytes: int = 1 << 20) -> None:
        self.max_message_size = max_message_size
        self.values_max_bytes = values_max_bytes
        self.flows: dict[tuple[str, str], _Direction] = {}
        self.receivers: set[str] = set()  # "host:port" of member receivers seen in heartbeats/addresses
        self.counts = {"member": 0, "message": 0, "ack": 0, "error": 0, "note": 0}
        self.decode_values = decode_values
        self._javaser: Any
        self._to_json: Any
        self._javaser, self._to_json = _javaser() if decode_values else (None, None)

    # ------------------------------------------------------------------ UDP
    def udp(self, time: float, src: str, dst: str, payload: bytes) -> list[Event]:
        if payload[:8] == TRIBES_MBR_BEGIN[:8]:
            try:
                m = decode_member(payload)
            except WireDecodeError as exc:
                return [self._error(time, src, dst, "udp", f"member packet: {exc}")]
            self._note_member(m)
            return [self._count(MemberEvent("member", time, src, dst, "udp", m))]
        if payload[:7] == START_DATA:
            dec = FrameDecoder(self.max_message_size)
            try:
                bodies = dec.feed(payload)
            except FramingError as exc:
                return [self._body(time, src, dst, "udp", b) for b in exc.frames] + [
                    self._error(time, src, dst, "udp", f"multicast frame: {type(exc).__name__}: {exc}")]
            events = [self._body(time, src, dst, "udp", b) for b in bodies]
            if dec.buffered:
                events.append(self._error(time, src, dst, "udp", f"multicast datagram ends inside a frame "
                                                                 f"({dec.buffered} bytes)"))
            return events
        return []

    # ------------------------------------------------------------------ TCP
    def tcp(self, time: float, src: str, dst: str, seq: int, flags: str, payload: bytes) -> list[Event]:
        key = (src, dst)
        d = self.flows.get(key)
        if d is None:
            d = self.flows[key] = _Direction(src, dst)
        d.last_time = time
        if "S" in flags:
            d.stream.syn(seq)
        events: list[Event] = []
        if payload:
            for chunk in d.stream.segment(seq, payload):
                events += self._tcp_bytes(d, time, chunk)
        if "F" in flags or "R" in flags:
            d.stream.fin()
        return events

    def _tcp_bytes(self, d: _Direction, time: float, chunk: bytes) -> list[Event]:
        if d.mode in ("other", "failed"):
            return []
        if d.mode == "unknown":
            d.prebuf += chunk
            if d.stream.saw_syn:
                k = min(len(d.prebuf), 7)
                if d.prebuf[:k] != START_DATA[:k]:
                    d.mode = "other"
                    d.prebuf = bytearray()
                    return []
                if len(d.prebuf) < 7:
                    return []
                data = bytes(d.prebuf)
            else:
                idx = d.prebuf.find(START_DATA)
                if idx < 0:
                    if len(d.prebuf) > SYNC_LIMIT:
                        d.mode = "other"
                        d.skipped = len(d.prebuf)
                        d.prebuf = bytearray()
                    return []
                d.skipped = idx
                data = bytes(d.prebuf[idx:])
            d.prebuf = bytearray()
            d.mode = "tribes"
            d.decoder = FrameDecoder(self.max_message_size)
            events: list[Event] = []
            if d.skipped:
                events.append(self._count(NoteEvent("note", time, d.src, d.dst, "tcp",
                    f"connection caught mid-stream: skipped {d.skipped} bytes before the first frame")))
            return events + self._frames(d, time, data)
        return self._frames(d, time, chunk)

    def _frames(self, d: _Direction, time: float, data: bytes) -> list[Event]:
        assert d.decoder is not None
        try:
            bodies = d.decoder.feed(data)
        except FramingError as exc:
            d.mode = "failed"
            return [self._body(time, d.src, d.dst, "tcp", b) for b in exc.frames] + [
                self._error(time, d.src, d.dst, "tcp", f"{type(exc).__name__}: {exc}")]
        return [self._body(time, d.src, d.dst, "tcp", b) for b in bodies]

    # ------------------------------------------------------------------ bodies
    def _body(self, time: float, src: str, dst: str, transport: str, body: bytes) -> Event:
        if body == ACK_DATA or body == FAIL_ACK_DATA:
            return self._count(AckEvent("ack", time, src, dst, transport, body == FAIL_ACK_DATA))
        try:
            cd = ChannelData.decode(body)
        except WireDecodeError as exc:
            return self._error(time, src, dst, transport, f"ChannelData ({len(body)} bytes): {exc}")
        self._note_member(cd.address)
        ev = MessageEvent("message", time, src, dst, transport, cd)
        payload = cd.message
        if cd.options & GZIP_FLAG:
            inner = gunzip_prefix(payload)
            if inner is not None:
                ev.payload_encoding = "gzip"
                if is_java_serialized(inner):
                    ev.payload_encoding = "gzip+java"
                    ev.payload_class = first_class_name(inner)
                return self._count(ev)
        if not (cd.options & 0x1) and is_java_serialized(payload):
            ev.payload_encoding = "java"
            ev.payload_class = first_class_name(payload)
            if self._javaser is not None and len(payload) > self.values_max_bytes:
                ev.value_error = f"not decoded: payload larger than {self.values_max_bytes} bytes"
            elif self._javaser is not None:
                try:
                    ev.value = self._to_json(self._javaser.loads(payload))
                except Exception as exc:  # noqa: BLE001 - optional detail, reported per message
                    ev.value_error = f"{type(exc).__name__}: {exc}"
        return self._count(ev)

    def _note_member(self, m: Member) -> None:
        self.receivers.add(f"{m.host_str}:{m.port}")

    def _count(self, ev: Event) -> Event:
        self.counts[ev.kind] = self.counts.get(ev.kind, 0) + 1
        return ev

    def _error(self, time: float, src: str, dst: str, transport: str, msg: str) -> ErrorEvent:
        log.debug("%s %s -> %s: %s", transport, src, dst, msg)
        return self._count(ErrorEvent("error", time, src, dst, transport, msg))  # type: ignore[return-value]

    # ------------------------------------------------------------------ end
    def finish(self) -> list[Event]:
        events: list[Event] = []
        for d in self.flows.values():
            s = d.stream
            if s.pending:
                s.skip_gap()
            if s.gaps:
                events.append(self._error(d.last_time, d.src, d.dst, "tcp",
                                          f"capture lost {sum(s.gaps)} bytes of this connection "
                                          f"({len(s.gaps)} holes): frames after a hole cannot be trusted"))
            if d.mode == "other" and (d.dst in self.receivers or d.src in self.receivers) and s.delivered:
                events.append(self._error(d.last_time, d.src, d.dst, "tcp",
                                          "connection to a member's receiver does not carry Tribes frames"))
            if d.mode == "tribes" and d.decoder is not None and d.decoder.buffered:
                if s.closed:
                    events.append(self._error(d.last_time, d.src, d.dst, "tcp",
                                              f"connection closed inside a frame ({d.decoder.buffered} bytes)"))
                else:
                    events.append(self._count(NoteEvent("note", d.last_time, d.src, d.dst, "tcp",
                        f"capture ends inside a frame ({d.decoder.buffered} bytes buffered)")))
        return events
