"""Errors of the web layer (``tribes.web``)."""
from __future__ import annotations

__all__ = ["WebError", "AgentUnavailable", "SessionWriteTooLarge", "ProtocolError", "AgentError"]


class WebError(Exception):
    """Base class of the web layer's errors."""


class AgentUnavailable(WebError):
    """The session agent cannot be reached: the request must fail with HTTP 503, never run with an
    empty or stale session. The message says what to start."""

    status = 503


class SessionWriteTooLarge(WebError, ValueError):
    """One request's session writes exceed the configured limit; nothing of the request was written."""

    def __init__(self, size: int, limit: int, names: list[str] | None = None) -> None:
        names_txt = f" (attributes {', '.join(sorted(names))})" if names else ""
        super().__init__(f"session write of {size} bytes{names_txt} exceeds the limit of {limit} bytes "
                         f"(tribes agent --max-write-bytes); the session is unchanged")
        self.size = size
        self.limit = limit
        self.names = names or []


class ProtocolError(WebError):
    """A frame or message of the agent protocol is malformed (the connection is closed)."""


class AgentError(WebError):
    """The agent refused a request (``code`` says why: bad_request, version, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
