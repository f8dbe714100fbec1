"""Data integrity in the style of Tomcat's TestDataIntegrity, Java and Python mixed.

Four senders at once (two Java ChannelBench, two Python peers; byte messages and Java byte[] values;
with ACK, synchronized ACK and asynchronous) send messages of random sizes, each carrying
``TBCH | senderId | seq | crc32`` to one Python and one Java receiver. OrderInterceptor is in the
stack everywhere (above MessageDispatchInterceptor, whose worker pool reorders async sends).
Both receivers must see every message exactly once, uncorrupted, in order per sender.
Default tier: 10,000 messages; slow tier: 100,000.
"""
from __future__ import annotations

from typing import Any, Callable

import pytest

from interop.fixtures import require_root_and_java
from interop.lab import Lab
from tests.interop.channel_support import start_bench, start_pypeer

pytestmark = pytest.mark.interop

STACK = "OrderInterceptor,MessageDispatchInterceptor"
# OrderInterceptor holds a gap for `expire` ms (Tomcat default 3000), then forwards out of order. Under
# overload (async senders at full speed, 2 shared cores) a gap can exceed 3 s on either implementation
# (seen on both the Java and the Python receiver), so the receivers allow 30 s as an ordering *test*.
RX_PROPS: list[str] = ["--iprop", "OrderInterceptor.expire=30000"]


def run_integrity(lab: Lab, version: int, total: int, max_size: int, tag: str, base: int) -> None:
    hosts = {name: lab.add_host(f"{name}{tag}", index=base + i)
             for i, name in enumerate(("pr", "jr", "ja", "jb", "pa", "pb"))}
    pr = start_pypeer(hosts["pr"], "member", ["--no-mcast", "--interceptors", STACK, "--quiet-messages", *RX_PROPS])
    jr = start_bench(hosts["jr"], "recv", ["--interceptors", STACK, *RX_PROPS], version=version)
    dests = f"{hosts['pr'].address}:{pr.ready['port']},{hosts['jr'].address}:{jr.ready['port']}"
    statics = []
    for d in dests.split(","):
        statics += ["--static", d]
    per = total // 4
    senders: list[tuple[Any, str]] = []
    ja = start_bench(hosts["ja"], "send", ["--interceptors", STACK, "--to", dests, "--count", str(per),
                                           "--min", "16", "--max", str(max_size), "--options", "3",
                                           "--sender-id", "1"], version=version)
    jb = start_bench(hosts["jb"], "send", ["--interceptors", STACK, "--to", dests, "--count", str(per),
                                           "--min", "16", "--max", str(max_size), "--options", "8",
                                           "--sender-id", "2"], version=version)
    pa = start_pypeer(hosts["pa"], "member", ["--no-mcast", "--interceptors", STACK, *statics])
    pb = start_pypeer(hosts["pb"], "member", ["--no-mcast", "--interceptors", STACK, *statics])
    try:
        marks = [(p, p.mark()) for p in (ja, jb, pa, pb)]
        ja.command("go")
        jb.command("go")
        pa.command(f"integrity {per} 16 {max_size} 9 3")
        pb.command(f"integrity {per} 16 {max_size} 6 4")
        for p, m in marks:
            done = p.wait_for("sendDone", since=m, timeout=600)
            assert done["errors"] == 0, done
        for receiver in (pr, jr):
            deadline_totals = None
            for _ in range(600):
                m = receiver.mark()
                receiver.command("totals")
                deadline_totals = receiver.wait_for("totals", since=m, timeout=30)
                if deadline_totals["messages"] >= 4 * per:
                    break
                import time
                time.sleep(0.5)
            t = deadline_totals
            assert t is not None
            assert t["messages"] == 4 * per, (receiver.host.ns, t)
            assert t["corrupt"] == 0 and t["duplicates"] == 0 and t["outOfOrder"] == 0, \
                (receiver.host.ns, t.get("outOfOrderBySender"), t)
            for sid in ("1", "2", "3", "4"):
                assert t["senders"][sid] == {"distinct": per, "max": per - 1}, (sid, t)
    finally:
        for p in (ja, jb, pa, pb, pr, jr):
            p.close()


@pytest.fixture(scope="module")
def lab(lab_factory: Callable[..., Lab]) -> Lab:
    require_root_and_java(10)
    return lab_factory("tn", "10.77.14")


@pytest.mark.parametrize("version", [10, 9])
def test_data_integrity_mixed_senders(lab: Lab, version: int) -> None:
    require_root_and_java(version)
    run_integrity(lab, version, 10_000, 8192, tag=f"{version}", base=60 if version == 10 else 70)


@pytest.mark.slow
@pytest.mark.parametrize("version", [10, 9])
def test_data_integrity_mixed_senders_100k(lab: Lab, version: int) -> None:
    require_root_and_java(version)
    run_integrity(lab, version, 100_000, 16384, tag=f"s{version}", base=80 if version == 10 else 90)
