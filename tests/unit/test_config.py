"""server.xml -> ClusterConfig: the classic walkthrough, Tomcat's own sample files, defaults, overrides,
property substitution and the Python API."""
from __future__ import annotations

import copy
import logging
import os

import pytest

from tribes.config import (
    ENGINE,
    HOST,
    ClusterConfig,
    ConfigError,
    Interceptor,
    Membership,
    load,
    loads,
    replace_properties,
)
from tribes.config import registry
from tribes.config._tomcat_specs import TOMCAT_CLASSES

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "config")
WALKTHROUGH = os.path.join(FIXTURES, "walkthrough-server.xml")
TOMCAT9 = os.path.join(FIXTURES, "tomcat-9.0.70-server.xml")
TOMCAT10 = os.path.join(FIXTURES, "tomcat-10.1.x-server.xml")

IC = "org.apache.catalina.tribes.group.interceptors."


def server(cluster: str, engine_attrs: str = "", host_body: str = "") -> str:
    return f"""<?xml version="1.0"?>
<Server port="8005" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Engine name="Catalina" defaultHost="localhost" {engine_attrs}>
{cluster}
      <Host name="localhost" appBase="webapps">{host_body}</Host>
    </Engine>
  </Service>
</Server>
"""


def line_of(text: str, marker: str) -> int:
    for number, line in enumerate(text.splitlines(), 1):
        if marker in line:
            return number
    raise AssertionError(f"{marker!r} not in the text")


def shorts(elements: list) -> list[str]:
    return [e.short_name for e in elements]


# --------------------------------------------------------------------------- the walkthrough file


def test_walkthrough_loads_strict_with_every_component() -> None:
    cfg = load(WALKTHROUGH, strict=True)
    assert cfg.container == ENGINE and cfg.engine_name == "Catalina" and cfg.jvm_route == "node1"
    assert cfg.line == 10
    assert cfg.short_name == "SimpleTcpCluster" and cfg.get("channelSendOptions") == 8
    assert cfg.manager.short_name == "DeltaManager" and cfg.manager.get("expireSessionsOnShutdown") is False
    ch = cfg.channel
    assert ch.short_name == "GroupChannel"
    assert ch.membership.short_name == "McastService"
    assert (ch.membership.address, ch.membership.port, ch.membership.frequency, ch.membership.drop_time) == \
        ("228.0.0.4", 45564, 500, 3000)
    assert ch.receiver.short_name == "NioReceiver"
    assert (ch.receiver.address, ch.receiver.port, ch.receiver.auto_bind, ch.receiver.max_threads) == \
        ("auto", 4000, 100, 6)
    assert ch.sender.short_name == "ReplicationTransmitter"
    assert ch.sender.transport.short_name == "PooledParallelSender" and not ch.sender.transport.implicit
    # file order is kept: TcpFailureDetector first, then MessageDispatchInterceptor (nothing added)
    assert shorts(ch.interceptors) == ["TcpFailureDetector", "MessageDispatchInterceptor"]
    assert shorts(cfg.valves) == ["ReplicationValve", "JvmRouteBinderValve"]
    assert all(v.implementation.status == registry.NOT_APPLICABLE for v in cfg.valves)
    assert cfg.deployer is not None and cfg.deployer.short_name == "FarmWarDeployer"
    assert cfg.deployer.get("watchEnabled") is False and cfg.deployer.get("tempDir") == "/tmp/war-temp/"
    assert shorts(cfg.cluster_listeners) == ["ClusterSessionListener"]
    assert not any(e.implicit for e in cfg.walk())  # everything was written in the file
    notes = [p.message for p in cfg.notes]
    assert len(notes) == 3 and any("FarmWarDeployer" in n for n in notes)
    assert any("ReplicationValve" in n and "not applicable" in n for n in notes)
    assert cfg.warnings == []
    assert cfg.manager_name("/app") == "localhost#/app"
    assert cfg.manager_name("") == "localhost#"


def test_walkthrough_defaults_come_from_tomcat() -> None:
    cfg = load(WALKTHROUGH)
    tx = cfg.channel.sender.transport
    assert (tx.get("timeout"), tx.get("poolSize"), tx.get("maxRetryAttempts"), tx.get("txBufSize")) == \
        (3000, 25, 1, 65536)
    tfd = cfg.channel.interceptors[0]
    assert (tfd.connect_timeout, tfd.perform_send_test, tfd.perform_read_test, tfd.remove_suspects_timeout) == \
        (1000, True, False, 300)
    mdi = cfg.channel.interceptors[1]
    assert (mdi.max_queue_size, mdi.option_flag, mdi.max_threads, mdi.always_send) == (64 * 1024 * 1024, 8, 10, True)
    mgr = cfg.manager
    assert (mgr.state_transfer_timeout, mgr.send_all_sessions_size, mgr.max_active_sessions) == (60, 1000, -1)
    assert cfg.channel.membership.recovery_enabled is True and cfg.channel.membership.ttl == 0


@pytest.mark.parametrize("path, line", [(TOMCAT9, 138), (TOMCAT10, 130)])
def test_tomcat_sample_server_xml_gives_tomcats_default_cluster(path: str, line: int) -> None:
    with open(path, encoding="utf-8") as f:
        assert line_of(f.read(), '<Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster"/>') == line
    cfg = load(path, strict=True)
    assert cfg.line == line and cfg.container == ENGINE and cfg.jvm_route is None
    assert cfg.problems == []
    assert_tomcat_default_cluster(cfg)


def assert_tomcat_default_cluster(cfg: ClusterConfig) -> None:
    """SimpleTcpCluster.checkDefaults + GroupChannel's constructor, element by element."""
    assert cfg.get("channelSendOptions") == 8  # Channel.SEND_OPTIONS_ASYNCHRONOUS
    assert cfg.manager.short_name == "DeltaManager" and cfg.manager.implicit
    ch = cfg.channel
    assert ch.implicit and ch.short_name == "GroupChannel"
    assert ch.membership.short_name == "McastService" and ch.membership.implicit
    assert ch.receiver.short_name == "NioReceiver" and ch.receiver.implicit
    assert ch.sender.short_name == "ReplicationTransmitter" and ch.sender.implicit
    assert ch.sender.transport.short_name == "PooledParallelSender" and ch.sender.transport.implicit
    assert shorts(ch.interceptors) == ["MessageDispatchInterceptor", "TcpFailureDetector"]
    assert shorts(cfg.cluster_listeners) == ["ClusterSessionListener"]
    assert shorts(cfg.valves) == ["JvmRouteBinderValve", "ReplicationValve"]
    assert cfg.deployer is None
    assert (ch.membership.address, ch.membership.port, ch.membership.frequency, ch.membership.drop_time) == \
        ("228.0.0.4", 45564, 500, 3000)
    assert (ch.receiver.address, ch.receiver.port, ch.receiver.auto_bind) == ("auto", 4000, 100)


def test_bare_cluster_and_python_default_are_the_same() -> None:
    cfg = loads(server('<Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster"/>'))
    assert_tomcat_default_cluster(cfg)
    assert_tomcat_default_cluster(ClusterConfig.default())
    assert ClusterConfig.default().to_json()["children"] == cfg.to_json()["children"]


def test_single_interceptor_gets_message_dispatch_on_top() -> None:
    # GroupChannel.setupDefaultStack: exactly one interceptor -> MessageDispatchInterceptor added first
    cfg = loads(server(f'''<Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster">
      <Channel className="org.apache.catalina.tribes.group.GroupChannel">
        <Interceptor className="{IC}TcpFailureDetector"/>
      </Channel></Cluster>'''))
    assert shorts(cfg.channel.interceptors) == ["MessageDispatchInterceptor", "TcpFailureDetector"]
    assert [i.implicit for i in cfg.channel.interceptors] == [True, False]


def test_backup_style_cluster_without_valves_gets_default_valves_but_keeps_listeners() -> None:
    cfg = loads(server('''<Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster">
      <Valve className="org.apache.catalina.ha.tcp.ReplicationValve" filter=".*\\.gif"/>
    </Cluster>'''))
    assert shorts(cfg.valves) == ["ReplicationValve"]
    assert cfg.valves[0].get("filter") == ".*\\.gif"


def test_host_level_cluster_names_managers_without_host() -> None:
    text = """<Server><Service name="S"><Engine name="E" defaultHost="a" jvmRoute="r1">
      <Host name="a"/>
      <Host name="b"><Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster"/></Host>
    </Engine></Service></Server>"""
    cfg = loads(text)
    assert cfg.container == HOST and cfg.host_name == "b" and cfg.jvm_route == "r1"
    assert cfg.manager_name("/app") == "/app"
    assert cfg.to_json()["managerNameExample"] == "/app"


def test_engine_level_cluster_names_managers_with_host() -> None:
    cfg = loads(server('<Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster"/>'))
    assert cfg.manager_name("/app") == "localhost#/app"
    assert cfg.manager_name("/app", host="www.example.org") == "www.example.org#/app"
    assert cfg.manager_name("localhost#/app") == "localhost#/app"  # already qualified, as Tomcat checks


def test_choosing_among_several_clusters() -> None:
    text = """<Server><Service name="S"><Engine name="E" defaultHost="a">
      <Host name="a"><Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster" channelSendOptions="6"/></Host>
      <Host name="b"><Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster"/></Host>
    </Engine></Service></Server>"""
    assert loads(text, host="a").get("channelSendOptions") == 6
    assert loads(text, host="b").get("channelSendOptions") == 8
    with pytest.raises(ConfigError, match="choose one with host=NAME"):
        loads(text)


def test_cluster_fragment_root_is_engine_level() -> None:
    cfg = loads('<Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster"/>')
    assert cfg.container == ENGINE and cfg.manager_name("/x") == "localhost#/x"


# --------------------------------------------------------------------------- attributes and types


def test_static_membership_members_and_byte_arrays() -> None:
    cfg = loads(server('''<Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster">
      <Channel className="org.apache.catalina.tribes.group.GroupChannel">
        <Membership className="org.apache.catalina.tribes.membership.StaticMembershipService">
          <LocalMember className="org.apache.catalina.tribes.membership.StaticMember"
                       domain="{1,2,-1}" uniqueId="{0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15}"/>
          <Member className="org.apache.catalina.tribes.membership.StaticMember"
                  host="10.77.0.2" port="4000" domain="test-domain"
                  uniqueId="{-1,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15}"/>
          <Member className="org.apache.catalina.tribes.membership.StaticMember"
                  host="{10,77,0,3}" port="4001" uniqueId="{2,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15}"/>
        </Membership>
        <Interceptor className="{IC}TcpFailureDetector"/>
        <Interceptor className="{IC}StaticMembershipInterceptor"/>
      </Channel></Cluster>'''.replace("{IC}", IC)), strict=True)
    mem = cfg.channel.membership
    assert mem.short_name == "StaticMembershipService"
    assert mem.local_member is not None and mem.local_member.local
    assert mem.local_member.get("domain") == b"\x01\x02\xff"
    assert mem.local_member.get("uniqueId") == bytes(range(16))
    assert [m.get("host") for m in mem.members] == ["10.77.0.2", b"\x0a\x4d\x00\x03"]
    assert mem.members[0].get("domain") == b"test-domain"
    assert mem.members[0].get("uniqueId")[0] == 0xFF
    assert mem.get("expirationTime") == 5000 and mem.get("pingInterval") == 1000
    assert cfg.to_json()["children"][1]["children"][0]["children"][0]["attributes"]["domain"] == "{1,2,-1}"


def test_send_options_by_name_and_number() -> None:
    def opts(value: str) -> int:
        return loads(server(f'<Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster" '
                            f'channelSendOptions="{value}"/>')).get("channelSendOptions")

    assert opts("6") == 6
    assert opts("use_ack,sync") == 6
    assert opts("async, use_ack") == 10
    assert opts("asynchronous") == 8


def test_attribute_names_follow_introspection_utils() -> None:
    # IntrospectionUtils upper-cases only the first letter: "Port" finds setPort, aliases forward
    cfg = loads(server('''<Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster">
      <Channel className="org.apache.catalina.tribes.group.GroupChannel">
        <Membership className="org.apache.catalina.tribes.membership.McastService" Port="45565"
                    mcastDropTime="6000" mcastBindAddress="127.0.0.1"/>
        <Receiver className="org.apache.catalina.tribes.transport.nio.NioReceiver" host="127.0.0.1"/>
      </Channel></Cluster>'''), strict=True)
    mem = cfg.channel.membership
    assert mem.port == 45565 and mem.drop_time == 6000 and mem.bind == "127.0.0.1"
    assert "mcastDropTime" not in mem.effective_attributes()
    assert cfg.channel.receiver.address == "127.0.0.1"


def test_booleans_and_integers_as_java_parses_them() -> None:
    cfg = loads(server('''<Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster">
      <Manager className="org.apache.catalina.ha.session.DeltaManager" expireSessionsOnShutdown="TRUE"
               maxActiveSessions="+10" stateTransferTimeout="-0"/></Cluster>'''))
    assert cfg.manager.get("expireSessionsOnShutdown") is True
    assert cfg.manager.get("maxActiveSessions") == 10
    assert cfg.manager.get("stateTransferTimeout") == 0


def test_version_specific_attributes_are_known() -> None:
    # 9.0 spelling of stateTransferred and 10.1's sessionActivityCheck are both accepted
    cfg = loads(server('''<Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster">
      <Manager className="org.apache.catalina.ha.session.DeltaManager" stateTransfered="false"
               sessionActivityCheck="true"/></Cluster>'''), strict=True)
    assert cfg.manager.get("sessionActivityCheck") is True
    spec = TOMCAT_CLASSES["org.apache.catalina.ha.session.DeltaManager"]["attributes"]
    assert spec["stateTransfered"]["versions"] == ("9",)
    assert spec["sessionActivityCheck"]["versions"] == ("10",)


def test_tomcat9_bio_classes_are_served_by_nio_ones() -> None:
    cfg = loads(server('''<Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster">
      <Channel className="org.apache.catalina.tribes.group.GroupChannel">
        <Receiver className="org.apache.catalina.tribes.transport.bio.BioReceiver" port="4010"/>
        <Sender className="org.apache.catalina.tribes.transport.ReplicationTransmitter">
          <Transport className="org.apache.catalina.tribes.transport.bio.PooledMultiSender" poolSize="5"/>
        </Sender>
      </Channel></Cluster>'''), strict=True)
    assert cfg.channel.receiver.implementation.python == "tribes.transport.receiver:NioReceiver"
    assert cfg.channel.receiver.port == 4010
    assert cfg.channel.sender.transport.pool_size == 5
    assert sum("same wire format" in p.message for p in cfg.notes) == 2


def test_unknown_attribute_is_a_warning_with_element_attribute_and_line(caplog: pytest.LogCaptureFixture) -> None:
    text = server('''<Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster">
      <Channel className="org.apache.catalina.tribes.group.GroupChannel">
        <Membership className="org.apache.catalina.tribes.membership.McastService" frequncy="500"/>
      </Channel></Cluster>''')
    with caplog.at_level(logging.WARNING, logger="tribes.config"):
        cfg = loads(text, source="server.xml")
    (warning,) = cfg.warnings
    assert warning.line == line_of(text, "frequncy") and warning.element == "Membership"
    assert warning.attribute == "frequncy"
    assert "has no attribute 'frequncy'" in warning.message and "did you mean 'frequency'" in warning.message
    assert f"server.xml:{warning.line}: warning" in caplog.text
    assert cfg.channel.membership.frequency == 500  # the default stays, as in Tomcat
    with pytest.raises(ConfigError) as err:
        loads(text, source="server.xml", strict=True)
    assert err.value.errors[0].line == warning.line and "strict mode" in str(err.value)


def test_cloud_membership_accepts_any_attribute_like_tomcat() -> None:
    # CloudMembershipService has setProperty(name, value): Tomcat accepts any attribute; we do in the model
    mem = Membership(class_name="org.apache.catalina.tribes.membership.cloud.CloudMembershipService")
    assert mem.accepts_any_attribute()
    assert mem.convert_value("anything", "x") == "x"


# --------------------------------------------------------------------------- ${property}


@pytest.mark.parametrize("value, expected", [
    ("${a}", "1"),
    ("x${a}y${b}z", "x1y2z"),
    ("${missing}", "${missing}"),
    ("${missing:-42}", "42"),
    ("${a:-42}", "1"),
    ("$a ${a", "$a ${a"),
    ("$", "$"),
    ("${nested}", "1"),
    ("${loop}", "${loop}"),
    ("", ""),
])
def test_replace_properties_like_introspection_utils(value: str, expected: str) -> None:
    props = {"a": "1", "b": "2", "nested": "${a}", "loop": "${loop}"}
    assert replace_properties(value, props.get) == expected


def test_properties_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    text = server('''<Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster">
      <Channel className="org.apache.catalina.tribes.group.GroupChannel">
        <Receiver className="org.apache.catalina.tribes.transport.nio.NioReceiver" port="${rx.port:-4005}"
                  address="${RX_ADDR}"/>
      </Channel></Cluster>''', engine_attrs='jvmRoute="${route}"')
    monkeypatch.setenv("RX_ADDR", "127.0.0.9")
    cfg = loads(text, properties={"route": "n7", "RX_ADDR": "127.0.0.8"})
    assert cfg.channel.receiver.port == 4005 and cfg.jvm_route == "n7"
    assert cfg.channel.receiver.address == "127.0.0.8"
    cfg = loads(text, properties={"rx.port": "4100", "RX_ADDR": "127.0.0.8"}, environment=True)
    assert cfg.channel.receiver.port == 4100
    assert cfg.channel.receiver.address == "127.0.0.9"  # the environment source comes first, as in Tomcat
    assert cfg.jvm_route == "${route}"  # unresolved stays as written


# --------------------------------------------------------------------------- overrides and the API


def test_overrides_per_host() -> None:
    cfg = load(WALKTHROUGH, bind="127.0.0.5", receiver_port="4100", jvm_route="py1")
    assert cfg.channel.membership.bind == "127.0.0.5"
    assert cfg.channel.receiver.address == "127.0.0.5" and cfg.channel.receiver.port == 4100
    assert cfg.jvm_route == "py1"
    assert len(cfg.notes) == 3  # the file's findings survive the override
    base = load(WALKTHROUGH)
    assert base.channel.receiver.port == 4000  # with_overrides copies
    other = base.with_overrides(mcast_address="228.0.0.5", mcast_port=45600, domain="d1")
    assert (other.channel.membership.address, other.channel.membership.port) == ("228.0.0.5", 45600)
    assert other.channel.membership.domain == b"d1"


def test_python_api_builds_the_same_configuration() -> None:
    cfg = ClusterConfig.of("SimpleTcpCluster", channel_send_options=8)
    assert isinstance(cfg, ClusterConfig)
    cfg.channel.membership = Membership.of("McastService", address="228.0.0.4", port=45564, frequency=500,
                                           drop_time=3000)
    cfg.channel.receiver.set("port", 4000)
    cfg.channel.receiver.set("selector_timeout", 5000)
    cfg.channel.receiver.set("maxThreads", "6")
    cfg.channel.interceptors = [Interceptor.of(IC + "TcpFailureDetector"),
                                Interceptor.of("MessageDispatchInterceptor")]
    cfg.apply_tomcat_defaults()
    cfg.validate(strict=True)
    walkthrough = load(WALKTHROUGH)
    assert cfg.channel.membership.effective_attributes() == walkthrough.channel.membership.effective_attributes()
    assert cfg.channel.receiver.effective_attributes() == walkthrough.channel.receiver.effective_attributes()
    assert shorts(cfg.channel.interceptors) == shorts(walkthrough.channel.interceptors)
    with pytest.raises(ConfigError, match="not a TCP/UDP port"):
        cfg.channel.receiver.set("port", 0)
    with pytest.raises(ConfigError, match="has no attribute 'prot'"):
        cfg.channel.receiver.set("prot", 1)
    with pytest.raises(AttributeError):
        _ = cfg.channel.receiver.no_such_thing


def test_validate_after_api_edits_finds_problems() -> None:
    cfg = ClusterConfig.default()
    cfg.channel.membership.attributes["frequency"] = 0  # bypassing set()
    cfg.channel.interceptors.append(Interceptor(class_name=IC + "NonBlockingCoordinator"))
    with pytest.raises(ConfigError) as err:
        cfg.validate()
    text = str(err.value)
    assert "must be greater than 0" in text and "not supported: NonBlockingCoordinator" in text


def test_deepcopy_and_json_roundtrip() -> None:
    cfg = load(WALKTHROUGH)
    clone = copy.deepcopy(cfg)
    assert clone.to_json() == cfg.to_json()
    js = cfg.to_json(include_runtime=False)
    assert js["jvmRoute"] == "node1" and js["container"] == "Engine"
    assert "expiredSessions" not in js["children"][0]["attributes"]
    assert js["children"][1]["children"][0]["attributes"]["frequency"] == 500


def test_registry_covers_every_tomcat_class_in_the_specs() -> None:
    for name in TOMCAT_CLASSES:
        assert name in registry.REGISTRY, name
    for entry in registry.REGISTRY.values():
        if entry.status in (registry.SUPPORTED, registry.ALIAS):
            assert entry.python and ":" in entry.python
        if entry.status == registry.UNSUPPORTED:
            assert entry.note.startswith("not supported: ") and " use" in entry.note or "remove" in entry.note


def test_java_listeners_are_reported_not_built() -> None:
    text = server('''<Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster">
      <Listener className="com.example.ClusterLifecycle" level="3"/>
      <Channel className="org.apache.catalina.tribes.group.GroupChannel">
        <ChannelListener className="com.example.Audit"/>
      </Channel></Cluster>''')
    cfg = loads(text)
    assert [p.severity for p in cfg.problems] == ["note", "warning"]
    assert "LifecycleListener" in cfg.notes[0].message and "add_channel_listener" in cfg.warnings[0].message
    assert cfg.others[0].TAG == "Listener" and cfg.others[0].attributes == {"level": "3"}
    cfg.validate()  # the Java listener is not an error after loading
    with pytest.raises(ConfigError, match="a Java listener cannot run"):
        loads(text, strict=True)
