"""Regenerate the lab captures into a temporary directory and check them (slow: ~40 s per version)."""
from __future__ import annotations

import os
from typing import Any

import pytest

from interop import make_captures
from interop.fixtures import require_root_and_java, require_tcpdump

pytestmark = [pytest.mark.interop, pytest.mark.slow]


@pytest.mark.parametrize("version", ["10", "9"])
def test_make_captures_regenerates_valid_captures(version: str, tmp_path: Any) -> None:
    require_root_and_java(version, tomcat=True)
    require_tcpdump()
    assert make_captures.main(["--out", str(tmp_path), "--version", version]) == 0
    for kind in ("membership", "replication"):
        pcap = os.path.join(tmp_path, f"tomcat{version}-{kind}.pcap")
        assert os.path.getsize(pcap) < 2 * 1024 * 1024
        assert make_captures.check_capture(pcap) == []
