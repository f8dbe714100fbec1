"""Exceptions of the transport: ``SendTimeoutError``; the channel's exceptions re-exported.

``ChannelException`` (with its ``FaultyMember`` entries) and ``RemoteProcessException`` are
defined in the vocabulary, ``tribes.channel``, as Tomcat's root package defines them.
"""
from __future__ import annotations

from tribes.channel import ChannelException, FaultyMember, RemoteProcessException

__all__ = [
    "ChannelException",
    "FaultyMember",
    "RemoteProcessException",
    "SendTimeoutError",
    "SendQueueFullError",
]


class SendTimeoutError(TimeoutError):
    """A send did not complete (write + ACK) within the sender's ``timeout``."""


class SendQueueFullError(Exception):
    """The send queue of one member is full (``max_queue_messages`` / ``max_queue_bytes``): that member
    is slow or hung, and this message is refused for it alone (policy "fail new")."""
