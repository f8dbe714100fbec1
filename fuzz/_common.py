"""Shared checks of the fuzz targets: both implementations, only the documented exceptions, round trips."""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tribes import _purepath as PURE  # noqa: E402
from tribes.io.errors import WireDecodeError  # noqa: E402

try:
    from tribes import _fastpath as FAST  # noqa: E402
except ImportError:  # pragma: no cover
    FAST = None

IMPLS = [m for m in (PURE, FAST) if m is not None]


def outcome(fn, *args):
    """Run fn; return ('ok', value) or ('error', type name, message). Anything but a WireDecodeError is a bug."""
    try:
        return ("ok", fn(*args))
    except WireDecodeError as exc:
        return ("error", type(exc).__name__, str(exc), getattr(exc, "frames", None))


def check_member(data: bytes) -> None:
    results = [outcome(m.parse_member, data, 0, len(data)) for m in IMPLS]
    assert all(r == results[0] for r in results), results
    if results[0][0] == "ok":
        fields = results[0][1]
        for m in IMPLS:  # a packet we accept re-encodes to exactly the same bytes
            assert m.build_member(*fields) == data


def check_channel_data(data: bytes) -> None:
    results = [outcome(m.parse_channel_data, data) for m in IMPLS]
    assert all(r == results[0] for r in results), results
    if results[0][0] == "ok":
        options, ts, uid, _fields, address, message = results[0][1]
        for m in IMPLS:
            assert m.build_channel_data(options, ts, uid, address, message, False) == data


def check_frames(data: bytes, cuts: list[int], max_size: int) -> None:
    logs = []
    for m in IMPLS:
        d = m.FrameDecoderCore(max_size)
        log = []
        frames = []
        prev = 0
        for c in sorted(cuts) + [len(data)]:
            chunk = data[prev:c]
            prev = max(prev, c)
            r = outcome(d.feed, chunk)
            log.append(r)
            assert d.buffered <= max_size + 18, "buffered more than one frame"
            if r[0] == "error":
                frames += r[3]
                break
            frames += r[1]
        logs.append(log)
        # every frame returned is exactly a prefix of the input, re-encoded
        rebuilt = b"".join(m.encode_frame(f) for f in frames)
        assert data.startswith(rebuilt)
    assert all(log == logs[0] for log in logs), "pure and fast paths disagree"
