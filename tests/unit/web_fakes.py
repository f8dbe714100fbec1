"""An in-memory Python member for the web unit tests: a SimpleTcpCluster over a channel with no
other members (nothing is sent anywhere), answered by the real SessionService."""
from __future__ import annotations

from typing import Any

from tribes.managers.cluster import SimpleTcpCluster
from tribes.web.service import SessionService


class FakeChannel:
    local_member = "me"

    def add_channel_listener(self, listener: Any) -> None:
        pass

    def add_membership_listener(self, listener: Any) -> None:
        pass

    def members(self) -> list[Any]:
        return []

    def interceptors(self) -> list[Any]:
        return []


class LocalBackend:
    """``call``/``acall`` like the agent client, straight into a SessionService."""

    def __init__(self, route: str = "py1", max_write: int = 1 << 20, contexts: tuple[str, ...] = ("/app", "/")) -> None:
        self.cluster = SimpleTcpCluster(FakeChannel(), jvm_route=route)
        for c in contexts:
            self.cluster.manager(c)
        self.service = SessionService(self.cluster, max_write)
        self.info = self.service.handle({"op": "hello", "v": 1})
        self.calls: list[dict[str, Any]] = []
        self.down = False

    def call(self, msg: dict[str, Any]) -> dict[str, Any]:
        if self.down:
            from tribes.web.client import unavailable
            raise unavailable("/nonexistent/agent.sock", "connection refused")
        self.calls.append(msg)
        return self.service.handle(msg)

    async def acall(self, msg: dict[str, Any]) -> dict[str, Any]:
        return self.call(msg)

    @property
    def dm(self) -> Any:
        return self.cluster.managers["localhost#/app"]

    def tomcat_session(self, attrs: dict[str, Any], sid: str | None = None) -> str:
        """A session as if replicated from Tomcat (typed values)."""
        s = self.cluster.contexts["localhost#/app"].create_session(attrs, session_id=sid)
        assert s.id is not None
        return s.id
