"""The committed lab captures (tests/vectors/captures) contain what their sidecars promise."""
from __future__ import annotations

import glob
import os

import pytest

from interop.make_captures import check_capture

CAPTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "vectors", "captures")
PCAPS = sorted(glob.glob(os.path.join(CAPTURES, "tomcat*-*.pcap")))


def test_tomcat10_captures_are_committed() -> None:
    names = {os.path.basename(p) for p in PCAPS}
    assert {"tomcat10-membership.pcap", "tomcat10-replication.pcap"} <= names


@pytest.mark.parametrize("pcap", PCAPS, ids=[os.path.basename(p) for p in PCAPS])
def test_capture_matches_its_sidecar(pcap: str) -> None:
    assert check_capture(pcap) == []
