"""Read-only views of the sessions a node holds: logged-in users, a search, typed attribute JSON.

Attributes are rendered with ``tribes.javaser.to_json`` (``{"class": ..., "value": ...}``) and then
bounded: an object Python does not map (an *opaque* Java object, rendered with its fields) is
summarised to its class and field names, long strings and lists are cut, and the whole rendering
of one session has a node budget. With ``show_values`` off only names and classes are shown.
"""
from __future__ import annotations

import logging
from typing import Any

from tribes.managers.cluster import context_path
from tribes.managers.principal import principal_name

log = logging.getLogger("tribes.dashboard")

__all__ = ["logged_in_users", "search_sessions", "summarise", "MAX_RESULTS", "MAX_USERS"]

MAX_RESULTS = 50
MAX_USERS = 500
MAX_STRING = 300
MAX_ITEMS = 50
MAX_DEPTH = 8
MAX_NODES = 2000


def _managers(cluster: Any) -> list[tuple[str, Any]]:
    if cluster is None:
        return []
    return sorted(getattr(cluster, "managers", {}).items())


def logged_in_users(cluster: Any) -> list[dict[str, Any]]:
    """``[{"user", "context", "sessions"}]`` for every principal in a valid session (at most MAX_USERS)."""
    counts: dict[tuple[str, str], int] = {}
    for name, dm in _managers(cluster):
        for s in list(dm.sessions.values()):
            if not s.is_valid or s.principal is None:
                continue
            user = principal_name(s.principal)
            if user is None:
                continue
            key = (user, context_path(name))
            counts[key] = counts.get(key, 0) + 1
    out = [{"user": u, "context": c, "sessions": n} for (u, c), n in sorted(counts.items())]
    return out[:MAX_USERS]


def search_sessions(cluster: Any, q: str, *, show_values: bool = True) -> list[dict[str, Any]]:
    """Sessions whose user name equals ``q`` (case-insensitive) or whose id starts with ``q``."""
    ql = q.lower()
    found: list[dict[str, Any]] = []
    for name, dm in _managers(cluster):
        for sid, s in list(dm.sessions.items()):
            if not s.is_valid:
                continue
            user = principal_name(s.principal)
            if not (sid.lower().startswith(ql) or (user is not None and user.lower() == ql)):
                continue
            found.append(session_view(context_path(name), sid, s, user, show_values))
            if len(found) >= MAX_RESULTS:
                return found
    return found


def session_view(context: str, sid: str, s: Any, user: str | None, show_values: bool) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    budget = [MAX_NODES]
    for k, v in list(s.attributes.items())[:200]:
        if show_values:
            attrs[str(k)] = summarise(_to_json(v), budget)
        else:
            attrs[str(k)] = {"class": _class_of(v)}
    return {"context": context, "id": sid, "user": user, "created": s.creation_time,
            "lastAccessed": s.last_accessed_time, "maxInactive": s.max_inactive_interval,
            "primary": bool(getattr(s, "primary", False)), "attributes": attrs}


def _to_json(v: Any) -> Any:
    from tribes.javaser import to_json
    try:
        return to_json(v)
    except Exception as exc:  # noqa: BLE001 - a value that cannot be rendered is named, not fatal
        return {"class": _class_of(v), "error": f"not rendered: {type(exc).__name__}"}


def _class_of(v: Any) -> str:
    try:
        from tribes.managers.session import java_class_name
        return str(java_class_name(v))
    except Exception:  # noqa: BLE001
        return type(v).__name__


def summarise(j: Any, budget: list[int] | None = None, depth: int = 0) -> Any:
    """Bound a ``to_json`` rendering (see the module docs)."""
    if budget is None:
        budget = [MAX_NODES]
    budget[0] -= 1
    if budget[0] < 0:
        return {"truncated": True}
    if isinstance(j, str):
        return j if len(j) <= MAX_STRING else j[:MAX_STRING] + f"… ({len(j)} characters)"
    if isinstance(j, list):
        if depth >= MAX_DEPTH:
            return {"truncated": True, "items": len(j)}
        out = [summarise(x, budget, depth + 1) for x in j[:MAX_ITEMS]]
        if len(j) > MAX_ITEMS:
            out.append({"truncated": True, "more": len(j) - MAX_ITEMS})
        return out
    if isinstance(j, dict):
        if "fields" in j and "class" in j:          # an object Python does not map: summarised
            fields = j.get("fields") or {}
            return {"class": j["class"], "opaque": True, "fields": sorted(str(k) for k in fields)[:MAX_ITEMS]}
        if depth >= MAX_DEPTH:
            return {"class": j.get("class"), "truncated": True}
        return {str(k): summarise(v, budget, depth + 1) for k, v in list(j.items())[:MAX_ITEMS]}
    return j
