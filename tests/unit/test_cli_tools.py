"""The command line of issue 8: send, bench, join --config (live view), demo fallback, help, logging.

Real subprocess tests run Python nodes on loopback only (membership bound to 127.0.0.1 with multicast
TTL 0, receivers on 127.0.0.1): nothing leaves the machine, no root needed.
"""
from __future__ import annotations

import importlib
import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import click
import pytest
from click.testing import CliRunner

from tribes.cli.main import COMMANDS, cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOOPBACK_XML = os.path.join(ROOT, "tests", "fixtures", "cli", "loopback-server.xml")
WALKTHROUGH_XML = os.path.join(ROOT, "tests", "fixtures", "config", "walkthrough-server.xml")

# every command, sub-commands included, is checked
OWNED_ELSEWHERE: set[str] = set()


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tribes(*args: str, **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tribes.cli.main", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


# ------------------------------------------------------------------------------------- help, logging
def _all_commands() -> list[tuple[list[str], click.Command]]:
    found: list[tuple[list[str], click.Command]] = []

    def walk(path: list[str], cmd: click.Command) -> None:
        found.append((path, cmd))
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                walk(path + [name], sub)

    for name, target in sorted(COMMANDS.items()):
        module, attr = target.split(":")
        walk([name], getattr(importlib.import_module(module), attr))
    return found


@pytest.mark.parametrize("path", [p for p, _ in _all_commands() if p[0] not in OWNED_ELSEWHERE],
                         ids=lambda p: " ".join(p))
def test_every_command_has_help_with_examples(path: list[str]) -> None:
    res = CliRunner().invoke(cli, path + ["--help"])
    assert res.exit_code == 0, res.output
    assert "Examples:" in res.output
    example_lines = [line for line in res.output.splitlines() if line.strip().startswith(("tribes ", "sudo "))]
    assert example_lines, res.output


@pytest.mark.parametrize("flag", ["-v", "-vv", "-q"])
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_verbosity_flags_work_with_every_command(name: str, flag: str) -> None:
    try:
        res = CliRunner().invoke(cli, [flag, name, "--help"])
        assert res.exit_code == 0, res.output
        expected = {"-v": logging.INFO, "-vv": logging.DEBUG, "-q": logging.ERROR}[flag]
        assert logging.getLogger("tribes").level == expected
    finally:
        logging.getLogger("tribes").setLevel(logging.NOTSET)  # do not leak into other tests


def test_every_logger_is_in_the_tribes_hierarchy() -> None:
    pattern = re.compile(r"getLogger\(([^)]*)\)")
    bad = []
    for folder, _, files in os.walk(os.path.join(ROOT, "tribes")):
        for f in files:
            if not f.endswith(".py"):
                continue
            path = os.path.join(folder, f)
            for arg in pattern.findall(open(path, encoding="utf-8").read()):
                arg = arg.strip()
                if arg != "__name__" and not re.fullmatch(r"[\"']tribes(\.[a-z_.]+)?[\"']", arg):
                    bad.append(f"{os.path.relpath(path, ROOT)}: getLogger({arg})")
    assert not bad, bad


def test_quiet_hides_warnings_of_the_package_in_a_real_process(tmp_path: Any) -> None:
    """A server.xml with an unknown attribute (a warning on tribes.config, as Tomcat warns): shown by
    default, hidden with -q, and -v adds the INFO lines of the package."""
    xml = tmp_path / "s.xml"
    xml.write_text(open(LOOPBACK_XML).read().replace('channelSendOptions="6"', 'channelSendOptions="6" bogusAttr="1"'))
    args = ["send", "x", "--wait", "0", "--config", str(xml), "-D", f"mcast.port={free_port(socket.SOCK_DGRAM)}",
            "-D", f"rx.port={free_port()}"]

    def run(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tribes.cli.main", *flags, *args], capture_output=True,
                              text=True, cwd=ROOT, timeout=60)

    loud, quiet, verbose = run(), run("-q"), run("-v")
    assert loud.returncode == quiet.returncode == verbose.returncode == 4   # nobody to send to
    assert "WARNING" in loud.stderr and "tribes.config" in loud.stderr and "bogusAttr" in loud.stderr
    assert "INFO" not in loud.stderr
    assert "WARNING" not in quiet.stderr and "tribes send:" in quiet.stderr   # the error itself stays
    assert "INFO" in verbose.stderr and "tribes." in verbose.stderr


# ------------------------------------------------------------------------------------- send / bench (no network)
def test_send_options() -> None:
    from tribes.cli.send import send_options
    assert send_options(True, False, None) == 0x3       # BYTE_MESSAGE | USE_ACK
    assert send_options(False, False, None) == 0x1
    assert send_options(True, True, None) == 0x7        # + SYNCHRONIZED_ACK
    assert send_options(True, False, "async") == 0x9    # raw options win; BYTE_MESSAGE added
    with pytest.raises(click.BadParameter):
        send_options(True, False, "nonsense")


@pytest.mark.parametrize("args, code, text", [
    (["send"], 2, "either TEXT or --file"),
    (["send", "x", "--file", "-"], 2, "either TEXT or --file"),
    (["send", "x", "--to", "nowhere"], 2, "HOST:PORT"),
    (["send", "x", "--options", "bogus"], 2, "bogus"),
    (["bench", "--to", "10.0.0.1"], 2, "HOST:PORT"),
    (["bench", "--count", "0"], 2, "0"),
    (["send", "x", "--config", "/nonexistent/server.xml"], 3, "no such file"),
    (["bench", "--config", "/nonexistent/server.xml"], 3, "no such file"),
    (["join", "--config", "/nonexistent/server.xml", "--no-live"], 3, "no such file"),
])
def test_bad_command_lines_and_configs(args: list[str], code: int, text: str) -> None:
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == code, res.output
    assert text in res.output


def test_bad_config_value_is_exit_3_with_the_check_hint(tmp_path: Any) -> None:
    xml = tmp_path / "bad.xml"
    xml.write_text('<Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster"><Channel '
                   'className="org.apache.catalina.tribes.group.GroupChannel"><Receiver '
                   'className="org.apache.catalina.tribes.transport.nio.NioReceiver" port="fourthousand"/>'
                   '</Channel></Cluster>')
    res = CliRunner().invoke(cli, ["send", "x", "--config", str(xml)])
    assert res.exit_code == 3
    assert "port" in res.output and "tribes config check" in res.output


def test_node_config_overrides_only_explicit_flags() -> None:
    from tribes.cli.common import NetworkOptions
    from tribes.cli.node import load_node_config
    net = NetworkOptions(bind="127.0.0.1", mcast_address="228.0.0.4", mcast_port=45564, receiver_port=4000,
                         domain="", duration=None)
    # the file says 45564/4000 too; make the file differ through -D and check who wins
    cfg = load_node_config(net, LOOPBACK_XML, ["mcast.port=47123", "rx.port=47200"], "py9", explicit=set())
    assert cfg.channel.membership.get("port") == 47123       # not given on the command line: the file wins
    assert cfg.channel.receiver.get("port") == 47200
    assert cfg.jvm_route == "py9"
    net.receiver_port = 4100
    cfg = load_node_config(net, LOOPBACK_XML, ["mcast.port=47123", "rx.port=47200"], None,
                           explicit={"receiver_port", "bind"})
    assert cfg.channel.receiver.get("port") == 4100           # given: the flag wins
    assert cfg.channel.receiver.get("address") == "127.0.0.1"
    assert cfg.jvm_route == "py0"                             # ${route:-py0} of the file
    # the walkthrough file (address="auto", no bind) with --bind: both membership and receiver pinned
    cfg = load_node_config(net, WALKTHROUGH_XML, (), None, explicit={"bind"})
    assert cfg.channel.membership.get("bind") == "127.0.0.1" and cfg.channel.receiver.get("address") == "127.0.0.1"
    assert cfg.channel.receiver.get("port") == 4000


# ------------------------------------------------------------------------------------- live view (pure)
class _M:
    def __init__(self, host: str, port: int) -> None:
        self.host_str, self.port, self.domain, self.alive = host, port, b"", 4200
        self.name = f"tcp://{host}:{port}"


def test_live_view_renders_members_sessions_and_rate() -> None:
    from rich.console import Console

    from tribes.cli.liveview import NodeStats, render

    clock = [100.0]
    stats = NodeStats(clock=lambda: clock[0])
    a, b = _M("10.0.0.1", 4000), _M("10.0.0.2", 4000)
    stats.member_since[a] = 100.0
    for _ in range(50):
        stats.on_message(1000)
    clock[0] = 110.0
    for _ in range(20):
        stats.on_message(500)
    msgs, rate_bytes = stats.rate()
    assert msgs == pytest.approx(20 / 5.0) and rate_bytes == pytest.approx(20 * 500 / 5.0)
    stats.event("member added        10.0.0.1:4000")

    class DM:
        def __init__(self, n: int) -> None:
            self.sessions = {f"S{i}": None for i in range(n)}
            self.state_transfer_result = "ok"

    class Cluster:
        managers = {"localhost#/app": DM(3), "localhost#": DM(1)}

    console = Console(record=True, width=120, file=io.StringIO())
    console.print(render(_M("10.0.0.50", 4000), [a, b], stats, Cluster(), "server.xml"))
    text = console.export_text()
    assert "members (2)" in text and "10.0.0.1:4000" in text and "10.0.0.2:4000" in text
    assert "/app" in text and " 3 " in text and "4.0 msgs/s" in text and "70 received" in text
    assert "member added" in text and "config: server.xml" in text


def test_live_wanted() -> None:
    from tribes.cli.liveview import live_wanted
    assert live_wanted(True, False) is True
    assert live_wanted(True, True) is False    # --json always gives event lines
    assert live_wanted(None, False) is sys.stdout.isatty()


# ------------------------------------------------------------------------------------- real processes, loopback
@pytest.fixture(scope="module")
def receiver() -> Any:
    """`tribes join --config loopback.xml --json` (a DeltaManager node) for the module's senders."""
    mport = free_port(socket.SOCK_DGRAM)
    rx = free_port()
    proc = tribes("join", "--config", LOOPBACK_XML, "-D", f"mcast.port={mport}", "-D", f"rx.port={rx}",
                  "--jvm-route", "rcv", "--json", "--duration", "60")
    first = proc.stdout.readline() if proc.stdout else ""
    assert first.startswith('{"kind":"ready"'), (first, proc.stderr.read() if proc.poll() is not None else "")
    ready = json.loads(first)
    lines: list[str] = []
    # drain stdout while the node runs: a full pipe would block the node (and its ACKs)
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
    reader.start()
    yield {"proc": proc, "mport": mport, "rx": rx, "ready": ready, "lines": lines, "reader": reader}
    if proc.poll() is None:
        proc.terminate()
    proc.wait(timeout=30)


def _sender_args(receiver: dict[str, Any]) -> list[str]:
    return ["--config", LOOPBACK_XML, "-D", f"mcast.port={receiver['mport']}", "-D", f"rx.port={free_port()}"]


@pytest.mark.timeout(120)
def test_join_config_send_and_bench_on_loopback(receiver: dict[str, Any]) -> None:
    ready = receiver["ready"]
    assert ready["jvmRoute"] == "rcv" and ready["sessions"] is True and ready["port"] == receiver["rx"]
    assert ready["config"] == LOOPBACK_XML
    target = f"127.0.0.1:{receiver['rx']}"
    # send to one member, acknowledged, as JSON
    res = subprocess.run([sys.executable, "-m", "tribes.cli.main", "send", "hello tribes", "--to", target, "--json",
                          *_sender_args(receiver)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert res.returncode == 0, res.stderr
    lines = json_lines(res.stdout)
    assert [o["kind"] for o in lines] == ["send", "summary"]
    assert lines[0]["ok"] is True and lines[0]["acked"] is True and lines[0]["member"]["port"] == receiver["rx"]
    assert lines[1]["failedMembers"] == 0
    # a file to all members, no ACK, 3 times (human output)
    res = subprocess.run([sys.executable, "-m", "tribes.cli.main", "send", "--file", LOOPBACK_XML, "--no-ack",
                          "--count", "3", *_sender_args(receiver)], capture_output=True, text=True, cwd=ROOT,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    assert f"127.0.0.1:{receiver['rx']}" in res.stdout and "3/3 written" in res.stdout
    # bench: 300 x 512 bytes, acked
    res = subprocess.run([sys.executable, "-m", "tribes.cli.main", "bench", "--count", "300", "--size", "512",
                          "--warmup", "0", "--json", *_sender_args(receiver)], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert res.returncode == 0, res.stderr
    b = json_lines(res.stdout)[-1]
    assert b["kind"] == "bench" and b["ok"] == 300 and b["failed"] == 0 and b["members"] == 1
    assert b["msgs_per_s"] > 0 and b["mb_per_s"] > 0 and b["perMember"][0]["failed"] == 0
    # the receiver printed them all: stop it and read its lines
    proc = receiver["proc"]
    proc.terminate()
    assert proc.wait(timeout=30) == 0, proc.stderr.read() if proc.stderr else ""
    receiver["reader"].join(10)
    events = json_lines("".join(receiver["lines"]))
    msgs = [e for e in events if e["kind"] == "message"]
    sizes = [m["size"] for m in msgs]
    assert sizes.count(len(b"hello tribes")) == 1
    assert sizes.count(os.path.getsize(LOOPBACK_XML)) == 3
    assert sizes.count(512) == 300
    assert {m["options"] for m in msgs if m["size"] == 512} == {3}
    assert events[-1]["kind"] == "summary" and events[-1]["messages"] == 304
    assert events[-1]["sessions"] == {}   # a DeltaManager ran; nobody made sessions


@pytest.mark.timeout(60)
def test_send_to_a_missing_member_fails_with_exit_4_or_1() -> None:
    mport = free_port(socket.SOCK_DGRAM)
    dead = free_port()
    args = ["--config", LOOPBACK_XML, "-D", f"mcast.port={mport}", "-D", f"rx.port={free_port()}"]
    # nobody in the cluster: exit 4 and a hint
    res = subprocess.run([sys.executable, "-m", "tribes.cli.main", "send", "x", "--wait", "1", *args],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert res.returncode == 4 and "--bind" in res.stderr
    # --direct to a port where nothing listens: the member is reported as failed, exit 1
    res = subprocess.run([sys.executable, "-m", "tribes.cli.main", "send", "x", "--direct", "--to",
                          f"127.0.0.1:{dead}", "--json", *args], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert res.returncode == 1, res.stderr
    line = json_lines(res.stdout)[0]
    assert line["kind"] == "send" and line["ok"] is False and line["failed"] == 1 and line["errors"]


@pytest.mark.timeout(60)
def test_join_live_view_on_a_terminal_and_ctrl_c() -> None:
    """On a pseudo-terminal `tribes join` draws the live view by itself; Ctrl-C stops it cleanly (130)."""
    import pty
    import select
    mport = free_port(socket.SOCK_DGRAM)
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.chdir(ROOT)
        os.environ.update({"COLUMNS": "120", "TERM": "xterm"})
        os.execv(sys.executable, [sys.executable, "-m", "tribes.cli.main", "join", "--config", LOOPBACK_XML, "-D",
                                  f"mcast.port={mport}", "-D", f"rx.port={free_port()}"])
    out = b""

    def read_for(seconds: float, until: bytes | None = None) -> None:
        nonlocal out
        end = time.monotonic() + seconds
        while time.monotonic() < end and not (until and until in out):
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                out += chunk

    try:
        read_for(30, until=b"msgs/s")
        assert b"msgs/s" in out, out[-500:]
        os.kill(pid, signal.SIGINT)
        read_for(20)
    finally:
        status = 0
        for _ in range(150):  # the node stops within a few seconds of SIGINT
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        os.close(fd)
    text = out.decode("utf-8", errors="replace")
    assert os.waitstatus_to_exitcode(status) == 130, text[-500:]
    assert "tribes join:" in text and "members (0)" in text and "sessions per context" in text
    assert "received 0 messages" in text


# ------------------------------------------------------------------------------------- demo fallback
def test_demo_refuses_tomcat_mode_without_requirements(monkeypatch: pytest.MonkeyPatch) -> None:
    import tribes.demo as demo
    monkeypatch.setattr(demo, "tomcat_missing", lambda: "not running as root (network namespaces need root)")
    out = io.StringIO()
    assert demo.run("tomcat", as_json=True, out=out) == 4
    lines = json_lines(out.getvalue())
    assert "scripts/setup.sh" in lines[0]["text"] and lines[-1]["kind"] == "summary"


@pytest.mark.timeout(120)
def test_demo_falls_back_to_a_python_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Tomcat here (pretended): the demo says how to install it and runs the loopback cluster."""
    import tribes.demo as demo
    monkeypatch.setattr(demo, "tomcat_missing", lambda: "Tomcat 10.1 jars not found")
    out = io.StringIO()
    t0 = time.monotonic()
    code = demo.run("auto", as_json=True, out=out)
    lines = json_lines(out.getvalue())
    assert code == 0, out.getvalue()
    warnings = " ".join(o["text"] for o in lines if o["kind"] == "warn")
    assert "Tomcat 10.1 jars not found" in warnings and "apt-get install" in warnings and "falling back" in warnings
    checks = [o for o in lines if o["kind"] == "check"]
    assert len(checks) >= 15 and all(c["ok"] for c in checks)
    texts = " ".join(c["text"] for c in checks)
    assert "received the 2 early sessions" in texts and "saw py1 disappear" in texts
    assert "py3 still held all 4 sessions" in texts
    summary = lines[-1]
    assert summary["kind"] == "summary" and summary["mode"] == "python" and summary["ok"] is True
    assert time.monotonic() - t0 < 90


# ------------------------------------------------------------------------------------- bench accounting, progress
def test_bench_counts_failures_per_member() -> None:
    from tribes.cli.bench import Stats, percentile
    from tribes.transport.errors import ChannelException, FaultyMember
    a, b = _M("10.0.0.1", 4000), _M("10.0.0.2", 4000)
    stats = Stats([a, b])
    stats.failure(ChannelException("send failed", faulty_members=[FaultyMember(b, ConnectionRefusedError("refused"))]),
                  [a, b])
    stats.failure(ChannelException("send failed", faulty_members=[FaultyMember(b, TimeoutError("slow"))]), [a, b])
    stats.failure(RuntimeError("no channel"), [a, b])  # no member named: every destination counts it
    assert stats.failed == 3
    assert stats.per_member[a] == {"failed": 1, "error": "RuntimeError: no channel"}
    assert stats.per_member[b]["failed"] == 3 and stats.per_member[b]["error"] == "ConnectionRefusedError: refused"
    assert percentile([], 0.5) is None
    assert percentile([float(i) for i in range(1, 101)], 0.5) == 51.0
    assert percentile([float(i) for i in range(1, 101)], 0.99) == 99.0


def test_progress_bar_only_where_wanted(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from tribes.cli import progress
    monkeypatch.delenv("TRIBES_PROGRESS", raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert not progress.wanted(10 << 20)                      # not a terminal: never
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert progress.wanted(10 << 20) and not progress.wanted(1000)   # a terminal: big files only
    monkeypatch.setenv("TRIBES_PROGRESS", "0")
    assert not progress.wanted(10 << 20)
    monkeypatch.setenv("TRIBES_PROGRESS", "1")
    assert progress.wanted(10)
    f = tmp_path / "x.bin"
    f.write_bytes(b"a" * 300_000)
    with progress.file_progress(str(f)) as src:
        assert src.read(100_000) == b"a" * 100_000 and src.read() == b"a" * 200_000 and src.read() == b""
    monkeypatch.setenv("TRIBES_PROGRESS", "0")
    with progress.file_progress(str(f)) as src:
        assert src == str(f)


@pytest.mark.parametrize("capture", ["tomcat10-replication.pcap", "tomcat9-membership.pcap"])
def test_decode_with_the_progress_bar_gives_the_same_output(capture: str) -> None:
    path = os.path.join(ROOT, "tests", "vectors", "captures", capture)
    runs = [subprocess.run([sys.executable, "-m", "tribes.cli.main", "decode", path, "--json"], capture_output=True,
                           text=True, cwd=ROOT, env={**os.environ, "TRIBES_PROGRESS": flag}, timeout=120)
            for flag in ("0", "1")]
    assert runs[0].returncode == runs[1].returncode == 0, runs[1].stderr
    assert runs[0].stdout == runs[1].stdout and runs[0].stdout.count("\n") > 10


# ------------------------------------------------------------------------------------- state transfer progress
def test_state_transfer_progress_counts_chunks_and_draws_when_forced(capsys: pytest.CaptureFixture[str],
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    from types import SimpleNamespace

    from tribes.cli.progress import StateTransferProgress

    caplog.set_level("INFO", logger="tribes.cli.progress")
    ev = lambda kind, value: SimpleNamespace(kind=kind, context="localhost#/app", value=value)  # noqa: E731
    with StateTransferProgress(enabled=True) as progress:
        progress(ev("created", None))                      # ignored: not a transfer event
        progress(ev("state_received", 1000))
        progress(ev("state_received", 234))
        progress(ev("state_transfer_complete", "transferred"))
    assert progress.received == {"localhost#/app": 1234} and progress.done == {"localhost#/app"}
    assert "1234 sessions done" in capsys.readouterr().err
    logged = [r.getMessage() for r in caplog.records]
    assert "state transfer localhost#/app: 1000 sessions received so far" in logged
    assert any("complete" in m and "1234 sessions" in m for m in logged)


def test_state_transfer_progress_is_silent_when_not_watched(capsys: pytest.CaptureFixture[str]) -> None:
    from types import SimpleNamespace

    from tribes.cli.progress import StateTransferProgress

    with StateTransferProgress(enabled=False) as progress:
        progress(SimpleNamespace(kind="state_received", context="localhost#", value=5))
    assert progress.received == {"localhost#": 5}
    assert capsys.readouterr().err == ""
