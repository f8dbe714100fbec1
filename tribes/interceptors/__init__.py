"""Tomcat's channel interceptors, byte-compatible. Each lives in its own module; names as Tomcat.

(``StaticMembershipInterceptor`` lives in ``tribes.interceptors.static_membership``, owned by the
membership layer.)
"""
from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "TcpFailureDetector": "tribes.interceptors.tcp_failure_detector",
    "MessageDispatchInterceptor": "tribes.interceptors.message_dispatch",
    "TcpPingInterceptor": "tribes.interceptors.tcp_ping",
    "DomainFilterInterceptor": "tribes.interceptors.domain_filter",
    "ThroughputInterceptor": "tribes.interceptors.throughput",
    "GzipInterceptor": "tribes.interceptors.gzip",
    "OrderInterceptor": "tribes.interceptors.order",
    "FragmentationInterceptor": "tribes.interceptors.fragmentation",
    "StaticMembershipInterceptor": "tribes.interceptors.static_membership",
    "EncryptInterceptor": "tribes.interceptors.encrypt",
}

__all__ = list(_NAMES)


def __getattr__(name: str) -> Any:
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(name)
    return getattr(importlib.import_module(module), name)


def interceptor_class(class_name: str) -> Any:
    """``org.apache.catalina.tribes.group.interceptors.OrderInterceptor`` or ``OrderInterceptor`` -> class."""
    short = class_name.rsplit(".", 1)[-1]
    return __getattr__(short)
