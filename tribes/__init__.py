"""tribes: Apache Tomcat's cluster channel (Tribes) and DeltaManager session replication, in Python.

Byte-compatible with Tomcat 9.0 and 10.1 on the wire. See docs/architecture.md for the map.

The public API is importable from here (``from tribes import GroupChannel, SendOptions,
McastService``). The names are loaded lazily, on first use (module ``__getattr__``): every module
of the package imports this one, so importing it must stay cheap (``import tribes.io.framing``
loads no channel, transport or asyncio code).
"""
from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

logging.getLogger("tribes").addHandler(logging.NullHandler())

#: public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    # the vocabulary (org.apache.catalina.tribes)
    **{name: "tribes.channel" for name in (
        "SendOptions", "parse_send_options", "send_options_to_string", "ChannelException", "FaultyMember",
        "RemoteProcessException", "UniqueId", "ByteMessage", "SerializedMessage", "ChannelListener",
        "MembershipListener", "ErrorHandler", "Channel", "ChannelInterceptor", "InterceptorPayload",
        "SND_RX_SEQ", "SND_TX_SEQ", "MBR_RX_SEQ", "MBR_TX_SEQ", "DEFAULT")},
    "GroupChannel": "tribes.group.channel",
    "ChannelCoordinator": "tribes.group.coordinator",
    "LocalOnlyMembership": "tribes.group.coordinator",
    "Member": "tribes.io.member",
    "ChannelData": "tribes.io.channel_data",
    "McastService": "tribes.membership.mcast",
    "StaticMembershipService": "tribes.membership.static",
    "StaticMember": "tribes.membership.static",
    "NioReceiver": "tribes.transport.receiver",
    "PooledParallelSender": "tribes.transport.sender",
    "ReplicationTransmitter": "tribes.transport.transmitter",
    "SimpleTcpCluster": "tribes.managers.cluster",
    "DeltaManager": "tribes.managers.delta_manager",
    "ClusterConfig": "tribes.config.model",
    "build_channel": "tribes.config.build",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tribes' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from tribes.channel import (DEFAULT, MBR_RX_SEQ, MBR_TX_SEQ, SND_RX_SEQ, SND_TX_SEQ, ByteMessage, Channel,
                                ChannelException, ChannelInterceptor, ChannelListener, ErrorHandler, FaultyMember,
                                InterceptorPayload, MembershipListener, RemoteProcessException, SendOptions,
                                SerializedMessage, UniqueId, parse_send_options, send_options_to_string)
    from tribes.config.build import build_channel
    from tribes.config.model import ClusterConfig
    from tribes.group.channel import GroupChannel
    from tribes.group.coordinator import ChannelCoordinator, LocalOnlyMembership
    from tribes.io.channel_data import ChannelData
    from tribes.io.member import Member
    from tribes.managers.cluster import SimpleTcpCluster
    from tribes.managers.delta_manager import DeltaManager
    from tribes.membership.mcast import McastService
    from tribes.membership.static import StaticMember, StaticMembershipService
    from tribes.transport.receiver import NioReceiver
    from tribes.transport.sender import PooledParallelSender
    from tribes.transport.transmitter import ReplicationTransmitter
