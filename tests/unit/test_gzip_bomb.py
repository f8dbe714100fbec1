"""GzipInterceptor inflates with a bound (issue 19, defect 8): a decompression bomb sent to a node
over a real socket on 127.0.0.1 is refused after at most ``max_decompressed_size`` bytes, logged
(rate-limited), and the node goes on receiving. Tomcat's GzipInterceptor has no bound."""
from __future__ import annotations

import asyncio
import socket
import struct
import time
import zlib
from typing import Any

import pytest

from tribes.group import ByteMessage, ChannelInterceptor, GroupChannel, LocalOnlyMembership
from tribes.interceptors.gzip import (DEFAULT_MAX_DECOMPRESSED_SIZE, DecompressedTooLarge, GzipInterceptor,
                                      compress, decompress)
from tribes.transport import NioReceiver, PooledParallelSender, ReplicationTransmitter

HOST = "127.0.0.1"
MiB = 1024 * 1024


def bomb(size: int) -> bytes:
    """A Java-shaped gzip stream of ``size`` zero bytes (about size / 1000 bytes long)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(MiB)
    body = [c.compress(chunk) for _ in range(size // MiB)]
    body.append(c.flush())
    crc = 0
    for _ in range(size // MiB):
        crc = zlib.crc32(chunk, crc)
    return b"".join([b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff", *body, struct.pack("<II", crc, size & 0xFFFFFFFF)])


def test_decompress_bounded() -> None:
    b = bomb(64 * MiB)
    assert len(b) < 200_000
    with pytest.raises(DecompressedTooLarge, match="max_decompressed_size"):
        decompress(b, 8 * MiB)
    assert decompress(compress(b"x" * 1000), 1000) == b"x" * 1000
    with pytest.raises(DecompressedTooLarge):
        decompress(compress(b"x" * 1001), 1000)
    assert decompress(compress(b"a") + compress(b"b")) == b"ab"        # concatenated members
    with pytest.raises(ValueError):
        decompress(compress(b"abc")[:-3])                               # truncated
    assert DEFAULT_MAX_DECOMPRESSED_SIZE >= 256 * MiB                   # admits the largest frame


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Got:
    def __init__(self) -> None:
        self.got: list[bytes] = []

    def accept(self, msg: Any, sender: Any) -> bool:
        return True

    def message_received(self, msg: Any, sender: Any) -> None:
        self.got.append(msg.message if isinstance(msg, ByteMessage) else msg)


class RawGzipFlag(ChannelInterceptor):
    """The attacker's side: sets the gzip flag on an already-compressed payload (no recompression)."""

    async def send_message(self, destination: Any, msg: Any, payload: Any = None) -> None:
        msg.options |= 0x100
        await super().send_message(destination, msg, payload)


def test_bomb_over_a_socket_is_refused_and_the_node_goes_on() -> None:
    async def run() -> None:
        gz = GzipInterceptor(max_decompressed_size=16 * MiB)
        node = GroupChannel(NioReceiver(address=HOST, port=free_port()),
                            ReplicationTransmitter(PooledParallelSender(timeout=5000)), LocalOnlyMembership(),
                            heartbeat=False)
        node.add_interceptor(gz)
        rx = Got()
        node.add_channel_listener(rx)
        peer = GroupChannel(NioReceiver(address=HOST, port=free_port()),
                            ReplicationTransmitter(PooledParallelSender(timeout=5000)), LocalOnlyMembership(),
                            heartbeat=False)
        peer.add_interceptor(RawGzipFlag())
        await node.start()
        await peer.start()
        try:
            dest = node.local_member
            b = bomb(256 * MiB)
            for _ in range(3):
                await peer.send([dest], ByteMessage(b), 6)           # ACKed; dropped whole
            await peer.send([dest], ByteMessage(compress(b"after the bombs")), 6)
            end = time.monotonic() + 10
            while not rx.got and time.monotonic() < end:
                await asyncio.sleep(0.02)
            # the old interceptor inflated each bomb to 256 MiB and delivered it
            assert rx.got == [b"after the bombs"]
            assert gz.refused_rx == 3
        finally:
            await peer.stop()
            await node.stop()
    asyncio.run(run())
