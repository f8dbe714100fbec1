"""Helpers of the channel interop tests and bench: start the Python peer / the Java ChannelBench inside a
lab host, reproduce TribesPeer's payloads (java.util.Random(42).nextBytes)."""
from __future__ import annotations

import functools
import hashlib
import os
import subprocess
import sys
import tempfile
from typing import Sequence

from interop import javatool
from interop.lab import Host
from interop.peer import DEFAULT_JVM_OPTS, JavaPeer

HERE = os.path.dirname(os.path.abspath(__file__))
PYPEER = os.path.join(HERE, "channel_pypeer.py")
BENCH_JVM_OPTS = ("-Xms64m", "-Xmx256m", "-XX:+UseSerialGC")  # full JIT: fair Java baseline


@functools.lru_cache(maxsize=16)
def java_random_bytes(seed: int, n: int) -> bytes:
    """``new java.util.Random(seed).nextBytes(new byte[n])``."""
    mask = (1 << 48) - 1
    s = (seed ^ 0x5DEECE66D) & mask
    out = bytearray(n)
    i = 0
    while i < n:
        s = (s * 0x5DEECE66D + 0xB) & mask
        rnd = s >> 16  # next(32), as unsigned 32 bits
        for _ in range(min(n - i, 4)):
            out[i] = rnd & 0xFF
            rnd >>= 8
            i += 1
    return bytes(out)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _wrap(host: Host, cmd: list[str], python: bool, ready_timeout: float = 60) -> JavaPeer:
    fd, err = tempfile.mkstemp(prefix=f"chanpeer-{host.ns}-", suffix=".log")
    with os.fdopen(fd, "w") as e:
        if python:
            proc = host.python(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=e, text=True, bufsize=1)
        else:
            proc = host.popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=e, text=True, bufsize=1)
    peer = JavaPeer(host, proc, err)
    try:
        peer.ready = peer.wait_for("ready", timeout=ready_timeout)
    except BaseException:
        peer.close()
        raise
    return peer


def start_pypeer(host: Host, mode: str = "member", args: Sequence[str] = (), env_pure: bool = False) -> JavaPeer:
    """The Python twin of TribesPeer (tests/interop/channel_pypeer.py), same events and commands."""
    args = list(args)
    if "--address" not in args:
        args += ["--address", host.address]
    return _wrap(host, [PYPEER, mode, *args], python=True)


def start_bench(host: Host, mode: str, args: Sequence[str] = (), version: str | int = 10,
                jvm_opts: Sequence[str] = BENCH_JVM_OPTS) -> JavaPeer:
    """interop/java/src/ChannelBench.java (no multicast; destinations as host:port)."""
    args = list(args)
    if "--address" not in args:
        args += ["--address", host.address]
    cmd = javatool.java_command("ChannelBench", [mode, *args], version, jvm_opts)
    return _wrap(host, cmd, python=False)


def start_tribes_peer(host: Host, mode: str, args: Sequence[str] = (), version: str | int = 10,
                      jvm_opts: Sequence[str] = DEFAULT_JVM_OPTS) -> JavaPeer:
    return JavaPeer.start(host, mode, list(args), version=version, jvm_opts=jvm_opts)


def python_executable() -> str:
    return sys.executable


def wait_count(peer: JavaPeer, name: str, n: int, since: int = 0, timeout: float = 60) -> list[dict]:
    """The first ``n`` events ``name`` at index >= ``since`` (raises PeerError on an error event/timeout)."""
    import time as _time
    deadline = _time.monotonic() + timeout
    while True:
        found = peer.find(name, since=since)
        if len(found) >= n:
            return found[:n]
        errors = peer.find("error", since=since)
        if errors:
            raise AssertionError(f"peer reported an error: {errors[0]}")
        if _time.monotonic() > deadline:
            raise AssertionError(f"only {len(found)} of {n} {name!r} events after {timeout} s")
        _time.sleep(0.02)
