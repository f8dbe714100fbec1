"""ASGI middleware: Starlette/FastAPI's ``request.session`` (and ``scope["session"]`` for any ASGI app)
is the Tomcat session.

    from tribes.web.asgi import TribesSessionMiddleware
    app.add_middleware(TribesSessionMiddleware)                 # Starlette / FastAPI
    app = TribesSessionMiddleware(app)                          # any ASGI app

The session is loaded before the app runs (asyncio client of the agent, or an in-process
member: ``backend=EmbeddedMember...``) and committed when the response starts (one delta; the
Set-Cookie goes with the response headers), as Starlette's own SessionMiddleware does. With the
agent down the request gets HTTP 503 and the log says what to start.
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, MutableMapping

from tribes.web.errors import AgentUnavailable
from tribes.web.session import SessionStore, TribesSession, WebConfig, parse_cookie_ids

log = logging.getLogger("tribes.web.asgi")

__all__ = ["TribesSessionMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def _send_503(send: Send, exc: BaseException) -> None:
    body = f"503 Service Unavailable: the session store is not reachable.\n{exc}\n".encode()
    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"retry-after", b"5"),
                            (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})


class TribesSessionMiddleware:
    """ASGI middleware (see the module doc)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], config: WebConfig | None = None,
                 backend: Any = None, **config_kw: Any) -> None:
        self.app = app
        cfg = config or WebConfig.from_env(**config_kw)
        if backend is None:
            from tribes.web.client import AsyncSessionClient
            backend = AsyncSessionClient(cfg.socket)
        self.store = SessionStore(cfg, backend)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        store = self.store
        cfg = store.config
        cookie = b"; ".join(v for k, v in scope.get("headers") or [] if k == b"cookie").decode("latin-1")
        s = store.open_ids(parse_cookie_ids(cookie, cfg.cookie_name), TribesSession)
        try:
            await store.aload(s)
        except AgentUnavailable as exc:
            if scope["type"] == "http":
                await _send_503(send, exc)
            return
        s.accessed = False
        scope["session"] = s
        scope["tribes.session"] = s
        https = scope.get("scheme") in ("https", "wss")
        state = {"started": False, "failed": False}

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                try:
                    action = await store.asave(s)
                except AgentUnavailable as exc:
                    state["failed"] = state["started"] = True
                    await _send_503(send, exc)
                    return
                headers = list(message.get("headers") or [])
                if action.set:
                    headers.append((b"set-cookie", cfg.cookie_header(action.set, https).encode("latin-1")))
                elif action.delete:
                    headers.append((b"set-cookie", cfg.cookie_header("", https, delete=True).encode("latin-1")))
                if s.accessed:
                    headers.append((b"vary", b"Cookie"))
                message = dict(message)
                message["headers"] = headers
                state["started"] = True
            elif state["failed"]:
                return
            await send(message)

        try:
            await self.app(scope, receive, wrapped)
        except AgentUnavailable as exc:
            if not state["started"] and scope["type"] == "http":
                await _send_503(send, exc)
                return
            raise
