"""NioReceiver: the TCP side that Tomcat's senders connect to (an asyncio server).

Per connection (``asyncio.Protocol``, no streams): socket bytes -> ``FrameDecoder`` -> ``ChannelData``
-> ACK policy -> listener, with no extra copies.  The ACK rules are Tomcat's
(``NioReplicationTask.drainChannel``):

* ``USE_ACK`` without ``SYNCHRONIZED_ACK``: the ACK is written *before* the message is processed;
* ``USE_ACK`` with ``SYNCHRONIZED_ACK``: ACK after processing, FAIL_ACK if processing raised;
* no ``USE_ACK``: nothing is ever written back (a Tomcat sender reads any byte as the next ACK).

Frames of one connection are processed in order; when a listener returns an awaitable, reading of
that connection is paused until it completes (Tomcat: one worker per connection at a time).

Tomcat attribute mapping (snake_case of the server.xml names, ``from_attributes`` takes camelCase):
``address`` (``"auto"`` = the host name's address, as ``InetAddress.getLocalHost()``), ``port``,
``auto_bind`` (ports tried upwards), ``rx_buf_size``/``tx_buf_size`` (SO_RCVBUF/SO_SNDBUF of accepted
sockets), ``tcp_no_delay``, ``so_keep_alive``, ``so_linger_on``/``so_linger_time``, ``so_reuse_address``;
``max_threads`` = how many connections may have a listener coroutine in flight at once (the others
wait with reading paused); ``timeout`` (ms) = after this long waiting for such a slot a warning is
logged (Tomcat's "threads exhausted" warning); ``selector_timeout`` (ms) = how long ``stop()`` lets
in-flight processing finish before connections are closed.  ``udp_port`` > 0 (the UDP receiver) is
not supported.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import socket
import struct
import time
from typing import Any, Awaitable, Callable, Protocol

from tribes import fastpath
from tribes.io.channel_data import ChannelData
from tribes.io.framing import ACK_FRAME, FAIL_ACK_FRAME, FrameDecoder, FramingError
from tribes.membership.member import _member_from_fields
from tribes.transport.errors import RemoteProcessException

log = logging.getLogger("tribes.transport")

USE_ACK = 0x2
SYNCHRONIZED_ACK = 0x4

__all__ = ["NioReceiver", "MessageListener", "resolve_address"]


class MessageListener(Protocol):
    def message_received(self, msg: ChannelData) -> None | Awaitable[None]: ...


def resolve_address(address: str | None) -> str:
    """``"auto"``/None -> the address of this host's name (Tomcat: ``InetAddress.getLocalHost()``)."""
    if address is None or address == "auto":
        try:
            return socket.gethostbyname(socket.gethostname())
        except OSError:
            return "127.0.0.1"
    return address


def host_bytes(address: str) -> bytes:
    try:
        return socket.inet_pton(socket.AF_INET, address)
    except OSError:
        return socket.inet_pton(socket.AF_INET6, address)


_CAMEL = {
    "address": "address", "host": "address", "port": "port", "autoBind": "auto_bind",
    "rxBufSize": "rx_buf_size", "txBufSize": "tx_buf_size", "tcpNoDelay": "tcp_no_delay",
    "soKeepAlive": "so_keep_alive", "soLingerOn": "so_linger_on", "soLingerTime": "so_linger_time",
    "soReuseAddress": "so_reuse_address", "timeout": "timeout", "selectorTimeout": "selector_timeout",
    "maxThreads": "max_threads", "minThreads": "min_threads", "udpPort": "udp_port",
    "securePort": "secure_port", "maxTasks": None, "minTasks": None, "direct": None,
    "useBufferPool": None, "ooBInline": None, "soTrafficClass": None, "daemon": None,
    "maxIdleTime": None, "udpRxBufSize": None, "udpTxBufSize": None, "className": None,
}


class NioReceiver:
    """Asyncio TCP receiver with Tomcat's NioReceiver attributes and ACK behaviour."""

    def __init__(self, address: str = "auto", port: int = 4000, auto_bind: int = 100,
                 rx_buf_size: int = 65536, tx_buf_size: int = 25188, tcp_no_delay: bool = True,
                 so_keep_alive: bool = False, so_linger_on: bool = True, so_linger_time: int = 3,
                 so_reuse_address: bool = True, timeout: int = 3000, selector_timeout: int = 5000,
                 max_threads: int = 15, min_threads: int = 6, udp_port: int = -1,
                 secure_port: int = -1) -> None:
        self.address = address
        self.port = port
        self.auto_bind = max(1, auto_bind)
        self.rx_buf_size = rx_buf_size
        self.tx_buf_size = tx_buf_size
        self.tcp_no_delay = tcp_no_delay
        self.so_keep_alive = so_keep_alive
        self.so_linger_on = so_linger_on
        self.so_linger_time = so_linger_time
        self.so_reuse_address = so_reuse_address
        self.timeout = timeout
        self.selector_timeout = selector_timeout
        self.max_threads = max_threads
        self.min_threads = min_threads
        self.udp_port = udp_port
        self.secure_port = secure_port
        self.listener: MessageListener | None = None
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[_RxConnection] = set()
        self._slots: asyncio.Semaphore | None = None
        self.bound_host: str | None = None
        self.messages_received = 0
        self.bytes_received = 0

    @classmethod
    def from_attributes(cls, attrs: dict[str, str]) -> "NioReceiver":
        kwargs: dict[str, Any] = {}
        for key, value in attrs.items():
            if key not in _CAMEL:
                raise ValueError(f"NioReceiver: unknown attribute {key!r} (known: {', '.join(sorted(_CAMEL))})")
            name = _CAMEL[key]
            if name is None:
                continue
            if name == "address":
                kwargs[name] = value
            elif name in ("tcp_no_delay", "so_keep_alive", "so_linger_on", "so_reuse_address"):
                kwargs[name] = str(value).strip().lower() == "true"
            else:
                kwargs[name] = int(value)
        return cls(**kwargs)

    # -- attributes Tomcat's coordinator reads -------------------------------------------------------
    @property
    def host(self) -> str:
        return self.bound_host or resolve_address(self.address)

    @property
    def host_bytes(self) -> bytes:
        return host_bytes(self.host)

    def set_message_listener(self, listener: MessageListener | None) -> None:
        self.listener = listener

    @property
    def is_listening(self) -> bool:
        return self._server is not None

    # -- life cycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._server is not None:
            return
        if self.udp_port > 0:
            raise ValueError("NioReceiver: udpPort > 0 (the UDP receiver) is not supported; leave it at -1")
        host = resolve_address(self.address)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        port = self.port
        last_error: OSError | None = None
        sock: socket.socket | None = None
        for _ in range(self.auto_bind):
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                if self.so_reuse_address:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((host, port))
                break
            except OSError as exc:
                sock.close()
                sock = None
                last_error = exc
                port += 1
        if sock is None:
            raise OSError(f"NioReceiver: could not bind {host}:{self.port}..{port - 1} "
                          f"(autoBind={self.auto_bind}): {last_error}")
        sock.listen(128)
        sock.setblocking(False)
        self.port = port
        self.bound_host = host
        self._slots = asyncio.Semaphore(max(1, self.max_threads))
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _RxConnection(self), sock=sock)
        log.info("NioReceiver listening on %s:%d", host, port)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        deadline = time.monotonic() + self.selector_timeout / 1000.0
        while any(c.busy for c in self._connections) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for conn in list(self._connections):
            conn.close()
        self._connections.clear()
        try:
            await asyncio.wait_for(server.wait_closed(), 1.0)
        except (asyncio.TimeoutError, Exception):  # pragma: no cover - best effort
            pass
        log.info("NioReceiver on %s:%d stopped", self.bound_host, self.port)

    def heartbeat(self) -> None:
        """Tomcat's receiver heartbeat is empty."""


_pack_ack = ACK_FRAME
_pack_fail = FAIL_ACK_FRAME


class _RxConnection(asyncio.Protocol):
    """One inbound connection: decode frames, ACK per Tomcat's rules, hand messages up in order."""

    __slots__ = ("_receiver", "_transport", "_decoder", "busy", "_backlog", "_eof", "_peer", "_last_addr",
                 "_last_member")

    def __init__(self, receiver: NioReceiver) -> None:
        self._receiver = receiver
        self._transport: asyncio.Transport | None = None
        self._decoder = FrameDecoder()
        self.busy = False
        self._backlog: list[bytes] = []
        self._eof = False
        self._peer: Any = None
        self._last_addr: bytes | None = None
        self._last_member: Any = None

    # asyncio callbacks -------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        r = self._receiver
        r._connections.add(self)
        sock = transport.get_extra_info("socket")
        self._peer = transport.get_extra_info("peername")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, r.rx_buf_size)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, r.tx_buf_size)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if r.tcp_no_delay else 0)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1 if r.so_keep_alive else 0)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                struct.pack("ii", 1 if r.so_linger_on else 0, r.so_linger_time))
            except OSError as exc:  # pragma: no cover - platform specific
                log.debug("could not set socket options on %s: %s", self._peer, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._receiver._connections.discard(self)
        self._transport = None

    def eof_received(self) -> bool:
        # Tomcat: remaining complete frames are processed, then the connection is closed.
        if self.busy:
            self._eof = True
            return True
        return False

    def close(self) -> None:
        t = self._transport
        if t is not None:
            t.close()

    def data_received(self, data: bytes) -> None:
        r = self._receiver
        r.bytes_received += len(data)
        try:
            bodies = self._decoder.feed(data)
        except FramingError as exc:
            log.warning("NioReceiver: dropping connection from %s: %s", self._peer, exc)
            bodies = list(getattr(exc, "frames", ()) or ())
            if self.busy:
                self._backlog.extend(bodies)
            elif bodies:
                self._process(bodies, 0)
            self._eof = True
            if not self.busy:
                self.close()
            return
        if not bodies:
            return
        if self.busy:
            self._backlog.extend(bodies)
            return
        self._process(bodies, 0)

    # processing --------------------------------------------------------------------------------------
    def _process(self, bodies: list[bytes], start: int) -> None:
        """Process bodies[start:] in order; stops and continues asynchronously at an awaitable."""
        r = self._receiver
        listener = r.listener
        transport = self._transport
        parse = fastpath.parse_channel_data
        n = len(bodies)
        i = start
        while i < n:
            body = bodies[i]
            i += 1
            try:
                options, timestamp, unique_id, fields, address, message = parse(body)
                if address == self._last_addr:
                    member = self._last_member
                else:
                    member = self._last_member = _member_from_fields(fields, address)
                    self._last_addr = address
                msg = ChannelData(options, timestamp, unique_id, member, message)
            except Exception as exc:
                log.warning("NioReceiver: undecodable ChannelData (%d bytes) from %s, closing: %s",
                            len(body), self._peer, exc)
                self._eof = True
                self.close()
                return
            r.messages_received += 1
            ack = options & USE_ACK
            sync = ack and (options & SYNCHRONIZED_ACK)
            if ack and not sync and transport is not None and not transport.is_closing():
                transport.write(_pack_ack)
            if listener is None:  # Tomcat: no listener = nothing to do, processing "succeeded"
                if sync:
                    self._write(_pack_ack)
                continue
            try:
                result = listener.message_received(msg)
            except RemoteProcessException as exc:
                log.debug("NioReceiver: processing failed: %s", exc)
                if sync:
                    self._write(_pack_fail)
                continue
            except Exception:
                log.exception("NioReceiver: processing a message from %s failed", self._peer)
                if sync:
                    self._write(_pack_fail)
                continue
            if result is not None and inspect.isawaitable(result):
                self._go_async(result, bool(sync), bodies, i)
                return
            if sync:
                self._write(_pack_ack)
        if self._eof and not self.busy:
            self.close()

    def _write(self, frame: bytes) -> None:
        t = self._transport
        if t is not None and not t.is_closing():
            t.write(frame)

    def _go_async(self, awaitable: Awaitable[Any], sync: bool, bodies: list[bytes], resume_at: int) -> None:
        self.busy = True
        t = self._transport
        if t is not None and not t.is_closing():
            try:
                t.pause_reading()
            except RuntimeError:  # pragma: no cover
                pass
        asyncio.ensure_future(self._finish(awaitable, sync, bodies, resume_at))

    async def _finish(self, awaitable: Awaitable[Any], sync: bool, bodies: list[bytes], resume_at: int) -> None:
        r = self._receiver
        slots = r._slots
        acquired = False
        try:
            if slots is not None:
                if slots.locked():
                    started = time.monotonic()
                    try:
                        await asyncio.wait_for(slots.acquire(), r.timeout / 1000.0)
                    except asyncio.TimeoutError:
                        log.warning("NioReceiver: all %d processing slots busy for more than %d ms (maxThreads)",
                                    r.max_threads, r.timeout)
                        await slots.acquire()
                    log.debug("waited %.3f s for a processing slot", time.monotonic() - started)
                else:
                    await slots.acquire()
                acquired = True
            try:
                await awaitable
            except RemoteProcessException as exc:
                log.debug("NioReceiver: processing failed: %s", exc)
                if sync:
                    self._write(_pack_fail)
            except Exception:
                log.exception("NioReceiver: processing a message from %s failed", self._peer)
                if sync:
                    self._write(_pack_fail)
            else:
                if sync:
                    self._write(_pack_ack)
        finally:
            if acquired and slots is not None:
                slots.release()
        self.busy = False
        # continue with the rest of this batch, then whatever arrived meanwhile
        if resume_at < len(bodies):
            self._process(bodies, resume_at)
            if self.busy:
                return
        while self._backlog and not self.busy:
            backlog, self._backlog = self._backlog, []
            self._process(backlog, 0)
        if self.busy:
            return
        t = self._transport
        if self._eof:
            self.close()
        elif t is not None and not t.is_closing():
            try:
                t.resume_reading()
            except RuntimeError:  # pragma: no cover
                pass


MessageCallback = Callable[[ChannelData], "None | Awaitable[None]"]
