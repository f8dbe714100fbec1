"""The session service of a Python cluster member: protocol requests in, answers out.

It runs on the event loop of a :class:`tribes.managers.cluster.SimpleTcpCluster` (the agent's, or
the background loop of an in-process member) and turns one ``commit`` into one Tomcat request: the
changes go into the session between ``access`` and ``end_request``, so they leave as one DELTA at the
end, as ReplicationValve sends them.

Ids are Tomcat's. A session whose id carries another node's jvmRoute is served under that id (no
rename here). An id that JvmRouteBinderValve renamed (same 32 hex characters, another route) within
``rename_window`` ms is served under its new id (``renamed``), so requests still carrying the old
cookie are not logged out; a rename that changes the hex part (a login: session fixation) is never
followed.

Contexts with a BackupManager are served the same way. A session this node holds only as a proxy
(its value lives on its primary and backup) is fetched first, as a Tomcat request would fetch it
(RETRIEVE_BACKUP; this node becomes its primary): :meth:`SessionService.prepare` returns that
fetch, to be awaited before :meth:`SessionService.handle` answers.

A commit whose replication is synchronous (the cluster's ``channelSendOptions``, or BackupManager's
``mapSendOptions``, without the asynchronous bit 8) is answered only once that replication is done,
as Tomcat's ReplicationValve sends before the response completes: after ``handle``,
:meth:`SessionService.take_wait` gives what to await before the answer goes out.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any, Awaitable

from tribes.channel import SendOptions
from tribes.javaser import JavaSerializationError, dumps, loads
from tribes.managers.cluster import SimpleTcpCluster, now_ms
from tribes.managers.delta_manager import DeltaManager, Send, SessionEvent, TooManyActiveSessionsException
from tribes.managers.principal import Principal, principal_name
from tribes.managers.session import DeltaSession
from tribes.ratelimit import RateLimitedLog
from tribes.web.protocol import VERSION, check_request

log = logging.getLogger("tribes.web.service")

__all__ = ["SessionService", "DEFAULT_MAX_WRITE", "SESSION_ID_RE"]

DEFAULT_MAX_WRITE = 1024 * 1024
#: the longest an answer waits for its synchronous replication (then it goes out, with a warning)
REPLICATION_WAIT = 10.0
_ASYNCHRONOUS = int(SendOptions.ASYNCHRONOUS)
#: Tomcat's ids: 2 x sessionIdLength upper-case hex characters, optionally ``.jvmRoute``
SESSION_ID_RE = re.compile(r"[0-9A-F]{16,128}(\.[A-Za-z0-9_.\-]{1,64})?")


def _base(sid: str) -> str:
    return sid.split(".", 1)[0]


def principal_info(s: DeltaSession) -> tuple[list[Any] | None, str | None]:
    p = s.principal
    if p is None:
        return None, s.auth_type
    name = principal_name(p)
    roles: list[str] = []
    if isinstance(p, Principal):
        roles = [str(r) for r in p.roles]
    else:
        pr = Principal.from_java(p)
        if isinstance(pr, Principal):
            roles = list(pr.roles)
    return [name or "", roles], s.auth_type


class SessionService:
    """Answers protocol requests from the sessions of ``cluster`` (call on the cluster's loop)."""

    def __init__(self, cluster: SimpleTcpCluster, max_write: int = DEFAULT_MAX_WRITE,
                 rename_window: int | None = None) -> None:
        self.cluster = cluster
        self.max_write = max_write
        self.rename_window = rename_window if rename_window is not None else max(
            5000, cluster.manager_config.reorder_window)
        #: context name -> old id -> (new id, when)
        self.renames: dict[str, dict[str, tuple[str, int]]] = {}
        self.badlog = RateLimitedLog(log)
        self.requests = 0
        #: id(value) -> (value, its stream): session values are replaced, never changed in place, so
        #: a value's serialization is made once (bounded; cleared when full)
        self._streams: dict[int, tuple[Any, bytes]] = {}
        self.stream_cache_size = 50_000
        self.replication_wait = REPLICATION_WAIT
        #: what the last handled commit must wait for before its answer goes out (take_wait)
        self._wait: Awaitable[None] | None = None
        cluster.add_listener(self._on_event)

    # -- renames ------------------------------------------------------------------------------
    def _on_event(self, ev: SessionEvent) -> None:
        if ev.kind != "id_changed" or not ev.old_id or not ev.session_id:
            return
        if _base(ev.old_id) != _base(ev.session_id):
            return                      # a new id (login, changeSessionId): never followed
        now = now_ms()
        table = self.renames.setdefault(ev.context, {})
        table[ev.old_id] = (ev.session_id, now)
        if len(table) > 64:
            for k in [k for k, (_n, t) in table.items() if now - t >= self.rename_window]:
                del table[k]

    def _renamed(self, ctxname: str, sid: str, now: int) -> str | None:
        table = self.renames.get(ctxname)
        seen = 0
        new = None
        while table and seen < 8:
            hit = table.get(sid)
            if hit is None or now - hit[1] >= self.rename_window:
                break
            new = sid = hit[0]
            seen += 1
        return new

    # -- managers -----------------------------------------------------------------------------
    def _manager(self, ctxname: str) -> Any:
        """The context's DeltaManager or BackupManager (both offer get_session, create_session,
        rotate_session_id, invalidate and end_request); None when the node does not manage it."""
        dm = self.cluster.managers.get(ctxname)
        if dm is None:
            dm = self.cluster.backup_managers.get(ctxname)
        return dm

    def _pump(self, dm: Any, wait: bool = False) -> None:
        """Hand the manager's outgoing messages to the cluster (a BackupManager's map sends through
        its own queue). ``wait``: a request's end; its synchronous sends become ``take_wait()``."""
        if isinstance(dm, DeltaManager):
            items = dm.take_outgoing()
            if wait:
                default = self.cluster.channel_send_options
                sync = [it for it in items if not ((it.options if it.options is not None else default) & _ASYNCHRONOUS)]
                if sync:
                    self._wait = self._sent(sync)
            for item in items:
                self.cluster.enqueue(item)
        elif wait and dm.map is not None and not (dm.config.map_send_options & _ASYNCHRONOUS):
            self._wait = self._bounded(dm.map.barrier())

    def _sent(self, items: list[Send]) -> Awaitable[None] | None:
        try:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        except RuntimeError:                 # not on a loop (an in-memory test member): nothing sends
            return None
        left = [len(items)]

        def done(_exc: BaseException | None) -> None:
            left[0] -= 1
            if left[0] == 0 and not fut.done():
                fut.set_result(None)
        for it in items:
            it.on_done = done
        return self._bounded(fut)

    async def _bounded(self, fut: "asyncio.Future[None]") -> None:
        try:
            await asyncio.wait_for(asyncio.shield(fut), self.replication_wait)
        except asyncio.TimeoutError:
            self.badlog.warn("replication_wait", "a session change was answered before its synchronous "
                             "replication finished (still sending after %.0f s): check the members' health",
                             self.replication_wait)

    def take_wait(self) -> Awaitable[None] | None:
        """What the request just handled must wait for before its answer goes out (its synchronous
        replication), or None. Call right after ``handle``, on the loop."""
        w, self._wait = self._wait, None
        return w

    def _counts(self) -> dict[str, int]:
        out = {n: len(dm.sessions) for n, dm in self.cluster.managers.items()}
        out.update((n, len(bm.sessions)) for n, bm in self.cluster.backup_managers.items())
        return out

    def prepare(self, msg: dict[str, Any]) -> Awaitable[Any] | None:
        """What must be awaited before ``handle(msg)`` can answer: the fetch of a session that a
        BackupManager context holds here only as a proxy (RETRIEVE_BACKUP from its backup, after
        which this node is its primary). None when ``handle`` can answer at once (every
        DeltaManager request, and any request that is not for a proxy)."""
        if not self.cluster.backup_managers or msg.get("op") not in ("load", "commit"):
            return None
        ctx, sid = msg.get("ctx"), msg.get("id")
        if not isinstance(ctx, str) or not isinstance(sid, str) or not SESSION_ID_RE.fullmatch(sid):
            return None
        bm = self.cluster.backup_managers.get(self.cluster.manager_name(ctx))
        if bm is None or not bm.is_proxy(sid):
            return None
        return bm.load(sid)   # type: ignore[no-any-return]

    # -- requests -----------------------------------------------------------------------------
    def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        self._wait = None
        why = check_request(msg)
        if why is not None:
            self.badlog.warn("bad_request", "refused a malformed agent request: %s", why)
            return {"ok": False, "code": "bad_request", "error": why}
        op = msg["op"]
        self.requests += 1
        if op == "hello":
            if msg["v"] != VERSION:
                return {"ok": False, "code": "version",
                        "error": f"agent speaks protocol version {VERSION}, the worker {msg['v']}: "
                                 "run the same tribes version in the agent and the workers"}
            return {"ok": True, "v": VERSION, "route": self.cluster.jvm_route, "max_write": self.max_write,
                    "members": len(self.cluster.channel.members())}
        if op == "status":
            return {"ok": True, "route": self.cluster.jvm_route,
                    "members": [getattr(m, "name", str(m)) for m in self.cluster.channel.members()],
                    "sessions": self._counts()}
        ctxname = self.cluster.manager_name(msg["ctx"])
        dm = self._manager(ctxname)
        if dm is None:
            return {"ok": False, "code": "unknown_context",
                    "error": f"the agent does not manage {ctxname!r}: start it with --context {msg['ctx']}"}
        if op == "load":
            return self._load(ctxname, msg["id"])
        return self._commit(ctxname, msg)

    def _find(self, ctxname: str, sid: str, now: int) -> tuple[DeltaSession | None, bool]:
        dm = self._manager(ctxname)
        if not SESSION_ID_RE.fullmatch(sid):
            return None, False
        s = dm.get_session(sid, now)
        renamed = False
        if s is None:
            new = self._renamed(ctxname, sid, now)
            if new is not None:
                s = dm.get_session(new, now)
                renamed = s is not None
        self._pump(dm)
        return s, renamed

    def _load(self, ctxname: str, sid: str) -> dict[str, Any]:
        now = now_ms()
        s, renamed = self._find(ctxname, sid, now)
        if s is None:
            return {"ok": True, "found": False, "id": None}
        attrs = {}
        cache = self._streams
        for name, value in s.attributes.items():
            hit = cache.get(id(value))
            if hit is not None and hit[0] is value:
                attrs[name] = hit[1]
                continue
            try:
                data = attrs[name] = dumps(value)
            except JavaSerializationError as exc:    # a value read from Java always writes back
                log.error("%s: attribute %r of %s cannot be re-serialized: %s", ctxname, name, s.id, exc)
                continue
            if len(cache) >= self.stream_cache_size:
                cache.clear()
            cache[id(value)] = (value, data)
        principal, auth = principal_info(s)
        return {"ok": True, "found": True, "id": s.id, "renamed": renamed, "attrs": attrs,
                "principal": principal, "auth": auth, "new": False, "max_inactive": s.max_inactive_interval}

    def _commit(self, ctxname: str, msg: dict[str, Any]) -> dict[str, Any]:
        dm = self._manager(ctxname)
        sets: dict[str, bytes] = msg.get("set") or {}
        size = sum(len(k) + len(v) for k, v in sets.items())
        if size > self.max_write:
            return {"ok": False, "code": "too_large", "size": size, "limit": self.max_write,
                    "error": f"session write of {size} bytes exceeds the limit of {self.max_write} bytes; "
                             "the session is unchanged"}
        values: dict[str, Any] = {}
        for name, data in sets.items():        # decode everything before changing anything
            try:
                values[name] = v = loads(data)
                if len(self._streams) < self.stream_cache_size:
                    self._streams[id(v)] = (v, data)    # the next load sends these bytes as they are
            except JavaSerializationError as exc:
                self.badlog.warn("bad_value", "refused a session write: attribute %r is not a valid Java "
                                 "serialization stream (%s)", name, exc)
                return {"ok": False, "code": "bad_request", "error": f"attribute {name!r}: {exc}"}
        now = now_ms()
        sid = msg.get("id")
        if sid is None:
            if msg.get("invalidate"):
                return {"ok": True, "id": None, "gone": False}
            try:
                s = dm.create_session(now)
            except TooManyActiveSessionsException as exc:
                return {"ok": False, "code": "too_many_sessions", "error": str(exc)}
        else:
            found, _renamed = self._find(ctxname, sid, now)
            if found is None:
                return {"ok": True, "id": None, "gone": True}
            s = found
        s.access(now)
        try:
            if msg.get("rotate") or msg.get("login") is not None:
                if sid is not None:          # a new session has a fresh id already
                    dm.rotate_session_id(s, now)
            for name in msg.get("remove") or []:
                s.remove_attribute(name)
            for name, value in values.items():
                s.set_attribute(name, value)
            login = msg.get("login")
            if login is not None:
                s.set_principal(Principal(login[0], list(login[1])))
                s.set_auth_type(login[2])
            elif msg.get("logout"):
                s.set_principal(None)
                s.set_auth_type(None)
            if msg.get("invalidate"):
                dm.invalidate(s, now)
                return {"ok": True, "id": None, "gone": False}
            return {"ok": True, "id": s.id, "gone": False}
        finally:
            if s.is_valid and s.id is not None:
                dm.end_request(s.id, now_ms())
            self._pump(dm, wait=msg.get("noreply") is not True)


def monotonic_ms() -> int:
    return int(time.monotonic() * 1000)
