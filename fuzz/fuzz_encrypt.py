#!/usr/bin/env python3
"""atheris target: EncryptInterceptor's decrypt path (open_payload, the version-mismatch diagnosis and
the interceptor's message_received), every mode and both Tomcat formats.

Checks: only DecryptError comes out of open_payload; the interceptor never raises and, in GCM, passes
nothing up (nobody without the key can make a valid tag); what CBC/CFB/OFB pass up was really sealed
with the key or is just noise, never an exception.

    python3 fuzz/fuzz_encrypt.py fuzz/corpus/encrypt -max_total_time=600 -rss_limit_mb=2048
"""
import asyncio
import os
import sys
import time

import atheris

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

with atheris.instrument_imports():
    from tribes.interceptors.encrypt import (FORMAT_9, FORMAT_10, DecryptError, EncryptInterceptor,
                                             EncryptionSettings, ReplayWindow, diagnose_mismatch, open_payload,
                                             seal)
    from tribes.io.channel_data import ChannelData
    from tribes.membership.member import Member

KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeef0"
CONFIGS = [(FORMAT_10, "AES/GCM/NoPadding"), (FORMAT_9, "AES/GCM/NoPadding"), (FORMAT_9, "AES/CBC/PKCS5Padding"),
           (FORMAT_10, "AES/CBC/PKCS5Padding"), (FORMAT_10, "AES/CFB/PKCS5Padding"), (FORMAT_9, "AES/OFB/NoPadding"),
           (FORMAT_9, "AES/CFB/NoPadding"), (FORMAT_10, "AES/OFB/PKCS5Padding")]
SETTINGS = [EncryptionSettings.create(KEY, algo, fmt) for fmt, algo in CONFIGS]
SENDER = Member(host=bytes([10, 0, 0, 1]), port=4000, unique_id=bytes(16))


class Top:
    previous = None

    def __init__(self) -> None:
        self.got = []

    def message_received(self, msg):
        self.got.append(msg.message)


class Bottom:
    next = None

    async def start(self, svc):
        pass


NOW0 = 1_760_000_000_000  # fixed: seeds are the same bytes in every process (10.1 ones are out of the window)


def _iv(i: int, n: int, size: int) -> bytes:
    import hashlib
    return hashlib.sha256(bytes([i, n % 256])).digest()[:size]


SEALED = {(i, seal(st, bytes(range(n % 256)) * (n // 256 + 1), NOW0, _iv(i, n, st.algorithm.iv_size)))
          for i, st in enumerate(SETTINGS) for n in (0, 5, 40, 300)}
SEALED_PAYLOADS = {p for _, p in SEALED}  # the only payloads that may decrypt in GCM (same key in every setting)
INTERCEPTORS = []
for fmt, algo in CONFIGS:
    icp = EncryptInterceptor(encryption_key=KEY, encryption_algorithm=algo, format=fmt)
    icp.previous, icp.next = Top(), Bottom()
    asyncio.run(icp.start(15))
    icp._log.interval = 1e9  # one line per kind for the whole run
    INTERCEPTORS.append(icp)


def test_one(data: bytes) -> None:
    if not data:
        return
    i = data[0] % len(CONFIGS)
    payload = data[1:]
    s = SETTINGS[i]
    now = int(time.time() * 1000)
    try:
        open_payload(s, payload, ReplayWindow(now_ms=now) if s.format == FORMAT_10 else None, now)
        assert s.algorithm.mode != "GCM" or payload in SEALED_PAYLOADS, "a GCM payload nobody sealed was accepted"
    except DecryptError:
        pass
    diagnose_mismatch(s, payload)
    icp = INTERCEPTORS[i]
    top = icp.previous
    before = len(top.got)
    icp.message_received(ChannelData(2, now, bytes(16), SENDER, payload))
    if s.algorithm.mode == "GCM" and payload not in SEALED_PAYLOADS:
        assert len(top.got) == before, "GCM passed an unauthenticated payload up"
    del top.got[:]


def write_seeds(path: str) -> None:
    os.makedirs(path, exist_ok=True)
    for k, (i, payload) in enumerate(sorted(SEALED)):
        with open(os.path.join(path, f"seed-{k}"), "wb") as f:
            f.write(bytes([i]) + payload)


if __name__ == "__main__":
    corpus = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    if corpus and not os.path.isfile(corpus):
        write_seeds(corpus)
    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()
