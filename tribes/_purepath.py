"""Pure-Python twin of ``tribes/_fastpath.pyx``: the same functions with the same results and exceptions.

Used when the Cython extension is not built, or when ``TRIBES_PURE=1``. The hypothesis tests in
tests/unit/test_fastpath_equivalence.py run both on the same inputs and require identical behaviour.

Hot-path functions:
- ``FrameDecoderCore``: incremental XByteBuffer frame decoder (``feed(chunk) -> list[bytes]``);
- ``encode_frame(body)``;
- ``parse_member(data, offset, length)`` / ``build_member(...)``: the member packet;
- ``parse_channel_data(body)`` / ``build_channel_data(...)``: the ChannelData package.
"""
from __future__ import annotations

import struct
from typing import Any

from tribes.io.errors import (
    ChannelDataDecodeError,
    DecoderFailedError,
    FramingError,
    InvalidEndMarkerError,
    InvalidStartMarkerError,
    MemberDecodeError,
    MessageTooLargeError,
    NegativeLengthError,
)

IMPLEMENTATION = "pure"

START_DATA = b"FLT2002"
END_DATA = b"TLF2003"
TRIBES_MBR_BEGIN = b"TRIBES-B\x01\x00"
TRIBES_MBR_END = b"TRIBES-E\x01\x00"
HEADER_SIZE = 11  # START_DATA + int length
FRAME_OVERHEAD = 18  # START_DATA + length + END_DATA
DEFAULT_MAX_MESSAGE_SIZE = 256 * 1024 * 1024
MAX_SETTING = "max_message_size"

_I = struct.Struct(">i")
_Q = struct.Struct(">q")
_MEMBER_FIXED = struct.Struct(">iqiiib")  # body length, alive, port, secure, udp, host length
_CD_HEAD = struct.Struct(">iqi")  # options, timestamp, uniqueId length

# decoder states
_HEADER = 0
_BODY = 1
_TRAILER = 2


def _preview(data: bytes, limit: int = 16) -> str:
    shown = bytes(data[:limit]).hex(" ")
    return shown + (" ..." if len(data) > limit else "")


def _bad_start(got: bytes) -> InvalidStartMarkerError:
    return InvalidStartMarkerError(
        f"expected frame start marker FLT2002 (46 4c 54 32 30 30 32), got {_preview(got)}: "
        "the peer does not speak Tribes framing or the stream is out of step; dropping the connection"
    )


def _bad_end(got: bytes, length: int) -> InvalidEndMarkerError:
    return InvalidEndMarkerError(
        f"expected frame end marker TLF2003 (54 4c 46 32 30 30 33) after a {length}-byte body, got "
        f"{_preview(got)}: the frame length lies or the frame is torn; dropping the connection"
    )


def _check_length(length: int, max_message_size: int) -> None:
    if length < 0:
        raise NegativeLengthError(f"frame declares a negative body length ({length}); dropping the connection")
    if length > max_message_size:
        raise MessageTooLargeError(
            f"frame declares a {length}-byte body, more than {MAX_SETTING}={max_message_size}; "
            f"raise the {MAX_SETTING} setting if such large messages (e.g. a whole-cluster state "
            "transfer) are expected"
        )


def encode_frame(body: bytes) -> bytes:
    """``XByteBuffer.createDataPackage(body)``: FLT2002 + int length + body + TLF2003."""
    return b"".join((START_DATA, _I.pack(len(body)), body, END_DATA))


class FrameDecoderCore:
    """Incremental decoder of XByteBuffer frames on one TCP stream.

    ``feed(chunk)`` accepts any bytes-like chunk (one byte, many frames, a frame split anywhere) and
    returns the complete frame bodies. Invalid input raises a ``FramingError`` subclass whose
    ``frames`` holds the bodies completed earlier in the same chunk; after that the decoder refuses
    more input (``DecoderFailedError``). It never buffers more than one frame
    (``max_message_size`` + 18 bytes).
    """

    def __init__(self, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        if max_message_size < 0:
            raise ValueError(f"{MAX_SETTING} must be >= 0, got {max_message_size}")
        self.max_message_size = int(max_message_size)
        self._state = _HEADER
        self._head = bytearray()  # partial header or trailer
        self._parts: list[bytes] = []  # partial body
        self._have = 0  # body bytes collected
        self._length = 0  # body length of the current frame
        self._failed: str | None = None

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete frame held by the decoder."""
        if self._state == _HEADER:
            return len(self._head)
        if self._state == _BODY:
            return HEADER_SIZE + self._have
        return HEADER_SIZE + self._length + len(self._head)

    @property
    def failed(self) -> bool:
        return self._failed is not None

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        if self._failed is not None:
            raise DecoderFailedError(f"decoder already failed ({self._failed}); open a new connection")
        frames: list[bytes] = []
        try:
            self._feed(memoryview(data).cast("B") if not isinstance(data, bytes) else data, frames)
        except FramingError as exc:
            exc.frames = frames
            self._failed = type(exc).__name__
            self._head = bytearray()
            self._parts = []
            raise
        return frames

    def _feed(self, data: bytes | memoryview, frames: list[bytes]) -> None:
        n = len(data)
        pos = 0
        if self._state != _HEADER or self._head:
            pos = self._continue(data, 0, n, frames)
        # whole frames straight from the chunk
        mx = self.max_message_size
        while pos < n:
            avail = n - pos
            if avail < HEADER_SIZE:
                break
            if data[pos:pos + 7] != START_DATA:
                raise _bad_start(bytes(data[pos:pos + 7]))
            length = _I.unpack_from(data, pos + 7)[0]
            _check_length(length, mx)
            end = pos + HEADER_SIZE + length
            if end + 7 > n:
                break
            if data[end:end + 7] != END_DATA:
                raise _bad_end(bytes(data[end:end + 7]), length)
            frames.append(bytes(data[pos + HEADER_SIZE:end]))
            pos = end + 7
        if pos < n:
            self._continue(data, pos, n, frames)

    def _continue(self, data: bytes | memoryview, pos: int, n: int, frames: list[bytes]) -> int:
        """Byte-exact state machine for a frame that is split across chunks."""
        while pos < n:
            state = self._state
            if state == _HEADER:
                take = min(HEADER_SIZE - len(self._head), n - pos)
                self._head += data[pos:pos + take]
                pos += take
                head = self._head
                k = min(7, len(head))
                if head[:k] != START_DATA[:k]:
                    raise _bad_start(bytes(head))
                if len(head) < HEADER_SIZE:
                    return pos
                length = _I.unpack_from(head, 7)[0]
                _check_length(length, self.max_message_size)
                self._length = length
                self._head = bytearray()
                self._parts = []
                self._have = 0
                self._state = _BODY
            elif state == _BODY:
                take = min(self._length - self._have, n - pos)
                if take:
                    self._parts.append(bytes(data[pos:pos + take]))
                    self._have += take
                    pos += take
                if self._have < self._length:
                    return pos
                self._state = _TRAILER
            else:
                take = min(7 - len(self._head), n - pos)
                self._head += data[pos:pos + take]
                pos += take
                head = self._head
                if head != END_DATA[:len(head)]:
                    raise _bad_end(bytes(head), self._length)
                if len(head) < 7:
                    return pos
                frames.append(b"".join(self._parts))
                self._parts = []
                self._have = 0
                self._head = bytearray()
                self._state = _HEADER
                # a fresh frame boundary: the caller's fast loop takes over
                return pos
        return pos


# --------------------------------------------------------------------------- member packet

def parse_member(data: bytes, offset: int = 0, length: int = -1) -> tuple[Any, ...]:
    """Decode a member packet (``MemberImpl.getMember``), stricter than Tomcat.

    Returns ``(alive, port, secure_port, udp_port, host, command, domain, unique_id, payload)``.
    Raises ``MemberDecodeError`` for wrong markers, bad lengths, truncation and trailing bytes.
    """
    if length < 0:
        length = len(data) - offset
    if offset < 0 or length < 0 or offset + length > len(data):
        raise MemberDecodeError(f"member packet range {offset}+{length} is outside the {len(data)}-byte buffer")
    if length < 10 or data[offset:offset + 10] != TRIBES_MBR_BEGIN:
        got = bytes(data[offset:offset + min(length, 10)])
        if got[:8] == TRIBES_MBR_BEGIN[:8] and len(got) == 10:
            raise MemberDecodeError(
                f"member packet version {got[8]}.{got[9]} is not supported (expected TRIBES-B 1.0)")
        raise MemberDecodeError(
            f"member packet does not start with TRIBES-B\\x01\\x00, got {_preview(got)}")
    if length < 14 + 21 + 10:
        raise MemberDecodeError(f"member packet truncated: {length} bytes, at least 45 needed")
    body_len, alive, port, secure_port, udp_port, hl = _MEMBER_FIXED.unpack_from(data, offset + 10)
    if body_len < 0:
        raise MemberDecodeError(f"member packet declares a negative body length ({body_len})")
    if length < body_len + 24:
        raise MemberDecodeError(
            f"member packet truncated: body length {body_len} needs {body_len + 24} bytes, got {length}")
    if length > body_len + 24:
        raise MemberDecodeError(
            f"member packet has {length - body_len - 24} bytes after its end marker (body length {body_len})")
    endpos = offset + 14 + body_len
    if data[endpos:endpos + 10] != TRIBES_MBR_END:
        raise MemberDecodeError(
            f"member packet end marker TRIBES-E\\x01\\x00 not at body end (offset {endpos - offset}), "
            f"got {_preview(bytes(data[endpos:endpos + 10]))}")
    if hl != 4 and hl != 16:
        raise MemberDecodeError(f"member host length {hl} is neither 4 (IPv4) nor 16 (IPv6)")
    pos = offset + 35
    if pos + hl + 4 > endpos:
        raise MemberDecodeError("member packet truncated inside the host address")
    host = bytes(data[pos:pos + hl])
    pos += hl
    fields = []
    for name in ("command", "domain"):
        flen = _I.unpack_from(data, pos)[0]
        pos += 4
        if flen < 0 or pos + flen + 4 > endpos:
            raise MemberDecodeError(f"member {name} length {flen} does not fit in the body")
        fields.append(bytes(data[pos:pos + flen]))
        pos += flen
    if pos + 16 + 4 > endpos:
        raise MemberDecodeError("member packet truncated inside the uniqueId")
    unique_id = bytes(data[pos:pos + 16])
    pos += 16
    plen = _I.unpack_from(data, pos)[0]
    pos += 4
    if plen < 0 or pos + plen != endpos:
        raise MemberDecodeError(
            f"member payload length {plen} does not match the body length {body_len}")
    payload = bytes(data[pos:pos + plen])
    return (alive, port, secure_port, udp_port, host, fields[0], fields[1], unique_id, payload)


def _int_range(value: int, bits: int, name: str) -> None:
    if not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
        raise OverflowError(f"{name}={value} does not fit in a Java {'int' if bits == 32 else 'long'}")


def build_member(alive: int, port: int, secure_port: int, udp_port: int, host: bytes,
                 command: bytes, domain: bytes, unique_id: bytes, payload: bytes) -> bytes:
    """``MemberImpl.getData``: the member packet bytes."""
    _int_range(alive, 64, "alive")
    _int_range(port, 32, "port")
    _int_range(secure_port, 32, "secure_port")
    _int_range(udp_port, 32, "udp_port")
    if len(host) > 127:
        raise ValueError(f"host address of {len(host)} bytes is too long (Tomcat allows at most 127)")
    if len(unique_id) != 16:
        raise ValueError(f"uniqueId must be 16 bytes, got {len(unique_id)}")
    body_len = 8 + 4 + 4 + 4 + 1 + len(host) + 4 + len(command) + 4 + len(domain) + 16 + 4 + len(payload)
    return b"".join((
        TRIBES_MBR_BEGIN,
        _MEMBER_FIXED.pack(body_len, alive, port, secure_port, udp_port, len(host)),
        host, _I.pack(len(command)), command, _I.pack(len(domain)), domain,
        unique_id, _I.pack(len(payload)), payload, TRIBES_MBR_END,
    ))


# --------------------------------------------------------------------------- ChannelData

def parse_channel_data(body: bytes) -> tuple[Any, ...]:
    """Decode a ChannelData package (``ChannelData.getDataFromPackage``).

    Returns ``(options, timestamp, unique_id, member_fields, address_bytes, message)`` where
    ``member_fields`` is the tuple of ``parse_member``. Raises ``ChannelDataDecodeError``
    (or ``MemberDecodeError`` for a bad sender address).
    """
    n = len(body)
    if n < 16:
        raise ChannelDataDecodeError(f"ChannelData truncated: {n} bytes, at least 24 needed")
    options, timestamp, ulen = _CD_HEAD.unpack_from(body, 0)
    pos = 16
    if ulen < 0 or pos + ulen + 4 > n:
        raise ChannelDataDecodeError(f"ChannelData uniqueId length {ulen} does not fit in the {n}-byte package")
    unique_id = bytes(body[pos:pos + ulen])
    pos += ulen
    alen = _I.unpack_from(body, pos)[0]
    pos += 4
    if alen < 0 or pos + alen + 4 > n:
        raise ChannelDataDecodeError(f"ChannelData address length {alen} does not fit in the {n}-byte package")
    member = parse_member(body, pos, alen)
    address = bytes(body[pos:pos + alen])
    pos += alen
    mlen = _I.unpack_from(body, pos)[0]
    pos += 4
    if mlen < 0 or pos + mlen > n:
        raise ChannelDataDecodeError(
            f"ChannelData message length {mlen} does not fit in the {n}-byte package")
    if pos + mlen != n:
        raise ChannelDataDecodeError(
            f"ChannelData has {n - pos - mlen} bytes after its {mlen}-byte message")
    return (options, timestamp, unique_id, member, address, bytes(body[pos:n]))


def build_channel_data(options: int, timestamp: int, unique_id: bytes, address: bytes,
                       message: bytes, framed: bool = False) -> bytes:
    """``ChannelData.getDataPackage`` (``framed=True``: ``XByteBuffer.createDataPackage(cdata)``)."""
    _int_range(options, 32, "options")
    _int_range(timestamp, 64, "timestamp")
    head = _CD_HEAD.pack(options, timestamp, len(unique_id))
    parts = [head, unique_id, _I.pack(len(address)), address, _I.pack(len(message)), message]
    if framed:
        total = 16 + len(unique_id) + 4 + len(address) + 4 + len(message)
        return b"".join([START_DATA, _I.pack(total)] + parts + [END_DATA])
    return b"".join(parts)
