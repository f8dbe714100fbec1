"""``DurableAckInterceptor``: a synchronous message is ACKed only once its change is on disk.

Tomcat's receiver ACKs a ``SYNCHRONIZED_ACK`` message after the channel listeners have processed it.
This interceptor, placed just above the coordinator (the bottom of the stack, as ``add_interceptor``
places it), lets everything above it process the message as usual and then hands the receiver an
awaitable that completes when the keeper has committed the change: the ACK waits for it, and a
failed commit (a full disk) turns the ACK into a FAIL_ACK. Messages without ``SYNCHRONIZED_ACK``
only ask for a flush within the keeper's ``async_delay``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Awaitable, Protocol

from tribes.channel import ChannelInterceptor, SendOptions

if TYPE_CHECKING:
    from tribes.io.channel_data import ChannelData

__all__ = ["DurableAckInterceptor", "Durable"]

_SYNC = SendOptions.USE_ACK | SendOptions.SYNCHRONIZED_ACK


class Durable(Protocol):
    def durable(self) -> Awaitable[None]: ...
    def nudge(self) -> None: ...


async def _then(first: Awaitable[None] | None, second: Awaitable[None]) -> None:
    if first is not None:
        await first
    await second


class DurableAckInterceptor(ChannelInterceptor):
    """Delays the ACK of synchronous messages until ``keeper.durable()`` completes."""

    def __init__(self, keeper: Durable) -> None:
        super().__init__()
        self.keeper = keeper

    def message_received(self, msg: ChannelData) -> Awaitable[None] | None:
        above = super().message_received(msg)
        if msg.options & _SYNC == _SYNC:
            return _then(above, self.keeper.durable())
        self.keeper.nudge()
        return above
