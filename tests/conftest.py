"""Test configuration shared by every tier.

The repository root goes on sys.path so tests can import the ``interop`` bed, and the bed's
fixtures (namespace labs, real Tomcat clusters, the Java peer) are registered here.
"""
from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

VECTORS = os.path.join(ROOT, "tests", "vectors")

pytest_plugins = ["interop.fixtures"]
