"""The framework-neutral part of the adapters: Tomcat's cookie, a session as a mapping, and the
store that loads a session at first use and commits its changes at the end of the request.

A :class:`TribesSession` is a ``MutableMapping``: ``session["cart"]`` is the attribute ``cart`` that
Tomcat code reads with ``session.getAttribute("cart")``. It is loaded lazily (no agent round trip for a
request that never touches it) and commits one change set at the end of the request: the attributes
set, the ones removed, and those mutable values (list, dict, set) whose contents changed in place.
"""
from __future__ import annotations

import logging
import os
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any, Iterator, TypeVar

from tribes.javaser.values import _JavaFloat, _JavaInt
from tribes.ratelimit import RateLimitedLog
from tribes.web.errors import AgentError, AgentUnavailable, SessionWriteTooLarge
from tribes.web.service import SESSION_ID_RE
from tribes.web.values import coerce_like, decode_attribute, encode_attribute, is_mutable

log = logging.getLogger("tribes.web")
_unavailable_log = RateLimitedLog(log, interval=10.0)

__all__ = ["WebConfig", "TribesSession", "SessionStore", "CookieAction", "valid_session_id", "parse_cookie_ids"]


def _env_bool(name: str) -> bool | None:
    v = os.environ.get(name)
    if v is None or v == "":
        return None
    return v.strip().lower() in ("1", "true", "yes", "on")


def _context_path(context: str) -> str:
    c = context.strip()
    if c in ("", "/", "ROOT"):
        return ""
    if "#" in c:
        c = c.split("#", 1)[1]
    return c if c.startswith("/") else "/" + c


@dataclass
class WebConfig:
    """Where the sessions live and which cookie carries their id (Tomcat's context settings).

    ``context``: the Tomcat context path (``/app``; ``/`` for ROOT). ``cookie_name``: the context's
    ``sessionCookieName`` (``JSESSIONID``). ``cookie_path``: ``sessionCookiePath`` (default: the
    context path, ``/`` for ROOT). ``cookie_secure``: ``None`` = when the request came over https (as
    Tomcat does). ``socket``: the agent's Unix socket. ``max_write``: bytes one request may write
    (default: the agent's ``--max-write-bytes``).
    Environment (``WebConfig.from_env()``): TRIBES_AGENT_SOCKET, TRIBES_CONTEXT, TRIBES_COOKIE_NAME,
    TRIBES_COOKIE_PATH, TRIBES_COOKIE_SECURE, TRIBES_COOKIE_DOMAIN, TRIBES_COOKIE_SAMESITE, TRIBES_MAX_WRITE_BYTES.
    """

    context: str = "/app"
    cookie_name: str = "JSESSIONID"
    cookie_path: str | None = None
    cookie_secure: bool | None = None
    cookie_http_only: bool = True
    cookie_domain: str | None = None
    cookie_samesite: str | None = None
    socket: str | None = None
    max_write: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides: Any) -> "WebConfig":
        env = os.environ
        kw: dict[str, Any] = {}
        if env.get("TRIBES_CONTEXT"):
            kw["context"] = env["TRIBES_CONTEXT"]
        if env.get("TRIBES_COOKIE_NAME"):
            kw["cookie_name"] = env["TRIBES_COOKIE_NAME"]
        if env.get("TRIBES_COOKIE_PATH"):
            kw["cookie_path"] = env["TRIBES_COOKIE_PATH"]
        sec = _env_bool("TRIBES_COOKIE_SECURE")
        if sec is not None:
            kw["cookie_secure"] = sec
        if env.get("TRIBES_COOKIE_DOMAIN"):
            kw["cookie_domain"] = env["TRIBES_COOKIE_DOMAIN"]
        if env.get("TRIBES_COOKIE_SAMESITE"):
            kw["cookie_samesite"] = env["TRIBES_COOKIE_SAMESITE"]
        if env.get("TRIBES_AGENT_SOCKET"):
            kw["socket"] = env["TRIBES_AGENT_SOCKET"]
        if env.get("TRIBES_MAX_WRITE_BYTES"):
            kw["max_write"] = int(env["TRIBES_MAX_WRITE_BYTES"])
        kw.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**kw)

    @property
    def context_path(self) -> str:
        """``/app``; ``""`` for ROOT (as ``HttpServletRequest.getContextPath()``)."""
        return _context_path(self.context)

    @property
    def path(self) -> str:
        """The cookie's Path: ``sessionCookiePath`` or the context path (``/`` for ROOT)."""
        return self.cookie_path or self.context_path or "/"

    def secure_for(self, https: bool) -> bool:
        return https if self.cookie_secure is None else self.cookie_secure

    def cookie_header(self, value: str, https: bool, delete: bool = False) -> str:
        """A Set-Cookie value the way Tomcat writes its session cookie."""
        parts = [f"{self.cookie_name}={'' if delete else value}", f"Path={self.path}"]
        if self.cookie_domain:
            parts.append(f"Domain={self.cookie_domain}")
        if delete:
            parts.append("Max-Age=0")
            parts.append("Expires=Thu, 01 Jan 1970 00:00:10 GMT")
        if self.secure_for(https):
            parts.append("Secure")
        if self.cookie_http_only:
            parts.append("HttpOnly")
        if self.cookie_samesite:
            parts.append(f"SameSite={self.cookie_samesite}")
        return "; ".join(parts)


def valid_session_id(value: str | None) -> bool:
    """True for Tomcat's id shape (upper-case hex, optionally ``.jvmRoute``); anything else is
    treated as no id at all (a fresh session), never looked up."""
    return bool(value) and len(value or "") <= 200 and SESSION_ID_RE.fullmatch(value or "") is not None


def parse_cookie_ids(header: str | None, name: str) -> list[str]:
    """Every value of cookie ``name`` in a Cookie header, in order (browsers may send several)."""
    out: list[str] = []
    if not header:
        return out
    for part in header.split(";"):
        k, sep, v = part.strip().partition("=")
        if sep and k.strip() == name:
            v = v.strip()
            if len(v) >= 2 and v[0] == v[-1] == '"':
                v = v[1:-1]
            out.append(v)
    return out


@dataclass
class CookieAction:
    """What the response must do with the session cookie: ``set`` an id, ``delete`` it, or nothing."""

    set: str | None = None
    delete: bool = False


_LAZY = object()


class TribesSession(MutableMapping[str, Any]):
    """One Tomcat session seen from a Python request (see the module doc)."""

    def __init__(self, store: "SessionStore", request_id: str | None) -> None:
        self._store = store
        self.request_id = request_id if valid_session_id(request_id) else None
        #: further ids of the request's cookies, tried in order when one is unknown
        self.candidates: list[str] = []
        #: the current id (None: no session yet)
        self.session_id: str | None = None
        self.loaded = False
        self.renamed = False
        self.modified = False
        self.accessed = False
        self._values: dict[str, Any] = {}
        self._jtypes: dict[str, Any] = {}
        self._orig: dict[str, bytes] = {}
        self._set: dict[str, bytes | None] = {}
        self._removed: set[str] = set()
        self._login: list[Any] | None = None
        self._logout = False
        self._rotate = False
        self._invalidate = False
        self._poisoned: SessionWriteTooLarge | None = None
        self.principal: str | None = None
        self.roles: list[str] = []
        self.auth_type: str | None = None

    # -- loading ------------------------------------------------------------------------------
    def _apply_load(self, ans: dict[str, Any]) -> None:
        self.loaded = True
        if not ans.get("found"):
            return
        self.session_id = ans["id"]
        self.renamed = bool(ans.get("renamed")) or ans["id"] != self.request_id
        self._orig = dict(ans.get("attrs") or {})
        self._values = dict.fromkeys(self._orig, _LAZY)     # decoded at first use
        p = ans.get("principal")
        if p:
            self.principal, self.roles = p[0], list(p[1])
        self.auth_type = ans.get("auth")

    def _decode(self, key: str) -> Any:
        v = decode_attribute(key, self._orig[key])
        if isinstance(v, (_JavaInt, _JavaFloat)):
            # a boxed number reads as a plain int/float (prints as one); its Java type is kept
            # for the write-back (an Integer stays an Integer)
            self._jtypes[key] = v
            v = int(v) if isinstance(v, _JavaInt) else float(v)
        self._values[key] = v
        return v

    def _ensure(self) -> None:
        self.accessed = True
        if not self.loaded:
            self._store._load(self)

    @property
    def is_new(self) -> bool:
        """True until the session exists in the cluster (it is created when the request commits)."""
        self._ensure()
        return self.session_id is None

    new = is_new

    # -- mapping ------------------------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        self._ensure()
        v = self._values[key]
        return self._decode(key) if v is _LAZY else v

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str):
            raise TypeError(f"session attribute names are strings, not {type(key).__name__}")
        self._ensure()
        if value is None:
            if key in self._values:
                del self[key]
            return
        old = self._values.get(key)
        if old is _LAZY:
            old = self._decode(key)
        typed = coerce_like(self._jtypes.get(key, old), value)
        data = encode_attribute(key, typed)             # TypeError naming the attribute
        size = len(key) + len(data) + sum(len(k) + len(v or b"") for k, v in self._set.items() if k != key)
        limit = self._store.max_write()
        if limit is not None and size > limit:
            self._poisoned = SessionWriteTooLarge(size, limit, [*(k for k in self._set if k != key), key])
            raise self._poisoned
        if typed is not value:
            self._jtypes[key] = typed
        else:
            self._jtypes.pop(key, None)
        self._values[key] = value
        self._set[key] = data if not is_mutable(value) else None
        self._removed.discard(key)
        self.modified = True

    def __delitem__(self, key: str) -> None:
        self._ensure()
        del self._values[key]
        self._jtypes.pop(key, None)
        self._set.pop(key, None)
        if key in self._orig:
            self._removed.add(key)
        self.modified = True

    def __iter__(self) -> Iterator[str]:
        self._ensure()
        return iter(list(self._values))

    def __len__(self) -> int:
        self._ensure()
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        self._ensure()
        return key in self._values

    def __repr__(self) -> str:
        return f"<TribesSession {self.session_id or self.request_id or 'new'} {sorted(self._values)!r}>"

    # -- Tomcat operations --------------------------------------------------------------------
    @property
    def user(self) -> tuple[str, list[str], str | None] | None:
        """(name, roles, auth type) of the logged-in user (Tomcat's principal), or None."""
        self._ensure()
        if self._logout and self._login is None:
            return None
        return (self.principal, list(self.roles), self.auth_type) if self.principal else None

    def login(self, name: str, roles: list[str] | tuple[str, ...] = (), auth_type: str = "FORM") -> None:
        """Log ``name`` in with ``roles``: Tomcat's principal on the session, a new session id."""
        if not name:
            raise ValueError("login needs a user name")
        self._ensure()
        self._login = [str(name), [str(r) for r in roles], auth_type]
        self._logout = False
        self.principal, self.roles, self.auth_type = str(name), [str(r) for r in roles], auth_type
        self.modified = True

    def logout(self) -> None:
        """Remove the principal (Tomcat's request.logout()); every node sees the user logged out."""
        self._ensure()
        self._login = None
        self._logout = True
        self.principal, self.roles, self.auth_type = None, [], None
        self.modified = True

    def invalidate(self) -> None:
        """HttpSession.invalidate(): the session ends on every node; the cookie is deleted."""
        self._ensure()
        self._invalidate = True
        self._values.clear()
        self.modified = True

    def rotate_id(self) -> None:
        """A new id for this session at commit (changeSessionId), e.g. after a privilege change."""
        self._rotate = True
        self.modified = True

    def clear(self) -> None:
        self._ensure()
        for k in list(self._values):
            del self[k]

    # -- commit -------------------------------------------------------------------------------
    def changes(self) -> dict[str, Any] | None:
        """The commit request of this request (None: nothing to send)."""
        if not self.loaded:
            return None
        if self._poisoned is not None:          # refused during the request: nothing of it is written
            log.warning("session %s: nothing of this request was written (%s)", self.session_id or "(new)",
                        self._poisoned)
            return None
        if self._invalidate:
            return {"op": "commit", "id": self.session_id, "invalidate": True} if self.session_id else None
        sets: dict[str, bytes] = {}
        for k, data in self._set.items():
            sets[k] = data if data is not None else encode_attribute(k, self._values[k])
        for k, v in self._values.items():               # undecoded values cannot have changed
            if k not in sets and v is not _LAZY and is_mutable(v):
                data = encode_attribute(k, v)
                if data != self._orig.get(k):
                    sets[k] = data
        removed = [k for k in self._removed if k in self._orig]
        if self.session_id is None and not sets and self._login is None:
            return None                              # nothing to keep: no session is made
        if not sets and not removed and self._login is None and not self._logout and not self._rotate:
            # a read-only request still ends a request of the session (access time; ACCESSED to the
            # other nodes when the session was last used elsewhere), as ReplicationValve does
            return {"op": "commit", "id": self.session_id, "set": {}, "remove": [], "access": True}
        limit = self._store.max_write()
        size = sum(len(k) + len(v) for k, v in sets.items())
        if limit is not None and size > limit:
            raise SessionWriteTooLarge(size, limit, list(sets))
        msg: dict[str, Any] = {"op": "commit", "id": self.session_id, "set": sets, "remove": removed}
        if self._login is not None:
            msg["login"] = self._login
        elif self._logout and self.session_id is not None:
            msg["logout"] = True
        if self._rotate:
            msg["rotate"] = True
        return msg


_S = TypeVar("_S", bound=TribesSession)


class SessionStore:
    """Opens and commits :class:`TribesSession` objects through a backend (agent client or
    in-process member). One store per application; thread-safe (the blocking client keeps one
    connection per thread)."""

    def __init__(self, config: WebConfig, backend: Any) -> None:
        """``backend``: a :class:`tribes.web.client.SessionClient` / ``AsyncSessionClient`` /
        ``EmbeddedMember`` (anything with ``call`` and ``acall``)."""
        self.config = config
        self.backend = backend

    def max_write(self) -> int | None:
        if self.config.max_write is not None:
            return self.config.max_write
        info = getattr(self.backend, "info", None) or {}
        if not info and hasattr(self.backend, "hello"):
            try:
                info = self.backend.hello()             # connects: the agent's limit applies at once
            except AgentUnavailable:
                return None                             # the commit will find out (HTTP 503)
        mw = info.get("max_write")
        return int(mw) if mw else None

    def pick_id(self, ids: list[str]) -> str | None:
        """The first well-formed id of the cookie values (a malformed one counts as none)."""
        for v in ids:
            if valid_session_id(v):
                return v
        return None

    def open_ids(self, ids: list[str], cls: "type[_S]") -> "_S":
        """A session for a request's cookie values: like Tomcat, the first id that names a session of
        this context wins (a browser may send the ROOT context's JSESSIONID too)."""
        valid = [v for v in ids if valid_session_id(v)]
        s = cls(self, valid[0] if valid else None)
        s.candidates = valid[1:4]
        return s

    def open(self, request_id: str | None) -> TribesSession:
        return TribesSession(self, request_id)

    def _load_msg(self, s: TribesSession) -> dict[str, Any] | None:
        if s.request_id is None:
            return None
        return {"op": "load", "ctx": self.config.context, "id": s.request_id}

    def _loaded(self, s: TribesSession, ans: dict[str, Any]) -> bool:
        """Apply a load answer; False when the next candidate id must be tried."""
        if not ans.get("ok"):
            raise AgentError(str(ans.get("code")), str(ans.get("error")))
        if not ans.get("found") and s.candidates:
            s.request_id = s.candidates.pop(0)
            return False
        s._apply_load(ans)
        return True

    def _load(self, s: TribesSession) -> None:
        while True:
            msg = self._load_msg(s)
            if msg is None:
                s.loaded = True
                return
            try:
                ans = self.backend.call(msg)
            except AgentUnavailable as exc:
                _unavailable_log.warn("agent", "%s", exc)
                raise
            if self._loaded(s, ans):
                return

    async def aload(self, s: TribesSession) -> None:
        msg = self._load_msg(s)
        if msg is None:
            if self.config.max_write is None and not getattr(self.backend, "info", None) \
                    and hasattr(self.backend, "ahello"):
                try:
                    await self.backend.ahello()         # the agent's write limit, before the app writes
                except AgentUnavailable:
                    pass                                # the commit will find out (HTTP 503)
            s.loaded = True
            return
        while True:
            try:
                ans = await self.backend.acall(msg)
            except AgentUnavailable as exc:
                _unavailable_log.warn("agent", "%s", exc)
                raise
            if self._loaded(s, ans):
                return
            msg = {"op": "load", "ctx": self.config.context, "id": s.request_id}

    def _commit_msg(self, s: TribesSession) -> dict[str, Any] | None:
        msg = s.changes()
        if msg is not None:
            msg["ctx"] = self.config.context
        return msg

    def _committed(self, s: TribesSession, ans: dict[str, Any]) -> CookieAction:
        if not ans.get("ok"):
            if ans.get("code") == "too_large":
                raise SessionWriteTooLarge(int(ans.get("size", 0)), int(ans.get("limit", 0)))
            raise AgentError(str(ans.get("code")), str(ans.get("error")))
        new_id = ans.get("id")
        if new_id is None:
            if ans.get("gone"):
                log.info("session %s ended while a request used it (invalidated or expired elsewhere); "
                         "its changes were dropped", s.session_id)
            s.session_id = None
            return CookieAction(delete=s.request_id is not None)
        s.session_id = new_id
        return CookieAction(set=new_id) if new_id != s.request_id else CookieAction()

    def _no_commit_action(self, s: TribesSession) -> CookieAction:
        if s.loaded and s.session_id is not None and s.session_id != s.request_id:
            return CookieAction(set=s.session_id)       # renamed by JvmRouteBinderValve: new cookie
        return CookieAction()

    def save(self, s: TribesSession) -> CookieAction:
        """Commit the request's changes (one delta); what to do with the cookie."""
        msg = self._commit_msg(s)
        if msg is None:
            return self._no_commit_action(s)
        if msg.get("access") and hasattr(self.backend, "send"):
            try:                                        # nothing changed: no answer to wait for
                self.backend.send(msg)
            except AgentUnavailable as exc:
                _unavailable_log.warn("agent", "%s", exc)
            return self._no_commit_action(s)
        try:
            ans = self.backend.call(msg)
        except AgentUnavailable as exc:
            _unavailable_log.warn("agent", "%s", exc)
            if msg.get("access"):                       # nothing was changed: the page may go out
                return self._no_commit_action(s)
            raise
        return self._committed(s, ans)

    async def asave(self, s: TribesSession) -> CookieAction:
        msg = self._commit_msg(s)
        if msg is None:
            return self._no_commit_action(s)
        if msg.get("access") and hasattr(self.backend, "asend"):
            try:                                        # nothing changed: no answer to wait for
                await self.backend.asend(msg)
            except AgentUnavailable as exc:
                _unavailable_log.warn("agent", "%s", exc)
            return self._no_commit_action(s)
        try:
            ans = await self.backend.acall(msg)
        except AgentUnavailable as exc:
            _unavailable_log.warn("agent", "%s", exc)
            if msg.get("access"):
                return self._no_commit_action(s)
            raise
        return self._committed(s, ans)
