"""The one assembler (issue 12): every channel is put together by tribes.group.assembler.assemble_channel.

* a server.xml (tribes.config.build), Tomcat's stock channel (SimpleTcpCluster.create) and the CLI
  (top interceptors) all go through it;
* EncryptInterceptor, CloudMembershipService and BackupManager plug in by their registry entries;
* nothing outside the channel links interceptors (``next``/``previous``) by hand, and the membership
  service gets its channel from the coordinator, not by walking private attributes.
"""
from __future__ import annotations

import os
import re
from typing import Any

import pytest

from tribes.channel import ChannelInterceptor
from tribes.config import ConfigError, loads
from tribes.config.build import build_channel, build_node, channel_spec
from tribes.group import assembler
from tribes.group.assembler import Component, ComponentError, assemble_channel, stock_spec

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PLUGINS_XML = """<Server><Service name="S"><Engine name="E" defaultHost="localhost" jvmRoute="py1">
<Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster" channelSendOptions="6">
  <Manager className="org.apache.catalina.ha.session.BackupManager" mapSendOptions="6" rpcTimeout="5000"/>
  <Channel className="org.apache.catalina.tribes.group.GroupChannel">
    <Membership className="org.apache.catalina.tribes.membership.cloud.CloudMembershipService"
                membershipProviderClassName="dns"/>
    <Receiver className="org.apache.catalina.tribes.transport.nio.NioReceiver" address="127.0.0.1" port="4321"/>
    <Interceptor className="org.apache.catalina.tribes.group.interceptors.EncryptInterceptor"
                 encryptionKey="000102030405060708090a0b0c0d0e0f"/>
    <Interceptor className="org.apache.catalina.tribes.group.interceptors.TcpFailureDetector"/>
    <Interceptor className="org.apache.catalina.tribes.group.interceptors.MessageDispatchInterceptor"/>
  </Channel>
</Cluster></Engine></Service></Server>"""


def test_plugins_come_in_by_their_registry_entries() -> None:
    node = build_node(loads(PLUGINS_XML), sessions=True, contexts=["/app"])
    assert [type(i).__name__ for i in node.channel.interceptors()] == [
        "EncryptInterceptor", "TcpFailureDetector", "MessageDispatchInterceptor"]
    membership = node.channel.membership_service
    assert type(membership).__name__ == "CloudMembershipService"
    assert membership.channel is node.channel  # handed over by the assembler, as Tomcat's setChannel
    assert node.cluster is not None and type(node.cluster.backup_config).__name__ == "BackupManagerConfig"
    assert node.cluster.backup_config.rpc_timeout == 5000
    assert type(node.cluster.manager("/app")).__name__ == "BackupContext"


def test_server_xml_goes_through_assemble_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    real = assembler.assemble_channel

    def spy(spec: Any, *, top: Any = ()) -> Any:
        seen.append(spec)
        return real(spec, top=top)

    monkeypatch.setattr(assembler, "assemble_channel", spy)
    tap = ChannelInterceptor()
    channel = build_channel(loads(PLUGINS_XML), top=[tap])
    assert len(seen) == 1 and seen[0].membership.target == "tribes.membership.cloud:CloudMembershipService"
    assert list(channel.interceptors())[0] is tap  # top interceptors above the configured ones
    assert tap.previous is channel and tap.channel is None  # linked by the channel, channel set at start


def test_simple_tcp_cluster_create_goes_through_assemble_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    from tribes.managers.cluster import SimpleTcpCluster

    seen: list[Any] = []
    real = assembler.assemble_channel

    def spy(spec: Any, *, top: Any = ()) -> Any:
        seen.append(spec)
        return real(spec, top=top)

    monkeypatch.setattr(assembler, "assemble_channel", spy)
    cluster = SimpleTcpCluster.create(bind=None, mcast_port=45999, receiver_port=4999, jvm_route="py1")
    assert len(seen) == 1
    names = [type(i).__name__ for i in cluster.channel.interceptors()]
    assert names == ["MessageDispatchInterceptor", "TcpFailureDetector"]  # SimpleTcpCluster.checkDefaults
    mdi = next(iter(cluster.channel.interceptors()))
    assert getattr(mdi, "max_threads") == 1  # one worker: our messages keep their order


def test_stock_spec_is_tomcats_default_cluster() -> None:
    spec = stock_spec(address="127.0.0.1", receiver_port=4100, mcast_port=45999, frequency=700)
    channel = assemble_channel(spec)
    assert channel.receiver.port == 4100 and channel.membership_service.frequency == 700
    assert [type(i).__name__ for i in channel.interceptors()] == ["MessageDispatchInterceptor", "TcpFailureDetector"]


def test_a_rejected_value_names_the_element_and_line(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = channel_spec(loads(PLUGINS_XML))
    spec.interceptors[-1].kwargs["no_such_argument"] = 1  # what a component rejects
    with pytest.raises(ComponentError) as info:
        assemble_channel(spec)
    assert "<Interceptor> MessageDispatchInterceptor" in str(info.value)
    with pytest.raises(ComponentError):
        Component("tribes.group.channel:GroupChannel", {"no_such_argument": 1}).build()

    from tribes.transport.receiver import NioReceiver
    real_init = NioReceiver.__init__

    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        raise ValueError("port 4321 refused by this test")

    monkeypatch.setattr(NioReceiver, "__init__", refuse)
    with pytest.raises(ConfigError) as cfg_info:
        build_channel(loads(PLUGINS_XML))
    problem = cfg_info.value.problems[0]
    assert problem.element == "Receiver" and problem.line == 7 and "refused by this test" in problem.message


def test_nothing_outside_the_channel_links_interceptors_by_hand() -> None:
    allowed = {os.path.join("tribes", "channel.py"), os.path.join("tribes", "group", "channel.py")}
    pattern = re.compile(r"\.(next|previous)\s*=(?!=)")
    offenders = []
    for base, _dirs, files in os.walk(os.path.join(ROOT, "tribes")):
        for name in files:
            if name.endswith(".py"):
                rel = os.path.relpath(os.path.join(base, name), ROOT)
                with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
                    for n, line in enumerate(f, 1):
                        if pattern.search(line) and rel not in allowed:
                            offenders.append(f"{rel}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_one_name_mapping_for_the_assembler_and_from_attributes() -> None:
    """Tomcat's aliases reach the component both ways (they were 'not applied' by the assembler before)."""
    from tribes.attributes import attribute_name, python_name
    from tribes.config.build import channel_plan
    from tribes.membership.mcast import McastService

    xml = ('<Server><Service name="S"><Engine name="E"><Cluster className="org.apache.catalina.ha.tcp.'
           'SimpleTcpCluster"><Channel className="org.apache.catalina.tribes.group.GroupChannel"><Membership '
           'className="org.apache.catalina.tribes.membership.McastService" mcastDropTime="900" '
           'mcastBindAddress="127.0.0.1" soTimeout="100"/></Channel></Cluster></Engine></Service></Server>')
    step = channel_plan(loads(xml))[0]
    assert step.kwargs == {"drop_time": 900, "bind": "127.0.0.1", "so_timeout": 100} and not step.not_applied
    direct = McastService.from_attributes({"mcastDropTime": "900", "mcastBindAddress": "127.0.0.1"})
    assert (direct.drop_time, direct.bind) == (900, "127.0.0.1")
    assert python_name("heartbeatSleeptime") == "heartbeat_sleeptime" and attribute_name("drop_time") == "dropTime"
