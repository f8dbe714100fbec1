"""Exceptions and limits of the Java serialization codec."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class JavaSerializationError(Exception):
    """A stream cannot be read or a value cannot be written.

    ``offset`` is the byte offset in the stream where the problem was found (None when writing).
    """

    def __init__(self, message: str, offset: int | None = None) -> None:
        self.offset = offset
        if offset is not None:
            message = f"{message} (at offset {offset})"
        super().__init__(message)


class StreamCorruptedError(JavaSerializationError):
    """The bytes are not a valid serialization stream (Java: StreamCorruptedException)."""


class TruncatedStreamError(JavaSerializationError):
    """The stream ended in the middle of an item (Java: EOFException)."""


class OptionalDataError(JavaSerializationError):
    """``read_object`` met primitive block data, or the end of an object's custom data.

    Java: OptionalDataException. ``length`` bytes of block data are waiting (0 when ``eof``).
    """

    def __init__(self, message: str, offset: int | None = None, length: int = 0, eof: bool = False) -> None:
        super().__init__(message, offset)
        self.length = length
        self.eof = eof


class WriteAbortedError(JavaSerializationError):
    """The writer aborted an object and wrote the exception instead (TC_EXCEPTION).

    Java: WriteAbortedException. ``exception`` is the Throwable as a value (usually a
    ``JavaObject`` of class java.io.NotSerializableException). The stream stays readable: the
    next ``read_object`` continues after the exception, as Tomcat's DeltaSession relies on.
    """

    def __init__(self, message: str, offset: int | None = None, exception: Any = None) -> None:
        super().__init__(message, offset)
        self.exception = exception


class LimitExceeded(JavaSerializationError):
    """A configured limit was hit; ``setting`` names the ``Limits`` field."""

    def __init__(self, setting: str, limit: int, value: int, what: str, offset: int | None = None) -> None:
        self.setting = setting
        self.limit = limit
        self.value = value
        super().__init__(
            f"{what} {value} exceeds Limits.{setting}={limit}; "
            f"raise it (Limits({setting}=...)) only for a trusted stream",
            offset,
        )


@dataclass(frozen=True)
class Limits:
    """Bounds that keep a hostile stream from exhausting memory, stack or time.

    The defaults fit DeltaManager sessions and whole-cluster state transfers
    (``max_total_bytes`` = 256 MiB, the Tribes framing maximum).
    """

    #: nesting of objects / class descriptors inside each other
    max_depth: int = 1000
    #: size of a stream to read, or of a stream being written
    max_total_bytes: int = 256 * 1024 * 1024
    #: elements of one array
    max_array_length: int = 256 * 1024 * 1024
    #: handles (objects, strings, descriptors) assigned between resets
    max_handles: int = 8_000_000
    #: bytes (modified UTF-8) of one string
    max_string_length: int = 64 * 1024 * 1024
    #: the work one stream may cost: objects read (handles assigned) plus back-references
    #: followed, over the whole stream (resets included). Decoding is linear in this count (maps
    #: and sets of hostile keys included), so it bounds the CPU time of one message; the default
    #: admits a whole-cluster state transfer of 100,000 sessions with room to spare. Java has no
    #: such bound (only ObjectInputFilter's maxrefs/maxbytes, unset by default).
    max_work: int = 64_000_000


DEFAULT_LIMITS = Limits()
