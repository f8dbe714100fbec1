"""Cloud membership against local stand-ins on 127.0.0.1: a Kubernetes API server (HTTPS with a test
CA, bearer token, label selector) and dnsmasq / a silent DNS socket.

Bad input (malformed, huge, slow answers, DNS timeouts, refused tokens, untrusted certificates) must
leave the membership unchanged with one clear log line, and the next poll must recover.
"""
from __future__ import annotations

import asyncio
import logging
import os
import uuid
from typing import Any, Iterator

import pytest

from interop.cloud.certs import TestCA
from interop.cloud.dnsmasq import Dnsmasq, SilentDns
from interop.cloud.dnsmasq import missing as dnsmasq_missing
from interop.cloud.kube_api import KubeApiServer, selector_matches, write_state
from tribes.membership.cloud.core import INITIAL_ID, md5_id
from tribes.membership.cloud.dns import DNSMembershipProvider
from tribes.membership.cloud.kubernetes import KubernetesMembershipProvider, KubernetesSettings
from tribes.membership.cloud.service import CloudMembershipService
from tribes.membership.service import MembershipError

LOCAL = "127.0.0.1"
TOKEN = "tok-" + uuid.uuid4().hex


class Api:
    def __init__(self, tmp: str, ca: TestCA, pair: Any, client_ca: str | None = None) -> None:
        self.state_path = os.path.join(tmp, f"state-{uuid.uuid4().hex[:6]}.json")
        self.state: dict[str, Any] = {"namespace": "shop", "token": TOKEN, "pods": []}
        self.save()
        self.server = KubeApiServer(("127.0.0.1", 0), self.state_path, pair.cert, pair.key, client_ca)
        self.server.start_thread()
        self.ca = ca

    def save(self, **changes: Any) -> None:
        self.state.update(changes)
        write_state(self.state_path, self.state)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = str(tmp_path_factory.mktemp("pki"))
    ca = TestCA(d)
    other = TestCA(os.path.join(d, "other"), "untrusted CA")
    return {"dir": d, "ca": ca, "server": ca.issue("api", ips=["127.0.0.1"]),
            "wrong_name": ca.issue("api-wrong", ips=["127.0.0.2"]),
            "untrusted": other.issue("api-other", ips=["127.0.0.1"]),
            "client": ca.issue("client", client=True)}


@pytest.fixture()
def api(pki: dict[str, Any]) -> Iterator[Api]:
    a = Api(pki["dir"], pki["ca"], pki["server"])
    yield a
    a.close()


def token_file(pki: dict[str, Any], value: str = TOKEN) -> str:
    path = os.path.join(pki["dir"], f"token-{uuid.uuid4().hex[:6]}")
    with open(path, "w") as f:
        f.write(value)
    return path


def settings(api: Api, pki: dict[str, Any], **kw: Any) -> KubernetesSettings:
    base: dict[str, Any] = dict(namespace="shop", master_host="127.0.0.1", master_port=str(api.server.port),
                                labels="app=tomcat", ca_cert_file=pki["ca"].path, sa_token_file=token_file(pki))
    base.update(kw)
    return KubernetesSettings(**base)


def pod(name: str, ip: str, phase: str = "Running", app: str = "tomcat") -> dict[str, Any]:
    return {"name": name, "uid": f"uid-{name}", "ip": ip, "phase": phase, "labels": {"app": app},
            "created": "2026-01-01T00:00:00Z"}


def service(provider: Any, **kw: Any) -> CloudMembershipService:
    s = CloudMembershipService(provider=provider, poll_interval=3_600_000, **kw)
    s.set_local_member(bytes([127, 0, 0, 1]), 4000)
    return s


def hosts(s: CloudMembershipService) -> list[str]:
    return sorted(m.host_str for m in s.members())


def test_pods_become_members_with_tomcats_ids(api: Api, pki: dict[str, Any]) -> None:
    api.save(pods=[pod("t-0", "10.1.0.1"), pod("t-1", "10.1.0.2", "Pending"), pod("me", LOCAL),
                   pod("db-0", "10.1.0.9", app="db")])

    async def run() -> None:
        s = service(KubernetesMembershipProvider(settings(api, pki)))
        events = s.events()
        await s.start()
        try:
            assert hosts(s) == ["10.1.0.1"]
            assert s.members()[0].unique_id == md5_id("uid-t-0")
            assert s.local_member.unique_id == md5_id("uid-me")  # its own pod was listed
            first = await asyncio.wait_for(events.__anext__(), 5)
            assert first.added and first.reason == "discovered"
            api.save(pods=[pod("t-0", "10.1.0.1"), pod("t-1", "10.1.0.2"), pod("me", LOCAL)])
            await s.poll()
            assert hosts(s) == ["10.1.0.1", "10.1.0.2"]
        finally:
            await s.stop()

    asyncio.run(run())
    assert all(r.startswith("{") for r in open(api.state_path + ".requests"))
    assert '"selector": "app=tomcat"' in open(api.state_path + ".requests").read()


@pytest.mark.parametrize("mode, extra, words", [
    ("malformed", {}, "not JSON"),
    ("notlist", {}, "no 'items' array"),
    ("huge", {"huge_bytes": 3 * 1024 * 1024}, "exceeds maxResponseSize=1048576"),
    ("slow", {"delay": 2.0}, "no answer within readTimeout=300 ms"),
    ("error500", {}, "HTTP 500 etcdserver: request timed out"),
])
def test_bad_answer_leaves_membership_unchanged_then_recovers(api: Api, pki: dict[str, Any], caplog: Any,
                                                              mode: str, extra: dict[str, Any], words: str) -> None:
    caplog.set_level(logging.INFO, "tribes.membership.cloud")
    api.save(pods=[pod("t-0", "10.1.0.1"), pod("t-1", "10.1.0.2")])

    async def run() -> None:
        prov = KubernetesMembershipProvider(settings(api, pki), read_timeout=0.3, max_response_size=1024 * 1024)
        s = service(prov, expiration_time=1)  # 1 ms: a failed poll that counted as "empty" would drop all
        await s.start()
        try:
            before = s.members()
            assert len(before) == 2
            await asyncio.sleep(0.05)
            api.save(mode=mode, **extra)
            events = await s.poll()
            assert events == [] and s.members() == before
            assert s.last_error is not None and words in s.last_error
            api.save(mode="normal", pods=[pod("t-0", "10.1.0.1")])
            events = await s.poll()
            assert [(e.kind.value, e.member.host_str) for e in events] == [("disappeared", "10.1.0.2")]
            assert s.last_error is None
        finally:
            await s.stop()

    asyncio.run(run())
    lines = [r.getMessage() for r in caplog.records if "poll failed" in r.getMessage()]
    assert len(lines) == 1 and words in lines[0] and "membership left unchanged (2 members)" in lines[0]
    assert any("answers again" in r.getMessage() for r in caplog.records)


def test_wrong_token_is_a_clear_error(api: Api, pki: dict[str, Any]) -> None:
    api.save(pods=[pod("t-0", "10.1.0.1")])

    async def run() -> str | None:
        s = service(KubernetesMembershipProvider(settings(api, pki, sa_token_file=token_file(pki, "nope"))))
        await s.start()
        try:
            assert s.members() == []
            return s.last_error
        finally:
            await s.stop()

    err = asyncio.run(run())
    assert err is not None and "HTTP 401" in err and "token was refused" in err


@pytest.mark.parametrize("cert, words", [("untrusted", "certificate verify failed"),
                                         ("wrong_name", "IP address mismatch")])
def test_untrusted_or_misnamed_certificate_is_a_clear_error(pki: dict[str, Any], cert: str, words: str) -> None:
    a = Api(pki["dir"], pki["ca"], pki[cert])
    a.save(pods=[pod("t-0", "10.1.0.1")])

    async def run() -> str | None:
        s = service(KubernetesMembershipProvider(settings(a, pki)))
        await s.start()
        try:
            assert s.members() == []
            return s.last_error
        finally:
            await s.stop()

    try:
        err = asyncio.run(run())
    finally:
        a.close()
    assert err is not None and "TLS failed" in err and words in err and pki["ca"].path in err


def test_missing_ca_file_is_a_start_error_naming_it(api: Api, pki: dict[str, Any]) -> None:
    async def run() -> None:
        s = service(KubernetesMembershipProvider(settings(api, pki, ca_cert_file="/nonexistent/ca.crt")))
        await s.start()

    with pytest.raises(MembershipError, match="CA certificate file /nonexistent/ca.crt not found"):
        asyncio.run(run())


def test_client_certificate_is_presented(pki: dict[str, Any]) -> None:
    a = Api(pki["dir"], pki["ca"], pki["server"], client_ca=pki["ca"].path)
    a.save(pods=[pod("t-0", "10.1.0.1")], token=None)

    async def run(with_cert: bool) -> tuple[list[str], str | None]:
        kw: dict[str, Any] = dict(sa_token_file=None)
        if with_cert:
            kw.update(client_cert_file=pki["client"].cert, client_key_file=pki["client"].key)
        s = service(KubernetesMembershipProvider(settings(a, pki, **kw)))
        await s.start()
        try:
            return hosts(s), s.last_error
        finally:
            await s.stop()

    try:
        assert asyncio.run(run(True)) == (["10.1.0.1"], None)
        members, err = asyncio.run(run(False))
        assert members == [] and err is not None
    finally:
        a.close()


def test_token_file_is_reloaded_when_it_changes(api: Api, pki: dict[str, Any]) -> None:
    path = token_file(pki, "old-token")
    api.save(pods=[pod("t-0", "10.1.0.1")])

    async def run() -> None:
        s = service(KubernetesMembershipProvider(settings(api, pki, sa_token_file=path)))
        await s.start()
        try:
            assert s.members() == [] and "401" in (s.last_error or "")
            with open(path, "w") as f:
                f.write(TOKEN)
            os.utime(path, (1, 1))  # a different mtime, whatever the clock's resolution
            await s.poll()
            assert hosts(s) == ["10.1.0.1"]
        finally:
            await s.stop()

    asyncio.run(run())


@pytest.mark.parametrize("selector, labels, expected", [
    ("app=tomcat", {"app": "tomcat"}, True), ("app==tomcat", {"app": "x"}, False),
    ("app!=db", {"app": "tomcat"}, True), ("tier", {"app": "x"}, False), ("!tier", {"app": "x"}, True),
    ("app in (tomcat,web),tier notin (db)", {"app": "web", "tier": "front"}, True),
    ("app in (tomcat,web)", {"app": "db"}, False),
])
def test_stand_in_label_selector(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert selector_matches(selector, labels) is expected


# ------------------------------------------------------------------------------------------ DNS


@pytest.fixture()
def dnsmasq(tmp_path: Any) -> Iterator[Dnsmasq]:
    why = dnsmasq_missing()
    if why:
        pytest.skip(why)
    if os.geteuid() != 0:
        pytest.skip("dnsmasq needs root here (it binds and keeps --user=root)")
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    d = Dnsmasq(str(tmp_path), listen="127.0.0.1", port=port)
    d.start({"tomcat.tribes.lab": ["127.0.0.1", "10.2.0.1", "10.2.0.2"], "solo.tribes.lab": ["127.0.0.1"]})
    yield d
    d.stop()


def test_dns_answers_become_members_and_changes_are_followed(dnsmasq: Dnsmasq) -> None:
    async def run() -> None:
        prov = DNSMembershipProvider("tomcat.tribes.lab", nameservers=["127.0.0.1"], dns_port=dnsmasq.port)
        s = service(prov)
        assert s.local_member.unique_id == INITIAL_ID
        await s.start()
        try:
            assert hosts(s) == ["10.2.0.1", "10.2.0.2"]
            assert s.local_member.unique_id == md5_id("127.0.0.1")
            assert {m.unique_id for m in s.members()} == {md5_id("10.2.0.1"), md5_id("10.2.0.2")}
            dnsmasq.set_records("tomcat.tribes.lab", ["127.0.0.1", "10.2.0.2", "10.2.0.3"])
            for _ in range(50):  # dnsmasq re-reads its file on SIGHUP, asynchronously
                await asyncio.sleep(0.1)
                await s.poll()
                if "10.2.0.3" in hosts(s):
                    break
            assert hosts(s) == ["10.2.0.1", "10.2.0.2", "10.2.0.3"]  # 10.2.0.1 not yet expired (5 s)
        finally:
            await s.stop()

    asyncio.run(run())


def test_dns_name_without_records_lists_nobody(dnsmasq: Dnsmasq, caplog: Any) -> None:
    async def run() -> list[str]:
        s = service(DNSMembershipProvider("nothing.tribes.lab", nameservers=["127.0.0.1"], dns_port=dnsmasq.port))
        await s.start()
        try:
            return hosts(s)
        finally:
            await s.stop()

    assert asyncio.run(run()) == []
    assert "NXDOMAIN" in caplog.text


def test_dns_timeout_leaves_membership_unchanged_then_recovers(dnsmasq: Dnsmasq, caplog: Any) -> None:
    silent = SilentDns()

    async def run() -> None:
        prov = DNSMembershipProvider("tomcat.tribes.lab", nameservers=["127.0.0.1"], dns_port=dnsmasq.port,
                                     timeout=0.5)
        s = service(prov, expiration_time=1)
        await s.start()
        try:
            before = s.members()
            assert len(before) == 2
            prov.configure({})
            assert prov._resolver is not None
            prov._resolver.port = silent.port  # type: ignore[attr-defined]
            await asyncio.sleep(0.05)
            assert await s.poll() == [] and s.members() == before
            assert "timed out after 0.5 s" in (s.last_error or "")
            prov._resolver.port = dnsmasq.port  # type: ignore[attr-defined]
            await s.poll()
            assert s.members() == before and s.last_error is None
        finally:
            await s.stop()

    try:
        asyncio.run(run())
    finally:
        silent.close()
    assert "cloud membership poll failed, membership left unchanged (2 members): DNS lookup" in caplog.text


@pytest.mark.parametrize("accept", [False, True])
def test_unknown_senders_become_members_only_when_configured(dnsmasq: Dnsmasq, accept: bool) -> None:
    """Tomcat's DNS provider makes any sender a member (uniqueId MD5 of its dotted bytes); ours only with
    acceptUnknownSenders=true. Two real channels on 127.0.0.1 / 127.0.0.2, same receiver port."""
    import socket

    from tribes.channel import ByteMessage
    from tribes.group import GroupChannel
    from tribes.group.coordinator import LocalOnlyMembership
    from tribes.io.member import Member
    from tribes.transport import NioReceiver

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def run() -> tuple[list[str], bytes | None, int]:
        svc = CloudMembershipService("dns", accept_unknown_senders=accept, poll_interval=3_600_000)
        svc.provider = DNSMembershipProvider("solo.tribes.lab", nameservers=["127.0.0.1"], dns_port=dnsmasq.port)
        a = GroupChannel(NioReceiver("127.0.0.1", port, auto_bind=1), membership=svc, heartbeat=False)
        b = GroupChannel(NioReceiver("127.0.0.2", port, auto_bind=1), membership=LocalOnlyMembership(),
                         heartbeat=False)
        await a.start()
        await b.start()
        try:
            assert a.members() == [] and svc.local_member.unique_id == md5_id("127.0.0.1")
            target = Member(host=bytes([127, 0, 0, 1]), port=port, unique_id=svc.local_member.unique_id)
            await b.send([target], ByteMessage(b"hello"), 2)  # USE_ACK: delivered when send returns
            members = svc.members()
            return [m.host_str for m in members], members[0].unique_id if members else None, svc.stats["unknown_senders"]
        finally:
            await b.stop()
            await a.stop()

    hosts_, uid, count = asyncio.run(run())
    if accept:
        assert hosts_ == ["127.0.0.2"] and uid == md5_id("127.0.0.2") and count == 1
    else:
        assert hosts_ == [] and count == 0


def test_stopping_tx_keeps_polling_stopping_rx_ends_it(dnsmasq: Dnsmasq) -> None:
    from tribes.membership.service import MBR_RX, MBR_TX

    async def run() -> None:
        s = service(DNSMembershipProvider("tomcat.tribes.lab", nameservers=["127.0.0.1"], dns_port=dnsmasq.port))
        events = s.events()
        await s.start(MBR_RX)
        await s.start(MBR_TX)
        assert len(s.members()) == 2
        await s.stop(MBR_TX)
        assert len(s.members()) == 2 and s._poller is not None
        await s.poll()
        await s.stop(MBR_RX)
        assert s.members() == [] and s._poller is None
        seen = [e async for e in events]  # the iterator ends when the service stops
        assert [e.kind.value for e in seen] == ["added", "added"]

    asyncio.run(run())
