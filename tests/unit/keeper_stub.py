"""A channel stand-in for SessionKeeper unit tests (no network)."""
from __future__ import annotations

from typing import Any


class StubChannel:
    def __init__(self) -> None:
        self.listeners: list[Any] = []

    def add_channel_listener(self, listener: Any) -> None:
        self.listeners.append(listener)

    def add_membership_listener(self, listener: Any) -> None:
        pass

    def members(self) -> list[Any]:
        return []

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def send(self, members: Any, message: Any, options: int = 0) -> None:
        pass

    def interceptors(self) -> list[Any]:
        return []
