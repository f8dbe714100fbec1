"""tribes: Apache Tomcat's cluster channel (Tribes) and DeltaManager session replication, in Python.

Byte-compatible with Tomcat 9.0 and 10.1 on the wire. See docs/architecture.md for the map.
"""
from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger("tribes").addHandler(logging.NullHandler())
