"""Hostile-peer scenarios in a namespace lab, shared by tests/interop/test_transport_hostile.py and
bench/bench_hostile.py: a receiver (the Python node, or Java TribesPeer as the anchor), a well-behaved
Java sender (TribesPeer) that sends one 1 KiB message with USE_ACK at a time and reports how long each
took, and an attacker process (tests/interop/hostile_attacker.py) in its own namespace.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from interop.lab import Host, Lab
from interop.peer import JavaPeer, PeerError
from tests.interop.channel_support import start_pypeer, start_tribes_peer

HERE = os.path.dirname(os.path.abspath(__file__))
ATTACKER = os.path.join(HERE, "hostile_attacker.py")
ATTACKS = ("idle", "noack", "headers", "endless")
MCAST = ["--mcast-port", "45690"]


@dataclass
class Bed:
    lab: Lab
    sender_host: Host
    attacker_host: Host
    sender: JavaPeer
    receivers: dict[str, tuple[Host, JavaPeer]] = field(default_factory=dict)

    def dest(self, kind: str) -> str:
        host, peer = self.receivers[kind]
        return f"{host.address}:{peer.ready['port']}"


def make_bed(lab: Lab, kinds: tuple[str, ...] = ("python",), cap_mib: int = 64, version: int = 10,
             base: int = 60, partial_frame_timeout_ms: int | None = 3000) -> Bed:
    """Receivers of the given kinds ("python", "java"), the Java sender and the attacker host."""
    hs = lab.add_host("snd", index=base)
    ha = lab.add_host("evil", index=base + 1)
    receivers: dict[str, tuple[Host, JavaPeer]] = {}
    for i, kind in enumerate(kinds):
        h = lab.add_host(f"rx{kind[:2]}", index=base + 2 + i)
        if kind == "python":
            props = ["--receiver-prop", f"maxTotalBuffer={cap_mib * 1024 * 1024}"]
            if partial_frame_timeout_ms is not None:
                props += ["--receiver-prop", f"partialFrameTimeout={partial_frame_timeout_ms}"]
            peer = start_pypeer(h, "member", MCAST + ["--quiet-messages", *props])
        else:
            peer = start_tribes_peer(h, "member", MCAST + ["--quiet-messages"], version=version)
        receivers[kind] = (h, peer)
    sender = start_tribes_peer(hs, "member", MCAST + ["--quiet-messages"], version=version)
    for h, _ in receivers.values():
        sender.wait_member(h.address, timeout=60)
    return Bed(lab, hs, ha, sender, receivers)


def close_bed(bed: Bed) -> None:
    bed.sender.close()
    for _, peer in bed.receivers.values():
        peer.close()


def rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def ack_latencies(bed: Bed, kind: str, seconds: float, gap: float = 0.05) -> tuple[list[float], list[str]]:
    """Send one 1 KiB BYTE|USE_ACK message at a time for ``seconds``; seconds per send, and errors."""
    dest = bed.dest(kind)
    lat: list[float] = []
    errors: list[str] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        m = bed.sender.mark()
        bed.sender.command(f"send 1 1024 3 {dest}")
        try:
            done = bed.sender.wait_for("sendDone", since=m, timeout=30)
            lat.append(float(done["seconds"]))
        except PeerError as exc:
            errors.append(str(exc)[:200])
        time.sleep(gap)
    return lat, errors


def run_attack(bed: Bed, kind: str, attack: str | None, seconds: float) -> dict[str, Any]:
    """The well-behaved sender's ACK latencies while ``attack`` runs (None: a quiet run) and the
    receiver's peak RSS."""
    host, peer = bed.receivers[kind]
    proc: subprocess.Popen[str] | None = None
    if attack is not None:
        proc = bed.attacker_host.python([ATTACKER, attack, host.address, str(peer.ready["port"]), str(seconds)],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        time.sleep(0.5)  # let it open its connections first
    peak = [0.0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mib(peer.proc.pid))
            time.sleep(0.1)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        lat, errors = ack_latencies(bed, kind, seconds)
        result: dict[str, Any] = {}
        if proc is not None:
            out, _ = proc.communicate(timeout=seconds + 60)
            for line in out.splitlines():
                if line.startswith("{"):
                    result = json.loads(line)
    finally:
        stop.set()
        t.join()
        if proc is not None and proc.poll() is None:
            bed.attacker_host.kill(proc)
    # afterwards: the receiver still takes messages (the node recovers by itself)
    after, after_errors = ack_latencies(bed, kind, 1.0)
    return {"kind": kind, "attack": attack or "quiet", "latencies": lat, "errors": errors,
            "after_ok": len(after) > 0 and not after_errors, "peak_rss_mib": peak[0], "attacker": result}


def summary(lat: list[float]) -> dict[str, float]:
    if not lat:
        return {"n": 0, "p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    s = sorted(lat)
    return {"n": len(s), "p50_ms": s[len(s) // 2] * 1000, "p99_ms": s[min(len(s) - 1, int(len(s) * 0.99))] * 1000,
            "max_ms": s[-1] * 1000}


def python_executable() -> str:
    return sys.executable
