"""EncryptInterceptor: the sans-I/O core (formats, algorithm rules, keys, replay window) and the
interceptor's fail-closed behaviour in a channel stack (no network). Java ground truth for the bytes is
in tests/interop/test_encrypt_java.py."""
from __future__ import annotations

import asyncio
import logging
import random
import struct
from typing import Any

import pytest

from tribes.interceptors.encrypt import (FORMAT_9, FORMAT_10, ChannelConfigException, DecryptError,
                                         EncryptConfigError, EncryptInterceptor, EncryptionSettings, NodeEncryption,
                                         ReplayWindow, compatibility_findings, diagnose_mismatch, open_payload,
                                         parse_algorithm, parse_key, seal)
from tribes.io.channel_data import ChannelData, new_unique_id
from tribes.membership.member import Member

KEY = "00112233445566778899aabbccddeeff"
KEY256 = KEY * 2
OTHER = "ffeeddccbbaa99887766554433221100"
NOW = 1_760_000_000_000
SENDER = Member(host=bytes([10, 77, 0, 9]), port=4000, unique_id=bytes(range(16)))

MODES_10 = ["AES/GCM/NoPadding", "AES/CBC/PKCS5Padding", "AES/CFB/PKCS5Padding", "AES/OFB/PKCS5Padding"]
MODES_9 = MODES_10 + ["AES/CBC/NoPadding", "AES/CFB/NoPadding", "AES/OFB/NoPadding"]


def settings(algo: str | None = None, fmt: str = FORMAT_10, key: str = KEY) -> EncryptionSettings:
    return EncryptionSettings.create(key, algo, fmt)


def java_stream_session_message() -> bytes:
    """A valid Java serialization stream (what a plaintext SessionMessage payload starts like)."""
    from tribes.javaser import dumps
    return dumps("a perfectly valid Java stream")


# ------------------------------------------------------------------------------------------- core
@pytest.mark.parametrize("fmt,algo", [(FORMAT_9, a) for a in MODES_9] + [(FORMAT_10, a) for a in MODES_10])
@pytest.mark.parametrize("key", [KEY, KEY + "0123456789abcdef", KEY256])
def test_round_trip_every_mode_and_key_size(fmt: str, algo: str, key: str) -> None:
    s = settings(algo, fmt, key)
    for n in (0, 1, 15, 16, 17, 1000):
        data = bytes(random.Random(n).getrandbits(8) for _ in range(n))
        if algo == "AES/CBC/NoPadding" and n % 16:
            with pytest.raises(ValueError, match="not a multiple of 16"):
                seal(s, data, NOW)
            continue
        payload = seal(s, data, NOW)
        iv = 12 if "GCM" in algo else 16
        body = n + (8 if fmt == FORMAT_10 else 0)
        if "PKCS5" in algo:
            body = (body // 16 + 1) * 16
        assert len(payload) == iv + body + (16 if "GCM" in algo else 0)
        w = ReplayWindow(now_ms=NOW) if fmt == FORMAT_10 else None
        assert open_payload(s, payload, w, NOW) == data


def test_formats_differ_only_by_the_timestamp_inside() -> None:
    iv = bytes(16)
    p9 = seal(settings("AES/CBC/PKCS5Padding", FORMAT_9), b"data", NOW, iv)
    p10 = seal(settings("AES/CBC/PKCS5Padding", FORMAT_10), b"data", NOW, iv)
    from tribes.interceptors.encrypt import _decrypt_raw
    a = parse_algorithm("AES/CBC/PKCS5Padding", FORMAT_9)
    assert _decrypt_raw(a, parse_key(KEY), p9) == b"data"
    assert _decrypt_raw(a, parse_key(KEY), p10) == struct.pack(">q", NOW) + b"data"


@pytest.mark.parametrize("algo,ok9,ok10", [
    ("AES/GCM/NoPadding", True, True), ("aes/gcm/nopadding", True, True),
    ("AES/CBC/PKCS5Padding", True, True), ("AES/CFB/PKCS5Padding", True, True),
    ("AES/OFB/PKCS5Padding", True, True), ("AES/CBC/NoPadding", True, False),
    ("AES/CFB/NoPadding", True, False), ("AES/OFB/NoPadding", True, False),
    ("AES/GCM/PKCS5Padding", False, False), ("AES/CTR/NoPadding", False, False),
    ("AES/ECB/PKCS5Padding", False, False), ("AES/CFB8/NoPadding", False, False),
    ("AES/OFB32/PKCS5Padding", False, False), ("AES/PCBC/PKCS5Padding", False, False),
    ("AES/CBC", False, False), ("AES", False, False), ("DES/CBC/PKCS5Padding", False, False),
])
def test_algorithm_rules_of_each_version(algo: str, ok9: bool, ok10: bool) -> None:
    for fmt, ok in ((FORMAT_9, ok9), (FORMAT_10, ok10)):
        if ok:
            parse_algorithm(algo, fmt)
        else:
            with pytest.raises(EncryptConfigError, match="AES/GCM/NoPadding"):
                parse_algorithm(algo, fmt)
    if ok10 and "PKCS5" in algo:
        assert "insecure algorithm" in (parse_algorithm(algo, FORMAT_10).warning or "")
    assert parse_algorithm("AES/CBC/PKCS5Padding", FORMAT_9).warning is None


@pytest.mark.parametrize("text,expect", [
    (None, "encryptionKey is required"), ("abc", "odd number of hex digits"),
    ("zz112233445566778899aabbccddeeff", "not a hex digit"), ("cafe", "is 2 bytes"),
    (KEY + "00", "is 17 bytes"), (12345678, "must be a hex string")])
def test_invalid_keys_say_what_is_wrong_without_the_key(text: Any, expect: str) -> None:
    with pytest.raises(EncryptConfigError) as err:
        parse_key(text)
    assert expect in str(err.value)
    if isinstance(text, str) and len(text) > 4:
        assert text not in str(err.value)


def test_key_accepts_upper_case_and_blanks_as_tomcat() -> None:
    assert parse_key(f"  {KEY.upper()}\n") == bytes.fromhex(KEY)
    assert "key=<256 bits>" in repr(settings(key=KEY256)) and KEY not in repr(settings(key=KEY256))


def test_replay_window_time_count_and_eviction() -> None:
    w = ReplayWindow(10_000, 3, now_ms=NOW)
    w.check(b"a" * 12, NOW, NOW)
    with pytest.raises(DecryptError) as e:
        w.check(b"a" * 12, NOW, NOW + 1)
    assert e.value.reason == "replay"
    for ts, reason in ((NOW - 10_001, "timestamp"), (NOW + 10_001, "timestamp")):
        with pytest.raises(DecryptError) as e:
            w.check(b"b" * 12, ts, NOW)
        assert e.value.reason == reason
    w.check(b"b" * 12, NOW + 5, NOW)
    w.check(b"c" * 12, NOW + 2, NOW)
    w.check(b"d" * 12, NOW + 9, NOW)  # 4 > 3: the oldest (a @ NOW) is evicted
    assert len(w) == 3 and w.last_removed == NOW
    with pytest.raises(DecryptError) as e:
        w.check(b"a" * 12, NOW, NOW)  # forgotten nonce, but not newer than the last evicted timestamp
    assert e.value.reason == "timestamp"
    w.check(b"e" * 12, NOW + 1, NOW)  # newer than the last evicted one: accepted...
    assert w.last_removed == NOW + 1  # ...and, being the oldest of 4, evicted at once (as Tomcat's TreeMap)


def test_open_rejects_short_tampered_wrong_key_and_replay_in_gcm() -> None:
    s = settings()
    payload = seal(s, b"hello", NOW)
    w = ReplayWindow(now_ms=NOW)
    for bad in (b"", payload[:11], payload[:27]):
        with pytest.raises(DecryptError) as e:
            open_payload(s, bad, w, NOW)
        assert e.value.reason == "short"
    for i in (0, 11, 12, len(payload) - 17, len(payload) - 1):  # IV, ciphertext, tag
        for bit in range(8):
            t = bytearray(payload)
            t[i] ^= 1 << bit
            with pytest.raises(DecryptError) as e:
                open_payload(s, bytes(t), w, NOW)
            assert e.value.reason == "decrypt"
    with pytest.raises(DecryptError):
        open_payload(settings(key=OTHER), payload, w, NOW)
    assert open_payload(s, payload, w, NOW) == b"hello"
    with pytest.raises(DecryptError) as e:
        open_payload(s, payload, w, NOW + 5)
    assert e.value.reason == "replay"


def test_version_mismatch_is_diagnosed_both_ways() -> None:
    s9, s10 = settings(fmt=FORMAT_9), settings(fmt=FORMAT_10)
    import time
    now = int(time.time() * 1000)
    msg = java_stream_session_message()
    from_9 = seal(s9, msg, now)
    from_10 = seal(s10, msg, now)
    assert "Tomcat 9.0's format" in (diagnose_mismatch(s10, from_9) or "")
    assert "Tomcat 10.1's format" in (diagnose_mismatch(s9, from_10) or "")
    # same algorithm, both GCM: 10.1 sees an implausible timestamp, 9.0 sees timestamp + Java stream
    g9 = settings("AES/GCM/NoPadding", FORMAT_9)
    with pytest.raises(DecryptError) as e:
        open_payload(s10, seal(g9, msg, now), ReplayWindow(now_ms=now), now)
    assert e.value.reason == "timestamp" and diagnose_mismatch(s10, seal(g9, msg, now))
    with pytest.raises(DecryptError) as e:
        open_payload(g9, seal(s10, msg, now), None, now)
    assert e.value.reason == "version_mismatch"
    # our own format, replayed: not called a mismatch
    assert diagnose_mismatch(s10, from_10) is None
    assert diagnose_mismatch(s10, b"\x00" * 64) is None


def test_config_findings_for_mixed_versions() -> None:
    a = NodeEncryption("a.xml", "9.0", None, KEY)
    b = NodeEncryption("b.xml", "10.1", None, KEY)
    found = compatibility_findings([a, b])
    assert any("different EncryptInterceptor formats" in f and "8-byte timestamp" in f for f in found)
    assert any("both left on their default" in f and "AES/CBC/PKCS5Padding" in f for f in found)
    assert compatibility_findings([a, NodeEncryption("c.xml", "9", "AES/CBC/PKCS5Padding", KEY.upper())]) == []
    assert any("different encryptionKey" in f for f in compatibility_findings([b, NodeEncryption("d", "10.1", None, OTHER)]))
    assert any("no EncryptInterceptor" in f for f in compatibility_findings([b, None], ["b.xml", "p.xml"]))


# ------------------------------------------------------------------------------------------- interceptor
class Top:
    """Stands for the channel above: records what is passed up."""

    def __init__(self) -> None:
        self.got: list[bytes] = []
        self.previous = None

    def message_received(self, msg: ChannelData) -> None:
        self.got.append(msg.message)


class Bottom:
    def __init__(self) -> None:
        self.sent: list[ChannelData] = []
        self.next = None

    async def send_message(self, dest: Any, msg: ChannelData, payload: Any = None) -> None:
        self.sent.append(msg)

    async def start(self, svc: int) -> None:
        pass

    async def stop(self, svc: int) -> None:
        pass


def stack(**kw: Any) -> tuple[EncryptInterceptor, Top, Bottom]:
    enc = EncryptInterceptor(**{"encryption_key": KEY, **kw})
    top, bottom = Top(), Bottom()
    enc.previous, enc.next = top, bottom  # type: ignore[assignment]
    asyncio.run(enc.start(15))
    return enc, top, bottom


def cd(payload: bytes, ts: int = NOW) -> ChannelData:
    return ChannelData(2, ts, new_unique_id(), SENDER, payload)


@pytest.mark.parametrize("version,algo", [("10.1", None), ("9.0", None), ("10.1", "AES/CBC/PKCS5Padding")])
def test_interceptor_round_trip_and_counters(version: str, algo: str | None) -> None:
    a, _, bottom = stack(tomcat_version=version, encryption_algorithm=algo)
    b, top, _ = stack(tomcat_version=version, encryption_algorithm=algo)
    import time
    now = int(time.time() * 1000)
    asyncio.run(a.send_message([SENDER], cd(b"payload", now)))
    wire = bottom.sent[0]
    assert b"payload" not in wire.message and wire.options == 2 and wire.timestamp == now
    b.message_received(ChannelData(wire.options, wire.timestamp, wire.unique_id, SENDER, wire.message))
    assert top.got == [b"payload"]
    assert a.stats()["encrypted"] == 1 and b.stats()["decrypted"] == 1 and b.stats()["rejectedTotal"] == 0
    assert b.stats()["format"] == version and KEY not in repr(b.stats())


def test_interceptor_drops_bad_input_logs_sender_and_reason_never_the_key(caplog: Any) -> None:
    enc, top, _ = stack()
    valid_java = java_stream_session_message()
    with caplog.at_level(logging.WARNING, logger="tribes.interceptors.encrypt"):
        enc.message_received(cd(valid_java))  # plaintext frame holding a perfectly valid Java stream
        for n in range(65):
            enc.message_received(cd(random.Random(n).randbytes(n)))
    assert top.got == []
    assert enc.rejected["decrypt"] + enc.rejected["short"] == 66
    text = caplog.text
    assert "cannot decrypt message from tcp://{10, 77, 0, 9}:4000" in text
    assert KEY not in text and KEY.upper() not in text
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) <= 2  # rate-limited: one line per reason and sender per interval
    # the connection's other messages keep flowing
    import time
    good_sender, _, bottom = stack()
    asyncio.run(good_sender.send_message([SENDER], cd(b"after", int(time.time() * 1000))))
    enc.message_received(bottom.sent[0])
    assert top.got == [b"after"]


def test_wrong_key_is_never_accepted() -> None:
    a, _, bottom = stack(encryption_key=OTHER)
    b, top, _ = stack()
    import time
    for i in range(50):
        asyncio.run(a.send_message([SENDER], cd(b"x" * i, int(time.time() * 1000))))
    for m in bottom.sent:
        b.message_received(m)
    assert top.got == [] and b.rejected["decrypt"] == 50


def test_nothing_leaves_in_plaintext_after_an_error() -> None:
    enc, _, bottom = stack(tomcat_version="9.0", encryption_algorithm="AES/CBC/NoPadding")
    from tribes.channel import ChannelException
    with pytest.raises(ChannelException, match="Failed to encrypt"):
        asyncio.run(enc.send_message([SENDER], cd(b"odd length")))
    assert bottom.sent == []
    stopped = EncryptInterceptor(encryption_key=KEY)
    stopped.next = bottom  # type: ignore[assignment]
    with pytest.raises(ChannelException, match="not started"):
        asyncio.run(stopped.send_message([SENDER], cd(b"secret")))
    assert bottom.sent == []


def test_start_checks_stack_order_and_key() -> None:
    from tribes.interceptors.tcp_failure_detector import TcpFailureDetector
    enc = EncryptInterceptor(encryption_key=KEY)
    tfd = TcpFailureDetector()
    enc.previous = tfd  # TcpFailureDetector above EncryptInterceptor: Tomcat refuses to start
    enc.next = Bottom()  # type: ignore[assignment]
    with pytest.raises(ChannelConfigException, match="must be upstream of TcpFailureDetector"):
        asyncio.run(enc.start(15))
    with pytest.raises(EncryptConfigError, match="is 2 bytes"):
        EncryptInterceptor(encryption_key="cafe")
    late = EncryptInterceptor()
    late.next = Bottom()  # type: ignore[assignment]
    with pytest.raises(ChannelConfigException, match="encryptionKey is required"):
        asyncio.run(late.start(15))
    with pytest.raises(ChannelConfigException, match="does not support this algorithm"):
        late.encryption_key, late.encryption_algorithm = KEY, "AES/CBC/NoPadding"
        asyncio.run(late.start(15))
    late.tomcat_version = "9.0"
    asyncio.run(late.start(15))  # 9.0 accepts CBC/NoPadding


@pytest.mark.parametrize("version,algo", [("10.1", "AES/GCM/NoPadding"), ("10.1", "AES/CBC/PKCS5Padding"),
                                          ("10.1", "AES/CFB/PKCS5Padding"), ("10.1", "AES/OFB/PKCS5Padding"),
                                          ("9.0", "AES/CBC/PKCS5Padding"), ("9.0", "AES/CFB/NoPadding"),
                                          ("9.0", "AES/OFB/NoPadding"), ("9.0", "AES/GCM/NoPadding")])
def test_seeded_random_frames_0_to_64_bytes(version: str, algo: str) -> None:
    """GCM: every random frame rejected. Other modes: whatever decrypts is not a Java stream, so the
    channel's deserialization stops at the stream header before any object is built."""
    from tribes.javaser import JavaSerializationError, loads
    enc, top, _ = stack(tomcat_version=version, encryption_algorithm=algo)
    rnd = random.Random(1234)
    for n in range(65):
        for _ in range(20):
            enc.message_received(cd(rnd.randbytes(n)))
    if "GCM" in algo:
        assert top.got == []
    for data in top.got:
        with pytest.raises(JavaSerializationError):
            loads(data)


def test_format_follows_the_configured_tomcat_version() -> None:
    class Chan:
        tomcat_version = "9.0"

    enc = EncryptInterceptor(encryption_key=KEY)
    assert enc.wire_format == FORMAT_10  # the project's default
    enc.set_channel(Chan())  # type: ignore[arg-type]
    assert enc.wire_format == FORMAT_9 and enc.stats()["algorithm"] == "AES/CBC/PKCS5Padding"
    enc.set_tomcat_version("10.1.60")
    assert enc.wire_format == FORMAT_10
    assert EncryptInterceptor(encryption_key=KEY, tomcat_version="10.1", format="9.0").wire_format == FORMAT_9
