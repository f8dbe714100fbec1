"""The fault matrix and the soak (issue 19, must-show 3 full matrix and 5), ``slow`` tier.

* ``test_fault_matrix``: each fault alone and all together (loss 5 %, duplication 5 %, tbf, loss +
  duplication + tbf at 10 %) under continuous HTTP updates with channelSendOptions 6: no
  acknowledged update missing on the Python node, no membership flap beyond Tomcat's own.
* ``test_soak``: a mixed cluster (2 Tomcat 10.1 + the Python node) under continuous HTTP updates,
  new sessions with a short max-inactive interval (so sessions expire all along), a junk sender
  attached to the Python node, and a kill -9 of a random Tomcat node every
  ``TRIBES_SOAK_KILL_EVERY`` seconds (default 180; it restarts at once). Runs
  ``TRIBES_SOAK_SECONDS`` (default 1800 = 30 min). 0 acknowledged updates lost; the Python node's
  RSS and open file descriptors flat after warm-up (the first fifth of the run). The figures are
  printed (run with ``-s``).

    TRIBES_SOAK_SECONDS=300 TRIBES_SOAK_KILL_EVERY=60 sudo python3 -m pytest -m slow -s \\
        tests/interop/test_faults_soak.py
"""
from __future__ import annotations

import os
import random
import statistics
import threading
import time
from typing import Any

import pytest

from interop.fixtures import require_root_and_java
from interop.lab import Lab, missing_requirements
from interop.tomcat.node import FAST_START_OPTS, Browser, TomcatCluster
from tests.interop import faults_support as fs
from tests.interop.sessions_support import inject

pytestmark = [pytest.mark.interop, pytest.mark.slow]

SOAK_SECONDS = float(os.environ.get("TRIBES_SOAK_SECONDS", "1800"))
KILL_EVERY = float(os.environ.get("TRIBES_SOAK_KILL_EVERY", "180"))


def _requirements() -> None:
    why = missing_requirements() or fs.missing_tools()
    if why:
        pytest.skip(f"interop bed unavailable: {why}")
    require_root_and_java(10, tomcat=True)


def _missing(py: Any, acked: list[fs.Update]) -> list[fs.Update]:
    seen = fs.py_seen(py)
    return [u for u in acked if u.value not in seen.get(u.sid.split(".", 1)[0], set())]


@pytest.mark.timeout(1800)
def test_fault_matrix() -> None:
    _requirements()
    matrix = [("loss 5 %", dict(loss=5, dup=0, rate=None)), ("duplication 5 %", dict(loss=0, dup=5, rate=None)),
              ("tbf 2mbit", dict(loss=0, dup=0, rate="2mbit")),
              ("loss+dup 10 %, tbf 2mbit", dict(loss=10, dup=10, rate="2mbit"))]
    with Lab("ftmatrix", fs.SUBNET) as lab:
        cluster = TomcatCluster(lab, version="10", channel_send_options="6", jvm_opts=FAST_START_OPTS)
        try:
            cluster.start(2)
            py = fs.start_python(lab, 6)
            try:
                fs.wait_joined(py, cluster)
                t1, t2 = cluster.nodes
                hosts = [t1.host, t2.host, py.host]
                results = []
                for name, kw in matrix:
                    up = fs.Updater(lab)
                    for node, other in ((t1, t2), (t2, t1)):
                        sid = up.add_user(node, [other])
                        py.wait_session("/app", sid)
                    flaps0 = (fs.py_flaps(py), fs.tomcat_flaps(t1), fs.tomcat_flaps(t2))
                    fs.faults_on(hosts, **kw)  # type: ignore[arg-type]
                    try:
                        up.start(0.02)
                        time.sleep(60)
                        up.stop()
                    finally:
                        fs.faults_off(hosts)
                    time.sleep(5)
                    acked, excused = up.acked({t.jvm_route: fs.tomcat_send_failures(t) for t in (t1, t2)})
                    flaps = (fs.py_flaps(py) - flaps0[0], fs.tomcat_flaps(t1) - flaps0[1],
                             fs.tomcat_flaps(t2) - flaps0[2])
                    missing = _missing(py, acked)
                    results.append((name, len(up.updates), len(acked), len(excused), len(missing), flaps))
                    print(f"\n{name}: {len(up.updates)} updates, {len(acked)} acked, {len(excused)} excused, "
                          f"python missing {len(missing)}, flaps python/tomcat1/tomcat2 {flaps}")
                    fs.wait_joined(py, cluster)
                for name, _n, _a, _e, missing_n, flaps in results:
                    assert missing_n == 0, name
                    assert flaps[0] <= max(flaps[1], flaps[2]), (name, flaps)
            finally:
                py.close()
        finally:
            cluster.stop()


JUNK = [b"\x00" * 64, os.urandom(300), b"\xac\xed\x00\x05" + os.urandom(200), b"\xac\xed\x00\x05t\x00\x03abc"]


@pytest.mark.timeout(int(SOAK_SECONDS) + 900)
def test_soak() -> None:
    _requirements()
    rnd = random.Random(1919)
    with Lab("ftsoak", fs.SUBNET) as lab:
        cluster = TomcatCluster(lab, version="10", channel_send_options="6", jvm_opts=FAST_START_OPTS)
        try:
            cluster.start(2)
            py = fs.start_python(lab, 6)
            try:
                fs.wait_joined(py, cluster)
                t1, t2 = cluster.nodes
                junk_host = lab.add_host("junk", index=60)
                stop = threading.Event()
                junk_sent = [0]

                def junk() -> None:
                    while not stop.is_set():
                        try:
                            junk_sent[0] += inject(junk_host, py.host.address, JUNK, options=2)
                        except Exception:  # noqa: BLE001 - the junk sender itself may fail; it retries
                            pass
                        stop.wait(1.0)

                created = [0]

                def creator() -> None:   # new sessions that expire (max inactive 20 s) all along
                    while not stop.is_set():
                        node = rnd.choice(cluster.running() or [t1])
                        b = Browser(lab)
                        r = b.get(node, "/app/set", {"name": "n", "type": "int", "value": "1"}, timeout=10)
                        if r.status == 200:
                            b.get(node, "/app/maxinactive", {"seconds": "20"}, timeout=10)
                            created[0] += 1
                        stop.wait(2.0)

                up = fs.Updater(lab)
                for node, other in ((t1, t2), (t2, t1)):
                    sid = up.add_user(node, [other])
                    py.wait_session("/app", sid)
                up.start(0.05)
                threads = [threading.Thread(target=f, daemon=True) for f in (junk, creator)]
                for th in threads:
                    th.start()
                samples: list[tuple[float, int, int]] = []
                kills: list[str] = []
                t0 = time.monotonic()
                next_kill = t0 + KILL_EVERY
                while time.monotonic() - t0 < SOAK_SECONDS:
                    samples.append((time.monotonic() - t0, *fs.proc_stats(py.proc.pid)))
                    if time.monotonic() >= next_kill:
                        victim = rnd.choice(cluster.nodes)
                        victim.kill()
                        kills.append(victim.jvm_route)
                        victim.start(timeout=180)
                        next_kill = time.monotonic() + KILL_EVERY
                    time.sleep(5)
                up.stop()
                stop.set()
                for th in threads:
                    th.join(30)
                time.sleep(5)
                acked, excused = up.acked({t.jvm_route: fs.tomcat_send_failures(t) for t in cluster.nodes})
                missing = _missing(py, acked)
                warm = [s for s in samples if s[0] >= SOAK_SECONDS / 5]
                first, last = warm[: max(1, len(warm) // 3)], warm[-max(1, len(warm) // 3):]
                rss0, rss1 = statistics.median(s[1] for s in first), statistics.median(s[1] for s in last)
                fd0, fd1 = statistics.median(s[2] for s in first), statistics.median(s[2] for s in last)
                stats = py.call("stats")
                print(f"\nsoak {SOAK_SECONDS:.0f} s, kill -9 every {KILL_EVERY:.0f} s ({kills}): "
                      f"{len(up.updates)} updates, {len(acked)} acknowledged, {len(excused)} excused, python missing "
                      f"{len(missing)}; {created[0]} short-lived sessions created; {junk_sent[0]} junk frames ACKed; "
                      f"python RSS after warm-up {rss0 / 1024:.1f} -> {rss1 / 1024:.1f} MiB (max "
                      f"{max(s[1] for s in samples) / 1024:.1f}), fds {fd0:.0f} -> {fd1:.0f} (max "
                      f"{max(s[2] for s in samples)}); bad messages {stats['bad_messages']}")
                assert missing == [], missing[:10]
                assert rss1 <= rss0 + 64 * 1024, (rss0, rss1)
                assert fd1 <= fd0 + 10, (fd0, fd1)
            finally:
                py.close()
        finally:
            cluster.stop()


@pytest.mark.timeout(900)
def test_partition_tomcat_only_cluster() -> None:
    """Must-show 4's reference: the same split {tomcat1} | {tomcat2, tomcat3} of a Tomcat-only
    cluster (tomcat3 where the Python node was), the same session changed on both sides; which copy
    each Tomcat node ends with (test_faults_lab.py::test_4_partition_and_heal is the mixed run)."""
    _requirements()
    with Lab("ftponly", fs.SUBNET) as lab:
        cluster = TomcatCluster(lab, version="10", channel_send_options="6", jvm_opts=FAST_START_OPTS)
        try:
            cluster.start(3)
            t1, t2, t3 = cluster.nodes
            b = Browser(lab)
            sid = b.new_session(t1, [t2, t3])
            b.get(t1, "/app/set", {"name": "counter", "type": "int", "value": "1"})
            for t in (t2, t3):
                t.wait_session(sid, ["counter"])
            fs.partition(lab, [t1.host], [t2.host, t3.host])
            e_split = time.time()
            t_split = time.monotonic()
            try:
                fs.wait_until(lambda: t1.address not in t2.members_from_log() and t1.address not in t3.members_from_log()
                              and not ({t2.address, t3.address} & t1.members_from_log()), 30)
                b.get(t1, "/app/set", {"name": "counter", "type": "int", "value": "100"})
                b2 = Browser(lab)
                b2.cookies = dict(b.cookies)
                b2.get(t2, "/app/set", {"name": "counter", "type": "int", "value": "200"})
                time.sleep(max(0.0, 30 - (time.monotonic() - t_split)))
            finally:
                fs.heal(lab)
            e_heal = time.time()
            fs.wait_until(lambda: all(len(t.members_from_log()) == 2 for t in (t1, t2, t3)), 60)
            time.sleep(2)
            ev = {t.jvm_route: fs.tomcat_member_events(t) for t in (t1, t2, t3)}
            lost = {f"{t.jvm_route} lost {o.jvm_route}": fs.event_delay(ev[t.jvm_route], e_split, "disappeared", o.address)
                    for t, o in ((t2, t1), (t3, t1), (t1, t2), (t1, t3))}
            back = {f"{t.jvm_route} re-added {o.jvm_route}": fs.event_delay(ev[t.jvm_route], e_heal, "added", o.address)
                    for t, o in ((t2, t1), (t3, t1), (t1, t2), (t1, t3))}
            base = sid.split(".", 1)[0]
            copies = {t.jvm_route: sorted((i, fs.counter_of(t.peek(i))) for i in t.sessions()["ids"]
                                          if i.split(".", 1)[0] == base) for t in (t1, t2, t3)}
            print(f"\nTomcat-only partition {{tomcat1}} | {{tomcat2, tomcat3}} for 30 s: {lost}; healed: {back}; "
                  f"session {base} changed on both sides: copies {copies}")
            assert None not in lost.values() and None not in back.values()
            assert copies["tomcat3"] == copies["tomcat2"]   # tomcat3 keeps its side's copy, as Python does
        finally:
            cluster.stop()
