"""``tribes sessions``: join a Tomcat DeltaManager cluster, show its sessions, act on them.

    tribes sessions --bind 10.0.0.5 --context /app [--json] [--follow]
    tribes sessions create --context /app user=alice n=7 --java-type Integer   (prints the new id)
    tribes sessions set ID NAME VALUE [--java-type Integer|Long|Boolean|Double|String]
    tribes sessions remove ID NAME
    tribes sessions invalidate ID                                            (a forced logout everywhere)
    tribes sessions logout --user NAME                                       (every session of NAME, every node)

The node asks the oldest member for the state of every ``--context`` (``/app``, ``localhost#/app``;
``/`` or ``localhost#`` for ROOT) and also follows every context it learns of from the messages it
receives. Operator commands replicate like any member's changes (CREATED / DELTA / EXPIRED with
``--send-options``, default 8 as Tomcat). Without ``--context`` the operator commands look in ROOT.
Exit codes: docs/cli.md (1 = the session was not found or a send failed).
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Sequence

import click

from tribes.cli.common import (EXIT_ERRORS, EXIT_INTERRUPTED, EXIT_NETWORK, EXIT_OK, NetworkOptions,
                               SharedOptionsGroup, StopSignal, emit_json, iso_time, network_options)

log = logging.getLogger("tribes.cli.sessions")


def _cluster_options(func: Any) -> Any:
    opts = [
        click.option("--context", "contexts", multiple=True, metavar="PATH",
                     help="Context to fetch and act in (/app, localhost#/app; / or localhost# for ROOT). Repeatable."),
        click.option("--jvm-route", default=None, help="jvmRoute suffix of the sessions this node creates."),
        click.option("--send-options", type=int, default=8, show_default=True,
                     help="channelSendOptions of this node's messages (8 async, 6 use_ack+sync)."),
        click.option("--tomcat-version", type=click.Choice(["9.0", "10.1"]), default="10.1", show_default=True,
                     help="Layout of the session streams and principals this node writes."),
        click.option("--state-timeout", type=int, default=60, show_default=True,
                     help="stateTransferTimeout in seconds."),
        click.option("--join-wait", type=float, default=1.5, show_default=True,
                     help="Seconds to wait for the membership to settle before asking for the state."),
        click.option("--manager", "manager_kind", type=click.Choice(["delta", "backup"]), default="delta",
                     show_default=True,
                     help="Session manager of the cluster's contexts: DeltaManager or BackupManager "
                          "(primary/backup/proxy map; sessions show their role here)."),
    ]
    for o in reversed(opts):
        func = o(func)
    return func


def _make_cluster(net: NetworkOptions, jvm_route: str | None, send_options: int, tomcat_version: str, state_timeout: int,
                  join_wait: float, follow: bool, manager_kind: str = "delta") -> Any:
    from tribes.managers.cluster import SimpleTcpCluster
    from tribes.managers.delta_manager import DeltaManagerConfig
    backup_config = None
    if manager_kind == "backup":
        from tribes.managers.backup import BackupManagerConfig
        backup_config = BackupManagerConfig()
    return SimpleTcpCluster.create(bind=net.bind, mcast_address=net.mcast_address, mcast_port=net.mcast_port,
                                   receiver_port=net.receiver_port, domain=net.domain, jvm_route=jvm_route,
                                   channel_send_options=send_options, tomcat_version=tomcat_version,
                                   manager_config=DeltaManagerConfig(state_transfer_timeout=state_timeout),
                                   follow_all_contexts=follow and backup_config is None, join_wait=join_wait,
                                   backup_config=backup_config)


async def _start(cluster: Any, contexts: Sequence[str]) -> int | None:
    from tribes.cli.progress import StateTransferProgress

    for c in contexts:
        cluster.manager(c)
    progress = StateTransferProgress()
    cluster.add_listener(progress)
    try:
        with progress:
            await cluster.start()
    except Exception as exc:
        click.echo(f"tribes sessions: could not join the cluster: {exc}", err=True)
        try:
            await cluster.stop()
        except Exception:
            pass
        return EXIT_NETWORK
    return None


def _short(v: Any) -> str:
    from tribes.javaser import JavaObject
    if isinstance(v, JavaObject):
        return f"<{v.class_name}>"
    if isinstance(v, (bytes, bytearray)):
        return f"byte[{len(v)}]"
    s = repr(v) if not isinstance(v, str) else v
    return s if len(s) <= 40 else s[:37] + "..."


def _print_sessions(cluster: Any, as_json: bool) -> int:
    from tribes.managers.cluster import context_path
    from tribes.managers.jsonvalues import session_json
    from tribes.managers.principal import principal_name
    count = 0
    rows: list[tuple[str, ...]] = []
    for name, dm in sorted(cluster.managers.items()):
        for s in sorted(dm.sessions.values(), key=lambda x: x.creation_time):
            count += 1
            if as_json:
                emit_json("session", **session_json(s, context_path(name)))
            else:
                attrs = ", ".join(f"{k}={_short(v)}" for k, v in sorted(s.attributes.items()))
                rows.append((context_path(name), s.id or "-", iso_time(s.creation_time) or "-",
                             iso_time(s.last_accessed_time) or "-", str(s.max_inactive_interval),
                             principal_name(s.principal) or "-", attrs))
    for name, bm in sorted(getattr(cluster, "backup_managers", {}).items()):   # BackupManager contexts
        for r in sorted(bm.roles(), key=lambda r: r["id"]):
            count += 1
            s = bm.map.entries[r["id"]].value if bm.map is not None and r["id"] in bm.map.entries else None
            if as_json:
                base = session_json(s, context_path(name)) if s is not None else {"context": context_path(name),
                                                                                    "id": r["id"]}
                emit_json("session", **base, role=r["role"], primaryMember=r["primaryMember"],
                          backupMembers=r["backupMembers"])
            else:
                where = f"[{r['role']}; primary {r['primaryMember'] or '-'}; backup {','.join(r['backupMembers']) or '-'}]"
                if s is None:
                    rows.append((context_path(name), r["id"], "-", "-", "-", "-", where))
                else:
                    attrs = ", ".join(f"{k}={_short(v)}" for k, v in sorted(s.attributes.items()))
                    rows.append((context_path(name), s.id, iso_time(s.creation_time) or "-",
                                 iso_time(s.last_accessed_time) or "-",
                                 str(s.max_inactive_interval), principal_name(s.principal) or "-", f"{where} {attrs}"))
    if not as_json:
        head = ("CONTEXT", "ID", "CREATED", "LAST ACCESSED", "MAX", "USER", "ATTRIBUTES")
        widths = [max(len(head[i]), *(len(r[i]) for r in rows)) if rows else len(head[i]) for i in range(6)]
        click.echo("  ".join(h.ljust(w) for h, w in zip(head, widths)) + "  " + head[6])
        for r in rows:
            click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[6])
        click.echo(f"{count} session(s) in {len(cluster.managers) + len(getattr(cluster, 'backup_managers', {}))} "
                   "context(s)")
    return count


async def _run_show(net: NetworkOptions, contexts: Sequence[str], as_json: bool, follow: bool, **kw: Any) -> int:
    from tribes.javaser import to_json
    from tribes.managers.cluster import context_path
    cluster = _make_cluster(net, follow=True, **kw)
    if follow:
        def on_event(e: Any) -> None:
            if e.kind in ("state_received", "state_transfer_complete") and not as_json:
                return
            if as_json:
                emit_json("event", time=iso_time(time.time() * 1000), event=e.kind, context=context_path(e.context),
                          id=e.session_id, name=e.name,
                          value=to_json(e.value) if e.name is not None else None,
                          oldId=e.old_id, replicated=e.replicated)
            else:
                extra = f" {e.name}={_short(e.value)}" if e.name else (f" (was {e.old_id})" if e.old_id else "")
                click.echo(f"{iso_time(time.time() * 1000)}  {e.kind:<18} {context_path(e.context)} {e.session_id}{extra}")
        cluster.add_listener(on_event)
    code = await _start(cluster, contexts)
    if code is not None:
        return code
    results = {n: dm.state_transfer_result for n, dm in cluster.managers.items()}
    if as_json:
        emit_json("ready", time=iso_time(time.time() * 1000), local=cluster.channel.local_member.name,
                  members=[m.name for m in cluster.channel.members()], transfer=results)
    _print_sessions(cluster, as_json)
    interrupted = False
    if follow:
        stop = StopSignal(net.duration)
        await stop.wait()
        interrupted = stop.interrupted
    await cluster.stop()
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


SESSIONS_EXAMPLES = """\b
Examples:
  tribes sessions --bind 10.0.0.5 --context /app               # print every session of /app
  tribes sessions --bind 10.0.0.5 --context /app --json        # one JSON object per session
  tribes sessions --bind 10.0.0.5 --context / --follow --duration 60   # ROOT, then follow changes
  tribes sessions --bind 10.0.0.5 create --context /app user=alice n=7 --java-type Integer
  tribes sessions --bind 10.0.0.5 set ID.tomcat1 n 8 --context /app --java-type Integer
  tribes sessions --bind 10.0.0.5 invalidate ID.tomcat1 --context /app   # log that user out everywhere

Network flags and --json go before or after the sub-command. Exit status: 0 ok, 1 session not found or a
send failed, 3 bad flags, 4 could not join the cluster, 130 Ctrl-C."""


@click.group("sessions", cls=SharedOptionsGroup, invoke_without_command=True, epilog=SESSIONS_EXAMPLES)
@network_options
@_cluster_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line (kind session / event / ready).")
@click.option("--follow", is_flag=True, help="Keep printing changes as they replicate (until --duration or Ctrl-C).")
@click.pass_context
def sessions(ctx: click.Context, /, net: NetworkOptions, contexts: tuple[str, ...], as_json: bool, follow: bool,
             **kw: Any) -> None:
    """Join the cluster as a DeltaManager member and print its sessions (or act: see the commands)."""
    ctx.obj = {"net": net, "contexts": contexts, "as_json": as_json, **kw}
    if ctx.invoked_subcommand is not None:
        return
    code = asyncio.run(_run_show(net, contexts, as_json, follow, **kw))
    raise SystemExit(code)


def _parent(ctx: click.Context) -> dict[str, Any]:
    return dict(ctx.obj or {})


async def _act(p: dict[str, Any], contexts: Sequence[str], action: Any) -> int:
    net: NetworkOptions = p["net"]
    kw = {k: p[k] for k in ("jvm_route", "send_options", "tomcat_version", "state_timeout", "join_wait",
                            "manager_kind")}
    cluster = _make_cluster(net, follow=False, **kw)
    code = await _start(cluster, contexts or ["/"])
    if code is not None:
        return code
    try:
        code = action(cluster)
        await asyncio.wait_for(cluster.flush(), 30)
        if cluster.send_failures:
            click.echo(f"tribes sessions: {cluster.send_failures} send(s) failed", err=True)
            code = code or EXIT_ERRORS
    finally:
        await cluster.stop()
    return code


def _find(cluster: Any, session_id: str) -> Any:
    for c in cluster.contexts.values():
        if c.delta_manager.find_session(session_id) is not None:
            return c
    for bm in getattr(cluster, "backup_managers", {}).values():   # BackupManager: held here (not a proxy)
        if bm.find_session(session_id) is not None:
            return bm.context
    names = ", ".join(sorted(cluster.contexts)) or "none"
    click.echo(f"tribes sessions: no session {session_id} in the context(s) {names}: pass --context PATH", err=True)
    return None


def _value(value: str, java_type: str) -> Any:
    from tribes.managers.jsonvalues import typed_value
    try:
        return typed_value(java_type, value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


_TYPE = click.option("--java-type", type=click.Choice(["Integer", "Long", "Boolean", "Double", "String"]),
                     default="String", show_default=True, help="Java class of the value(s).")
_CTX = click.option("--context", "contexts", multiple=True, metavar="PATH", help="Context(s) to look in (default /).")


@sessions.command("create", epilog="\b\nExamples:\n  tribes sessions --bind 10.0.0.5 create --context /app user=alice n=7 --java-type Integer")
@_CTX
@_TYPE
@click.argument("attributes", nargs=-1, metavar="[NAME=VALUE]...")
@click.pass_context
def create(ctx: click.Context, contexts: tuple[str, ...], java_type: str, attributes: tuple[str, ...]) -> None:
    """Create a session (replicated to every node) and print its id."""
    p = _parent(ctx)
    contexts = contexts or p["contexts"]
    if len(contexts) > 1:
        raise click.UsageError("create takes one --context")
    attrs = {}
    for a in attributes:
        if "=" not in a:
            raise click.BadParameter(f"{a!r}: use NAME=VALUE")
        k, v = a.split("=", 1)
        attrs[k] = _value(v, java_type)

    def action(cluster: Any) -> int:
        c = cluster.manager(contexts[0] if contexts else "/")
        s = c.create_session(attrs)
        if p["as_json"]:
            from tribes.managers.cluster import context_path
            emit_json("created", context=context_path(c.name), id=s.id)
        else:
            click.echo(s.id)
        return EXIT_OK
    raise SystemExit(asyncio.run(_act(p, contexts, action)))


@sessions.command("set", epilog="\b\nExamples:\n  tribes sessions --bind 10.0.0.5 set 0A1B2C.tomcat1 n 8 --context /app --java-type Integer")
@_CTX
@_TYPE
@click.argument("session_id", metavar="ID")
@click.argument("name")
@click.argument("value")
@click.pass_context
def set_(ctx: click.Context, contexts: tuple[str, ...], java_type: str, session_id: str, name: str,
         value: str) -> None:
    """Set one attribute of session ID (one DELTA to every node)."""
    p = _parent(ctx)
    v = _value(value, java_type)

    def action(cluster: Any) -> int:
        c = _find(cluster, session_id)
        if c is None:
            return EXIT_ERRORS
        c.set_attribute(session_id, name, v)
        return EXIT_OK
    raise SystemExit(asyncio.run(_act(p, contexts or p["contexts"], action)))


@sessions.command("remove", epilog="\b\nExamples:\n  tribes sessions --bind 10.0.0.5 remove 0A1B2C.tomcat1 cart --context /app")
@_CTX
@click.argument("session_id", metavar="ID")
@click.argument("name")
@click.pass_context
def remove(ctx: click.Context, contexts: tuple[str, ...], session_id: str, name: str) -> None:
    """Remove one attribute of session ID."""
    p = _parent(ctx)

    def action(cluster: Any) -> int:
        c = _find(cluster, session_id)
        if c is None:
            return EXIT_ERRORS
        c.remove_attribute(session_id, name)
        return EXIT_OK
    raise SystemExit(asyncio.run(_act(p, contexts or p["contexts"], action)))


@sessions.command("invalidate", epilog="\b\nExamples:\n  tribes sessions --bind 10.0.0.5 invalidate 0A1B2C.tomcat1 --context /app   # forced logout")
@_CTX
@click.argument("session_id", metavar="ID")
@click.pass_context
def invalidate(ctx: click.Context, contexts: tuple[str, ...], session_id: str) -> None:
    """Invalidate session ID on every node (a forced logout)."""
    p = _parent(ctx)

    def action(cluster: Any) -> int:
        c = _find(cluster, session_id)
        if c is None:
            return EXIT_ERRORS
        c.invalidate(session_id)
        return EXIT_OK
    raise SystemExit(asyncio.run(_act(p, contexts or p["contexts"], action)))


@sessions.command("logout", epilog="\b\nExamples:\n  tribes sessions --bind 10.0.0.5 logout --user alice --context /app\n"
                  "  tribes sessions --bind 10.0.0.5 logout --user alice --context /app --context /shop --json")
@_CTX
@click.option("--user", required=True, metavar="NAME", help="The user (principal name) to log out.")
@click.pass_context
def logout(ctx: click.Context, contexts: tuple[str, ...], user: str) -> None:
    """Log USER out on every node: invalidate every session whose principal is USER (forced logout)."""
    from tribes.managers.logout import force_logout
    p = _parent(ctx)

    def action(cluster: Any) -> int:
        victims = force_logout(cluster, user)
        if p.get("as_json"):
            emit_json("logout", user=user, sessions=[{"context": c, "id": s} for c, s in victims])
        else:
            click.echo(f"{user}: {len(victims)} session(s) invalidated on every node")
        return EXIT_OK if victims else EXIT_ERRORS
    raise SystemExit(asyncio.run(_act(p, contexts or p["contexts"], action)))

