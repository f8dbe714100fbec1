"""FragmentationInterceptor: splits large payloads, reassembles them by uniqueId.

Every outgoing payload gets one trailing byte: ``00`` = not fragmented. A payload longer than
``max_size`` (102400) whose options pass ``ok_to_process`` is sent as ceil(len/max_size) messages
with the same uniqueId, each ``chunk | int index | int count | 01``. The receiver always strips the
last byte; fragments are collected by uniqueId and the whole message goes up when complete;
incomplete sets expire after ``expire`` ms (checked on heartbeat). Byte-identical to Tomcat.
"""
from __future__ import annotations

import logging
import time
from typing import Awaitable, Sequence

from tribes.channel import ChannelInterceptor, InterceptorPayload
from tribes.io.channel_data import ChannelData
from tribes.membership.member import Member
from tribes.ratelimit import RateLimitedLog

log = logging.getLogger("tribes.interceptors")
_rl = RateLimitedLog(log)  # every drop here can be caused by a peer: one line per kind per interval

#: messages being reassembled at once; past it the oldest is dropped (issue 19). Tomcat: no bound.
MAX_PENDING = 1024
#: bytes of fragments held at once across all messages (the framing's largest message)
MAX_PENDING_BYTES = 256 * 1024 * 1024

__all__ = ["FragmentationInterceptor"]


class _FragCollection:
    __slots__ = ("received", "msg", "frags", "count", "size")

    def __init__(self, msg: ChannelData, count: int) -> None:
        self.received = time.monotonic()
        self.msg = msg
        self.count = count
        self.size = 0
        # only the fragments that arrived (a header claiming a million fragments costs nothing)
        self.frags: dict[int, bytes] = {}


class FragmentationInterceptor(ChannelInterceptor):
    def __init__(self, max_size: int = 1024 * 100, expire: int = 60000, option_flag: int | None = None) -> None:
        super().__init__(option_flag)
        self.max_size = max_size
        self.expire = expire
        self._pieces: dict[bytes, _FragCollection] = {}
        self._held = 0

    async def send_message(self, destination: Sequence[Member], msg: ChannelData,
                           payload: InterceptorPayload | None = None) -> None:
        data = msg.message
        size = len(data)
        if size > self.max_size and self.ok_to_process(msg.options):
            max_size = self.max_size
            count = size // max_size + (1 if size % max_size else 0)
            trailer_count = count.to_bytes(4, "big")
            parts = []
            for i in range(count):
                chunk = data[i * max_size:(i + 1) * max_size]
                parts.append(ChannelData(msg.options, msg.timestamp, msg.unique_id, msg.address,
                                         b"".join((chunk, i.to_bytes(4, "big"), trailer_count, b"\x01"))))
            for part in parts:
                await super().send_message(destination, part, payload)
        else:
            out = ChannelData(msg.options, msg.timestamp, msg.unique_id, msg.address, data + b"\x00")
            await super().send_message(destination, out, payload)

    def message_received(self, msg: ChannelData) -> Awaitable[None] | None:
        data = msg.message
        if not data:
            _rl.warn("empty", "FragmentationInterceptor: empty payload from %s dropped", msg.address.name)
            return None
        is_frag = data[-1] != 0
        if not is_frag:
            msg.message = data[:-1]
            return super().message_received(msg)
        if len(data) < 9:
            _rl.warn("short", "FragmentationInterceptor: short fragment from %s dropped", msg.address.name)
            return None
        count = int.from_bytes(data[-5:-1], "big", signed=True)
        nr = int.from_bytes(data[-9:-5], "big", signed=True)
        key = bytes(msg.unique_id)
        coll = self._pieces.get(key)
        if coll is None:
            if count <= 0 or count > 1_000_000:
                _rl.warn("count", "FragmentationInterceptor: bad fragment count %d from %s", count, msg.address.name)
                return None
            while len(self._pieces) >= MAX_PENDING:
                self._drop_oldest("FragmentationInterceptor: %d messages being reassembled (MAX_PENDING); the "
                                  "oldest dropped", len(self._pieces))
            coll = self._pieces[key] = _FragCollection(msg, count)
        if not 0 <= nr < coll.count:
            _rl.warn("range", "FragmentationInterceptor: fragment %d of %d out of range", nr, coll.count)
            return None
        part = data[:-9]
        old = coll.frags.get(nr)
        coll.frags[nr] = part
        delta = len(part) - (len(old) if old is not None else 0)
        coll.size += delta
        self._held += delta
        while self._held > MAX_PENDING_BYTES and self._pieces:
            self._drop_oldest("FragmentationInterceptor: %d bytes of fragments held (MAX_PENDING_BYTES); the "
                              "oldest message dropped", self._held)
        if key not in self._pieces or len(coll.frags) < coll.count:
            return None
        del self._pieces[key]
        self._held -= coll.size
        whole = coll.msg
        whole.message = b"".join(coll.frags[i] for i in range(coll.count))
        return super().message_received(whole)

    def _drop_oldest(self, msg: str, *args: object) -> None:
        key = next(iter(self._pieces))
        coll = self._pieces.pop(key)
        self._held -= coll.size
        _rl.warn("pending", msg, *args)

    async def heartbeat(self) -> None:
        now = time.monotonic()
        for key, coll in list(self._pieces.items()):
            if (now - coll.received) * 1000 > self.expire:
                if self._pieces.pop(key, None) is not None:
                    self._held -= coll.size
        await super().heartbeat()
