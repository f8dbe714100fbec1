"""The live dashboard: a Starlette app over an :class:`~tribes.metrics.observer.Observer`.

Routes (docs/observability.md):

* ``GET /`` and ``/static/*``: the page (plain HTML/JS/CSS shipped in the package, no build step);
* ``GET /api/state``: members (with history), sessions per context over time, rates, lag
  percentiles, recent events;
* ``GET /api/events``: Server-Sent Events: ``sample`` every ``sample_interval`` s, ``event`` for each
  member/session/operator event as it happens;
* ``GET /api/users``: the logged-in users (from the replicated principals);
* ``GET /api/search?q=``: sessions by user name or session id, with their attributes as typed JSON
  (opaque Java objects summarised; values hidden when ``show_values`` is off);
* ``POST /api/sessions/invalidate`` ``{"context": "/app", "id": "..."}`` and ``POST /api/logout``
  ``{"user": "alice"}``: operator actions, off unless ``actions``; then they need the credentials
  (401 without, 403 when actions are off) and each is logged with who did it;
* ``GET /metrics``: the same Prometheus text as ``--metrics``.

Bounds: query strings over ``MAX_QUERY`` bytes (414), bodies over ``MAX_BODY`` (413), malformed JSON
or fields (400); at most ``max_clients`` live clients, each with a queue of ``client_queue`` items: a
client that does not read is dropped when its queue is full, and a write that does not complete in
``send_timeout`` s ends its stream. Nothing a client does can make the node hold more.
"""
from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tribes.dashboard.auth import Credentials
from tribes.dashboard.views import search_sessions, logged_in_users
from tribes.managers.cluster import context_name, context_path
from tribes.metrics.observer import Observer, member_label
from tribes.metrics.server import metrics_endpoint
from tribes.ratelimit import RateLimitedLog

log = logging.getLogger("tribes.dashboard")
_rl = RateLimitedLog(log)

__all__ = ["DashboardSettings", "Dashboard", "create_app", "MAX_QUERY", "MAX_BODY"]

MAX_QUERY = 1024
MAX_BODY = 4096
_STATIC = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8",
           "index.html": "text/html; charset=utf-8"}


@dataclass
class DashboardSettings:
    actions: bool = False
    show_values: bool = True
    credentials: Credentials | None = None
    #: ``force_logout(cluster, user) -> [(context, id), ...]`` (tribes.keeper.logins.force_logout)
    logout: Callable[[Any, str], Any] | None = None
    sample_interval: float = 2.0
    history: int = 300                  # samples kept (10 minutes at 2 s)
    max_clients: int = 64
    client_queue: int = 256
    send_timeout: float = 10.0


class _Client:
    __slots__ = ("queue", "dropped")

    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=size)
        self.dropped = False


class Dashboard:
    """The dashboard's state: samples over time and the live clients."""

    def __init__(self, observer: Observer, settings: DashboardSettings) -> None:
        self.observer = observer
        self.settings = settings
        self.samples: collections.deque[dict[str, Any]] = collections.deque(maxlen=settings.history)
        self.clients: set[_Client] = set()
        self.dropped_clients = 0
        self._task: asyncio.Task[None] | None = None
        self._last: tuple[float, int, int] | None = None
        observer.subscribers.append(self._on_event)

    # -- sampling -------------------------------------------------------------------------------------
    def ensure_sampler(self) -> None:
        if self._task is None or self._task.done():
            try:
                self._task = asyncio.get_running_loop().create_task(self._sampler())
            except RuntimeError:  # no running loop (tests calling sample() directly)
                pass

    async def _sampler(self) -> None:
        while True:
            try:
                s = self.sample()
                self.publish("sample", s)
            except Exception:  # noqa: BLE001 - keep sampling
                log.exception("dashboard: sampling failed")
            await asyncio.sleep(self.settings.sample_interval)

    def sample(self) -> dict[str, Any]:
        ob = self.observer
        now = time.time()
        rx = sum(p.rx_msgs for p in ob.peers.values())
        tx = sum(p.tx_msgs for p in ob.peers.values())
        rx_rate = tx_rate = 0.0
        if self._last is not None:
            dt = max(now - self._last[0], 1e-3)
            rx_rate, tx_rate = max(rx - self._last[1], 0) / dt, max(tx - self._last[2], 0) / dt
        self._last = (now, rx, tx)
        cluster = ob.cluster
        sessions = {context_path(n): len(dm.sessions) for n, dm in sorted(getattr(cluster, "managers", {}).items())} \
            if cluster is not None else {}
        s = {"time": now, "sessions": sessions, "rxRate": round(rx_rate, 2), "txRate": round(tx_rate, 2),
             "lag": ob.lag_percentiles(), "members": len(ob.channel.members()) if ob.channel is not None else 0}
        self.samples.append(s)
        return s

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._on_event in self.observer.subscribers:
            self.observer.subscribers.remove(self._on_event)
        for c in list(self.clients):
            c.dropped = True
            try:
                c.queue.put_nowait(b"")
            except asyncio.QueueFull:
                pass
        self.clients.clear()

    # -- live clients ---------------------------------------------------------------------------------
    def _on_event(self, item: dict[str, Any]) -> None:
        self.publish("event", item)

    def publish(self, kind: str, data: Any) -> None:
        if not self.clients:
            return
        frame = f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n".encode()
        for c in list(self.clients):
            try:
                c.queue.put_nowait(frame)
            except asyncio.QueueFull:
                self.drop(c, "its queue is full (it does not read)")

    def drop(self, c: _Client, why: str) -> None:
        if c in self.clients:
            self.clients.discard(c)
            self.dropped_clients += 1
            c.dropped = True
            _rl.warn("slow-client", "dashboard: dropped a live-update client: %s", why)

    def state(self) -> dict[str, Any]:
        ob = self.observer
        members = []
        local = ob.local_record()
        if local is not None:
            members.append({**local.to_json(), "local": True})
        live = {member_label(m) for m in ob.channel.members()} if ob.channel is not None else set()
        for rec in sorted(ob.members.values(), key=lambda r: r.first_seen):
            d = rec.to_json()
            if rec.state == "alive" and rec.label not in live:   # gone without an event (stopped node)
                d["state"] = "unknown"
            members.append(d)
        return {"node": {"role": ob.role, "member": local.label if local else None, "started": ob.started,
                         "actions": self.settings.actions, "showValues": self.settings.show_values,
                         "auth": self.settings.credentials is not None},
                "members": members, "history": list(ob.history)[-50:], "samples": list(self.samples),
                "events": list(ob.events)[-50:], "lag": ob.lag_percentiles(),
                "leaves": dict(ob.leaves), "joins": ob.joins, "droppedClients": self.dropped_clients}


class _Limits:
    """Refuses oversized query strings (414) and bodies (413) before any route runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if len(scope.get("query_string", b"")) > MAX_QUERY:
                _rl.warn("query-too-long", "dashboard: refused a request with a %d-byte query string (max %d)",
                         len(scope["query_string"]), MAX_QUERY)
                await JSONResponse({"error": f"query string over {MAX_QUERY} bytes"}, 414)(scope, receive, send)
                return
            for k, v in scope.get("headers", []):
                if k == b"content-length" and (not v.isdigit() or int(v) > MAX_BODY):
                    await JSONResponse({"error": f"body over {MAX_BODY} bytes"}, 413)(scope, receive, send)
                    return
        await self.app(scope, receive, send)


class _EventStream:
    """An SSE response fed by a bounded per-client queue; ends when the client is dropped or stalls."""

    def __init__(self, dash: Dashboard, client: _Client) -> None:
        self.dash = dash
        self.client = client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        dash, c = self.dash, self.client
        timeout = dash.settings.send_timeout
        try:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-store"),
                                    (b"x-accel-buffering", b"no")]})
            first = json.dumps(dash.state(), separators=(",", ":"), default=str)
            await asyncio.wait_for(send({"type": "http.response.body", "body": f"retry: 2000\nevent: state\ndata: "
                                         f"{first}\n\n".encode(), "more_body": True}), timeout)
            while not c.dropped:
                frame = await c.queue.get()
                if c.dropped or not frame:
                    break
                await asyncio.wait_for(send({"type": "http.response.body", "body": frame, "more_body": True}),
                                       timeout)
        except asyncio.TimeoutError:
            dash.drop(c, f"a write did not complete in {timeout:g} s")
        except OSError:
            pass
        finally:
            dash.clients.discard(c)


def _bad(msg: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": msg}, status)


async def _json_body(request: Request) -> dict[str, Any] | JSONResponse:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return _bad(f"body over {MAX_BODY} bytes", 413)
    try:
        data = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        _rl.warn("bad-json", "dashboard: refused a request with a malformed JSON body")
        return _bad("the body must be a JSON object")
    if not isinstance(data, dict):
        return _bad("the body must be a JSON object")
    return data


def create_app(observer: Observer, settings: DashboardSettings | None = None) -> Starlette:
    settings = settings or DashboardSettings()
    dash = Dashboard(observer, settings)

    def static_file(name: str) -> bytes:
        return resources.files("tribes.dashboard").joinpath("static").joinpath(name).read_bytes()

    async def index(request: Request) -> Response:
        dash.ensure_sampler()
        return Response(static_file("index.html"), media_type=_STATIC["index.html"],
                        headers={"cache-control": "no-store"})

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _STATIC:
            return _bad("not found", 404)
        return Response(static_file(name), media_type=_STATIC[name], headers={"cache-control": "no-cache"})

    async def state(request: Request) -> Response:
        dash.ensure_sampler()
        return JSONResponse(dash.state())

    async def events(request: Request) -> Any:
        dash.ensure_sampler()
        if len(dash.clients) >= settings.max_clients:
            _rl.warn("too-many-clients", "dashboard: refused a live-update client: %d connected (max %d)",
                     len(dash.clients), settings.max_clients)
            return _bad(f"too many live clients ({settings.max_clients})", 503)
        c = _Client(settings.client_queue)
        dash.clients.add(c)
        return _EventStream(dash, c)

    async def users(request: Request) -> Response:
        return JSONResponse({"users": logged_in_users(observer.cluster)})

    async def search(request: Request) -> Response:
        q = request.query_params.get("q", "").strip()
        if not q:
            return _bad("give q: a user name or a session id")
        if len(q) > 256:
            return _bad("q is too long (max 256 characters)")
        found = search_sessions(observer.cluster, q, show_values=settings.show_values)
        return JSONResponse({"q": q, "results": found, "showValues": settings.show_values})

    def authorize(request: Request) -> str | JSONResponse:
        if not settings.actions:
            return _bad("operator actions are off (start with --http-actions and --http-auth FILE)", 403)
        creds = settings.credentials
        who = creds.check(request.headers.get("authorization")) if creds is not None else None
        if who is None:
            _rl.warn("unauthorized", "dashboard: refused an operator action from %s: missing or wrong credentials",
                     request.client.host if request.client else "?")
            return JSONResponse({"error": "authentication required"}, 401,
                                headers={"www-authenticate": 'Bearer realm="tribes", Basic realm="tribes"'})
        return who

    async def invalidate(request: Request) -> Response:
        who = authorize(request)
        if isinstance(who, JSONResponse):
            return who
        data = await _json_body(request)
        if isinstance(data, JSONResponse):
            return data
        ctx, sid = data.get("context"), data.get("id")
        if not isinstance(ctx, str) or not isinstance(sid, str) or not ctx or not sid or len(ctx) > 256 \
                or len(sid) > 256:
            return _bad('give {"context": "/app", "id": "<session id>"}')
        cluster = observer.cluster
        if cluster is None:
            return _bad("this node holds no sessions", 409)
        name = ctx if "#" in ctx else context_name(ctx, cluster.host, cluster.container)
        dc = cluster.contexts.get(name)
        done = bool(dc is not None and dc.invalidate(sid))
        log.warning("dashboard: operator %r invalidated session %s… in %s: %s", who, sid[:6], context_path(name),
                    "done" if done else "no such session")
        observer.operator_event({"event": "invalidate", "by": who, "context": context_path(name),
                                 "session": sid[:6] + "…", "done": done})
        if done:
            await cluster.flush()
        return JSONResponse({"invalidated": done}, 200 if done else 404)

    async def logout(request: Request) -> Response:
        who = authorize(request)
        if isinstance(who, JSONResponse):
            return who
        data = await _json_body(request)
        if isinstance(data, JSONResponse):
            return data
        user = data.get("user")
        if not isinstance(user, str) or not user or len(user) > 256:
            return _bad('give {"user": "<user name>"}')
        cluster = observer.cluster
        if cluster is None or settings.logout is None:
            return _bad("this node cannot log users out (no sessions or no logout function)", 409)
        victims = list(settings.logout(cluster, user) or [])
        log.warning("dashboard: operator %r forced the logout of user %r: %d session(s) invalidated", who, user,
                    len(victims))
        observer.operator_event({"event": "forced logout", "by": who, "user": user, "sessions": len(victims)})
        await cluster.flush()
        return JSONResponse({"invalidated": len(victims)})

    async def not_found(request: Request) -> Response:
        return _bad("not found", 404)

    routes = [
        Route("/", index),
        Route("/static/{name}", static),
        Route("/api/state", state),
        Route("/api/events", events),
        Route("/api/users", users),
        Route("/api/search", search),
        Route("/api/sessions/invalidate", invalidate, methods=["POST"]),
        Route("/api/logout", logout, methods=["POST"]),
        Route("/metrics", metrics_endpoint(observer)),
    ]
    app = Starlette(routes=routes)
    app.state.dashboard = dash
    app.add_middleware(_Limits)
    return app
