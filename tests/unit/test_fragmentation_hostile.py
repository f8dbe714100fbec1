"""FragmentationInterceptor under a flood of hostile fragments (issue 19: bounded memory, rate-limited
log lines): a header claiming a million fragments used to allocate a million-slot list per message
id, with no bound on how many such messages were pending."""
from __future__ import annotations

import logging
import tracemalloc

import pytest

from tests.unit.test_interceptors import ME, receive_chain
from tribes.interceptors import FragmentationInterceptor
from tribes.interceptors import fragmentation
from tribes.io.channel_data import ChannelData, new_unique_id


def frag(uid: bytes, nr: int, count: int, body: bytes) -> ChannelData:
    return ChannelData(2, 0, uid, ME, body + nr.to_bytes(4, "big") + count.to_bytes(4, "big") + b"\x01")


def test_flood_of_huge_fragment_counts_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    f = FragmentationInterceptor()
    top = receive_chain(f)
    tracemalloc.start()
    try:
        with caplog.at_level(logging.WARNING, logger="tribes.interceptors"):
            for _ in range(1500):
                f.message_received(frag(new_unique_id(), 0, 20_000, b"x" * 10))
                f.message_received(ChannelData(2, 0, new_unique_id(), ME, b""))     # junk
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the old code held 1,500 lists of 20,000 slots (240 MB); here at most MAX_PENDING small dicts
    assert peak < 64 * 1024 * 1024, peak
    assert len(f._pieces) <= fragmentation.MAX_PENDING
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) <= 4
    uid = new_unique_id()                                  # a real fragmented message still arrives
    f.message_received(frag(uid, 1, 2, b"world"))
    f.message_received(frag(uid, 0, 2, b"hello "))
    assert [m.message for m in top.got] == [b"hello world"]
