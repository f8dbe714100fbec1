"""Slow tier: hypothesis-driven fuzzing of the three decoders (member packet, ChannelData, frame stream),
with the same checks as the atheris harness in fuzz/ (both implementations agree, only WireDecodeError
escapes, accepted input re-encodes byte for byte, the frame buffer stays bounded).

    TRIBES_FUZZ_EXAMPLES=200000 pytest -m slow tests/unit/test_wire_fuzz.py
"""
from __future__ import annotations

import json
import os
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "fuzz"))

from _common import check_channel_data, check_frames, check_member  # noqa: E402

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("TRIBES_FUZZ_EXAMPLES", "30000"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)

with open(os.path.join(ROOT, "tests", "vectors", "wire", "tomcat-10.1.json"), encoding="utf-8") as fh:
    _V = json.load(fh)
MEMBER_SEEDS = [bytes.fromhex(m["bytes"]) for m in _V["members"]]
BODY_SEEDS = [bytes.fromhex(c["body"]) for c in _V["channelData"] if "body" in c]
STREAM_SEED = bytes.fromhex(_V["streams"][0]["stream"])


@st.composite
def mutated(draw, seeds):
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["flip", "set", "cut", "insert", "int"]))
        i = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[i] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[i:i + draw(st.integers(1, 64))]
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif op == "int" and len(data) >= i + 4:
            data[i:i + 4] = draw(st.sampled_from([0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 16, 4])).to_bytes(4, "big")
    return bytes(data)


@FUZZ
@given(st.one_of(st.binary(max_size=300), mutated(MEMBER_SEEDS)))
def test_fuzz_member(data):
    check_member(data)


@FUZZ
@given(st.one_of(st.binary(max_size=300), mutated(BODY_SEEDS)))
def test_fuzz_channel_data(data):
    check_channel_data(data)


@FUZZ
@given(st.one_of(st.binary(max_size=500), mutated([STREAM_SEED[:4000]])),
       st.lists(st.integers(0, 4000), max_size=10), st.sampled_from([0, 5, 100, 4096, 256 << 20]))
def test_fuzz_frames(data, cuts, max_size):
    check_frames(data, [min(c, len(data)) for c in cuts], max_size)
