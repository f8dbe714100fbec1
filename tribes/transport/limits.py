"""Receiver and sender limits: each a setting with a safe default, and the pure bookkeeping behind them.

Tomcat's ``NioReceiver`` has none of these (see docs/limits.md, which lists each setting beside the
nearest Tomcat equivalent): a peer can make it buffer an endless frame (``XByteBuffer.expand`` until
``OutOfMemoryError``), hold every file descriptor, or stop reading its ACKs and keep the receiver's
workers spinning. Here each of those has a bound, and hitting one writes one rate-limited log line
(``tribes.ratelimit.RateLimitedLog``) that names the setting to raise.

The defaults admit everything a real Tomcat cluster sends: one message up to 256 MiB (DeltaManager's
single ALL_SESSION_DATA message with ``sendAllSessions=true`` for 100,000 sessions is over 100 MB; an
8 MiB attribute is routine), up to 64 connections from one peer address (a ``PooledParallelSender``
opens up to ``poolSize`` = 25 per member), and established connections are never closed for being idle
(Tomcat's senders keep them forever; closing one can lose the next asynchronous message).

Everything here is pure (no sockets, no clock of its own): ``ReceiveBudget`` accounts buffered bytes
across connections, ``ConnectionTable`` counts connections per peer and picks which to refuse or evict.
"""
from __future__ import annotations

import resource
from dataclasses import dataclass, fields
from typing import Generic, Hashable, TypeVar

__all__ = ["ReceiverLimits", "SenderLimits", "ReceiveBudget", "ConnectionTable", "fd_limit"]

MiB = 1024 * 1024


@dataclass
class ReceiverLimits:
    """Bounds of one ``NioReceiver`` (Python-only settings; camelCase in server.xml as usual).

    * ``max_message_size``: the largest frame body one connection may announce (bytes).
    * ``max_total_buffer``: bytes of incomplete frames held across all connections together. A
      connection whose partial frame would push the total over it stops being read (TCP flow control
      holds its sender) until others' frames complete or are dropped (a paused frame still counts as
      stalled for ``partial_frame_timeout``, so holders that all stall are all dropped); the first
      ``buffer_floor`` bytes of every connection are always admitted, so small messages of
      well-behaved peers keep flowing while a big one waits.
    * ``max_connections`` / ``max_connections_per_peer``: accepted connections in total / from one
      address. At the cap a new connection first evicts the oldest connection that has never
      delivered a valid message; if there is none it is refused (closed at once). ``max_connections``
      is lowered at start to leave 64 file descriptors of the process's limit free.
    * ``partial_frame_timeout`` (ms): a connection that holds part of a frame, or has not delivered
      its first message yet, and receives no byte for this long is closed. 0 = never.
    * ``idle_timeout`` (ms): an established connection (one valid message delivered) with nothing
      buffered is closed after this long without a byte. 0 (default) = never, as Tomcat.
    * ``write_high_water`` / ``write_low_water`` (bytes): ACK bytes queued for a peer that does not read
      them. Above the high-water mark reading from that peer stops (no more messages, so no more ACKs)
      until its buffer drains below the low-water mark.
    """

    max_message_size: int = 256 * MiB
    max_total_buffer: int = 512 * MiB
    buffer_floor: int = 256 * 1024
    max_connections: int = 512
    max_connections_per_peer: int = 64
    partial_frame_timeout: int = 30_000
    idle_timeout: int = 0
    write_high_water: int = 64 * 1024
    write_low_water: int = 16 * 1024

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"receiver limit {f.name} must be an int >= 0, got {value!r}")
        if self.write_low_water > self.write_high_water:
            raise ValueError(f"write_low_water ({self.write_low_water}) must not exceed "
                             f"write_high_water ({self.write_high_water})")


@dataclass
class SenderLimits:
    """Bounds of the per-member send queues of ``PooledParallelSender``.

    * ``max_queue_messages`` / ``max_queue_bytes``: messages waiting for one member. When full, a new
      send to that member fails at once for that member only (``SendQueueFullError``, policy "fail
      new"); other members are not affected.
    * A queued message whose send ``timeout`` has already passed when its turn comes fails at once for
      that member without being written (it would have timed out in Tomcat too).
    """

    max_queue_messages: int = 10_000
    max_queue_bytes: int = 64 * MiB


def fd_limit() -> int:
    """The soft limit of open file descriptors of this process (a large number when unlimited)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


K = TypeVar("K", bound=Hashable)


class ReceiveBudget(Generic[K]):
    """Bytes of incomplete frames held per connection and in total, against ``max_total_buffer``."""

    def __init__(self, limit: int, floor: int) -> None:
        self.limit = limit
        self.floor = floor
        self.total = 0
        self._held: dict[K, int] = {}

    def update(self, key: K, held: int) -> bool:
        """Record that ``key`` now holds ``held`` bytes; False when it should stop being read."""
        old = self._held.get(key, 0)
        if held:
            self._held[key] = held
        else:
            self._held.pop(key, None)
        self.total += held - old
        return held <= self.floor or self.total <= self.limit

    def admits(self, key: K) -> bool:
        """Whether ``key`` (paused for the budget) may be read again."""
        held = self._held.get(key, 0)
        return held <= self.floor or self.total <= self.limit

    def release(self, key: K) -> None:
        self.total -= self._held.pop(key, 0)


class ConnectionTable(Generic[K]):
    """Connections per peer address, in arrival order; decides refusals and evictions."""

    def __init__(self, max_connections: int, max_per_peer: int) -> None:
        self.max_connections = max_connections
        self.max_per_peer = max_per_peer
        self._conns: dict[K, str] = {}  # in arrival order
        self._per_peer: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._conns)

    def count(self, peer: str) -> int:
        return self._per_peer.get(peer, 0)

    def admit(self, key: K, peer: str, unproven: list[K]) -> tuple[bool, K | None, str]:
        """Whether a new connection from ``peer`` is admitted, which connection to evict for it, why not.

        ``unproven`` lists the connections that have not delivered a valid message, oldest first.
        """
        if self._per_peer.get(peer, 0) >= self.max_per_peer:
            return False, None, "max_connections_per_peer"
        evict: K | None = None
        if len(self._conns) >= self.max_connections:
            evict = next(iter(unproven), None)
            if evict is None:
                return False, None, "max_connections"
            self.remove(evict)
        self._conns[key] = peer
        self._per_peer[peer] = self._per_peer.get(peer, 0) + 1
        return True, evict, ""

    def remove(self, key: K) -> None:
        peer = self._conns.pop(key, None)
        if peer is not None:
            n = self._per_peer.get(peer, 0) - 1
            if n > 0:
                self._per_peer[peer] = n
            else:
                self._per_peer.pop(peer, None)
