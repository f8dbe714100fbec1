"""The agent protocol: workers <-> ``tribes agent`` over a Unix socket. Sans-I/O (bytes in, messages out).

Frame: a 4-byte big-endian body length, then the body: one MessagePack map (msgspec). The first
request on a connection is ``{"op": "hello", "v": VERSION}``; the agent answers with its version, or
``{"ok": false, "code": "version"}`` and closes. Then strictly one request, one answer:

=========  ============================================================  ===========================
op         request fields                                                answer fields (``ok`` true)
=========  ============================================================  ===========================
hello      v, pid                                                        v, route, max_write, members
load       ctx, id                                                       found, id, renamed, attrs
                                                                         {name: javaser bytes},
                                                                         principal [name, roles] |
                                                                         nil, auth, new, max_inactive (s)
commit     ctx, id (nil: create), set {name: javaser bytes}, remove      id (nil: invalidated or gone),
           [names], login [name, roles, auth] | nil, logout, rotate,     gone
           invalidate
status     -                                                             route, members, sessions
=========  ============================================================  ===========================

A ``load`` or ``commit`` with ``watch: true`` asks the agent to tell this connection when the
session changes (the answer then has ``watch: true``): the agent sends ``{"op": "changed", "id":
id | nil}`` (nil: every session) before it answers anything else, and the worker answers its next
``load`` of an unchanged session from its copy, without a round trip (tribes.web.watch).

A request with ``noreply: true`` gets no answer at all (not even an error): the worker sends a
read-only request's ``commit`` (``access``: the end of a request that changed nothing) that way and
does not wait for the agent.

An error answer is ``{"ok": false, "code": ..., "error": text}``: ``too_large`` (the session is
unchanged), ``bad_request``, ``version``, ``unknown_context``, ``too_many_sessions``.
Attribute values travel as Java serialization streams (``tribes.javaser``), so Java types and
opaque objects survive the hop unchanged.
"""
from __future__ import annotations

import struct
from typing import Any

import msgspec

from tribes.web.errors import ProtocolError

__all__ = ["VERSION", "MAX_FRAME", "FrameDecoder", "encode", "hello", "check_request"]

VERSION = 1
#: frames above this are refused (the write limit plus room for names and headers)
MAX_FRAME = 64 * 1024 * 1024
_LEN = struct.Struct("!I")
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()

OPS = ("hello", "load", "commit", "status")


def encode(msg: dict[str, Any]) -> bytes:
    """One frame holding ``msg``."""
    body = _encoder.encode(msg)
    return _LEN.pack(len(body)) + body


def hello() -> dict[str, Any]:
    import os
    return {"op": "hello", "v": VERSION, "pid": os.getpid()}


class FrameDecoder:
    """Bytes in, messages (dicts) out; ``ProtocolError`` on a frame that is too big or not a map."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()

    def feed(self, data: bytes | memoryview) -> list[dict[str, Any]]:
        if not self._buf and len(data) >= 4:
            (n,) = _LEN.unpack_from(data, 0)
            if n == len(data) - 4 and n <= self.max_frame:     # the usual case: exactly one frame
                return [self._decode(memoryview(data)[4:])]
        self._buf += data
        out: list[dict[str, Any]] = []
        while len(self._buf) >= 4:
            (n,) = _LEN.unpack_from(self._buf, 0)
            if n > self.max_frame:
                raise ProtocolError(f"frame of {n} bytes exceeds the limit of {self.max_frame}")
            if len(self._buf) < 4 + n:
                break
            body = bytes(self._buf[4:4 + n])
            del self._buf[:4 + n]
            out.append(self._decode(body))
        return out

    @staticmethod
    def _decode(body: bytes | memoryview) -> dict[str, Any]:
        try:
            msg = _decoder.decode(body)
        except msgspec.DecodeError as exc:
            raise ProtocolError(f"undecodable frame: {exc}") from exc
        if not isinstance(msg, dict):
            raise ProtocolError(f"a frame must hold a map, not {type(msg).__name__}")
        return msg

    @property
    def buffered(self) -> int:
        return len(self._buf)


def _str_or_none(v: Any) -> bool:
    return v is None or isinstance(v, str)


def check_request(msg: dict[str, Any]) -> str | None:
    """Why ``msg`` is not a well-formed request (None when it is)."""
    op = msg.get("op")
    if op not in OPS:
        return f"unknown op {op!r}"
    if msg.get("noreply", False) not in (True, False):
        return "noreply must be a boolean"
    if msg.get("watch", False) not in (True, False):
        return "watch must be a boolean"
    if op == "hello":
        return None if isinstance(msg.get("v"), int) else "hello without an integer version"
    if op == "status":
        return None
    if not isinstance(msg.get("ctx"), str):
        return "ctx must be a string"
    if not _str_or_none(msg.get("id")):
        return "id must be a string or nil"
    if op == "load":
        return None if isinstance(msg.get("id"), str) else "load needs an id"
    sets = msg.get("set") or {}
    if not isinstance(sets, dict) or not all(isinstance(k, str) and isinstance(v, bytes) for k, v in sets.items()):
        return "set must map attribute names to bytes"
    rem = msg.get("remove") or []
    if not isinstance(rem, list) or not all(isinstance(k, str) for k in rem):
        return "remove must be a list of names"
    login = msg.get("login")
    if login is not None:
        if (not isinstance(login, list) or len(login) != 3 or not isinstance(login[0], str) or not login[0]
                or not isinstance(login[1], list) or not all(isinstance(r, str) for r in login[1])
                or not _str_or_none(login[2])):
            return "login must be [name, [roles], auth_type]"
    return None
