"""Read the ``<Cluster>`` of a Tomcat ``server.xml`` into a :class:`~tribes.config.model.ClusterConfig`.

What Tomcat does, and what this does:

- Tomcat reads ``Server/Service/Engine/Cluster`` and ``Server/Service/Engine/Host/Cluster``
  (Catalina's digester with ClusterRuleSet); the cluster's position decides the manager name
  (``localhost#/app`` under the Engine, ``/app`` under a Host).  Both are found here and the
  position is kept in ``ClusterConfig.container``.  A file whose root is ``<Cluster>`` is read as an
  Engine-level cluster.
- Attribute values get ``${name}`` / ``${name:-default}`` replaced as the digester does
  (IntrospectionUtils.replaceProperties): from ``properties`` (Tomcat: system properties, ``-D``)
  and, when ``environment=True``, first from the environment (Tomcat:
  ``-Dorg.apache.tomcat.util.digester.PROPERTY_SOURCE=org.apache.tomcat.util.digester.EnvironmentPropertySource``).
  An unresolved reference stays as written.
- ``className`` is required on every element but SessionIdGenerator (Tomcat refuses to start
  otherwise) and must be a class for that element (see :mod:`tribes.config.registry`).
- An attribute the class has no setter for is a warning naming element, attribute and line, as
  Tomcat's "failed to set property" warning; with ``strict=True`` it is an error.  So are unknown
  child elements and repeated single elements (Tomcat ignores the former and keeps the last of the
  latter).  A value of the wrong type is always an error (Tomcat logs it and keeps its default).
- A cluster with no children gets Tomcat's defaults (SimpleTcpCluster.checkDefaults).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Callable, Mapping
from xml.parsers import expat

from tribes.config import registry
from tribes.config.errors import ConfigError, Problem
from tribes.config.model import (
    ENGINE,
    HOST,
    Channel,
    ClusterConfig,
    ClusterListener,
    Deployer,
    Element,
    GenericElement,
    Interceptor,
    Manager,
    Member,
    Membership,
    Receiver,
    Sender,
    SessionIdGenerator,
    Transport,
    Valve,
    ValueProblem,
    unknown_attribute_message,
)

log = logging.getLogger("tribes.config")

MAX_SUBSTITUTION_ROUNDS = 20  # IntrospectionUtils gives up after 20 nested rounds too


# --------------------------------------------------------------------------- ${property} substitution


def replace_properties(value: str, lookup: Callable[[str], str | None]) -> str:
    """Tomcat's ``IntrospectionUtils.replaceProperties``: ``${a}``, ``${a:-default}``, repeated until
    nothing changes (at most 20 rounds); an unknown name without a default stays ``${a}``."""
    for _ in range(MAX_SUBSTITUTION_ROUNDS):
        if "${" not in value:
            return value
        out: list[str] = []
        prev = 0
        while True:
            pos = value.find("$", prev)
            if pos < 0:
                break
            out.append(value[prev:pos])
            if pos == len(value) - 1 or value[pos + 1] != "{":
                out.append("$")
                prev = pos + 1
                continue
            end = value.find("}", pos)
            if end < 0:
                out.append(value[pos:])
                prev = len(value)
                break
            name = value[pos + 2:end]
            found = lookup(name)
            if found is None:
                col = name.find(":-")
                if col != -1:
                    found = lookup(name[:col])
                    if found is None:
                        found = name[col + 2:]
                else:
                    found = "${" + name + "}"
            out.append(found)
            prev = end + 1
        out.append(value[prev:])
        new = "".join(out)
        if new == value or "${" not in new:
            return new
        value = new
    log.warning("property substitution in %r stopped after %d rounds", value, MAX_SUBSTITUTION_ROUNDS)
    return value


def property_lookup(properties: Mapping[str, str] | None, environment: bool) -> Callable[[str], str | None]:
    props = dict(properties or {})

    def lookup(name: str) -> str | None:
        if environment and name in os.environ:
            return os.environ[name]
        value = props.get(name)
        return None if value is None else str(value)

    return lookup


# --------------------------------------------------------------------------- a small XML tree with lines


@dataclass
class Node:
    tag: str
    attrs: list[tuple[str, str]]
    line: int
    parent: "Node | None" = None
    children: list["Node"] = field(default_factory=list)

    def attr(self, name: str) -> str | None:
        for k, v in self.attrs:
            if k == name:
                return v
        return None

    def path(self) -> str:
        parts: list[str] = []
        node: Node | None = self
        while node is not None:
            parts.append(node.tag)
            node = node.parent
        return "/".join(reversed(parts))


def parse_xml(data: bytes, source: str) -> Node:
    parser = expat.ParserCreate()
    parser.ordered_attributes = True
    root: list[Node] = []
    stack: list[Node] = []

    def start(tag: str, attrs: list[str]) -> None:
        pairs = list(zip(attrs[0::2], attrs[1::2]))
        node = Node(tag, pairs, parser.CurrentLineNumber, stack[-1] if stack else None)
        if stack:
            stack[-1].children.append(node)
        else:
            root.append(node)
        stack.append(node)

    def end(tag: str) -> None:
        stack.pop()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    # no external entities: a server.xml that pulls files in is read without them, like a plain parse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise ConfigError([Problem(
            "error", f"not well-formed XML: {expat.ErrorString(exc.code)} (column {exc.offset + 1}); "
            "Tomcat would refuse this file too", exc.lineno, None, None, source)]) from None
    if not root:
        raise ConfigError([Problem("error", "the file has no XML element", None, None, None, source)])
    return root[0]


# --------------------------------------------------------------------------- building the model


class _Builder:
    def __init__(self, source: str, lookup: Callable[[str], str | None], strict: bool) -> None:
        self.source = source
        self.lookup = lookup
        self.strict = strict
        self.problems: list[Problem] = []

    # ---- reporting
    def error(self, node: Node | None, message: str, attribute: str | None = None) -> None:
        self.problems.append(Problem("error", message, node.line if node else None,
                                     node.tag if node else None, attribute, self.source))

    def warn(self, node: Node, message: str, attribute: str | None = None) -> None:
        """A warning, or an error under strict=True."""
        severity = "error" if self.strict else "warning"
        if self.strict:
            message += " (an error because of strict mode; --no-strict makes it a warning)"
        self.problems.append(Problem(severity, message, node.line, node.tag, attribute, self.source))

    def note(self, node: Node | None, message: str) -> None:
        self.problems.append(Problem("note", message, node.line if node else None, node.tag if node else None,
                                     None, self.source))

    # ---- elements
    def element(self, cls: type[Element], node: Node, class_required: bool = True) -> Element | None:
        raw_class = node.attr("className")
        if raw_class is not None:
            raw_class = replace_properties(raw_class, self.lookup).strip()
        if not raw_class:
            if class_required or raw_class == "":
                self.error(node, f"<{node.tag}> needs a className attribute (Tomcat refuses to start without "
                           f"it), e.g. className=\"{cls.DEFAULT_CLASS or _example(node.tag)}\"", "className")
                return None
            raw_class = cls.DEFAULT_CLASS or ""
        try:
            impl = registry.lookup(node.tag, raw_class)
        except registry.LookupFailure as exc:
            self.error(node, f"<{node.tag}>: {exc}", "className")
            return None
        element = cls(class_name=impl.class_name, line=node.line)
        if impl.status == registry.NOT_APPLICABLE:
            self.note(node, f"not applicable to a Python node: {impl.note}")
        elif impl.status == registry.ALIAS:
            self.note(node, f"{impl.short_name}: {impl.note}")
        self.attributes(element, node)
        return element

    def attributes(self, element: Element, node: Node) -> None:
        for name, raw in node.attrs:
            if name == "className":  # the digester's "fake attribute"
                continue
            value = replace_properties(raw, self.lookup)
            camel = element.canonical_name(name, from_xml=True)
            try:
                element.attributes[camel] = element.convert_value(camel, value)
            except KeyError:
                self.warn(node, unknown_attribute_message(element, name, value), name)
            except ValueProblem as exc:
                self.error(node, f"<{node.tag}> ({element.short_name}) attribute {name}=\"{raw}\": {exc}", name)

    def single(self, seen: dict[str, Node], node: Node) -> None:
        if node.tag in seen:
            self.warn(node, f"a second <{node.tag}> (the first is at line {seen[node.tag].line}): Tomcat keeps "
                      "only the last one; remove one of them")
        seen[node.tag] = node

    def unknown_child(self, parent: Node, node: Node, allowed: tuple[str, ...], hints: Mapping[str, str]) -> None:
        hint = hints.get(node.tag)
        if hint:
            self.warn(node, f"<{node.tag}> is not read inside <{parent.tag}>: {hint}")
        else:
            self.warn(node, f"<{node.tag}> is not an element of <{parent.tag}> (Tomcat ignores it); allowed: "
                      + ", ".join(f"<{a}>" for a in allowed))

    def members(self, node: Node, owner: Membership | Interceptor) -> None:
        cls_local_seen: Node | None = None
        for child in node.children:
            if child.tag in ("Member", "LocalMember"):
                member = self.element(Member, child)
                if member is None:
                    continue
                assert isinstance(member, Member)
                if child.tag == "LocalMember":
                    member.local = True
                    if cls_local_seen is not None:
                        self.warn(child, f"a second <LocalMember> (the first is at line {cls_local_seen.line}): "
                                  "Tomcat keeps only the last one")
                    cls_local_seen = child
                    owner.local_member = member
                else:
                    owner.members.append(member)
            else:
                self.unknown_child(node, child, ("Member", "LocalMember"), {})

    def cluster(self, node: Node) -> ClusterConfig | None:
        element = self.element(ClusterConfig, node)
        if element is None:
            return None
        assert isinstance(element, ClusterConfig)
        cfg = element
        seen: dict[str, Node] = {}
        allowed = ("Manager", "Channel", "Valve", "Deployer", "Listener", "ClusterListener")
        for child in node.children:
            if child.tag == "Manager":
                self.single(seen, child)
                manager = self.element(Manager, child)
                if isinstance(manager, Manager):
                    for sub in child.children:
                        if sub.tag == "SessionIdGenerator":
                            gen = self.element(SessionIdGenerator, sub, class_required=False)
                            if isinstance(gen, SessionIdGenerator):
                                manager.session_id_generator = gen
                        else:
                            self.unknown_child(child, sub, ("SessionIdGenerator",), {})
                    cfg.manager = manager
            elif child.tag == "Channel":
                self.single(seen, child)
                channel = self.channel(child)
                if channel is not None:
                    cfg.channel = channel
            elif child.tag == "Valve":
                valve = self.element(Valve, child)
                if isinstance(valve, Valve):
                    cfg.valves.append(valve)
            elif child.tag == "Deployer":
                self.single(seen, child)
                deployer = self.element(Deployer, child)
                if isinstance(deployer, Deployer):
                    cfg.deployer = deployer
            elif child.tag == "ClusterListener":
                listener = self.element(ClusterListener, child)
                if isinstance(listener, ClusterListener):
                    cfg.cluster_listeners.append(listener)
            elif child.tag == "Listener":
                self.other(child, cfg.others, "a LifecycleListener of the cluster (Java code): not applicable to "
                           "a Python node")
            else:
                self.unknown_child(node, child, allowed, _MISPLACED_IN_CLUSTER)
        return cfg

    def other(self, node: Node, out: list[GenericElement], why: str) -> None:
        cls_name = node.attr("className")
        if not cls_name:
            self.error(node, f"<{node.tag}> needs a className attribute (Tomcat refuses to start without it)",
                       "className")
            return
        out.append(GenericElement(class_name=cls_name, line=node.line, tag=node.tag,
                                  attributes={k: replace_properties(v, self.lookup)
                                              for k, v in node.attrs if k != "className"}))
        self.note(node, f"{cls_name}: {why}")

    def channel(self, node: Node) -> Channel | None:
        element = self.element(Channel, node)
        if not isinstance(element, Channel):
            return None
        seen: dict[str, Node] = {}
        allowed = ("Membership", "MembershipListener", "Sender", "Receiver", "Interceptor", "ChannelListener")
        for child in node.children:
            if child.tag == "Membership":
                self.single(seen, child)
                mem = self.element(Membership, child)
                if isinstance(mem, Membership):
                    self.members(child, mem)
                    element.membership = mem
            elif child.tag == "Sender":
                self.single(seen, child)
                sender = self.element(Sender, child)
                if isinstance(sender, Sender):
                    tseen: dict[str, Node] = {}
                    for sub in child.children:
                        if sub.tag == "Transport":
                            self.single(tseen, sub)
                            transport = self.element(Transport, sub)
                            if isinstance(transport, Transport):
                                sender.transport = transport
                        else:
                            self.unknown_child(child, sub, ("Transport",), {})
                    element.sender = sender
            elif child.tag == "Receiver":
                self.single(seen, child)
                receiver = self.element(Receiver, child)
                if isinstance(receiver, Receiver):
                    element.receiver = receiver
            elif child.tag == "Interceptor":
                icp = self.element(Interceptor, child)
                if isinstance(icp, Interceptor):
                    self.members(child, icp)
                    element.interceptors.append(icp)
            elif child.tag in ("MembershipListener", "ChannelListener"):
                if not child.attr("className"):
                    self.error(child, f"<{child.tag}> needs a className attribute (Tomcat refuses to start "
                               "without it)", "className")
                    continue
                self.warn(child, f"<{child.tag}> {child.attr('className')}: a Java listener cannot run in a Python "
                          "node; register a Python listener with GroupChannel.add_"
                          + ("membership" if child.tag == "MembershipListener" else "channel") + "_listener()")
            else:
                self.unknown_child(node, child, allowed, _MISPLACED_IN_CHANNEL)
        return element


_MISPLACED_IN_CLUSTER = {
    "Membership": "it belongs inside <Channel>",
    "Receiver": "it belongs inside <Channel>",
    "Sender": "it belongs inside <Channel>",
    "Interceptor": "it belongs inside <Channel>",
    "Transport": "it belongs inside <Channel><Sender>",
    "Member": "it belongs inside <Channel><Membership> (StaticMembershipService)",
}
_MISPLACED_IN_CHANNEL = {
    "Transport": "it belongs inside <Sender>",
    "Member": "it belongs inside <Membership> (StaticMembershipService) or a StaticMembershipInterceptor",
    "Manager": "it belongs directly inside <Cluster>",
    "Valve": "it belongs directly inside <Cluster>",
}


def _example(tag: str) -> str:
    names = registry.known_class_names(tag)
    return names[0] if names else "..."


# --------------------------------------------------------------------------- finding the <Cluster>


def _find_clusters(root: Node) -> list[Node]:
    found: list[Node] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.tag == "Cluster":
            found.append(node)
            continue
        stack.extend(reversed(node.children))
    return found


def _ancestor(node: Node, tag: str) -> Node | None:
    p = node.parent
    while p is not None:
        if p.tag == tag:
            return p
        p = p.parent
    return None


def loads(data: str | bytes, *, source: str = "<string>", properties: Mapping[str, str] | None = None,
          environment: bool = False, strict: bool = False, host: str | None = None,
          apply_defaults: bool = True, log_problems: bool = True) -> ClusterConfig:
    """Read the ``<Cluster>`` from server.xml text.  See :func:`load`."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    root = parse_xml(raw, source)
    lookup = property_lookup(properties, environment)
    builder = _Builder(source, lookup, strict)

    clusters = _find_clusters(root)
    valid: list[Node] = []
    for node in clusters:
        parent = node.parent
        if parent is None or (parent.tag == "Engine" and parent.parent is not None and parent.parent.tag == "Service") \
                or (parent.tag == "Host" and parent.parent is not None and parent.parent.tag == "Engine"):
            valid.append(node)
        else:
            builder.warn(node, f"a <Cluster> inside <{parent.tag}> ({node.path()}) is not read by Tomcat: move it "
                         "into <Engine> (every host) or into a <Host>")
    if host is not None:
        chosen = [n for n in valid if n.parent is not None and n.parent.tag == "Host"
                  and replace_properties(n.parent.attr("name") or "", lookup) == host]
        if not chosen:
            chosen = [n for n in valid if n.parent is not None and n.parent.tag == "Engine"]
        if not chosen:
            builder.error(None, f"no <Cluster> for host {host!r}: the file has "
                          + (", ".join(f"line {n.line}" for n in valid) or "none"))
    else:
        chosen = valid
    if not chosen and not any(p.severity == "error" for p in builder.problems):
        builder.error(None, "no <Cluster> element: add <Cluster className=\"org.apache.catalina.ha.tcp.SimpleTcpCluster\"/> "
                      "inside <Engine> (all hosts) or inside a <Host>; Tomcat's sample server.xml has it commented out")
    if len(chosen) > 1:
        where = ", ".join(
            f"line {n.line} in <{n.parent.tag}{' name=' + repr(n.parent.attr('name')) if n.parent is not None else ''}>"
            for n in chosen if n.parent is not None)
        builder.error(None, f"{len(chosen)} <Cluster> elements ({where}): choose one with host=NAME (--host NAME)")
    if any(p.severity == "error" for p in builder.problems):
        raise ConfigError(builder.problems)

    node = chosen[0]
    cfg = builder.cluster(node)
    if cfg is None:
        raise ConfigError(builder.problems)
    cfg.source = source
    engine = node.parent if node.parent is not None and node.parent.tag == "Engine" else _ancestor(node, "Engine")
    if node.parent is not None and node.parent.tag == "Host":
        cfg.container = HOST
        cfg.host_name = replace_properties(node.parent.attr("name") or "localhost", lookup)
    else:
        cfg.container = ENGINE
    if engine is not None:
        cfg.engine_name = replace_properties(engine.attr("name") or "Catalina", lookup)
        cfg.default_host = replace_properties(engine.attr("defaultHost") or "localhost", lookup)
        route = engine.attr("jvmRoute")
        cfg.jvm_route = replace_properties(route, lookup) if route is not None else None
    if apply_defaults:
        cfg.apply_tomcat_defaults()
    from tribes.config.model import cross_checks

    for problem in cross_checks(cfg):
        if problem.severity == "warning" and strict:
            problem = Problem("error", problem.message + " (an error because of strict mode)", problem.line,
                              problem.element, problem.attribute, problem.source)
        builder.problems.append(problem)
    cfg.problems = builder.problems
    if any(p.severity == "error" for p in builder.problems):
        raise ConfigError(builder.problems)
    for problem in builder.problems if log_problems else []:
        if problem.severity == "warning":
            log.warning("%s", problem)
        else:
            log.info("%s", problem)
    return cfg


def load(path: str | os.PathLike[str], *, properties: Mapping[str, str] | None = None, environment: bool = False,
         strict: bool = False, host: str | None = None, apply_defaults: bool = True,
         bind: str | None = None, receiver_port: int | str | None = None,
         jvm_route: str | None = None, log_problems: bool = True) -> ClusterConfig:
    """Read the ``<Cluster>`` of a server.xml file.

    ``properties``: values for ``${name}`` (Tomcat's system properties); ``environment``: also look
    names up in the environment first (Tomcat's EnvironmentPropertySource).  ``strict``: unknown
    attributes/elements are errors.  ``host``: which Host's cluster when there are several.
    ``bind``/``receiver_port``/``jvm_route``: per-host overrides (ClusterConfig.with_overrides).
    Warnings are logged on ``tribes.config`` (and kept in ``ClusterConfig.problems``) unless
    ``log_problems=False``.
    Raises :class:`ConfigError` (every problem, with file and line).
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ConfigError([Problem("error", f"cannot read the configuration: {exc.strerror or exc}", None, None,
                                   None, name)]) from None
    cfg = loads(data, source=name, properties=properties, environment=environment, strict=strict, host=host,
                apply_defaults=apply_defaults, log_problems=log_problems)
    if bind is not None or receiver_port is not None or jvm_route is not None:
        problems = cfg.problems
        cfg = cfg.with_overrides(bind=bind, receiver_port=receiver_port, jvm_route=jvm_route)
        cfg.problems = problems
    return cfg
