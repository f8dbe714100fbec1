"""Serving ASGI apps (``/metrics``, the dashboard) inside the node's own event loop, with uvicorn.

The scrape then runs on the loop's thread, where the node's state lives: no locks, no torn reads.
uvicorn's own signal handling is switched off (the node handles SIGTERM/SIGINT itself), and its
limits bound what a client can hold (concurrency, keep-alive, header sizes are h11's defaults).
"""
from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from typing import Any, Iterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tribes.metrics.collector import make_registry
from tribes.metrics.observer import Observer

log = logging.getLogger("tribes.metrics")

__all__ = ["parse_listen", "metrics_app", "metrics_endpoint", "AsgiServer", "DEFAULT_HOST"]

DEFAULT_HOST = "127.0.0.1"


def parse_listen(value: str, default_host: str = DEFAULT_HOST) -> tuple[str, int]:
    """``ADDR:PORT``, ``[v6]:PORT`` or ``:PORT`` / ``PORT`` (localhost) -> (host, port); ValueError if not."""
    v = value.strip()
    if v.isdigit():
        host, port_s = default_host, v
    elif v.startswith("["):
        host, sep, rest = v[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"{value!r}: use [ADDR]:PORT for IPv6")
        port_s = rest[1:]
    else:
        host, sep, port_s = v.rpartition(":")
        if not sep:
            raise ValueError(f"{value!r}: use ADDR:PORT (e.g. 127.0.0.1:9404)")
        host = host or default_host
    if not port_s.isdigit() or not 0 <= int(port_s) < 65536:
        raise ValueError(f"{value!r}: the port must be 0-65535")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise ValueError(f"{value!r}: give an IP address to listen on (or localhost)") from None
    return host, int(port_s)


def metrics_endpoint(observer: Observer) -> Any:
    """A Starlette endpoint answering Prometheus' scrape (text format; OpenMetrics when asked)."""
    from prometheus_client.exposition import choose_encoder
    registry = make_registry(observer)

    async def metrics(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(registry), media_type=content_type)
    return metrics


def metrics_app(observer: Observer) -> Starlette:
    """The ``--metrics`` app: ``/metrics`` (and ``/`` pointing to it)."""
    endpoint = metrics_endpoint(observer)

    async def root(request: Request) -> Response:
        return Response("tribes metrics: see /metrics\n", media_type="text/plain")
    return Starlette(routes=[Route("/metrics", endpoint), Route("/", root)])


class AsgiServer:
    """uvicorn serving ``app`` on ``host:port`` as a task of the running loop (``await start()``/``stop()``)."""

    def __init__(self, app: Any, host: str, port: int, *, what: str = "http", limit_concurrency: int = 64) -> None:
        import uvicorn

        class _Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:  # the node owns SIGTERM/SIGINT
                yield

        self.what = what
        self.config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off",
                                     access_log=False, limit_concurrency=limit_concurrency,
                                     timeout_keep_alive=5, timeout_graceful_shutdown=1, proxy_headers=False,
                                     server_header=False)
        self.server = _Server(self.config)
        self.task: asyncio.Task[None] | None = None
        self.sock: Any = None

    @property
    def port(self) -> int:
        if self.sock is not None:
            return int(self.sock.getsockname()[1])
        return int(self.config.port)

    async def start(self, timeout: float = 10.0) -> None:
        """Bind (OSError when the address is taken or not ours), then serve."""
        import socket
        host, port = self.config.host, int(self.config.port)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise OSError(f"cannot serve {self.what} on {host}:{port}: {exc.strerror or exc}") from None
        self.sock = sock
        self.task = asyncio.get_running_loop().create_task(self._serve(sock))
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not self.server.started:
            if self.task.done():
                err = self.task.exception() if not self.task.cancelled() else None
                raise OSError(f"cannot serve {self.what} on {self.config.host}:{self.config.port}: "
                              f"{err or 'the server stopped'}")
            if loop.time() > end:
                raise OSError(f"{self.what} on {self.config.host}:{self.config.port} did not start in {timeout} s")
            await asyncio.sleep(0.02)
        log.info("%s: serving on http://%s:%d/", self.what, self.config.host, self.port)

    async def _serve(self, sock: Any) -> None:
        try:
            await self.server.serve(sockets=[sock])
        except SystemExit:  # uvicorn exits on a failed start: keep the node running, log it
            log.error("%s: the HTTP server stopped", self.what)

    async def stop(self) -> None:
        if self.task is None:
            return
        self.server.should_exit = True
        try:
            await asyncio.wait_for(self.task, 5.0)
        except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - shutting down anyway
            self.server.force_exit = True
            self.task.cancel()
        self.task = None
