"""``ChannelInterceptor``, ``InterceptorPayload``: defined in the vocabulary (``tribes.channel``).

Importable from here, Tomcat's ``group`` package, as before; new code imports ``tribes.channel``.
"""
from __future__ import annotations

from tribes.channel import ChannelInterceptor, InterceptorPayload, gather_results

__all__ = ["ChannelInterceptor", "InterceptorPayload", "gather_results"]
