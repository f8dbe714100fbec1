"""``org.apache.catalina.tribes.io.ChannelData``: the body of every data frame.

Layout (``tribes.io.layouts.ChannelDataPackage``)::

    int options | long timestamp | int len + uniqueId | int len + address (member packet)
    | int len + message
"""
from __future__ import annotations

from dataclasses import dataclass

from tribes import fastpath
from tribes.channel import ALL_SEND_OPTIONS, SendOptions, new_unique_id
from tribes.io.errors import ChannelDataDecodeError, MemberDecodeError
from tribes.io.framing import ACK_DATA, FAIL_ACK_DATA
from tribes.io.member import Member, encode_member, member_of_packet

# new_unique_id: defined in tribes.channel, importable from here as before
__all__ = ["ChannelData", "ChannelDataDecodeError", "new_unique_id", "is_ack", "is_fail_ack"]


def is_ack(body: bytes) -> bool:
    """The body of an ACK frame (``Constants.ACK_DATA``)."""
    return body == ACK_DATA


def is_fail_ack(body: bytes) -> bool:
    """The body of a FAIL_ACK frame (``Constants.FAIL_ACK_DATA``)."""
    return body == FAIL_ACK_DATA


@dataclass
class ChannelData:
    """One channel message: options, sender timestamp (ms), uniqueId, sender member, payload."""

    options: int
    timestamp: int
    unique_id: bytes
    address: Member
    message: bytes

    @property
    def send_options(self) -> SendOptions:
        return SendOptions(self.options & ALL_SEND_OPTIONS)

    @classmethod
    def decode(cls, body: bytes | bytearray | memoryview) -> "ChannelData":
        """Decode a frame body; raises ``ChannelDataDecodeError`` (``MemberDecodeError`` for the address).

        Stricter than Tomcat: every length must fit and nothing may follow the message.
        """
        if not isinstance(body, bytes):
            body = bytes(body)
        options, timestamp, unique_id, fields, address, message = fastpath.parse_channel_data(body)
        return cls(options, timestamp, unique_id, member_of_packet(fields, address), message)

    def encode(self) -> bytes:
        """``ChannelData.getDataPackage()``: the frame body."""
        return fastpath.build_channel_data(self.options, self.timestamp, self.unique_id,
                                           encode_member(self.address), self.message, False)

    def encode_frame(self) -> bytes:
        """``XByteBuffer.createDataPackage(this)``: the complete frame, built in one pass."""
        return fastpath.build_channel_data(self.options, self.timestamp, self.unique_id,
                                           encode_member(self.address), self.message, True)

    def __repr__(self) -> str:
        return (f"ChannelData(options={self.options}, timestamp={self.timestamp}, "
                f"unique_id={self.unique_id.hex()}, address={self.address!r}, message={len(self.message)} bytes)")


# keep the name importable from here, as the errors module is an implementation detail
ChannelDataDecodeError = ChannelDataDecodeError
MemberDecodeError = MemberDecodeError
