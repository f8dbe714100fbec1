"""GzipInterceptor: gzip-compresses payloads (option bit 0x100 on the wire).

Send: every payload longer than ``compression_min_size`` is compressed exactly as Java's
``GZIPOutputStream`` does (10-byte header ``1f 8b 08 00 00000000 00 ff``, deflate level 6, CRC32,
ISIZE) and the flag bit is set. Receive: a payload carrying the flag bit is gunzipped. As in Tomcat,
the interceptor acts on send regardless of the message's options.
"""
from __future__ import annotations

import gzip as _gzip
import logging
import struct
import zlib
from typing import Awaitable, Sequence

from tribes.channel import ChannelException, ChannelInterceptor, InterceptorPayload
from tribes.io.channel_data import ChannelData
from tribes.membership.member import Member

log = logging.getLogger("tribes.interceptors")

DEFAULT_OPTION_COMPRESSION_ENABLE = 0x100
_JAVA_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"

__all__ = ["GzipInterceptor", "compress", "decompress"]


def compress(data: bytes) -> bytes:
    """Byte-identical to ``GZIPOutputStream`` with default settings."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY)
    body = c.compress(data) + c.flush()
    return b"".join((_JAVA_GZIP_HEADER, body, struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF,
                                                          len(data) & 0xFFFFFFFF)))


def decompress(data: bytes) -> bytes:
    return _gzip.decompress(data)


class GzipInterceptor(ChannelInterceptor):
    default_option_flag = DEFAULT_OPTION_COMPRESSION_ENABLE

    def __init__(self, compression_min_size: int = 0, stats_enabled: bool = False, interval: int = 0,
                 option_flag: int | None = None) -> None:
        super().__init__(option_flag)
        self.compression_min_size = compression_min_size
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
            try:
                data = decompress(msg.message)
            except Exception as exc:
                log.error("GzipInterceptor: unable to decompress a message from %s: %s", msg.address.name, exc)
                return None
            msg.message = data
            self.count_compressed_rx += 1
        else:
            self.count_uncompressed_rx += 1
        return super().message_received(msg)
