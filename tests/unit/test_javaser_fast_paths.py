"""The compiled codec's own fast paths (``_cwriter.FastObjectOutputStream``: C identity table,
direct writes of strings / wrappers / dates / HashMaps read from a stream / objects of simple
classes; the reader's byte[], Integer/Long and descriptor shortcuts) against the pure-Python
twin on the inputs that choose between the fast path and the general one: values in and out of
range, wrong types, odd map attributes, depth limits, failed writes rolled back mid-stream.
Same bytes, same exception (type and message) in both.
"""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tribes.javaser import (
    ClassData,
    ClassDesc,
    FieldDesc,
    JavaDate,
    JavaHashMap,
    JavaInteger,
    JavaLong,
    JavaObject,
    Limits,
)
from tribes.javaser import constants as C
from tribes.javaser import reader as pure_reader
from tribes.javaser import writer as pure_writer

try:
    from tribes.javaser import _creader as c_reader  # type: ignore[attr-defined]
    from tribes.javaser import _cwriter as c_writer  # type: ignore[attr-defined]
except ImportError as exc:  # pragma: no cover - depends on the build
    pytest.skip(f"javaser Cython extension not built ({exc}); run `pip install -e .`", allow_module_level=True)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(writer: Any, values: list[Any], limits: Limits = Limits()) -> list[Any]:
    """Write each value in turn into one stream (a failed write is rolled back and the stream
    goes on); what each write did, and the bytes."""
    oos = writer.ObjectOutputStream(limits)
    out: list[Any] = []
    for v in values:
        try:
            oos.write_object(v)
            out.append("ok")
        except Exception as exc:  # noqa: BLE001 - compared, not swallowed
            out.append((type(exc).__name__, str(exc)))
    out.append(oos.getvalue())
    return out


def same(values: list[Any], limits: Limits = Limits()) -> list[Any]:
    pure = outcome(pure_writer, values, limits)
    assert outcome(c_writer, values, limits) == pure
    return pure


def test_the_compiled_writer_is_the_fast_one() -> None:
    assert c_writer.ObjectOutputStream is c_writer.FastObjectOutputStream


# ------------------------------------------------------------------ objects of simple classes

POINT = ClassDesc.make("com.example.Point", 7, {"x": "I", "y": "I", "label": "Ljava/lang/String;"})
PRIMS = ClassDesc.make("com.example.Prims", 3, {"b": "B", "d": "D", "j": "J", "s": "S", "i": "I"})
CONVERTED = ClassDesc.make("com.example.Conv", 4, {"z": "Z", "c": "C", "f": "F", "o": "Ljava/lang/Object;"})
WITH_WRITE = ClassDesc.make("com.example.Custom", 5, {"n": "I"}, flags=C.SC_SERIALIZABLE | C.SC_WRITE_METHOD)
CHILD = ClassDesc.make("com.example.Child", 6, {"k": "J"}, superclass=POINT)

anything = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**65), 2**65), st.floats(allow_nan=True), st.text(max_size=4),
    st.integers(-(2**31), 2**31 - 1).map(JavaInteger), st.binary(max_size=3),
)


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from([POINT, PRIMS, CONVERTED, WITH_WRITE, CHILD]),
                          st.lists(anything, min_size=0, max_size=6)), min_size=1, max_size=6))
def test_objects_same_bytes_and_errors(specs: list[tuple[ClassDesc, list[Any]]]) -> None:
    values = []
    for desc, raw in specs:
        chain = desc.chain()
        class_data = []
        for d in chain:
            n = len(d.fields)
            vals = (raw + [0] * n)[:n] if len(raw) != 5 else raw  # sometimes the wrong count
            class_data.append(ClassData(d, list(vals), [] if d.flags & C.SC_WRITE_METHOD else None))
        values.append(JavaObject(desc, class_data))
        values.append(values[-1])  # a back-reference
    same(values)


def test_object_shapes_the_fast_path_must_leave_alone() -> None:
    ok = JavaObject(POINT, [ClassData(POINT, [1, -2, "p"], None)])
    wrong_desc = JavaObject(POINT, [ClassData(PRIMS, [1, 2.0, 3, 4, 5], None)])
    two = JavaObject(POINT, [ClassData(POINT, [1, 2, "a"], None), ClassData(POINT, [3, 4, "b"], None)])
    tuple_vals = JavaObject(POINT, [ClassData(POINT, (1, 2, "t"), None)])  # type: ignore[arg-type]
    too_big = JavaObject(POINT, [ClassData(POINT, [2**31, 0, None], None)])
    not_int = JavaObject(POINT, [ClassData(POINT, ["x", 0, None], None)])
    out = same([ok, wrong_desc, two, tuple_vals, too_big, not_int, ok])
    assert out[0] == "ok" and out[-2] == "ok"
    assert out[4][0] == "JavaSerializationError" and "x" in out[4][1]


# ------------------------------------------------------------------ HashMaps read from a stream


def _map(lf: Any, thr: Any, buckets: Any, items: dict[Any, Any]) -> JavaHashMap:
    m = JavaHashMap(items)
    m.load_factor = lf
    m.threshold = thr
    m.buckets = buckets
    return m


@SETTINGS
@given(
    st.one_of(st.floats(allow_nan=True), st.just(0.75), st.integers(-3, 3), st.none()),
    st.one_of(st.integers(-(2**33), 2**33), st.none(), st.just(12), st.floats(allow_nan=False)),
    st.one_of(st.integers(-(2**33), 2**33), st.none(), st.just(16)),
    st.dictionaries(st.text(max_size=3), st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1).map(JavaInteger)), max_size=4),
)
def test_hashmaps_with_stream_attributes_same(lf: Any, thr: Any, buckets: Any, items: dict[Any, Any]) -> None:
    m = _map(lf, thr, buckets, items)
    same([m, "after", m, _map(0.75, 12, 16, {"k": m})])


def test_hashmap_read_back_from_java_bytes_is_byte_exact() -> None:
    plain = _map(0.75, 12, 16, {"b": JavaInteger(2), "a": JavaLong(1)})
    out = same([plain])
    data = out[-1]
    back = c_reader.ObjectInputStream(data).read_object()
    assert back == plain and back.buckets == 16 and back.threshold == 12
    assert outcome(c_writer, [back])[-1] == data


# ------------------------------------------------------------------ dates, wrappers, strings


@SETTINGS
@given(st.lists(st.one_of(
    st.integers(-(2**64), 2**64).map(lambda v: _raw_date(v)),
    st.integers(-(2**33), 2**33).map(lambda v: int.__new__(JavaInteger, v)),
    st.integers(-(2**65), 2**65).map(lambda v: int.__new__(JavaLong, v)),
    st.text(max_size=5), st.booleans(), st.none(),
), min_size=1, max_size=12))
def test_direct_writes_same(values: list[Any]) -> None:
    same(values + values)


def _raw_date(millis: Any) -> JavaDate:
    d = JavaDate(0)
    d.millis = millis  # past JavaDate's own range check, as a careless caller could
    return d


def test_depth_limit_same_on_every_fast_path() -> None:
    point = JavaObject(POINT, [ClassData(POINT, [1, 2, "deep"], None)])
    nested: list[Any] = [[_map(0.75, 12, 16, {"d": JavaDate(5), "p": point})]]
    for depth in range(0, 6):
        same([nested, JavaDate(1), point, "s"], Limits(max_depth=depth))


def test_failed_writes_roll_the_identity_table_back() -> None:
    shared = "shared-string"
    bad = JavaObject(POINT, [ClassData(POINT, [1, 2**40, shared], None)])
    good = JavaObject(POINT, [ClassData(POINT, [1, 2, shared], None)])
    # many objects first: the C table grows (and is rebuilt on rollback) past its first size
    many = [JavaInteger(i) for i in range(300)]
    values = many + [shared, [shared, bad], good, shared, [good, bad], *many]
    out = same(values)
    assert out.count("ok") == len(values) - 2
    back = c_reader.ObjectInputStream(out[-1])
    for _ in range(len(values) - 2):
        back.read_object()


def test_descriptor_bytes_made_once_and_shared_by_equal_descriptors() -> None:
    twin = ClassDesc.make("com.example.Point", 7, {"x": "I", "y": "I", "label": "Ljava/lang/String;"})
    a = JavaObject(POINT, [ClassData(POINT, [1, 2, "a"], None)])
    b = JavaObject(twin, [ClassData(twin, [3, 4, "b"], None)])
    first = same([a, b])
    assert first[-1].count(b"com.example.Point") == 1  # the twin refers back to POINT's handle
    assert same([a, b]) == first  # a second stream: the cached bytes are the same bytes


# ------------------------------------------------------------------ the reader's shortcuts


@SETTINGS
@given(st.lists(st.binary(max_size=6), max_size=6), st.integers(0, 8), st.integers(0, 40))
def test_byte_arrays_read_same(arrays: list[bytes], max_len: int, cut: int) -> None:
    oos = pure_writer.ObjectOutputStream()
    for a in arrays:
        oos.write_object(a)
        oos.write_object(JavaInteger(len(a)))
    data = oos.getvalue()
    for d in (data, data[: max(4, len(data) - cut)]):
        got = []
        for reader in (pure_reader, c_reader):
            try:
                ois = reader.ObjectInputStream(d, Limits(max_array_length=max_len))
                items = []
                while not ois.at_eof():
                    items.append(ois.read_object())
                got.append(("ok", [(type(i).__name__, i) for i in items]))
            except Exception as exc:  # noqa: BLE001
                got.append((type(exc).__name__, str(exc)))
        assert got[0] == got[1]


def test_equal_descriptors_in_one_stream_stay_apart_when_read() -> None:
    """Java writes one descriptor per class; a stream with two (made by hand) reads as two
    descriptors in both readers, the same way, and writes back byte-exactly."""
    oos = pure_writer.ObjectOutputStream()
    oos.write_object(JavaObject(POINT, [ClassData(POINT, [1, 2, "a"], None)]))
    oos.reset()  # the handle table starts again: POINT is described anew...
    first = oos.getvalue()
    assert first[-1] == C.TC_RESET
    data = first[:-1] + first[4:-1]  # ...but the same bytes again without the reset: a second descriptor
    seen = []
    for reader in (pure_reader, c_reader):
        ois = reader.ObjectInputStream(data)
        items = []
        while not ois.at_eof():
            items.append(ois.read_content())
        objs = [i for i in items if isinstance(i, JavaObject)]
        assert len(objs) == 2 and objs[0].desc is not objs[1].desc
        seen.append([(o.desc.unshared, o.desc.key() == POINT.key(), [f.key() for f in o.desc.fields]) for o in objs])
        for writer in (pure_writer, c_writer):
            w = writer.ObjectOutputStream()
            for it in items:
                w.write_content(it)
            assert w.getvalue() == data
    assert seen[0] == seen[1]


def test_field_desc_made_by_the_reader_equals_one_made_by_hand() -> None:
    oos = pure_writer.ObjectOutputStream()
    oos.write_object(JavaObject(CONVERTED, [ClassData(CONVERTED, ["c", 1.5, True, None], None)]))
    data = oos.getvalue()
    for reader in (pure_reader, c_reader):
        d = reader.ObjectInputStream(data).read_object().desc
        assert [f.key() for f in d.fields] == [f.key() for f in CONVERTED.fields]
        assert [(f.typecode, f.name, f.classname) for f in d.fields] == [
            ("C", "c", None), ("F", "f", None), ("Z", "z", None), ("L", "o", "Ljava/lang/Object;")]
        assert isinstance(d.fields[0], FieldDesc)


def test_gc_paused_restores_the_collector() -> None:
    import gc

    from tribes.javaser import gc_paused

    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        with gc_paused():
            raise RuntimeError("boom")
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # off before: stays off
    finally:
        gc.enable()
    # the compiled reader's own pause (one top-level object) leaves it as it found it
    data = pure_writer.ObjectOutputStream()
    data.write_object([JavaInteger(1), {"a": [1, 2]}])
    c_reader.ObjectInputStream(data.getvalue()).read_object()
    assert gc.isenabled()
    gc.disable()
    try:
        c_reader.ObjectInputStream(data.getvalue()).read_object()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_dates_and_maps_read_same_at_every_limit() -> None:
    oos = pure_writer.ObjectOutputStream()
    oos.write_object(JavaDate(1))
    oos.write_object(JavaDate(-2))
    oos.write_object(_map(0.75, 12, 16, {"when": JavaDate(3), "list": [JavaDate(4), "x"]}))
    data = oos.getvalue()

    def run(reader: Any, limits: Limits) -> Any:
        try:
            ois = reader.ObjectInputStream(data, limits)
            out = []
            while not ois.at_eof():
                v = ois.read_object()
                out.append(repr(v))
            return out
        except Exception as exc:  # noqa: BLE001
            return (type(exc).__name__, str(exc))

    for k in range(1, 16):
        limits = Limits(max_handles=k)
        assert run(c_reader, limits) == run(pure_reader, limits), k
    for depth in range(0, 5):
        limits = Limits(max_depth=depth)
        assert run(c_reader, limits) == run(pure_reader, limits), depth
    for cut in range(4, len(data)):
        part = data[:cut]
        got = []
        for reader in (pure_reader, c_reader):
            try:
                ois = reader.ObjectInputStream(part)
                got.append([repr(ois.read_object()) for _ in range(3)])
            except Exception as exc:  # noqa: BLE001
                got.append((type(exc).__name__, str(exc)))
        assert got[0] == got[1], cut


def test_descriptor_shapes_same_bytes_and_errors() -> None:
    from tribes.javaser import BlockData, JavaString

    sup = ClassDesc.make("com.example.Base", 1, {"id": "J", "tag": "Ljava/lang/String;"})
    sub = ClassDesc.make("com.example.Sub", 2, {"n": "I", "tags": "[Ljava/lang/String;", "tag2": "Ljava/lang/String;"},
                         superclass=sup)
    annotated = ClassDesc("com.example.Annotated", 3, C.SC_SERIALIZABLE, [FieldDesc("I", "v")], None,
                          [BlockData(b"\x01\x02"), "note"])
    proxy = ClassDesc("(proxy)", 0, C.SC_SERIALIZABLE, (), None, (), ["com.example.Iface", "java.io.Serializable"])
    long_name = ClassDesc("x" * 70000, 4)
    odd = ClassDesc("com.example.\u00e9t\u00e9", 5, C.SC_SERIALIZABLE, [FieldDesc("L", "o", "Ljava/lang/Object;")])
    raw = JavaString("com.example.Raw")
    raw.raw = b"com.example.Raw"  # type: ignore[attr-defined]
    raw_named = ClassDesc(raw, 6)
    twin = ClassDesc.make("com.example.Base", 1, {"id": "J", "tag": "Ljava/lang/String;"})
    other_suid = ClassDesc.make("com.example.Base", 99, {"id": "J", "tag": "Ljava/lang/String;"})

    def obj(d: ClassDesc, per_class: dict[str, list[Any]]) -> JavaObject:
        return JavaObject(d, [ClassData(c, list(per_class.get(c.name, [None] * len(c.fields))),
                                        [] if c.flags & C.SC_WRITE_METHOD else None) for c in d.chain()])

    values = [
        obj(sub, {"com.example.Base": [7, "t"], "com.example.Sub": [1, None, "u"]}),
        annotated, proxy, long_name, odd, raw_named, twin, other_suid, sup, sub,
        obj(twin, {"com.example.Base": [8, "w"]}), obj(other_suid, {"com.example.Base": [9, "z"]}),
        obj(odd, {odd.name: [None]}),
    ]
    for order in (values, list(reversed(values)), values[3:] + values[:3]):
        out = same(order)
        assert sum(1 for x in out if x == "ok") == len(order) - 1  # only the 70000-char name fails
        out2 = same(order)  # the plans cached on the descriptors by the first run give the same
        assert out2 == out
