"""`tribes join --config walkthrough-server.xml`, `tribes send` and `tribes bench` in a namespace lab
(`td`, 10.77.16.0/24) with a real Tomcat 10.1 node.

- the classic walkthrough server.xml (tests/fixtures/config) with `--bind`/`--jvm-route` overrides runs a
  Python DeltaManager member that joins the Tomcat cluster and receives a session made over HTTP;
- `tribes send` from a third host reaches both (acknowledged by the real Tomcat receiver too);
- `tribes bench` measures against both and reports no failure per member; a message to a member that
  is gone is reported as failed for that member (exit 1).
"""
from __future__ import annotations

import json
import os
import subprocess
from typing import Any, Callable

import pytest

from interop.fixtures import require_root_and_java
from interop.lab import Lab
from tribes.demo import PyNode, join_args

pytestmark = pytest.mark.interop

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WALKTHROUGH = os.path.join(ROOT, "tests", "fixtures", "config", "walkthrough-server.xml")


@pytest.fixture(scope="module")
def bed(lab_factory: Callable[..., Lab], tomcat_cluster: Callable[..., Any]) -> Any:
    require_root_and_java(10, tomcat=True)
    from interop.tomcat.node import FAST_START_OPTS
    lab = lab_factory("td", "10.77.16")
    cluster = tomcat_cluster(lab, 1, version="10", jvm_opts=FAST_START_OPTS)
    py = lab.add_host("py", index=50)
    proc = py.python(join_args(WALKTHROUGH, py.address, "py1"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                     text=True)
    node = PyNode("py1", proc)
    assert node.wait(lambda x: x.ready is not None, 60), node.last_error()
    yield {"lab": lab, "tomcat": cluster.nodes[0], "py": py, "node": node, "client": lab.add_host("cli", index=60)}
    node.terminate(10)


def _tribes(bed: Any, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    host = bed["client"]
    proc = host.python(["-m", "tribes.cli.main", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_walkthrough_server_xml_joins_the_tomcat_cluster_and_gets_sessions(bed: Any) -> None:
    from interop.tomcat.node import Browser
    node, tomcat, py = bed["node"], bed["tomcat"], bed["py"]
    assert node.ready["host"] == py.address and node.ready["port"] == 4000 and node.ready["jvmRoute"] == "py1"
    assert node.ready["sessions"] is True
    assert node.wait(lambda x: tomcat.address in {m["host"] for m in x.members.values()}, 30)
    b = Browser(bed["lab"])
    r = b.get(tomcat, "/app/set", {"name": "who", "value": "walkthrough"})
    assert r.status == 200, r.body
    sid = r.json()["id"]
    assert node.wait(lambda x: sid in x.sessions.get("/app", set()), 30), node.last_error()


def test_send_reaches_tomcat_and_the_python_node_with_ack(bed: Any) -> None:
    tomcat, py = bed["tomcat"], bed["py"]
    client = bed["client"]
    res = _tribes(bed, "send", "hello from tribes send", "--config", WALKTHROUGH, "--bind", client.address,
                  "--members", "2", "--json")
    assert res.returncode == 0, res.stderr
    lines = _lines(res.stdout)
    sent = {o["member"]["host"]: o for o in lines if o["kind"] == "send"}
    assert set(sent) == {tomcat.address, py.address}
    assert all(o["ok"] and o["acked"] for o in sent.values())
    assert bed["node"].wait(lambda x: any(m.get("size") == len(b"hello from tribes send") and m["sender"]["host"]
                                          == client.address for m in x.messages), 20)
    # one member only, by address, human output
    res = _tribes(bed, "send", "just tomcat", "--to", f"{tomcat.address}:4000", "--config", WALKTHROUGH,
                  "--bind", client.address)
    assert res.returncode == 0, res.stderr
    assert f"{tomcat.address}:4000" in res.stdout and "1/1 acknowledged" in res.stdout


def test_bench_against_tomcat_and_python(bed: Any) -> None:
    client = bed["client"]
    res = _tribes(bed, "bench", "--count", "500", "--size", "1024", "--members", "2", "--json", "--bind",
                  client.address, "--config", WALKTHROUGH)
    assert res.returncode == 0, res.stderr
    b = _lines(res.stdout)[-1]
    assert b["kind"] == "bench" and b["ok"] == 500 and b["failed"] == 0 and b["members"] == 2
    assert {p["member"]["host"] for p in b["perMember"]} == {bed["tomcat"].address, bed["py"].address}
    assert all(p["failed"] == 0 for p in b["perMember"])
    assert b["msgs_per_s"] > 0 and b["mb_per_s"] > 0
    print(f"\nbench vs Tomcat 10.1 + Python node: {b['msgs_per_s']} msgs/s, {b['mb_per_s']} MB/s "
          f"(500 x 1 KiB to 2 members, acked, concurrency {b['concurrency']})")


def test_send_to_a_gone_member_is_a_per_member_failure(bed: Any) -> None:
    client = bed["client"]
    # nothing listens on port 4999 of the Tomcat host: the member fails, the exit code says so
    res = _tribes(bed, "send", "x", "--direct", "--to", f"{bed['tomcat'].address}:4999", "--json", "--bind",
                  client.address, "--config", WALKTHROUGH)
    assert res.returncode == 1, res.stderr
    line = _lines(res.stdout)[0]
    assert line["ok"] is False and line["failed"] == 1 and line["errors"]


def test_bench_next_to_the_java_sender(bed: Any, java_peer: Callable[..., Any]) -> None:
    """The same load (500 x 1 KiB, options 3, to both members, one send at a time) from `tribes bench`
    and from the Java Tribes peer (TribesPeer send mode), in the same run: a ratio, printed."""
    client = bed["client"]
    res = _tribes(bed, "bench", "--count", "500", "--size", "1024", "--members", "2", "--concurrency", "1",
                  "--options", "3", "--json", "--bind", client.address, "--config", WALKTHROUGH)
    assert res.returncode == 0, res.stderr
    py = _lines(res.stdout)[-1]
    assert py["ok"] == 500 and py["members"] == 2
    peer = java_peer(client, "send", ["--count", "500", "--size", "1024", "--options", "3", "--to", "all",
                                      "--wait-members", "2", "--wait-timeout", "30"])
    done = peer.wait_for("sendDone", timeout=120)
    assert done["messages"] == 500 and len(done["destinations"]) == 2
    ratio = py["msgs_per_s"] / done["msgs_per_s"]
    print(f"\n500 x 1 KiB, USE_ACK, to Tomcat 10.1 + Python node, sequential: tribes bench {py['msgs_per_s']:.0f} "
          f"msgs/s, Java TribesPeer {done['msgs_per_s']:.0f} msgs/s (Python/Java = {ratio:.2f})")
    assert py["msgs_per_s"] > 0 and done["msgs_per_s"] > 0
