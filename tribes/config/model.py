"""The cluster configuration as Python objects: the elements of Tomcat's ``<Cluster>``.

Each element is a dataclass holding its ``class_name`` (Tomcat's ``className``), the attributes set
explicitly (``attributes``: camelCase names as in server.xml, values already typed) and its child
elements.  Tomcat's defaults come from :mod:`tribes.config._tomcat_specs` (generated from the real
jars), so ``element.get("frequency")`` or ``element.frequency`` answers with the explicit value or
Tomcat's default.

Build one without XML::

    from tribes.config import ClusterConfig, Membership, Receiver
    cfg = ClusterConfig.default()
    cfg.channel.membership.set("address", "228.0.0.4")
    cfg.channel.receiver.set("port", 4100)          # validated like the XML value "4100"
    cfg = cfg.with_overrides(bind="10.77.0.1", jvm_route="py1")
    cfg.validate()                                  # raises ConfigError listing every problem
"""
from __future__ import annotations

import copy
import difflib
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterator

from tribes.config import registry
from tribes.config._tomcat_specs import TOMCAT_CLASSES
from tribes.config.errors import ConfigError, Problem

# --------------------------------------------------------------------------- value conversion

_JAVA_INT = re.compile(r"[+-]?[0-9]+\Z")
INT_RANGE = (-(2**31), 2**31 - 1)
LONG_RANGE = (-(2**63), 2**63 - 1)
JAVA_TYPE_NAMES = {"int": "an integer (Java int)", "long": "an integer (Java long)",
                   "boolean": "true or false", "string": "a string", "inetaddress": "an IP address or host name"}

# Attributes that report state or statistics: Tomcat has setters for them, so a file may name them,
# but they configure nothing.  Hidden from the human view of the effective configuration.
RUNTIME_ATTRIBUTES = frozenset({
    "expiredSessions", "sessionCounter", "processingTime", "duplicates", "maxActive", "requestCount",
    "connectTime", "attempt", "msgCount", "stateTransferred", "stateTransfered", "noContextManagerReceived",
    "andGetCurrentSize", "memberAliveTime", "serviceStartTime", "listen", "local", "destination",
})


class ValueProblem(ValueError):
    """A value that cannot be used; the message says what is expected."""


def java_attribute_name(name: str) -> str:
    """How IntrospectionUtils finds the setter: ``set`` + name with its first letter upper-cased."""
    return name[:1].lower() + name[1:] if name else name


def snake_to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def camel_to_snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _parse_java_integer(text: str, bounds: tuple[int, int], what: str) -> int:
    if not _JAVA_INT.match(text):
        raise ValueProblem(f"{text!r} is not {what}")
    value = int(text)
    if not bounds[0] <= value <= bounds[1]:
        raise ValueProblem(f"{text} is out of range for {what} ({bounds[0]}..{bounds[1]})")
    return value


def _check_host(text: str) -> str:
    """An IP literal or a syntactically valid host name (InetAddress.getByName would resolve it)."""
    try:
        ipaddress.ip_address(text.strip("[]"))
        return text
    except ValueError:
        pass
    if re.fullmatch(r"[0-9.]+", text):
        raise ValueProblem(f"{text!r} is not a valid IPv4 address")
    if not re.fullmatch(r"(?=.{1,253}\Z)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?",
                        text) or text.endswith("-"):
        raise ValueProblem(f"{text!r} is neither an IP address nor a host name")
    return text


def convert(java_type: str, value: Any) -> Any:
    """Turn an XML string (or a Python value from the API) into the attribute's type, as Tomcat would.

    Stricter than Tomcat where Tomcat silently drops a value: a number that does not parse is an
    error here (Tomcat logs "failed to set property" and keeps its default), and a boolean must be
    ``true`` or ``false`` (Tomcat's Boolean.valueOf turns any other word into false).
    """
    if java_type in ("int", "long"):
        bounds = INT_RANGE if java_type == "int" else LONG_RANGE
        what = JAVA_TYPE_NAMES[java_type]
        if isinstance(value, bool):
            raise ValueProblem(f"{value!r} is not {what}")
        if isinstance(value, int):
            return _parse_java_integer(str(value), bounds, what)
        text = str(value)
        if "${" in text:
            raise ValueProblem(f"{text!r} is not {what}: the ${{...}} property is not defined "
                               "(pass it in properties= / --property NAME=VALUE)")
        return _parse_java_integer(text, bounds, what)
    if java_type == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value)
        if text.lower() == "true":
            return True
        if text.lower() == "false":
            return False
        hint = (" (the ${...} property is not defined: pass it in properties= / --property NAME=VALUE)"
                if "${" in text else "")
        raise ValueProblem(f"{text!r} is not true or false{hint}; Tomcat would silently read it as false")
    if java_type == "inetaddress":
        return _check_host(str(value))
    if java_type == "string":
        return str(value) if not isinstance(value, (bytes, bytearray)) else bytes(value)
    raise ValueProblem(f"it takes a Java object ({java_type.split(':', 1)[-1]}) that server.xml cannot give "
                       "(Tomcat would call the setter with null); remove the attribute")


# --------------------------------------------------------------------------- semantic checks


def parse_byte_array(text: str) -> bytes:
    """Tomcat's ``Arrays.fromString``: ``{1,2,-3}`` -> signed bytes."""
    if not text.startswith("{"):
        raise ValueProblem(f"{text!r} is not a byte array like {{1,2,3}}")
    tokens = [t for t in re.split(r"[{},]", text) if t != ""]
    out = bytearray()
    for tok in tokens:
        t = tok.strip()
        if not _JAVA_INT.match(t) or not -128 <= int(t) <= 127:
            raise ValueProblem(f"{tok!r} in {text!r} is not a Java byte (-128..127)")
        out.append(int(t) & 0xFF)
    return bytes(out)


def _port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise ValueProblem(f"{value} is not a TCP/UDP port (1..65535)")
    return value


def _optional_port(value: int) -> int:
    if value != -1 and not 1 <= value <= 65535:
        raise ValueProblem(f"{value} is not a port (1..65535, or -1 for none)")
    return value


def _positive(value: int) -> int:
    if value <= 0:
        raise ValueProblem(f"{value} must be greater than 0")
    return value


def _non_negative(value: int) -> int:
    if value < 0:
        raise ValueProblem(f"{value} must not be negative")
    return value


def _ttl(value: int) -> int:
    if not 0 <= value <= 255:
        raise ValueProblem(f"{value} is not a multicast TTL (0..255)")
    return value


def _multicast(value: str) -> str:
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        raise ValueProblem(f"{value!r} is not an IP address (the membership group must be a multicast "
                           "address such as 228.0.0.4)") from None
    if not addr.is_multicast:
        raise ValueProblem(f"{value} is not a multicast address (224.0.0.0/4 or ff00::/8; Tomcat's "
                           "default is 228.0.0.4)")
    return value


def _bind_address(value: str) -> str:
    return _check_host(value)


def _receiver_address(value: str) -> str:
    return value if value == "auto" else _check_host(value)


def _domain(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    text = str(value)
    if text.startswith("{"):
        return parse_byte_array(text)
    try:
        return text.encode("iso-8859-1")
    except UnicodeEncodeError:
        raise ValueProblem(f"{text!r} has characters outside ISO-8859-1 (Tomcat encodes the domain "
                           "with ISO-8859-1); use plain ASCII or {{byte,...}}") from None


def _unique_id(value: Any) -> bytes:
    raw = bytes(value) if isinstance(value, (bytes, bytearray)) else parse_byte_array(str(value))
    if len(raw) != 16:
        raise ValueProblem(f"a uniqueId has 16 bytes, this one has {len(raw)}")
    return raw


def _member_host(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
    elif str(value).startswith("{"):
        raw = parse_byte_array(str(value))
    else:
        return _check_host(str(value))
    if len(raw) not in (4, 16):
        raise ValueProblem(f"a host byte array has 4 (IPv4) or 16 (IPv6) bytes, this one has {len(raw)}")
    return raw


def _send_options(value: Any) -> int:
    from tribes.io.options import parse_send_options

    try:
        return int(parse_send_options(value if isinstance(value, int) else str(value)))
    except (ValueError, TypeError) as exc:
        reason = str(exc).split(";")[0]
        raise ValueProblem(f"{value!r} is not a send-options value ({reason}); use a number such as 8 or a comma "
                           "list of: async, byte_message, multicast, secure, sync, udp, use_ack") from None


def _encryption_key(value: Any) -> Any:
    """EncryptInterceptor's encryptionKey: hex, 16/24/32 bytes (the message never shows the key)."""
    from tribes.interceptors.encrypt import EncryptConfigError, parse_key

    try:
        parse_key(value)
    except EncryptConfigError as exc:
        raise ValueProblem(str(exc)) from None
    return value


def _cloud_provider(value: Any) -> Any:
    """CloudMembershipService's membershipProviderClassName: kubernetes, dns or their Tomcat class names."""
    from tribes.membership.cloud.service import CloudConfigError, provider_kind

    try:
        provider_kind(value)
    except CloudConfigError as exc:
        raise ValueProblem(str(exc).split("=", 1)[-1]) from None
    return value


_RECEIVERS = ("NioReceiver", "BioReceiver")
_SENDERS = ("PooledParallelSender", "ParallelNioSender", "PooledMultiSender", "MultipointBioSender")
_MEMBERSHIPS = ("McastService", "StaticMembershipService")

# (short class names or "*", attribute) -> check applied after type conversion.
SEMANTICS: list[tuple[tuple[str, ...], str, Any]] = [
    (("McastService",), "port", _port),
    (("McastService",), "address", _multicast),
    (("McastService",), "bind", _bind_address),
    (("McastService",), "mcastBindAddress", _bind_address),
    (("McastService",), "ttl", _ttl),
    (("McastService",), "frequency", _positive),
    (("McastService",), "dropTime", _positive),
    (("McastService",), "mcastDropTime", _positive),
    (("McastService",), "soTimeout", _non_negative),
    (("McastService",), "recoveryCounter", _non_negative),
    (("McastService", "StaticMember", "DomainFilterInterceptor"), "domain", _domain),
    (_RECEIVERS, "port", _port),
    (_RECEIVERS, "securePort", _optional_port),
    (_RECEIVERS, "udpPort", _optional_port),
    (_RECEIVERS, "address", _receiver_address),
    (_RECEIVERS, "host", _receiver_address),
    (_RECEIVERS, "autoBind", _positive),
    (_RECEIVERS, "maxThreads", _positive),
    (_RECEIVERS, "minThreads", _non_negative),
    (_RECEIVERS, "timeout", _non_negative),
    (_RECEIVERS, "rxBufSize", _positive),
    (_RECEIVERS, "txBufSize", _positive),
    (_RECEIVERS, "selectorTimeout", _non_negative),
    (_SENDERS, "timeout", _non_negative),
    (_SENDERS, "poolSize", _positive),
    (_SENDERS, "maxRetryAttempts", _non_negative),
    (_SENDERS, "rxBufSize", _positive),
    (_SENDERS, "txBufSize", _positive),
    (("StaticMember",), "port", _port),
    (("StaticMember",), "securePort", _optional_port),
    (("StaticMember",), "udpPort", _optional_port),
    (("StaticMember",), "host", _member_host),
    (("StaticMember",), "uniqueId", _unique_id),
    (("SimpleTcpCluster",), "channelSendOptions", _send_options),
    (("BackupManager",), "mapSendOptions", _send_options),
    (("TcpFailureDetector",), "connectTimeout", _non_negative),
    (("TcpFailureDetector",), "readTestTimeout", _non_negative),
    (("TcpPingInterceptor",), "interval", _positive),
    (("MessageDispatchInterceptor",), "maxThreads", _positive),
    (("MessageDispatchInterceptor",), "maxQueueSize", _positive),
    (("DeltaManager",), "stateTransferTimeout", _non_negative),
    (("DeltaManager",), "sendAllSessionsSize", _positive),
    (("DeltaManager",), "maxActiveSessions", lambda v: v if v >= -1 else _non_negative(v)),
    (("StaticMembershipService",), "expirationTime", _positive),
    (("ReplicationValve",), "filter", lambda v: v or None),  # setFilter("") clears the filter
    (("StaticMembershipService",), "pingInterval", _positive),
    (("CloudMembershipService",), "membershipProviderClassName", _cloud_provider),
    (("CloudMembershipService",), "expirationTime", _positive),
    (("EncryptInterceptor",), "encryptionKey", _encryption_key),
    (("EncryptInterceptor",), "encryptionKeyString", _encryption_key),
    (("EncryptInterceptor",), "replayWindowTime", _positive),
    (("EncryptInterceptor",), "replayWindowMessageCount", _positive),
]


# Setters that only forward to another one: the attribute is stored under the target's name.
ALIASES: dict[tuple[str, str], str] = {
    ("McastService", "mcastBindAddress"): "bind",
    ("McastService", "mcastDropTime"): "dropTime",
    ("NioReceiver", "host"): "address",
    ("BioReceiver", "host"): "address",
}


def _semantic(short: str, attr: str) -> Any:
    for classes, name, check in SEMANTICS:
        if name == attr and ("*" in classes or short in classes):
            return check
    return None


# --------------------------------------------------------------------------- elements


def _spec(class_name: str | None) -> dict[str, Any]:
    if class_name is None:
        return {}
    entry = registry.REGISTRY.get(class_name)
    spec_class = entry.spec_class if entry is not None else class_name
    attributes: dict[str, Any] = TOMCAT_CLASSES.get(spec_class or "", {}).get("attributes", {})
    return attributes


@dataclass
class Element:
    """One configuration element (``<Membership className=... frequency="500"/>``)."""

    TAG: ClassVar[str] = "Element"
    DEFAULT_CLASS: ClassVar[str | None] = None

    class_name: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    line: int | None = None
    implicit: bool = False  # created by Tomcat's defaults, not written in the file

    def __post_init__(self) -> None:
        if not self.class_name and self.DEFAULT_CLASS:
            self.class_name = self.DEFAULT_CLASS
        self.class_name = registry.resolve_class_name(self.class_name)

    # ---- construction from Python
    @classmethod
    def of(cls, class_name: str | None = None, **attributes: Any) -> "Element":
        """Build and validate: ``Membership.of("McastService", frequency=500, drop_time=3000)``."""
        element = cls(class_name=class_name or cls.DEFAULT_CLASS or "")
        for name, value in attributes.items():
            element.set(name, value)
        return element

    @property
    def short_name(self) -> str:
        return self.class_name.rsplit(".", 1)[-1]

    @property
    def implementation(self) -> registry.Implementation | None:
        return registry.REGISTRY.get(self.class_name)

    def attribute_spec(self, name: str) -> dict[str, Any] | None:
        return _spec(self.class_name).get(java_attribute_name(name))

    def accepts_any_attribute(self) -> bool:
        entry = registry.REGISTRY.get(self.class_name)
        spec_class = entry.spec_class if entry is not None else self.class_name
        return bool(TOMCAT_CLASSES.get(spec_class or "", {}).get("set_property_fallback"))

    def canonical_name(self, name: str, from_xml: bool = False) -> str:
        """Accept camelCase (as in XML) or snake_case (Python); return the camelCase attribute."""
        camel = java_attribute_name(name)
        if "_" in name and not from_xml:
            snake = snake_to_camel(name)
            if self.attribute_spec(snake) is not None:
                camel = snake
        return ALIASES.get((self.short_name, camel), camel)

    def convert_value(self, name: str, value: Any) -> Any:
        """Type and check one value for attribute ``name``; raises ValueProblem / KeyError (unknown)."""
        spec = self.attribute_spec(name)
        if spec is None:
            if self.accepts_any_attribute():
                return str(value)
            raise KeyError(name)
        java_type = spec["type"]
        check = _semantic(self.short_name, java_attribute_name(name))
        if check is _send_options or check is _domain or check is _unique_id or check is _member_host:
            if isinstance(value, str) and "${" in value:
                raise ValueProblem(f"{value!r}: the ${{...}} property is not defined "
                                   "(pass it in properties= / --property NAME=VALUE)")
            return check(value)
        typed = convert(java_type, value)
        return check(typed) if check is not None else typed

    def set(self, name: str, value: Any) -> None:
        """Set an attribute with Tomcat's type rules; raises ConfigError naming element and attribute."""
        camel = self.canonical_name(name)
        try:
            self.attributes[camel] = self.convert_value(camel, value)
        except KeyError:
            raise ConfigError([Problem("error", unknown_attribute_message(self, camel, value),
                                       element=self.TAG, attribute=camel)]) from None
        except ValueProblem as exc:
            raise ConfigError([Problem("error", f"<{self.TAG}> ({self.short_name}) attribute {camel}: {exc}",
                                       element=self.TAG, attribute=camel)]) from None

    def get(self, name: str, default: Any = None) -> Any:
        """The explicit value, else Tomcat's default for this class (None when there is none)."""
        camel = self.canonical_name(name)
        if camel in self.attributes:
            return self.attributes[camel]
        spec = self.attribute_spec(camel)
        if spec is None:
            return default
        return tomcat_default(spec)

    def __getattr__(self, name: str) -> Any:
        # only called for names that are not dataclass fields: attribute access in snake_case
        if name.startswith("_") or name in ("TAG", "DEFAULT_CLASS") or "class_name" not in self.__dict__:
            raise AttributeError(name)
        try:
            spec_found = self.attribute_spec(self.canonical_name(name)) is not None
        except RecursionError:  # pragma: no cover
            raise AttributeError(name) from None
        if not spec_found and self.canonical_name(name) not in self.__dict__.get("attributes", {}):
            raise AttributeError(f"{type(self).__name__} ({self.__dict__.get('class_name')}) has no attribute {name!r}")
        return self.get(name)

    def effective_attributes(self, include_runtime: bool = True) -> dict[str, Any]:
        """Every attribute server.xml could set on this class, with the explicit or default value."""
        out: dict[str, Any] = {}
        for name, spec in sorted(_spec(self.class_name).items()):
            if spec["type"].startswith("unsupported:") or (self.short_name, name) in ALIASES:
                continue
            if not include_runtime and name in RUNTIME_ATTRIBUTES and name not in self.attributes:
                continue
            out[name] = self.attributes[name] if name in self.attributes else tomcat_default(spec)
        for name, value in self.attributes.items():  # setProperty fallback (CloudMembershipService)
            out.setdefault(name, value)
        return out

    def children(self) -> Iterator["Element"]:
        return iter(())

    def to_json(self, include_runtime: bool = True) -> dict[str, Any]:
        impl = self.implementation
        out: dict[str, Any] = {
            "element": self.TAG,
            "className": self.class_name,
            "status": impl.status if impl else "unknown",
            "python": impl.python if impl else None,
            "line": self.line,
            "implicit": self.implicit,
            "explicit": sorted(self.attributes),
            "attributes": {k: _json_value(v) for k, v in self.effective_attributes(include_runtime).items()},
        }
        if impl and impl.note:
            out["note"] = impl.note
        return out


def tomcat_default(spec: dict[str, Any]) -> Any:
    value = spec.get("default")
    if isinstance(value, str) and value.startswith("bytes:["):
        inner = value[len("bytes:["):-1]
        return bytes(int(x) & 0xFF for x in inner.split(",") if x.strip())
    if isinstance(value, str) and (value.startswith("object:") or value.startswith("error:")):
        return None
    return value


def _json_value(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return "{" + ",".join(str(b - 256 if b > 127 else b) for b in value) + "}"
    return value


def unknown_attribute_message(element: Element, name: str, value: Any) -> str:
    names = [n for n, s in _spec(element.class_name).items() if not s["type"].startswith("unsupported:")]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.7)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return (f"<{element.TAG}> ({element.short_name}) has no attribute {name!r} (value {str(value)!r}): "
            f"Tomcat would log \"failed to set property [{name}] to [{value}]\" and ignore it{hint}")


@dataclass
class Member(Element):
    """``<Member>`` / ``<LocalMember>``: a StaticMember (host, port, uniqueId, domain...)."""

    TAG: ClassVar[str] = "Member"
    DEFAULT_CLASS: ClassVar[str | None] = "org.apache.catalina.tribes.membership.StaticMember"
    local: bool = False


@dataclass
class Membership(Element):
    TAG: ClassVar[str] = "Membership"
    DEFAULT_CLASS: ClassVar[str | None] = "org.apache.catalina.tribes.membership.McastService"
    local_member: Member | None = None
    members: list[Member] = field(default_factory=list)

    def children(self) -> Iterator[Element]:
        if self.local_member is not None:
            yield self.local_member
        yield from self.members


@dataclass
class Transport(Element):
    TAG: ClassVar[str] = "Transport"
    DEFAULT_CLASS: ClassVar[str | None] = "org.apache.catalina.tribes.transport.nio.PooledParallelSender"


@dataclass
class Sender(Element):
    TAG: ClassVar[str] = "Sender"
    DEFAULT_CLASS: ClassVar[str | None] = "org.apache.catalina.tribes.transport.ReplicationTransmitter"
    transport: Transport = field(default_factory=lambda: Transport(implicit=True))

    def children(self) -> Iterator[Element]:
        yield self.transport


@dataclass
class Receiver(Element):
    TAG: ClassVar[str] = "Receiver"
    DEFAULT_CLASS: ClassVar[str | None] = "org.apache.catalina.tribes.transport.nio.NioReceiver"


@dataclass
class Interceptor(Element):
    TAG: ClassVar[str] = "Interceptor"
    local_member: Member | None = None
    members: list[Member] = field(default_factory=list)

    def children(self) -> Iterator[Element]:
        if self.local_member is not None:
            yield self.local_member
        yield from self.members


@dataclass
class GenericElement(Element):
    """Elements a Python node only reports: Valve, Deployer, ClusterListener, listeners."""

    tag: str = "Element"

    @property
    def TAG(self) -> str:  # type: ignore[override]
        return self.tag


@dataclass
class Valve(Element):
    TAG: ClassVar[str] = "Valve"


@dataclass
class Deployer(Element):
    TAG: ClassVar[str] = "Deployer"
    DEFAULT_CLASS: ClassVar[str | None] = "org.apache.catalina.ha.deploy.FarmWarDeployer"


@dataclass
class ClusterListener(Element):
    TAG: ClassVar[str] = "ClusterListener"
    DEFAULT_CLASS: ClassVar[str | None] = "org.apache.catalina.ha.session.ClusterSessionListener"


@dataclass
class SessionIdGenerator(Element):
    TAG: ClassVar[str] = "SessionIdGenerator"
    DEFAULT_CLASS: ClassVar[str | None] = "org.apache.catalina.util.StandardSessionIdGenerator"


@dataclass
class Manager(Element):
    """The session manager template (``<Manager>``), copied for every distributable context."""

    TAG: ClassVar[str] = "Manager"
    DEFAULT_CLASS: ClassVar[str | None] = "org.apache.catalina.ha.session.DeltaManager"
    session_id_generator: SessionIdGenerator | None = None

    def children(self) -> Iterator[Element]:
        if self.session_id_generator is not None:
            yield self.session_id_generator


@dataclass
class Channel(Element):
    TAG: ClassVar[str] = "Channel"
    DEFAULT_CLASS: ClassVar[str | None] = "org.apache.catalina.tribes.group.GroupChannel"
    membership: Membership = field(default_factory=lambda: Membership(implicit=True))
    sender: Sender = field(default_factory=lambda: Sender(implicit=True))
    receiver: Receiver = field(default_factory=lambda: Receiver(implicit=True))
    interceptors: list[Interceptor] = field(default_factory=list)

    def children(self) -> Iterator[Element]:
        yield self.membership
        yield self.sender
        yield self.receiver
        yield from self.interceptors


ENGINE = "Engine"
HOST = "Host"


@dataclass
class ClusterConfig(Element):
    """The ``<Cluster>`` element and where it sits (Engine or Host), with its children.

    ``container`` decides the replication name of a context's manager: ``localhost#/app`` for a
    cluster under the Engine, ``/app`` for one under a Host (SimpleTcpCluster.getManagerName).
    """

    TAG: ClassVar[str] = "Cluster"
    DEFAULT_CLASS: ClassVar[str | None] = "org.apache.catalina.ha.tcp.SimpleTcpCluster"
    manager: Manager = field(default_factory=lambda: Manager(implicit=True))
    channel: Channel = field(default_factory=lambda: Channel(implicit=True))
    valves: list[Valve] = field(default_factory=list)
    deployer: Deployer | None = None
    cluster_listeners: list[ClusterListener] = field(default_factory=list)
    others: list[GenericElement] = field(default_factory=list)  # Listener, MembershipListener, ...
    container: str = ENGINE
    engine_name: str = "Catalina"
    default_host: str = "localhost"
    host_name: str | None = None  # the Host a Host-level cluster sits in
    jvm_route: str | None = None  # the Engine's jvmRoute (session id suffix)
    source: str | None = None
    problems: list[Problem] = field(default_factory=list)

    @classmethod
    def default(cls) -> "ClusterConfig":
        """What ``<Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster"/>`` gives in Tomcat."""
        cfg = cls()
        cfg.apply_tomcat_defaults()
        return cfg

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def notes(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "note"]

    def children(self) -> Iterator[Element]:
        yield self.manager
        yield self.channel
        yield from self.valves
        if self.deployer is not None:
            yield self.deployer
        yield from self.cluster_listeners
        yield from self.others

    def walk(self) -> Iterator[Element]:
        """Every element, depth first (the cluster itself first)."""
        stack: list[Element] = [self]
        while stack:
            element = stack.pop(0)
            yield element
            stack[0:0] = list(element.children())

    # ---- Tomcat's SimpleTcpCluster.checkDefaults (and GroupChannel's constructor defaults)
    def apply_tomcat_defaults(self) -> None:
        """Fill in what Tomcat adds to a cluster at start (SimpleTcpCluster.checkDefaults):

        the manager template defaults to DeltaManager and the channel to a GroupChannel with
        McastService, NioReceiver and ReplicationTransmitter/PooledParallelSender; a channel with no
        interceptors gets MessageDispatchInterceptor then TcpFailureDetector; with a DeltaManager
        and no cluster listener, ClusterSessionListener; with no valve, JvmRouteBinderValve and
        ReplicationValve.  GroupChannel.setupDefaultStack adds a MessageDispatchInterceptor on top
        when exactly one interceptor is configured.
        """
        if not self.cluster_listeners and self.manager.short_name == "DeltaManager":
            self.cluster_listeners.append(ClusterListener(implicit=True))
        if not self.valves:
            self.valves.append(Valve(class_name="org.apache.catalina.ha.session.JvmRouteBinderValve", implicit=True))
            self.valves.append(Valve(class_name="org.apache.catalina.ha.tcp.ReplicationValve", implicit=True))
        if not self.channel.interceptors:
            self.channel.interceptors.append(Interceptor(
                class_name="org.apache.catalina.tribes.group.interceptors.MessageDispatchInterceptor", implicit=True))
            self.channel.interceptors.append(Interceptor(
                class_name="org.apache.catalina.tribes.group.interceptors.TcpFailureDetector", implicit=True))
        elif len(self.channel.interceptors) == 1:
            self.channel.interceptors.insert(0, Interceptor(
                class_name="org.apache.catalina.tribes.group.interceptors.MessageDispatchInterceptor", implicit=True))

    # ---- what differs per host
    def with_overrides(self, *, bind: str | None = None, receiver_port: int | str | None = None,
                       jvm_route: str | None = None, mcast_address: str | None = None,
                       mcast_port: int | str | None = None, domain: str | None = None) -> "ClusterConfig":
        """A copy with per-host values replaced (the CLI's --bind, --receiver-port, --jvm-route...).

        ``bind`` is the address of this node: McastService's ``bind`` and the receiver's
        ``address``.  Values are checked like XML values; raises ConfigError.
        """
        cfg = copy.deepcopy(self)
        problems: list[Problem] = []

        def put(element: Element, name: str, value: Any, flag: str) -> None:
            try:
                element.set(name, value)
            except ConfigError as exc:
                problems.append(Problem("error", f"{flag} {value!r}: " + exc.problems[0].message.split(": ", 1)[-1],
                                        element=element.TAG, attribute=name))

        if bind is not None:
            if cfg.channel.membership.short_name == "McastService":
                put(cfg.channel.membership, "bind", bind, "--bind")
            put(cfg.channel.receiver, "address", bind, "--bind")
        if receiver_port is not None:
            put(cfg.channel.receiver, "port", receiver_port, "--receiver-port")
        if mcast_address is not None:
            put(cfg.channel.membership, "address", mcast_address, "--mcast-address")
        if mcast_port is not None:
            put(cfg.channel.membership, "port", mcast_port, "--mcast-port")
        if domain is not None:
            put(cfg.channel.membership, "domain", domain, "--domain")
        if jvm_route is not None:
            if not re.fullmatch(r"[A-Za-z0-9_.\-]+", jvm_route):
                problems.append(Problem("error", f"--jvm-route {jvm_route!r}: use letters, digits, '.', '-' or '_' "
                                        "(it becomes the session id suffix after a '.')", element="Engine",
                                        attribute="jvmRoute"))
            cfg.jvm_route = jvm_route
        if problems:
            raise ConfigError(problems)
        return cfg

    def manager_name(self, context_path: str, host: str | None = None) -> str:
        """The name sessions of ``context_path`` replicate under (SimpleTcpCluster.getManagerName)."""
        if self.container == HOST:
            return context_path
        host = host or self.default_host
        return context_path if context_path.startswith(host + "#") else f"{host}#{context_path}"

    def validate(self, strict: bool = False) -> "ClusterConfig":
        """Check every element's class and attributes again (after API edits); raises ConfigError."""
        problems: list[Problem] = []
        for element in self.walk():
            if isinstance(element, GenericElement):  # Java listeners: reported when loaded, never built
                continue
            try:
                registry.lookup(element.TAG, element.class_name)
            except registry.LookupFailure as exc:
                problems.append(Problem("error", f"<{element.TAG}>: {exc}", element.line, element.TAG, "className",
                                        self.source))
                continue
            for name, value in list(element.attributes.items()):
                try:
                    element.convert_value(name, value)
                except KeyError:
                    problems.append(Problem("error" if strict else "warning",
                                            unknown_attribute_message(element, name, value), element.line,
                                            element.TAG, name, self.source))
                except ValueProblem as exc:
                    problems.append(Problem("error", f"<{element.TAG}> ({element.short_name}) attribute {name}: {exc}",
                                            element.line, element.TAG, name, self.source))
        problems.extend(cross_checks(self))
        if any(p.severity == "error" for p in problems):
            raise ConfigError(problems)
        return self

    def to_json(self, include_runtime: bool = True) -> dict[str, Any]:
        def tree(element: Element) -> dict[str, Any]:
            out = Element.to_json(element, include_runtime)
            kids = [tree(c) for c in element.children()]
            if kids:
                out["children"] = kids
            return out

        out = tree(self)
        out.update({
            "container": self.container,
            "engine": self.engine_name,
            "defaultHost": self.default_host,
            "host": self.host_name,
            "jvmRoute": self.jvm_route,
            "source": self.source,
            "managerNameExample": self.manager_name("/app", self.host_name),
        })
        return out


def cross_checks(cfg: ClusterConfig) -> list[Problem]:
    """Checks across attributes and elements that Tomcat would fail on at start."""
    problems: list[Problem] = []
    src = cfg.source
    mem = cfg.channel.membership
    if mem.short_name == "McastService":
        freq, drop = mem.get("frequency"), mem.get("dropTime")
        if isinstance(freq, int) and isinstance(drop, int) and drop <= freq:
            problems.append(Problem(
                "error", f"<Membership> dropTime ({drop} ms) must be larger than frequency ({freq} ms), or every "
                "member is dropped between two heartbeats; Tomcat's defaults are 3000 and 500",
                mem.line, "Membership", "dropTime", src))
    if mem.short_name == "StaticMembershipService" and not mem.members:
        problems.append(Problem(
            "error", "<Membership> StaticMembershipService has no <Member> elements: list every other node as "
            "<Member className=\"org.apache.catalina.tribes.membership.StaticMember\" host=... port=... "
            "uniqueId=\"{...16 bytes...}\"/>", mem.line, "Membership", None, src))
    if mem.short_name != "StaticMembershipService" and (mem.members or mem.local_member):
        problems.append(Problem(
            "warning", f"<Membership> {mem.short_name} ignores <Member>/<LocalMember> children (only "
            "StaticMembershipService uses them)", mem.line, "Membership", None, src))
    for element in list(mem.members) + [m for i in cfg.channel.interceptors for m in i.members]:
        for required in ("host", "port"):
            if required not in element.attributes:
                problems.append(Problem(
                    "error", f"<{element.TAG}> needs a {required} attribute (the address of that node's receiver)",
                    element.line, element.TAG, required, src))
    rx = cfg.channel.receiver
    lo, hi = rx.get("minThreads"), rx.get("maxThreads")
    if isinstance(lo, int) and isinstance(hi, int) and lo > hi:
        problems.append(Problem("error", f"<Receiver> minThreads ({lo}) is larger than maxThreads ({hi})",
                                rx.line, "Receiver", "minThreads", src))
    if cfg.channel.get("optionCheck"):
        seen: dict[int, Interceptor] = {}
        for icp in cfg.channel.interceptors:
            flag = icp.get("optionFlag") or 0
            if flag and flag in seen:
                problems.append(Problem(
                    "error", f"<Interceptor> {icp.short_name} and {seen[flag].short_name} use the same optionFlag "
                    f"{flag}; GroupChannel with optionCheck=\"true\" refuses to start (checkOptionFlags)",
                    icp.line, "Interceptor", "optionFlag", src))
            seen.setdefault(flag, icp)
    names = [i.short_name for i in cfg.channel.interceptors]
    if "TcpFailureDetector" in names and "StaticMembershipInterceptor" in names and \
            names.index("StaticMembershipInterceptor") < names.index("TcpFailureDetector"):
        icp = cfg.channel.interceptors[names.index("StaticMembershipInterceptor")]
        problems.append(Problem(
            "warning", "StaticMembershipInterceptor is above TcpFailureDetector; Tomcat's documentation puts it "
            "below, so that the failure detector sees the static members", icp.line, "Interceptor", None, src))
    if cfg.manager.short_name == "DeltaManager" and cfg.cluster_listeners and not any(
            c.short_name == "ClusterSessionListener" for c in cfg.cluster_listeners):
        problems.append(Problem(
            "warning", "no ClusterSessionListener: session messages from other nodes will not reach the "
            "DeltaManager (add <ClusterListener className=\"org.apache.catalina.ha.session.ClusterSessionListener\"/>)",
            cfg.line, "Cluster", None, src))
    return problems
