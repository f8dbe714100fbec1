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
