"""EncryptInterceptor from server.xml: `tribes config check` on one file and on several files (one per
node, each with its Tomcat version), and build_channel wiring the interceptor in the configured place."""
from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from interop.tomcat.node import SERVER_XML, ClusterConfig
from tests.interop.encrypt_support import KEYS, interceptors_xml
from tribes.cli.main import cli


def write(tmp_path: Any, name: str, key: str = KEYS[128], algorithm: str | None = None,
          order: tuple[str, ...] = ("Encrypt", "TcpFailureDetector", "MessageDispatchInterceptor"),
          extra: str = "") -> str:
    cfg = ClusterConfig(interceptors_xml=interceptors_xml(key, algorithm, extra, order))
    text = SERVER_XML.format(index=1, address="10.0.0.1", http_port=8080, jvm_route="n1",
                             cluster=cfg.render("10.0.0.1", 1))
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["config", "check", *args])


def test_one_file_each_version(tmp_path: Any) -> None:
    f = write(tmp_path, "a.xml")
    for v in ("9.0", "10.1"):
        res = run(f"{f}:{v}")
        assert res.exit_code == 0, res.output
        assert "EncryptInterceptor" in res.output and "-> tribes.interceptors:EncryptInterceptor" in res.output
    cbc_nopad = write(tmp_path, "b.xml", algorithm="AES/CBC/NoPadding")
    assert run(f"{cbc_nopad}:9.0").exit_code == 0
    res = run(f"{cbc_nopad}:10.1")
    assert res.exit_code == 3 and "does not support this algorithm" in res.output
    res = run(write(tmp_path, "c.xml", algorithm="AES/CBC/PKCS5Padding"), "--tomcat-version", "10.1")
    assert res.exit_code == 0 and "insecure algorithm" in res.output


def test_misplaced_and_bad_key(tmp_path: Any) -> None:
    res = run(write(tmp_path, "m.xml", order=("TcpFailureDetector", "Encrypt", "MessageDispatchInterceptor")))
    assert res.exit_code == 3 and "upstream of TcpFailureDetector" in res.output
    res = run(write(tmp_path, "k.xml", key="cafebabe"))
    assert res.exit_code == 3 and "encryptionKey is 4 bytes" in res.output and "cafebabe" not in res.output.split(
        "encryptionKey is")[1][:80]


def test_mixed_9_and_10_cluster_is_explained(tmp_path: Any) -> None:
    a, b = write(tmp_path, "t9.xml"), write(tmp_path, "t10.xml")
    res = run(f"{a}:9.0", f"{b}:10.1")
    assert res.exit_code == 3, res.output
    assert "different EncryptInterceptor formats" in res.output and "8-byte timestamp" in res.output
    assert "both left on their default encryptionAlgorithm" in res.output
    assert "AES/CBC/PKCS5Padding" in res.output and "AES/GCM/NoPadding" in res.output
    res = run(f"{a}:10.1", f"{b}:10.1")
    assert res.exit_code == 0 and "can form one cluster" in res.output
    res = run(f"{a}:10.1", write(tmp_path, "other.xml", key=KEYS[256]) + ":10.1")
    assert res.exit_code == 3 and "different encryptionKey" in res.output
    res = run(f"{a}:9.0", f"{b}:10.1", "--json")
    problems = [json.loads(line) for line in res.output.splitlines() if line.startswith("{")]
    assert any(p.get("source") == "(across files)" and "formats" in p["message"] for p in problems)


def test_build_channel_places_the_interceptor(tmp_path: Any) -> None:
    from tribes.config import load
    from tribes.config.build import build_channel
    from tribes.interceptors.encrypt import EncryptInterceptor
    ch = build_channel(load(write(tmp_path, "b.xml")))
    names = [type(i).__name__ for i in ch.interceptors()]
    assert names[:2] == ["EncryptInterceptor", "TcpFailureDetector"]
    enc = next(iter(ch.interceptors()))
    assert isinstance(enc, EncryptInterceptor) and enc.encryption_key == KEYS[128]


def test_live_view_and_json_summary_show_the_counters(tmp_path: Any) -> None:
    import io

    from rich.console import Console

    from tribes.cli.liveview import NodeStats, encryption_stats, render
    from tribes.config import load
    from tribes.config.build import build_channel
    ch = build_channel(load(write(tmp_path, "v.xml")))
    enc = next(iter(ch.interceptors()))
    enc.encrypted, enc.decrypted = 12, 7
    enc.rejected["replay"] = 2
    enc.mismatched_senders["tcp://{10, 0, 0, 9}:4000"] = "..."
    st = encryption_stats(ch)
    assert st is not None and st["encrypted"] == 12 and st["rejectedTotal"] == 2
    assert json.loads(json.dumps(st))["rejected"]["replay"] == 2  # what --json's summary carries
    out = io.StringIO()
    Console(file=out, width=200).print(render(None, [], NodeStats(), None, "v.xml", st))
    text = out.getvalue()
    assert "encryption: AES/GCM/NoPadding (Tomcat 10.1 format)" in text
    assert "encrypted 12" in text and "decrypted 7" in text and "rejected 2 (replay 2)" in text
    assert "version mismatch: tcp://{10, 0, 0, 9}:4000" in text and KEYS[128] not in text
