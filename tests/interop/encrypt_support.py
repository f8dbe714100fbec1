"""Helpers of the EncryptInterceptor tests: the real Tomcat EncryptInterceptor in-process
(interop/java/src/EncryptCheck.java, compiled alone like the peer), keys and server.xml snippets."""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import threading
from typing import Sequence

from interop import javatool

SOURCE = os.path.join(javatool.JAVA_DIR, "src", "EncryptCheck.java")
IC = "org.apache.catalina.tribes.group.interceptors."

KEYS = {128: "00112233445566778899aabbccddeeff",
        192: "00112233445566778899aabbccddeeff0123456789abcdef",
        256: "00112233445566778899aabbccddeeff00112233445566778899aabbccddeef0"}
WRONG_KEY = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"


def classpath(version: str | int) -> str:
    """Compile EncryptCheck.java alone for Tomcat ``version`` (9 or 10); returns the classpath."""
    v = str(version).split(".")[0]
    why = javatool.missing_requirements(v)
    if why:
        raise RuntimeError(why)
    jars = javatool.classpath(v)
    out = os.path.join(javatool.JAVA_DIR, "build", f"tomcat{v}", "encryptcheck")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = os.path.join(out, ".stamp")
        if not os.path.exists(stamp) or os.path.getmtime(stamp) < os.path.getmtime(SOURCE):
            shutil.rmtree(out, ignore_errors=True)
            os.makedirs(out)
            res = subprocess.run(["javac", "-nowarn", "-encoding", "UTF-8", "--release", "17", "-d", out,
                                  "-cp", jars, SOURCE], capture_output=True, text=True)
            if res.returncode != 0:
                raise RuntimeError(f"EncryptCheck.java does not compile for Tomcat {v}:\n{res.stderr}")
            open(stamp, "w").close()
    return f"{out}:{jars}"


class JavaEncrypt:
    """A running EncryptCheck: ``seal``/``open``/``start`` answer with Tomcat's own EncryptInterceptor."""

    def __init__(self, version: str | int) -> None:
        self.version = str(version).split(".")[0]
        cmd = ["java", "-Xms16m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
               "-Djava.util.logging.config.file=/dev/null", "-cp", classpath(self.version), "EncryptCheck"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, bufsize=1)
        self.lock = threading.Lock()

    def ask(self, *words: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with self.lock:
            self.proc.stdin.write(" ".join(words) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("EncryptCheck exited")
        return line.rstrip("\n")

    def start(self, algo: str | None, key: str) -> str:
        return self.ask("start", algo or "-", key)

    def seal(self, algo: str | None, key: str, timestamp: int, data: bytes) -> bytes:
        ans = self.ask("seal", algo or "-", key, str(timestamp), data.hex() or "-")
        if not ans.startswith("ok"):
            raise RuntimeError(ans)
        return bytes.fromhex(ans[3:])

    def open(self, algo: str | None, key: str, payload: bytes) -> bytes | None:
        """The data Tomcat passes up, or None when it drops the message (raises on an exception)."""
        ans = self.ask("open", algo or "-", key, payload.hex() or "-")
        if ans == "dropped":
            return None
        if not ans.startswith("ok"):
            raise RuntimeError(ans)
        return bytes.fromhex(ans[3:])

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def encrypt_xml(key: str, algorithm: str | None = None, extra: str = "") -> str:
    attrs = f' encryptionKey="{key}"' + (f' encryptionAlgorithm="{algorithm}"' if algorithm else "") + extra
    return f'<Interceptor className="{IC}EncryptInterceptor"{attrs}/>'


def interceptors_xml(key: str, algorithm: str | None = None, extra: str = "",
                     order: Sequence[str] = ("Encrypt", "TcpFailureDetector", "MessageDispatchInterceptor")) -> str:
    parts = []
    for name in order:
        parts.append(encrypt_xml(key, algorithm, extra) if name == "Encrypt"
                     else f'<Interceptor className="{IC}{name}"/>')
    return "\n        ".join(parts)
