"""The web agent serves BackupManager contexts like DeltaManager ones (issue 15: "usable from the
session API and the web adapters exactly like DeltaManager contexts").

Three Python members with BackupManager on loopback; the first one serves its sessions on a Unix
socket (the real AgentServer and SessionService), spoken to over a raw connection so that requests
can be pipelined. The interop test against real Tomcat nodes is tests/interop/test_web_backup.py.
"""
from __future__ import annotations

import asyncio
import os
import tempfile
import time
from typing import Any

from tribes.javaser import JavaInteger, dumps, loads
from tribes.managers.backup import BackupManagerConfig
from tribes.managers.cluster import SimpleTcpCluster
from tribes.web.agent import AgentServer
from tribes.web.protocol import FrameDecoder, encode, hello
from tribes.web.service import SessionService
from tests.unit.test_backup_map import channel, until


class Conn:
    """One worker connection, requests and answers as dicts (notices kept apart)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.dec = FrameDecoder()
        self.pending: list[dict[str, Any]] = []
        self.notices: list[Any] = []

    @classmethod
    async def open(cls, path: str) -> "Conn":
        c = cls(*await asyncio.open_unix_connection(path))
        assert (await c.call(hello()))["ok"]
        return c

    def send(self, *msgs: dict[str, Any]) -> None:
        self.writer.write(b"".join(encode(m) for m in msgs))

    async def answer(self, timeout: float = 10) -> dict[str, Any]:
        while True:
            while self.pending:
                m = self.pending.pop(0)
                if m.get("op") == "changed":
                    self.notices.append(m["id"])
                    continue
                return m
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            assert data, "the agent closed the connection"
            self.pending += self.dec.feed(data)

    async def call(self, msg: dict[str, Any]) -> dict[str, Any]:
        self.send(msg)
        return await self.answer()

    async def notice(self, timeout: float = 10) -> Any:
        end = time.monotonic() + timeout
        while not self.notices:
            try:
                data = await asyncio.wait_for(self.reader.read(65536), max(0.01, end - time.monotonic()))
            except asyncio.TimeoutError:
                raise AssertionError("no change notice arrived") from None
            for m in self.dec.feed(data):
                if m.get("op") == "changed":
                    self.notices.append(m["id"])
                else:
                    self.pending.append(m)
        return self.notices.pop(0)


def test_agent_serves_backup_manager_contexts() -> None:
    async def go() -> None:
        chans = [channel() for _ in range(3)]
        clusters = [SimpleTcpCluster(ch, jvm_route=f"py{i}", backup_config=BackupManagerConfig(rpc_timeout=3000))
                    for i, ch in enumerate(chans)]
        for c in clusters:
            c.manager("/app")
        for ch in chans:
            await ch.start()
        for ch in chans:
            for other in chans:
                if other is not ch:
                    ch.membership_service.add_member(other.local_member)  # type: ignore[attr-defined]
        await asyncio.sleep(0.1)
        tmp = tempfile.mkdtemp(prefix="tribes-wb-")
        path = os.path.join(tmp, "agent.sock")
        server = None
        try:
            for c in clusters:
                await c.start()
            agent, b, _c = clusters
            service = SessionService(agent)
            server = AgentServer(service, path, mode=0o600)
            await server.start()
            conn = await Conn.open(path)
            ctx_b = b.manager("/app")

            # a session made on another member: the agent's node holds it as a proxy or a backup
            made = []
            for _ in range(6):
                s = ctx_b.create_session({"cart": JavaInteger(3)})
                made.append(s.id)
            await b.flush()
            bm = agent.backup_managers["localhost#/app"]
            await until(lambda: all(sid in bm.map.entries for sid in made))
            proxies = [sid for sid in made if bm.is_proxy(sid)]
            assert proxies, "round-robin gave the agent's node no proxy among 6 sessions"
            sid = proxies[0]
            fetch = service.prepare({"op": "load", "ctx": "/app", "id": sid})
            assert fetch is not None
            fetch.close()                                  # type: ignore[attr-defined]  # not run here

            # a load of a proxy, pipelined with a status request: the proxy is fetched
            # (RETRIEVE_BACKUP) and the answers come in request order
            conn.send({"op": "load", "ctx": "/app", "id": sid, "watch": True}, {"op": "status"})
            first, second = await conn.answer(), await conn.answer()
            assert first["ok"] and first["found"] and first["id"] == sid, first
            assert loads(first["attrs"]["cart"]) == 3
            assert "sessions" in second and second["sessions"]["localhost#/app"] >= 1
            assert bm.map.entries[sid].role == "primary", "the node that served it is its primary, as in Tomcat"
            await until(lambda: ctx_b.role(sid) in ("backup", "proxy"))

            # another member changes it (takes it over): the watching worker is told its copy is stale
            ctx_c = clusters[2].manager("/app")
            if ctx_c.role(sid) == "proxy":
                await ctx_c.load(sid)
            ctx_c.set_attribute(sid, "cart", JavaInteger(4))
            await clusters[2].flush()
            assert await conn.notice() == sid
            await until(lambda: bm.is_proxy(sid) or (bm.map.entries[sid].value is not None
                                                      and bm.map.entries[sid].value.attributes.get("cart") == 4))
            again = await conn.call({"op": "load", "ctx": "/app", "id": sid})
            assert loads(again["attrs"]["cart"]) == 4, "the worker reads the other member's write"

            # a worker's write and login go to the map: the new id reaches the others, the old is removed
            ans = await conn.call({"op": "commit", "ctx": "/app", "id": sid, "set": {"n": dumps(JavaInteger(9))},
                                   "login": ["alice", ["user"], "FORM"]})
            assert ans["ok"] and ans["id"] and ans["id"] != sid, ans
            new = ans["id"]
            assert new.endswith(".py0")
            # answered only once the map's synchronous sends (mapSendOptions 6) are done, as Tomcat
            # answers after its ReplicationValve: the others hold the new key and no longer the old one
            others = [cl.backup_managers["localhost#/app"].map.entries for cl in clusters[1:]]
            assert all(new in e and sid not in e for e in others), "answered before the replication was done"
            held = [e[new].value for e in others if e[new].role == "backup"]
            assert len(held) == 1 and held[0].attributes["n"] == 9 and held[0].principal is not None
            got = await ctx_b.load(new)
            assert got is not None and got.attributes["n"] == 9 and got.attributes["cart"] == 4
            assert got.principal is not None

            # a session the worker creates is a primary here with a backup elsewhere
            ans = await conn.call({"op": "commit", "ctx": "/app", "id": None, "set": {"x": dumps("y")}})
            assert ans["ok"] and bm.map.entries[ans["id"]].role == "primary"
            assert sorted(cl.manager("/app").role(ans["id"]) or "" for cl in clusters[1:]) == ["backup", "proxy"]

            # an id nobody holds: not found, and nothing is fetched
            unknown = "0" * 32 + ".py1"
            assert service.prepare({"op": "load", "ctx": "/app", "id": unknown}) is None
            assert (await conn.call({"op": "load", "ctx": "/app", "id": unknown}))["found"] is False
            conn.writer.close()
        finally:
            if server is not None:
                await server.stop()
            for c in clusters:
                await c.stop()
            for ch in chans:
                await ch.stop()
    asyncio.run(go())


def test_agent_answers_a_commit_after_its_synchronous_replication() -> None:
    """DeltaManager with channelSendOptions 6: the commit's DELTA is ACKed by the other member before
    the worker gets its answer (Tomcat's ReplicationValve sends before the response completes)."""
    from tribes.managers.cluster import SimpleTcpCluster as Cluster

    async def go() -> None:
        chans = [channel() for _ in range(2)]
        clusters = [Cluster(ch, jvm_route=f"py{i}", channel_send_options=6) for i, ch in enumerate(chans)]
        for c in clusters:
            c.manager("/app")
        for ch in chans:
            await ch.start()
        chans[0].membership_service.add_member(chans[1].local_member)  # type: ignore[attr-defined]
        chans[1].membership_service.add_member(chans[0].local_member)  # type: ignore[attr-defined]
        await asyncio.sleep(0.1)
        tmp = tempfile.mkdtemp(prefix="tribes-wd-")
        path = os.path.join(tmp, "agent.sock")
        server = None
        try:
            for c in clusters:
                await c.start(state_transfer=False)                   # two new nodes: no state to take
            server = AgentServer(SessionService(clusters[0]), path, mode=0o600)
            await server.start()
            conn = await Conn.open(path)
            other = clusters[1].managers["localhost#/app"]
            ans = await conn.call({"op": "commit", "ctx": "/app", "id": None, "set": {"n": dumps(JavaInteger(1))}})
            sid = ans["id"]
            assert sid in other.sessions, "answered before the CREATED message was ACKed"
            for i in range(2, 12):
                # a pipelined read behind each write is answered after it, in order
                conn.send({"op": "commit", "ctx": "/app", "id": sid, "set": {"n": dumps(JavaInteger(i))}},
                          {"op": "load", "ctx": "/app", "id": sid})
                first, second = await conn.answer(), await conn.answer()
                assert first["ok"] and first["id"] == sid and "found" not in first, first
                assert other.sessions[sid].attributes["n"] == i, "answered before the DELTA was ACKed"
                assert second["found"] and loads(second["attrs"]["n"]) == i
            conn.writer.close()
        finally:
            if server is not None:
                await server.stop()
            for c in clusters:
                await c.stop()
            for ch in chans:
                await ch.stop()
    asyncio.run(go())
