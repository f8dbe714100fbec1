"""``MembershipService`` base (Tomcat's ``MembershipServiceBase``), listener API and events.

Every membership implementation (multicast, static) derives from :class:`MembershipService`:

* ``local_member`` / ``set_local_member(...)``: the identity this node announces;
* ``async start(level)`` / ``async stop(level)`` with Tomcat's levels ``MBR_RX=4``, ``MBR_TX=8``;
* ``members()`` (oldest first), ``has_members()``, ``get_member(m)``;
* listeners: ``set_membership_listener(l)`` (Tomcat's single listener, used by the channel),
  ``add_membership_listener(l)`` for more; ``events()`` is an async iterator of
  :class:`MemberEvent` for scripts and the CLI;
* ``broadcast(frame)`` sends a multicast channel message (only McastService can).

Listener callbacks run on the event loop, in order; a callback that returns an awaitable is
scheduled as a task (its exceptions are logged, never raised into the membership loop).
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import time
from typing import AsyncIterator, Callable

from tribes.channel import MBR_RX_SEQ, MBR_TX_SEQ, Channel, MembershipListener, new_unique_id
from tribes.io.member import Member, python_payload
from tribes.membership.membership import MemberEvent, MemberEventKind, Membership

__all__ = [
    "MBR_RX", "MBR_TX", "MBR_ALL", "MembershipListener", "MembershipService", "MemberEvent",
    "MemberEventKind", "Membership", "MembershipError",
]

log = logging.getLogger("tribes.membership")

MBR_RX = MBR_RX_SEQ  # Tomcat's names for them in MembershipService
MBR_TX = MBR_TX_SEQ
MBR_ALL = MBR_RX | MBR_TX


class MembershipError(Exception):
    """A membership service could not start or was misconfigured."""


def epoch_ms() -> int:
    return int(time.time() * 1000)


_END = object()


class MembershipService:
    """Base of the membership services: listeners, the event stream, the local member."""

    def __init__(self) -> None:
        self._local: Member | None = None
        self._listener: MembershipListener | None = None
        self._extra_listeners: list[MembershipListener] = []
        self._queues: list[asyncio.Queue[object]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.membership = Membership()
        self.start_level = 0
        #: the channel this service runs on (set by the ChannelCoordinator; Tomcat: ``setChannel``)
        self.channel: Channel | None = None

    def set_channel(self, channel: Channel | None) -> None:
        """The channel this service runs on (Tomcat: ``MembershipService.setChannel``)."""
        self.channel = channel

    # ------------------------------------------------------------ local member
    @property
    def local_member(self) -> Member:
        if self._local is None:
            raise MembershipError("no local member: call set_local_member(host, port, ...) before start()")
        return self._local

    def set_local_member(self, host: bytes, port: int, secure_port: int = -1, udp_port: int = -1,
                         domain: bytes = b"", payload: bytes = b"",
                         unique_id: bytes | None = None) -> Member:
        """Set the identity announced by this node (Tomcat: ``setLocalMemberProperties``).

        A new random uniqueId is drawn only the first time (or when ``unique_id`` is given);
        later calls keep the id so the node's identity survives reconfiguration. With no ``payload``
        the member announces ``tribes.io.member.python_payload()`` (``tribes-python/<version>``), so
        other members can tell a Python node from a Tomcat one.
        """
        if len(host) not in (4, 16):
            raise ValueError(f"host must be 4 (IPv4) or 16 (IPv6) raw bytes, got {len(host)}")
        if unique_id is None:
            unique_id = self._local.unique_id if self._local is not None else new_unique_id()
        if len(unique_id) != 16:
            raise ValueError(f"unique_id must be 16 bytes, got {len(unique_id)}")
        self._local = Member(host=bytes(host), port=port, secure_port=secure_port, udp_port=udp_port,
                             unique_id=bytes(unique_id), domain=bytes(domain),
                             payload=bytes(payload) or python_payload())
        self.membership.local = self._local
        return self._local

    def _replace_local(self, member: Member) -> None:
        self._local = member
        self.membership.local = member

    # ------------------------------------------------------------ lifecycle
    async def start(self, level: int = MBR_ALL) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    async def stop(self, level: int = MBR_ALL) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    async def __aenter__(self) -> "MembershipService":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------ queries
    def members(self) -> list[Member]:
        """Current members, oldest first (announced alive time descending, like Tomcat)."""
        return self.membership.members()

    def has_members(self) -> bool:
        return self.membership.has_members()

    def get_member(self, member: Member) -> Member | None:
        return self.membership.get_member(member)

    # ------------------------------------------------------------ listeners
    def set_membership_listener(self, listener: MembershipListener | None) -> None:
        self._listener = listener

    def remove_membership_listener(self) -> None:
        self._listener = None

    def add_membership_listener(self, listener: MembershipListener) -> None:
        self._extra_listeners.append(listener)

    def events(self) -> AsyncIterator[MemberEvent]:
        """An async iterator of every event from now on; it ends when the service stops."""
        queue: asyncio.Queue[object] = asyncio.Queue()
        self._queues.append(queue)
        return self._iterate(queue)

    async def _iterate(self, queue: asyncio.Queue[object]) -> AsyncIterator[MemberEvent]:
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    return
                assert isinstance(item, MemberEvent)
                yield item
        finally:
            if queue in self._queues:
                self._queues.remove(queue)

    def _close_events(self) -> None:
        for q in list(self._queues):
            q.put_nowait(_END)

    def _publish(self, events: list[MemberEvent]) -> None:
        """Stamp, log and deliver events to the listeners and iterators."""
        if not events:
            return
        now = epoch_ms()
        for ev in events:
            ev = ev.stamped(now)
            if ev.kind is MemberEventKind.ADDED:
                log.info("member added: %s (%s)", ev.member.name, ev.reason)
            else:
                log.info("member disappeared: %s (%s)", ev.member.name, ev.reason)
            for listener in ([self._listener] if self._listener else []) + self._extra_listeners:
                self._call(listener, ev)
            for q in self._queues:
                q.put_nowait(ev)

    def _call(self, listener: MembershipListener, ev: MemberEvent) -> None:
        fn: Callable[[Member], object] = (listener.member_added if ev.kind is MemberEventKind.ADDED
                                          else listener.member_disappeared)
        try:
            result = fn(ev.member)
        except Exception:  # noqa: BLE001 - a listener must not break membership
            log.exception("membership listener %r failed on %s", listener, ev.kind.value)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._task_done)

    def _task_done(self, task: "asyncio.Task[None]") -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("membership listener task failed", exc_info=task.exception())

    # ------------------------------------------------------------ messages
    def broadcast(self, frame: bytes) -> None:
        """Send a framed channel message by multicast (``SEND_OPTIONS_MULTICAST``)."""
        raise MembershipError(f"{type(self).__name__} cannot broadcast: use McastService for multicast sends")
