"""A mixed cluster: Tomcat 10.1 and 9.0 nodes replicate to each other (slow tier)."""
from __future__ import annotations

from typing import Any, Callable

import pytest

from interop.fixtures import require_root_and_java
from interop.lab import Lab
from interop.tomcat.node import Browser, TomcatCluster

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def test_mixed_10_and_9_replicate_both_ways(lab_factory: Callable[..., Lab],
                                            tomcat_cluster: Callable[..., TomcatCluster]) -> None:
    require_root_and_java(9, tomcat=True)
    lab = lab_factory("tbm", "10.77.10")
    c = tomcat_cluster(lab, 2, versions=["10", "9"], mcast_port=45566)
    n10, n9 = c.nodes
    assert "10.1" in n10.get_json("/ping")[1]["server"] and "9.0" in n9.get_json("/ping")[1]["server"]
    b = Browser(lab)
    sid = b.new_session(n10, [n9])
    b.get(n10, "/app/set", {"name": "from10", "type": "bean", "value": "ten:10"})
    n9.wait_session(sid, ["from10"])
    b9 = Browser(lab)
    sid9 = b9.new_session(n9, [n10])
    b9.get(n9, "/app/set", {"name": "from9", "type": "map", "value": "a=1"})
    view: Any = n10.wait_session(sid9, ["from9"])
    assert [a for a in view["attributes"] if a["name"] == "from9"][0]["value"] == "{a=1}"
    n3 = c.add_node(version="9")                     # state transfer 10.1 -> 9.0
    assert sid in set(n3.sessions()["ids"]) and sid9 in set(n3.sessions()["ids"])
