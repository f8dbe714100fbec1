"""The membership table (Tomcat's ``org.apache.catalina.tribes.membership.Membership``), sans-I/O.

Pure state: member packets and the current time go in, :class:`MemberEvent` values come out.
No sockets, no clocks, no threads: the asyncio services (``McastService``,
``StaticMembershipService``) feed it and publish what it returns.

Tomcat's semantics kept here:

* identity is ``Member`` equality = (host bytes, port, uniqueId) (``MemberImpl.equals``);
  alive, domain, payload, command, securePort and udpPort do not count;
* the local member (equal to ``local``) is never added: that is how a node drops its own
  looped-back heartbeats (there is no source-address check in Tomcat);
* an unknown member is added and reported once; a known member only refreshes its
  last-heard time, and when its announced alive value changed, its alive, payload and
  command are copied in and the list is re-sorted (domain/ports of the first packet stay);
* members are sorted by announced alive time **descending** (the longest-running node
  first) with a stable sort, so ties keep arrival order. ``DeltaManager`` asks
  ``members()[0]`` for session state;
* a packet whose command is ``BABY-ALEX`` (``Member.SHUTDOWN_PAYLOAD``) removes the member at
  once;
* ``expire(now, drop_time)`` removes every member not heard from for *more* than
  ``drop_time`` (strictly greater, as ``MbrEntry.hasExpired``).

One deliberate difference: Tomcat fires ``memberDisappeared`` for a shutdown packet even when
the member was never known; this table reports a disappearance only for members it held.
"""
from __future__ import annotations

import bisect
import dataclasses
import enum
from dataclasses import dataclass
from typing import Iterable

from tribes.membership.member import SHUTDOWN_PAYLOAD, Member

__all__ = ["MemberEventKind", "MemberEvent", "Membership"]


class MemberEventKind(str, enum.Enum):
    ADDED = "added"
    DISAPPEARED = "disappeared"


@dataclass(frozen=True)
class MemberEvent:
    """A member came or went.

    ``reason`` says why: ``"heartbeat"`` (first packet of a new member), ``"shutdown"``
    (it announced ``BABY-ALEX``), ``"expired"`` (silent for longer than dropTime),
    ``"static"`` (static membership start/ping), ``"stop"`` (static membership stop),
    ``"removed"`` (explicit removal, e.g. a failed ping).
    ``time`` is the wall-clock time in epoch milliseconds, stamped by the service
    (``None`` when produced by the pure table).
    """

    kind: MemberEventKind
    member: Member
    reason: str = ""
    time: int | None = None

    @property
    def added(self) -> bool:
        return self.kind is MemberEventKind.ADDED

    def stamped(self, epoch_ms: int) -> "MemberEvent":
        return dataclasses.replace(self, time=epoch_ms)


@dataclass(eq=False)  # identity: list.index finds an entry without comparing fields
class _Entry:
    member: Member
    last_heard: float


def _rank(e: _Entry) -> int:
    """The sort key: announced alive time, descending."""
    return -e.member.alive


class Membership:
    """Members known to one node, oldest (highest announced alive) first.

    ``now`` values are seconds on any monotonic clock (``time.monotonic()`` in the services);
    ``drop_time`` is in seconds too.
    """

    def __init__(self, local: Member | None = None) -> None:
        self.local: Member | None = local
        self._map: dict[Member, _Entry] = {}
        self._order: list[_Entry] = []  # kept sorted; Java's stable Arrays.sort semantics

    # ---------------------------------------------------------------- queries
    def members(self) -> list[Member]:
        """A copy of the member list, alive descending (Tomcat's order)."""
        return [e.member for e in self._order]

    def has_members(self) -> bool:
        return bool(self._order)

    def get_member(self, member: Member) -> Member | None:
        entry = self._map.get(member)
        return entry.member if entry is not None else None

    def __contains__(self, member: object) -> bool:
        return member in self._map

    def __len__(self) -> int:
        return len(self._map)

    def last_heard(self, member: Member) -> float | None:
        entry = self._map.get(member)
        return entry.last_heard if entry is not None else None

    # ---------------------------------------------------------------- updates
    def on_packet(self, member: Member, now: float) -> list[MemberEvent]:
        """A decoded member heartbeat arrived at ``now``."""
        if member.command == SHUTDOWN_PAYLOAD:
            if self.local is not None and member == self.local:
                return []
            old = self.remove(member)
            if old is None:
                return []
            gone = dataclasses.replace(old, command=SHUTDOWN_PAYLOAD)
            return [MemberEvent(MemberEventKind.DISAPPEARED, gone, "shutdown")]
        if self.alive(member, now):
            return [MemberEvent(MemberEventKind.ADDED, self._map[member].member, "heartbeat")]
        return []

    def alive(self, member: Member, now: float) -> bool:
        """Tomcat's ``memberAlive``: add or refresh; True when the member is new."""
        if self.local is not None and member == self.local:
            return False
        entry = self._map.get(member)
        if entry is None:
            self._insert(_Entry(member, now))
            return True
        if entry.member.alive != member.alive:
            i = self._index(entry)
            del self._order[i]
            entry.member = dataclasses.replace(
                entry.member, alive=member.alive, payload=member.payload, command=member.command)
            # where Java's stable re-sort puts it: among the entries of its new rank, after those
            # that were before it in the list and before those that were after it
            lo = bisect.bisect_left(self._order, _rank(entry), key=_rank)
            hi = bisect.bisect_right(self._order, _rank(entry), lo=lo, key=_rank)
            self._order.insert(min(max(i, lo), hi), entry)
        entry.last_heard = now
        return False

    def add(self, member: Member, now: float) -> bool:
        """Add without the alive/update rules (``Membership.addMember``); True when new."""
        if member in self._map:
            return False
        self._insert(_Entry(member, now))
        return True

    def remove(self, member: Member) -> Member | None:
        """Remove a member; returns the stored record, or None when it was not known."""
        entry = self._map.pop(member, None)
        if entry is None:
            return None
        del self._order[self._index(entry)]
        return entry.member

    def _index(self, entry: _Entry) -> int:
        """Where ``entry`` is in the sorted list: a binary search, then an identity scan of its ties."""
        lo = bisect.bisect_left(self._order, _rank(entry), key=_rank)
        hi = bisect.bisect_right(self._order, _rank(entry), lo=lo, key=_rank)
        return self._order.index(entry, lo, hi)

    def expire(self, now: float, drop_time: float) -> list[MemberEvent]:
        """Remove members silent for longer than ``drop_time`` seconds."""
        expired = [e for e in self._map.values() if now - e.last_heard > drop_time]
        if not expired:
            return []
        for e in expired:
            del self._map[e.member]
        # one pass over the list, however many expire at once (not one removal scan each)
        self._order = [e for e in self._order if e.member in self._map and self._map[e.member] is e]
        return [MemberEvent(MemberEventKind.DISAPPEARED, e.member, "expired") for e in expired]

    def next_expiry(self, drop_time: float) -> float | None:
        """The monotonic time at which the next member would expire, or None."""
        if not self._map:
            return None
        return min(e.last_heard for e in self._map.values()) + drop_time

    def reset(self) -> list[Member]:
        """Forget everyone (``Membership.reset``); returns who was known."""
        gone = self.members()
        self._map.clear()
        self._order = []
        return gone

    def update_all(self, members: Iterable[Member], now: float) -> list[MemberEvent]:
        """Feed several packets at once (convenience for tests and captures)."""
        events: list[MemberEvent] = []
        for m in members:
            events.extend(self.on_packet(m, now))
        return events

    def _insert(self, entry: _Entry) -> None:
        # Tomcat appends the new member, then sorts the whole array (stable): ties go last. The
        # same place, found by a binary search (a full re-sort per member was quadratic)
        self._map[entry.member] = entry
        self._order.insert(bisect.bisect_right(self._order, _rank(entry), key=_rank), entry)
