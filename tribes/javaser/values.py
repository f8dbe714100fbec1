"""Python values for Java serialized objects.

Mapped values (strings, boxed numbers, the common collections, Date, enums, arrays) are plain
Python types or thin subclasses of them; every other object is a :class:`JavaObject` that keeps
its class descriptor chain, field values and custom ``writeObject`` / ``writeExternal`` data as
they arrived, so it can be written back unchanged.
"""
from __future__ import annotations

import datetime as _dt
import struct
from collections.abc import Iterable, Iterator, MutableSet
from typing import Any, Sequence

from .constants import (
    PRIMITIVE_CODES,
    SC_BLOCK_DATA,
    SC_ENUM,
    SC_EXTERNALIZABLE,
    SC_SERIALIZABLE,
    SC_WRITE_METHOD,
)

# ----------------------------------------------------------------------------------------------
# class descriptors


class FieldDesc:
    """One serializable field of a class descriptor: type code, name, type string (objects)."""

    __slots__ = ("typecode", "name", "classname")

    def __init__(self, typecode: str, name: str, classname: str | None = None) -> None:
        if typecode in PRIMITIVE_CODES:
            classname = None
        elif typecode in ("L", "["):
            if classname is None:
                raise ValueError(f"object field {name!r} needs a type string such as 'Ljava/lang/String;'")
        else:
            raise ValueError(f"bad field type code {typecode!r} for field {name!r}")
        self.typecode = typecode
        self.name = name
        self.classname = classname

    @classmethod
    def of(cls, name: str, signature: str) -> "FieldDesc":
        """``FieldDesc.of("value", "I")``, ``FieldDesc.of("name", "Ljava/lang/String;")``."""
        if not signature:
            raise ValueError("empty field signature")
        tc = signature[0]
        return cls(tc, name, None if tc in PRIMITIVE_CODES else signature)

    @property
    def is_primitive(self) -> bool:
        return self.classname is None

    def key(self) -> tuple:
        return (
            self.typecode, self.name, _raw_key(self.name), self.classname, _raw_key(self.classname),
            getattr(self.classname, "unshared", False),
        )

    def __repr__(self) -> str:
        return f"FieldDesc({self.typecode!r}, {self.name!r}{', ' + repr(self.classname) if self.classname else ''})"


def _raw_key(s: Any) -> Any:
    return getattr(s, "raw", None)


class _DescKey(tuple):
    """A descriptor's key, hashed once: a class with thousands of fields, met as the key of many
    Class objects in a map, must not cost thousands of steps per lookup."""

    _h: int

    def __hash__(self) -> int:
        try:
            return self._h
        except AttributeError:
            h = self._h = tuple.__hash__(self)
            return h


class ClassDesc:
    """A class descriptor as it travels (ObjectStreamClass): never resolved to a Python class.

    ``fields`` are in stream order (Java: primitives first, then objects, each sorted by name);
    ``annotations`` are the class annotation items (normally empty); ``superclass`` is the next
    serializable superclass' descriptor or None. Proxy descriptors have ``proxy_interfaces``.
    """

    __slots__ = (
        "name", "suid", "flags", "fields", "annotations", "superclass", "proxy_interfaces", "unshared",
        "_key", "_chain", "_layout", "_wire", "_wplan", "_rplan",
    )

    def __init__(
        self,
        name: str,
        suid: int = 0,
        flags: int = SC_SERIALIZABLE,
        fields: Sequence[FieldDesc] = (),
        superclass: "ClassDesc | None" = None,
        annotations: Sequence[Any] = (),
        proxy_interfaces: Sequence[str] | None = None,
    ) -> None:
        self.name = name
        self.suid = suid
        self.flags = flags
        self.fields = list(fields)
        self.annotations = list(annotations)
        self.superclass = superclass
        self.proxy_interfaces = list(proxy_interfaces) if proxy_interfaces is not None else None
        #: True for a second descriptor of an already described class in one stream (kept apart)
        self.unshared = False
        self._key: tuple | None = None
        self._chain: list[ClassDesc] | None = None
        self._layout: Any = None
        self._wire: Any = None  # writer._desc_wire, made when first written
        self._wplan: Any = None  # the compiled writer's plan for objects of this class
        self._rplan: Any = None  # the compiled reader's plan for objects of this class

    @classmethod
    def make(
        cls,
        name: str,
        suid: int,
        fields: dict[str, str] | Sequence[tuple[str, str]] = (),
        *,
        flags: int = SC_SERIALIZABLE,
        superclass: "ClassDesc | None" = None,
    ) -> "ClassDesc":
        """A descriptor for a class Java would write, fields ordered as Java orders them.

        ``ClassDesc.make("com.example.Cart", 1, {"items": "Ljava/util/List;", "total": "J"})``
        """
        items = list(fields.items()) if isinstance(fields, dict) else list(fields)
        fds = [FieldDesc.of(n, sig) for n, sig in items]
        fds.sort(key=lambda f: (not f.is_primitive, f.name))
        return cls(name, suid, flags, fds, superclass)

    @property
    def is_proxy(self) -> bool:
        return self.proxy_interfaces is not None

    @property
    def is_enum(self) -> bool:
        return bool(self.flags & SC_ENUM)

    @property
    def is_externalizable(self) -> bool:
        return bool(self.flags & SC_EXTERNALIZABLE)

    @property
    def has_write_method(self) -> bool:
        return bool(self.flags & SC_WRITE_METHOD)

    def chain(self) -> list["ClassDesc"]:
        """This descriptor and its superclasses, topmost superclass first (data order)."""
        out: list[ClassDesc] = []
        d: ClassDesc | None = self
        seen = 0
        while d is not None:
            out.append(d)
            d = d.superclass
            seen += 1
            if seen > 10000:
                raise ValueError("class descriptor chain too long (cycle?)")
        out.reverse()
        return out

    def key(self) -> tuple:
        """Structural identity: two descriptors with the same key are the same Java class."""
        k = self._key
        if k is None:
            if self.unshared or self.annotations:
                k = ("id", id(self))
            else:
                sup = self.superclass.key() if self.superclass is not None else None
                k = _DescKey((
                    self.name,
                    _raw_key(self.name),
                    self.suid,
                    self.flags,
                    tuple(f.key() for f in self.fields),
                    tuple(self.proxy_interfaces) if self.proxy_interfaces is not None else None,
                    sup,
                ))
            self._key = k
        return k

    def same_as(self, other: "ClassDesc") -> bool:
        return self.key() == other.key()

    def __repr__(self) -> str:
        if self.is_proxy:
            return f"ClassDesc(proxy {self.proxy_interfaces})"
        return f"ClassDesc({self.name!r}, suid={self.suid}, flags=0x{self.flags:02x}, fields={[f.name for f in self.fields]})"


# ----------------------------------------------------------------------------------------------
# stream items that are not values


class BlockData:
    """One block-data record (TC_BLOCKDATA / TC_BLOCKDATALONG) kept as it arrived."""

    __slots__ = ("data", "long_header")

    def __init__(self, data: bytes, long_header: bool | None = None) -> None:
        self.data = bytes(data)
        self.long_header = len(self.data) > 255 if long_header is None else long_header

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BlockData) and other.data == self.data and other.long_header == self.long_header

    def __hash__(self) -> int:
        return hash(self.data)

    def __repr__(self) -> str:
        return f"BlockData({self.data.hex()})"


class _Reset:
    """TC_RESET at the top level of a stream (the handle table starts again)."""

    _inst: "_Reset | None" = None

    def __new__(cls) -> "_Reset":
        if cls._inst is None:
            cls._inst = super().__new__(cls)
        return cls._inst

    def __repr__(self) -> str:
        return "RESET"


RESET = _Reset()


class JavaWriteAborted:
    """A top-level object whose writing failed: the partial bytes, then TC_EXCEPTION + Throwable."""

    __slots__ = ("partial", "exception")

    def __init__(self, partial: bytes, exception: Any) -> None:
        self.partial = bytes(partial)
        self.exception = exception

    def __repr__(self) -> str:
        return f"JavaWriteAborted({len(self.partial)} partial bytes, {self.exception!r})"


# ----------------------------------------------------------------------------------------------
# boxed primitives


def _check_range(cls_name: str, v: int, bits: int) -> None:
    lo = -(1 << (bits - 1))
    if not lo <= v < -lo:
        raise OverflowError(f"{v} does not fit a Java {cls_name} ({bits} bits)")


class _JavaInt(int):
    """Base of the integral wrappers: an int that remembers its Java class."""

    java_class = ""
    bits = 32
    _cache: dict[int, Any] = {}

    def __new__(cls, value: int = 0) -> Any:
        v = int(value)
        _check_range(cls.java_class, v, cls.bits)
        return int.__new__(cls, v)

    @classmethod
    def value_of(cls, value: int) -> Any:
        """Java's ``valueOf``: the same instance for -128..127 (so a stream refers back to it)."""
        v = int(value)
        if -128 <= v <= 127:
            c = cls.__dict__.get("_valcache")
            if c is None:
                c = {}
                setattr(cls, "_valcache", c)
            inst = c.get(v)
            if inst is None:
                inst = c[v] = cls(v)
            return inst
        return cls(v)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (_JavaInt, _JavaFloat)) and type(other) is not type(self):
            return False
        return int.__eq__(self, other)  # type: ignore[no-any-return]

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = int.__hash__

    def __repr__(self) -> str:
        return f"{type(self).__name__}({int(self)})"


class JavaInteger(_JavaInt):
    java_class = "java.lang.Integer"
    bits = 32


class JavaLong(_JavaInt):
    java_class = "java.lang.Long"
    bits = 64


class JavaShort(_JavaInt):
    java_class = "java.lang.Short"
    bits = 16


class JavaByte(_JavaInt):
    java_class = "java.lang.Byte"
    bits = 8


class _JavaFloat(float):
    java_class = ""

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (_JavaInt, _JavaFloat)) and type(other) is not type(self):
            return False
        return float.__eq__(self, other)  # type: ignore[no-any-return]

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = float.__hash__

    def __repr__(self) -> str:
        return f"{type(self).__name__}({float(self)!r})"


class JavaFloat(_JavaFloat):
    """java.lang.Float. ``bits`` (when set) keeps a NaN's exact bit pattern."""

    java_class = "java.lang.Float"

    def __new__(cls, value: float = 0.0) -> "JavaFloat":
        # round to single precision, as Java would store it
        return float.__new__(cls, struct.unpack(">f", struct.pack(">f", float(value)))[0])

    @classmethod
    def from_bits(cls, bits: int) -> "JavaFloat":
        v = float.__new__(cls, struct.unpack(">f", struct.pack(">I", bits & 0xFFFFFFFF))[0])
        if v != v and bits != 0x7FC00000:
            v.bits = bits & 0xFFFFFFFF  # type: ignore[attr-defined]
        return v


class JavaDouble(_JavaFloat):
    java_class = "java.lang.Double"

    def __new__(cls, value: float = 0.0) -> "JavaDouble":
        return float.__new__(cls, float(value))


class JavaCharacter(str):
    """java.lang.Character: one UTF-16 code unit."""

    java_class = "java.lang.Character"

    def __new__(cls, value: str | int) -> "JavaCharacter":
        s = chr(value) if isinstance(value, int) else str(value)
        if len(s) != 1 or ord(s) > 0xFFFF:
            raise ValueError(f"a Java char is one UTF-16 code unit, not {s!r}")
        return str.__new__(cls, s)

    @classmethod
    def value_of(cls, value: str | int) -> "JavaCharacter":
        c = cls(value)
        if ord(c) <= 127:
            cache = cls.__dict__.get("_valcache")
            if cache is None:
                cache = {}
                setattr(cls, "_valcache", cache)
            return cache.setdefault(ord(c), c)
        return c

    def __repr__(self) -> str:
        return f"JavaCharacter({str(self)!r})"


class JavaBoolean:
    """A java.lang.Boolean that is not Boolean.TRUE/FALSE (``new Boolean(...)``).

    Plain Python ``True``/``False`` are the shared Boolean.TRUE/FALSE; this wrapper only appears
    when a stream holds a second, distinct Boolean object.
    """

    __slots__ = ("value",)
    java_class = "java.lang.Boolean"

    def __init__(self, value: bool) -> None:
        self.value = bool(value)

    def __bool__(self) -> bool:
        return self.value

    def __eq__(self, other: object) -> bool:
        if isinstance(other, JavaBoolean):
            return other.value == self.value
        if isinstance(other, bool):
            return other == self.value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.value)

    def __repr__(self) -> str:
        return f"JavaBoolean({self.value})"


class JavaString(str):
    """A String that must stay a distinct object (or keeps non-canonical modified UTF-8 ``raw``)."""

    def __repr__(self) -> str:
        return f"JavaString({str(self)!r})"


class JavaByteArray(bytes):
    """A byte[] that must stay a distinct object from an equal one read earlier."""


# ----------------------------------------------------------------------------------------------
# other mapped values


class JavaDate:
    """java.util.Date: milliseconds since the epoch (UTC)."""

    __slots__ = ("millis",)
    java_class = "java.util.Date"

    def __init__(self, millis: int) -> None:
        v = int(millis)
        _check_range("long", v, 64)
        self.millis = v

    @classmethod
    def from_datetime(cls, dt: _dt.datetime) -> "JavaDate":
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=_dt.timezone.utc)
        delta = dt - _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
        return cls((delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000)

    @property
    def datetime(self) -> _dt.datetime:
        return _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc) + _dt.timedelta(milliseconds=self.millis)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JavaDate) and other.millis == self.millis

    def __hash__(self) -> int:
        return hash(("Date", self.millis))

    def __repr__(self) -> str:
        return f"JavaDate({self.millis})"


_ENUM_BASE = ClassDesc("java.lang.Enum", 0, SC_SERIALIZABLE | SC_ENUM)
_enum_descs: dict[str, ClassDesc] = {}


def enum_desc(class_name: str) -> ClassDesc:
    """The descriptor Java writes for an enum type (SUID 0, super java.lang.Enum)."""
    d = _enum_descs.get(class_name)
    if d is None:
        d = _enum_descs[class_name] = ClassDesc(class_name, 0, SC_SERIALIZABLE | SC_ENUM, (), _ENUM_BASE)
    return d


class JavaEnum:
    """An enum constant: ``JavaEnum("com.example.Color", "RED")``."""

    __slots__ = ("desc", "name", "distinct")

    def __init__(self, desc: ClassDesc | str, name: str) -> None:
        self.desc = enum_desc(desc) if isinstance(desc, str) else desc
        self.name = name
        #: True for a second TC_ENUM of the same constant in one stream (Java never writes that)
        self.distinct = False

    @property
    def class_name(self) -> str:
        return self.desc.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JavaEnum) and other.desc.name == self.desc.name and other.name == self.name

    def __hash__(self) -> int:
        return hash((self.desc.name, self.name))

    def __repr__(self) -> str:
        return f"JavaEnum({self.desc.name!r}, {str(self.name)!r})"


class JavaClass:
    """A java.lang.Class object (TC_CLASS): only its descriptor travels."""

    __slots__ = ("desc", "distinct")

    def __init__(self, desc: ClassDesc) -> None:
        self.desc = desc
        #: True for a second TC_CLASS of the same class in one stream (Java never writes that)
        self.distinct = False

    @property
    def name(self) -> str:
        return self.desc.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JavaClass) and other.desc.key() == self.desc.key()

    def __hash__(self) -> int:
        # everything __eq__ compares: Class objects of one name with different serialVersionUIDs
        # (or fields) must not all collide in a map, or reading a HashMap of them is quadratic
        return hash(self.desc.key())

    def __repr__(self) -> str:
        return f"JavaClass({self.desc.name!r})"


# ----------------------------------------------------------------------------------------------
# arrays

_array_descs: dict[str, ClassDesc] = {}


def array_suid(name: str, public: bool = True) -> int:
    """The serialVersionUID Java computes for an array class (``[I``, ``[Ljava.lang.String;``)."""
    import hashlib

    mods = 0x411 if public else 0x410  # public/package + final + abstract
    name_b = name.encode("utf-8")
    data = struct.pack(">H", len(name_b)) + name_b + struct.pack(">i", mods)
    # interfaces, fields, methods are not hashed for arrays: computeDefaultSUID skips them
    digest = hashlib.sha1(data).digest()
    h = 0
    for i in range(min(len(digest), 8) - 1, -1, -1):
        h = (h << 8) | digest[i]
    return h - (1 << 64) if h >= 1 << 63 else h


def array_desc(name: str, suid: int | None = None) -> ClassDesc:
    """Descriptor of an array class by its Java name, e.g. ``[Ljava.lang.String;``."""
    if not name.startswith("["):
        raise ValueError(f"array class names start with '[': {name!r}")
    d = _array_descs.get(name) if suid is None else None
    if d is None:
        d = ClassDesc(name, array_suid(name) if suid is None else suid, SC_SERIALIZABLE)
        if suid is None:
            _array_descs[name] = d
    return d


class JavaArray(list):
    """An array other than byte[] (which is ``bytes``): ``JavaArray("[I", [1, 2])``,
    ``JavaArray("[Ljava.lang.String;", ["a", None])``. Primitive elements are plain Python values.
    """

    def __init__(self, desc: ClassDesc | str, items: Iterable[Any] = ()) -> None:
        super().__init__(items)
        self.desc = array_desc(desc) if isinstance(desc, str) else desc

    @property
    def class_name(self) -> str:
        return self.desc.name

    @property
    def component(self) -> str:
        """The element type code: one of BCDFIJSZ, or 'L' / '[' for objects."""
        return self.desc.name[1]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"JavaArray({self.desc.name!r}, {list.__repr__(self)})"


# ----------------------------------------------------------------------------------------------
# collections


class JavaArrayList(list):
    """java.util.ArrayList."""

    java_class = "java.util.ArrayList"

    def __repr__(self) -> str:
        return f"JavaArrayList({list.__repr__(self)})"


class JavaLinkedList(list):
    """java.util.LinkedList."""

    java_class = "java.util.LinkedList"

    def __repr__(self) -> str:
        return f"JavaLinkedList({list.__repr__(self)})"


class JavaHashMap(dict):
    """java.util.HashMap. Iteration order is the order Java wrote the entries in.

    ``load_factor``, ``threshold`` and ``buckets`` are what the stream said (None: computed as a
    ``new HashMap<>()`` filled with these entries would have them, and the entries are then
    written in Java's bucket order when every key's Java hashCode is known).
    """

    java_class = "java.util.HashMap"
    # defaults at class level (no __init__ of its own: a map is made at dict's speed); an
    # instance that sets them keeps its own
    load_factor: float = 0.75
    threshold: int | None = None
    buckets: int | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict.__repr__(self)})"


class JavaLinkedHashMap(JavaHashMap):
    """java.util.LinkedHashMap (insertion order, or access order when ``access_order``)."""

    java_class = "java.util.LinkedHashMap"
    access_order: bool = False


class JavaTreeMap(dict):
    """java.util.TreeMap; without a ``comparator`` the keys are written in Java's natural order."""

    java_class = "java.util.TreeMap"
    comparator: Any = None

    def __repr__(self) -> str:
        return f"JavaTreeMap({dict.__repr__(self)})"


class JavaHashSet(MutableSet):
    """java.util.HashSet, ordered as Java wrote it (see JavaHashMap for ``capacity``).

    Elements Python cannot hash (lists, maps) are allowed: they are compared by identity.
    """

    java_class = "java.util.HashSet"
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, items: Iterable[Any] = ()) -> None:
        self._items: list[Any] = []
        self._index: dict[Any, None] = {}
        # identities of the elements Python cannot hash (found in O(1), not by a scan)
        self._ids: dict[int, None] = {}
        self.capacity: int | None = None
        self.load_factor: float = 0.75
        for x in items:
            self.add(x)

    def __contains__(self, x: object) -> bool:
        try:
            return x in self._index
        except TypeError:
            return id(x) in self._ids

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def add(self, value: Any) -> None:
        try:
            if value in self._index:
                return
            self._index[value] = None
        except TypeError:
            if id(value) in self._ids:
                return
            self._ids[id(value)] = None
        self._items.append(value)

    def discard(self, value: Any) -> None:
        try:
            if value not in self._index:
                return
            del self._index[value]
            for i, y in enumerate(self._items):
                if y == value:
                    del self._items[i]
                    return
        except TypeError:
            if self._ids.pop(id(value), 0) is None:
                for i, y in enumerate(self._items):
                    if y is value:
                        del self._items[i]
                        return

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (set, frozenset, JavaHashSet)):
            return len(self) == len(other) and all(x in other for x in self._items)
        return NotImplemented

    def __repr__(self) -> str:
        return f"JavaHashSet({self._items!r})"


# ----------------------------------------------------------------------------------------------
# opaque objects


class ClassData:
    """The data one class of an object's hierarchy wrote: field values and custom data."""

    __slots__ = ("desc", "values", "annotations")

    def __init__(self, desc: ClassDesc, values: list[Any], annotations: list[Any] | None) -> None:
        self.desc = desc
        #: field values in ``desc.fields`` order
        self.values = values
        #: items of SC_WRITE_METHOD / externalizable data (BlockData and values), else None
        self.annotations = annotations

    def get(self, name: str, default: Any = None) -> Any:
        for f, v in zip(self.desc.fields, self.values):
            if f.name == name:
                return v
        return default

    def __repr__(self) -> str:
        return f"ClassData({self.desc.name}, {dict(zip((f.name for f in self.desc.fields), self.values))!r}, {self.annotations!r})"


class JavaObject:
    """An object of a class Python does not map, kept exactly as it was written.

    ``obj.class_name``, ``obj.fields`` (all field values, subclass fields win), ``obj["name"]``,
    ``obj.get("name")``, ``obj.class_data`` (per class, topmost superclass first) and
    ``obj.annotations()`` (the custom writeObject/writeExternal items). Build one for writing:
    ``JavaObject.new(desc, {"field": value, ...}, annotations={"com.x.Cls": [BlockData(b"..."), obj]})``.
    Equality is identity, as for Java objects without equals().
    """

    __slots__ = ("desc", "class_data", "__weakref__")

    def __init__(self, desc: ClassDesc, class_data: list[ClassData] | None = None) -> None:
        self.desc = desc
        self.class_data: list[ClassData] = class_data if class_data is not None else []

    @classmethod
    def new(
        cls,
        desc: ClassDesc,
        fields: dict[str, Any] | None = None,
        annotations: dict[str, list[Any]] | None = None,
    ) -> "JavaObject":
        fields = dict(fields or {})
        annotations = annotations or {}
        data: list[ClassData] = []
        chain = desc.chain()
        if desc.is_externalizable:
            data.append(ClassData(desc, [], list(annotations.get(desc.name, []))))
        else:
            for d in chain:
                vals = []
                for f in d.fields:
                    if f.name in fields:
                        vals.append(fields[f.name])
                    else:
                        vals.append(_default_for(f.typecode))
                ann = list(annotations.get(d.name, [])) if d.flags & SC_WRITE_METHOD else None
                data.append(ClassData(d, vals, ann))
        known = {f.name for d in chain for f in d.fields}
        extra = set(fields) - known
        if extra:
            raise ValueError(f"{desc.name} has no serializable field(s) {sorted(extra)}")
        return cls(desc, data)

    @property
    def class_name(self) -> str:
        return self.desc.name

    @property
    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for cd in self.class_data:
            for f, v in zip(cd.desc.fields, cd.values):
                out[f.name] = v
        return out

    def get(self, name: str, default: Any = None) -> Any:
        for cd in reversed(self.class_data):
            for f, v in zip(cd.desc.fields, cd.values):
                if f.name == name:
                    return v
        return default

    def __getitem__(self, name: str) -> Any:
        sentinel = object()
        v = self.get(name, sentinel)
        if v is sentinel:
            raise KeyError(name)
        return v

    def __setitem__(self, name: str, value: Any) -> None:
        for cd in reversed(self.class_data):
            for i, f in enumerate(cd.desc.fields):
                if f.name == name:
                    cd.values[i] = value
                    return
        raise KeyError(name)

    def annotations(self, class_name: str | None = None) -> list[Any] | None:
        """Custom data items of ``class_name`` (default: the most derived class that has any)."""
        for cd in reversed(self.class_data):
            if cd.annotations is not None and (class_name is None or cd.desc.name == class_name):
                return cd.annotations
        return None

    def __repr__(self) -> str:
        return f"JavaObject({self.desc.name!r}, {self.fields!r})"


def _default_for(tc: str) -> Any:
    if tc == "Z":
        return False
    if tc in "BSIJ":
        return 0
    if tc in "FD":
        return 0.0
    if tc == "C":
        return "\x00"
    return None


__all__ = [
    "BlockData",
    "ClassData",
    "ClassDesc",
    "FieldDesc",
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
    "JavaShort",
    "JavaString",
    "JavaTreeMap",
    "JavaWriteAborted",
    "RESET",
    "SC_BLOCK_DATA",
    "SC_ENUM",
    "SC_EXTERNALIZABLE",
    "SC_SERIALIZABLE",
    "SC_WRITE_METHOD",
    "array_desc",
    "array_suid",
    "enum_desc",
]
