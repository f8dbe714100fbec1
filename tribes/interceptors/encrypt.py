"""EncryptInterceptor: AES encryption of every channel payload, in Tomcat 9.0.70's and 10.1.60's formats.

Wire formats (Tomcat's ``org.apache.catalina.tribes.group.interceptors.EncryptInterceptor``):

- **9.0** (9.0.70; default ``AES/CBC/PKCS5Padding``): payload = ``IV || E(data)``.
- **10.1** (10.1.60; default ``AES/GCM/NoPadding``): payload = ``IV || E(timestamp(8, big-endian ms) || data)``;
  the receiver checks the timestamp against ``replayWindowTime`` (ms) and the nonce (the IV) against
  the last ``replayWindowMessageCount`` nonces.

The IV is 12 random bytes for GCM, 16 (the AES block) otherwise; GCM appends its 128-bit tag (Java's
convention). Option bits are not changed and ``optionFlag`` is ignored: every message is encrypted.
Membership datagrams, ACKs and TcpFailureDetector probes stay plaintext because the interceptor must
sit *above* TcpFailureDetector (checked at start, as Tomcat does).

The crypto core is sans-I/O: :class:`EncryptionSettings` (validated configuration),
:func:`seal` / :func:`open_payload` (bytes in, bytes or :class:`DecryptError` out) and
:class:`ReplayWindow` (takes ``now``). :class:`EncryptInterceptor` is the thin channel adapter:
fail-closed (a message that does not decrypt is dropped before anything above sees it, and so before
any Java deserialization), rate-limited logging naming the sender and the reason (never the key),
counters (``stats()``).

CBC, CFB and OFB carry no integrity check (a flipped bit can decrypt cleanly; a wrong key passes the
PKCS5 padding check about once in 256 messages): prefer ``AES/GCM/NoPadding``. See docs/encryption.md.
"""
from __future__ import annotations

import heapq
import logging
import os
import struct
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding as _padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

try:  # cryptography >= 47 keeps CFB/OFB among the "decrepit" (legacy) modes
    from cryptography.hazmat.decrepit.ciphers.modes import CFB as _CFB
    from cryptography.hazmat.decrepit.ciphers.modes import OFB as _OFB
except ImportError:  # pragma: no cover - older cryptography
    _CFB, _OFB = modes.CFB, modes.OFB  # type: ignore[misc]

_MODE_CLASSES: dict[str, Any] = {"CBC": modes.CBC, "CFB": _CFB, "OFB": _OFB}

from tribes.channel import SND_TX_SEQ, ChannelException, ChannelInterceptor, InterceptorPayload
from tribes.io.channel_data import ChannelData
from tribes.membership.member import Member
from tribes.ratelimit import RateLimitedLog

log = logging.getLogger("tribes.interceptors.encrypt")

__all__ = [
    "EncryptInterceptor", "EncryptionSettings", "EncryptConfigError", "ChannelConfigException", "DecryptError",
    "ReplayWindow", "seal", "open_payload", "parse_key", "parse_algorithm", "format_for_version",
    "diagnose_mismatch", "compatibility_findings", "stack_problems", "node_encryption", "NodeEncryption", "FORMAT_9", "FORMAT_10", "DEFAULT_ALGORITHMS", "REASONS",
]

FORMAT_9 = "9.0"
FORMAT_10 = "10.1"
DEFAULT_ALGORITHMS = {FORMAT_9: "AES/CBC/PKCS5Padding", FORMAT_10: "AES/GCM/NoPadding"}
DEFAULT_REPLAY_WINDOW_TIME = 10_000  # ms (10.1)
DEFAULT_REPLAY_WINDOW_MESSAGE_COUNT = 8192  # (10.1)
GCM_IV_SIZE = 12
GCM_TAG_SIZE = 16
BLOCK = 16

# Rejection reasons (counter names; the log says them in words)
REASON_SHORT = "short"            # shorter than IV (+ tag), or 10.1 plaintext shorter than the timestamp
REASON_DECRYPT = "decrypt"        # authentication tag / padding / block length failed (wrong key, tampering)
REASON_REPLAY = "replay"          # nonce seen before within the window
REASON_TIMESTAMP = "timestamp"    # outside +-replayWindowTime, or not newer than the oldest evicted one
REASON_MISMATCH = "version_mismatch"  # decrypts in the other Tomcat version's format
REASONS = (REASON_SHORT, REASON_DECRYPT, REASON_REPLAY, REASON_TIMESTAMP, REASON_MISMATCH)

_REASON_TEXT = {
    REASON_SHORT: "payload too short (truncated or not encrypted)",
    REASON_DECRYPT: "authentication/padding check failed (wrong key, tampered or unencrypted payload)",
    REASON_REPLAY: "replayed message (nonce already seen)",
    REASON_TIMESTAMP: "timestamp outside the replay window (replayed, or clocks differ by more than replayWindowTime)",
    REASON_MISMATCH: "version mismatch",
}

# 9.0.70 accepts these modes (any padding the JCE accepts); 10.1 rejects some combinations.
_MODES_9 = ("GCM", "CBC", "OFB", "CFB")
_REJECTED_10 = ("NONE", "ECB", "PCBC", "CTS", "KW", "KWP", "CTR")
_PLAUSIBLE_SKEW_MS = 366 * 24 * 3600 * 1000  # "looks like a wall-clock timestamp" for diagnoses only
_JAVA_STREAM_MAGIC = b"\xac\xed\x00\x05"


class EncryptConfigError(ValueError):
    """A setting is invalid (bad hex key, wrong key length, algorithm the Tomcat version rejects)."""


class ChannelConfigException(ChannelException):
    """The channel is assembled wrongly (Tomcat: EncryptInterceptor.ChannelConfigException)."""


class DecryptError(Exception):
    """A payload was refused; ``reason`` is one of :data:`REASONS`, ``detail`` says more (never the key)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{_REASON_TEXT.get(reason, reason)}{': ' + detail if detail else ''}")
        self.reason = reason
        self.detail = detail


# ---------------------------------------------------------------------------------------- settings
def format_for_version(version: str | int | None) -> str:
    """``"9"``, ``"9.0"``, ``"9.0.70"``, 9 -> ``"9.0"``; ``"10"``, ``"10.1"``, ``"11.0"`` -> ``"10.1"``."""
    if version is None:
        return FORMAT_10
    text = str(version).strip()
    major = text.split(".")[0]
    if not major.isdigit():
        raise EncryptConfigError(f"Tomcat version {version!r}: use 9.0 or 10.1")
    if int(major) < 9:
        raise EncryptConfigError(f"Tomcat version {version!r}: only the 9.0 and 10.1 formats are implemented")
    return FORMAT_9 if int(major) == 9 else FORMAT_10


def parse_key(text: str | bytes | None) -> bytes:
    """Tomcat's ``encryptionKey`` (hex, surrounding blanks ignored) -> 16, 24 or 32 key bytes.

    Raises :class:`EncryptConfigError` saying what is wrong (the message never contains the key).
    """
    if text is None:
        raise EncryptConfigError("encryptionKey is required: set it to 32, 48 or 64 hex digits "
                                 "(AES-128, AES-192, AES-256), the same on every node")
    if isinstance(text, (bytes, bytearray)):
        key = bytes(text)
    else:
        if not isinstance(text, str):
            raise EncryptConfigError(f"encryptionKey must be a hex string, not {type(text).__name__}")
        s = text.strip()
        if len(s) % 2:
            raise EncryptConfigError(f"encryptionKey has an odd number of hex digits ({len(s)}): "
                                     "use 32, 48 or 64 hex digits")
        if not all(c in "0123456789abcdefABCDEF" for c in s):
            raise EncryptConfigError("encryptionKey contains a character that is not a hex digit: "
                                     "use 32, 48 or 64 hex digits (0-9, a-f)")
        key = bytes.fromhex(s)
    if len(key) not in (16, 24, 32):
        raise EncryptConfigError(f"encryptionKey is {len(key)} bytes ({2 * len(key)} hex digits); AES needs 16, 24 "
                                 "or 32 bytes (32, 48 or 64 hex digits)")
    return key


@dataclass(frozen=True)
class Algorithm:
    name: str       # "AES"
    mode: str       # GCM | CBC | CFB | OFB
    padded: bool    # PKCS5Padding
    text: str       # as configured
    warning: str | None = None  # 10.1's "insecure algorithm" warning

    @property
    def iv_size(self) -> int:
        return GCM_IV_SIZE if self.mode == "GCM" else BLOCK


def parse_algorithm(algorithm: str, fmt: str) -> Algorithm:
    """Validate ``encryptionAlgorithm`` as the Tomcat version of ``fmt`` does (plus: AES only).

    9.0.70: ``name/mode/padding`` with mode GCM, CBC, OFB or CFB (case-insensitive).
    10.1.60: additionally rejects CBC/CFB/OFB without padding, GCM with padding, CFBx/OFBx; CBC/CFB/OFB
    with PKCS5Padding are accepted with a warning.
    """
    if not isinstance(algorithm, str) or algorithm.count("/") < 2:
        raise EncryptConfigError(f"encryptionAlgorithm {algorithm!r}: Encryption algorithm is required, "
                                 "fully-specified e.g. AES/GCM/NoPadding")
    name, mode, pad = (p.strip() for p in algorithm.split("/", 2))
    if name.upper() != "AES":
        raise EncryptConfigError(f"encryptionAlgorithm {algorithm!r}: only AES is supported by the Python node "
                                 "(use AES/GCM/NoPadding)")
    m, p = mode.upper(), pad.upper()
    warning = None
    if fmt == FORMAT_10:
        if (m in _REJECTED_10 or (m in ("CBC", "CFB", "OFB") and p == "NOPADDING")
                or (m == "GCM" and p == "PKCS5PADDING") or (m != "CFB" and m.startswith("CFB"))
                or (m != "OFB" and m.startswith("OFB"))):
            raise EncryptConfigError(f"encryptionAlgorithm {algorithm!r}: EncryptInterceptor (Tomcat 10.1) does not "
                                     "support this algorithm; use AES/GCM/NoPadding")
        if m in ("CBC", "CFB", "OFB") and p == "PKCS5PADDING":
            warning = (f"The EncryptInterceptor is using the insecure algorithm [{algorithm}]. It is recommended "
                       "to switch to using AES/GCM/NoPadding.")
    elif m not in _MODES_9:
        raise EncryptConfigError(f"encryptionAlgorithm {algorithm!r}: unsupported mode {mode!r} "
                                 "(Tomcat 9.0 accepts GCM, CBC, OFB and CFB); use AES/GCM/NoPadding")
    if m not in _MODES_9:
        raise EncryptConfigError(f"encryptionAlgorithm {algorithm!r}: unsupported mode {mode!r}; use AES/GCM/NoPadding")
    if m == "GCM" and p != "NOPADDING":
        raise EncryptConfigError(f"encryptionAlgorithm {algorithm!r}: GCM takes no padding (Java fails with "
                                 "NoSuchPaddingException); use AES/GCM/NoPadding")
    if p not in ("NOPADDING", "PKCS5PADDING"):
        raise EncryptConfigError(f"encryptionAlgorithm {algorithm!r}: padding {pad!r} is not supported by the "
                                 "Python node (NoPadding or PKCS5Padding); use AES/GCM/NoPadding")
    return Algorithm("AES", m, p == "PKCS5PADDING", algorithm, warning)


@dataclass(frozen=True)
class EncryptionSettings:
    """Validated settings: key bytes, algorithm, wire format and replay window (10.1)."""

    key: bytes
    algorithm: Algorithm
    format: str
    replay_window_time: int = DEFAULT_REPLAY_WINDOW_TIME
    replay_window_message_count: int = DEFAULT_REPLAY_WINDOW_MESSAGE_COUNT

    @classmethod
    def create(cls, encryption_key: str | bytes | None, encryption_algorithm: str | None = None,
               fmt: str = FORMAT_10, replay_window_time: int = DEFAULT_REPLAY_WINDOW_TIME,
               replay_window_message_count: int = DEFAULT_REPLAY_WINDOW_MESSAGE_COUNT) -> "EncryptionSettings":
        if fmt not in (FORMAT_9, FORMAT_10):
            raise EncryptConfigError(f"format {fmt!r}: use {FORMAT_9!r} or {FORMAT_10!r}")
        algorithm = parse_algorithm(encryption_algorithm or DEFAULT_ALGORITHMS[fmt], fmt)
        if int(replay_window_time) < 1:
            raise EncryptConfigError("replayWindowTime: Replay window time must be at least 1 millisecond")
        if int(replay_window_message_count) < 1:
            raise EncryptConfigError("replayWindowMessageCount: Replay window message count must be at least 1")
        return cls(parse_key(encryption_key), algorithm, fmt, int(replay_window_time), int(replay_window_message_count))

    def __repr__(self) -> str:  # never show the key
        return (f"EncryptionSettings(algorithm={self.algorithm.text!r}, format={self.format!r}, "
                f"key=<{8 * len(self.key)} bits>)")


# ---------------------------------------------------------------------------------------- crypto core
def _encrypt_raw(algo: Algorithm, key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    if algo.mode == "GCM":
        return AESGCM(key).encrypt(iv, plaintext, None)
    if algo.padded:
        padder = _padding.PKCS7(128).padder()
        plaintext = padder.update(plaintext) + padder.finalize()
    elif algo.mode == "CBC" and len(plaintext) % BLOCK:
        # Java: IllegalBlockSizeException "Input length not multiple of 16 bytes"
        raise ValueError(f"{algo.text} cannot encrypt {len(plaintext)} bytes (not a multiple of 16)")
    mode: Any = _MODE_CLASSES[algo.mode](iv)
    enc = Cipher(algorithms.AES(key), mode).encryptor()
    return enc.update(plaintext) + enc.finalize()


def _decrypt_raw(algo: Algorithm, key: bytes, payload: bytes) -> bytes:
    """IV || ciphertext -> plaintext, or DecryptError (short/decrypt)."""
    n = algo.iv_size
    if len(payload) < n + (GCM_TAG_SIZE if algo.mode == "GCM" else 0):
        raise DecryptError(REASON_SHORT, f"{len(payload)} bytes")
    view = memoryview(payload)  # no copy of the ciphertext
    iv, body = bytes(view[:n]), view[n:]
    if algo.mode == "GCM":
        try:
            return AESGCM(key).decrypt(iv, body, None)
        except InvalidTag:
            raise DecryptError(REASON_DECRYPT, "GCM tag mismatch") from None
    if (algo.padded or algo.mode == "CBC") and len(body) % BLOCK:
        raise DecryptError(REASON_DECRYPT, f"ciphertext of {len(body)} bytes is not a multiple of 16")
    mode: Any = _MODE_CLASSES[algo.mode](iv)
    dec = Cipher(algorithms.AES(key), mode).decryptor()
    plain = dec.update(body) + dec.finalize()
    if algo.padded:
        if not plain:
            raise DecryptError(REASON_DECRYPT, "no padding block")
        try:
            unpadder = _padding.PKCS7(128).unpadder()
            plain = unpadder.update(plain) + unpadder.finalize()
        except ValueError:
            raise DecryptError(REASON_DECRYPT, "bad padding") from None
    return plain


def seal(settings: EncryptionSettings, data: bytes, timestamp: int, iv: bytes | None = None) -> bytes:
    """The wire payload of ``data`` (``timestamp``: ms, used by the 10.1 format only)."""
    algo = settings.algorithm
    if iv is None:
        iv = os.urandom(algo.iv_size)
    elif len(iv) != algo.iv_size:
        raise ValueError(f"IV must be {algo.iv_size} bytes")
    plaintext = struct.pack(">q", timestamp) + data if settings.format == FORMAT_10 else data
    return iv + _encrypt_raw(algo, settings.key, iv, plaintext)


def open_payload(settings: EncryptionSettings, payload: bytes, window: "ReplayWindow | None" = None,
                 now_ms: int | None = None) -> bytes:
    """Decrypt a wire payload; returns the data, or raises :class:`DecryptError`.

    10.1 format: checks the timestamp and nonce against ``window`` (created by the caller; required).
    9.0 format: a plaintext that is a 10.1 timestamp followed by a Java stream is refused as a version
    mismatch (Tomcat 9.0 would hand it to Java deserialization, which fails).
    """
    plain = _decrypt_raw(settings.algorithm, settings.key, payload)
    if settings.format == FORMAT_10:
        if len(plain) < 8:
            raise DecryptError(REASON_SHORT, "Failed to decrypt message: premature end-of-message")
        (ts,) = struct.unpack_from(">q", plain)
        if window is None:
            raise ValueError("the 10.1 format needs a ReplayWindow")
        now = int(time.time() * 1000) if now_ms is None else now_ms
        window.check(payload[:settings.algorithm.iv_size], ts, now)
        return plain[8:]
    if len(plain) >= 12 and plain[8:12] == _JAVA_STREAM_MAGIC:
        (ts,) = struct.unpack_from(">q", plain)
        now = int(time.time() * 1000) if now_ms is None else now_ms
        if abs(ts - now) < _PLAUSIBLE_SKEW_MS:
            raise DecryptError(REASON_MISMATCH, "the payload starts with a Tomcat 10.1 timestamp: the sender "
                                                "uses the 10.1 format")
    return plain


class ReplayWindow:
    """Tomcat 10.1's replay check (BaseEncryptionManager.checkIncomingMessage), sans-I/O.

    A message is accepted when its timestamp lies within ``now +- window_time`` and is newer than the
    newest timestamp evicted so far, and its nonce is not among the last ``message_count`` accepted
    nonces. Accepted nonces are remembered; beyond ``message_count`` the one with the oldest timestamp
    is evicted (FIFO among equal timestamps), as Tomcat's TreeMap does.
    """

    def __init__(self, window_time: int = DEFAULT_REPLAY_WINDOW_TIME,
                 message_count: int = DEFAULT_REPLAY_WINDOW_MESSAGE_COUNT, now_ms: int | None = None) -> None:
        if window_time < 1 or message_count < 1:
            raise EncryptConfigError("replay window time and message count must be at least 1")
        now = int(time.time() * 1000) if now_ms is None else now_ms
        self.window_time = int(window_time)
        self.message_count = int(message_count)
        self.last_removed = now - self.window_time
        self._nonces: dict[bytes, int] = {}
        self._heap: list[tuple[int, int, bytes]] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._nonces)

    def check(self, nonce: bytes, timestamp: int, now_ms: int) -> None:
        """Accept (and remember) or raise :class:`DecryptError` (timestamp / replay)."""
        if timestamp < now_ms - self.window_time:
            raise DecryptError(REASON_TIMESTAMP, f"{now_ms - timestamp} ms old (replayWindowTime {self.window_time})")
        if timestamp > now_ms + self.window_time:
            raise DecryptError(REASON_TIMESTAMP, f"{timestamp - now_ms} ms in the future "
                                                 f"(replayWindowTime {self.window_time})")
        if timestamp <= self.last_removed:
            raise DecryptError(REASON_TIMESTAMP, "not newer than the oldest message evicted from the replay window")
        if nonce in self._nonces:
            raise DecryptError(REASON_REPLAY)
        nonce = bytes(nonce)
        self._nonces[nonce] = timestamp
        self._seq += 1
        heapq.heappush(self._heap, (timestamp, self._seq, nonce))
        while len(self._nonces) > self.message_count:
            ts, _, old = heapq.heappop(self._heap)
            del self._nonces[old]
            if ts > self.last_removed:
                self.last_removed = ts


def diagnose_mismatch(settings: EncryptionSettings, payload: bytes) -> str | None:
    """When ``payload`` failed in our format: does it decrypt in the other Tomcat version's format
    (with the same key, with this algorithm or the other version's default)? Returns a sentence for
    the log, or None. Only a diagnosis: the payload is never accepted."""
    other = FORMAT_9 if settings.format == FORMAT_10 else FORMAT_10
    tried: list[Algorithm] = []
    for text in (settings.algorithm.text, DEFAULT_ALGORITHMS[other]):
        try:
            algo = parse_algorithm(text, FORMAT_9)  # the 9.0 rules accept every mode either version accepts
        except EncryptConfigError:
            continue
        if algo in tried:
            continue
        tried.append(algo)
        try:
            plain = _decrypt_raw(algo, settings.key, payload)
        except DecryptError:
            continue
        if other == FORMAT_10:
            if not _plausible_timestamp(plain):
                continue
        elif _plausible_timestamp(plain):
            continue  # our own (10.1) format, refused for its timestamp or nonce: not a mismatch
        elif algo.mode != "GCM" and not plain.startswith(_JAVA_STREAM_MAGIC):
            continue  # unauthenticated modes: only a Java stream is convincing evidence
        return (f"the message decrypts in Tomcat {other}'s format ({algo.text}{', with timestamp' if other == FORMAT_10 else ''}) "
                f"but this node uses Tomcat {settings.format}'s ({settings.algorithm.text}"
                f"{', with timestamp' if settings.format == FORMAT_10 else ''}): "
                f"9.0 and 10.1 EncryptInterceptors cannot talk to each other; configure every node for the same "
                f"Tomcat version's format (see docs/encryption.md)")
    return None


def _plausible_timestamp(plain: bytes) -> bool:
    if len(plain) < 8:
        return False
    (ts,) = struct.unpack_from(">q", plain)
    return abs(ts - int(time.time() * 1000)) < _PLAUSIBLE_SKEW_MS


# ---------------------------------------------------------------------------------------- configuration checks
@dataclass(frozen=True)
class NodeEncryption:
    """One node's EncryptInterceptor as configured (for cross-file checks)."""

    source: str
    version: str          # Tomcat version the file is for ("9.0" / "10.1")
    algorithm: str | None  # None: not set (the version's default)
    key: str | None = None


def stack_problems(interceptors: Sequence[tuple[str, dict[str, Any]]], version: str | int | None,
                   ) -> list[tuple[str, str]]:
    """(severity, message) for one node's interceptor list ``[(short class name, attributes), ...]``
    (top first) run by Tomcat ``version``: what Tomcat would refuse at start, and its warnings."""
    found: list[tuple[str, str]] = []
    names = [n for n, _ in interceptors]
    if "EncryptInterceptor" not in names:
        return found
    fmt = format_for_version(version)
    i = names.index("EncryptInterceptor")
    if "TcpFailureDetector" in names[:i]:
        found.append(("error", "EncryptInterceptor must be upstream of TcpFailureDetector: list it before "
                               "TcpFailureDetector (Tomcat fails the channel start otherwise)"))
    attrs = interceptors[i][1]
    try:
        algo = parse_algorithm(attrs.get("encryptionAlgorithm") or DEFAULT_ALGORITHMS[fmt], fmt)
        if algo.warning:
            found.append(("warning", algo.warning + " (CBC, CFB and OFB have no integrity check)"))
    except EncryptConfigError as exc:
        found.append(("error", f"{exc} (Tomcat {fmt})"))
    if attrs.get("encryptionKey") is None and attrs.get("encryptionKeyString") is None:
        found.append(("error", "EncryptInterceptor: encryptionKey is required (32, 48 or 64 hex digits)"))
    if attrs.get("providerName"):
        found.append(("note", "EncryptInterceptor providerName is not applicable in the Python node (AES comes "
                              "from the cryptography package); Tomcat nodes keep using it"))
    return found


def node_encryption(source: str, version: str | int | None,
                    interceptors: Sequence[tuple[str, dict[str, Any]]]) -> NodeEncryption | None:
    for name, attrs in interceptors:
        if name == "EncryptInterceptor":
            key = attrs.get("encryptionKey") or attrs.get("encryptionKeyString")
            return NodeEncryption(source, format_for_version(version), attrs.get("encryptionAlgorithm"),
                                  key if isinstance(key, str) else None)
    return None


def compatibility_findings(nodes: Sequence[NodeEncryption | None], sources: Sequence[str] = ()) -> list[str]:
    """Warnings for a set of nodes that must form one cluster (``None``: a node without encryption)."""
    found: list[str] = []
    enc = [n for n in nodes if n is not None]
    if not enc:
        return found
    plain = [s for n, s in zip(nodes, sources or [""] * len(nodes)) if n is None]
    if plain:
        found.append(f"{', '.join(p for p in plain if p) or 'some nodes'} have no EncryptInterceptor while "
                     f"{', '.join(n.source for n in enc)} encrypt: the encrypting nodes drop every message of "
                     "the others and vice versa; configure the same interceptors on every node")
    formats = {format_for_version(n.version) for n in enc}
    if len(formats) > 1:
        by = "; ".join(f"{n.source}: Tomcat {format_for_version(n.version)} format "
                       f"({n.algorithm or DEFAULT_ALGORITHMS[format_for_version(n.version)]}"
                       f"{' (default)' if n.algorithm is None else ''})" for n in enc)
        found.append("nodes are configured for different EncryptInterceptor formats and cannot exchange any "
                     f"message: {by}. Tomcat 10.1 puts an 8-byte timestamp inside the encrypted payload "
                     "(replay protection, since 10.1.56) and 9.0 does not; run every node on the same Tomcat "
                     "major version (a mixed 9.0/10.1 encrypted cluster cannot work, not even in Tomcat)")
        defaults = [n for n in enc if n.algorithm is None]
        if {format_for_version(n.version) for n in defaults} == {FORMAT_9, FORMAT_10}:
            found.append("the 9.0 and 10.1 nodes are both left on their default encryptionAlgorithm, which differ: "
                         f"9.0 defaults to {DEFAULT_ALGORITHMS[FORMAT_9]}, 10.1 to {DEFAULT_ALGORITHMS[FORMAT_10]}; "
                         "set encryptionAlgorithm=\"AES/GCM/NoPadding\" explicitly on every node")
    else:
        algos = {(n.algorithm or DEFAULT_ALGORITHMS[format_for_version(n.version)]).upper() for n in enc}
        if len(algos) > 1:
            found.append("nodes use different encryptionAlgorithm values and cannot exchange messages: "
                         + "; ".join(f"{n.source}: {n.algorithm or DEFAULT_ALGORITHMS[format_for_version(n.version)]}"
                                     for n in enc))
    keys = {(n.key or "").strip().lower() for n in enc}
    if len(keys) > 1:
        found.append("nodes use different encryptionKey values (not shown) and cannot decrypt each other's messages; "
                     "use the same key on every node")
    return found


# ---------------------------------------------------------------------------------------- the interceptor
class EncryptInterceptor(ChannelInterceptor):
    """Tomcat's EncryptInterceptor (attributes as server.xml: ``encryptionAlgorithm``, ``encryptionKey``,
    ``providerName``, 10.1: ``replayWindowTime``, ``replayWindowMessageCount``).

    The wire format follows ``tomcat_version`` ("9.0" or "10.1"; default 10.1, like the rest of the
    project) unless ``format`` names one explicitly. ``providerName`` (a JCE provider) is accepted and
    reported as not applicable: AES comes from the ``cryptography`` package (OpenSSL).
    """

    default_option_flag = 0

    def __init__(self, encryption_key: str | bytes | None = None, encryption_algorithm: str | None = None,
                 provider_name: str | None = None, replay_window_time: int = DEFAULT_REPLAY_WINDOW_TIME,
                 replay_window_message_count: int = DEFAULT_REPLAY_WINDOW_MESSAGE_COUNT,
                 option_flag: int | None = None, *, encryption_key_string: str | None = None,
                 tomcat_version: str | int | None = None, format: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(option_flag)
        self.encryption_key = encryption_key if encryption_key is not None else encryption_key_string
        self.encryption_algorithm = encryption_algorithm
        self.provider_name = provider_name
        self.replay_window_time = int(replay_window_time)
        self.replay_window_message_count = int(replay_window_message_count)
        self.tomcat_version = tomcat_version
        self.format = format
        self.clock = clock
        self.settings: EncryptionSettings | None = None
        self.window: ReplayWindow | None = None
        self.encrypted = 0
        self.decrypted = 0
        self.rejected: dict[str, int] = {r: 0 for r in REASONS}
        self.mismatched_senders: dict[str, str] = {}
        self._log = RateLimitedLog(log)
        if provider_name:
            log.info("EncryptInterceptor: providerName=%r is not applicable in the Python node "
                     "(AES comes from the cryptography package)", provider_name)
        if self.encryption_key is not None:
            self.check_settings()  # an invalid key or algorithm fails at construction (configuration time)

    # -- configuration --------------------------------------------------------------------------------
    @property
    def wire_format(self) -> str:
        """``format`` if set, else the Tomcat version's: this interceptor's ``tomcat_version``, else the
        channel's (a SimpleTcpCluster sets its ``tomcat_version`` on the channel), else 10.1."""
        if self.format is not None:
            return self.format
        version = self.tomcat_version
        if version is None:
            version = getattr(self.channel, "tomcat_version", None)
        return format_for_version(version)

    def set_tomcat_version(self, version: str | int) -> None:
        """The Tomcat version the cluster runs (chooses the format unless ``format`` was set)."""
        self.tomcat_version = version

    def check_settings(self) -> EncryptionSettings:
        """Validated settings (raises :class:`EncryptConfigError` with a clear message)."""
        fmt = self.wire_format
        if fmt not in (FORMAT_9, FORMAT_10):
            raise EncryptConfigError(f"format {fmt!r}: use {FORMAT_9!r} or {FORMAT_10!r}")
        return EncryptionSettings.create(self.encryption_key, self.encryption_algorithm, fmt,
                                         self.replay_window_time, self.replay_window_message_count)

    def _validate_channel_chain(self) -> None:
        from tribes.interceptors.tcp_failure_detector import TcpFailureDetector
        icp = self.previous
        while icp is not None:
            if isinstance(icp, TcpFailureDetector):
                raise ChannelConfigException(
                    "EncryptInterceptor must be upstream of TcpFailureDetector. Please re-order "
                    "EncryptInterceptor to be listed before TcpFailureDetector in your channel interceptor "
                    "pipeline (TcpFailureDetector's probes must stay plaintext).")
            icp = getattr(icp, "previous", None)

    async def start(self, svc: int) -> None:
        self._validate_channel_chain()
        if svc & SND_TX_SEQ:
            try:
                settings = self.check_settings()
            except EncryptConfigError as exc:
                raise ChannelConfigException(f"Failed to initialize EncryptInterceptor: {exc}") from None
            if settings.algorithm.warning:
                log.warning(settings.algorithm.warning)
            self.settings = settings
            if settings.format == FORMAT_10:
                self.window = ReplayWindow(settings.replay_window_time, settings.replay_window_message_count,
                                           int(self.clock() * 1000))
            log.info("EncryptInterceptor: %s in Tomcat %s's format%s", settings.algorithm.text, settings.format,
                     " (timestamp + replay window)" if settings.format == FORMAT_10 else "")
        await super().start(svc)

    async def stop(self, svc: int) -> None:
        if svc & SND_TX_SEQ:
            self.settings = None
            self.window = None
        await super().stop(svc)

    # -- send -----------------------------------------------------------------------------------------
    async def send_message(self, destination: Sequence[Member], msg: ChannelData,
                           payload: InterceptorPayload | None = None) -> None:
        settings = self.settings
        if settings is None:
            raise ChannelException("EncryptInterceptor is not started: nothing is sent unencrypted")
        ts = msg.timestamp
        if settings.format == FORMAT_10 and ts <= 0:
            ts = int(self.clock() * 1000)
        try:
            data = seal(settings, bytes(msg.message), ts)
        except Exception as exc:
            log.error("EncryptInterceptor: Failed to encrypt message: %s", exc)
            raise ChannelException(f"Failed to encrypt message: {exc}", cause=exc) from None
        self.encrypted += 1
        await super().send_message(destination, ChannelData(msg.options, ts, msg.unique_id, msg.address, data),
                                   payload)

    # -- receive --------------------------------------------------------------------------------------
    def message_received(self, msg: ChannelData) -> Awaitable[None] | None:
        settings = self.settings
        if settings is None:
            self._reject(msg, REASON_DECRYPT, "the interceptor is not started")
            return None
        payload = bytes(msg.message)
        try:
            data = open_payload(settings, payload, self.window, int(self.clock() * 1000))
        except DecryptError as err:
            reason, detail = err.reason, err.detail
            if reason in (REASON_SHORT, REASON_DECRYPT, REASON_TIMESTAMP):
                why = diagnose_mismatch(settings, payload)
                if why is not None:
                    reason, detail = REASON_MISMATCH, why
            self._reject(msg, reason, detail)
            return None
        except Exception as exc:  # noqa: BLE001 - fail closed on anything unexpected
            self._reject(msg, REASON_DECRYPT, f"{type(exc).__name__}: {exc}")
            return None
        self.decrypted += 1
        msg.message = data
        return super().message_received(msg)

    def _reject(self, msg: ChannelData, reason: str, detail: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
        try:
            sender = msg.address.name
        except Exception:  # noqa: BLE001
            sender = "?"
        if reason == REASON_MISMATCH:
            if len(self.mismatched_senders) < 1024:
                self.mismatched_senders[sender] = detail
            kind = f"{reason}:{sender}" if len(self.mismatched_senders) < 1024 else reason
            self._log.warn(kind, "EncryptInterceptor: cannot decrypt message from %s: version mismatch: %s "
                                 "(message dropped)", sender, detail)
            return
        kind = f"{reason}:{sender}" if len(self._log.counts) < 1024 else reason
        self._log.warn(kind, "EncryptInterceptor: cannot decrypt message from %s: %s%s (message dropped)",
                       sender, _REASON_TEXT[reason], f" [{detail}]" if detail else "")

    # -- visibility -----------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Counters for the live view and ``--json`` (no key material)."""
        s = self.settings
        return {"algorithm": s.algorithm.text if s else self.encryption_algorithm or DEFAULT_ALGORITHMS[self.wire_format],
                "format": self.wire_format, "keyBits": 8 * len(s.key) if s else None,
                "encrypted": self.encrypted, "decrypted": self.decrypted,
                "rejected": dict(self.rejected), "rejectedTotal": sum(self.rejected.values()),
                "versionMismatchSenders": sorted(self.mismatched_senders)}

    def __repr__(self) -> str:
        return f"EncryptInterceptor(algorithm={self.encryption_algorithm!r}, format={self.wire_format!r})"


def encryption_stats(interceptors: Iterable[Any]) -> dict[str, Any] | None:
    """The stats of the first EncryptInterceptor among ``interceptors`` (None when there is none)."""
    for icp in interceptors:
        if isinstance(icp, EncryptInterceptor):
            return icp.stats()
    return None
