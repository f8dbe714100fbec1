"""The typed Cython compiles of the javaser reader/writer (``tribes.javaser._creader`` /
``_cwriter``, built by setup.py from reader.py / writer.py themselves) against the pure-Python
modules: the same inputs must give the same values, the same bytes and the same exceptions
(type and message).

Golden vectors (every one, plus the bench's session streams when present), hypothesis-mutated
streams, Python-built values and primitive-data call sequences. Skips (with the reason) when
the extension is not built: ``cd /work/main && pip install -e .``.
"""
from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interop.javaser_summary import summary
from tests.unit.javaser_mutation import mutate, mutations, seeds
from tribes.javaser import (
    BlockData,
    JavaArray,
    JavaByte,
    JavaCharacter,
    JavaDate,
    JavaDouble,
    JavaEnum,
    JavaFloat,
    JavaHashSet,
    JavaInteger,
    JavaLinkedHashMap,
    JavaLinkedList,
    JavaLong,
    JavaShort,
    JavaTreeMap,
    JavaWriteAborted,
    Limits,
    constants,
)
from tribes.javaser import reader as pure_reader
from tribes.javaser import writer as pure_writer

try:
    from tribes.javaser import _creader as c_reader  # type: ignore[attr-defined]
    from tribes.javaser import _cwriter as c_writer  # type: ignore[attr-defined]
except ImportError as exc:  # pragma: no cover - depends on the build
    pytest.skip(f"javaser Cython extension not built ({exc}); run `pip install -e .`", allow_module_level=True)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VECTORS = sorted(glob.glob(os.path.join(ROOT, "tests", "vectors", "javaser", "*", "*.ser")))
SMALL = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LARGE = settings(max_examples=4000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIMITS = Limits(max_depth=100, max_array_length=4096, max_handles=4096, max_string_length=4096)


def _err(exc: BaseException) -> tuple[str, str, Any]:
    return ("error", type(exc).__name__, str(exc))


def _item(i: Any) -> Any:
    if isinstance(i, BlockData):
        return repr(i)
    if isinstance(i, JavaWriteAborted):
        return ["aborted", i.partial.hex(), summary(i.exception)]
    return summary(i)


def read_outcome(reader: Any, data: bytes, limits: Limits = LIMITS) -> Any:
    """Everything observable about reading ``data``: the items (re-encoded by the pure writer,
    summarised, typed) or the exception; then the ObjectInputStream API walk."""
    try:
        ois = reader.ObjectInputStream(data, limits)
        items = []
        while not ois.at_eof():
            items.append(ois.read_content())
    except Exception as exc:  # noqa: BLE001 - compared, not swallowed
        whole: Any = _err(exc)
    else:
        oos = pure_writer.ObjectOutputStream(limits)
        try:
            for it in items:
                oos.write_content(it)
            again: Any = oos.getvalue()
        except Exception as exc:  # noqa: BLE001
            again = _err(exc)
        whole = (
            [type(i).__name__ for i in items],
            again,
            json.dumps([_item(i) for i in items], default=repr, sort_keys=True),
        )
    events: list[Any] = []
    try:
        ois = reader.ObjectInputStream(data, limits)
        while not ois.at_eof() and len(events) < 10_000:
            if ois.available():
                events.append(("block", ois.read_fully(ois.available()), ois.offset))
                continue
            try:
                v = ois.read_object()
                events.append(("object", type(v).__name__, json.dumps(summary(v), default=repr), ois.offset))
            except Exception as exc:  # noqa: BLE001
                events.append(_err(exc))
                if not getattr(exc, "length", 0):
                    break
    except Exception as exc:  # noqa: BLE001
        events.append(_err(exc))
    return whole, events


def write_outcome(writer: Any, value: Any) -> Any:
    oos = writer.ObjectOutputStream()
    try:
        oos.write_object(value)
        oos.write_int(7)
        oos.write_object(value)  # a back-reference now
        return oos.getvalue()
    except Exception as exc:  # noqa: BLE001
        return _err(exc)


# ------------------------------------------------------------------------------ fixed inputs


def test_selection_and_typed_constants() -> None:
    import tribes.javaser as js

    if os.environ.get("TRIBES_PURE", "").strip() in ("", "0"):
        assert js.IMPLEMENTATION == "cython"
        assert js.ObjectInputStream is c_reader.ObjectInputStream
        assert js.ObjectOutputStream is c_writer.ObjectOutputStream
    for mod in (pure_reader, pure_writer):
        for name in dir(constants):
            if name.startswith(("TC_", "SC_")) or name in ("BASE_WIRE_HANDLE", "MAX_BLOCK_SIZE"):
                if hasattr(mod, name):
                    assert getattr(mod, name) == getattr(constants, name), name


def test_tribes_pure_forces_the_pure_path() -> None:
    code = "import tribes.javaser as j; print(j.IMPLEMENTATION, j.ObjectInputStream.__module__, j.ObjectOutputStream.__module__)"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "TRIBES_PURE": "1"}, cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=True).stdout.split()
    assert out == ["pure", "tribes.javaser.reader", "tribes.javaser.writer"]


@pytest.mark.parametrize("path", VECTORS,
                         ids=lambda p: "/".join(p.split(os.sep)[-2:]))
def test_vectors_same_in_both(path: str) -> None:
    with open(path, "rb") as f:
        data = f.read()
    limits = Limits()
    pure = read_outcome(pure_reader, data, limits)
    assert read_outcome(c_reader, data, limits) == pure
    assert pure[0][1] == data  # and that is the byte-exact round trip
    items = []
    ois = c_reader.ObjectInputStream(data, limits)
    while not ois.at_eof():
        items.append(ois.read_content())
    for writer in (pure_writer, c_writer):
        oos = writer.ObjectOutputStream(limits)
        for it in items:
            oos.write_content(it)
        assert oos.getvalue() == data


def test_vectors_truncated_everywhere_same_in_both() -> None:
    """Every prefix of some vectors (each fast path meets every kind of end of stream)."""
    names = ("arraylist_mixed.ser", "hashmap_100.ser", "date.ser", "tomcat_sessions_many.ser", "shared_objects.ser", "date_negative.ser")
    paths = [p for p in VECTORS if os.path.basename(p) in names and os.sep + "10.1" + os.sep in p]
    assert paths
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        step = max(1, len(data) // 400)
        for cut in range(4, len(data), step):
            assert read_outcome(c_reader, data[:cut]) == read_outcome(pure_reader, data[:cut]), (path, cut)


def test_limits_same_in_both() -> None:
    with open(next(p for p in VECTORS if p.endswith("hashmap_100.ser")), "rb") as f:
        data = f.read()
    for limits in (Limits(max_handles=50), Limits(max_depth=1), Limits(max_string_length=1), Limits(max_array_length=0),
                   Limits(max_total_bytes=100)):
        assert read_outcome(c_reader, data, limits) == read_outcome(pure_reader, data, limits)


def test_primitive_writes_same_in_both() -> None:
    def run(writer: Any) -> Any:
        oos = writer.ObjectOutputStream()
        out = []
        for call, arg in [("write_int", -5), ("write_long", -(2**63)), ("write_utf", "h\x00\u20ac\U0001f600"),
                          ("write_boolean", True), ("write_short", -2), ("write_char", "x"), ("write_float", 1.5),
                          ("write_double", -0.0), ("write", bytes(3000)), ("write_bytes", "ab"), ("write_chars", "cd"),
                          ("write_int", 2**31), ("write_utf", "x" * 70000), ("write_object", "s"), ("flush", None),
                          ("reset", None), ("write_object", "s")]:
            try:
                getattr(oos, call)(*(() if arg is None else (arg,)))
                out.append("ok")
            except Exception as exc:  # noqa: BLE001
                out.append(_err(exc))
        return out, oos.getvalue()

    assert run(c_writer) == run(pure_writer)


# ------------------------------------------------------------------------------ hypothesis

text = st.one_of(
    st.text(max_size=12),
    st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, blacklist_categories=()), max_size=6),
    st.lists(st.sampled_from(["\x00", "\ud800", "\U0001f600", "\u20ac", "a", "bc"]), max_size=5).map("".join),
)
keys = st.one_of(text, st.integers(-(2**31), 2**31 - 1).map(JavaInteger), st.integers(-(2**63), 2**63 - 1).map(JavaLong))
leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.integers(-(2**31), 2**31 - 1).map(JavaInteger), st.integers(-(2**63), 2**63 - 1).map(JavaLong),
    st.integers(-(2**15), 2**15 - 1).map(JavaShort), st.integers(-128, 127).map(JavaByte),
    st.floats(allow_nan=True).map(JavaDouble), st.floats(allow_nan=True, width=32).map(JavaFloat), st.floats(),
    st.integers(0, 0xFFFF).map(JavaCharacter), text, st.binary(max_size=30),
    st.integers(-(2**63), 2**63 - 1).map(JavaDate),
    st.sampled_from(["RED", "GREEN"]).map(lambda n: JavaEnum("com.example.Color", n)),
    st.lists(st.integers(-(2**31), 2**31 - 1), max_size=4).map(lambda v: JavaArray("[I", v)),
)
values = st.recursive(
    leaf,
    lambda ch: st.one_of(
        st.lists(ch, max_size=5), st.lists(ch, max_size=4).map(JavaLinkedList),
        st.dictionaries(keys, ch, max_size=5), st.dictionaries(keys, ch, max_size=4).map(JavaLinkedHashMap),
        st.dictionaries(text, ch, max_size=4).map(JavaTreeMap), st.lists(keys, max_size=4).map(JavaHashSet),
        st.lists(ch, max_size=4).map(lambda v: JavaArray("[Ljava.lang.Object;", v)),
    ),
    max_leaves=25,
)


SEEDS = seeds(3000)
mutation = mutations(len(SEEDS))


def _check_read(m: Any) -> None:
    data = mutate(SEEDS, m)
    assert read_outcome(c_reader, data) == read_outcome(pure_reader, data)


def _check_write(v: Any) -> None:
    pure = write_outcome(pure_writer, v)
    assert write_outcome(c_writer, v) == pure
    if isinstance(pure, bytes):
        assert read_outcome(c_reader, pure, Limits()) == read_outcome(pure_reader, pure, Limits())


@SMALL
@given(mutation)
def test_mutated_streams_same_in_both(m: Any) -> None:
    _check_read(m)


@SMALL
@given(values)
def test_python_values_same_in_both(v: Any) -> None:
    _check_write(v)


@pytest.mark.slow
@LARGE
@given(mutation)
def test_mutated_streams_same_in_both_large(m: Any) -> None:
    _check_read(m)


@pytest.mark.slow
@LARGE
@given(values)
def test_python_values_same_in_both_large(v: Any) -> None:
    _check_write(v)


def test_compiled_depth_bound_is_an_error_not_a_crash() -> None:
    """The compiled codec recurses on the C stack: past reader.C_MAX_DEPTH it raises LimitExceeded
    (max_depth) even when Limits.max_depth is higher, instead of overflowing the stack; below it,
    it reads what the pure reader reads (in a 1 MiB thread stack at the default max_depth)."""
    code = r'''
import sys, threading
from tribes.javaser import Limits, LimitExceeded
from tribes.javaser import writer as pw, _creader as cr, _cwriter as cw
from tribes.javaser.reader import C_MAX_DEPTH
def nested(depth):
    v = []; cur = v
    for _ in range(depth):
        n = []; cur.append(n); cur = n
    return v
lim = Limits(max_depth=10 * C_MAX_DEPTH)
o = pw.ObjectOutputStream(lim); o.write_object(nested(3 * C_MAX_DEPTH)); deep = o.getvalue()
for fn in (lambda: cr.ObjectInputStream(deep, lim).read_object(), lambda: cw.ObjectOutputStream(lim).write_object(nested(3 * C_MAX_DEPTH))):
    try:
        fn(); print("no error")
    except LimitExceeded as e:
        print(e.setting, e.limit == C_MAX_DEPTH)
o = pw.ObjectOutputStream(); o.write_object(nested(990)); ok = o.getvalue()
res = []
def run():
    res.append(cr.ObjectInputStream(ok).read_object() is not None)
    w = cw.ObjectOutputStream(); w.write_object(nested(990)); res.append(w.getvalue() == ok)
threading.stack_size(1024 * 1024)
t = threading.Thread(target=run); t.start(); t.join()
print(res)
'''
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[:3] == ["max_depth True", "max_depth True", "[True, True]"]
