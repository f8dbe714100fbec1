"""Core behaviour of tribes.javaser: API shape, block data, handles, limits, errors.

Byte-level truth comes from the golden vectors made by real Java (test_javaser_vectors.py);
the streams here are the verified examples of the protocol reference (§6.5, §6.6).
"""
from __future__ import annotations

import pytest

from tribes.javaser import (
    BlockData,
    ClassDesc,
    JavaArray,
    JavaArrayList,
    JavaHashMap,
    JavaInteger,
    JavaLong,
    JavaObject,
    JavaSerializationError,
    LimitExceeded,
    Limits,
    ObjectInputStream,
    ObjectOutputStream,
    OptionalDataError,
    StreamCorruptedError,
    TruncatedStreamError,
    dumps,
    dumps_all,
    loads,
    loads_all,
    to_json,
)


def T(s: str) -> str:
    return s.encode().hex()


DELTA = bytes.fromhex(
    (
        "aced0005 77 19 0006 534553534944 00 00000003 00000000 00000000 0001 61 01 74 0001 62 "
        "77 1f 00000003 00000000 0014 5f5f5345545f5f4d4158494e54455256414c5f5f 01 "
        "73 72 0011 6a6176612e6c616e672e496e7465676572 12e2a0a4f7818738 02 0001 49 0005 76616c7565 "
        "78 72 0010 6a6176612e6c616e672e4e756d626572 86ac951d0b94e08b 02 0000 78 70 00000708 "
        "77 0c 00000000 00000001 0001 78 00"
    ).replace(" ", "")
)

SESSION = bytes.fromhex(
    (
        "aced0005 7372 0011" + T("java.lang.Integer") + "12e2a0a4f7818738 02 0001 49 0005" + T("value")
        + "78 72 0010" + T("java.lang.Number") + "86ac951d0b94e08b 02 0000 78 70 00000001 73 72 000e"
        + T("java.lang.Long") + "3b8be490cc8f23df 02 0001 4a 0005" + T("value")
        + "78 71 007e0001 00000000000003e8 73 71 007e0003 00000000000007d0 73 71 007e0000 00000708 "
        "73 72 0011" + T("java.lang.Boolean") + "cd207280d59cfaee 02 0001 5a 0005" + T("value")
        + "78 70 01 71 007e0008 73 71 007e0003 0000000000000bb8 73 71 007e0003 0000000000000000 "
        "77 01 00 74 0006 534553534944 70 70 71 007e0002 74 0001 6b 73 71 007e0000 00000007 "
        "73 71 007e0000 00000000"
    ).replace(" ", "")
)


def test_delta_request_read_with_primitives() -> None:
    ois = ObjectInputStream(DELTA)
    assert (ois.read_utf(), ois.read_boolean(), ois.read_int()) == ("SESSID", False, 3)
    got = []
    for _ in range(3):
        t, a, n = ois.read_int(), ois.read_int(), ois.read_utf()
        v = ois.read_object() if ois.read_boolean() else None
        got.append((t, a, n, v))
    assert got == [(0, 0, "a", "b"), (3, 0, "__SET__MAXINTERVAL__", 1800), (0, 1, "x", None)]
    assert type(got[1][3]) is JavaInteger
    assert ois.at_eof()


def test_delta_request_written_like_java() -> None:
    oos = ObjectOutputStream()
    oos.write_utf("SESSID"); oos.write_boolean(False); oos.write_int(3)
    oos.write_int(0); oos.write_int(0); oos.write_utf("a"); oos.write_boolean(True); oos.write_object("b")
    oos.write_int(3); oos.write_int(0); oos.write_utf("__SET__MAXINTERVAL__"); oos.write_boolean(True)
    oos.write_object(JavaInteger(1800))
    oos.write_int(0); oos.write_int(1); oos.write_utf("x"); oos.write_boolean(False)
    assert oos.getvalue() == DELTA


def test_session_stream_roundtrip_and_python_built() -> None:
    items = loads_all(SESSION)
    assert dumps_all(items) == SESSION
    assert items[0] is items[12]  # Integer.valueOf(1) shared by Java
    oos = ObjectOutputStream()
    for v in [1, JavaLong(1000), JavaLong(2000), 1800, True, True, JavaLong(3000), JavaLong(0)]:
        oos.write_object(v)
    oos.write_boolean(False)
    for v in ["SESSID", None, None, 1, "k", JavaInteger(7), JavaInteger(0)]:
        oos.write_object(v)
    assert oos.getvalue() == SESSION


def test_optional_data_and_eof() -> None:
    ois = ObjectInputStream(DELTA)
    with pytest.raises(OptionalDataError) as ei:
        ois.read_object()
    assert ei.value.length == 25
    ois = ObjectInputStream(dumps("x"))
    with pytest.raises(TruncatedStreamError):
        ois.read_int()


@pytest.mark.parametrize("n", [0, 1, 255, 256, 1023, 1024, 1025, 2048, 5000])
def test_block_data_chunked_like_java(n: int) -> None:
    oos = ObjectOutputStream()
    oos.write(bytes(range(256)) * (n // 256) + bytes(n % 256))
    oos.write_object(None)
    data = oos.getvalue()
    items = loads_all(data)
    blocks = [len(i.data) for i in items if isinstance(i, BlockData)]
    assert blocks == ([1024] * (n // 1024) + ([n % 1024] if n % 1024 else []))
    for i in items:
        if isinstance(i, BlockData):
            assert i.long_header == (len(i.data) > 255)
    assert dumps_all(items) == data
    ois = ObjectInputStream(data)
    assert ois.read_fully(n) == bytes(range(256)) * (n // 256) + bytes(n % 256)
    assert ois.read_object() is None


def test_strings_modified_utf8() -> None:
    for s in ["", "a", "\x00", "h\u00e9llo", "\u20ac", "\U0001f600x", "\ud800", "x" * 70000, "\U0001f600" * 20000]:
        data = dumps(s)
        assert loads(data) == s
        assert dumps(loads(data)) == data
    assert dumps("\x00") == bytes.fromhex("aced0005740002c080")
    assert dumps("\U0001f600") == bytes.fromhex("aced0005740006eda0bdedb880")
    assert dumps("x" * 70000)[4] == 0x7C


def test_identity_and_sharing() -> None:
    s = "shared-string"
    lst = [s, s, 5, 5, 1000, 1000, True, True]
    back = loads(dumps(lst))
    assert back == lst
    assert back[0] is back[1]
    assert back[2] is back[3]  # Integer.valueOf cache
    assert back[4] is not back[5]  # Java writes a new Integer for each boxing of 1000
    x = JavaInteger(1000)
    b2 = loads(dumps([x, x]))
    assert b2[0] is b2[1]


def test_cycles() -> None:
    lst: list = JavaArrayList()
    lst.append(lst)
    data = dumps(lst)
    back = loads(data)
    assert back[0] is back
    assert dumps(back) == data
    m = JavaHashMap()
    m["self"] = m
    back = loads(dumps(m))
    assert back["self"] is back
    assert to_json(back)["value"][0][1] == {"class": "java.util.HashMap", "ref": 1}


def test_opaque_object_builder() -> None:
    base = ClassDesc.make("org.apache.catalina.ha.ClusterMessageBase", 1, {"timestamp": "J"})
    desc = ClassDesc.make(
        "org.apache.catalina.ha.session.SessionMessageImpl",
        2,
        {
            "mEvtType": "I", "serializationTimestamp": "J", "timestampSet": "Z",
            "mContextName": "Ljava/lang/String;", "mSession": "[B", "mSessionID": "Ljava/lang/String;",
            "uniqueId": "Ljava/lang/String;",
        },
        superclass=base,
    )
    obj = JavaObject.new(desc, {
        "timestamp": 0, "mEvtType": 4, "serializationTimestamp": 0x0102030405060708, "timestampSet": True,
        "mContextName": "localhost#/app", "mSession": None, "mSessionID": "GET-ALL",
        "uniqueId": "GET-ALL-localhost#/app",
    })
    data = dumps(obj)
    # the verified 275-byte prefix of the protocol reference ends with the super descriptor + TC_NULL
    assert len(data) == 275 + 8 + 4 + 8 + 1 + 17 + 1 + 10 + 25
    assert data[:275].endswith(bytes.fromhex("0000000000000001020001" + "4a0009" + T("timestamp") + "7870"))
    back = loads(data)
    assert back["mEvtType"] == 4 and back["mContextName"] == "localhost#/app"
    assert dumps(back) == data


def test_hostile_streams() -> None:
    big_array = bytes.fromhex("aced0005 75 72 0002 5b42 acf317f8060854e0 02 0000 78 70 3b9aca00".replace(" ", ""))
    with pytest.raises(LimitExceeded) as ei:
        loads(big_array)
    assert ei.value.setting == "max_array_length"
    with pytest.raises(TruncatedStreamError):
        loads(big_array, Limits(max_array_length=2**31))
    with pytest.raises(StreamCorruptedError, match="handle"):
        loads(bytes.fromhex("aced0005 71 007e0005".replace(" ", "")))
    # deep nesting: arrays of Object inside each other
    head = bytes.fromhex("aced0005")
    one = bytes.fromhex("75 72 0013".replace(" ", "")) + b"[Ljava.lang.Object;" + bytes.fromhex("90ce589f1073296c 02 0000 78 70 00000001".replace(" ", ""))
    nested = head + one + (bytes.fromhex("75 71 007e0000 00000001".replace(" ", "")) * 5000) + b"\x70"
    with pytest.raises(LimitExceeded) as ei:
        loads(nested)
    assert ei.value.setting == "max_depth"
    with pytest.raises(LimitExceeded) as ei:
        loads(dumps("x" * 100), Limits(max_string_length=10))
    assert ei.value.setting == "max_string_length"
    with pytest.raises(LimitExceeded) as ei:
        loads(dumps(list(range(200, 300))), Limits(max_handles=50))
    assert ei.value.setting == "max_handles"
    with pytest.raises(LimitExceeded) as ei:
        loads(dumps(b"x" * 1000), Limits(max_total_bytes=100))
    assert ei.value.setting == "max_total_bytes"
    with pytest.raises(StreamCorruptedError):
        loads(b"\xac\xed\x00\x06")


def test_write_failure_leaves_stream_clean() -> None:
    oos = ObjectOutputStream()
    oos.write_object("a")
    with pytest.raises(JavaSerializationError):
        oos.write_object(["b", object()])
    oos.write_object("c")
    assert loads_all(oos.getvalue()) == ["a", "c"]


def test_primitive_arrays() -> None:
    for arr in [JavaArray("[I", [1, -2, 3]), JavaArray("[J", [2**40]), JavaArray("[Z", [True, False]),
                JavaArray("[C", ["a", "\u20ac"]), JavaArray("[D", [1.5]), JavaArray("[F", [0.25]),
                JavaArray("[S", [-1]), JavaArray("[Ljava.lang.String;", ["a", None])]:
        back = loads(dumps(arr))
        assert back == arr and back.class_name == arr.class_name


def test_enum_and_class_shared_like_java() -> None:
    from tribes.javaser import JavaClass, JavaEnum, array_desc

    a, b = JavaEnum("com.x.Color", "RED"), JavaEnum("com.x.Color", "RED")
    data = dumps([a, b, JavaClass(array_desc("[I")), JavaClass(array_desc("[I"))])
    back = loads(data)
    assert back[0] is back[1] and back[2] is back[3]  # one constant / one Class object, as in Java
    # a stream (not written by Java) with two TC_ENUM of one constant still round-trips
    first = dumps(a)[4:]
    desc_ref = bytes.fromhex("7e 71 007e0000".replace(" ", ""))
    odd = b"\xac\xed\x00\x05" + first + desc_ref + b"\x74\x00\x03RED"
    items = loads_all(odd)
    assert items[0] == items[1] and items[0] is not items[1]
    assert dumps_all(items) == odd


def test_check_cli_mismatch_exit_code(tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    import tribes.javaser as js
    from tribes.cli.main import cli

    f = tmp_path / "x.ser"
    f.write_bytes(dumps(["a", "b"]))
    monkeypatch.setattr(js, "dumps_all", lambda items, limits=None: dumps(["a", "c"]))
    r = CliRunner().invoke(cli, ["javaser", "check", str(f)])
    assert r.exit_code == 5 and "DIFFERENT at offset" in r.output


def test_to_json_shapes() -> None:
    from tribes.javaser import JavaDate

    point = JavaObject.new(ClassDesc.make("com.x.P", 1, {"x": "I", "big": "J", "s": "Ljava/lang/String;"}),
                           {"x": 1, "big": 2**60, "s": "t"})
    j = to_json(loads(dumps([JavaLong(2**60), JavaLong(5), b"\x00\xff", point, JavaDate(0), float("nan")])))
    assert j["class"] == "java.util.ArrayList"
    v = j["value"]
    assert v[0] == {"class": "java.lang.Long", "value": str(2**60)}
    assert v[1] == {"class": "java.lang.Long", "value": 5}
    assert v[2] == {"class": "[B", "value": "AP8="}
    assert v[3] == {"class": "com.x.P", "fields": {"x": 1, "big": str(2**60), "s": {"class": "java.lang.String", "value": "t"}}}
    assert v[4] == {"class": "java.util.Date", "value": "1970-01-01T00:00:00.000Z", "millis": 0}
    assert v[5] == {"class": "java.lang.Double", "value": "NaN"}


def test_many_empty_block_records_bounded() -> None:
    data = b"\xac\xed\x00\x05" + b"\x77\x00" * 5000
    with pytest.raises(LimitExceeded) as ei:
        loads_all(data, Limits(max_handles=1000))
    assert ei.value.setting == "max_handles"
    assert len(loads_all(data)) == 5000
