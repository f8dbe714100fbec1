"""Mutated Java serialization streams for the javaser property tests: golden vectors made by
Java (10.1) with a few bytes set, inserted or deleted, and perhaps cut short."""
from __future__ import annotations

import os
from typing import Any

from hypothesis import strategies as st

VECTORS_10_1 = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vectors", "javaser", "10.1")


def seeds(max_size: int) -> list[bytes]:
    """The 10.1 golden streams smaller than ``max_size`` bytes, in name order."""
    out = []
    for name in sorted(os.listdir(VECTORS_10_1)):
        path = os.path.join(VECTORS_10_1, name)
        if name.endswith(".ser") and os.path.getsize(path) < max_size:
            with open(path, "rb") as f:
                out.append(f.read())
    return out


def mutations(n_seeds: int) -> st.SearchStrategy[Any]:
    """(seed index, edits, cut) for ``mutate``."""
    return st.tuples(
        st.integers(0, max(0, n_seeds - 1)),
        st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255), st.sampled_from(["set", "insert", "delete"])),
                 min_size=1, max_size=4),
        st.one_of(st.none(), st.integers(4, 10**6)),
    )


def mutate(seed_streams: list[bytes], m: Any) -> bytes:
    """The seed with the edits applied after its 4-byte header, then cut (never below 4 bytes)."""
    idx, edits, cut = m
    data = bytearray(seed_streams[idx])
    for pos, byte, kind in edits:
        p = 4 + pos % max(1, len(data) - 4)
        if kind == "set" and p < len(data):
            data[p] = byte
        elif kind == "insert":
            data.insert(p, byte)
        elif kind == "delete" and p < len(data):
            del data[p]
    if cut is not None:
        data = data[: max(4, cut % (len(data) + 1))]
    return bytes(data)
