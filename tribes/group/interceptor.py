"""``ChannelInterceptor``: the public base class of every interceptor (Tomcat's ChannelInterceptorBase).

Interceptors form a doubly linked chain: ``GroupChannel`` (top) -> user interceptors in the order
added -> ``ChannelCoordinator`` (bottom). Sends go down (``send_message``, awaited), received
messages and membership events go up (``message_received``, ``member_added``,
``member_disappeared``), ``heartbeat``/``start``/``stop`` go down.

Option flags (Tomcat semantics): an interceptor with ``option_flag == 0`` processes every message;
otherwise ``ok_to_process(options)`` is true only when *all* of its flag bits are set.

``message_received`` is synchronous on the hot path; it returns ``None`` or an awaitable (when a
listener above returned one).  An interceptor overriding it must return what the call above it
returned (``return super().message_received(msg)``), so the receiver can await it before a
synchronized ACK.  ``member_added``/``member_disappeared``/``heartbeat``/``start``/``stop`` and
``send_message`` are coroutines.
"""
from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Awaitable, Sequence

from tribes.io.channel_data import ChannelData
from tribes.membership.member import Member

if TYPE_CHECKING:  # pragma: no cover
    from tribes.group.channel import GroupChannel

__all__ = ["ChannelInterceptor", "InterceptorPayload", "gather_results"]


class InterceptorPayload:
    """Extra data travelling with a send (Tomcat: an ErrorHandler for asynchronous sends)."""

    __slots__ = ("error_handler",)

    def __init__(self, error_handler: Any = None) -> None:
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
    """Base interceptor: passes everything through. Subclass and override what you need."""

    #: Tomcat's default option flag for this interceptor class (0 = process every message)
    default_option_flag = 0

    def __init__(self, option_flag: int | None = None) -> None:
        self.next: ChannelInterceptor | None = None
        self.previous: ChannelInterceptor | None = None
        self.channel: GroupChannel | None = None
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

    def set_channel(self, channel: "GroupChannel | None") -> None:
        self.channel = channel

    def __repr__(self) -> str:
        return f"{type(self).__name__}(option_flag={self.option_flag:#x})"
