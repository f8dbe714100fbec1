"""`tribes decode FILE.pcap`: synthetic captures (scapy) made of bytes Tomcat produced (golden vectors):
heartbeats incl. shutdown, TCP streams split/reordered/retransmitted, ACKs, Java-serialized payloads,
multicast frames, foreign traffic, and broken streams."""
from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from tribes.capture.javaclass import first_class_name
from tribes.capture.tcp import TcpStream
from tribes.cli.main import cli
from tribes.io.framing import ACK_FRAME, FAIL_ACK_FRAME

VEC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vectors", "wire",
                   "tomcat-10.1.json")
with open(VEC, encoding="utf-8") as fh:
    V = json.load(fh)
MEMBERS = {m["name"]: bytes.fromhex(m["bytes"]) for m in V["members"]}
FRAMES = {c["name"]: bytes.fromhex(c["frame"]) for c in V["channelData"] if "frame" in c}

A, B = "10.77.11.1", "10.77.11.2"
T0 = 1763780000.0


class Pcap:
    def __init__(self) -> None:
        self.pkts = []
        self.t = T0

    def add(self, pkt) -> None:
        self.t += 0.001
        pkt.time = self.t
        self.pkts.append(pkt)

    def udp(self, src, dst, payload, sport=45564, dport=45564):
        self.add(Ether() / IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / payload)

    def tcp(self, src, sport, dst, dport, seq, payload=b"", flags="PA"):
        self.add(Ether() / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, seq=seq, flags=flags) / payload)

    def write(self, path):
        wrpcap(str(path), self.pkts)
        return str(path)


def run_decode(path, *extra):
    res = CliRunner().invoke(cli, ["decode", "--json", *extra, path])
    lines = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    return res, lines


def kinds(lines, kind):
    return [x for x in lines if x["kind"] == kind]


def test_first_class_name_from_java_made_payloads():
    for c in V["channelData"]:
        if c["messageKind"].startswith("java:"):
            assert first_class_name(bytes.fromhex(c["message"])) == c["messageKind"][5:]
    assert first_class_name(b"plain bytes") is None


def test_tcp_stream_reorders_and_drops_retransmissions():
    s = TcpStream()
    s.syn(2**32 - 3)  # wraps
    assert s.segment(2**32 - 2, b"ab") == [b"ab"]
    assert s.segment(2, b"ef") == []  # out of order, held
    assert s.segment(0, b"cd") == [b"cd", b"ef"]
    assert s.segment(2**32 - 2, b"abcd") == []  # retransmission
    assert s.segment(3, b"fgh") == [b"gh"]  # overlap trimmed


def test_decode_a_cluster_capture(tmp_path):
    p = Pcap()
    # heartbeats, then the shutdown of one member
    for _ in range(3):
        p.udp(A, "228.0.0.4", MEMBERS["reference"])
        p.udp(B, "228.0.0.4", MEMBERS["plain-defaults"])
    p.udp(A, "228.0.0.4", MEMBERS["reference-shutdown"])
    # a TCP connection A -> B (receiver port 4000): SYN, frames cut at odd places, one retransmitted
    # segment and two segments swapped; ACKs back
    stream = FRAMES["reference"] + FRAMES["serialized-hashmap"] + FRAMES["size-1024"] + FRAMES["options-6"]
    isn = 1000
    p.tcp(A, 50000, B, 4000, isn, flags="S")
    p.tcp(B, 4000, A, 50000, 7000, flags="SA")
    cuts = [0, 5, 150, 151, 700, 1500, len(stream)]
    segs = [(isn + 1 + cuts[i], stream[cuts[i]:cuts[i + 1]]) for i in range(len(cuts) - 1)]
    segs[2], segs[3] = segs[3], segs[2]
    for seq, data in segs[:3]:
        p.tcp(A, 50000, B, 4000, seq, data)
    p.tcp(A, 50000, B, 4000, *segs[0])  # retransmission
    for seq, data in segs[3:]:
        p.tcp(A, 50000, B, 4000, seq, data)
    p.tcp(B, 4000, A, 50000, 7001, ACK_FRAME + ACK_FRAME[:10])
    p.tcp(B, 4000, A, 50000, 7001 + 31, ACK_FRAME[10:] + FAIL_ACK_FRAME)
    # a connection caught mid-stream: starts inside a frame, no SYN
    mid = FRAMES["size-100"][40:] + FRAMES["serialized-string"]
    p.tcp(B, 50001, A, 4000, 555, mid)
    # HTTP to the web app is not Tribes and is ignored
    p.tcp(A, 50002, B, 8080, 1, flags="S")
    p.tcp(A, 50002, B, 8080, 2, b"GET /app/ HTTP/1.1\r\nHost: x\r\n\r\n")
    # a multicast channel message (SEND_OPTIONS_MULTICAST) and some foreign UDP
    p.udp(B, "228.0.0.4", FRAMES["options-64"])
    p.udp(B, "10.77.11.255", b"\x00\x01 not tribes", sport=137, dport=137)
    res, lines = run_decode(p.write(tmp_path / "c.pcap"))
    assert res.exit_code == 0, res.output
    members = kinds(lines, "member")
    assert len(members) == 7
    assert [m["shutdown"] for m in members].count(True) == 1
    assert members[0]["uniqueId"] == bytes(range(1, 17)).hex() and members[0]["domain"] == "dom"
    assert members[0]["host"] == "10.0.0.1" and members[0]["port"] == 4000 and members[0]["alive"] == 5000
    msgs = kinds(lines, "message")
    assert [m["transport"] for m in msgs] == ["tcp"] * 4 + ["tcp", "udp"]
    assert msgs[0]["uniqueId"] == "c00102030405060708090a0b0c0d0e0f" and msgs[0]["payloadLength"] == 3
    assert msgs[0]["options"] == 8 and msgs[0]["optionNames"] == "async"
    assert msgs[0]["sender"]["port"] == 4000 and msgs[0]["time"].endswith("Z")
    assert msgs[1]["payloadClass"] == "java.util.HashMap" and msgs[1]["payloadEncoding"] == "java"
    assert msgs[4]["payloadClass"] == "java.lang.String"
    assert [a["result"] for a in kinds(lines, "ack")] == ["ACK", "ACK", "FAIL_ACK"]
    assert len(kinds(lines, "note")) == 1  # the mid-stream connection
    summary = lines[-1]
    assert summary["kind"] == "summary" and summary["errors"] == 0 and summary["messages"] == 6


def test_broken_streams_are_errors_but_valid_frames_survive(tmp_path):
    p = Pcap()
    p.udp(A, "228.0.0.4", MEMBERS["reference"][:-3] + b"XYZ")  # bad end marker
    p.tcp(A, 50000, B, 4000, 10, flags="S")
    p.tcp(A, 50000, B, 4000, 11, FRAMES["size-3"] + b"FLT2002\x00\x00\x00\x05abcdefghijklmn")  # lying length
    p.tcp(B, 50001, A, 4000, 10, flags="S")
    body = bytes.fromhex(V["channelData"][0]["body"])
    p.tcp(B, 50001, A, 4000, 11, b"FLT2002" + len(body).to_bytes(4, "big") + body[:40] + b"\xff" * (len(body) - 40)
          + b"TLF2003")  # frame fine, ChannelData inside broken
    p.tcp(B, 50002, A, 4000, 10, flags="S")
    p.tcp(B, 50002, A, 4000, 11, FRAMES["size-1"][:30])
    p.tcp(B, 50002, A, 4000, 11 + 30, b"", flags="FA")  # closed inside a frame
    p.tcp(A, 50003, B, 4000, 100, FRAMES["size-3"][:20], flags="PA")
    p.tcp(A, 50003, B, 4000, 200, FRAMES["size-3"][20:], flags="PA")  # hole that never fills
    res, lines = run_decode(p.write(tmp_path / "bad.pcap"))
    assert res.exit_code == 1
    errors = kinds(lines, "error")
    assert len(errors) == 5, errors
    text = " ".join(e["error"] for e in errors)
    assert "end marker" in text and "InvalidEndMarkerError" in text and "ChannelData" in text
    assert "closed inside a frame" in text and "lost" in text
    assert len(kinds(lines, "message")) == 1  # the frame before the lying one
    assert "5 errors" in res.stderr


def test_text_output_and_missing_file(tmp_path):
    p = Pcap()
    p.udp(A, "228.0.0.4", MEMBERS["reference-shutdown"])
    res = CliRunner().invoke(cli, ["decode", p.write(tmp_path / "t.pcap")])
    assert res.exit_code == 0
    assert "tcp://{10, 0, 0, 1}:4000" in res.stdout and "SHUTDOWN" in res.stdout
    res = CliRunner().invoke(cli, ["decode", str(tmp_path / "missing.pcap")])
    assert res.exit_code == 2
