"""`tribes sessions` command line (no network needed for these) and the JSON value helpers."""
from __future__ import annotations

import base64

import pytest
from click.testing import CliRunner

from tribes.cli.main import cli
from tribes.javaser import JavaArrayList, JavaDouble, JavaHashMap, JavaInteger, JavaLong, to_json
from tribes.managers.jsonvalues import session_json, typed_value, value_from_json
from tribes.managers.session import DeltaSession, java_class_name


def test_help_lists_operator_commands() -> None:
    r = CliRunner().invoke(cli, ["sessions", "--help"])
    assert r.exit_code == 0
    for word in ("create", "set", "remove", "invalidate", "--context", "--follow", "--json", "--bind", "--duration"):
        assert word in r.output


def test_bad_java_value_is_a_usage_error_before_any_network() -> None:
    r = CliRunner().invoke(cli, ["sessions", "set", "ID", "n", "abc", "--java-type", "Integer"])
    assert r.exit_code == 2 and "abc" in r.output
    r = CliRunner().invoke(cli, ["sessions", "create", "novalue"])
    assert r.exit_code == 2 and "NAME=VALUE" in r.output
    r = CliRunner().invoke(cli, ["sessions", "set", "ID", "n", "1", "--java-type", "Float"])
    assert r.exit_code == 2


def test_typed_values() -> None:
    assert typed_value("Integer", "7") == 7 and type(typed_value("Integer", "7")) is JavaInteger
    assert type(typed_value("Long", "7")) is JavaLong and typed_value("Boolean", "TRUE") is True
    assert type(typed_value("Double", "1.5")) is JavaDouble and typed_value("String", "x") == "x"
    with pytest.raises(ValueError, match="Long"):
        typed_value("Integer", str(1 << 40))
    with pytest.raises(ValueError):
        typed_value("Boolean", "yes")


def test_value_json_roundtrip() -> None:
    for v in ["s", True, JavaInteger(5), JavaLong(1 << 60), JavaDouble(0.5), b"\x00\x01",
              JavaArrayList(["a", JavaInteger(1)]), JavaHashMap({"k": "v"})]:
        back = value_from_json(to_json(v))
        assert back == v and type(back) is type(v) and java_class_name(back) == java_class_name(v)
    assert value_from_json({"class": "[B", "value": base64.b64encode(b"xy").decode()}) == b"xy"
    with pytest.raises(ValueError, match="cannot build"):
        value_from_json({"class": "com.example.Thing", "fields": {}})


def test_session_json_shape() -> None:
    s = DeltaSession("ABC.py1", 1700000000000)
    s.is_valid = True
    s.max_inactive_interval = 60
    s.set_attribute("n", JavaInteger(3))
    j = session_json(s, "/app")
    assert j["context"] == "/app" and j["id"] == "ABC.py1" and j["creationTime"] == "2023-11-14T22:13:20.000Z"
    assert j["attributes"] == {"n": {"class": "java.lang.Integer", "value": 3}} and j["maxInactiveInterval"] == 60
