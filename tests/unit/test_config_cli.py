"""`tribes config check`, through click's runner and as a real subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from click.testing import CliRunner

from tribes.cli.common import EXIT_CONFIG, EXIT_OK
from tribes.cli.main import cli

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "config")
WALKTHROUGH = os.path.join(FIXTURES, "walkthrough-server.xml")
TOMCAT10 = os.path.join(FIXTURES, "tomcat-10.1.x-server.xml")
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["config", "check", *args])


def json_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def write(tmp_path: Any, text: str) -> str:
    path = os.path.join(str(tmp_path), "server.xml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def test_check_walkthrough_human() -> None:
    result = run(WALKTHROUGH)
    assert result.exit_code == EXIT_OK, result.output
    out = result.output
    assert "<Cluster> at line 10 in <Engine name='Catalina'>" in out
    assert "manager name of /app: 'localhost#/app'; jvmRoute: node1" in out
    assert "Membership McastService (line 18; supported -> tribes.membership.mcast:McastService)" in out
    assert "* frequency = 500" in out
    assert "Valve JvmRouteBinderValve (line 39; not applicable)" in out
    assert "OK: usable by a Python node (0 warnings, 3 notes)" in out


def test_check_json_is_one_object_per_line() -> None:
    result = run(WALKTHROUGH, "--json")
    assert result.exit_code == EXIT_OK
    lines = json_lines(result.output)
    assert [x["kind"] for x in lines] == ["config", "problem", "problem", "problem", "summary"]
    config = lines[0]
    assert config["className"] == "org.apache.catalina.ha.tcp.SimpleTcpCluster" and config["jvmRoute"] == "node1"
    channel = config["children"][1]
    assert channel["element"] == "Channel"
    assert channel["children"][0]["attributes"]["dropTime"] == 3000
    assert lines[-1] == {"kind": "summary", "valid": True, "errors": 0, "warnings": 0, "notes": 3, "strict": True}


def test_check_default_cluster_of_tomcat_sample() -> None:
    result = run(TOMCAT10, "--json")
    assert result.exit_code == EXIT_OK
    config = json_lines(result.output)[0]
    interceptors = [c["className"].rsplit(".", 1)[-1] for c in config["children"][1]["children"][3:]]
    assert interceptors == ["MessageDispatchInterceptor", "TcpFailureDetector"]
    assert all(c["implicit"] for c in config["children"])


def test_strict_by_default_and_no_strict(tmp_path: Any) -> None:
    path = write(tmp_path, '<Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster" foo="1"/>')
    result = run(path)
    assert result.exit_code == EXIT_CONFIG
    assert f"{path}:1: error: <Cluster> (SimpleTcpCluster) has no attribute 'foo'" in result.output
    assert "not usable: 1 error (strict mode" in result.output
    result = run(path, "--no-strict")
    assert result.exit_code == EXIT_OK
    assert "1 warnings" in result.output and f"{path}:1: warning:" in result.output


def test_bad_file_json(tmp_path: Any) -> None:
    path = write(tmp_path, '<Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster" channelSendOptions="x"/>')
    result = run(path, "--json")
    assert result.exit_code == EXIT_CONFIG
    lines = json_lines(result.output)
    assert lines[0]["kind"] == "problem" and lines[0]["severity"] == "error" and lines[0]["line"] == 1
    assert lines[0]["attribute"] == "channelSendOptions"
    assert lines[-1]["kind"] == "summary" and lines[-1]["valid"] is False and lines[-1]["errors"] == 1


def test_properties_and_overrides(tmp_path: Any) -> None:
    path = write(tmp_path, '''<Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster">
      <Channel className="org.apache.catalina.tribes.group.GroupChannel">
        <Receiver className="org.apache.catalina.tribes.transport.nio.NioReceiver" port="${rx.port}"/>
      </Channel></Cluster>''')
    assert run(path).exit_code == EXIT_CONFIG
    result = run(path, "-D", "rx.port=4001", "--json")
    assert result.exit_code == EXIT_OK
    rx = json_lines(result.output)[0]["children"][1]["children"][2]
    assert rx["attributes"]["port"] == 4001
    result = run(path, "-D", "rx.port=4001", "--receiver-port", "4100", "--bind", "127.0.0.1", "--jvm-route",
                 "py1", "--json")
    config = json_lines(result.output)[0]
    rx = config["children"][1]["children"][2]
    assert (rx["attributes"]["port"], rx["attributes"]["address"], config["jvmRoute"]) == (4100, "127.0.0.1", "py1")
    result = run(path, "-D", "rx.port=4001", "--receiver-port", "x")
    assert result.exit_code == EXIT_CONFIG and "--receiver-port 'x'" in result.output
    result = run(path, "-D", "oops")
    assert result.exit_code == 2 and "NAME=VALUE" in result.output


def test_missing_file_exit_code(tmp_path: Any) -> None:
    result = run(os.path.join(str(tmp_path), "missing.xml"))
    assert result.exit_code == EXIT_CONFIG and "cannot read the configuration" in result.output


def test_help_has_examples() -> None:
    result = CliRunner().invoke(cli, ["config", "check", "--help"])
    assert result.exit_code == 0 and "Examples:" in result.output and "--no-strict" in result.output
    result = CliRunner().invoke(cli, ["config", "--help"])
    assert result.exit_code == 0 and "check" in result.output


@pytest.mark.parametrize("args, code", [([WALKTHROUGH, "--json"], EXIT_OK), (["/nonexistent/server.xml"], EXIT_CONFIG)])
def test_real_subprocess(args: list[str], code: int) -> None:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "tribes", "config", "check", *args], capture_output=True,
                          text=True, timeout=120, env=env, cwd=ROOT)
    assert proc.returncode == code, proc.stderr
    if code == EXIT_OK:
        lines = json_lines(proc.stdout)
        assert lines[0]["kind"] == "config" and lines[-1]["valid"] is True
    else:
        assert "cannot read the configuration" in proc.stderr and proc.stdout == ""
