"""Interceptor-specific interop with the same interceptor on the Java side (Tomcat 10.1 and 9.0).

(Gzip, Order, Fragmentation, MessageDispatch, Throughput and the whole stack together are in
test_channel_interop.py / test_channel_integrity.py.)
"""
from __future__ import annotations

import time
from typing import Any, Callable

import pytest

from interop.fixtures import require_root_and_java
from interop.lab import Lab
from tests.interop.channel_support import sha, start_pypeer, start_tribes_peer, wait_count
from tribes.interceptors.tcp_ping import TCP_PING_DATA

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def lab(lab_factory: Callable[..., Lab]) -> Lab:
    require_root_and_java(10)
    return lab_factory("tn", "10.77.14")


def _hosts(lab: Lab, tag: str, base: int, n: int) -> list[Any]:
    return [lab.add_host(f"{tag}{i}", index=base + i) for i in range(n)]


@pytest.mark.parametrize("version", [10, 9])
def test_domain_filter_both_ways(lab: Lab, version: int) -> None:
    """DomainFilterInterceptor(blue) drops messages from a member of domain red, passes blue ones."""
    require_root_and_java(version)
    hb, hr, hp = _hosts(lab, f"d{version}x", 160 if version == 10 else 170, 3)
    mcast = ["--mcast-port", str(46000 + version)]
    blue = start_tribes_peer(hb, "member", mcast + ["--domain", "blue", "--interceptors",
                                                   "TcpFailureDetector,MessageDispatchInterceptor,DomainFilterInterceptor",
                                                   "--iprop", "DomainFilterInterceptor.domain=blue"], version=version)
    red = start_tribes_peer(hr, "member", mcast + ["--domain", "red"], version=version)
    pp = start_pypeer(hp, "member", mcast + ["--domain", "blue", "--interceptors",
                                             "TcpFailureDetector,MessageDispatchInterceptor,DomainFilterInterceptor"])
    try:
        blue.wait_member(hp.address, timeout=30)
        red.wait_member(hp.address, timeout=30)  # Java's McastService does not filter domains
        pp.wait_member(hb.address, timeout=30)
        m = pp.mark()
        red.command(f"send 5 100 3 {hp.address}:{pp.ready['port']}")
        red.wait_for("sendDone", timeout=30)  # ACKed (the ACK precedes processing), then dropped
        blue.command(f"send 5 100 3 {hp.address}:{pp.ready['port']}")
        msgs = wait_count(pp, "message", 5, since=m)
        time.sleep(0.5)
        assert all(e["sender"]["host"] == hb.address for e in pp.find("message", since=m))
        assert len(pp.find("message", since=m)) == 5 and msgs
        # Python (blue) -> Java blue with DomainFilter: delivered
        mb = blue.mark()
        pp.command(f"send 3 100 3 {hb.address}:{blue.ready['port']}")
        wait_count(blue, "message", 3, since=mb)
    finally:
        pp.close()
        blue.close()
        red.close()


@pytest.mark.parametrize("version", [10, 9])
def test_tcp_ping_frames_are_identical_and_dropped(lab: Lab, version: int) -> None:
    """TcpPingInterceptor (optionFlag=1 so an undropped ping would surface as a ByteMessage, heartbeat 1 s):
    a side *without* the interceptor sees the other's pings as 64-byte TCP_PING_DATA messages (same bytes
    from Java and Python); sides *with* it drop them."""
    require_root_and_java(version)
    hj, hp, hq = _hosts(lab, f"t{version}x", 180 if version == 10 else 190, 3)
    mcast = ["--mcast-port", str(46100 + version)]
    ping = ["--interceptors", "MessageDispatchInterceptor,TcpPingInterceptor", "--iprop", "TcpPingInterceptor.optionFlag=1"]
    jp = start_tribes_peer(hj, "member", mcast + ping + ["--channel-prop", "heartbeatSleeptime=1000"],
                           version=version)
    pp = start_pypeer(hp, "member", mcast + ping + ["--heartbeat", "1000"])
    plain = start_pypeer(hq, "member", mcast + ["--interceptors", "MessageDispatchInterceptor"])
    try:
        jp.wait_member(hp.address, timeout=30)
        jp.wait_member(hq.address, timeout=30)
        pp.wait_member(hj.address, timeout=30)
        m_plain, m_j, m_p = plain.mark(), jp.mark(), pp.mark()
        got = wait_count(plain, "message", 4, since=m_plain, timeout=30)
        senders = {e["sender"]["host"] for e in got}
        deadline = time.monotonic() + 20
        while senders != {hj.address, hp.address} and time.monotonic() < deadline:
            time.sleep(0.2)
            senders = {e["sender"]["host"] for e in plain.find("message", since=m_plain)}
        assert senders == {hj.address, hp.address}
        for e in plain.find("message", since=m_plain):
            assert e["size"] == 64 and e["sha256"] == sha(TCP_PING_DATA) and e["options"] == 1
        assert jp.find("message", since=m_j) == [] and pp.find("message", since=m_p) == []
    finally:
        plain.close()
        pp.close()
        jp.close()


@pytest.mark.parametrize("version", [10, 9])
def test_failure_detector_read_test_both_ways(lab: Lab, version: int) -> None:
    """TcpFailureDetector with performReadTest=true on both sides: the probe asks for an ACK, our receiver
    answers it (ACK before processing) and drops the probe; Java's probe of us succeeds and vice versa."""
    require_root_and_java(version)
    hj, hp = _hosts(lab, f"r{version}x", 200 if version == 10 else 210, 2)
    mcast = ["--mcast-port", str(46200 + version)]
    jp = start_tribes_peer(hj, "member", mcast + ["--iprop", "TcpFailureDetector.performReadTest=true"],
                           version=version)
    pp = start_pypeer(hp, "member", mcast + ["--iprop", "TcpFailureDetector.performReadTest=true"])
    try:
        jp.wait_member(hp.address, timeout=30)
        pp.wait_member(hj.address, timeout=30)
        m = jp.mark()
        pp.command(f"send 3 10 7 {hj.address}:{jp.ready['port']}")
        wait_count(jp, "message", 3, since=m)
        assert jp.find("message", lambda e: e["size"] == 64, since=0) == []  # probes never reach listeners
    finally:
        pp.close()
        jp.close()


@pytest.mark.parametrize("version", [10, 9])
def test_golden_vectors_regenerate_identically(version: int) -> None:
    """tests/vectors/channel/tomcat<v>.json are exactly what the real Tomcat classes produce today."""
    import json
    import os

    from interop import javatool

    why = javatool.missing_requirements(version)
    if why:
        pytest.skip(why)
    out = javatool.run_java("ChannelVectors", [], version, timeout=120).stdout
    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "vectors", "channel", f"tomcat{version}.json")
    with open(path, "rb") as f:
        assert json.loads(out) == json.loads(f.read())
