"""EncryptInterceptor over the network with the Java peer (real Tomcat 10.1.60 / 9.0.70 Tribes) in the
namespace lab ``ec``: byte messages 0 B..1 MiB both ways with equal sha256 in every mode and key size
the version accepts (defaults in the default tier, the full matrix under ``slow``), wrong key both
directions, and a misplaced interceptor failing the start on both sides."""
from __future__ import annotations

import time
from typing import Any, Callable

import pytest

from interop.fixtures import require_root_and_java
from interop.lab import Lab
from tests.interop.channel_support import java_random_bytes, sha, start_pypeer, start_tribes_peer, wait_count
from tests.interop.encrypt_support import KEYS, WRONG_KEY

pytestmark = pytest.mark.interop

STACK = "EncryptInterceptor,TcpFailureDetector,MessageDispatchInterceptor"
SIZES = (0, 1, 1000, 65536, 1 << 20)
MATRIX = ([(10, a) for a in ("AES/GCM/NoPadding", "AES/CBC/PKCS5Padding", "AES/CFB/PKCS5Padding",
                             "AES/OFB/PKCS5Padding")]
          + [(9, a) for a in ("AES/GCM/NoPadding", "AES/CBC/PKCS5Padding", "AES/CFB/NoPadding",
                              "AES/OFB/NoPadding", "AES/CFB/PKCS5Padding", "AES/OFB/PKCS5Padding")])
_port = [46400]


@pytest.fixture(scope="module")
def lab(lab_factory: Callable[..., Lab]) -> Lab:
    require_root_and_java(10)
    return lab_factory("ecpeer", "10.77.140")


def enc_args(version: int, key: str, algo: str | None, python: bool) -> list[str]:
    args = ["--interceptors", STACK, "--iprop", f"EncryptInterceptor.encryptionKey={key}"]
    if algo:
        args += ["--iprop", f"EncryptInterceptor.encryptionAlgorithm={algo}"]
    if python:
        args += ["--iprop", f"EncryptInterceptor.tomcatVersion={'9.0' if version == 9 else '10.1'}"]
    return args


def pair(lab: Lab, version: int, key: str, algo: str | None, jkey: str | None = None) -> tuple[Any, Any, Any, Any]:
    _port[0] += 1
    n = _port[0] - 46400
    hj, hp = lab.add_host(f"j{n}", index=2 * n), lab.add_host(f"p{n}", index=2 * n + 1)
    mcast = ["--mcast-port", str(_port[0])]
    jp = start_tribes_peer(hj, "member", mcast + enc_args(version, jkey or key, algo, False), version=version)
    try:
        pp = start_pypeer(hp, "member", mcast + enc_args(version, key, algo, True))
    except BaseException:
        jp.close()
        raise
    return jp, pp, hj, hp


def exchange(jp: Any, pp: Any, hj: Any, hp: Any, sizes: tuple[int, ...] = SIZES, options: int = 3) -> None:
    jp.wait_member(hp.address, timeout=30)
    pp.wait_member(hj.address, timeout=30)
    for size in sizes:
        m_p = pp.mark()
        jp.command(f"send 1 {size} {options} {hp.address}:{pp.ready['port']}")
        msg = pp.wait_for("message", since=m_p, timeout=60)
        assert msg["size"] == size and msg["sha256"] == sha(java_random_bytes(42, size)), size
        m_j, m_p = jp.mark(), pp.mark()
        pp.command(f"send 1 {size} {options} {hj.address}:{jp.ready['port']}")
        done = pp.wait_for("sendDone", since=m_p, timeout=60)
        assert done["errors"] == 0, done
        got = jp.wait_for("message", since=m_j, timeout=60)
        assert got["size"] == size and got["sha256"] == done["dataSha256"], size


@pytest.mark.parametrize("version", [10, 9])
def test_defaults_both_ways(lab: Lab, version: int) -> None:
    """The version's default algorithm (10.1: GCM, 9.0: CBC), AES-128, 0 B..1 MiB both ways, ACK and async."""
    require_root_and_java(version)
    jp, pp, hj, hp = pair(lab, version, KEYS[128], None)
    try:
        exchange(jp, pp, hj, hp)
        exchange(jp, pp, hj, hp, sizes=(100, 70000), options=9)  # async (BYTE | ASYNCHRONOUS)
        assert pp.ready["interceptors"][0] == "EncryptInterceptor"
    finally:
        pp.close()
        jp.close()


@pytest.mark.slow
@pytest.mark.parametrize("bits", [128, 192, 256])
@pytest.mark.parametrize("version,algo", MATRIX)
def test_every_mode_and_key_size(lab: Lab, version: int, algo: str, bits: int) -> None:
    require_root_and_java(version)
    jp, pp, hj, hp = pair(lab, version, KEYS[bits], algo)
    try:
        exchange(jp, pp, hj, hp)
    finally:
        pp.close()
        jp.close()


@pytest.mark.parametrize("version", [10, 9])
def test_wrong_key_both_directions(lab: Lab, version: int) -> None:
    """Different keys: membership still works (plaintext), every message is dropped on both sides, the
    Python log says "cannot decrypt message from <member>", and both keep running and talking to others."""
    require_root_and_java(version)
    jp, pp, hj, hp = pair(lab, version, KEYS[256], None, jkey=WRONG_KEY)
    try:
        jp.wait_member(hp.address, timeout=30)
        pp.wait_member(hj.address, timeout=30)
        m_j, m_p = jp.mark(), pp.mark()
        jp.command(f"send 20 1000 3 {hp.address}:{pp.ready['port']}")
        jp.wait_for("sendDone", since=m_j, timeout=60)  # ACKed by the receiver, then dropped
        pp.command(f"send 20 1000 3 {hj.address}:{jp.ready['port']}")
        pp.wait_for("sendDone", since=m_p, timeout=60)
        time.sleep(1.0)
        assert pp.find("message", since=m_p) == [] and jp.find("message", since=m_j) == []
        deadline = time.monotonic() + 10
        while "cannot decrypt message from tcp://{" not in pp.stderr_tail(200) and time.monotonic() < deadline:
            time.sleep(0.2)
        log = pp.stderr_tail(200)
        assert f"cannot decrypt message from tcp://{{{hj.address.replace('.', ', ')}}}" in log, log
        assert KEYS[256] not in log and WRONG_KEY not in log
        assert "Failed to decrypt message" in jp.stderr_tail(400)
        # both still members, still up
        assert any(m["host"] == hj.address for m in pp.members()) and pp.proc.poll() is None
    finally:
        pp.close()
        jp.close()


@pytest.mark.parametrize("version", [10, 9])
def test_misplaced_interceptor_fails_the_start_on_both_sides(lab: Lab, version: int) -> None:
    require_root_and_java(version)
    _port[0] += 1
    n = _port[0] - 46400
    hj, hp = lab.add_host(f"j{n}", index=2 * n), lab.add_host(f"p{n}", index=2 * n + 1)
    bad = ["--mcast-port", str(_port[0]), "--interceptors", "TcpFailureDetector,EncryptInterceptor",
           "--iprop", f"EncryptInterceptor.encryptionKey={KEYS[128]}"]
    for starter, host in ((lambda h: start_tribes_peer(h, "member", bad, version=version), hj),
                          (lambda h: start_pypeer(h, "member", bad), hp)):
        with pytest.raises(Exception) as err:
            p = starter(host)
            p.close()
        assert "upstream of TcpFailureDetector" in str(err.value), str(err.value)[-2000:]
