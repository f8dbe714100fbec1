"""DNS provider (Tomcat's ``DNSMembershipProvider``): members = the A/AAAA records of one name.

Pure part, :func:`dns_discovery`: the addresses of one answer + the receiver port + this node's
address -> :class:`~tribes.membership.cloud.core.Discovery`. Each listed address is a member on
*this node's own receiver port* with ``alive = -1`` and ``uniqueId = MD5(getHostAddress())``; the
local member takes ``MD5(own address)`` once its own address is listed.

I/O part, :class:`DNSMembershipProvider`: asks for A and AAAA at once with dnspython's asyncio
resolver (``/etc/resolv.conf``: name servers, search list, ndots), bounded by one timeout
(``connectTimeout + readTimeout``; Tomcat has none: ``InetAddress.getAllByName`` waits as long as
the system resolver does). The loop never blocks on a lookup.

* the name: env ``DNS_MEMBERSHIP_SERVICE_NAME``, else the namespace
  (``OPENSHIFT_KUBE_PING_NAMESPACE`` / ``KUBERNETES_NAMESPACE``, else ``tomcat``), as Tomcat;
* NXDOMAIN or no records = an answer listing nobody (the members expire, as in Tomcat);
* a timeout, SERVFAIL or unreachable name servers = a failed poll (membership unchanged).

Differences from Tomcat: ``/etc/hosts`` is not consulted for the service name (Tomcat's system
resolver would); use DNS. Tomcat makes *any* sender of a message a member
(``DNSMembershipProvider.accept``); this node does so only with ``acceptUnknownSenders="true"``
(see :class:`~tribes.membership.cloud.service.CloudMembershipService`).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Iterable, Mapping, Sequence

from tribes.membership.cloud.core import CloudFetchError, Discovery, java_host_address, md5_id, packed
from tribes.membership.cloud.env import get_env, namespace
from tribes.membership.member import Member
from tribes.ratelimit import RateLimitedLog

__all__ = ["DNSMembershipProvider", "dns_discovery", "service_name_from_env"]

log = logging.getLogger("tribes.membership.cloud.dns")


def service_name_from_env(environ: Mapping[str, str]) -> str:
    """``DNS_MEMBERSHIP_SERVICE_NAME``, else the namespace (Tomcat's fallback)."""
    name = get_env(environ, "DNS_MEMBERSHIP_SERVICE_NAME")
    return name if name is not None else namespace(environ, log)


def dns_discovery(addresses: Iterable[bytes | str], port: int, local_host: bytes) -> Discovery:
    """Members for the addresses of one answer (raw bytes or IP text), in answer order.

    Duplicates are listed once. ``local_host`` is this node's address (raw bytes).
    """
    members: list[Member] = []
    seen: set[bytes] = set()
    local_id = None
    for a in addresses:
        raw = packed(a) if isinstance(a, str) else bytes(a)
        if raw in seen:
            continue
        seen.add(raw)
        uid = md5_id(java_host_address(raw))
        if raw == local_host:
            local_id = uid
            continue
        members.append(Member(host=raw, port=port, unique_id=uid, alive=-1))
    return Discovery(tuple(members), local_id)


class DNSMembershipProvider:
    """Looks up ``service_name`` (A and AAAA) without blocking the event loop.

    ``nameservers``/``dns_port`` replace the system's name servers (tests, a private resolver);
    by default ``/etc/resolv.conf`` is read when the provider starts.
    """

    name = "dns"

    def __init__(self, service_name: str | None = None, *, timeout: float = 2.0,
                 nameservers: Sequence[str] | None = None, dns_port: int = 53,
                 environ: Mapping[str, str] | None = None) -> None:
        self.service_name = service_name
        self.timeout = float(timeout)
        self.nameservers = list(nameservers) if nameservers else None
        self.dns_port = int(dns_port)
        self.environ = environ
        self._resolver: object | None = None
        self.notes = RateLimitedLog(log)

    def describe(self) -> str:
        return f"DNS name {self.service_name!r}"

    def configure(self, environ: Mapping[str, str]) -> None:
        """Read the name from the environment (when not given) and set up the resolver."""
        import dns.asyncresolver
        import dns.resolver

        if self.service_name is None:
            self.service_name = service_name_from_env(self.environ if self.environ is not None else environ)
        try:
            resolver = dns.asyncresolver.Resolver(configure=self.nameservers is None)
        except dns.resolver.NoResolverConfiguration as exc:
            from tribes.membership.service import MembershipError
            raise MembershipError(f"DNS membership: no name servers in /etc/resolv.conf ({exc}); "
                                  "configure the system resolver") from exc
        if self.nameservers is not None:
            resolver.nameservers = list(self.nameservers)
            resolver.port = self.dns_port
        resolver.timeout = self.timeout
        resolver.lifetime = self.timeout
        resolver.cache = None  # every poll asks the server (the JVM runs with networkaddress.cache.ttl=0)
        self._resolver = resolver

    async def lookup(self) -> list[bytes]:
        """The addresses of the name (A then AAAA, answer order); raises :class:`CloudFetchError`."""
        import dns.asyncresolver
        import dns.exception
        import dns.resolver

        resolver = self._resolver
        if resolver is None:
            self.configure({})
            resolver = self._resolver
        assert isinstance(resolver, dns.asyncresolver.Resolver)
        name = self.service_name or ""

        async def ask(rdtype: str) -> list[bytes]:
            answer = await resolver.resolve(name, rdtype, search=True, raise_on_no_answer=False)
            return [packed(r.address) for r in answer] if answer.rrset is not None else []

        try:
            results = await asyncio.wait_for(asyncio.gather(ask("A"), ask("AAAA"), return_exceptions=True),
                                             self.timeout + 0.5)
        except asyncio.TimeoutError:
            raise CloudFetchError(f"DNS lookup of {name!r} timed out after {self.timeout:.1f} s; check the "
                                  "name servers in /etc/resolv.conf", "timeout") from None
        addresses: list[bytes] = []
        nxdomain = answered = 0
        refused: list[str] = []
        for rdtype, res in zip(("A", "AAAA"), results):
            if isinstance(res, dns.resolver.NXDOMAIN):
                nxdomain += 1
                answered += 1
            elif isinstance(res, dns.exception.Timeout):
                raise CloudFetchError(f"DNS lookup of {name!r} ({rdtype}) timed out after {self.timeout:.1f} s; "
                                      "check that the name servers in /etc/resolv.conf answer", "timeout")
            elif isinstance(res, dns.resolver.NoNameservers):
                refused.append(f"{rdtype}: {res}")
            elif isinstance(res, BaseException):
                raise CloudFetchError(f"DNS lookup of {name!r} failed: {type(res).__name__}: {res}", "dns")
            else:
                answered += 1
                addresses.extend(res)
        if not answered:
            raise CloudFetchError(f"DNS lookup of {name!r} failed: no name server answered it "
                                  f"({'; '.join(refused)})", "servfail")
        if refused:  # e.g. AAAA refused by a server that only knows the A records: use what was answered
            self.notes.warn("partial", "DNS lookup of %r: %s; using the other answer", name, "; ".join(refused))
        if nxdomain == 2:
            self.notes.warn("nxdomain", "DNS name %r does not exist (NXDOMAIN): no members listed; check "
                            "DNS_MEMBERSHIP_SERVICE_NAME", name)
        return addresses

    async def fetch(self, port: int, local_host: bytes) -> Discovery:
        return dns_discovery(await self.lookup(), port, local_host)

    async def close(self) -> None:
        self._resolver = None
