"""Exceptions of the channel: ``ChannelException`` naming each faulty member, ``RemoteProcessException``.

Tomcat's ``ChannelException`` collects ``FaultyMember`` entries (member + cause); callers such as
``TcpFailureDetector`` inspect the causes (a ``RemoteProcessException`` means the peer is alive but its
listener failed, so it is *not* treated as a dead member).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

__all__ = [
    "ChannelException",
    "FaultyMember",
    "RemoteProcessException",
    "SendTimeoutError",
]


class RemoteProcessException(Exception):
    """The peer answered FAIL_ACK (its listener failed), or our listener failed while processing."""


class SendTimeoutError(TimeoutError):
    """A send did not complete (write + ACK) within the sender's ``timeout``."""


@dataclass(frozen=True)
class FaultyMember:
    member: Any  # tribes.membership.member.Member
    cause: BaseException | None

    def __str__(self) -> str:
        name = getattr(self.member, "name", repr(self.member))
        return f"{name}: {type(self.cause).__name__}: {self.cause}" if self.cause else f"{name}"


class ChannelException(Exception):
    """A send failed for one or more members; ``faulty_members`` names each member and its cause."""

    def __init__(self, message: str = "", cause: BaseException | None = None,
                 faulty_members: Iterable[FaultyMember] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.faulty_members: list[FaultyMember] = []
        if cause is not None:
            self.__cause__ = cause
        for fm in faulty_members:
            self.add_faulty_member(fm.member, fm.cause)

    def add_faulty_member(self, member: Any, cause: BaseException | None = None) -> bool:
        """Add (member, cause) unless that member is already listed (Tomcat keeps the first cause)."""
        for fm in self.faulty_members:
            if fm.member == member:
                return False
        self.faulty_members.append(FaultyMember(member, cause))
        return True

    def add_faulty_members(self, members: Iterable[FaultyMember]) -> None:
        for fm in members:
            self.add_faulty_member(fm.member, fm.cause)

    def __str__(self) -> str:
        base = self.message or "send failed"
        if not self.faulty_members:
            return base
        return base + "; faulty members: " + "; ".join(str(fm) for fm in self.faulty_members)
