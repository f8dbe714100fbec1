"""``tribes javaser dump|check`` on golden vectors and broken input."""
from __future__ import annotations

import json
import os

from click.testing import CliRunner

from tribes.cli.main import cli

VEC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vectors", "javaser", "10.1")


def _run(*args: str):
    return CliRunner().invoke(cli, ["javaser", *args])


def test_dump_tree_and_json() -> None:
    f = os.path.join(VEC, "tomcat_sessions_rich.ser")
    r = _run("dump", f)
    assert r.exit_code == 0, r.output
    assert "String 'RICH'" in r.output and "JavaSerVectors$Point" in r.output
    r = _run("dump", "--json", os.path.join(VEC, "tomcat_delta_all_types.ser"))
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.output.splitlines()]
    assert lines[0]["kind"] == "item" and lines[0]["value"]["class"] == "blockdata"
    assert lines[-1]["kind"] == "summary" and lines[-1]["items"] == len(lines) - 1


def test_check_identical_and_different(tmp_path) -> None:
    f = os.path.join(VEC, "hashmap_100.ser")
    r = _run("check", f)
    assert r.exit_code == 0 and "identical" in r.output
    with open(f, "rb") as fh:
        data = bytearray(fh.read())
    # a TC_BLOCKDATALONG header for a short record: valid, read the same, but not what Java writes
    # for this value -> the writer keeps it (identical); so corrupt a HashMap's capacity instead:
    # a map whose buckets field is 0 is still decoded (kept as read) -> identical as well.
    bad = tmp_path / "bad.ser"
    bad.write_bytes(bytes(data[:-3]))
    r = _run("check", str(bad))
    assert r.exit_code == 1 and "cannot decode" in r.output
    r = _run("dump", str(bad))
    assert r.exit_code == 1


def test_check_reports_offset(tmp_path) -> None:
    # a Boolean holding 2: read back as an opaque object, written back identically
    f = tmp_path / "odd.ser"
    with open(os.path.join(VEC, "boolean_true.ser"), "rb") as fh:
        data = bytearray(fh.read())
    data[-1] = 2
    f.write_bytes(bytes(data))
    r = _run("check", str(f))
    assert r.exit_code == 0, r.output
