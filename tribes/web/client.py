"""Ways to reach the Python cluster member: the agent's Unix socket (blocking and asyncio clients)
or an in-process member on a background loop. All three offer ``call(msg) -> answer`` (blocking) and
``acall(msg)`` (asyncio) with the messages of :mod:`tribes.web.protocol`.

Blocking API for scripts::

    from tribes.web.client import SessionClient
    client = SessionClient("/run/tribes/agent.sock")
    with client.session("/app", "7E1C...32HEX.tomcat1") as s:      # one request = one delta
        s["cart"] = s.get("cart", []) + ["book"]
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
import threading
import time
from typing import Any, Callable, Iterator

from tribes.web.errors import AgentUnavailable, ProtocolError
from tribes.web.protocol import FrameDecoder, encode, hello

log = logging.getLogger("tribes.web.client")

__all__ = ["SessionClient", "AsyncSessionClient", "EmbeddedMember", "DEFAULT_SOCKET", "default_socket"]

DEFAULT_SOCKET = "/run/tribes/agent.sock"


def default_socket() -> str:
    return os.environ.get("TRIBES_AGENT_SOCKET") or DEFAULT_SOCKET


def unavailable(path: str, exc: BaseException | str) -> AgentUnavailable:
    return AgentUnavailable(f"tribes agent not reachable at {path} ({exc}): start it with "
                            f"`tribes agent --config server.xml --socket {path}` (same user or group as the "
                            "workers); requests get HTTP 503 until it runs")


def _until(ans: dict[str, Any]) -> float:
    """Until when a copy may be used: the session's timeout from now, less a second (a session whose
    timeout is unknown or off is asked for at most once a minute)."""
    mi = ans.get("max_inactive")
    if not isinstance(mi, int) or mi <= 0:
        mi = 60
    return time.monotonic() + max(0.0, mi - 1.0)


class _Conn:
    """One blocking connection to the agent, with its copies of the sessions it loaded (see
    tribes.web.watch): a ``load`` of a session the agent has not reported changed since is answered
    from the copy, without a round trip."""

    #: copies kept per connection (the agent's per-connection watch limit is higher), and the
    #: largest session (bytes of attribute streams) kept as a copy: at most 16 MiB per connection
    max_copies = 256
    max_copy_bytes = 65536

    def __init__(self, sock: socket.socket, max_frame: int) -> None:
        self.sock = sock
        self.decoder = FrameDecoder(max_frame)
        self.info: dict[str, Any] = {}
        # one read buffer per connection: recv(262144) would allocate (mmap) 256 KiB per read
        self._rbuf = bytearray(65536)
        self._rview = memoryview(self._rbuf)
        #: session id -> context -> (the load answer it was served with, monotonic time after which
        #: the session may have timed out on the agent: the copy is not used then)
        self.copies: dict[str, dict[str, tuple[dict[str, Any], float]]] = {}
        #: change notices read behind an answer (applied after the answer is used)
        self._after: list[dict[str, Any]] = []

    def send(self, msg: dict[str, Any]) -> None:
        """A ``noreply`` request: sent, not answered."""
        self.sock.sendall(encode(msg))
        self.touched(msg)

    def _notice(self, m: dict[str, Any]) -> bool:
        if m.get("op") != "changed":
            return False
        sid = m.get("id")
        if sid is None:
            self.copies.clear()
        else:
            self.copies.pop(sid, None)
        return True

    def poll(self) -> None:
        """Take in the change notices that arrived since the last request (never waits)."""
        self.settle()
        while True:
            try:
                n = self.sock.recv_into(self._rbuf, 0, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return
            if not n:
                raise ConnectionResetError("the agent closed the connection")
            for m in self.decoder.feed(self._rview[:n]):
                if not self._notice(m):
                    raise ProtocolError("the agent sent an answer to no request")

    def roundtrip(self, msg: dict[str, Any]) -> dict[str, Any]:
        self.sock.sendall(encode(msg))
        while True:
            n = self.sock.recv_into(self._rbuf)
            if not n:
                raise ConnectionResetError("the agent closed the connection")
            answer: dict[str, Any] | None = None
            for m in self.decoder.feed(self._rview[:n]):
                if m.get("op") == "changed":
                    if answer is None:
                        self._notice(m)             # a change before the answer: applies now
                    else:
                        self._after.append(m)       # after it: once the caller has used the answer
                elif answer is not None:
                    raise ProtocolError("the agent sent more than one answer")
                else:
                    answer = m
            if answer is not None:
                return answer

    def settle(self) -> None:
        """Apply the notices that arrived behind the last answer."""
        after, self._after = self._after, []
        for m in after:
            self._notice(m)

    def load(self, msg: dict[str, Any]) -> dict[str, Any]:
        sid, ctx = msg.get("id"), msg.get("ctx")
        self.poll()
        hit = self.copies.get(sid, {}).get(ctx) if isinstance(sid, str) and isinstance(ctx, str) else None
        if hit is not None:
            if time.monotonic() < hit[1]:
                return {**hit[0], "attrs": dict(hit[0]["attrs"])}
            self.copies.pop(str(sid), None)             # idle long enough to have timed out: ask
        ans = self.roundtrip({**msg, "watch": True})
        if ans.get("watch") and ans.get("found") and isinstance(sid, str) and ans.get("id") == sid \
                and isinstance(ctx, str) and isinstance(ans.get("attrs"), dict):
            self._keep(sid, ctx, ans)
        self.settle()
        return ans

    def _keep(self, sid: str, ctx: str, ans: dict[str, Any]) -> None:
        if sum(len(v) for v in ans["attrs"].values()) > self.max_copy_bytes:
            return
        if sid not in self.copies and len(self.copies) >= self.max_copies:
            self.copies.pop(next(iter(self.copies)))
        self.copies.setdefault(sid, {})[ctx] = ({**ans, "attrs": dict(ans["attrs"])}, _until(ans))

    def touched(self, msg: dict[str, Any]) -> None:
        """A request of this session ended on the agent (commit or access): its idle time restarts."""
        sid, ctx = msg.get("id"), msg.get("ctx")
        hit = self.copies.get(sid, {}).get(ctx) if isinstance(sid, str) and isinstance(ctx, str) else None
        if hit is not None:
            self.copies[str(sid)][str(ctx)] = (hit[0], _until(hit[0]))

    def commit(self, msg: dict[str, Any]) -> dict[str, Any]:
        sid, ctx = msg.get("id"), msg.get("ctx")
        plain = not (msg.get("login") is not None or msg.get("logout") or msg.get("rotate")
                     or msg.get("invalidate"))
        if isinstance(sid, str) and not plain:
            self.copies.pop(sid, None)                  # a new id, a new principal or no session
        ans = self.roundtrip({**msg, "watch": True} if plain else msg)
        # a notice read during the round trip (another change since our load) dropped the copy
        copy = self.copies.get(sid, {}).get(ctx) if isinstance(sid, str) and isinstance(ctx, str) else None
        if copy is not None:
            if ans.get("ok") and ans.get("id") == sid and ans.get("watch"):
                attrs = copy[0]["attrs"]
                for k in msg.get("remove") or ():
                    attrs.pop(k, None)
                attrs.update(msg.get("set") or {})
                if sum(len(v) for v in attrs.values()) > self.max_copy_bytes:
                    self.copies.pop(str(sid), None)
                else:
                    self.touched(msg)
            else:
                self.copies.pop(str(sid), None)
        self.settle()
        return ans


class SessionClient:
    """Blocking client of ``tribes agent`` (one connection per thread and process; safe after fork)."""

    def __init__(self, path: str | None = None, timeout: float = 10.0, max_frame: int = 64 * 1024 * 1024) -> None:
        self.path = path or default_socket()
        self.timeout = timeout
        self.max_frame = max_frame
        self._local = threading.local()
        self.info: dict[str, Any] = {}

    def _connect(self) -> _Conn:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
            # a blocking socket with kernel timeouts: each send/recv is one system call (a Python
            # timeout adds a poll() before each), and MSG_DONTWAIT reads do not wait
            sock.settimeout(None)
            tv = struct.pack("ll", int(self.timeout), int((self.timeout % 1) * 1e6))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
            conn = _Conn(sock, self.max_frame)
            ans = conn.roundtrip(hello())
        except BaseException:
            sock.close()
            raise
        if not ans.get("ok"):
            sock.close()
            raise AgentUnavailable(f"tribes agent at {self.path} refused this worker: {ans.get('error')}")
        conn.info = ans
        self.info = ans
        return conn

    def _get(self) -> tuple[_Conn, bool]:
        conn: _Conn | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            return conn, True
        conn = self._connect()
        self._local.conn = conn
        self._local.pid = os.getpid()
        return conn, False

    def _drop(self) -> None:
        conn: _Conn | None = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            with contextlib.suppress(OSError):
                conn.sock.close()

    def call(self, msg: dict[str, Any]) -> dict[str, Any]:
        """One request, one answer; ``AgentUnavailable`` when the agent cannot be reached."""
        for attempt in (0, 1):
            try:
                conn, reused = self._get()
            except AgentUnavailable:
                raise
            except (OSError, ProtocolError) as exc:
                raise unavailable(self.path, exc) from None
            try:
                op = msg.get("op")
                if op == "load":
                    return conn.load(msg)
                if op == "commit" and not msg.get("noreply"):
                    return conn.commit(msg)
                return conn.roundtrip(msg)
            except (OSError, ProtocolError) as exc:
                self._drop()
                if reused and attempt == 0:     # the agent restarted since: one fresh connection
                    continue
                raise unavailable(self.path, exc) from None
        raise AssertionError("unreachable")

    async def acall(self, msg: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.to_thread(self.call, msg)

    def send(self, msg: dict[str, Any]) -> None:
        """Send a request without waiting (``noreply``: the agent does not answer it); for a
        read-only request's access. ``AgentUnavailable`` when the agent cannot be reached."""
        msg = {**msg, "noreply": True}
        for attempt in (0, 1):
            try:
                conn, reused = self._get()
            except AgentUnavailable:
                raise
            except (OSError, ProtocolError) as exc:
                raise unavailable(self.path, exc) from None
            try:
                conn.send(msg)
                return
            except OSError as exc:
                self._drop()
                if reused and attempt == 0:
                    continue
                raise unavailable(self.path, exc) from None

    async def asend(self, msg: dict[str, Any]) -> None:
        await asyncio.to_thread(self.send, msg)

    def hello(self) -> dict[str, Any]:
        """The agent's hello answer (version, route, write limit), connecting if needed."""
        if not self.info:
            try:
                self._get()
            except AgentUnavailable:
                raise
            except (OSError, ProtocolError) as exc:
                raise unavailable(self.path, exc) from None
        return self.info

    async def ahello(self) -> dict[str, Any]:
        return self.info or await asyncio.to_thread(self.hello)

    def close(self) -> None:
        self._drop()

    @contextlib.contextmanager
    def session(self, context: str, session_id: str | None) -> Iterator[Any]:
        """A session as a dict for one unit of work; its changes are one delta at the end."""
        from tribes.web.session import SessionStore, WebConfig
        store = SessionStore(WebConfig(context=context), backend=self)
        s = store.open(session_id)
        yield s
        store.save(s)


class AsyncSessionClient:
    """asyncio client of ``tribes agent`` (a small pool of connections per event loop)."""

    def __init__(self, path: str | None = None, timeout: float = 10.0, max_frame: int = 64 * 1024 * 1024) -> None:
        self.path = path or default_socket()
        self.timeout = timeout
        self.max_frame = max_frame
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, FrameDecoder]] = []
        self._pid = os.getpid()
        self.info: dict[str, Any] = {}

    async def _rt(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter, FrameDecoder],
                  msg: dict[str, Any]) -> dict[str, Any]:
        reader, writer, dec = conn
        writer.write(encode(msg))
        await writer.drain()
        while True:
            data = await reader.read(262144)
            if not data:
                raise ConnectionResetError("the agent closed the connection")
            got = dec.feed(data)
            if got:
                return got[0]

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, FrameDecoder]:
        reader, writer = await asyncio.open_unix_connection(self.path, limit=self.max_frame)
        conn = (reader, writer, FrameDecoder(self.max_frame))
        ans = await asyncio.wait_for(self._rt(conn, hello()), self.timeout)
        if not ans.get("ok"):
            writer.close()
            raise AgentUnavailable(f"tribes agent at {self.path} refused this worker: {ans.get('error')}")
        self.info = ans
        return conn

    async def acall(self, msg: dict[str, Any]) -> dict[str, Any]:
        if self._pid != os.getpid():
            self._idle, self._pid = [], os.getpid()
        for attempt in (0, 1):
            reused = bool(self._idle)
            try:
                conn = self._idle.pop() if self._idle else await self._open()
            except AgentUnavailable:
                raise
            except (OSError, ProtocolError, asyncio.TimeoutError) as exc:
                raise unavailable(self.path, exc) from None
            try:
                ans = await asyncio.wait_for(self._rt(conn, msg), self.timeout)
            except (OSError, ProtocolError, asyncio.TimeoutError) as exc:
                conn[1].close()
                if reused and attempt == 0:
                    continue
                raise unavailable(self.path, exc) from None
            except BaseException:
                conn[1].close()
                raise
            self._idle.append(conn)
            return ans
        raise AssertionError("unreachable")

    async def asend(self, msg: dict[str, Any]) -> None:
        """Send a ``noreply`` request on an idle connection without waiting for the agent."""
        if self._pid != os.getpid():
            self._idle, self._pid = [], os.getpid()
        msg = {**msg, "noreply": True}
        try:
            conn = self._idle.pop() if self._idle else await self._open()
        except AgentUnavailable:
            raise
        except (OSError, ProtocolError, asyncio.TimeoutError) as exc:
            raise unavailable(self.path, exc) from None
        writer = conn[1]
        if writer.is_closing():
            raise unavailable(self.path, "the agent closed the connection")
        writer.write(encode(msg))
        self._idle.append(conn)

    def call(self, msg: dict[str, Any]) -> dict[str, Any]:
        return SessionClient(self.path, self.timeout, self.max_frame).call(msg)

    def hello(self) -> dict[str, Any]:
        if not self.info:
            self.info = SessionClient(self.path, self.timeout, self.max_frame).hello()
        return self.info

    async def ahello(self) -> dict[str, Any]:
        if not self.info:
            await self.acall({"op": "status"})       # connects (hello) and keeps the connection
        return self.info

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for _r, w, _d in idle:
            w.close()


class EmbeddedMember:
    """An in-process cluster member for a single-process server: the cluster runs on a background
    event loop thread; ``call``/``acall`` answer like the agent (no socket).

        member = EmbeddedMember.create(bind="10.0.0.5", jvm_route="py1", contexts=["/app"])
        member.start()                    # joins and waits for the state transfer
        app.session_interface = TribesSessionInterface(backend=member)
    """

    def __init__(self, cluster_factory: Callable[[], Any], contexts: list[str] | tuple[str, ...] = ("/app",),
                 max_write: int | None = None) -> None:
        self.cluster_factory = cluster_factory
        self.contexts = list(contexts)
        self.max_write = max_write
        self.loop: asyncio.AbstractEventLoop | None = None
        self.cluster: Any = None
        self.service: Any = None
        self._thread: threading.Thread | None = None
        self.info: dict[str, Any] = {}

    @classmethod
    def create(cls, contexts: list[str] | tuple[str, ...] = ("/app",), max_write: int | None = None,
               **cluster_kw: Any) -> "EmbeddedMember":
        """The stock Tomcat channel (``SimpleTcpCluster.create(**cluster_kw)``: bind, jvm_route, ...)."""
        from tribes.managers.cluster import SimpleTcpCluster
        return cls(lambda: SimpleTcpCluster.create(**cluster_kw), contexts, max_write)

    def start(self, timeout: float = 120.0) -> "EmbeddedMember":
        from tribes.web.service import DEFAULT_MAX_WRITE, SessionService
        ready: "asyncio.Future[None] | None" = None
        started = threading.Event()
        error: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self.loop = loop
            asyncio.set_event_loop(loop)

            async def boot() -> None:
                self.cluster = self.cluster_factory()
                for c in self.contexts:
                    self.cluster.manager(c)
                await self.cluster.start()
                self.service = SessionService(self.cluster, self.max_write or DEFAULT_MAX_WRITE)

            try:
                loop.run_until_complete(boot())
            except BaseException as exc:  # noqa: BLE001 - reported to start()
                error.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()

        del ready
        self._thread = threading.Thread(target=run, name="tribes-member", daemon=True)
        self._thread.start()
        if not started.wait(timeout):
            raise TimeoutError(f"the cluster member did not start within {timeout} s")
        if error:
            raise error[0]
        self.info = self.call({"op": "hello", "v": 1})
        return self

    def hello(self) -> dict[str, Any]:
        return self.info

    async def ahello(self) -> dict[str, Any]:
        return self.info

    async def _handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        pending = self.service.prepare(msg)     # a BackupManager proxy: fetched first
        if pending is not None:
            try:
                await pending
            except Exception as exc:  # noqa: BLE001 - answered from what is held here
                log.warning("could not fetch a proxied session: %s: %s", type(exc).__name__, exc)
        ans: dict[str, Any] = self.service.handle(msg)
        wait = self.service.take_wait()          # a synchronous replication: answered once done
        if wait is not None:
            await wait
        return ans

    def call(self, msg: dict[str, Any]) -> dict[str, Any]:
        if self.loop is None or self.service is None:
            raise AgentUnavailable("the in-process cluster member is not started: call EmbeddedMember.start()")
        return asyncio.run_coroutine_threadsafe(self._handle(msg), self.loop).result(30)

    async def acall(self, msg: dict[str, Any]) -> dict[str, Any]:
        if self.loop is None or self.service is None:
            raise AgentUnavailable("the in-process cluster member is not started: call EmbeddedMember.start()")
        fut = asyncio.run_coroutine_threadsafe(self._handle(msg), self.loop)
        return await asyncio.wrap_future(fut)

    def stop(self, timeout: float = 30.0) -> None:
        loop = self.loop
        if loop is None:
            return
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self.cluster.stop(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout)
        self.loop = None
