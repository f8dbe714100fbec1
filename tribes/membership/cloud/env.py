"""The environment variables Tomcat's cloud providers read (``CloudMembershipProvider.getEnv``).

Each setting is looked up under its names in order, the first one set wins; the
``OPENSHIFT_KUBE_PING_*`` aliases come first, as in Tomcat.
"""
from __future__ import annotations

import logging
from typing import Mapping

__all__ = ["CUSTOM_ENV_PREFIX", "get_env", "namespace"]

#: CloudMembershipProvider.CUSTOM_ENV_PREFIX
CUSTOM_ENV_PREFIX = "OPENSHIFT_KUBE_PING_"


def get_env(environ: Mapping[str, str], *keys: str) -> str | None:
    """The value of the first of ``keys`` that is set (an empty value counts as set, as in Java)."""
    for key in keys:
        value = environ.get(key)
        if value is not None:
            return value
    return None


def namespace(environ: Mapping[str, str], log: logging.Logger | None = None) -> str:
    """``getNamespace()``: ``OPENSHIFT_KUBE_PING_NAMESPACE`` / ``KUBERNETES_NAMESPACE``, else
    ``tomcat`` with a warning (Tomcat's "Namespace not set")."""
    ns = get_env(environ, CUSTOM_ENV_PREFIX + "NAMESPACE", "KUBERNETES_NAMESPACE")
    if not ns:
        if log is not None:
            log.warning("namespace not set (KUBERNETES_NAMESPACE): using 'tomcat' as Tomcat does")
        ns = "tomcat"
    return ns
