"""Python web apps that share live sessions and logins with the Tomcat apps of a cluster.

Adapters (each in its framework's own terms; see docs/web.md):

- ``tribes.web.flask``: ``TribesSessionInterface`` (``app.session_interface``);
- ``tribes.web.django``: ``SESSION_ENGINE = "tribes.web.django"`` plus its middleware;
- ``tribes.web.asgi``: ``TribesSessionMiddleware`` (Starlette/FastAPI ``request.session``, any ASGI app);
- ``tribes.web.wsgi``: ``TribesSessionMiddleware`` for any WSGI app (``environ["tribes.session"]``).

Sessions live in one cluster member per host: ``tribes agent`` (workers talk to it over a Unix
socket, :mod:`tribes.web.client`) or, in a single process, :class:`tribes.web.client.EmbeddedMember`.

``login(request, name, roles)`` and ``logout(request)`` work with the request of every adapter.
"""
from __future__ import annotations

import logging
import sys
from typing import Any

from tribes.web.errors import AgentError, AgentUnavailable, ProtocolError, SessionWriteTooLarge, WebError
from tribes.web.session import SessionStore, TribesSession, WebConfig



class _FallbackHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes tribes.web warnings (an unreachable agent: what to start) to stderr while the
    application has configured no logging, so the reason for a 503 is never silent; once the root
    logger has handlers, they get the records instead."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self.setLevel(logging.WARNING)
        self.setFormatter(logging.Formatter("%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if not logging.root.handlers:
            self.stream = sys.stderr
            super().emit(record)


if not any(isinstance(h, _FallbackHandler) for h in logging.getLogger("tribes.web").handlers):
    logging.getLogger("tribes.web").addHandler(_FallbackHandler())

__all__ = ["login", "logout", "user", "session_of", "TribesSession", "SessionStore", "WebConfig",
           "AgentUnavailable", "AgentError", "SessionWriteTooLarge", "ProtocolError", "WebError"]


def session_of(request: Any) -> TribesSession:
    """The :class:`TribesSession` of a request of any adapter: a Flask/Werkzeug request (or None
    inside a Flask request), a Django ``HttpRequest``, a Starlette ``Request``, an ASGI scope or a
    WSGI environ."""
    if isinstance(request, TribesSession):
        return request
    if isinstance(request, dict):               # ASGI scope or WSGI environ
        s = request.get("session", request.get("tribes.session"))
        if isinstance(s, TribesSession):
            return s
        s = request.get("tribes.session")
        if isinstance(s, TribesSession):
            return s
    s = getattr(request, "session", None)
    if isinstance(s, TribesSession):
        return s
    inner = getattr(s, "tribes_session", None)          # Django's SessionStore
    if isinstance(inner, TribesSession):
        return inner
    scope = getattr(request, "scope", None)             # Starlette Request
    if isinstance(scope, dict) and isinstance(scope.get("session"), TribesSession):
        return scope["session"]  # type: ignore[no-any-return]
    environ = getattr(request, "environ", None)         # Werkzeug / Flask request
    if isinstance(environ, dict) and isinstance(environ.get("tribes.session"), TribesSession):
        return environ["tribes.session"]  # type: ignore[no-any-return]
    try:
        import flask
        if flask.has_request_context() and isinstance(flask.session._get_current_object(),  # type: ignore[attr-defined]
                                                      TribesSession):
            return flask.session._get_current_object()  # type: ignore[attr-defined, no-any-return]
    except ImportError:
        pass
    raise TypeError(f"no tribes session on {type(request).__name__}: install a tribes.web adapter "
                    "(flask, django, asgi, wsgi) for this app")


def login(request: Any, name: str, roles: list[str] | tuple[str, ...] = (), auth_type: str = "FORM") -> None:
    """Log ``name`` in with ``roles`` as Tomcat would: the principal (GenericPrincipal) goes on the
    session, which gets a new id on every node (session fixation). Tomcat's protected pages accept
    the user while its authenticator's ``cache`` is true (the default)."""
    session_of(request).login(name, roles, auth_type)


def logout(request: Any) -> None:
    """Log the user out on every node (the principal is removed from the session)."""
    session_of(request).logout()


def user(request: Any) -> tuple[str, list[str], str | None] | None:
    """(name, roles, auth type) of the logged-in user, from Tomcat's or Python's login; None if none."""
    return session_of(request).user
