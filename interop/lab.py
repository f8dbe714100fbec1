"""A network-namespace lab: a hub namespace with a bridge, and hosts joined to it by veth pairs.

Nothing of a lab is visible in the root namespace: the bridge lives in the hub namespace
(``<name>-hub``), every veth pair is created inside the hub and its peer moved into the host
namespace (``<name>-<hostname>``). Multicast (224.0.0.0/4) is routed to the lab link in every
namespace, IPv6 is disabled (no ND/MLD noise), the bridge floods multicast (``mcast_snooping 0``:
there is no IGMP querier). So packets never leave the lab.

    with Lab("tb", "10.77.10") as lab:
        h1 = lab.add_host("n1")            # namespace tb-n1, address 10.77.10.1, iface eth0
        p = h1.popen(["java", ...])         # runs via `ip netns exec tb-n1 ...`
        with lab.capture("/tmp/x.pcap"):    # tcpdump on br0 in the hub
            ...
    # close(): kills every process the lab started and every process still inside its
    # namespaces, then deletes the namespaces, even after errors.

``cleanup_stale(name)`` removes the leftovers of an earlier crashed run with the same name.
Requires root (CAP_SYS_ADMIN + CAP_NET_ADMIN), iproute2 and, for captures, tcpdump.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Iterator, Sequence

log = logging.getLogger("tribes.interop.lab")

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BRIDGE = "br0"
HOST_IFACE = "eth0"
_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,7}$")
_HOST_RE = re.compile(r"^[a-z][a-z0-9]{0,7}$")
_SUBNET_RE = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})$")


class LabError(RuntimeError):
    """A lab could not be built or torn down (the message says which command failed and why)."""


def missing_requirements() -> str | None:
    """Why a lab cannot be built here, or None when it can."""
    if os.geteuid() != 0:
        return "network-namespace lab needs root (ip netns add, veth, bridge)"
    if shutil.which("ip") is None:
        return "iproute2 `ip` not found: apt-get install -y iproute2"
    return None


def _run(cmd: Sequence[str], check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(list(cmd), capture_output=True, text=True, **kw)
    if check and res.returncode != 0:
        raise LabError(f"`{' '.join(cmd)}` failed ({res.returncode}): {res.stderr.strip()}")
    return res


def _ns_list() -> list[str]:
    res = _run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in res.stdout.splitlines() if line.strip()]


def _ns_pids(ns: str) -> list[int]:
    res = _run(["ip", "netns", "pids", ns], check=False)
    return [int(p) for p in res.stdout.split() if p.isdigit()]


def _kill_ns_processes(ns: str, grace: float = 2.0) -> None:
    """SIGTERM then SIGKILL every process living in namespace `ns` (all of them are the lab's)."""
    pids = _ns_pids(ns)
    if not pids:
        return
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _ns_pids(ns):
        time.sleep(0.05)
    for pid in _ns_pids(ns):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _ns_pids(ns):
        time.sleep(0.05)


def _delete_ns(ns: str) -> None:
    _kill_ns_processes(ns)
    for _ in range(20):
        res = _run(["ip", "netns", "del", ns], check=False)
        if res.returncode == 0 or ns not in _ns_list():
            return
        time.sleep(0.1)
    log.warning("could not delete namespace %s", ns)


OWNER_DIR = "/run/tribes-lab"
_OPEN: set[str] = set()       # lab names open in this process


def _owner_pid(name: str) -> int | None:
    """Pid of the live process that owns lab `name`, or None."""
    try:
        with open(os.path.join(OWNER_DIR, f"{name}.pid")) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


def cleanup_stale(name: str) -> list[str]:
    """Remove the namespaces (and their processes) of an earlier run of a lab called `name`.

    Returns the namespaces deleted. Only namespaces named ``<name>-*`` are touched, and only when
    no live process other than this one owns the name (raises LabError otherwise).
    """
    owner = _owner_pid(name)
    if owner is not None and owner != os.getpid():
        raise LabError(f"lab {name!r} belongs to live process {owner}: not removing it")
    removed = []
    prefix = f"{name}-"
    for ns in _ns_list():
        if ns.startswith(prefix) and _HOST_RE.match(ns[len(prefix):]):
            _delete_ns(ns)
            removed.append(ns)
    if removed:
        log.info("removed stale lab namespaces: %s", ", ".join(removed))
    return removed


def _terminate(proc: subprocess.Popen[Any], grace: float = 3.0, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)


class Host:
    """One namespace on the lab bridge. Created by :meth:`Lab.add_host`."""

    def __init__(self, lab: "Lab", hostname: str, ns: str, address: str, index: int,
                 iface: str = HOST_IFACE, hub_iface: str = "") -> None:
        self.lab = lab
        self.hostname = hostname
        self.ns = ns
        self.address = address
        self.index = index
        self.iface = iface
        self.hub_iface = hub_iface          # the veth end on the bridge (in the hub namespace)
        self.procs: list[subprocess.Popen[Any]] = []

    def __repr__(self) -> str:
        return f"Host({self.ns}, {self.address})"

    def _wrap(self, cmd: Sequence[str] | str) -> list[str]:
        if isinstance(cmd, str):
            cmd = ["sh", "-c", cmd]
        return ["ip", "netns", "exec", self.ns, *cmd]

    def run(self, cmd: Sequence[str] | str, check: bool = False, timeout: float | None = 120,
            **kw: Any) -> subprocess.CompletedProcess[Any]:
        """Run `cmd` in this namespace to completion (output captured as text unless told)."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        return subprocess.run(self._wrap(cmd), check=check, timeout=timeout, **kw)

    def popen(self, cmd: Sequence[str] | str, **kw: Any) -> subprocess.Popen[Any]:
        """Start `cmd` in this namespace, in its own process group; the lab kills it on close."""
        kw.setdefault("start_new_session", True)
        proc = subprocess.Popen(self._wrap(cmd), **kw)
        self.procs.append(proc)
        self.lab._procs.append(proc)
        return proc

    def python(self, args: Sequence[str], env: dict[str, str] | None = None,
               **kw: Any) -> subprocess.Popen[Any]:
        """Run this interpreter (`sys.executable`) with `args` in the namespace, repo on PYTHONPATH."""
        e = dict(os.environ if env is None else env)
        e["PYTHONPATH"] = os.pathsep.join(p for p in (REPO_ROOT, e.get("PYTHONPATH", "")) if p)
        e.setdefault("PYTHONUNBUFFERED", "1")
        return self.popen([sys.executable, *args], env=e, **kw)

    def kill(self, proc: subprocess.Popen[Any] | None = None, sig: int = signal.SIGTERM,
             grace: float = 3.0) -> None:
        """Stop one process started here (or all of them): `sig`, then SIGKILL after `grace` s."""
        for p in ([proc] if proc is not None else list(self.procs)):
            _terminate(p, grace, sig)

    def kill_all(self) -> None:
        """Kill every process in this namespace, including ones not started through the lab."""
        self.kill()
        _kill_ns_processes(self.ns)

    def link(self, up: bool) -> None:
        """Take this host's bridge port down (a vanished host: no FIN, no IGMP leave) or up."""
        _run(["ip", "-n", self.lab.hub, "link", "set", self.hub_iface, "up" if up else "down"])


class Lab:
    """A hub namespace with bridge br0 and hosts on it; a context manager (close() on exit)."""

    def __init__(self, name: str, subnet: str = "10.77.0", *, stale_cleanup: bool = True) -> None:
        if not _NAME_RE.match(name):
            raise ValueError(f"lab name {name!r}: use 1-8 lowercase letters/digits, starting with a letter")
        m = _SUBNET_RE.match(subnet)
        if not m or int(m.group(1)) != 10 or any(int(x) > 255 for x in m.groups()):
            raise ValueError(f"subnet {subnet!r}: give the first three octets of a 10.x.y.0/24 network")
        why = missing_requirements()
        if why:
            raise LabError(why)
        self.name = name
        self.subnet = subnet
        self.hub = f"{name}-hub"
        self.gateway = f"{subnet}.254"
        self.hosts: dict[str, Host] = {}
        self._namespaces: list[str] = []
        self._procs: list[subprocess.Popen[Any]] = []
        self._closed = False
        self._claim()
        if stale_cleanup:
            cleanup_stale(name)
        try:
            self._make_ns(self.hub)
            hub = ["ip", "-n", self.hub]
            _run([*hub, "link", "add", BRIDGE, "type", "bridge", "mcast_snooping", "0",
                  "stp_state", "0", "forward_delay", "0"])
            _run([*hub, "addr", "add", f"{self.gateway}/24", "dev", BRIDGE])
            _run([*hub, "link", "set", BRIDGE, "up"])
            _run([*hub, "route", "add", "224.0.0.0/4", "dev", BRIDGE])
        except BaseException:
            self.close()
            raise

    # -- ownership: one live lab per name on the machine ---------------------------------------
    def _claim(self) -> None:
        """Record this process as the owner of the lab name; refuse a name a live process holds."""
        if self.name in _OPEN:
            raise LabError(f"a lab named {self.name!r} is already open in this process")
        os.makedirs(OWNER_DIR, exist_ok=True)
        path = os.path.join(OWNER_DIR, f"{self.name}.pid")
        owner = _owner_pid(self.name)
        if owner is not None and owner != os.getpid():
            raise LabError(f"lab name {self.name!r} is in use by live process {owner} "
                           f"(see {path}); pick another name")
        with open(path, "w") as f:
            f.write(str(os.getpid()))
        self._owner_file = path
        _OPEN.add(self.name)

    def _release(self) -> None:
        path = getattr(self, "_owner_file", None)
        if path:
            _OPEN.discard(self.name)
        if path and _owner_pid(self.name) == os.getpid():
            with contextlib.suppress(OSError):
                os.unlink(path)

    # -- building ------------------------------------------------------------------------------
    def _make_ns(self, ns: str) -> None:
        _run(["ip", "netns", "add", ns])
        self._namespaces.append(ns)
        # no IPv6 in the lab (no ND/MLD noise); /proc/sys/net is per namespace, no sysctl binary needed
        _run(["ip", "netns", "exec", ns, "sh", "-c",
              "for k in all default; do f=/proc/sys/net/ipv6/conf/$k/disable_ipv6; "
              "[ -e $f ] && echo 1 > $f; done; true"], check=False)
        _run(["ip", "-n", ns, "link", "set", "lo", "up"])

    def add_host(self, hostname: str, index: int | None = None) -> Host:
        """Create namespace ``<name>-<hostname>`` with address ``<subnet>.<index>`` on the bridge."""
        if self._closed:
            raise LabError("lab is closed")
        if not _HOST_RE.match(hostname) or hostname == "hub":
            raise ValueError(f"host name {hostname!r}: use 1-8 lowercase letters/digits, not 'hub'")
        if hostname in self.hosts:
            raise ValueError(f"host {hostname!r} exists already")
        used = {h.index for h in self.hosts.values()}
        if index is None:
            index = next(i for i in range(1, 254) if i not in used)
        if not 1 <= index <= 253 or index in used:
            raise ValueError(f"host index {index} is taken or outside 1..253")
        ns = f"{self.name}-{hostname}"
        hub_if = f"vh{index}"
        self._make_ns(ns)
        try:
            _run(["ip", "-n", self.hub, "link", "add", hub_if, "type", "veth",
                  "peer", "name", HOST_IFACE, "netns", ns])
            _run(["ip", "-n", self.hub, "link", "set", hub_if, "master", BRIDGE])
            _run(["ip", "-n", self.hub, "link", "set", hub_if, "up"])
            address = f"{self.subnet}.{index}"
            _run(["ip", "-n", ns, "addr", "add", f"{address}/24", "dev", HOST_IFACE])
            _run(["ip", "-n", ns, "link", "set", HOST_IFACE, "multicast", "on", "up"])
            _run(["ip", "-n", ns, "route", "add", "224.0.0.0/4", "dev", HOST_IFACE])
        except BaseException:
            _delete_ns(ns)
            self._namespaces.remove(ns)
            raise
        host = Host(self, hostname, ns, address, index, HOST_IFACE, hub_if)
        self.hosts[hostname] = host
        return host

    def hub_run(self, cmd: Sequence[str] | str, **kw: Any) -> subprocess.CompletedProcess[Any]:
        """Run a command inside the hub namespace (it can reach every host)."""
        if isinstance(cmd, str):
            cmd = ["sh", "-c", cmd]
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("timeout", 120)
        return subprocess.run(["ip", "netns", "exec", self.hub, *cmd], **kw)

    def hub_popen(self, cmd: Sequence[str], **kw: Any) -> subprocess.Popen[Any]:
        kw.setdefault("start_new_session", True)
        proc = subprocess.Popen(["ip", "netns", "exec", self.hub, *cmd], **kw)
        self._procs.append(proc)
        return proc

    # -- capture ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def capture(self, path: str, host: Host | None = None, filter: str = "",
                snaplen: int = 0, settle: float = 0.3) -> Iterator["Capture"]:
        """tcpdump on br0 in the hub (or on `host`'s veth) into `path` while the block runs.

        Yields a :class:`Capture`; after the block ``.packets`` holds tcpdump's count.
        """
        if shutil.which("tcpdump") is None:
            raise LabError("tcpdump not found: apt-get install -y tcpdump")
        ns, iface = (self.hub, BRIDGE) if host is None else (host.ns, host.iface)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        cmd = ["ip", "netns", "exec", ns, "tcpdump", "-i", iface, "-n", "-U", "--immediate-mode", "-Z", "root",
               "-s", str(snaplen), "-w", path]
        if filter:
            cmd += filter.split()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        self._procs.append(proc)
        cap = Capture(path, proc)
        try:
            cap._wait_listening(15)
            yield cap
            time.sleep(settle)
        finally:
            cap._stop()

    # -- teardown -------------------------------------------------------------------------------
    def close(self) -> None:
        """Kill everything the lab started and delete its namespaces (idempotent, never raises)."""
        if self._closed:
            return
        self._closed = True
        for proc in reversed(self._procs):
            try:
                _terminate(proc, grace=2.0)
            except Exception as exc:  # pragma: no cover - teardown must go on
                log.warning("could not stop pid %s: %s", proc.pid, exc)
        for ns in reversed(self._namespaces):
            try:
                _delete_ns(ns)
            except Exception as exc:  # pragma: no cover
                log.warning("could not delete %s: %s", ns, exc)
        self._namespaces.clear()
        self._release()

    def __enter__(self) -> "Lab":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # last resort; fixtures call close() explicitly
        with contextlib.suppress(Exception):
            if not self._closed and self._namespaces:
                self.close()


class Capture:
    """A running tcpdump (see :meth:`Lab.capture`)."""

    def __init__(self, path: str, proc: subprocess.Popen[str]) -> None:
        self.path = path
        self.proc = proc
        self.packets: int | None = None
        self.stderr = ""
        self._lines: list[str] = []
        self._listening = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._lines.append(line)
            if "listening on" in line:
                self._listening.set()
        self._listening.set()

    def _wait_listening(self, timeout: float) -> None:
        if not self._listening.wait(timeout) or self.proc.poll() is not None:
            self._stop()
            raise LabError(f"tcpdump did not start: {''.join(self._lines).strip()}")

    def _stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                _terminate(self.proc, 1.0, signal.SIGKILL)
        self._reader.join(5)
        self.stderr = "".join(self._lines)
        m = re.search(r"(\d+) packets? captured", self.stderr)
        self.packets = int(m.group(1)) if m else None


def default_interface() -> str | None:
    """The root namespace's interface of the default route (the real link), or None."""
    out = _run(["ip", "-o", "route", "show", "default"], check=False).stdout.split()
    return out[out.index("dev") + 1] if "dev" in out else None


class RootLeakWatch:
    """tcpdump in the ROOT namespace on the real interface, counting packets that match `bpf`.

    A lab must never put a packet there: after ``stop()``, ``packets`` should be 0.

        watch = RootLeakWatch("net 10.77.10.0/24 or host 228.0.0.4").start()
        ...   # run the lab
        assert watch.stop() == 0, watch.summary()
    """

    def __init__(self, bpf: str, iface: str | None = None, path: str | None = None) -> None:
        self.bpf = bpf
        self.iface = iface or default_interface()
        self.path = path or os.path.join("/tmp", f"tribes-leakwatch-{os.getpid()}-{id(self)}.pcap")
        self.proc: subprocess.Popen[str] | None = None
        self.capture: Capture | None = None
        self.packets: int | None = None

    def start(self) -> "RootLeakWatch":
        if self.iface is None:
            raise LabError("no default route in the root namespace: nothing to watch")
        if shutil.which("tcpdump") is None:
            raise LabError("tcpdump not found: apt-get install -y tcpdump")
        cmd = ["tcpdump", "-i", self.iface, "-n", "-U", "--immediate-mode", "-Z", "root", "-w", self.path,
               *self.bpf.split()]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        self.capture = Capture(self.path, self.proc)
        self.capture._wait_listening(15)
        return self

    def stop(self) -> int:
        """Stop the capture; returns the number of leaked packets (and removes an empty pcap)."""
        assert self.capture is not None, "start() first"
        self.capture._stop()
        self.packets = self.capture.packets if self.capture.packets is not None else -1
        if self.packets == 0:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        return self.packets

    def summary(self) -> str:
        return (f"{self.packets} packet(s) matching '{self.bpf}' on root interface {self.iface} "
                f"(pcap kept: {self.path})\n{self.capture.stderr if self.capture else ''}")


def _demo(argv: list[str]) -> int:  # pragma: no cover - manual check
    """`python3 -m interop.lab cleanup NAME` removes leftovers of a crashed lab."""
    if len(argv) == 2 and argv[0] == "cleanup":
        print("\n".join(cleanup_stale(argv[1])) or "nothing to clean")
        return 0
    print("usage: python3 -m interop.lab cleanup NAME", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_demo(sys.argv[1:]))

