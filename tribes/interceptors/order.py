"""OrderInterceptor: per-destination sequence numbers, in-order delivery per sender.

Send (when ``ok_to_process``): for each destination separately, the payload gets a trailing
big-endian int, the per-destination counter (first value 1). Receive: the int is stripped and
messages are delivered in counter order per sender; a gap is held for at most ``expire`` ms
(then the held messages go up anyway if ``forward_expired``); at most ``max_queue`` are held.
Identical bytes to Tomcat's OrderInterceptor.
"""
from __future__ import annotations

import time
from typing import Awaitable, Sequence

from tribes.channel import ChannelException, ChannelInterceptor, InterceptorPayload, gather_results
from tribes.io.channel_data import ChannelData
from tribes.membership.member import Member

__all__ = ["OrderInterceptor"]

_INT_MAX = 2**31 - 1


class OrderInterceptor(ChannelInterceptor):
    def __init__(self, expire: int = 3000, forward_expired: bool = True, max_queue: int = _INT_MAX,
                 option_flag: int | None = None) -> None:
        super().__init__(option_flag)
        self.expire = expire
        self.forward_expired = forward_expired
        self.max_queue = max_queue
        self._out: dict[Member, int] = {}
        self._in: dict[Member, int] = {}
        # held messages per sender: msg number -> (received monotonic, message)
        self._held: dict[Member, dict[int, tuple[float, ChannelData]]] = {}

    async def send_message(self, destination: Sequence[Member], msg: ChannelData,
                           payload: InterceptorPayload | None = None) -> None:
        if not self.ok_to_process(msg.options):
            await super().send_message(destination, msg, payload)
            return
        cx: ChannelException | None = None
        for member in destination:
            nr = (self._out.get(member, 0) + 1) & 0xFFFFFFFF
            self._out[member] = nr
            out = ChannelData(msg.options, msg.timestamp, msg.unique_id, msg.address,
                              msg.message + nr.to_bytes(4, "big"))
            try:
                assert self.next is not None
                await self.next.send_message([member], out, payload)
            except ChannelException as x:
                if cx is None:
                    cx = x
                else:
                    cx.add_faulty_members(x.faulty_members)
        if cx is not None:
            raise cx

    def message_received(self, msg: ChannelData) -> Awaitable[None] | None:
        if not self.ok_to_process(msg.options):
            return super().message_received(msg)
        data = msg.message
        nr = int.from_bytes(data[-4:], "big", signed=True)
        msg.message = data[:-4]
        member = msg.address
        results: list[object] = []
        expected = self._in.get(member, 1)
        held = self._held.get(member)
        if not held and nr == expected:
            # fast path: in order, nothing held
            self._in[member] = expected + 1
            return super().message_received(msg)
        if held is None:
            held = self._held[member] = {}
        if nr in held:
            raise ArithmeticException_(nr)
        held[nr] = (time.monotonic(), msg)
        self._drain(member, held, results, force=False)
        return gather_results(results)

    def _drain(self, member: Member, held: dict[int, tuple[float, ChannelData]], results: list[object],
               force: bool) -> None:
        cnt = self._in.get(member, 1)
        if force:
            cnt = _INT_MAX
        # deliver every held message with a number <= counter, in order
        for nr in sorted(held):
            if nr > cnt:
                break
            _, m = held.pop(nr)
            if nr == cnt:
                cnt += 1
            results.append(ChannelInterceptor.message_received(self, m))
        # expire the rest (Tomcat walks the list: expired entries are forwarded, the counter moves)
        if held:
            now = time.monotonic()
            full = len(held) >= self.max_queue
            for nr in sorted(held):
                received, m = held[nr]
                if full or (now - received) * 1000 > self.expire:
                    del held[nr]
                    cnt = nr + 1
                    if self.forward_expired:
                        results.append(ChannelInterceptor.message_received(self, m))
        if not force:
            self._in[member] = cnt
        if not held:
            self._held.pop(member, None)

    async def heartbeat(self) -> None:
        # not in Tomcat (it only expires on the next message); lets a final gap drain eventually
        for member, held in list(self._held.items()):
            results: list[object] = []
            self._drain(member, held, results, force=False)
            r = gather_results(results)
            if r is not None:
                try:
                    await r
                except Exception:
                    pass
        await super().heartbeat()

    async def member_disappeared(self, member: Member) -> None:
        held = self._held.get(member)
        if held:
            results: list[object] = []
            self._drain(member, held, results, force=True)
            r = gather_results(results)
            if r is not None:
                try:
                    await r
                except Exception:
                    pass
        self._held.pop(member, None)
        self._in.pop(member, None)
        self._out.pop(member, None)
        await super().member_disappeared(member)


class ArithmeticException_(ArithmeticError):
    def __init__(self, nr: int) -> None:
        super().__init__(f"OrderInterceptor: a message with counter {nr} was added twice")
