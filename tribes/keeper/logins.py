"""Cluster-wide duplicate-login prevention and forced logout (Tomcat has neither).

Both work from the principal that Tomcat replicates with every DeltaManager session (the
``GenericPrincipal$SerializablePrincipal`` a FORM/BASIC login stores in the session): a Python
member sees every session of its contexts, so it can see every login in the cluster.

* :class:`LoginMonitor` keeps ``user -> sessions`` up to date as sessions change (the keeper feeds
  it every session it touches) and enforces :class:`LoginPolicy` per context:
  ``max_sessions_per_user`` (1 = one login per user), ``newest-wins`` (the older sessions are
  invalidated cluster-wide when the user logs in elsewhere) or ``oldest-wins`` (the new session is
  invalidated), and a per-user exception list. A login's time is when this member first saw the
  principal on that session. Invalidation is the cluster's own: ``EXPIRED`` to every node, so the
  user's next request on any node meets Tomcat's login page.
* :func:`force_logout` (from :mod:`tribes.managers.logout`, re-exported here) invalidates every session
  of a user on every node, with or without a keeper.

BackupManager contexts are not covered: a proxy entry holds a key only and never sees the principal.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from tribes.managers.logout import force_logout
from tribes.managers.principal import principal_name
from tribes.ratelimit import RateLimitedLog

log = logging.getLogger("tribes.keeper.logins")

__all__ = ["LoginPolicy", "LoginMonitor", "force_logout", "NEWEST_WINS", "OLDEST_WINS"]

NEWEST_WINS = "newest-wins"
OLDEST_WINS = "oldest-wins"


@dataclass(frozen=True)
class LoginPolicy:
    """Duplicate-login prevention for one context (off while ``max_sessions_per_user`` is 0)."""

    max_sessions_per_user: int = 0
    policy: str = NEWEST_WINS
    exempt: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.policy not in (NEWEST_WINS, OLDEST_WINS):
            raise ValueError(f"login policy {self.policy!r}: use {NEWEST_WINS!r} or {OLDEST_WINS!r}")
        if self.max_sessions_per_user < 0:
            raise ValueError("maxSessionsPerUser must be 0 (off) or more")

    @property
    def enabled(self) -> bool:
        return self.max_sessions_per_user > 0


class LoginMonitor:
    """Duplicate-login prevention over a ``SimpleTcpCluster`` (see the module docs)."""

    def __init__(self, cluster: Any, policies: dict[str, LoginPolicy], default: LoginPolicy | None = None) -> None:
        self.cluster = cluster
        self.policies = dict(policies)         # manager name -> policy
        self.default = default or LoginPolicy()
        self._user_of: dict[tuple[str, str], str] = {}                   # (ctx, sid) -> user
        # (ctx, user) -> {id without route: (first seen ms, current full id)}
        self._logins: dict[tuple[str, str], dict[str, tuple[int, str]]] = {}
        self.acted = 0                                                   # sessions invalidated by policy
        self._log = RateLimitedLog(log, interval=1.0)

    def policy(self, context: str) -> LoginPolicy:
        return self.policies.get(context, self.default)

    def users(self) -> dict[str, int]:
        """Logged-in users and how many sessions each holds (all contexts)."""
        out: dict[str, int] = {}
        for (_, user), logins in self._logins.items():
            out[user] = out.get(user, 0) + len(logins)
        return out

    def touched(self, context: str, session_id: str, enforce: bool = True) -> None:
        """A session changed (or vanished): update the index, enforce the context's policy.

        A login is keyed by the id without its ``.jvmRoute``: JvmRouteBinderValve's renames keep that
        part (the same login), while a login's own id change (session fixation) makes a new one."""
        dm = self.cluster.managers.get(context)
        s = dm.sessions.get(session_id) if dm is not None else None
        user = principal_name(s.principal) if s is not None and s.is_valid else None
        key = (context, session_id)
        before = self._user_of.get(key)
        if before == user:
            return
        base = session_id.split(".", 1)[0]
        if before is not None:
            self._user_of.pop(key, None)
            logins = self._logins.get((context, before))
            if logins is not None and logins.get(base, (0, ""))[1] == session_id:
                del logins[base]
                if not logins:
                    del self._logins[(context, before)]
        if user is None:
            return
        self._user_of[key] = user
        logins = self._logins.setdefault((context, user), {})
        first_seen = logins[base][0] if base in logins else int(time.time() * 1000)
        logins[base] = (first_seen, session_id)
        pol = self.policy(context)
        if enforce and pol.enabled and user not in pol.exempt and len(logins) > pol.max_sessions_per_user:
            ordered = sorted(logins.values())                          # oldest login first
            extra = len(logins) - pol.max_sessions_per_user
            victims = [sid for _, sid in (ordered[:extra] if pol.policy == NEWEST_WINS else ordered[-extra:])]
            # act outside the event that called us (invalidation fires events of its own)
            asyncio.get_running_loop().call_soon(self._invalidate, context, user, victims)

    def _invalidate(self, context: str, user: str, victims: list[str]) -> None:
        ctx = self.cluster.contexts.get(context)
        if ctx is None:
            return
        for sid in victims:
            if ctx.invalidate(sid):
                self.acted += 1
                log.warning("duplicate login of %r in %s: session %s invalidated on every node (%s)", user,
                            context, sid[:6] + "...", self.policy(context).policy)
