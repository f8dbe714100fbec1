"""``tribes javaser dump FILE [--json]`` and ``tribes javaser check FILE``.

FILE holds Java-serialized bytes (``AC ED 00 05`` ...), possibly several top-level objects and
block data (a DeltaRequest, a DeltaManager session-state payload). ``dump`` prints every
top-level item as a readable tree, or with ``--json`` one JSON object per line
(``{"kind": "item", "index": n, "offset": o, "value": {...}}``, then a ``summary``). ``check``
re-encodes what it read and exits 0 only when the bytes are identical; otherwise it prints the
first differing offset and exits 5.
"""
from __future__ import annotations

import sys
from typing import Any, TextIO

import click

from tribes.cli.common import EXIT_ERRORS, EXIT_MISMATCH, EXIT_OK, emit_json

HELP_EPILOG = (
    "\b\nExamples:\n  tribes javaser dump session.ser\n  tribes javaser dump delta.bin --json\n"
    "  tribes javaser check session.ser && echo byte-exact\n\n"
    "Exit status: 0 success; 1 the stream could not be decoded (the error and its offset are printed); "
    "5 (check) re-encoding differs."
)


def _limits_options(func: Any) -> Any:
    opts = [
        click.option("--max-depth", type=click.IntRange(min=1), default=None, help="Limits.max_depth."),
        click.option("--max-bytes", type=click.IntRange(min=4), default=None, help="Limits.max_total_bytes."),
    ]
    for o in reversed(opts):
        func = o(func)
    return func


def _limits(max_depth: int | None, max_bytes: int | None) -> Any:
    from tribes.javaser import Limits

    kw: dict[str, int] = {}
    if max_depth is not None:
        kw["max_depth"] = max_depth
    if max_bytes is not None:
        kw["max_total_bytes"] = max_bytes
    return Limits(**kw)


def _read(file: str) -> bytes:
    with open(file, "rb") as f:
        return f.read()


@click.group("javaser", epilog=HELP_EPILOG)
def javaser() -> None:
    """Java Object Serialization streams: dump and check (byte-exact re-encoding)."""


@javaser.command("dump", epilog=HELP_EPILOG)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line, each with a kind.")
@_limits_options
def dump(file: str, as_json: bool, max_depth: int | None, max_bytes: int | None) -> None:
    """Print the top-level items of a Java-serialized FILE as a tree (or JSON)."""
    from tribes.javaser import JavaSerializationError, ObjectInputStream, to_json

    data = _read(file)
    out = sys.stdout
    count = 0
    try:
        ois = ObjectInputStream(data, _limits(max_depth, max_bytes))
        while not ois.at_eof():
            offset = ois.offset
            item = ois.read_content()
            if as_json:
                emit_json("item", out, index=count, offset=offset, value=to_json(item))
            else:
                out.write(f"[{count}] @{offset}\n")
                _tree(item, out, "  ", set())
            count += 1
    except JavaSerializationError as exc:
        if as_json:
            emit_json("error", out, error=str(exc), offset=exc.offset, items=count)
        click.echo(f"tribes javaser: {file}: {exc}", err=True)
        sys.exit(EXIT_ERRORS)
    if as_json:
        emit_json("summary", out, items=count, bytes=len(data))
    sys.exit(EXIT_OK)


@javaser.command("check", epilog=HELP_EPILOG)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@_limits_options
def check(file: str, max_depth: int | None, max_bytes: int | None) -> None:
    """Decode FILE, re-encode it and compare: exit 0 only when the bytes are identical."""
    from tribes.javaser import JavaSerializationError, dumps_all, loads_all

    data = _read(file)
    limits = _limits(max_depth, max_bytes)
    try:
        items = loads_all(data, limits)
    except JavaSerializationError as exc:
        click.echo(f"tribes javaser: {file}: cannot decode: {exc}", err=True)
        sys.exit(EXIT_ERRORS)
    try:
        again = dumps_all(items, limits)
    except JavaSerializationError as exc:
        click.echo(f"tribes javaser: {file}: cannot re-encode: {exc}", err=True)
        sys.exit(EXIT_ERRORS)
    if again == data:
        click.echo(f"{file}: identical ({len(data)} bytes, {len(items)} top-level items)")
        sys.exit(EXIT_OK)
    n = min(len(again), len(data))
    first = next((i for i in range(n) if again[i] != data[i]), n)
    click.echo(
        f"{file}: DIFFERENT at offset {first} (input {len(data)} bytes, re-encoded {len(again)}): "
        f"input {data[first:first + 16].hex()} re-encoded {again[first:first + 16].hex()}"
    )
    sys.exit(EXIT_MISMATCH)


# ---------------------------------------------------------------------------------------------
# tree rendering


def _short(v: Any) -> str | None:
    """One-line rendering of a leaf value, or None for containers."""
    from tribes.javaser import (
        RESET,
        BlockData,
        ClassDesc,
        JavaBoolean,
        JavaCharacter,
        JavaClass,
        JavaDate,
        JavaEnum,
    )
    from tribes.isotime import iso_time
    from tribes.javaser.jsonview import _class_of

    if v is None:
        return "null"
    if isinstance(v, JavaCharacter):
        return f"java.lang.Character {str(v)!r}"
    if isinstance(v, str):
        s = str(v)
        return f"String {s[:200]!r}" + (f"... ({len(s)} chars)" if len(s) > 200 else "")
    if isinstance(v, JavaBoolean):
        return f"java.lang.Boolean {v.value} (distinct object)"
    if isinstance(v, bool):
        return f"java.lang.Boolean {v}"
    if isinstance(v, int):
        return f"{_class_of(v)} {int(v)}"
    if isinstance(v, float):
        return f"{_class_of(v)} {float(v)!r}"
    if isinstance(v, (bytes, bytearray)):
        return f"byte[{len(v)}] {bytes(v[:32]).hex()}" + ("..." if len(v) > 32 else "")
    if isinstance(v, JavaDate):
        return f"java.util.Date {iso_time(v.millis)}"
    if isinstance(v, JavaEnum):
        return f"enum {v.class_name}.{v.name}"
    if isinstance(v, JavaClass):
        return f"class {v.name}"
    if isinstance(v, ClassDesc):
        return f"ObjectStreamClass {v.name}"
    if isinstance(v, BlockData):
        return f"blockdata[{len(v.data)}] {v.data[:32].hex()}" + ("..." if len(v.data) > 32 else "")
    if v is RESET:
        return "RESET"
    return None


def _tree(v: Any, out: TextIO, indent: str, path: set[int]) -> None:
    from tribes.javaser import JavaArray, JavaHashSet, JavaObject, JavaWriteAborted

    s = _short(v)
    if s is not None:
        out.write(f"{indent}{s}\n")
        return
    if isinstance(v, JavaWriteAborted):
        out.write(f"{indent}WRITE ABORTED after {len(v.partial)} bytes; exception:\n")
        _tree(v.exception, out, indent + "  ", set())
        return
    name = v.class_name if isinstance(v, (JavaObject, JavaArray)) else getattr(type(v), "java_class", type(v).__name__)
    if id(v) in path:
        out.write(f"{indent}{name} (cycle: an enclosing object)\n")
        return
    path.add(id(v))
    nxt = indent + "  "
    if isinstance(v, JavaObject):
        flags = " externalizable" if v.desc.is_externalizable else ""
        out.write(f"{indent}{name}{flags}\n")
        for cd in v.class_data:
            if len(v.class_data) > 1:
                out.write(f"{nxt}[{cd.desc.name}]\n")
            for f, x in zip(cd.desc.fields, cd.values):
                leaf = repr(x) if f.classname is None else _short(x)
                if leaf is not None:
                    out.write(f"{nxt}{f.name} = {leaf}\n")
                else:
                    out.write(f"{nxt}{f.name} =\n")
                    _tree(x, out, nxt + "  ", path)
            if cd.annotations:
                out.write(f"{nxt}custom data:\n")
                for x in cd.annotations:
                    _tree(x, out, nxt + "  ", path)
    elif isinstance(v, dict):
        out.write(f"{indent}{name} ({len(v)} entries)\n")
        for k, x in v.items():
            ks = _short(k)
            xs = _short(x)
            if ks is not None and xs is not None:
                out.write(f"{nxt}{ks} -> {xs}\n")
            else:
                out.write(f"{nxt}key:\n")
                _tree(k, out, nxt + "  ", path)
                out.write(f"{nxt}value:\n")
                _tree(x, out, nxt + "  ", path)
    elif isinstance(v, (list, JavaHashSet, set, frozenset)):
        out.write(f"{indent}{name} ({len(v)} elements)\n")
        if isinstance(v, JavaArray) and v.component in "BCDFIJSZ":
            out.write(f"{nxt}{list(v)!r}\n")
        else:
            for x in v:
                _tree(x, out, nxt, path)
    else:
        out.write(f"{indent}{v!r}\n")
    path.discard(id(v))
