"""A Python DeltaManager node driven over stdin/stdout (JSON lines), run inside a lab namespace.

    python tests/interop/sessions_node.py --bind 10.77.15.50 --jvm-route py1 --context /app --context /

Commands (one JSON object per line, ``rid`` echoed in the answer):
  {"op": "create", "ctx": "/app", "attrs": {"n": {"class": "java.lang.Integer", "value": 7}}, "id": null}
  {"op": "set", "ctx", "id", "name", "value"}   {"op": "remove", "ctx", "id", "name"}
  {"op": "set_raw", "ctx", "id", "name", "from_id", "from_name"}  (copy a value as read, e.g. an app class)
  {"op": "invalidate", "ctx", "id"}   {"op": "get", "ctx", "id"}   {"op": "list", "ctx"}
  {"op": "maxinactive", "ctx", "id", "seconds"}   {"op": "expire_now", "ctx"}   {"op": "stats"}
  {"op": "snapshot", "ctx"} (every session as JSON)   {"op": "quit"}
Events: {"event": "ready", ...}, {"event": "transfer", "results": {...}}, {"event": "session", ...} (with --events).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import threading
import time
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from tribes.managers.cluster import SimpleTcpCluster, context_path  # noqa: E402
from tribes.managers.delta_manager import DeltaManagerConfig  # noqa: E402
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


def from_server_xml(a: Any, manager_config: Any) -> SimpleTcpCluster:
    """The channel of a server.xml (same file as the Tomcat nodes, this host's address), interceptors
    told the Tomcat version (EncryptInterceptor's format); MessageDispatchInterceptor with one worker
    so this node's messages keep their order, as SimpleTcpCluster.create does."""
    from tribes.config import load
    from tribes.config.build import build_channel
    xml = load(a.server_xml).with_overrides(bind=a.bind, receiver_port=a.receiver_port, jvm_route=a.jvm_route)
    channel = build_channel(xml)
    for icp in channel.interceptors():
        if hasattr(icp, "set_tomcat_version"):
            icp.set_tomcat_version(a.version)
        if type(icp).__name__ == "MessageDispatchInterceptor" and hasattr(icp, "max_threads"):
            icp.max_threads = 1
    return SimpleTcpCluster(channel, jvm_route=a.jvm_route, channel_send_options=int(xml.get("channelSendOptions")),
                            manager_config=manager_config, tomcat_version=a.version,
                            follow_all_contexts=a.follow_all, background_processor_delay=a.background_delay)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", required=True)
    ap.add_argument("--mcast-port", type=int, default=45564)
    ap.add_argument("--receiver-port", type=int, default=4000)
    ap.add_argument("--jvm-route", default=None)
    ap.add_argument("--context", action="append", default=[])
    ap.add_argument("--send-options", type=int, default=8)
    ap.add_argument("--version", default="10.1")
    ap.add_argument("--manager", action="append", default=[], help="DeltaManager attribute k=v")
    ap.add_argument("--events", action="store_true")
    ap.add_argument("--follow-all", action="store_true")
    ap.add_argument("--background-delay", type=float, default=1.0)
    ap.add_argument("--log", default="INFO")
    ap.add_argument("--server-xml", default=None,
                    help="build the channel from this server.xml's <Cluster> (--bind/--jvm-route override it)")
    a = ap.parse_args()
    logging.basicConfig(level=a.log, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = DeltaManagerConfig.from_attributes(dict(kv.split("=", 1) for kv in a.manager))
    if a.server_xml:
        cluster = from_server_xml(a, cfg)
    else:
        cluster = SimpleTcpCluster.create(bind=a.bind, mcast_port=a.mcast_port, receiver_port=a.receiver_port,
                                          jvm_route=a.jvm_route, channel_send_options=a.send_options,
                                          manager_config=cfg, tomcat_version=a.version,
                                          follow_all_contexts=a.follow_all,
                                          background_processor_delay=a.background_delay)
    for c in a.context:
        cluster.manager(c)
    if a.events:
        def ev(e: Any) -> None:
            from tribes.javaser import to_json
            out({"event": "session", "kind": e.kind, "ctx": e.context, "id": e.session_id, "name": e.name,
                 "value": to_json(e.value) if e.name is not None else None,
                 "replicated": e.replicated, "old_id": e.old_id, "t": time.time()})
        cluster.add_listener(ev)
    t0 = time.monotonic()
    await cluster.start()
    results = {n: dm.state_transfer_result for n, dm in cluster.managers.items()}
    out({"event": "ready", "members": [m.name for m in cluster.channel.members()],
         "local": cluster.channel.local_member.name, "transfer": results,
         "transfer_s": round(time.monotonic() - t0, 3),
         "transfer_ms": {n: dm.state_transfer_ms for n, dm in cluster.managers.items()},
         "sessions": {n: len(dm.sessions) for n, dm in cluster.managers.items()}})

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


async def handle(cluster: SimpleTcpCluster, cmd: dict[str, Any]) -> dict[str, Any]:
    op = cmd["op"]
    if op == "quit":
        return {}
    if op == "stats":
        return {"rss_kib": rss_kib(), "bad_messages": cluster.bad_messages,
                "unknown_context": cluster.unknown_context_messages, "send_failures": cluster.send_failures,
                "managers": {n: {"sessions": len(dm.sessions), "dropped": dm.dropped_messages,
                                 "expired": dm.expired_sessions, "transfer": dm.state_transfer_result,
                                 "counters": dm.stats.counters}
                             for n, dm in cluster.managers.items()},
                "members": [m.name for m in cluster.channel.members()],
                "encrypt": next((i.stats() for i in cluster.channel.interceptors()
                                 if type(i).__name__ == "EncryptInterceptor"), None)}
    if op == "transfers":
        return {"results": await cluster.wait_state_transfers()}
    if op == "gc_rss":   # like a JVM heap after a full GC: garbage collected, free memory given back
        import ctypes
        import gc
        gc.collect()
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except OSError:
            pass
        return {"rss_kib": rss_kib()}
    ctx = cluster.manager(cmd["ctx"])
    name = ctx.name
    if op == "create":
        attrs = {k: value_from_json(v) for k, v in (cmd.get("attrs") or {}).items()}
        s = ctx.create_session(attrs, cmd.get("id"), cmd.get("max_inactive"))
        if cmd.get("principal"):
            from tribes.managers.principal import Principal
            p = cmd["principal"]
            with ctx.request(s.id) as sess:
                sess.set_principal(Principal(p["name"], list(p.get("roles", [])), p.get("password")))
                sess.set_auth_type(cmd.get("auth_type", "FORM"))
        await cluster.flush()
        return {"id": s.id}
    if op == "create_many":
        t = time.monotonic()
        n = int(cmd["n"])
        payload = "x" * int(cmd.get("size", 0))
        for i in range(n):
            ctx.create_session({"index": value_from_json(i), "text": f"v{i}", **({"blob": payload} if payload else {})})
        await cluster.flush()
        return {"created": n, "seconds": time.monotonic() - t}
    if op == "set":
        ctx.set_attribute(cmd["id"], cmd["name"], value_from_json(cmd["value"]))
        await cluster.flush()
        return {}
    if op == "set_raw":
        src = ctx.get_session(cmd["from_id"])
        assert src is not None, "no source session"
        ctx.set_attribute(cmd["id"], cmd["name"], src.attributes[cmd["from_name"]])
        await cluster.flush()
        return {}
    if op == "remove":
        ctx.remove_attribute(cmd["id"], cmd["name"])
        await cluster.flush()
        return {}
    if op == "maxinactive":
        with ctx.request(cmd["id"], bind_route=False) as s:
            s.set_max_inactive_interval(int(cmd["seconds"]))
        await cluster.flush()
        return {}
    if op == "invalidate":
        ok = ctx.invalidate(cmd["id"])
        await cluster.flush()
        return {"invalidated": ok}
    if op == "get":
        s = ctx.delta_manager.find_session(cmd["id"])
        return {"session": session_json(s, context_path(name)) if s is not None else None}
    if op == "list":
        return {"ids": ctx.session_ids(), "count": len(ctx.delta_manager.sessions)}
    if op == "snapshot":
        return {"sessions": [session_json(s, context_path(name)) for s in ctx.sessions()]}
    if op == "expire_now":
        n = ctx.delta_manager.process_expires(int(time.time() * 1000))
        cluster._pump(ctx.delta_manager)
        await cluster.flush()
        return {"expired": n}
    raise ValueError(f"unknown op {op!r}")


if __name__ == "__main__":
    asyncio.run(main())
