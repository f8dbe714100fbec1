# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Cython hot path of the Tribes wire codecs.

Its pure-Python twin is ``tribes/_purepath.py``: the same functions with the same results and the
same exceptions (property-tested in tests/unit/test_fastpath_equivalence.py). Select through
``tribes.fastpath``, never import this module directly.

- ``FrameDecoderCore``: incremental XByteBuffer frame decoder. Whole frames are sliced straight out
  of the caller's chunk; a frame split across chunks is copied once, directly into the ``bytes``
  object that is returned (no intermediate buffer, no compaction).
- ``encode_frame``, ``parse_member``/``build_member``, ``parse_channel_data``/``build_channel_data``.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE
from libc.string cimport memcpy, memcmp
from libc.stdlib cimport malloc, realloc, free
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t

from tribes.io.errors import (
    ChannelDataDecodeError,
    DecoderFailedError,
    FramingError,
    MemberDecodeError,
)
from tribes._purepath import (
    _bad_end,
    _bad_start,
    _check_length,
    _preview,
)

IMPLEMENTATION = "cython"

START_DATA = b"FLT2002"
END_DATA = b"TLF2003"
TRIBES_MBR_BEGIN = b"TRIBES-B\x01\x00"
TRIBES_MBR_END = b"TRIBES-E\x01\x00"
HEADER_SIZE = 11
FRAME_OVERHEAD = 18
DEFAULT_MAX_MESSAGE_SIZE = 256 * 1024 * 1024

cdef const char* C_START = b"FLT2002"
cdef const char* C_END = b"TLF2003"
cdef const char* C_MBR_BEGIN = b"TRIBES-B\x01\x00"
cdef const char* C_MBR_END = b"TRIBES-E\x01\x00"

# bodies up to EAGER_BODY are allocated in full as soon as their header arrives; larger ones grow as
# bytes arrive (from GROW_START, doubling) until half the body is there, and only then get their
# full-size bytes object: an 11-byte header that lies about a huge length makes us allocate at most
# EAGER_BODY, and a frame's memory stays within twice the bytes that really arrived.
cdef enum:
    C_HEADER_SIZE = 11
    C_FRAME_OVERHEAD = 18
    EAGER_BODY = 64 * 1024
    GROW_START = 256 * 1024
    ST_HEADER = 0
    ST_BODY = 1
    ST_TRAILER = 2


cdef inline int32_t rd_i32(const unsigned char* p) noexcept nogil:
    return <int32_t>((<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | <uint32_t>p[3])


cdef inline int64_t rd_i64(const unsigned char* p) noexcept nogil:
    cdef uint64_t v = 0
    cdef int i
    for i in range(8):
        v = (v << 8) | p[i]
    return <int64_t>v


cdef inline void wr_i32(unsigned char* p, int32_t value) noexcept nogil:
    cdef uint32_t v = <uint32_t>value
    p[0] = (v >> 24) & 0xFF
    p[1] = (v >> 16) & 0xFF
    p[2] = (v >> 8) & 0xFF
    p[3] = v & 0xFF


cdef inline void wr_i64(unsigned char* p, int64_t value) noexcept nogil:
    cdef uint64_t v = <uint64_t>value
    cdef int i
    for i in range(7, -1, -1):
        p[i] = v & 0xFF
        v >>= 8


def encode_frame(body):
    """``XByteBuffer.createDataPackage(body)``: FLT2002 + int length + body + TLF2003."""
    cdef Py_buffer view
    PyObject_GetBuffer(body, &view, PyBUF_SIMPLE)
    cdef Py_ssize_t n = view.len
    cdef bytes out
    cdef unsigned char* p
    try:
        if n > 0x7FFFFFFF:
            raise ValueError(f"frame body of {n} bytes does not fit in a Java int length")
        out = PyBytes_FromStringAndSize(NULL, n + C_FRAME_OVERHEAD)
        p = <unsigned char*>PyBytes_AS_STRING(out)
        memcpy(p, C_START, 7)
        wr_i32(p + 7, <int32_t>n)
        if n:
            memcpy(p + 11, view.buf, n)
        memcpy(p + 11 + n, C_END, 7)
    finally:
        PyBuffer_Release(&view)
    return out


cdef class FrameDecoderCore:
    """Incremental decoder of XByteBuffer frames on one TCP stream (see ``tribes._purepath``)."""

    cdef readonly Py_ssize_t max_message_size
    cdef int state
    cdef unsigned char head[11]
    cdef Py_ssize_t head_len
    cdef Py_ssize_t length       # body length of the current frame
    cdef Py_ssize_t have         # body bytes collected
    cdef object body             # bytes of the full length (eager) or None
    cdef unsigned char* grow     # growing C buffer for large bodies
    cdef Py_ssize_t grow_cap
    cdef object _failed

    def __cinit__(self, *args, **kwargs):
        self.grow = NULL
        self.grow_cap = 0

    def __init__(self, max_message_size=DEFAULT_MAX_MESSAGE_SIZE):
        if max_message_size < 0:
            raise ValueError(f"max_message_size must be >= 0, got {max_message_size}")
        self.max_message_size = max_message_size
        self.state = ST_HEADER
        self.head_len = 0
        self.length = 0
        self.have = 0
        self.body = None
        self._failed = None

    def __dealloc__(self):
        if self.grow != NULL:
            free(self.grow)
            self.grow = NULL

    cdef void _drop_body(self):
        self.body = None
        if self.grow != NULL:
            free(self.grow)
            self.grow = NULL
        self.grow_cap = 0
        self.have = 0

    @property
    def buffered(self):
        """Bytes of an incomplete frame held by the decoder."""
        if self.state == ST_HEADER:
            return self.head_len
        if self.state == ST_BODY:
            return C_HEADER_SIZE + self.have
        return C_HEADER_SIZE + self.length + self.head_len

    @property
    def failed(self):
        return self._failed is not None

    def feed(self, data):
        if self._failed is not None:
            raise DecoderFailedError(f"decoder already failed ({self._failed}); open a new connection")
        cdef list frames = []
        cdef Py_buffer view
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            self._feed(<const unsigned char*>view.buf, view.len, frames)
        except FramingError as exc:
            exc.frames = frames
            self._failed = type(exc).__name__
            self.head_len = 0
            self._drop_body()
            raise
        finally:
            PyBuffer_Release(&view)
        return frames

    cdef _feed(self, const unsigned char* p, Py_ssize_t n, list frames):
        cdef Py_ssize_t pos = 0
        cdef Py_ssize_t length, end
        cdef Py_ssize_t mx = self.max_message_size
        if self.state != ST_HEADER or self.head_len:
            pos = self._continue(p, 0, n, frames)
        while pos < n:
            if n - pos < C_HEADER_SIZE:
                break
            if memcmp(p + pos, C_START, 7) != 0:
                raise _bad_start(PyBytes_FromStringAndSize(<const char*>p + pos, 7))
            length = rd_i32(p + pos + 7)
            if length < 0 or length > mx:
                _check_length(length, mx)
            end = pos + C_HEADER_SIZE + length
            if end + 7 > n:
                break
            if memcmp(p + end, C_END, 7) != 0:
                raise _bad_end(PyBytes_FromStringAndSize(<const char*>p + end, 7), length)
            frames.append(PyBytes_FromStringAndSize(<const char*>p + pos + C_HEADER_SIZE, length))
            pos = end + 7
        if pos < n:
            self._continue(p, pos, n, frames)

    cdef Py_ssize_t _continue(self, const unsigned char* p, Py_ssize_t pos, Py_ssize_t n, list frames) except -1:
        cdef Py_ssize_t take, k, length, newcap
        cdef unsigned char* nb
        while pos < n:
            if self.state == ST_HEADER:
                take = C_HEADER_SIZE - self.head_len
                if take > n - pos:
                    take = n - pos
                memcpy(self.head + self.head_len, p + pos, take)
                self.head_len += take
                pos += take
                k = self.head_len if self.head_len < 7 else 7
                if memcmp(self.head, C_START, k) != 0:
                    raise _bad_start(PyBytes_FromStringAndSize(<const char*>self.head, self.head_len))
                if self.head_len < C_HEADER_SIZE:
                    return pos
                length = rd_i32(self.head + 7)
                _check_length(length, self.max_message_size)
                self.length = length
                self.head_len = 0
                self.have = 0
                if length <= EAGER_BODY:
                    self.body = PyBytes_FromStringAndSize(NULL, length)
                else:
                    self.body = None
                self.state = ST_BODY
            elif self.state == ST_BODY:
                take = self.length - self.have
                if take > n - pos:
                    take = n - pos
                if take:
                    if self.body is None and 2 * (self.have + take) >= self.length:
                        # half the body is here: now it is worth its full-size object
                        self.body = PyBytes_FromStringAndSize(NULL, self.length)
                        if self.have:
                            memcpy(PyBytes_AS_STRING(self.body), self.grow, self.have)
                        if self.grow != NULL:
                            free(self.grow)
                            self.grow = NULL
                        self.grow_cap = 0
                    if self.body is not None:
                        memcpy(PyBytes_AS_STRING(self.body) + self.have, p + pos, take)
                    else:
                        if self.have + take > self.grow_cap:
                            newcap = self.grow_cap * 2 if self.grow_cap else GROW_START
                            while newcap < self.have + take:
                                newcap *= 2
                            if newcap > self.length:
                                newcap = self.length
                            nb = <unsigned char*>realloc(self.grow, newcap)
                            if nb == NULL:
                                raise MemoryError()
                            self.grow = nb
                            self.grow_cap = newcap
                        memcpy(self.grow + self.have, p + pos, take)
                    self.have += take
                    pos += take
                if self.have < self.length:
                    return pos
                self.state = ST_TRAILER
            else:
                take = 7 - self.head_len
                if take > n - pos:
                    take = n - pos
                memcpy(self.head + self.head_len, p + pos, take)
                self.head_len += take
                pos += take
                if memcmp(self.head, C_END, self.head_len) != 0:
                    raise _bad_end(PyBytes_FromStringAndSize(<const char*>self.head, self.head_len), self.length)
                if self.head_len < 7:
                    return pos
                if self.body is not None:
                    frames.append(self.body)
                elif self.length == 0:
                    frames.append(b"")
                else:
                    frames.append(PyBytes_FromStringAndSize(<const char*>self.grow, self.length))
                self._drop_body()
                self.head_len = 0
                self.state = ST_HEADER
                return pos
        return pos


# --------------------------------------------------------------------------- member packet

cdef tuple _parse_member(const unsigned char* base, Py_ssize_t buflen, Py_ssize_t offset, Py_ssize_t length):
    cdef const unsigned char* d
    cdef int32_t body_len, hl8, flen, plen
    cdef Py_ssize_t endpos, pos
    cdef bytes got
    if length < 0:
        length = buflen - offset
    if offset < 0 or length < 0 or offset + length > buflen:
        raise MemberDecodeError(f"member packet range {offset}+{length} is outside the {buflen}-byte buffer")
    d = base + offset
    if length < 10 or memcmp(d, C_MBR_BEGIN, 10) != 0:
        got = PyBytes_FromStringAndSize(<const char*>d, length if length < 10 else 10)
        if got[:8] == TRIBES_MBR_BEGIN[:8] and len(got) == 10:
            raise MemberDecodeError(
                f"member packet version {got[8]}.{got[9]} is not supported (expected TRIBES-B 1.0)")
        raise MemberDecodeError(
            f"member packet does not start with TRIBES-B\\x01\\x00, got {_preview(got)}")
    if length < 45:
        raise MemberDecodeError(f"member packet truncated: {length} bytes, at least 45 needed")
    body_len = rd_i32(d + 10)
    cdef int64_t alive = rd_i64(d + 14)
    cdef int32_t port = rd_i32(d + 22)
    cdef int32_t secure_port = rd_i32(d + 26)
    cdef int32_t udp_port = rd_i32(d + 30)
    cdef signed char hl = <signed char>d[34]
    if body_len < 0:
        raise MemberDecodeError(f"member packet declares a negative body length ({body_len})")
    if length < <Py_ssize_t>body_len + 24:
        raise MemberDecodeError(
            f"member packet truncated: body length {body_len} needs {<long long>body_len + 24} bytes, got {length}")
    if length > <Py_ssize_t>body_len + 24:
        raise MemberDecodeError(
            f"member packet has {length - body_len - 24} bytes after its end marker (body length {body_len})")
    endpos = 14 + body_len
    if memcmp(d + endpos, C_MBR_END, 10) != 0:
        raise MemberDecodeError(
            f"member packet end marker TRIBES-E\\x01\\x00 not at body end (offset {endpos}), "
            f"got {_preview(PyBytes_FromStringAndSize(<const char*>d + endpos, 10))}")
    if hl != 4 and hl != 16:
        raise MemberDecodeError(f"member host length {hl} is neither 4 (IPv4) nor 16 (IPv6)")
    pos = 35
    if pos + hl + 4 > endpos:
        raise MemberDecodeError("member packet truncated inside the host address")
    host = PyBytes_FromStringAndSize(<const char*>d + pos, hl)
    pos += hl
    flen = rd_i32(d + pos)
    pos += 4
    if flen < 0 or pos + flen + 4 > endpos:
        raise MemberDecodeError(f"member command length {flen} does not fit in the body")
    command = PyBytes_FromStringAndSize(<const char*>d + pos, flen)
    pos += flen
    flen = rd_i32(d + pos)
    pos += 4
    if flen < 0 or pos + flen + 4 > endpos:
        raise MemberDecodeError(f"member domain length {flen} does not fit in the body")
    domain = PyBytes_FromStringAndSize(<const char*>d + pos, flen)
    pos += flen
    if pos + 16 + 4 > endpos:
        raise MemberDecodeError("member packet truncated inside the uniqueId")
    unique_id = PyBytes_FromStringAndSize(<const char*>d + pos, 16)
    pos += 16
    plen = rd_i32(d + pos)
    pos += 4
    if plen < 0 or pos + plen != endpos:
        raise MemberDecodeError(
            f"member payload length {plen} does not match the body length {body_len}")
    payload = PyBytes_FromStringAndSize(<const char*>d + pos, plen)
    return (alive, port, secure_port, udp_port, host, command, domain, unique_id, payload)


def parse_member(data, Py_ssize_t offset=0, Py_ssize_t length=-1):
    """Decode a member packet; returns ``(alive, port, secure_port, udp_port, host, command, domain,
    unique_id, payload)``; raises ``MemberDecodeError``."""
    cdef Py_buffer view
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        return _parse_member(<const unsigned char*>view.buf, view.len, offset, length)
    finally:
        PyBuffer_Release(&view)


def build_member(int64_t alive, int32_t port, int32_t secure_port, int32_t udp_port, bytes host,
                 bytes command, bytes domain, bytes unique_id, bytes payload):
    """``MemberImpl.getData``: the member packet bytes."""
    cdef Py_ssize_t hl = len(host), cl = len(command), dl = len(domain), pl = len(payload)
    if hl > 127:
        raise ValueError(f"host address of {hl} bytes is too long (Tomcat allows at most 127)")
    if len(unique_id) != 16:
        raise ValueError(f"uniqueId must be 16 bytes, got {len(unique_id)}")
    cdef Py_ssize_t body_len = 8 + 4 + 4 + 4 + 1 + hl + 4 + cl + 4 + dl + 16 + 4 + pl
    cdef bytes out = PyBytes_FromStringAndSize(NULL, body_len + 24)
    cdef unsigned char* p = <unsigned char*>PyBytes_AS_STRING(out)
    memcpy(p, C_MBR_BEGIN, 10)
    wr_i32(p + 10, <int32_t>body_len)
    wr_i64(p + 14, alive)
    wr_i32(p + 22, port)
    wr_i32(p + 26, secure_port)
    wr_i32(p + 30, udp_port)
    p[34] = <unsigned char>hl
    cdef Py_ssize_t pos = 35
    memcpy(p + pos, PyBytes_AS_STRING(host), hl)
    pos += hl
    wr_i32(p + pos, <int32_t>cl)
    pos += 4
    memcpy(p + pos, PyBytes_AS_STRING(command), cl)
    pos += cl
    wr_i32(p + pos, <int32_t>dl)
    pos += 4
    memcpy(p + pos, PyBytes_AS_STRING(domain), dl)
    pos += dl
    memcpy(p + pos, PyBytes_AS_STRING(unique_id), 16)
    pos += 16
    wr_i32(p + pos, <int32_t>pl)
    pos += 4
    memcpy(p + pos, PyBytes_AS_STRING(payload), pl)
    pos += pl
    memcpy(p + pos, C_MBR_END, 10)
    return out


# --------------------------------------------------------------------------- ChannelData

def parse_channel_data(body):
    """Decode a ChannelData package; returns ``(options, timestamp, unique_id, member_fields,
    address_bytes, message)``; raises ``ChannelDataDecodeError`` / ``MemberDecodeError``."""
    cdef Py_buffer view
    PyObject_GetBuffer(body, &view, PyBUF_SIMPLE)
    cdef const unsigned char* d = <const unsigned char*>view.buf
    cdef Py_ssize_t n = view.len, pos
    cdef int32_t options, ulen, alen, mlen
    cdef int64_t timestamp
    try:
        if n < 16:
            raise ChannelDataDecodeError(f"ChannelData truncated: {n} bytes, at least 24 needed")
        options = rd_i32(d)
        timestamp = rd_i64(d + 4)
        ulen = rd_i32(d + 12)
        pos = 16
        if ulen < 0 or pos + ulen + 4 > n:
            raise ChannelDataDecodeError(f"ChannelData uniqueId length {ulen} does not fit in the {n}-byte package")
        unique_id = PyBytes_FromStringAndSize(<const char*>d + pos, ulen)
        pos += ulen
        alen = rd_i32(d + pos)
        pos += 4
        if alen < 0 or pos + alen + 4 > n:
            raise ChannelDataDecodeError(f"ChannelData address length {alen} does not fit in the {n}-byte package")
        member = _parse_member(d, n, pos, alen)
        address = PyBytes_FromStringAndSize(<const char*>d + pos, alen)
        pos += alen
        mlen = rd_i32(d + pos)
        pos += 4
        if mlen < 0 or pos + mlen > n:
            raise ChannelDataDecodeError(
                f"ChannelData message length {mlen} does not fit in the {n}-byte package")
        if pos + mlen != n:
            raise ChannelDataDecodeError(
                f"ChannelData has {n - pos - mlen} bytes after its {mlen}-byte message")
        message = PyBytes_FromStringAndSize(<const char*>d + pos, mlen)
        return (options, timestamp, unique_id, member, address, message)
    finally:
        PyBuffer_Release(&view)


def build_channel_data(int32_t options, int64_t timestamp, unique_id, address, message, bint framed=False):
    """``ChannelData.getDataPackage`` (``framed=True``: ``XByteBuffer.createDataPackage(cdata)``)."""
    cdef Py_buffer uv, av, mv
    PyObject_GetBuffer(unique_id, &uv, PyBUF_SIMPLE)
    try:
        PyObject_GetBuffer(address, &av, PyBUF_SIMPLE)
        try:
            PyObject_GetBuffer(message, &mv, PyBUF_SIMPLE)
            try:
                return _build_cd(options, timestamp, &uv, &av, &mv, framed)
            finally:
                PyBuffer_Release(&mv)
        finally:
            PyBuffer_Release(&av)
    finally:
        PyBuffer_Release(&uv)


cdef bytes _build_cd(int32_t options, int64_t timestamp, Py_buffer* uv, Py_buffer* av, Py_buffer* mv, bint framed):
    cdef Py_ssize_t body_len = 16 + uv.len + 4 + av.len + 4 + mv.len
    if body_len > 0x7FFFFFFF:
        raise ValueError(f"ChannelData of {body_len} bytes does not fit in a Java int length")
    cdef Py_ssize_t total = body_len + (C_FRAME_OVERHEAD if framed else 0)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, total)
    cdef unsigned char* p = <unsigned char*>PyBytes_AS_STRING(out)
    cdef Py_ssize_t pos = 0
    if framed:
        memcpy(p, C_START, 7)
        wr_i32(p + 7, <int32_t>body_len)
        pos = 11
    wr_i32(p + pos, options)
    wr_i64(p + pos + 4, timestamp)
    wr_i32(p + pos + 12, <int32_t>uv.len)
    pos += 16
    memcpy(p + pos, uv.buf, uv.len)
    pos += uv.len
    wr_i32(p + pos, <int32_t>av.len)
    pos += 4
    memcpy(p + pos, av.buf, av.len)
    pos += av.len
    wr_i32(p + pos, <int32_t>mv.len)
    pos += 4
    if mv.len:
        memcpy(p + pos, mv.buf, mv.len)
    pos += mv.len
    if framed:
        memcpy(p + pos, C_END, 7)
    return out
