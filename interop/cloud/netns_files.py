"""``/etc/netns/<ns>/hosts`` and ``/etc/netns/<ns>/resolv.conf`` for lab namespaces.

``ip netns exec <ns>`` bind-mounts every file of ``/etc/netns/<ns>/`` over the one of the same
name in ``/etc``. Tomcat's cloud providers find their own address with
``InetAddress.getLocalHost()``, i.e. the machine's host name looked up in ``/etc/hosts``, which
maps it to 127.0.0.1 here; a per-namespace ``hosts`` maps it to the node's lab address instead,
and a per-namespace ``resolv.conf`` points the node at the lab's DNS server. Files are made
before the process starts and removed by :meth:`NetnsFiles.remove` (and stale ones of a crashed run by
:func:`remove_stale`).
"""
from __future__ import annotations

import os
import shutil
import socket

ROOT = "/etc/netns"


class NetnsFiles:
    def __init__(self, ns: str) -> None:
        self.ns = ns
        self.dir = os.path.join(ROOT, ns)

    def write(self, address: str, nameserver: str | None, search: str | None = None) -> None:
        os.makedirs(self.dir, exist_ok=True)
        name = socket.gethostname()
        with open(os.path.join(self.dir, "hosts"), "w") as f:
            f.write(f"127.0.0.1 localhost\n{address} {name}\n")
        if nameserver is not None:
            with open(os.path.join(self.dir, "resolv.conf"), "w") as f:
                if search:
                    f.write(f"search {search}\n")
                f.write(f"nameserver {nameserver}\noptions timeout:1 attempts:1\n")

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def remove_stale(prefix: str) -> list[str]:
    """Remove ``/etc/netns/<prefix>*`` directories (left by a crashed run of the same lab)."""
    gone = []
    if os.path.isdir(ROOT):
        for name in os.listdir(ROOT):
            if name.startswith(prefix):
                shutil.rmtree(os.path.join(ROOT, name), ignore_errors=True)
                gone.append(name)
    return gone
