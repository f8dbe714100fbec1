"""The must-show tests of test_sessions_tomcat10.py on a Tomcat 9.0.70 cluster (lab ``ts9`` / 10.77.15;
the Python node writes the 9.0 layouts: principal with ``password``, no authentication notes)."""
from __future__ import annotations

import time
from typing import Callable, Iterator

import pytest

from interop.fixtures import require_root_and_java
from interop.lab import Lab
from interop.tomcat.node import TomcatCluster
from tests.interop.sessions_support import PyNode
from tests.interop.test_sessions_tomcat10 import (  # noqa: F401  (collected here with this module's fixtures)
    test_1_tomcat_session_appears_in_python_with_equal_values, test_2_python_session_served_by_tomcat2,
    test_3_updates_removals_invalidate_and_expiry_both_ways, test_3_expiry_both_ways,
    test_7_unknown_class_passes_through_python_to_tomcat, test_9_bad_input_is_logged_and_dropped,
    test_8_operator_commands_act_on_real_tomcat, test_root_context_both_ways,
    test_6_login_replicates_to_python_and_back)

pytestmark = pytest.mark.interop

PY_VERSION = "9.0"
TOMCAT_VERSIONS = ["9", "9"]
LAB = "ts9"


@pytest.fixture(scope="module")
def lab(lab_factory: Callable[..., Lab]) -> Lab:
    for v in set(TOMCAT_VERSIONS):
        require_root_and_java(int(v), tomcat=True)
    return lab_factory(LAB, "10.77.15")


@pytest.fixture(scope="module")
def cluster(lab: Lab, tomcat_cluster: Callable[..., TomcatCluster]) -> TomcatCluster:
    return tomcat_cluster(lab, 2, version=TOMCAT_VERSIONS[0], versions=TOMCAT_VERSIONS)


@pytest.fixture(scope="module")
def py(lab: Lab, cluster: TomcatCluster) -> Iterator[PyNode]:
    node = PyNode(lab.add_host("py", index=50), ["--jvm-route", "py1", "--context", "/app", "--context", "/",
                                                  "--version", PY_VERSION, "--events", "--manager",
                                                  "processExpiresFrequency=1", "--background-delay", "1"])
    try:
        assert node.ready["transfer"] == {"localhost#/app": "transferred", "localhost#": "transferred"}, node.ready
        deadline = time.monotonic() + 60
        while not all("10.77.15.50" in n.members_from_log() for n in cluster.nodes):
            assert time.monotonic() < deadline, "Tomcat did not add the Python member"
            time.sleep(0.2)
        yield node
    finally:
        node.close()
