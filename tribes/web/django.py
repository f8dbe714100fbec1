"""Django: the Tomcat session as ``request.session`` and Tomcat's login as ``request.user``.

settings.py::

    SESSION_ENGINE = "tribes.web.django"
    MIDDLEWARE = ["tribes.web.django.SessionMiddleware",          # instead of Django's SessionMiddleware
                  "tribes.web.django.AuthenticationMiddleware",   # instead of Django's (no database)
                  ...]
    TRIBES = {"CONTEXT": "/app", "AGENT_SOCKET": "/run/tribes/agent.sock"}   # optional (else $TRIBES_*)

The cookie is Tomcat's (``JSESSIONID``, ``Path=/app``, HttpOnly) whatever ``SESSION_COOKIE_*`` say.
``request.user`` is a :class:`TomcatUser` (name, roles = groups, auth type) when the session carries a
principal (a Tomcat FORM login or a Python login), else ``AnonymousUser``. Django's
``login(request, user)`` becomes ``tribes.web.login(request, user.get_username(), roles)``
(roles = the user's group names, or ``user.roles``) with a new session id, and Django's own keys
``_auth_user_id``, ``_auth_user_backend``, ``_auth_user_hash`` are String attributes;
``logout(request)`` removes the principal and invalidates the session on every node.
``CSRF_USE_SESSIONS = True`` keeps the CSRF token in the session as ``_csrftoken``.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.contrib.sessions.backends.base import CreateError, SessionBase
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from tribes.web.client import SessionClient
from tribes.web.errors import AgentUnavailable
from tribes.web.session import SessionStore as _Store
from tribes.web.session import TribesSession, WebConfig, parse_cookie_ids

log = logging.getLogger("tribes.web.django")

__all__ = ["SessionStore", "SessionMiddleware", "AuthenticationMiddleware", "TomcatUser", "store"]

_STORE: _Store | None = None


def store() -> _Store:
    """The process's store, configured from ``settings.TRIBES`` and the environment."""
    global _STORE
    if _STORE is None:
        conf = dict(getattr(settings, "TRIBES", {}) or {})
        kw = {"context": conf.get("CONTEXT"), "socket": conf.get("AGENT_SOCKET"),
              "cookie_name": conf.get("COOKIE_NAME"), "cookie_path": conf.get("COOKIE_PATH"),
              "cookie_secure": conf.get("COOKIE_SECURE"), "cookie_domain": conf.get("COOKIE_DOMAIN"),
              "cookie_samesite": conf.get("COOKIE_SAMESITE"), "max_write": conf.get("MAX_WRITE_BYTES")}
        cfg = WebConfig.from_env(**kw)
        _STORE = _Store(cfg, conf.get("BACKEND") or SessionClient(cfg.socket))
    return _STORE


def _same(ts: TribesSession, key: str, value: Any) -> bool:
    """True when ``value`` is what the session already holds (no write needed)."""
    from tribes.web.values import coerce_like, encode_attribute
    orig = ts._orig.get(key)
    if orig is None or key in ts._set:
        return False
    try:
        return encode_attribute(key, coerce_like(ts._jtypes.get(key, ts[key]), value)) == orig
    except TypeError:
        return False


class SessionStore(SessionBase):
    """Django's session API over a Tomcat session (``SESSION_ENGINE = "tribes.web.django"``)."""

    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self.tribes_session = TribesSession(store(), session_key)

    # Django stores its data in a dict (_session_cache); it goes into the Tomcat session at save()
    def load(self) -> dict[str, Any]:
        ts = self.tribes_session
        ts._ensure()
        if ts.session_id is None:
            self._session_key = None
        elif ts.session_id != self._session_key:
            self._session_key = ts.session_id              # renamed by JvmRouteBinderValve
        return {k: ts[k] for k in ts}

    def __setitem__(self, key: str, value: Any) -> None:
        self._get_session()
        self.tribes_session[key] = value      # TypeError naming the attribute / size limit, right here
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        if key in self.tribes_session:
            del self.tribes_session[key]

    def exists(self, session_key: str) -> bool:
        probe = TribesSession(store(), session_key)
        probe._ensure()
        return probe.session_id is not None

    def create(self) -> None:
        self._session_key = None
        self.modified = True

    def _sync(self) -> None:
        ts = self.tribes_session
        data = self._get_session(no_load=False)
        for k in [k for k in ts._values if k not in data]:
            del ts[k]
        for k, v in data.items():
            if not _same(ts, k, v):
                ts[k] = v

    def save(self, must_create: bool = False) -> None:
        ts = self.tribes_session
        if must_create and ts.session_id is not None:
            raise CreateError("the session exists already")
        self._sync()
        action = store().save(ts)
        self._session_key = ts.session_id
        self._tribes_cookie = action

    def delete(self, session_key: str | None = None) -> None:
        ts = self.tribes_session
        if session_key is not None and session_key != ts.session_id:
            other = TribesSession(store(), session_key)
            other._ensure()
            if other.session_id is not None:
                other.invalidate()
                store().save(other)
            return
        if ts.loaded or ts.request_id:
            ts._ensure()
            if ts.session_id is not None:
                ts.invalidate()
                store().save(ts)
        self.tribes_session = TribesSession(store(), None)
        self.tribes_session.loaded = True
        self._tribes_deleted = True

    def cycle_key(self) -> None:
        """A new id for the same session (changeSessionId), not a copy: Tomcat sees one session."""
        self._get_session()
        self.tribes_session.rotate_id()
        self.modified = True

    @classmethod
    def clear_expired(cls) -> None:
        """Nothing to do: the cluster expires sessions (maxInactiveInterval)."""

    def _validate_session_key(self, key: str | None) -> bool:
        from tribes.web.session import valid_session_id
        return valid_session_id(key)


class SessionMiddleware:
    """Like Django's SessionMiddleware, with Tomcat's cookie and a 503 when the agent is down."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        st = store()
        cfg = st.config
        ids = parse_cookie_ids(request.META.get("HTTP_COOKIE"), cfg.cookie_name)
        ts = st.open_ids(ids, TribesSession)                   # Tomcat's rule: the first id known in this context
        request.session = SessionStore(ts.request_id)
        request.session.tribes_session = ts
        try:
            # loaded now, not at first use: Django turns an exception inside other middleware (CSRF
            # reads the session) into a 500, and the answer must be a 503
            request.session.tribes_session._ensure()
            response = self.get_response(request)
            return self._finish(request, response)
        except AgentUnavailable as exc:
            log.error("%s", exc)
            return HttpResponse(f"503 Service Unavailable: the session store is not reachable.\n{exc}\n",
                                status=503, content_type="text/plain; charset=utf-8",
                                headers={"Retry-After": "5"})

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, AgentUnavailable):
            log.error("%s", exception)
            return HttpResponse(f"503 Service Unavailable: the session store is not reachable.\n{exception}\n",
                                status=503, content_type="text/plain; charset=utf-8", headers={"Retry-After": "5"})
        return None

    def _finish(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        session: SessionStore = request.session  # type: ignore[assignment]
        ts = session.tribes_session
        cfg = store().config
        https = request.is_secure()
        if session.accessed:
            response.headers.setdefault("Vary", "Cookie")
        action = None
        if session.modified and response.status_code != 500:
            session.save()
            action = getattr(session, "_tribes_cookie", None)
        elif ts.loaded:
            action = store().save(ts)
        if (action is None or not action.set) and ts.session_id is None and (
                getattr(session, "_tribes_deleted", False) or (ts.loaded and ts.request_id is not None)):
            from tribes.web.session import CookieAction
            action = CookieAction(delete=True)
        if action is not None and action.set:
            response.headers.setdefault("Set-Cookie", "")
            response.cookies[cfg.cookie_name] = action.set
            _apply_cookie(response, cfg, https)
        elif action is not None and action.delete:
            response.cookies[cfg.cookie_name] = ""
            _apply_cookie(response, cfg, https, delete=True)
        if response.headers.get("Set-Cookie") == "":
            del response.headers["Set-Cookie"]
        return response


def _apply_cookie(response: HttpResponse, cfg: WebConfig, https: bool, delete: bool = False) -> None:
    c = response.cookies[cfg.cookie_name]
    c["path"] = cfg.path
    c["httponly"] = cfg.cookie_http_only
    if cfg.secure_for(https):
        c["secure"] = True
    if cfg.cookie_domain:
        c["domain"] = cfg.cookie_domain
    if cfg.cookie_samesite:
        c["samesite"] = cfg.cookie_samesite
    if delete:
        c["max-age"] = 0
        c["expires"] = "Thu, 01 Jan 1970 00:00:00 GMT"


class _Meta:
    class pk:  # noqa: N801 - Django's user._meta.pk
        @staticmethod
        def value_to_string(obj: Any) -> str:
            return str(obj.pk)


class TomcatUser:
    """A user logged in through Tomcat or tribes.web (no database): Django's user API, roles as groups."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    _meta = _Meta
    backend = "tribes.web.django.TomcatBackend"

    def __init__(self, name: str, roles: list[str] | tuple[str, ...] = (), auth_type: str | None = None) -> None:
        self.username = name
        self.roles = list(roles)
        self.auth_type = auth_type
        self.pk = self.id = name

    def get_username(self) -> str:
        return self.username

    def __str__(self) -> str:
        return self.username

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TomcatUser) and other.username == self.username

    def __hash__(self) -> int:
        return hash(self.username)

    @property
    def group_names(self) -> list[str]:
        return list(self.roles)

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return perm in self.roles

    def has_perms(self, perms: Any, obj: Any = None) -> bool:
        return all(self.has_perm(p) for p in perms)

    def has_module_perms(self, app_label: str) -> bool:
        return False

    def get_session_auth_hash(self) -> str:
        import hashlib
        return hashlib.sha256(f"{self.username}:{','.join(sorted(self.roles))}".encode()).hexdigest()

    def save(self, *args: Any, **kw: Any) -> None:
        """Nothing to store (Django's update_last_login calls this)."""


class TomcatBackend:
    """Authentication backend for users that exist only as Tomcat principals (get_user by name)."""

    def authenticate(self, request: HttpRequest | None, **credentials: Any) -> None:
        return None

    def get_user(self, user_id: Any) -> None:
        return None


class AnonymousUser:
    """No principal on the session (Django's AnonymousUser API without the auth models/database)."""

    is_authenticated = False
    is_anonymous = True
    is_active = False
    is_staff = False
    is_superuser = False
    username = ""
    roles: list[str] = []
    auth_type = None
    pk = id = None

    def get_username(self) -> str:
        return ""

    def __str__(self) -> str:
        return "AnonymousUser"

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False

    def has_perms(self, perms: Any, obj: Any = None) -> bool:
        return False

    def has_module_perms(self, app_label: str) -> bool:
        return False


def get_user(request: HttpRequest) -> Any:
    from tribes.web import session_of
    try:
        u = session_of(request).user
    except TypeError:
        u = None
    return TomcatUser(*u) if u else AnonymousUser()


class AuthenticationMiddleware:
    """``request.user`` from the session's principal (Tomcat's or Python's login)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.user = SimpleLazyObject(lambda: get_user(request))  # type: ignore[assignment]
        return self.get_response(request)


def _roles_of(user: Any) -> list[str]:
    roles = getattr(user, "roles", None)
    if roles is not None:
        return [str(r) for r in roles]
    groups = getattr(user, "groups", None)
    try:
        return [g.name for g in groups.all()] if groups is not None else []
    except Exception:  # noqa: BLE001 - no database: no groups
        return []


def _on_login(sender: Any, request: HttpRequest | None = None, user: Any = None, **kw: Any) -> None:
    if request is None or user is None or not isinstance(getattr(request, "session", None), SessionStore):
        return
    request.session.tribes_session.login(user.get_username(), _roles_of(user))
    request.session.modified = True


def _on_logout(sender: Any, request: HttpRequest | None = None, user: Any = None, **kw: Any) -> None:
    if request is None or not isinstance(getattr(request, "session", None), SessionStore):
        return
    request.session.tribes_session.logout()


user_logged_in.connect(_on_login, dispatch_uid="tribes.web.django.login")
user_logged_out.connect(_on_logout, dispatch_uid="tribes.web.django.logout")
