"""A stand-in Kubernetes API server: ``GET /api/v1/namespaces/<ns>/pods[?labelSelector=...]``.

What it does as Kubernetes does: HTTPS (any certificate the test makes; optionally requires a
client certificate), ``Authorization: Bearer <token>`` checked (401 ``Status`` otherwise), only
its namespace (403 ``Status`` for another), the PodList JSON shape (``kind``, ``apiVersion``,
``metadata.resourceVersion``, ``items`` without per-item kind), the label selector (``k=v``,
``k==v``, ``k!=v``, ``k``, ``!k``, ``k in (a,b)``, ``k notin (a,b)``, comma = and), pod phases.

The pods and the behaviour come from a JSON state file read on every request, so a test (in
another process or namespace) changes the cluster by rewriting it (:func:`write_state`)::

    {"namespace": "tribes", "token": "s3cret", "mode": "normal", "delay": 0,
     "pods": [{"name": "tomcat-0", "uid": "...", "ip": "10.77.17.1", "phase": "Running",
               "labels": {"app": "tomcat"}, "created": "2026-01-01T00:00:00Z"}]}

``mode``: ``normal``; ``malformed`` (200 with a broken body); ``notlist`` (200, JSON without items);
``huge`` (200, ``huge_bytes`` of JSON, no Content-Length); ``slow`` (sleeps ``delay`` s before
answering); ``error500``. Every request is appended to ``<state>.requests`` as one JSON line.

Run: ``python -m interop.cloud.kube_api --bind 10.77.17.254 --port 6443 --cert c --key k --state s``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_PATH = re.compile(r"^/api/(?P<ver>[^/]+)/namespaces/(?P<ns>[^/]+)/pods$")


def write_state(path: str, state: dict[str, Any]) -> None:
    """Replace the state file atomically (the server never reads half a file)."""
    tmp = f"{path}.tmp{os.getpid()}.{threading.get_ident()}"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, path)


def pod_json(pod: dict[str, Any], namespace: str) -> dict[str, Any]:
    """One item of a PodList as the API server writes it."""
    status: dict[str, Any] = {"phase": pod.get("phase", "Running"), "hostIP": "192.0.2.1",
                              "startTime": pod.get("created", "2026-01-01T00:00:00Z")}
    if pod.get("ip") and status["phase"] != "Pending":
        status["podIP"] = pod["ip"]
        status["podIPs"] = [{"ip": pod["ip"]}]
    meta: dict[str, Any] = {"name": pod["name"], "generateName": pod["name"].rsplit("-", 1)[0] + "-",
                            "namespace": namespace, "resourceVersion": str(pod.get("rv", 1000)),
                            "creationTimestamp": pod.get("created", "2026-01-01T00:00:00Z"),
                            "labels": pod.get("labels", {})}
    if pod.get("uid") is not None:
        meta["uid"] = pod["uid"]
    return {"metadata": meta,
            "spec": {"containers": [{"name": "tomcat", "image": "tomcat:10.1"}], "serviceAccountName": "tomcat"},
            "status": status}


def selector_matches(selector: str, labels: dict[str, str]) -> bool:
    """Kubernetes label selector semantics (equality- and set-based)."""
    if not selector:
        return True
    for term in _split_terms(selector):
        term = term.strip()
        if not term:
            continue
        m = re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", term)
        if m:
            key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            present = key in labels and labels[key] in values
            if (op == "in" and not present) or (op == "notin" and key in labels and labels[key] in values):
                return False
            continue
        if "!=" in term:
            k, v = (x.strip() for x in term.split("!=", 1))
            if labels.get(k) == v:
                return False
        elif "==" in term or "=" in term:
            k, v = (x.strip() for x in re.split(r"==?", term, maxsplit=1))
            if labels.get(k) != v:
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def _split_terms(selector: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return out


def _status(code: int, reason: str, message: str) -> bytes:
    return json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": message, "reason": reason, "code": code}).encode()


class _Handler(BaseHTTPRequestHandler):
    server: "KubeApiServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        state = self.server.read_state()
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        selector = query.get("labelSelector", [""])[0]
        auth = self.headers.get("Authorization", "")
        self.server.log_request_line({"t": time.time(), "path": self.path, "auth": auth[:7],
                                      "peer": self.client_address[0], "selector": selector})
        token = state.get("token")
        if token is not None and auth != f"Bearer {token}":
            self._send(401, _status(401, "Unauthorized", "Unauthorized"))
            return
        m = _PATH.match(url.path)
        if not m:
            self._send(404, _status(404, "NotFound", "the server could not find the requested resource"))
            return
        ns = urllib.parse.unquote(m.group("ns"))
        if ns != state.get("namespace", "default"):
            self._send(403, _status(403, "Forbidden",
                                    f'pods is forbidden: User "system:serviceaccount:{state.get("namespace")}:tomcat" '
                                    f'cannot list resource "pods" in API group "" in the namespace "{ns}"'))
            return
        mode = state.get("mode", "normal")
        if mode == "slow":
            time.sleep(float(state.get("delay", 5)))
        if mode == "error500":
            self._send(500, _status(500, "InternalError", "etcdserver: request timed out"))
            return
        if mode == "malformed":
            self._send(200, b'{"kind":"PodList","apiVersion":"v1","items":[{"metadata":{"name":"x"')
            return
        if mode == "notlist":
            self._send(200, b'{"kind":"Status","apiVersion":"v1","status":"Success"}')
            return
        if mode == "huge":
            self._send_huge(int(state.get("huge_bytes", 64 * 1024 * 1024)))
            return
        pods = [p for p in state.get("pods", []) if selector_matches(selector, p.get("labels", {}))]
        body = {"kind": "PodList", "apiVersion": "v1",
                "metadata": {"resourceVersion": str(state.get("rv", 1000))},
                "items": [pod_json(p, ns) for p in pods]}
        self._send(200, json.dumps(body).encode())

    def _send_huge(self, n: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        head = b'{"kind":"PodList","apiVersion":"v1","metadata":{},"items":['
        item = json.dumps(pod_json({"name": "filler-0", "uid": "u", "ip": "192.0.2.9", "phase": "Failed"},
                                   "x")).encode() + b","
        sent = 0
        try:
            self.wfile.write(head)
            while sent < n:
                chunk = item * 64
                self.wfile.write(chunk)
                sent += len(chunk)
            self.wfile.write(b'{"metadata":{}}]}')
        except OSError:
            pass  # the client gave up: expected


class KubeApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state_path: str, cert: str | None = None,
                 key: str | None = None, client_ca: str | None = None) -> None:
        super().__init__(address, _Handler)
        self.state_path = state_path
        self._log_lock = threading.Lock()
        if cert is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            if client_ca is not None:
                ctx.load_verify_locations(client_ca)
                ctx.verify_mode = ssl.CERT_REQUIRED
            self.socket = ctx.wrap_socket(self.socket, server_side=True)

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # clients that hang up (size limits, timeouts, TLS refusals) are expected here

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def read_state(self) -> dict[str, Any]:
        try:
            with open(self.state_path) as f:
                return dict(json.load(f))
        except (OSError, ValueError):
            return {}

    def log_request_line(self, entry: dict[str, Any]) -> None:
        with self._log_lock:
            with open(self.state_path + ".requests", "a") as f:
                f.write(json.dumps(entry) + "\n")

    def start_thread(self) -> threading.Thread:
        t = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        t.start()
        return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bind", required=True)
    ap.add_argument("--port", type=int, default=6443)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--client-ca")
    ap.add_argument("--state", required=True)
    a = ap.parse_args()
    server = KubeApiServer((a.bind, a.port), a.state, a.cert, a.key, a.client_ca)
    print(f"listening {a.bind}:{server.port}", flush=True)
    server.serve_forever(poll_interval=0.1)


if __name__ == "__main__":
    main()
