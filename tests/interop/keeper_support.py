"""Helpers of the keeper interop tests: ``tribes keeper`` as a process in a lab host, store queries."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from typing import Any, Callable, Sequence

from interop.lab import Host


class KeeperProcess:
    """``tribes -v keeper --json`` running in ``host``; its JSON lines and stderr are collected."""

    def __init__(self, host: Host, store: str, args: Sequence[str] = (), ready_timeout: float = 120) -> None:
        self.host = host
        self.store = store
        cmd = ["-m", "tribes.cli.main", "-v", "keeper", "--bind", host.address, "--store", store,
               "--jvm-route", "keep1", "--context", "/app", "--json", *args]
        self.proc: subprocess.Popen[str] = host.python(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                       text=True, bufsize=1)
        self.events: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        self._cv = threading.Condition()
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()
        self.ready = self.wait_event("ready", timeout=ready_timeout)

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            with self._cv:
                self.events.append(obj)
                self._cv.notify_all()

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cv:
                self.stderr.append(line.rstrip())
                self._cv.notify_all()

    def log_tail(self, n: int = 40) -> str:
        with self._cv:
            return "\n".join(self.stderr[-n:])

    def wait_event(self, kind: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for e in self.events:
                    if e.get("kind") == kind:
                        return e
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"keeper: no {kind} after {timeout} s (exit {self.proc.poll()}):\n"
                                         f"{self.log_tail()}")
                self._cv.wait(min(left, 0.5))

    def wait_log(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for line in self.stderr:
                    if text in line:
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"keeper: no log line with {text!r} after {timeout} s:\n{self.log_tail()}")
                self._cv.wait(min(left, 0.5))

    def terminate(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def kill9(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def stored_ids(store: str) -> set[str]:
    """Session ids in the keeper's store, read as another process would (WAL: committed rows only)."""
    if not os.path.exists(store):
        return set()
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=10)
    try:
        return {r[0] for r in db.execute("SELECT id FROM sessions")}
    except sqlite3.OperationalError:
        return set()
    finally:
        db.close()


def wait_until(pred: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached after {timeout} s")
        time.sleep(interval)
