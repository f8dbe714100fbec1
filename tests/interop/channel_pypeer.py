"""A Python Tribes member for interop tests and benchmarks: the Python twin of TribesPeer.java.

    python3 tests/interop/channel_pypeer.py MODE [options]     (MODE: member | echo | sink | send)

Same JSON-lines events as TribesPeer (``ready``, ``memberAdded``, ``memberDisappeared``, ``message``,
``sendDone``, ``sendError``, ``sinkTotals``, ``members``, ``error``, ``stopped``) and the same stdin
commands (``send N SIZE OPTIONS [host:port|all] [bytes|str]``, ``members``, ``totals``, ``quit``), so
tests drive both sides alike (``interop.peer.JavaPeer`` wraps the process).

Payloads: with BYTE_MESSAGE (bit 1) a ``ByteMessage`` of SIZE random bytes (seeded), otherwise a Java
``byte[]`` value (or a String of SIZE characters with ``str``). ``message`` events carry the sha256 of
the payload as it came out of the interceptors (what TribesPeer reports too).
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import inspect
import json
import os
import random
import struct
import sys
import time
import zlib
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tribes.group import ByteMessage, ChannelException, ChannelInterceptor, GroupChannel  # noqa: E402
from tribes.group.coordinator import DEFAULT, SND_RX_SEQ, SND_TX_SEQ, LocalOnlyMembership  # noqa: E402
from tribes.interceptors import interceptor_class  # noqa: E402
from tribes.membership.member import Member  # noqa: E402
from tribes.transport import NioReceiver, PooledParallelSender, ReplicationTransmitter  # noqa: E402


MAGIC = b"TBCH"


def emit(_event: str, **fields: Any) -> None:
    obj = {"event": _event}
    obj.update(fields)
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def member_json(m: Member) -> dict[str, Any]:
    return {"host": m.host_str, "port": m.port, "securePort": m.secure_port, "udpPort": m.udp_port,
            "uniqueId": m.unique_id.hex(), "domain": m.domain.decode("latin-1"), "domainHex": m.domain.hex(),
            "payloadHex": m.payload.hex(), "alive": m.alive, "name": m.name}


class Tap(ChannelInterceptor):
    """Top interceptor: remembers options/size/digest of the message being delivered."""

    def __init__(self, peer: "PyPeer") -> None:
        super().__init__()
        self.peer = peer

    def message_received(self, msg: Any) -> Any:
        self.peer.current = msg
        try:
            result = super().message_received(msg)
        finally:
            self.peer.current = None
        if result is None or not inspect.isawaitable(result):
            return result

        async def delivered_later() -> Any:
            # the channel decodes a large Java payload off the event loop and calls the listeners
            # when it is done: the frame being delivered is still this one then (one connection's
            # messages are processed in order)
            self.peer.current = msg
            try:
                return await result
            finally:
                self.peer.current = None

        return delivered_later()


def convert(value: str) -> Any:
    low = value.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(value)
    except ValueError:
        return value


def snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


class PyPeer:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.current: Any = None
        self.rx = 0
        self.rx_bytes = 0
        self.first_rx = 0.0
        self.last_rx = 0.0
        self.done = asyncio.Event()
        self.stack: list[ChannelInterceptor] = []
        self.channel: GroupChannel | None = None
        self.statics: list[Member] = []
        self.send_errors = 0
        self.pong_queue: asyncio.Queue[float] | None = None
        self.last_seq: dict[int, int] = {}
        self.seen: dict[int, set[int]] = {}
        self.out_of_order = self.duplicates = self.corrupt = 0
        self.ooo_by_sender: dict[int, int] = {}

    def check_integrity(self, b: bytes) -> None:
        sid, seq, crc = struct.unpack_from(">iii", b, 4)
        if zlib.crc32(b[16:]) & 0xFFFFFFFF != crc & 0xFFFFFFFF:
            self.corrupt += 1
            return
        seen = self.seen.setdefault(sid, set())
        if seq in seen:
            self.duplicates += 1
        seen.add(seq)
        last = self.last_seq.get(sid)
        if last is not None and seq != last + 1:
            self.out_of_order += 1
            self.ooo_by_sender[sid] = self.ooo_by_sender.get(sid, 0) + 1
        self.last_seq[sid] = seq

    def totals(self) -> None:
        emit("totals", messages=self.rx, bytes=self.rx_bytes, outOfOrder=self.out_of_order,
             duplicates=self.duplicates, corrupt=self.corrupt,
             senders={str(k): {"distinct": len(v), "max": max(v) if v else -1} for k, v in self.seen.items()},
             outOfOrderBySender={str(k): v for k, v in self.ooo_by_sender.items()},
             seconds=self.last_rx - self.first_rx, lastRx_ns=int(self.last_rx * 1e9))

    async def integrity(self, count: int, lo: int, hi: int, opts: int, sender_id: int, dest: str) -> None:
        dst = self.targets(dest)
        rnd = random.Random(sender_id * 7919)
        ch = self.channel
        assert ch is not None
        errors = 0
        last_error = None
        t0 = time.perf_counter()
        for i in range(count):
            n = max(16, rnd.randint(lo, hi))
            body = rnd.randbytes(n - 16)
            b = MAGIC + struct.pack(">iiI", sender_id, i, zlib.crc32(body) & 0xFFFFFFFF) + body
            try:
                await ch.send(dst, ByteMessage(b) if opts & 1 else b, opts)
            except ChannelException as exc:
                errors += 1
                last_error = str(exc)
        for i in self.stack:
            flush = getattr(i, "flush", None)
            if flush is not None:
                await flush()
        secs = time.perf_counter() - t0
        emit("sendDone", messages=count, errors=errors, seconds=secs, msgs_per_s=count / secs, lastError=last_error)

    async def thru(self, count: int, size: int, opts: int, dest: str) -> None:
        dst = self.targets(dest)
        payload: Any = ByteMessage(random.Random(42).randbytes(size)) if opts & 1 else random.Random(42).randbytes(size)
        ch = self.channel
        assert ch is not None
        flushers = [getattr(i, "flush") for i in self.stack if hasattr(i, "flush")]
        for _ in range(min(2000, count)):
            await ch.send(dst, payload, opts)
        for f in flushers:
            await f()
        t0 = time.perf_counter()
        for _ in range(count):
            await ch.send(dst, payload, opts)
        for f in flushers:
            await f()
        secs = time.perf_counter() - t0
        emit("thruDone", messages=count, size=size, options=opts, seconds=secs, msgs_per_s=count / secs,
             mb_per_s=count * size / secs / 1e6, t0_ns=int(t0 * 1e9))

    async def ping(self, count: int, size: int, opts: int, dest: str) -> None:
        dst = self.targets(dest)
        payload: Any = ByteMessage(random.Random(42).randbytes(size)) if opts & 1 else random.Random(42).randbytes(size)
        ch = self.channel
        assert ch is not None
        self.pong_queue = asyncio.Queue()
        warm = min(200, count)
        rtt: list[float] = []
        try:
            for i in range(warm + count):
                t0 = time.perf_counter()
                await ch.send(dst, payload, opts)
                t1 = await asyncio.wait_for(self.pong_queue.get(), 10)
                if i >= warm:
                    rtt.append(t1 - t0)
        finally:
            self.pong_queue = None
        rtt.sort()
        emit("pingDone", count=count, size=size, options=opts, p50_us=rtt[count // 2] * 1e6,
             p99_us=rtt[int(count * 0.99)] * 1e6)

    def build(self) -> GroupChannel:
        a = self.args
        receiver = NioReceiver(address=a.address, port=a.port, auto_bind=a.auto_bind)
        for kv in a.receiver_prop:
            k, v = kv.split("=", 1)
            setattr(receiver, snake(k), convert(v))
        transport = PooledParallelSender()
        for kv in a.sender_prop:
            k, v = kv.split("=", 1)
            name = snake(k)
            if name in ("pool_size", "max_wait"):
                setattr(transport, name, convert(v))
            else:
                setattr(transport.options, name, convert(v))
        if a.no_mcast:
            membership: Any = LocalOnlyMembership()
        else:
            from tribes.membership.mcast import McastService
            membership = McastService(address=a.mcast_address, port=a.mcast_port, frequency=a.frequency,
                                      drop_time=a.drop_time, bind=a.mcast_bind or a.address, domain=a.domain)
        ch = GroupChannel(receiver, ReplicationTransmitter(transport), membership,
                          heartbeat_sleeptime=a.heartbeat)
        ch.add_interceptor(Tap(self))
        if a.interceptors and a.interceptors != "none":
            for name in a.interceptors.split(","):
                cls = interceptor_class(name.strip())
                kwargs: dict[str, Any] = {}
                for kv in a.iprop:
                    key, v = kv.split("=", 1)
                    iname, prop = key.split(".", 1)
                    if iname == cls.__name__:
                        kwargs[snake(prop)] = convert(v)
                if cls.__name__ == "DomainFilterInterceptor" and "domain" not in kwargs:
                    kwargs["domain"] = a.domain
                inst = cls(**kwargs)
                ch.add_interceptor(inst)
                self.stack.append(inst)
        ch.add_channel_listener(self)
        ch.add_membership_listener(self)
        self.channel = ch
        return ch

    # listeners ---------------------------------------------------------------------------------------
    def accept(self, msg: Any, sender: Member) -> bool:
        return True

    def message_received(self, msg: Any, sender: Member) -> Any:
        raw = self.current
        now = time.perf_counter()
        if self.pong_queue is not None:
            self.pong_queue.put_nowait(now)
            return None
        body = msg.message if isinstance(msg, ByteMessage) else msg
        if isinstance(body, bytes) and len(body) >= 16 and body[:4] == MAGIC:
            self.check_integrity(body)
        if not self.first_rx:
            self.first_rx = now
        self.last_rx = now
        self.rx += 1
        size = len(raw.message) if raw is not None else -1
        self.rx_bytes += max(size, 0)
        a = self.args
        if not a.quiet_messages and a.mode != "sink":
            ev: dict[str, Any] = {"sender": member_json(sender), "options": raw.options if raw else -1,
                                  "size": size}
            if raw is not None:
                ev["sha256"] = hashlib.sha256(raw.message).hexdigest()
                ev["uniqueId"] = raw.unique_id.hex()
            if isinstance(msg, ByteMessage):
                ev["class"] = "org.apache.catalina.tribes.ByteMessage"
            elif isinstance(msg, bytes):
                ev["class"] = "[B"
                ev["value"] = f"byte[{len(msg)}] " + msg[:64].hex()
                ev["valueSha256"] = hashlib.sha256(msg).hexdigest()
            elif isinstance(msg, str):
                ev["class"] = "java.lang.String"
                ev["value"] = msg if len(msg) <= 300 else msg[:300] + "..."
                ev["valueSha256"] = hashlib.sha256(msg.encode("utf-8")).hexdigest()
            else:
                ev["class"] = type(msg).__name__
                ev["value"] = repr(msg)[:300]
            emit("message", **ev)
        if a.mode == "echo":
            opts = raw.options if raw is not None else a.options
            assert self.channel is not None
            asyncio.get_running_loop().create_task(self._echo(sender, msg, opts))
        if a.mode == "sink" and a.expect and self.rx == a.expect:
            self.sink_totals()
            self.done.set()
        return None

    async def _echo(self, sender: Member, msg: Any, opts: int) -> None:
        try:
            assert self.channel is not None
            await self.channel.send([sender], msg, opts & ~0x100)
        except Exception as exc:
            emit("error", where="echo", message=str(exc))

    def member_added(self, m: Member) -> None:
        emit("memberAdded", **member_json(m))

    def member_disappeared(self, m: Member) -> None:
        emit("memberDisappeared", **member_json(m))

    def sink_totals(self) -> None:
        secs = self.last_rx - self.first_rx
        emit("sinkTotals", messages=self.rx, bytes=self.rx_bytes, seconds=secs,
             msgs_per_s=self.rx / secs if secs > 0 else 0, mb_per_s=self.rx_bytes / secs / 1e6 if secs > 0 else 0)

    # sending -----------------------------------------------------------------------------------------
    def targets(self, dest: str | None) -> list[Member]:
        assert self.channel is not None
        every = list(self.channel.members()) + [m for m in self.statics if m not in self.channel.members()]
        if dest is None or dest == "all":
            return every
        host, _, port = dest.partition(":")
        return [m for m in every if m.host_str == host and (not port or m.port == int(port))]

    async def send(self, n: int, size: int, opts: int, dest: str | None, kind: str = "bytes") -> None:
        dst = self.targets(dest)
        if not dst:
            emit("error", where="send", message=f"no member matches {dest}")
            return
        rnd = random.Random(42)
        data = rnd.randbytes(size)
        if opts & 1:
            payload: Any = ByteMessage(data)
        elif kind == "str":
            payload = "".join(chr(0x41 + (b % 26)) for b in data)
        else:
            payload = data
        ch = self.channel
        assert ch is not None
        t0 = time.perf_counter()
        errors = 0
        last_error = None
        for _ in range(n):
            try:
                await ch.send(dst, payload, opts)
            except ChannelException as exc:
                errors += 1
                last_error = exc
                emit("sendError", message=str(exc),
                     faulty=[{"host": fm.member.host_str, "port": fm.member.port,
                              "cause": f"{type(fm.cause).__name__}: {fm.cause}"} for fm in exc.faulty_members],
                     seconds=time.perf_counter() - t0)
                if self.args.stop_on_error:
                    break
        for i in self.stack:
            flush = getattr(i, "flush", None)
            if flush is not None:
                await flush()
        secs = time.perf_counter() - t0
        sha = hashlib.sha256(data).hexdigest()
        emit("sendDone", messages=n, size=size, options=opts, errors=errors,
             destinations=[f"{m.host_str}:{m.port}" for m in dst], seconds=secs,
             msgs_per_s=n / secs if secs > 0 else 0, mb_per_s=n * size / secs / 1e6 if secs > 0 else 0,
             dataSha256=sha, lastError=str(last_error) if last_error else None)

    async def wait_members(self, k: int, timeout: float) -> None:
        end = time.monotonic() + timeout
        assert self.channel is not None
        while len(self.targets("all")) < k and time.monotonic() < end:
            await asyncio.sleep(0.05)

    async def commands(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            line = await reader.readline()
            if not line:
                return
            w = line.decode().split()
            if not w:
                continue
            try:
                if w[0] == "quit":
                    return
                if w[0] == "members":
                    assert self.channel is not None
                    emit("members", members=[member_json(m) for m in self.channel.members()])
                elif w[0] == "send":
                    await self.send(int(w[1]), int(w[2]), int(w[3], 0), w[4] if len(w) > 4 else "all",
                                    w[5] if len(w) > 5 else "bytes")
                elif w[0] == "totals":
                    self.totals()
                elif w[0] == "sinktotals":
                    self.sink_totals()
                elif w[0] == "integrity":  # integrity COUNT MIN MAX OPTIONS SENDER_ID [dest]
                    await self.integrity(int(w[1]), int(w[2]), int(w[3]), int(w[4], 0), int(w[5]),
                                         w[6] if len(w) > 6 else "all")
                elif w[0] == "thru":  # thru COUNT SIZE OPTIONS [dest]
                    await self.thru(int(w[1]), int(w[2]), int(w[3], 0), w[4] if len(w) > 4 else "all")
                elif w[0] == "ping":  # ping COUNT SIZE OPTIONS [dest]
                    await self.ping(int(w[1]), int(w[2]), int(w[3], 0), w[4] if len(w) > 4 else "all")
                else:
                    emit("error", where="command", message=f"unknown command {w[0]}")
            except Exception as exc:
                emit("error", where="command", message=repr(exc))

    async def run(self) -> None:
        a = self.args
        ch = self.build()
        level = (SND_RX_SEQ | SND_TX_SEQ) if a.no_mcast else DEFAULT
        await ch.start(level)
        for spec in a.static:
            parts = spec.split(":")
            m = Member(host=parts[0], port=int(parts[1]),
                       unique_id=bytes.fromhex(parts[2]) if len(parts) > 2 and parts[2] else b"\x00" * 16)
            self.statics.append(m)
        local = ch.local_member
        assert local is not None
        emit("ready", mode=a.mode, interceptors=[type(i).__name__ for i in self.stack], **member_json(local))
        try:
            if a.mode == "send":
                await self.wait_members(a.wait_members, a.wait_timeout)
                await self.send(a.count, a.size, a.options, a.to, a.kind)
                if not a.exit_after_send:
                    await self.commands()
            elif a.mode == "sink" and (a.duration or a.expect):
                try:
                    await asyncio.wait_for(self.done.wait(), a.duration or None)
                except asyncio.TimeoutError:
                    pass
                if not a.expect or self.rx < a.expect:
                    self.sink_totals()
            else:
                await self.commands()
                if a.mode == "sink":
                    self.sink_totals()
        finally:
            await ch.stop(level)
            emit("stopped")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode", nargs="?", default="member", choices=["member", "echo", "sink", "send"])
    p.add_argument("--address", default="auto")
    p.add_argument("--port", type=int, default=4000)
    p.add_argument("--auto-bind", type=int, default=100)
    p.add_argument("--mcast-address", default="228.0.0.4")
    p.add_argument("--mcast-port", type=int, default=45564)
    p.add_argument("--mcast-bind", default=None)
    p.add_argument("--frequency", type=int, default=500)
    p.add_argument("--drop-time", type=int, default=3000)
    p.add_argument("--domain", default="")
    p.add_argument("--no-mcast", action="store_true")
    p.add_argument("--heartbeat", type=int, default=5000)
    p.add_argument("--interceptors", default="TcpFailureDetector,MessageDispatchInterceptor")
    p.add_argument("--iprop", action="append", default=[])
    p.add_argument("--receiver-prop", action="append", default=[])
    p.add_argument("--sender-prop", action="append", default=[])
    p.add_argument("--static", action="append", default=[])
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--options", type=lambda s: int(s, 0), default=2)
    p.add_argument("--kind", default="bytes", choices=["bytes", "str"])
    p.add_argument("--to", default="all")
    p.add_argument("--wait-members", type=int, default=1)
    p.add_argument("--wait-timeout", type=float, default=30)
    p.add_argument("--duration", type=float, default=0)
    p.add_argument("--expect", type=int, default=0)
    p.add_argument("--quiet-messages", action="store_true")
    p.add_argument("--exit-after-send", action="store_true")
    p.add_argument("--stop-on-error", action="store_true")
    p.add_argument("--profile", default=None, help="write a cProfile dump here")
    p.add_argument("--log", default="WARNING", help="log level of the tribes loggers (to stderr)")
    args = p.parse_args()
    import logging
    logging.basicConfig(level=args.log, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.profile:
        import cProfile
        prof = cProfile.Profile()
        prof.enable()
        try:
            asyncio.run(PyPeer(args).run())
        finally:
            prof.disable()
            prof.dump_stats(args.profile)
    else:
        asyncio.run(PyPeer(args).run())


if __name__ == "__main__":
    main()
