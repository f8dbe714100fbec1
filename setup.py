"""Build script for tribes.

The Cython fast path (``tribes/_fastpath.pyx``) is optional: when Cython or a C
compiler is missing, or the build fails, the package installs without it and
``tribes.fastpath`` falls back to the pure-Python twin (``tribes._purepath``).
Set ``TRIBES_NO_EXT=1`` to skip the extension on purpose.
"""
from __future__ import annotations

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))


class OptionalBuildExt(build_ext):
    """Build extensions, but never fail the install because of them."""

    def run(self) -> None:  # pragma: no cover - exercised by pip
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001
            print(f"tribes: C extension not built ({exc}); using the pure-Python path", file=sys.stderr)

    def build_extension(self, ext) -> None:  # pragma: no cover - exercised by pip
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            print(f"tribes: {ext.name} not built ({exc}); using the pure-Python path", file=sys.stderr)


def extensions() -> list:
    if os.environ.get("TRIBES_NO_EXT"):
        return []
    pyx_files = []
    for root, _dirs, files in os.walk(os.path.join(HERE, "tribes")):
        for name in files:
            if name.endswith(".pyx"):
                pyx_files.append(os.path.relpath(os.path.join(root, name), HERE))
    if not pyx_files:
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        print("tribes: Cython not available; using the pure-Python path", file=sys.stderr)
        return []
    extensions = []
    for pyx in sorted(pyx_files):
        # one module at a time, so a .pyx that does not translate costs only its own fast path
        try:
            extensions += cythonize(
                [pyx],
                language_level=3,
                compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
                quiet=True,
            )
        except Exception as exc:  # noqa: BLE001 - Cython raises various errors
            print(f"tribes: {pyx} not translated ({exc}); using the pure-Python path", file=sys.stderr)
    return extensions


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
