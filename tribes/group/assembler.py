"""The one place a channel is put together: a :class:`ChannelSpec` in, a wired ``GroupChannel`` out.

Every way of getting a channel goes through :func:`assemble_channel`: ``tribes.config.build``
(a server.xml ``<Cluster>`` -> spec, each element's class found in the className registry),
``SimpleTcpCluster.create`` and the command line (Tomcat's stock channel, :func:`stock_spec`).
A component is named by ``"module:Class"`` (or given as a class) and constructed with keyword
arguments, so a new membership service, interceptor or transport plugs in by a registry entry
alone. The assembler also does what no caller should do by hand: it links the interceptors
(``top`` ones above the configured ones, e.g. a tap that sees every message first) and hands the
channel to the membership service (``set_channel``, as Tomcat's coordinator does).

A component that rejects its arguments raises :class:`ComponentError`, which names the component
(``origin``: whatever the caller attached, e.g. the server.xml element) and the cause.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Sequence

from tribes.channel import ChannelInterceptor, SendOptions
from tribes.group.channel import GroupChannel

__all__ = ["Component", "ChannelSpec", "ComponentError", "assemble_channel", "stock_spec", "load_class",
           "MCAST_SERVICE", "NIO_RECEIVER", "POOLED_PARALLEL_SENDER", "TCP_FAILURE_DETECTOR",
           "MESSAGE_DISPATCH_INTERCEPTOR"]

MCAST_SERVICE = "tribes.membership.mcast:McastService"
NIO_RECEIVER = "tribes.transport.receiver:NioReceiver"
POOLED_PARALLEL_SENDER = "tribes.transport.sender:PooledParallelSender"
TCP_FAILURE_DETECTOR = "tribes.interceptors.tcp_failure_detector:TcpFailureDetector"
MESSAGE_DISPATCH_INTERCEPTOR = "tribes.interceptors.message_dispatch:MessageDispatchInterceptor"
REPLICATION_TRANSMITTER = "tribes.transport.transmitter:ReplicationTransmitter"


def load_class(target: str | type) -> Any:
    """``"package.module:Class"`` -> the class (a class is returned as is); ImportError names what is missing."""
    if not isinstance(target, str):
        return target
    module_name, sep, attr = target.partition(":")
    if not sep:
        raise ImportError(f"{target!r}: name a component as 'package.module:Class'")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ImportError(f"{module_name} has no {attr}") from None


class ComponentError(ValueError):
    """A component rejected its arguments (``origin`` says which one, ``cause`` why)."""

    def __init__(self, component: "Component", cause: BaseException) -> None:
        self.component = component
        self.origin = component.origin
        self.cause = cause
        super().__init__(f"{component.label()}: {cause}")


@dataclass
class Component:
    """One part of the channel: its class, the arguments it is constructed with, where it came from."""

    target: str | type
    kwargs: dict[str, Any] = field(default_factory=dict)
    args: tuple[Any, ...] = ()
    #: what the caller wants errors to name (tribes.config passes the server.xml element)
    origin: Any = None

    def label(self) -> str:
        name = self.target if isinstance(self.target, str) else self.target.__name__
        return f"{name.rsplit(':', 1)[-1]}" if self.origin is None else str(getattr(self.origin, "label", self.origin))

    def build(self) -> Any:
        cls = load_class(self.target)
        try:
            return cls(*self.args, **self.kwargs)
        except (TypeError, ValueError) as exc:
            raise ComponentError(self, exc) from exc


@dataclass
class ChannelSpec:
    """What a channel is made of (Tomcat's ``<Channel>`` with its children)."""

    membership: Component
    receiver: Component
    transport: Component
    interceptors: list[Component] = field(default_factory=list)
    #: GroupChannel keyword arguments (heartbeat_sleeptime, heartbeat, name)
    channel: dict[str, Any] = field(default_factory=dict)
    option_check: bool = False
    channel_origin: Any = None


def assemble_channel(spec: ChannelSpec, *, top: Sequence[ChannelInterceptor] = ()) -> GroupChannel:
    """The ``GroupChannel`` of ``spec`` (not started): ``top`` interceptors first (in order), then the
    configured ones, then the coordinator. Raises :class:`ComponentError` / ``ImportError``."""
    membership = spec.membership.build()
    receiver = spec.receiver.build()
    transport = spec.transport.build()
    sender = load_class(REPLICATION_TRANSMITTER)(transport)
    try:
        channel = GroupChannel(receiver, sender, membership, **spec.channel)
    except (TypeError, ValueError) as exc:
        raise ComponentError(Component(GroupChannel, dict(spec.channel), origin=spec.channel_origin), exc) from exc
    channel.option_check = spec.option_check
    for icp in top:
        channel.add_interceptor(icp)
    for component in spec.interceptors:
        channel.add_interceptor(component.build())
    membership.set_channel(channel)
    return channel


def stock_spec(*, address: str = "auto", bind: str | None = None, receiver_port: int = 4000,
               mcast_address: str = "228.0.0.4", mcast_port: int = 45564, domain: str | bytes = "",
               frequency: int = 500, drop_time: int = 3000, dispatch_threads: int | None = None) -> ChannelSpec:
    """Tomcat's stock cluster channel (``<Cluster className="...SimpleTcpCluster"/>`` with no children):
    McastService, NioReceiver, PooledParallelSender, MessageDispatchInterceptor then TcpFailureDetector
    (``SimpleTcpCluster.checkDefaults``).

    ``address`` is the receiver's address (``"auto"``: this host's), ``bind`` the membership's
    interface address (None: the system's choice). ``dispatch_threads`` sets the dispatcher's workers
    (1 keeps asynchronous messages in order).
    """
    dispatch: dict[str, Any] = {} if dispatch_threads is None else {"max_threads": dispatch_threads}
    return ChannelSpec(
        membership=Component(MCAST_SERVICE, {"address": mcast_address, "port": mcast_port, "frequency": frequency,
                                             "drop_time": drop_time, "bind": bind, "domain": domain}),
        receiver=Component(NIO_RECEIVER, {"address": address, "port": receiver_port}),
        transport=Component(POOLED_PARALLEL_SENDER),
        interceptors=[Component(MESSAGE_DISPATCH_INTERCEPTOR, {"option_flag": int(SendOptions.ASYNCHRONOUS),
                                                               **dispatch}),
                      Component(TCP_FAILURE_DETECTOR)],
    )
