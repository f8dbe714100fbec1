"""Repository hygiene that would otherwise only show up as a confusing collection error."""
from __future__ import annotations

import collections
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_test_module_basenames_are_unique() -> None:
    # tests/ has no __init__.py files (pytest's default "prepend" import mode), so two test
    # modules with one basename in different folders cannot both be collected.
    seen: dict[str, list[str]] = collections.defaultdict(list)
    for folder, _dirs, files in os.walk(os.path.join(ROOT, "tests")):
        for name in files:
            if name.endswith(".py") and name != "conftest.py":
                seen[name].append(os.path.relpath(os.path.join(folder, name), ROOT))
    clashes = {name: paths for name, paths in seen.items() if len(paths) > 1}
    assert not clashes, f"rename one of each: {clashes}"
