"""Slow tier: atheris on EncryptInterceptor's decrypt path (fuzz/fuzz_encrypt.py) for
TRIBES_ENCRYPT_FUZZ_SECONDS (default 600): no crash, and in GCM nothing passed up that the key did
not seal."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_atheris_decrypt_path() -> None:
    try:
        import atheris  # noqa: F401
    except ImportError:
        pytest.skip("atheris is not installed (pip install atheris, the fuzz extra)")
    seconds = int(os.environ.get("TRIBES_ENCRYPT_FUZZ_SECONDS", "600"))
    with tempfile.TemporaryDirectory(prefix="ec-fuzz-") as tmp:
        res = subprocess.run([sys.executable, os.path.join(ROOT, "fuzz", "fuzz_encrypt.py"), os.path.join(tmp, "corpus"),
                              f"-max_total_time={seconds}", "-rss_limit_mb=2048", "-timeout=10",
                              f"-artifact_prefix={tmp}/", "-print_final_stats=1"],
                             capture_output=True, text=True, timeout=seconds + 600)
        tail = "\n".join(res.stderr.splitlines()[-30:])
        assert res.returncode == 0, tail
        assert "Done" in res.stderr and "number_of_executed_units" in res.stderr, tail
