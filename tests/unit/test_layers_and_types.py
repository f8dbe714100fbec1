"""The layer rules and the types are checked by tools, in the default tier.

* ``lint-imports`` holds the import-linter contracts of pyproject.toml (the layers of
  docs/architecture.md, no import cycles, sans-I/O cores, click/rich only in the CLI);
* ``mypy`` runs strict on the package with the documented exception list of pyproject.toml;
* the vocabulary and the public API: one definition of the option bits, ``from tribes import ...``
  works, and ``import tribes.io.framing`` loads no asyncio, channel or transport code.

Both tools come with the ``test`` extra (``pip install -e .[test]``); their caches live in the
temporary directory so a run of the checkout leaves nothing behind.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.path.join(tempfile.gettempdir(), f"tribes-checks-{os.getuid()}")


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as exc:  # pragma: no cover - the test extra installs both tools
        pytest.fail(f"{args[0]} is not installed: pip install -e .[test] ({exc})")


def _require(module: str) -> None:
    try:
        __import__(module)
    except ImportError:  # pragma: no cover - the test extra installs both tools
        pytest.fail(f"{module} is not installed: run `pip install -e .[test]` (pyproject.toml's test extra)")


def test_import_linter_contracts_hold() -> None:
    _require("importlinter")
    os.makedirs(CACHE, exist_ok=True)
    proc = _run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()",
                 "--cache-dir", os.path.join(CACHE, "import-linter")], timeout=300)
    assert proc.returncode == 0, f"lint-imports found broken contracts:\n{proc.stdout}\n{proc.stderr}"
    # every contract of pyproject.toml ran and was kept (none silently skipped)
    kept = re.findall(r"\bKEPT\b", proc.stdout)
    assert len(kept) >= 4 and "BROKEN" not in proc.stdout, proc.stdout


def test_mypy_strict_with_documented_exceptions() -> None:
    _require("mypy")
    proc = _run([sys.executable, "-m", "mypy", "--cache-dir", os.path.join(CACHE, "mypy"), "--no-error-summary"],
                timeout=600)
    assert proc.returncode == 0, f"mypy found type errors:\n{proc.stdout}\n{proc.stderr}"


def test_import_linter_contract_fails_on_an_upward_import(tmp_path: os.PathLike[str]) -> None:
    """The layers contract really bites: a lower layer importing the CLI is reported."""
    _require("importlinter")
    pkg = os.path.join(str(tmp_path), "demo_pkg")
    for sub in ("", "low", "high"):
        os.makedirs(os.path.join(pkg, sub), exist_ok=True)
        with open(os.path.join(pkg, sub, "__init__.py"), "w") as f:
            f.write("")
    with open(os.path.join(pkg, "low", "mod.py"), "w") as f:
        f.write("import demo_pkg.high\n")
    cfg = os.path.join(str(tmp_path), "contracts.toml")
    with open(cfg, "w") as f:
        f.write('[tool.importlinter]\nroot_package = "demo_pkg"\n\n[[tool.importlinter.contracts]]\n'
                'name = "layers"\ntype = "layers"\nlayers = ["demo_pkg.high", "demo_pkg.low"]\n')
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
                           "lint_imports_command()", cfg, "--no-cache"],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "demo_pkg.low is not allowed to import demo_pkg.high" in proc.stdout, proc.stdout


def test_importing_the_framing_codec_stays_cheap() -> None:
    code = ("import sys, tribes.io.framing\n"
            "heavy = sorted(m for m in sys.modules if m == 'asyncio' or m.startswith(('tribes.group', "
            "'tribes.transport', 'tribes.managers', 'tribes.membership', 'tribes.config', 'tribes.cli')))\n"
            "print(','.join(heavy))\n")
    proc = _run([sys.executable, "-c", code], timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"import tribes.io.framing loaded: {proc.stdout.strip()}"


def test_public_api_is_lazy_and_complete() -> None:
    code = ("import sys, tribes\n"
            "assert 'tribes.group.channel' not in sys.modules and 'asyncio' not in sys.modules\n"
            "from tribes import GroupChannel, SendOptions, McastService, ChannelInterceptor, ByteMessage\n"
            "from tribes import build_channel, SimpleTcpCluster, Member, ChannelException, UniqueId\n"
            "import tribes.group, tribes.io.options, tribes.transport.errors\n"
            "assert tribes.group.GroupChannel is GroupChannel and tribes.group.ByteMessage is ByteMessage\n"
            "assert tribes.io.options.SendOptions is SendOptions\n"
            "assert tribes.transport.errors.ChannelException is ChannelException\n"
            "assert tribes.group.ChannelInterceptor is ChannelInterceptor\n"
            "missing = [n for n in tribes.__all__ if not hasattr(tribes, n)]\n"
            "assert not missing, missing\n"
            "print('ok')\n")
    proc = _run([sys.executable, "-c", code], timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_send_option_bits_are_defined_once() -> None:
    """Outside the vocabulary no module assigns a SEND_OPTIONS bit to a name or tests one by number."""
    bits = re.compile(r"^\s*_?[A-Z_]*(SEND_OPTIONS_\w+|USE_ACK|SYNC_ACK|SYNCHRONIZED_ACK|ASYNC|ASYNCHRONOUS|"
                      r"BYTE_MESSAGE|BYTE|MULTICAST|UDP|SECURE)\s*=\s*(0x[0-9a-fA-F]+|[0-9]+)\s*(#.*)?$", re.M)
    offenders = []
    for base, _dirs, files in os.walk(os.path.join(ROOT, "tribes")):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(base, name)
            rel = os.path.relpath(path, ROOT)
            if rel == os.path.join("tribes", "channel.py"):
                continue
            with open(path, encoding="utf-8") as f:
                text = f.read()
            offenders += [f"{rel}: {m.group(0).strip()}" for m in bits.finditer(text)]
    assert not offenders, "send option bits defined outside tribes/channel.py:\n" + "\n".join(offenders)


def test_frame_markers_have_one_value() -> None:
    """tribes.io.framing owns the markers; the hot-path twins keep C-level copies that must agree."""
    from tribes import _purepath, fastpath
    from tribes.io import framing, layouts, member

    impls = [_purepath, fastpath.impl]
    for impl in impls:
        assert (impl.START_DATA, impl.END_DATA) == (framing.START_DATA, framing.END_DATA)
        assert (impl.TRIBES_MBR_BEGIN, impl.TRIBES_MBR_END) == (member.TRIBES_MBR_BEGIN, member.TRIBES_MBR_END)
    assert layouts.TRIBES_MBR_BEGIN is member.TRIBES_MBR_BEGIN
