"""The local agent's socket server: one cluster member per host, serving the sessions to the
worker processes of the host over a Unix socket (``tribes agent``, tribes/cli/agent.py).

The socket is created only once the member has joined and received every context's sessions (state
transfer), so a worker never sees an empty or half-filled store: until then it gets "connection
refused" and answers HTTP 503. The socket file gets ``mode`` (0660 by default) and, with ``group``,
that group; a peer whose uid is neither ours, root's, nor in that group is refused as well
(SO_PEERCRED), with a rate-limited log line. A worker that exits or restarts only closes its
connection: the member stays.
"""
from __future__ import annotations

import asyncio
import contextlib
import grp
import logging
import os
import pwd
import socket
import stat
import struct
from typing import Any

from tribes.managers.session_message import EVT_SESSION_ACCESSED
from tribes.ratelimit import RateLimitedLog
from tribes.web.errors import ProtocolError
from tribes.web.protocol import MAX_FRAME, FrameDecoder, encode
from tribes.web.service import SessionService
from tribes.web.watch import WatchTable

log = logging.getLogger("tribes.web.agent")

__all__ = ["AgentServer", "peer_credentials", "SocketInUse"]


class SocketInUse(RuntimeError):
    pass


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a Unix socket."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", creds)
    return pid, uid, gid


def _resolve_group(group: str | int | None) -> int | None:
    if group is None or group == "":
        return None
    if isinstance(group, int) or str(group).isdigit():
        return int(group)
    return grp.getgrnam(str(group)).gr_gid


class AgentServer:
    """Serves ``service`` on a Unix socket at ``path``."""

    def __init__(self, service: SessionService, path: str, mode: int = 0o660, group: str | int | None = None,
                 max_frame: int | None = None) -> None:
        self.service = service
        self.path = path
        self.mode = mode
        self.gid = _resolve_group(group)
        self.max_frame = max_frame or min(MAX_FRAME, service.max_write * 2 + 65536)
        self.server: asyncio.AbstractServer | None = None
        self.connections = 0
        self.refused = 0
        self.badlog = RateLimitedLog(log)
        self._transports: set[asyncio.Transport] = set()
        #: which connections hold a copy of which session (tribes.web.watch)
        self.watches: WatchTable[_WorkerProtocol] = WatchTable()
        #: the connection whose request is being handled (its own changes do not notify it)
        self._current: _WorkerProtocol | None = None
        self._hooked = False
        #: fetches of BackupManager proxies in flight (SessionService.prepare)
        self._tasks: set[asyncio.Task[None]] = set()

    def _clear_stale(self) -> None:
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(st.st_mode):
            raise SocketInUse(f"{self.path} exists and is not a socket: remove it or pick another --socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(self.path)
        except OSError:
            os.unlink(self.path)                 # a socket nobody listens on: left by a dead agent
            return
        finally:
            probe.close()
        raise SocketInUse(f"another agent is serving {self.path}: stop it first or pick another --socket")

    async def start(self) -> None:
        d = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(d, exist_ok=True)
        self._clear_stale()
        old = os.umask(0o177)                    # no window in which others could connect
        try:
            loop = asyncio.get_running_loop()
            self.server = await loop.create_unix_server(self._protocol, path=self.path)
        finally:
            os.umask(old)
        if self.gid is not None:
            os.chown(self.path, -1, self.gid)
        os.chmod(self.path, self.mode)
        self._hook()
        log.info("serving sessions to workers on %s (mode %o%s)", self.path, self.mode,
                 f", group {self.gid}" if self.gid is not None else "")

    # -- watches: what changes a session that a worker holds a copy of -------------------------
    def _hook(self) -> None:
        """Every SessionMessage from another member comes to the cluster's message listeners once
        handled; every map message that changed a BackupManager entry comes to that manager's change
        listeners; local expiries and id changes come as session events. All of them notify."""
        if self._hooked:
            return
        cluster = self.service.cluster
        cluster.add_message_listener(self._on_message)
        cluster.add_listener(self._on_event)
        for bm in cluster.backup_managers.values():
            bm.add_change_listener(self._on_map_change)
        self._hooked = True

    def _on_map_change(self, key: Any) -> None:
        self.changed(key if isinstance(key, str) else None)

    def _on_message(self, smsg: Any, sender: Any) -> None:
        if getattr(smsg, "event_type", None) != EVT_SESSION_ACCESSED:   # access times only
            self.changed(getattr(smsg, "session_id", None) or None)

    def _unhook(self) -> None:
        if not self._hooked:
            return
        cluster = self.service.cluster
        cluster.remove_message_listener(self._on_message)
        for bm in cluster.backup_managers.values():
            bm.remove_change_listener(self._on_map_change)
        with contextlib.suppress(ValueError):
            cluster.listeners.remove(self._on_event)
        self._hooked = False

    def _on_event(self, ev: Any) -> None:
        if ev.kind in ("destroyed", "id_changed"):
            self.changed(ev.old_id or ev.session_id)
        elif ev.kind in ("state_received", "state_transfer_complete"):
            self.changed(None)

    def changed(self, sid: str | None, exclude: "_WorkerProtocol | None" = None) -> None:
        """Tell the connections holding a copy of ``sid`` (None: of any session) to drop it."""
        if not self.watches.by_id:
            return
        if exclude is None:
            exclude = self._current
        conns = self.watches.pop(sid, exclude) if sid is not None else self.watches.pop_all(exclude)
        for c in conns:
            c.notify(sid)

    async def stop(self) -> None:
        self._unhook()
        for task in list(self._tasks):
            task.cancel()
        if self.server is not None:
            self.server.close()
            for t in list(self._transports):
                t.close()
            with contextlib.suppress(Exception):
                await self.server.wait_closed()
            self.server = None
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.lstat(self.path).st_mode):
                os.unlink(self.path)

    def _allowed(self, uid: int, gid: int) -> bool:
        if uid in (0, os.getuid()):
            return True
        if self.gid is None:
            return False
        if gid == self.gid:
            return True
        try:
            name = pwd.getpwuid(uid).pw_name
            return self.gid in os.getgrouplist(name, gid)
        except (KeyError, OSError):
            return False

    def _protocol(self) -> "_WorkerProtocol":
        return _WorkerProtocol(self)

    def status(self) -> dict[str, Any]:
        return {"socket": self.path, "connections": self.connections, "refused": self.refused}


class _WorkerProtocol(asyncio.BufferedProtocol):
    """One worker connection: bytes in -> :class:`FrameDecoder` -> ``service.handle`` -> frames out,
    all in ``buffer_updated`` (no stream reader/writer, no task per connection). Reads go into one
    64 KiB buffer per connection (``recv_into``): the default transport allocates 256 KiB per read,
    which costs more than a whole small request. A request with ``noreply`` (a read-only request's
    access) is handled and not answered. A request on a BackupManager session held here only as a
    proxy waits for its fetch (a task; reading pauses meanwhile, so answers keep request order)."""

    def __init__(self, server: AgentServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.pid = -1
        self.dec = FrameDecoder(server.max_frame)
        self._buf = memoryview(bytearray(65536))
        self._waiting = False
        self._write_paused = False
        #: requests that came behind one that waits (a proxy fetch or its replication), answered in order
        self._backlog: list[dict[str, Any]] = []

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buf

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._buf[:nbytes])

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        srv = self.server
        sock = transport.get_extra_info("socket")
        try:
            pid, uid, gid = peer_credentials(sock)
        except OSError:
            pid, uid, gid = -1, -1, -1
        if not srv._allowed(uid, gid):
            srv.refused += 1
            srv.badlog.warn("peer", "refused a worker connection from pid %d uid %d gid %d: only uid %d, root%s "
                            "may use %s", pid, uid, gid, os.getuid(),
                            f" and group {srv.gid}" if srv.gid is not None else "", srv.path)
            transport.close()
            return
        self.pid = pid
        self.transport = transport
        srv.connections += 1
        srv._transports.add(transport)

    def data_received(self, data: bytes | memoryview) -> None:
        t = self.transport
        if t is None or t.is_closing():
            return
        try:
            msgs = self.dec.feed(data)
        except ProtocolError as exc:
            self.server.badlog.warn("frame", "closed the connection of worker pid %d: %s", self.pid, exc)
            t.close()
            return
        if self._waiting:                  # answers go out in request order: after the wait
            self._backlog.extend(msgs)
            return
        self._run(msgs)

    def _run(self, msgs: list[dict[str, Any]], prepared: bool = False) -> None:
        """Answer ``msgs`` in order. A request that must first fetch a BackupManager proxy, or whose
        answer must wait for its synchronous replication, stops the run: reading pauses, the wait
        runs as a task, and the run goes on from there (answers keep request order)."""
        t = self.transport
        if t is None or t.is_closing():
            return
        service = self.server.service
        out: list[bytes] = []
        for i, msg in enumerate(msgs):
            if not (prepared and i == 0):
                try:
                    pending = service.prepare(msg)
                except Exception:  # noqa: BLE001 - answered by handle below
                    log.exception("agent request %r: prepare failed", msg.get("op"))
                    pending = None
                if pending is not None:
                    self._write(out)
                    self._defer(pending, list(msgs[i:]), None, prepared=True)
                    return
            ans = self._answer(msg)
            wait = service.take_wait()
            frame = encode(ans) if msg.get("noreply") is not True else None
            if wait is not None:
                self._write(out)
                self._defer(wait, list(msgs[i + 1:]), frame, prepared=False)
                return
            if frame is not None:
                out.append(frame)
        self._write(out)

    def _defer(self, pending: Any, rest: list[dict[str, Any]], answer: bytes | None, prepared: bool) -> None:
        t = self.transport
        assert t is not None
        self._waiting = True
        self._backlog = rest
        t.pause_reading()
        task = asyncio.get_running_loop().create_task(self._resume_after(pending, answer, prepared))
        self.server._tasks.add(task)
        task.add_done_callback(self.server._tasks.discard)

    async def _resume_after(self, pending: Any, answer: bytes | None, prepared: bool) -> None:
        try:
            await pending
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the request is answered from what is held here
            log.warning("worker pid %d: a wait before answering failed: %s: %s", self.pid,
                        type(exc).__name__, exc)
        self._waiting = False
        if answer is not None:
            self._write([answer])
        msgs, self._backlog = self._backlog, []
        self._run(msgs, prepared=prepared)
        t = self.transport
        if not self._waiting and t is not None and not t.is_closing() and not self._write_paused:
            t.resume_reading()

    def _write(self, out: list[bytes]) -> None:
        t = self.transport
        if out and t is not None and not t.is_closing():
            t.write(out[0] if len(out) == 1 else b"".join(out))

    def _answer(self, msg: dict[str, Any]) -> dict[str, Any]:
        srv = self.server
        srv._current = self
        try:
            ans = srv.service.handle(msg)
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the agent
            log.exception("agent request %r failed", msg.get("op"))
            ans = {"ok": False, "code": "internal", "error": f"{type(exc).__name__}: {exc}"}
        finally:
            srv._current = None
        if ans.get("ok"):
            op = msg.get("op")
            if op == "commit" and not msg.get("access"):
                # this worker changed the session: the others' copies are old now
                srv.changed(msg.get("id"), exclude=self)
            if msg.get("watch") is True and op in ("load", "commit") and ans.get("id") \
                    and (op == "commit" or ans.get("found")):
                evicted = srv.watches.add(ans["id"], self)
                if evicted is not None:
                    self.notify(evicted)
                ans["watch"] = True
        return ans

    def notify(self, sid: str | None) -> None:
        """A ``changed`` notice; a worker that lets its notices pile up unread is disconnected (it
        reconnects and drops every copy) rather than left with a copy it was not told about."""
        t = self.transport
        if t is None or t.is_closing():
            return
        t.write(encode({"op": "changed", "id": sid}))
        if t.get_write_buffer_size() > 0:
            self.server.badlog.warn("notice", "closed the connection of worker pid %d: it does not read its "
                                    "session-change notices", self.pid)
            self.server.watches.drop(self)
            t.abort()

    def pause_writing(self) -> None:            # a worker that sends without reading: stop reading it
        self._write_paused = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self.transport is not None and not self.transport.is_closing() and not self._waiting:
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.watches.drop(self)
        if self.transport is not None:
            self.server._transports.discard(self.transport)
            self.server.connections -= 1
            self.transport = None
