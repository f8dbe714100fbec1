"""Prometheus metrics of a node (``--metrics ADDR:PORT`` on ``tribes join``, ``agent`` and ``keeper``).

:class:`Observer` holds the few hot-path hooks (an interceptor at the top of the chain, a membership
and a session listener); :class:`TribesCollector` reads everything else at scrape time;
:class:`AsgiServer` serves ``/metrics`` (and the dashboard) inside the node's event loop.
docs/observability.md lists every metric.
"""
from __future__ import annotations

from tribes.metrics.collector import TribesCollector, make_registry
from tribes.metrics.observer import Observer, ObserveInterceptor, member_label
from tribes.metrics.server import AsgiServer, metrics_app, parse_listen

__all__ = ["Observer", "ObserveInterceptor", "TribesCollector", "make_registry", "AsgiServer", "metrics_app",
           "parse_listen", "member_label"]
