"""build_channel: a configuration becomes a working GroupChannel (two nodes on loopback, TTL 0)."""
from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

import pytest

from tribes.config import load, loads
from tribes.config.build import build_channel, channel_plan

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "config")
RICH_PROPS = {"node.route": "n1", "mcast.port": "45599"}


def test_plan_of_the_walkthrough() -> None:
    plan = channel_plan(load(os.path.join(FIXTURES, "walkthrough-server.xml")))
    targets = [s.target.rsplit(":", 1)[-1] for s in plan]
    assert targets == ["McastService", "NioReceiver", "PooledParallelSender", "ReplicationTransmitter",
                       "GroupChannel", "TcpFailureDetector", "MessageDispatchInterceptor"]
    assert plan[0].kwargs == {"address": "228.0.0.4", "port": 45564, "frequency": 500, "drop_time": 3000}
    assert plan[1].kwargs["max_threads"] == 6 and plan[1].kwargs["auto_bind"] == 100


def test_rich_file_builds_every_interceptor_with_its_settings() -> None:
    cfg = load(os.path.join(FIXTURES, "rich-server.xml"), properties=RICH_PROPS)
    channel = build_channel(cfg)
    names = [type(i).__name__ for i in channel.interceptors()]
    assert names == ["DomainFilterInterceptor", "TcpPingInterceptor", "TcpFailureDetector", "GzipInterceptor",
                     "ThroughputInterceptor", "OrderInterceptor", "FragmentationInterceptor",
                     "MessageDispatchInterceptor", "StaticMembershipInterceptor"]
    interceptors = list(channel.interceptors())
    assert interceptors[2].connect_timeout == 2000 and interceptors[2].perform_read_test is True
    assert interceptors[5].max_queue == 100 and interceptors[6].max_size == 65536
    static = interceptors[8]
    assert len(static.members) == 1 and static.members[0].port == 4108
    assert static.local_member is not None and static.local_member.port == 4107  # from the receiver
    assert channel.receiver.port == 4107 and channel.receiver.auto_bind == 5
    assert channel.sender.transport.pool_size == 7
    membership = channel.membership_service
    assert (membership.port, membership.frequency, membership.drop_time) == (45599, 250, 4000)
    assert channel.option_check is True
    # what the Python classes have no parameter for is listed, not silently dropped
    plan = {s.element.TAG: s for s in channel_plan(cfg)}
    assert plan["Transport"].not_applied == ["directBuffer"]


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


XML = """<Server><Service name="S"><Engine name="E" defaultHost="localhost" jvmRoute="${route}">
<Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster" channelSendOptions="6">
  <Channel className="org.apache.catalina.tribes.group.GroupChannel">
    <Membership className="org.apache.catalina.tribes.membership.McastService" address="228.0.0.77"
                port="${mcast.port}" bind="127.0.0.1" ttl="0" frequency="100" dropTime="3000"/>
    <Receiver className="org.apache.catalina.tribes.transport.nio.NioReceiver" address="127.0.0.1"
              port="${rx.port}" autoBind="10"/>
    <Interceptor className="org.apache.catalina.tribes.group.interceptors.TcpFailureDetector"/>
    <Interceptor className="org.apache.catalina.tribes.group.interceptors.MessageDispatchInterceptor"/>
  </Channel>
</Cluster></Engine></Service></Server>"""


@pytest.mark.timeout(120)
def test_two_nodes_built_from_xml_see_each_other_and_exchange_a_message() -> None:
    """Loopback only: membership bound to 127.0.0.1 with multicast TTL 0, receivers on 127.0.0.1."""
    from tribes.group import ByteMessage

    async def scenario() -> None:
        mport = str(_free_port(socket.SOCK_DGRAM))
        a = build_channel(loads(XML, strict=True, properties={
            "route": "a", "mcast.port": mport, "rx.port": str(_free_port(socket.SOCK_STREAM))}))
        b = build_channel(loads(XML, strict=True, properties={
            "route": "b", "mcast.port": mport, "rx.port": str(_free_port(socket.SOCK_STREAM))}))
        got: list[Any] = []

        class Listener:
            def accept(self, msg: Any, sender: Any) -> bool:
                return True

            def message_received(self, msg: Any, sender: Any) -> None:
                got.append(bytes(msg.message) if hasattr(msg, "message") else msg)

        b.add_channel_listener(Listener())
        await a.start()
        try:
            await b.start()
            try:
                for _ in range(300):
                    if a.members() and b.members():
                        break
                    await asyncio.sleep(0.1)
                assert a.members() and b.members(), "the nodes did not find each other within 30 s"
                await a.send(a.members(), ByteMessage(b"hello from config"), 6)
                for _ in range(300):
                    if got:
                        break
                    await asyncio.sleep(0.05)
                assert got and b"hello from config" in got[0]
            finally:
                await b.stop()
        finally:
            await a.stop()

    asyncio.run(scenario())
