"""Senders: one persistent connection per member (``NioSender``), ``ParallelNioSender`` (Tomcat's
one-message-to-many-members sender, kept as a class of its own), and ``PooledParallelSender``, the
default transport, which sends through one ``MemberLink`` per member.

Tomcat's rules kept here:

* a connection is opened on first use and kept (``keepAliveCount``/``keepAliveTime`` -1 = forever);
  after each send and on every heartbeat, ``keepalive()`` drops connections that served more than
  ``keep_alive_count`` requests or are older than ``keep_alive_time`` ms;
* with ``USE_ACK`` the send completes when one complete ACK frame (``06 02 03``) arrives; FAIL_ACK
  (``0b 00 05``) raises ``RemoteProcessException`` (``throwOnFailedAck``); other frames are ignored.
  ACK bytes are read with ``FrameDecoder`` (``tribes.transport.core.AckReader``);
* without ``USE_ACK`` the send completes when the frame has been handed to the socket (or to the
  member's bounded queue, see ``MemberLink``); stray bytes from the peer are discarded;
* an I/O error (or FAIL_ACK, as in Tomcat) is retried ``max_retry_attempts`` times on a fresh
  connection; the member's ``SenderState`` goes READY -> SUSPECT -> FAILING;
* the whole send to all destinations is bounded by ``timeout`` ms (Tomcat only checks it between
  5 s selects, so a Java sender gives up after ~5 s; here it is exact);
* any failure raises ``ChannelException`` naming each faulty member and its cause.

Different from Tomcat, on purpose (issue 19, docs/limits.md): each member has its own link, with a
bounded queue (``SenderLimits``, policy "fail new"), so a member that accepts connections but never
answers costs at most ``timeout`` for the sends that include it and never delays another member.
Only the failed member's connection is closed after a failure (Tomcat closes every connection of the
parallel sender that saw it).
"""
from __future__ import annotations

import asyncio
import collections
import logging
import socket
import time
from typing import Any, Mapping, Sequence

from tribes.attributes import UnknownAttributeError, kwargs_from_attributes, parameters, python_name
from tribes.channel import ChannelException, RemoteProcessException, SendOptions
from tribes.io.framing import FramingError
from tribes.ratelimit import RateLimitedLog
from tribes.transport.core import AckReader
from tribes.transport.errors import SendQueueFullError, SendTimeoutError
from tribes.transport.limits import SenderLimits

log = logging.getLogger("tribes.transport")
_tx_log = RateLimitedLog(log)
_USE_ACK = int(SendOptions.USE_ACK)
#: frames a member that reads may have queued before a send without ACK waits for room
SOFT_QUEUE = 256
_UDP = int(SendOptions.UDP)

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

    #: Tomcat sender attributes with no job here (NIO buffers, UDP): accepted, not applied
    NOT_APPLICABLE = ("className", "directBuffer", "ooBInline", "soReuseAddress", "soTrafficClass", "udpRxBufSize",
                      "udpTxBufSize")

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
    """Client side of one connection: ACK frames through ``AckReader`` (``FrameDecoder``), flow control.

    ACKs come back in the order the frames were written (a Tribes receiver processes one
    connection's frames in order), so each ACK answers the oldest waiting send.
    """

    __slots__ = ("transport", "reader", "waiters", "drain_waiters", "paused", "lost", "throw_on_fail")

    def __init__(self, throw_on_fail: bool) -> None:
        self.transport: asyncio.Transport | None = None
        self.reader = AckReader()
        self.waiters: collections.deque[asyncio.Future[bool]] = collections.deque()
        self.drain_waiters: list[asyncio.Future[None]] = []
        self.paused = False
        self.lost: BaseException | None = None
        self.throw_on_fail = throw_on_fail

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            acks = self.reader.receive_data(data)
        except FramingError as exc:
            _tx_log.warn("bad_ack", "Sender: the peer answered with bytes that are not Tribes frames (%s); "
                         "dropping the connection", exc)
            self._fail(ConnectionResetError(f"peer sent bytes that are not Tribes frames: {exc}"))
            t = self.transport
            if t is not None:
                t.abort()
            return
        waiters = self.waiters
        for ok in acks:
            while waiters and waiters[0].done():  # timed out: its ACK is this one or none
                waiters.popleft()
            if not waiters:
                return  # not waiting: Tomcat reads and discards stray ACKs
            w = waiters.popleft()
            if ok:
                w.set_result(True)
            elif self.throw_on_fail:
                w.set_exception(RemoteProcessException("peer answered FAIL_ACK"))
            else:
                w.set_result(False)

    def _fail(self, exc: BaseException) -> None:
        self.lost = exc
        while self.waiters:
            w = self.waiters.popleft()
            if not w.done():
                w.set_exception(ConnectionResetError(f"connection lost while waiting for ACK: {exc}"))
        drains, self.drain_waiters = self.drain_waiters, []
        for d in drains:
            if not d.done():
                d.set_exception(ConnectionResetError(f"connection lost while writing: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._fail(exc or ConnectionResetError("connection closed by peer"))

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        drains, self.drain_waiters = self.drain_waiters, []
        for d in drains:
            if not d.done():
                d.set_result(None)


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

    async def send(self, frame: bytes, wait_ack: bool, deadline: float, wait_drain: bool = True) -> bool:
        """Write one frame (and await its ACK); raises OSError/RemoteProcessException/SendTimeoutError.

        Without ACK, ``wait_drain=False`` returns as soon as the frame is handed to the connection even
        when its write buffer is over the high-water mark (the caller checks ``paused``). True when the
        peer showed it reads: its ACK arrived, or a full write buffer drained."""
        loop = asyncio.get_running_loop()
        if not self.is_connected:
            await self.connect(deadline - loop.time())
        p = self.protocol
        assert p is not None and p.transport is not None
        transport = p.transport
        read = False
        if wait_ack:
            waiter: asyncio.Future[bool] = loop.create_future()
            p.waiters.append(waiter)
            transport.write(frame)
            handle = loop.call_at(deadline, _expire, waiter)
            try:
                await waiter
            finally:
                handle.cancel()
            read = True
        else:
            if p.paused and wait_drain:
                await self.drain(deadline)
                if p.transport is None or p.lost is not None:
                    raise ConnectionResetError(f"connection lost: {p.lost}")
                transport = p.transport
                read = True
            transport.write(frame)
            if p.lost is not None:
                raise ConnectionResetError(f"connection lost: {p.lost}")
            read = read or not p.paused  # the socket takes our bytes: the peer is reading
        self.request_count += 1
        return read

    async def drain(self, deadline: float) -> None:
        """Wait until the connection's write buffer is below its low-water mark (or ``deadline``)."""
        p = self.protocol
        if p is None or not p.paused:
            return
        loop = asyncio.get_running_loop()
        drain: asyncio.Future[None] = loop.create_future()
        p.drain_waiters.append(drain)  # each waiter its own deadline; resumed in arrival order
        handle = loop.call_at(deadline, _expire, drain)
        try:
            await drain
        finally:
            handle.cancel()


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
    name = getattr(member, "name", None)
    return name if isinstance(name, str) else repr(member)


class _Job:
    __slots__ = ("frame", "wait_ack", "deadline", "future")

    def __init__(self, frame: bytes, wait_ack: bool, deadline: float,
                 future: "asyncio.Future[BaseException | None] | None") -> None:
        self.frame = frame
        self.wait_ack = wait_ack
        self.deadline = deadline
        self.future = future


class MemberLink:
    """Everything sent to one member, in order: one connection, a bounded queue, a worker for the backlog.

    A send finds the link idle and goes straight to the connection in the caller's task (no queue, no
    extra coroutine); while the link is busy (a send waits for its ACK, or the connection's write
    buffer is over its high-water mark) further sends to this member queue up behind it, in order,
    and one worker task drains them. A slow or hung member therefore holds back only its own link.

    * With ``USE_ACK`` the caller waits for its ACK (Tomcat's semantics) until its deadline; a queued
      send whose deadline passes fails at once for this member, without being written.
    * Without ``USE_ACK`` a send completes when its frame is written or queued (a bounded extension
      of the socket's buffer); a connection failure is still reported to the caller that opens it.
      A queued frame that fails later is logged (rate-limited) and counted in ``failed``.
    * The queue holds at most ``max_queue_messages`` frames / ``max_queue_bytes`` bytes; a send that
      does not fit fails at once for this member only (``SendQueueFullError``: policy "fail new").
    """

    def __init__(self, member: Any, pool: "PooledParallelSender") -> None:
        self.member = member
        self.pool = pool
        self.sender = NioSender(member, pool.options)
        self.queue: collections.deque[_Job] = collections.deque()
        self.queued_bytes = 0
        self.active = False
        self.worker: asyncio.Task[None] | None = None
        self._pending: list[bytes] | None = None
        self._pending_bytes = 0
        self.drain_waiting = 0
        #: further connections for concurrent sends (Tomcat's pool), up to pool_size - 1
        self.extra: list[NioSender] = []
        self._loop = asyncio.get_running_loop()
        #: a send to this member timed out, and it has not read anything since
        self.stalled = False
        #: when the member last showed it reads (an ACK arrived, a full write buffer drained)
        self.last_read = self._loop.time()
        self._room: collections.deque[asyncio.Future[BaseException | None]] = collections.deque()
        self.sent = 0
        self.failed = 0
        self.refused = 0

    @property
    def idle(self) -> bool:
        return not self.active and not self.queue

    def try_write(self, frame: bytes) -> bool:
        """The common case of a send without ACK, with no coroutine and no queue: the link is idle and
        its connection is up and not over its high-water mark. Frames written in one turn of the event
        loop leave in one system call (they are joined when the turn ends, or at 256 KiB)."""
        if self.active or self.queue or self.drain_waiting:
            return False
        s = self.sender
        p = s.protocol
        if p is None or p.paused or p.lost is not None:
            return False
        t = p.transport
        if t is None or t.is_closing():
            return False
        pending = self._pending
        if pending is None:
            self._pending = [frame]
            self._pending_bytes = len(frame)
            self._loop.call_soon(self.flush_pending)
        else:
            pending.append(frame)
            self._pending_bytes += len(frame)
            if self._pending_bytes >= 262144:
                self.flush_pending()
        s.request_count += 1
        self.sent += 1
        o = s.options
        if o.keep_alive_count >= 0 or o.keep_alive_time >= 0:
            self.flush_pending()
            s.keepalive()
        return True

    def flush_pending(self) -> None:
        """Write the frames joined by ``try_write`` (before any other write of this link)."""
        pending = self._pending
        if pending is None:
            return
        self._pending = None
        p = self.sender.protocol
        t = p.transport if p is not None else None
        if t is None or t.is_closing():
            self.failed += len(pending)
            _tx_log.warn("queued_send_failed", "Sender: %d frames to %s lost: the connection closed",
                         len(pending), _name(self.member))
            return
        t.write(pending[0] if len(pending) == 1 else b"".join(pending))

    async def send(self, frame: bytes, wait_ack: bool, deadline: float) -> BaseException | None:
        """Send one frame to this member; returns the error for this member, or None."""
        if not wait_ack and self.try_write(frame):
            return None
        if not self.active and not self.queue:
            s = self.sender
            p = s.protocol
            connected = p is not None and p.transport is not None and p.lost is None \
                and not p.transport.is_closing()
            if wait_ack or not connected:
                self.active = True
                self.flush_pending()
                try:
                    err = await self.pool._attempts(self, frame, wait_ack, deadline, wait_drain=False)
                finally:
                    self.active = False
                    if self.queue:
                        self._kick()
                return err
            if not self.is_stalled():
                if self.drain_waiting:
                    # a concurrent send while another waits for the main connection to drain: like
                    # Tomcat's pool (poolSize senders, each with its own connection), use another one
                    extra = await self._write_extra(frame, deadline)
                    if extra is not False:
                        return extra  # type: ignore[return-value]
                # no ACK, connected, write buffer over its high-water mark, the member reads: wait for
                # the drain like Tomcat's blocking write (waiters resume in arrival order)
                return await self._write_after_drain(frame, deadline)
            # a stalled member: queue behind it (bounded; fail new when full)
        limits = self.pool.limits
        loop = asyncio.get_running_loop()
        patience = self.pool.options.timeout / 1000.0
        # a member that reads gets backpressure early (SOFT_QUEUE frames), one that does not the
        # whole queue and then "fail new"
        soft = 0 if wait_ack or self.is_stalled() else SOFT_QUEUE
        while self._room or self._full(len(frame)) or (soft and len(self.queue) >= soft):
            if wait_ack or loop.time() - self.last_read > patience:
                break  # a member that has not read for `timeout`: fail new at once
            # a member that reads, only slower than we write: wait for room (backpressure, as
            # Tomcat's blocking write), at most until this send's deadline
            room: asyncio.Future[BaseException | None] = loop.create_future()
            self._room.append(room)
            handle = loop.call_at(deadline, _expire_result, room)
            try:
                err = await room
            finally:
                handle.cancel()
                if self._room and self._room[0] is room:
                    self._room.popleft()
                elif room in self._room:
                    self._room.remove(room)
            if err is not None:
                self.refused += 1
                return err
            if not self._full(len(frame)) and not (soft and len(self.queue) >= soft):
                break
        if self._full(len(frame)):
            self.refused += 1
            _tx_log.warn("queue_full", "Sender: the send queue of %s is full (%d messages, %d bytes; limits "
                         "max_queue_messages=%d, max_queue_bytes=%d): the member is slow or hung; refusing "
                         "new messages for it alone", _name(self.member), len(self.queue), self.queued_bytes,
                         limits.max_queue_messages, limits.max_queue_bytes)
            return SendQueueFullError(f"send queue of {_name(self.member)} is full "
                                      f"({len(self.queue)} messages, {self.queued_bytes} bytes)")
        fut: asyncio.Future[BaseException | None] | None = loop.create_future() if wait_ack else None
        self.queue.append(_Job(frame, wait_ack, deadline, fut))
        self.queued_bytes += len(frame)
        self._kick()
        if fut is None:
            return None
        handle = loop.call_at(deadline, _expire_result, fut)
        try:
            return await fut
        finally:
            handle.cancel()

    async def _write_extra(self, frame: bytes, deadline: float) -> BaseException | None | bool:
        """Write on a further connection to this member (up to ``pool_size`` in all); False if none is free.

        Only concurrent sends get here (another one is waiting for the main connection), so no order
        between them is lost: Tomcat's pooled senders give concurrent sends no order either."""
        for s in self.extra:
            p = s.protocol
            if p is not None and p.transport is not None and not p.paused and p.lost is None \
                    and not p.transport.is_closing():
                p.transport.write(frame)
                s.request_count += 1
                self.sent += 1
                return None
        if 1 + len(self.extra) >= max(1, self.pool.pool_size):
            return False
        sender = NioSender(self.member, self.pool.options)
        self.extra.append(sender)
        try:
            await sender.send(frame, False, deadline, wait_drain=False)
        except (OSError, RemoteProcessException, EOFError) as exc:  # SendTimeoutError is an OSError
            sender.disconnect()
            if sender in self.extra:
                self.extra.remove(sender)
            return exc
        self.sent += 1
        return None

    def prune(self) -> bool:
        """Keep-alive and idle checks of every connection of this link; True if one was dropped."""
        dropped = self.sender.keepalive() or self.sender.check_idle()
        for s in list(self.extra):
            if s.keepalive() or s.check_idle() or not s.is_connected:
                self.extra.remove(s)
                s.disconnect()
                dropped = True
        return dropped

    async def _write_after_drain(self, frame: bytes, deadline: float) -> BaseException | None:
        s = self.sender
        self.drain_waiting += 1
        try:
            while True:
                p = s.protocol
                if p is None or p.transport is None or p.lost is not None or p.transport.is_closing():
                    return ConnectionResetError(f"connection to {_name(self.member)} lost while its write "
                                                f"buffer was full")
                if not p.paused:
                    break
                await s.drain(deadline)
                self.last_read = self._loop.time()
                if self.stalled:
                    self.stalled = False
        except SendTimeoutError as exc:
            if not self.stalled:
                self.stalled = True
                _tx_log.warn("stalled", "Sender: %s has not read for %d ms (timeout); new messages for it "
                             "queue up (bounded) and are refused when its queue is full, until it reads again",
                             _name(self.member), self.pool.options.timeout)
            return exc
        finally:
            self.drain_waiting -= 1
        self.flush_pending()
        p.transport.write(frame)
        s.request_count += 1
        self.sent += 1
        return None

    def is_stalled(self) -> bool:
        """A send to this member timed out and it has not read anything for ``timeout`` since: its
        new messages queue up (bounded) instead of waiting, and are refused when the queue is full."""
        return self.stalled and self._loop.time() - self.last_read > self.pool.options.timeout / 1000.0

    def _full(self, extra: int) -> bool:
        limits = self.pool.limits
        return len(self.queue) >= limits.max_queue_messages or \
            self.queued_bytes + extra > limits.max_queue_bytes

    def wake_room(self) -> None:
        """Let the oldest send waiting for room in the queue try again."""
        for room in self._room:
            if not room.done():
                room.set_result(None)
                return

    def _kick(self) -> None:
        if self.worker is None or self.worker.done():
            self.worker = asyncio.get_running_loop().create_task(self._drain_queue())

    async def _drain_queue(self) -> None:
        loop = asyncio.get_running_loop()
        pool = self.pool
        while self.queue and not self.active:
            job = self.queue[0]
            if job.future is None and loop.time() < job.deadline:
                s = self.sender
                p = s.protocol
                t = p.transport if p is not None else None
                if p is not None and t is not None and not p.paused and p.lost is None and not t.is_closing():
                    self.queue.popleft()  # the common case: the socket takes it, no coroutine
                    self.queued_bytes -= len(job.frame)
                    self.flush_pending()
                    t.write(job.frame)
                    s.request_count += 1
                    self.sent += 1
                    self.last_read = loop.time()
                    if self._room:
                        self.wake_room()
                    continue
            job = self.queue.popleft()
            self.queued_bytes -= len(job.frame)
            if self._room:
                self.wake_room()
            fut = job.future
            if fut is not None and fut.done():
                continue  # its caller's deadline passed while it waited
            if loop.time() >= job.deadline:
                err: BaseException | None = SendTimeoutError("timed out in the send queue of a slow member")
            else:
                self.flush_pending()
                self.active = True
                try:
                    err = await pool._attempts(self, job.frame, job.wait_ack, job.deadline, wait_drain=True)
                finally:
                    self.active = False
            if fut is not None:
                if not fut.done():
                    fut.set_result(err)
            elif err is not None:
                self.failed += 1
                _tx_log.warn("queued_send_failed", "Sender: a queued message to %s failed: %s: %s",
                             _name(self.member), type(err).__name__, err)

    def close(self) -> None:
        self.flush_pending()
        self.sender.disconnect()
        for extra in self.extra:
            extra.disconnect()
        self.extra.clear()
        while self.queue:
            job = self.queue.popleft()
            if job.future is not None and not job.future.done():
                job.future.set_result(ChannelException("sender closed"))
        self.queued_bytes = 0
        for room in self._room:
            if not room.done():
                room.set_result(ChannelException("sender closed"))
        w = self.worker
        if w is not None and not w.done():
            w.cancel()


def _expire_result(fut: "asyncio.Future[BaseException | None]") -> None:
    if not fut.done():
        fut.set_result(SendTimeoutError("timed out"))


class PooledParallelSender:
    """Tomcat's default transport, with one ``MemberLink`` per member instead of a pool of parallel senders.

    A message to several members is handed to each member's link at once; the send completes when
    every link has completed it (with ``USE_ACK``: ACKed), and fails with ``ChannelException`` naming
    each faulty member. Links are independent: a slow or hung member delays only the sends that
    include it, never another member's sends (Tomcat's pool of ``poolSize`` parallel senders lets a
    hung member hold every pooled sender for ``timeout`` each). ``pool_size`` bounds the connections
    per member (concurrent sends); ``max_wait`` is accepted for server.xml compatibility, the per-member
    queue bounds (``SenderLimits``) replace it.
    """

    def __init__(self, pool_size: int = 25, max_wait: int = 3000, limits: SenderLimits | None = None,
                 **sender_options: Any) -> None:
        self.pool_size = pool_size
        self.max_wait = max_wait
        self.options = SenderOptions(**sender_options)
        self.limits = limits if limits is not None else SenderLimits()
        self.states: dict[Any, SenderState] = {}
        self.links: dict[Any, MemberLink] = {}
        self._in_use = 0
        self.connected = False

    @classmethod
    def from_attributes(cls, attrs: Mapping[str, str]) -> "PooledParallelSender":
        """From server.xml's camelCase attributes (the one mapping, ``tribes.attributes``): the pool's
        own, the connections' (``SenderOptions``) and the queue limits (Python-only)."""
        params = set(parameters(cls)) - {"limits", "sender_options"}
        given = dict(attrs)
        limit_attrs = {k: given.pop(k) for k in list(given) if python_name(k) in parameters(SenderLimits)}
        option_attrs = {k: given.pop(k) for k in list(given) if python_name(k) not in params}
        try:
            kwargs = kwargs_from_attributes(cls, given, exclude=("limits",))
            kwargs.update(kwargs_from_attributes(SenderOptions, option_attrs, ignore=SenderOptions.NOT_APPLICABLE))
            if limit_attrs:
                kwargs["limits"] = SenderLimits(**kwargs_from_attributes(SenderLimits, limit_attrs))
        except UnknownAttributeError as exc:
            raise ValueError(f"PooledParallelSender: unknown attribute {exc.attribute!r}") from None
        return cls(**kwargs)

    # Tomcat attribute names on the transport itself
    def __getattr__(self, name: str) -> Any:
        options = self.__dict__.get("options")
        if options is not None and hasattr(options, name):
            return getattr(options, name)
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        options = self.__dict__.get("options")
        if options is not None and name not in self.__dict__ and hasattr(options, name):
            setattr(options, name, value)
        else:
            object.__setattr__(self, name, value)

    async def connect(self) -> None:
        self.connected = True

    def disconnect(self) -> None:
        self.connected = False
        for link in self.links.values():
            link.close()
        self.links.clear()

    @property
    def in_pool_size(self) -> int:
        return sum(1 for link in self.links.values() if link.idle)

    @property
    def in_use_pool_size(self) -> int:
        return self._in_use

    async def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every member's queue is empty and nothing is in flight; False after ``timeout`` s."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while any(not link.idle for link in self.links.values()):
            if loop.time() > end:
                return False
            await asyncio.sleep(0.002)
        return True

    def link(self, member: Any) -> MemberLink:
        link = self.links.get(member)
        if link is None:
            link = self.links[member] = MemberLink(member, self)
        return link

    async def send_message(self, destination: Sequence[Any], frame: bytes, options: int) -> None:
        if not self.connected:
            raise ChannelException("sender is not connected (transmitter not started)")
        if int(options) & _UDP:
            cx = ChannelException("SEND_OPTIONS_UDP (0x20) is not supported: this node has no UDP sender; "
                                  "clear the bit to send over TCP")
            for m in destination:
                cx.add_faulty_member(m, ValueError("UDP sends are not supported"))
            raise cx
        wait_ack = bool(int(options) & _USE_ACK)
        if not wait_ack and len(destination) == 1:
            link = self.links.get(destination[0])
            if link is not None and link.try_write(frame):
                return
        deadline = time.monotonic() + self.options.timeout / 1000.0  # the event loop's clock
        self.__dict__["_in_use"] += 1
        try:
            if len(destination) == 1:
                member = destination[0]
                link = self.links.get(member)
                if link is None:
                    link = self.link(member)
                err = await link.send(frame, wait_ack, deadline)
                if err is None:
                    return
                errors: list[tuple[Any, BaseException]] = [(member, err)]
            else:
                results = await asyncio.gather(*(self.link(m).send(frame, wait_ack, deadline)
                                                 for m in destination))
                errors = [(m, e) for m, e in zip(destination, results) if e is not None]
                if not errors:
                    return
        finally:
            self.__dict__["_in_use"] -= 1
        timed_out = any(isinstance(e, SendTimeoutError) for _, e in errors)
        msg = f"operation timed out ({self.options.timeout} ms)" if timed_out else "send failed"
        cx = ChannelException(msg, cause=errors[0][1])
        for member, err in errors:
            cx.add_faulty_member(member, err)
        raise cx

    async def _attempts(self, link: MemberLink, frame: bytes, wait_ack: bool, deadline: float,
                        wait_drain: bool) -> BaseException | None:
        """One send with Tomcat's retries (``max_retry_attempts`` on a fresh connection) and states."""
        sender = link.sender
        member = link.member
        max_attempts = self.options.max_retry_attempts
        attempt = 0
        while True:
            try:
                read = await sender.send(frame, wait_ack, deadline, wait_drain)
            except SendTimeoutError as exc:
                sender.disconnect()
                if not link.stalled:
                    link.stalled = True
                    _tx_log.warn("stalled", "Sender: %s does not answer within %d ms (timeout); new messages "
                                 "for it are refused while its queue is full, until it reads again",
                                 _name(member), self.options.timeout)
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
                        _tx_log.warn("send_failed", "Send to %s failed (%s), retrying", _name(member), exc)
                    else:
                        _tx_log.warn("send_failed", "Send to %s failed: %s", _name(member), exc)
                sender.disconnect()
                if retry and asyncio.get_running_loop().time() < deadline:
                    continue
                return exc
            else:
                link.sent += 1
                if read:
                    link.last_read = link._loop.time()
                    if link.stalled:
                        link.stalled = False
                        link.wake_room()
                st = self.states.get(member)
                if st is not None and st.state:
                    st.set_ready()
                o = sender.options
                if o.keep_alive_count >= 0 or o.keep_alive_time >= 0:
                    sender.keepalive()
                return None

    def _state(self, member: Any) -> SenderState:
        st = self.states.get(member)
        if st is None:
            st = self.states[member] = SenderState()
        return st

    def keepalive(self) -> bool:
        result = False
        for link in list(self.links.values()):
            if link.idle:
                result = link.prune() or result
        return result

    def add(self, member: Any) -> None:
        """Tomcat's PooledSender.add is a no-op."""

    def remove(self, member: Any) -> None:
        """A member left: its state goes; its link (connection, queue) is closed when idle."""
        self.states.pop(member, None)
        link = self.links.get(member)
        if link is not None and link.idle:
            self.links.pop(member, None)
            link.close()

    def state_of(self, member: Any) -> SenderState | None:
        return self.states.get(member)
