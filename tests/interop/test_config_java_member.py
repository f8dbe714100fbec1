"""The classic walkthrough server.xml, loaded and built by tribes.config, joins a real Java Tribes member
(interop/java/src/TribesPeer.java, Tomcat 10.1 and 9.0 jars) and exchanges messages with it.

Loopback only (no namespace needed): both sides bind membership to 127.0.0.1 with multicast TTL 0
on a random multicast port, receivers on 127.0.0.1.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import queue
import socket
import subprocess
import threading
import time
from typing import Any

import pytest

from interop import javatool
from interop.peer import DEFAULT_JVM_OPTS, peer_command
from tribes.config import load
from tribes.config.build import build_channel

pytestmark = pytest.mark.interop

WALKTHROUGH = os.path.join(os.path.dirname(__file__), "..", "fixtures", "config", "walkthrough-server.xml")


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LoopbackPeer:
    """A TribesPeer on 127.0.0.1; events read by a thread into a queue."""

    def __init__(self, version: int, mcast_port: int, rx_port: int) -> None:
        cmd = peer_command("member", [
            "--mcast-address", "228.0.0.4", "--mcast-port", str(mcast_port), "--mcast-bind", "127.0.0.1",
            "--ttl", "0", "--address", "127.0.0.1", "--port", str(rx_port), "--frequency", "500",
            "--drop-time", "3000", "--interceptors", "TcpFailureDetector,MessageDispatchInterceptor"],
            version, DEFAULT_JVM_OPTS)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.strip()
            if line.startswith("{"):
                self.events.put(json.loads(line))

    def wait_for(self, name: str, predicate: Any = lambda e: True, timeout: float = 60) -> dict[str, Any]:
        for event in self.seen:
            if event["event"] == name and predicate(event):
                return event
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                event = self.events.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.seen.append(event)
            if event["event"] == name and predicate(event):
                return event
        err = self.proc.stderr.read()[-2000:] if self.proc.poll() is not None and self.proc.stderr else ""
        raise AssertionError(f"no {name!r} event from the Java peer within {timeout}s; saw "
                             f"{[e['event'] for e in self.seen]} {err}")

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=15)
            except Exception:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("version", [10, 9])
def test_walkthrough_config_joins_a_java_member(version: int) -> None:
    why = javatool.missing_requirements(version)
    if why:
        pytest.skip(why)
    from tribes.group import ByteMessage

    mcast_port = _free_port(socket.SOCK_DGRAM)
    java_rx, py_rx = _free_port(socket.SOCK_STREAM), _free_port(socket.SOCK_STREAM)
    cfg = load(WALKTHROUGH, strict=True).with_overrides(bind="127.0.0.1", receiver_port=py_rx,
                                                        mcast_port=mcast_port, jvm_route="py1")
    cfg.channel.membership.set("ttl", 0)  # loopback only
    peer = LoopbackPeer(version, mcast_port, java_rx)
    try:
        ready = peer.wait_for("ready", timeout=90)
        assert ready["port"] == java_rx

        async def scenario() -> None:
            channel = build_channel(cfg)
            got: list[bytes] = []

            class Listener:
                def accept(self, msg: Any, sender: Any) -> bool:
                    return True

                def message_received(self, msg: Any, sender: Any) -> None:
                    got.append(bytes(getattr(msg, "message", b"")))

            channel.add_channel_listener(Listener())
            await channel.start()
            try:
                # the Java member sees us (host and port from the overrides) ...
                added = await asyncio.to_thread(peer.wait_for, "memberAdded",
                                                lambda e: e["port"] == py_rx and e["host"] == "127.0.0.1", 60)
                assert added["uniqueId"] == channel.local_member.unique_id.hex()
                # ... and we see it
                for _ in range(600):
                    if any(m.port == java_rx for m in channel.members()):
                        break
                    await asyncio.sleep(0.1)
                java = [m for m in channel.members() if m.port == java_rx]
                assert java, f"the Java member did not appear: {channel.members()}"
                payload = b"walkthrough config says hello"
                await channel.send(java, ByteMessage(payload), cfg.get("channelSendOptions") | 2)
                event = await asyncio.to_thread(peer.wait_for, "message", lambda e: e["sender"]["port"] == py_rx, 60)
                assert event["sha256"] == hashlib.sha256(payload).hexdigest()
            finally:
                await channel.stop()

        asyncio.run(scenario())
    finally:
        peer.close()
