"""The BackupManager must-show items against real Tomcat 9.0.70 (3 Tomcat nodes + the Python node).

Lab ``bkn`` / 10.77.151. Items 1-3 run in the default tier; the rest of 9.0 (4, 5, 6, 8) is `slow`.
The test bodies are those of tests/interop/test_backup_tomcat10.py; here the nodes run 9.0, the
Python node writes 9.0's MemberImpl descriptors and session layout.
"""
from __future__ import annotations

from typing import Callable, Iterator

import pytest

from interop.lab import Lab
from interop.tomcat.node import TomcatCluster
from tests.interop import test_backup_tomcat10 as t10
from tests.interop.backup_support import BackupPyNode, backup_config, python_backup_member

pytestmark = pytest.mark.interop

VERSION = "9"


@pytest.fixture(scope="module")
def lab(lab_factory: Callable[..., Lab]) -> Lab:
    from interop.fixtures import require_root_and_java
    require_root_and_java(int(VERSION), tomcat=True)
    return lab_factory("bkn", "10.77.151")


@pytest.fixture(scope="module")
def cluster(lab: Lab, tomcat_cluster: Callable[..., TomcatCluster]) -> TomcatCluster:
    return tomcat_cluster(lab, 3, version=VERSION, cluster=backup_config())


@pytest.fixture(scope="module")
def py_version() -> str:
    return "9.0"


@pytest.fixture(scope="module")
def py(lab: Lab, cluster: TomcatCluster, py_version: str) -> Iterator[BackupPyNode]:
    yield from python_backup_member(lab, cluster, py_version)


def test_1_tomcat_sessions_held_as_proxy_and_backup(lab: Lab, cluster: TomcatCluster, py: BackupPyNode) -> None:
    t10.test_1_tomcat_sessions_held_as_proxy_and_backup(lab, cluster, py)
    assert set(py.stats()["member_versions"].values()) == {"9"}


def test_1b_tribes_sessions_cli_shows_roles(lab: Lab, cluster: TomcatCluster, py: BackupPyNode,
                                           py_version: str) -> None:
    t10.test_1b_tribes_sessions_cli_shows_roles(lab, cluster, py, py_version)


def test_3_python_primary_gets_tomcat_backup_and_proxies(lab: Lab, cluster: TomcatCluster, py: BackupPyNode) -> None:
    t10.test_3_python_primary_gets_tomcat_backup_and_proxies(lab, cluster, py)


@pytest.mark.slow
def test_5_no_rpc_timeouts_and_no_rpc_channel_reply_for_maps_we_do_not_host(
        lab: Lab, cluster: TomcatCluster, py: BackupPyNode) -> None:
    t10.test_5_no_rpc_timeouts_and_no_rpc_channel_reply_for_maps_we_do_not_host(lab, cluster, py)


@pytest.mark.slow
def test_8_bad_input_is_logged_and_dropped_and_everything_else_stays(
        lab: Lab, cluster: TomcatCluster, py: BackupPyNode) -> None:
    t10.test_8_bad_input_is_logged_and_dropped_and_everything_else_stays(lab, cluster, py)


def test_2_python_backup_serves_after_primary_killed(lab: Lab, cluster: TomcatCluster, py: BackupPyNode) -> None:
    t10.test_2_python_backup_serves_after_primary_killed(lab, cluster, py)


@pytest.mark.slow
def test_4_start_up_after_1000_sessions_and_tomcat_start_with_python_primaries(
        lab: Lab, cluster: TomcatCluster, py: BackupPyNode, py_version: str) -> None:
    t10.test_4_start_up_after_1000_sessions_and_tomcat_start_with_python_primaries(lab, cluster, py, py_version)


@pytest.mark.slow
def test_6_failover_under_load_keeps_every_acknowledged_update(
        lab: Lab, cluster: TomcatCluster, py: BackupPyNode) -> None:
    t10.test_6_failover_under_load_keeps_every_acknowledged_update(lab, cluster, py)
