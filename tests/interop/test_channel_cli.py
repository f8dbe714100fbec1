"""``tribes join`` as a full member next to a Java Tribes peer, and three Python nodes together."""
from __future__ import annotations

import json
import subprocess
import time
from typing import Callable

import pytest

from interop.fixtures import require_root_and_java
from interop.lab import Lab
from tests.interop.channel_support import start_pypeer, start_tribes_peer

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def lab(lab_factory: Callable[..., Lab]) -> Lab:
    require_root_and_java(10)
    return lab_factory("tn", "10.77.14")


@pytest.mark.parametrize("version", [10, 9])
def test_tribes_join_receives_from_java(lab: Lab, version: int) -> None:
    require_root_and_java(version)
    base = 230 if version == 10 else 235
    hj = lab.add_host(f"cj{version}", index=base)
    hp = lab.add_host(f"cp{version}", index=base + 1)
    port = str(46300 + version)
    jp = start_tribes_peer(hj, "member", ["--mcast-port", port], version=version)
    proc = hp.python(["-m", "tribes.cli.main", "join", "--bind", hp.address, "--mcast-port", port,
                      "--receiver-port", "4100", "--duration", "10", "--json"],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        jp.wait_member(hp.address, timeout=30)
        jp.command(f"send 10 1000 3 {hp.address}:4100")
        jp.command(f"send 2 50 2 {hp.address}:4100")  # Java byte[] values
        jp.wait_for("sendDone", timeout=30)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        jp.close()
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert all(list(obj)[0] == "kind" for obj in lines)
    kinds = [obj["kind"] for obj in lines]
    assert kinds.count("ready") == 1 and kinds[-1] == "summary"  # member events may precede "ready"
    assert any(o["kind"] == "member" and o["event"] == "added" and o["host"] == hj.address for o in lines)
    msgs = [o for o in lines if o["kind"] == "message"]
    assert len(msgs) == 12
    assert [m["options"] for m in msgs].count(3) == 10 and all(m["sender"]["host"] == hj.address for m in msgs)
    assert {m["size"] for m in msgs if m["options"] == 3} == {1000}
    assert lines[-1]["messages"] == 12 and lines[-1]["msgs_per_s"] > 0
    ready = lines[kinds.index("ready")]
    assert ready["port"] == 4100 and ready["host"] == hp.address


def test_three_python_nodes_mesh(lab: Lab) -> None:
    hosts = [lab.add_host(f"m{i}", index=240 + i) for i in range(3)]
    mcast = ["--mcast-port", "46400"]
    peers = [start_pypeer(h, "member", mcast + ["--quiet-messages"]) for h in hosts]
    try:
        for p in peers:
            for h in hosts:
                if h.address != p.ready["host"]:
                    p.wait_member(h.address, timeout=30)
        marks = [p.mark() for p in peers]
        for p, opts in zip(peers, (3, 7, 9)):
            p.command(f"integrity 300 16 20000 {opts} {peers.index(p) + 1} all")
        for p, m in zip(peers, marks):
            assert p.wait_for("sendDone", since=m, timeout=60)["errors"] == 0
        for p in peers:
            deadline = time.monotonic() + 30
            while True:
                m = p.mark()
                p.command("totals")
                t = p.wait_for("totals", since=m)
                if t["messages"] >= 600 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert t["messages"] == 600 and t["corrupt"] == 0 and t["duplicates"] == 0
            assert sum(s["distinct"] for s in t["senders"].values()) == 600
    finally:
        for p in peers:
            p.close()
