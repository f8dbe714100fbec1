"""A minimal TCP acceptor for nodes that announce themselves without a full receiver.

Tomcat's ``TcpFailureDetector`` admits a member only after a TCP connect to the member's
advertised receiver port succeeds (it then writes one ``TCP_FAIL_DETECT`` frame with options 1,
no ACK requested, and closes). A node that joins must therefore listen **before** it
announces itself. When the channel's ``NioReceiver`` is not running (``tribes members --join``,
membership-only tools), :class:`ProbeAcceptor` listens on the receiver port, reads and drops
whatever arrives, and counts the detector's probes.

A message that asks for an ACK (options bit USE_ACK) is acknowledged once it has been read,
exactly as a Tomcat node that does not have the message's context does (its
ClusterSessionListener only logs a warning, the receiver still ACKs): a Tomcat cluster with
``channelSendOptions=6`` must not wait for the ACK timeout on every replication because a
membership-only node joined. One message is answered, because a node without session
managers must never make a Tomcat wait: a starting
Tomcat ``DeltaManager`` that picked this node as the oldest member sends it
``EVT_GET_ALL_SESSIONS`` and would wait 60 s for the state; the acceptor replies
``EVT_ALL_SESSION_NOCONTEXTMANAGER`` for that context, exactly what Tomcat's own
``ClusterSessionListener`` answers for a context it does not have (protocol reference 6.1/6.4).
"""
from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
from typing import Callable

from tribes.channel import SendOptions
from tribes.io.member import Member

__all__ = ["ProbeAcceptor", "TCP_FAIL_DETECT", "get_all_sessions_context", "no_context_manager_message"]

log = logging.getLogger("tribes.membership.acceptor")

# TcpFailureDetector.TCP_FAIL_DETECT (64 bytes), the payload of the detector's probe frame.
TCP_FAIL_DETECT = bytes.fromhex(
    "4fa77348798243c99f6f8980a15b07147dd9525bebf1439ab77ebe8f81671eb6"
    "3715be87457e4ca8bf0a4d135338153255f694b73afa407891047dd77284c0d5")

_MAX_BUFFER = 1 << 16  # bytes kept per connection to look for the probe marker

# Java serialization of org.apache.catalina.ha.session.SessionMessageImpl up to the field values:
# the constant 275-byte prefix (class descriptors of SessionMessageImpl SUID 2 and
# ClusterMessageBase SUID 1), identical in 9.0.70 and 10.1.x (protocol reference 6.2, verified).
SESSION_MESSAGE_PREFIX = bytes.fromhex(
    "aced0005737200316f72672e6170616368652e636174616c696e612e68612e73657373696f6e2e53657373696f6e4d65"
    "7373616765496d706c00000000000000020200074900086d45767454797065"
    "4a001673657269616c697a6174696f6e54696d657374616d70"
    "5a000c74696d657374616d70536574"
    "4c000c6d436f6e746578744e616d6574" "00124c6a6176612f6c616e672f537472696e673b"
    "5b00086d53657373696f6e7400025b42" "4c000a6d53657373696f6e494471007e0001"
    "4c0008756e6971756549647100" "7e0001"
    "787200296f72672e6170616368652e636174616c696e612e68612e436c75737465724d65737361676542617365"
    "000000000000000102000" "14a000974696d657374616d707870")
assert len(SESSION_MESSAGE_PREFIX) == 275, len(SESSION_MESSAGE_PREFIX)
EVT_GET_ALL_SESSIONS = 4
EVT_ALL_SESSION_NOCONTEXTMANAGER = 16


def _java_string(text: str) -> bytes:
    raw = text.encode("utf-8")  # context names here are ASCII; modified UTF-8 = UTF-8 for them
    return b"\x74" + struct.pack(">H", len(raw)) + raw


def get_all_sessions_context(payload: bytes) -> str | None:
    """The context name of a serialized ``EVT_GET_ALL_SESSIONS`` SessionMessageImpl, else None."""
    if not payload.startswith(SESSION_MESSAGE_PREFIX):
        return None
    pos = len(SESSION_MESSAGE_PREFIX) + 8  # ClusterMessageBase.timestamp (always 0)
    if len(payload) < pos + 4 + 8 + 1 + 3:
        return None
    (evt,) = struct.unpack_from(">i", payload, pos)
    if evt != EVT_GET_ALL_SESSIONS:
        return None
    pos += 4 + 8 + 1
    if payload[pos] != 0x74:
        return None
    (n,) = struct.unpack_from(">H", payload, pos + 1)
    raw = payload[pos + 3:pos + 3 + n]
    if len(raw) != n:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def no_context_manager_message(context: str) -> bytes:
    """Serialized ``SessionMessageImpl(EVT_ALL_SESSION_NOCONTEXTMANAGER)`` as ClusterSessionListener
    builds it: sessionID ``NO-CONTEXT-MANAGER``, uniqueId ``NO-CONTEXT-MANAGER-<ctx>``, no timestamp."""
    return (SESSION_MESSAGE_PREFIX + b"\x00" * 8 + struct.pack(">iq", EVT_ALL_SESSION_NOCONTEXTMANAGER, 0)
            + b"\x00" + _java_string(context) + b"\x70" + _java_string("NO-CONTEXT-MANAGER")
            + _java_string("NO-CONTEXT-MANAGER-" + context))


class ProbeAcceptor:
    """Listen on ``host:port`` (``auto_bind`` ports upwards, like Tomcat's autoBind)."""

    def __init__(self, host: str, port: int, auto_bind: int = 100,
                 local_member: Callable[[], Member | None] | None = None,
                 answer_get_all: bool = True) -> None:
        self.host = host
        self.local_member = local_member
        self.answer_get_all = answer_get_all
        self.no_context_replies: list[str] = []
        self.acks = 0
        self.requested_port = port
        self.auto_bind = max(1, auto_bind)
        self.port: int | None = None
        self.connections = 0
        self.probes = 0
        self.bytes_dropped = 0
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> int:
        """Bind and listen; returns the port actually bound."""
        last: OSError | None = None
        for port in range(self.requested_port, self.requested_port + self.auto_bind):
            try:
                self._server = await asyncio.start_server(
                    self._handle, self.host, port, reuse_address=True,
                    family=socket.AF_INET6 if ":" in self.host else socket.AF_INET)
            except OSError as exc:
                last = exc
                continue
            self.port = self._server.sockets[0].getsockname()[1]
            log.info("probe acceptor listening on %s:%d", self.host, self.port)
            return self.port
        raise OSError(f"could not bind a TCP port in {self.requested_port}.."
                      f"{self.requested_port + self.auto_bind - 1} on {self.host}: {last}")

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2)
            except asyncio.TimeoutError:  # pragma: no cover - open connections
                pass
            self._server = None

    async def __aenter__(self) -> "ProbeAcceptor":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from tribes.io.channel_data import ChannelData
        from tribes.io.framing import ACK_FRAME, FrameDecoder, FramingError

        self.connections += 1
        decoder = FrameDecoder(16 * 1024 * 1024)
        try:
            while True:
                chunk = await asyncio.wait_for(reader.read(65536), 30)
                if not chunk:
                    break
                self.bytes_dropped += len(chunk)
                try:
                    bodies = decoder.feed(chunk)
                except FramingError as exc:
                    log.debug("probe acceptor: dropping a connection with bad framing: %s", exc)
                    break
                for body in bodies:
                    try:
                        msg = ChannelData.decode(body)
                    except ValueError:
                        continue
                    if msg.options & SendOptions.USE_ACK:  # sync or not: the same ACK frame
                        writer.write(ACK_FRAME)
                        self.acks += 1
                    payload = bytes(msg.message)
                    if payload == TCP_FAIL_DETECT:
                        self.probes += 1
                    elif self.answer_get_all:
                        ctx = get_all_sessions_context(payload)
                        if ctx is not None:
                            asyncio.ensure_future(self._no_context_manager(ctx, msg.address))
        except (asyncio.TimeoutError, ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _no_context_manager(self, context: str, to: Member) -> None:
        from tribes.io.channel_data import ChannelData, new_unique_id

        local = self.local_member() if self.local_member is not None else None
        if local is None:
            return
        reply = ChannelData(SendOptions.ASYNCHRONOUS, int(time.time() * 1000), new_unique_id(), local,
                            no_context_manager_message(context))
        try:
            _r, w = await asyncio.wait_for(asyncio.open_connection(to.host_str, to.port), 3)
            w.write(reply.encode_frame())
            await asyncio.wait_for(w.drain(), 3)
            w.close()
        except (OSError, asyncio.TimeoutError) as exc:
            log.warning("could not answer GET_ALL_SESSIONS of %s for %r: %s", to.name, context, exc)
            return
        self.no_context_replies.append(context)
        log.info("answered GET_ALL_SESSIONS for %r from %s: no context manager here", context, to.name)
