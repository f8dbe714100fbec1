"""From a :class:`~tribes.config.model.ClusterConfig` to running objects: the one assembler.

* :func:`channel_spec` turns the ``<Channel>`` into a :class:`tribes.group.assembler.ChannelSpec`:
  each element's Python class comes from the className registry (``tribes.config.registry``), its
  keyword arguments from the attributes *written in the configuration* through the one name
  mapping (``tribes.attributes``: ``dropTime`` -> ``drop_time``); the Python classes carry Tomcat's
  defaults themselves. A new membership service, interceptor or transport (EncryptInterceptor,
  CloudMembershipService, ...) plugs in by its registry entry alone.
* :func:`build_channel` assembles it (``tribes.group.assembler.assemble_channel``, also used by
  ``SimpleTcpCluster.create`` for Tomcat's stock channel).
* :func:`build_cluster` puts the ``<Manager>`` on top: its registry entry names the manager class
  (DeltaManager, BackupManager), whose ``config_class`` takes the ``<Manager>`` attributes.
* :func:`build_node` does both, for the command line, the demo and programs.

Attributes a Python class has no parameter for (JMX names, thread-pool sizes of Java executors,
statistics) are not applied; :func:`channel_plan` lists them and ``build_channel`` logs them at
INFO on ``tribes.config``. The implementation classes are imported lazily, so the configuration
model works without them.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from tribes.attributes import coerce, parameters, python_name
from tribes.config import registry
from tribes.config.errors import ConfigError, Problem
from tribes.config.model import ClusterConfig, Element, Member

if TYPE_CHECKING:  # pragma: no cover
    from tribes.channel import ChannelInterceptor
    from tribes.group.assembler import ChannelSpec, Component
    from tribes.group.channel import GroupChannel
    from tribes.managers.cluster import SimpleTcpCluster

log = logging.getLogger("tribes.config")

__all__ = ["Step", "channel_plan", "channel_spec", "build_channel", "build_cluster", "build_node", "Node",
           "manager_class", "manager_settings"]


@dataclass
class Step:
    """How one configuration element becomes one Python object."""

    element: Element
    target: str  # "module:Class"
    kwargs: dict[str, Any] = field(default_factory=dict)
    not_applied: list[str] = field(default_factory=list)
    args: tuple[Any, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"element": self.element.TAG, "className": self.element.class_name, "python": self.target,
                "kwargs": {k: (v.hex() if isinstance(v, bytes) else v) for k, v in self.kwargs.items()},
                "notApplied": self.not_applied}

    def component(self) -> "Component":
        from tribes.group.assembler import Component
        return Component(self.target, dict(self.kwargs), self.args, origin=_Origin(self.element))


class _Origin:
    """The server.xml element a component came from (what a construction error names)."""

    def __init__(self, element: Element) -> None:
        self.element = element
        self.label = f"<{element.TAG}> {element.short_name}"


def _kwargs(element: Element, accepted: set[str], skip: tuple[str, ...] = ()) -> tuple[dict[str, Any], list[str]]:
    kwargs: dict[str, Any] = {}
    not_applied: list[str] = []
    for name, value in element.attributes.items():
        if name in skip:
            continue
        py = python_name(name)
        if py in accepted:
            kwargs[py] = value
        else:
            not_applied.append(name)
    return kwargs, not_applied


def _load(element: Element) -> tuple[str, Any]:
    impl = element.implementation
    if impl is None or impl.python is None:
        raise ConfigError([Problem("error", f"<{element.TAG}> {element.short_name} has no Python implementation",
                                   element.line, element.TAG)])
    try:
        return impl.python, registry.load_python_class(impl.python)
    except ImportError as exc:
        raise NotImplementedError(f"<{element.TAG}> {element.short_name}: {exc}") from exc


def _step(element: Element, extra_accepted: frozenset[str] = frozenset(), skip: tuple[str, ...] = (),
          args: tuple[Any, ...] = ()) -> Step:
    target, cls = _load(element)
    kwargs, not_applied = _kwargs(element, set(parameters(cls)) | set(extra_accepted), skip)
    return Step(element, target, kwargs, not_applied, args)


def _member(member: Member, receiver: Element | None = None) -> Any:
    """A StaticMember; a <LocalMember> without host/port takes the receiver's (as Tomcat fills them in
    from the receiver at start)."""
    from tribes.membership.static import StaticMember

    kwargs, not_applied = _kwargs(member, set(parameters(StaticMember)))
    if receiver is not None:
        if "host" not in kwargs:
            from tribes.transport.receiver import resolve_address

            kwargs["host"] = resolve_address(str(receiver.get("address")))
        kwargs.setdefault("port", receiver.get("port"))
    if not_applied:
        log.info("<%s> line %s: not applied by the Python node: %s", member.TAG, member.line, ", ".join(not_applied))
    return StaticMember(**kwargs)


def _members_args(element: Any, receiver: Element) -> tuple[Any, ...]:
    """(members, local member): the positional arguments of the static membership classes."""
    members = [_member(m) for m in element.members]
    local = _member(element.local_member, receiver) if element.local_member is not None else None
    return (members, local)


def _transport_step(transport: Element) -> Step:
    from tribes.transport.sender import SenderOptions

    return _step(transport, extra_accepted=frozenset(parameters(SenderOptions)))


def _steps(config: ClusterConfig, *, members: bool) -> tuple[Step, Step, Step, Step, Step, list[Step]]:
    ch = config.channel
    mem = ch.membership
    margs = _members_args(mem, ch.receiver) if members and mem.short_name == "StaticMembershipService" else ()
    membership = _step(mem, args=margs)
    receiver = _step(ch.receiver)
    transport = _transport_step(ch.sender.transport)
    sender = Step(ch.sender, "tribes.transport.transmitter:ReplicationTransmitter", {}, sorted(ch.sender.attributes))
    channel = _step(ch, skip=("optionCheck",))
    interceptors = []
    for icp in ch.interceptors:
        iargs = (_members_args(icp, ch.receiver) if members and icp.short_name == "StaticMembershipInterceptor"
                 else ())
        interceptors.append(_step(icp, args=iargs))
    return membership, receiver, transport, sender, channel, interceptors


def channel_plan(config: ClusterConfig) -> list[Step]:
    """What :func:`build_channel` will construct, without constructing anything (but importing)."""
    membership, receiver, transport, sender, channel, interceptors = _steps(config, members=False)
    return [membership, receiver, transport, sender, channel, *interceptors]


def channel_spec(config: ClusterConfig) -> "ChannelSpec":
    """The :class:`~tribes.group.assembler.ChannelSpec` of ``config``'s ``<Channel>`` (validated first)."""
    from tribes.group.assembler import ChannelSpec

    config.validate()
    membership, receiver, transport, sender, channel, interceptors = _steps(config, members=True)
    for step in (membership, receiver, transport, sender, channel, *interceptors):
        if step.not_applied:
            log.info("<%s> %s (line %s): not applied by the Python node: %s", step.element.TAG,
                     step.element.short_name, step.element.line, ", ".join(step.not_applied))
    return ChannelSpec(membership=membership.component(), receiver=receiver.component(),
                       transport=transport.component(), interceptors=[s.component() for s in interceptors],
                       channel=dict(channel.kwargs), option_check=bool(config.channel.get("optionCheck")),
                       channel_origin=_Origin(config.channel))


def _config_error(config: ClusterConfig, exc: Any) -> ConfigError:
    origin = getattr(exc, "origin", None)
    element = getattr(origin, "element", None)
    if element is None:
        return ConfigError([Problem("error", str(exc), None, None, None, config.source)])
    return ConfigError([Problem("error", f"<{element.TAG}> {element.short_name}: {exc.cause}", element.line,
                                element.TAG, None, config.source)])


def build_channel(config: ClusterConfig, *, top: Sequence["ChannelInterceptor"] = ()) -> "GroupChannel":
    """A :class:`tribes.group.GroupChannel` built from ``config`` (call ``await channel.start()``).

    ``top``: interceptors above the configured ones (they see every message first on the way up).
    Raises :class:`NotImplementedError` naming the missing class when a component the
    configuration needs is not implemented in this installation, and :class:`ConfigError` when a
    component rejects a value.
    """
    from tribes.group.assembler import ComponentError, assemble_channel

    spec = channel_spec(config)
    try:
        return assemble_channel(spec, top=top)
    except ComponentError as exc:
        raise _config_error(config, exc) from exc
    except ImportError as exc:
        raise NotImplementedError(str(exc)) from exc


# ------------------------------------------------------------------------------------------ the manager
def manager_class(config: ClusterConfig) -> Any:
    """The Python class of the ``<Manager>`` (registry entry): DeltaManager, BackupManager, ..."""
    return _load(config.manager)[1]


def manager_settings(config: ClusterConfig) -> Any:
    """The ``<Manager>``'s settings: ``manager_class(config).config_class`` from its explicit
    attributes (those the Python manager has no setting for are logged and left out)."""
    settings_cls = manager_class(config).config_class
    known = set(parameters(settings_cls))
    attrs = {k: v for k, v in config.manager.attributes.items() if python_name(k) in known}
    skipped = sorted(k for k in config.manager.attributes if python_name(k) not in known and k not in ("className", "name"))
    if skipped:
        log.info("<Manager> attributes not used by the Python %s: %s", config.manager.short_name, ", ".join(skipped))
    try:
        return settings_cls.from_attributes(attrs)
    except (TypeError, ValueError) as exc:
        raise ConfigError([Problem("error", f"<Manager>: {exc}", config.manager.line, "Manager", None,
                                   config.source)]) from exc


def build_cluster(config: ClusterConfig, channel: "GroupChannel", *, contexts: Sequence[str] = (),
                  follow_all_contexts: bool = True, join_wait: float = 0.5,
                  cluster_factory: "Callable[..., SimpleTcpCluster] | None" = None) -> "SimpleTcpCluster":
    """A :class:`tribes.managers.cluster.SimpleTcpCluster` over ``channel`` with the configuration's
    manager for every context (follows every context it hears of, plus ``contexts``).
    ``cluster_factory`` replaces the class (same arguments): a keeper bound to its store, say."""
    from tribes.managers.cluster import SimpleTcpCluster

    send_options = coerce(config.get("channelSendOptions"), int)
    cluster = (cluster_factory or SimpleTcpCluster)(channel, host=config.host_name or "localhost", container=config.container or "Engine",
                               jvm_route=config.jvm_route, channel_send_options=int(send_options),
                               manager_config=manager_settings(config), follow_all_contexts=follow_all_contexts,
                               join_wait=join_wait)
    for c in contexts:
        cluster.manager(c)
    return cluster


@dataclass
class Node:
    """A node built from a configuration: its channel and, with a session manager, its cluster."""

    config: ClusterConfig
    channel: "GroupChannel"
    cluster: "SimpleTcpCluster | None" = None

    async def start(self) -> None:
        if self.cluster is not None:
            await self.cluster.start()
        else:
            await self.channel.start()

    async def stop(self) -> None:
        if self.cluster is not None:
            await self.cluster.stop()
        else:
            await self.channel.stop()


def build_node(config: ClusterConfig, *, sessions: bool = False, contexts: Sequence[str] = (),
               top: Sequence["ChannelInterceptor"] = (), join_wait: float = 0.5,
               cluster_factory: "Callable[..., SimpleTcpCluster] | None" = None) -> Node:
    """The channel of ``config`` and, with ``sessions`` and a session manager configured, the cluster
    over it. Raises :class:`ConfigError` / :class:`NotImplementedError` as :func:`build_channel`."""
    channel = build_channel(config, top=top)
    cluster = None
    if sessions and config.manager is not None and getattr(manager_class(config), "config_class", None) is not None:
        cluster = build_cluster(config, channel, contexts=contexts, join_wait=join_wait,
                                cluster_factory=cluster_factory)
    return Node(config, channel, cluster)
