"""A cluster member (``org.apache.catalina.tribes.membership.MemberImpl``) and its packet codec.

The codec lives in ``io`` beside ``ChannelData``, which carries a member packet as its sender
address; ``tribes.membership.member`` re-exports it under Tomcat's package name.

The member packet is what McastService multicasts as a heartbeat and what every ChannelData
carries as the sender address. Layout (declared with ``construct`` in ``tribes.io.layouts``)::

    TRIBES-B 01 00 | int bodyLength | long alive | int port | int securePort | int udpPort
    | byte hostLength | host | int len + command | int len + domain | uniqueId[16]
    | int len + payload | TRIBES-E 01 00
"""
from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, replace
from typing import Any

from tribes import fastpath
from tribes.io.errors import MemberDecodeError
from tribes.io.layouts import TRIBES_MBR_BEGIN, TRIBES_MBR_END, MemberPacket

__all__ = [
    "Member", "encode_member", "decode_member", "MemberDecodeError", "MemberPacket",
    "SHUTDOWN_PAYLOAD", "TRIBES_MBR_BEGIN", "TRIBES_MBR_END", "host_bytes", "PYTHON_PAYLOAD_PREFIX",
    "python_payload", "member_kind",
]

#: the decoded fields of a member packet, as the fast path returns them:
#: (alive, port, secure_port, udp_port, host, command, domain, unique_id, payload)
MemberFields = tuple[int, int, int, int, bytes, bytes, bytes, bytes, bytes]

#: Member.SHUTDOWN_PAYLOAD: the command of the last packet of a stopping node.
SHUTDOWN_PAYLOAD = b"BABY-ALEX"

#: The payload a Python node announces when none is configured (Tomcat's nodes announce an empty one,
#: and nothing in Tomcat reads it): ``tribes-python/<version>``. It tells Python members from Tomcat
#: ones in metrics and on the dashboard; a configured ``payload`` replaces it.
PYTHON_PAYLOAD_PREFIX = b"tribes-python/"


@functools.lru_cache(maxsize=1)
def python_payload() -> bytes:
    """``tribes-python/<this package's version>`` (``unknown`` when run from a checkout without metadata)."""
    try:
        from importlib.metadata import version
        v = version("tribes")
    except Exception:  # noqa: BLE001
        v = "unknown"
    return PYTHON_PAYLOAD_PREFIX + v.encode("ascii", "replace")[:32]


def member_kind(member: Any) -> tuple[str, str]:
    """``("python", version)`` for a member announcing ``python_payload()``, else ``("tomcat", "unknown")``:
    the wire says nothing else about what runs a member (a Python node with a configured payload of
    its own counts as Tomcat here)."""
    p = bytes(getattr(member, "payload", b"") or b"")
    if p.startswith(PYTHON_PAYLOAD_PREFIX):
        return "python", p[len(PYTHON_PAYLOAD_PREFIX):].decode("ascii", "replace") or "unknown"
    return "tomcat", "unknown"


def host_bytes(host: str | bytes) -> bytes:
    """``"10.77.0.1"`` / ``"::1"`` -> raw 4/16 bytes (bytes are checked and returned)."""
    if isinstance(host, (bytes, bytearray)):
        raw = bytes(host)
    else:
        raw = ipaddress.ip_address(host).packed
    if len(raw) not in (4, 16):
        raise ValueError(f"host must be 4 (IPv4) or 16 (IPv6) raw bytes, got {len(raw)}")
    return raw


@dataclass(frozen=True, eq=False)
class Member:
    """One cluster member as announced on the wire. Equality/hash: (host, port, unique_id)."""

    host: bytes
    port: int
    secure_port: int = -1
    udp_port: int = -1
    unique_id: bytes = b"\x00" * 16
    domain: bytes = b""
    payload: bytes = b""
    command: bytes = b""
    alive: int = 0

    def __post_init__(self) -> None:
        for name in ("host", "unique_id", "domain", "payload", "command"):
            value = getattr(self, name)
            if not isinstance(value, bytes):
                if isinstance(value, (bytearray, memoryview)):
                    object.__setattr__(self, name, bytes(value))
                elif name == "host" and isinstance(value, str):
                    object.__setattr__(self, name, host_bytes(value))
                else:
                    raise TypeError(f"Member.{name} must be bytes, got {type(value).__name__}")
        if len(self.host) not in (4, 16):
            raise ValueError(f"Member.host must be 4 or 16 raw bytes, got {len(self.host)}")
        if len(self.unique_id) != 16:
            raise ValueError(f"Member.unique_id must be 16 bytes, got {len(self.unique_id)}")

    # identity as MemberImpl.equals / hashCode
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Member):
            return NotImplemented
        return self.host == other.host and self.port == other.port and self.unique_id == other.unique_id

    def __hash__(self) -> int:
        return hash((self.host, self.port, self.unique_id))

    @property
    def host_str(self) -> str:
        return str(ipaddress.ip_address(self.host))

    @property
    def name(self) -> str:
        """``tcp://{10, 77, 0, 1}:4000`` (host bytes unsigned, as Tomcat's Arrays.toString)."""
        return "tcp://{" + ", ".join(str(b) for b in self.host) + "}:" + str(self.port)

    @property
    def is_shutdown(self) -> bool:
        return self.command == SHUTDOWN_PAYLOAD

    @property
    def unique_id_hex(self) -> str:
        return self.unique_id.hex()

    def with_alive(self, ms: int) -> "Member":
        return replace(self, alive=int(ms))

    def with_command(self, cmd: bytes) -> "Member":
        return replace(self, command=bytes(cmd))

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host_str, "port": self.port, "securePort": self.secure_port,
            "udpPort": self.udp_port, "uniqueId": self.unique_id.hex(),
            "domain": self.domain.decode("latin-1"), "command": self.command.decode("latin-1"),
            "payloadLength": len(self.payload), "alive": self.alive,
        }

    def __repr__(self) -> str:
        extra = f", domain={self.domain!r}" if self.domain else ""
        cmd = f", command={self.command!r}" if self.command else ""
        return (f"Member({self.host_str}:{self.port}, id={self.unique_id.hex()}, "
                f"alive={self.alive}{extra}{cmd})")


def encode_member(member: Member) -> bytes:
    """``MemberImpl.getData``: the member packet of ``member`` (cached per instance)."""
    packet = member.__dict__.get("_packet_cache")
    if packet is None:
        packet = fastpath.build_member(
            member.alive, member.port, member.secure_port, member.udp_port, member.host,
            member.command, member.domain, member.unique_id, member.payload)
        object.__setattr__(member, "_packet_cache", packet)
    return packet


def _member_from_fields(fields: MemberFields, packet: bytes | None = None) -> Member:
    alive, port, secure_port, udp_port, host, command, domain, unique_id, payload = fields
    member = Member(host=host, port=port, secure_port=secure_port, udp_port=udp_port, unique_id=unique_id,
                    domain=domain, payload=payload, command=command, alive=alive)
    if packet is not None:
        object.__setattr__(member, "_packet_cache", packet)
    return member


# Every message from a node carries the same sender packet: decoded Members (immutable) are shared.
# The one member cache of the package (ChannelData.decode and the receiver's core use it); bounded:
# a flood of distinct packets empties it rather than growing it.
_SENDER_CACHE_SIZE = 1024
_SENDERS: dict[bytes, Member] = {}


def member_of_packet(fields: MemberFields, packet: bytes) -> Member:
    """The Member of a sender packet the fast path already parsed into ``fields`` (shared per packet)."""
    member = _SENDERS.get(packet)
    if member is None:
        member = _member_from_fields(fields, packet)
        if len(_SENDERS) >= _SENDER_CACHE_SIZE:
            _SENDERS.clear()
        _SENDERS[packet] = member
    return member


def decode_member(data: bytes | bytearray | memoryview) -> Member:
    """Decode one member packet; raises ``MemberDecodeError`` with a clear message on bad input."""
    raw = bytes(data)
    return _member_from_fields(fastpath.parse_member(raw, 0, len(raw)), raw)
