"""The channel: ``GroupChannel`` and ``ChannelCoordinator``; the vocabulary (``tribes.channel``) re-exported."""
from __future__ import annotations

from tribes.channel import (DEFAULT, MBR_RX_SEQ, MBR_TX_SEQ, SND_RX_SEQ, SND_TX_SEQ, ByteMessage, ChannelException,
                            ChannelInterceptor, ChannelListener, ErrorHandler, FaultyMember, InterceptorPayload,
                            RemoteProcessException, SerializedMessage, UniqueId)
from tribes.group.channel import GroupChannel
from tribes.group.coordinator import ChannelCoordinator, LocalOnlyMembership

__all__ = [
    "GroupChannel", "ByteMessage", "SerializedMessage", "UniqueId", "ChannelListener", "ErrorHandler",
    "ChannelInterceptor", "InterceptorPayload", "ChannelCoordinator", "LocalOnlyMembership", "ChannelException",
    "FaultyMember", "RemoteProcessException", "DEFAULT", "SND_RX_SEQ", "SND_TX_SEQ", "MBR_RX_SEQ", "MBR_TX_SEQ",
]
