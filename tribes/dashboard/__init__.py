"""The live web dashboard (``tribes dashboard``, ``--http ADDR:PORT`` on join/agent/keeper).

A Starlette app (:func:`tribes.dashboard.app.create_app`) over the node's
:class:`tribes.metrics.Observer`: members with their history, sessions per context over time,
replication rates and lag percentiles, logged-in users and a session search, recent events, and
operator actions behind authentication. The page is plain HTML/JS/CSS (``static/``), updated live
over Server-Sent Events. docs/observability.md describes it.
"""
from __future__ import annotations

__all__: list[str] = []
