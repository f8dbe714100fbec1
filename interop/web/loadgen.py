"""A small HTTP load generator and change-visibility probe, run INSIDE a lab namespace.

    python3 -m interop.web.loadgen load --url http://10.77.132.50:8001/app/py/bench \
        --connections 16 --count 20000 --duration 10 [--warmup 1]
    python3 -m interop.web.loadgen visibility --set-url 'http://.../app/py/bench?set={k}' \
        --peek-url 'http://10.77.132.2:8080/app/peek?id={sid}' --rounds 50

Both print one JSON object on stdout.

`load`: `--connections` virtual users, each with its own cookie jar (one session per user), send
GET requests one after the other (keep-alive when the server allows it, a new connection when it
answers `Connection: close`, as gunicorn's sync workers do) until `--count` requests in total are
done or `--duration` seconds have passed (a bounded loop). Reports requests/s and latency
percentiles (ms) of the requests after the warm-up, and the number of errors (non-2xx or I/O).

`visibility`: one session; for k = 1..rounds, one request to `--set-url` (which writes k into the
session), then, from the moment its response has arrived, `--peek-url` (cookie-less, keep-alive) is
polled until its body shows the value k; the time in between is one sample (ms).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import time
import urllib.parse
from typing import Any


class HttpError(RuntimeError):
    pass


class Conn:
    """One client: a cookie jar and (when the server keeps it open) one connection."""

    def __init__(self, url: str, timeout: float = 30) -> None:
        u = urllib.parse.urlsplit(url)
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or 80
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.connects = 0

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except Exception:
                pass
        self.reader = self.writer = None

    async def get(self, target: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            self.connects += 1
        assert self.reader is not None
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        req = (f"GET {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUser-Agent: tribes-loadgen\r\n"
               + (f"Cookie: {cookie}\r\n" if cookie else "") + "\r\n")
        self.writer.write(req.encode())
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), self.timeout)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = None
        close = lines[0].startswith("HTTP/1.0")
        chunked = False
        for line in lines[1:]:
            k, _, v = line.partition(":")
            k = k.strip().lower()
            v = v.strip()
            if k == "content-length":
                length = int(v)
            elif k == "connection":
                close = v.lower() == "close"
            elif k == "transfer-encoding" and "chunked" in v.lower():
                chunked = True
            elif k == "set-cookie":
                name, _, rest = v.partition("=")
                value = rest.split(";", 1)[0]
                if re.search(r";\s*(max-age=0|expires=thu, 01 jan 1970)", v, re.I):
                    self.cookies.pop(name.strip(), None)
                else:
                    self.cookies[name.strip()] = value
        if chunked:
            body = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                body += chunk[:-2]
        elif length is not None:
            body = await asyncio.wait_for(self.reader.readexactly(length), self.timeout)
        else:
            body = await self.reader.read()
            close = True
        if close:
            await self.close()
        return status, body


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * (len(s) - 1)))))
    return s[k]


async def load(url: str, connections: int, count: int, duration: float, warmup: float) -> dict[str, Any]:
    target = urllib.parse.urlsplit(url)
    path = target.path + ("?" + target.query if target.query else "")
    lat: list[float] = []
    errors: list[str] = []
    issued = 0
    t_start = time.perf_counter()
    t_measure = t_start + warmup
    t_end = t_measure + duration
    done_measured = 0

    async def user() -> None:
        nonlocal issued, done_measured
        c = Conn(url)
        try:
            while True:
                now = time.perf_counter()
                if now >= t_end or done_measured >= count:
                    return
                issued += 1
                t0 = time.perf_counter()
                try:
                    status, _ = await c.get(path)
                    ok = 200 <= status < 300
                except Exception as exc:  # noqa: BLE001 - counted
                    ok, status = False, 0
                    errors.append(f"{type(exc).__name__}: {exc}")
                    await c.close()
                t1 = time.perf_counter()
                if t0 >= t_measure:
                    if ok:
                        lat.append((t1 - t0) * 1000)
                        done_measured += 1
                    elif len(errors) < 1000:
                        errors.append(f"status {status}")
        finally:
            await c.close()

    await asyncio.gather(*(user() for _ in range(connections)))
    wall = max(1e-9, min(time.perf_counter(), t_end) - t_measure)
    return {"requests": len(lat), "seconds": round(wall, 3), "rps": round(len(lat) / wall, 1),
            "p50_ms": round(pct(lat, 50), 3), "p90_ms": round(pct(lat, 90), 3), "p99_ms": round(pct(lat, 99), 3),
            "mean_ms": round(statistics.fmean(lat), 3) if lat else None, "errors": len(errors),
            "first_errors": errors[:5], "connections": connections}


async def visibility(set_url: str, peek_url: str, rounds: int, cookie: str, timeout: float,
                     pause: float) -> dict[str, Any]:
    setter = Conn(set_url)
    su = urllib.parse.urlsplit(set_url)
    set_path = su.path + "?" + su.query
    pu = urllib.parse.urlsplit(peek_url)
    peeker = Conn(peek_url)
    status, body = await setter.get(set_path.replace("{k}", "0"))
    if status != 200 or cookie not in setter.cookies:
        raise HttpError(f"first request to {set_url}: {status} {body[:200]!r}, cookies {setter.cookies}")
    samples: list[float] = []
    polls = 0
    misses = 0
    for k in range(1, rounds + 1):
        await asyncio.sleep(pause)
        status, body = await setter.get(set_path.replace("{k}", str(k)))
        t_end = time.perf_counter()
        if status != 200:
            raise HttpError(f"set {k}: {status} {body[:200]!r}")
        sid = setter.cookies[cookie]
        want = re.compile(r'"value":"%d"' % k)
        peek_path = (pu.path + "?" + pu.query).replace("{sid}", urllib.parse.quote(sid))
        while True:
            st, b = await peeker.get(peek_path)
            polls += 1
            if st == 200 and want.search(b.decode(errors="replace")):
                samples.append((time.perf_counter() - t_end) * 1000)
                break
            if time.perf_counter() - t_end > timeout:
                misses += 1
                break
    await setter.close()
    await peeker.close()
    return {"rounds": rounds, "samples": len(samples), "misses": misses, "polls": polls,
            "p50_ms": round(pct(samples, 50), 3), "p90_ms": round(pct(samples, 90), 3),
            "p99_ms": round(pct(samples, 99), 3), "max_ms": round(max(samples), 3) if samples else None,
            "session": setter.cookies.get(cookie)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m interop.web.loadgen", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    lp = sub.add_parser("load", help="requests/s and latency of one URL (a bounded loop)")
    lp.add_argument("--url", required=True)
    lp.add_argument("--connections", type=int, default=16)
    lp.add_argument("--count", type=int, default=100000, help="stop after this many measured requests")
    lp.add_argument("--duration", type=float, default=10.0, help="stop after this many measured seconds")
    lp.add_argument("--warmup", type=float, default=1.0, help="seconds not measured at the start")
    vp = sub.add_parser("visibility", help="time from the end of a write request to the change being readable")
    vp.add_argument("--set-url", required=True, help="URL writing {k} into the session")
    vp.add_argument("--peek-url", required=True, help="cookie-less URL showing the session {sid}")
    vp.add_argument("--rounds", type=int, default=50)
    vp.add_argument("--cookie", default="JSESSIONID")
    vp.add_argument("--timeout", type=float, default=10.0)
    vp.add_argument("--pause", type=float, default=0.05)
    a = ap.parse_args(argv)
    if a.cmd == "load":
        res = asyncio.run(load(a.url, a.connections, a.count, a.duration, a.warmup))
    else:
        res = asyncio.run(visibility(a.set_url, a.peek_url, a.rounds, a.cookie, a.timeout, a.pause))
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
