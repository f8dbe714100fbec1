"""``org.apache.catalina.tribes.membership.MemberImpl`` under Tomcat's package name.

The member and its packet codec are defined in ``tribes.io.member`` (a wire codec, used by
``ChannelData`` below the membership layer); this module only re-exports them.
"""
from __future__ import annotations

from tribes.io.member import (SHUTDOWN_PAYLOAD, TRIBES_MBR_BEGIN, TRIBES_MBR_END, Member, MemberDecodeError,
                              MemberPacket, _member_from_fields, decode_member, encode_member, host_bytes)

__all__ = [
    "Member", "encode_member", "decode_member", "MemberDecodeError", "MemberPacket",
    "SHUTDOWN_PAYLOAD", "TRIBES_MBR_BEGIN", "TRIBES_MBR_END", "host_bytes", "_member_from_fields",
]
