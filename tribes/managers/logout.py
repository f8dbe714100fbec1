"""Forced logout: invalidate every session of a user on every node (Tomcat has no such operation).

Works from the principal that Tomcat replicates with each DeltaManager session, on any Python member
that holds the sessions (``tribes sessions logout``, the keeper, the dashboard). The invalidation is
the cluster's own ``EXPIRED``, so the user's next request on any node meets the login page.
"""
from __future__ import annotations

import logging
from typing import Any, Iterable

from tribes.managers.principal import principal_name

log = logging.getLogger("tribes.managers.logout")

__all__ = ["force_logout", "sessions_of_user"]


def sessions_of_user(cluster: Any, user: str, contexts: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """``(manager name, session id)`` of every valid session whose principal is ``user``."""
    names = set(contexts) if contexts is not None else None
    found = []
    for name, dm in cluster.managers.items():
        if names is not None and name not in names:
            continue
        for sid, s in dm.sessions.items():
            if s.is_valid and principal_name(s.principal) == user:
                found.append((name, sid))
    return found


def force_logout(cluster: Any, user: str, contexts: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """Invalidate every session of ``user`` (in ``contexts``, manager names, or all) on every node.

    Returns the ``(context, session id)`` pairs invalidated. The EXPIRED messages are queued: await
    ``cluster.flush()`` before leaving the cluster."""
    victims = sessions_of_user(cluster, user, contexts)
    for ctx, sid in victims:
        cluster.contexts[ctx].invalidate(sid)
    log.warning("forced logout of user %r: %d session(s) invalidated on every node", user, len(victims))
    return victims
