"""The channel: ``GroupChannel``, the ``ChannelInterceptor`` base class, ``ChannelCoordinator``."""
from __future__ import annotations

from tribes.group.channel import ByteMessage, ChannelListener, ErrorHandler, GroupChannel, UniqueId
from tribes.group.coordinator import (DEFAULT, MBR_RX_SEQ, MBR_TX_SEQ, SND_RX_SEQ, SND_TX_SEQ,
                                      ChannelCoordinator, LocalOnlyMembership)
from tribes.group.interceptor import ChannelInterceptor, InterceptorPayload
from tribes.transport.errors import ChannelException, FaultyMember, RemoteProcessException

__all__ = [
    "GroupChannel", "ByteMessage", "UniqueId", "ChannelListener", "ErrorHandler", "ChannelInterceptor",
    "InterceptorPayload", "ChannelCoordinator", "LocalOnlyMembership", "ChannelException", "FaultyMember",
    "RemoteProcessException", "DEFAULT", "SND_RX_SEQ", "SND_TX_SEQ", "MBR_RX_SEQ", "MBR_TX_SEQ",
]
