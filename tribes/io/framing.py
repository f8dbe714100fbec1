"""TCP framing of Tribes (``org.apache.catalina.tribes.io.XByteBuffer``), sans-I/O.

A frame is ``FLT2002`` + int body length (big-endian) + body + ``TLF2003``; frames are simply
concatenated on a TCP stream. ``FrameDecoder`` is the incremental decoder (hot path in
``tribes._fastpath``); unlike Tomcat, which stalls a connection on junk and has no size limit,
it rejects bad bytes at once with a specific ``FramingError`` and refuses bodies larger than
``max_message_size`` (default 256 MiB).
"""
from __future__ import annotations

from tribes import fastpath
from tribes.io.errors import (
    DecoderFailedError,
    FramingError,
    InvalidEndMarkerError,
    InvalidStartMarkerError,
    MessageTooLargeError,
    NegativeLengthError,
)

__all__ = [
    "START_DATA", "END_DATA", "ACK_DATA", "FAIL_ACK_DATA", "ACK_FRAME", "FAIL_ACK_FRAME",
    "DEFAULT_MAX_MESSAGE_SIZE", "FRAME_OVERHEAD", "encode_frame", "FrameDecoder", "frame_length",
    "FramingError", "InvalidStartMarkerError", "InvalidEndMarkerError", "NegativeLengthError",
    "MessageTooLargeError", "DecoderFailedError",
]

START_DATA = b"FLT2002"
END_DATA = b"TLF2003"
#: transport.Constants.ACK_DATA / FAIL_ACK_DATA: the 3-byte bodies of the reply frames
ACK_DATA = b"\x06\x02\x03"
FAIL_ACK_DATA = b"\x0b\x00\x05"
DEFAULT_MAX_MESSAGE_SIZE = 256 * 1024 * 1024
FRAME_OVERHEAD = 18

encode_frame = fastpath.encode_frame
#: transport.Constants.ACK_COMMAND / FAIL_ACK_COMMAND: the complete 21-byte frames
ACK_FRAME = encode_frame(ACK_DATA)
FAIL_ACK_FRAME = encode_frame(FAIL_ACK_DATA)


def frame_length(body_length: int) -> int:
    """``XByteBuffer.getDataPackageLength``."""
    return body_length + FRAME_OVERHEAD


class FrameDecoder(fastpath.FrameDecoderCore):
    """Incremental frame decoder for one TCP connection.

    ``feed(chunk) -> list[bytes]`` returns every complete frame body. On bad input it raises a
    ``FramingError`` subclass whose ``.frames`` holds the complete bodies that came before the
    bad bytes; the connection is then to be dropped (later ``feed`` calls raise
    ``DecoderFailedError``). At most one frame (``max_message_size`` + 18 bytes) is buffered.
    ``buffered`` is the number of bytes of the incomplete frame held.
    """

    def __init__(self, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        super().__init__(max_message_size)
