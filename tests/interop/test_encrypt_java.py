"""EncryptInterceptor against Tomcat's own class (9.0.70 and 10.1.60 jars, in-process, no network):
bytes both ways for every mode and key size, the algorithm rules, wrong keys, tampering, replay."""
from __future__ import annotations

import random
import time
from typing import Iterator

import pytest

from interop import javatool
from tests.interop.encrypt_support import KEYS, WRONG_KEY, JavaEncrypt
from tribes.interceptors.encrypt import (FORMAT_9, FORMAT_10, DecryptError, EncryptConfigError, EncryptionSettings,
                                         ReplayWindow, open_payload, parse_algorithm, seal)

pytestmark = pytest.mark.interop

FORMAT = {9: FORMAT_9, 10: FORMAT_10}
MODES = {10: ["AES/GCM/NoPadding", "AES/CBC/PKCS5Padding", "AES/CFB/PKCS5Padding", "AES/OFB/PKCS5Padding"],
         9: ["AES/GCM/NoPadding", "AES/CBC/PKCS5Padding", "AES/CFB/PKCS5Padding", "AES/OFB/PKCS5Padding",
             "AES/CFB/NoPadding", "AES/OFB/NoPadding", "AES/CBC/NoPadding"]}


@pytest.fixture(scope="module", params=[10, 9])
def java(request: pytest.FixtureRequest) -> Iterator[JavaEncrypt]:
    why = javatool.missing_requirements(request.param)
    if why:
        pytest.skip(why)
    j = JavaEncrypt(request.param)
    try:
        yield j
    finally:
        j.close()


def now_ms() -> int:
    return int(time.time() * 1000)


def test_every_mode_and_key_size_both_ways(java: JavaEncrypt) -> None:
    v = int(java.version)
    rnd = random.Random(7)
    for algo in [None] + MODES[v]:
        for bits, key in KEYS.items():
            s = EncryptionSettings.create(key, algo, FORMAT[v])
            window = ReplayWindow(now_ms=now_ms()) if v == 10 else None
            for n in (0, 1, 16, 31, 4096):
                if algo == "AES/CBC/NoPadding" and n % 16:
                    continue
                data = rnd.randbytes(n)
                from_java = java.seal(algo, key, now_ms(), data)
                assert open_payload(s, from_java, window, now_ms()) == data, (algo, bits, n)
                from_python = seal(s, data, now_ms())
                assert len(from_python) == len(from_java)
                assert java.open(algo, key, from_python) == data, (algo, bits, n)


@pytest.mark.parametrize("algo", ["AES/GCM/NoPadding", "aes/gcm/nopadding", "AES/CBC/PKCS5Padding",
                                  "AES/CFB/PKCS5Padding", "AES/OFB/PKCS5Padding", "AES/CBC/NoPadding",
                                  "AES/CFB/NoPadding", "AES/OFB/NoPadding", "AES/GCM/PKCS5Padding",
                                  "AES/CTR/NoPadding", "AES/ECB/PKCS5Padding", "AES/CFB8/NoPadding",
                                  "AES/OFB32/NoPadding", "AES/PCBC/PKCS5Padding", "AES/CTS/NoPadding",
                                  "AES/KW/NoPadding", "AES/NONE/NoPadding", "AES/CBC"])
def test_algorithm_rules_match_tomcat(java: JavaEncrypt, algo: str) -> None:
    """Python accepts exactly what this Tomcat version accepts (Java's start answers "ok" or an error)."""
    v = int(java.version)
    java_ok = java.start(algo, KEYS[128]) == "ok"
    try:
        parse_algorithm(algo, FORMAT[v])
        py_ok = True
    except EncryptConfigError:
        py_ok = False
    assert py_ok == java_ok, (algo, v)


def test_wrong_key_and_tampering_are_refused_by_both(java: JavaEncrypt) -> None:
    v = int(java.version)
    gcm = "AES/GCM/NoPadding"
    s = EncryptionSettings.create(KEYS[256], gcm, FORMAT[v])
    payload = seal(s, b"session delta", now_ms())
    wrong = EncryptionSettings.create(WRONG_KEY, gcm, FORMAT[v])
    assert java.open(gcm, WRONG_KEY, payload) is None
    with pytest.raises(DecryptError):
        open_payload(wrong, payload, ReplayWindow(), now_ms())
    for i in (0, 11, 12, len(payload) // 2, len(payload) - 16, len(payload) - 1):  # IV, ciphertext, tag
        t = bytearray(payload)
        t[i] ^= 0x04
        assert java.open(gcm, KEYS[256], bytes(t)) is None, i
        with pytest.raises(DecryptError):
            open_payload(s, bytes(t), ReplayWindow(), now_ms())
    # a plaintext Java stream is not accepted either
    from tribes.javaser import dumps
    plain = dumps("would create a session")
    assert java.open(gcm, KEYS[256], plain) is None
    with pytest.raises(DecryptError):
        open_payload(s, plain, ReplayWindow(), now_ms())


def test_replay_is_refused_by_tomcat_10_and_python_and_accepted_by_9(java: JavaEncrypt) -> None:
    key = KEYS[128]
    if java.version != "10":  # 9.0.70 has no replay protection: the same frame is accepted again
        s9 = EncryptionSettings.create(key, None, FORMAT_9)
        payload = seal(s9, b"twice", now_ms())
        assert java.open(None, key, payload) == b"twice" and java.open(None, key, payload) == b"twice"
        return
    s = EncryptionSettings.create(key, None, FORMAT_10)
    payload = seal(s, b"once", now_ms())
    assert java.open(None, key, payload) == b"once"
    assert java.open(None, key, payload) is None  # Tomcat 10.1: "replay attack detected"
    w = ReplayWindow()
    assert open_payload(s, payload, w, now_ms()) == b"once"
    with pytest.raises(DecryptError, match="replayed"):
        open_payload(s, payload, w, now_ms())
    old = seal(s, b"late", now_ms() - 11_000)
    assert java.open(None, key, old) is None
    with pytest.raises(DecryptError, match="timestamp"):
        open_payload(s, old, ReplayWindow(), now_ms())


def test_formats_cannot_talk(java: JavaEncrypt) -> None:
    """A 9.0 payload to a 10.1 interceptor and vice versa: refused by Tomcat, refused and diagnosed by Python."""
    from tribes.interceptors.encrypt import diagnose_mismatch
    from tribes.javaser import dumps
    v = int(java.version)
    other = FORMAT_9 if v == 10 else FORMAT_10
    key = KEYS[128]
    theirs = EncryptionSettings.create(key, None, other)
    payload = seal(theirs, dumps("x"), now_ms())
    try:
        got = java.open(None, key, payload)
    except RuntimeError:
        got = None  # 9.0/10.1 throw for payloads shorter than the IV; not the case here
    assert got is None or got != dumps("x")
    ours = EncryptionSettings.create(key, None, FORMAT[v])
    assert f"Tomcat {other}'s format" in (diagnose_mismatch(ours, payload) or "")
