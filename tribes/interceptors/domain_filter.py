"""DomainFilterInterceptor: only messages and members of one cluster domain pass up.

``domain`` is the raw domain bytes (a string is ISO-8859-1 encoded; ``{1,2,3}`` is Tomcat's signed
byte-list syntax). Messages whose sender address has another domain are dropped (a warning every
``log_interval`` drops); member events of other domains are not passed up, and this interceptor
answers membership queries from its own filtered view.
"""
from __future__ import annotations

import logging
import time
from typing import Awaitable

from tribes.channel import ChannelInterceptor
from tribes.io.channel_data import ChannelData
from tribes.membership.member import Member
from tribes.membership.membership import Membership

log = logging.getLogger("tribes.interceptors")

__all__ = ["DomainFilterInterceptor", "parse_domain"]


def parse_domain(domain: str | bytes) -> bytes:
    if isinstance(domain, bytes):
        return domain
    if domain.startswith("{"):
        inner = domain.strip()[1:-1]
        return bytes(int(x.strip()) & 0xFF for x in inner.split(",") if x.strip())
    return domain.encode("latin-1")


class DomainFilterInterceptor(ChannelInterceptor):
    def __init__(self, domain: str | bytes = b"", log_interval: int = 100, option_flag: int | None = None) -> None:
        super().__init__(option_flag)
        self.domain = parse_domain(domain)
        self.log_interval = log_interval
        self._log_counter = log_interval
        self.membership: Membership | None = None
        self.dropped = 0

    def _setup(self) -> Membership:
        if self.membership is None:
            self.membership = Membership(super().get_local_member(True))
        return self.membership

    def message_received(self, msg: ChannelData) -> Awaitable[None] | None:
        if msg.address.domain == self.domain:
            return super().message_received(msg)
        self.dropped += 1
        self._log_counter += 1
        if self._log_counter >= self.log_interval:
            self._log_counter = 0
            log.warning("DomainFilterInterceptor: message from %s (domain %r) refused", msg.address.name,
                        msg.address.domain)
        return None

    async def member_added(self, member: Member) -> None:
        ms = self._setup()
        notify = member.domain == self.domain and ms.alive(member, time.monotonic())
        if notify:
            await super().member_added(member)
        else:
            log.info("DomainFilterInterceptor: member %s refused (domain %r)", member.name, member.domain)

    async def member_disappeared(self, member: Member) -> None:
        ms = self._setup()
        if member.domain == self.domain:
            ms.remove(member)
            await super().member_disappeared(member)

    def has_members(self) -> bool:
        return self._setup().has_members()

    def get_members(self) -> list[Member]:
        return self._setup().members()

    def get_member(self, member: Member) -> Member | None:
        return self._setup().get_member(member)
