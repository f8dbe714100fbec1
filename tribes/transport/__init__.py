"""TCP transport: ``NioReceiver`` (asyncio server), per-member sender connections,
``PooledParallelSender`` and the ``ReplicationTransmitter`` wrapper, ``ChannelException``."""
from __future__ import annotations

from tribes.transport.errors import ChannelException, FaultyMember, RemoteProcessException, SendTimeoutError
from tribes.transport.receiver import NioReceiver
from tribes.transport.sender import NioSender, ParallelNioSender, PooledParallelSender, SenderState
from tribes.transport.transmitter import ReplicationTransmitter

__all__ = [
    "ChannelException", "FaultyMember", "RemoteProcessException", "SendTimeoutError", "NioReceiver",
    "NioSender", "ParallelNioSender", "PooledParallelSender", "SenderState", "ReplicationTransmitter",
]
