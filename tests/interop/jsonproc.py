"""A Python process in a lab host that speaks JSON lines: the one base of the tests' process wrappers.

It prints one JSON object per line on stdout (events, and answers to calls that carry their ``rid``) and
logs on stderr; calls go to its stdin as ``{"op": ..., "rid": ...}``. Events are told apart by
``event_key`` (``"kind"`` for the ``tribes ... --json`` commands, ``"event"`` for the test drivers).
"""
from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from typing import Any, Callable, Mapping, Sequence

from interop.lab import Host


class JsonLineProcess:
    """``host.python(args)`` with its JSON-line events collected, its stderr kept, calls answered by rid."""

    event_key = "kind"
    label = "process"
    #: what a timeout, an early exit or a failed call raises
    error: type[Exception] = AssertionError

    def __init__(self, host: Host, args: Sequence[str], *, env: Mapping[str, str] | None = None,
                 stdin: bool = False) -> None:
        self.host = host
        self.proc: subprocess.Popen[str] = host.python(
            list(args), env=dict(env) if env is not None else None,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, bufsize=1)
        self.events: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        self._answers: dict[Any, dict[str, Any]] = {}
        self._rid = 0
        self._cv = threading.Condition()
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    # -- reading --------------------------------------------------------------------------------
    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            with self._cv:
                if obj.get("rid") is not None:
                    self._answers[obj["rid"]] = obj
                else:
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

    def _wait(self, found: Callable[[], Any], what: str, timeout: float, stop_on_exit: bool = True) -> Any:
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                got = found()
                if got is not None:
                    return got
                left = deadline - time.monotonic()
                if left <= 0 or (stop_on_exit and self.proc.poll() is not None):
                    raise self.error(f"{self.label}: {what} after {timeout} s (exit {self.proc.poll()}):\n"
                                     f"{self.log_tail()}")
                self._cv.wait(min(left, 0.5))

    def wait_event(self, name: str, pred: Callable[[dict[str, Any]], bool] = lambda e: True,
                   timeout: float = 60) -> dict[str, Any]:
        """The first event called ``name`` for which ``pred`` holds (raises on timeout or exit)."""
        key = self.event_key
        return self._wait(lambda: next((e for e in self.events if e.get(key) == name and pred(e)), None),
                          f"no {name}", timeout)  # type: ignore[no-any-return]

    def wait_log(self, text: str, timeout: float = 30) -> str:
        """The first stderr line containing ``text``."""
        return self._wait(lambda: next((x for x in self.stderr if text in x), None),  # type: ignore[no-any-return]
                          f"no log line with {text!r}", timeout, stop_on_exit=False)

    # -- calling --------------------------------------------------------------------------------
    def call(self, op: str, timeout: float = 120, check: bool = True, **kw: Any) -> dict[str, Any]:
        """Send ``{"op": op, "rid": n, **kw}`` and wait for its answer (``ok`` false raises, with ``check``)."""
        with self._cv:
            self._rid += 1
            rid = self._rid
        assert self.proc.stdin is not None, f"{self.label} was started without stdin"
        self.proc.stdin.write(json.dumps({"op": op, "rid": rid, **kw}) + "\n")
        self.proc.stdin.flush()
        ans: dict[str, Any] = self._wait(lambda: self._answers.pop(rid, None), f"no answer to {op}", timeout)
        if check and not ans.get("ok"):
            raise self.error(f"{self.label}: {op} failed: {ans.get('error')}\n{self.log_tail(15)}")
        return ans

    # -- ending ---------------------------------------------------------------------------------
    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM (a graceful leave), kill -9 after ``timeout``; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return int(self.proc.returncode)

    def kill9(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def quit(self, timeout: float = 15) -> None:
        """Ask a driver to leave (op ``quit``), then make sure it is gone."""
        if self.proc.poll() is None:
            try:
                self.call("quit", timeout=20, check=False)
            except Exception:  # noqa: BLE001 - it may be gone already
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.host.kill(self.proc)
