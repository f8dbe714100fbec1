"""Exceptions of the wire codecs (own module so the fast path can raise them without import cycles)."""
from __future__ import annotations

__all__ = [
    "WireDecodeError",
    "MemberDecodeError",
    "ChannelDataDecodeError",
    "FramingError",
    "InvalidStartMarkerError",
    "InvalidEndMarkerError",
    "NegativeLengthError",
    "MessageTooLargeError",
    "DecoderFailedError",
]


class WireDecodeError(ValueError):
    """Bytes that are not a valid Tribes structure."""


class MemberDecodeError(WireDecodeError):
    """A member packet (``MemberImpl.getData``) that cannot be decoded."""


class ChannelDataDecodeError(WireDecodeError):
    """A frame body that is not a valid ``ChannelData`` package."""


class FramingError(WireDecodeError):
    """The TCP stream does not follow XByteBuffer framing; the connection must be dropped.

    ``frames`` holds every complete frame body that arrived before the bad bytes
    (deliver them: nothing valid is lost).
    """

    def __init__(self, message: str, frames: list[bytes] | None = None) -> None:
        super().__init__(message)
        self.frames: list[bytes] = list(frames) if frames else []


class InvalidStartMarkerError(FramingError):
    """Bytes other than ``FLT2002`` where a frame must start."""


class InvalidEndMarkerError(FramingError):
    """``TLF2003`` is not where the frame's length says it must be (lying length / torn frame)."""


class NegativeLengthError(FramingError):
    """A frame length below zero."""


class MessageTooLargeError(FramingError):
    """A frame length above the configured ``max_message_size``."""


class DecoderFailedError(FramingError):
    """``feed`` called again after the decoder already rejected the stream."""
