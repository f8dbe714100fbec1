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

Limits (``tribes.transport.limits.ReceiverLimits``, ``limits=`` or the camelCase attributes
``maxMessageSize``, ``maxTotalBuffer``, ``maxConnections``, ``maxConnectionsPerPeer``,
``partialFrameTimeout``, ``idleTimeout``, ``writeHighWater``, ``writeLowWater``; docs/limits.md): a
connection is refused or evicted at the connection caps, stops being read while the bytes of
incomplete frames across connections are over ``max_total_buffer`` or while more than
``write_high_water`` bytes of ACKs wait for a peer that does not read them (``pause_writing``), and
is closed when it stalls in a partial frame. Each limit hit writes one rate-limited log line naming
the setting.

The protocol here is a thin pump: framing, ``ChannelData`` decoding, ACK rules and timeouts are the
sans-I/O ``tribes.transport.core.RxCore``.
"""
from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import socket
import struct
import time
from typing import Any, Awaitable, Mapping, Protocol

from tribes.attributes import UnknownAttributeError, attribute_name, kwargs_from_attributes, python_name
from tribes.channel import RemoteProcessException, SendOptions
from tribes.io.channel_data import ChannelData
from tribes.io.framing import ACK_FRAME, FAIL_ACK_FRAME
from tribes.io.member import host_bytes
from tribes.ratelimit import RateLimitedLog
from tribes.transport.core import ConnectionRefused, RxCore
from tribes.transport.limits import ConnectionTable, ReceiveBudget, ReceiverLimits, fd_limit

log = logging.getLogger("tribes.transport")
_limit_log = RateLimitedLog(log)

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


_LIMIT_FIELDS = frozenset(f.name for f in dataclasses.fields(ReceiverLimits))

#: Tomcat NioReceiver attributes with no job here (Java executors, NIO buffers, UDP): accepted, not applied
_NOT_APPLICABLE = ("className", "maxTasks", "minTasks", "direct", "useBufferPool", "ooBInline", "soTrafficClass",
                   "daemon", "maxIdleTime", "udpRxBufSize", "udpTxBufSize")


class NioReceiver:
    """Asyncio TCP receiver with Tomcat's NioReceiver attributes and ACK behaviour."""

    def __init__(self, address: str = "auto", port: int = 4000, auto_bind: int = 100,
                 rx_buf_size: int = 65536, tx_buf_size: int = 25188, tcp_no_delay: bool = True,
                 so_keep_alive: bool = False, so_linger_on: bool = True, so_linger_time: int = 3,
                 so_reuse_address: bool = True, timeout: int = 3000, selector_timeout: int = 5000,
                 max_threads: int = 15, min_threads: int = 6, udp_port: int = -1,
                 secure_port: int = -1, limits: ReceiverLimits | None = None) -> None:
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
        self.limits = limits if limits is not None else ReceiverLimits()
        self._connections: dict[_RxConnection, None] = {}  # in arrival order
        self._slots: asyncio.Semaphore | None = None
        self._table: ConnectionTable[_RxConnection] = ConnectionTable(0, 0)
        self._budget: ReceiveBudget[_RxConnection] = ReceiveBudget(0, 0)
        self._budget_paused: dict[_RxConnection, None] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self.bound_host: str | None = None
        self.messages_received = 0
        self.bytes_received = 0
        #: connections refused/evicted/closed by a limit, by setting name
        self.limit_hits: dict[str, int] = {}


    @property
    def buffered_bytes(self) -> int:
        """Bytes of incomplete frames held across all connections now."""
        return self._budget.total

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    def _hit(self, setting: str, msg: str, *args: object) -> None:
        self.limit_hits[setting] = self.limit_hits.get(setting, 0) + 1
        _limit_log.warn(setting, msg + " (setting %s)", *args, setting)

    @classmethod
    def from_attributes(cls, attrs: Mapping[str, str]) -> "NioReceiver":
        """From server.xml's camelCase attributes (the one mapping, ``tribes.attributes``); ``host`` is
        Tomcat's alias of ``address``; the receive limits (Python-only) by their camelCase names."""
        given = dict(attrs)
        if "host" in given:
            given.setdefault("address", given.pop("host"))
        limit_attrs = {k: given.pop(k) for k in list(given) if python_name(k) in _LIMIT_FIELDS}
        try:
            kwargs = kwargs_from_attributes(cls, given, ignore=_NOT_APPLICABLE, exclude=("limits",))
            if limit_attrs:
                kwargs["limits"] = ReceiverLimits(**kwargs_from_attributes(ReceiverLimits, limit_attrs))
        except UnknownAttributeError as exc:
            known = sorted([*exc.accepted, *(attribute_name(f) for f in _LIMIT_FIELDS), *_NOT_APPLICABLE])
            raise ValueError(f"NioReceiver: unknown attribute {exc.attribute!r} (known: {', '.join(known)})") from None
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
        lim = self.limits
        max_conns = lim.max_connections
        spare = fd_limit() - 64
        if max_conns > spare:
            log.info("NioReceiver: max_connections lowered from %d to %d (open-file limit %d minus 64 spare)",
                     max_conns, max(1, spare), fd_limit())
            max_conns = max(1, spare)
        self._table = ConnectionTable(max_conns, lim.max_connections_per_peer)
        self._budget = ReceiveBudget(lim.max_total_buffer, lim.buffer_floor)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _RxConnection(self), sock=sock)
        timeouts = [t for t in (lim.partial_frame_timeout, lim.idle_timeout) if t > 0]
        if timeouts:
            self._sweeper = loop.create_task(self._sweep(min(1.0, max(0.05, min(timeouts) / 4000.0))))
        log.info("NioReceiver listening on %s:%d", host, port)

    async def _sweep(self, interval: float) -> None:
        """Close connections that ran past a timeout (partial frame / idle)."""
        loop = asyncio.get_running_loop()
        lim = self.limits
        while True:
            await asyncio.sleep(interval)
            now = loop.time()
            for conn in list(self._connections):
                core = conn.core
                if core is None:
                    continue
                if conn.paused & _P_BUSY:
                    core.last_rx = now  # our own listener's time does not count against the peer
                    continue
                # a connection paused for the total buffer is not exempt: when every holder stalls,
                # they would otherwise wait on each other for ever
                setting = core.expired(now, lim)
                if setting is not None:
                    self._hit(setting, "NioReceiver: closing the connection from %s: no byte for %.1f s "
                              "with %d bytes of a frame buffered and %d messages delivered",
                              conn.peer_name, now - core.last_rx, core.buffered, core.delivered)
                    conn.close(abort=True)

    def _budget_freed(self) -> None:
        """Bytes were released: connections paused for the total buffer may be read again."""
        if not self._budget_paused:
            return
        for conn in list(self._budget_paused):
            if self._budget.admits(conn):
                del self._budget_paused[conn]
                conn.resume(_P_BUDGET)

    def _forget(self, conn: "_RxConnection") -> None:
        self._connections.pop(conn, None)
        self._table.remove(conn)
        self._budget_paused.pop(conn, None)
        self._budget.release(conn)
        self._budget_freed()

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.cancel()
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


def _limit_property(name: str) -> property:
    def get(self: NioReceiver) -> int:
        return int(getattr(self.limits, name))

    def put(self: NioReceiver, value: int) -> None:
        setattr(self.limits, name, int(value))
    return property(get, put, doc=f"``limits.{name}`` (effective at the next start())")


# each ReceiverLimits setting reads and writes as an attribute of the receiver too
# (receiver.max_total_buffer = ..., as Tomcat's setters)
for _name in sorted(_LIMIT_FIELDS):
    setattr(NioReceiver, _name, _limit_property(_name))
del _name

_pack_ack = ACK_FRAME
_pack_fail = FAIL_ACK_FRAME
USE_ACK = int(SendOptions.USE_ACK)
SYNCHRONIZED_ACK = int(SendOptions.SYNCHRONIZED_ACK)

# why reading of a connection is paused (a bit mask: reading resumes when all are clear)
_P_BUSY = 1     # a listener coroutine of this connection is in flight (Tomcat: one worker per connection)
_P_WRITE = 2    # the peer does not read its ACKs (asyncio's pause_writing)
_P_BUDGET = 4   # the bytes of incomplete frames across connections are over max_total_buffer


class _RxConnection(asyncio.Protocol):
    """One inbound connection: pumps bytes through ``RxCore``, ACKs, hands messages up in order."""

    __slots__ = ("_receiver", "_transport", "core", "busy", "_backlog", "_eof", "_peer", "peer_name",
                 "paused", "_held")

    def __init__(self, receiver: NioReceiver) -> None:
        self._receiver = receiver
        self._transport: asyncio.Transport | None = None
        self.core: RxCore | None = None
        self.busy = False
        self._backlog: list[ChannelData] = []
        self._eof = False
        self._peer: Any = None
        self.peer_name = "?"
        self.paused = 0
        self._held = 0

    @property
    def proven(self) -> bool:
        core = self.core
        return core is not None and core.delivered > 0

    # asyncio callbacks -------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        r = self._receiver
        self._peer = transport.get_extra_info("peername")
        peer_ip = str(self._peer[0]) if self._peer else "?"
        self.peer_name = f"{peer_ip}:{self._peer[1]}" if self._peer else "?"
        unproven = [c for c in r._connections if not c.proven] if len(r._table) >= r._table.max_connections else []
        ok, evicted, setting = r._table.admit(self, peer_ip, unproven)
        if not ok:
            limit = r._table.max_per_peer if setting == "max_connections_per_peer" else r._table.max_connections
            r._hit(setting, "NioReceiver: refusing a connection from %s: %d connections open (%d from this "
                   "address), the limit is %d", self.peer_name, len(r._table), r._table.count(peer_ip), limit)
            transport.abort()
            return
        if evicted is not None:
            r._hit("max_connections", "NioReceiver: %d connections open; closing %s, which has not delivered a "
                   "valid message, to admit %s", len(r._table), evicted.peer_name, self.peer_name)
            evicted.close(abort=True)
        self._transport = transport
        r._connections[self] = None
        lim = r.limits
        self.core = RxCore(lim.max_message_size, asyncio.get_running_loop().time())
        transport.set_write_buffer_limits(high=lim.write_high_water, low=lim.write_low_water)
        sock = transport.get_extra_info("socket")
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
        if self._transport is not None or self.core is not None:
            self._receiver._forget(self)
        self._transport = None
        self._held = 0

    def eof_received(self) -> bool:
        # Tomcat: remaining complete frames are processed, then the connection is closed.
        if self.busy:
            self._eof = True
            return True
        return False

    def close(self, abort: bool = False) -> None:
        t = self._transport
        if t is not None:
            # a peer that does not read would keep a graceful close (and its buffers) forever
            if abort or self.paused & _P_WRITE:
                t.abort()
            else:
                t.close()

    # flow control ------------------------------------------------------------------------------------
    def pause(self, why: int) -> None:
        t = self._transport
        if not self.paused and t is not None and not t.is_closing():
            try:
                t.pause_reading()
            except RuntimeError:  # pragma: no cover
                pass
        self.paused |= why

    def resume(self, why: int) -> None:
        if not self.paused & why:
            return
        self.paused &= ~why
        t = self._transport
        if not self.paused and t is not None and not t.is_closing():
            try:
                t.resume_reading()
            except RuntimeError:  # pragma: no cover
                pass

    def pause_writing(self) -> None:
        t = self._transport
        r = self._receiver
        r._hit("write_high_water", "NioReceiver: %s does not read its ACKs (%d bytes waiting); reading from it "
               "stops until it does", self.peer_name, t.get_write_buffer_size() if t is not None else -1)
        self.pause(_P_WRITE)

    def resume_writing(self) -> None:
        self.resume(_P_WRITE)

    def data_received(self, data: bytes) -> None:
        core = self.core
        if core is None:
            return
        r = self._receiver
        r.bytes_received += len(data)
        try:
            msgs = core.receive_data(data, asyncio.get_running_loop().time())
        except ConnectionRefused as exc:
            r._hit(exc.setting or "framing", "NioReceiver: dropping the connection from %s: %s",
                   self.peer_name, exc.reason)
            self._account(0)
            self._eof = True
            if exc.messages:
                if self.busy:
                    self._backlog.extend(exc.messages)
                else:
                    self._process(exc.messages, 0)
            if not self.busy:
                self.close()
            return
        held = core.decoder.buffered
        if held or self._held:
            self._account(held)
        if not msgs:
            return
        if self.busy:
            self._backlog.extend(msgs)
            return
        self._process(msgs, 0)

    def _account(self, held: int) -> None:
        """Tell the shared budget how many bytes of an incomplete frame this connection holds."""
        r = self._receiver
        old, self._held = self._held, held
        if not r._budget.update(self, held):
            if not self.paused & _P_BUDGET:
                r._hit("max_total_buffer", "NioReceiver: %d bytes of incomplete frames held across connections "
                       "(limit %d); reading from %s (%d bytes held) waits", r._budget.total,
                       r._budget.limit, self.peer_name, held)
                r._budget_paused[self] = None
                self.pause(_P_BUDGET)
        elif held < old:
            r._budget_freed()

    # processing --------------------------------------------------------------------------------------
    def _process(self, msgs: list[ChannelData], start: int) -> None:
        """Process msgs[start:] in order; stops and continues asynchronously at an awaitable."""
        r = self._receiver
        listener = r.listener
        transport = self._transport
        n = len(msgs)
        i = start
        while i < n:
            msg = msgs[i]
            i += 1
            r.messages_received += 1
            options = msg.options
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
                self._go_async(result, bool(sync), msgs, i)
                return
            if sync:
                self._write(_pack_ack)
        if self._eof and not self.busy:
            self.close()

    def _write(self, frame: bytes) -> None:
        t = self._transport
        if t is not None and not t.is_closing():
            t.write(frame)

    def _go_async(self, awaitable: Awaitable[Any], sync: bool, msgs: list[ChannelData], resume_at: int) -> None:
        self.busy = True
        self.pause(_P_BUSY)
        asyncio.ensure_future(self._finish(awaitable, sync, msgs, resume_at))

    async def _finish(self, awaitable: Awaitable[Any], sync: bool, msgs: list[ChannelData], resume_at: int) -> None:
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
        if resume_at < len(msgs):
            self._process(msgs, resume_at)
            if self.busy:
                return
        while self._backlog and not self.busy:
            backlog, self._backlog = self._backlog, []
            self._process(backlog, 0)
        if self.busy:
            return
        if self._eof:
            self.close()
        else:
            self.resume(_P_BUSY)
