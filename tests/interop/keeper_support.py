"""Helpers of the keeper interop tests: ``tribes keeper`` as a process in a lab host, store queries."""
from __future__ import annotations

import os
import sqlite3
import time
from typing import Callable, Sequence

from interop.lab import Host
from tests.interop.jsonproc import JsonLineProcess


class KeeperProcess(JsonLineProcess):
    """``tribes -v keeper --json`` running in ``host``; its JSON lines and stderr are collected."""

    label = "keeper"

    def __init__(self, host: Host, store: str, args: Sequence[str] = (), ready_timeout: float = 120) -> None:
        self.store = store
        super().__init__(host, ["-m", "tribes.cli.main", "-v", "keeper", "--bind", host.address, "--store", store,
                                "--jvm-route", "keep1", "--context", "/app", "--json", *args])
        self.ready = self.wait_event("ready", timeout=ready_timeout)


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
