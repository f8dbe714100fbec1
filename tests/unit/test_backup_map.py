"""The replicated map core (AbstractReplicatedMap rules) and BackupManager between Python nodes on loopback.

The Tomcat side of the same rules is proven in tests/interop/test_backup_tomcat10.py; these tests pin
the state machine without Java (member failure rules, replies, bad input) and the RPC plumbing.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tribes.group import GroupChannel, LocalOnlyMembership
from tribes.group.rpc import ALL_REPLY, FIRST_REPLY, RpcChannel
from tribes.javaser import JavaInteger, dumps
from tribes.managers.backup import BackupManager, BackupManagerConfig
from tribes.membership.member import Member
from tribes.tipis.map_message import (MSG_ACCESS, MSG_BACKUP, MSG_NOTIFY_MAPMEMBER, MSG_PING, MSG_PROXY, MSG_REMOVE,
                                      MSG_STATE, MapMessage)
from tribes.tipis.replicated_map import INITIALIZED, Publish, ReplicatedMapCore, Send
from tribes.transport import NioReceiver, PooledParallelSender, ReplicationTransmitter


def mem(i: int) -> Member:
    return Member(host=bytes([10, 0, 0, i]), port=4000, unique_id=bytes([i] * 16))


L, A, B, C = mem(1), mem(2), mem(3), mem(4)


def core(*members: Member) -> ReplicatedMapCore:
    c = ReplicatedMapCore("localhost#/app-map", L)
    c.set_channel_members(members)
    for m in members:
        c.map_member_added(m, 0)
    return c


def test_put_publishes_round_robin_and_replicates_to_backup() -> None:
    c = core(A, B)
    assert c.put("k1", "v1", 0) == [Publish("k1")]
    assert [c.next_backup_index() for _ in range(4)] == [0, 1, 0, 1]
    msg = c.backup_message("k1", A)
    assert msg is not None and msg.msgtype == MSG_BACKUP and msg.key() == "k1" and msg.value() == "v1"
    assert msg.primary == L and msg.nodes == (A,)
    c.set_backup("k1", (A,))
    assert c.proxy_message("k1", (A,)).msgtype == MSG_PROXY
    # opaque values are not diffable: only a complete replication sends something
    assert c.replicate("k1", False, 10) is None
    send = c.replicate("k1", True, 10)
    assert isinstance(send, Send) and send.members == (A,) and send.message.value() == "v1"
    assert c.entries["k1"].role == "primary"


def test_messages_make_proxies_backups_and_remove_them() -> None:
    c = core(A, B)
    mid = c.map_id
    c.handle(MapMessage.new(mid, MSG_PROXY, key="p", primary=A, nodes=[B]), A, 0)
    c.handle(MapMessage.new(mid, MSG_BACKUP, key="b", value="val", primary=A, nodes=[L]), A, 0)
    assert c.entries["p"].role == "proxy" and c.entries["p"].primary == A and c.entries["p"].backup_nodes == (B,)
    assert c.entries["b"].role == "backup" and c.entries["b"].value == "val"
    assert c.size() == 1 and c.size_full() == 2
    c.handle(MapMessage.new(mid, MSG_ACCESS, key="p", primary=B, nodes=[A]), B, 0)
    assert c.entries["p"].primary == B and c.entries["p"].backup_nodes == (A,)
    c.handle(MapMessage.new(mid, MSG_NOTIFY_MAPMEMBER, key="b", primary=B, nodes=[L]), B, 0)
    assert c.entries["b"].primary == B
    c.handle(MapMessage.new(mid, MSG_REMOVE, key="p"), A, 0)
    assert "p" not in c.entries


def test_member_failure_rules() -> None:
    c = core(A, B)
    mid = c.map_id
    c.put("mine", "v", 0)
    c.set_backup("mine", (A,))
    c.handle(MapMessage.new(mid, MSG_BACKUP, key="heirs", value="h", primary=A, nodes=[L]), A, 0)   # we are backup
    c.handle(MapMessage.new(mid, MSG_PROXY, key="orphan", primary=A, nodes=[B]), A, 0)
    c.handle(MapMessage.new(mid, MSG_PROXY, key="lost", primary=B, nodes=[A]), B, 0)
    c.handle(MapMessage.new(mid, MSG_PROXY, key="gone", primary=A, nodes=[A]), A, 0)
    made: list[Any] = []
    c.handler.object_made_primary = lambda k, v, now: made.append(k)  # type: ignore[method-assign]
    actions = c.member_disappeared(A, 5)
    # a primary that lost its backup publishes a new one; a backup whose primary died becomes primary
    assert Publish("mine") in actions and Publish("heirs") in actions
    assert c.entries["heirs"].role == "primary" and made == ["heirs"]
    # a proxy whose primary died keeps its (alive) backup; one with neither primary nor backup left is
    # dropped; one whose primary lives on stays as it is
    assert c.entries["orphan"].primary is None and c.entries["orphan"].backup_nodes == (B,)
    assert "gone" not in c.entries
    assert c.entries["lost"].primary == B
    assert c.member_disappeared(A, 6) == []           # not a map member any more
    assert list(c.map_members) == [B]


def test_state_and_ping_replies() -> None:
    c = core(A)
    c.put("x", "1", 0)
    c.set_backup("x", (A,))
    c.handle(MapMessage.new(c.map_id, MSG_PROXY, key="y", primary=A, nodes=[L]), A, 0)
    reply, _ = c.reply_request(MapMessage(c.map_id, MSG_STATE), A, 0)
    assert reply is not None
    items = [MapMessage.from_java(v) for v in reply.value()]
    assert sorted((m.msgtype, m.key(), m.value_bytes) for m in items) == [(MSG_PROXY, "x", None), (MSG_PROXY, "y", None)]
    c.state = INITIALIZED
    pong, _ = c.reply_request(MapMessage(c.map_id, MSG_PING, primary=A), A, 0)
    assert pong is not None and pong.primary == L and pong.value().name == "INITIALIZED"
    # a node that answers INITIALIZED stays; silence past accessTimeout removes it
    c2 = core(A, B)
    c2.ping_replies([(A, pong.to_java())], 10_000)
    assert [m.name for m in c2.map_members] == [A.name, B.name]
    c2.expire_members(10_001)
    assert list(c2.map_members) == [A]


def test_bad_input_is_dropped_and_counted_and_nothing_else_changes() -> None:
    c = core(A)
    c.handle(MapMessage.new(c.map_id, MSG_PROXY, key="keep", primary=A, nodes=[L]), A, 0)
    before = {k: e.role for k, e in c.entries.items()}
    c.handle(MapMessage(c.map_id, 99, key_bytes=dumps("x")), A, 0)                       # unknown type
    c.handle(MapMessage(c.map_id, MSG_PROXY, key_bytes=b"\xac\xed\x00\x05\x74\x00"), A, 0)  # corrupt key
    c.handle(MapMessage(c.map_id, MSG_BACKUP, key_bytes=dumps("v"), value_bytes=b"junk"), A, 0)  # corrupt value
    assert c.bad_messages == 3
    assert {k: e.role for k, e in c.entries.items()} == before


# -- between Python nodes on loopback --------------------------------------------------------------
def channel() -> GroupChannel:
    return GroupChannel(NioReceiver(address="127.0.0.1", port=47400),
                        ReplicationTransmitter(PooledParallelSender(timeout=3000)), LocalOnlyMembership(),
                        heartbeat=False)


async def until(pred: Any, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, "condition not reached"
        await asyncio.sleep(0.01)


def test_three_python_backup_managers_primary_backup_proxy_and_failover() -> None:
    async def go() -> None:
        chans = [channel() for _ in range(3)]
        for ch in chans:
            await ch.start()
        for ch in chans:
            for other in chans:
                if other is not ch:
                    ch.membership_service.add_member(other.local_member)  # type: ignore[attr-defined]
        await asyncio.sleep(0.1)
        cfg = BackupManagerConfig(rpc_timeout=3000)
        mgrs = [BackupManager("localhost#/app", cfg, f"py{i}") for i in range(3)]
        try:
            for m, ch in zip(mgrs, chans):
                await m.start(ch)
            a = mgrs[0]
            s = a.create_session(int(time.time() * 1000))
            s.set_attribute("n", JavaInteger(7))
            a.end_request(s.id, int(time.time() * 1000))
            await a.flush()
            await until(lambda: all(s.id in m.map.entries for m in mgrs[1:]))
            roles = sorted(m.map.entries[s.id].role for m in mgrs[1:])
            assert roles == ["backup", "proxy"]
            backup = next(m for m in mgrs[1:] if m.map.entries[s.id].role == "backup")
            proxy = next(m for m in mgrs[1:] if m.map.entries[s.id].role == "proxy")
            await until(lambda: backup.map.entries[s.id].value.attributes.get("n") == 7)   # the diff arrived
            assert proxy.find_session(s.id) is None
            got = await proxy.load(s.id)                   # RETRIEVE_BACKUP, then primary here
            assert got is not None and got.attributes == {"n": 7, **{}} and got.primary
            assert proxy.map.entries[s.id].role == "primary"
            await until(lambda: a.map.entries[s.id].role == "proxy")
            # an RPC for a map nobody hosts is answered at once with NoRpcChannelReply (no timeout)
            stray = RpcChannel(b"no-such-map", chans[0], _NullCallback())
            t0 = time.monotonic()
            assert await stray.send([chans[1].local_member], "hello", FIRST_REPLY, 2, 10_000) == []
            assert time.monotonic() - t0 < 8
            # ALL_REPLY ping of the real map gets both answers
            resp = await a.map.rpc_channel.send([c.local_member for c in chans[1:]], a.map.core.ping_message().to_java(),
                                                ALL_REPLY, 2, 5000)
            assert len(resp) == 2
        finally:
            for m in mgrs:
                await m.stop()
            for ch in chans:
                await ch.stop()
    asyncio.run(go())


class _NullCallback:
    def reply_request(self, msg: Any, sender: Member) -> Any:
        return None

    def left_over(self, msg: Any, sender: Member) -> None:
        pass


@pytest.mark.parametrize("attrs,expected", [
    ({"mapSendOptions": "use_ack", "rpcTimeout": "2000", "accessTimeout": "100",
      "terminateOnStartFailure": "true", "expireSessionsOnShutdown": "false"},
     dict(map_send_options=2, rpc_timeout=2000, access_timeout=100, terminate_on_start_failure=True)),
    ({}, dict(map_send_options=6, rpc_timeout=15000, access_timeout=5000, terminate_on_start_failure=False,
              notify_listeners_on_replication=True)),
])
def test_config_defaults_and_attributes(attrs: dict[str, str], expected: dict[str, Any]) -> None:
    cfg = BackupManagerConfig.from_attributes(attrs)
    for k, v in expected.items():
        assert getattr(cfg, k) == v


def test_cluster_backup_contexts_and_sessions_json(capsys: pytest.CaptureFixture[str]) -> None:
    """SimpleTcpCluster(backup_config=...) hands out BackupContexts; `tribes sessions --json` shows roles."""
    import json

    from tribes.cli.sessions import _print_sessions
    from tribes.managers.backup import BackupContext
    from tribes.managers.cluster import SimpleTcpCluster

    async def go() -> None:
        chans = [channel() for _ in range(2)]
        clusters = [SimpleTcpCluster(ch, jvm_route=f"py{i}", backup_config=BackupManagerConfig(rpc_timeout=3000))
                    for i, ch in enumerate(chans)]
        for c in clusters:
            c.manager("/app")
        await chans[0].start()
        await chans[1].start()
        chans[0].membership_service.add_member(chans[1].local_member)  # type: ignore[attr-defined]
        chans[1].membership_service.add_member(chans[0].local_member)  # type: ignore[attr-defined]
        await asyncio.sleep(0.1)
        try:
            for c in clusters:
                await c.start()
            ctx = clusters[0].manager("/app")
            assert isinstance(ctx, BackupContext) and ctx.name == "localhost#/app"
            s = ctx.create_session({"user": "alice"})
            with ctx.request(s.id) as sess:
                sess.set_attribute("n", JavaInteger(1))
            await clusters[0].flush()
            other = clusters[1].manager("/app")
            await until(lambda: other.role(s.id) == "backup")
            held = other.backup_manager.map.entries   # read the backup without taking it over (get_session would)
            await until(lambda: held[s.id].value is not None and held[s.id].value.attributes.get("n") == 1)
            capsys.readouterr()
            _print_sessions(clusters[0], True)
            rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
            mine = [r for r in rows if r.get("id") == s.id]
            assert len(mine) == 1 and mine[0]["role"] == "primary"
            assert mine[0]["backupMembers"] == [chans[1].local_member.name]
            assert mine[0]["attributes"]["user"]["value"] == "alice"
            _print_sessions(clusters[1], False)            # the table: role, primary and backup per session
            text = capsys.readouterr().out
            assert f"[backup; primary {chans[0].local_member.name}; backup {chans[1].local_member.name}]" in text
            # a request on the backup node takes the session over (Tomcat's map.get on a backup entry)
            assert other.get_session(s.id) is not None and other.role(s.id) == "primary"
            await until(lambda: ctx.role(s.id) == "backup")
        finally:
            for c in clusters:
                await c.stop()
    asyncio.run(go())


def test_server_xml_selects_backup_manager_with_its_attributes() -> None:
    """A <Manager className="...BackupManager"> becomes BackupManager contexts through the config assembler."""
    from tribes.config import loads
    from tribes.config.build import manager_class, manager_settings
    xml = ('<Server><Service name="Catalina"><Engine name="Catalina" defaultHost="localhost" jvmRoute="py1">'
           '<Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster">'
           '<Manager className="org.apache.catalina.ha.session.BackupManager" mapSendOptions="use_ack" '
           'rpcTimeout="2000" accessTimeout="3000" terminateOnStartFailure="true" '
           'notifyListenersOnReplication="false"/>'
           '</Cluster></Engine></Service></Server>')
    cfg = loads(xml)
    assert manager_class(cfg) is BackupManager
    settings = manager_settings(cfg)
    assert isinstance(settings, BackupManagerConfig)
    assert (settings.map_send_options, settings.rpc_timeout, settings.access_timeout) == (2, 2000, 3000)
    assert settings.terminate_on_start_failure and not settings.notify_listeners_on_replication
    from tribes.managers.cluster import SimpleTcpCluster

    class _Chan:
        def add_channel_listener(self, listener: Any) -> None: ...

        def add_membership_listener(self, listener: Any) -> None: ...

    cluster = SimpleTcpCluster(_Chan(), manager_config=settings)
    from tribes.managers.backup import BackupContext
    ctx = cluster.manager("/app")
    assert isinstance(ctx, BackupContext) and ctx.backup_manager.map_name == "localhost#/app-map"
    assert ctx.backup_manager.config.rpc_timeout == 2000


def test_big_state_transfer_is_built_and_read_off_the_loop_and_complete() -> None:
    """2,000 entries: the STATE reply is built in a worker thread and read in one; the loop keeps ticking."""
    async def go() -> None:
        a_ch, b_ch = channel(), channel()
        await a_ch.start()
        await b_ch.start()
        a = BackupManager("localhost#/app", BackupManagerConfig(rpc_timeout=20000), "pya")
        b = BackupManager("localhost#/app", BackupManagerConfig(rpc_timeout=20000), "pyb")
        try:
            await a.start(a_ch)
            now = int(time.time() * 1000)
            ids = {a.create_session(now).id for _ in range(2000)}
            a_ch.membership_service.add_member(b_ch.local_member)  # type: ignore[attr-defined]
            b_ch.membership_service.add_member(a_ch.local_member)  # type: ignore[attr-defined]
            await asyncio.sleep(0.1)
            gaps: list[float] = []

            async def ticker() -> None:
                last = time.monotonic()
                while True:
                    await asyncio.sleep(0.01)
                    t = time.monotonic()
                    gaps.append(t - last)
                    last = t
            tick = asyncio.ensure_future(ticker())
            await b.start(b_ch)
            tick.cancel()
            assert b.map is not None and set(b.map.entries) >= ids
            assert all(b.map.entries[i].primary == a_ch.local_member for i in ids)
            assert gaps and max(gaps) < 5.0   # never near accessTimeout (generous: the machine is shared)
            # B's START made it a map member of A: A's primaries without a backup now get B (mapMemberAdded)
            await a.flush()
            await until(lambda: {b.map.entries[i].role for i in ids} == {"backup"}, timeout=60)
            assert all(a.map.entries[i].backup_nodes == (b_ch.local_member,) for i in ids)
        finally:
            await b.stop()
            await a.stop()
            await a_ch.stop()
            await b_ch.stop()
    asyncio.run(go())


def test_failed_ping_drops_the_faulty_member_and_expires_nobody_else() -> None:
    """Tomcat's ping: a send that fails for a (dead, not yet dropped) member removes that member and ends
    the round; the other members' replies were not collected, so they are not timed out."""
    from tribes.channel import ChannelException, FaultyMember
    from tribes.tipis.lazy_map import LazyReplicatedMap

    class FakeChannel:
        local_member = L
        channel_listeners: list[Any] = []

        def members(self) -> list[Member]:
            return [A, B]

        def add_channel_listener(self, listener: Any) -> None:
            self.channel_listeners.append(listener)

        def remove_channel_listener(self, listener: Any) -> None:
            pass

        def add_membership_listener(self, listener: Any) -> None:
            pass

        async def send(self, members: Any, message: Any, options: int) -> None:
            raise ChannelException("send failed", faulty_members=[FaultyMember(A, ConnectionRefusedError())])

    async def go() -> None:
        m = LazyReplicatedMap(FakeChannel(), "localhost#/app-map", rpc_timeout=100, access_timeout=100)
        from tribes.group.rpc import RpcChannel
        m.rpc_channel = RpcChannel(m.core.map_id, m.channel, m)
        m.core.set_channel_members([A, B])
        m.core.map_members.update({A: 0, B: 0})      # both silent for "ages"
        m.core.state = INITIALIZED
        await m.ping()
        assert list(m.core.map_members) == [B]        # A failed the send; B was not expired
    asyncio.run(go())
