"""deploy/kubernetes/: every manifest is valid against the Kubernetes API schema (kubernetes-validate,
which ships the schemas: no network), and the server.xml they carry configures a Python node."""
from __future__ import annotations

import glob
import os
import subprocess
import sys

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
DEPLOY = os.path.join(HERE, "..", "..", "deploy", "kubernetes")
MANIFESTS = sorted(glob.glob(os.path.join(DEPLOY, "*.yaml")))
K8S_VERSION = "1.30.0"

kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate (test extra)")


def docs() -> list[tuple[str, dict]]:
    out = []
    for path in MANIFESTS:
        with open(path) as f:
            out.extend((os.path.basename(path), d) for d in yaml.safe_load_all(f) if d)
    return out


def test_there_are_manifests() -> None:
    kinds = {d["kind"] for _, d in docs()}
    assert {"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Service", "StatefulSet", "Deployment"} <= kinds


@pytest.mark.parametrize("name, doc", docs(), ids=[f"{n}:{d['kind']}" for n, d in docs()])
def test_manifest_is_valid_against_the_api_schema(name: str, doc: dict) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)  # raises ValidationError with the path


def test_validator_rejects_a_broken_manifest() -> None:
    doc = next(d for _, d in docs() if d["kind"] == "Role")
    broken = {**doc, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbz": ["list"]}]}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_role_allows_listing_pods() -> None:
    role = next(d for _, d in docs() if d["kind"] == "Role")
    assert any("pods" in r["resources"] and "list" in r["verbs"] for r in role["rules"])


def test_validation_needs_no_network() -> None:
    """Run the validator in a fresh network namespace (nothing but a down loopback) when we can."""
    if os.geteuid() != 0 or subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("needs root and unshare to prove it offline")
    code = ("import sys, yaml, kubernetes_validate as kv\n"
            "for p in sys.argv[1:]:\n"
            "    [kv.validate(d, %r, strict=True) for d in yaml.safe_load_all(open(p)) if d]\n"
            "print('ok')" % K8S_VERSION)
    res = subprocess.run(["unshare", "-n", sys.executable, "-c", code, *MANIFESTS], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-2000:]


def test_server_xml_of_the_config_map_configures_the_python_node() -> None:
    from tribes.config import loads
    from tribes.membership.cloud import CloudMembershipService

    cm = next(d for _, d in docs() if d["kind"] == "ConfigMap")
    cfg = loads(cm["data"]["server.xml"], source="cluster-config.yaml")
    assert cfg.channel.membership.short_name == "CloudMembershipService"
    assert cfg.channel.receiver.get("port") == 4000
    from tribes.config.build import build_channel
    assert isinstance(build_channel(cfg).membership_service, CloudMembershipService)
