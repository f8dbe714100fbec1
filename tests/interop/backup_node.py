"""A Python BackupManager node driven over stdin/stdout (JSON lines), run inside a lab namespace.

    python tests/interop/backup_node.py --bind 10.77.16.50 --jvm-route py1 --context /app

Commands (one JSON object per line, ``rid`` echoed in the answer):
  {"op": "create", "ctx", "attrs": {...typed JSON...}, "id": null}        -> {"id"}
  {"op": "set", "ctx", "id", "name", "value"}     (a proxy is fetched first, as a request would)
  {"op": "get", "ctx", "id", "load": false}       -> {"session": view + role or None}
  {"op": "roles", "ctx"} -> {"roles": [...]}       {"op": "sessions_json"} -> {"lines": [tribes sessions --json]}
  {"op": "create_many", "ctx", "n"}   {"op": "stats"}   {"op": "gc_rss"}   {"op": "quit"}
Events: {"event": "ready", ...}, {"event": "session", ...} (with --events).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import logging
import os
import sys
import threading
import time
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from tribes.managers.backup import BackupManagerConfig  # noqa: E402
from tribes.managers.cluster import SimpleTcpCluster  # noqa: E402
from tribes.managers.jsonvalues import session_json, value_from_json  # noqa: E402


def out(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", required=True)
    ap.add_argument("--mcast-port", type=int, default=45564)
    ap.add_argument("--receiver-port", type=int, default=4000)
    ap.add_argument("--jvm-route", default=None)
    ap.add_argument("--context", action="append", default=[])
    ap.add_argument("--version", default="10.1")
    ap.add_argument("--manager", action="append", default=[], help="BackupManager attribute k=v")
    ap.add_argument("--events", action="store_true")
    ap.add_argument("--join-wait", type=float, default=1.0)
    ap.add_argument("--log", default="INFO")
    a = ap.parse_args()
    logging.basicConfig(level=a.log, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = BackupManagerConfig.from_attributes(dict(kv.split("=", 1) for kv in a.manager))
    cluster = SimpleTcpCluster.create(bind=a.bind, mcast_port=a.mcast_port, receiver_port=a.receiver_port,
                                      jvm_route=a.jvm_route, tomcat_version=a.version, backup_config=cfg,
                                      background_processor_delay=1.0, join_wait=a.join_wait)
    for c in a.context:
        cluster.manager(c)
    if a.events:
        def ev(e: Any) -> None:
            out({"event": "session", "kind": e.kind, "ctx": e.context, "id": e.session_id, "name": e.name,
                 "replicated": e.replicated, "t": time.time()})
        cluster.add_listener(ev)
    t0 = time.monotonic()
    await cluster.start()
    out({"event": "ready", "members": [m.name for m in cluster.channel.members()],
         "local": cluster.channel.local_member.name, "start_s": round(time.monotonic() - t0, 3),
         "maps": {n: {"state": bm.map.state, "entries": len(bm.map.entries), "members": len(bm.map.core.map_members),
                      "init_ms": bm.map.init_ms, "phases": bm.map.phases}
                  for n, bm in cluster.backup_managers.items()}})

    loop = asyncio.get_running_loop()
    q: asyncio.Queue[str | None] = asyncio.Queue()

    def reader() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(q.put_nowait, line)
        loop.call_soon_threadsafe(q.put_nowait, None)

    threading.Thread(target=reader, daemon=True).start()
    while True:
        line = await q.get()
        if line is None:
            break
        line = line.strip()
        if not line:
            continue
        cmd = json.loads(line)
        rid = cmd.get("rid")
        try:
            res = await handle(cluster, cmd)
            out({"rid": rid, "ok": True, **res})
        except Exception as exc:  # answer, keep running
            out({"rid": rid, "ok": False, "error": f"{type(exc).__name__}: {exc}"})
        if cmd.get("op") == "quit":
            break
    await cluster.stop()


def _norpc() -> int:
    from tribes.group import rpc
    return rpc.NO_RPC_REPLIES_SENT


def view(ctx: Any, sid: str) -> dict[str, Any] | None:
    from tribes.managers.cluster import context_path
    e = ctx.backup_manager.map.entry(sid)
    if e is None:
        return None
    v: dict[str, Any] = {"id": sid, "role": e.role, "primaryMember": e.primary.name if e.primary else None,
                         "backupMembers": [m.name for m in e.backup_nodes or ()]}
    if e.value is not None:
        v.update(session_json(e.value, context_path(ctx.name)))
        v["role"] = e.role
    return v


async def handle(cluster: SimpleTcpCluster, cmd: dict[str, Any]) -> dict[str, Any]:
    op = cmd["op"]
    if op == "quit":
        return {}
    if op == "stats":
        return {"rss_kib": rss_kib(), "members": [m.name for m in cluster.channel.members()], "no_rpc_replies": _norpc(),
                "maps": {bm.map_name: {"bad_messages": bm.map.core.bad_messages, "send_failures": bm.map.send_failures,
                             "entries": len(bm.map.entries), "roles": bm.map.roles(), "state": bm.map.state,
                             "map_members": [m.name for m in bm.map.core.map_members],
                             "member_versions": {m.name: v for m, v in bm.map.core.member_versions.items()},
                             "mixed_versions": bm.map.mixed_versions,
                             "rpc_bad": bm.map.rpc_channel.bad_messages if bm.map.rpc_channel else 0,
                             "rpc_unknown_replies": bm.map.rpc_channel.unknown_replies if bm.map.rpc_channel else 0}
                         for bm in cluster.backup_managers.values()}}
    if op == "gc_rss":
        import ctypes
        import gc
        gc.collect()
        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        return {"rss_kib": rss_kib()}
    if op == "sessions_json":
        from tribes.cli.sessions import _print_sessions
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            _print_sessions(cluster, True)
        return {"lines": [json.loads(x) for x in buf.getvalue().splitlines() if x.strip()]}
    ctx = cluster.manager(cmd["ctx"])
    if op == "create":
        attrs = {k: value_from_json(v) for k, v in (cmd.get("attrs") or {}).items()}
        s = ctx.create_session(attrs, cmd.get("id"), cmd.get("max_inactive"))
        await cluster.flush()
        return {"id": s.id}
    if op == "create_many":
        t = time.monotonic()
        n = int(cmd["n"])
        for i in range(n):
            ctx.create_session({"index": value_from_json(i), "text": f"v{i}"})
        await cluster.flush()
        return {"created": n, "seconds": time.monotonic() - t}
    if op == "set":
        if ctx.role(cmd["id"]) == "proxy":
            await ctx.load(cmd["id"])
        ctx.set_attribute(cmd["id"], cmd["name"], value_from_json(cmd["value"]))
        await cluster.flush()
        return {}
    if op == "get":
        if cmd.get("load"):
            await ctx.load(cmd["id"])
            await cluster.flush()
        return {"session": view(ctx, cmd["id"])}
    if op == "roles":
        return {"roles": ctx.roles()}
    raise ValueError(f"unknown op {op!r}")


if __name__ == "__main__":
    asyncio.run(main())
