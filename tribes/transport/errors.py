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
]


class SendTimeoutError(TimeoutError):
    """A send did not complete (write + ACK) within the sender's ``timeout``."""
