"""Tribes' root vocabulary, as Tomcat's ``org.apache.catalina.tribes`` package is.

Everything the layers share is defined here once, and nowhere else:

* ``SendOptions``: every ``Channel.SEND_OPTIONS_*`` bit, with ``parse_send_options`` /
  ``send_options_to_string`` (``Channel.parseSendOptions`` / ``getSendOptionsAsString``);
* the start levels ``SND_RX_SEQ``, ``SND_TX_SEQ``, ``MBR_RX_SEQ``, ``MBR_TX_SEQ``, ``DEFAULT``;
* ``ChannelException`` with its ``FaultyMember`` entries, ``RemoteProcessException``;
* ``UniqueId`` and ``new_unique_id()`` (Tomcat's ``UUIDGenerator.randomUUID(true)`` shape, used for
  message ids and member ids alike), ``ByteMessage``, ``SerializedMessage``;
* the listener protocols ``ChannelListener``, ``MembershipListener``, ``ErrorHandler``,
  the ``Channel`` protocol a component sees of its channel, and the ``ChannelInterceptor`` base
  class (Tomcat's ``ChannelInterceptorBase``) with ``InterceptorPayload``.

This module is the bottom of the channel layers: it imports nothing of ``tribes`` at run time
(``Member`` and ``ChannelData`` appear in annotations only), so every layer may import it.
"""
from __future__ import annotations

import enum
import inspect
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Iterable, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:  # annotations only: io and membership sit above the vocabulary
    from tribes.io.channel_data import ChannelData
    from tribes.io.member import Member

__all__ = [
    "SendOptions", "OPTION_ALIASES", "parse_send_options", "send_options_to_string",
    "SND_RX_SEQ", "SND_TX_SEQ", "MBR_RX_SEQ", "MBR_TX_SEQ", "DEFAULT",
    "ChannelException", "FaultyMember", "RemoteProcessException",
    "UniqueId", "new_unique_id", "ByteMessage", "SerializedMessage", "ALL_SEND_OPTIONS",
    "ChannelListener", "MembershipListener", "ErrorHandler", "Channel",
    "ChannelInterceptor", "InterceptorPayload", "gather_results",
]


# ------------------------------------------------------------------------------------------ send options
class SendOptions(enum.IntFlag):
    """Every SEND_OPTIONS bit of ``org.apache.catalina.tribes.Channel``."""

    BYTE_MESSAGE = 0x0001
    USE_ACK = 0x0002
    SYNCHRONIZED_ACK = 0x0004
    ASYNCHRONOUS = 0x0008
    SECURE = 0x0010
    UDP = 0x0020
    MULTICAST = 0x0040
    # Channel.SEND_OPTIONS_DEFAULT (an alias of USE_ACK, as in Tomcat)
    DEFAULT = USE_ACK


#: the bits Tomcat defines (ChannelData.getOptions may carry more: they travel untouched)
ALL_SEND_OPTIONS = 0x7F

# Channel.getSendOptionValue: names and aliases (case-sensitive, as Java's switch).
OPTION_ALIASES: dict[str, int] = {
    "asynchronous": SendOptions.ASYNCHRONOUS,
    "async": SendOptions.ASYNCHRONOUS,
    "byte_message": SendOptions.BYTE_MESSAGE,
    "byte": SendOptions.BYTE_MESSAGE,
    "multicast": SendOptions.MULTICAST,
    "secure": SendOptions.SECURE,
    "synchronized_ack": SendOptions.SYNCHRONIZED_ACK,
    "sync": SendOptions.SYNCHRONIZED_ACK,
    "udp": SendOptions.UDP,
    "use_ack": SendOptions.USE_ACK,
}

# Names in bit order, as Channel.getSendOptionsAsString uses them.
_BIT_NAMES = ("byte", "use_ack", "sync", "async", "secure", "udp", "multicast")

_JAVA_INT = re.compile(r"[+-]?[0-9]+\Z")
_SPLIT = re.compile(r"\s*,\s*")


def parse_send_options(value: str | int) -> int:
    """Parse a send-options value exactly as ``Channel.parseSendOptions`` does.

    An int is returned unchanged; ``""`` gives 0; a decimal Java int (``"6"``, ``"+6"``)
    is taken as is; otherwise a comma list of option names/aliases is OR-ed together.
    Raises ``ValueError`` naming the bad option.
    """
    if isinstance(value, bool):
        raise TypeError("send options must be an int or a string, not bool")
    if isinstance(value, int):
        if not -(2**31) <= value < 2**31:
            raise ValueError(f"send options {value} do not fit in a Java int")
        return int(value)
    if not isinstance(value, str):
        raise TypeError(f"send options must be an int or a string, not {type(value).__name__}")
    if value == "":
        return 0
    if _JAVA_INT.match(value):
        number = int(value)
        if -(2**31) <= number < 2**31:
            return number
    result = 0
    for name in _SPLIT.split(value):
        try:
            result |= int(OPTION_ALIASES[name])
        except KeyError:
            raise ValueError(
                f"[{name}] is not a valid option; use an int or a comma list of "
                f"{', '.join(sorted(OPTION_ALIASES))}"
            ) from None
    return result


def send_options_to_string(value: int) -> str:
    """``Channel.getSendOptionsAsString``: e.g. 6 -> ``"sync, use_ack"`` (highest bit first)."""
    return ", ".join(_BIT_NAMES[bit] for bit in range(len(_BIT_NAMES) - 1, -1, -1) if value & (1 << bit))


# ------------------------------------------------------------------------------------------ start levels
#: Channel.SND_RX_SEQ: the receiver (binds first: its port goes into the local member)
SND_RX_SEQ = 1
#: Channel.SND_TX_SEQ: the sender
SND_TX_SEQ = 2
#: Channel.MBR_RX_SEQ: membership receive
MBR_RX_SEQ = 4
#: Channel.MBR_TX_SEQ: membership broadcast
MBR_TX_SEQ = 8
#: Channel.DEFAULT: everything
DEFAULT = SND_RX_SEQ | SND_TX_SEQ | MBR_RX_SEQ | MBR_TX_SEQ


# ------------------------------------------------------------------------------------------ exceptions
class RemoteProcessException(Exception):
    """The peer answered FAIL_ACK (its listener failed), or our listener failed while processing."""


@dataclass(frozen=True)
class FaultyMember:
    """``ChannelException.FaultyMember``: a member a send failed for, and why."""

    member: Member
    cause: BaseException | None

    def __str__(self) -> str:
        name = getattr(self.member, "name", repr(self.member))
        return f"{name}: {type(self.cause).__name__}: {self.cause}" if self.cause else f"{name}"


class ChannelException(Exception):
    """A send failed for one or more members; ``faulty_members`` names each member and its cause.

    Callers such as ``TcpFailureDetector`` inspect the causes: a ``RemoteProcessException`` means the
    peer is alive but its listener failed, so it is *not* treated as a dead member.
    """

    def __init__(self, message: str = "", cause: BaseException | None = None,
                 faulty_members: Iterable[FaultyMember] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.faulty_members: list[FaultyMember] = []
        if cause is not None:
            self.__cause__ = cause
        for fm in faulty_members:
            self.add_faulty_member(fm.member, fm.cause)

    def add_faulty_member(self, member: Member, cause: BaseException | None = None) -> bool:
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


# ------------------------------------------------------------------------------------------ messages
def new_unique_id() -> bytes:
    """16 random bytes with RFC 4122 version-4 bits, like Tomcat's ``UUIDGenerator.randomUUID(true)``.

    Tomcat uses the same generator for message ids (``ChannelData``) and member ids (``McastService``).
    """
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    return bytes(b)


class UniqueId(bytes):
    """The 16-byte ChannelData uniqueId of a sent message; ``str()`` is lowercase hex."""

    def __str__(self) -> str:
        return self.hex()

    def __repr__(self) -> str:
        return f"UniqueId({self.hex()})"


class ByteMessage:
    """Raw bytes sent without Java serialization (``SEND_OPTIONS_BYTE_MESSAGE``)."""

    __slots__ = ("message",)

    def __init__(self, message: bytes | bytearray | memoryview = b"") -> None:
        self.message = message if isinstance(message, bytes) else bytes(message)

    def __bytes__(self) -> bytes:
        return self.message

    def __len__(self) -> int:
        return len(self.message)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ByteMessage) and other.message == self.message

    def __hash__(self) -> int:
        return hash(self.message)

    def __repr__(self) -> str:
        return f"ByteMessage({len(self.message)} bytes)"


class SerializedMessage:
    """A payload that is already a Java serialization stream (not in Tomcat).

    ``GroupChannel.send`` passes it through as the message bytes, with the BYTE_MESSAGE bit
    cleared, exactly as if the value had been serialized there: for codecs that write their
    own streams (static membership's RPC, session messages).
    """

    __slots__ = ("data",)

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self.data = data if isinstance(data, bytes) else bytes(data)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"SerializedMessage({len(self.data)} bytes)"


# ------------------------------------------------------------------------------------------ protocols
@runtime_checkable
class ChannelListener(Protocol):
    """``ChannelListener``: ``message_received`` may return an awaitable (awaited before a
    synchronized ACK). Messages arrive as ``ByteMessage`` or as the decoded Java value."""

    def accept(self, msg: Any, sender: Member) -> bool: ...

    def message_received(self, msg: Any, sender: Member) -> None | Awaitable[None]: ...


@runtime_checkable
class MembershipListener(Protocol):
    """``MembershipListener``: a callback may return an awaitable."""

    def member_added(self, member: Member) -> None | Awaitable[None]: ...

    def member_disappeared(self, member: Member) -> None | Awaitable[None]: ...


class ErrorHandler(Protocol):
    """``ErrorHandler`` of an asynchronous send."""

    def handle_error(self, exc: ChannelException, unique_id: UniqueId) -> None: ...

    def handle_completion(self, unique_id: UniqueId) -> None: ...


class Channel(Protocol):
    """What a component sees of its channel (Tomcat's ``Channel`` interface, the parts we use).

    ``GroupChannel`` is the implementation; membership services, interceptors and managers hold a
    ``Channel`` so they need not import the group layer.
    """

    name: str | None

    async def send(self, members: Sequence[Member] | Member, message: Any, options: int = ...,
                   error_handler: ErrorHandler | None = None) -> UniqueId: ...

    def add_channel_listener(self, listener: Any) -> None: ...

    def remove_channel_listener(self, listener: Any) -> None: ...

    def add_membership_listener(self, listener: Any) -> None: ...

    def remove_membership_listener(self, listener: Any) -> None: ...

    def members(self) -> list[Member]: ...

    def get_local_member(self, inc_alive: bool = False) -> Member | None: ...


# ------------------------------------------------------------------------------------------ interceptors
class InterceptorPayload:
    """Extra data travelling with a send (Tomcat: an ErrorHandler for asynchronous sends)."""

    __slots__ = ("error_handler",)

    def __init__(self, error_handler: ErrorHandler | None = None) -> None:
        self.error_handler = error_handler


def gather_results(results: list[Any]) -> Awaitable[None] | None:
    """Combine the results of several ``message_received`` calls into one awaitable (or None)."""
    pending = [r for r in results if r is not None and inspect.isawaitable(r)]
    if not pending:
        return None

    async def _wait() -> None:
        error: BaseException | None = None
        for r in pending:
            try:
                await r
            except Exception as exc:  # keep going, report the first failure
                if error is None:
                    error = exc
        if error is not None:
            raise error

    return _wait()


class ChannelInterceptor:
    """The base of every interceptor (Tomcat's ``ChannelInterceptorBase``): passes everything through.

    Interceptors form a doubly linked chain: ``GroupChannel`` (top) -> user interceptors in the order
    added -> ``ChannelCoordinator`` (bottom). Only ``GroupChannel`` links them. Sends go down
    (``send_message``, awaited), received messages and membership events go up (``message_received``,
    ``member_added``, ``member_disappeared``), ``heartbeat``/``start``/``stop`` go down.

    Option flags (Tomcat semantics): an interceptor with ``option_flag == 0`` processes every message;
    otherwise ``ok_to_process(options)`` is true only when *all* of its flag bits are set.

    ``message_received`` is synchronous on the hot path; it returns ``None`` or an awaitable (when a
    listener above returned one). An interceptor overriding it must return what the call above it
    returned (``return super().message_received(msg)``), so the receiver can await it before a
    synchronized ACK. ``member_added``/``member_disappeared``/``heartbeat``/``start``/``stop`` and
    ``send_message`` are coroutines.
    """

    #: Tomcat's default option flag for this interceptor class (0 = process every message)
    default_option_flag = 0

    def __init__(self, option_flag: int | None = None) -> None:
        self.next: ChannelInterceptor | None = None
        self.previous: ChannelInterceptor | None = None
        self.channel: Channel | None = None
        self.option_flag = self.default_option_flag if option_flag is None else int(option_flag)

    # -- option flags --------------------------------------------------------------------------------
    def ok_to_process(self, message_flags: int) -> bool:
        flag = self.option_flag
        if flag == 0:
            return True
        return (flag & message_flags) == flag

    def set_option_flag(self, flag: int) -> None:
        self.option_flag = int(flag)

    # -- downwards -----------------------------------------------------------------------------------
    async def send_message(self, destination: Sequence[Member], msg: ChannelData,
                           payload: InterceptorPayload | None = None) -> None:
        if self.next is not None:
            await self.next.send_message(destination, msg, payload)

    async def heartbeat(self) -> None:
        if self.next is not None:
            await self.next.heartbeat()

    async def start(self, svc: int) -> None:
        if self.next is not None:
            await self.next.start(svc)

    async def stop(self, svc: int) -> None:
        if self.next is not None:
            await self.next.stop(svc)

    async def flush(self, timeout: float = 30.0) -> bool:
        """Wait until what this interceptor and those below it hold has gone down (not in Tomcat:
        for programs that must know their asynchronous sends left, e.g. before a shutdown).
        False if ``timeout`` seconds were not enough."""
        if self.next is not None:
            return await self.next.flush(timeout)
        return True

    # -- upwards -------------------------------------------------------------------------------------
    def message_received(self, msg: ChannelData) -> Awaitable[None] | None:
        if self.previous is not None:
            return self.previous.message_received(msg)
        return None

    async def member_added(self, member: Member) -> None:
        if self.previous is not None:
            await self.previous.member_added(member)

    async def member_disappeared(self, member: Member) -> None:
        if self.previous is not None:
            await self.previous.member_disappeared(member)

    # -- queries (answered by the lowest interceptor that keeps its own view) -------------------------
    def has_members(self) -> bool:
        return self.next.has_members() if self.next is not None else False

    def get_members(self) -> list[Member]:
        return self.next.get_members() if self.next is not None else []

    def get_member(self, member: Member) -> Member | None:
        return self.next.get_member(member) if self.next is not None else None

    def get_local_member(self, inc_alive: bool = False) -> Member | None:
        return self.next.get_local_member(inc_alive) if self.next is not None else None

    def set_channel(self, channel: Channel | None) -> None:
        self.channel = channel

    def __repr__(self) -> str:
        return f"{type(self).__name__}(option_flag={self.option_flag:#x})"
