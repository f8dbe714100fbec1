"""Flask: tribes sessions as a ``SessionInterface`` (``flask.session`` is the Tomcat session).

    from tribes.web.flask import TribesSessionInterface
    app.session_interface = TribesSessionInterface()     # JSESSIONID, Path=/app, agent at $TRIBES_AGENT_SOCKET

Configuration (``app.config`` first, then the environment, see :class:`tribes.web.session.WebConfig`):
``TRIBES_CONTEXT`` (``/app``), ``TRIBES_AGENT_SOCKET``, ``TRIBES_COOKIE_NAME`` (``JSESSIONID``),
``TRIBES_COOKIE_PATH`` (the context path), ``TRIBES_COOKIE_SECURE``, ``TRIBES_MAX_WRITE_BYTES``.
The cookie is Tomcat's, whatever ``SESSION_COOKIE_NAME``/``SESSION_COOKIE_PATH`` say (they are set
to match), so the browser holds one session cookie for the Tomcat and the Flask pages.

``flash()`` works (``_flashes`` travels as an ArrayList of ArrayLists; categories and messages come
back as lists), ``session.permanent`` is the Boolean attribute ``_permanent`` (the cookie stays a
browser-session cookie, as Tomcat's), Flask-WTF's ``csrf_token`` is a String attribute.
Logins: ``tribes.web.login(request, name, roles)`` / ``tribes.web.logout(request)``, or
``session.login(...)``; ``session.user`` is (name, roles, auth type) from Tomcat's or Python's login.
With the agent down, touching the session raises HTTP 503 (Service Unavailable) and logs what to start.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.exceptions import ServiceUnavailable

from tribes.web.client import SessionClient
from tribes.web.errors import AgentUnavailable
from tribes.web.session import SessionStore, TribesSession, WebConfig

log = logging.getLogger("tribes.web.flask")

__all__ = ["TribesSessionInterface", "FlaskTribesSession", "AgentUnavailable503", "init_app"]


class AgentUnavailable503(ServiceUnavailable, AgentUnavailable):
    """HTTP 503 for a request whose session cannot be reached."""


class FlaskTribesSession(TribesSession, SessionMixin):
    """A Tomcat session as Flask's ``session``."""

    def _ensure(self) -> None:
        try:
            super()._ensure()
        except AgentUnavailable as exc:
            if isinstance(exc, AgentUnavailable503):
                raise
            raise AgentUnavailable503(description=str(exc)) from None

    @property
    def new(self) -> bool:  # type: ignore[override]
        return self.is_new


_CONFIG_KEYS = {"TRIBES_CONTEXT": "context", "TRIBES_AGENT_SOCKET": "socket", "TRIBES_COOKIE_NAME": "cookie_name",
                "TRIBES_COOKIE_PATH": "cookie_path", "TRIBES_COOKIE_SECURE": "cookie_secure",
                "TRIBES_COOKIE_DOMAIN": "cookie_domain", "TRIBES_COOKIE_SAMESITE": "cookie_samesite",
                "TRIBES_MAX_WRITE_BYTES": "max_write"}


class TribesSessionInterface(SessionInterface):
    """Flask's session interface over tribes sessions (see the module doc)."""

    session_class = FlaskTribesSession

    def __init__(self, config: WebConfig | None = None, backend: Any = None, **config_kw: Any) -> None:
        self._config = config
        self._config_kw = config_kw
        self._backend = backend
        self._store: SessionStore | None = None

    def store(self, app: Flask) -> SessionStore:
        if self._store is None:
            cfg = self._config
            if cfg is None:
                kw = {attr: app.config[key] for key, attr in _CONFIG_KEYS.items() if app.config.get(key) is not None}
                kw.update(self._config_kw)
                cfg = WebConfig.from_env(**kw)
            # Flask's own cookie settings follow Tomcat's, so nothing else sets a second cookie
            app.config["SESSION_COOKIE_NAME"] = cfg.cookie_name
            app.config["SESSION_COOKIE_PATH"] = cfg.path
            app.config["SESSION_COOKIE_HTTPONLY"] = cfg.cookie_http_only
            self._store = SessionStore(cfg, self._backend or SessionClient(cfg.socket))
        return self._store

    # Flask's cookie hooks answer with Tomcat's cookie
    def get_cookie_name(self, app: Flask) -> str:
        return self.store(app).config.cookie_name

    def get_cookie_path(self, app: Flask) -> str:
        return self.store(app).config.path

    def get_cookie_domain(self, app: Flask) -> str | None:
        return self.store(app).config.cookie_domain

    def get_cookie_httponly(self, app: Flask) -> bool:
        return self.store(app).config.cookie_http_only

    def get_cookie_samesite(self, app: Flask) -> str | None:
        return self.store(app).config.cookie_samesite

    def is_null_session(self, obj: object) -> bool:
        return False

    def open_session(self, app: Flask, request: Request) -> FlaskTribesSession:
        store = self.store(app)
        ids = request.cookies.getlist(store.config.cookie_name)
        s = store.open_ids(ids, FlaskTribesSession)
        request.environ["tribes.session"] = s
        return s

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, FlaskTribesSession)
        store = self.store(app)
        cfg = store.config
        if session.accessed:
            response.vary.add("Cookie")
        try:
            action = store.save(session)
        except AgentUnavailable as exc:
            # the page was made, but its session changes cannot be kept: the answer is a 503
            log.error("session changes of this request were not saved: %s", exc)
            response.status_code = 503
            response.headers.pop("Location", None)
            response.headers["Retry-After"] = "5"
            response.headers["Content-Type"] = "text/plain; charset=utf-8"
            response.set_data(f"503 Service Unavailable: the session store is not reachable.\n{exc}\n")
            return
        https = bool(getattr(response, "_tribes_https", False)) or _request_is_secure()
        if action.set:
            response.headers.add("Set-Cookie", cfg.cookie_header(action.set, https))
        elif action.delete:
            response.headers.add("Set-Cookie", cfg.cookie_header("", https, delete=True))


def _request_is_secure() -> bool:
    from flask import request
    try:
        return bool(request.is_secure)
    except RuntimeError:
        return False


def init_app(app: Flask, **config: Any) -> TribesSessionInterface:
    """``app.session_interface = TribesSessionInterface(**config)``; returns it."""
    iface = TribesSessionInterface(**config)
    app.session_interface = iface
    return iface
