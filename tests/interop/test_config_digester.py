"""tribes.config against real Tomcat: the attribute table is what the jars say, and a server.xml read by
Tomcat's own Digester + ClusterRuleSet gives the same objects and values as our loader.

Ground truth: interop/java/src/ConfigAttributesDump.java (reflection over the classes) and
interop/java/src/ConfigDigesterCheck.java (Tomcat parses the file), for Tomcat 10.1 and 9.0.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest

from interop import javatool
from tribes.config import load
from tribes.config.model import ALIASES, Element

pytestmark = pytest.mark.interop

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "config")
RICH_PROPS = {"node.route": "n1", "mcast.port": "45599"}

# (file, digester prefix, properties)
FILES = [
    ("walkthrough-server.xml", "Server/Service/Engine/", {}),
    ("rich-server.xml", "Server/Service/Engine/Host/", RICH_PROPS),
    ("tomcat-9.0.70-server.xml", "Server/Service/Engine/", {}),
    ("tomcat-10.1.x-server.xml", "Server/Service/Engine/", {}),
]


def _skip_without_java(version: int) -> None:
    why = javatool.missing_requirements(version)
    if why:
        pytest.skip(why)


def _run(main: str, args: list[str], version: int, props: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    cmd = javatool.java_command(main, args, version, jvm_opts=["-Xmx256m"] + [f"-D{k}={v}" for k, v in props.items()])
    for _ in range(3):  # the shared build directory can be mid-rebuild by another test run
        proc = subprocess.run(cmd, capture_output=True, timeout=300, cwd=ROOT)
        if proc.returncode == 0 or b"ClassNotFoundException" not in proc.stderr:
            break
        time.sleep(2)
        cmd = javatool.java_command(main, args, version,
                                    jvm_opts=["-Xmx256m"] + [f"-D{k}={v}" for k, v in props.items()])
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    return proc


@pytest.mark.parametrize("version", [10, 9])
def test_generated_attribute_table_matches_the_jars(version: int) -> None:
    """_tomcat_specs.py is regenerated from both versions' jars and must be identical."""
    _skip_without_java(9)
    _skip_without_java(10)
    if version == 9:  # one regeneration covers both versions; the 9 case checks the tool runs alone
        out = _run("ConfigAttributesDump", ["org.apache.catalina.tribes.transport.bio.BioReceiver"], 9, {})
        assert json.loads(out.stdout)["org.apache.catalina.tribes.transport.bio.BioReceiver"]["attributes"]["port"][
            "default"] == 4000
        return
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "interop", "gen_config_specs.py"), "--check"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _compare(ours: Element, theirs: dict[str, Any], where: str, skip: set[str]) -> int:
    assert theirs is not None, f"{where}: Tomcat built nothing"
    impl = ours.implementation
    assert impl is not None
    assert theirs["className"] == impl.class_name, where
    mine = ours.effective_attributes()
    compared = 0
    for name, value in theirs["attributes"].items():
        if name in skip or (ours.short_name, name) in ALIASES or name not in mine:
            continue
        expected = mine[name]
        if isinstance(expected, (bytes, bytearray)):
            expected = "{" + ",".join(str(b - 256 if b > 127 else b) for b in expected) + "}"
        assert expected == value, f"{where}.{name}: ours {expected!r}, Tomcat {value!r}"
        compared += 1
    return compared


@pytest.mark.parametrize("version", [10, 9])
@pytest.mark.parametrize("name, prefix, props", FILES, ids=[f[0] for f in FILES])
def test_loader_agrees_with_tomcats_digester(name: str, prefix: str, props: dict[str, str], version: int) -> None:
    _skip_without_java(version)
    path = os.path.join(FIXTURES, name)
    proc = _run("ConfigDigesterCheck", [path, prefix], version, props)
    tomcat = json.loads(proc.stdout)
    # our loader without checkDefaults (Tomcat adds those at start, the digester does not)
    cfg = load(path, properties=props, apply_defaults=False)
    env_dependent = {"address", "host", "bind"}  # the receiver's "auto" resolves to this machine's address
    compared = _compare(cfg, tomcat["Cluster"], "Cluster", set())
    compared += _compare(cfg.manager, tomcat["Manager"], "Manager", set())
    compared += _compare(cfg.channel, tomcat["Channel"], "Channel", set())
    compared += _compare(cfg.channel.membership, tomcat["Membership"], "Membership", set())
    compared += _compare(cfg.channel.sender, tomcat["Sender"], "Sender", set())
    compared += _compare(cfg.channel.sender.transport, tomcat["Transport"], "Transport", set())
    rx_skip = env_dependent if cfg.channel.receiver.get("address") == "auto" else set()
    compared += _compare(cfg.channel.receiver, tomcat["Receiver"], "Receiver", rx_skip)
    assert len(cfg.channel.interceptors) == len(tomcat["Interceptor"])
    for i, (ours, theirs) in enumerate(zip(cfg.channel.interceptors, tomcat["Interceptor"])):
        compared += _compare(ours, theirs, f"Interceptor[{i}]", set())
    assert len(cfg.valves) == len(tomcat["Valve"])
    for i, (ours, theirs) in enumerate(zip(cfg.valves, tomcat["Valve"])):
        compared += _compare(ours, theirs, f"Valve[{i}]", set())
    if cfg.deployer is None:
        assert tomcat["Deployer"] is None
    else:
        compared += _compare(cfg.deployer, tomcat["Deployer"], "Deployer", set())
    assert [c.class_name for c in cfg.cluster_listeners] == [c["className"] for c in tomcat["ClusterListener"]]
    assert compared > 100  # the comparison really covered the attributes

    # Tomcat warns about the same unknown attributes we do
    tomcat_warned = sorted(line.split("failed to set property [")[1].split("]")[0]
                           for line in proc.stderr.decode(errors="replace").splitlines()
                           if "failed to set property [" in line)
    assert tomcat_warned == sorted(p.attribute for p in cfg.warnings if p.attribute)


@pytest.mark.parametrize("version", [10, 9])
def test_tomcat_reads_the_rich_file_values_we_expect(version: int) -> None:
    """Spot checks that the comparison above is not vacuous: values differ from the defaults."""
    _skip_without_java(version)
    proc = _run("ConfigDigesterCheck", [os.path.join(FIXTURES, "rich-server.xml"), "Server/Service/Engine/Host/"],
                version, RICH_PROPS)
    tomcat = json.loads(proc.stdout)
    assert tomcat["Cluster"]["attributes"]["channelSendOptions"] == 6
    assert tomcat["Membership"]["attributes"]["port"] == 45599
    assert tomcat["Membership"]["attributes"]["frequency"] == 250
    assert tomcat["Manager"]["attributes"]["stateTransferTimeout"] == 30
    assert tomcat["Receiver"]["attributes"]["port"] == 4107
    cfg = load(os.path.join(FIXTURES, "rich-server.xml"), properties=RICH_PROPS)
    assert (cfg.get("channelSendOptions"), cfg.channel.membership.port, cfg.manager.state_transfer_timeout) == \
        (6, 45599, 30)
