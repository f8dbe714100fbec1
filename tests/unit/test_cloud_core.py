"""Cloud membership, the pure parts: ids as Tomcat computes them, DNS answers and pod lists -> members,
the heartbeat state machine, settings from the environment, the service's configuration."""
from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest

from tribes.membership.cloud.core import (
    INITIAL_ID, CloudFetchError, CloudMembership, Discovery, java_host_address, md5_id, unknown_sender_id,
)
from tribes.membership.cloud.dns import dns_discovery, service_name_from_env
from tribes.membership.cloud.kubernetes import KubernetesSettings, java_url_encode, parse_pods
from tribes.membership.cloud.service import CloudConfigError, CloudMembershipService, provider_kind
from tribes.membership.member import Member
from tribes.membership.membership import MemberEventKind

START = dt.datetime(2026, 1, 1, 0, 10, tzinfo=dt.timezone.utc)
LOCAL = bytes([10, 0, 0, 1])


def test_md5_id_is_md5_of_the_ascii_text() -> None:
    assert md5_id("10.77.16.1") == hashlib.md5(b"10.77.16.1").digest()
    assert md5_id("p\u00e4d") == hashlib.md5(b"p?d").digest()  # Java's US_ASCII encoder writes '?'


@pytest.mark.parametrize("raw, text", [
    (bytes([10, 0, 0, 1]), "10.0.0.1"),
    (bytes.fromhex("fd000000000000000000000000000001"), "fd00:0:0:0:0:0:0:1"),   # no :: compression
    (bytes.fromhex("20010db8000000000000ff0000420329"), "2001:db8:0:0:0:ff00:42:329"),
    (bytes.fromhex("00000000000000000000ffff0a000001"), "10.0.0.1"),              # mapped -> Inet4Address
])
def test_java_host_address(raw: bytes, text: str) -> None:
    assert java_host_address(raw) == text


def test_unknown_sender_id_joins_bytes_with_dots_even_for_ipv6() -> None:
    assert unknown_sender_id(bytes([10, 0, 0, 2])) == md5_id("10.0.0.2")
    assert unknown_sender_id(bytes(15) + b"\x01") == md5_id(".".join(["0"] * 15 + ["1"]))


def test_dns_discovery_lists_others_and_gives_the_local_id() -> None:
    d = dns_discovery(["10.0.0.2", "10.0.0.1", "10.0.0.3", "10.0.0.2"], 4000, LOCAL)
    assert d.local_unique_id == md5_id("10.0.0.1")
    assert [(m.host_str, m.port, m.alive) for m in d.members] == [("10.0.0.2", 4000, -1), ("10.0.0.3", 4000, -1)]
    assert d.members[0].unique_id == md5_id("10.0.0.2")
    assert dns_discovery(["10.0.0.2"], 4000, LOCAL).local_unique_id is None


def _pod(name: str, ip: str | None, phase: str = "Running", uid: str | None = "uid-", created: str = "2026-01-01T00:00:00Z",
         **extra: object) -> dict:
    meta: dict = {"name": name, "creationTimestamp": created, "namespace": "ns"}
    if uid is not None:
        meta["uid"] = uid + name
    status: dict = {"phase": phase}
    if ip is not None:
        status["podIP"] = ip
    return {"metadata": meta, "status": status, **extra}


def _body(*pods: dict) -> bytes:
    return json.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": list(pods)}).encode()


def test_parse_pods_running_only_uid_md5_alive_from_creation() -> None:
    d = parse_pods(_body(_pod("a", "10.0.0.2", created="2026-01-01T00:09:00Z"),
                         _pod("b", "10.0.0.3", phase="Pending"),
                         _pod("c", "10.0.0.4", phase="Succeeded"),
                         _pod("me", "10.0.0.1"),
                         _pod("d", "10.0.0.5", uid=None, created="2026-01-01T00:00:00.5Z")), 4000, LOCAL, START)
    assert [m.host_str for m in d.members] == ["10.0.0.2", "10.0.0.5"]
    a, dd = d.members
    assert a.unique_id == md5_id("uid-a") and a.alive == 60_000 and a.port == 4000
    assert dd.unique_id == md5_id("10.0.0.5") and dd.alive == 599_500  # no uid: MD5 of the podIP
    assert d.local_unique_id == md5_id("uid-me")


def test_parse_pods_skips_broken_items_like_tomcat_and_says_why() -> None:
    d = parse_pods(_body({"kind": "Service"}, "junk", {"status": {"phase": "Running"}},
                         _pod("noip", None), _pod("host", "tomcat-0.svc"), _pod("ok", "10.0.0.9"),
                         {"metadata": {"name": "x", "creationTimestamp": "yesterday"},
                          "status": {"phase": "Running", "podIP": "10.0.0.8"}}), 4000, LOCAL, START)
    assert [m.host_str for m in d.members] == ["10.0.0.9"]
    assert len(d.skipped) == 5, d.skipped
    assert any("not an IP address" in s for s in d.skipped)


@pytest.mark.parametrize("body, words", [
    (b'{"kind":"PodList","items":[{"metadata"', "not JSON"),
    (b"[]", "JSON list"),
    (b'{"kind":"Status","status":"Success"}', "no 'items' array"),
    (b'{"items": null}', "no 'items' array"),
    (b"[" * 100_000, "not JSON"),
])
def test_parse_pods_refuses_a_malformed_body(body: bytes, words: str) -> None:
    with pytest.raises(CloudFetchError) as err:
        parse_pods(body, 4000, LOCAL, START)
    assert words in str(err.value) and err.value.kind == "malformed"


def m(last: int, uid: bytes | None = None, alive: int = -1) -> Member:
    return Member(host=bytes([10, 0, 0, last]), port=4000, unique_id=uid or md5_id(f"10.0.0.{last}"), alive=alive)


def test_heartbeat_adds_refreshes_and_expires_after_expiration_time() -> None:
    core = CloudMembership(5.0, local=Member(host=LOCAL, port=4000, unique_id=INITIAL_ID))
    ev = core.discovered(Discovery((m(2), m(3))), now=100.0)
    assert [(e.kind, e.member.host_str, e.reason) for e in ev] == [
        (MemberEventKind.ADDED, "10.0.0.2", "discovered"), (MemberEventKind.ADDED, "10.0.0.3", "discovered")]
    assert core.discovered(Discovery((m(2), m(3))), now=104.0) == []     # refresh: no event
    assert core.discovered(Discovery((m(2),)), now=108.0) == []          # 3 last seen at 104: not yet
    ev = core.discovered(Discovery((m(2),)), now=109.5)                   # 5.5 s > expirationTime
    assert [(e.kind, e.member.host_str, e.reason) for e in ev] == [(MemberEventKind.DISAPPEARED, "10.0.0.3", "expired")]
    assert core.members() == [m(2)]


def test_failed_poll_leaves_membership_unchanged_and_next_good_one_recovers() -> None:
    core = CloudMembership(5.0)
    core.discovered(Discovery((m(2), m(3))), now=0.0)
    assert core.failed(now=20.0) == [] and core.members() == [m(2), m(3)]
    ev = core.discovered(Discovery((m(2),)), now=21.0)
    assert [e.member for e in ev] == [m(3)] and core.members() == [m(2)]
    assert core.failures == 1 and core.polls == 2


def test_members_sorted_oldest_pod_first() -> None:
    core = CloudMembership(5.0)
    core.discovered(Discovery((m(2, alive=10), m(3, alive=5000), m(4, alive=300))), now=0.0)
    assert [x.host_str for x in core.members()] == ["10.0.0.3", "10.0.0.4", "10.0.0.2"]


def test_same_address_new_uid_is_a_new_member() -> None:
    core = CloudMembership(5.0)
    core.discovered(Discovery((m(2, b"a" * 16),)), now=0.0)
    ev = core.discovered(Discovery((m(2, b"b" * 16),)), now=6.0)
    assert [(e.kind, e.member.unique_id) for e in ev] == [(MemberEventKind.ADDED, b"b" * 16),
                                                           (MemberEventKind.DISAPPEARED, b"a" * 16)]


def test_unknown_sender_only_when_no_member_has_its_address() -> None:
    core = CloudMembership(5.0)
    core.discovered(Discovery((m(2),)), now=0.0)
    assert core.sender_seen(Member(host=bytes([10, 0, 0, 2]), port=4000, unique_id=bytes(16)), 1.0) == []
    ev = core.sender_seen(m(7), 1.0)
    assert [e.reason for e in ev] == ["sender"]


# ----------------------------------------------------------------------------------- settings


def test_kubernetes_settings_from_env_defaults_and_url() -> None:
    s = KubernetesSettings.from_env({"KUBERNETES_NAMESPACE": "shop", "KUBERNETES_SERVICE_HOST": "10.96.0.1",
                                     "KUBERNETES_SERVICE_PORT": "443", "KUBERNETES_LABELS": "app=tomcat,tier in (web)"})
    assert s.url == "https://10.96.0.1:443/api/v1/namespaces/shop/pods?labelSelector=app%3Dtomcat%2Ctier+in+%28web%29"
    assert s.ca_cert_file == "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
    assert s.sa_token_file == "/var/run/secrets/kubernetes.io/serviceaccount/token"
    assert s.client_cert_file is None


def test_openshift_aliases_win_and_client_cert_replaces_the_token() -> None:
    env = {"OPENSHIFT_KUBE_PING_NAMESPACE": "os", "KUBERNETES_NAMESPACE": "k8s",
           "OPENSHIFT_KUBE_PING_MASTER_HOST": "fd00::1", "KUBERNETES_SERVICE_HOST": "10.0.0.1",
           "OPENSHIFT_KUBE_PING_MASTER_PORT": "8443", "OPENSHIFT_KUBE_PING_API_VERSION": "v2",
           "OPENSHIFT_KUBE_PING_LABELS": "a=b", "OPENSHIFT_KUBE_PING_CA_CERT_FILE": "/ca",
           "OPENSHIFT_KUBE_PING_CLIENT_CERT_FILE": "/c", "KUBERNETES_CLIENT_KEY_FILE": "/k",
           "OPENSHIFT_KUBE_PING_SA_TOKEN_FILE": "/t"}
    s = KubernetesSettings.from_env(env)
    assert s.url == "https://[fd00::1]:8443/api/v2/namespaces/os/pods?labelSelector=a%3Db"
    assert (s.ca_cert_file, s.client_cert_file, s.client_key_file, s.sa_token_file) == ("/ca", "/c", "/k", None)


def test_no_namespace_means_tomcat_and_dns_name_falls_back_to_it() -> None:
    assert KubernetesSettings.from_env({}).namespace == "tomcat"
    assert service_name_from_env({"KUBERNETES_NAMESPACE": "shop"}) == "shop"
    assert service_name_from_env({"DNS_MEMBERSHIP_SERVICE_NAME": "svc", "KUBERNETES_NAMESPACE": "shop"}) == "svc"


def test_java_url_encode() -> None:
    assert java_url_encode("a b*c~d.e-f_g/h") == "a+b*c%7Ed.e-f_g%2Fh"


def test_check_names_the_missing_file(tmp_path) -> None:
    s = KubernetesSettings(namespace="x", master_host="10.0.0.1", master_port="443",
                           ca_cert_file=str(tmp_path / "nope.crt"), sa_token_file=None)
    with pytest.raises(Exception) as err:
        s.check()
    assert "CA certificate file" in str(err.value) and "nope.crt" in str(err.value)
    with pytest.raises(Exception) as err:
        KubernetesSettings(namespace="x").check()
    assert "KUBERNETES_SERVICE_HOST is not set" in str(err.value)


# ----------------------------------------------------------------------------------- service


@pytest.mark.parametrize("name, kind", [
    (None, "kubernetes"), ("kubernetes", "kubernetes"), ("dns", "dns"),
    ("org.apache.catalina.tribes.membership.cloud.KubernetesMembershipProvider", "kubernetes"),
    ("org.apache.catalina.tribes.membership.cloud.DNSMembershipProvider", "dns"),
])
def test_provider_names(name: str | None, kind: str) -> None:
    assert provider_kind(name) == kind


def test_defaults_as_tomcat_and_bad_values_refused() -> None:
    s = CloudMembershipService()
    assert (s.kind, s.connect_timeout, s.read_timeout, s.expiration_time, s.poll_interval) == \
        ("kubernetes", 1000, 1000, 5000, 5000)
    assert s.accept_unknown_senders is False
    with pytest.raises(CloudConfigError, match="com.example.Mine"):
        CloudMembershipService("com.example.Mine")
    with pytest.raises(CloudConfigError, match="readTimeout"):
        CloudMembershipService("dns", read_timeout="soon")
    s = CloudMembershipService.from_attributes({"membershipProviderClassName": "dns", "expirationTime": "9000",
                                                "acceptUnknownSenders": "true"})
    assert (s.kind, s.expiration_time, s.accept_unknown_senders) == ("dns", 9000, True)
    with pytest.raises(CloudConfigError, match="accepted"):
        CloudMembershipService.from_attributes({"frequency": "500"})


def test_local_member_keeps_the_initial_id_until_listed() -> None:
    s = CloudMembershipService("dns")
    local = s.set_local_member(LOCAL, 4000)
    assert local.unique_id == INITIAL_ID
    s._take_local_id(md5_id("10.0.0.1"))
    assert s.local_member.unique_id == md5_id("10.0.0.1")
    s._take_local_id(md5_id("other"))  # once only, as Tomcat (identity check on INITIAL_ID)
    assert s.set_local_member(LOCAL, 4000).unique_id == md5_id("10.0.0.1")


def test_server_xml_selects_the_cloud_service() -> None:
    from tribes.config import loads
    from tribes.config.build import build_channel

    xml = """<Server><Service name="Catalina"><Engine name="Catalina" defaultHost="localhost">
      <Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster">
        <Channel className="org.apache.catalina.tribes.group.GroupChannel">
          <Membership className="org.apache.catalina.tribes.membership.cloud.CloudMembershipService"
                      membershipProviderClassName="dns" expirationTime="7000" readTimeout="300"/>
          <Receiver className="org.apache.catalina.tribes.transport.nio.NioReceiver" address="127.0.0.1" port="4000"/>
        </Channel>
      </Cluster></Engine></Service></Server>"""
    channel = build_channel(loads(xml))
    svc = channel.membership_service
    assert isinstance(svc, CloudMembershipService)
    assert (svc.kind, svc.expiration_time, svc.read_timeout, svc.connect_timeout) == ("dns", 7000, 300, 1000)
