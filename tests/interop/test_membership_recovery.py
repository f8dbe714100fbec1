"""McastService recovery on a real socket: the interface goes down (sends fail with ENETUNREACH),
``recoveryCounter`` errors start the recovery, which retries every ``recoverySleepTime`` until the
interface is back; then heartbeats flow again. Also the loopback and TTL socket options.
Namespaces ``tmrec`` / ``tmloop`` (10.77.13.1)."""
from __future__ import annotations

import asyncio
import socket
import subprocess

import pytest

from tests.interop.membership_support import NetNs, can_netns, run_in_netns
from tribes.membership.mcast import McastService

pytestmark = pytest.mark.interop


def test_recovery_after_interface_down() -> None:
    why = can_netns()
    if why:
        pytest.skip(why)

    async def scenario() -> dict[str, dict[str, int]]:
        svc = McastService(bind="tm0", frequency=100, drop_time=1000, wait_for_members=False,
                           recovery_counter=3, recovery_sleep_time=300)
        svc.set_local_member(socket.inet_aton("10.77.13.1"), 4000)
        await svc.start()
        try:
            await asyncio.sleep(0.5)
            before = dict(svc.stats)
            subprocess.run(["ip", "-n", "tmrec", "link", "set", "tm0", "down"], check=True)
            for _ in range(100):
                if svc.stats["recovery_attempts"] >= 2:
                    break
                await asyncio.sleep(0.05)
            down = dict(svc.stats)
            subprocess.run(["ip", "-n", "tmrec", "link", "set", "tm0", "up"], check=True)
            subprocess.run(["ip", "-n", "tmrec", "route", "replace", "224.0.0.0/4", "dev", "tm0"], check=True)
            for _ in range(100):
                if svc.stats["recoveries"] >= 1 and svc.stats["own"] > down["own"] + 3:
                    break
                await asyncio.sleep(0.05)
            up = dict(svc.stats)
        finally:
            await svc.stop()
        return {"before": before, "down": down, "up": up}

    with NetNs("tmrec", "10.77.13.1"):
        res = run_in_netns("tmrec", scenario, timeout=60)
    assert res["before"]["send_errors"] == 0 and res["before"]["own"] >= 3
    assert res["down"]["send_errors"] >= 3 and res["down"]["recovery_attempts"] >= 2
    assert res["down"]["recoveries"] == 0
    assert res["up"]["recoveries"] == 1
    assert res["up"]["own"] > res["down"]["own"] + 3  # our heartbeats loop back again


def test_loopback_disabled_and_ttl() -> None:
    """localLoopbackDisabled turns IP_MULTICAST_LOOP off (the node no longer hears its own heartbeats,
    nor does any other socket on the same host); ttl is applied to the socket."""
    why = can_netns()
    if why:
        pytest.skip(why)

    async def scenario() -> dict[str, object]:
        out: dict[str, object] = {}
        for disabled in (False, True):
            svc = McastService(bind="10.77.13.1", port=45670, frequency=100, wait_for_members=False,
                               local_loopback_disabled=disabled, ttl=3)
            svc.set_local_member(socket.inet_aton("10.77.13.1"), 4000)
            await svc.start()
            try:
                await asyncio.sleep(0.6)
                assert svc._sock is not None
                out[f"ttl{disabled}"] = svc._sock.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL)
                out[f"loop{disabled}"] = svc._sock.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP)
                out[f"own{disabled}"] = svc.stats["own"]
                out[f"sent{disabled}"] = svc.stats["sent"]
            finally:
                await svc.stop()
        return out

    with NetNs("tmloop", "10.77.13.1"):
        res = run_in_netns("tmloop", scenario, timeout=60)
    assert res["ttlFalse"] == res["ttlTrue"] == 3
    assert res["loopFalse"] == 1 and res["loopTrue"] == 0
    assert res["ownFalse"] >= 3 and res["ownTrue"] == 0 and res["sentTrue"] >= 3  # type: ignore[operator]
