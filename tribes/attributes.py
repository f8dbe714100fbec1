"""The one mapping of server.xml attribute names to Python names (and of their text to Python values).

Tomcat's digester calls ``setXxx`` for an attribute ``xxx``; a Python component takes the same
setting as the keyword parameter ``xxx`` in snake_case (``dropTime`` -> ``drop_time``). Every
``from_attributes`` and the assembler (``tribes.config.build``) go through :func:`python_name` and
:func:`kwargs_from_attributes`, so no component keeps a table of names of its own. The few
attributes whose snake_case is not the Python name are listed once, in :data:`RENAMES`.
"""
from __future__ import annotations

import inspect
import re
import typing
from typing import Any, Callable, Iterable, Mapping

__all__ = ["RENAMES", "ALIASES", "camel_to_snake", "python_name", "attribute_name", "UnknownAttributeError",
           "parameters", "coerce", "kwargs_from_attributes"]

#: server.xml name -> Python name, where ``camel_to_snake`` would not give it
RENAMES: dict[str, str] = {"ooBInline": "oob_inline", "heartbeatSleeptime": "heartbeat_sleeptime"}
_REVERSE = {v: k for k, v in RENAMES.items()}
#: Tomcat's second names of one setting (McastService's setMcastBindAddress / setMcastDropTime)
ALIASES: dict[str, str] = {"mcastBindAddress": "bind", "mcastDropTime": "drop_time"}

_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")
_JAVA_INT = re.compile(r"\s*[+-]?[0-9]+\s*\Z")


def camel_to_snake(name: str) -> str:
    """``dropTime`` -> ``drop_time``, ``mcastTTL`` -> ``mcast_ttl``."""
    return _CAMEL.sub(r"_\1", name).lower()


def python_name(attribute: str) -> str:
    """The Python parameter for a server.xml attribute (``dropTime`` -> ``drop_time``)."""
    return RENAMES.get(attribute) or ALIASES.get(attribute) or camel_to_snake(attribute)


def attribute_name(python: str) -> str:
    """The server.xml attribute for a Python parameter (``drop_time`` -> ``dropTime``), for messages."""
    if python in _REVERSE:
        return _REVERSE[python]
    head, *rest = python.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


class UnknownAttributeError(ValueError):
    """An attribute the component has no parameter for; ``accepted`` lists the server.xml names it takes."""

    def __init__(self, attribute: str, accepted: Iterable[str], what: str = "") -> None:
        self.attribute = attribute
        self.accepted = sorted(accepted)
        super().__init__(f"{what + ' ' if what else ''}attribute {attribute!r} is not supported; "
                         f"accepted: {', '.join(self.accepted)}")


def parameters(target: Callable[..., Any]) -> dict[str, Any]:
    """Keyword parameters of ``target`` (a class: its constructor) -> their annotations (``Any`` if none)."""
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return {}
    hints: dict[str, Any] = {}
    sources: list[Any] = ([target.__new__, getattr(target, "__init__"), target] if isinstance(target, type)
                          else [target])
    for source in sources:
        try:
            hints = {**typing.get_type_hints(source), **hints}
        except Exception:  # noqa: BLE001 - unresolvable annotations: take the values as given
            continue
    return {p.name: hints.get(p.name, Any) for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _is(annotation: Any, kind: type) -> bool:
    if annotation is kind:
        return True
    return kind in typing.get_args(annotation)


def coerce(value: Any, annotation: Any) -> Any:
    """A server.xml string as the parameter's type: ``bool`` as Java's ``Boolean.parseBoolean``
    (``"true"`` in any case, anything else false), ``int`` as a Java integer, ``float``; others as given."""
    if not isinstance(value, str):
        return value
    if _is(annotation, bool):
        return value.strip().lower() == "true"
    if _is(annotation, int) and _JAVA_INT.match(value):
        return int(value)
    if _is(annotation, int) and not _is(annotation, str):
        raise ValueError(f"{value!r} is not an integer")
    if _is(annotation, float) and not _is(annotation, str):
        return float(value)
    return value


def kwargs_from_attributes(target: Callable[..., Any], attributes: Mapping[str, Any], *,
                           ignore: Iterable[str] = ("className",), exclude: Iterable[str] = (),
                           what: str = "", coerce_values: bool = True) -> dict[str, Any]:
    """The keyword arguments of ``target`` for server.xml ``attributes`` (camelCase).

    ``ignore``: server.xml names skipped; ``exclude``: parameters no attribute may set (they are given
    otherwise). Raises :class:`UnknownAttributeError` for an attribute ``target`` has no parameter
    for, and ``ValueError`` for a value that is not of the parameter's type.
    """
    params = parameters(target)
    for name in exclude:
        params.pop(name, None)
    skip = set(ignore)
    kwargs: dict[str, Any] = {}
    for key, value in attributes.items():
        if key in skip:
            continue
        name = python_name(key)
        if name not in params:
            raise UnknownAttributeError(key, (attribute_name(p) for p in params), what)
        try:
            kwargs[name] = coerce(value, params[name]) if coerce_values else value
        except ValueError as exc:
            raise ValueError(f"{key}={value!r}: {exc}") from None
    return kwargs
