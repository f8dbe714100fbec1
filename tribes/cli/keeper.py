"""``tribes keeper``: a cluster member that holds every session of the cluster and persists them.

    tribes keeper --config server.xml --store /var/lib/tribes/sessions.db
    tribes keeper --bind 10.0.0.5 --store sessions.db --max-sessions-per-user 1 --login-policy newest-wins

Sessions then outlive a restart of every Tomcat node: Tomcat nodes that start while the keeper runs
get every live session from it by state transfer (start the keeper first, or keep it running: Tomcat
asks its oldest member). Synchronous replication (channelSendOptions 6) is ACKed only once the change
is on disk; asynchronous changes are committed within --async-delay. docs/keeper.md has the design.
Exit status: 0 on SIGTERM/SIGINT or --duration, 3 bad configuration or a damaged store, 4 could not join.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import click

from tribes.cli.common import (EXIT_CONFIG, EXIT_NETWORK, EXIT_OK, NetworkOptions, StopSignal, emit_json,
                               network_options)
from tribes.cli.node import NodeError, build_node, config_options, explicit_flags, load_node_config
from tribes.cli.observe import ObserveOptions, observe_options  # issue 18: --metrics, --http

log = logging.getLogger("tribes.cli.keeper")

KEEPER_EXAMPLES = """\b
Examples:
  tribes keeper --config conf/server.xml --store /var/lib/tribes/sessions.db
  tribes keeper --bind 10.77.15.70 --store /tmp/sessions.db --context /app --json
  tribes keeper --config conf/server.xml --store s.db --max-sessions-per-user 1 --login-policy newest-wins \\
      --login-exempt admin
"""


class _LoadProgress:
    """A progress bar for loading a large store where a person watches; INFO lines always."""

    def __init__(self) -> None:
        import os
        import sys
        forced = os.environ.get("TRIBES_PROGRESS")
        enabled = forced == "1" if forced in ("0", "1") else sys.stderr.isatty()
        self._bar: Any = None
        self._task: Any = None
        self._last = 0.0
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
            self._bar = Progress(TextColumn("loading the store"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                                 TimeElapsedColumn(), console=Console(stderr=True))

    def __call__(self, done: int, total: int) -> None:
        if self._bar is not None:
            if self._task is None:
                self._bar.start()
                self._task = self._bar.add_task("load", total=total)
            self._bar.update(self._task, completed=done)
            if done >= total:
                self._bar.stop()
        now = time.monotonic()
        if now - self._last > 2 or done >= total:
            self._last = now
            log.info("loading the store: %d of %d sessions read", done, total)


async def _run(net: NetworkOptions, config_path: str | None, properties: tuple[str, ...], jvm_route: str | None,
               store_path: str, contexts: tuple[str, ...], async_delay: float, synchronous: str,
               max_per_user: int, login_policy: str, exempt: tuple[str, ...], as_json: bool,
               tomcat_version: str, stats_interval: float, explicit: set[str],
               observe: ObserveOptions | None = None) -> int:
    from tribes.keeper.durability import DurableAckInterceptor
    from tribes.keeper.keeper import SessionKeeper
    from tribes.keeper.logins import LoginPolicy
    from tribes.keeper.store import SqliteStore, StoreError

    try:
        policy = LoginPolicy(max_per_user, login_policy, frozenset(exempt))
    except ValueError as exc:
        click.echo(f"tribes keeper: {exc}", err=True)
        return EXIT_CONFIG
    try:
        store = SqliteStore(store_path, synchronous=synchronous)
    except StoreError as exc:
        click.echo(f"tribes keeper: {exc}", err=True)
        return EXIT_CONFIG

    def factory(channel: Any, **kw: Any) -> SessionKeeper:
        return SessionKeeper(channel, store, async_delay=async_delay, tomcat_version=tomcat_version, **kw)

    observing = None
    if observe is not None and observe.wanted:
        from tribes.cli.observe import Observing
        observing = Observing(observe, "keeper")
    try:
        cfg = load_node_config(net, config_path, properties, jvm_route, explicit=explicit)
        channel, keeper = build_node(cfg, sessions=True, contexts=contexts, cluster_factory=factory,
                                     top=observing.interceptors if observing is not None else ())
    except NodeError as exc:
        click.echo(f"tribes keeper: {exc}", err=True)
        store.close()
        return exc.exit_code
    if keeper is None:
        click.echo("tribes keeper: the configuration has no DeltaManager (<Manager className=...DeltaManager>)",
                   err=True)
        store.close()
        return EXIT_CONFIG
    keeper.logins.default = policy
    channel.add_interceptor(DurableAckInterceptor(keeper))
    t0 = time.monotonic()
    try:
        n = keeper.load(_LoadProgress())
    except StoreError as exc:
        click.echo(f"tribes keeper: {exc}", err=True)
        store.close()
        return EXIT_CONFIG
    if observing is not None:
        observing.attach(channel, keeper)
    try:
        await keeper.start()
    except Exception as exc:  # noqa: BLE001
        click.echo(f"tribes keeper: could not join the cluster: {type(exc).__name__}: {exc}", err=True)
        store.close()
        return EXIT_NETWORK
    if observing is not None:
        try:
            await observing.start()
        except OSError as exc:
            click.echo(f"tribes keeper: {exc}", err=True)
            await keeper.stop()
            store.close()
            return EXIT_NETWORK
    load_s = time.monotonic() - t0
    members = len(channel.members())
    msg = (f"tribes keeper: holding {n} stored sessions ({load_s:.2f} s to load) in {len(keeper.managers)} context(s), "
           f"{members} other members, store {store_path}")
    if as_json:
        emit_json("ready", store=store_path, loaded=n, load_s=round(load_s, 3), contexts=sorted(keeper.managers),
                  members=members,
                  local=str(channel.local_member.name) if channel.local_member is not None else None)
    else:
        click.echo(msg, err=True)
    stop = StopSignal(net.duration)
    loop = asyncio.get_running_loop()
    report = loop.create_task(_report(keeper, as_json, stats_interval))
    await stop.wait()
    report.cancel()
    if observing is not None:
        await observing.stop()
    await keeper.stop()
    store.close()
    st = keeper.stats
    if as_json:
        emit_json("summary", persisted=st.persisted, deleted=st.deleted, commits=st.commits,
                  failed_commits=st.failed_commits, duplicate_logins=keeper.logins.acted)
    log.info("keeper stopped: %d sessions persisted, %d deleted in %d commits (%d failed)", st.persisted,
             st.deleted, st.commits, st.failed_commits)
    return EXIT_OK


async def _report(keeper: Any, as_json: bool, every: float = 30.0) -> None:
    """A periodic line with what was persisted and how far behind the disk is."""
    last = -1
    while True:
        await asyncio.sleep(every)
        st = keeper.stats
        if st.persisted + st.deleted == last and every >= 5:
            continue
        last = st.persisted + st.deleted
        sessions = sum(len(dm.sessions) for dm in keeper.managers.values())
        if as_json:
            emit_json("keeper", t=round(time.time(), 3), sessions=sessions, persisted=st.persisted, deleted=st.deleted, commits=st.commits,
                      failed_commits=st.failed_commits, durability_lag_ms=round(st.durability_lag_ms, 1),
                      duplicate_logins=keeper.logins.acted)
        log.info("keeper: %d sessions held; %d rows written, %d deleted, %d commits (%d failed); "
                 "durability lag %.1f ms", sessions, st.persisted, st.deleted, st.commits, st.failed_commits,
                 st.durability_lag_ms)


@click.command("keeper", epilog=KEEPER_EXAMPLES)
@network_options
@config_options  # --config, -D, --jvm-route
@click.option("--store", "store_path", required=True, metavar="PATH",
              help="SQLite file holding the sessions (created if missing; WAL mode).")
@click.option("--context", "contexts", multiple=True, metavar="PATH",
              help="Context to hold even before the cluster names it (/app; repeatable). Every context the "
                   "keeper hears of is held anyway.")
@click.option("--async-delay", type=click.FloatRange(min=0.0, max=60.0), default=0.2, show_default=True,
              help="Longest time an asynchronously replicated change waits to be committed (its loss window).")
@click.option("--synchronous", type=click.Choice(["FULL", "EXTRA", "NORMAL"], case_sensitive=False), default="FULL",
              show_default=True, help="SQLite's synchronous setting (NORMAL may lose the last commits on power loss).")
@click.option("--max-sessions-per-user", "max_per_user", type=click.IntRange(min=0), default=0, show_default=True,
              help="Duplicate-login prevention: sessions a user may hold per context (0 = off, 1 = one login).")
@click.option("--login-policy", type=click.Choice(["newest-wins", "oldest-wins"]), default="newest-wins",
              show_default=True, help="Which session survives a duplicate login.")
@click.option("--login-exempt", "exempt", multiple=True, metavar="USER", help="A user the limit does not apply to.")
@click.option("--tomcat-version", type=click.Choice(["9.0", "10.1"]), default="10.1", show_default=True,
              help="Layout of the session streams and principals of the cluster (stored and served as such).")
@click.option("--stats-interval", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds between the progress lines (log, and kind keeper with --json).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line (kind ready / keeper / summary).")
@observe_options
def keeper(net: NetworkOptions, config_path: str | None = None, properties: tuple[str, ...] = (),
           jvm_route: str | None = None, store_path: str = "", contexts: tuple[str, ...] = (),
           async_delay: float = 0.2, synchronous: str = "FULL", max_per_user: int = 0,
           login_policy: str = "newest-wins", exempt: tuple[str, ...] = (), tomcat_version: str = "10.1",
           stats_interval: float = 30.0, as_json: bool = False, observe: ObserveOptions | None = None) -> None:
    """Hold every session of the cluster and persist it, so sessions survive a restart of every node."""
    raise SystemExit(asyncio.run(_run(net, config_path, properties, jvm_route, store_path, contexts, async_delay,
                                      synchronous, max_per_user, login_policy, exempt, as_json, tomcat_version,
                                      stats_interval, explicit=explicit_flags(), observe=observe)))
