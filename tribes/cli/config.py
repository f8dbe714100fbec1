"""``tribes config``: check a Tomcat server.xml's <Cluster> and print the effective configuration."""
from __future__ import annotations

import sys
from typing import Any

import click

from tribes.cli.common import EXIT_CONFIG, EXIT_OK, emit_json


@click.group(name="config")
def config() -> None:
    """Tomcat server.xml cluster configuration.

    \b
    Examples:
      tribes config check /etc/tomcat10/server.xml
      tribes config check server.xml --no-strict --json
      tribes config check server.xml -D cluster.port=4001 --bind 10.77.0.1 --jvm-route py1
    """


def _parse_properties(values: tuple[str, ...]) -> dict[str, str]:
    props: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r}: use NAME=VALUE", param_hint="-D/--property")
        props[name] = value
    return props


def _format_value(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "{" + ",".join(str(b - 256 if b > 127 else b) for b in value) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _print_tree(cfg: Any, show_all: bool) -> None:
    from tribes.config.model import Element

    container = (f"<Engine name={cfg.engine_name!r}>" if cfg.container == "Engine"
                 else f"<Host name={cfg.host_name!r}>")
    click.echo(f"{cfg.source}: <Cluster> at line {cfg.line} in {container}")
    click.echo(f"  manager name of /app: {cfg.manager_name('/app', cfg.host_name)!r}; "
               f"jvmRoute: {cfg.jvm_route if cfg.jvm_route is not None else '(none)'}")

    def show(element: Element, depth: int) -> None:
        impl = element.implementation
        status = impl.status.replace("_", " ") if impl else "?"
        where = "default" if element.implicit else f"line {element.line}" if element.line else "api"
        target = f" -> {impl.python}" if impl and impl.python else ""
        pad = "  " * depth
        click.echo(f"{pad}{element.TAG} {element.short_name} ({where}; {status}{target})")
        attrs = element.effective_attributes(include_runtime=show_all)
        for name, value in attrs.items():
            if value is None and not show_all:
                continue
            mark = "*" if name in element.attributes else " "
            click.echo(f"{pad}  {mark} {name} = {_format_value(value)}")
        for child in element.children():
            show(child, depth + 1)

    show(cfg, 1)
    click.echo("  (* = set in the file or by an override; the rest are Tomcat's defaults)")


def _file_version(arg: str, default: str) -> tuple[str, str]:
    """``server.xml:9.0`` -> (``server.xml``, ``9.0``); a plain path takes ``default``."""
    import os
    path, sep, version = arg.rpartition(":")
    if sep and path and version.replace(".", "").isdigit() and not os.path.exists(arg):
        return path, version
    return arg, default


def _interceptor_list(cfg: Any) -> list[tuple[str, dict[str, Any]]]:
    return [(i.short_name, dict(i.attributes)) for i in cfg.channel.interceptors]


@config.command(name="check")
@click.argument("server_xmls", nargs=-1, required=True, metavar="SERVER_XML[:VERSION]...")
@click.option("--tomcat-version", default="10.1", show_default=True, metavar="VERSION",
              help="Tomcat version of the files given without :VERSION (EncryptInterceptor's format and rules).")
@click.option("--strict/--no-strict", default=True, show_default=True,
              help="Unknown attributes or elements are errors (--no-strict: warnings, as Tomcat logs them).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line: config, problem..., summary.")
@click.option("-D", "--property", "properties", multiple=True, metavar="NAME=VALUE",
              help="Value for ${NAME} in the file (Tomcat: -DNAME=VALUE). Repeatable.")
@click.option("--env", "environment", is_flag=True,
              help="Also resolve ${NAME} from the environment (Tomcat's EnvironmentPropertySource).")
@click.option("--host", default=None, metavar="NAME", help="Which <Host>'s cluster, when the file has several.")
@click.option("--bind", default=None, metavar="ADDR", help="Override: this node's address (membership bind + receiver).")
@click.option("--receiver-port", default=None, metavar="PORT", help="Override: the receiver's TCP port.")
@click.option("--jvm-route", default=None, metavar="ROUTE", help="Override: the Engine's jvmRoute.")
@click.option("--all", "show_all", is_flag=True, help="Also show unset (null) and statistics attributes.")
def check(server_xmls: tuple[str, ...], tomcat_version: str, strict: bool, as_json: bool,
          properties: tuple[str, ...], environment: bool, host: str | None, bind: str | None,
          receiver_port: str | None, jvm_route: str | None, show_all: bool) -> None:
    """Validate the <Cluster> of SERVER_XML and print the effective configuration.

    Several files (the nodes of one cluster, each as FILE:VERSION, e.g. node1.xml:9.0
    node2.xml:10.1) are checked one by one and then against each other: nodes configured for
    different EncryptInterceptor formats or keys cannot exchange messages (exit code 3).

    Every className is mapped to its Python implementation (or reported as not applicable, e.g.
    valves); every attribute gets Tomcat's type and default. Exit code 0 when the file is usable,
    3 when it is not (each error names the line and says what to do).

    \b
    Examples:
      tribes config check conf/server.xml
      tribes config check conf/server.xml --no-strict     # unknown attributes only warn
      tribes config check conf/server.xml --json | jq .
      tribes config check server.xml -D cluster.port=4001 --receiver-port 4100
      tribes config check tomcat9/server.xml:9.0 tomcat10/server.xml:10.1   # one cluster, two versions
    """
    from tribes.interceptors.encrypt import compatibility_findings, node_encryption

    worst = EXIT_OK
    nodes = []
    managers: list[tuple[str, str, str | None]] = []   # (file, version, Manager className): BackupManager check
    for arg in server_xmls:
        path, version = _file_version(arg, tomcat_version)
        code, cfg = _check_one(path, version, strict, as_json, properties, environment, host, bind, receiver_port,
                               jvm_route, show_all)
        worst = max(worst, code)
        if cfg is not None:
            nodes.append(node_encryption(path, version, _interceptor_list(cfg)))
            managers.append((path, version, cfg.manager.class_name))
    if len(server_xmls) > 1:
        findings = compatibility_findings(nodes, [_file_version(a, tomcat_version)[0] for a in server_xmls])
        from tribes.managers.backup import mixed_version_findings
        findings = list(findings) + mixed_version_findings(managers)
        for text in findings:
            if as_json:
                emit_json("problem", severity="error", message=text, element="Interceptor",
                          attribute="EncryptInterceptor", line=None, source="(across files)")
            else:
                click.echo(f"error: across the files: {text}", err=True)
        if findings:
            worst = max(worst, EXIT_CONFIG)
        elif not as_json:
            click.echo(f"OK: the {len(server_xmls)} files can form one cluster (encryption settings agree)")
    sys.exit(worst)


def _check_one(server_xml: str, version: str, strict: bool, as_json: bool, properties: tuple[str, ...],
               environment: bool, host: str | None, bind: str | None, receiver_port: str | None,
               jvm_route: str | None, show_all: bool) -> tuple[int, Any]:
    """One file: (exit code, ClusterConfig or None)."""
    from tribes.config import ConfigError, load
    from tribes.interceptors.encrypt import stack_problems

    props = _parse_properties(properties)
    try:
        cfg = load(server_xml, properties=props, environment=environment, strict=strict, host=host,
                   bind=bind, receiver_port=receiver_port, jvm_route=jvm_route, log_problems=False)
    except ConfigError as exc:
        errors = exc.errors
        if as_json:
            for problem in exc.problems:
                emit_json("problem", **problem.to_json())
            emit_json("summary", valid=False, errors=len(errors),
                      warnings=sum(p.severity == "warning" for p in exc.problems), strict=strict)
        else:
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            click.echo(f"{server_xml}: not usable: {len(errors)} error{'s' if len(errors) != 1 else ''}"
                       + ("" if not strict else " (strict mode; --no-strict turns unknown attributes into warnings)"),
                       err=True)
        return EXIT_CONFIG, None

    encryption = stack_problems(_interceptor_list(cfg), version)
    enc_errors = [m for sev, m in encryption if sev == "error"]
    if as_json:
        emit_json("config", **cfg.to_json(include_runtime=show_all))
        for problem in cfg.problems:
            emit_json("problem", **problem.to_json())
        for sev, msg in encryption:
            emit_json("problem", severity=sev, message=msg, element="Interceptor", attribute="EncryptInterceptor",
                      line=None, source=server_xml)
        emit_json("summary", valid=not enc_errors, errors=len(enc_errors), warnings=len(cfg.warnings), notes=len(cfg.notes),
                  strict=strict)
    else:
        _print_tree(cfg, show_all)
        if cfg.problems or encryption:
            click.echo("Findings:")
            for problem in cfg.problems:
                click.echo(f"  {problem}")
            for sev, msg in encryption:
                click.echo(f"  {sev}: {server_xml} (Tomcat {version}): {msg}")
        if enc_errors:
            click.echo(f"{server_xml}: not usable: {len(enc_errors)} error{'s' if len(enc_errors) != 1 else ''}",
                       err=True)
            return EXIT_CONFIG, cfg
        click.echo(f"OK: usable by a Python node ({len(cfg.warnings)} warnings, {len(cfg.notes)} notes)")
    return (EXIT_CONFIG if enc_errors else EXIT_OK), cfg
