"""The sans-I/O core of the TCP transport: bytes and time in, messages, ACK bytes and verdicts out.

Tomcat's ``NioReplicationTask`` (receive side) and ``NioSender.read`` (ACK side) in pure form; the
asyncio protocols of ``receiver.py`` and ``sender.py`` only pump bytes through these objects and act
on what comes back. Every frame read, messages and ACKs alike, goes through ``FrameDecoder``.

Receive side (``RxCore``, one per inbound connection):

* ``receive_data(data, now) -> list[ChannelData]``; bad bytes raise ``ConnectionRefused`` whose
  ``messages`` holds the valid messages that came before them (nothing valid is lost) and whose
  ``setting`` names the limit hit, if any;
* ACK rules (``ack_before`` / ``ack_after``), Tomcat's ``NioReplicationTask.drainChannel``: ``USE_ACK``
  without ``SYNCHRONIZED_ACK`` is ACKed before processing; with it, after processing (FAIL_ACK if
  processing failed); without ``USE_ACK`` nothing is ever written back;
* ``expired(now, limits) -> str | None``: the timeout setting a connection has run past.

ACK side (``AckReader``, one per outbound connection): ``receive_data(data) -> list[bool]``, True per
ACK frame, False per FAIL_ACK frame, other frames ignored (as Tomcat); bad bytes raise ``FramingError``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from tribes import fastpath
from tribes.channel import SendOptions
from tribes.io.channel_data import ChannelData
from tribes.io.framing import ACK_DATA, ACK_FRAME, FAIL_ACK_DATA, FAIL_ACK_FRAME, FrameDecoder, FramingError
from tribes.io.member import member_of_packet

if TYPE_CHECKING:
    from tribes.transport.limits import ReceiverLimits

__all__ = ["RxCore", "AckReader", "ConnectionRefused", "ack_before", "ack_after", "ACK_FRAME", "FAIL_ACK_FRAME"]

# module-level ints of the vocabulary's bits (hot path: no enum arithmetic per message)
USE_ACK = int(SendOptions.USE_ACK)
SYNCHRONIZED_ACK = int(SendOptions.SYNCHRONIZED_ACK)
#: an ACK body is 3 bytes; a peer answering with bigger frames is not speaking the ACK protocol
MAX_ACK_FRAME_BODY = 1024


class ConnectionRefused(Exception):
    """The connection must be dropped; ``messages`` are the valid ones before the bad bytes."""

    def __init__(self, reason: str, messages: list[ChannelData], setting: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.messages = messages
        self.setting = setting


def ack_before(options: int) -> bytes | None:
    """The ACK written as soon as the message is read (``USE_ACK`` without ``SYNCHRONIZED_ACK``)."""
    if options & USE_ACK and not options & SYNCHRONIZED_ACK:
        return ACK_FRAME
    return None


def ack_after(options: int, ok: bool) -> bytes | None:
    """The ACK (or FAIL_ACK) written once processing ended (``USE_ACK`` with ``SYNCHRONIZED_ACK``)."""
    if options & USE_ACK and options & SYNCHRONIZED_ACK:
        return ACK_FRAME if ok else FAIL_ACK_FRAME
    return None


class RxCore:
    """Receive side of one connection: frames -> ``ChannelData``, timeouts; no I/O."""

    __slots__ = ("decoder", "last_rx", "delivered", "_parse")

    def __init__(self, max_message_size: int, now: float) -> None:
        self.decoder = FrameDecoder(max_message_size)
        self.last_rx = now
        self.delivered = 0
        self._parse = fastpath.parse_channel_data

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete frame held."""
        return int(self.decoder.buffered)

    @property
    def proven(self) -> bool:
        """Whether this connection has delivered at least one valid message."""
        return self.delivered > 0

    def receive_data(self, data: bytes, now: float) -> list[ChannelData]:
        self.last_rx = now
        try:
            bodies = self.decoder.feed(data)
        except FramingError as exc:
            good = self._messages(list(getattr(exc, "frames", ()) or ()))
            if isinstance(good, ConnectionRefused):
                raise good from exc
            setting = "max_message_size" if "max_message_size" in str(exc) else None
            raise ConnectionRefused(str(exc), good, setting) from exc
        if not bodies:
            return []
        msgs = self._messages(bodies)
        if isinstance(msgs, ConnectionRefused):
            raise msgs
        return msgs

    def _messages(self, bodies: list[bytes]) -> list[ChannelData] | ConnectionRefused:
        parse = self._parse
        out: list[ChannelData] = []
        for body in bodies:
            try:
                options, timestamp, unique_id, fields, address, message = parse(body)
                member = member_of_packet(fields, address)  # the package's one member cache
            except Exception as exc:
                return ConnectionRefused(f"undecodable ChannelData ({len(body)} bytes): {exc}", out)
            out.append(ChannelData(options, timestamp, unique_id, member, message))
        self.delivered += len(out)
        return out

    def expired(self, now: float, limits: "ReceiverLimits") -> str | None:
        """The timeout setting this connection has run past (``now`` in seconds), or None."""
        quiet_ms = (now - self.last_rx) * 1000.0
        if self.decoder.buffered or not self.delivered:
            t = limits.partial_frame_timeout
            if t and quiet_ms > t:
                return "partial_frame_timeout"
            return None
        t = limits.idle_timeout
        if t and quiet_ms > t:
            return "idle_timeout"
        return None


class AckReader:
    """ACK side of one outbound connection: the peer's bytes -> ACK (True) / FAIL_ACK (False)."""

    __slots__ = ("decoder",)

    def __init__(self) -> None:
        self.decoder = FrameDecoder(MAX_ACK_FRAME_BODY)

    def receive_data(self, data: bytes) -> list[bool]:
        """Raises ``FramingError`` on bytes that are not Tribes frames (the connection is then dropped)."""
        out: list[bool] = []
        for body in self.decoder.feed(data):
            if body == ACK_DATA:
                out.append(True)
            elif body == FAIL_ACK_DATA:
                out.append(False)
            # any other frame: ignored, as Tomcat's NioSender does
        return out
