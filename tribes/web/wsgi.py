"""Generic WSGI middleware: any WSGI app gets the Tomcat session as ``environ["tribes.session"]``.

    from tribes.web.wsgi import TribesSessionMiddleware
    application = TribesSessionMiddleware(application)          # JSESSIONID of $TRIBES_CONTEXT via the agent

The session (a :class:`tribes.web.session.TribesSession`, a dict-like mapping) is loaded at first
use and committed when the app calls ``start_response`` (one delta; the Set-Cookie goes with those
headers), so changes made while the body is being iterated are not saved. With the agent down, a
request that touches the session gets HTTP 503 and the log says what to start.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Iterable

from tribes.web.client import SessionClient
from tribes.web.errors import AgentUnavailable
from tribes.web.session import SessionStore, TribesSession, WebConfig, parse_cookie_ids

log = logging.getLogger("tribes.web.wsgi")

__all__ = ["TribesSessionMiddleware", "unavailable_response"]


def unavailable_response(exc: BaseException) -> tuple[str, list[tuple[str, str]], bytes]:
    body = f"503 Service Unavailable: the session store is not reachable.\n{exc}\n".encode()
    return ("503 Service Unavailable", [("Content-Type", "text/plain; charset=utf-8"), ("Retry-After", "5"),
                                        ("Content-Length", str(len(body))), ("Cache-Control", "no-store")], body)


class TribesSessionMiddleware:
    """WSGI middleware (see the module doc)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], config: WebConfig | None = None, backend: Any = None,
                 **config_kw: Any) -> None:
        self.app = app
        cfg = config or WebConfig.from_env(**config_kw)
        self.store = SessionStore(cfg, backend or SessionClient(cfg.socket))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        store = self.store
        cfg = store.config
        s = store.open_ids(parse_cookie_ids(environ.get("HTTP_COOKIE"), cfg.cookie_name), TribesSession)
        environ["tribes.session"] = s
        https = environ.get("wsgi.url_scheme") == "https"
        failed: list[BaseException] = []

        def sr(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            try:
                action = store.save(s)
            except AgentUnavailable as exc:
                failed.append(exc)
                st, hd, _body = unavailable_response(exc)
                return start_response(st, hd, exc_info)
            headers = list(headers)
            if s.accessed:
                headers.append(("Vary", "Cookie"))
            if action.set:
                headers.append(("Set-Cookie", cfg.cookie_header(action.set, https)))
            elif action.delete:
                headers.append(("Set-Cookie", cfg.cookie_header("", https, delete=True)))
            return start_response(status, headers, exc_info)

        try:
            result = self.app(environ, sr)
        except AgentUnavailable as exc:
            st, hd, body = unavailable_response(exc)
            start_response(st, hd)
            return [body]
        if failed:
            close = getattr(result, "close", None)
            if close is not None:
                close()
            return [unavailable_response(failed[0])[2]]
        return result
