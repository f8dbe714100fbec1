"""``RpcChannel``: request/response over a channel (Tomcat's org.apache.catalina.tribes.group.RpcChannel).

Wire (byte-compatible with Tomcat 9.0 and 10.1; tests/vectors/backup/*.json hold Tomcat's bytes)::

    RpcMessage (Externalizable, computed SUID 8154458786660410633), external data:
        block data: boolean reply | int len + uuid | int len + rpcId ;  writeObject(message) ; TC_ENDBLOCKDATA
    RpcMessage$NoRpcChannelReply (Externalizable, computed SUID 8911374288427899814, extends RpcMessage):
        block data: int len + uuid | int len + rpcId  (no ``reply`` boolean, no message; read as reply=true)

Rules (Tomcat's):

* A listener accepts an RpcMessage only when its ``rpcId`` matches byte for byte; ``uuid`` is a 16-byte
  random request key.
* Requests go with ``channel_options & ~SYNCHRONIZED_ACK``; replies with ``reply_message_options`` (0)
  ``& ~SYNCHRONIZED_ACK``.
* Reply modes: ``FIRST_REPLY`` 1, ``MAJORITY_REPLY`` 2, ``ALL_REPLY`` 3, ``NO_REPLY`` 4. A
  ``NoRpcChannelReply`` lowers the expected count by one. A reply for an unknown uuid (late, or
  never asked) goes to ``callback.left_over`` (a NoRpcChannelReply is dropped).
* ``GroupChannel`` answers an RpcMessage that no listener accepted with ``NoRpcChannelReply``
  (options 8), so a Java caller never waits for its timeout because of us (``no_rpc_channel_reply``).

``RpcChannel.send`` is a coroutine: the event loop keeps running while replies are collected.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import os
import struct
import weakref
from dataclasses import dataclass, field
from typing import Any, Awaitable, Protocol, Sequence

from tribes.channel import SendOptions
from tribes.javaser import BlockData, ClassDesc, JavaObject, JavaWriteAborted
from tribes.javaser.constants import SC_BLOCK_DATA, SC_EXTERNALIZABLE
from tribes.membership.member import Member
from tribes.ratelimit import RateLimitedLog

log = logging.getLogger("tribes.group.rpc")
_rl = RateLimitedLog(log)

__all__ = [
    "FIRST_REPLY", "MAJORITY_REPLY", "ALL_REPLY", "NO_REPLY", "RPC_MESSAGE_CLASS", "NO_RPC_REPLY_CLASS",
    "RPC_MESSAGE_SUID", "NO_RPC_REPLY_SUID", "RpcMessage", "RpcMessageError", "Response", "RpcCallback",
    "RpcChannel", "RpcCollector", "is_rpc_message", "decode_rpc", "no_rpc_channel_reply",
]

FIRST_REPLY = 1
MAJORITY_REPLY = 2
ALL_REPLY = 3
NO_REPLY = 4

RPC_MESSAGE_CLASS = "org.apache.catalina.tribes.group.RpcMessage"
NO_RPC_REPLY_CLASS = "org.apache.catalina.tribes.group.RpcMessage$NoRpcChannelReply"
RPC_MESSAGE_SUID = 8154458786660410633
NO_RPC_REPLY_SUID = 8911374288427899814

_SYNC_ACK = int(SendOptions.SYNCHRONIZED_ACK)
_ASYNC = int(SendOptions.ASYNCHRONOUS)
_EXT = SC_EXTERNALIZABLE | SC_BLOCK_DATA

RPC_MESSAGE_DESC = ClassDesc(RPC_MESSAGE_CLASS, RPC_MESSAGE_SUID, _EXT)
NO_RPC_REPLY_DESC = ClassDesc(NO_RPC_REPLY_CLASS, NO_RPC_REPLY_SUID, _EXT, (), RPC_MESSAGE_DESC)


class RpcMessageError(ValueError):
    """An RpcMessage whose external data cannot be read (the message is dropped)."""


@dataclass
class RpcMessage:
    """One RPC request or reply. ``message`` is any Java-serializable value (or None)."""

    rpc_id: bytes
    uuid: bytes
    message: Any = None
    reply: bool = False
    #: True for ``RpcMessage$NoRpcChannelReply`` ("no RpcChannel here for this rpcId")
    no_channel: bool = False

    def to_java(self) -> JavaObject:
        ids = struct.pack(">i", len(self.uuid)) + self.uuid + struct.pack(">i", len(self.rpc_id)) + self.rpc_id
        if self.no_channel:
            return JavaObject.new(NO_RPC_REPLY_DESC, annotations={NO_RPC_REPLY_CLASS: [BlockData(ids)]})
        head = (b"\x01" if self.reply else b"\x00") + ids
        return JavaObject.new(RPC_MESSAGE_DESC, annotations={RPC_MESSAGE_CLASS: [BlockData(head), self.message]})


def is_rpc_message(value: Any) -> bool:
    return getattr(value, "class_name", None) in (RPC_MESSAGE_CLASS, NO_RPC_REPLY_CLASS)


_cache: "weakref.WeakKeyDictionary[Any, RpcMessage]" = weakref.WeakKeyDictionary()


def decode_rpc(value: Any) -> RpcMessage:
    """A deserialized RpcMessage / NoRpcChannelReply -> :class:`RpcMessage` (raises RpcMessageError)."""
    try:
        cached = _cache.get(value)
    except TypeError:
        cached = None
    if cached is not None:
        return cached
    name = getattr(value, "class_name", None)
    if name not in (RPC_MESSAGE_CLASS, NO_RPC_REPLY_CLASS):
        raise RpcMessageError(f"not an RpcMessage: {name or type(value).__name__}")
    items = value.annotations() or []
    data = bytearray()
    inner: Any = None
    objects = 0
    for item in items:
        if isinstance(item, BlockData):
            if objects:
                raise RpcMessageError("block data after the message object")
            data += item.data
        elif isinstance(item, JavaWriteAborted):
            raise RpcMessageError("the sender failed to serialize the RPC payload")
        else:
            objects += 1
            inner = item
    no_channel = name == NO_RPC_REPLY_CLASS
    try:
        pos = 0
        if no_channel:
            reply = True
        else:
            if len(data) < 1:
                raise RpcMessageError("RpcMessage without data")
            reply = data[0] != 0
            pos = 1
        (ulen,) = struct.unpack_from(">i", data, pos)
        if ulen < 0 or pos + 4 + ulen > len(data):
            raise RpcMessageError(f"RpcMessage uuid length {ulen} out of range")
        uuid = bytes(data[pos + 4:pos + 4 + ulen])
        pos += 4 + ulen
        (rlen,) = struct.unpack_from(">i", data, pos)
        if rlen < 0 or pos + 4 + rlen > len(data):
            raise RpcMessageError(f"RpcMessage rpcId length {rlen} out of range")
        rpc_id = bytes(data[pos + 4:pos + 4 + rlen])
        pos += 4 + rlen
    except struct.error as exc:
        raise RpcMessageError(f"truncated RpcMessage data: {exc}") from exc
    if pos != len(data):
        raise RpcMessageError(f"{len(data) - pos} unexpected bytes in RpcMessage data")
    if no_channel and objects:
        raise RpcMessageError("NoRpcChannelReply carries an object")
    if not no_channel and objects != 1:
        raise RpcMessageError(f"RpcMessage carries {objects} objects, expected 1")
    msg = RpcMessage(rpc_id, uuid, inner, reply, no_channel)
    try:
        _cache[value] = msg
    except TypeError:
        pass
    return msg


#: NoRpcChannelReply answers made in this process (``no_rpc_channel_reply``)
NO_RPC_REPLIES_SENT = 0


def no_rpc_channel_reply(request: RpcMessage) -> RpcMessage | None:
    """What GroupChannel answers to an RpcMessage no listener accepted (None for a NoRpcChannelReply)."""
    global NO_RPC_REPLIES_SENT
    if request.no_channel:
        return None
    NO_RPC_REPLIES_SENT += 1
    return RpcMessage(request.rpc_id, request.uuid, None, True, True)


@dataclass
class Response:
    """One reply: who sent it and its ``message`` (Tomcat's org.apache.catalina.tribes.group.Response)."""

    source: Member
    message: Any


class RpcCallback(Protocol):
    def reply_request(self, msg: Any, sender: Member) -> Any: ...

    def left_over(self, msg: Any, sender: Member) -> None: ...


@dataclass
class RpcCollector:
    """Replies collected for one request (Tomcat's RpcChannel.RpcCollector)."""

    uuid: bytes
    options: int
    destcnt: int
    responses: list[Response] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def is_complete(self) -> bool:
        if self.destcnt <= 0:
            return True
        n = len(self.responses)
        if self.options == ALL_REPLY:
            return self.destcnt == n
        if self.options == MAJORITY_REPLY:
            return n / self.destcnt >= 0.5
        if self.options == FIRST_REPLY:
            return n > 0
        return False


class RpcChannel:
    """Tomcat's RpcChannel: registers itself as a channel listener for ``rpc_id``.

    ``callback.reply_request(msg, sender)`` answers incoming requests (it may return an awaitable);
    ``callback.left_over(msg, sender)`` gets replies that arrived after their request completed.
    """

    is_rpc_channel = True

    def __init__(self, rpc_id: bytes, channel: Any, callback: RpcCallback, reply_message_options: int = 0) -> None:
        self.rpc_id = bytes(rpc_id)
        self.channel = channel
        self.callback = callback
        self.reply_message_options = int(reply_message_options)
        self.response_map: dict[bytes, RpcCollector] = {}
        self.unknown_replies = 0
        self.bad_messages = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        channel.add_channel_listener(self)

    async def send(self, destination: Sequence[Member], message: Any, rpc_options: int, channel_options: int,
                   timeout: int) -> list[Response]:
        """Send ``message`` to ``destination``; wait up to ``timeout`` ms for replies per ``rpc_options``."""
        if not destination:
            return []
        send_options = int(channel_options) & ~_SYNC_ACK
        uuid = os.urandom(16)
        collector = RpcCollector(uuid, rpc_options, len(destination))
        if rpc_options != NO_REPLY:
            self.response_map[uuid] = collector
        try:
            await self.channel.send(list(destination), RpcMessage(self.rpc_id, uuid, message).to_java(), send_options)
            if rpc_options != NO_REPLY and not collector.is_complete() and timeout > 0:
                try:
                    await asyncio.wait_for(collector.done.wait(), timeout / 1000.0)
                except asyncio.TimeoutError:
                    pass
        finally:
            self.response_map.pop(uuid, None)
        return list(collector.responses)

    # -- ChannelListener --------------------------------------------------------------------------
    def accept(self, msg: Any, sender: Member) -> bool:
        if not is_rpc_message(msg):
            return False
        try:
            return decode_rpc(msg).rpc_id == self.rpc_id
        except RpcMessageError:
            return False

    def message_received(self, msg: Any, sender: Member) -> None:
        try:
            rmsg = decode_rpc(msg)
        except RpcMessageError as exc:
            self.bad_messages += 1
            _rl.warn("rpc-corrupt", "dropped a corrupt RpcMessage from %s: %s", getattr(sender, "name", sender), exc)
            return
        if rmsg.reply:
            collector = self.response_map.get(rmsg.uuid)
            if collector is None:
                if not rmsg.no_channel:
                    self.unknown_replies += 1
                    self._left_over(rmsg.message, sender)
                return
            if rmsg.no_channel:
                collector.destcnt -= 1
            else:
                collector.responses.append(Response(sender, rmsg.message))
            if collector.is_complete():
                collector.done.set()
            return
        try:
            reply = self.callback.reply_request(rmsg.message, sender)
        except Exception:
            log.exception("RPC callback failed for a request from %s", getattr(sender, "name", sender))
            reply = None
        self._spawn(self._send_reply(rmsg, reply, sender))

    def _left_over(self, message: Any, sender: Member) -> None:
        try:
            self.callback.left_over(message, sender)
        except Exception:
            log.exception("RPC left-over callback failed")

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_reply(self, request: RpcMessage, reply: Any, sender: Member) -> None:
        try:
            if inspect.isawaitable(reply):
                reply = await reply
            answer = RpcMessage(request.rpc_id, request.uuid, reply, True)
            await self.channel.send([sender], answer.to_java(), self.reply_message_options & ~_SYNC_ACK)
        except Exception as exc:
            _rl.warn("rpc-reply", "unable to send an RPC reply to %s: %s", getattr(sender, "name", sender), exc)

    def breakdown(self) -> None:
        self.channel.remove_channel_listener(self)
        for c in self.response_map.values():
            c.done.set()
