"""A table of bad configurations: each one fails with its own clear message, at the right line."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import pytest

from tribes.config import ConfigError, load, loads

STC = 'className="org.apache.catalina.ha.tcp.SimpleTcpCluster"'
GC = 'className="org.apache.catalina.tribes.group.GroupChannel"'
MC = 'className="org.apache.catalina.tribes.membership.McastService"'
NR = 'className="org.apache.catalina.tribes.transport.nio.NioReceiver"'
SM = 'className="org.apache.catalina.tribes.membership.StaticMember"'
SMS = 'className="org.apache.catalina.tribes.membership.StaticMembershipService"'
DM = 'className="org.apache.catalina.ha.session.DeltaManager"'
IC = "org.apache.catalina.tribes.group.interceptors."
UID = "{0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15}"


def server(cluster: str, engine_attrs: str = "") -> str:
    return f"""<?xml version="1.0"?>
<Server port="8005" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Engine name="Catalina" defaultHost="localhost" {engine_attrs}>
{cluster}
      <Host name="localhost" appBase="webapps"/>
    </Engine>
  </Service>
</Server>
"""


def in_channel(body: str) -> str:
    return server(f"<Cluster {STC}>\n<Channel {GC}>\n{body}\n</Channel>\n</Cluster>")


def membership(attrs: str) -> str:
    return in_channel(f"<Membership {MC} {attrs}/>")


def receiver(attrs: str) -> str:
    return in_channel(f"<Receiver {NR} {attrs}/>")


@dataclass
class Bad:
    name: str
    xml: str
    expect: list[str]  # every substring must be in the error message
    marker: str | None = None  # the error's line is the first line containing this text
    kwargs: dict[str, Any] = field(default_factory=dict)


BAD: list[Bad] = [
    Bad("not well-formed", server(f"<Cluster {STC}>\n<Channel {GC}>\n</Cluster>"),
        ["not well-formed XML", "mismatched tag"], "</Cluster>"),
    Bad("no cluster", server(""), ["no <Cluster> element", "inside <Engine>"]),
    Bad("cluster without className", server("<Cluster channelSendOptions=\"8\"/>"),
        ["<Cluster> needs a className attribute", "org.apache.catalina.ha.tcp.SimpleTcpCluster"], "<Cluster"),
    Bad("className typo", membership("").replace("McastService", "McastServic"),
        ["unknown className", "Did you mean org.apache.catalina.tribes.membership.McastService?"], "McastServic"),
    Bad("class in the wrong element", in_channel(f"<Membership {NR}/>"),
        ["NioReceiver is a <Receiver> class, not a <Membership>"], "<Membership"),
    Bad("CloudMembershipService provider",
        in_channel('<Membership className="org.apache.catalina.tribes.membership.cloud.CloudMembershipService" '
                   'membershipProviderClassName="consul"/>'),
        ["membershipProviderClassName", "use 'kubernetes' or 'dns'"], "consul"),
    Bad("EncryptInterceptor key length", in_channel(f'<Interceptor className="{IC}EncryptInterceptor" encryptionKey="cafe"/>'),
        ["encryptionKey is 2 bytes", "32, 48 or 64 hex digits"], "cafe"),
    Bad("coordinator", in_channel(f'<Interceptor className="{IC}NonBlockingCoordinator"/>'),
        ["not supported: NonBlockingCoordinator", "leader election"], "NonBlockingCoordinator"),
    Bad("removed listener",
        server(f'<Cluster {STC}><ClusterListener '
               'className="org.apache.catalina.ha.session.JvmRouteSessionIDBinderListener"/></Cluster>'),
        ["removed in Tomcat 8", "delete this <ClusterListener>"], "JvmRouteSessionIDBinderListener"),
    Bad("Tomcat 5.5 class", server('<Cluster className="org.apache.catalina.cluster.tcp.SimpleTcpCluster"/>'),
        ["Tomcat 5.5 class name", "org.apache.catalina.ha"], "<Cluster"),
    Bad("custom Java class", in_channel('<Interceptor className="com.example.AuditInterceptor"/>'),
        ["a Java class cannot run in a Python node", "Python implementation"], "AuditInterceptor"),
    Bad("request valve inside cluster",
        server(f'<Cluster {STC}><Valve className="org.apache.catalina.valves.AccessLogValve"/></Cluster>'),
        ["request valve, not a ClusterValve", "outside <Cluster>"], "AccessLogValve"),
    Bad("port not a number", receiver('port="40O0"'),
        ["attribute port=\"40O0\"", "'40O0' is not an integer"], "40O0"),
    Bad("port out of range", receiver('port="70000"'), ["70000 is not a TCP/UDP port (1..65535)"], "70000"),
    Bad("int overflow", receiver('maxThreads="3000000000"'), ["out of range for an integer (Java int)"],
        "3000000000"),
    Bad("not a multicast group", membership('address="10.0.0.1"'),
        ["10.0.0.1 is not a multicast address", "228.0.0.4"], "10.0.0.1"),
    Bad("zero frequency", membership('frequency="0"'), ["attribute frequency=\"0\"", "must be greater than 0"],
        'frequency="0"'),
    Bad("dropTime below frequency", membership('frequency="500" dropTime="400"'),
        ["dropTime (400 ms) must be larger than frequency (500 ms)"], "dropTime"),
    Bad("ttl", membership('ttl="300"'), ["300 is not a multicast TTL (0..255)"], "ttl"),
    Bad("boolean", server(f'<Cluster {STC}><Manager {DM} expireSessionsOnShutdown="yes"/></Cluster>'),
        ["'yes' is not true or false", "read it as false"], "expireSessionsOnShutdown"),
    Bad("bad send option", server(f'<Cluster {STC} channelSendOptions="use_ack,bogus"/>'),
        ["not a send-options value", "bogus", "use_ack"], "channelSendOptions"),
    Bad("undefined property", receiver('port="${cluster.port}"'),
        ["'${cluster.port}' is not an integer", "property is not defined", "--property"], "cluster.port"),
    Bad("uniqueId length", in_channel(f'<Membership {SMS}><Member {SM} host="10.0.0.2" port="4000" '
                                      'uniqueId="{1,2,3}"/></Membership>'),
        ["a uniqueId has 16 bytes, this one has 3"], "uniqueId"),
    Bad("uniqueId byte", in_channel(f'<Membership {SMS}><Member {SM} host="10.0.0.2" port="4000" '
                                    'uniqueId="{300,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15}"/></Membership>'),
        ["'300'", "is not a Java byte (-128..127)"], "uniqueId"),
    Bad("static member without port", in_channel(f'<Membership {SMS}>\n<Member {SM} host="10.0.0.2" '
                                                 f'uniqueId="{UID}"/></Membership>'),
        ["<Member> needs a port attribute"], "<Member "),
    Bad("static membership without members", in_channel(f"<Membership {SMS}/>"),
        ["StaticMembershipService has no <Member> elements"], "<Membership"),
    Bad("bad IPv4", receiver('address="10.0.0.300"'), ["'10.0.0.300' is not a valid IPv4 address"], "10.0.0.300"),
    Bad("bad host name", receiver('address="my host"'), ["'my host' is neither an IP address nor a host name"],
        "my host"),
    Bad("threads", receiver('minThreads="20" maxThreads="6"'),
        ["minThreads (20) is larger than maxThreads (6)"], "minThreads"),
    Bad("autoBind", receiver('autoBind="0"'), ["attribute autoBind=\"0\"", "must be greater than 0"], "autoBind"),
    Bad("object attribute", server(f'<Cluster {STC}><Channel {GC} channelReceiver="nio"/></Cluster>'),
        ["channelReceiver", "takes a Java object", "cannot give"], "channelReceiver"),
    Bad("option flag conflict", in_channel(
        f'<Interceptor className="{IC}MessageDispatchInterceptor"/>\n'
        f'<Interceptor className="{IC}TcpFailureDetector" optionFlag="8"/>').replace(GC, GC + ' optionCheck="true"'),
        ["use the same optionFlag 8", "checkOptionFlags"], 'optionFlag="8"'),
    Bad("interceptor without className", in_channel('<Interceptor optionFlag="0"/>'),
        ["<Interceptor> needs a className attribute"], "<Interceptor"),
    Bad("domain not latin-1", membership('domain="δομή"'), ["outside ISO-8859-1"], "domain"),
    Bad("two clusters", """<Server><Service name="S"><Engine name="E" defaultHost="a">
        <Host name="a"><Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster"/></Host>
        <Host name="b"><Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster"/></Host>
        </Engine></Service></Server>""", ["2 <Cluster> elements", "host=NAME"]),
    Bad("no cluster for host", server(f"<Cluster {STC}/>").replace("<Engine", "<Engine").replace(
        f"<Cluster {STC}/>", ""), ["no <Cluster> for host 'www'"], kwargs={"host": "www"}),
    # strict mode (the default of `tribes config check`): what Tomcat only warns about
    Bad("strict: unknown attribute", membership('frequncy="500"'),
        ["has no attribute 'frequncy'", "did you mean 'frequency'", "strict mode"], "frequncy",
        {"strict": True}),
    Bad("strict: misplaced element", server(f"<Cluster {STC}>\n<Membership {MC}/>\n</Cluster>"),
        ["<Membership> is not read inside <Cluster>", "belongs inside <Channel>"], "<Membership",
        {"strict": True}),
    Bad("strict: duplicate receiver", in_channel(f'<Receiver {NR} port="4000"/>\n<Receiver {NR} port="4001"/>'),
        ["a second <Receiver>", "keeps only the last"], 'port="4001"', {"strict": True}),
    Bad("strict: cluster inside a Context", """<Server><Service name="S"><Engine name="E" defaultHost="a">
        <Host name="a"><Context path="/x">
        <Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster"/></Context></Host>
        </Engine></Service></Server>""", ["inside <Context>", "is not read by Tomcat"], "<Cluster",
        {"strict": True}),
]


def test_table_is_big_and_every_message_is_distinct() -> None:
    always = [b for b in BAD if not b.kwargs.get("strict")]
    assert len(always) >= 20
    messages = []
    for bad in BAD:
        with pytest.raises(ConfigError) as err:
            loads(bad.xml, source="server.xml", **bad.kwargs)
        messages.append(err.value.errors[0].message)
    assert len(set(messages)) == len(messages)


@pytest.mark.parametrize("bad", BAD, ids=[b.name for b in BAD])
def test_bad_configuration(bad: Bad) -> None:
    with pytest.raises(ConfigError) as err:
        loads(bad.xml, source="server.xml", **bad.kwargs)
    errors = err.value.errors
    assert len(errors) == 1, [str(e) for e in errors]
    text = str(err.value)
    for piece in bad.expect:
        assert piece in text, f"{piece!r} not in {text!r}"
    if bad.marker is not None:
        expected = next(n for n, line in enumerate(bad.xml.splitlines(), 1) if bad.marker in line)
        assert errors[0].line == expected
        assert f"server.xml:{expected}: error: " in text
    else:
        assert errors[0].line is None


def test_strict_cases_are_warnings_without_strict() -> None:
    for bad in BAD:
        if not bad.kwargs.get("strict"):
            continue
        try:
            cfg = loads(bad.xml, source="server.xml")
        except ConfigError as exc:
            # a <Cluster> only inside a <Context>: Tomcat ignores it, so there is no cluster at all
            assert bad.name == "strict: cluster inside a Context"
            assert [p.severity for p in exc.problems] == ["warning", "error"]
            assert "no <Cluster> element" in exc.problems[1].message
        else:
            assert len(cfg.warnings) == 1, bad.name
            assert cfg.warnings[0].line is not None


def test_every_error_is_reported_at_once() -> None:
    text = in_channel(f'<Membership {MC} port="x" address="1.2.3.4"/>\n<Receiver {NR} port="0"/>')
    with pytest.raises(ConfigError) as err:
        loads(text)
    assert len(err.value.errors) == 3
    assert str(err.value).startswith("3 configuration errors:")


def test_missing_file(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="cannot read the configuration: No such file"):
        load(os.path.join(str(tmp_path), "nope.xml"))


@pytest.mark.parametrize("kwargs, expect", [
    ({"receiver_port": "http"}, "--receiver-port 'http'"),
    ({"receiver_port": 0}, "not a TCP/UDP port"),
    ({"bind": "300.1.1.1"}, "--bind '300.1.1.1'"),
    ({"jvm_route": "node 1"}, "--jvm-route 'node 1'"),
])
def test_bad_overrides(kwargs: dict[str, Any], expect: str) -> None:
    cfg = loads(server(f"<Cluster {STC}/>"))
    with pytest.raises(ConfigError) as err:
        cfg.with_overrides(**kwargs)
    assert expect in str(err.value)
