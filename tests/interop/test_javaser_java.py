"""tribes.javaser against real Java (JavaSerVectors.java), for Tomcat 10.1 and 9.0:

* the golden vectors regenerate byte-identically (tests/vectors/javaser/<ver>/);
* Java's ObjectInputStream reads streams built in Python to the expected values, including opaque
  values (unknown classes, Tomcat's own) taken from one stream and re-emitted inside another
  with different handles;
* Tomcat's DeltaRequest.readExternal + execute accepts a Python-built delta;
* a Python-built session-state stream reads as DeltaSession.doReadObject reads it.

No network and no root: only Java and the Tomcat jars.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from interop import javatool
from interop.javaser_summary import matches, summary
from tribes.javaser import (
    ClassDesc,
    JavaArrayList,
    JavaInteger,
    JavaLong,
    JavaObject,
    ObjectOutputStream,
    dumps,
    loads,
    loads_all,
)

pytestmark = pytest.mark.interop

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VEC_ROOT = os.path.join(ROOT, "tests", "vectors", "javaser")
VERSIONS = {"10": "10.1", "9": "9.0"}

sys.path.insert(0, os.path.join(ROOT, "tests", "unit"))


@pytest.fixture(scope="module", params=sorted(VERSIONS))
def java(request: pytest.FixtureRequest):
    version = request.param
    why = javatool.missing_requirements(version)
    if why:
        pytest.skip(why)
    cp = javatool.build(version)

    def run(*args: str, timeout: float = 300) -> str:
        out = subprocess.run(
            # no stack traces in Throwables: exception vectors must not depend on source line numbers
            ["java", "-Xmx256m", "-XX:-StackTraceInThrowable", "-cp", cp, "JavaSerVectors", *args],
            capture_output=True, timeout=timeout, check=True,
        )
        return out.stdout.decode("utf-8")

    run.version = VERSIONS[version]  # type: ignore[attr-defined]
    return run


def _vec_dir(java) -> str:
    return os.path.join(VEC_ROOT, java.version)


def test_vectors_regenerate_identically(java, tmp_path) -> None:
    java("gen", str(tmp_path))
    committed = sorted(os.listdir(_vec_dir(java)))
    fresh = sorted(os.listdir(tmp_path))
    assert fresh == committed
    differ = []
    for name in fresh:
        with open(os.path.join(_vec_dir(java), name), "rb") as a, open(tmp_path / name, "rb") as b:
            old, new = a.read(), b.read()
        if name == "manifest.json":  # the JDK / Tomcat patch versions are informative only
            old_m, new_m = json.loads(old), json.loads(new)
            if old_m["vectors"] != new_m["vectors"]:
                differ.append(name)
        elif old != new:
            differ.append(name)
    assert not differ, f"regenerated vectors differ from the committed ones: {differ}"


def _unordered(x):
    """Order-insensitive form of HashMap/HashSet renderings (Java rehashes when it reads)."""
    if isinstance(x, dict):
        out = {k: _unordered(v) for k, v in x.items()}
        if x.get("class") in ("java.util.HashMap", "java.util.HashSet") and isinstance(out.get("value"), list):
            out["value"] = sorted(out["value"], key=lambda e: json.dumps(e, sort_keys=True))
        return out
    if isinstance(x, list):
        return [_unordered(v) for v in x]
    return x


def _java_reads(java, tmp_path, data: bytes) -> list[str]:
    f = tmp_path / "in.ser"
    f.write_bytes(data)
    lines = java("read", str(f)).splitlines()
    assert lines and lines[-1] == "EOF", lines[-3:]
    return lines[:-1]


def _python_values() -> list:
    from test_javaser_python_built import CASES  # the same values that match Java's bytes

    vals = [CASES[k]() for k in sorted(CASES)]
    child_desc = ClassDesc.make(
        "JavaSerVectors$Child", 12, {"own": "Ljava/lang/String;", "sibling": "LJavaSerVectors$Parent;"},
        superclass=ClassDesc.make("JavaSerVectors$Parent", 11, {"family": "Ljava/lang/String;", "level": "I"},
                                  flags=0x03),
    )
    from tribes.javaser import BlockData

    child = JavaObject.new(child_desc, {"own": "py-child", "sibling": None, "family": "py", "level": 3},
                           annotations={"JavaSerVectors$Parent": [BlockData(b"\x00\x4d")]})
    child["sibling"] = child
    vals.append(child)
    ext_desc = ClassDesc("JavaSerVectors$Ext", 21, 0x0C)
    vals.append(JavaObject.new(ext_desc, annotations={
        "JavaSerVectors$Ext": [BlockData(b"\x00\x00\x00\x07\x00\x02py"), JavaArrayList([1, "two"]), BlockData(b"\x01")]}))
    big = {f"key{i}": [i, str(i), JavaLong(i)] for i in range(300)}
    vals.append(big)
    return vals


def test_java_reads_python_values(java, tmp_path) -> None:
    values = _python_values()
    oos = ObjectOutputStream()
    for v in values:
        oos.write_object(v)
    data = oos.getvalue()
    expected = [summary(v) for v in loads_all(data)]
    got = [json.loads(line) for line in _java_reads(java, tmp_path, data)]
    assert len(got) == len(expected)
    bad = [(e, g) for e, g in zip(expected, got) if not matches(_unordered(g), _unordered(e))]
    assert not bad, f"{len(bad)} values read differently by Java, first: {bad[0]}"


def test_java_reads_reemitted_opaque_values(java, tmp_path) -> None:
    with open(os.path.join(_vec_dir(java), "manifest.json"), encoding="utf-8") as f:
        vectors = [v for v in json.load(f)["vectors"] if v["expect"]["kind"] == "object"]
    values = []
    for v in vectors:
        with open(os.path.join(_vec_dir(java), v["file"]), "rb") as fh:
            values.append((v, loads(fh.read())))
    oos = ObjectOutputStream()
    oos.write_object("a first object, so every handle moves")
    for _v, value in reversed(values):  # other order: descriptors and strings are shared differently
        oos.write_object(value)
    got = _java_reads(java, tmp_path, oos.getvalue())
    assert len(got) == len(values) + 1
    bad = []
    for (vec, _value), line in zip(reversed(values), got[1:]):
        if not matches(vec["expect"]["value"], json.loads(line)):
            bad.append(vec["name"])
    assert not bad, f"Java read these re-emitted values differently: {bad}"


def _principal(java):
    """The SerializablePrincipal Tomcat wrote in a delta vector: an opaque value to re-emit."""
    with open(os.path.join(_vec_dir(java), "tomcat_delta_all_types.ser"), "rb") as f:
        items = loads_all(f.read())
    found = [x for x in items if isinstance(x, JavaObject) and "SerializablePrincipal" in x.class_name]
    assert found
    return found[0]


def test_tomcat_executes_python_delta(java, tmp_path) -> None:
    principal = _principal(java)
    point = JavaObject.new(ClassDesc.make("JavaSerVectors$Point", 1,
                                          {"x": "I", "y": "I", "label": "Ljava/lang/String;"}),
                           {"x": 7, "y": 8, "label": "from python"})
    actions = [
        (2, 0, "__SET__ISNEW__", True),
        (3, 0, "__SET__MAXINTERVAL__", JavaInteger(900)),
        (0, 0, "name", "value \u20ac \U0001f600"),
        (0, 0, "count", 42),
        (0, 0, "list", JavaArrayList(["a", JavaLong(2**40), None])),
        (0, 0, "point", point),
        (0, 0, "bytes", bytes(range(256)) * 8),
        (0, 1, "gone", None),
        (1, 0, "__SET__PRINCIPAL__", principal),
        (4, 0, "__SET__AUTHTYPE__", "FORM"),
    ]
    oos = ObjectOutputStream()
    oos.write_utf("PYSESSION")
    oos.write_boolean(False)
    oos.write_int(len(actions))
    for typ, act, name, value in actions:
        oos.write_int(typ)
        oos.write_int(act)
        oos.write_utf(name)
        oos.write_boolean(value is not None)
        if value is not None:
            oos.write_object(value)
    f = tmp_path / "delta.ser"
    f.write_bytes(oos.getvalue())
    state = json.loads(java("delta", str(f)))
    assert state["id"] == "PYSESSION"
    # execute() casts the ISNEW value to Boolean, then endAccess() clears isNew again
    assert state["maxInactive"] == 900 and state["isNew"] is False
    assert state["authType"] == "FORM" and state["principal"] == "alice"
    attrs = state["attributes"]
    assert sorted(attrs) == ["bytes", "count", "list", "name", "point"]
    for _t, _a, name, value in actions:
        if name in attrs:
            assert matches(attrs[name], summary(value)), (name, attrs[name], summary(value))


def test_java_reads_python_session_stream(java, tmp_path) -> None:
    principal = _principal(java)
    oos = ObjectOutputStream()
    oos.write_object(2)
    written: list = []

    def obj(v):
        oos.write_object(v)
        written.append(["obj", summary(v)])

    written.append(["obj", summary(JavaInteger(2))])
    for sid, with_principal in (("PY-1", True), ("PY-2", False)):
        for v in (JavaLong(1000), JavaLong(2000), 1800, True, True, JavaLong(3000), JavaLong.value_of(0)):
            obj(v)
        oos.write_boolean(with_principal)
        written.append(["bool", with_principal])
        if with_principal:
            obj(principal)
        obj(sid)
        obj(None)
        obj(None)
        obj(2)
        obj("attr")
        obj({"k": [1, 2], "n": None})
        obj("other")
        obj(JavaLong(-1))
        obj(0)
    f = tmp_path / "sessions.ser"
    f.write_bytes(oos.getvalue())
    script = json.loads(java("session", str(f)))
    assert len(script) == len(written)
    for i, (exp, got) in enumerate(zip(written, script)):
        assert exp[0] == got[0], (i, exp, got)
        assert matches(_unordered(got[1]), _unordered(exp[1])), (i, exp, got)
