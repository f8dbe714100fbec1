"""catalina-ha for Python: DeltaManager session replication with real Tomcat nodes.

- :mod:`session_message`: SessionMessageImpl (the envelope, EVT_* codes)
- :mod:`delta_request`: DeltaRequest (EVT_SESSION_DELTA payload)
- :mod:`session_state`: the ALL_SESSION_DATA session stream (9.0 and 10.1 layouts)
- :mod:`principal`: GenericPrincipal$SerializablePrincipal (9.0 with password, 10.1 without)
- :mod:`session`: DeltaSession
- :mod:`delta_manager`: the sans-I/O DeltaManager state machine
- :mod:`cluster`: SimpleTcpCluster (ClusterSessionListener routing, ordered sends over a GroupChannel)
"""
from typing import Any

from tribes.managers.delta_manager import (DeltaManager, DeltaManagerConfig, Send, SessionEvent,
                                           TooManyActiveSessionsException)
from tribes.managers.delta_request import DeltaRequest, DeltaRequestError
from tribes.managers.principal import Principal
from tribes.managers.session import DeltaSession, java_class_name
from tribes.managers.session_message import SessionMessage, SessionMessageError
from tribes.managers.session_state import SessionState, SessionStateError, read_sessions, write_sessions

__all__ = [
    "DeltaManager", "DeltaManagerConfig", "DeltaRequest", "DeltaRequestError", "DeltaSession", "Principal",
    "Send", "SessionEvent", "SessionMessage", "SessionMessageError", "SessionState", "SessionStateError",
    "TooManyActiveSessionsException", "java_class_name", "read_sessions", "write_sessions",
]


def __getattr__(name: str) -> Any:  # lazy: the cluster facade pulls in the channel layer
    if name in ("SimpleTcpCluster", "DeltaContext", "context_name"):
        from tribes.managers import cluster
        return getattr(cluster, name)
    raise AttributeError(name)
