"""A Python cluster node configured from a server.xml with CloudMembershipService, driven over
stdin/stdout (JSON lines), run inside a lab namespace with the cloud environment variables.

    python tests/interop/cloud_node.py --config server.xml --jvm-route py1 --context /app

Events: {"event": "ready", "local": {...}, "members": [...]}, {"event": "member", "kind", "host", "uniqueId"},
{"event": "sender", "host", "uniqueId"} (first message seen from each (host, uniqueId): the id the sender
put in its own frames, i.e. the sender's local uniqueId).
Commands: {"op": "members"}, {"op": "local"}, {"op": "create", "ctx", "attrs"}, {"op": "get", "ctx", "id"},
{"op": "stats"}, {"op": "quit"}.
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

from tribes.config import load  # noqa: E402
from tribes.config.build import build_channel  # noqa: E402
from tribes.managers.cluster import SimpleTcpCluster  # noqa: E402
from tribes.managers.jsonvalues import session_json, value_from_json  # noqa: E402


def out(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


def mjson(m: Any) -> dict[str, Any]:
    return {"host": m.host_str, "port": m.port, "uniqueId": m.unique_id.hex(), "alive": m.alive}


class Spy:
    """Channel + membership listener: reports members and the ids senders put in their frames."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()

    def accept(self, msg: Any, sender: Any) -> bool:
        key = (sender.host_str, sender.unique_id.hex())
        if key not in self.seen:
            self.seen.add(key)
            out({"event": "sender", "host": key[0], "uniqueId": key[1], "t": time.time()})
        return False

    def message_received(self, msg: Any, sender: Any) -> None:
        return None

    def member_added(self, m: Any) -> None:
        out({"event": "member", "kind": "added", **mjson(m), "t": time.time()})

    def member_disappeared(self, m: Any) -> None:
        out({"event": "member", "kind": "disappeared", **mjson(m), "t": time.time()})


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--jvm-route", default="py1")
    ap.add_argument("--context", action="append", default=[])
    ap.add_argument("--version", default="10.1")
    ap.add_argument("--log", default="INFO")
    a = ap.parse_args()
    logging.basicConfig(level=a.log, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = load(a.config)
    channel = build_channel(cfg)
    spy = Spy()
    channel.add_channel_listener(spy)
    channel.add_membership_listener(spy)
    if cfg.manager.short_name == "BackupManager":  # the manager the file names, through the config assembler
        from tribes.config.build import build_cluster
        cluster = build_cluster(cfg, channel, contexts=a.context)
    else:
        cluster = SimpleTcpCluster(channel, jvm_route=a.jvm_route, channel_send_options=int(cfg.get("channelSendOptions")),
                                   tomcat_version=a.version, background_processor_delay=1.0, join_wait=0.5)
        for c in a.context:
            cluster.manager(c)
    await cluster.start()
    svc = channel.membership_service
    out({"event": "ready", "local": mjson(channel.local_member), "members": [mjson(m) for m in channel.members()],
         "manager": cfg.manager.short_name})

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
        if not line.strip():
            continue
        cmd = json.loads(line)
        op = cmd.get("op")
        try:
            if op == "members":
                res: dict[str, Any] = {"members": [mjson(m) for m in channel.members()]}
            elif op == "local":
                res = {"local": mjson(channel.local_member)}
            elif op == "stats":
                res = {"stats": dict(getattr(svc, "stats", {})), "last_error": getattr(svc, "last_error", None)}
            elif op == "create":
                ctx = cluster.manager(cmd["ctx"])
                s = ctx.create_session({k: value_from_json(v) for k, v in (cmd.get("attrs") or {}).items()})
                await cluster.flush()
                res = {"id": s.id}
            elif op == "get":
                ctx = cluster.manager(cmd["ctx"])
                s = await ctx.load(cmd["id"]) if hasattr(ctx, "load") else ctx.delta_manager.find_session(cmd["id"])
                res = {"session": session_json(s, cmd["ctx"]) if s is not None else None}
            elif op == "quit":
                res = {}
            else:
                raise ValueError(f"unknown op {op!r}")
            out({"rid": cmd.get("rid"), "ok": True, **res})
        except Exception as exc:  # answer, keep running
            out({"rid": cmd.get("rid"), "ok": False, "error": f"{type(exc).__name__}: {exc}"})
        if op == "quit":
            break
    await cluster.stop()


if __name__ == "__main__":
    asyncio.run(main())
