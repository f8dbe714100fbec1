"""TcpPingInterceptor: keeps members' connections busy / forces failure checks.

On every heartbeat (or every ``interval`` ms with ``use_thread=True``): if a TcpFailureDetector sits
below, a forced check of all members; otherwise a frame with payload ``TCP_PING_DATA`` (64 bytes,
options = this interceptor's flag, 0 = no ACK) is sent to every member. Received ping frames are
dropped (when ``ok_to_process``). Same bytes as Tomcat.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable

from tribes.channel import ChannelException, ChannelInterceptor
from tribes.interceptors.tcp_failure_detector import TcpFailureDetector
from tribes.io.channel_data import ChannelData, new_unique_id
from tribes.membership.member import Member

log = logging.getLogger("tribes.interceptors")

TCP_PING_DATA = bytes.fromhex(
    "4fa7734879df43c99f6f8980a15b07147dd9525bebdf439ab77ebe8f81671eb6"
    "3715be8745214ca8bf0a4d135338153255f694b73adf217891047dd77284c0d5")

__all__ = ["TcpPingInterceptor", "TCP_PING_DATA"]


class TcpPingInterceptor(ChannelInterceptor):
    def __init__(self, interval: int = 1000, use_thread: bool = False, static_only: bool = False,
                 option_flag: int | None = None) -> None:
        super().__init__(option_flag)
        self.interval = interval
        self.use_thread = use_thread
        self.static_only = static_only
        self.failure_detector: TcpFailureDetector | None = None
        self.static_members: ChannelInterceptor | None = None
        self._task: asyncio.Task[None] | None = None
        self.pings_dropped = 0

    async def start(self, svc: int) -> None:
        await super().start(svc)
        nxt = self.next
        while nxt is not None:
            if isinstance(nxt, TcpFailureDetector):
                self.failure_detector = nxt
            if type(nxt).__name__ == "StaticMembershipInterceptor":
                self.static_members = nxt
            nxt = nxt.next
        if self.use_thread and self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def stop(self, svc: int) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        await super().stop(svc)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval / 1000.0)
            try:
                await self.send_ping()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("TcpPingInterceptor: ping failed", exc_info=True)

    async def heartbeat(self) -> None:
        await super().heartbeat()
        if not self.use_thread:
            await self.send_ping()

    async def send_ping(self) -> None:
        if self.failure_detector is not None:
            await self.failure_detector.check_members(True)
            return
        if self.static_only and self.static_members is not None:
            members = self.static_members.get_members()
        else:
            members = self.get_members()
        await self.send_ping_message(members)

    async def send_ping_message(self, members: list[Member]) -> None:
        if not members:
            return
        local = self.get_local_member(False)
        if local is None:
            return
        data = ChannelData(self.option_flag, int(time.time() * 1000), new_unique_id(), local, TCP_PING_DATA)
        try:
            await ChannelInterceptor.send_message(self, members, data, None)
        except ChannelException as x:
            log.warning("TcpPingInterceptor: unable to send a TCP ping: %s", x)

    def message_received(self, msg: ChannelData) -> Awaitable[None] | None:
        if self.ok_to_process(msg.options) and len(msg.message) == 64 and msg.message == TCP_PING_DATA:
            self.pings_dropped += 1
            return None
        return super().message_received(msg)
