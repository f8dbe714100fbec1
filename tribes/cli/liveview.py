"""``tribes join`` with ``--config server.xml`` and the live terminal view.

:func:`run_join` runs one node configured from a server.xml (or Tomcat's default cluster and the
network flags) until Ctrl-C / SIGTERM / ``--duration``, then shuts it down cleanly (the membership
announces the shutdown, connections close) and prints a summary.

- On a terminal (and without ``--json``) it shows a live view drawn with ``rich``: the members,
  the sessions per context (when the configuration's manager is a DeltaManager: the node is then a
  full session-replicating member), messages per second and the latest events.
- Otherwise (a pipe, a file, ``--json``, ``--no-live``) it prints one line per event, like the
  plain ``tribes join``: ``member``, ``message``, ``session`` (``--json``: one object per line with a
  ``kind``), and a final ``summary`` (with the sessions per context when a DeltaManager runs).
"""
from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import TYPE_CHECKING, Any, Sequence

import click

from tribes.channel import ChannelInterceptor
from tribes.cli.common import EXIT_INTERRUPTED, EXIT_OK, NetworkOptions, StopSignal, emit_json, iso_time
from tribes.cli.events import EventPrinter, member_fields
from tribes.cli.node import NodeError, build_node, load_node_config, start_node
from tribes.io.channel_data import ChannelData
from tribes.io.member import Member

if TYPE_CHECKING:  # pragma: no cover
    from tribes.group.channel import GroupChannel

log = logging.getLogger("tribes.cli.join")

RATE_WINDOW = 5.0  # seconds of history for messages per second


class NodeStats:
    """What the node saw: message counts and rate, members, recent events (shared by both outputs)."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self.clock = clock
        self.started = clock()
        self.messages = 0
        self.bytes = 0
        self.window: collections.deque[tuple[float, int]] = collections.deque()
        self.member_since: dict[Any, float] = {}
        self.events: collections.deque[str] = collections.deque(maxlen=8)
        self.session_events = 0

    def on_message(self, size: int) -> None:
        now = self.clock()
        self.messages += 1
        self.bytes += max(size, 0)
        self.window.append((now, max(size, 0)))
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self.window and self.window[0][0] < now - RATE_WINDOW:
            self.window.popleft()

    def rate(self) -> tuple[float, float]:
        """(messages/s, bytes/s) over the last RATE_WINDOW seconds (or since start)."""
        now = self.clock()
        self._trim(now)
        span = min(RATE_WINDOW, max(now - self.started, 1e-3))
        return len(self.window) / span, sum(n for _, n in self.window) / span

    def event(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S", time.gmtime())
        self.events.append(f"{stamp}  {text}")


def encryption_stats(channel: GroupChannel) -> dict[str, Any] | None:
    """The EncryptInterceptor's counters (None when the channel does not encrypt)."""
    for icp in channel.interceptors():
        if type(icp).__name__ == "EncryptInterceptor":
            stats = getattr(icp, "stats")
            return dict(stats())
    return None


def encryption_line(st: dict[str, Any]) -> str:
    reasons = ", ".join(f"{k} {v:,}" for k, v in st["rejected"].items() if v) or "none"
    line = (f"encryption: {st['algorithm']} (Tomcat {st['format']} format)   encrypted {st['encrypted']:,}   "
            f"decrypted {st['decrypted']:,}   rejected {st['rejectedTotal']:,} ({reasons})")
    if st.get("versionMismatchSenders"):
        line += "   version mismatch: " + ", ".join(st["versionMismatchSenders"])
    return line


def render(local: Member | None, members: Sequence[Member], stats: NodeStats, cluster: Any, source: str,
           encryption: dict[str, Any] | None = None) -> Any:
    """The live view as a rich renderable (pure: no I/O; tested without a terminal)."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    uptime = stats.clock() - stats.started
    title = f"tribes join: {local.name if local is not None else '?'}"
    head = Text(f"config: {source}    up {uptime:,.0f} s    Ctrl-C to stop", style="dim")

    mt = Table(title=f"members ({len(members)})", title_justify="left", expand=True)
    for col in ("member", "domain", "alive", "seen for"):
        mt.add_column(col)
    now = stats.clock()
    for m in members:
        since = stats.member_since.get(m)
        mt.add_row(f"{m.host_str}:{m.port}", m.domain.decode("latin-1") or "-", f"{m.alive / 1000:,.1f} s",
                   f"{now - since:,.0f} s" if since is not None else "-")
    if not members:
        mt.add_row("(none yet)", "", "", "")

    parts: list[Any] = [head, mt]
    if cluster is not None:
        from tribes.managers.cluster import context_path
        st = Table(title="sessions per context", title_justify="left", expand=True)
        st.add_column("context")
        st.add_column("sessions", justify="right")
        st.add_column("state transfer")
        for name, dm in sorted(cluster.managers.items()):
            st.add_row(context_path(name), str(len(dm.sessions)), str(dm.state_transfer_result or "-"))
        if not cluster.managers:
            st.add_row("(no context yet)", "", "")
        parts.append(st)

    msgs_s, bytes_s = stats.rate()
    parts.append(Text(f"messages: {stats.messages:,} received ({stats.bytes:,} bytes)   "
                      f"{msgs_s:,.1f} msgs/s   {bytes_s / 1024:,.1f} KiB/s (last {RATE_WINDOW:.0f} s)"))
    if encryption is not None:
        parts.append(Text(encryption_line(encryption), style="red" if encryption["rejectedTotal"] else ""))
    if stats.events:
        parts.append(Text("\n".join(stats.events), style="cyan"))
    return Panel(Group(*parts), title=title, title_align="left")


def _session_line(e: Any) -> dict[str, Any]:
    from tribes.managers.cluster import context_path
    return {"event": e.kind, "context": context_path(e.context), "id": e.session_id, "name": e.name,
            "oldId": e.old_id, "replicated": e.replicated}


def sessions_by_context(cluster: Any) -> dict[str, list[str]]:
    from tribes.managers.cluster import context_path
    return {context_path(n): sorted(dm.sessions) for n, dm in sorted(cluster.managers.items())}


async def run_join(net: NetworkOptions, *, as_json: bool, live: bool, frequency: int | None = None,
                   drop_time: int | None = None, config_path: str | None = None, properties: Sequence[str] = (),
                   jvm_route: str | None = None, contexts: Sequence[str] = (), explicit: set[str] | None = None,
                   sessions: bool | None = None, membership: str | None = None,
                   dns_name: str | None = None, observe: Any = None, quiet: bool = False) -> int:
    """Run the node; returns the exit code (docs/cli.md). ``observe``: --metrics/--http (tribes.cli.observe)."""
    stats = NodeStats()
    observing = None
    if observe is not None and observe.wanted:
        from tribes.cli.observe import Observing
        observing = Observing(observe, "join")
    printer = None if live or quiet else EventPrinter(as_json)

    class Tap(ChannelInterceptor):
        """Above every configured interceptor: counts each message and shows the printer its frame."""

        def message_received(self, msg: ChannelData) -> Any:
            stats.on_message(len(msg.message))
            if printer is not None:
                printer.current = msg
            try:
                return super().message_received(msg)
            finally:
                if printer is not None:
                    printer.current = None

    try:
        cfg = load_node_config(net, config_path, properties, jvm_route, explicit=explicit,
                               frequency=frequency, drop_time=drop_time, membership=membership, dns_name=dns_name)
        with_sessions = (config_path is not None) if sessions is None else sessions
        channel, cluster = build_node(cfg, sessions=with_sessions, contexts=contexts,
                                      top=[Tap()] + (observing.interceptors if observing is not None else []))
    except NodeError as exc:
        click.echo(f"tribes join: {exc}", err=True)
        return exc.exit_code

    class Members:
        def member_added(self, m: Member) -> None:
            stats.member_since[m] = stats.clock()
            stats.event(f"member added        {m.host_str}:{m.port}")

        def member_disappeared(self, m: Member) -> None:
            stats.member_since.pop(m, None)
            stats.event(f"member disappeared  {m.host_str}:{m.port}")

    channel.add_membership_listener(Members())
    if printer is not None:
        channel.add_channel_listener(printer)
        channel.add_membership_listener(printer)
    if cluster is not None:
        def on_session(e: Any) -> None:
            if e.kind in ("accessed",):
                return
            stats.session_events += 1
            line = _session_line(e)
            stats.event(f"session {e.kind:<18} {line['context']} {e.session_id}")
            if printer is None:
                return
            if as_json:
                emit_json("session", time=iso_time(time.time() * 1000), **line)
            else:
                extra = f" {e.name}" if e.name else (f" (was {e.old_id})" if e.old_id else "")
                click.echo(f"{iso_time(time.time() * 1000)}  session     {e.kind} {line['context']} "
                           f"{e.session_id}{extra}")
        cluster.add_listener(on_session)

    if observing is not None:
        observing.attach(channel, cluster)
    try:
        await start_node(channel, cluster)
    except NodeError as exc:
        click.echo(f"tribes join: {exc}", err=True)
        return exc.exit_code
    if observing is not None:
        try:
            await observing.start()
        except OSError as exc:
            click.echo(f"tribes join: {exc}", err=True)
            await (cluster.stop() if cluster is not None else channel.stop())
            from tribes.cli.common import EXIT_NETWORK
            return EXIT_NETWORK
    stats.started = stats.clock()  # uptime and rates count from the moment the node is up
    local = channel.local_member
    source = config_path or "Tomcat's default cluster"
    if printer is not None:
        if as_json:
            emit_json("ready", time=iso_time(time.time() * 1000), config=config_path, jvmRoute=cfg.jvm_route,
                      sessions=cluster is not None, **(member_fields(local) if local is not None else {}))
        else:
            mcast = cfg.channel.membership
            where = (f"multicast {mcast.get('address')}:{mcast.get('port')}" if mcast.short_name == "McastService"
                     else mcast.short_name)
            click.echo(f"joined as {local.name if local else '?'} ({where}; config: {source}"
                       f"{'; DeltaManager' if cluster is not None else ''})")

    stop = StopSignal()
    started = time.monotonic()
    deadline = None if net.duration is None else started + net.duration
    view = None
    try:
        if live:
            from rich.live import Live
            view = Live(render(local, channel.members(), stats, cluster, source, encryption_stats(channel)), auto_refresh=False,
                        redirect_stderr=False, redirect_stdout=False)
            view.start()
        while not stop.is_set():
            timeout = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
            try:
                await asyncio.wait_for(stop.wait(), timeout)
            except asyncio.TimeoutError:
                pass
            if view is not None:
                view.update(render(local, channel.members(), stats, cluster, source, encryption_stats(channel)), refresh=True)
            if deadline is not None and time.monotonic() >= deadline:
                break
    finally:
        if view is not None:
            view.stop()
        members_at_end = len(channel.members())
        held = sessions_by_context(cluster) if cluster is not None else None
        if observing is not None:
            await observing.stop()
        try:
            if cluster is not None:
                await cluster.stop()
            else:
                await channel.stop()
        except Exception as exc:  # noqa: BLE001 - a failed stop must not hide the summary
            log.warning("stopping the node: %s", exc)
        stop.close()
    elapsed = time.monotonic() - started
    rate = stats.messages / elapsed if elapsed > 0 else 0.0
    if quiet:
        pass
    elif as_json:
        fields: dict[str, Any] = {"messages": stats.messages, "bytes": stats.bytes, "seconds": round(elapsed, 3),
                                  "msgs_per_s": round(rate, 1), "members": members_at_end}
        if held is not None:
            fields["sessions"] = {ctx: len(ids) for ctx, ids in held.items()}
            fields["sessionIds"] = held
        enc = encryption_stats(channel)
        if enc is not None:
            fields["encryption"] = enc
        emit_json("summary", **fields)
    else:
        click.echo(f"received {stats.messages} messages ({stats.bytes} bytes) in {elapsed:.1f} s: {rate:.1f} msgs/s"
                   f"; {members_at_end} member(s) at the end")
        if held is not None:
            for ctx, ids in held.items():
                click.echo(f"  {ctx}: {len(ids)} session(s) held")
    return EXIT_INTERRUPTED if stop.interrupted else EXIT_OK


def live_wanted(live: bool | None, as_json: bool) -> bool:
    """The live view: asked for, or by default when stdout is a terminal and not --json."""
    import sys
    if as_json:
        return False
    if live is not None:
        return live
    return sys.stdout.isatty()


__all__ = ["run_join", "render", "NodeStats", "live_wanted", "sessions_by_context"]
