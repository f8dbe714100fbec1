"""Hostile Java streams (issue 19, defect 2): decoding is linear in the worst case, and one stream's
work is bounded (``Limits.max_work``). Both implementations (the pure reader.py and its typed
compile ``_creader``) are checked: they must stay equal.

The review's reproductions: a HashMap of 8,000 ``Class`` keys of one name with different
serialVersionUIDs took 14.7 s (every key hashed alike, and every descriptor compared with every
earlier one of its name); a HashSet of 16,000 empty ArrayLists took 4.9 s (Python cannot hash a
list: each add scanned every element before it). Java rejects the first at the first key and
reads the second in 0.09 s. Work is counted, not timed, where it can be; the one time ceiling is
generous (x10 over a loaded machine's figure).
"""
from __future__ import annotations

import time
from types import ModuleType
from typing import Any, Iterator

import pytest

from tribes.javaser import (ClassDesc, JavaArrayList, JavaClass, JavaHashMap, JavaHashSet, JavaInteger, LimitExceeded,
                            Limits, dumps)
from tribes.javaser import reader as pure_reader
from tribes.javaser import values

try:
    from tribes.javaser import _creader as c_reader  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - depends on the build
    c_reader = None

IMPLS = [pytest.param(pure_reader, id="pure"),
         pytest.param(c_reader, id="cython",
                      marks=pytest.mark.skipif(c_reader is None, reason="javaser extension not built (pip install -e .)"))]


def read(mod: ModuleType, data: bytes, limits: Limits | None = None) -> Any:
    ois = mod.ObjectInputStream(data) if limits is None else mod.ObjectInputStream(data, limits)
    return ois.read_object()


def class_map(n: int) -> bytes:
    m = JavaHashMap()
    for i in range(n):
        m[JavaClass(ClassDesc("com.example.Same", i, 2))] = i
    return dumps(m)


class _Counter:
    def __init__(self) -> None:
        self.n = 0


@pytest.fixture
def key_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Counter]:
    """Counts descriptor-key computations and Class-key comparisons (the quadratic steps)."""
    c = _Counter()
    key = values.ClassDesc.key
    eq = values.JavaClass.__eq__

    def counting_key(self: ClassDesc) -> tuple:
        c.n += 1
        return key(self)  # type: ignore[no-any-return]

    def counting_eq(self: JavaClass, other: object) -> bool:
        c.n += 1
        return eq(self, other)

    monkeypatch.setattr(values.ClassDesc, "key", counting_key)
    monkeypatch.setattr(values.JavaClass, "__eq__", counting_eq)
    yield c


@pytest.mark.parametrize("mod", IMPLS)
def test_map_of_same_named_classes_is_linear(mod: ModuleType, key_calls: _Counter) -> None:
    n = 1500
    data = class_map(n)
    key_calls.n = 0
    m = read(mod, data)
    assert isinstance(m, JavaHashMap) and len(m) == n
    assert sorted(k.desc.suid for k in m) == list(range(n))
    # the old reader made ~n*n/2 key computations (1.1 million for n = 1500) and as many comparisons
    assert key_calls.n < 20 * n, f"{key_calls.n} key steps for {n} keys: not linear"


@pytest.mark.parametrize("mod", IMPLS)
def test_set_of_unhashable_lists_is_linear(mod: ModuleType) -> None:
    n = 32000                                   # the review's 16,000, doubled: the old reader ~20 s
    s = JavaHashSet()
    for _ in range(n):
        s.add(JavaArrayList())
    data = dumps(s)
    started = time.perf_counter()
    r = read(mod, data)
    took = time.perf_counter() - started
    assert isinstance(r, JavaHashSet) and len(r) == n
    assert all(type(x) is JavaArrayList and not x for x in r)
    # 0.02-0.7 s here (loaded machine); the old reader took 4.9 s for 16,000, four times that here
    assert took < 8.0, f"{n} list elements read in {took:.1f} s"


def test_hashset_identity_elements_found_and_removed() -> None:
    a, b = JavaArrayList(), JavaArrayList()
    s = JavaHashSet([a, b, a])
    assert len(s) == 2 and a in s and b in s and JavaArrayList() not in s
    s.discard(a)
    assert list(s) == [b] and a not in s
    s.add(a)
    assert list(s) == [b, a]


def test_class_keys_hash_by_what_they_compare() -> None:
    a = JavaClass(ClassDesc("x.Y", 1, 2))
    b = JavaClass(ClassDesc("x.Y", 1, 2))
    c = JavaClass(ClassDesc("x.Y", 2, 2))
    assert a == b and hash(a) == hash(b)
    assert a != c
    assert len({a, b, c}) == 2


@pytest.mark.parametrize("mod", IMPLS)
def test_nested_collections_with_back_references_are_linear(mod: ModuleType) -> None:
    """Back-references inside deeply nested collections under construction: each was checked
    against the whole stack of containers being built (depth x references)."""
    depth, refs = 900, 300000
    shared = JavaInteger(123456)  # one object (strings took a fast path already)
    inner: Any = JavaArrayList([shared] * refs)
    for _ in range(depth):
        inner = JavaArrayList([inner])
    data = dumps(inner)
    started = time.perf_counter()
    r = read(mod, data, Limits(max_depth=2000))
    took = time.perf_counter() - started
    for _ in range(depth):
        r = r[0]
    assert len(r) == refs and r[0] == shared
    # 0.02-0.5 s here; the old pure reader: 11 s (generous ceiling for a loaded machine)
    assert took < 8.0, f"{refs} references under {depth} open collections read in {took:.1f} s"


@pytest.mark.parametrize("mod", IMPLS)
def test_max_work_bounds_one_stream(mod: ModuleType) -> None:
    items = JavaArrayList(["x"] * 5000)     # one string, 4,999 back-references to it
    data = dumps(items)
    assert len(read(mod, data)) == 5000     # the default admits it
    with pytest.raises(LimitExceeded) as exc:
        read(mod, data, Limits(max_work=1000))
    assert exc.value.setting == "max_work"
    assert "max_work" in str(exc.value)
    assert len(read(mod, data, Limits(max_work=6000))) == 5000


def test_default_max_work_admits_a_large_state_transfer() -> None:
    # 100,000 sessions of ~20 objects and references each = 2 million; the default is far above
    assert Limits().max_work >= 32 * 2_000_000


@pytest.mark.parametrize("impl", ["pure", "cython"])
def test_writing_same_named_classes_is_linear(impl: str, key_calls: _Counter) -> None:
    """A session holding such a map (received from a peer) is written back in a state transfer."""
    from tribes.javaser import writer as pure_writer
    if impl == "cython":
        cw = pytest.importorskip("tribes.javaser._cwriter")
        out = cw.ObjectOutputStream()
    else:
        out = pure_writer.ObjectOutputStream()
    n = 1500
    m = JavaHashMap()
    for i in range(n):
        m[JavaClass(ClassDesc("com.example.Same", i, 2))] = i
    key_calls.n = 0
    out.write_object(m)
    assert len(pure_reader.ObjectInputStream(out.getvalue()).read_object()) == n
    # the old writer compared each descriptor with every earlier one of its name: ~n*n/2
    assert key_calls.n < 20 * n, f"{key_calls.n} key steps for {n} keys: not linear"
