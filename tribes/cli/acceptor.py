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
The messages are read and written with the session message codec of ``tribes.managers`` (this
helper of ``tribes members --join`` sits in the CLI layer, above every codec it uses).
"""
from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Callable

from tribes.channel import SendOptions, new_unique_id
from tribes.interceptors.tcp_failure_detector import TCP_FAIL_DETECT
from tribes.io.channel_data import ChannelData
from tribes.io.framing import ACK_FRAME, FrameDecoder, FramingError
from tribes.io.member import Member

__all__ = ["ProbeAcceptor", "TCP_FAIL_DETECT", "get_all_sessions_context", "no_context_manager_message",
           "no_context_manager_answer"]

log = logging.getLogger("tribes.cli.acceptor")

_MAX_BUFFER = 1 << 16  # bytes kept per connection to look for the probe marker

def get_all_sessions_context(payload: bytes) -> str | None:
    """The context name of a serialized ``EVT_GET_ALL_SESSIONS`` SessionMessageImpl, else None."""
    from tribes.managers.session_message import EVT_GET_ALL_SESSIONS, SessionMessage, SessionMessageError

    if not payload.startswith(b"\xac\xed"):
        return None
    try:
        msg = SessionMessage.decode(payload)
    except SessionMessageError:
        return None
    if msg.event_type != EVT_GET_ALL_SESSIONS:
        return None
    return msg.context_name


def no_context_manager_message(context: str) -> bytes:
    """Serialized ``SessionMessageImpl(EVT_ALL_SESSION_NOCONTEXTMANAGER)`` as ClusterSessionListener
    builds it (the session message codec's bytes)."""
    from tribes.managers.delta_manager import no_context_manager_reply

    return no_context_manager_reply(context).encode()


def no_context_manager_answer(payload: bytes) -> tuple[str, bytes] | None:
    """ClusterSessionListener's answer for a node without managers: a ``GET_ALL_SESSIONS`` for any
    context gets ``EVT_ALL_SESSION_NOCONTEXTMANAGER`` (context, serialized reply); else None."""
    context = get_all_sessions_context(payload)
    if context is None:
        return None
    return context, no_context_manager_message(context)


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
                        answer = no_context_manager_answer(payload)
                        if answer is not None:
                            asyncio.ensure_future(self._no_context_manager(answer[0], answer[1], msg.address))
        except (asyncio.TimeoutError, ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _no_context_manager(self, context: str, message: bytes, to: Member) -> None:
        local = self.local_member() if self.local_member is not None else None
        if local is None:
            return
        reply = ChannelData(int(SendOptions.ASYNCHRONOUS), int(time.time() * 1000), new_unique_id(), local, message)
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
