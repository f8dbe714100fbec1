"""Senders: one persistent connection per member (``NioSender``), a set of them sending one message
to many members in parallel (``ParallelNioSender``), and a pool of those (``PooledParallelSender``).

Tomcat's rules kept here:

* a connection is opened on first use and kept (``keepAliveCount``/``keepAliveTime`` -1 = forever);
  after each send and on every heartbeat, ``keepalive()`` drops connections that served more than
  ``keep_alive_count`` requests or are older than ``keep_alive_time`` ms;
* with ``USE_ACK`` the send completes when one complete ACK frame (``06 02 03``) arrives; FAIL_ACK
  (``0b 00 05``) raises ``RemoteProcessException`` (``throwOnFailedAck``); other frames are ignored;
* without ``USE_ACK`` the send completes when the frame has been handed to the socket; stray bytes
  from the peer are discarded;
* an I/O error (or FAIL_ACK, as in Tomcat) is retried ``max_retry_attempts`` times on a fresh
  connection; the member's ``SenderState`` goes READY -> SUSPECT -> FAILING;
* the whole send to all destinations is bounded by ``timeout`` ms (Tomcat only checks it between
  5 s selects, so a Java sender gives up after ~5 s; here it is exact);
* any failure raises ``ChannelException`` naming each faulty member and its cause, and the parallel
  sender that saw it closes all of its connections (as Tomcat does).

A member that accepts connections but never answers therefore costs at most ``timeout`` and does
not delay the other destinations of the same message: they are sent to concurrently.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any, Sequence

from tribes.io.framing import ACK_DATA, ACK_FRAME, END_DATA, FAIL_ACK_DATA, START_DATA
from tribes.channel import ChannelException, RemoteProcessException, SendOptions
from tribes.transport.errors import SendTimeoutError

log = logging.getLogger("tribes.transport")

__all__ = [
    "SenderState",
    "NioSender",
    "ParallelNioSender",
    "PooledParallelSender",
    "SenderOptions",
]


class SenderState:
    READY = 0
    SUSPECT = 1
    FAILING = 2

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state = SenderState.READY

    def is_suspect(self) -> bool:
        return self.state in (SenderState.SUSPECT, SenderState.FAILING)

    def is_ready(self) -> bool:
        return self.state == SenderState.READY

    def is_failing(self) -> bool:
        return self.state == SenderState.FAILING

    def set_ready(self) -> None:
        self.state = SenderState.READY

    def set_suspect(self) -> None:
        self.state = SenderState.SUSPECT

    def set_failing(self) -> None:
        self.state = SenderState.FAILING


class SenderOptions:
    """Tomcat's AbstractSender attributes shared by all connections of a transport."""

    _CAMEL = {
        "keepAliveCount": "keep_alive_count", "keepAliveTime": "keep_alive_time", "timeout": "timeout",
        "maxRetryAttempts": "max_retry_attempts", "rxBufSize": "rx_buf_size", "txBufSize": "tx_buf_size",
        "tcpNoDelay": "tcp_no_delay", "soKeepAlive": "so_keep_alive", "soLingerOn": "so_linger_on",
        "soLingerTime": "so_linger_time", "throwOnFailedAck": "throw_on_failed_ack",
        "poolSize": "pool_size", "maxWait": "max_wait",
        "directBuffer": None, "ooBInline": None, "soReuseAddress": None, "soTrafficClass": None,
        "udpRxBufSize": None, "udpTxBufSize": None, "className": None,
    }

    def __init__(self, keep_alive_count: int = -1, keep_alive_time: int = -1, timeout: int = 3000,
                 max_retry_attempts: int = 1, rx_buf_size: int = 25188, tx_buf_size: int = 65536,
                 tcp_no_delay: bool = True, so_keep_alive: bool = False, so_linger_on: bool = False,
                 so_linger_time: int = 3, throw_on_failed_ack: bool = True) -> None:
        self.keep_alive_count = keep_alive_count
        self.keep_alive_time = keep_alive_time
        self.timeout = timeout
        self.max_retry_attempts = max_retry_attempts
        self.rx_buf_size = rx_buf_size
        self.tx_buf_size = tx_buf_size
        self.tcp_no_delay = tcp_no_delay
        self.so_keep_alive = so_keep_alive
        self.so_linger_on = so_linger_on
        self.so_linger_time = so_linger_time
        self.throw_on_failed_ack = throw_on_failed_ack


class _TxProtocol(asyncio.Protocol):
    """Client side of one connection: collects ACK frames, tracks write flow control."""

    __slots__ = ("transport", "buf", "waiter", "drain_waiter", "paused", "lost", "throw_on_fail")

    def __init__(self, throw_on_fail: bool) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[bool] | None = None
        self.drain_waiter: asyncio.Future[None] | None = None
        self.paused = False
        self.lost: BaseException | None = None
        self.throw_on_fail = throw_on_fail

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        waiter = self.waiter
        buf = self.buf
        if not buf and data == ACK_FRAME:
            if waiter is not None and not waiter.done():
                waiter.set_result(True)
            return  # not waiting: Tomcat reads and discards stray bytes
        buf += data
        while len(buf) >= 18:
            if buf[:7] != START_DATA:
                at = buf.find(START_DATA, 1)
                if at < 0:
                    del buf[:max(0, len(buf) - 6)]
                    return
                del buf[:at]
                continue
            n = int.from_bytes(buf[7:11], "big")
            if n < 0 or n > 1024:  # an ACK body is 3 bytes; anything big is not an ACK
                del buf[:7]
                continue
            if len(buf) < 18 + n:
                return
            body = bytes(buf[11:11 + n])
            ok_end = buf[11 + n:18 + n] == END_DATA
            if ok_end:
                del buf[:18 + n]
            else:
                del buf[:7]
            if not ok_end or waiter is None or waiter.done():
                continue
            if body == ACK_DATA:
                waiter.set_result(True)
            elif body == FAIL_ACK_DATA:
                if self.throw_on_fail:
                    waiter.set_exception(RemoteProcessException("peer answered FAIL_ACK"))
                else:
                    waiter.set_result(False)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or ConnectionResetError("connection closed by peer")
        self.transport = None
        w = self.waiter
        if w is not None and not w.done():
            w.set_exception(ConnectionResetError(f"connection lost while waiting for ACK: {self.lost}"))
        d = self.drain_waiter
        if d is not None and not d.done():
            d.set_exception(ConnectionResetError(f"connection lost while writing: {self.lost}"))

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        d = self.drain_waiter
        if d is not None and not d.done():
            d.set_result(None)
        self.drain_waiter = None


class NioSender:
    """One persistent TCP connection to one member."""

    __slots__ = ("destination", "options", "protocol", "request_count", "connect_time", "attempt",
                 "_host", "_port")

    def __init__(self, destination: Any, options: SenderOptions) -> None:
        self.destination = destination
        self.options = options
        self.protocol: _TxProtocol | None = None
        self.request_count = 0
        self.connect_time = 0.0
        self.attempt = 0
        self._host = destination.host_str
        self._port = destination.port

    @property
    def is_connected(self) -> bool:
        p = self.protocol
        return p is not None and p.transport is not None and not p.transport.is_closing()

    async def connect(self, timeout: float) -> None:
        if self.is_connected:
            return
        self.disconnect()
        loop = asyncio.get_running_loop()
        proto = _TxProtocol(self.options.throw_on_failed_ack)
        fut = loop.create_connection(lambda: proto, self._host, self._port)
        try:
            transport, _ = await asyncio.wait_for(fut, max(0.001, timeout))
        except asyncio.TimeoutError:
            raise SendTimeoutError(f"connect to {self._host}:{self._port} timed out") from None
        sock = transport.get_extra_info("socket")
        o = self.options
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if o.tcp_no_delay else 0)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1 if o.so_keep_alive else 0)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, o.tx_buf_size)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, o.rx_buf_size)
            except OSError:  # pragma: no cover
                pass
        # let asyncio buffer a few frames before flow control kicks in
        transport.set_write_buffer_limits(high=max(256 * 1024, o.tx_buf_size * 4))
        self.protocol = proto
        self.request_count = 0
        self.connect_time = time.monotonic()

    def disconnect(self) -> None:
        p = self.protocol
        self.protocol = None
        if p is not None and p.transport is not None:
            p.transport.close()

    def keepalive(self) -> bool:
        """Disconnect if the keep-alive limits are exceeded; True if disconnected."""
        o = self.options
        disconnect = False
        if o.keep_alive_count >= 0 and self.request_count > o.keep_alive_count:
            disconnect = True
        elif o.keep_alive_time >= 0 and (time.monotonic() - self.connect_time) * 1000 > o.keep_alive_time:
            disconnect = True
        if disconnect:
            self.disconnect()
        return disconnect

    def check_idle(self) -> bool:
        """Heartbeat check of an idle connection: True if the peer closed it (then it is dropped)."""
        p = self.protocol
        if p is None:
            return False
        if p.lost is not None or p.transport is None:
            self.disconnect()
            return True
        return False

    async def send(self, frame: bytes, wait_ack: bool, deadline: float) -> None:
        """Write one frame (and await its ACK); raises OSError/RemoteProcessException/SendTimeoutError."""
        loop = asyncio.get_running_loop()
        if not self.is_connected:
            await self.connect(deadline - loop.time())
        p = self.protocol
        assert p is not None and p.transport is not None
        transport = p.transport
        if wait_ack:
            waiter = loop.create_future()
            p.waiter = waiter
            transport.write(frame)
            remaining = deadline - loop.time()
            if not waiter.done():
                handle = loop.call_at(deadline, _expire, waiter)
                try:
                    await waiter
                finally:
                    handle.cancel()
                    p.waiter = None
            else:
                p.waiter = None
                waiter.result()
            del remaining
        else:
            transport.write(frame)
            if p.paused:
                drain = p.drain_waiter
                if drain is None or drain.done():
                    drain = p.drain_waiter = loop.create_future()
                handle = loop.call_at(deadline, _expire, drain)
                try:
                    await drain
                finally:
                    handle.cancel()
            elif p.lost is not None:
                raise ConnectionResetError(f"connection lost: {p.lost}")
        self.request_count += 1


def _expire(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_exception(SendTimeoutError("timed out"))


class ParallelNioSender:
    """Sends one message to many members at once over one connection per member."""

    def __init__(self, options: SenderOptions, states: dict[Any, SenderState]) -> None:
        self.options = options
        self._states = states
        self.senders: dict[Any, NioSender] = {}
        self.connected = True

    def _state(self, member: Any) -> SenderState:
        st = self._states.get(member)
        if st is None:
            st = self._states[member] = SenderState()
        return st

    async def send_message(self, destination: Sequence[Any], frame: bytes, options: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.timeout / 1000.0
        wait_ack = bool(options & SendOptions.USE_ACK)
        if len(destination) == 1:
            member = destination[0]
            err = await self._send_one(member, frame, wait_ack, deadline)
            if err is None:
                return
            errors: list[tuple[Any, BaseException]] = [(member, err)]
        else:
            results = await asyncio.gather(*(self._send_one(m, frame, wait_ack, deadline) for m in destination))
            errors = [(m, e) for m, e in zip(destination, results) if e is not None]
            if not errors:
                return
        timed_out = any(isinstance(e, SendTimeoutError) for _, e in errors)
        msg = (f"operation timed out ({self.options.timeout} ms)" if timed_out
               else "send failed")
        cx = ChannelException(msg, cause=errors[0][1])
        for member, err in errors:
            cx.add_faulty_member(member, err)
        self.disconnect()
        raise cx

    async def _send_one(self, member: Any, frame: bytes, wait_ack: bool, deadline: float) -> BaseException | None:
        sender = self.senders.get(member)
        if sender is None:
            sender = self.senders[member] = NioSender(member, self.options)
        max_attempts = self.options.max_retry_attempts
        attempt = 0
        while True:
            try:
                await sender.send(frame, wait_ack, deadline)
            except SendTimeoutError as exc:
                sender.disconnect()
                return exc
            except (OSError, RemoteProcessException, EOFError) as exc:
                attempt += 1
                retry = attempt <= max_attempts and max_attempts > 0
                state = self._state(member)
                if state.is_suspect():
                    state.set_failing()
                if state.is_ready():
                    state.set_suspect()
                    if retry:
                        log.warning("Send to %s failed (%s), retrying", _name(member), exc)
                    else:
                        log.warning("Send to %s failed: %s", _name(member), exc)
                sender.disconnect()
                if retry and asyncio.get_running_loop().time() < deadline:
                    continue
                return exc
            else:
                st = self._states.get(member)
                if st is not None and st.state:
                    st.set_ready()
                if sender.options.keep_alive_count >= 0 or sender.options.keep_alive_time >= 0:
                    sender.keepalive()
                return None

    def disconnect(self) -> None:
        for sender in self.senders.values():
            sender.disconnect()
        self.senders.clear()

    def remove(self, member: Any) -> None:
        sender = self.senders.pop(member, None)
        if sender is not None:
            sender.disconnect()

    def keepalive(self) -> bool:
        result = False
        for member, sender in list(self.senders.items()):
            if sender.keepalive() or sender.check_idle():
                self.senders.pop(member, None)
                result = True
        return result


def _name(member: Any) -> str:
    return getattr(member, "name", repr(member))


class PooledParallelSender:
    """Tomcat's default transport: a pool (``pool_size``, default 25) of ``ParallelNioSender``s.

    Borrowing waits up to ``max_wait`` ms. Concurrent sends use different pooled senders, hence
    different connections per member (up to ``pool_size``), exactly like Tomcat.
    """

    def __init__(self, pool_size: int = 25, max_wait: int = 3000, **sender_options: Any) -> None:
        self.pool_size = pool_size
        self.max_wait = max_wait
        self.options = SenderOptions(**sender_options)
        self.states: dict[Any, SenderState] = {}
        self._free: list[ParallelNioSender] = []
        self._in_use = 0
        self._waiters: list[asyncio.Future[None]] = []
        self.connected = False

    @classmethod
    def from_attributes(cls, attrs: dict[str, str]) -> "PooledParallelSender":
        kwargs: dict[str, Any] = {}
        for key, value in attrs.items():
            if key not in SenderOptions._CAMEL:
                raise ValueError(f"PooledParallelSender: unknown attribute {key!r}")
            name = SenderOptions._CAMEL[key]
            if name is None:
                continue
            if name in ("tcp_no_delay", "so_keep_alive", "so_linger_on", "throw_on_failed_ack"):
                kwargs[name] = str(value).strip().lower() == "true"
            else:
                kwargs[name] = int(value)
        return cls(**kwargs)

    # Tomcat attribute names on the transport itself
    def __getattr__(self, name: str) -> Any:
        options = self.__dict__.get("options")
        if options is not None and hasattr(options, name):
            return getattr(options, name)
        raise AttributeError(name)

    async def connect(self) -> None:
        self.connected = True

    def disconnect(self) -> None:
        self.connected = False
        for s in self._free:
            s.disconnect()
        self._free.clear()
        for w in self._waiters:
            if not w.done():
                w.set_exception(ChannelException("sender pool closed"))
        self._waiters.clear()

    @property
    def in_pool_size(self) -> int:
        return len(self._free)

    @property
    def in_use_pool_size(self) -> int:
        return self._in_use

    async def _borrow(self) -> ParallelNioSender | None:
        if self._free:
            self._in_use += 1
            return self._free.pop()
        if self._in_use < self.pool_size:
            self._in_use += 1
            return ParallelNioSender(self.options, self.states)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait / 1000.0
        while True:
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.append(fut)
            try:
                await asyncio.wait_for(fut, max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                return None
            finally:
                if fut in self._waiters:
                    self._waiters.remove(fut)
            if self._free:
                self._in_use += 1
                return self._free.pop()
            if self._in_use < self.pool_size:
                self._in_use += 1
                return ParallelNioSender(self.options, self.states)

    def _return(self, sender: ParallelNioSender) -> None:
        self._in_use -= 1
        if not self.connected:
            sender.disconnect()
        elif len(self._free) < self.pool_size:
            self._free.append(sender)
        else:
            sender.disconnect()
        while self._waiters:
            w = self._waiters.pop(0)
            if not w.done():
                w.set_result(None)
                break

    def __setattr__(self, name: str, value: Any) -> None:
        options = self.__dict__.get("options")
        if options is not None and name not in self.__dict__ and hasattr(options, name):
            setattr(options, name, value)
        else:
            object.__setattr__(self, name, value)

    async def send_message(self, destination: Sequence[Any], frame: bytes, options: int) -> None:
        if not self.connected:
            raise ChannelException("sender is not connected (transmitter not started)")
        if options & SendOptions.UDP:
            cx = ChannelException("SEND_OPTIONS_UDP (0x20) is not supported: this node has no UDP sender; "
                                  "clear the bit to send over TCP")
            for m in destination:
                cx.add_faulty_member(m, ValueError("UDP sends are not supported"))
            raise cx
        sender = await self._borrow()
        if sender is None:
            cx = ChannelException(f"unable to retrieve a sender from the pool within {self.max_wait} ms")
            for m in destination:
                cx.add_faulty_member(m, TimeoutError("no sender available"))
            raise cx
        try:
            await sender.send_message(destination, frame, options)
        finally:
            self._return(sender)

    def keepalive(self) -> bool:
        result = False
        for s in list(self._free):
            result = s.keepalive() or result
        return result

    def add(self, member: Any) -> None:
        """Tomcat's PooledSender.add is a no-op."""

    def remove(self, member: Any) -> None:
        """Tomcat's PooledSender.remove is a no-op; connections are dropped on failure."""
        self.states.pop(member, None)

    def state_of(self, member: Any) -> SenderState | None:
        return self.states.get(member)

