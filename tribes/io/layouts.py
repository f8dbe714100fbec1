"""Declarative layouts (``construct``) of the Tribes wire structures.

They are the readable specification and a cross-check: the unit tests build and parse the golden
vectors made by Tomcat with them and require the same bytes/values as the hot path
(``tribes.fastpath``), which does the real work.
"""
from __future__ import annotations

from typing import Any

from construct import (
    Bytes,
    Const,
    GreedyBytes,
    Int8sb,
    Int32sb,
    Int64sb,
    Prefixed,
    Rebuild,
    Struct,
    this,
)

from tribes.io.errors import MemberDecodeError  # noqa: F401  (re-exported for convenience)
from tribes.io.framing import END_DATA, START_DATA

#: the member packet's markers (MemberImpl.TRIBES_MBR_BEGIN / END); tribes.io.member uses these
TRIBES_MBR_BEGIN = b"TRIBES-B\x01\x00"
TRIBES_MBR_END = b"TRIBES-E\x01\x00"


def _member_body_length(ctx: Any) -> int:
    return (8 + 4 + 4 + 4 + 1 + len(ctx.host) + 4 + len(ctx.command) + 4 + len(ctx.domain)
            + 16 + 4 + len(ctx.payload))


#: ``MemberImpl.getData``: the McastService heartbeat / ChannelData sender address.
MemberPacket = Struct(
    "begin" / Const(TRIBES_MBR_BEGIN),
    "body_length" / Rebuild(Int32sb, _member_body_length),
    "alive" / Int64sb,
    "port" / Int32sb,
    "secure_port" / Int32sb,
    "udp_port" / Int32sb,
    "host" / Prefixed(Int8sb, GreedyBytes),
    "command" / Prefixed(Int32sb, GreedyBytes),
    "domain" / Prefixed(Int32sb, GreedyBytes),
    "unique_id" / Bytes(16),
    "payload" / Prefixed(Int32sb, GreedyBytes),
    "end" / Const(TRIBES_MBR_END),
)

#: ``ChannelData.getDataPackage``: the body of a data frame.
ChannelDataPackage = Struct(
    "options" / Int32sb,
    "timestamp" / Int64sb,
    "unique_id" / Prefixed(Int32sb, GreedyBytes),
    "address" / Prefixed(Int32sb, GreedyBytes),
    "message" / Prefixed(Int32sb, GreedyBytes),
)

#: ``XByteBuffer.createDataPackage``: one frame on the TCP stream.
Frame = Struct(
    "start" / Const(START_DATA),
    "body" / Prefixed(Int32sb, GreedyBytes),
    "end" / Const(END_DATA),
)

__all__ = ["MemberPacket", "ChannelDataPackage", "Frame", "this"]
