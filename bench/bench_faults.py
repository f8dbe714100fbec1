#!/usr/bin/env python3
"""Network faults and hostile load (issue 19): the Python node beside real Tomcat 10.1 in one run.

Lab ``ftbench`` (10.77.19): tomcat1 .1, tomcat2 .2 (Tomcat 10.1, McastService frequency 500 ms,
dropTime 3000 ms, channelSendOptions 6) and the Python node .50 (same settings).

  detect     silent host loss: a Tomcat node's bridge port goes down (no FIN, no RST); seconds until
             the Python node and the surviving Tomcat node report it gone, from their own log lines
             (ms timestamps). Rounds alternate which Tomcat node vanishes. Ratio = Python / Tomcat
             survivor (goal <= 1.2). Then the link comes back: seconds until each re-adds it.
  partition  {tomcat1} | {tomcat2, python} for --split seconds, then healed: seconds until the
             Python node and tomcat2 lose tomcat1, and until every node has every other again
             (Python's reconvergence beside Tomcat's own: tomcat1 <-> tomcat2).
  ack        on 127.0.0.1 (no lab): ACK latency of a well-behaved sender (sync-ACK ByteMessages)
             to a Python node, quiet vs while another connection sends expensive Java payloads
             (a 256 KiB session DELTA each 50 ms, decoded in a worker thread). Ratio = under load /
             quiet. (The sender is our own channel; the lab's Java anchor is above.)

Medians over --rounds rounds (>= 5), with min-max spread.

    sudo python3 bench/bench_faults.py [--json] [--rounds 5] [--split 8] [--only detect,partition,ack]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def med(xs: list[float]) -> dict[str, Any]:
    xs = [x for x in xs if x is not None]
    if not xs:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": round(statistics.median(xs), 3), "min": round(min(xs), 3), "max": round(max(xs), 3),
            "n": len(xs)}


# ------------------------------------------------------------------------------------ lab parts
def lab_parts(rounds: int, split: float, only: set[str]) -> dict[str, Any]:
    from interop.fixtures import require_root_and_java  # noqa: F401 - same requirement checks as the tests
    from interop.lab import Lab, missing_requirements
    from interop.tomcat.node import FAST_START_OPTS, TomcatCluster, missing_requirements as tomcat_missing
    from tests.interop import faults_support as fs

    why = missing_requirements() or tomcat_missing(10) or fs.missing_tools()
    if why:
        return {"skipped": why}
    out: dict[str, Any] = {}
    with Lab("ftbench", fs.SUBNET) as lab:
        cluster = TomcatCluster(lab, version="10", channel_send_options="6", jvm_opts=FAST_START_OPTS)
        try:
            cluster.start(2)
            py = fs.start_python(lab, 6)
            try:
                fs.wait_joined(py, cluster)
                t1, t2 = cluster.nodes
                if "detect" in only:
                    rows = []
                    for r in range(rounds):
                        gone, survivor = (t1, t2) if r % 2 == 0 else (t2, t1)
                        gone.host.link(False)
                        e0 = time.time()
                        fs.wait_until(lambda: gone.address not in fs.member_hosts(py)
                                      and gone.address not in survivor.members_from_log(), 60)
                        time.sleep(0.5)
                        pyt = fs.event_delay(fs.py_member_events(py), e0, "disappeared", gone.address)
                        tct = fs.event_delay(fs.tomcat_member_events(survivor), e0, "disappeared", gone.address)
                        gone.host.link(True)
                        e1 = time.time()
                        fs.wait_until(
                            lambda: gone.address in fs.member_hosts(py) and gone.address in survivor.members_from_log()
                            and py.host.address in gone.members_from_log(), 60)
                        time.sleep(0.5)
                        rows.append({"vanished": gone.jvm_route, "python": pyt, "tomcat": tct,
                                     "python_back": fs.event_delay(fs.py_member_events(py), e1, "added", gone.address),
                                     "tomcat_back": fs.event_delay(fs.tomcat_member_events(survivor), e1, "added",
                                                                   gone.address)})
                        print(f"  detect round {r + 1}: {rows[-1]}", file=sys.stderr)
                        time.sleep(2)
                    out["detect"] = {
                        "rounds": rows, "python_s": med([x["python"] for x in rows]),
                        "tomcat_s": med([x["tomcat"] for x in rows]),
                        "ratio": med([x["python"] / x["tomcat"] for x in rows if x["python"] and x["tomcat"]]),
                        "python_back_s": med([x["python_back"] for x in rows]),
                        "tomcat_back_s": med([x["tomcat_back"] for x in rows])}
                if "partition" in only:
                    rows = []
                    for r in range(rounds):
                        fs.partition(lab, [t1.host], [t2.host, py.host])
                        e0 = time.time()
                        time.sleep(split)
                        fs.heal(lab)
                        e1 = time.time()
                        fs.wait_until(lambda: t1.address in fs.member_hosts(py)
                                      and {t2.address, py.host.address} <= t1.members_from_log()
                                      and t1.address in t2.members_from_log(), 60)
                        time.sleep(0.5)
                        pe, a1, a2 = fs.py_member_events(py), fs.tomcat_member_events(t1), fs.tomcat_member_events(t2)
                        d = fs.event_delay
                        rows.append({
                            "python_lost": d(pe, e0, "disappeared", t1.address),
                            "tomcat_lost": d(a2, e0, "disappeared", t1.address),
                            "python_back": max(filter(None, [d(pe, e1, "added", t1.address),
                                                            d(a1, e1, "added", py.host.address)]), default=None),
                            "tomcat_back": max(filter(None, [d(a2, e1, "added", t1.address),
                                                            d(a1, e1, "added", t2.address)]), default=None)})
                        print(f"  partition round {r + 1}: {rows[-1]}", file=sys.stderr)
                        time.sleep(2)
                    out["partition"] = {"split_s": split, "rounds": rows,
                                        **{k + "_s": med([x[k] for x in rows]) for k in rows[0]}}
            finally:
                py.close()
        finally:
            cluster.stop()
    return out


# ------------------------------------------------------------------------------------ ack latency
async def ack_part(rounds: int) -> dict[str, Any]:
    import socket

    from tribes.group import ByteMessage, GroupChannel, LocalOnlyMembership
    from tribes.managers.cluster import SimpleTcpCluster
    from tribes.managers.delta_request import DeltaRequest
    from tribes.managers.session_message import EVT_SESSION_DELTA, SessionMessage
    from tribes.transport import NioReceiver, PooledParallelSender, ReplicationTransmitter

    def free_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    def ch() -> GroupChannel:
        return GroupChannel(NioReceiver(address="127.0.0.1", port=free_port()),
                            ReplicationTransmitter(PooledParallelSender(timeout=10000)), LocalOnlyMembership(),
                            heartbeat=False)

    node = SimpleTcpCluster(ch(), jvm_route="py1")
    app = node.manager("/app")
    await node.start(state_transfer=False)
    good, bad = ch(), ch()
    await good.start()
    await bad.start()
    node.channel.membership_service.add_member(bad.local_member)
    s = app.create_session()
    dest = node.channel.local_member
    dr = DeltaRequest(s.id)
    for i in range(2000):                       # 2,000 attributes of 128 bytes: ~256 KiB to decode
        dr.set_attribute(f"a{i}", bytes(128))
    heavy = SessionMessage(EVT_SESSION_DELTA, "localhost#/app", s.id, dr.serialize(), "h").to_java()

    async def pings(seconds: float) -> list[float]:
        lat = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t0 = time.perf_counter()
            await good.send([dest], ByteMessage(b"ping"), 6)
            lat.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(0.01)
        return lat

    async def flood(stop: asyncio.Event) -> int:
        n = 0
        while not stop.is_set():
            await bad.send([dest], heavy, 6)
            n += 1
            await asyncio.sleep(0.05)
        return n

    q_med: list[float] = []
    q_max: list[float] = []
    l_med: list[float] = []
    l_max: list[float] = []
    sent = 0
    try:
        for _ in range(rounds):                  # alternating quiet / loaded rounds
            q = await pings(2.0)
            stop = asyncio.Event()
            f = asyncio.ensure_future(flood(stop))
            ld = await pings(2.0)
            stop.set()
            sent += await f
            q_med.append(statistics.median(q))
            q_max.append(max(q))
            l_med.append(statistics.median(ld))
            l_max.append(max(ld))
    finally:
        await good.stop()
        await bad.stop()
        await node.stop()
    return {"quiet_ms": med(q_med), "loaded_ms": med(l_med), "quiet_max_ms": med(q_max), "loaded_max_ms": med(l_max),
            "ratio": med([lo / qu for lo, qu in zip(l_med, q_med)]),
            "heavy_messages": sent, "heavy_bytes": len(dr.serialize())}


def fmt(d: dict[str, Any]) -> str:
    if not d or d.get("median") is None:
        return "-"
    return f"{d['median']:.3f} ({d['min']:.3f}-{d['max']:.3f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--split", type=float, default=8.0, help="partition length (s) per round")
    ap.add_argument("--only", default="detect,partition,ack")
    a = ap.parse_args()
    only = set(a.only.split(","))
    res: dict[str, Any] = {"rounds": a.rounds}
    if only & {"detect", "partition"}:
        res.update(lab_parts(a.rounds, a.split, only))
    if "ack" in only:
        res["ack"] = asyncio.run(ack_part(a.rounds))
    if a.json:
        print(json.dumps(res))
        return 0
    print(f"bench_faults: medians over {a.rounds} rounds (min-max)")
    if "skipped" in res:
        print(f"lab parts skipped: {res['skipped']}")
    d = res.get("detect")
    if d:
        print("\nsilent host loss (link down)       python s            tomcat survivor s     ratio py/tomcat")
        print(f"  reported gone                      {fmt(d['python_s']):20} {fmt(d['tomcat_s']):21} {fmt(d['ratio'])}")
        print(f"  re-added after the link is back   {fmt(d['python_back_s']):20} {fmt(d['tomcat_back_s']):21}")
    p = res.get("partition")
    if p:
        print(f"\npartition {{tomcat1}} | {{tomcat2, python}} for {p['split_s']} s   python s            tomcat s")
        print(f"  lost tomcat1                       {fmt(p['python_lost_s']):20} {fmt(p['tomcat_lost_s'])}")
        print(f"  reconverged after the heal         {fmt(p['python_back_s']):20} {fmt(p['tomcat_back_s'])}")
    k = res.get("ack")
    if k:
        print("\nACK latency on 127.0.0.1 (sync ByteMessage)    quiet ms             under decode load ms   ratio")
        print(f"  median per round                             {fmt(k['quiet_ms']):20} {fmt(k['loaded_ms']):22} "
              f"{fmt(k['ratio'])}")
        print(f"  max per round                                {fmt(k['quiet_max_ms']):20} {fmt(k['loaded_max_ms'])}")
        print(f"  ({k['heavy_messages']} DELTA messages of {k['heavy_bytes']} bytes decoded meanwhile)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
