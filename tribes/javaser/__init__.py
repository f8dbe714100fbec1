"""Java Object Serialization (stream protocol 2) for Python: read and write Tomcat's session
streams byte-exactly, data only. No class is ever looked up, imported or instantiated.

Reading
-------
>>> from tribes.javaser import loads, loads_all, dumps, ObjectInputStream
>>> loads(b"\\xac\\xed\\x00\\x05t\\x00\\x02hi")
'hi'

``loads(data)`` returns the single top-level object (``JavaSerializationError`` if anything else
is there); ``loads_all(data)`` returns every top-level item in order: values, ``BlockData``
records (primitive data written at the top level, e.g. a DeltaRequest), ``RESET`` markers and
``JavaWriteAborted`` (an object whose writing failed, followed by TC_EXCEPTION).
``dumps_all(loads_all(data)) == data`` for every stream Java writes.

``ObjectInputStream(data, limits=Limits())`` is shaped like Java's: ``read_object()``,
``read_utf()``, ``read_int()``, ``read_long()``, ``read_boolean()``, ``read_byte()``,
``read_unsigned_byte()``, ``read_short()``, ``read_unsigned_short()``, ``read_char()``,
``read_float()``, ``read_double()``, ``read_fully(n)``, ``available()``, ``at_eof()``,
plus ``read_content()`` (next item exactly as written). Tomcat's DeltaRequest::

    ois = ObjectInputStream(payload)
    session_id = ois.read_utf(); record_all = ois.read_boolean(); n = ois.read_int()
    for _ in range(n):
        typ, action, name = ois.read_int(), ois.read_int(), ois.read_utf()
        value = ois.read_object() if ois.read_boolean() else None

A TC_EXCEPTION raises ``WriteAbortedError`` (``.exception`` holds the Throwable) and the stream
stays usable, as DeltaSession expects.

Writing
-------
``ObjectOutputStream()``: ``write_object(v)``, ``write_utf``, ``write_int``, ``write_long``,
``write_boolean``, ``write_byte``, ``write_short``, ``write_char``, ``write_float``,
``write_double``, ``write(bytes)``, ``write_bytes``, ``write_chars``, ``flush()``, ``reset()``,
``getvalue() -> bytes``. Primitive data is buffered and cut into block-data records of 1024
bytes, flushed before each object and at ``flush``/``getvalue``: the same bytes as
java.io.ObjectOutputStream. ``dumps(v)`` / ``dumps_all(items)`` are the one-shot forms.

Values (Python -> Java and back)
--------------------------------
==========================  ==================================================================
``None``                    null
``str`` / ``JavaString``    String (TC_STRING, or TC_LONGSTRING over 65535 bytes)
``bool``                    Boolean.TRUE / FALSE (shared, like Java's); ``JavaBoolean`` = a
                            distinct ``new Boolean(..)``
``int``                     Integer (Long when it does not fit 32 bits) with ``valueOf``
                            semantics: -128..127 are shared objects, others new each time
``float``                   Double (new object each time)
``JavaInteger``, ``JavaLong``, ``JavaShort``, ``JavaByte``, ``JavaFloat``, ``JavaDouble``,
``JavaCharacter``           the wrappers (int/float/str subclasses). A wrapper instance is one
                            Java object: writing it twice gives a back-reference;
                            ``JavaInteger.value_of(n)`` is Java's cached ``valueOf``.
``bytes``                   byte[] (``bytearray`` too); ``JavaArray("[I", [...])`` other arrays
``list`` / ``JavaArrayList`` ArrayList; ``JavaLinkedList`` LinkedList
``dict`` / ``JavaHashMap``  HashMap; ``JavaLinkedHashMap``; ``JavaTreeMap`` (``.comparator``)
``set`` / ``JavaHashSet``   HashSet
``JavaDate(millis)``        java.util.Date
``JavaEnum(cls, name)``     an enum constant
``JavaClass(desc)``         a Class object; a ``ClassDesc`` value is an ObjectStreamClass
``JavaObject``              any other object, opaque: descriptor chain, field values and custom
                            writeObject/writeExternal data (``BlockData`` + values) kept as read
==========================  ==================================================================

Maps and sets read from a stream keep Java's iteration order and capacity; Python-built ones are
written in the order a ``new HashMap<>()`` holding them iterates (Java hashCode of strings,
boxed numbers, Booleans, Dates; otherwise insertion order). Back-references follow object
identity, so a read value written back gives the same bytes, and an opaque value written into
another stream gets fresh handles that Java reads as an equal object.

``JavaObject.new(ClassDesc.make(name, suid, {"field": "I", ...}, superclass=...), {...})`` builds
objects of Tomcat's classes (SessionMessageImpl, SerializablePrincipal, ...).

``to_json(value)`` renders a value per docs/cli.md (``{"class": ..., "value": ...}``).

Limits and errors
-----------------
``Limits(max_depth=1000, max_total_bytes=256 MiB, max_array_length=256 Mi, max_handles=8 M,
max_string_length=64 MiB, max_work=64 M)`` (``max_work``: objects read plus back-references
followed in one stream; reading is linear in it, hostile map/set keys included, so it bounds the
CPU one message costs). Every problem raises a ``JavaSerializationError`` subclass with the
offset: ``StreamCorruptedError``, ``TruncatedStreamError``, ``OptionalDataError``,
``WriteAbortedError`` and ``LimitExceeded`` (``.setting`` names the ``Limits`` field).

Notes: Python strings map to Java strings by UTF-16 code units (a lone surrogate is kept; an
explicit surrogate pair in a Python str reads back as the one combined character). The wrappers
compare equal to plain numbers (``JavaInteger(7) == 7``) but not to each other
(``JavaInteger(7) != JavaLong(7)``), so Integer and Long keys stay apart in a map.

Speed: setup.py compiles reader.py and writer.py themselves with Cython (``_creader.pyx`` /
``_cwriter.pyx`` include them; their ``cython.*`` declarations type the hot state, and each adds
a subclass with C-level fast paths: an identity table of object addresses, direct writes of
strings, wrappers, dates, maps and objects of simple classes, per-descriptor read/write plans),
and ``ObjectInputStream`` / ``ObjectOutputStream`` are those compiled classes when they are built
(``IMPLEMENTATION == "cython"``), else the pure-Python ones (``"pure"``; ``TRIBES_PURE=1`` forces
it). Both give the same values, bytes and exceptions (tests/unit/test_javaser_speedups.py,
test_javaser_fast_paths.py). Class descriptors are treated as immutable once read or written
(their key, field layout and wire bytes are cached on them). The compiled reader holds off the
cyclic GC while it reads one top-level object, and ``loads_all`` and the DeltaManager's
session-state decode hold it off for the whole stream (``gc_paused()``: every object made
survives, so collections in between would only re-scan them). The compiled codec additionally stops at a nesting depth of ``reader.C_MAX_DEPTH`` (4000) with
``LimitExceeded`` when ``Limits.max_depth`` is raised above it, as it recurses on the C stack.

Limitation: an object whose class has a writeObject method is read assuming writeObject began
with defaultWriteObject()/writeFields() (the serialization spec requires it); a class that
skipped it cannot be parsed without the class, as in every generic reader.
"""
from __future__ import annotations

from typing import Any, Iterable

from .constants import (
    SC_BLOCK_DATA,
    SC_ENUM,
    SC_EXTERNALIZABLE,
    SC_SERIALIZABLE,
    SC_WRITE_METHOD,
)
from .errors import (
    DEFAULT_LIMITS,
    JavaSerializationError,
    LimitExceeded,
    Limits,
    OptionalDataError,
    StreamCorruptedError,
    TruncatedStreamError,
    WriteAbortedError,
)
from .gcpause import gc_paused
from .jsonview import to_json
from ._impl import IMPLEMENTATION, ObjectInputStream, ObjectOutputStream
from .values import (
    RESET,
    BlockData,
    ClassData,
    ClassDesc,
    FieldDesc,
    JavaArray,
    JavaArrayList,
    JavaBoolean,
    JavaByte,
    JavaByteArray,
    JavaCharacter,
    JavaClass,
    JavaDate,
    JavaDouble,
    JavaEnum,
    JavaFloat,
    JavaHashMap,
    JavaHashSet,
    JavaInteger,
    JavaLinkedHashMap,
    JavaLinkedList,
    JavaLong,
    JavaObject,
    JavaShort,
    JavaString,
    JavaTreeMap,
    JavaWriteAborted,
    array_desc,
    array_suid,
    enum_desc,
)


def loads_all(data: bytes, limits: Limits = DEFAULT_LIMITS) -> list[Any]:
    """Every top-level item of a stream, exactly as written (see the module doc)."""
    ois = ObjectInputStream(data, limits)
    items = []
    with gc_paused():
        while not ois.at_eof():
            items.append(ois.read_content())
    return items


def loads(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Any:
    """The one object of a stream that holds exactly one object."""
    ois = ObjectInputStream(data, limits)
    value = ois.read_object()
    if not ois.at_eof():
        raise JavaSerializationError(
            "more data after the first object: use loads_all() or ObjectInputStream", ois.offset
        )
    return value


def dumps(value: Any, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """A stream holding ``value`` as Java's ``new ObjectOutputStream(..).writeObject(v)`` writes it."""
    oos = ObjectOutputStream(limits)
    oos.write_object(value)
    return oos.getvalue()


def dumps_all(items: Iterable[Any], limits: Limits = DEFAULT_LIMITS) -> bytes:
    """The inverse of ``loads_all``: values, ``BlockData``, ``RESET``, ``JavaWriteAborted``."""
    oos = ObjectOutputStream(limits)
    for it in items:
        oos.write_content(it)
    return oos.getvalue()


__all__ = [
    "BlockData",
    "ClassData",
    "ClassDesc",
    "DEFAULT_LIMITS",
    "FieldDesc",
    "IMPLEMENTATION",
    "JavaArray",
    "JavaArrayList",
    "JavaBoolean",
    "JavaByte",
    "JavaByteArray",
    "JavaCharacter",
    "JavaClass",
    "JavaDate",
    "JavaDouble",
    "JavaEnum",
    "JavaFloat",
    "JavaHashMap",
    "JavaHashSet",
    "JavaInteger",
    "JavaLinkedHashMap",
    "JavaLinkedList",
    "JavaLong",
    "JavaObject",
    "JavaSerializationError",
    "JavaShort",
    "JavaString",
    "JavaTreeMap",
    "JavaWriteAborted",
    "LimitExceeded",
    "Limits",
    "ObjectInputStream",
    "ObjectOutputStream",
    "OptionalDataError",
    "RESET",
    "SC_BLOCK_DATA",
    "SC_ENUM",
    "SC_EXTERNALIZABLE",
    "SC_SERIALIZABLE",
    "SC_WRITE_METHOD",
    "StreamCorruptedError",
    "TruncatedStreamError",
    "WriteAbortedError",
    "array_desc",
    "array_suid",
    "dumps",
    "dumps_all",
    "enum_desc",
    "gc_paused",
    "loads",
    "loads_all",
    "to_json",
]
