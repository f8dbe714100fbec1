"""``CloudMembershipService``: membership from the Kubernetes API or DNS, where there is no multicast.

Tomcat's ``org.apache.catalina.tribes.membership.cloud.CloudMembershipService`` with its
attributes and defaults:

=============================== ============ ==============================================
server.xml attribute            default      meaning
=============================== ============ ==============================================
``membershipProviderClassName`` kubernetes   ``kubernetes``, ``dns`` or the full class name of
                                             ``KubernetesMembershipProvider`` /
                                             ``DNSMembershipProvider``
``connectTimeout``              1000 ms      connection timeout of an API request
``readTimeout``                 1000 ms      read timeout of an API request (DNS: the lookup
                                             gets connectTimeout + readTimeout)
``expirationTime``              5000 ms      a member not listed for longer than this expires
=============================== ============ ==============================================

Python-only attributes (Tomcat's service stores unknown attributes as properties and ignores
them, so one server.xml serves both):

* ``acceptUnknownSenders`` (false): Tomcat's DNS provider makes *any* node that sends a message a
  member. Off here by default: the members are exactly the addresses DNS lists, so a stranger on
  the network cannot become a member and be sent session state. ``true`` restores Tomcat's
  behaviour (the channel coordinator hands the service its channel: ``set_channel``).
* ``pollInterval`` (5000 ms): Tomcat polls on the channel heartbeat (``heartbeatSleeptime``, 5 s)
  and once at start; so does this service, on its own timer.
* ``maxResponseSize`` (32 MiB): a bigger Kubernetes answer is refused.
* ``dnsServiceName``: the DNS name, instead of env ``DNS_MEMBERSHIP_SERVICE_NAME``.

Everything else comes from the environment, as in Tomcat (see ``dns.py`` and ``kubernetes.py``).

Behaviour as Tomcat: every discovered member is assumed to listen on *this node's* receiver port;
the local member starts with a uniqueId of 16 zero bytes and takes the id of its own entry (MD5 of
its address, or of its pod's uid) the first time it is listed; members are polled at start and
then every heartbeat; a member missing from the answers for longer than ``expirationTime``
disappears. Events are the same ``MemberEvent``\\s McastService publishes (``reason``
``"discovered"`` / ``"expired"``), so TcpFailureDetector, DeltaManager, BackupManager and the live
view work unchanged. A failed poll (timeout, malformed or oversized answer, HTTP or TLS error)
leaves the membership unchanged and logs one clear, rate-limited line; the next poll recovers.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from typing import Any, Mapping, Protocol

from tribes.membership.cloud.core import INITIAL_ID, CloudFetchError, CloudMembership, Discovery, unknown_sender_id
from tribes.membership.member import Member
from tribes.membership.membership import MemberEvent
from tribes.membership.service import MBR_ALL, MBR_RX, MembershipError, MembershipService
from tribes.ratelimit import RateLimitedLog

__all__ = ["CloudMembershipService", "CloudMembershipProvider", "CloudConfigError", "KUBE_PROVIDER_CLASS",
           "DNS_PROVIDER_CLASS", "CLOUD_ATTRIBUTES", "provider_kind"]

log = logging.getLogger("tribes.membership.cloud")

_PKG = "org.apache.catalina.tribes.membership.cloud."
KUBE_PROVIDER_CLASS = _PKG + "KubernetesMembershipProvider"
DNS_PROVIDER_CLASS = _PKG + "DNSMembershipProvider"

CLOUD_ATTRIBUTES = ("membershipProviderClassName", "connectTimeout", "readTimeout", "expirationTime",
                    "acceptUnknownSenders", "pollInterval", "maxResponseSize", "dnsServiceName")


class CloudConfigError(MembershipError, ValueError):
    """An attribute of CloudMembershipService is wrong."""


class CloudMembershipProvider(Protocol):
    """What the service needs from a provider (``DNSMembershipProvider``, ``KubernetesMembershipProvider``)."""

    name: str

    def configure(self, environ: Mapping[str, str]) -> None: ...

    async def fetch(self, port: int, local_host: bytes) -> Discovery: ...

    async def close(self) -> None: ...

    def describe(self) -> str: ...


def provider_kind(class_name: str | None) -> str:
    """``membershipProviderClassName`` -> ``"kubernetes"`` or ``"dns"`` (None = Tomcat's default)."""
    if class_name is None or class_name in ("kubernetes", KUBE_PROVIDER_CLASS):
        return "kubernetes"
    if class_name in ("dns", DNS_PROVIDER_CLASS):
        return "dns"
    raise CloudConfigError(
        f"membershipProviderClassName={class_name!r} is not supported: use 'kubernetes' or 'dns' (or "
        f"{KUBE_PROVIDER_CLASS} / {DNS_PROVIDER_CLASS}); a Java provider class cannot run in a Python node")


def _int(name: str, value: Any, minimum: int = 0) -> int:
    try:
        n = int(str(value).strip())
    except ValueError:
        raise CloudConfigError(f"CloudMembershipService {name}={value!r} is not a number") from None
    if n < minimum:
        raise CloudConfigError(f"CloudMembershipService {name}={n} must be >= {minimum}")
    return n


def _bool(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() == "true"


class CloudMembershipService(MembershipService):
    """Membership by polling DNS or the Kubernetes API (see the module docstring)."""

    def __init__(self, membership_provider_class_name: str | None = None, connect_timeout: int | str = 1000,
                 read_timeout: int | str = 1000, expiration_time: int | str = 5000, *,
                 accept_unknown_senders: bool | str = False, poll_interval: int | str = 5000,
                 max_response_size: int | str | None = None, dns_service_name: str | None = None,
                 domain: bytes | str = b"", payload: bytes | str = b"",
                 provider: CloudMembershipProvider | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.membership_provider_class_name = membership_provider_class_name
        self.kind = provider.name if provider is not None else provider_kind(membership_provider_class_name)
        self.connect_timeout = _int("connectTimeout", connect_timeout)
        self.read_timeout = _int("readTimeout", read_timeout)
        self.expiration_time = _int("expirationTime", expiration_time, 1)
        self.accept_unknown_senders = _bool(accept_unknown_senders)
        self.poll_interval = _int("pollInterval", poll_interval, 1)
        from tribes.membership.cloud.kubernetes import DEFAULT_MAX_RESPONSE_SIZE
        self.max_response_size = (DEFAULT_MAX_RESPONSE_SIZE if max_response_size is None
                                  else _int("maxResponseSize", max_response_size, 1))
        self.dns_service_name = dns_service_name
        self.domain = domain.encode("iso-8859-1") if isinstance(domain, str) else bytes(domain)
        self.payload = payload.encode("iso-8859-1") if isinstance(payload, str) else bytes(payload)
        self.environ: Mapping[str, str] = environ if environ is not None else os.environ
        self.provider: CloudMembershipProvider | None = provider
        self.core = CloudMembership(self.expiration_time / 1000.0)
        self.membership = self.core.table  # the base class's queries read this table
        self.bad_answers = RateLimitedLog(log)
        self.stats: dict[str, int] = {"polls": 0, "good": 0, "failed": 0, "skipped_entries": 0,
                                      "unknown_senders": 0}
        self.last_error: str | None = None
        self._id_assigned = False
        self._poller: asyncio.Task[None] | None = None
        self._sender_listener: _UnknownSenderListener | None = None
        self._start_mono: float | None = None
        self._poll_lock = asyncio.Lock()

    @classmethod
    def from_attributes(cls, attributes: Mapping[str, Any], **python_options: Any) -> "CloudMembershipService":
        """From server.xml attributes (camelCase). Unknown ones are refused with the accepted list."""
        kw: dict[str, Any] = {}
        for name, value in attributes.items():
            if name == "className":
                continue
            if name not in CLOUD_ATTRIBUTES:
                raise CloudConfigError(f"CloudMembershipService attribute {name!r} is not supported; accepted: "
                                       f"{', '.join(CLOUD_ATTRIBUTES)}")
            kw["".join("_" + c.lower() if c.isupper() else c for c in name)] = value
        kw.update(python_options)
        return cls(**kw)

    # ------------------------------------------------------------------ local member
    def set_local_member(self, host: bytes, port: int, secure_port: int = -1, udp_port: int = -1,
                         domain: bytes = b"", payload: bytes = b"",
                         unique_id: bytes | None = None) -> Member:
        """As Tomcat's ``setLocalMemberProperties``: the id stays 16 zero bytes until this node is listed."""
        if unique_id is None or not self._id_assigned:
            unique_id = self._local.unique_id if self._local is not None else INITIAL_ID
        local = super().set_local_member(host, port, secure_port, udp_port, domain or self.domain,
                                         payload or self.payload, unique_id)
        self.core.local = local
        return local

    def _take_local_id(self, unique_id: bytes) -> None:
        if self._id_assigned or self._local is None:
            return
        self._id_assigned = True
        self._replace_local(dataclasses.replace(self._local, unique_id=unique_id))
        self.core.local = self._local
        log.info("local member %s listed: uniqueId %s", self._local.name, unique_id.hex())

    # ------------------------------------------------------------------ life cycle
    def _make_provider(self) -> CloudMembershipProvider:
        secs = self.connect_timeout / 1000.0, self.read_timeout / 1000.0
        if self.kind == "dns":
            from tribes.membership.cloud.dns import DNSMembershipProvider
            return DNSMembershipProvider(self.dns_service_name, timeout=secs[0] + secs[1])
        from tribes.membership.cloud.kubernetes import KubernetesMembershipProvider
        return KubernetesMembershipProvider(connect_timeout=secs[0], read_timeout=secs[1],
                                            max_response_size=self.max_response_size)

    async def start(self, level: int = MBR_ALL) -> None:
        """Tomcat acts on ``MBR_RX`` only: configure the provider, poll once, then every pollInterval."""
        if level & MBR_ALL == 0:
            raise ValueError("start level must include MBR_RX (4) and/or MBR_TX (8)")
        self.local_member  # raises a clear error when missing
        self.start_level |= level
        if not level & MBR_RX or self._poller is not None:
            return
        if self.provider is None:
            self.provider = self._make_provider()
        self.provider.configure(self.environ)  # raises MembershipError naming what is missing
        self._start_mono = time.monotonic()
        log.info("cloud membership (%s) started: %s, expirationTime %d ms, polled every %d ms",
                 self.kind, self.provider.describe(), self.expiration_time, self.poll_interval)
        if self.accept_unknown_senders:
            if self.channel is None:
                log.warning("acceptUnknownSenders=true has no effect: the service runs without a channel "
                            "(set_channel was not called)")
            else:
                self._sender_listener = _UnknownSenderListener(self)
                self.channel.add_channel_listener(self._sender_listener)
        await self.poll()
        self._poller = asyncio.ensure_future(self._poll_loop())

    async def stop(self, level: int = MBR_ALL) -> None:
        self.start_level &= ~level
        if not (level & MBR_RX) and self.start_level:  # MBR_TX alone: nothing to stop (Tomcat polls on RX)
            return
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.cancel()
            try:
                await poller
            except (asyncio.CancelledError, Exception):
                pass
        if self._sender_listener is not None and self.channel is not None:
            self.channel.remove_channel_listener(self._sender_listener)
            self._sender_listener = None
        if self.provider is not None:
            await self.provider.close()
        self.start_level = 0
        self.core.reset()
        self._close_events()

    async def _poll_loop(self) -> None:
        """Sleep pollInterval, poll, repeat: a fixed delay like Tomcat's HeartbeatThread (sleep, then
        heartbeat), so a member listed in one answer and missing from the next is more than
        pollInterval old at the next expiry check and goes at the first missed poll, as in Tomcat."""
        period = self.poll_interval / 1000.0
        while True:
            await asyncio.sleep(period)
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the poller must survive anything
                log.exception("cloud membership poll failed unexpectedly; trying again in %d ms", self.poll_interval)

    async def poll(self) -> list[MemberEvent]:
        """One heartbeat: fetch, then add/refresh/expire; returns the events it published."""
        assert self.provider is not None
        async with self._poll_lock:
            local = self.local_member
            self.stats["polls"] += 1
            try:
                discovery = await self.provider.fetch(local.port, local.host)
            except CloudFetchError as exc:
                self.stats["failed"] += 1
                self.last_error = str(exc)
                self.bad_answers.warn(exc.kind, "cloud membership poll failed, membership left unchanged "
                                      "(%d members): %s", len(self.core.table), exc)
                return self.core.failed(time.monotonic())
            if self.last_error is not None:
                log.info("cloud membership: %s answers again", self.provider.describe())
            self.last_error = None
            self.stats["good"] += 1
            if discovery.skipped:
                self.stats["skipped_entries"] += len(discovery.skipped)
                self.bad_answers.warn("skipped", "cloud membership: %d entries of the answer ignored: %s",
                                      len(discovery.skipped), "; ".join(discovery.skipped[:5]))
            if discovery.local_unique_id is not None:
                self._take_local_id(discovery.local_unique_id)
            events = self.core.discovered(discovery, time.monotonic())
            self._publish(events)
            return events

    def check_expired(self, now: float | None = None) -> list[MemberEvent]:
        events = self.core.table.expire(time.monotonic() if now is None else now, self.expiration_time / 1000.0)
        self._publish(events)
        return events

    # ------------------------------------------------------------------ unknown senders
    def sender_seen(self, sender: Member) -> list[MemberEvent]:
        """Tomcat's ``DNSMembershipProvider.accept``: make an unlisted sender a member (opt-in)."""
        member = Member(host=sender.host, port=sender.port, unique_id=unknown_sender_id(sender.host), alive=-1)
        events = self.core.sender_seen(member, time.monotonic())
        if events:
            self.stats["unknown_senders"] += 1
            log.info("cloud membership: %s is not listed but sent a message: made a member "
                     "(acceptUnknownSenders=true)", member.name)
        self._publish(events)
        return events


class _UnknownSenderListener:
    """ChannelListener that never accepts a message; it only sees who sends (Tomcat's ``accept``)."""

    def __init__(self, service: CloudMembershipService) -> None:
        self.service = service

    def accept(self, msg: Any, sender: Member) -> bool:
        if self.service.kind == "dns":
            self.service.sender_seen(sender)
        return False

    def message_received(self, msg: Any, sender: Member) -> None:  # pragma: no cover - accept() is False
        return None
