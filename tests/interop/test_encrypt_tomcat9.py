"""test_encrypt_tomcat10.py on a real Tomcat 9.0.70 cluster with the 9.0 default EncryptInterceptor
(AES/CBC/PKCS5Padding, no timestamp, no replay window): the Python node (9.0 format) configured from
the same server.xml (lab ``ectc9`` / 10.77.15). The replay test is 10.1-only (9.0.70 has no replay
protection); a 10.1-format node is named as a version mismatch. In the slow tier (the default tier
runs the 10.1 cluster and the 9.0 format against the Java peer and Tomcat's own class)."""
from __future__ import annotations

import time
from typing import Callable, Iterator

import pytest

from interop.lab import Lab
from interop.tomcat.node import TomcatCluster
from tests.interop.sessions_support import PyNode, session_lab
from tests.interop.test_encrypt_tomcat10 import (  # noqa: F401  (collected here with this module's fixtures)
    cluster_config, start_python, test_0_traffic_is_encrypted_and_counted,
    test_1_tomcat_session_appears_in_python_with_equal_values, test_2_python_session_served_by_tomcat2,
    test_3_updates_removals_invalidate_and_expiry_both_ways, test_6_login_replicates_to_python_and_back,
    test_a_node_of_the_other_version_is_named_as_a_version_mismatch,
    test_plaintext_session_message_is_refused_before_deserialization, test_tampered_frame_changes_no_session,
    test_wrong_key_node_accepts_nothing_and_keeps_its_sessions)

pytestmark = [pytest.mark.interop, pytest.mark.slow]  # a second Tomcat cluster: slow tier (issue budget)

VERSION = "9"


@pytest.fixture(scope="module")
def lab(lab_factory: Callable[..., Lab]) -> Lab:
    return session_lab(lab_factory, "ectc9", [VERSION])


@pytest.fixture(scope="module")
def cluster(lab: Lab, tomcat_cluster: Callable[..., TomcatCluster]) -> TomcatCluster:
    return tomcat_cluster(lab, 2, version=VERSION, cluster=cluster_config())


@pytest.fixture(scope="module")
def py(lab: Lab, cluster: TomcatCluster) -> Iterator[PyNode]:
    node = start_python(lab, cluster, "9.0")
    try:
        assert node.ready["transfer"] == {"localhost#/app": "transferred", "localhost#": "transferred"}, node.ready
        deadline = time.monotonic() + 60
        while not all(node.host.address in n.members_from_log() for n in cluster.nodes):
            assert time.monotonic() < deadline, "Tomcat did not add the Python member"
            time.sleep(0.2)
        yield node
    finally:
        node.close()
