"""Capture real Java Tribes traffic (TribesPeer = Tomcat's GroupChannel, McastService, NioReceiver,
PooledParallelSender, TcpFailureDetector) in a namespace lab and decode it with `tribes decode`:
heartbeats, a node shutting down, messages with ACK / sync ACK / async / byte options, large messages
split over many TCP segments. Zero decode errors and the counts Java reports.

Lab ``tc<version>``, subnet 10.77.11.0/24. With TRIBES_UPDATE_VECTORS=1 the captures are also saved as
tests/vectors/wire/captures/java-peer-<version>.pcap (commit-ready).
"""
from __future__ import annotations

import json
import os
import shutil

import pytest

from interop.fixtures import require_root_and_java, require_tcpdump
from tribes.capture import CaptureDecoder, decode_pcap

pytestmark = pytest.mark.interop

SAVE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vectors", "wire", "captures")
SENDS = [(3, 100, 2), (2, 70000, 6), (2, 500, 8), (2, 100, 1), (1, 300000, 2)]  # count, size, options


@pytest.fixture(scope="module", params=["10", "9"])
def bed(request, lab_factory):
    version = request.param
    require_root_and_java(version)
    require_tcpdump()
    return version, lab_factory(f"tc{version}", "10.77.11")


def test_java_peer_traffic_decodes_with_zero_errors(bed, java_peer, tmp_path):
    version, lab = bed
    n1 = lab.hosts.get("n1") or lab.add_host("n1", index=1)
    n2 = lab.hosts.get("n2") or lab.add_host("n2", index=2)
    pcap = str(tmp_path / f"java-peer-{version}.pcap")
    with lab.capture(pcap) as cap:
        p1 = java_peer(n1, "member", ["--mcast-port", "45611"], version=version)
        p2 = java_peer(n2, "member", ["--mcast-port", "45611"], version=version)
        p1.wait_member(n2.address, timeout=60)
        p2.wait_member(n1.address, timeout=60)
        mark = p1.mark()
        for count, size, opts in SENDS:
            since = p2.mark()
            p2.command(f"send {count} {size} {opts} {n1.address}")
            p2.wait_for("sendDone", timeout=60, since=since)
        total = sum(c for c, _s, _o in SENDS)
        p1.wait_count("message", total, timeout=60, since=mark)
        mark = p1.mark()
        assert p2.close() == 0  # stops the channel: a shutdown heartbeat goes out
        p1.wait_for("memberDisappeared", lambda e: e.get("host") == n2.address, timeout=30, since=mark)
    assert cap.packets is None or cap.packets > 0

    dec = CaptureDecoder()
    events = [e.to_json() for e in decode_pcap(pcap, dec)]
    errors = [e for e in events if e["kind"] == "error"]
    assert not errors, errors[:5]
    members = [e for e in events if e["kind"] == "member"]
    assert {m["host"] for m in members} == {n1.address, n2.address}
    shut = [m for m in members if m["shutdown"]]
    assert shut and all(m["host"] == n2.address for m in shut)
    msgs = [e for e in events if e["kind"] == "message" and e["src"].startswith(n2.address + ":")
            and e["dst"].startswith(n1.address + ":")]
    # TcpFailureDetector probes are ChannelData too; our sends are the byte[] / ByteMessage payloads
    ours = [m for m in msgs if m["payloadClass" if "payloadClass" in m else "payloadEncoding"] in ("[B", "bytes")
            and m["payloadLength"] >= 100]
    by_opts: dict[int, list[dict]] = {}
    for m in ours:
        by_opts.setdefault(m["options"], []).append(m)
    for count, size, opts in SENDS:
        # a serialized byte[] is 27 bytes of stream header and class descriptor + the data
        got = [m for m in by_opts.get(opts, []) if m["payloadLength"] == (size if opts & 1 else size + 27)]
        assert len(got) == count, (opts, size, [(m["options"], m["payloadLength"]) for m in ours])
        for m in got:
            assert m["sender"]["host"] == n2.address and len(m["uniqueId"]) == 32
            if not opts & 1:
                assert m["payloadClass"] == "[B" and m["payloadEncoding"] == "java"
    acks = [e for e in events if e["kind"] == "ack" and e["src"].startswith(n1.address + ":")]
    assert len([a for a in acks if a["result"] == "ACK"]) >= sum(c for c, _s, o in SENDS if o & 2)
    assert not [a for a in acks if a["result"] == "FAIL_ACK"]
    if os.environ.get("TRIBES_UPDATE_VECTORS"):
        os.makedirs(SAVE_DIR, exist_ok=True)
        shutil.copy(pcap, os.path.join(SAVE_DIR, f"java-peer-{version}.pcap"))
        with open(os.path.join(SAVE_DIR, f"java-peer-{version}.summary.json"), "w") as fh:
            json.dump(dec.counts, fh)
