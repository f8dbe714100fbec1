"""Wire a :class:`~tribes.config.model.ClusterConfig` to the channel classes.

``build_channel(config)`` returns a :class:`tribes.group.GroupChannel` (not started) with the
membership service, receiver, sender/transport and interceptors the configuration names, each
constructed with the attributes *written in the configuration* (the Python classes carry Tomcat's
defaults themselves).  Attributes a Python class has no parameter for (JMX names, thread-pool
sizes of Java executors, statistics) are not applied; :func:`channel_plan` lists them and
``build_channel`` logs them at INFO on ``tribes.config``.

The implementation classes are imported lazily, so the configuration model works without them.
"""
from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass, field
from typing import Any

from tribes.config import registry
from tribes.config.errors import ConfigError, Problem
from tribes.config.model import ClusterConfig, Element, Interceptor, Member, camel_to_snake

log = logging.getLogger("tribes.config")

# attribute (camelCase) -> constructor parameter, where the snake_case form differs
_RENAMES: dict[str, str] = {"ooBInline": "oob_inline", "heartbeatSleeptime": "heartbeat_sleeptime"}


@dataclass
class Step:
    """How one configuration element becomes one Python object."""

    element: Element
    target: str  # "module:Class"
    kwargs: dict[str, Any] = field(default_factory=dict)
    not_applied: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"element": self.element.TAG, "className": self.element.class_name, "python": self.target,
                "kwargs": {k: (v.hex() if isinstance(v, bytes) else v) for k, v in self.kwargs.items()},
                "notApplied": self.not_applied}


def _parameters(target: Any) -> tuple[set[str], bool]:
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return set(), True
    names = {p.name for p in sig.parameters.values() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    var_kw = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    return names, var_kw


def _kwargs(element: Element, accepted: set[str], skip: tuple[str, ...] = ()) -> tuple[dict[str, Any], list[str]]:
    kwargs: dict[str, Any] = {}
    not_applied: list[str] = []
    for name, value in element.attributes.items():
        if name in skip:
            continue
        py = _RENAMES.get(name, camel_to_snake(name))
        if py in accepted:
            kwargs[py] = value
        else:
            not_applied.append(name)
    return kwargs, not_applied


def _step(element: Element, extra_accepted: set[str] = frozenset(), skip: tuple[str, ...] = ()) -> tuple[Step, Any]:
    impl = element.implementation
    if impl is None or impl.python is None:
        raise ConfigError([Problem("error", f"<{element.TAG}> {element.short_name} has no Python implementation",
                                   element.line, element.TAG)])
    try:
        cls = registry.load_python_class(impl.python)
    except ImportError as exc:
        raise NotImplementedError(f"<{element.TAG}> {element.short_name}: {exc}") from exc
    names, _ = _parameters(cls)
    kwargs, not_applied = _kwargs(element, names | set(extra_accepted), skip)
    return Step(element, impl.python, kwargs, not_applied), cls


def _member(member: Member, receiver: Element | None = None) -> Any:
    """A StaticMember; a <LocalMember> without host/port takes the receiver's (as Tomcat fills them in
    from the receiver at start)."""
    from tribes.membership.static import StaticMember

    names, _ = _parameters(StaticMember.__new__)
    kwargs, not_applied = _kwargs(member, names)
    if receiver is not None:
        if "host" not in kwargs:
            from tribes.transport.receiver import resolve_address

            kwargs["host"] = resolve_address(str(receiver.get("address")))
        kwargs.setdefault("port", receiver.get("port"))
    if not_applied:
        log.info("<%s> line %s: not applied by the Python node: %s", member.TAG, member.line, ", ".join(not_applied))
    return StaticMember(**kwargs)


def channel_plan(config: ClusterConfig) -> list[Step]:
    """What :func:`build_channel` will construct, without constructing anything (but importing)."""
    steps: list[Step] = []
    ch = config.channel
    steps.append(_step(ch.membership)[0])
    steps.append(_step(ch.receiver)[0])
    steps.append(_transport_step(ch.sender.transport)[0])
    steps.append(Step(ch.sender, "tribes.transport.transmitter:ReplicationTransmitter", {},
                      sorted(ch.sender.attributes)))
    channel_step, _ = _step(ch, skip=("optionCheck",))
    steps.append(channel_step)
    for icp in ch.interceptors:
        steps.append(_step(icp)[0])
    return steps


def _transport_step(transport: Element) -> tuple[Step, Any]:
    from tribes.transport.sender import SenderOptions

    names, _ = _parameters(SenderOptions)
    return _step(transport, extra_accepted=names)


def build_channel(config: ClusterConfig) -> Any:
    """A :class:`tribes.group.GroupChannel` built from ``config`` (call ``await channel.start()``).

    Raises :class:`NotImplementedError` naming the missing class when a component the
    configuration needs is not implemented in this installation, and :class:`ConfigError` when a
    component rejects a value.
    """
    config.validate()
    ch = config.channel
    try:
        from tribes.group import GroupChannel
        from tribes.transport.transmitter import ReplicationTransmitter
    except ImportError as exc:  # pragma: no cover - the channel layer is part of the package
        raise NotImplementedError(f"the channel layer is not available: {exc}") from exc

    def construct(step: Step, cls: Any, *args: Any) -> Any:
        if step.not_applied:
            log.info("<%s> %s (line %s): not applied by the Python node: %s", step.element.TAG,
                     step.element.short_name, step.element.line, ", ".join(step.not_applied))
        try:
            return cls(*args, **step.kwargs)
        except (TypeError, ValueError) as exc:
            raise ConfigError([Problem("error", f"<{step.element.TAG}> {step.element.short_name}: {exc}",
                                       step.element.line, step.element.TAG, None, config.source)]) from exc

    # membership
    mem = ch.membership
    mstep, mcls = _step(mem)
    if mem.short_name == "StaticMembershipService":
        members = [_member(m) for m in mem.members]
        local = _member(mem.local_member, ch.receiver) if mem.local_member is not None else None
        membership = construct(mstep, mcls, members, local)
    else:
        membership = construct(mstep, mcls)

    rstep, rcls = _step(ch.receiver)
    receiver = construct(rstep, rcls)
    tstep, tcls = _transport_step(ch.sender.transport)
    transport = construct(tstep, tcls)
    sender = ReplicationTransmitter(transport)

    cstep, _ = _step(ch, skip=("optionCheck",))
    channel = construct(cstep, GroupChannel, receiver, sender, membership)
    if ch.get("optionCheck"):
        channel.option_check = True
    for icp in ch.interceptors:
        channel.add_interceptor(_interceptor(icp, construct, ch.receiver))
    return channel


def _interceptor(icp: Interceptor, construct: Any, receiver: Element) -> Any:
    step, cls = _step(icp)
    if icp.short_name == "StaticMembershipInterceptor":
        members = [_member(m) for m in icp.members]
        local = _member(icp.local_member, receiver) if icp.local_member is not None else None
        return construct(step, cls, members, local)
    return construct(step, cls)
