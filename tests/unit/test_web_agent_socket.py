"""The agent's Unix socket server with the blocking and asyncio clients (no network: a Unix socket
and an in-memory member): versioned hello, restarts, refusal of other users (file mode and SO_PEERCRED)."""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from typing import Any, Iterator

import pytest

from tribes import javaser as j
from tribes.web.agent import AgentServer
from tribes.web.client import AsyncSessionClient, SessionClient
from tribes.web.errors import AgentUnavailable
from tribes.web.protocol import encode

from tests.unit.web_fakes import LocalBackend


class Running:
    def __init__(self, path: str, mode: int = 0o660, group: int | None = None) -> None:
        self.backend = LocalBackend()
        self.loop = asyncio.new_event_loop()
        self.server = AgentServer(self.backend.service, path, mode=mode, group=group)
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.server.start())
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert ready.wait(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def sockdir() -> Iterator[str]:
    d = tempfile.mkdtemp(prefix="tribes-wc-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_clients_talk_to_the_agent_and_survive_its_restart(sockdir: str) -> None:
    path = os.path.join(sockdir, "agent.sock")
    agent = Running(path)
    try:
        assert oct(os.stat(path).st_mode & 0o777) == "0o660"
        c = SessionClient(path)
        ans = c.call({"op": "commit", "ctx": "/app", "id": None, "set": {"cart": j.dumps(["a"])}})
        sid = ans["id"]
        assert ans["ok"] and sid.endswith(".py1") and c.info["v"] == 1 and c.info["max_write"] == 1 << 20
        got = c.call({"op": "load", "ctx": "/app", "id": sid})
        assert got["found"] and j.loads(got["attrs"]["cart"]) == ["a"]
        with c.session("/app", sid) as s:                      # the blocking API for scripts
            s["cart"] = s["cart"] + ["b"]
        assert agent.backend.dm.sessions[sid].attributes["cart"] == ["a", "b"]

        async def aload() -> dict[str, Any]:
            ac = AsyncSessionClient(path)
            try:
                return await ac.acall({"op": "load", "ctx": "/app", "id": sid})
            finally:
                await ac.aclose()

        assert asyncio.run(aload())["found"]
        bad = c.call({"op": "commit", "ctx": "/app", "id": sid, "set": {"x": b"not java"}})
        assert bad["code"] == "bad_request" and "x" not in agent.backend.dm.sessions[sid].attributes
        assert c.call({"op": "load", "ctx": "/nope", "id": sid})["code"] == "unknown_context"
    finally:
        agent.stop()
    assert not os.path.exists(path)
    with pytest.raises(AgentUnavailable, match="start it with `tribes agent"):
        c.call({"op": "load", "ctx": "/app", "id": sid})
    agent = Running(path)                                       # a new agent: the client reconnects
    try:
        assert c.call({"op": "status"})["ok"]
    finally:
        agent.stop()


def test_protocol_version_mismatch_and_garbage(sockdir: str) -> None:
    import socket
    path = os.path.join(sockdir, "agent.sock")
    agent = Running(path)
    try:
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        s.sendall(encode({"op": "hello", "v": 99}))
        from tribes.web.protocol import FrameDecoder
        ans = FrameDecoder().feed(s.recv(65536))[0]
        assert ans["code"] == "version" and "version 1" in ans["error"]
        s.sendall(b"\xff\xff\xff\xff garbage")                    # a frame far too big: connection closed
        assert s.recv(100) == b""
        s.close()
        assert SessionClient(path).call({"op": "status"})["ok"], "the agent goes on"
    finally:
        agent.stop()


def _as_nobody(path: str) -> subprocess.CompletedProcess[str]:
    code = ("import socket,sys\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "try:\n    s.connect(sys.argv[1])\nexcept OSError as e:\n    print('connect', e.errno); sys.exit(0)\n"
            "try:\n    s.sendall(b'\\x00\\x00\\x00\\x0d\\x82\\xa2op\\xa5hello\\xa1v\\x01')\n"
            "    print('read', len(s.recv(100)))\n"
            "except ConnectionError:\n    print('read 0')\n")
    return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code,
                           path], capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv to connect as another user")
def test_socket_refuses_other_users(sockdir: str) -> None:
    path = os.path.join(sockdir, "agent.sock")
    agent = Running(path, mode=0o660)
    try:
        r = _as_nobody(path)
        assert r.stdout.strip() == "connect 13", (r.stdout, r.stderr)      # EACCES: file permissions
        os.chmod(path, 0o666)                                              # even if the file were open,
        r = _as_nobody(path)
        assert r.stdout.strip() == "read 0", (r.stdout, r.stderr)          # SO_PEERCRED refuses: closed
        assert agent.server.refused == 1
        assert SessionClient(path).call({"op": "status"})["ok"]            # our own user still gets in
    finally:
        agent.stop()


def test_agent_command_refuses_a_world_open_socket_and_bad_config(sockdir: str) -> None:
    from click.testing import CliRunner

    from tribes.cli.main import cli
    r = CliRunner().invoke(cli, ["agent", "--socket", os.path.join(sockdir, "a.sock"), "--socket-mode", "666"])
    assert r.exit_code == 2 and "must not be open to other users" in r.output
    r = CliRunner().invoke(cli, ["agent", "--socket-mode", "9x"])
    assert r.exit_code == 2 and "octal" in r.output
    r = CliRunner().invoke(cli, ["agent", "--config", os.path.join(sockdir, "missing.xml"),
                                 "--socket", os.path.join(sockdir, "a.sock")])
    assert r.exit_code == 3 and "no such file" in r.output and not os.path.exists(os.path.join(sockdir, "a.sock"))


def test_a_second_agent_on_a_live_socket_is_refused(sockdir: str) -> None:
    from tribes.web.agent import AgentServer, SocketInUse
    path = os.path.join(sockdir, "agent.sock")
    agent = Running(path)
    try:
        with pytest.raises(SocketInUse, match="another agent is serving"):
            asyncio.run(AgentServer(agent.backend.service, path).start())
        assert SessionClient(path).call({"op": "status"})["ok"]
    finally:
        agent.stop()


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv to connect as another user")
def test_socket_group_lets_the_workers_group_in(sockdir: str) -> None:
    path = os.path.join(sockdir, "agent.sock")
    agent = Running(path, mode=0o660, group=65534)
    try:
        assert os.stat(path).st_gid == 65534
        r = _as_nobody(path)                                               # uid 65534, gid 65534
        assert r.stdout.strip().startswith("read ") and r.stdout.strip() != "read 0", (r.stdout, r.stderr)
        assert agent.server.refused == 0
    finally:
        agent.stop()
