"""The pure part of cloud membership: answers + time in, member events out (no I/O, no clock).

Tomcat's ``CloudMembershipProvider.heartbeat()`` does, on every channel heartbeat::

    for member in fetchMembers(): updateMember(member, add=true)   # memberAlive: add or refresh
    for member in membership.expire(expirationTime): updateMember(member, add=false)

:class:`CloudMembership` is that loop as a state machine over the shared
:class:`~tribes.membership.membership.Membership` table (identity = host + port + uniqueId,
oldest = highest alive first, local member never added). A provider turns one answer (a DNS
answer, a Kubernetes pod list) into a :class:`Discovery`; the asyncio service feeds it here.

One deliberate difference from Tomcat: when a poll *fails* (timeout, malformed or oversized
answer, HTTP error, TLS error) Tomcat's ``fetchMembers`` returns an empty list, so the expiry
step then drops every member whose last sighting is older than ``expirationTime`` (with the
default 5 s heartbeat and 5 s expiry: usually all of them, for one bad answer). Here a failed
poll changes nothing (:meth:`CloudMembership.failed`); the next good answer refreshes the members
it lists and expires the others. Members of a dead API server are still removed by the
TcpFailureDetector when they stop answering.

Identifiers are computed exactly as Tomcat computes them: :func:`md5_id` of the ASCII text,
where the text is Java's ``InetAddress.getHostAddress()`` form (:func:`java_host_address`) for
DNS, and the pod's ``metadata.uid`` (or its ``podIP`` when there is no uid) for Kubernetes.
"""
from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field

from tribes.membership.member import Member
from tribes.membership.membership import MemberEvent, MemberEventKind, Membership

__all__ = [
    "INITIAL_ID", "Discovery", "CloudMembership", "CloudFetchError", "md5_id", "java_host_address",
    "unknown_sender_id",
]

#: CloudMembershipService.INITIAL_ID: the local member's uniqueId until its own address is listed.
INITIAL_ID = bytes(16)


class CloudFetchError(Exception):
    """One poll failed (the message says what to check); membership stays as it was."""

    def __init__(self, message: str, kind: str = "fetch") -> None:
        super().__init__(message)
        self.kind = kind  # short tag for rate limiting and stats: "timeout", "malformed", "http", "tls", ...


def md5_id(text: str) -> bytes:
    """``CloudMembershipProvider.digest(text.getBytes(US_ASCII))``: 16 bytes.

    Java's US_ASCII encoder writes ``?`` for every character it cannot encode; so does this.
    """
    return hashlib.md5(text.encode("ascii", errors="replace")).digest()


def java_host_address(raw: bytes) -> str:
    """``InetAddress.getHostAddress()`` of 4 or 16 raw bytes.

    IPv4: dotted decimal. IPv6: eight groups of lower-case hex without leading zeros and
    *without* ``::`` compression (``fd00:0:0:0:0:0:0:1``), as ``Inet6Address`` prints it; an
    IPv4-mapped address (``::ffff:a.b.c.d``) is an ``Inet4Address`` in Java, so it prints dotted.
    """
    if len(raw) == 4:
        return ".".join(str(b) for b in raw)
    if len(raw) == 16:
        if raw[:12] == b"\x00" * 10 + b"\xff\xff":
            return ".".join(str(b) for b in raw[12:])
        return ":".join(format(int.from_bytes(raw[i:i + 2], "big"), "x") for i in range(0, 16, 2))
    raise ValueError(f"an address has 4 or 16 bytes, not {len(raw)}")


def unknown_sender_id(host: bytes) -> bytes:
    """The uniqueId ``DNSMembershipProvider.accept`` gives a sender DNS did not list: MD5 of the
    host bytes joined with dots (for IPv6 too: 16 decimal numbers, not an IPv6 text form)."""
    return md5_id(".".join(str(b) for b in host))


def packed(address: str) -> bytes:
    """Raw bytes of an IP literal (raises ValueError for anything else, e.g. a host name)."""
    ip = ipaddress.ip_address(address.strip().split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.packed
    return ip.packed


@dataclass(frozen=True)
class Discovery:
    """What one good answer says: the other members, and this node's uniqueId if it was listed."""

    members: tuple[Member, ...] = ()
    local_unique_id: bytes | None = None
    skipped: tuple[str, ...] = field(default=())  # why entries of the answer were not used (logged)


class CloudMembership:
    """Tomcat's cloud heartbeat over a :class:`Membership` table (times in seconds, monotonic)."""

    def __init__(self, expiration_time: float, local: Member | None = None) -> None:
        self.expiration_time = float(expiration_time)
        self.table = Membership(local)
        self.polls = 0
        self.failures = 0

    @property
    def local(self) -> Member | None:
        return self.table.local

    @local.setter
    def local(self, member: Member | None) -> None:
        self.table.local = member

    def discovered(self, discovery: Discovery, now: float) -> list[MemberEvent]:
        """A good answer at ``now``: add or refresh every listed member, then expire the rest."""
        self.polls += 1
        events: list[MemberEvent] = []
        for member in discovery.members:
            if self.table.alive(member, now):
                events.append(MemberEvent(MemberEventKind.ADDED, self.table.get_member(member) or member,
                                          "discovered"))
        events.extend(self.table.expire(now, self.expiration_time))
        return events

    def failed(self, now: float) -> list[MemberEvent]:
        """A failed poll: nothing changes (see the module docstring for Tomcat's behaviour)."""
        self.failures += 1
        return []

    def sender_seen(self, member: Member, now: float) -> list[MemberEvent]:
        """``DNSMembershipProvider.accept``: a message from a (host, port) no member has.

        Only used when the service is told to accept unknown senders (off by default)."""
        if any(m.host == member.host and m.port == member.port for m in self.table.members()):
            return []
        if self.table.alive(member, now):
            return [MemberEvent(MemberEventKind.ADDED, member, "sender")]
        return []

    def members(self) -> list[Member]:
        return self.table.members()

    def reset(self) -> list[Member]:
        return self.table.reset()
