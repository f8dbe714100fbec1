"""Helpers of the issue-18 interop tests: ``tribes join --metrics --http`` as a process in a lab host,
scrapes parsed with prometheus_client's own parser."""
from __future__ import annotations

import json
import os
import tempfile
import time
from typing import Any, Callable, Sequence

from prometheus_client.parser import text_string_to_metric_families

from interop.lab import REPO_ROOT, Host, Lab
from interop.tomcat.node import Response, http_request
from tests.interop.jsonproc import JsonLineProcess

WALKTHROUGH_XML = os.path.join(REPO_ROOT, "tests", "fixtures", "config", "walkthrough-server.xml")
METRICS_PORT = 9404
HTTP_PORT = 8090
TOKEN = "ob-lab-token-0123456789"


class ObservedNode(JsonLineProcess):
    """``tribes -v join --config walkthrough --json --metrics ADDR:9404 --http ADDR:8090`` in ``host``."""

    label = "tribes join"

    def __init__(self, host: Host, args: Sequence[str] = (), ready_timeout: float = 120, observe: bool = True) -> None:
        self.dir = tempfile.mkdtemp(prefix="tribes-observe-")
        self.auth = os.path.join(self.dir, "ops.auth")
        with open(self.auth, "w") as f:
            f.write(f"token: {TOKEN}\n")
        os.chmod(self.auth, 0o600)
        flags = ["--metrics", f"{host.address}:{METRICS_PORT}", "--http", f"{host.address}:{HTTP_PORT}",
                 "--http-auth", self.auth, "--http-actions"] if observe else []
        super().__init__(host, ["-m", "tribes.cli.main", "-v", "join", "--config", WALKTHROUGH_XML, "--bind",
                                host.address, "--jvm-route", "py1", "--context", "/app", "--json", *flags, *args])
        self.ready = self.wait_event("ready", timeout=ready_timeout)

    @property
    def metrics_url(self) -> str:
        return f"http://{self.host.address}:{METRICS_PORT}/metrics"

    @property
    def http_url(self) -> str:
        return f"http://{self.host.address}:{HTTP_PORT}"


def scrape(lab: Lab, node: ObservedNode) -> dict[str, Any]:
    """{metric family name: family} from the node's /metrics (fetched with curl from the hub)."""
    r = http_request(lab, "GET", node.metrics_url)
    assert r.status == 200, f"/metrics answered {r.status}: {r.body[:300]}\n{node.log_tail()}"
    return {f.name: f for f in text_string_to_metric_families(r.body)}


def value(fams: dict[str, Any], name: str, suffix: str = "", **labels: str) -> float:
    """Sum of the samples of ``name`` + ``suffix`` whose labels include ``labels`` (0 when none)."""
    fam = fams.get(name)
    if fam is None:
        return 0.0
    return sum(s.value for s in fam.samples if s.name == name + suffix
               and all(s.labels.get(k) == v for k, v in labels.items()))


def wait_metric(lab: Lab, node: ObservedNode, pred: Callable[[dict[str, Any]], bool], timeout: float,
                what: str) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        fams = scrape(lab, node)
        if pred(fams):
            return fams
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached after {timeout} s\n{node.log_tail(20)}")
        time.sleep(0.3)


def api(lab: Lab, node: ObservedNode, method: str, path: str, body: Any = None,
        token: str | None = None) -> Response:
    """A dashboard API call with curl from the hub (JSON body)."""
    cmd = ["curl", "-s", "-i", "--max-time", "20", "-X", method]
    if token is not None:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    if body is not None:
        cmd += ["-H", "Content-Type: application/json", "--data", json.dumps(body)]
    cmd.append(node.http_url + path)
    res = lab.hub_run(cmd, timeout=30, text=False)
    raw = res.stdout.decode("utf-8", errors="replace")
    head, _, rest = raw.partition("\r\n\r\n")
    lines = head.split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else 0
    hdrs = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
    return Response(status, hdrs, rest)
