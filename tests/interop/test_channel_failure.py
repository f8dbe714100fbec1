"""Failure handling against Java Tribes: a member killed mid-stream, re-admission, a hung peer."""
from __future__ import annotations

import time
from typing import Any, Callable

import pytest

from interop.fixtures import require_root_and_java
from interop.lab import Lab
from tests.interop.channel_support import start_pypeer, start_tribes_peer, wait_count

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def lab(lab_factory: Callable[..., Lab]) -> Lab:
    require_root_and_java(10)
    return lab_factory("tn", "10.77.14")


@pytest.mark.parametrize("version", [10, 9])
def test_member_killed_mid_stream_is_verified_removed_and_readmitted(lab: Lab, version: int) -> None:
    require_root_and_java(version)
    base = 110 if version == 10 else 120
    hj = lab.add_host(f"fj{version}", index=base)
    hp = lab.add_host(f"fp{version}", index=base + 1)
    mcast = ["--mcast-port", str(45800 + version)]
    jp = start_tribes_peer(hj, "member", mcast + ["--quiet-messages"], version=version)
    pp = start_pypeer(hp, "member", mcast + ["--heartbeat", "1000", "--stop-on-error"])
    jp2 = None
    try:
        pp.wait_member(hj.address, timeout=30)
        jp.wait_member(hp.address, timeout=30)
        m = pp.mark()
        pp.command(f"send 1000000 1024 3 {hj.address}:{jp.ready['port']}")
        time.sleep(1.0)  # mid-stream
        killed = time.monotonic()
        jp.kill()
        err = pp.wait_for("sendError", since=m, timeout=30)
        assert time.monotonic() - killed < 5.0  # fails fast, well before the 3 s drop time + timeout
        assert [(f["host"], f["port"]) for f in err["faulty"]] == [(hj.address, jp.ready["port"])]
        gone = pp.wait_for("memberDisappeared", lambda e: e["host"] == hj.address, since=m, timeout=30)
        assert gone["uniqueId"] == jp.ready["uniqueId"]
        done = pp.wait_for("sendDone", since=m, timeout=30)
        assert done["errors"] == 1  # --stop-on-error
        # a send to the removed member now fails at once, naming it
        m = pp.mark()
        pp.command(f"send 1 10 3 {hj.address}:{jp.ready['port']}")
        assert pp.wait_for("error", since=m, timeout=10)["message"].startswith("no member matches")
        # back again (new JVM, new uniqueId): re-admitted, sends succeed
        m = pp.mark()
        jp2 = start_tribes_peer(hj, "member", mcast, version=version)
        pp.wait_for("memberAdded", lambda e: e["uniqueId"] == jp2.ready["uniqueId"], since=m, timeout=30)
        m2, mp = jp2.mark(), pp.mark()
        pp.command(f"send 50 1024 3 {hj.address}:{jp2.ready['port']}")
        assert pp.wait_for("sendDone", since=mp, timeout=30)["errors"] == 0
        wait_count(jp2, "message", 50, since=m2, timeout=30)
    finally:
        pp.close()
        jp.close()
        if jp2 is not None:
            jp2.close()


@pytest.mark.parametrize("version", [10, 9])
def test_java_detects_killed_python_member(lab: Lab, version: int) -> None:
    require_root_and_java(version)
    base = 130 if version == 10 else 140
    hj = lab.add_host(f"gj{version}", index=base)
    hp = lab.add_host(f"gp{version}", index=base + 1)
    mcast = ["--mcast-port", str(45900 + version)]
    jp = start_tribes_peer(hj, "member", mcast + ["--quiet-messages"], version=version)
    pp = start_pypeer(hp, "member", mcast)
    try:
        jp.wait_member(hp.address, timeout=30)
        m = jp.mark()
        pp.kill()
        jp.wait_for("memberDisappeared", lambda e: e["host"] == hp.address, since=m, timeout=30)
    finally:
        pp.close()
        jp.close()


def test_hung_peer_does_not_block_sends_to_others(lab: Lab) -> None:
    """A peer that accepts connections but never answers costs each send at most ``timeout``; the other
    destination (a Java sink) gets every message at once."""
    hj = lab.add_host("hj", index=150)
    hs = lab.add_host("hs", index=151)
    hp = lab.add_host("hp", index=152)
    silent = hs.python(["-c", "import socket,time\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                              f"s.bind(('{hs.address}',4000));s.listen(50)\nc=[]\nwhile True: c.append(s.accept())"])
    jp = start_tribes_peer(hj, "sink", ["--no-mcast", "--quiet-messages"], version=10)
    pp = start_pypeer(hp, "member", ["--no-mcast", "--sender-prop", "timeout=1000",
                                     "--static", f"{hj.address}:{jp.ready['port']}", "--static", f"{hs.address}:4000"])
    try:
        m = pp.mark()
        t0 = time.monotonic()
        pp.command("send 4 1024 3 all")
        done = pp.wait_for("sendDone", since=m, timeout=60)
        took = time.monotonic() - t0
        errors = pp.find("sendError", since=m)
        assert done["errors"] == 4 and len(errors) == 4
        for e in errors:
            assert [(f["host"], f["port"]) for f in e["faulty"]] == [(hs.address, 4000)]
        assert took < 4 * 1.0 + 3.0  # each send bounded by timeout (1 s)
        jp.command("totals")
        totals = jp.wait_for("sinkTotals", timeout=10)
        assert totals["messages"] == 4
    finally:
        pp.close()
        jp.close()
        hs.kill(silent)
