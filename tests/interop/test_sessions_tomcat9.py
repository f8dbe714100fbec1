"""The must-show tests of test_sessions_tomcat10.py on a Tomcat 9.0.70 cluster (lab ``ts9`` / 10.77.15;
the Python node writes the 9.0 layouts: principal with ``password``, no authentication notes)."""
from __future__ import annotations

from typing import Callable, Iterator

import pytest

from interop.lab import Lab
from interop.tomcat.node import TomcatCluster
from tests.interop.sessions_support import PyNode, python_member, session_lab
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
    return session_lab(lab_factory, LAB, TOMCAT_VERSIONS)


@pytest.fixture(scope="module")
def cluster(lab: Lab, tomcat_cluster: Callable[..., TomcatCluster]) -> TomcatCluster:
    return tomcat_cluster(lab, 2, version=TOMCAT_VERSIONS[0], versions=TOMCAT_VERSIONS)


@pytest.fixture(scope="module")
def py(lab: Lab, cluster: TomcatCluster) -> Iterator[PyNode]:
    yield from python_member(lab, cluster, PY_VERSION)
