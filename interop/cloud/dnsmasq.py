"""Debian's ``dnsmasq`` (package dnsmasq-base) run by hand as the lab's DNS server.

It answers from one ``--addn-hosts`` file (``address name`` lines) and nothing else: no upstream
servers (``--no-resolv``), ``--local=/<domain>/`` so that a name of the lab domain without a
record gets NXDOMAIN/NODATA instead of REFUSED, TTL 0 (``--local-ttl=0``), no negative cache.
:meth:`Dnsmasq.set_records` rewrites the file and sends SIGHUP, which makes dnsmasq re-read it.

    dns = Dnsmasq(workdir, listen="10.77.16.254", domain="tribes.lab", prefix=["ip", "netns", "exec", hub])
    dns.start({"tomcat.tribes.lab": ["10.77.16.1", "10.77.16.2"]})
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from typing import Mapping, Sequence

DNSMASQ = "/usr/sbin/dnsmasq"


def missing() -> str | None:
    if shutil.which("dnsmasq") is None and not os.path.exists(DNSMASQ):
        return "dnsmasq not found: apt-get install -y dnsmasq-base (or run scripts/setup.sh)"
    return None


class Dnsmasq:
    def __init__(self, workdir: str, listen: str, domain: str = "tribes.lab", port: int = 53,
                 prefix: Sequence[str] = ()) -> None:
        os.makedirs(workdir, exist_ok=True)
        self.hosts = os.path.join(workdir, "dns-hosts")
        self.log = os.path.join(workdir, "dnsmasq.log")
        self.listen = listen
        self.domain = domain
        self.port = port
        self.prefix = list(prefix)
        self.proc: subprocess.Popen[bytes] | None = None
        self.records: dict[str, list[str]] = {}

    def command(self) -> list[str]:
        exe = shutil.which("dnsmasq") or DNSMASQ
        return [*self.prefix, exe, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                f"--addn-hosts={self.hosts}", f"--local=/{self.domain}/", f"--listen-address={self.listen}",
                "--bind-interfaces", f"--port={self.port}", "--user=root", "--pid-file=", "--local-ttl=0",
                "--no-negcache", "--log-facility=-", "--log-queries"]

    def _write(self) -> None:
        tmp = self.hosts + ".tmp"
        with open(tmp, "w") as f:
            for name, addrs in self.records.items():
                for a in addrs:
                    f.write(f"{a} {name}\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.hosts)

    def start(self, records: Mapping[str, Sequence[str]] = {}, timeout: float = 10) -> None:
        self.records = {k: list(v) for k, v in records.items()}
        self._write()
        out = open(self.log, "ab")
        try:
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            out.close()
        deadline = time.monotonic() + timeout
        while b"read " + self.hosts.encode() not in self._log_bytes():
            if self.proc.poll() is not None:
                raise RuntimeError(f"dnsmasq exited ({self.proc.returncode}):\n{self._log_bytes().decode()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"dnsmasq not ready after {timeout} s:\n{self._log_bytes().decode()[-2000:]}")
            time.sleep(0.05)

    def _log_bytes(self) -> bytes:
        try:
            with open(self.log, "rb") as f:
                return f.read()
        except OSError:
            return b""

    def set_records(self, name: str, addresses: Sequence[str]) -> None:
        """Replace the addresses of ``name`` and make dnsmasq re-read its file (SIGHUP)."""
        self.records[name] = list(addresses)
        self._write()
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGHUP)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


class SilentDns:
    """A UDP socket on 127.0.0.1 that receives DNS queries and never answers (a DNS timeout)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])

    def close(self) -> None:
        self.sock.close()
