"""Network-namespace helpers for the membership tests (prefix ``tm``, subnet 10.77.13.0/24).

No packet leaves the machine: every socket lives in a namespace created here, torn down by
the fixture even on failure.

* :class:`NetNs` makes a namespace with ``lo`` up and a veth ``tm0`` (peer ``tm0p`` in the same namespace) carrying
  10.77.13.X/24 with multicast on and a 224.0.0.0/4 route. Several nodes in the same
  namespace hear each other through multicast loopback.
* :func:`run_in_netns` runs a coroutine function on an asyncio loop in a thread that has
  entered the namespace (``setns`` is per thread, and sockets keep the namespace they were
  created in).
"""
from __future__ import annotations

import asyncio
import ctypes
import os
import subprocess
import threading
from typing import Any, Awaitable, Callable, TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), check=check, capture_output=True, text=True)


def can_netns() -> str | None:
    """Why namespaces cannot be used here, or None."""
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    if sh("ip", "-V", check=False).returncode != 0:
        return "iproute2 (ip) missing"
    return None


class NetNs:
    """``ip netns`` namespace ``name`` (must start with ``tm``) with veth ``tm0`` = ``addr``."""

    def __init__(self, name: str, addr: str = "10.77.13.1", extra_addrs: tuple[str, ...] = ()) -> None:
        assert name.startswith("tm"), "membership tests use the tm prefix only"
        assert addr.startswith("10.77.13."), "membership tests use 10.77.13.0/24 only"
        self.name = name
        self.addr = addr
        self.extra_addrs = extra_addrs

    def __enter__(self) -> "NetNs":
        sh("ip", "netns", "del", self.name, check=False)  # leftover of a crashed run of ours
        sh("ip", "netns", "add", self.name)
        try:
            n = ("ip", "-n", self.name)
            sh("ip", "netns", "exec", self.name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
            sh(*n, "link", "set", "lo", "up")
            sh(*n, "link", "add", "tm0", "type", "veth", "peer", "name", "tm0p")
            sh(*n, "link", "set", "tm0p", "up")
            sh(*n, "link", "set", "tm0", "multicast", "on")
            sh(*n, "addr", "add", f"{self.addr}/24", "dev", "tm0")
            for a in self.extra_addrs:
                sh(*n, "addr", "add", f"{a}/24", "dev", "tm0")
            sh(*n, "link", "set", "tm0", "up")
            sh(*n, "route", "add", "224.0.0.0/4", "dev", "tm0")
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        sh("ip", "netns", "del", self.name, check=False)

    def __exit__(self, *exc: object) -> None:
        self.close()

    def exec(self, *args: str, **kw: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(["ip", "netns", "exec", self.name, *args], **kw)


def enter_netns(name: str) -> None:
    """Move the calling thread into namespace ``name``."""
    fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({name}): {os.strerror(err)}")
    finally:
        os.close(fd)


def run_in_netns(name: str, fn: Callable[[], Awaitable[T]], timeout: float = 300) -> T:
    """Run ``asyncio.run(fn())`` in a thread inside namespace ``name``; return its result."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            enter_netns(name)
            box["result"] = asyncio.run(fn())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            box["error"] = exc

    t = threading.Thread(target=target, name=f"netns-{name}", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise TimeoutError(f"code in namespace {name} did not finish within {timeout} s")
    if "error" in box:
        raise box["error"]
    return box["result"]


# ------------------------------------------------------------------------------------------------
# A Python node run as `tribes members ... --json` inside a lab host, with its events collected.
import json as _json
import signal as _signal
import time as _time


class PyNode:
    """``python -m tribes.cli.main members --json ...`` in a lab host; JSON lines collected."""

    def __init__(self, host: Any, args: list[str], join: bool = True) -> None:
        self.host = host
        cmd = ["-m", "tribes.cli.main", "-v", "members", "--bind", host.address, "--json"]
        if join:
            cmd.append("--join")
        self.proc = host.python(cmd + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                bufsize=1)
        self.events: list[dict[str, Any]] = []
        self.stderr_lines: list[str] = []
        self._cond = threading.Condition()
        self._eof = False
        self._t_out = threading.Thread(target=self._read_out, daemon=True)
        self._t_err = threading.Thread(target=self._read_err, daemon=True)
        self._t_out.start()
        self._t_err.start()
        self.local = self.wait_for("local", timeout=60)
        self.stopped_at: float | None = None

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                ev = _json.loads(line)
            except ValueError:
                continue
            ev["_t"] = _time.time()
            with self._cond:
                self.events.append(ev)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line.rstrip("\n"))

    @property
    def unique_id(self) -> str:
        return str(self.local["uniqueId"])

    def find(self, kind: str, pred: Callable[[dict[str, Any]], bool] | None = None) -> list[dict[str, Any]]:
        with self._cond:
            return [e for e in self.events if e.get("kind") == kind and (pred is None or pred(e))]

    def wait_for(self, kind: str, pred: Callable[[dict[str, Any]], bool] | None = None,
                 timeout: float = 30) -> dict[str, Any]:
        deadline = _time.monotonic() + timeout
        with self._cond:
            while True:
                for e in self.events:
                    if e.get("kind") == kind and (pred is None or pred(e)):
                        return e
                left = deadline - _time.monotonic()
                if self._eof or left <= 0:
                    raise AssertionError(f"python node on {self.host.ns}: no {kind!r} event within {timeout} s "
                                         f"(exited={self._eof}); events={self.events[-5:]}; "
                                         f"stderr={self.stderr_lines[-10:]}")
                self._cond.wait(min(left, 0.5))

    def member_event(self, event: str, address: str, timeout: float = 30) -> dict[str, Any]:
        return self.wait_for("member", lambda e: e["event"] == event and e["host"] == address, timeout)

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM: a clean stop (shutdown heartbeat)."""
        self.stopped_at = _time.time()
        self.proc.send_signal(_signal.SIGTERM)
        rc = self.proc.wait(timeout)
        self._t_out.join(5)
        return rc

    def kill(self) -> None:
        self.stopped_at = _time.time()
        self.proc.kill()
        self.proc.wait(10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def cpu_seconds(self) -> float:
        """user+system CPU time of the process so far (from /proc)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
