#!/usr/bin/env python3
"""atheris target: incremental frame decoder (random chunk splits, small and default maximum sizes)."""
import sys

import atheris

with atheris.instrument_imports():
    from _common import check_frames


def test_one(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    max_size = fdp.PickValueInList([0, 5, 100, 4096, 256 * 1024 * 1024])
    ncuts = fdp.ConsumeIntInRange(0, 8)
    cuts = [fdp.ConsumeIntInRange(0, 4096) for _ in range(ncuts)]
    body = fdp.ConsumeBytes(fdp.remaining_bytes())
    check_frames(body, [min(c, len(body)) for c in cuts], max_size)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()
