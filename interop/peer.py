"""Running the Java Tribes peer (interop/java/src/TribesPeer.java) inside a lab host.

    peer = JavaPeer.start(host, "echo", ["--interceptors", "TcpFailureDetector,MessageDispatchInterceptor"])
    peer.ready                                   # the "ready" event: host, port, uniqueId (hex), ...
    peer.wait_for("memberAdded", lambda e: e["host"] == "10.77.10.1", timeout=30)
    peer.command("send 10 1024 3")               # stdin command
    peer.close()

The peer's address and multicast interface are pinned to the host's address unless the caller
passes its own ``--address`` / ``--mcast-bind``.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
from typing import Any, Callable, Sequence

from interop import javatool
from interop.lab import Host

log = logging.getLogger("tribes.interop.peer")

# Full JIT (no TieredStopAtLevel): the peer is the Java side of benchmarks.
DEFAULT_JVM_OPTS = ("-Xms32m", "-Xmx256m", "-XX:+UseSerialGC")
Event = dict[str, Any]


PEER_SOURCE = os.path.join(javatool.JAVA_DIR, "src", "TribesPeer.java")


def peer_classpath(version: str | int = 10) -> str:
    """Compile TribesPeer.java alone (other helpers' sources cannot break it); returns the classpath.

    Output: interop/java/build/tomcat<v>/tribespeer (rebuilt when the source is newer).
    """
    why = javatool.missing_requirements(version)
    if why:
        raise PeerError(why)
    v = str(version).split(".")[0]
    jars = javatool.classpath(v)
    out = os.path.join(javatool.JAVA_DIR, "build", f"tomcat{v}", "tribespeer")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = os.path.join(out, ".stamp")
        if not os.path.exists(stamp) or os.path.getmtime(stamp) < os.path.getmtime(PEER_SOURCE):
            shutil.rmtree(out, ignore_errors=True)
            os.makedirs(out)
            res = subprocess.run(["javac", "-nowarn", "-encoding", "UTF-8", "--release", "17", "-d", out,
                                  "-cp", jars, PEER_SOURCE], capture_output=True, text=True)
            if res.returncode != 0:
                raise PeerError(f"TribesPeer.java does not compile for Tomcat {v}:\n{res.stderr}")
            open(stamp, "w").close()
    return f"{out}:{jars}"


def peer_command(mode: str = "member", args: Sequence[str] = (), version: str | int = 10,
                 jvm_opts: Sequence[str] = ()) -> list[str]:
    """The java command line of a TribesPeer (for running it yourself)."""
    return ["java", "-Djava.net.preferIPv4Stack=true", *jvm_opts, "-cp", peer_classpath(version),
            "TribesPeer", mode, *args]


class PeerError(RuntimeError):
    """The Java peer failed, exited or did not report in time (message carries its stderr tail)."""


class JavaPeer:
    """A running TribesPeer; JSON events are collected by a reader thread."""

    def __init__(self, host: Host, proc: subprocess.Popen[str], stderr_path: str) -> None:
        self.host = host
        self.proc = proc
        self.stderr_path = stderr_path
        self.events: list[Event] = []
        self.bad_lines: list[str] = []
        self._cond = threading.Condition()
        self._eof = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.ready: Event = {}

    @classmethod
    def start(cls, host: Host, mode: str = "member", args: Sequence[str] = (), version: str | int = 10,
              jvm_opts: Sequence[str] = DEFAULT_JVM_OPTS, ready_timeout: float = 60) -> "JavaPeer":
        args = list(args)
        if not any(a.split("=")[0] == "--address" for a in args):
            args += ["--address", host.address]
        if not any(a.split("=")[0] == "--mcast-bind" for a in args):
            args += ["--mcast-bind", host.address]
        cmd = peer_command(mode, args, version, jvm_opts)
        fd, stderr_path = tempfile.mkstemp(prefix=f"tribespeer-{host.ns}-", suffix=".log")
        with os.fdopen(fd, "w") as err:
            proc = host.popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                              text=True, bufsize=1)
        peer = cls(host, proc, stderr_path)
        try:
            peer.ready = peer.wait_for("ready", timeout=ready_timeout)
        except BaseException:
            peer.close()
            raise
        return peer

    # -- events -----------------------------------------------------------------------------------
    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                self.bad_lines.append(line)
                continue
            with self._cond:
                self.events.append(ev)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def mark(self) -> int:
        """Index to pass as `since` so a later wait only sees newer events."""
        with self._cond:
            return len(self.events)

    def find(self, name: str, pred: Callable[[Event], bool] | None = None, since: int = 0) -> list[Event]:
        with self._cond:
            return [e for e in self.events[since:] if e.get("event") == name and (pred is None or pred(e))]

    def wait_for(self, name: str, pred: Callable[[Event], bool] | None = None, timeout: float = 30,
                 since: int = 0) -> Event:
        """First event `name` (matching `pred`) at index >= `since`; PeerError after `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for e in self.events[since:]:
                    if e.get("event") == name and (pred is None or pred(e)):
                        return e
                    if e.get("event") == "error" and name != "error":
                        raise PeerError(f"Java peer reported an error: {e}\n{self.stderr_tail()}")
                left = deadline - time.monotonic()
                if self._eof or left <= 0:
                    why = "exited" if self._eof else f"no {name!r} event within {timeout} s"
                    raise PeerError(f"Java peer on {self.host.ns} {why}; events={self.events[-5:]}\n"
                                    f"{self.stderr_tail()}")
                self._cond.wait(min(left, 0.5))

    def wait_count(self, name: str, count: int, pred: Callable[[Event], bool] | None = None,
                   timeout: float = 30, since: int = 0) -> list[Event]:
        """Wait until `count` events `name` (matching `pred`) arrived at index >= `since`; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.find(name, pred, since)
            if len(found) >= count:
                return found
            left = deadline - time.monotonic()
            if left <= 0 or self._eof:
                raise PeerError(f"Java peer on {self.host.ns}: {len(found)} of {count} {name!r} events "
                                f"after {timeout} s\n{self.stderr_tail()}")
            with self._cond:
                self._cond.wait(min(left, 0.2))

    def wait_member(self, address: str, timeout: float = 30, since: int = 0) -> Event:
        return self.wait_for("memberAdded", lambda e: e.get("host") == address, timeout, since)

    def stderr_tail(self, n: int = 30) -> str:
        try:
            with open(self.stderr_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    # -- control ----------------------------------------------------------------------------------
    def command(self, line: str) -> None:
        """Send one stdin command: ``send N SIZE OPTIONS [host:port]``, ``members``, ``totals``, ``quit``."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.rstrip("\n") + "\n")
        self.proc.stdin.flush()

    def members(self, timeout: float = 10) -> list[Event]:
        since = self.mark()
        self.command("members")
        return self.wait_for("members", timeout=timeout, since=since)["members"]

    def kill(self) -> None:
        """kill -9 the JVM (the kernel still closes its sockets)."""
        self.host.kill(self.proc, sig=9, grace=5)

    def close(self, timeout: float = 15) -> int | None:
        """Ask the peer to quit (it stops its channel: members see a shutdown); kill if it hangs."""
        if self.proc.poll() is None:
            try:
                self.command("quit")
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            except (OSError, ValueError):
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.host.kill(self.proc)
        self._reader.join(5)
        if self.proc.returncode == 0:
            with contextlib.suppress(OSError):
                os.unlink(self.stderr_path)
        return self.proc.returncode
