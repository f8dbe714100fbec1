"""TcpFailureDetector: verifies membership changes over TCP before passing them up.

* Received messages whose payload is exactly ``TCP_FAIL_DETECT`` (the 64-byte probe Java sends on a
  throw-away connection) are dropped (only when ``ok_to_process``).
* ``member_added`` from below: the member is probed first; only a live member goes up.
* ``member_disappeared`` from below: a SHUTDOWN member is removed at once; otherwise it is probed:
  dead -> removed and passed up; alive -> kept, put on the suspect list and re-probed each heartbeat
  (``remove_suspects_timeout`` s).
* A failed send whose cause is not ``RemoteProcessException`` makes every faulty member a
  ``member_disappeared`` check, then the ``ChannelException`` is re-raised.
* Heartbeat (``perform_basic_check``): members known below but not here are probed and added;
  suspects are re-probed.

The probe (``member_alive``): connect (``connect_timeout`` ms); if ``perform_send_test`` write one
frame: options ``option_flag | BYTE_MESSAGE`` (USE_ACK only with ``perform_read_test``), payload
``TCP_FAIL_DETECT``, fresh uniqueId, our local member as address; with ``perform_read_test`` wait
``read_test_timeout`` ms for any byte; close. Same bytes as Tomcat.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Sequence

from tribes.channel import (ChannelException, ChannelInterceptor, InterceptorPayload, RemoteProcessException,
                            SendOptions)
from tribes.io.channel_data import ChannelData, new_unique_id
from tribes.membership.member import SHUTDOWN_PAYLOAD, Member
from tribes.membership.membership import Membership

log = logging.getLogger("tribes.interceptors")

TCP_FAIL_DETECT = bytes.fromhex(
    "4fa77348798243c99f6f8980a15b07147dd9525bebf1439ab77ebe8f81671eb6"
    "3715be87457e4ca8bf0a4d135338153255f694b73afa407891047dd77284c0d5")


__all__ = ["TcpFailureDetector", "TCP_FAIL_DETECT", "probe_member"]


async def probe_member(member: Member, local: Member | None, payload: bytes, send_test: bool, read_test: bool,
                       read_timeout_ms: float, connect_timeout_ms: float, option_flag: int) -> bool:
    """Tomcat's ``memberAlive``: True when a TCP connection (and optional send/read test) succeeds."""
    if member.command == SHUTDOWN_PAYLOAD:
        return False
    writer = None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(member.host_str, member.port), connect_timeout_ms / 1000.0)
        if send_test:
            if local is None:
                return True
            options = option_flag | SendOptions.BYTE_MESSAGE
            options = (options | SendOptions.USE_ACK) if read_test else (options & ~SendOptions.USE_ACK)
            data = ChannelData(options, int(time.time() * 1000), new_unique_id(), local, payload)
            writer.write(data.encode_frame())
            await asyncio.wait_for(writer.drain(), read_timeout_ms / 1000.0)
            if read_test:
                got = await asyncio.wait_for(reader.read(1), read_timeout_ms / 1000.0)
                return len(got) > 0
        return True
    except (asyncio.TimeoutError, ConnectionError, OSError):
        return False
    except Exception:
        log.exception("TcpFailureDetector: failure detection of %s failed", member.name)
        return False
    finally:
        if writer is not None:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            except Exception:
                pass


class TcpFailureDetector(ChannelInterceptor):
    def __init__(self, connect_timeout: int = 1000, perform_send_test: bool = True,
                 perform_read_test: bool = False, read_test_timeout: int = 5000,
                 remove_suspects_timeout: int = 300, option_flag: int | None = None) -> None:
        super().__init__(option_flag)
        self.connect_timeout = connect_timeout
        self.perform_send_test = perform_send_test
        self.perform_read_test = perform_read_test
        self.read_test_timeout = read_test_timeout
        self.remove_suspects_timeout = remove_suspects_timeout
        self.membership: Membership | None = None
        self.remove_suspects: dict[Member, float] = {}
        self.add_suspects: dict[Member, float] = {}
        self._lock = asyncio.Lock()
        self.probes_dropped = 0

    def _setup(self) -> Membership:
        if self.membership is None:
            self.membership = Membership(super().get_local_member(True))
        return self.membership

    # -- sending -------------------------------------------------------------------------------------
    async def send_message(self, destination: Sequence[Member], msg: ChannelData,
                           payload: InterceptorPayload | None = None) -> None:
        try:
            await super().send_message(destination, msg, payload)
        except ChannelException as cx:
            for fm in list(cx.faulty_members):
                if fm.cause is not None and not isinstance(fm.cause, RemoteProcessException):
                    await self.member_disappeared(fm.member)
            raise

    # -- receiving -----------------------------------------------------------------------------------
    def message_received(self, msg: ChannelData) -> Awaitable[None] | None:
        if self.ok_to_process(msg.options) and len(msg.message) == 64 and msg.message == TCP_FAIL_DETECT:
            self.probes_dropped += 1
            log.debug("TcpFailureDetector: dropped a failure-detection probe from %s", msg.address.name)
            return None
        return super().message_received(msg)

    # -- membership ----------------------------------------------------------------------------------
    async def member_alive(self, member: Member) -> bool:
        return await probe_member(member, self.get_local_member(False), TCP_FAIL_DETECT, self.perform_send_test,
                                  self.perform_read_test, self.read_test_timeout, self.connect_timeout,
                                  self.option_flag)

    async def member_added(self, member: Member) -> None:
        ms = self._setup()
        notify = False
        async with self._lock:
            if member in self.remove_suspects:
                del self.remove_suspects[member]
            elif ms.get_member(member) is None:
                if await self.member_alive(member):
                    ms.alive(member, time.monotonic())
                    self.add_suspects.pop(member, None)
                    notify = True
                else:
                    log.info("TcpFailureDetector: new member %s does not answer on TCP; not added", member.name)
        if notify:
            await super().member_added(member)

    async def member_disappeared(self, member: Member) -> None:
        ms = self._setup()
        if member.command == SHUTDOWN_PAYLOAD:
            async with self._lock:
                if member not in ms:
                    return
                ms.remove(member)
                self.remove_suspects.pop(member, None)
            await super().member_disappeared(member)
            return
        log.info("TcpFailureDetector: received memberDisappeared[%s], verifying it", member.name)
        notify = False
        async with self._lock:
            if member not in ms:
                log.info("TcpFailureDetector: %s already disappeared", member.name)
                return
            if not await self.member_alive(member):
                ms.remove(member)
                self.remove_suspects.pop(member, None)
                notify = True
            else:
                self.remove_suspects[member] = time.monotonic()
        if notify:
            log.info("TcpFailureDetector: verified %s is gone", member.name)
            await super().member_disappeared(member)
        else:
            log.info("TcpFailureDetector: %s is still alive (TCP probe succeeded); kept as suspect", member.name)

    def has_members(self) -> bool:
        return self._setup().has_members()

    def get_members(self) -> list[Member]:
        return self._setup().members()

    def get_member(self, member: Member) -> Member | None:
        return self._setup().get_member(member)

    # -- heartbeat -----------------------------------------------------------------------------------
    async def heartbeat(self) -> None:
        await super().heartbeat()
        await self.check_members(False)

    async def check_members(self, check_all: bool) -> None:
        try:
            if check_all:
                await self.perform_forced_check()
            else:
                await self.perform_basic_check()
        except Exception:
            log.warning("TcpFailureDetector: heartbeat check failed", exc_info=True)

    async def perform_forced_check(self) -> None:
        ms = self._setup()
        added: list[Member] = []
        gone: list[Member] = []
        async with self._lock:
            for m in super().get_members():
                if await self.member_alive(m):
                    if ms.alive(m, time.monotonic()):
                        added.append(m)
                    self.add_suspects.pop(m, None)
                elif ms.get_member(m) is not None:
                    ms.remove(m)
                    self.remove_suspects.pop(m, None)
                    gone.append(m)
        for m in added:
            await super().member_added(m)
        for m in gone:
            await super().member_disappeared(m)

    async def perform_basic_check(self) -> None:
        ms = self._setup()
        added: list[Member] = []
        gone: list[Member] = []
        async with self._lock:
            for m in super().get_members():
                if m in self.add_suspects and ms.get_member(m) is None:
                    continue
                if ms.alive(m, time.monotonic()):
                    if await self.member_alive(m):
                        log.warning("TcpFailureDetector: member added, even though we didn't get a "
                                    "notification: %s", m.name)
                        added.append(m)
                    else:
                        ms.remove(m)
            now = time.monotonic()
            for m, since in list(self.remove_suspects.items()):
                if ms.get_member(m) is not None and not await self.member_alive(m):
                    ms.remove(m)
                    gone.append(m)
                    self.remove_suspects.pop(m, None)
                    log.info("TcpFailureDetector: suspect member %s confirmed dead", m.name)
                elif self.remove_suspects_timeout > 0 and now - since > self.remove_suspects_timeout:
                    self.remove_suspects.pop(m, None)
            for m in list(self.add_suspects):
                if ms.get_member(m) is None and await self.member_alive(m):
                    ms.alive(m, time.monotonic())
                    added.append(m)
                    self.add_suspects.pop(m, None)
                    log.info("TcpFailureDetector: suspect member %s is alive", m.name)
        for m in added:
            await super().member_added(m)
        for m in gone:
            await super().member_disappeared(m)
