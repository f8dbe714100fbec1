"""Every committed capture of real Tomcat / Java Tribes traffic decodes with zero errors.

tests/vectors/captures/*.pcap: real Tomcat clusters, saved by the interop bed;
tests/vectors/wire/captures/*.pcap: Java TribesPeer traffic (tests/interop/test_capture_java.py).
"""
from __future__ import annotations

import glob
import json
import os

import pytest

from tribes.capture import CaptureDecoder, decode_pcap

VECTORS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vectors")
PCAPS = sorted(glob.glob(os.path.join(VECTORS, "captures", "*.pcap*"))
               + glob.glob(os.path.join(VECTORS, "wire", "captures", "*.pcap")))


def test_there_are_captures():
    if not PCAPS:
        pytest.skip("no captures committed yet under tests/vectors/captures or tests/vectors/wire/captures")
    assert PCAPS


@pytest.mark.parametrize("path", PCAPS, ids=[os.path.relpath(p, VECTORS) for p in PCAPS])
def test_capture_decodes_with_zero_errors(path):
    dec = CaptureDecoder()
    errors = [e.to_json() for e in decode_pcap(path, dec) if e.kind == "error"]
    assert not errors, errors[:5]
    assert dec.counts["member"] > 0 or dec.counts["message"] > 0
    summary = path.rsplit(".pcap", 1)[0] + ".summary.json"
    if os.path.exists(summary):  # counts recorded when the capture was made and checked against Java
        with open(summary, encoding="utf-8") as fh:
            assert dec.counts == json.load(fh)


SIDECARS = [p for p in PCAPS if os.path.exists(p.rsplit(".pcap", 1)[0] + ".json")]


@pytest.mark.parametrize("path", SIDECARS, ids=[os.path.relpath(p, VECTORS) for p in SIDECARS])
def test_capture_contents_match_the_bed_sidecar(path):
    """The bed's sidecar (written from Tomcat's own logs) says which members and sessions are in it."""
    with open(path.rsplit(".pcap", 1)[0] + ".json", encoding="utf-8") as fh:
        side = json.load(fh)
    events = [e.to_json() for e in decode_pcap(path)]
    members = [e for e in events if e["kind"] == "member"]
    seen = {(m["host"], m["port"], m["uniqueId"]) for m in members}
    for node in side.get("nodes", []):
        if node.get("uniqueId"):
            assert (node["address"], node["receiverPort"], node["uniqueId"]) in seen, node
    if "stops gracefully" in side.get("what", ""):
        assert any(m["shutdown"] for m in members)
    session = side.get("session", {}).get("created")
    if session:
        messages = [e for e in events if e["kind"] == "message"]
        classes = {m.get("payloadClass") for m in messages}
        assert "org.apache.catalina.ha.session.SessionMessageImpl" in classes
        assert any(session in json.dumps(m.get("value")) for m in messages)
        # state transfer to the joining node: the senders' member records are the nodes'
        senders = {(m["sender"]["host"], m["sender"]["uniqueId"]) for m in messages}
        assert {(n["address"], n["uniqueId"]) for n in side["nodes"]} <= senders | seen
