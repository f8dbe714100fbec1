"""GzipInterceptor: gzip-compresses payloads (option bit 0x100 on the wire).

Send: every payload longer than ``compression_min_size`` is compressed exactly as Java's
``GZIPOutputStream`` does (10-byte header ``1f 8b 08 00 00000000 00 ff``, deflate level 6, CRC32,
ISIZE) and the flag bit is set. Receive: a payload carrying the flag bit is gunzipped. As in Tomcat,
the interceptor acts on send regardless of the message's options.

Receive is bounded (issue 19): a payload that inflates beyond ``max_decompressed_size`` (default
256 MiB, the largest message the framing admits) is refused with a rate-limited log line after at
most that many bytes were produced, so a decompression bomb costs nothing more. Tomcat's
GzipInterceptor has no such bound (it inflates into a growing buffer). Payloads of 64 KiB or
more are inflated in a worker thread, off the event loop.
"""
from __future__ import annotations

import asyncio
import logging
import struct
import zlib
from typing import Awaitable, Sequence

from tribes.channel import ChannelException, ChannelInterceptor, InterceptorPayload
from tribes.io.channel_data import ChannelData
from tribes.membership.member import Member
from tribes.ratelimit import RateLimitedLog

log = logging.getLogger("tribes.interceptors")
_rl = RateLimitedLog(log)

#: the default bound on one message's inflated size: the framing's largest message (256 MiB)
DEFAULT_MAX_DECOMPRESSED_SIZE = 256 * 1024 * 1024
#: compressed payloads of this many bytes or more are inflated in a worker thread
OFFLOOP_BYTES = 64 * 1024

DEFAULT_OPTION_COMPRESSION_ENABLE = 0x100
_JAVA_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"

__all__ = ["GzipInterceptor", "compress", "decompress", "DecompressedTooLarge", "DEFAULT_MAX_DECOMPRESSED_SIZE"]


class DecompressedTooLarge(ValueError):
    """A gzip payload inflates beyond the configured bound (a decompression bomb, or a bound too low)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"inflates to more than max_decompressed_size={limit} bytes; raise it only if the "
                         "cluster really sends messages that large")
        self.limit = limit


def compress(data: bytes) -> bytes:
    """Byte-identical to ``GZIPOutputStream`` with default settings."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY)
    body = c.compress(data) + c.flush()
    return b"".join((_JAVA_GZIP_HEADER, body, struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF,
                                                          len(data) & 0xFFFFFFFF)))


def decompress(data: bytes, max_size: int = DEFAULT_MAX_DECOMPRESSED_SIZE) -> bytes:
    """Inflate gzip members (as GZIPInputStream reads concatenated members), producing at most
    ``max_size`` bytes: beyond that ``DecompressedTooLarge``; a damaged stream: ``ValueError``."""
    out: list[bytes] = []
    total = 0
    rest = bytes(data)
    while True:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            chunk = d.decompress(rest, max_size - total + 1)
        except zlib.error as exc:
            raise ValueError(f"not a valid gzip stream: {exc}") from exc
        total += len(chunk)
        if total > max_size or (d.unconsumed_tail and not d.eof):
            raise DecompressedTooLarge(max_size)
        out.append(chunk)
        if not d.eof:
            raise ValueError("truncated gzip stream")
        rest = d.unused_data
        if not rest:
            return b"".join(out)


class GzipInterceptor(ChannelInterceptor):
    default_option_flag = DEFAULT_OPTION_COMPRESSION_ENABLE

    def __init__(self, compression_min_size: int = 0, stats_enabled: bool = False, interval: int = 0,
                 option_flag: int | None = None,
                 max_decompressed_size: int = DEFAULT_MAX_DECOMPRESSED_SIZE) -> None:
        super().__init__(option_flag)
        self.compression_min_size = compression_min_size
        self.max_decompressed_size = max_decompressed_size
        self.refused_rx = 0
        self.stats_enabled = stats_enabled
        self.interval = interval
        self.count_compressed_tx = 0
        self.count_uncompressed_tx = 0
        self.count_compressed_rx = 0
        self.count_uncompressed_rx = 0

    async def send_message(self, destination: Sequence[Member], msg: ChannelData,
                           payload: InterceptorPayload | None = None) -> None:
        data = msg.message
        if len(data) > self.compression_min_size:
            try:
                data = compress(data)
            except Exception as exc:  # pragma: no cover - zlib does not fail on bytes
                raise ChannelException(f"gzip compression failed: {exc}", cause=exc) from exc
            msg = ChannelData(msg.options | self.option_flag, msg.timestamp, msg.unique_id, msg.address, data)
            self.count_compressed_tx += 1
        else:
            self.count_uncompressed_tx += 1
        await super().send_message(destination, msg, payload)

    def message_received(self, msg: ChannelData) -> Awaitable[None] | None:
        if msg.options & self.option_flag:
            if len(msg.message) >= OFFLOOP_BYTES:
                return self._inflate_off_loop(msg)
            try:
                data = decompress(msg.message, self.max_decompressed_size)
            except ValueError as exc:
                self._refused(msg, exc)
                return None
            msg.message = data
            self.count_compressed_rx += 1
        else:
            self.count_uncompressed_rx += 1
        return super().message_received(msg)

    async def _inflate_off_loop(self, msg: ChannelData) -> None:
        try:
            msg.message = await asyncio.to_thread(decompress, msg.message, self.max_decompressed_size)
        except ValueError as exc:
            self._refused(msg, exc)
            return
        self.count_compressed_rx += 1
        r = super().message_received(msg)
        if r is not None:
            await r

    def _refused(self, msg: ChannelData, exc: Exception) -> None:
        self.refused_rx += 1
        _rl.warn(type(exc).__name__, "GzipInterceptor: dropped a message from %s (%d bytes compressed): %s",
                 msg.address.name, len(msg.message), exc)
