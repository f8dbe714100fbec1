"""Stand-in for the ``cython`` module when Cython is not installed.

reader.py and writer.py carry Cython "pure Python mode" declarations (typed attributes and
locals) so that ``_creader.pyx`` / ``_cwriter.pyx`` can compile the very same source into a
typed extension; without Cython these declarations do nothing.
"""
from __future__ import annotations

from typing import Any, Callable

compiled = False
Py_ssize_t = int
int = int  # noqa: A001 - mirrors cython.int
longlong = int
bint = bool


def cclass(cls: type) -> type:
    return cls


def ccall(f: Callable[..., Any]) -> Callable[..., Any]:
    return f


cfunc = ccall
inline = ccall
final = cclass


def locals(**_kw: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:  # noqa: A001
    return lambda f: f


def declare(_type: Any = None, value: Any = None, **_kw: Any) -> Any:
    return value


def cast(_type: Any, value: Any) -> Any:
    return value


def __getattr__(name: str) -> Any:
    """Any other C type name (p_char, uchar, ...): a placeholder."""
    if name.startswith("__"):
        raise AttributeError(name)
    return None


def returns(_type: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return lambda f: f


def exceptval(*_a: Any, **_kw: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return lambda f: f
